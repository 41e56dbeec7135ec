"""`rnn run`: states of an imported PsychRNN network equal the NumPy simulator's (PsychRNN's
`test`), a trained run and its model file at initialization, grids of a declared task's
variables, and the errors of each way of giving trials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnlang.runtime import api, interop
from rnnlang.runtime.cli import main
from rnnlang.runtime.simulator import Simulator

from .test_interop import psychrnn_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STEPS = 12


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A PsychRNN weight file (2 inputs, 2 outputs, Dale's law, masks) imported with the
    perceptual discrimination task."""
    d = tmp_path_factory.mktemp("run_import")
    psychrnn_file(d / "w.npz", n_in=2, n_out=2, N=12, seed=3)
    model = interop.import_psychrnn(d / "w.npz", d / "m.rnn", task="perceptual_discrimination", steps=STEPS)
    return d, model


def test_run_of_an_imported_psychrnn_model_equals_the_simulator(imported, capsys):
    d, model = imported
    x = np.random.default_rng(0).normal(0.5, 0.4, (5, STEPS, 2)).astype(np.float32)
    np.savez(d / "x.npz", input=x)
    assert main(["run", str(model), "--inputs", str(d / "x.npz"), "-o", str(d / "out.npz")]) == 0
    assert "5 trials of 12 steps" in capsys.readouterr().out
    got = load(d / "out.npz")
    outputs, states = Simulator.from_npz(d / "w.npz", dt=10.0, tau=100.0, transfer="relu").run_trials(x)
    np.testing.assert_allclose(got["net.state"], states, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["net.output"], outputs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["net.hidden"], np.maximum(states, 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got["task.input"], x)
    assert "metrics/correct" not in got  # no target given: nothing to score
    meta = json.loads((d / "out.json").read_text())
    assert meta["dt"] == 10.0 and meta["time_unit"] == "ms" and meta["steps"] == STEPS
    assert meta["arrays"]["net.state"]["shape"] == [5, STEPS, 12]
    assert "pre-activation" in meta["arrays"]["net.state"]["meaning"]
    assert meta["parameters"].startswith("initialization of")


def test_trained_run_keeps_its_init_and_runs_like_its_model_file(imported, tmp_path, capsys):
    d, model = imported
    run = tmp_path / "run"
    api.train(model, ["train.trials=8", "train.batch_size=4", "train.optimizer=adam(learning_rate = 0.0)"], out=str(run))
    assert (run / "init.safetensors").is_file()
    assert main(["run", str(run)]) == 0
    assert main(["run", str(model), "-o", str(tmp_path / "init.npz")]) == 0
    a, b = load(run / "run.npz"), load(tmp_path / "init.npz")
    assert set(a) == set(b)
    for k in ("net.state", "net.output", "task.target", "task.mask", "metrics/correct", "vars/coherence"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-6)  # learning rate 0: the same parameters
    assert a["net.state"].shape[1:] == (STEPS, 12) and a["time"].shape == (STEPS,)


def test_eval_of_a_model_file_is_its_initialization(imported, capsys):
    _, model = imported
    assert main(["eval", str(model), "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["batch"] == 0 and "(initialization)" in r["run"] and 0.0 <= r["metrics"]["correct"][0] <= 1.0


def test_grid_of_a_declared_task_and_a_fresh_batch(tmp_path):
    model = EXAMPLES / "tasks" / "context_dependent_decision.rnn"
    out = tmp_path / "grid.npz"
    assert main(["run", str(model), "--set", "net.hidden=6", "--grid", "context=[0,1]",
                 "--grid", "motion_coherence=[0.5, -0.5]", "-o", str(out)]) == 0
    z = load(out)
    np.testing.assert_array_equal(z["vars/context"], [0, 0, 1, 1])
    np.testing.assert_allclose(z["vars/motion_coherence"], [0.5, -0.5, 0.5, -0.5])
    np.testing.assert_array_equal(z["task.input"][:, :, 2:].mean(axis=1).argmax(axis=1), [0, 0, 1, 1])  # the noisy cue
    assert z["net.hidden"].shape == (4, 80, 6) and z["metrics/correct"].shape == (4,)
    assert main(["run", str(model), "--set", "net.hidden=6", "--batch", "3", "-o", str(tmp_path / "b.npz")]) == 0
    assert load(tmp_path / "b.npz")["net.state"].shape == (3, 80, 6)


@pytest.mark.parametrize("argv, message", [
    (["--grid", "nosuch=[0.1]"], "--grid: the task has no variable `nosuch`; its variables: "),
    (["--inputs", "{d}/none.npz"], "no such file"),
    (["--inputs", "{d}/bad.npz"], "has no array `input`"),
    (["--inputs", "{d}/short.npz"], "expected (batch, 12, 2)"),
    (["--batch", "2", "--inputs", "{d}/short.npz"], "give one of --batch, --grid and --inputs"),
    (["--grid", "coherence"], "write NAME=[v1, v2, ...]"),
    (["-o", "{d}/out.txt"], "must be a .npz file"),
])
def test_bad_requests_exit_2_with_a_message(imported, capsys, argv, message):
    d, model = imported
    np.savez(d / "bad.npz", other=np.zeros((1, STEPS, 2)))
    np.savez(d / "short.npz", input=np.zeros((1, STEPS - 1, 2)))
    assert main(["run", str(model)] + [a.format(d=d) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
