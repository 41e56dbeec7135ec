"""`rnn analyze ... tdr` (targeted dimensionality reduction) against planted axes, and
`rnn analyze ... chronometric` (a per-trial metric against a variable) on a model file."""

import json

import numpy as np
import pytest

from rnnlang.runtime.analysis import tdr
from rnnlang.runtime.cli import main
from tests.conftest import EXAMPLES

CTX = EXAMPLES / "tasks" / "context_dependent_decision.rnn"


def test_tdr_recovers_planted_axes():
    """Activity built from two variables along known directions (the second only late in the
    trial): without denoising, the first axis is the first direction as z-scoring sees it, the
    second the part of the second direction orthogonal to it, found at its peak step."""
    rng = np.random.default_rng(0)
    B, T, N = 400, 30, 20
    f = rng.standard_normal((B, 2))
    u = rng.standard_normal((2, N))
    profile = np.exp(-0.5 * ((np.arange(T) - 22) / 3.0) ** 2)  # the second variable peaks at step 22
    H = (f[:, None, 0, None] * u[0] + f[:, None, 1, None] * profile[None, :, None] * u[1]
         + 0.01 * rng.standard_normal((B, T, N)) + 3.0)
    res = tdr(H, f, k=0)
    sd = H.reshape(-1, N).std(axis=0)
    d1, d2 = u[0] / sd, u[1] / sd
    e1 = d1 / np.linalg.norm(d1)
    r2 = d2 - (d2 @ e1) * e1
    e2 = r2 / np.linalg.norm(r2)
    assert res["axes"][0] @ e1 > 0.999 and res["axes"][1] @ e2 > 0.999
    assert np.allclose(res["axes"] @ res["axes"].T, np.eye(2), atol=1e-9)
    assert res["t_max"][1] == 22
    # projections are the z-scored activity on the axes
    Z = (H - res["mean"]) / res["std"]
    assert np.allclose(res["projections"], Z @ res["axes"].T)


def test_tdr_denoising_keeps_the_top_components():
    rng = np.random.default_rng(1)
    H = rng.standard_normal((200, 10, 12))
    f = rng.standard_normal((200, 1))
    res = tdr(H, f, k=3)
    Z = ((H - res["mean"]) / res["std"]).reshape(-1, 12)
    _, _, vt = np.linalg.svd(Z - Z.mean(axis=0), full_matrices=False)
    outside = np.eye(12) - vt[:3].T @ vt[:3]
    assert np.abs(res["beta"] @ outside).max() < 1e-9  # the coefficients lie in the top-3 PC space


def test_tdr_refuses_a_constant_regressor():
    with pytest.raises(ValueError, match="same on every trial"):
        tdr(np.ones((5, 3, 4)), np.ones((5, 1)), 0)


def test_tdr_command_on_a_model_file(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["analyze", str(CTX), "tdr", "--vars", "context,motion_coherence,color_coherence", "-o", str(out)]) == 0
    z = np.load(out / "tdr.npz")
    assert z["axes"].shape == (3, 100) and np.allclose(z["axes"] @ z["axes"].T, np.eye(3), atol=1e-6)
    assert z["regressors"].shape == (72, 3) and z["projections"].shape == (72, 80, 3)
    meta = json.loads((out / "tdr.json").read_text())
    assert meta["variables"] == ["context", "motion_coherence", "color_coherence"] and meta["denoising_components"] == 12
    assert (out / "tdr.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["analyze", str(CTX), "tdr", "--vars", "context,nope", "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "no trial variable `nope`" in err and "motion_coherence" in err
    assert main(["analyze", str(CTX), "tdr", "-o", str(out)]) != 0
    assert "tdr needs --vars" in capsys.readouterr().err


CHRONO = """
model chrono { dt = 10  duration = 200  tau = 100  seed = 1 }
node task = task {
  inputs = [u]  outputs = [a, b]
  level ~ choice(0.2, 0.5, 1.0)
  side ~ integer(0, 2)
  epoch all from 0 to duration { u = level  target = onehot(side, 2)  mask = 1 }
  metric late = sum(final(response.a))
  validation grid { level = [0.2, 0.5, 1.0]  side = [0, 1] }
}
node net = ctrnn(hidden = 8, out = 2)
task.input -> net.input
net.output -> task.response
loss { mse = squared_error(net.output, task.target, mask = task.mask) }
"""


def test_chronometric_means_by_value(write_model, tmp_path, capsys):
    path = write_model(CHRONO)
    out = tmp_path / "c"
    assert main(["analyze", str(path), "chronometric", "--metric", "late", "--var", "level", "--by", "side",
                 "-o", str(out)]) == 0
    z = np.load(out / "chronometric.npz")
    x, y, by = z["x"], z["metric"], z["by"]
    assert len(x) >= 4 * 64 and len(x) % 6 == 0  # the grid (at least 64 trials) redrawn four times
    assert np.isfinite(y).all() and len(np.unique(y)) == 3  # no input noise: the metric depends on the level only
    for i, side in enumerate(z["levels"]):
        sel = by == side
        want = [y[sel & (x == v)].mean() for v in z[f"level{i}_x"]]
        assert np.allclose(z[f"level{i}_mean"], want)
    assert sorted(z["levels"].tolist()) == [0.0, 1.0]
    capsys.readouterr()
    assert main(["analyze", str(path), "chronometric", "--metric", "rt", "--var", "level", "-o", str(out)]) != 0
    assert "has no metric `rt`; its metrics: " in capsys.readouterr().err
    assert main(["analyze", str(path), "chronometric", "--var", "level", "-o", str(out)]) != 0
    assert "chronometric needs --metric" in capsys.readouterr().err
