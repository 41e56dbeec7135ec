"""The `softmax` output transfer: numerically stable (large logits), over the output channels of
each step, the same in the compiled network and the NumPy simulator; and the checker's warnings
when `categorical_cross_entropy` reads a readout the wrong way (logits vs probabilities)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.compiler.lower import compile_model
from rnnlang.compiler.nodes.networks import JAX_TRANSFERS
from rnnlang.dsl import ModelError, load_source
from rnnlang.runtime.losses import categorical_cross_entropy
from rnnlang.runtime.interop import network_weights
from rnnlang.runtime.simulator import NUMPY_TRANSFERS, Simulator


def softmax64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


CASES = [
    np.array([0.1, -0.3, 2.0]),
    np.array([1000.0, 999.0, -1000.0]),      # exp(1000) overflows without the max subtracted
    np.array([-1000.0, -1001.0, -1002.0]),   # exp(-1000) underflows to 0 / 0 without it
    np.array([[3e4, 3e4 - 2.0], [-5.0, 5.0]]),  # per step (row), not over the whole array
]


@pytest.mark.parametrize("x", CASES)
def test_softmax_matches_numpy_in_float64_even_for_large_logits(x):
    want = softmax64(x)
    got_jax = np.asarray(JAX_TRANSFERS["softmax"](jnp.asarray(x, jnp.float32)))
    got_np = NUMPY_TRANSFERS["softmax"](x.astype(np.float32))
    for got in (got_jax, got_np):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-6)


def test_softmax_gradient_is_finite_for_large_logits():
    g = jax.grad(lambda x: JAX_TRANSFERS["softmax"](x)[0])(jnp.asarray([1e4, 1e4 - 1.0, 0.0]))
    p = softmax64(np.array([1e4, 1e4 - 1.0, 0.0]))
    want = p[0] * ((np.arange(3) == 0) - p)  # d p_0 / d x_j = p_0 (delta_0j - p_j)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-4, atol=1e-7)


MODEL = """model {{ dt = 10  duration = 200  tau = 100 }}
node task = perceptual_discrimination()
node net = {net}(hidden = 8, out = 2{transfer})
task.input -> net.input
net.output -> task.response
loss {{ ce = categorical_cross_entropy(net.output, task.target, mask = task.mask{logits}) }}
train {{ batches = 2 }}
"""


def source(net: str = "ctrnn", transfer: str = "", logits: str = "") -> str:
    return MODEL.format(net=net, transfer=f', output_transfer = "{transfer}"' if transfer else "",
                        logits=f", logits = {logits}" if logits else "")


@pytest.mark.parametrize("net", ["ctrnn", "gru", "lstm"])
def test_every_network_reads_out_a_distribution_per_step(net):
    cm, graph = load_source(source(net, "softmax", "false"))
    assert cm.warnings == []
    model = compile_model(cm, graph)
    params = model.init(jax.random.PRNGKey(0))
    trial = model.task.trials(jax.random.PRNGKey(1), 3)
    y = np.asarray(model.rollout(params, trial, jax.random.PRNGKey(2))["net.output"])
    assert y.shape == (3, 20, 2)
    assert np.all(y > 0)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_the_ctrnn_softmax_readout_equals_the_numpy_simulator():
    cm, graph = load_source(source("ctrnn", "softmax", "false"))
    model = compile_model(cm, graph)
    params = model.init(jax.random.PRNGKey(0))
    params["net"]["W_out"] = params["net"]["W_out"] * 200.0  # large logits
    trial = model.task.trials(jax.random.PRNGKey(1), 2)
    y = np.asarray(model.rollout(params, trial, jax.random.PRNGKey(2))["net.output"])
    sim = Simulator(network_weights(model, params, "net"), dt=10, tau=100, output_transfer="softmax")
    want, _ = sim.run_trials(np.asarray(trial["signals"]["input"]))
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_categorical_cross_entropy_of_probabilities_equals_the_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 3)) * 30.0
    p = softmax64(logits)
    y = np.eye(3)[rng.integers(0, 3, size=(2, 5))]
    got = categorical_cross_entropy({"signal": jnp.asarray(p, jnp.float32), "target": jnp.asarray(y, jnp.float32),
                                     "mask": None}, {"logits": False}, [])
    want = np.mean(-np.sum(y * np.log(np.clip(p, 1e-7, 1.0)), axis=-1))
    np.testing.assert_allclose(float(got), want, rtol=1e-4)


def _warning_at(text: str, line: int, col: int):
    cm, _ = load_source(text, "m.rnn")
    found = [w for w in cm.warnings if w.span is not None and (w.span.line, w.span.col) == (line, col)]
    assert len(found) == 1, [str(w.span) + " " + w.message for w in cm.warnings]
    return found[0]


def test_softmax_readout_scored_as_logits_is_warned_at_the_argument():
    text = source("ctrnn", "softmax", "true")
    col = text.splitlines()[5].index("logits = ") + len("logits = ") + 1
    w = _warning_at(text, 6, col)
    assert w.severity == "warning"
    assert w.message == "`net.output` is a softmax readout (probabilities), but `categorical_cross_entropy` reads it as logits"
    assert "logits = false" in w.hint


def test_softmax_readout_with_the_default_logits_is_warned_at_the_term():
    text = source("ctrnn", "softmax")
    col = text.splitlines()[5].index("categorical_cross_entropy") + 1
    w = _warning_at(text, 6, col)
    assert "(its default, `logits = true`)" in w.message


@pytest.mark.parametrize("transfer", ["", "sigmoid"])
def test_a_linear_or_sigmoid_readout_read_as_probabilities_is_warned(transfer):
    text = source("ctrnn", transfer, "false")
    col = text.splitlines()[5].index("logits = ") + len("logits = ") + 1
    w = _warning_at(text, 6, col)
    what = "a linear readout (logits)" if not transfer else "a `sigmoid` readout"
    assert w.message == (f"`net.output` is {what}, not probabilities over its channels, but "
                         "`categorical_cross_entropy` reads it with `logits = false`")
    assert 'output_transfer = "softmax"' in w.hint


@pytest.mark.parametrize("transfer,logits", [("softmax", "false"), ("", "true"), ("", "")])
def test_the_right_pairings_are_not_warned(transfer, logits):
    cm, _ = load_source(source("ctrnn", transfer, logits))
    assert [w.message for w in cm.warnings] == []


def test_softmax_is_an_output_transfer_only():
    text = source("ctrnn").replace("out = 2", 'out = 2, transfer = "softmax"')
    with pytest.raises(ModelError) as e:
        load_source(text, "m.rnn")
    d = e.value.diagnostics[0]
    assert (d.span.line, d.span.col) == (3, text.splitlines()[2].index('"softmax"') + 1)
    assert d.message == "unknown value `softmax` for `transfer`"
    assert "softmax" not in d.hint
