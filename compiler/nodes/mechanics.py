"""JAX implementations of the mechanics kinds: `point_mass` (Feedbax's PointMass) and
`two_link_arm` (Feedbax's TwoLinkArm with its default segment parameters); their signatures:
`rnnlang.dsl.library.mechanics`.

Both are stateful plants whose outputs are state reads (the effector's position and velocity at the
start of the step), so a loop network -> plant -> network is the normal closed loop. A step
integrates the continuous dynamics with the step's input held constant, by explicit Euler
(Feedbax's default; the anchor's recurrence exactly) or classical RK4.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

import jax.numpy as jnp

from rnnlang.compiler.nodes.api import Array, NodeConfig, NodeImpl, SiteFn
from rnnlang.dsl.library.mechanics import INTEGRATORS
from rnnlang.dsl.library.mechanics import POINT_MASS as POINT_MASS_KIND
from rnnlang.dsl.library.mechanics import TWO_LINK_ARM as ARM_KIND


def _vec(inputs: Mapping[str, Array], name: str, n: int) -> Array:
    """An input vector, zeros when nothing is connected."""
    if name in inputs and inputs[name] is not None:
        return jnp.asarray(inputs[name], jnp.float32).reshape((n,))
    return jnp.zeros((n,), jnp.float32)


def integrate(f: Callable[[Array], Array], x: Array, dt: float, method: str) -> Array:
    """One step of dx/dt = f(x): explicit Euler or classical RK4 (f closes over a constant input)."""
    if method == "euler":
        return x + dt * f(x)
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def arm_inverse_kinematics(effector: Array, lengths: np.ndarray, jacobian: Callable[[Array], Array]) -> Array:
    """Joint state (angles, angular velocities) of a planar two-link arm with segment `lengths`
    from the hand's (pos, vel): the solution with a positive elbow angle (Feedbax's "elbow
    down"), velocities by J^-1 (`jacobian(angles)`). Shared by every two-joint plant."""
    pos, vel = effector[0:2], effector[2:4]
    l0, l1 = float(lengths[0]), float(lengths[1])
    dsq = jnp.sum(pos ** 2)
    alpha = jnp.arccos(jnp.clip((l0 ** 2 - l1 ** 2 + dsq) / (2 * l0 * jnp.sqrt(dsq)), -1.0, 1.0))
    gamma = jnp.arctan2(pos[1], pos[0])
    beta = jnp.arccos(jnp.clip((l0 ** 2 + l1 ** 2 - dsq) / (2 * l0 * l1), -1.0, 1.0))
    angle = jnp.stack([gamma - alpha, jnp.pi - beta]).astype(jnp.float32)
    d_angle = jnp.linalg.solve(jacobian(angle), vel)
    return jnp.concatenate([angle, d_angle]).astype(jnp.float32)


# ---- point mass -------------------------------------------------------------------------------


class PointMass(NodeImpl):
    """A 2D point mass with linear damping: p' = v, v' = F/m - (c/m) v. State (pos, vel)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = lambda name: POINT_MASS_KIND.value(self.p, name)  # noqa: E731
        self.mass = float(P("mass"))
        self.damping = float(P("damping"))
        self.method = str(P("integrator"))
        assert self.method in INTEGRATORS, "the checker admits only the signature's integrators"
        self.dt = float(config.dt)

    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> Array:
        if init and init.get("init") is not None:
            return jnp.asarray(init["init"], jnp.float32).reshape((4,))
        return jnp.zeros((4,), jnp.float32)

    def read(self, params: Mapping[str, Array], state: Array, noise: Mapping[str, Array]) -> dict[str, Array]:
        return {"effector": state}

    def vector_field(self, state: Array, force: Array) -> Array:
        """d(pos, vel)/dt for a constant force."""
        vel = state[2:4]
        acc = force / self.mass - (self.damping / self.mass) * vel
        return jnp.concatenate([vel, acc])

    def advance(self, params: Mapping[str, Array], state: Array, inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Array, dict[str, Array]]:
        """Euler: p + dt v, v + dt (F/m - (c/m) v) — the anchor's recurrence exactly; or RK4."""
        force = _vec(inputs, "force", 2)
        new = integrate(lambda x: self.vector_field(x, force), state, self.dt, self.method)
        return new, {}

    def velocity(self, state: Array) -> Array:
        return state[2:4]


# ---- two-link arm -----------------------------------------------------------------------------


class TwoLinkArm(NodeImpl):
    """Planar two-joint arm (Feedbax's TwoLinkArm): M(q) q'' + C(q, q') + B q' = tau + J(q)^T F,
    with M = [[a0 + 2 a1 cos q1, a2 + a1 cos q1], [a2 + a1 cos q1, a2]],
    a0 = I0 + I1 + m1 l0^2, a1 = m1 l0 s1, a2 = I1 (inertias about the joints, as Feedbax), and
    C = a1 sin q1 (-q1'(2 q0' + q1'), q0'^2). State: joint angles and angular velocities (4,).
    An effector force is converted to joint torques once per step at the step's start angles."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = lambda name: ARM_KIND.value(self.p, name)  # noqa: E731
        self.l = np.asarray(P("lengths"), np.float64).reshape(2)
        self.m = np.asarray(P("masses"), np.float64).reshape(2)
        self.I = np.asarray(P("inertias"), np.float64).reshape(2)
        self.s = np.asarray(P("com"), np.float64).reshape(2)
        self.B = np.asarray(P("friction"), np.float32).reshape(2, 2)
        limits = P("joint_limits")
        self.limits = None if limits is None else np.asarray(limits, np.float32).reshape(2, 2)
        self.method = str(P("integrator"))
        assert self.method in INTEGRATORS, "the checker admits only the signature's integrators"
        self.dt = float(config.dt)
        self.a = (
            float(self.I[0] + self.I[1] + self.m[1] * self.l[0] ** 2),
            float(self.m[1] * self.l[0] * self.s[1]),
            float(self.I[1]),
        )

    # -- geometry ---------------------------------------------------------------------------
    def hand_position(self, angle: Array) -> Array:
        """Forward kinematics of the hand: sum of the two segments."""
        l0, l1 = float(self.l[0]), float(self.l[1])
        q01 = angle[0] + angle[1]
        return jnp.stack([l0 * jnp.cos(angle[0]) + l1 * jnp.cos(q01), l0 * jnp.sin(angle[0]) + l1 * jnp.sin(q01)])

    def jacobian(self, angle: Array) -> Array:
        """d(hand position)/d(angles), (2, 2)."""
        l0, l1 = float(self.l[0]), float(self.l[1])
        q01 = angle[0] + angle[1]
        s0, c0, s01, c01 = jnp.sin(angle[0]), jnp.cos(angle[0]), jnp.sin(q01), jnp.cos(q01)
        return jnp.stack([
            jnp.stack([-l0 * s0 - l1 * s01, -l1 * s01]),
            jnp.stack([l0 * c0 + l1 * c01, l1 * c01]),
        ])

    def effector_state(self, state: Array) -> Array:
        """(hand position, hand velocity = J(q) q')."""
        angle, d_angle = state[0:2], state[2:4]
        return jnp.concatenate([self.hand_position(angle), self.jacobian(angle) @ d_angle])

    def inverse_kinematics(self, effector: Array) -> Array:
        """Joint state from effector (pos, vel): `arm_inverse_kinematics`."""
        return arm_inverse_kinematics(effector, self.l, self.jacobian)

    def energy(self, state: Array) -> Array:
        """Kinetic energy 1/2 q'^T M(q) q' (the arm has no potential energy in the plane)."""
        d = state[2:4]
        return 0.5 * d @ (self.inertia_matrix(state[0:2]) @ d)

    def inertia_matrix(self, angle: Array) -> Array:
        a0, a1, a2 = self.a
        cs1 = jnp.cos(angle[1])
        off = a2 + a1 * cs1
        return jnp.stack([jnp.stack([a0 + 2 * a1 * cs1, off]), jnp.stack([off, a2 * jnp.ones_like(cs1)])])

    def vector_field(self, state: Array, torque: Array) -> Array:
        """d(angle, d_angle)/dt for constant joint torques."""
        a0, a1, a2 = self.a
        angle, d = state[0:2], state[2:4]
        c_vec = jnp.stack([-d[1] * (2 * d[0] + d[1]), d[0] ** 2]) * a1 * jnp.sin(angle[1])
        net = torque - c_vec - jnp.asarray(self.B) @ d
        M = self.inertia_matrix(angle)
        det = M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]
        dd = jnp.stack([M[1, 1] * net[0] - M[0, 1] * net[1], -M[1, 0] * net[0] + M[0, 0] * net[1]]) / det
        return jnp.concatenate([d, dd])

    # -- node interface ---------------------------------------------------------------------
    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> Array:
        if init and init.get("init") is not None:
            return self.inverse_kinematics(jnp.asarray(init["init"], jnp.float32).reshape((4,)))
        return jnp.zeros((4,), jnp.float32)

    def read(self, params: Mapping[str, Array], state: Array, noise: Mapping[str, Array]) -> dict[str, Array]:
        return {"effector": self.effector_state(state), "joints": state}

    def advance(self, params: Mapping[str, Array], state: Array, inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Array, dict[str, Array]]:
        """Integrate one step; with joint limits, clip the angles and zero the velocity of a joint
        that went past its limit."""
        torque = _vec(inputs, "torque", 2) + self.jacobian(state[0:2]).T @ _vec(inputs, "force", 2)
        new = integrate(lambda x: self.vector_field(x, torque), state, self.dt, self.method)
        if self.limits is not None:
            lo, hi = jnp.asarray(self.limits[:, 0]), jnp.asarray(self.limits[:, 1])
            angle = new[0:2]
            clipped = jnp.clip(angle, lo, hi)
            d = jnp.where(clipped != angle, 0.0, new[2:4])
            new = jnp.concatenate([clipped, d])
        return new.astype(jnp.float32), {}

    def velocity(self, state: Array) -> Array:
        return self.jacobian(state[0:2]) @ state[2:4]
