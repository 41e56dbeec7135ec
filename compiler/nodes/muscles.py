"""JAX implementations of the muscle-driven plants `arm26` and `muscle_point_mass` (signatures:
`rnnlang.dsl.library.muscles`), written to MotorNet's numerics (its `muscle.py`, `skeleton.py` and
`effector.py`) so that trajectories match MotorNet's own to float precision.

A plant is three parts, as in MotorNet:
  - a muscle model (`MuscleModel`): activation dynamics and the forces of the muscles given
    their activation and their musculotendon lengths and velocities;
  - a skeleton (`ArmSkeleton`, `PointMassSkeleton`): joint accelerations from generalised forces
    and an endpoint load, and its own integration step (which clips positions and velocities);
  - a geometry: musculotendon lengths, velocities and moment arms from the joint state
    (arm26's polynomial moment arms, or straight paths from fixed anchors for the point mass).

The state of one trial is one flat vector: the joint state (positions, velocities; for the point
mass its Cartesian state), then the muscle state as four rows of n values (activation, fibre
length, fibre velocity, force). As in MotorNet, a step's new muscle state is computed from the new
activation and the geometry of the step's START joint state, and the skeleton moves under the
start muscle forces; the lengths, velocities and forces read out therefore lag the joints by one
step, exactly as MotorNet's `states["muscle"]` does.

Integration: explicit Euler, or MotorNet's Runge-Kutta 4 scheme (whose 3rd and 4th stages start
from the previous stage's state, not the step's start; kept as MotorNet has it). Every method
computes in the dtype of the state it is given (float32 in the lowering; float64 in tests under
JAX's x64 mode, to compare with MotorNet run in double precision).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

import jax.numpy as jnp

from rnnlang.compiler.nodes.api import Array, NodeConfig, NodeImpl, SiteFn
from rnnlang.compiler.nodes.mechanics import arm_inverse_kinematics
from rnnlang.dsl.library.muscles import ARM26 as ARM26_KIND
from rnnlang.dsl.library.muscles import MODEL_MIN_ACTIVATION, MODEL_SLACK_LENGTH
from rnnlang.dsl.library.muscles import MUSCLE_POINT_MASS as POINT_MASS_KIND
from rnnlang.dsl.vocab import NodeKind

VEL_BOUND = 1000.0  # MotorNet's skeletons clip joint velocities to +-1000


def _safe_div(nom: Array, den: Array, use: Array) -> Array:
    """nom / den where `use`, 0 elsewhere, with a denominator of 1 where not used (so the branch
    that a `where` discards cannot put a NaN into gradients)."""
    return jnp.where(use, nom / jnp.where(use, den, 1.0), 0.0)


# ---- muscle models ------------------------------------------------------------------------------


class MuscleModel:
    """MotorNet's rigid-tendon muscles, vectorised over n muscles: "hill"
    (RigidTendonHillMuscle), "thelen" (RigidTendonHillMuscleThelen) or "relu" (ReluMuscle)."""

    def __init__(self, model: str, fmax: np.ndarray, tendon: np.ndarray, optimal: np.ndarray,
                 slack: float | None, min_activation: float | None, tau_a: float, tau_d: float) -> None:
        self.model = model
        self.n = int(fmax.size)
        self.fmax = np.asarray(fmax, np.float64)
        self.min_a = float(MODEL_MIN_ACTIVATION[model] if min_activation is None else min_activation)
        self.tau_a, self.tau_d = float(tau_a), float(tau_d)
        if model == "relu":  # MotorNet's base build: unit optimal lengths and vmax (proprioception is raw)
            self.l0_se = np.zeros(self.n)
            self.l0_ce = np.ones(self.n)
            self.vmax = np.ones(self.n)
            return
        self.l0_se = np.asarray(tendon, np.float64)
        self.l0_ce = np.asarray(optimal, np.float64)
        self.l0_pe = self.l0_ce * float(MODEL_SLACK_LENGTH[model] if slack is None else slack)
        self.vmax = 10.0 * self.l0_ce
        if model == "hill":
            self.k_pe = 1.0 / ((1.66 - self.l0_pe / self.l0_ce) ** 2)
        else:  # thelen: its force-velocity constants, as MotorNet precomputes them
            af, fmlen = 0.25, 1.4
            self.pe_1 = 5.0 / 0.6
            self.pe_den = float(np.exp(5.0) - 1.0)
            self.ce = (3 * self.vmax, af * self.vmax, 3 * af * self.vmax * fmlen - 3.0 * af * self.vmax,
                       8 * af * fmlen + 8.0 * fmlen, af * fmlen * self.vmax - af * self.vmax, 8 * (af + 1.0))

    def clip(self, a: Array) -> Array:
        return jnp.clip(a, self.min_a, 1.0)

    def activation_ode(self, excitation: Array, activation: Array) -> Array:
        """d(activation)/dt (Thelen 2003, eqs 1-2): faster rise than fall, both activation-dependent."""
        u, a = self.clip(excitation), self.clip(activation)
        tmp = 0.5 + 1.5 * a
        tau = jnp.where(u > a, self.tau_a * tmp, self.tau_d / tmp)
        return (u - a) / tau

    def state(self, a: Array, mt_len: Array, mt_vel: Array) -> Array:
        """The muscle state rows (activation, fibre length, fibre velocity, force), (4, n), for
        activation `a` and musculotendon lengths and velocities."""
        if self.model == "relu":
            return jnp.stack([a, mt_len, mt_vel, a * self.fmax])
        if self.model == "hill":
            return self._hill(a, mt_len, mt_vel)
        return self._thelen(a, mt_len, mt_vel)

    def _hill(self, a: Array, mt_len: Array, vel: Array) -> Array:
        """Kistemaker et al. (2010), rigid tendon: MotorNet's RigidTendonHillMuscle."""
        s_as, q_crit = 0.001, 0.3
        length = jnp.maximum(mt_len - self.l0_se, 0.0)
        strain = jnp.maximum((length - self.l0_pe) / self.l0_ce, 0.0)
        ln, vn = length / self.l0_ce, vel / self.vmax
        flpe = self.k_pe * strain ** 2
        flce = jnp.maximum(1.0 + (-ln ** 2 + 2.0 * ln - 1.0) / (0.66 ** 2), 0.01)
        a_rel = jnp.where(ln > 1.0, 0.41 * flce, 0.41)
        b_rel = jnp.where(a < q_crit, 5.2 * (1.0 - 0.9 * ((a - q_crit) / (5e-3 - q_crit))) ** 2, 5.2)
        dfdvcon0 = a * (flce + a_rel) / b_rel
        fxa = flce * a
        p_nom, p_den = fxa * 0.5, s_as - dfdvcon0 * 2.0
        p1, p2, p3 = -p_nom / p_den, p_nom ** 2 / p_den, -1.5 * fxa
        shortening = vn < 0
        concentric = _safe_div(vn * a * a_rel + fxa * b_rel, b_rel - vn, shortening)
        eccentric = _safe_div(-p1 * p3 + p1 * s_as * vn + p2 - p3 * vn + s_as * vn ** 2, p1 + vn, ~shortening)
        active = jnp.maximum(concentric + eccentric, 0.0)
        return jnp.stack([a, length, vel, (active + flpe) * self.fmax])

    def _thelen(self, a: Array, mt_len: Array, vel: Array) -> Array:
        """Thelen (2003), rigid tendon: MotorNet's RigidTendonHillMuscleThelen."""
        c0, c1, c2, c3, c4, c5 = self.ce
        length = jnp.maximum(mt_len - self.l0_se, 0.001)
        shortening = vel <= 0
        concentric = _safe_div(0.25 * (a * c0 + 4.0 * vel + self.vmax), a * 3.0 * c1 + c1 - 4.0 * vel, shortening)
        eccentric = _safe_div(c2 * a + c3 * vel + c4, c4 * a * 3.0 + c5 * vel + c4, ~shortening)
        fvce = jnp.maximum(concentric + eccentric, 0.0)
        flpe = jnp.maximum((jnp.exp(self.pe_1 * (length - self.l0_pe) / self.l0_ce) - 1.0) / self.pe_den, 0.0)
        flce = jnp.exp(-((length / self.l0_ce) - 1.0) ** 2 / 0.45)
        return jnp.stack([a, length, vel, (a * flce * fvce + flpe) * self.fmax])

    def initial(self, mt_len: Array, mt_vel: Array) -> Array:
        """The muscle state at rest (activation = min_activation) for a geometry, as MotorNet's
        `get_initial_muscle_state` (a ReLU muscle starts with zero force)."""
        a = jnp.full_like(mt_len, self.min_a)
        if self.model == "relu":
            return jnp.stack([a, mt_len, mt_vel, jnp.zeros_like(mt_len)])
        return self.state(a, mt_len, mt_vel)

    def integrate(self, dt: float, d_act: Array, muscle: Array, mt_len: Array, mt_vel: Array) -> Array:
        """The muscle state after dt: activation by Euler, clipped, then forces at that activation."""
        return self.state(self.clip(muscle[0] + d_act * dt), mt_len, mt_vel)


# ---- skeletons ----------------------------------------------------------------------------------


class _Skeleton:
    """Position and velocity clipping shared by MotorNet's skeletons."""

    lo: np.ndarray
    hi: np.ndarray

    def _clip(self, pos: Array, vel: Array) -> tuple[Array, Array]:
        vel = jnp.clip(vel, -VEL_BOUND, VEL_BOUND)
        vel = jnp.where((vel < 0) & (pos <= self.lo), 0.0, vel)
        vel = jnp.where((vel > 0) & (pos >= self.hi), 0.0, vel)
        return jnp.clip(pos, self.lo, self.hi), vel


class ArmSkeleton(_Skeleton):
    """MotorNet's TwoDofArm: shoulder and elbow, inertias about the segments' centres of mass."""

    def __init__(self, lengths: Any, masses: Any, inertias: Any, com: Any, limits: Any) -> None:
        (self.l1, self.l2), (m1, m2) = np.asarray(lengths, np.float64), np.asarray(masses, np.float64)
        (i1, i2), (g1, g2) = np.asarray(inertias, np.float64), np.asarray(com, np.float64)
        lim = np.asarray(limits, np.float64)
        self.lo, self.hi = lim[:, 0], lim[:, 1]
        c11, c12 = m1 * g1 ** 2 + i1 + m2 * (g2 ** 2 + self.l1 ** 2) + i2, m2 * g2 ** 2 + i2
        self.inertia_c = np.array([[c11, c12], [c12, c12]])
        m12 = m2 * self.l1 * g2
        self.inertia_m = np.array([[2 * m12, m12], [m12, 0.0]])
        self.coriolis = m12

    def jacobian(self, angle: Array) -> Array:
        q01 = angle[0] + angle[1]
        s0, c0, s01, c01 = jnp.sin(angle[0]), jnp.cos(angle[0]), jnp.sin(q01), jnp.cos(q01)
        return jnp.stack([jnp.stack([-self.l1 * s0 - self.l2 * s01, -self.l2 * s01]),
                          jnp.stack([self.l1 * c0 + self.l2 * c01, self.l2 * c01])])

    def cartesian(self, joint: Array) -> Array:
        """Hand position and velocity."""
        angle, vel = joint[0:2], joint[2:4]
        q01 = angle[0] + angle[1]
        pos = jnp.stack([self.l1 * jnp.cos(angle[0]) + self.l2 * jnp.cos(q01),
                         self.l1 * jnp.sin(angle[0]) + self.l2 * jnp.sin(q01)])
        return jnp.concatenate([pos, self.jacobian(angle) @ vel])

    def from_cartesian(self, effector: Array) -> Array:
        return arm_inverse_kinematics(effector, np.array([self.l1, self.l2]), self.jacobian)

    def ode(self, torque: Array, joint: Array, load: Array) -> Array:
        """Joint accelerations: M(q)^-1 (torque + J^T load - coriolis)."""
        v0, v1 = joint[2], joint[3]
        s2 = jnp.sin(joint[1])
        M = self.inertia_c + jnp.cos(joint[1]) * self.inertia_m
        coriolis = jnp.stack([-self.coriolis * s2 * (2 * v0 + v1) * v1, self.coriolis * s2 * v0 * v0])
        rhs = torque + self.jacobian(joint[0:2]).T @ load - coriolis
        det = M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]
        return jnp.stack([M[1, 1] * rhs[0] - M[0, 1] * rhs[1], -M[1, 0] * rhs[0] + M[0, 0] * rhs[1]]) / det

    def integrate(self, dt: float, acc: Array, joint: Array) -> Array:
        pos, vel = self._clip(joint[0:2] + joint[2:4] * dt, joint[2:4] + acc * dt)
        return jnp.concatenate([pos, vel])


class PointMassSkeleton(_Skeleton):
    """MotorNet's PointMass: the joint state is the Cartesian state."""

    def __init__(self, mass: float, bounds: Any) -> None:
        self.mass = float(mass)
        lim = np.asarray(bounds, np.float64)
        self.lo, self.hi = lim[:, 0], lim[:, 1]

    def cartesian(self, joint: Array) -> Array:
        return joint

    def from_cartesian(self, effector: Array) -> Array:
        return effector

    def ode(self, force: Array, joint: Array, load: Array) -> Array:
        return force + load  # MotorNet divides by the mass in the integration step

    def integrate(self, dt: float, acc: Array, joint: Array) -> Array:
        pos, vel = self._clip(joint[0:2] + joint[2:4] * dt, joint[2:4] + acc * dt / self.mass)
        return jnp.concatenate([pos, vel])


# ---- geometries: (musculotendon lengths (n,), velocities (n,), moment arms (dof, n)) -------------

# arm26 (MotorNet's RigidTendonArm26, after Nijhof & Kouwenhoven 2000): per muscle, a length
# a0 + sum_j (a1_j + a2_j q_j) q_j with q = angles - a3, and moment arms a1 + 2 a2 q
ARM26_A0 = np.array([0.151, 0.2322, 0.2859, 0.2355, 0.3329, 0.2989])
ARM26_A1 = np.array([[-0.03, 0.03, 0.0, 0.0, -0.03, 0.03], [0.0, 0.0, -0.014, 0.025, -0.016, 0.03]])
ARM26_A2 = np.array([[0.0] * 6, [0.0, 0.0, -4e-3, -2.2e-3, -5.7e-3, -3.2e-3]])
ARM26_A3 = np.array([np.pi / 2, 0.0])
# the point mass's muscles run straight from these anchors to the mass
POINT_MASS_ANCHORS = np.array([[2.0, 2.0], [-2.0, 2.0], [2.0, -2.0], [-2.0, -2.0]])


def arm26_geometry(joint: Array) -> tuple[Array, Array, Array]:
    q = joint[0:2, None] - ARM26_A3[:, None]
    moments = q * ARM26_A2 * 2 + ARM26_A1
    length = jnp.sum((ARM26_A1 + q * ARM26_A2) * q, axis=0) + ARM26_A0
    velocity = jnp.sum(joint[2:4, None] * moments, axis=0)
    return length, velocity, moments


def point_mass_geometry(joint: Array) -> tuple[Array, Array, Array]:
    diff = joint[None, 0:2] - POINT_MASS_ANCHORS  # (n, 2): anchor to mass
    length = jnp.sqrt(jnp.sum(diff ** 2, axis=1))
    velocity = jnp.sum(diff * joint[None, 2:4], axis=1) / length
    return length, velocity, (diff / length[:, None]).T


# ---- the plants ------------------------------------------------------------------------------------


class MusclePlant(NodeImpl):
    """A skeleton, a geometry and a muscle model, stepped as MotorNet's Effector. Subclasses build
    the three parts from their kind's parameters."""

    kind: NodeKind
    skeleton: ArmSkeleton | PointMassSkeleton
    geometry: Callable[[Array], tuple[Array, Array, Array]]
    muscle: MuscleModel
    damping: float = 0.0

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.method = str(self.param("integrator"))
        self.substeps = int(self.param("substeps"))
        self.dt = float(config.dt) / self.substeps

    def param(self, name: str) -> Any:
        return self.kind.value(self.p, name)

    def _muscle_model(self, model: str, fmax: Any, tendon: Any, optimal: Any, slack: Any) -> MuscleModel:
        return MuscleModel(model, np.asarray(fmax, np.float64).reshape(-1), np.asarray(tendon, np.float64),
                           np.asarray(optimal, np.float64), slack, self.param("min_activation"),
                           self.param("tau_activation"), self.param("tau_deactivation"))

    # -- state layout --------------------------------------------------------------------------
    def split(self, state: Array) -> tuple[Array, Array]:
        """(joint state (4,), muscle state (4, n))."""
        return state[0:4], state[4:].reshape(4, self.muscle.n)

    @staticmethod
    def join(joint: Array, muscle: Array) -> Array:
        return jnp.concatenate([joint, muscle.reshape(-1)])

    def initial_state(self, joint: Array) -> Array:
        """The state for a joint state, its muscles at rest (MotorNet's `reset`)."""
        mt_len, mt_vel, _ = self.geometry(joint)
        return self.join(joint, self.muscle.initial(mt_len, mt_vel))

    # -- dynamics -------------------------------------------------------------------------------
    def ode(self, excitation: Array, joint: Array, muscle: Array, load: Array, tension: SiteFn) -> tuple[Array, Array]:
        """(d activation/dt, joint accelerations) at one state, for constant excitation and load."""
        _, _, moments = self.geometry(joint)
        torque = -jnp.sum(tension(muscle[3]) * moments, axis=-1) - self.damping * joint[2:4]
        return self.muscle.activation_ode(excitation, muscle[0]), self.skeleton.ode(torque, joint, load)

    def euler(self, dt: float, deriv: tuple[Array, Array], joint: Array, muscle: Array) -> tuple[Array, Array]:
        """MotorNet's `integration_step`: the muscles at the start geometry, then the skeleton."""
        mt_len, mt_vel, _ = self.geometry(joint)
        return self.skeleton.integrate(dt, deriv[1], joint), self.muscle.integrate(dt, deriv[0], muscle, mt_len, mt_vel)

    def substep(self, excitation: Array, joint: Array, muscle: Array, load: Array, tension: SiteFn) -> tuple[Array, Array]:
        f = lambda j, m: self.ode(excitation, j, m, load, tension)  # noqa: E731
        dt = self.dt
        if self.method == "euler":
            return self.euler(dt, f(joint, muscle), joint, muscle)
        k1 = f(joint, muscle)
        s1 = self.euler(dt / 2, k1, joint, muscle)
        k2 = f(*s1)
        s2 = self.euler(dt / 2, k2, *s1)  # MotorNet's scheme: from stage 1's state
        k3 = f(*s2)
        s3 = self.euler(dt, k3, *s2)  # and from stage 2's
        k4 = f(*s3)
        k = tuple((a + 2 * (b + c) + d) / 6 for a, b, c, d in zip(k1, k2, k3, k4))
        return self.euler(dt, k, joint, muscle)

    # -- node interface ---------------------------------------------------------------------------
    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> Array:
        if init and init.get("init") is not None:
            joint = self.skeleton.from_cartesian(jnp.asarray(init["init"], jnp.float32).reshape((4,)))
        else:
            joint = jnp.zeros((4,), jnp.float32)
        return self.initial_state(joint).astype(jnp.float32)

    def read(self, params: Mapping[str, Array], state: Array, noise: Mapping[str, Array]) -> dict[str, Array]:
        joint, muscle = self.split(state)
        out = {
            "effector": self.skeleton.cartesian(joint),
            "activations": muscle[0],
            "muscle_lengths": muscle[1],
            "muscle_velocities": muscle[2],
            "muscle_forces": muscle[3],
            "proprioception": jnp.concatenate([muscle[1] / self.muscle.l0_ce, muscle[2] / self.muscle.vmax]),
        }
        return {k: v.astype(state.dtype) for k, v in out.items()}

    def advance(self, params: Mapping[str, Array], state: Array, inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Array, dict[str, Array]]:
        """One model step: `substeps` integration steps with the excitation (clipped to
        [min_activation, 1]) and the external force held constant."""
        n = self.muscle.n
        excitation = self.muscle.clip(_input(inputs, "excitation", n, state.dtype))
        load = _input(inputs, "force", 2, state.dtype)
        tension = sites.get("tension", lambda x: x)
        joint, muscle = self.split(state)
        for _ in range(self.substeps):
            joint, muscle = self.substep(excitation, joint, muscle, load, tension)
        return self.join(joint, muscle).astype(state.dtype), {}

    def velocity(self, state: Array) -> Array:
        return self.skeleton.cartesian(state[0:4])[2:4]


def _input(inputs: Mapping[str, Array], name: str, n: int, dtype: Any) -> Array:
    """An input vector in the state's dtype, zeros when nothing is connected."""
    if name in inputs and inputs[name] is not None:
        return jnp.asarray(inputs[name], dtype).reshape((n,))
    return jnp.zeros((n,), dtype)


class Arm26(MusclePlant):
    """MotorNet's RigidTendonArm26: TwoDofArm skeleton, six muscles, polynomial moment arms."""

    kind = ARM26_KIND

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = self.param
        self.skeleton = ArmSkeleton(P("lengths"), P("masses"), P("inertias"), P("com"), P("joint_limits"))
        self.geometry = arm26_geometry
        self.muscle = self._muscle_model(str(P("muscle")), P("max_isometric_force"), P("tendon_length"),
                                         P("optimal_length"), P("slack_length"))
        self.damping = float(P("damping"))

    def read(self, params: Mapping[str, Array], state: Array, noise: Mapping[str, Array]) -> dict[str, Array]:
        return {**super().read(params, state, noise), "joints": state[0:4]}


class MusclePointMass(MusclePlant):
    """MotorNet's ReluPointMass24: a point mass and four ReLU muscles in an X."""

    kind = POINT_MASS_KIND

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = self.param
        self.skeleton = PointMassSkeleton(P("mass"), P("bounds"))
        self.geometry = point_mass_geometry
        self.muscle = self._muscle_model("relu", np.full(4, float(P("max_isometric_force"))), None, None, None)
