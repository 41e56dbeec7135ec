"""Run directories you can trust: damaged or crafted checkpoints, metrics, settings and sources
are refused with messages (never tracebacks) or cost only themselves; a run is locked while a
trainer writes it; Ctrl-C saves the state reached and resuming from it is bit-identical; files
follow the umask; permission problems are messages; errors found at compile time leave no
directory; a NaN stop keeps a state whose training and validation losses were finite."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from safetensors.numpy import save_file

from rnnlang.dsl.errors import UsageError
from rnnlang.runtime import checkpoint as ckpt
from rnnlang.runtime.api import load_state, train
from rnnlang.runtime.cli import main
from rnnlang.runtime.files import RunLock, file_mode
from rnnlang.runtime.rundir import RunDir
from rnnlang.runtime.train import Trainer

MODEL = """
model tiny {{ dt = 10  duration = 100  tau = 100  seed = 5 }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = 4, out = 2)
task.input -> net.input
net.output -> task.response
loss {{
  mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean")
}}
train {{
  optimizer = {optimizer}
  batches = {batches}
  batch_size = 8
  validate_every = {validate_every}
  checkpoint_every = {checkpoint_every}
  steps_per_dispatch = {k}
}}
"""


def model_text(optimizer="adam(learning_rate = 1e-2)", batches=4, validate_every=2, checkpoint_every=2, k=2):
    return MODEL.format(optimizer=optimizer, batches=batches, validate_every=validate_every,
                        checkpoint_every=checkpoint_every, k=k)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained run (4 batches, a checkpoint and a validation every 2), its trainer and fingerprint."""
    base = tmp_path_factory.mktemp("runfiles")
    path = base / "tiny.rnn"
    path.write_text(model_text())
    result = train(path, out=str(base / "run"))
    fp = ckpt.fingerprint(result.model.cm)
    return {"model": path, "run": result.run.path, "trainer": result.trainer, "fp": fp, "result": result}


@pytest.fixture
def run_copy(trained, tmp_path):
    """A fresh copy of the trained run, to damage."""
    dst = tmp_path / "copy"
    shutil.copytree(trained["run"], dst)
    return dst


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Error:" not in err.replace("rnn: error:", "")


# ---- checkpoints ---------------------------------------------------------------------------------


def craft(path: Path, tensors=None, metadata=None, rechecksum=True) -> None:
    """Rewrite a checkpoint with altered tensors or metadata; with `rechecksum`, its checksum is
    made to match, so that only the other checks can catch the alteration."""
    flat, meta = ckpt.read(path)
    flat = dict(flat)
    if tensors:
        tensors(flat)
    meta = dict(meta)
    if metadata:
        metadata(meta)
    if rechecksum:
        meta["sha256"] = ckpt.checksum(flat, meta)
    save_file(flat, str(path), metadata=meta)


def set_meta(**changes):
    def change(meta):
        m = json.loads(meta["meta"])
        m.update(changes)
        meta["meta"] = json.dumps(m)
    return change


W_REC = "params/net/W_rec"


def nan_tensor(flat):
    flat[W_REC] = flat[W_REC].copy()
    flat[W_REC][0, 0, 0] = np.nan


CRAFTED = {
    "nan tensor": (dict(tensors=nan_tensor), "`params/net/W_rec` holds NaN or infinite values"),
    "int8 tensor": (dict(tensors=lambda f: f.update({W_REC: f[W_REC].astype(np.int8)})), "`params/net/W_rec` is int8 but the model needs float32"),
    "wrong shape": (dict(tensors=lambda f: f.update({W_REC: f[W_REC][:, :2]})), "`params/net/W_rec` has shape (1, 2, 4) but the model needs (1, 4, 4)"),
    "missing tensor": (dict(tensors=lambda f: f.pop(W_REC)), "has no `params/net/W_rec`"),
    "extra tensor": (dict(tensors=lambda f: f.update({"params/net/extra": np.zeros(3, np.float32)})), "holds tensors the model does not have (params/net/extra)"),
    "negative batch": (dict(metadata=set_meta(batch=-50)), "`batch` is -50, expected an integer in [0, 2147483647]"),
    "huge batch": (dict(metadata=set_meta(batch=2**40)), "`batch` is 1099511627776"),
    "string batch": (dict(metadata=set_meta(batch="4")), "`batch` is '4'"),
    "boolean batch": (dict(metadata=set_meta(batch=True)), "`batch` is True"),
    "stage out of range": (dict(metadata=set_meta(stage=3)), "`stage` is 3, expected an integer in [0, 0]"),
    "stage start after batch": (dict(metadata=set_meta(stage_start=9)), "`stage_start` is 9, expected an integer in [0, 4]"),
    "done not boolean": (dict(metadata=set_meta(done="yes")), "`done` is 'yes', not true or false"),
    "meta not json": (dict(metadata=lambda m: m.update(meta="{batch: 4")), "its metadata is corrupt"),
    "meta a list": (dict(metadata=lambda m: m.update(meta="[4]")), "its metadata is corrupt (not a JSON object)"),
    "meta deeply nested": (dict(metadata=lambda m: m.update(meta="[" * 100000 + "]" * 100000)), "its metadata is corrupt"),
    "unknown metadata key": (dict(metadata=lambda m: m.update(run="os.system('x')")), "unexpected metadata 'run'"),
    "another format": (dict(metadata=lambda m: m.update(format="pickle")), "not an rnnlang checkpoint (format 'pickle')"),
    "checksum removed": (dict(metadata=lambda m: m.pop("sha256"), rechecksum=False), "checksum mismatch"),
    "value changed, checksum kept": (dict(tensors=lambda f: f.update({W_REC: f[W_REC] + 1}), rechecksum=False), "checksum mismatch"),
    "batch changed, checksum kept": (dict(metadata=set_meta(batch=2), rechecksum=False), "checksum mismatch"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_checkpoints_are_refused_with_a_message(trained, run_copy, case):
    changes, message = CRAFTED[case]
    path = run_copy / "final.safetensors"
    craft(path, **changes)
    with pytest.raises(ckpt.CheckpointError) as e:
        load_state(path, trained["trainer"], trained["fp"])
    assert str(e.value).startswith(str(path)) and message in str(e.value)


def test_a_flipped_bit_anywhere_in_a_checkpoint_is_refused(trained, run_copy):
    """One bit in every byte of the header (its length, the JSON with dtypes, shapes, offsets,
    the metadata and the checksum) and of every fifth byte of the tensor data: each copy is
    refused with a CheckpointError (a message)."""
    path = run_copy / "final.safetensors"
    good = path.read_bytes()
    assert load_state(path, trained["trainer"], trained["fp"]).batch == 4
    init = trained["trainer"].init_state()
    templates = {"params": init.params, "opt": init.opt_state}
    header = 8 + int.from_bytes(good[:8], "little")  # the length, then the JSON header with the metadata
    for i in [*range(header), *range(header, len(good), 5)]:
        bad = bytearray(good)
        bad[i] ^= 1 << (i % 8)
        path.write_bytes(bytes(bad))
        with pytest.raises(ckpt.CheckpointError):
            ckpt.load(path, templates, trained["fp"])


def test_a_checkpoint_of_the_first_format_still_loads(trained, run_copy):
    """Runs written before checksums (format rnnlang-checkpoint-1) stay usable; their other checks apply."""
    path = run_copy / "final.safetensors"
    craft(path, metadata=lambda m: (m.pop("sha256"), m.update(format="rnnlang-checkpoint-1")), rechecksum=False)
    state = load_state(path, trained["trainer"], trained["fp"])
    for a, b in zip(jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(trained["result"].state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    craft(path, tensors=nan_tensor, rechecksum=False)
    with pytest.raises(ckpt.CheckpointError, match="holds NaN"):
        load_state(path, trained["trainer"], trained["fp"])


def flip_data_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # in the last tensor's bytes
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["eval", "plot", "resume"])
def test_commands_refuse_a_damaged_checkpoint(run_copy, command, capsys):
    flip_data_bit(run_copy / "final.safetensors")
    flip_data_bit(run_copy / "checkpoints" / "last.safetensors")
    args = {"eval": ["eval", str(run_copy)], "plot": ["plot", str(run_copy)],
            "resume": ["train", "--resume", str(run_copy), "--quiet", "--no-plots"]}[command]
    before = (run_copy / "metrics.jsonl").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "checksum mismatch: the file was damaged or altered after it was written" in err
    no_traceback(err)
    assert (run_copy / "metrics.jsonl").read_bytes() == before  # a refused resume writes nothing
    assert not (run_copy / "plots").exists()


def test_eval_refuses_a_crafted_batch_count(run_copy, capsys):
    craft(run_copy / "final.safetensors", metadata=set_meta(batch=-50))
    assert main(["eval", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert "damaged metadata: `batch` is -50" in err
    no_traceback(err)


# ---- metrics -------------------------------------------------------------------------------------


def train_records(run: RunDir) -> list[int]:
    return [r["batch"] for r in run.read_metrics() if r["phase"] == "train"]


def test_a_damaged_metrics_line_costs_only_itself_and_resume_only_appends(trained, run_copy, capsys):
    run = RunDir.open(run_copy)
    lines = run.metrics.read_bytes().split(b"\n")
    assert [json.loads(x)["phase"] for x in lines if x] == ["train", "train", "validate", "train", "train", "validate"]
    lines[1] = lines[1].replace(b'"batch": 2', b'"batch"; 2')  # one flipped bit: ':' is 0x3a, ';' 0x3b
    damaged = b"\n".join(lines)
    run.metrics.write_bytes(damaged + b'{"phase": "tr')  # and a last line cut short by a kill
    assert train_records(run) == [1, 3, 4] and run.damaged_lines == [2, 7]
    assert [r["batch"] for r in run.read_metrics() if r["phase"] == "validate"] == [2, 4]
    assert main(["train", "--resume", str(run_copy), "--set", "train.batches=6", "--quiet", "--no-plots"]) == 0
    no_traceback(capsys.readouterr().err)
    text = run.metrics.read_bytes()
    assert text.startswith(damaged + b'{"phase": "tr\n')  # nothing rewritten: appended after a newline
    assert train_records(run) == [1, 3, 4, 5, 6] and run.damaged_lines == [2, 7]


def test_a_resume_marker_voids_the_records_after_its_batch(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics([{"phase": "train", "batch": b, "loss": 1.0 / b} for b in (1, 2, 3)])
    run.append_metrics([{"phase": "validate", "batch": 3, "loss": 0.5, "terms": {}, "metrics": {}}])
    run.mark_resume(2)  # a run killed after batch 3 resumed from its checkpoint at batch 2
    run.append_metrics([{"phase": "train", "batch": 3, "loss": 0.25}])
    assert [(r["phase"], r["batch"], r["loss"]) for r in run.read_metrics()] == [
        ("train", 1, 1.0), ("train", 2, 0.5), ("train", 3, 0.25)]
    assert len(run.metrics.read_text().splitlines()) == 6


@pytest.mark.parametrize("record", [
    {"phase": "train", "batch": "3", "loss": 1.0},
    {"phase": "train", "batch": 3, "loss": "x"},
    {"phase": "train", "batch": 0, "loss": 1.0},
    {"phase": "evaluate", "batch": 3, "loss": 1.0},
    {"phase": "validate", "batch": 3, "loss": 1.0, "metrics": {"correct": [1]}},
    {"phase": "train", "batch": 3, "loss": 1.0, "replicates": {"loss": 1.0}},
    [1, 2],
])
def test_a_well_formed_but_wrongly_typed_record_is_skipped(tmp_path, record):
    run = RunDir(tmp_path)
    run.append_metrics([{"phase": "train", "batch": 1, "loss": 1.0}, record, {"phase": "train", "batch": 2, "loss": 0.5}])
    assert train_records(run) == [1, 2] and run.damaged_lines == [2]


# ---- settings.json and model.rnn ----------------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    (b'{"source_path": "tiny.rnn", "overrides": [', "settings.json: unreadable"),
    (b'[1, 2]', "settings.json: damaged: expected a JSON object"),
    (b'{"overrides": []}', "settings.json: damaged: `source_path` must be a string"),
    (b'{"source_path": "tiny.rnn", "overrides": "train.batches=3"}', "settings.json: damaged: `overrides` must be a list of strings"),
    (b'{"source_path": "tiny.rnn", "overrides": [3]}', "settings.json: damaged: `overrides` must be a list of strings"),
    (b'\xff\xfe{}', "settings.json: unreadable"),
    (b'[' * 100000, "settings.json: unreadable"),
])
@pytest.mark.parametrize("command", ["eval", "resume"])
def test_a_damaged_settings_file_is_a_message(run_copy, content, message, command, capsys):
    (run_copy / "settings.json").write_bytes(content)
    args = ["eval", str(run_copy)] if command == "eval" else ["train", "--resume", str(run_copy), "--quiet", "--no-plots"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    no_traceback(err)


@pytest.mark.parametrize("content, message", [
    (b"model tiny { dt = 10 \xff }", "UTF-8"),
    (b"model \x00", ""),
])
def test_a_damaged_model_source_in_a_run_is_a_message(run_copy, content, message, capsys):
    (run_copy / "model.rnn").write_bytes(content)
    for args in (["eval", str(run_copy)], ["plot", str(run_copy)], ["train", "--resume", str(run_copy), "-q", "--no-plots"]):
        assert main(args) in (1, 2)
        err = capsys.readouterr().err
        assert f"{run_copy / 'model.rnn'}:" in err and message in err
        no_traceback(err)


# ---- lock, stale files, umask, permissions -----------------------------------------------------


def test_a_locked_run_is_refused_to_a_second_trainer(trained, run_copy, tmp_path, capsys):
    lock = RunLock(run_copy).acquire()  # as a running trainer holds it
    try:
        assert main(["train", "--resume", str(run_copy), "--quiet", "--no-plots"]) == 2
        err = capsys.readouterr().err
        assert f"{run_copy}: another trainer (process {os.getpid()}) is writing this run directory" in err
        no_traceback(err)
        empty = tmp_path / "empty"
        empty.mkdir()
        lock2 = RunLock(empty).acquire()
        try:
            assert main(["train", str(trained["model"]), "--out", str(empty), "--quiet", "--no-plots"]) == 2
            assert "another trainer" in capsys.readouterr().err
            assert sorted(p.name for p in empty.iterdir()) == [".lock"]  # nothing written into it
        finally:
            lock2.release()
    finally:
        lock.release()
    assert main(["train", "--resume", str(run_copy), "--quiet", "--no-plots"]) == 0


def test_stale_temporary_files_are_removed_on_resume(run_copy):
    stale = [run_copy / "checkpoints" / ".last.safetensors.k2j3h4.tmp", run_copy / ".metrics.jsonl.a8b7.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    mine = run_copy / "notes.tmp"
    mine.write_text("not ours")
    assert main(["train", "--resume", str(run_copy), "--quiet", "--no-plots"]) == 0
    assert not any(p.exists() for p in stale) and mine.exists()


def test_run_files_follow_the_umask(tmp_path, write_model):
    path = write_model(model_text(batches=2))
    old = os.umask(0o027)
    try:
        assert file_mode() == 0o640
        run = train(path, out=str(tmp_path / "run")).run.path
    finally:
        os.umask(old)
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"model.rnn", "settings.json", "versions.json", "metrics.jsonl", "final.safetensors",
                                       "last.safetensors", ".lock"}
    for p in files:
        assert p.stat().st_mode & 0o777 == 0o640, p
    for d in [run, run / "checkpoints"]:
        assert d.stat().st_mode & 0o777 == 0o750, d


@pytest.fixture
def read_only(monkeypatch):
    """Make a directory read-only. Root writes anywhere, so for root every creation of a file or
    directory under it is refused with EACCES, as the kernel refuses it to a user."""

    def make(path: Path) -> Path:
        path.mkdir(exist_ok=True)
        path.chmod(0o555)
        if os.geteuid() == 0:
            real_open, real_mkdir = os.open, os.mkdir
            root = str(path.resolve())

            def under(p) -> bool:
                return os.path.abspath(os.fspath(p)).startswith(root)

            def guarded_open(p, flags, *args, **kwargs):
                if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(p):
                    raise PermissionError(errno.EACCES, "Permission denied", os.fspath(p))
                return real_open(p, flags, *args, **kwargs)

            def guarded_mkdir(p, *args, **kwargs):
                if under(p):
                    raise PermissionError(errno.EACCES, "Permission denied", os.fspath(p))
                return real_mkdir(p, *args, **kwargs)

            monkeypatch.setattr(os, "open", guarded_open)
            monkeypatch.setattr(os, "mkdir", guarded_mkdir)
        return path

    yield make


def test_read_only_destinations_are_messages(trained, tmp_path, read_only, capsys):
    ro = read_only(tmp_path / "ro")
    cases = [
        (["train", str(trained["model"]), "--out", str(ro / "run"), "-q", "--no-plots"], f"{ro / 'run'}: cannot create the run directory: Permission denied"),
        (["train", str(trained["model"]), "--out", str(ro), "-q", "--no-plots"], f"{ro}: cannot lock the run directory: Permission denied"),
        (["plot", str(trained["run"]), "--what", "loss", "-o", str(ro / "plots")], "Permission denied"),
        (["export-psychrnn", str(trained["run"]), "-o", str(ro / "w.npz")], "Permission denied"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err, err
        no_traceback(err)
    assert list(ro.iterdir()) == []


def test_a_read_only_run_cannot_be_resumed(run_copy, read_only, capsys):
    read_only(run_copy)
    assert main(["train", "--resume", str(run_copy), "-q", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert f"{run_copy}: cannot" in err and "Permission denied" in err
    no_traceback(err)


# ---- errors found only when compiling ------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, col, arg", [
    ('adam(learning_rate = "x")', 20, "learning_rate"),
    ("sgd(momentum = [1])", 19, "momentum"),
    ("sgd(1e-2, [0.9])", 25, "momentum"),
])
def test_optimizer_arguments_of_the_wrong_type_leave_no_run_directory(write_model, tmp_path, optimizer, col, arg, capsys):
    path = write_model(model_text(optimizer=optimizer))
    line = next(i for i, x in enumerate(path.read_text().splitlines(), 1) if "optimizer =" in x)
    out = tmp_path / "runs" / "new"
    assert main(["train", str(path), "--out", str(out), "--quiet", "--no-plots"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line}:{col}: error: argument `{arg}` of optimizer" in err and "^" in err
    no_traceback(err)
    assert not (tmp_path / "runs").exists()


def test_an_error_in_training_removes_the_new_run_directory(write_model, tmp_path, monkeypatch):
    """Whatever fails before the first checkpoint leaves nothing behind (here: a failing trace)."""
    path = write_model(model_text())

    def broken(self, stage):
        raise RuntimeError("a failure inside the first compilation")

    monkeypatch.setattr(Trainer, "chunk_fn", broken)
    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError, match="first compilation"):
        train(path, out=str(out))
    assert not (tmp_path / "a").exists()


# ---- the NaN stop ---------------------------------------------------------------------------------------


def test_the_nan_stop_keeps_a_state_with_finite_training_and_validation_losses(write_model, tmp_path, capsys):
    """With one step per dispatch the first bad loss is always the first step of a dispatch: the
    parameters the dispatch started from gave it, so the state before them is the one kept."""
    path = write_model(model_text(optimizer="sgd(learning_rate = 20)", batches=60, k=1))
    out = tmp_path / "nan"
    assert main(["train", str(path), "--out", str(out), "--quiet", "--no-plots"]) == 1
    err = capsys.readouterr().err
    no_traceback(err)
    # the first non-finite loss may be a training or a validation loss, by the draws of the trials
    assert "training stopped: the" in err and "loss became" in err and "whose training and validation losses were finite" in err
    kept = int(err.split("the last good state (batch ")[1].split(")")[0])
    bad = int(err.split(" at batch ")[1].split(";")[0])
    if "training stopped: the loss became" in err:
        assert bad == kept + 2  # batch kept + 1 was trained on the kept state: its loss was finite
    else:  # a validation loss: the kept state is an earlier one, validated finite
        assert bad > kept
    train_loss = {r["batch"]: r["loss"] for r in RunDir.open(out).read_metrics() if r["phase"] == "train"}
    assert np.isfinite(train_loss[kept + 1])
    assert main(["eval", str(out), "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["batch"] == kept
    values = [*r["loss"], *(x for v in r["terms"].values() for x in v), *(x for v in r["metrics"].values() for x in v)]
    assert len(values) == 4 and np.isfinite(values).all()  # loss, mse, choice, correct


# ---- Ctrl-C -------------------------------------------------------------------------------------------------------


def test_ctrl_c_saves_the_state_reached_and_resume_is_bit_identical(write_model, tmp_path):
    path = write_model(model_text(batches=150, validate_every=50, checkpoint_every=100000, k=2))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    rnn = [sys.executable, "-m", "rnnlang.runtime.cli"]
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(rnn + ["train", str(path), "--out", str(out), "--quiet", "--no-plots"], env=env,
                            stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size):
        time.sleep(0.01)
    # a second trainer is refused while the first one writes the run
    with pytest.raises(UsageError, match=f"another trainer \\(process {proc.pid}\\)"):
        RunLock(out).acquire()
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, err
    no_traceback(err)
    run = RunDir.open(out)
    done = max(train_records(run))
    assert 0 < done < 150
    assert f"interrupted at batch {done}; the state is saved in {run.last_checkpoint}" in err
    _, meta = ckpt.read(run.last_checkpoint)
    assert json.loads(meta["meta"])["batch"] == done and not (out / "final.safetensors").exists()

    resumed = train(resume=str(out))
    full = train(path, out=str(tmp_path / "full"))
    assert resumed.state.batch == full.state.batch == 150
    for a, b in zip(jax.tree_util.tree_leaves(full.state.params), jax.tree_util.tree_leaves(resumed.state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert train_records(RunDir.open(out)) == list(range(1, 151))


def test_an_altered_resolved_section_does_not_break_the_loss_figure(run_copy, capsys):
    settings = json.loads((run_copy / "settings.json").read_text())
    settings["resolved"] = {"model": [1]}  # not read back, only used for titles
    (run_copy / "settings.json").write_text(json.dumps(settings))
    assert main(["plot", str(run_copy), "--what", "loss"]) == 0
    assert (run_copy / "plots" / "loss.png").stat().st_size > 0
    no_traceback(capsys.readouterr().err)


def test_two_trainers_started_in_the_same_second_get_two_directories(tmp_path, monkeypatch):
    import datetime

    from rnnlang.runtime import rundir

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rundir._dt, "datetime", Frozen)
    a = RunDir.create("m", "m.rnn", "src", [], {})
    b = RunDir.create("m", "m.rnn", "src", [], {})
    assert (a.path, b.path) == (Path("runs/m-20260102-030405"), Path("runs/m-20260102-030405-2"))
    assert a.lock.held and b.lock.held and a.source.read_text() == "src"
    b.discard()
    a.discard()  # nothing of value in them yet: gone, with the runs/ folder `create` made
    assert not (tmp_path / "runs").exists()
