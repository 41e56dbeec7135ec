"""Training: one compilation, bit-identical resume (also after SIGKILL), NaN stops cleanly,
checkpoints of another model or truncated ones are refused, bad --set values are reported."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from rnnlang.runtime import checkpoint as ckpt
from rnnlang.runtime.api import compile_model, load, load_state, train
from rnnlang.runtime.cli import main
from rnnlang.runtime.train import Trainer, TrainingStopped

TINY = """
model tiny {{ dt = 10  duration = 200  tau = 100  seed = 3 }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = {hidden}, out = 2, rec_noise = 0.05)
task.input -> net.input
net.output -> task.response
loss {{
  mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean")
  rates = 1e-3 * firing_rate(net.hidden)
}}
train {{
  optimizer = {optimizer}
  batches = {batches}
  batch_size = 16
  validate_every = 2
  checkpoint_every = 2
  steps_per_dispatch = 2
}}
"""


def tiny(write_model, hidden=8, batches=6, optimizer="adam(learning_rate = 1e-2)", name="tiny.rnn"):
    return write_model(TINY.format(hidden=hidden, batches=batches, optimizer=optimizer), name)


def leaves(state_params):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(state_params)]


def test_training_compiles_once_and_lowers_the_loss(write_model):
    cm, g = load(tiny(write_model, batches=20))
    trainer = Trainer(compile_model(cm, g))
    state = trainer.run(trainer.init_state())
    assert trainer.chunk_fn(0)._cache_size() == 1  # every dispatch reused the first compilation
    assert trainer.eval_fn()._cache_size() == 1
    assert state.batch == 20 and len(state.history) == 10
    assert state.history[-1]["loss"][0] < state.history[0]["loss"][0]


def test_resume_is_bit_identical(write_model, tmp_path):
    path = tiny(write_model)
    full = train(path, out=str(tmp_path / "full"))
    part = train(path, ["train.batches=4"], out=str(tmp_path / "part"))
    assert part.state.batch == 4
    # continue the shorter run to the full length: same batches, same parameters, bit for bit
    settings = json.loads((part.run.settings).read_text())
    settings["overrides"] = []
    part.run.settings.write_text(json.dumps(settings))
    resumed = train(resume=str(tmp_path / "part"))
    assert resumed.state.batch == 6
    for a, b in zip(leaves(full.state.params), leaves(resumed.state.params)):
        np.testing.assert_array_equal(a, b)
    # the metrics of the resumed run read as one run
    batches = [r["batch"] for r in resumed.run.read_metrics() if r["phase"] == "train"]
    assert batches == list(range(1, 7))


def _params_of(run):
    return {k: v for k, v in __import__("safetensors.numpy", fromlist=["load_file"]).load_file(str(run)).items() if k.startswith("params/")}


def test_resume_after_sigkill_is_bit_identical(write_model, tmp_path):
    path = tiny(write_model, batches=400)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    rnn = [sys.executable, "-m", "rnnlang.runtime.cli"]
    subprocess.run(rnn + ["train", str(path), "--out", str(tmp_path / "full"), "--quiet", "--no-plots"], check=True, env=env)
    proc = subprocess.Popen(rnn + ["train", str(path), "--out", str(tmp_path / "killed"), "--quiet", "--no-plots"], env=env)
    last = tmp_path / "killed" / "checkpoints" / "last.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline and not last.exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists() and not (tmp_path / "killed" / "final.safetensors").exists()
    r = subprocess.run(rnn + ["train", "--resume", str(tmp_path / "killed"), "--quiet", "--no-plots"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a, b = _params_of(tmp_path / "full" / "final.safetensors"), _params_of(tmp_path / "killed" / "final.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_nan_stops_cleanly_and_keeps_the_last_good_state(write_model, tmp_path, capsys):
    path = tiny(write_model, batches=40, optimizer="sgd(learning_rate = 1e12)")
    code = main(["train", str(path), "--out", str(tmp_path / "nan"), "--quiet", "--no-plots"])
    err = capsys.readouterr().err
    assert code == 1
    assert "training stopped: the loss became" in err and "Traceback" not in err
    cm, g = load(path)
    trainer = Trainer(compile_model(cm, g))
    state = load_state(tmp_path / "nan" / "checkpoints" / "last.safetensors", trainer, ckpt.fingerprint(cm))
    assert all(np.isfinite(x).all() for x in leaves(state.params))
    assert not (tmp_path / "nan" / "final.safetensors").exists()


def test_checkpoint_of_another_model_or_truncated_is_refused(write_model, tmp_path, capsys):
    run = train(tiny(write_model, batches=2), out=str(tmp_path / "a")).run
    cm, g = load(tiny(write_model, hidden=9, batches=2, name="other.rnn"))
    trainer = Trainer(compile_model(cm, g))
    with pytest.raises(ckpt.CheckpointError, match="belongs to a different model"):
        load_state(run.final, trainer, ckpt.fingerprint(cm))
    data = run.final.read_bytes()
    run.final.write_bytes(data[: len(data) // 2])
    assert main(["eval", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert "not a readable checkpoint" in err and "Traceback" not in err
    run.final.write_bytes(b"\x00" * 10)
    assert main(["eval", str(run.path)]) == 2


@pytest.mark.parametrize("setting, message, col", [
    ("train.bachtes=3", "unknown train setting `bachtes`", 7),
    ("train.batches=abc", "expected an integer", 15),
    ("train.batches=1.5", "expected an integer", 15),
    ("train.batches=-2", "batches", 15),
    ("train.batches=[1, 2", "expected", 20),
    ("net.hiden=3", "`ctrnn` has no parameter `hiden`", 5),
    ("nett.hidden=3", "unknown setting `nett.hidden`", 1),
    ("model.dt=0", "dt", 10),
])
def test_bad_set_is_reported_without_traceback(write_model, capsys, setting, message, col):
    path = tiny(write_model)
    assert main(["train", str(path), "--set", setting, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert message in err, err
    assert f"--set:1:{col}:" in err, err
    assert "Traceback" not in err and setting.split("=")[0] in err


@pytest.mark.parametrize("argv", [["train", "x.rnn", "--set", "nonsense"], ["train", "x.rnn", "--set", "=3"],
                                  ["eval", "/nonexistent/run"], ["train"], ["frobnicate"]])
def test_usage_errors_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.rnn").write_text("node net = ctrnn(hidden = 2, out = 1)\n")
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_fingerprint_follows_what_the_file_says(write_model):
    base = load(tiny(write_model))[0]
    same = load(tiny(write_model, name="copy.rnn"), ["train.batches=99", "model.seed=7"])[0]
    other = load(tiny(write_model, name="other.rnn"), ["net.transfer=tanh"])[0]
    explicit_default = load(tiny(write_model, name="default.rnn"), ["net.autapses=true"])[0]
    assert ckpt.fingerprint(base) == ckpt.fingerprint(same)  # training settings may change on resume
    assert ckpt.fingerprint(base) != ckpt.fingerprint(other)
    assert ckpt.fingerprint(base) != ckpt.fingerprint(explicit_default)  # written values count


def test_a_model_without_task_or_loss_is_refused_before_anything_is_written(write_model, tmp_path, capsys):
    path = write_model("model m { dt = 10  steps = 5  tau = 100 }\nnode net = ctrnn(hidden = 3, out = 1, inputs = 2)\n")
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "model.rnn:1:1: error: there is no task to train on" in err
    assert "error: there is no loss to train" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
