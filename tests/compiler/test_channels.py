"""Channel kinds: delay lines, noise with given draws, gain."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from rnnlang.compiler.nodes import channels
from rnnlang.compiler.nodes.api import NodeConfig
from rnnlang.dsl.library import REGISTRY
from rnnlang.dsl.vocab import resolve_size


def cfg(params: dict, n: int = 2) -> NodeConfig:
    return NodeConfig("ch", params, {"input": n}, {"output": n}, 0.05, 20, None)


def run(node, xs, init=None, noises=None):
    """The lowering's order per step: read state outputs, then advance."""
    state = node.init_state({}, init or {})
    outs = []
    for k, x in enumerate(xs):
        noise = noises[k] if noises else {}
        out = node.read({}, state, noise)
        state, ft = node.advance({}, state, {"input": jnp.asarray(x, jnp.float32)}, noise, {})
        out.update(ft)
        outs.append(np.asarray(out["output"]))
    return np.stack(outs)


def test_declarations():
    k = REGISTRY["channel"]
    out = k.port("output")
    assert out.timing_for({"delay": 0}) == "feedthrough" and out.timing_for({"delay": 3}) == "state"
    assert resolve_size(out.size, {"delay": 1}, {"input": 7}) == 7
    assert REGISTRY["gain"].family == "channel"


def test_delay_three_shifts_with_first_value_before():
    xs = np.arange(1, 21, dtype=np.float32).reshape(10, 2)
    node = channels.Channel(cfg(dict(delay=3)))
    ys = run(node, xs, init={"input": jnp.asarray(xs[0])})
    np.testing.assert_array_equal(ys[:3], np.repeat(xs[:1], 3, axis=0))
    np.testing.assert_array_equal(ys[3:], xs[:-3])


def test_delay_zeros_init_and_missing_first_value():
    xs = np.arange(1, 13, dtype=np.float32).reshape(6, 2)
    ys = run(channels.Channel(cfg(dict(delay=2, init="zeros"))), xs, init={"input": jnp.asarray(xs[0])})
    np.testing.assert_array_equal(ys[:2], 0)
    np.testing.assert_array_equal(ys[2:], xs[:-2])
    ys = run(channels.Channel(cfg(dict(delay=2))), xs)  # "first" but not known at t = 0: zeros
    np.testing.assert_array_equal(ys[:2], 0)


def test_delay_zero_passes_through():
    xs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    node = channels.Channel(cfg({}, n=3))
    assert node.init_state({}, {}) == () and node.noise_shapes() == {}
    np.testing.assert_array_equal(run(node, xs), xs)


def test_noise_formula_with_given_draws():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(6, 2)).astype(np.float32)
    draws = [{"noise": jnp.asarray(rng.normal(size=2), jnp.float32),
              "signal": jnp.asarray(rng.normal(size=2), jnp.float32)} for _ in range(6)]
    e2 = np.stack([np.asarray(d["noise"]) for d in draws])
    e1 = np.stack([np.asarray(d["signal"]) for d in draws])
    node = channels.Channel(cfg(dict(noise=0.045, signal_noise=0.025)))
    assert node.noise_shapes() == {"noise": (2,), "signal": (2,)}
    np.testing.assert_allclose(run(node, xs, noises=draws), xs + 0.025 * xs * e1 + 0.045 * e2, rtol=1e-6)
    # delayed: the noise is drawn when the value leaves the line
    node = channels.Channel(cfg(dict(delay=1, noise=0.1)))
    assert node.noise_shapes() == {"noise": (2,)}
    ys = run(node, xs, init={"input": jnp.asarray(xs[0])}, noises=draws)
    delayed = np.concatenate([xs[:1], xs[:-1]])
    np.testing.assert_allclose(ys, delayed + 0.1 * e2, rtol=1e-6)


def test_gain_scalar_and_vector():
    x = np.array([1.0, -2.0, 3.0], np.float32)
    _, out = channels.Gain(cfg(dict(gain=2.5), n=3)).advance({}, (), {"input": x}, {}, {})
    np.testing.assert_allclose(out["output"], 2.5 * x)
    _, out = channels.Gain(cfg(dict(gain=[1.0, 0.0, -1.0]), n=3)).advance({}, (), {"input": x}, {}, {})
    np.testing.assert_allclose(out["output"], [1.0, 0.0, -3.0])


def test_a_delayed_channels_record_is_the_value_used_at_that_step():
    """The recorded `output` of a channel with delay d at step k is what the network read at step
    k, noise included: the plant's position d + 1 records earlier (the channel took it in at step
    k - d, before that step's update). Recording the queue after the update gave step k + 1's."""
    import jax

    from rnnlang.compiler.lower import compile_model
    from rnnlang.dsl import load_source

    d = 3
    src = f"""model {{ dt = 0.05  steps = 30 }}
node task = simple_reaches()
node net = gru(hidden = 6, out = 2)
node arm = point_mass()
node clean = channel(delay = {d})
node noisy = channel(delay = {d}, noise = 0.1)
node seen = gain(gain = 1)
node heard = gain(gain = 1)
task.target -> net.input
clean.output -> seen.input
noisy.output -> heard.input
seen.output -> net.input
heard.output -> net.input
net.output -> arm.force
task.start -> arm.init
arm.effector -> clean.input
arm.effector -> noisy.input
arm.effector -> task.effector
loss {{ p = squared_error(arm.effector.pos, task.target.pos) }}
"""
    cm, graph = load_source(src)
    model = compile_model(cm, graph)
    key = jax.random.PRNGKey(0)
    trial = model.task.trials(key, 4)
    names = ["clean.output", "seen.output", "noisy.output", "heard.output", "arm.effector"]
    clean, seen, noisy, heard, arm = (np.asarray(x) for x in
                                      map(model.rollout(model.init(key), trial, key, record=names).get, names))
    np.testing.assert_array_equal(clean, seen)  # what the network used, at every step
    np.testing.assert_array_equal(noisy, heard)  # noise included
    np.testing.assert_allclose(clean[:, d + 1:], arm[:, : -(d + 1)], atol=1e-6)
    assert np.abs(clean[:, d + 1:] - arm[:, 1: -d]).max() > 1e-3  # one step ahead is another value
    np.testing.assert_array_equal(clean[:, :d + 1], np.repeat(clean[:, :1], d + 1, axis=1))  # starts full of the first input
