"""`rnn sweep`: train every point of a sweep, each into its own run directory, then a summary.

The axes come from the file's `sweep { ... }` block (dsl/sweeps.py) and from `--grid KEY=VALUES`
(the same syntax: `--grid 'model.seed=0:8' --grid 'train.optimizer.learning_rate=[1e-3,3e-3]'`;
an axis given on the command line replaces the file's axis of the same key). A point is one
combination of the axes' values, applied as `--set` overrides after the sweep's own `--set`s.

Points that differ only in their seed (`model.seed`, `train.seed`) and in number arguments of the
optimizer (`train.optimizer.learning_rate`, ...) form one *group*, trained as ONE compiled program
along the replicate axis (train.Pack: each point's replicates have their own keys and their own
optimizer arguments; on several devices the replicates are split over them). Any other axis
(a size, a noise level, a loss weight, ...) makes separate programs: one group per value, run one
after another, in `--jobs N` processes, or as a SLURM job array (`--slurm`). A point whose loss
becomes NaN stops alone; the others of its group train on.

The sweep directory holds sweep.json (the file, the axes, the points and groups), points/<name>/
(each a run directory that `rnn eval`, `rnn plot`, `rnn run`, `rnn train --resume` take), and at
the end summary.csv, summary.md and sweep.png (each metric against each axis, replicates as error
bars). Running the same sweep again (or `rnn sweep --resume DIR`) skips finished points and
continues the others from their last checkpoints."""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rnnlang.dsl import ast as A
from rnnlang.dsl.errors import Diagnostic, ModelError, UsageError
from rnnlang.dsl.parser import parse, read_source
from rnnlang.dsl.sweeps import axis_diagnostics, axis_values

from .overrides import SET_FILE, set_source, shift_spans
from .rundir import atomic_write

GRID_FILE = "--grid"
SEED_KEYS = ("model.seed", "train.seed")
OPTIMIZER_PREFIX = "train.optimizer."


# ---- axes and points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    key: str  # a --set key
    values: tuple[str, ...]  # each value as --set text
    spans: tuple[A.Span, ...]  # where each value is written (the file or --grid)


@dataclass
class Point:
    index: int
    values: dict[str, str]  # axis key -> value text
    overrides: list[str]  # the sweep's --set texts, then this point's axes
    name: str = ""
    group: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            parts = "-".join(f"{k.split('.')[-1]}={_safe(v)}" for k, v in self.values.items())
            self.name = f"p{self.index:03d}" + (f"-{parts}" if parts else "")


def _safe(text: str) -> str:
    """A value as part of a directory name."""
    keep = "".join(c if c.isalnum() or c in ".-+_" else "_" for c in text.replace(" ", ""))
    return keep[:40]


def file_axes(mf: A.ModelFile) -> list[Axis]:
    """The axes of the file's sweep block (its shape is checked with the model)."""
    if not mf.sweeps:
        return []
    return [Axis(a.dotted, *map(tuple, zip(*axis_values(a, mf.source)))) for a in mf.sweeps[0].axes]


def grid_axes(texts: Sequence[str], heads: Sequence[str]) -> list[Axis]:
    """`--grid KEY=VALUES` texts as axes: parsed as a sweep block's axes, one per line of a
    virtual file named --grid, so that a mistake is shown under the text with a caret."""
    prefix = "sweep { "
    parsed = []
    for i, text in enumerate(texts):
        if "=" not in text:
            raise UsageError(f"--grid {text}: expected KEY=VALUES, e.g. --grid 'model.seed=0:8' "
                             "or --grid 'train.optimizer.learning_rate=[1e-3,3e-3]'")
        try:
            mf = parse(f"{prefix}{text} }}", GRID_FILE)
        except ModelError as e:
            d = e.diagnostics[0]
            span = shift_spans(d.span, len(prefix), i + 1, GRID_FILE) if d.span else None
            raise ModelError([dataclasses.replace(d, span=span)], "\n".join(texts)) from None
        if not mf.sweeps or len(mf.sweeps[0].axes) != 1 or mf.nodes or mf.models:
            raise UsageError(f"--grid {text}: expected one KEY=VALUES")
        parsed.append(shift_spans(mf.sweeps[0].axes[0], len(prefix), i + 1, GRID_FILE))
    source = "\n".join(texts)
    diags = axis_diagnostics(parsed, heads)
    if diags:
        raise ModelError(diags, source)
    return [Axis(a.dotted, *map(tuple, zip(*axis_values(a, source)))) for a in parsed]


def make_points(axes: Sequence[Axis], overrides: Sequence[str]) -> list[Point]:
    """Every combination of the axes' values, the first axis slowest."""
    combos = itertools.product(*(a.values for a in axes)) if axes else [()]
    return [Point(i, dict(zip([a.key for a in axes], c)), list(overrides) + [f"{a.key}={v}" for a, v in zip(axes, c)])
            for i, c in enumerate(combos)]


def check_values(path: str, text: str, axes: Sequence[Axis], overrides: Sequence[str], grid: Sequence[str]) -> None:
    """Check the model under each value of each axis; a value its setting refuses is reported at
    the value (in the file's sweep block or the --grid text), with the setting's message."""
    from .api import load

    sources = {SET_FILE: set_source(list(overrides)), GRID_FILE: "\n".join(grid)}
    diags: list[Diagnostic] = []
    for axis in axes:
        for value, span in zip(axis.values, axis.spans):
            try:
                load(path, list(overrides) + [f"{axis.key}={value}"], source=text)
            except ModelError as e:
                line = len(overrides) + 1
                for d in e.errors:
                    if d.span is not None and d.span.file == SET_FILE and d.span.line == line:
                        d = dataclasses.replace(d, message=f"`{axis.key} = {value}`: {d.message}", span=span)
                    diags.append(d)
                break  # one refused value per axis is enough to show what is wrong
    if diags:
        unique = list({(str(d.span), d.message): d for d in diags}.values())
        raise ModelError(unique, text, sources)


# ---- groups ------------------------------------------------------------------------------------


def packed_keys(key: str) -> bool:
    """Whether an axis keeps the compiled program: a seed, or an argument of the optimizer."""
    return key in SEED_KEYS or (key.startswith(OPTIMIZER_PREFIX) and key.count(".") == 2)


def group_points(path: str, text: str, points: list[Point], pack: bool = True) -> list[list[int]]:
    """Points into groups trained as one program: equal in everything but their seeds and the
    optimizer's number arguments (and a model whose runs decide per run, by a curriculum or a
    stopping rule, packs nothing). Sets each point's `group`."""
    from .api import load, resolved_settings
    from .train import packable

    groups: dict[str, list[int]] = {}
    for p in points:
        cm, _ = load(path, p.overrides, source=text)
        settings = resolved_settings(cm)
        settings["model"].pop("seed", None)
        settings["train"].pop("seed", None)
        hyper = _hyper_keys(p)
        opt = settings["train"].get("optimizer")
        numbers = isinstance(opt, dict) and all(isinstance(opt["kwargs"].get(k), (int, float)) for k in hyper)
        if isinstance(opt, dict) and numbers:
            opt["kwargs"] = {k: v for k, v in opt["kwargs"].items() if k not in hyper}
        together = pack and numbers and packable(cm) is None
        key = json.dumps([settings, sorted(hyper)], sort_keys=True, default=str) if together else f"alone {p.index}"
        groups.setdefault(key, []).append(p.index)
    out = list(groups.values())
    for g, members in enumerate(out):
        for i in members:
            points[i].group = g
    return out


def _hyper_keys(p: Point) -> list[str]:
    return [k[len(OPTIMIZER_PREFIX):] for k in p.values if k.startswith(OPTIMIZER_PREFIX) and packed_keys(k)]


# ---- the sweep directory -----------------------------------------------------------------------


@dataclass
class Sweep:
    path: Path  # the sweep directory
    file: str  # the model file
    source: str  # its text when the sweep began
    overrides: list[str]
    grid: list[str]
    axes: list[Axis]
    points: list[Point]
    groups: list[list[int]]
    metric: str | None = None
    packed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def record(self) -> Path:
        return self.path / "sweep.json"

    def point_dir(self, p: Point) -> Path:
        return self.path / "points" / p.name

    def to_json(self) -> dict[str, Any]:
        return {"file": str(Path(self.file).resolve()), "overrides": self.overrides, "grid": self.grid,
                "pack": self.packed, "axes": [{"key": a.key, "values": list(a.values)} for a in self.axes],
                "points": [{"name": p.name, "values": p.values, "overrides": p.overrides, "group": p.group}
                           for p in self.points],
                "groups": self.groups}


def plan(file: str, grid: Sequence[str] = (), overrides: Sequence[str] = (), out: str | None = None,
         pack: bool = True) -> Sweep:
    """Read the axes, check every value, make the points and group them (nothing is written)."""
    from .api import load

    text = read_source(file)
    mf = parse(text, str(file))
    cm, _ = load(file, list(overrides), source=text)  # the model itself, and the sweep block's shape
    heads = ["train", "model"] + [n.name for n in mf.nodes] + [s.name for s in mf.sites]
    from_grid = grid_axes(list(grid), heads)
    given = {a.key for a in from_grid}
    axes = [a for a in file_axes(mf) if a.key not in given] + from_grid
    check_values(str(file), text, axes, overrides, grid)
    points = make_points(axes, overrides)
    groups = group_points(str(file), text, points, pack)
    if out is None:
        out = str(Path("sweeps") / f"{cm.name}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    return Sweep(Path(out), str(file), text, list(overrides), list(grid), axes, points, groups, packed=pack)


def save_plan(sweep: Sweep) -> None:
    """Write sweep.json; a directory that holds another sweep is refused (its points would mix)."""
    if sweep.record.exists():
        old = json.loads(sweep.record.read_text())
        if [p["overrides"] for p in old.get("points", [])] != [p.overrides for p in sweep.points]:
            raise UsageError(f"{sweep.path}: holds another sweep (other points); choose another --out")
        return
    if sweep.path.exists() and any(sweep.path.iterdir()):
        raise UsageError(f"{sweep.path}: exists and is not a sweep directory; choose another --out")
    sweep.path.mkdir(parents=True, exist_ok=True)
    atomic_write(sweep.record, json.dumps(sweep.to_json(), indent=2) + "\n")


def open_sweep(path: str | os.PathLike) -> Sweep:
    """A sweep directory as its sweep.json describes it (to resume it or to run one group)."""
    record = Path(path) / "sweep.json"
    try:
        data = json.loads(record.read_text())
        file = data["file"]
        points = [Point(i, dict(p["values"]), list(p["overrides"]), p["name"], int(p["group"]))
                  for i, p in enumerate(data["points"])]
        axes = [Axis(a["key"], tuple(a["values"]), ()) for a in data["axes"]]
        groups = [list(map(int, g)) for g in data["groups"]]
    except FileNotFoundError:
        raise UsageError(f"{path}: not a sweep directory (no sweep.json)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{record}: damaged ({e})") from None
    text = read_source(file)
    return Sweep(Path(path), file, text, list(data.get("overrides", [])), list(data.get("grid", [])), axes, points,
                 groups, packed=bool(data.get("pack", True)))


def finished(sweep: Sweep, p: Point) -> bool:
    return (sweep.point_dir(p) / "final.safetensors").exists()


# ---- training ----------------------------------------------------------------------------------


def run_group(sweep: Sweep, g: int, say: Callable[[str], None] = lambda s: None) -> dict[int, str]:
    """Train the unfinished points of group `g`; returns {point: why it stopped early} for the
    points that did not reach their last batch (NaN or inf)."""
    todo = [sweep.points[i] for i in sweep.groups[g] if not finished(sweep, sweep.points[i])]
    if not todo:
        return {}
    if len(todo) == 1 or not sweep.packed or len(sweep.groups[g]) == 1:
        out = {}
        for p in todo:
            why = _train_alone(sweep, p, say)
            if why:
                out[p.index] = why
        return out
    return _train_packed(sweep, todo, say)


def _train_alone(sweep: Sweep, p: Point, say: Callable[[str], None]) -> str | None:
    """One point as `rnn train` would train it (continuing its run when it has a checkpoint)."""
    from .api import train
    from .train import TrainingStopped

    d = sweep.point_dir(p)
    resume = None
    if (d / "settings.json").exists():
        if (d / "checkpoints" / "last.safetensors").exists():
            resume = d
        else:
            _restart(d)
    say(f"{p.name}: {'continuing' if resume else 'training'}")
    try:
        if resume is not None:
            train(resume=str(d))
        else:
            d.parent.mkdir(parents=True, exist_ok=True)
            train(sweep.file, p.overrides, out=str(d))
    except TrainingStopped as e:
        return str(e)
    return None


def _train_packed(sweep: Sweep, todo: list[Point], say: Callable[[str], None]) -> dict[int, str]:
    """Several points as one program (train.Pack), each written into its own run directory."""
    from rnnlang.compiler.lower import compile_model

    from . import checkpoint as ckpt
    from .api import interrupts_deferred, load, load_state, resolved_settings, save_state
    from .rundir import RunDir
    from .train import Pack, Trainer, TrainingInterrupted

    cms = [load(sweep.file, p.overrides, source=sweep.source)[0] for p in todo]
    seeds = tuple(int(cm.train["seed"]) for cm in cms)
    hyper = {k: tuple(float(cm.train["optimizer"]["kwargs"][k]) for cm in cms) for k in _hyper_keys(todo[0])}
    cm0, graph = load(sweep.file, todo[0].overrides, source=sweep.source)
    trainer = Trainer(compile_model(cm0, graph), Pack(seeds, hyper))
    fps = [ckpt.fingerprint(cm) for cm in cms]
    runs: list[RunDir] = []
    # continue only when every point has a checkpoint of the same batch (they are written together)
    state = None
    lasts = [sweep.point_dir(p) / "checkpoints" / "last.safetensors" for p in todo]
    try:
        if all(x.exists() for x in lasts):
            alone = Trainer(compile_model(cm0, graph))  # the points' shapes are all the same: one template
            states = [load_state(last, alone, fp) for last, fp in zip(lasts, fps)]
            if len({s.batch for s in states}) == 1:
                runs = [RunDir.open(sweep.point_dir(p)).open_for_writing() for p in todo]
                state = join_states(trainer, states)
                for r in runs:
                    r.mark_resume(state.batch)
        if state is None:
            for p in todo:
                d = sweep.point_dir(p)
                if d.exists():
                    _restart(d)
            state = trainer.init_state()
            for p, cm in zip(todo, cms):
                sweep.point_dir(p).parent.mkdir(parents=True, exist_ok=True)
                runs.append(RunDir.create(cm.name, sweep.file, sweep.source, p.overrides, resolved_settings(cm),
                                          str(sweep.point_dir(p))))
            for k, (run, fp) in enumerate(zip(runs, fps)):
                save_state(run.init, split_state(trainer, state, k), fp)
        say(f"group of {len(todo)} points as one program ({trainer.replicates} replicates): "
            + ", ".join(p.name for p in todo))
        logger = PackLogger(runs, trainer, fps)
        with interrupts_deferred() as asked:
            logger.asked = asked
            try:
                state = trainer.run(state, logger)
            except TrainingInterrupted as e:
                logger.checkpoint(e.state)
                raise
        for k, (run, fp) in enumerate(zip(runs, fps)):
            if k in trainer.diverged:
                continue
            own = split_state(trainer, state, k)
            if k in trainer.stopped_points:  # its state since it met its stopping rule
                own.batch, own.done = trainer.stopped_points[k][0], True
                say(f"{todo[k].name}: stopped at batch {own.batch}: {trainer.stopped_points[k][1]}")
            save_state(run.final, own, fp)
    finally:
        for r in runs:
            r.close()
    return {todo[k].index: f"the loss became NaN or infinite at batch {b}; its last checkpoint before is kept"
            for k, b in trainer.diverged.items()}


def _restart(d: Path) -> None:
    """Remove a point's run directory begun but not continued (refused while a trainer holds it)."""
    from .rundir import RunDir

    RunDir(d).lock.acquire()
    shutil.rmtree(d)


def split_state(trainer: Any, state: Any, k: int) -> Any:
    """Point k's part of a packed state, in the form a run of that point alone has: its rows of
    the replicate axis, and the optimizer's own state (without the injected arguments)."""
    from . import optim
    from .train import TrainState

    import jax

    R = trainer.point_replicates
    rows = lambda x: x[k * R:(k + 1) * R]  # noqa: E731
    opt = list(state.opt_state)
    if trainer.pack.hyper:
        opt[optim.OPTIMIZER_INDEX] = opt[optim.OPTIMIZER_INDEX].inner_state
    return TrainState(jax.tree_util.tree_map(rows, state.params), jax.tree_util.tree_map(rows, tuple(opt)),
                      state.batch, state.stage, state.stage_start, state.done)


def join_states(trainer: Any, states: Sequence[Any]) -> Any:
    """The packed state of points' states (split_state's inverse), placed on the devices."""
    import jax
    import jax.numpy as jnp

    from . import optim
    from .train import TrainState

    cat = lambda *xs: jnp.concatenate([jnp.asarray(x) for x in xs], axis=0)  # noqa: E731
    params = jax.tree_util.tree_map(cat, *[s.params for s in states])
    opt = list(jax.tree_util.tree_map(cat, *[s.opt_state for s in states]))
    if trainer.pack.hyper:
        template = trainer.init_state().opt_state[optim.OPTIMIZER_INDEX]
        inner = opt[optim.OPTIMIZER_INDEX]
        count = jnp.full_like(template.count, states[0].batch)
        opt[optim.OPTIMIZER_INDEX] = template._replace(count=count, inner_state=inner)
    s = states[0]
    return trainer.place(TrainState(params, trainer.with_hyper(tuple(opt)), s.batch, s.stage, s.stage_start, s.done))


class PackLogger:
    """A packed group's training log: each point's part into its own run directory (as
    api.RunLogger writes a run); a point whose loss is no longer finite is written no more."""

    def __init__(self, runs: Sequence[Any], trainer: Any, fps: Sequence[str]) -> None:
        from .api import RunLogger

        self.trainer, self.R = trainer, trainer.point_replicates
        self.loggers = [RunLogger(run, trainer, fp) for run, fp in zip(runs, fps)]
        self.asked: Callable[[], bool] = lambda: False

    def _live(self, batch: int):
        """The points still written at `batch`: not diverged, and not stopped before it."""
        tr = self.trainer
        return [(k, lg) for k, lg in enumerate(self.loggers)
                if k not in tr.diverged and not (k in tr.stopped_points and tr.stopped_points[k][0] < batch)]

    def train(self, start, losses, terms):
        R = self.R
        for k, lg in self._live(start + 1):
            lg.train(start, losses[:, k * R:(k + 1) * R], {n: v[:, k * R:(k + 1) * R] for n, v in terms.items()})

    def validate(self, record):
        R = self.R
        part = lambda v: list(v[k * R:(k + 1) * R])  # noqa: E731
        for k, lg in self._live(record["batch"]):
            lg.validate({**{n: v for n, v in record.items() if n not in ("loss", "terms", "metrics", "warnings")},
                         "loss": part(record["loss"]),
                         "terms": {n: part(v) for n, v in record["terms"].items()},
                         "metrics": {n: part(v) for n, v in record["metrics"].items()}})

    def checkpoint(self, state):
        for k, lg in self._live(state.batch):
            lg.checkpoint(split_state(self.trainer, state, k))

    def interrupted(self):
        return self.asked()


def run_sweep(sweep: Sweep, jobs: int = 1, only: int | None = None, say: Callable[[str], None] = lambda s: None) -> dict[int, str]:
    """Train the sweep's unfinished groups (all, or group `only`); with jobs > 1, in that many
    `rnn sweep --resume DIR --group G` processes at once, each with its share of the CPU cores.
    Returns {point: why it stopped early}."""
    groups = [only] if only is not None else list(range(len(sweep.groups)))
    todo = [g for g in groups if any(not finished(sweep, sweep.points[i]) for i in sweep.groups[g])]
    stopped: dict[int, str] = {}
    if jobs <= 1 or len(todo) <= 1:
        for g in todo:
            stopped.update(run_group(sweep, g, say))
        return stopped
    cores = max(1, (os.cpu_count() or 1) // jobs)
    env = dict(os.environ, XLA_FLAGS=_with_devices(os.environ.get("XLA_FLAGS", ""), cores))
    running: list[tuple[int, subprocess.Popen]] = []
    queue = list(todo)
    failed = []
    while queue or running:
        while queue and len(running) < jobs:
            g = queue.pop(0)
            say(f"group {g}: started in a process of its own")
            running.append((g, subprocess.Popen(group_command(sweep, g), env=env)))
        g, proc = running.pop(0)
        if proc.wait() != 0:
            failed.append(g)
    if failed:
        raise UsageError(f"groups {', '.join(map(str, failed))} of the sweep failed; "
                         f"run `rnn sweep --resume {sweep.path}` to continue them")
    return stopped


def group_command(sweep: Sweep, g: int | str) -> list[str]:
    """The command that trains one group of a written sweep (used by --jobs and SLURM)."""
    return [sys.executable, "-m", "rnnlang.runtime.cli", "sweep", "--resume", str(sweep.path), "--group", str(g),
            "--no-summary", "--quiet"]


def _with_devices(flags: str, n: int) -> str:
    kept = [f for f in flags.split() if "xla_force_host_platform_device_count" not in f]
    return " ".join(kept + [f"--xla_force_host_platform_device_count={n}"])


# ---- SLURM -----------------------------------------------------------------------------------------


def slurm_script(sweep: Sweep, options: Sequence[str] = ()) -> Path:
    """Write SWEEP/slurm/sweep.sbatch: a job array with one task per group, each task running
    `rnn sweep --resume SWEEP --group $SLURM_ARRAY_TASK_ID` (`options`: `KEY=VALUE` lines of
    #SBATCH, e.g. partition=gpu, time=02:00:00, gpus-per-task=1). The summary is written by
    `rnn sweep --resume SWEEP` once the array has finished."""
    lines = ["#!/bin/bash", f"#SBATCH --job-name=rnn-sweep-{sweep.path.name}"[:80],
             f"#SBATCH --array=0-{len(sweep.groups) - 1}",
             f"#SBATCH --output={(sweep.path / 'slurm' / '%A_%a.out').resolve()}"]
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep or not key.strip() or any(c.isspace() for c in key.strip()):
            raise UsageError(f"--slurm-option {opt!r}: write KEY=VALUE, e.g. --slurm-option partition=gpu")
        lines.append(f"#SBATCH --{key.strip().lstrip('-')}={value.strip()}")
    command = group_command(sweep, "$SLURM_ARRAY_TASK_ID")
    command[0] = "python"
    lines += ["", "# one group of points (trained as one program) per array task",
              "cd " + shlex.quote(str(Path.cwd())),
              " ".join(shlex.quote(c) if c != "$SLURM_ARRAY_TASK_ID" else '"$SLURM_ARRAY_TASK_ID"' for c in command), ""]
    out = sweep.path / "slurm" / "sweep.sbatch"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, "\n".join(lines))
    return out


def submit(script: Path) -> str:
    """Submit a job array script with sbatch; its answer (the job id)."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise UsageError(f"no `sbatch` here (not a SLURM cluster): the job array is written in {script}; "
                         "submit it where SLURM runs")
    done = subprocess.run([sbatch, str(script)], capture_output=True, text=True)
    if done.returncode != 0:
        raise UsageError(f"sbatch refused {script}: {done.stderr.strip()}")
    return done.stdout.strip()


# ---- summary ---------------------------------------------------------------------------------------


def point_results(sweep: Sweep) -> list[dict[str, Any]]:
    """Each point's last validation: loss and metrics per replicate (from its metrics.jsonl)."""
    from .rundir import RunDir

    rows = []
    for p in sweep.points:
        row: dict[str, Any] = {"point": p.name, "values": p.values, "batch": None, "status": "not trained", "results": {}}
        d = sweep.point_dir(p)
        if (d / "settings.json").exists():
            records = [r for r in RunDir(d).read_metrics() if r.get("phase") == "validate"]
            row["status"] = "finished" if finished(sweep, p) else "stopped"
            if records:
                last = records[-1]
                reps = last.get("replicates", {})
                row["batch"] = last["batch"]
                row["results"]["loss"] = reps.get("loss", [last["loss"]])
                for name, v in last.get("metrics", {}).items():
                    row["results"][name] = reps.get("metrics", {}).get(name, [v])
        rows.append(row)
    return rows


def write_summary(sweep: Sweep, metric: str | None = None) -> list[Path]:
    """summary.csv (one row per point: its axes' values, batch, status, each result's mean and
    standard deviation over replicates), summary.md (the same as a table) and sweep.png."""
    rows = point_results(sweep)
    names = list(dict.fromkeys(n for r in rows for n in r["results"]))
    keys = [a.key for a in sweep.axes]
    header = ["point"] + keys + ["batch", "status"] + [f"{n}_{s}" for n in names for s in ("mean", "std")]
    table = []
    for r in rows:
        stats = []
        for n in names:
            v = np.asarray(r["results"].get(n, []), np.float64)
            stats += [_num(np.nanmean(v)) if v.size else "", _num(np.nanstd(v)) if v.size else ""]
        table.append([r["point"]] + [r["values"].get(k, "") for k in keys] + [r["batch"] if r["batch"] is not None else "",
                                                                            r["status"]] + stats)
    csv_path = sweep.path / "summary.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(table)
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c) for c in row) + " |" for row in table]
    md_path = sweep.path / "summary.md"
    atomic_write(md_path, "\n".join(md) + "\n")
    written = [csv_path, md_path]
    chosen = metric or ("correct" if "correct" in names else "loss")
    if metric is not None and metric not in names:
        raise UsageError(f"--metric {metric}: the points report {', '.join(names) or 'nothing yet'}")
    if any(r["results"] for r in rows) and sweep.axes:
        written.append(sweep_figure(sweep, rows, chosen))
    return written


def _num(x: float) -> str:
    return f"{x:.6g}"


def sweep_figure(sweep: Sweep, rows: list[dict[str, Any]], metric: str) -> Path:
    """`metric` against each axis (one panel per axis): a line per combination of the other axes'
    values (pooled when there are more than six), the mean over replicates (and seeds) with their
    standard deviation as error bars."""
    from matplotlib.figure import Figure

    # seeds are replicates too: pooled into the error bars, unless they are all the sweep varies
    axes = [a for a in sweep.axes if a.key not in SEED_KEYS] or list(sweep.axes)
    fig = Figure(figsize=(4.2 * len(axes), 3.4), layout="constrained")
    for i, axis in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), i + 1)
        others = [a.key for a in axes if a.key != axis.key]
        combos = list(dict.fromkeys(tuple(r["values"][k] for k in others) for r in rows))
        pooled = len(combos) > 6
        numeric = all(_is_number(v) for v in axis.values)
        xs_all = [float(v) for v in axis.values] if numeric else list(range(len(axis.values)))
        for combo in ([()] if pooled else combos):
            xs, ys, es = [], [], []
            for v, x in zip(axis.values, xs_all):
                vals = np.concatenate([np.asarray(r["results"].get(metric, []), np.float64) for r in rows
                                       if r["values"][axis.key] == v
                                       and (pooled or tuple(r["values"][k] for k in others) == combo)] or [np.zeros(0)])
                vals = vals[np.isfinite(vals)]
                if vals.size:
                    xs.append(x)
                    ys.append(float(np.mean(vals)))
                    es.append(float(np.std(vals)))
            label = ", ".join(f"{k.split('.')[-1]}={c}" for k, c in zip(others, combo)) if others and not pooled else None
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
        if numeric and len(xs_all) > 2 and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(xs_all, list(axis.values))
        ax.set_xlabel(axis.key)
        ax.set_ylabel(metric + (" (pooled over the other axes)" if pooled and others else ""))
        if others and not pooled and len(combos) > 1:
            ax.legend(fontsize=7)
    out = sweep.path / "sweep.png"
    fig.savefig(out, dpi=110)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# ---- the command -----------------------------------------------------------------------------------


def command(args: Any) -> int:
    """`rnn sweep`: plan (or reopen), train, summarise; see the module's docstring."""
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    if args.resume is not None:
        if args.file is not None or args.grid or args.overrides:
            raise UsageError("--resume takes the sweep as it was planned: give no FILE, --grid or --set with it")
        sweep = open_sweep(args.resume)
    else:
        if args.file is None:
            raise UsageError("give a model file to sweep, or --resume SWEEP")
        sweep = plan(args.file, args.grid, args.overrides, args.out, pack=not args.no_pack)
        if sweep.record.exists():
            old = open_sweep(sweep.path)
            sweep.packed = old.packed
    if args.group is not None and not 0 <= args.group < len(sweep.groups):
        raise UsageError(f"--group {args.group}: the sweep has groups 0 to {len(sweep.groups) - 1}")
    if args.plan:
        print(describe(sweep))
        return 0
    if args.resume is None:
        save_plan(sweep)
    say(f"sweep directory: {sweep.path} ({len(sweep.points)} points in {len(sweep.groups)} programs)")
    if args.slurm:
        script = slurm_script(sweep, args.slurm_option)
        print(f"wrote {script}")
        if args.submit:
            print(submit(script))
        return 0
    stopped = run_sweep(sweep, args.jobs, args.group, say)
    for i, why in sorted(stopped.items()):
        print(f"rnn: {sweep.points[i].name}: {why}", file=sys.stderr)
    if not args.no_summary:
        for path in write_summary(sweep, args.metric):
            print(f"wrote {path}")
    return 1 if stopped else 0


def describe(sweep: Sweep) -> str:
    """The points and the programs they train in, as `rnn sweep --plan` prints them."""
    lines = [f"{len(sweep.points)} points in {len(sweep.groups)} programs (sweep directory {sweep.path}):"]
    for g, members in enumerate(sweep.groups):
        lines.append(f"  program {g}: {len(members)} point{'s' if len(members) > 1 else ''}"
                     + (" packed along the replicate axis" if len(members) > 1 and sweep.packed else ""))
        for i in members:
            p = sweep.points[i]
            done = " (finished)" if finished(sweep, p) else ""
            lines.append(f"    {p.name}: " + (" ".join(p.overrides[len(sweep.overrides):]) or "(the file as it is)") + done)
    return "\n".join(lines)
