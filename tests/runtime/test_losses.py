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
