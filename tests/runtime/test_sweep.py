"""Sweeps: the sweep block and --grid (errors by message and position), points packed into one
program equal to separate runs, shape-changing axes as separate programs, run directories per
point, summary and figure, resume, SLURM job arrays written (not submitted), and a run over two
processes (jax.distributed on loopback) equal to a run of one process with two devices."""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import types

import numpy as np
import pytest
from safetensors.numpy import load_file

from rnnlang.dsl.errors import ModelError, UsageError
from rnnlang.runtime import sweep as S
from rnnlang.runtime.api import load, train
from rnnlang.runtime.cli import main
from rnnlang.runtime.rundir import RunDir
from rnnlang.runtime.train import Trainer

TINY = """model tiny { dt = 10  duration = 200  tau = 100  seed = 3 }
node task = perceptual_discrimination()
node net = ctrnn(hidden = 4, out = 2, rec_noise = 0.05)
task.input -> net.input
net.output -> task.response
loss { mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean") }
train {
  optimizer = adam(learning_rate = 1e-2)
  batches = 4
  batch_size = 16
  validate_every = 2
  checkpoint_every = 2
  keep_checkpoints = 2
  steps_per_dispatch = 2
  replicates = 2
}
"""
SWEEP = "sweep {\n  model.seed = 1:3\n  train.optimizer.learning_rate = [1e-2, 3e-3]\n}\n"


def params(path):
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("params/")}


# ---- the sweep block and --grid --------------------------------------------------------------


def test_sweep_block_errors_are_positioned(write_model):
    path = write_model(TINY + "sweep {\n  model.seed = 4:4\n  net.hidden = []\n  nett.hidden = [2]\n"
                              "  model.seed = [1]\n  model.dt = 1.5:3\n  net.out = 2\n}\n")
    with pytest.raises(ModelError) as e:
        load(path)
    found = [(d.span.line, d.span.col, d.message) for d in e.value.diagnostics]
    assert found == [(18, 16, "the range 4:4 is empty"), (19, 16, "no values to sweep `net.hidden` over"),
                     (20, 3, "unknown setting `nett.hidden` to sweep"), (21, 3, "`model.seed` is swept twice"),
                     (22, 14, "a range takes two integers"), (23, 13, "`net.out` needs a list of values or a range")]
    assert "  20 |   nett.hidden = [2]\n" + " " * 9 + "^" * 11 + "\n" in e.value.render()


def test_a_value_its_setting_refuses_is_shown_at_the_value(write_model):
    path = write_model(TINY + "sweep { net.hidden = [4, -2] }\n")
    with pytest.raises(ModelError) as e:
        S.plan(str(path))
    d = e.value.diagnostics[0]
    assert (d.span.file, d.span.line, d.span.col) == (str(path), 17, 26)
    assert d.message.startswith("`net.hidden = -2`: ")
    with pytest.raises(ModelError) as e:  # the same from the command line: under the --grid text
        S.plan(str(path), grid=["model.seed=0:2", "net.hidden=[4,\"x\"]"])
    d = e.value.diagnostics[0]
    assert (d.span.file, d.span.line, d.span.col) == ("--grid", 2, 15)
    assert e.value.render().endswith('   2 | net.hidden=[4,"x"]\n' + " " * 21 + "^^^")


def test_grid_syntax_errors_are_positioned():
    with pytest.raises(ModelError) as e:
        S.grid_axes(["model.seed=0:4", "train.optimizer.learning_rate=[1e-3,,2]"], ["train", "model"])
    d = e.value.diagnostics[0]
    assert (d.span.file, d.span.line, d.span.col) == ("--grid", 2, 37)
    with pytest.raises(ModelError) as e:
        S.grid_axes(["arm.x=[1]"], ["train", "model", "net"])
    assert e.value.diagnostics[0].message == "unknown setting `arm.x` to sweep"
    with pytest.raises(UsageError, match="expected KEY=VALUES"):
        S.grid_axes(["model.seed"], ["model"])


def test_optimizer_argument_override(write_model):
    cm, _ = load(write_model(TINY), ["train.optimizer.learning_rate=3e-3", "train.optimizer.b1=0.8"])
    assert cm.train["optimizer"] == {"name": "adam", "args": [], "kwargs": {"learning_rate": 3e-3, "b1": 0.8}}


def test_plan_packs_seeds_and_optimizer_arguments_and_splits_shapes(write_model):
    path = write_model(TINY + SWEEP)
    sweep = S.plan(str(path), grid=["net.hidden=[4, 6]"], out="x")
    assert [p.name for p in sweep.points][:2] == ["p000-seed=1-learning_rate=1e-2-hidden=4",
                                                  "p001-seed=1-learning_rate=1e-2-hidden=6"]
    assert sweep.groups == [[0, 2, 4, 6], [1, 3, 5, 7]]  # one program per hidden size
    assert sweep.points[7].overrides == ["model.seed=2", "train.optimizer.learning_rate=3e-3", "net.hidden=6"]
    # a --grid axis replaces the file's axis of the same key
    assert [p.values["model.seed"] for p in S.plan(str(path), grid=["model.seed=[7]"]).points] == ["7", "7"]
    # a curriculum changes the program as a run goes on: nothing is packed
    staged = write_model(TINY.replace("batches = 4", "batches = 4\n  stage easy { batches = 2 }") + SWEEP, "staged.rnn")
    assert S.plan(str(staged)).groups == [[0], [1], [2], [3]]
    stops = write_model(TINY.replace("batches = 4", "batches = 4\n  stop_loss = 0.01") + SWEEP, "stops.rnn")
    assert S.plan(str(stops)).groups == [[0, 1, 2, 3]]  # a stopping rule is applied point by point
    assert S.plan(str(path), pack=False).groups == [[0], [1], [2], [3]]


def test_a_point_whose_loss_diverges_stops_alone():
    fake = types.SimpleNamespace(pack=types.SimpleNamespace(points=3), point_replicates=2, diverged={})
    losses = np.array([[1, 1, 1, 1, 1, 1], [1, 1, np.nan, 1, 1, 1], [1, 1, np.inf, np.nan, 1, np.nan]])
    alive = Trainer._alive(fake, losses, 11)
    assert fake.diverged == {1: 12, 2: 13}  # the batch of each point's first NaN or inf
    np.testing.assert_array_equal(alive, np.ones((3, 2)))  # point 0 trains on
    alive = Trainer._alive(fake, np.array([[np.nan, 1, 1, 1, 1, 1]]), 15)
    assert fake.diverged == {1: 12, 2: 13} and np.isnan(alive[0, 0])  # the last point left stops the run
    alone = types.SimpleNamespace(pack=None)
    assert Trainer._alive(alone, losses, 1) is losses


def test_stopping_rules_apply_point_by_point():
    cm = types.SimpleNamespace(train={"stop_loss": 0.5}, stop_rule=None)
    fake = types.SimpleNamespace(pack=types.SimpleNamespace(points=3), point_replicates=2, diverged={2: 3},
                                 stopped_points={}, model=types.SimpleNamespace(cm=cm))
    state = types.SimpleNamespace(batch=10, done=False, reason=None)
    record = {"loss": [0.4, 0.55, 0.9, 0.2, np.nan, 0.1], "terms": {}, "metrics": {}}
    Trainer._after_packed_validation(fake, state, record)
    assert fake.stopped_points == {0: (10, "validation loss 0.475 <= stop_loss 0.5")} and not state.done
    state.batch = 12
    Trainer._after_packed_validation(fake, state, {**record, "loss": [9, 9, 0.3, 0.3, 9, 9]})
    assert fake.stopped_points[1][0] == 12 and fake.stopped_points[0][0] == 10
    assert state.done and state.reason == "every point of the sweep stopped"


# ---- a sweep trained ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A sweep of 8 points (2 seeds x 2 learning rates packed; 2 sizes as 2 programs), and one of
    its points trained alone by `rnn train`."""
    d = tmp_path_factory.mktemp("sweep")
    path = d / "tiny.rnn"
    path.write_text(TINY + SWEEP)
    out = d / "sw"
    assert main(["sweep", str(path), "--grid", "net.hidden=[4, 6]", "--out", str(out), "--quiet"]) == 0
    alone = train(str(path), ["model.seed=2", "train.optimizer.learning_rate=3e-3", "net.hidden=6"], out=str(d / "alone"))
    return types.SimpleNamespace(path=path, out=out, alone=alone.run.path, dir=d)


def test_a_packed_point_equals_its_run_alone(swept):
    point = swept.out / "points" / "p007-seed=2-learning_rate=3e-3-hidden=6"
    a, b = params(point / "final.safetensors"), params(swept.alone / "final.safetensors")
    assert a.keys() == b.keys()
    for k in a:  # the same trials, noise and updates; vmapped over 8 replicates rather than 2
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)
    init_a, init_b = params(point / "init.safetensors"), params(swept.alone / "init.safetensors")
    for k in init_a:
        np.testing.assert_array_equal(init_a[k], init_b[k], err_msg=k)
    settings = json.loads((point / "settings.json").read_text())
    assert settings["overrides"][-1] == "net.hidden=6" and settings["resolved"]["train"]["optimizer"]["kwargs"] == {
        "learning_rate": 3e-3}


def test_every_point_is_a_run_and_the_summary_lists_them(swept, capsys):
    points = sorted((swept.out / "points").iterdir())
    assert len(points) == 8 and all((p / "final.safetensors").exists() for p in points)
    assert main(["eval", str(points[3]), "--format", "json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    rows = list(csv.DictReader(open(swept.out / "summary.csv")))
    row = next(r for r in rows if r["point"] == points[3].name)
    assert row["status"] == "finished" and row["batch"] == "4" and row["net.hidden"] == "6"
    assert float(row["loss_mean"]) == pytest.approx(np.mean(ev["loss"]), rel=1e-5)
    assert float(row["loss_std"]) == pytest.approx(np.std(ev["loss"]), rel=1e-4)
    assert (swept.out / "summary.md").read_text().count("| finished |") == 8
    assert (swept.out / "sweep.png").stat().st_size > 1000


def test_a_sweep_resumes_where_it_stopped(swept, capsys):
    out = swept.dir / "resumed"
    shutil.copytree(swept.out, out)
    group = [out / "points" / n for n in ("p000-seed=1-learning_rate=1e-2-hidden=4", "p002-seed=1-learning_rate=3e-3-hidden=4",
                                          "p004-seed=2-learning_rate=1e-2-hidden=4", "p006-seed=2-learning_rate=3e-3-hidden=4")]
    for p in group:  # the first program stopped after its checkpoint at batch 2
        (p / "final.safetensors").unlink()
        shutil.copy(RunDir(p).batch_checkpoint(2), p / "checkpoints" / "last.safetensors")
    assert main(["sweep", "--resume", str(out), "--plan"]) == 0
    assert capsys.readouterr().out.count("(finished)") == 4
    assert main(["sweep", "--resume", str(out), "--quiet"]) == 0
    for p in group:
        a, b = params(p / "final.safetensors"), params(swept.out / "points" / p.name / "final.safetensors")
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7, err_msg=k)
    # the other program's points were finished: untouched
    other = out / "points" / "p001-seed=1-learning_rate=1e-2-hidden=6" / "final.safetensors"
    assert other.stat().st_mtime == (swept.out / "points" / other.parent.name / "final.safetensors").stat().st_mtime
    # the same command again with other axes is refused: the directory holds another sweep
    with pytest.raises(UsageError, match="holds another sweep"):
        S.save_plan(S.plan(str(swept.path), grid=["net.hidden=[5]"], out=str(out)))


def test_slurm_job_array_is_written_not_submitted(write_model, tmp_path, capsys, monkeypatch):
    path = write_model(TINY + SWEEP)
    out = tmp_path / "sw"
    code = main(["sweep", str(path), "--grid", "net.hidden=[4,6,8]", "--out", str(out), "--slurm",
                 "--slurm-option", "partition=gpu", "--slurm-option", "time=01:00:00"])
    assert code == 0
    script = (out / "slurm" / "sweep.sbatch").read_text()
    assert "#SBATCH --array=0-2" in script and "#SBATCH --partition=gpu" in script and "#SBATCH --time=01:00:00" in script
    assert f'sweep --resume {out} --group "$SLURM_ARRAY_TASK_ID" --no-summary --quiet' in script
    assert not (out / "points").exists()  # nothing trained here
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert main(["sweep", "--resume", str(out), "--slurm", "--submit"]) == 2
    assert "no `sbatch` here" in capsys.readouterr().err


# ---- several processes -------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_as_one_process_with_two_devices(swept, tmp_path):
    """Two `rnn train` processes on loopback (one CPU device each) against the run of the same
    point in this process with its two devices: the same mesh, the same program; the parameters
    are bit-identical."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
    sets = ["--set", "model.seed=2", "--set", "train.optimizer.learning_rate=3e-3", "--set", "net.hidden=6"]
    rnn = [sys.executable, "-m", "rnnlang.runtime.cli", "train", str(swept.path), *sets, "--out", str(tmp_path / "two"),
           "--quiet", "--no-plots", "--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2"]
    procs = [subprocess.Popen(rnn + ["--process-id", str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in (1, 0)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    assert [x.name for x in tmp_path.iterdir()] == ["two"]  # process 1 kept nothing
    a, b = params(swept.alone / "final.safetensors"), params(tmp_path / "two" / "final.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_process_flags_are_checked(capsys):
    assert main(["train", "x.rnn", "--num-processes", "2"]) == 2
    assert "go with --coordinator" in capsys.readouterr().err
    assert main(["train", "x.rnn", "--coordinator", "nowhere", "--num-processes", "2", "--process-id", "0"]) == 2
    assert "write HOST:PORT" in capsys.readouterr().err


def test_jobs_run_programs_in_processes_with_their_share_of_cores(write_model, tmp_path, monkeypatch):
    sweep = S.plan(str(write_model(TINY + SWEEP)), grid=["net.hidden=[4,6,8]"], out=str(tmp_path / "sw"))
    S.save_plan(sweep)
    started = []

    class Done:
        def __init__(self, cmd, env):
            started.append((cmd, env))

        def wait(self):
            return 0

    monkeypatch.setattr(S.subprocess, "Popen", Done)
    monkeypatch.setattr(S.os, "cpu_count", lambda: 8)
    S.run_sweep(sweep, jobs=2)
    assert [c[-6:] for c, _ in started] == [["--resume", str(sweep.path), "--group", g, "--no-summary", "--quiet"]
                                            for g in ("0", "1", "2")]
    assert all("--xla_force_host_platform_device_count=4" in env["XLA_FLAGS"] for _, env in started)


@pytest.mark.slow
def test_jobs_train_a_shape_changing_sweep_in_two_processes(write_model, tmp_path):
    path = write_model(TINY + "sweep { net.hidden = [4, 6] }\n")
    out = tmp_path / "sw"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["status"] for r in rows] == ["finished", "finished"] and [r["net.hidden"] for r in rows] == ["4", "6"]
