"""The two decision examples: a perceptual decision with a fixation output
(examples/fixation_decision.rnn) and a dual delayed match-to-sample (examples/dual_dms.rnn).

Their choice, accuracy and per-decision metrics are expressions read in a window of the trial:
checked here on planted responses (the fixation channel largest, a right answer in one window
and a wrong one in the other, a silent network) with the compiled task's metrics, against the
formulas in NumPy on random responses, and through `rnn run` and `rnn analyze psychometric` on
the model files at their initialization. Training them to the accuracies of examples/README.md
is the slow test at the end."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import rnnlang.dsl as dsl
from rnnlang.compiler.lower import compile_model
from rnnlang.compiler.nodes.declared import masked_choice
from rnnlang.runtime.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FIXATION = EXAMPLES / "fixation_decision.rnn"
DMS = EXAMPLES / "dual_dms.rnn"
SMALL = ["--set", "net.hidden=8"]  # the fast path: a small network at its initialization


def compiled_task(path: Path):
    cm, graph = dsl.load(path)
    return compile_model(cm, graph).task


@pytest.fixture(scope="module")
def fixation():
    task = compiled_task(FIXATION)
    return task, task.validation(jr.PRNGKey(0))


@pytest.fixture(scope="module")
def dms():
    task = compiled_task(DMS)
    return task, task.validation(jr.PRNGKey(0))


def scores(task, response, trial) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in task.metrics({"response": jnp.asarray(response, jnp.float32)}, trial).items()}


def var(trial, name: str) -> np.ndarray:
    return np.asarray(trial["vars"][name]).reshape(-1)


def window(trial, name: str) -> np.ndarray:
    return np.asarray(trial["windows"][name])[..., 0] > 0  # (B, T)


def window_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The mean of x (B, T, n) over the steps where w (B, T) is on: (B, n)."""
    return (x * w[..., None]).sum(axis=1) / w.sum(axis=1)[:, None]


# ---- the two files ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [FIXATION, DMS], ids=["fixation_decision", "dual_dms"])
def test_examples_check(path, capsys):
    assert main(["check", str(path)]) == 0
    assert "model `" in capsys.readouterr().out


# ---- a perceptual decision with a fixation output ----------------------------------------------


def test_the_fixation_channel_never_wins_the_choice(fixation):
    """The fixation output is the largest output of the whole trial, and during the stimulus the
    wrong side is high: the choice is still the side chosen in the decision window."""
    task, trial = fixation
    d = var(trial, "direction")
    dec = window(trial, "decision")
    B, T = dec.shape
    r = np.zeros((B, T, 3), np.float32)
    r[..., 0] = 2.0                                   # fixate: larger than any choice channel, always
    right = 1 + d[:, None]                            # the channel of the correct side
    wrong = 2 - d[:, None]
    rows = np.arange(B)[:, None]
    stim = window(trial, "stimulus")
    r[rows, np.arange(T)[None], wrong] = np.where(stim, 1.5, 0.0)   # the wrong side, before the decision
    r[rows, np.arange(T)[None], right] = np.where(dec, 0.9, 0.0)
    m = scores(task, r, trial)
    np.testing.assert_array_equal(m["choice"], d)      # 0: left, 1: right; never the fixation channel
    np.testing.assert_array_equal(m["correct"], np.ones(B))
    # what the old rule (the largest masked mean over the whole trial) made of it: fixation
    np.testing.assert_array_equal(np.asarray(masked_choice(jnp.asarray(r), trial["signals"]["mask"])), np.zeros(B))
    # the same response with the sides swapped in the decision window is wrong on every trial
    swapped = r.copy()
    swapped[..., 1:] = np.where(dec[..., None], r[..., 1:][..., ::-1], r[..., 1:])
    m = scores(task, swapped, trial)
    np.testing.assert_array_equal(m["choice"], 1 - d)
    np.testing.assert_array_equal(m["correct"], np.zeros(B))


def test_fixation_decision_matches_its_formulas(fixation):
    task, trial = fixation
    rng = np.random.default_rng(0)
    d = var(trial, "direction")
    dec, wait = window(trial, "decision"), window(trial, "wait")
    for scale in (0.3, 1.0):
        r = (scale * rng.standard_normal(np.shape(trial["signals"]["target"])) + 0.4).astype(np.float32)
        m = scores(task, r, trial)
        sides = window_mean(r[..., 1:], dec)
        choice = sides.argmax(axis=1)
        np.testing.assert_array_equal(m["choice"], choice)
        np.testing.assert_array_equal(m["correct"], (choice == d) & (sides.max(axis=1) > 0.5))
        np.testing.assert_array_equal(m["fixation_held"], np.all((r[..., 0] > 0.5) | ~wait, axis=1))
        assert 0 < m["correct"].mean() < 1  # both outcomes occur: the comparison above is not vacuous


def test_silent_and_uncommitted_networks_are_never_correct(fixation, dms):
    for task, trial in (fixation, dms):
        shape = np.shape(trial["signals"]["target"])
        for level in (0.0, 0.3):                        # silent; the same small value everywhere
            m = scores(task, np.full(shape, level, np.float32), trial)
            assert m["correct"].sum() == 0
            for name in ("first_correct", "second_correct"):
                if name in m:
                    assert m[name].sum() == 0
        m = scores(task, trial["signals"]["target"], trial)  # the target itself is right everywhere
        assert m["correct"].min() == 1


# ---- dual delayed match-to-sample --------------------------------------------------------------


def test_each_decision_is_scored_in_its_own_window(dms):
    task, trial = dms
    target = np.asarray(trial["signals"]["target"])
    first, second = window(trial, "first"), window(trial, "second")
    flipped = target.copy()
    flipped[..., 1:] = target[..., 1:][..., ::-1]      # match <-> non-match everywhere
    right_then_wrong = np.where(second[..., None], flipped, target)
    m = scores(task, right_then_wrong, trial)
    B = target.shape[0]
    np.testing.assert_array_equal(m["first_correct"], np.ones(B))
    np.testing.assert_array_equal(m["second_correct"], np.zeros(B))
    np.testing.assert_array_equal(m["correct"], np.zeros(B))
    wrong_then_right = np.where(first[..., None], flipped, target)
    m = scores(task, wrong_then_right, trial)
    np.testing.assert_array_equal(m["first_correct"], np.zeros(B))
    np.testing.assert_array_equal(m["second_correct"], np.ones(B))
    np.testing.assert_array_equal(m["correct"], np.zeros(B))
    # holding fixation through the second test is no answer
    held = target.copy()
    held[..., 0] = np.where(second, 1.0, target[..., 0])
    m = scores(task, held, trial)
    np.testing.assert_array_equal(m["first_correct"], np.ones(B))
    np.testing.assert_array_equal(m["second_correct"], np.zeros(B))


def test_dual_dms_matches_its_formulas(dms):
    task, trial = dms
    rng = np.random.default_rng(1)
    a1, a2 = var(trial, "answer1"), var(trial, "answer2")
    np.testing.assert_array_equal(a1, 1 - var(trial, "match1"))
    first, second = window(trial, "first"), window(trial, "second")
    dt = 20
    t = np.arange(first.shape[1]) * dt
    np.testing.assert_array_equal(first[0], (t >= 700) & (t < 1000))   # the epochs in sequence
    np.testing.assert_array_equal(second[0], t >= 1300)
    r = (0.5 * rng.standard_normal(np.shape(trial["signals"]["target"])) + 0.3).astype(np.float32)
    m = scores(task, r, trial)
    one = window_mean(r, first).argmax(axis=1) == 1 + a1
    two = window_mean(r, second).argmax(axis=1) == 1 + a2
    np.testing.assert_array_equal(m["first_correct"], one)
    np.testing.assert_array_equal(m["second_correct"], two)
    np.testing.assert_array_equal(m["correct"], one & two)
    np.testing.assert_array_equal(m["choice"], window_mean(r[..., 1:], first).argmax(axis=1))
    assert 0 < one.mean() < 1 and 0 < two.mean() < 1


def test_dual_dms_tests_compare_with_their_own_sample(dms):
    """The first test shows sample A's direction exactly when match1, the second sample B's
    when match2 (on the shared test ring)."""
    _, trial = dms
    x = np.asarray(trial["signals"]["input"])
    first, second = window(trial, "first"), window(trial, "second")
    k1, k2 = first[0].argmax(), second[0].argmax()
    sample = window(trial, "sample")[0].argmax()
    # the noise is small (std 0.1): a match is a dot product near 1, a non-match at most about 0
    dot1 = (x[:, sample:sample + 5, 1:3].mean(axis=1) * x[:, k1:k1 + 5, 5:7].mean(axis=1)).sum(axis=1)
    dot2 = (x[:, sample:sample + 5, 3:5].mean(axis=1) * x[:, k2:k2 + 5, 5:7].mean(axis=1)).sum(axis=1)
    np.testing.assert_array_equal(dot1 > 0.5, var(trial, "match1").astype(bool))
    np.testing.assert_array_equal(dot2 > 0.5, var(trial, "match2").astype(bool))


# ---- through the commands, at initialization ---------------------------------------------------


def test_rnn_run_and_psychometric_read_the_choice_channels(tmp_path):
    """`rnn run` scores the validation set with the file's choice and accuracy (NumPy formulas on
    its recorded outputs); `rnn analyze psychometric` plots P(choice = left) against the signed
    coherence from the same choice."""
    out = tmp_path / "val.npz"
    assert main(["run", str(FIXATION), *SMALL, "-o", str(out)]) == 0
    with np.load(out, allow_pickle=False) as z:
        y, delay, d = z["net.output"], z["vars/delay"], z["vars/direction"]
        choice, correct = z["metrics/choice"], z["metrics/correct"]
    t = np.arange(y.shape[1]) * 20.0
    dec = t[None] >= (700 + delay)[:, None]            # fixation 200 + stimulus 500 + the delay
    sides = window_mean(y[..., 1:], dec)
    np.testing.assert_array_equal(choice, sides.argmax(axis=1))
    np.testing.assert_array_equal(correct, (sides.argmax(axis=1) == d) & (sides.max(axis=1) > 0.5))

    assert main(["analyze", str(FIXATION), "psychometric", *SMALL, "-o", str(tmp_path)]) == 0
    with np.load(tmp_path / "psychometric.npz", allow_pickle=False) as z:
        x, choice0 = z["x"], z["choice0"]
    meta = json.loads((tmp_path / "psychometric.json").read_text())
    assert meta["x"].startswith("signed coherence") and meta["trials"] == len(x) == 4 * 200
    assert set(np.unique(x).round(3)) == {s * c for s in (-1, 1) for c in (0.05, 0.1, 0.2, 0.4, 0.8)}
    assert set(np.unique(choice0)) <= {0.0, 1.0}


# ---- training (slow) ---------------------------------------------------------------------------


def _validated(run: Path) -> dict:
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines() if '"validate"' in s]
    return lines[-1]["metrics"]


@pytest.mark.slow
def test_fixation_decision_trains_to_a_sigmoid(tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(FIXATION), "--out", str(run), "--quiet", "--no-plots"]) == 0
    assert _validated(run)["correct"] > 0.75  # measured 0.795; an ideal observer: 0.806
    assert main(["analyze", str(run), "psychometric", "-o", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "psychometric.json").read_text())
    curve = meta["curves"][0]
    assert curve["slope"] > 1 and abs(curve["bias"]) < 0.1
    with np.load(tmp_path / "psychometric.npz", allow_pickle=False) as z:
        assert z["level0_p"][0] < 0.1 and z["level0_p"][-1] > 0.9


@pytest.mark.slow
def test_dual_dms_trains_above_chance(tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(DMS), "--out", str(run), "--quiet", "--no-plots"]) == 0
    m = _validated(run)
    assert m["first_correct"] > 0.85 and m["second_correct"] > 0.85  # chance: 0.5 each, 0.25 both
