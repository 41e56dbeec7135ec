"""`train { keep_checkpoints = N }` keeps the N most recent checkpoints by batch, and
`--checkpoint NAME` reads any kept one (or final, last, init) in eval, run, analyze and plot."""

import json

import numpy as np
import pytest

from rnnlang.dsl.errors import UsageError
from rnnlang.runtime import checkpoint as ckpt
from rnnlang.runtime.api import evaluate, train
from rnnlang.runtime.cli import main
from rnnlang.runtime.rundir import RunDir

MODEL = """
model kept { dt = 10  duration = 100  tau = 100  seed = 3 }
node task = perceptual_discrimination()
node net = ctrnn(hidden = 4, out = 2)
task.input -> net.input
net.output -> task.response
loss { mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean") }
train {
  optimizer = adam(learning_rate = 1e-2)
  batches = 8
  batch_size = 8
  validate_every = 4
  checkpoint_every = 2
  keep_checkpoints = 2
  steps_per_dispatch = 2
}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("kept")
    path = base / "kept.rnn"
    path.write_text(MODEL)
    train(str(path), out=str(base / "run"))
    return RunDir(base / "run")


def _params(path):
    tensors, _ = ckpt.read(path)
    return {k: v for k, v in tensors.items() if k.startswith("params")}


def test_only_the_most_recent_are_kept(run):
    assert list(run.kept_checkpoints()) == [6, 8]
    assert run.batch_checkpoint(8).name == "batch-0000000008.safetensors"
    # the batch-8 checkpoint is the latest state: the same parameters as last
    a, b = _params(run.batch_checkpoint(8)), _params(run.last_checkpoint)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # batch 6 is an earlier state
    c = _params(run.batch_checkpoint(6))
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_names(run):
    assert run.checkpoint_named("final") == run.final
    assert run.checkpoint_named("init") == run.init
    assert run.checkpoint_named("6") == run.checkpoint_named("batch-6") == run.batch_checkpoint(6)
    with pytest.raises(UsageError, match=r"has no checkpoint '2'; it has: final, last, init, 6, 8; keep more"):
        run.checkpoint_named("2")
    with pytest.raises(UsageError, match=r"has no checkpoint 'best'"):
        run.checkpoint_named("best")


def test_eval_reads_the_checkpoint_named(run):
    at6, final, init = (evaluate(str(run.path), checkpoint=c) for c in ("6", None, "init"))
    assert (at6["batch"], final["batch"], init["batch"]) == (6, 8, 0)
    assert at6["loss"] != final["loss"] != init["loss"]


def test_cli_checkpoint(run, tmp_path, capsys):
    assert main(["eval", str(run.path), "--checkpoint", "6", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["batch"] == 6
    out = tmp_path / "r.npz"
    assert main(["run", str(run.path), "--checkpoint", "init", "-o", str(out)]) == 0
    assert "checkpoint 'init'" in capsys.readouterr().out
    assert json.loads(out.with_suffix(".json").read_text())["parameters"].startswith("checkpoint 'init' of")
    assert main(["eval", str(run.path), "--checkpoint", "3"]) != 0
    err = capsys.readouterr().err
    assert "has no checkpoint '3'" in err and "Traceback" not in err


def test_default_keeps_none(tmp_path):
    path = tmp_path / "m.rnn"
    path.write_text(MODEL.replace("keep_checkpoints = 2", "").replace("batches = 8", "batches = 2"))
    train(str(path), out=str(tmp_path / "r"))
    assert RunDir(tmp_path / "r").kept_checkpoints() == {}
