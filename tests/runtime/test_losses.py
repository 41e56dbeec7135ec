"""Each loss term against the formula docs/reference.md states for it (NumPy, written out)."""

import numpy as np
import pytest

from rnnlang.dsl import schema
from rnnlang.runtime import losses

RNG = np.random.default_rng(0)
B, T, N = 3, 5, 2
X = RNG.normal(size=(B, T, N)).astype(np.float32)
Y = RNG.normal(size=(B, T, N)).astype(np.float32)
M = (RNG.uniform(size=(B, T, N)) > 0.4).astype(np.float32)
P = RNG.uniform(0.01, 0.99, size=(B, T, N)).astype(np.float32)
L = (RNG.uniform(size=(B, T, N)) > 0.5).astype(np.float32)


def test_one_function_per_declared_term():
    assert set(losses.TERMS) == set(schema.LOSS_TERMS)
    for name, term in schema.LOSS_TERMS.items():
        assert term.name == name and term.formula  # every term states its formula


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("discount", [0.0, 6.0])
def test_squared_error(reduce, discount):
    t = np.arange(1, T + 1) / T
    w = (t ** discount if discount else np.ones(T))[None, :, None]
    v = w * (M * (X - Y)) ** 2
    want = v.sum(axis=(1, 2)).mean() if reduce == "sum" else v.mean()
    got = losses.squared_error({"signal": X, "target": Y, "mask": M}, {"discount": discount, "reduce": reduce}, [])
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_squared_error_without_target_or_mask_scores_the_signal():
    got = losses.squared_error({"signal": X, "target": None, "mask": None}, {"reduce": "sum"}, [])
    np.testing.assert_allclose(float(got), (X ** 2).sum(axis=(1, 2)).mean(), rtol=1e-5)


def test_final_scores_the_last_step_only():
    got = losses.final({"signal": X, "target": Y}, {}, [])
    np.testing.assert_allclose(float(got), ((X[:, -1] - Y[:, -1]) ** 2).sum(axis=1).mean(), rtol=1e-5)


@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_penalty(norm, reduce):
    v = np.abs(X) if norm == "l1" else X ** 2
    want = v.sum(axis=(1, 2)).mean() if reduce == "sum" else v.mean()
    got = losses.penalty({"signal": X}, {"norm": norm, "reduce": reduce}, [])
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_firing_rate_is_the_mean_squared_rate():
    np.testing.assert_allclose(float(losses.firing_rate({"signal": X}, {}, [])), (X ** 2).mean(), rtol=1e-5)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_weights_sums_the_mean_of_each_matrix(norm):
    ws = [RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=(4, 4)).astype(np.float32)]
    f = np.abs if norm == "l1" else np.square
    got = losses.weights({}, {"norm": norm}, ws)
    np.testing.assert_allclose(float(got), sum(f(w).mean() for w in ws), rtol=1e-5)


def test_cross_entropy_averages_over_every_entry():
    ce = -(L * np.log(P) + (1 - L) * np.log(1 - P))
    got = losses.cross_entropy({"signal": P, "target": L, "mask": M}, {}, [])
    np.testing.assert_allclose(float(got), (ce * M).mean(), rtol=1e-5)
    edge = losses.cross_entropy({"signal": np.array([[[0.0, 1.0]]], np.float32),
                                 "target": np.array([[[1.0, 0.0]]], np.float32), "mask": None}, {}, [])
    # clipped to [1e-7, 1 - 1e-7] (in float32, 1 - 1e-7 is 1 - 2^-23): finite
    np.testing.assert_allclose(float(edge), (-np.log(1e-7) - np.log(2.0 ** -23)) / 2, rtol=1e-4)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("logits", [True, False])
def test_categorical_cross_entropy_is_the_mean_over_scored_steps(logits):
    onehot = np.eye(N, dtype=np.float32)[RNG.integers(0, N, size=(B, T))]
    p = _softmax(X)
    c = -(onehot * np.log(p)).sum(axis=-1)
    w = M.max(axis=-1)
    got = losses.categorical_cross_entropy({"signal": X if logits else p, "target": onehot, "mask": M},
                                           {"logits": logits}, [])
    np.testing.assert_allclose(float(got), (w * c).sum() / w.sum(), rtol=1e-5)


def test_categorical_cross_entropy_is_stable_for_large_logits():
    x = np.array([[[1000.0, -1000.0], [-1000.0, 1000.0]]], np.float32)
    y = np.array([[[1.0, 0.0], [1.0, 0.0]]], np.float32)
    got = float(losses.categorical_cross_entropy({"signal": x, "target": y, "mask": None}, {"logits": True}, []))
    assert got == pytest.approx(1000.0, rel=1e-6)  # step 1 costs 0, step 2 costs 2000


def test_categorical_cross_entropy_in_a_model_file(write_model):
    from rnnlang.runtime.api import load

    path = write_model("""
model m { dt = 10  duration = 100  tau = 100 }
node task = perceptual_discrimination()
node net = ctrnn(hidden = 6, out = 2)
task.input -> net.input
net.output -> task.response
loss { ce = categorical_cross_entropy(net.output, task.target, mask = task.mask) }
""")
    cm, _ = load(path)
    term = cm.loss[0]
    assert term.kind == "categorical_cross_entropy" and term.args["logits"] is True
    assert str(term.args["signal"]) == "net.output" and str(term.args["mask"]) == "task.mask"


ONE_TRIAL_CASES = {
    "squared_error": ({"signal": X, "target": Y, "mask": M}, {"discount": 6.0, "reduce": "sum"}),
    "final": ({"signal": X, "target": Y}, {}),
    "penalty": ({"signal": X}, {"norm": "l2", "reduce": "sum"}),
    "firing_rate": ({"signal": X}, {}),
    "cross_entropy": ({"signal": P, "target": L, "mask": M}, {}),
    "categorical_cross_entropy": ({"signal": X, "target": np.eye(N, dtype=np.float32)[(X > 0).argmax(-1)], "mask": M}, {}),
}


@pytest.mark.parametrize("name", sorted(ONE_TRIAL_CASES))
def test_a_term_of_one_trial_needs_no_batch_axis(name):
    """Training evaluates each trial's terms on its (T, n) values (inside the vmap over trials,
    where a batch axis would cost a copy); that is the term of a batch of that one trial."""
    assert set(ONE_TRIAL_CASES) == set(losses.TERMS) - {"weights"}
    values, args = ONE_TRIAL_CASES[name]
    for b in range(B):
        one = losses.TERMS[name]({k: v[b] for k, v in values.items()}, args, [])
        batch_of_one = losses.TERMS[name]({k: v[b:b + 1] for k, v in values.items()}, args, [])
        np.testing.assert_allclose(float(one), float(batch_of_one), rtol=1e-6)
