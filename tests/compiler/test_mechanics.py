"""Mechanics kinds against closed forms and hand-written recurrences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.compiler.nodes import mechanics
from rnnlang.compiler.nodes.api import NodeConfig
from rnnlang.dsl.library import REGISTRY


def cfg(params: dict, dt: float = 0.05) -> NodeConfig:
    return NodeConfig("plant", params, {}, {}, dt, 100, None)


def rollout(node, state, steps, inputs):
    step = jax.jit(lambda s: node.advance({}, s, inputs, {}, {})[0])
    out = [state]
    for _ in range(steps):
        state = step(state)
        out.append(state)
    return np.asarray(jnp.stack(out), np.float64)


def test_declarations():
    pm, arm = REGISTRY["point_mass"], REGISTRY["two_link_arm"]
    assert pm.port("force").combine == "sum" and pm.port("force").tags == ("force",)
    assert pm.port("effector").timing == "state" and pm.port("effector").fields == {"pos": (0, 2), "vel": (2, 4)}
    assert pm.port("init").role == "init" and pm.port("init").size == 4
    assert arm.port("torque").size == 2 and arm.port("joints").fields == {"angle": (0, 2), "vel": (2, 4)}
    assert arm.param("lengths").default == [0.30, 0.33]


# ---- point mass ---------------------------------------------------------------------------------


def test_point_mass_euler_recurrence_50_steps():
    m, c, dt = 2.0, 0.5, 0.05
    node = mechanics.PointMass(cfg(dict(mass=m, damping=c), dt=dt))
    x0 = np.array([0.1, -0.2, 0.3, 0.4], np.float32)
    s = node.init_state({}, {"init": jnp.asarray(x0)})
    np.testing.assert_array_equal(s, x0)
    F = np.array([1.0, -0.5])
    traj = rollout(node, s, 50, {"force": jnp.asarray(F, jnp.float32)})
    p, v = x0[:2].astype(np.float64), x0[2:].astype(np.float64)
    for k in range(1, 51):
        p, v = p + dt * v, v + dt * (F / m - (c / m) * v)
        np.testing.assert_allclose(traj[k], np.concatenate([p, v]), rtol=1e-5, atol=1e-6)
    assert np.allclose(node.read({}, jnp.asarray(traj[-1], jnp.float32), {})["effector"], traj[-1], atol=1e-6)
    np.testing.assert_array_equal(node.velocity(jnp.asarray(x0)), x0[2:])


def test_point_mass_defaults_and_no_force():
    node = mechanics.PointMass(cfg({}))
    s = node.init_state({}, {})
    np.testing.assert_array_equal(s, np.zeros(4))
    s1, out = node.advance({}, jnp.array([0.0, 0.0, 1.0, 2.0]), {}, {}, {})
    assert out == {}
    np.testing.assert_allclose(s1, [0.05, 0.1, 1.0, 2.0], rtol=1e-6)


def test_point_mass_rk4_closed_form():
    m, dt = 1.5, 0.05
    node = mechanics.PointMass(cfg(dict(mass=m, integrator="rk4"), dt=dt))
    x0 = np.array([0.2, -0.1, 0.5, -0.3])
    F = np.array([0.6, 0.9])
    traj = rollout(node, jnp.asarray(x0, jnp.float32), 50, {"force": jnp.asarray(F, jnp.float32)})
    t = dt * np.arange(51)[:, None]
    a = F / m
    np.testing.assert_allclose(traj[:, :2], x0[:2] + x0[2:] * t + 0.5 * a * t ** 2, atol=1e-5)
    np.testing.assert_allclose(traj[:, 2:], x0[2:] + a * t, atol=1e-5)


def test_point_mass_rk4_with_damping_matches_exponential():
    m, c, dt = 1.0, 2.0, 0.05
    node = mechanics.PointMass(cfg(dict(mass=m, damping=c, integrator="rk4"), dt=dt))
    F = np.array([1.0, 0.0])
    traj = rollout(node, jnp.zeros(4), 40, {"force": jnp.asarray(F, jnp.float32)})
    t = dt * np.arange(41)
    v_exact = F[0] / c * (1 - np.exp(-c * t / m))
    np.testing.assert_allclose(traj[:, 2], v_exact, atol=1e-5)


# ---- two-link arm ---------------------------------------------------------------------------------


def test_arm_forward_kinematics_geometry():
    arm = mechanics.TwoLinkArm(cfg({}))
    np.testing.assert_allclose(arm.hand_position(jnp.array([0.0, np.pi / 2])), [0.30, 0.33], atol=1e-6)
    np.testing.assert_allclose(arm.hand_position(jnp.array([0.0, 0.0])), [0.63, 0.0], atol=1e-6)
    np.testing.assert_allclose(arm.hand_position(jnp.array([np.pi / 2, -np.pi / 2])), [0.33, 0.30], atol=1e-6)
    q = jnp.array([0.4, 1.1])
    np.testing.assert_allclose(arm.jacobian(q), jax.jacfwd(arm.hand_position)(q), atol=1e-6)
    state = jnp.array([0.4, 1.1, 0.7, -0.3])
    eff = arm.read({}, state, {})
    np.testing.assert_allclose(eff["effector"][2:], np.asarray(arm.jacobian(q)) @ np.array([0.7, -0.3]), atol=1e-6)
    np.testing.assert_array_equal(eff["joints"], state)
    np.testing.assert_allclose(arm.velocity(state), eff["effector"][2:], atol=1e-7)


@pytest.mark.parametrize("target", [(0.0, 0.4), (0.25, 0.3), (-0.2, 0.35), (0.1, -0.45)])
def test_arm_inverse_kinematics_round_trip(target):
    arm = mechanics.TwoLinkArm(cfg({}))
    eff = jnp.array([*target, 0.3, -0.2], jnp.float32)
    joints = arm.init_state({}, {"init": eff})
    assert float(joints[1]) > 0  # positive elbow angle
    np.testing.assert_allclose(arm.effector_state(joints), eff, atol=2e-5)


def arm_ref_deriv(q, qd, tau, F, l=(0.30, 0.33), m=(1.4, 1.0), I=(0.025, 0.045), s=(0.11, 0.16),
                  B=((0.05, 0.025), (0.025, 0.05))):
    """Feedbax TwoLinkArm.vector_field, written out by hand."""
    a0, a1, a2 = I[0] + I[1] + m[1] * l[0] ** 2, m[1] * l[0] * s[1], I[1]
    c = np.array([-qd[1] * (2 * qd[0] + qd[1]), qd[0] ** 2]) * a1 * np.sin(q[1])
    M = np.array([[a0 + 2 * a1 * np.cos(q[1]), a2 + a1 * np.cos(q[1])], [a2 + a1 * np.cos(q[1]), a2]])
    J = np.array([[-l[0] * np.sin(q[0]) - l[1] * np.sin(q[0] + q[1]), -l[1] * np.sin(q[0] + q[1])],
                  [l[0] * np.cos(q[0]) + l[1] * np.cos(q[0] + q[1]), l[1] * np.cos(q[0] + q[1])]])
    return np.linalg.solve(M, tau + J.T @ F - c - np.array(B) @ qd)


def test_arm_euler_step_matches_dynamics():
    dt = 0.01
    arm = mechanics.TwoLinkArm(cfg({}, dt=dt))
    q, qd = np.array([0.3, 1.2]), np.array([0.5, -0.8])
    tau, F = np.array([0.2, -0.1]), np.array([1.0, 2.0])
    new, _ = arm.advance({}, jnp.asarray(np.concatenate([q, qd]), jnp.float32),
                         {"torque": jnp.asarray(tau, jnp.float32), "force": jnp.asarray(F, jnp.float32)}, {}, {})
    dd = arm_ref_deriv(q, qd, tau, F)
    np.testing.assert_allclose(new, np.concatenate([q + dt * qd, qd + dt * dd]), rtol=1e-5, atol=1e-6)


def energy_drift(integrator: str, dt: float, horizon: float = 0.5) -> float:
    arm = mechanics.TwoLinkArm(cfg(dict(friction=[[0.0, 0.0], [0.0, 0.0]], integrator=integrator), dt=dt))
    s0 = jnp.array([0.5, 1.3, 2.0, -1.5], jnp.float32)
    traj = rollout(arm, s0, int(round(horizon / dt)), {})
    e = np.array([float(arm.energy(jnp.asarray(x, jnp.float32))) for x in (traj[0], traj[-1])])
    return abs(e[1] - e[0])


def test_arm_energy_drift_is_first_order_for_euler_and_small_for_rk4():
    d1, d2 = energy_drift("euler", 0.01), energy_drift("euler", 0.005)
    assert 1.6 < d1 / d2 < 2.4, (d1, d2)
    assert energy_drift("rk4", 0.01) < 1e-2 * d1  # float32 round-off level


def test_arm_friction_dissipates_and_joint_limits():
    arm = mechanics.TwoLinkArm(cfg({}, dt=0.01))
    s0 = jnp.array([0.5, 1.3, 2.0, -1.5], jnp.float32)
    traj = rollout(arm, s0, 50, {})
    assert float(arm.energy(jnp.asarray(traj[-1], jnp.float32))) < float(arm.energy(s0))
    limited = mechanics.TwoLinkArm(cfg(dict(joint_limits=[[0.0, 2.4], [0.0, 2.8]]), dt=0.1))
    new, _ = limited.advance({}, jnp.array([0.05, 1.0, -1.0, 0.5]), {}, {}, {})
    assert float(new[0]) == 0.0 and float(new[2]) == 0.0  # clipped, velocity zeroed
    assert 1.0 < float(new[1]) < 2.8 and float(new[3]) != 0.0
