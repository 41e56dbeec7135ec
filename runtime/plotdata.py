"""The data behind the figures, gathered from a run as plain NumPy arrays and dicts.

`rnnlang.runtime.plots` draws; this module runs the trained model (replicate 0, or the one
chosen) on the validation set and collects what each figure needs, with the names the model
declares (channel names, each trial's condition, the sites acting on it), so a notebook can
gather once and draw many times:

    from rnnlang.runtime import plotdata, plots
    ctx = plotdata.RunContext.open("runs/reach")
    fig = plots.trajectory_figure(plotdata.reach_data(ctx), title=ctx.title)

Every dict returned here holds NumPy arrays (batch first: (B, T, n)) and a few strings and
numbers (`dt`, `time_unit`), never JAX arrays or model objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from rnnlang.dsl.errors import UsageError
from rnnlang.dsl.library.muscles import ARM26_MUSCLES, POINT_MASS_MUSCLES

from .rundir import RunDir

REACH_VARS = ("start", "goal")
ARM_KINDS = ("two_link_arm", "arm26")  # plants whose joints and segment lengths draw an arm
FORCE_LABELS = {"force": "force (N)", "torque": "torque (N m)", "excitation": "excitation"}
MUSCLE_NAMES = {"arm26": ARM26_MUSCLES, "muscle_point_mass": POINT_MASS_MUSCLES}


def time_unit(dt: float) -> str:
    """The unit of the model's time: PsychRNN-style models count milliseconds (dt = 10), Feedbax
    ones seconds (dt = 0.05). dt >= 1 is taken to be ms, otherwise s."""
    return "ms" if float(dt) >= 1 else "s"


def read_records(run: str | os.PathLike | RunDir) -> list[dict[str, Any]]:
    """The metrics.jsonl records of a run (train and validate)."""
    rd = run if isinstance(run, RunDir) else RunDir.open(run)
    return rd.read_metrics()


def conditions(trial: Mapping[str, Any]) -> dict[str, Any]:
    """What distinguishes the trials of a batch, for colouring: a dict with `values` (B,),
    `label`, `kind` ("cyclic" for angles in radians, "diverging" for signed evidence,
    "sequential" otherwise) and `vmax` (the largest |value|, so colours are the same in every
    figure of a run)."""
    v = {k: np.asarray(x) for k, x in trial.get("vars", {}).items()}
    B = _batch_of(trial)
    if "angle" in v and v["angle"].shape == (B,):
        label = "direction" if "goal" in v else "stimulus angle"
        values, kind = np.mod(v["angle"].astype(float), 2 * np.pi), "cyclic"
    elif "signed_coherence" in v:
        values, label, kind = v["signed_coherence"].astype(float), "signed coherence", "diverging"
    elif "f1" in v and "f2" in v:
        values, label, kind = (v["f1"] - v["f2"]).astype(float), "f1 − f2", "diverging"
    else:
        values, label, kind = np.arange(B, dtype=float), "trial", "sequential"
    vmax = float(np.max(np.abs(values))) if values.size else 1.0
    return {"values": values, "label": label, "kind": kind, "vmax": vmax or 1.0}


# ---- names the model declares ----------------------------------------------------------------

AXES = ("x", "y", "z")
PLANE_FIELDS = ("pos", "vel", "acc", "force")  # fields of 2 or 3 channels named by axis


def channel_names(fields: Mapping[str, tuple[int, int]], size: int) -> list[str]:
    """The name of each of a port's `size` channels, from its declared fields: a one-channel
    field by its name (`left`), a group by name and index (`cue[2]` gives `cue[0]`, `cue[1]`),
    a position, velocity, acceleration or force by axis (`pos x`, `pos y`); a channel no field
    covers by its index (`channel 3`)."""
    names = [f"channel {i}" for i in range(size)]
    for name, (lo, hi) in fields.items():
        n = hi - lo
        for i in range(max(0, min(n, size - lo))):
            if n == 1:
                names[lo + i] = name
            elif name in PLANE_FIELDS and n <= len(AXES):
                names[lo + i] = f"{name} {AXES[i]}"
            else:
                names[lo + i] = f"{name}[{i}]"
    return names


def _short(value: Any) -> str:
    """A trial variable's value in a few characters: 3, 0.3, -1.2e+03, [0.1, 0.5]."""
    a = np.asarray(value)
    if a.ndim:
        return "[" + ", ".join(_short(x) for x in a.reshape(-1)) + "]"
    x = float(a)
    return str(int(x)) if x.is_integer() and abs(x) < 1e6 else f"{x:.3g}"


def condition_variables(model: Any) -> list[str]:
    """The trial variables that define a trial's condition: the validation grid's when the task
    has one, else the ones drawn from a distribution (not those computed from others)."""
    spec = getattr(model.task, "spec", None) if getattr(model, "task", None) is not None else None
    if spec is None:
        return []
    if getattr(spec, "grid", None):
        return list(spec.grid)
    return [v.name for v in getattr(spec, "variables", ()) if getattr(v, "dist", None) is not None]


def condition_texts(names: Sequence[str], trial: Mapping[str, Any]) -> list[str]:
    """Each trial's condition in short form, `coherence=0.3 direction=1`: the variables `names`
    (see `condition_variables`) the trial holds, leaving out those with one value over the whole
    batch when others vary (a grid's single centre)."""
    vars_ = {k: np.asarray(v) for k, v in trial.get("vars", {}).items()}
    B = _batch_of(trial)
    present = [n for n in names if n in vars_ and vars_[n].ndim >= 1 and vars_[n].shape[0] == B]
    varying = [n for n in present if B > 1 and not np.all(vars_[n] == vars_[n][:1])]
    shown = varying or present
    return [" ".join(f"{n}={_short(vars_[n][b])}" for n in shown) for b in range(B)]


def _per_trial(value: Any, batch: int) -> np.ndarray:
    """A site parameter as one number per trial (its first element where it is a vector)."""
    a = np.asarray(value, float)
    if a.ndim and a.shape[0] == batch:
        return a.reshape(batch, -1)[:, 0]
    return np.full((batch,), float(a.reshape(-1)[0]) if a.size else 0.0)


def perturbations(trial: Mapping[str, Any], sites: Sequence[str]) -> list[tuple[str, ...]]:
    """For each trial, the intervention sites (of `sites`, in that order) acting on it: its
    `active` on and its `scale`, when it has one, not zero."""
    B = _batch_of(trial)
    on = []
    for name in sites:
        p = trial.get("sites", {}).get(name)
        if p is None:
            continue
        acting = _per_trial(p.get("active", 1.0), B) > 0.5
        if "scale" in p:
            acting &= _per_trial(p["scale"], B) != 0
        on.append((name, acting))
    return [tuple(name for name, acting in on if acting[b]) for b in range(B)]


def replicate_data(records: Sequence[Mapping[str, Any]], declared: int | None = None) -> dict[str, Any]:
    """Each replicate's validation history from metrics.jsonl records: batch (n,), loss (n, R),
    metrics {name: (n, R)} (every task metric but `choice`), stage (n,), and replicates R (the
    run's declared count when given, else as many as the records hold; NaN where a record lacks
    a replicate's value)."""
    val = [r for r in records if r.get("phase") == "validate"]
    R = declared or max((len(r["replicates"]["loss"]) for r in val if r.get("replicates")), default=1)

    def row(r: Mapping[str, Any], group: str | None, name: str | None) -> np.ndarray:
        reps = r.get("replicates") or {}
        if group is None:
            values = reps.get("loss", [r.get("loss", np.nan)])
        else:
            values = reps.get(group, {}).get(name) or [r.get(group, {}).get(name, np.nan)]
        x = np.full((R,), np.nan)
        v = np.asarray(values, float).reshape(-1)[:R]
        x[: len(v)] = v
        return x

    names = list(dict.fromkeys(k for r in val for k in r.get("metrics", {}) if k != "choice"))
    shape = (len(val), R)
    return {
        "batch": np.asarray([r["batch"] for r in val], float),
        "stage": np.asarray([r.get("stage", 0) for r in val], int),
        "loss": np.array([row(r, None, None) for r in val]).reshape(shape),
        "metrics": {m: np.array([row(r, "metrics", m) for r in val]).reshape(shape) for m in names},
        "replicates": R,
    }


def _batch_of(trial: Mapping[str, Any]) -> int:
    for group in ("signals", "init", "vars"):
        for x in trial.get(group, {}).values():
            return int(np.shape(x)[0])
    return 0


def check_replicate(replicate: int, n: int) -> None:
    """A UsageError unless 0 <= replicate < n (the run's replicates)."""
    if not 0 <= replicate < n:
        which = "replicate 0" if n == 1 else f"replicates 0 to {n - 1}"
        raise UsageError(f"replicate {replicate} out of range: the run has {n} ({which})")


def _np(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _np(v) for k, v in tree.items()}
    return np.asarray(tree)


@dataclass
class RunContext:
    """A run opened for plotting: the compiled model, its trainer (for the validation batch and
    key) and replicate 0's parameters. Rollouts are jitted once and cached."""

    run: RunDir
    model: Any  # CompiledModel
    trainer: Any  # Trainer
    state: Any  # TrainState
    replicate: int = 0
    _fn: Callable | None = field(default=None, repr=False)
    _record: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def open(cls, run_path: str | os.PathLike, replicate: int = 0, overrides: Sequence[str] = (),
             checkpoint: str | None = None) -> "RunContext":
        from .api import open_run

        rd = RunDir.open(run_path)
        if checkpoint is None and not rd.final.exists() and not rd.last_checkpoint.exists():  # before compiling anything
            raise UsageError(f"{rd.path}: has no checkpoint yet")
        run, model, trainer, state = open_run(run_path, overrides, checkpoint)
        check_replicate(replicate, trainer.replicates)
        return cls(run, model, trainer, state, replicate)

    @classmethod
    def from_result(cls, result: Any, replicate: int = 0) -> "RunContext":
        """From what `rnnlang.train` returns (a TrainResult), without reopening the run."""
        return cls(result.run, result.model, result.trainer, result.state, replicate)

    # ---- descriptions --------------------------------------------------------------------
    @property
    def cm(self) -> Any:
        return self.model.cm

    @property
    def dt(self) -> float:
        return float(self.model.dt)

    @property
    def n_replicates(self) -> int:
        return int(self.trainer.replicates)

    @property
    def title(self) -> str:
        return f"{self.model.name} — {self.run.path.resolve().name}"

    @property
    def replicate_note(self) -> str:
        return f"replicate {self.replicate}" + (f" of {self.n_replicates}" if self.n_replicates > 1 else "")

    def kind_of(self, node: str) -> Any:
        return self.model.plan.kinds[node]

    def family(self, node: str) -> str:
        return self.kind_of(node).family

    @property
    def task_kind(self) -> str | None:
        return self.cm.nodes[self.model.task_name].kind if self.model.task_name else None

    def networks(self) -> list[str]:
        """Network nodes with a `hidden` port, in declaration order."""
        return [n for n in self.model.node_names if self.family(n) == "network"
                and any(p.name == "hidden" for p in self.kind_of(n).outputs)]

    def plant(self) -> str | None:
        """The plant whose effector the task watches (else the first node of a kind with the role
        "plant")."""
        for s in self.model.metric_sources.get("effector", []):
            if self.kind_of(s.node).has_role("plant"):
                return s.node
        return next((n for n in self.model.node_names if self.kind_of(n).has_role("plant")), None)

    def is_reach(self) -> bool:
        vars_ = self.trainer.val_trial.get("vars", {}) if self.trainer.val_trial is not None else {}
        return self.plant() is not None and all(k in vars_ for k in REACH_VARS)

    def is_cognitive(self) -> bool:
        t = self.trainer.val_trial
        return (t is not None and "response" in self.model.metric_sources
                and "target" in t.get("signals", {}) and not self.is_reach())

    def force_port(self) -> str | None:
        """The plant's input port that carries the controller's command: force, else torque."""
        plant = self.plant()
        if plant is None:
            return None
        for port in ("force", "torque", "excitation"):
            if self.model.plan.sources.get((plant, port)):
                return port
        return None

    def channel_names(self, node: str, port: str, size: int) -> list[str]:
        """The declared names of a port's channels (see `channel_names`)."""
        p = self.kind_of(node).port(port)
        return channel_names(p.fields if p is not None else {}, size)

    def conditions_of(self, trial: Mapping[str, Any]) -> list[str]:
        """Each trial's condition in short form (see `condition_texts`)."""
        return condition_texts(condition_variables(self.model), trial)

    def perturbations(self, trial: Mapping[str, Any]) -> list[tuple[str, ...]]:
        """Each trial's sites acting on it (see `perturbations`)."""
        return perturbations(trial, list(self.cm.sites))

    # ---- running the model -----------------------------------------------------------------
    def params(self) -> Any:
        import jax

        return jax.tree_util.tree_map(lambda x: x[self.replicate], self.state.params)

    def record_list(self) -> tuple[str, ...]:
        """Every signal any figure reads, so one compiled rollout serves them all."""
        rec: list[str] = []
        plant = self.plant()
        if plant is not None:
            outs = {p.name for p in self.kind_of(plant).outputs}
            rec += [f"{plant}.{p}" for p in ("effector", "joints", "activations", "muscle_forces") if p in outs]
            port = self.force_port()
            if port:
                rec += [f"{s.node}.{s.port}" for s in self.model.plan.sources[(plant, port)] if s.node != self.model.task_name]
        rec += [f"{n}.hidden" for n in self.networks()]
        for srcs in self.model.metric_sources.values():
            rec += [f"{s.node}.{s.port}" for s in srcs if s.node != self.model.task_name]
        return tuple(dict.fromkeys(rec))

    def rollout(self, trial: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run replicate 0 (or the chosen one) on a trial batch with the validation key:
        {signal: (B, T, n)} as NumPy, plus the task's metrics under "metrics"."""
        import jax

        from .train import metric_signals

        if self._fn is None:
            model, record, key = self.model, self.record_list(), self.trainer.k_val
            self._record = record

            def run(params, trial):
                sig = model.rollout(params, trial, key, record)
                metrics = model.task.metrics(metric_signals(model, sig), trial) if model.task and model.metric_sources else {}
                return sig, metrics

            self._fn = jax.jit(run)
        sig, metrics = self._fn(self.params(), _jax_trial(trial))
        out = _np(sig)
        out["metrics"] = _np(metrics)
        return out

    def validation_trial(self) -> dict[str, Any]:
        return _np_trial(self.trainer.val_trial)

    def extra_validation_trials(self, n_sets: int) -> list[dict[str, Any]]:
        """The validation set redrawn with other keys (other timings and noise), for estimates
        that need more trials than one validation batch (the psychometric curve)."""
        import jax.random as jr

        from .tasks import validation_batch

        return [_np_trial(validation_batch(self.model, jr.fold_in(self.trainer.k_val, 1000 + i))) for i in range(n_sets)]


def _np_trial(trial: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _np(v) for k, v in trial.items()}


def _jax_trial(trial: Mapping[str, Any]) -> dict[str, Any]:
    import jax.numpy as jnp

    keep = ("signals", "init", "sites", "vars", "windows")
    conv = lambda t: {k: conv(v) for k, v in t.items()} if isinstance(t, Mapping) else jnp.asarray(t)  # noqa: E731
    return {k: conv(trial.get(k, {})) for k in keep}


# ---- per-figure data ----------------------------------------------------------------------------


def reach_data(ctx: RunContext, trial: Mapping[str, Any] | None = None, out: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Effector paths of replicate 0 on the (validation) trial batch.

    pos, vel: (B, T + 1, 2), the start state first; force: (B, T, 2) the plant's command input;
    start, goal: (B, 2); cond: see `conditions`; joints: (B, T, 4) and lengths (2,) for a
    two-link arm, else None; final_error: (B,) |p_T - goal|; effector_names: the effector's
    declared channel names (`pos x`, `pos y`, `vel x`, `vel y`); conditions: each trial's
    condition in short form; perturbed_by: each trial's sites acting on it; sites: every site."""
    trial = ctx.validation_trial() if trial is None else trial
    out = ctx.rollout(trial) if out is None else out
    plant = ctx.plant()
    eff = out[f"{plant}.effector"]
    start_state = np.asarray(trial.get("init", {}).get("start", np.zeros((eff.shape[0], 4))))
    if start_state.shape[-1] < 4:
        start_state = np.concatenate([start_state, np.zeros_like(start_state)], axis=-1)
    path = np.concatenate([start_state[:, None, :4], eff], axis=1)
    port = ctx.force_port()
    if port:
        parts = [out[f"{s.node}.{s.port}"][..., s.lo:s.hi] for s in ctx.model.plan.sources[(plant, port)]
                 if s.node != ctx.model.task_name]
        force = sum(parts[1:], parts[0]) if parts else np.zeros(eff.shape[:2] + (2,))
    else:
        force = np.zeros(eff.shape[:2] + (2,))
    v = trial["vars"]
    kind = ctx.cm.nodes[plant].kind
    joints = out.get(f"{plant}.joints")
    arm = kind in ARM_KINDS
    lengths = np.asarray(ctx.kind_of(plant).value(ctx.cm.nodes[plant].params, "lengths"), float).reshape(-1) if arm else None
    goal = np.asarray(v["goal"], float)
    return {
        "dt": ctx.dt, "time_unit": time_unit(ctx.dt),
        "pos": path[..., 0:2], "vel": path[..., 2:4], "force": np.asarray(force),
        "start": np.asarray(v["start"], float), "goal": goal,
        "cond": conditions(trial),
        "plant": kind, "force_label": FORCE_LABELS.get(port or "force", "force (N)"),
        "space_unit": "m",
        "joints": joints if arm else None, "lengths": lengths,
        "final_error": np.linalg.norm(eff[:, -1, 0:2] - goal, axis=-1),
        "move_onset": np.asarray(v["move_onset"]) if "move_onset" in v else None,
        "effector_names": ctx.channel_names(plant, "effector", int(eff.shape[-1])),
        "conditions": ctx.conditions_of(trial), "perturbed_by": ctx.perturbations(trial), "sites": list(ctx.cm.sites),
    }


def muscle_data(ctx: RunContext, trial: Mapping[str, Any] | None = None, out: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A muscle-driven plant on the validation set: activations and forces (B, T, n muscles),
    joints (B, T, 4) or None, the muscles' names, cond and each trial's condition."""
    trial = ctx.validation_trial() if trial is None else trial
    out = ctx.rollout(trial) if out is None else out
    plant = ctx.plant()
    kind = ctx.cm.nodes[plant].kind
    n = int(out[f"{plant}.activations"].shape[-1])
    return {"dt": ctx.dt, "time_unit": time_unit(ctx.dt), "plant": plant, "kind": kind,
            "activations": out[f"{plant}.activations"], "forces": out.get(f"{plant}.muscle_forces"),
            "joints": out.get(f"{plant}.joints"), "muscles": list(MUSCLE_NAMES.get(kind, [f"muscle {i}" for i in range(n)])),
            "cond": conditions(trial), "conditions": ctx.conditions_of(trial)}


def activity_data(ctx: RunContext, node: str | None = None, trial: Mapping[str, Any] | None = None,
                  out: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Hidden activity of a network node on the validation set: hidden (B, T, N), cond, and
    each trial's condition in short form (conditions)."""
    node = node or ctx.networks()[0]
    trial = ctx.validation_trial() if trial is None else trial
    out = ctx.rollout(trial) if out is None else out
    transfer = str(ctx.cm.nodes[node].params.get("transfer", ""))
    return {"dt": ctx.dt, "time_unit": time_unit(ctx.dt), "node": node, "kind": ctx.cm.nodes[node].kind,
            "transfer": transfer, "hidden": out[f"{node}.hidden"], "cond": conditions(trial),
            "conditions": ctx.conditions_of(trial)}


def cognitive_data(ctx: RunContext, trials: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Inputs, target, mask and the network's response (all (B, T, n)), the task's metrics
    `correct` and `choice` per trial, the condition, and for discrimination tasks the signed
    stimulus `x` and its label, plus `group` (the unsigned condition) for accuracy by condition;
    the declared channel names (input_names, output_names), each trial's condition in short
    form (conditions) and the sites acting on it (perturbed_by). Several trial batches are
    concatenated."""
    trials = [ctx.validation_trial()] if trials is None else list(trials)
    parts = []
    for trial in trials:
        out = ctx.rollout(trial)
        srcs = ctx.model.metric_sources["response"]
        resp = np.concatenate([out[f"{s.node}.{s.port}"][..., s.lo:s.hi] for s in srcs], axis=-1)
        parts.append((trial, out, resp))
    cat = lambda xs: np.concatenate([np.asarray(x) for x in xs], axis=0)  # noqa: E731
    sig = {k: cat([t["signals"][k] for t, _, _ in parts]) for k in parts[0][0]["signals"]}
    vars_ = {k: cat([t["vars"][k] for t, _, _ in parts]) for k in parts[0][0]["vars"]
             if all(np.ndim(t["vars"][k]) >= 1 for t, _, _ in parts)}
    merged = {"signals": sig, "vars": vars_}
    metrics = {k: cat([o["metrics"][k] for _, o, _ in parts]) for k in parts[0][1]["metrics"]}
    task = ctx.model.task_name
    outputs = ctx.channel_names(task, "target", int(sig["target"].shape[-1]))
    data: dict[str, Any] = {
        "dt": ctx.dt, "time_unit": time_unit(ctx.dt),
        "input": sig.get("input"), "target": sig["target"], "mask": sig.get("mask"),
        "output": cat([r for _, _, r in parts]),
        "correct": metrics.get("correct"), "choice": metrics.get("choice"),
        "cond": conditions(merged), "task": ctx.task_kind,
        "x": None, "x_label": None, "group": None, "group_label": None,
        "input_names": ctx.channel_names(task, "input", int(sig["input"].shape[-1])) if "input" in sig else [],
        "output_names": outputs,
        "conditions": [c for t, _, _ in parts for c in ctx.conditions_of(t)],
        "perturbed_by": [p for t, _, _ in parts for p in ctx.perturbations(t)],
    }
    if "signed_coherence" in vars_:
        data.update(x=vars_["signed_coherence"].astype(float), x_label=f"signed coherence (+: {outputs[0]})",
                    group=np.abs(vars_["coherence"]).astype(float), group_label="coherence")
    elif "f1" in vars_ and "f2" in vars_:
        data.update(x=(vars_["f1"] - vars_["f2"]).astype(float), x_label=f"f1 − f2 (Hz; +: {outputs[0]})",
                    group=((vars_["f1"] + vars_["f2"]) / 2).astype(float), group_label="pair's mean frequency (Hz)")
    return data


def intervention_data(ctx: RunContext) -> list[dict[str, Any]]:
    """For each site: the validation batch with its `active` forced to 0 and to 1 (the other
    sites as the validation schedule has them). Each entry: site, kind, target, values (the
    site's other per-trial values, when constant), and `off` / `on` holding `reach_data` for a
    reach task or `cognitive_data` otherwise."""
    base = ctx.validation_trial()
    reach = ctx.is_reach()
    out = []
    for name, site in ctx.cm.sites.items():
        entry: dict[str, Any] = {"site": name, "kind": site.kind, "target": f"{site.node}.{site.site}",
                                 "values": {}}
        for k, v in base.get("sites", {}).get(name, {}).items():
            a = np.asarray(v)
            if k != "active" and a.size and np.all(a == a[:1]):
                entry["values"][k] = a[0].tolist()
        for label, value in (("off", 0.0), ("on", 1.0)):
            trial = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in base.items()}
            trial["sites"] = {k: dict(v) for k, v in base.get("sites", {}).items()}
            B = _batch_of(base)
            trial["sites"].setdefault(name, {})["active"] = np.full((B,), value, np.float32)
            entry[label] = reach_data(ctx, trial) if reach else cognitive_data(ctx, [trial])
        out.append(entry)
    return out
