"""The one table of figures: for each name, when it applies to a run, the data it reads and how
it is drawn. `rnn plot` and `plot_run` go through this table only; `plots.py` holds the drawing
functions (plain arrays in, a matplotlib Figure out) and `plotdata.py` gathers the arrays.

`plot_run(run, what, out_dir, fmt)` writes every figure that fits the model into RUN/plots."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from matplotlib.figure import Figure

from rnnlang.dsl.errors import UsageError

from . import plotdata
from . import plots as P
from .plotdata import RunContext
from .rundir import RunDir

Records = Sequence[Mapping[str, Any]]


@dataclass
class Drawing:
    """What a figure is drawn from: the run's metrics, its opened context (None when it has no
    checkpoint), the title, and the validation rollout, computed once for every figure."""

    records: Records
    ctx: RunContext | None
    title: str
    replicates: int | None = None  # as the run declares them (None: as many as the records hold)
    _val: tuple[Any, Any] | None = field(default=None, repr=False)

    def validation(self) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """The validation trial and the chosen replicate's rollout on it."""
        if self._val is None:
            trial = self.ctx.validation_trial()
            self._val = (trial, self.ctx.rollout(trial))
        return self._val

    def subtitle(self, what: str = "validation set") -> str:
        return f"{self.ctx.replicate_note}, {what}"


@dataclass(frozen=True)
class FigureSpec:
    """One figure: `why_not(ctx)` is None when it fits a run with a checkpoint, else the reason;
    `draw` returns (file stem, figure) pairs (a figure may come once per network)."""

    name: str
    doc: str
    why_not: Callable[[RunContext], str | None]
    draw: Callable[[Drawing], list[tuple[str, Figure]]]
    needs_checkpoint: bool = True
    # figures drawn from the records alone: None when the records suffice, else the reason
    records_why: Callable[[Records], str | None] = lambda records: None
    # whether the figure is among those drawn when none is named (it may still be asked for)
    by_default: Callable[[Drawing], bool] = lambda d: True


def _task(ctx: RunContext) -> str:
    return f"the task `{ctx.model.task_name}` ({ctx.task_kind})" if ctx.model.task_name else "the model has no task, so"


def _no_validation_set(ctx: RunContext, what: str) -> str | None:
    return f"the model has no task, so there is no validation set to {what}" if ctx.model.task_name is None else None


def _trajectories_why(ctx: RunContext) -> str | None:
    return _no_validation_set(ctx, "draw") or (
        None if ctx.is_reach() else f"{_task(ctx)} is not a reach task with a plant: there are no effector trajectories")


def _muscles_why(ctx: RunContext) -> str | None:
    reason = _trajectories_why(ctx)
    if reason is not None:
        return reason
    plant = ctx.plant()
    return None if any(p.name == "activations" for p in ctx.kind_of(plant).outputs) else (
        f"the plant `{plant}` ({ctx.cm.nodes[plant].kind}) has no muscles")


def _activity_why(ctx: RunContext) -> str | None:
    return _no_validation_set(ctx, "run") or (
        None if ctx.networks() else "the model has no network node with a `hidden` port")


def _trials_why(ctx: RunContext) -> str | None:
    return None if ctx.is_cognitive() else f"{_task(ctx)} is not a cognitive task with input, target and response"


def _psychometric_why(ctx: RunContext) -> str | None:
    if not ctx.is_cognitive():
        return f"{_task(ctx)} is not a cognitive task with a response"
    v = ctx.trainer.val_trial.get("vars", {})
    if "signed_coherence" in v or ("f1" in v and "f2" in v):
        return None
    return f"{_task(ctx)} has no signed stimulus strength (signed coherence, or f1 and f2) to plot choices against"


def _interventions_why(ctx: RunContext) -> str | None:
    if not ctx.cm.sites:
        return "the model declares no intervention sites"
    if not (ctx.is_reach() or ctx.is_cognitive()):
        return f"{_task(ctx)} is neither a reach nor a cognitive task: nothing to compare"
    return None


def _draw_trajectories(d: Drawing) -> list[tuple[str, Figure]]:
    trial, out = d.validation()
    return [("trajectories", P.trajectory_figure(plotdata.reach_data(d.ctx, trial, out), d.title, d.subtitle()))]


def _draw_muscles(d: Drawing) -> list[tuple[str, Figure]]:
    trial, out = d.validation()
    return [("muscles", P.muscle_figure(plotdata.muscle_data(d.ctx, trial, out), d.title, d.subtitle()))]


def _draw_activity(d: Drawing) -> list[tuple[str, Figure]]:
    trial, out = d.validation()
    return [("activity" if i == 0 else f"activity_{node}",
             P.activity_figure(plotdata.activity_data(d.ctx, node, trial, out), d.title, d.subtitle()))
            for i, node in enumerate(d.ctx.networks())]


def _draw_trials(d: Drawing) -> list[tuple[str, Figure]]:
    return [("trials", P.trials_figure(plotdata.cognitive_data(d.ctx), d.title, d.subtitle()))]


def _draw_psychometric(d: Drawing) -> list[tuple[str, Figure]]:
    trials = [d.ctx.validation_trial()] + d.ctx.extra_validation_trials(7)
    data = plotdata.cognitive_data(d.ctx, trials)
    return [("psychometric", P.psychometric_figure(data, d.title, d.subtitle("validation trials")))]


def _replicates_why(records: Records) -> str | None:
    if any(r.get("phase") == "validate" for r in records):
        return None
    return "the run has no validation records yet (metrics.jsonl holds no `validate` line)"


def _several_replicates(d: Drawing) -> bool:
    return (d.replicates or plotdata.replicate_data(d.records)["replicates"]) > 1


def _draw_replicates(d: Drawing) -> list[tuple[str, Figure]]:
    return [("replicates", P.replicates_figure(plotdata.replicate_data(d.records, d.replicates), d.title))]


def _draw_interventions(d: Drawing) -> list[tuple[str, Figure]]:
    return [("interventions", P.intervention_figure(plotdata.intervention_data(d.ctx), d.title, d.subtitle()))]


TABLE: dict[str, FigureSpec] = {f.name: f for f in (
    FigureSpec("loss", "loss history: total and each term, training and validation (log scale); replicates as "
               "a mean line with a min-max band; validation metrics",
               lambda ctx: None, lambda d: [("loss", P.loss_figure(d.records, d.title))], needs_checkpoint=False),
    FigureSpec("trajectories", "reach tasks: centre-out effector paths coloured by direction, goals and start, "
               "straight paths dashed; speed and command force over time; a two-link arm's posture",
               _trajectories_why, _draw_trajectories),
    FigureSpec("muscles", "muscle-driven plants (arm26, muscle_point_mass): joint angles and each muscle's "
               "activation over time on the validation reaches", _muscles_why, _draw_muscles),
    FigureSpec("activity", "a network's hidden units: heatmap (units x time) of one trial, sampled units across "
               "conditions, first principal components coloured by condition", _activity_why, _draw_activity),
    FigureSpec("trials", "cognitive tasks: inputs, target, mask and output of a few trials", _trials_why, _draw_trials),
    FigureSpec("psychometric", "discrimination tasks: P(choice) against the signed stimulus with a fitted logistic, "
               "accuracy by condition (1,024 validation trials: the validation set and 7 redraws of its timing "
               "and noise)", _psychometric_why, _draw_psychometric),
    FigureSpec("interventions", "models with sites: validation behaviour with each site's `active` forced to 0 "
               "and to 1, side by side", _interventions_why, _draw_interventions),
    FigureSpec("replicates", "the replicates side by side: validation loss and metrics over training, one line "
               "each, and each one's final values (drawn by default when the run has several; asked for, a run "
               "of one replicate gets one line)", lambda ctx: None, _draw_replicates, needs_checkpoint=False,
               records_why=_replicates_why, by_default=_several_replicates),
)}
FIGURES = tuple(TABLE)


def why_not(name: str, ctx: RunContext | None, records: Records, open_error: str | None = None) -> str | None:
    """None when figure `name` fits the run, else the reason it does not."""
    spec = TABLE[name]
    if not spec.needs_checkpoint:
        return spec.records_why(records) if records else "the run has no metrics yet (metrics.jsonl is empty)"
    if ctx is None:
        return open_error or "the run has no checkpoint yet"
    return spec.why_not(ctx)


def _names(what: str | Iterable[str] | None) -> tuple[list[str], bool]:
    """The figures asked for and whether they were named explicitly."""
    items = [] if what is None else [what] if isinstance(what, str) else list(what)
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    if not names:
        return list(FIGURES), False
    unknown = [n for n in names if n not in TABLE]
    if unknown:
        raise UsageError(f"unknown figure{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}; "
                         f"the figures are: {', '.join(FIGURES)}")
    return list(dict.fromkeys(names)), True


def plot_run(run: str | os.PathLike, what: str | Iterable[str] | None = None, out_dir: str | os.PathLike | None = None,
             fmt: str = "png", replicate: int = 0, context: RunContext | None = None,
             overrides: Sequence[str] = (), checkpoint: str | None = None) -> list[Path]:
    """Write the figures of a run (default: every one that fits the model) into `out_dir`
    (default RUN/plots) as `<name>.<fmt>`; returns the paths written. `what`: figure names (a
    list, or one string, comma-separated). Naming a figure that does not fit, or an unknown
    one, or a replicate the run does not have, is a UsageError (nothing is written then).
    `replicate`: whose trajectories, activity and trials are drawn. `context`: an already
    opened run (e.g. `RunContext.from_result(rnnlang.train(...))`), to skip reopening it.
    `overrides`: `--set` texts under which the trained parameters are run (e.g.
    "curl.validate.active=true"). `checkpoint`: which of the run's checkpoints the figures that
    run the network use (RunDir.checkpoint_named; default the final, else the last)."""
    if fmt not in P.FORMATS:
        raise UsageError(f"unknown figure format {fmt!r}; use one of {', '.join(P.FORMATS)}")
    names, explicit = _names(what)
    rd = RunDir.open(run)
    records = rd.read_metrics()
    declared = context.n_replicates if context is not None else _declared_replicates(rd)
    if declared is not None:
        plotdata.check_replicate(replicate, declared)
    ctx: RunContext | None = context
    open_error = None
    if ctx is None and any(TABLE[n].needs_checkpoint for n in names):
        try:
            ctx = RunContext.open(rd.path, replicate, overrides, checkpoint)
        except UsageError as e:
            if checkpoint is not None or rd.final.exists() or rd.last_checkpoint.exists():
                raise  # a run with a checkpoint that cannot be used (damaged, altered) is an error
            open_error = str(e)
    todo = []
    title = ctx.title if ctx is not None else f"{_model_name(rd)} — {rd.path.resolve().name}"
    drawing = Drawing(records, ctx, title, ctx.n_replicates if ctx is not None else declared)
    for n in names:
        reason = why_not(n, ctx, records, open_error)
        if reason is None and (explicit or TABLE[n].by_default(drawing)):
            todo.append(n)
        elif reason is not None and explicit:
            raise UsageError(f"cannot draw `{n}` for {rd.path}: {reason}")
    out = Path(out_dir) if out_dir is not None else rd.plots
    return [P.save_figure(fig, out / f"{stem}.{fmt}", fmt) for n in todo for stem, fig in TABLE[n].draw(drawing)]


def _declared_replicates(rd: RunDir) -> int | None:
    """The replicates the run's settings.json declares (None when it does not say)."""
    try:
        n = rd.read_settings().get("resolved", {}).get("train", {}).get("replicates")
    except (UsageError, AttributeError):  # settings.json damaged, or its `resolved` part altered
        return None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else None


def _model_name(rd: RunDir) -> str:
    try:
        return str(rd.read_settings().get("resolved", {}).get("model", {}).get("name") or rd.path.name)
    except (UsageError, AttributeError):  # settings.json damaged, or its `resolved` part altered
        return rd.path.name
