"""`rnn run`: run a model on chosen trials and write every recorded signal to one .npz.

A target is a run directory (its final, else last, checkpoint) or a model file (its
initialization: the parameters `rnn train` would start from, e.g. a model written by
`rnn import-psychrnn`). The trials are the validation set (default), a fresh training batch,
a grid of a declared task's trial variables, or the task's signal ports read from a .npz.

The .npz holds, with names that say what they are:
  NODE.PORT            every output port of every node, (B, T, n): a network's `input`-driven
                       `hidden` and `output`, a plant's `effector`, a channel's output, ...
  NODE.state[.PART]    every node's state after each step, (B, T, ...): a ctrnn's pre-activation
                       state (what PsychRNN's `test` returns as its states), an lstm's `h` and
                       `c` (`.0`, `.1`), a plant's or a delay line's state
  TASK.PORT            the task's signals (input, target, mask, ...), (B, T, n)
  init/PORT            the task's per-trial initial values (e.g. a reach's start)
  vars/NAME            the trial variables, (B,) or (B, n); per-step values (B, T, n)
  sites/SITE/PARAM     every intervention's per-trial parameters
  metrics/NAME         the task's metrics per trial, (B,) (when the task's targets are known)
  time                 (T,) the time of each step, in the model's unit
and a JSON sidecar (same name, .json) lists every array with its shape, dtype and meaning,
and dt, the time unit, the parameters used and the trials' origin.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from rnnlang.dsl.errors import UsageError

from .api import is_model_file, open_model, open_run
from .interop import save_npz
from .plotdata import time_unit
from .rundir import atomic_write
from .tasks import draw_sites, train_batch
from .train import metric_signals


@dataclass
class Opened:
    """A model with one replicate's parameters, ready to run."""

    model: Any  # CompiledModel
    trainer: Any  # Trainer
    params: Any  # one replicate's parameters
    origin: str  # "final checkpoint of RUN (batch N)" or "initialization of FILE"
    run_path: Path | None
    replicate: int


def open_target(target: str | os.PathLike, overrides: Sequence[str] = (), replicate: int = 0,
                checkpoint: str | None = None) -> Opened:
    """A run directory (its trained parameters; `checkpoint` names another of its checkpoints:
    RunDir.checkpoint_named) or a model file (its initialization)."""
    if is_model_file(target):
        if checkpoint is not None:
            raise UsageError(f"{target}: a model file has no checkpoints; --checkpoint takes a run directory")
        run, model, trainer, state = open_model(target, overrides)
        origin = f"initialization of {target}"
    else:
        run, model, trainer, state = open_run(target, overrides, checkpoint)
        which = (f"checkpoint {checkpoint!r}" if checkpoint is not None
                 else "final checkpoint" if run.final.exists() else "last checkpoint")
        origin = f"{which} of {run.path} (batch {state.batch})"
    if not 0 <= replicate < trainer.replicates:
        raise UsageError(f"replicate {replicate} out of range: the model has {trainer.replicates}")
    params = jax.tree_util.tree_map(lambda x: x[replicate], state.params)
    return Opened(model, trainer, params, origin, run.path if run is not None else None, replicate)


# ---- trials ------------------------------------------------------------------------------------


def parse_grid(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """`--grid 'coherence=[0.1,0.5]'` texts as {variable: values}."""
    out: dict[str, np.ndarray] = {}
    for text in texts:
        name, sep, rest = text.partition("=")
        name, rest = name.strip(), rest.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"--grid {text!r}: write NAME=[v1, v2, ...]")
        body = rest[1:-1] if rest.startswith("[") and rest.endswith("]") else rest
        try:
            values = [float(v) for v in body.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--grid {text!r}: the values must be numbers, e.g. {name}=[0.1, 0.5]") from None
        if not values:
            raise UsageError(f"--grid {text!r}: give at least one value")
        out[name] = np.asarray(values, np.float32)
    return out


def grid_trials(o: Opened, grid: Mapping[str, np.ndarray], key: jax.Array) -> dict[str, Any]:
    """Every combination of the grid's values (first variable slowest), the other variables
    drawn (every task is written in the language, the standard library's too)."""
    task = o.model.task
    if task is None:
        raise UsageError("--grid sets the task's trial variables, but the model has no task; give --inputs x.npz")
    known = [v.name for v in task.spec.variables]
    for name in grid:
        if name not in known:
            raise UsageError(f"--grid: the task has no variable `{name}`; its variables: {', '.join(known)}")
    combos = list(itertools.product(*grid.values()))
    given = {name: jnp.asarray([c[i] for c in combos], jnp.float32) for i, name in enumerate(grid)}
    k_task, k_sites = jr.split(key)
    trial = dict(task.make(k_task, len(combos), given=given, overrides=dict(getattr(task, "fixed", {})) or None))
    trial["sites"] = draw_sites(o.model, k_sites, len(combos), "validate", variables=trial.get("vars"))
    return trial


def npz_trials(o: Opened, path: str | os.PathLike, key: jax.Array) -> dict[str, Any]:
    """The task's signal ports from a .npz (each (B, T, n), named by port; init ports as
    `init/PORT`, (B, n)); target and mask when given (then the metrics are computed)."""
    model = o.model
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a NumPy .npz file without objects ({e})") from None
    sizes = model.plan.out_sizes.get(model.task_name, {}) if model.task_name else {}
    needed = list(model.task_signal_ports)
    if not needed:
        raise UsageError(f"{path}: the model reads no task signal, so there is nothing to give it")
    signals, B = {}, None
    for port in list(dict.fromkeys(needed + [p for p in ("target", "mask") if p in arrays])):
        if port not in arrays:
            raise UsageError(f"{path}: has no array `{port}`; the model reads {', '.join(needed)} "
                             f"(each (batch, {model.steps}, n)); it holds {', '.join(sorted(arrays)) or 'nothing'}")
        a = arrays[port].astype(np.float32)
        n = sizes.get(port)
        if a.ndim != 3 or a.shape[1] != model.steps or (n is not None and a.shape[2] != n):
            raise UsageError(f"{path}: `{port}` has shape {a.shape}, expected (batch, {model.steps}, {n if n is not None else 'n'})")
        if B is not None and a.shape[0] != B:
            raise UsageError(f"{path}: `{port}` has {a.shape[0]} trials, the other arrays {B}")
        B = a.shape[0]
        signals[port] = jnp.asarray(a)
    init = {}
    for (node, port), srcs in model.plan.sources.items():
        for s in srcs:
            if s.node == model.task_name and model.plan.kinds[s.node].port(s.port).role != "signal":
                name = f"init/{s.port}"
                if name not in arrays:
                    raise UsageError(f"{path}: has no array `{name}` (the task's initial values, (batch, n))")
                init[s.port] = jnp.asarray(arrays[name], jnp.float32)
    trial = {"signals": signals, "init": init, "vars": {}}
    trial["sites"] = draw_sites(model, key, int(B), "validate")
    return trial


def make_trials(o: Opened, batch: int | None = None, grid: Mapping[str, np.ndarray] | None = None,
                inputs: str | os.PathLike | None = None, seed: int = 0) -> tuple[dict[str, Any], jax.Array, str]:
    """The trials to run, the key of their noise, and a description."""
    chosen = sum(x is not None and x != {} for x in (batch, grid or None, inputs))
    if chosen > 1:
        raise UsageError("give one of --batch, --grid and --inputs")
    tr = o.trainer
    key = jr.fold_in(tr.k_train, 10_000 + int(seed))
    if batch is not None:
        if batch < 1:
            raise UsageError("--batch must be at least 1")
        return train_batch(o.model, key, int(batch)), jr.fold_in(key, 1), f"a training batch of {batch} (seed {seed})"
    if grid:
        trial = grid_trials(o, grid, key)
        return trial, jr.fold_in(key, 1), "grid " + ", ".join(f"{k}={v.tolist()}" for k, v in grid.items())
    if inputs is not None:
        return npz_trials(o, inputs, key), jr.fold_in(key, 1), f"inputs from {inputs}"
    if tr.val_trial is None:
        raise UsageError("the model has no task, so no validation set: give --inputs")
    return tr.val_trial, tr.k_val, "the validation set"


# ---- running -------------------------------------------------------------------------------------


def state_arrays(node: str, tree: Any) -> dict[str, np.ndarray]:
    """A node's state trajectory as named arrays: NODE.state, or NODE.state.PART for a tuple
    or dict state (an lstm's (h, c) is NODE.state.0 and NODE.state.1)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    out = {}
    for path, leaf in leaves:
        parts = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
        out[".".join([f"{node}.state", *parts])] = np.asarray(leaf)
    return out


def rollout(o: Opened, trial: Mapping[str, Any], key: jax.Array) -> dict[str, np.ndarray]:
    """Run the trials: every node's output ports, states, and the task's metrics (named arrays)."""
    model = o.model
    record = model.all_signals()
    has_target = model.task is not None and "target" in trial.get("signals", {})

    def run(params, trial):
        sig = model.rollout(params, trial, key, record, states=True)
        return sig.pop("states"), sig

    def score(sig, trial):
        return model.task.metrics(metric_signals(model, sig), trial)

    jt = {k: trial.get(k, {}) for k in ("signals", "init", "sites", "vars", "windows")}
    states, sig = jax.jit(run)(o.params, jt)
    metrics = {}
    if has_target and model.metric_sources:
        try:
            metrics = jax.jit(score)(sig, jt)
        except KeyError:  # a rule that reads trial variables the given inputs do not have
            metrics = {}
    out = {k: np.asarray(v) for k, v in sig.items()}
    for node, tree in states.items():
        out.update(state_arrays(node, tree))
    out.update({f"metrics/{k}": np.asarray(v) for k, v in metrics.items()})
    return out


def describe(o: Opened, name: str) -> str:
    """What an array of the .npz holds, in words."""
    model = o.model
    head, _, rest = name.partition("/")
    if rest:
        return {"vars": "trial variable", "sites": "intervention parameter per trial", "metrics": "task metric per trial",
                "init": "the task's initial value per trial"}.get(head, head)
    if name == "time":
        return "time of each step (a step's outputs are taken after its update)"
    node, _, port = name.partition(".")
    if port.startswith("state"):
        kind = model.plan.kinds[node].name
        if kind == "ctrnn":
            return "ctrnn pre-activation state after each step (PsychRNN's `test` states); hidden = transfer(state)"
        return f"{kind} state after each step"
    kinds = model.plan.kinds
    if node in kinds:
        try:
            return kinds[node].port(port).doc or f"{kinds[node].name} port {port}"
        except Exception:
            return f"{kinds[node].name} port {port}"
    return name


def run_target(target: str | os.PathLike, out: str | os.PathLike | None = None, overrides: Sequence[str] = (),
               batch: int | None = None, grid: Mapping[str, np.ndarray] | None = None,
               inputs: str | os.PathLike | None = None, seed: int = 0, replicate: int = 0,
               checkpoint: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Run `target` on the chosen trials and write OUT (.npz) and its JSON sidecar; returns the
    .npz path and the sidecar's content."""
    o = open_target(target, overrides, replicate, checkpoint)
    trial, key, what = make_trials(o, batch, grid, inputs, seed)
    arrays = rollout(o, trial, key)
    model = o.model
    task = model.task_name or "task"
    for port, v in trial.get("signals", {}).items():
        arrays[f"{task}.{port}"] = np.asarray(v)
    for port, v in trial.get("init", {}).items():
        arrays[f"init/{port}"] = np.asarray(v)
    for name, v in trial.get("vars", {}).items():
        arrays[f"vars/{name}"] = np.asarray(v)
    for site, ps in trial.get("sites", {}).items():
        for p, v in ps.items():
            arrays[f"sites/{site}/{p}"] = np.asarray(v)
    arrays["time"] = np.arange(model.steps, dtype=np.float64) * float(model.dt)
    if out is None:
        out = (o.run_path / "run.npz") if o.run_path is not None else Path(f"{Path(target).stem}-init.npz")
    out = Path(out)
    if out.suffix != ".npz":
        raise UsageError(f"{out}: the output must be a .npz file")
    B = next((v.shape[0] for k, v in arrays.items() if k != "time"), 0)
    meta = {"model": model.name, "parameters": o.origin, "replicate": o.replicate, "trials": what, "batch": int(B),
            "steps": int(model.steps), "dt": float(model.dt), "time_unit": time_unit(model.dt),
            "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "meaning": describe(o, k)}
                       for k, v in sorted(arrays.items())}}
    save_npz(out, arrays)
    atomic_write(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return out, meta
