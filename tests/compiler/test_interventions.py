"""Intervention kinds: each formula, gated by `active` and scaled by `scale`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rnnlang.compiler.nodes import interventions as iv
from rnnlang.compiler.nodes import mechanics
from rnnlang.compiler.nodes.api import NodeConfig
from rnnlang.dsl.library import REGISTRY


def gate(active=1.0, scale=1.0, **other):
    return {"active": jnp.float32(active), "scale": jnp.float32(scale), **{k: jnp.asarray(v, jnp.float32) for k, v in other.items()}}


POINT = mechanics.PointMass(NodeConfig("pm", {}, {}, {}, 0.05, 10, None))


def test_declarations():
    for name, tags in [("curl_field", ("force",)), ("constant_field", ("force",)),
                       ("noise", ("signal", "force", "units")), ("clamp", ("units",)),
                       ("add_input", ("units",)), ("ablate", ("weights",))]:
        k = REGISTRY[name]
        assert k.family == "intervention" and k.applies_to == tags and k.ports == ()
        assert k.param("active").per_trial and k.param("scale").per_trial
        assert k.param("active").default is True and k.param("scale").default == 1.0
    assert REGISTRY["clamp"].param("units").required and REGISTRY["ablate"].param("stop").default == -1


def test_curl_field():
    f = iv.CurlField({"amplitude": 1.0}, 2, 10, 0.05)
    state = jnp.array([0.0, 0.0, 0.3, -0.7])
    x = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(f.apply(x, gate(scale=0.5, amplitude=-2.0), {}, 0, POINT, state),
                               [1.0 + 0.5 * -2.0 * 0.7, 2.0 + 0.5 * -2.0 * 0.3], rtol=1e-6)
    np.testing.assert_allclose(f.apply(x, gate(active=0.0, amplitude=5.0), {}, 0, POINT, state), x)
    # vmapped over a batch of trials with per-trial amplitudes
    amps = jnp.array([0.0, 1.0, 2.0])
    out = jax.vmap(lambda a: f.apply(x, gate(amplitude=a), {}, 0, POINT, state))(amps)
    np.testing.assert_allclose(out, x + amps[:, None] * np.array([0.7, 0.3]), rtol=1e-6)


def test_constant_field():
    f = iv.ConstantField({}, 2, 10, 0.05)
    x = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(f.apply(x, gate(scale=2.0, field=[0.5, -1.0]), {}, 0, POINT, None), [2.0, 0.0])
    np.testing.assert_allclose(f.apply(x, gate(), {}, 0, POINT, None), x)  # default field [0, 0]


def test_noise():
    f = iv.Noise({"std": 0.1}, 3, 10, 0.05)
    assert f.noise_shapes() == {"e": (3,)}
    e = jnp.array([1.0, -2.0, 0.5])
    x = jnp.array([1.0, 1.0, 1.0])
    np.testing.assert_allclose(f.apply(x, gate(scale=3.0, std=0.2), {"e": e}, 0, POINT, None), x + 0.6 * e, rtol=1e-6)
    np.testing.assert_allclose(f.apply(x, gate(scale=3.0), {"e": e}, 0, POINT, None), x + 0.3 * e, rtol=1e-6)
    np.testing.assert_allclose(f.apply(x, gate(active=0.0), {"e": e}, 0, POINT, None), x)


def test_clamp():
    f = iv.Clamp({"units": [0, 3], "values": [9.0, -9.0]}, 5, 10, 0.05)
    x = jnp.arange(5, dtype=jnp.float32)
    np.testing.assert_allclose(f.apply(x, gate(scale=0.5, values=[2.0, 4.0]), {}, 0, None, None), [1.0, 1, 2, 2.0, 4])
    np.testing.assert_allclose(f.apply(x, gate(), {}, 0, None, None), [9.0, 1, 2, -9.0, 4])
    np.testing.assert_allclose(f.apply(x, gate(active=0.0), {}, 0, None, None), x)


def test_add_input():
    f = iv.AddInput({"units": [1, 2]}, 4, 10, 0.05)
    x = jnp.zeros(4)
    np.testing.assert_allclose(f.apply(x, gate(scale=2.0, value=0.25), {}, 0, None, None), [0, 0.5, 0.5, 0])
    np.testing.assert_allclose(f.apply(x, gate(), {}, 0, None, None), [0, 1.0, 1.0, 0])  # default value 1
    np.testing.assert_allclose(f.apply(x, gate(active=0.0), {}, 0, None, None), x)


def test_ablate_window_and_per_step_masks():
    W = jnp.arange(1, 10, dtype=jnp.float32).reshape(3, 3)
    mask = np.ones((3, 3), np.float32)
    mask[0, 1] = 0
    f = iv.Ablate({"mask": mask, "start": 2, "stop": 4}, 3, 10, 0.05)
    for t, on in [(0, False), (1, False), (2, True), (3, True), (4, False)]:
        np.testing.assert_array_equal(f.apply(W, gate(), {}, jnp.int32(t), None, None), W * mask if on else W)
    np.testing.assert_array_equal(f.apply(W, gate(active=0.0), {}, 3, None, None), W)
    np.testing.assert_allclose(f.apply(W, gate(scale=0.5), {}, 3, None, None),
                               W * (0.5 * mask + 0.5))  # partial ablation
    f = iv.Ablate({"mask": mask}, 3, 10, 0.05)  # default window: the whole trial
    np.testing.assert_array_equal(f.apply(W, gate(), {}, 9, None, None), W * mask)
    masks = np.stack([np.eye(3, dtype=np.float32) * (k + 1) for k in range(4)])
    f = iv.Ablate({"mask": masks}, 3, 4, 0.05)
    for t in range(4):  # PsychRNN's t_connectivity[t]
        np.testing.assert_array_equal(f.apply(W, gate(), {}, jnp.int32(t), None, None), W * masks[t])
    step = jax.jit(lambda t: f.apply(W, gate(), {}, t, None, None))
    np.testing.assert_array_equal(step(jnp.int32(2)), W * masks[2])
