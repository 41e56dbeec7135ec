"""`arm26` and `muscle_point_mass` against MotorNet's own trajectories.

tests/data/motornet_reference.npz holds MotorNet's joint, Cartesian, muscle and geometry states,
step by step, for constant and time-varying excitations (some outside [0, 1]) and endpoint
loads, per muscle model and integrator; scripts/motornet_reference.py regenerates it with
MotorNet installed. MotorNet ran in float64; here the plants run in float64 too (JAX's x64 mode,
inside `jax.enable_x64(True)` only), from MotorNet's reset joint state, and must agree to 1e-5
relative on every stored quantity (within 1e-5 of each quantity's largest magnitude where the
value itself crosses zero).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.compiler.nodes import muscles
from rnnlang.compiler.nodes.api import NodeConfig

DATA = np.load(Path(__file__).parent.parent / "data" / "motornet_reference.npz")
CASES = sorted({k.split("/")[0] for k in DATA.files})
RTOL = 1e-5


def case(name: str) -> dict:
    return {k.split("/")[1]: DATA[k] for k in DATA.files if k.startswith(name + "/")}


def plant(cfg: dict):
    params = {"integrator": cfg["integrator"], "substeps": cfg["substeps"]}
    if cfg["effector"] == "arm26":
        return muscles.Arm26(NodeConfig("arm", {**params, "muscle": cfg["muscle"]}, {}, {}, cfg["dt"], 10))
    return muscles.MusclePointMass(NodeConfig("arm", params, {}, {}, cfg["dt"], 10))


def close(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    scale = np.max(np.abs(ref), axis=0, keepdims=True)  # per component, over time
    err = np.abs(ours - ref)
    bad = err > RTOL * (np.abs(ref) + scale) + 1e-12
    assert not bad.any(), f"{what}: {bad.sum()} values differ, worst relative error {np.max(err / (scale + 1e-12)):.2e}"


def trajectory(node, joint0: np.ndarray, excitation: np.ndarray, load: np.ndarray) -> dict[str, np.ndarray]:
    """States at every step (T + 1) from a joint state, as MotorNet records them."""

    def step(state, uf):
        return node.advance({}, state, {"excitation": uf[0], "force": uf[1]}, {}, {})[0], state

    def observe(state):
        joint, muscle = node.split(state)
        length, velocity, moments = node.geometry(joint)
        return {"joint": joint, "cartesian": node.read({}, state, {})["effector"], "muscle": muscle,
                "geometry": jnp.concatenate([length[None], velocity[None], moments])}

    @jax.jit
    def run(joint, u, f):
        last, states = jax.lax.scan(step, node.initial_state(joint), (u, f))
        return jax.vmap(observe)(jnp.concatenate([states, last[None]]))

    return {k: np.asarray(v) for k, v in run(jnp.asarray(joint0), jnp.asarray(excitation), jnp.asarray(load)).items()}


@pytest.fixture(scope="module")
def simulated() -> dict[str, dict[str, np.ndarray]]:
    """Every case simulated by rnnlang's plants in float64."""
    with jax.enable_x64(True):
        out = {}
        for name in CASES:
            ref = case(name)
            out[name] = trajectory(plant(json.loads(str(ref["config"]))), ref["joint"][0], ref["excitation"], ref["load"])
            assert out[name]["joint"].dtype == np.float64
    return out


def test_the_reference_covers_every_muscle_model_integrator_and_plant():
    configs = [json.loads(str(case(n)["config"])) for n in CASES]
    assert {c["muscle"] for c in configs if c["effector"] == "arm26"} == {"hill", "thelen", "relu"}
    assert {c["integrator"] for c in configs} == {"euler", "rk4"}
    assert {c["effector"] for c in configs} == {"arm26", "point_mass"}
    assert any(c["substeps"] > 1 for c in configs)
    for n in CASES:  # the excitations leave [0, 1] in the time-varying cases, and the arm moves
        ref = case(n)
        assert np.ptp(ref["joint"][:, 0]) > 1e-3
    assert any(case(n)["excitation"].min() < 0 for n in CASES)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("what", ["joint", "cartesian", "muscle", "geometry"])
def test_matches_motornet(simulated, name: str, what: str):
    close(simulated[name][what], case(name)[what], f"{name}: {what}")


def test_read_ports_are_the_state_motornet_observes():
    """The output ports carry MotorNet's muscle state rows and its proprioception (lengths over
    optimal lengths, velocities over vmax), in float32 as the lowering runs them."""
    ref = case("arm26_hill_constant")
    node = plant(json.loads(str(ref["config"])))
    out = jax.jit(lambda j: node.read({}, node.initial_state(j), {}))(jnp.asarray(ref["joint"][0], jnp.float32))
    m = ref["muscle"][0]
    for port, row in (("activations", 0), ("muscle_lengths", 1), ("muscle_velocities", 2), ("muscle_forces", 3)):
        np.testing.assert_allclose(out[port], m[row], rtol=1e-5, atol=1e-6, err_msg=port)
    l0 = np.array([0.134, 0.140, 0.092, 0.093, 0.137, 0.127])
    np.testing.assert_allclose(out["proprioception"], np.concatenate([m[1] / l0, m[2] / (10 * l0)]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["joints"], ref["joint"][0], rtol=1e-6)
    assert out["effector"].dtype == jnp.float32
