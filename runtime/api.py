"""The Python API, mirroring the command line: load, compile_model, train, evaluate.

    import rnnlang
    cm, graph = rnnlang.load("examples/perceptual_discrimination.rnn", overrides=["train.batches=50"])
    model = rnnlang.compile_model(cm, graph)
    result = rnnlang.train("examples/perceptual_discrimination.rnn", out="runs/pd")
    print(rnnlang.evaluate(result.run.path))
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import networkx as nx
import numpy as np

from rnnlang.compiler.lower import CompiledModel
from rnnlang.compiler.lower import compile_model as _compile
from rnnlang.dsl.checks import check
from rnnlang.dsl.errors import ModelError, UsageError
from rnnlang.dsl.graph import build_graph
from rnnlang.dsl.model import CheckedModel
from rnnlang.dsl.parser import parse, read_source

from . import checkpoint as ckpt
from .overrides import SET_FILE, apply_overrides, set_source
from .rundir import RunDir
from .train import Callbacks, Trainer, TrainingInterrupted, TrainingStopped, TrainState


def load(path: str | os.PathLike, overrides: Sequence[str] = (), *, source: str | None = None) -> tuple[CheckedModel, nx.MultiDiGraph]:
    """Parse and check a model file (with `--set`-style overrides); returns the checked model and
    its graph. `source` parses that text as if it were the file at `path`."""
    text = read_source(path) if source is None else source
    try:
        mf = apply_overrides(parse(text, str(path)), list(overrides))
        cm = check(mf)
    except ModelError as e:
        raise ModelError(e.diagnostics, text, {SET_FILE: set_source(list(overrides))}) from None
    return cm, build_graph(cm)


def compile_model(cm_or_path: CheckedModel | str | os.PathLike, graph: nx.MultiDiGraph | None = None,
                  overrides: Sequence[str] = ()) -> CompiledModel:
    """Lower a checked model (or a model file) to JAX functions."""
    if not isinstance(cm_or_path, CheckedModel):
        cm_or_path, graph = load(cm_or_path, overrides)
    return _compile(cm_or_path, graph if graph is not None else build_graph(cm_or_path))


def resolved_settings(cm: CheckedModel) -> dict[str, Any]:
    """The settings a run used, as JSON-able data."""
    def plain(v):
        if isinstance(v, np.ndarray):
            return f"array{v.shape}"
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
    return {"model": {"name": cm.name, "dt": cm.dt, "steps": cm.steps, "tau": cm.tau, "seed": cm.seed},
            "nodes": {n: {"kind": r.kind, "params": plain(r.params)} for n, r in cm.nodes.items()},
            "train": plain(cm.train), "stages": [{"name": s.name, **plain(s.settings), "overrides": plain(s.overrides)} for s in cm.stages],
            "loss": [{"name": t.name, "weight": t.weight, "kind": t.kind} for t in cm.loss]}


@dataclass
class TrainResult:
    run: RunDir
    model: CompiledModel
    state: TrainState
    trainer: Trainer


class RunLogger(Callbacks):
    """Writes metrics and checkpoints into the run directory and drives a progress callback."""

    def __init__(self, run: RunDir, trainer: Trainer, fp: str, progress: Callable[[int, float], None] | None = None,
                 asked: Callable[[], bool] | None = None) -> None:
        self.run, self.trainer, self.fp, self.progress = run, trainer, fp, progress
        self.asked = asked or (lambda: False)

    def train(self, start, losses, terms):
        records = []
        for j in range(losses.shape[0]):
            r = {"phase": "train", "batch": start + j + 1, "loss": float(np.mean(losses[j])),
                 "terms": {k: float(np.mean(v[j])) for k, v in terms.items()}}
            if losses.shape[1] > 1:
                r["replicates"] = {"loss": losses[j].tolist(), "terms": {k: v[j].tolist() for k, v in terms.items()}}
            records.append(r)
        self.run.append_metrics(records)
        if self.progress:
            self.progress(start + losses.shape[0], float(np.mean(losses[-1])))

    def validate(self, record):
        r = {"phase": "validate", "batch": record["batch"], "stage": record["stage"],
             "loss": float(np.mean(record["loss"])),
             "terms": {k: float(np.mean(v)) for k, v in record["terms"].items()},
             "metrics": {k: float(np.mean(v)) for k, v in record["metrics"].items()}}
        if len(record["loss"]) > 1:
            r["replicates"] = {"loss": record["loss"], "terms": record["terms"], "metrics": record["metrics"]}
        self.run.append_metrics([r])

    def checkpoint(self, state):
        save_state(self.run.last_checkpoint, state, self.fp)

    def interrupted(self):
        return self.asked()


def save_state(path: Path, state: TrainState, fp: str) -> None:
    ckpt.save(path, {"params": state.params, "opt": state.opt_state}, state.meta(), fp)


MAX_BATCH = 2**31 - 1  # batch indices are folded into int32 random keys


def load_state(path: Path, trainer: Trainer, fp: str) -> TrainState:
    """A checkpoint as a TrainState of `trainer`'s model; its tensors and its counters (batch,
    stage, stage start, done) are checked, so a damaged or altered file is a CheckpointError."""
    template = trainer.init_state()
    trees, meta = ckpt.load(path, {"params": template.params, "opt": template.opt_state}, fp)
    batch = _meta_int(path, meta, "batch", 0, MAX_BATCH)
    stage = _meta_int(path, meta, "stage", 0, len(trainer.stages))
    stage_start = _meta_int(path, meta, "stage_start", 0, batch)
    done = meta.get("done", False)
    if not isinstance(done, bool):
        raise ckpt.CheckpointError(f"{path}: damaged metadata: `done` is {done!r}, not true or false")
    return trainer.place(TrainState(trees["params"], trees["opt"], batch, stage, stage_start, done))


def _meta_int(path: Path, meta: dict, key: str, lo: int, hi: int) -> int:
    value = meta.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ckpt.CheckpointError(f"{path}: damaged metadata: `{key}` is {value!r}, expected an integer in [{lo}, {hi}]")
    return value


def _open_source(run: RunDir, overrides: Sequence[str]) -> tuple[CheckedModel, nx.MultiDiGraph]:
    """The model saved in a run, with the run's own overrides and then `overrides`."""
    settings = run.read_settings()
    return load(settings["source_path"], list(settings.get("overrides", [])) + list(overrides), source=run.read_source())


def train(path: str | os.PathLike | None = None, overrides: Sequence[str] = (), *, out: str | None = None,
          resume: str | os.PathLike | None = None, progress: Callable[[int, float], None] | None = None,
          on_start: Callable[[RunDir, Trainer], None] | None = None) -> TrainResult:
    """Train a model file into a new run directory, or continue the run at `resume`.

    Everything that can be checked is checked before a new run directory is made (the model,
    its compilation, the optimizer's arguments). The directory is locked while training writes
    it. A NaN stop keeps the latest state with finite losses (TrainingStopped); Ctrl-C saves the
    state reached (TrainingInterrupted); either way `rnn train --resume` continues."""
    if resume is not None:
        run = RunDir.open(resume).open_for_writing()  # locked first: a second trainer is refused at once
        try:
            cm, graph = _open_source(run, overrides)
            model = _compile(cm, graph)
            trainer = Trainer(model)
        except BaseException:
            run.close()
            raise
    else:
        if path is None:
            raise UsageError("give a model file to train, or --resume RUN")
        cm, graph = load(path, overrides)
        model = _compile(cm, graph)
        trainer = Trainer(model)
        run = RunDir.create(cm.name, str(path), cm.source, overrides, resolved_settings(cm), out)
    fp = ckpt.fingerprint(cm)
    try:
        if run.last_checkpoint.exists():
            try:
                state = load_state(run.last_checkpoint, trainer, fp)
            except ckpt.CheckpointError as e:
                raise UsageError(str(e)) from None
        else:
            state = trainer.init_state()
        if resume is not None:
            run.mark_resume(state.batch)
        if on_start:
            on_start(run, trainer)
        with interrupts_deferred() as asked:
            state = trainer.run(state, RunLogger(run, trainer, fp, progress, asked))
        save_state(run.final, state, fp)
    except TrainingStopped as e:
        if e.state is None:
            raise TrainingStopped(f"training stopped: {e}; no state of this run had finite losses, so none is kept"
                                  + (" (the checkpoint it resumed from already gives them)" if resume is not None else ""),
                                  None) from None
        save_state(run.last_checkpoint, e.state, fp)
        raise TrainingStopped(f"training stopped: {e}; the last good state (batch {e.state.batch}), whose training and "
                              f"validation losses were finite, is kept in {run.last_checkpoint}", e.state) from None
    except TrainingInterrupted as e:
        save_state(run.last_checkpoint, e.state, fp)
        raise TrainingInterrupted(f"{e}; the state is saved in {run.last_checkpoint}; continue with "
                                  f"`rnn train --resume {run.path}`", e.state) from None
    except OSError as e:
        raise UsageError(f"{run.path}: cannot write the run: {e.filename or ''}: {e.strerror or e}") from None
    except BaseException:
        if resume is None and not run.last_checkpoint.exists():  # failed before anything of value was written
            run.discard()
        raise
    finally:
        run.close()
    return TrainResult(run, model, state, trainer)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[Callable[[], bool]]:
    """While training: the first Ctrl-C (SIGINT) only asks the loop to stop at the end of the
    dispatch under way (so that the state reached is saved); a second one interrupts at once.
    Yields a function telling whether a stop was asked. Outside the main thread, nothing changes."""
    asked = [False]
    if threading.current_thread() is not threading.main_thread():
        yield lambda: asked[0]
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if asked[0]:
            raise KeyboardInterrupt
        asked[0] = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: asked[0]
    finally:
        signal.signal(signal.SIGINT, previous)


def open_run(run_path: str | os.PathLike, overrides: Sequence[str] = ()) -> tuple[RunDir, CompiledModel, Trainer, TrainState]:
    """A run's model and its trained state (final, else the last checkpoint)."""
    run = RunDir.open(run_path)
    cm, graph = _open_source(run, overrides)
    model = _compile(cm, graph)
    trainer = Trainer(model)
    path = run.final if run.final.exists() else run.last_checkpoint
    if not path.exists():
        raise UsageError(f"{run.path}: has no checkpoint yet")
    try:
        state = load_state(path, trainer, ckpt.fingerprint(cm))
    except ckpt.CheckpointError as e:
        raise UsageError(str(e)) from None
    return run, model, trainer, state


def evaluate(run_path: str | os.PathLike) -> dict[str, Any]:
    """Loss terms and task metrics on the validation set, per replicate and averaged."""
    run, model, trainer, state = open_run(run_path)
    record = trainer.validate(state.params)
    return {"run": str(run.path), "model": model.name, "batch": state.batch, "loss": record["loss"],
            "terms": record["terms"], "metrics": record["metrics"]}


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2)
