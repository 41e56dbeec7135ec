"""`rnn analyze ... pca | tuning | psychometric`: numbers checked against their formulas on the
states that `rnn run` writes for the same (validation) trials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnlang.runtime.cli import main

MODEL = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "context_dependent_decision.rnn"
SET = ["--set", "net.hidden=8"]


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    d = tmp_path_factory.mktemp("analysis")
    assert main(["run", str(MODEL), *SET, "-o", str(d / "val.npz")]) == 0
    return d, load(d / "val.npz")


def test_pca_and_tuning_match_their_formulas(ran):
    d, val = ran
    H = val["net.hidden"]
    assert main(["analyze", str(MODEL), "pca", *SET, "--by", "context", "-o", str(d)]) == 0
    z = load(d / "pca.npz")
    flat = H.reshape(-1, H.shape[-1]).astype(float)
    s = np.linalg.svd(flat - flat.mean(axis=0), compute_uv=False) ** 2
    np.testing.assert_allclose(z["explained_variance_ratio"], (s / s.sum())[:3], rtol=1e-6, atol=1e-9)
    ctx = val["vars/context"]
    np.testing.assert_array_equal(z["condition_values"], [0, 1])
    np.testing.assert_allclose(z["condition_means"][1], z["projections"][ctx == 1].mean(axis=0), atol=1e-9)
    assert json.loads((d / "pca.json").read_text())["condition"] == "context"

    assert main(["analyze", str(MODEL), "tuning", *SET, "--var", "motion_coherence", "-o", str(d)]) == 0
    t = load(d / "tuning.npz")
    v = val["vars/motion_coherence"]
    np.testing.assert_allclose(t["values"], np.unique(v))
    want = np.stack([H[np.isclose(v, x)].mean(axis=(0, 1)) for x in np.unique(v)])
    np.testing.assert_allclose(t["tuning"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(t["preferred"], np.unique(v)[want.argmax(axis=0)])
    assert (d / "tuning.png").is_file() and (d / "pca.png").is_file()


def test_psychometric_curves_by_context(ran, capsys):
    d, _ = ran
    assert main(["analyze", str(MODEL), "psychometric", *SET, "--by", "context", "--var", "motion_coherence",
                 "-o", str(d)]) == 0
    z = load(d / "psychometric.npz")
    meta = json.loads((d / "psychometric.json").read_text())
    assert [c["level"] for c in meta["curves"]] == [0.0, 1.0]
    for i, level in enumerate(z["levels"]):
        sel = z["by"] == level
        want = [z["choice0"][sel & (z["x"] == x)].mean() for x in np.unique(z["x"][sel])]
        np.testing.assert_allclose(z[f"level{i}_p"], want)
    assert meta["trials"] == len(z["x"]) and meta["trials"] % 72 == 0
    assert main(["analyze", str(MODEL), "tuning", *SET, "-o", str(d)]) == 2
    assert "tuning needs --var VAR" in capsys.readouterr().err
    assert main(["analyze", str(MODEL), "pca", *SET, "--by", "nope", "-o", str(d)]) == 2
    assert "the task has no trial variable `nope`" in capsys.readouterr().err
