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
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from rnnlang.compiler import budget
from rnnlang.compiler.lower import CompiledModel
from rnnlang.compiler.lower import compile_model as _compile
from rnnlang.dsl.checks import base_dir, check
from rnnlang.dsl.errors import Diagnostic, ModelError, UsageError
from rnnlang.dsl.graph import build_graph
from rnnlang.dsl.model import CheckedModel
from rnnlang.dsl.parser import parse, read_source

from . import checkpoint as ckpt
from .overrides import SET_FILE, apply_overrides, set_source
from .rundir import RunDir
from .train import Callbacks, Trainer, TrainingInterrupted, TrainingStopped, TrainState, metric_signals



def load(path: str | os.PathLike, overrides: Sequence[str] = (), *, source: str | None = None) -> tuple[CheckedModel, nx.MultiDiGraph]:
    """Parse and check a model file (with `--set`-style overrides); returns the checked model and
    its graph. `source` parses that text as if it were the file at `path`."""
    text = read_source(path) if source is None else source
    sources = {SET_FILE: set_source(list(overrides))}
    try:
        mf = apply_overrides(parse(text, str(path)), list(overrides))
        cm = check(mf)
    except ModelError as e:
        raise ModelError(e.diagnostics, text, sources) from None
    cm.sources = sources
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
            "train": {**plain(cm.train), "until": cm.stop_rule.text if cm.stop_rule is not None else None},
            "stages": [{"name": s.name, **plain(s.settings), "overrides": plain(s.overrides),
                        "until": s.until.text if s.until is not None else None,
                        "task": {"kind": s.task.decl.kind, "params": plain(s.task.params)} if s.task is not None else None}
                       for s in cm.stages],
            "loss": [{"name": t.name, "weight": t.weight, "kind": t.kind, **({"expression": t.text} if t.expr is not None else {})}
                     for t in cm.loss]}


@dataclass
class TrainResult:
    run: RunDir
    model: CompiledModel
    state: TrainState
    trainer: Trainer


class RunLogger(Callbacks):
    """Writes metrics and checkpoints into the run directory and drives a progress callback."""

    def __init__(self, run: RunDir, trainer: Trainer, fp: str, progress: Callable[[int, float], None] | None = None,
                 asked: Callable[[], bool] | None = None, warn: Callable[[str], None] | None = None) -> None:
        self.run, self.trainer, self.fp, self.progress = run, trainer, fp, progress
        self.asked = asked or (lambda: False)
        self.warn = warn or (lambda text: print(text, file=sys.stderr))

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
        if record.get("warnings"):
            r["warnings"] = list(record["warnings"])
        self.run.append_metrics([r])
        for text in record.get("warnings", ()):
            self.warn(text)

    def checkpoint(self, state):
        """The latest state into checkpoints/last; with `keep_checkpoints = N`, also into
        checkpoints/batch-<batch>, removing all but the N most recent of those."""
        save_state(self.run.last_checkpoint, state, self.fp)
        keep = int(self.trainer.model.cm.train.get("keep_checkpoints") or 0)
        if keep:
            save_state(self.run.batch_checkpoint(state.batch), state, self.fp)
            kept = list(self.run.kept_checkpoints().values())
            for old in kept[:-keep]:
                old.unlink(missing_ok=True)

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


def initial_state(cm: CheckedModel, trainer: Trainer, fp: str) -> TrainState:
    """Fresh parameters, or those of the run that `train { init_from = "DIR" }` names (a run of
    the same model, its final or last checkpoint; a path relative to the model file), with a fresh
    optimizer state. A run of one replicate starts every replicate of this one."""
    state = trainer.init_state()
    src = cm.train.get("init_from")
    if not src:
        return state

    def refuse(message: str, hint: str | None = None) -> ModelError:
        return ModelError([Diagnostic(message, cm.setting_spans.get("train.init_from"), hint)], cm.source)

    other = Path(src) if Path(src).is_absolute() else base_dir(cm.path) / src
    try:
        rd = RunDir.open(other)
        replicates = int(rd.read_settings().get("resolved", {}).get("train", {}).get("replicates", 1))
    except (UsageError, TypeError, ValueError) as e:
        raise refuse(f"`init_from`: {e}", hint="name a run directory made by `rnn train`") from None
    ckpt_path = rd.final if rd.final.exists() else rd.last_checkpoint
    if replicates not in (1, trainer.replicates):
        raise refuse(f"`init_from`: {other} has {replicates} replicates, this training {trainer.replicates}",
                     hint="start from a run of one replicate, or of as many as this one")
    template = jax.tree_util.tree_map(lambda x: x[:replicates], state.params)
    try:
        trees, _ = ckpt.load(ckpt_path, {"params": template}, fp, trees_only=True)
    except ckpt.CheckpointError as e:
        raise refuse(f"`init_from`: {e}", hint="start from a run of the same model (nodes, parameters, edges)") from None
    params = jax.tree_util.tree_map(lambda old, new: jnp.broadcast_to(jnp.asarray(new, old.dtype), old.shape),
                                    state.params, trees["params"])
    return trainer.place(TrainState(params, state.opt_state))


def train(path: str | os.PathLike | None = None, overrides: Sequence[str] = (), *, out: str | None = None,
          resume: str | os.PathLike | None = None, progress: Callable[[int, float], None] | None = None,
          on_start: Callable[[RunDir, Trainer], None] | None = None, max_memory: int | None = None,
          on_warning: Callable[[str], None] | None = None, source: str | None = None) -> TrainResult:
    """Train a model file into a new run directory, or continue the run at `resume`.

    Everything that can be checked is checked before a new run directory is made (the model,
    its compilation, its estimated memory against the machine or `max_memory` bytes, the
    optimizer's arguments, `init_from`). The directory is locked while training writes it. A NaN
    stop keeps the latest state with finite losses (TrainingStopped); Ctrl-C saves the state
    reached (TrainingInterrupted); either way `rnn train --resume` continues. `on_warning` receives
    each warning line of the training log (a dead network: see runtime/health.py; default: stderr).
    `source`: the model's text when it is not read from `path` (a notebook cell; `path` then
    only names it and places its `file(...)` paths)."""
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
        cm, graph = load(path, overrides, source=source)
        model = _compile(cm, graph)
        # before anything is allocated or a run directory made
        budget.check(model, max_memory, cm.sources)
        trainer = Trainer(model)
        initial = initial_state(cm, trainer, ckpt.fingerprint(cm))  # a bad init_from writes nothing
        run = RunDir.create(cm.name, str(path), cm.source, overrides, resolved_settings(cm), out)
    fp = ckpt.fingerprint(cm)
    try:
        if resume is None:
            save_state(run.init, initial, fp)  # the initial parameters, kept for analysis
            state = initial
        elif run.last_checkpoint.exists():
            try:
                state = load_state(run.last_checkpoint, trainer, fp)
            except ckpt.CheckpointError as e:
                raise UsageError(str(e)) from None
        else:
            state = initial_state(cm, trainer, fp)
        if resume is not None:
            run.mark_resume(state.batch)
        if on_start:
            on_start(run, trainer)
        with interrupts_deferred() as asked:
            state = trainer.run(state, RunLogger(run, trainer, fp, progress, asked, on_warning))
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


def open_run(run_path: str | os.PathLike, overrides: Sequence[str] = (),
             checkpoint: str | None = None) -> tuple[RunDir, CompiledModel, Trainer, TrainState]:
    """A run's model and its trained state: final, else the last checkpoint; or the one
    `checkpoint` names (`final`, `last`, `init`, or a kept batch: see RunDir.checkpoint_named)."""
    run = RunDir.open(run_path)
    path = run.checkpoint_named(checkpoint) if checkpoint is not None else None
    cm, graph = _open_source(run, overrides)
    model = _compile(cm, graph)
    trainer = Trainer(model)
    if path is None:
        path = run.final if run.final.exists() else run.last_checkpoint
    if not path.exists():
        raise UsageError(f"{run.path}: has no checkpoint yet")
    try:
        state = load_state(path, trainer, ckpt.fingerprint(cm))
    except ckpt.CheckpointError as e:
        raise UsageError(str(e)) from None
    return run, model, trainer, state


def is_model_file(path: str | os.PathLike) -> bool:
    """A model file (rather than a run directory) as `rnn eval`, `rnn run` and `rnn analyze` take it."""
    return Path(path).is_file()


def open_model(path: str | os.PathLike, overrides: Sequence[str] = ()) -> tuple[None, CompiledModel, Trainer, TrainState]:
    """A model file at its initialization (the parameters `rnn train` would start from), in the
    shape `open_run` returns (no run directory)."""
    cm, graph = load(path, overrides)
    model = _compile(cm, graph)
    trainer = Trainer(model)
    return None, model, trainer, initial_state(cm, trainer, ckpt.fingerprint(cm))


def evaluate(run_path: str | os.PathLike, overrides: Sequence[str] = (), checkpoint: str | None = None) -> dict[str, Any]:
    """Loss terms and task metrics on the validation set, per replicate and averaged (of a run's
    trained parameters, or of a model file's initial ones); `overrides`
    (`--set` texts, e.g. "curl.active=true") evaluate the trained parameters under other settings
    of the sites, without retraining (a change of the model itself is refused). `by_site` splits
    the metrics by each site whose `active` differs between validation trials: the trials with
    the intervention on, and those with it off (catch trials). `checkpoint` names which of a
    run's checkpoints (RunDir.checkpoint_named; default the final, else the last)."""
    if checkpoint is not None and is_model_file(run_path):
        raise UsageError(f"{run_path}: a model file has no checkpoints; --checkpoint takes a run directory")
    opened = open_model(run_path, overrides) if is_model_file(run_path) else open_run(run_path, overrides, checkpoint)
    run, model, trainer, state = opened
    record = trainer.validate(state.params)
    return {"run": str(run.path) if run is not None else f"{run_path} (initialization)", "model": model.name, "batch": state.batch, "loss": record["loss"],
            "terms": record["terms"], "metrics": record["metrics"],
            "by_site": metrics_by_site(trainer, state.params, trainer.val_trial)}


def _nanmean(v: np.ndarray) -> np.ndarray:
    """The mean over trials (axis 1) of the trials where a metric is not `never` (NaN)."""
    with np.errstate(all="ignore"):
        counts = np.sum(~np.isnan(v), axis=1)
        return np.where(counts > 0, np.nansum(v, axis=1) / np.maximum(counts, 1), np.nan)


def metrics_by_site(trainer: Trainer, params: Any, trial: Mapping[str, Any] | None) -> dict[str, Any]:
    """{site: {"on"|"off": {"trials": n, metric: [per replicate]}}} for every site whose `active`
    is on in some validation trials and off in others; {} when there is none (or no metric)."""
    model = trainer.model
    if trial is None or model.task is None or not model.metric_sources:
        return {}
    split = {name: np.asarray(v["active"]) > 0.5 for name, v in trial.get("sites", {}).items()
             if "active" in v and 0 < int(np.sum(np.asarray(v["active"]) > 0.5)) < np.asarray(v["active"]).shape[0]}
    if not split:
        return {}

    def per_trial(p):
        signals = model.rollout(p, trial, trainer.k_val)
        return model.task.metrics(metric_signals(model, signals), trial)

    metrics = {k: np.asarray(v, np.float64) for k, v in jax.jit(jax.vmap(per_trial))(params).items()}  # (R, B)
    out: dict[str, Any] = {}
    for name, on in split.items():
        out[name] = {state: {"trials": int(np.sum(sel)), **{k: _nanmean(v[:, sel]).tolist() for k, v in metrics.items()}}
                     for state, sel in (("on", on), ("off", ~on))}
    return out


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2)
