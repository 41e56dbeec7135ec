"""Figures of a run (matplotlib, drawn without pyplot so no backend is touched).

The drawing functions of the figures that `rnn plot` writes (the table of figures, what each
shows, when it applies and what it reads, is `rnnlang.runtime.figures`).

Each figure has a function taking plain arrays (gathered by `rnnlang.runtime.plotdata`) and
returning a `matplotlib.figure.Figure`, for notebooks:

    from rnnlang.runtime import plotdata, plots
    ctx = plotdata.RunContext.open("runs/reach")
    plots.trajectory_figure(plotdata.reach_data(ctx), title=ctx.title)

Trajectories and activity are those of replicate 0, or the one chosen (titles say so); the
`replicates` figure compares every replicate's validation history. Directions and conditions
have one colour map for the whole run (`condition_cmap`). Channels go by the names the model
declares (`left`, `cue[0]`, `pos x`), each trial shown alone is titled with its condition
(`coherence=0.3 direction=1`), and a trial on which an intervention site acts is drawn in that
site's line style (`SITE_STYLES`) with a legend entry naming it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import matplotlib
from matplotlib.colors import ListedColormap, Normalize, hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.cm import ScalarMappable

from .files import replacing
from .plotdata import time_unit

__all__ = [
    "FORMATS", "STYLE", "style", "time_unit", "time_label", "condition_cmap", "condition_colors",
    "loss_figure", "trajectory_figure", "activity_figure", "trials_figure", "psychometric_figure",
    "intervention_figure", "replicates_figure", "SITE_STYLES", "trial_styles", "replicate_colors", "fit_logistic", "pca", "pick_trials", "sample_units", "save_figure",
]

FORMATS = ("png", "svg", "pdf")
DPI = 150

# ---- one look ------------------------------------------------------------------------------

STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.titleweight": "regular",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.3,
    "lines.markersize": 4,
    "image.interpolation": "nearest",
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}
TERM_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf")
TOTAL_COLOR = "black"
METRIC_LABELS = {"correct": "accuracy", "final_position_error": "final position error", "final_speed": "final speed"}
CHANNEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
# line styles of trials on which intervention sites act, one per combination of sites
SITE_STYLES = ("-.", ":", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (1, 1)), (0, (8, 2)))


def style() -> contextlib.AbstractContextManager:
    """The rcParams every figure is drawn under."""
    return matplotlib.rc_context(STYLE)


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def time_label(unit: str) -> str:
    return f"time ({unit})"


# ---- colours of conditions -----------------------------------------------------------------

def _cyclic_cmap() -> ListedColormap:
    h = np.linspace(0.0, 1.0, 256, endpoint=False)
    hsv = np.stack([h, np.full_like(h, 0.78), np.full_like(h, 0.86)], axis=1)
    return ListedColormap(hsv_to_rgb(hsv), name="rnnlang_directions")


def _diverging_cmap() -> ListedColormap:
    base = matplotlib.colormaps["coolwarm"]
    u = np.linspace(-1.0, 1.0, 257)
    pos = 0.5 + np.sign(u) * (0.17 + 0.33 * np.abs(u))
    cols = base(pos)
    cols[128] = (0.45, 0.45, 0.45, 1.0)  # exactly zero: grey
    return ListedColormap(cols, name="rnnlang_signed")


CYCLIC = _cyclic_cmap()
DIVERGING = _diverging_cmap()


def condition_cmap(cond: Mapping[str, Any]) -> tuple[Any, Normalize]:
    """The colour map and norm of a condition (see plotdata.conditions): directions on a cyclic
    map over [0, 2 pi), signed evidence on a diverging map symmetric about 0, anything else
    on viridis. The same condition gets the same colour in every figure of a run."""
    kind = cond.get("kind", "sequential")
    if kind == "cyclic":
        return CYCLIC, Normalize(0.0, 2 * np.pi)
    if kind == "diverging":
        vmax = float(cond.get("vmax") or 1.0)
        return DIVERGING, Normalize(-vmax, vmax)
    v = np.asarray(cond.get("values", [0.0]), float)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    return matplotlib.colormaps["viridis"], Normalize(lo, hi if hi > lo else lo + 1.0)


def condition_colors(cond: Mapping[str, Any], values: Any = None) -> np.ndarray:
    """RGBA colours (n, 4) of condition values (default: the trials' values)."""
    cmap, norm = condition_cmap(cond)
    v = np.asarray(cond["values"] if values is None else values, float)
    return cmap(norm(v))


def format_condition(cond: Mapping[str, Any], value: float) -> str:
    if cond.get("kind") == "cyclic":
        return f"{cond['label']} {np.degrees(value):.0f}°"
    if cond.get("kind") == "diverging":
        return f"{cond['label']} {value:+.2g}"
    return f"{cond['label']} {value:g}"


def _condition_of(data: Mapping[str, Any], b: int) -> str:
    """Trial b's condition as the figure's data gives it: the short form of its defining
    variables (`coherence=0.3 direction=1`), else its colouring value (`direction 90°`), else
    nothing (trials told apart by their index only)."""
    texts = data.get("conditions")
    if texts is not None and b < len(texts) and texts[b]:
        return str(texts[b])
    cond = data["cond"]
    return "" if cond.get("label") == "trial" else format_condition(cond, float(cond["values"][b]))


def _trial_name(data: Mapping[str, Any], b: int) -> str:
    """`trial 3: coherence=0.3 direction=1`, or `trial 3` when nothing names its condition."""
    c = _condition_of(data, b)
    return f"trial {b}: {c}" if c else f"trial {b}"


def _condition_colorbar(fig: Figure, ax: Any, cond: Mapping[str, Any], **kw: Any) -> Any:
    cmap, norm = condition_cmap(cond)
    sm = ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, ax=ax, **kw)
    if cond.get("kind") == "cyclic":
        cb.set_ticks(np.radians([0, 90, 180, 270]))
        cb.set_ticklabels(["0°", "90°", "180°", "270°"])
    cb.set_label(cond["label"])
    return cb


def _groups(cond: Mapping[str, Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unique condition values and the trial indices of each."""
    v = np.asarray(cond["values"], float)
    uniq = np.unique(np.round(v, 6))
    return uniq, [np.flatnonzero(np.isclose(v, u, atol=1e-6)) for u in uniq]


# ---- loss --------------------------------------------------------------------------------

def _series(records: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    """(n, R) values of the total (`name` = "total") or a term over records (R = 1 without
    replicates); NaN where missing."""
    rows = []
    for r in records:
        reps = r.get("replicates")
        if name == "total":
            val = reps["loss"] if reps else [r.get("loss", np.nan)]
        else:
            val = (reps.get("terms", {}).get(name) if reps else None) or [r.get("terms", {}).get(name, np.nan)]
        rows.append(np.atleast_1d(np.asarray(val, float)))
    width = max((len(x) for x in rows), default=1)
    return np.array([np.pad(x, (0, width - len(x)), constant_values=np.nan) for x in rows]).reshape(len(rows), width)


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 ignoring NaN; (n, R) -> (n, R)."""
    if window <= 1:
        return y
    ok = np.isfinite(y)
    k = np.ones(window)
    num = np.stack([np.convolve(np.where(ok[:, j], y[:, j], 0.0), k, mode="same") for j in range(y.shape[1])], 1)
    den = np.stack([np.convolve(ok[:, j].astype(float), k, mode="same") for j in range(y.shape[1])], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _positive(y: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(y) & (y > 0), y, np.nan)


def _draw_loss_panel(ax: Any, records: Sequence[Mapping[str, Any]], names: Sequence[str], colors: Mapping[str, str],
                     smooth: bool, markers: bool) -> None:
    x = np.asarray([r["batch"] for r in records], float)
    window = max(1, len(records) // 40) if smooth else 1
    labels = {"total": "total" + (f" (= {names[1]})" if len(names) == 2 else "")}
    # the total last, on top; with one term the total is that term
    for name in ([n for n in names if n != "total"] if len(names) > 2 else []) + ["total"]:
        y = _series(records, name)
        if not np.any(np.isfinite(y)):
            continue
        c, lw = colors[name], (1.8 if name == "total" else 1.2)
        if window > 1:  # the raw mean, faint, under the smoothed curve
            ax.plot(x, _positive(np.nanmean(y, axis=1)), color=c, lw=0.6, alpha=0.25)
        ys = _smooth(y, window)
        mean = _positive(np.nanmean(ys, axis=1))
        ax.plot(x, mean, color=c, lw=lw, label=labels.get(name, name), marker="o" if markers else None, ms=2.5,
                zorder=3 if name == "total" else 2)
        if y.shape[1] > 1:
            ax.fill_between(x, _positive(np.nanmin(ys, axis=1)), _positive(np.nanmax(ys, axis=1)),
                            color=c, alpha=0.18, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("training batch")


def loss_figure(records: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Loss history from metrics.jsonl records: training (left) and validation (middle), the
    total and each (weighted) term on a log scale, replicates as mean with a min-max band; the
    validation metrics (right) when there are any. Curriculum stage changes are dotted lines."""
    train = [r for r in records if r.get("phase") == "train"]
    val = [r for r in records if r.get("phase") == "validate"]
    terms: list[str] = []
    for r in records:
        for k in r.get("terms", {}):
            if k not in terms:
                terms.append(k)
    names = ["total"] + terms
    colors = {"total": TOTAL_COLOR, **{t: TERM_COLORS[i % len(TERM_COLORS)] for i, t in enumerate(terms)}}
    metric_names = [k for r in val for k in r.get("metrics", {}) if k != "choice"]
    metric_names = list(dict.fromkeys(metric_names))
    n_rep = max((len(r["replicates"]["loss"]) for r in records if r.get("replicates")), default=1)
    with style():
        fig = _figure(4.2 * 2 + (3.3 if metric_names else 0), 3.6)
        gs = fig.add_gridspec(max(1, len(metric_names)), 3 if metric_names else 2,
                              width_ratios=[1.25, 1.25, 1.0][: 3 if metric_names else 2])
        ax_t = fig.add_subplot(gs[:, 0])
        ax_v = fig.add_subplot(gs[:, 1], sharey=ax_t, sharex=ax_t)
        _draw_loss_panel(ax_t, train, names, colors, smooth=True, markers=False)
        _draw_loss_panel(ax_v, val, names, colors, smooth=False, markers=True)
        ax_t.set_ylabel("loss")
        ax_t.set_title("Training" + (f" (mean of {n_rep} replicates, min–max band)" if n_rep > 1 else ""))
        ax_v.set_title("Validation")
        if not train:
            ax_t.text(0.5, 0.5, "no training records", ha="center", va="center", transform=ax_t.transAxes)
        if not val:
            ax_v.text(0.5, 0.5, "no validation records", ha="center", va="center", transform=ax_v.transAxes)
        handles, labs = ax_t.get_legend_handles_labels()
        if labs:  # total first, then the terms in their order
            order = sorted(range(len(labs)), key=lambda i: (not labs[i].startswith("total"), i))
            ax_t.legend([handles[i] for i in order], [labs[i] for i in order], loc="upper right",
                        ncol=1 if len(labs) < 6 else 2)
        metric_axes = []
        for i, m in enumerate(metric_names):
            ax = fig.add_subplot(gs[i, 2], sharex=ax_t)
            xs = np.asarray([r["batch"] for r in val if m in r.get("metrics", {})], float)
            ys = []
            for r in val:
                if m not in r.get("metrics", {}):
                    continue
                reps = (r.get("replicates") or {}).get("metrics", {}).get(m)
                ys.append(np.atleast_1d(np.asarray(reps if reps is not None else r["metrics"][m], float)))
            y = np.array([np.pad(a, (0, n_rep - len(a)), constant_values=np.nan) if len(a) < n_rep else a for a in ys])
            c = TERM_COLORS[(len(terms) + i) % len(TERM_COLORS)]
            ax.plot(xs, np.nanmean(y, axis=1), color=c, marker="o", ms=2.5)
            if y.shape[1] > 1:
                ax.fill_between(xs, np.nanmin(y, axis=1), np.nanmax(y, axis=1), color=c, alpha=0.18, lw=0)
            ax.set_ylabel(METRIC_LABELS.get(m, m.replace("_", " ")), fontsize=8)
            if m == "correct":
                ax.set_ylim(0, 1.02)
                ax.axhline(0.5, color="0.6", ls=":", lw=0.8)
            if i == 0:
                ax.set_title("Validation metrics")
            if i == len(metric_names) - 1:
                ax.set_xlabel("training batch")
            else:
                ax.tick_params(labelbottom=False)
            metric_axes.append(ax)
        # curriculum stage changes
        for a, b in zip(val, val[1:]):
            if a.get("stage") != b.get("stage"):
                for ax in [ax_t, ax_v] + metric_axes:
                    ax.axvline(a["batch"], color="0.5", ls=":", lw=0.9)
                ax_t.text(a["batch"], 1.0, f" stage {b.get('stage')}", transform=ax_t.get_xaxis_transform(),
                          fontsize=7, color="0.4", va="top")
        fig.suptitle(f"{title}: loss history" if title else "Loss history")
    return fig


# ---- trajectories ---------------------------------------------------------------------------

def _site_sets(data: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The combinations of sites acting on some trial, in the order they first occur."""
    return list(dict.fromkeys(p for p in data.get("perturbed_by") or () if p))


def trial_styles(data: Mapping[str, Any]) -> list[Any]:
    """Each trial's line style: solid when no intervention site acts on it, else the style of
    its combination of sites (SITE_STYLES, in the order the combinations first occur)."""
    sets = _site_sets(data)
    n = len(np.asarray(data["pos"] if "pos" in data else data["output"]))
    by = data.get("perturbed_by") or [()] * n
    return [SITE_STYLES[sets.index(p) % len(SITE_STYLES)] if p else "-" for p in by]


def _sites_label(sites: Sequence[str]) -> str:
    return " + ".join(f"`{s}`" for s in sites) + " active"


def _field_of(name: str) -> str:
    """`pos x` -> `pos`: the field a channel name belongs to."""
    head, _, tail = name.rpartition(" ")
    return head if head and tail in ("x", "y", "z") else name


def _draw_paths(ax: Any, data: Mapping[str, Any]) -> None:
    """Effector paths coloured by direction (in the line style of the sites acting on the trial,
    if any), straight start->goal paths dashed, goals as circles, start as a black dot. Each path
    Line2D has gid "path"."""
    pos, start, goal = data["pos"], data["start"], data["goal"]
    colors = condition_colors(data["cond"])
    styles = trial_styles(data)
    for b in range(pos.shape[0]):
        ax.plot([start[b, 0], goal[b, 0]], [start[b, 1], goal[b, 1]], ls=(0, (3, 2.5)), lw=0.9,
                color=colors[b], alpha=0.55, zorder=1)
        (line,) = ax.plot(pos[b, :, 0], pos[b, :, 1], color=colors[b], lw=1.6, ls=styles[b], zorder=3)
        line.set_gid("path")
        ax.scatter(goal[b, 0], goal[b, 1], s=70, facecolors="none", edgecolors=[colors[b]], linewidths=1.4, zorder=4)
    starts = np.unique(np.round(start, 6), axis=0)
    ax.scatter(starts[:, 0], starts[:, 1], s=22, color="black", zorder=5)
    ax.set_aspect("equal", adjustable="datalim")
    unit = data.get("space_unit", "")
    names = list(data.get("effector_names") or ("x", "y"))
    ax.set_xlabel(f"{names[0]} ({unit})" if unit else names[0])
    ax.set_ylabel(f"{names[1]} ({unit})" if unit else names[1])


def _error_note(data: Mapping[str, Any]) -> str:
    if data.get("final_error") is None:
        return ""
    err = np.asarray(data["final_error"])
    unit = data.get("space_unit", "")
    return f"final distance to goal: mean {err.mean():.2g} {unit}, max {err.max():.2g} {unit}"


def _path_legend(ax: Any, data: Mapping[str, Any] | None = None) -> None:
    """The legend of a paths panel: the path (with no site acting), one entry per combination
    of sites acting on some trial (its line style, naming the sites), straight path, goal, start."""
    data = data or {}
    sets = _site_sets(data)
    handles = []
    if not sets or not all(data.get("perturbed_by") or [()]):
        handles.append(Line2D([], [], color="0.3", lw=1.6, label="effector path" + (", no site active" if sets else "")))
    handles += [Line2D([], [], color="0.3", lw=1.6, ls=SITE_STYLES[i % len(SITE_STYLES)], label=f"path, {_sites_label(p)}")
                for i, p in enumerate(sets)]
    handles += [Line2D([], [], color="0.3", lw=0.9, ls=(0, (3, 2.5)), label="straight path"),
                Line2D([], [], marker="o", ls="none", mfc="none", mec="0.3", ms=8, label="goal"),
                Line2D([], [], marker="o", ls="none", color="black", ms=4.5, label="start")]
    ax.legend(handles=handles, loc="upper left", fontsize=7, handlelength=2.2)


def _arm_points(joints: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and hand positions (..., 2) from joint angles (..., >= 2), shoulder at the origin."""
    q0, q1 = joints[..., 0], joints[..., 0] + joints[..., 1]
    elbow = np.stack([lengths[0] * np.cos(q0), lengths[0] * np.sin(q0)], axis=-1)
    hand = elbow + np.stack([lengths[1] * np.cos(q1), lengths[1] * np.sin(q1)], axis=-1)
    return elbow, hand


def trajectory_figure(data: Mapping[str, Any], title: str = "", subtitle: str = "") -> Figure:
    """Effector trajectories on the validation set (see plotdata.reach_data): the 2-D paths
    with goals, start and straight paths; speed and command force over time; for a two-link
    arm, its segments at a few time points."""
    unit = data.get("time_unit", "s")
    dt = float(data.get("dt", 1.0))
    arm = data.get("joints") is not None and data.get("lengths") is not None
    colors = condition_colors(data["cond"])
    with style():
        fig = _figure(12.5 if arm else 9.5, 4.6)
        gs = fig.add_gridspec(2, 3 if arm else 2, width_ratios=[1.35, 1.2, 1.0] if arm else [1.35, 1.0])
        ax_p = fig.add_subplot(gs[:, 0])
        _draw_paths(ax_p, data)
        _path_legend(ax_p, data)
        ax_p.set_title(f"Effector paths ({data['pos'].shape[0]} validation reaches)\n{_error_note(data)}")
        col = 1
        if arm:
            ax_a = fig.add_subplot(gs[:, 1])
            joints, lengths = np.asarray(data["joints"], float), np.asarray(data["lengths"], float)
            T = joints.shape[1]
            idx = sorted(set([0, T // 3, (2 * T) // 3, T - 1]))
            alphas = np.linspace(0.25, 1.0, len(idx))
            elbow, hand = _arm_points(joints, lengths)
            for b in range(joints.shape[0]):
                for a, k in zip(alphas, idx):
                    ax_a.plot([0, elbow[b, k, 0], hand[b, k, 0]], [0, elbow[b, k, 1], hand[b, k, 1]],
                              color=colors[b], alpha=a, lw=1.4, marker="o", ms=2.2, solid_capstyle="round")
            goal = data["goal"]
            ax_a.scatter(goal[:, 0], goal[:, 1], s=60, facecolors="none", edgecolors=colors, linewidths=1.2, zorder=4)
            ax_a.scatter([0], [0], s=40, marker="s", color="black", zorder=5)
            times = ", ".join(f"{(k + 1) * dt:.3g}" for k in idx)
            ax_a.set_title(f"Arm segments at t = {times} {unit}\n(fainter = earlier; shoulder ■)")
            ax_a.set_aspect("equal", adjustable="datalim")
            ax_a.set_xlabel("x (m)")
            ax_a.set_ylabel("y (m)")
            col = 2
        ax_s = fig.add_subplot(gs[0, col])
        ax_f = fig.add_subplot(gs[1, col], sharex=ax_s)
        vel, force = np.asarray(data["vel"]), np.asarray(data["force"])
        t_state = np.arange(vel.shape[1]) * dt
        t_force = np.arange(force.shape[1]) * dt
        speed = np.linalg.norm(vel, axis=-1)
        fmag = np.linalg.norm(force, axis=-1)
        styles = trial_styles(data)
        for b in range(vel.shape[0]):
            ax_s.plot(t_state, speed[b], color=colors[b], lw=1.1, ls=styles[b])
            ax_f.plot(t_force, fmag[b], color=colors[b], lw=1.1, ls=styles[b])
        su = data.get("space_unit", "")
        names = list(data.get("effector_names") or ())
        vel_name = f" |{_field_of(names[2])}|" if len(names) > 2 else ""
        ax_s.set_ylabel(f"speed{vel_name} ({su}/{'s' if unit == 's' else unit})" if su else f"speed{vel_name}")
        ax_s.set_title("Effector speed")
        ax_s.tick_params(labelbottom=False)
        flabel = data.get("force_label", "force")
        ax_f.set_ylabel(f"|{flabel.split(' (')[0]}|" + (f" ({flabel.split(' (')[1]}" if " (" in flabel else ""))
        ax_f.set_title("Command " + flabel.split(" (")[0])
        ax_f.set_xlabel(time_label(unit))
        onset = data.get("move_onset")
        if onset is not None and np.size(onset):
            go = float(np.median(np.asarray(onset))) * dt
            for ax in (ax_s, ax_f):
                ax.axvline(go, color="0.4", ls=":", lw=0.9)
            ax_s.text(go, 1.0, " go", transform=ax_s.get_xaxis_transform(), fontsize=7, va="top", color="0.35")
        head = f"{title}: effector trajectories" if title else "Effector trajectories"
        fig.suptitle(head + (f" — {subtitle}" if subtitle else ""))
    return fig


def muscle_figure(data: Mapping[str, Any], title: str = "", subtitle: str = "") -> Figure:
    """A muscle-driven plant on the validation set (see plotdata.muscle_data): joint angles over
    time when it has joints, then each muscle's activation over time, one line per trial
    coloured by its condition."""
    unit = data.get("time_unit", "s")
    dt = float(data.get("dt", 1.0))
    act = np.asarray(data["activations"], float)
    joints = data.get("joints")
    names = list(data["muscles"])
    colors = condition_colors(data["cond"])
    panels = ([("shoulder angle (deg)", np.degrees(np.asarray(joints)[..., 0])),
               ("elbow angle (deg)", np.degrees(np.asarray(joints)[..., 1]))] if joints is not None else [])
    panels += [(f"{name} activation", act[..., i]) for i, name in enumerate(names)]
    cols = 4 if len(panels) > 4 else len(panels)
    rows = -(-len(panels) // cols)
    with style():
        fig = _figure(3.0 * cols, 2.3 * rows + 0.6)
        t = (np.arange(act.shape[1]) + 1) * dt
        for k, (label, y) in enumerate(panels):
            ax = fig.add_subplot(rows, cols, k + 1)
            for b in range(y.shape[0]):
                ax.plot(t, y[b], color=colors[b], lw=1.0)
            ax.set_title(label)
            if "activation" in label:  # one scale for every muscle, from 0, so they compare at a glance
                ax.set_ylim(0.0, max(0.05, 1.1 * float(np.max(act))))
            if k >= len(panels) - cols:
                ax.set_xlabel(time_label(unit))
        head = f"{title}: joints and muscle activations" if title else "Joints and muscle activations"
        fig.suptitle(head + (f" — {subtitle}" if subtitle else ""))
    return fig


# ---- activity -------------------------------------------------------------------------------

def pca_basis(x: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes of rows of x (n, d): (mean (d,), components (k, d) as rows, explained
    variance ratio (k,)); project other points with (y - mean) @ components.T."""
    x = np.asarray(x, float)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2
    ratio = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    k = min(k, vt.shape[0])
    return mean, vt[:k], ratio[:k]


def pca(x: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of rows of x (n, d): (projections (n, k), explained variance ratio (k,))."""
    mean, comps, ratio = pca_basis(x, k)
    return (np.asarray(x, float) - mean) @ comps.T, ratio


def sample_units(hidden: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n units drawn at random (fixed seed) among the more active half (by the variance of
    their activity over trials and time), sorted; all units when there are at most n."""
    h = np.asarray(hidden, float)
    N = h.shape[-1]
    if N <= n:
        return np.arange(N)
    var = h.reshape(-1, N).var(axis=0)
    pool = np.flatnonzero(var >= np.median(var)) if np.any(var > 0) else np.arange(N)
    if len(pool) < n:
        pool = np.argsort(-var)[:n]
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=n, replace=False))


def activity_figure(data: Mapping[str, Any], title: str = "", subtitle: str = "", n_units: int = 4,
                    trial: int = 0, seed: int = 0) -> Figure:
    """A network's hidden activity (see plotdata.activity_data): heatmap units x time of one
    trial (units sorted by the time of their peak), `n_units` units sampled among the active
    ones across conditions (condition means when trials repeat a condition), and the first two
    principal components of the hidden state per condition."""
    h = np.asarray(data["hidden"], float)  # (B, T, N)
    B, T, N = h.shape
    dt, unit = float(data.get("dt", 1.0)), data.get("time_unit", "s")
    cond = data["cond"]
    uniq, groups = _groups(cond)
    means = np.stack([h[g].mean(axis=0) for g in groups])  # (C, T, N)
    colors = condition_colors(cond, uniq)
    t = (np.arange(T) + 1) * dt
    units = sample_units(h, n_units, seed)
    repeats = B > len(uniq)
    with style():
        fig = _figure(11.0, 6.8)
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.25, 1.0])
        ax_h, ax_p = top.subplots(1, 2)
        x = h[trial]
        order = np.argsort(np.argmax(np.abs(x - x[:1]), axis=0), kind="stable")
        lim = float(np.max(np.abs(x))) or 1.0
        if x.min() < 0:
            cmap, vmin, vmax = "RdBu_r", -lim, lim
        else:
            cmap, vmin, vmax = "magma", 0.0, lim
        im = ax_h.imshow(x[:, order].T, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                         extent=(t[0] - dt / 2, t[-1] + dt / 2, N - 0.5, -0.5))
        top.colorbar(im, ax=ax_h, label="activity", fraction=0.05, pad=0.02)
        ax_h.set_xlabel(time_label(unit))
        ax_h.set_ylabel("unit (sorted by time of largest change)")
        ax_h.set_title(f"All {N} units, {_trial_name(data, trial)}")
        # principal components of condition means
        proj, ratio = pca(means.reshape(-1, N), 2)
        proj = proj.reshape(len(uniq), T, -1)
        if proj.shape[-1] < 2:
            proj = np.concatenate([proj, np.zeros_like(proj)], axis=-1)
            ratio = np.concatenate([ratio, [0.0]])
        for c in range(len(uniq)):
            ax_p.plot(proj[c, :, 0], proj[c, :, 1], color=colors[c], lw=1.3)
            ax_p.plot(proj[c, -1, 0], proj[c, -1, 1], marker="o", ms=3.5, color=colors[c])
        ax_p.plot(proj[:, 0, 0], proj[:, 0, 1], ls="none", marker="o", ms=4, mfc="white", mec="black", zorder=5)
        ax_p.set_xlabel(f"PC 1 ({100 * ratio[0]:.0f}% var.)")
        ax_p.set_ylabel(f"PC 2 ({100 * ratio[1]:.0f}% var.)")
        ax_p.set_title("Hidden state, first two PCs" + (" (condition means)" if repeats else "")
                       + "\n(○ first step, ● last step)")
        _condition_colorbar(top, ax_p, cond, fraction=0.05, pad=0.02)
        unit_axes = np.atleast_1d(bottom.subplots(1, len(units), sharey=True, squeeze=False)[0])
        for i, (ax, u) in enumerate(zip(unit_axes, units)):
            for c in range(len(uniq)):
                ax.plot(t, means[c, :, u], color=colors[c], lw=1.1)
            ax.set_title(f"unit {u}")
            ax.set_xlabel(time_label(unit))
            if i == 0:
                ax.set_ylabel("activity" + (" (condition mean)" if repeats else ""))
        bottom.suptitle("Sampled units, coloured by " + cond["label"], fontsize=9)
        node = data.get("node", "network")
        head = f"{title}: activity of `{node}`" if title else f"Activity of `{node}`"
        fig.suptitle(head + (f" — {subtitle}" if subtitle else ""))
    return fig


# ---- cognitive trials ------------------------------------------------------------------------

def pick_trials(cond: Mapping[str, Any], n: int = 4) -> list[int]:
    """Up to n trials spread over the conditions (the first trial of evenly spaced conditions)."""
    uniq, groups = _groups(cond)
    if len(uniq) <= n:
        picks = [g[0] for g in groups]
        rest = [i for i in range(len(cond["values"])) if i not in picks]
        picks += rest[: n - len(picks)]
        return sorted(int(i) for i in picks)[:n]
    idx = np.unique(np.round(np.linspace(0, len(uniq) - 1, n)).astype(int))
    return [int(groups[i][0]) for i in idx]


def _shade_mask(ax: Any, t: np.ndarray, mask: np.ndarray, label: str | None = None) -> None:
    on = np.asarray(mask) > 0
    if on.any():
        ax.fill_between(t, 0, 1, where=on, transform=ax.get_xaxis_transform(), color="0.88", lw=0,
                        step="mid", zorder=0, label=label)


def _channel_ticks(ax: Any, names: Sequence[str]) -> None:
    """Name the rows of a channels x time heatmap: every channel up to 16, else the first
    channel of each named group."""
    if len(names) <= 16:
        ax.set_yticks(range(len(names)), list(names), fontsize=6.5)
        return
    firsts = [i for i, n in enumerate(names) if i == 0 or n.split("[")[0] != names[i - 1].split("[")[0]]
    ax.set_yticks(firsts, [names[i] for i in firsts], fontsize=6.5)


def _trial_title(data: Mapping[str, Any], b: int) -> str:
    """`trial 3: coherence=0.3 direction=1  ✓ correct` (and the sites acting on it, if any)."""
    correct = data.get("correct")
    ok = "" if correct is None else ("  ✓ correct" if correct[b] > 0.5 else "  ✗ wrong")
    by = data.get("perturbed_by")
    sites = f"\n{_sites_label(by[b])}" if by is not None and b < len(by) and by[b] else ""
    return f"{_trial_name(data, b)}{ok}{sites}"


def trials_figure(data: Mapping[str, Any], title: str = "", subtitle: str = "", n_trials: int = 4) -> Figure:
    """A few validation trials of a cognitive task (see plotdata.cognitive_data), one column
    each, titled with the trial's condition: the inputs (top row), then per output channel the
    target (dashed), the network's output (solid) and the loss mask (grey band where scored).
    Channels go by their declared names (input_names, output_names)."""
    x, y, m, out = (np.asarray(data[k], float) if data.get(k) is not None else None for k in ("input", "target", "mask", "output"))
    cond = data["cond"]
    picks = pick_trials(cond, n_trials)
    T = y.shape[1]
    dt, unit = float(data.get("dt", 1.0)), data.get("time_unit", "ms")
    t = np.arange(T) * dt
    n_in = x.shape[-1] if x is not None else 0
    n_out = y.shape[-1]
    in_names = list(data.get("input_names") or [f"input {c}" for c in range(n_in)])
    out_names = list(data.get("output_names") or [f"output {c}" for c in range(n_out)])
    out_rows = n_out if n_out <= 4 else 2  # many outputs: target and output heatmaps
    rows = (1 if x is not None else 0) + out_rows
    color = lambda c: CHANNEL_COLORS[c % len(CHANNEL_COLORS)]  # noqa: E731
    with style():
        fig = _figure(2.9 * len(picks) + 0.8, 1.5 * rows + 1.0)
        gs = fig.add_gridspec(rows, len(picks))
        axes = np.empty((rows, len(picks)), dtype=object)
        for j, b in enumerate(picks):
            r = 0
            if x is not None:
                ax = axes[r, j] = fig.add_subplot(gs[r, j], sharey=axes[r, 0] if j else None)
                if n_in <= 4:
                    for c in range(n_in):
                        ax.plot(t, x[b, :, c], color=color(c), lw=0.9, label=in_names[c])
                else:
                    ax.imshow(x[b].T, aspect="auto", cmap="viridis", extent=(t[0], t[-1] + dt, n_in - 0.5, -0.5))
                    _channel_ticks(ax, in_names)
                if j == 0:
                    ax.set_ylabel("input" if n_in <= 4 else "input channel")
                ax.set_title(_trial_title(data, b), fontsize=8.5)
                r += 1
            if n_out <= 4:
                for c in range(n_out):
                    ax = axes[r, j] = fig.add_subplot(gs[r, j], sharey=axes[r, 0] if j else None, sharex=axes[0, j] if r else None)
                    if m is not None:
                        _shade_mask(ax, t, m[b, :, c], label="mask (scored)")
                    ax.plot(t, y[b, :, c], color="black", ls="--", lw=1.0, label="target")
                    ax.plot(t, out[b, :, c], color=color(c), lw=1.4, label=out_names[c])
                    if j == 0:
                        ax.set_ylabel(out_names[c])
                    if r == 0:
                        ax.set_title(_trial_title(data, b), fontsize=8.5)
                    r += 1
            else:
                for name, arr in (("target", y), ("output", out)):
                    ax = axes[r, j] = fig.add_subplot(gs[r, j], sharex=axes[0, j] if r else None)
                    ax.imshow(arr[b].T, aspect="auto", cmap="viridis", vmin=min(0, y.min()), vmax=max(1, y.max()),
                              extent=(t[0], t[-1] + dt, n_out - 0.5, -0.5))
                    _channel_ticks(ax, out_names)
                    if j == 0:
                        ax.set_ylabel(f"{name} channel")
                    if r == 0:
                        ax.set_title(_trial_title(data, b), fontsize=8.5)
                    r += 1
        for j in range(len(picks)):
            for r in range(rows):
                if r < rows - 1:
                    axes[r, j].tick_params(labelbottom=False)
                else:
                    axes[r, j].set_xlabel(time_label(unit))
                if j > 0:
                    axes[r, j].tick_params(labelleft=False)
        from matplotlib.patches import Patch

        handles = [Line2D([], [], color=color(c), lw=0.9, label=f"{in_names[c]} (input)")
                   for c in range(n_in if n_in <= 4 else 0)]
        handles += [Line2D([], [], color=color(c), lw=1.4, label=f"{out_names[c]} (output)")
                    for c in range(n_out if n_out <= 4 else 0)]
        if n_out <= 4:
            handles.append(Line2D([], [], color="black", ls="--", lw=1.0, label="target"))
            if m is not None:
                handles.append(Patch(color="0.88", label="mask (scored)"))
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6))
        head = f"{title}: validation trials" if title else "Validation trials"
        fig.suptitle(head + (f" — {subtitle}" if subtitle else ""))
    return fig


# ---- psychometric --------------------------------------------------------------------------

def fit_logistic(x: Any, y: Any, iters: int = 100, ridge: float = 1e-5) -> tuple[float, float]:
    """Maximum-likelihood logistic regression p = 1 / (1 + exp(-(b0 + b1 x))) by Newton's
    method. A tiny ridge on the slope (in units of x's spread, per trial) keeps it finite when
    the choices are perfectly separated. Returns (b0, b1)."""
    x = np.asarray(x, float).reshape(-1)
    y = np.asarray(y, float).reshape(-1)
    X = np.stack([np.ones_like(x), x], axis=1)
    w = np.zeros(2)
    sd = float(np.std(x)) or 1.0
    R = np.diag([0.0, ridge * max(len(x), 1) * sd ** 2])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -40, 40)))
        g = X.T @ (p - y) + R @ w
        H = X.T @ (X * (p * (1 - p))[:, None]) + R + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, g)
        w = w - step
        if np.max(np.abs(step)) < 1e-9:
            break
    return float(w[0]), float(w[1])


def psychometric_figure(data: Mapping[str, Any], title: str = "", subtitle: str = "") -> Figure:
    """Choice probability vs the signed stimulus (see plotdata.cognitive_data: x, choice) with
    a fitted logistic, and accuracy by condition (group, correct)."""
    x = np.asarray(data["x"], float)
    choice0 = (np.asarray(data["choice"]) == 0).astype(float)
    correct = np.asarray(data["correct"], float)
    cond = data["cond"]
    with style():
        fig = _figure(9.0, 3.8)
        ax_c, ax_a = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1.0]})
        xs = np.unique(np.round(x, 6))
        n = np.array([np.sum(np.isclose(x, v)) for v in xs])
        p = np.array([choice0[np.isclose(x, v)].mean() for v in xs])
        se = np.sqrt(np.clip(p * (1 - p), 1e-12, None) / np.maximum(n, 1))
        b0, b1 = fit_logistic(x, choice0)
        span = max(abs(xs.min()), abs(xs.max())) * 1.1 or 1.0
        grid = np.linspace(-span, span, 300)
        ax_c.plot(grid, 1 / (1 + np.exp(-(b0 + b1 * grid))), color="black", lw=1.4, label="logistic fit", zorder=2)
        colors = condition_colors(cond, xs)
        ax_c.errorbar(xs, p, yerr=se, fmt="none", ecolor="0.5", elinewidth=0.9, capsize=2, zorder=3)
        ax_c.scatter(xs, p, s=36, c=colors, edgecolors="black", linewidths=0.5, zorder=4, label="network (± s.e.)")
        ax_c.axhline(0.5, color="0.7", ls=":", lw=0.8)
        ax_c.axvline(0.0, color="0.7", ls=":", lw=0.8)
        ax_c.set_ylim(-0.03, 1.03)
        ax_c.set_xlabel(data.get("x_label") or "signed stimulus")
        first = (data.get("output_names") or ["channel 0"])[0]
        ax_c.set_ylabel(f"P(choice = {first})")
        ax_c.set_title(f"Psychometric curve ({len(x)} trials)")
        fit_note = f"slope {b1:.3g}" + (f"\nbias (50% point) {-b0 / b1:+.3g}" if abs(b1) > 1e-6 else "")
        ax_c.text(0.98, 0.04, fit_note, transform=ax_c.transAxes, ha="right", va="bottom", fontsize=7.5, color="0.25")
        ax_c.legend(loc="best")
        group = data.get("group")
        g = np.asarray(group if group is not None else np.abs(x), float)
        gs = np.unique(np.round(g, 6))
        acc = np.array([correct[np.isclose(g, v)].mean() for v in gs])
        ng = np.array([np.sum(np.isclose(g, v)) for v in gs])
        ase = np.sqrt(np.clip(acc * (1 - acc), 1e-12, None) / np.maximum(ng, 1))
        ax_a.errorbar(gs, acc, yerr=ase, color="black", marker="o", ms=5, lw=1.2, capsize=2, mfc="white")
        ax_a.axhline(0.5, color="0.6", ls=":", lw=0.9)
        ax_a.text(gs.max() if gs.size else 1, 0.5, "chance ", ha="right", va="bottom", fontsize=7, color="0.45")
        ax_a.set_ylim(0, 1.03)
        ax_a.set_xlabel(data.get("group_label") or "condition")
        ax_a.set_ylabel("accuracy")
        ax_a.set_title(f"Accuracy by condition (overall {100 * correct.mean():.1f}%)")
        head = f"{title}: choices" if title else "Choices"
        fig.suptitle(head + (f" — {subtitle}" if subtitle else ""))
    return fig


# ---- interventions ----------------------------------------------------------------------------

def _decision_trace(data: Mapping[str, Any]) -> tuple[np.ndarray, str]:
    """A per-trial scalar trace of the response: channel 0 - channel 1 for two outputs (by
    their declared names), else the output on the target's channel."""
    out = np.asarray(data["output"], float)
    if out.shape[-1] == 2:
        names = list(data.get("output_names") or ["output 0", "output 1"])
        return out[..., 0] - out[..., 1], f"{names[0]} − {names[1]}"
    y, m = np.asarray(data["target"], float), data.get("mask")
    m = np.ones_like(y) if m is None else np.asarray(m, float)
    ch = np.argmax(np.mean(y * m, axis=1), axis=-1)
    return np.take_along_axis(out, ch[:, None, None], axis=-1)[..., 0], "output on the target channel"


def _site_values(values: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    return ", ".join(f"{k} = {fmt(v)}" for k, v in values.items())


def intervention_figure(entries: Sequence[Mapping[str, Any]], title: str = "", subtitle: str = "") -> Figure:
    """One row per site (see plotdata.intervention_data): the validation behaviour with the
    site inactive (left) and active (right): effector paths for reaches, the response's
    decision trace by condition for cognitive tasks."""
    rows = max(len(entries), 1)
    reach = bool(entries) and "pos" in entries[0]["off"]
    with style():
        fig = _figure(9.0 if reach else 9.5, (4.0 if reach else 3.0) * rows + 0.6)
        axes = np.atleast_2d(fig.subplots(rows, 2, squeeze=False))
        for i, e in enumerate(entries):
            for j, state in enumerate(("off", "on")):
                ax = axes[i, j]
                d = e[state]
                what = f"`{e['site']}` ({e['kind']} at {e['target']})"
                extra = f"\n{_site_values(e['values'])}" if state == "on" and e.get("values") else ""
                if reach:
                    _draw_paths(ax, d)
                    ax.set_title(f"{what}: {'active' if state == 'on' else 'inactive'}{extra}\n{_error_note(d)}")
                    if i == 0:
                        _path_legend(ax, d)
                else:
                    tr, lab = _decision_trace(d)
                    cond = d["cond"]
                    uniq, groups = _groups(cond)
                    colors = condition_colors(cond, uniq)
                    tt = np.arange(tr.shape[1]) * float(d.get("dt", 1.0))
                    for c, g in enumerate(groups):
                        ax.plot(tt, tr[g].mean(axis=0), color=colors[c], lw=1.2)
                    ax.axhline(0, color="0.7", ls=":", lw=0.8)
                    acc = d.get("correct")
                    acc_s = f" — accuracy {100 * np.mean(acc):.0f}%" if acc is not None else ""
                    ax.set_title(f"{what}: {'active' if state == 'on' else 'inactive'}{acc_s}{extra}")
                    ax.set_xlabel(time_label(d.get("time_unit", "ms")))
                    ax.set_ylabel(lab + " (cond. mean)" if j == 0 else "")
            if not reach:
                axes[i, 1].sharey(axes[i, 0])
                if i == 0:
                    _condition_colorbar(fig, axes[i, 1], entries[i]["on"]["cond"], fraction=0.05, pad=0.02)
        if reach and entries:
            # one frame for every panel, so the effect of each site is seen against the others
            pts = np.concatenate([np.asarray(e[k][f], float).reshape(-1, 2) for e in entries
                                  for k in ("off", "on") for f in ("pos", "goal", "start")])
            pts = pts[np.all(np.isfinite(pts), axis=1)]
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            centre, half = (lo + hi) / 2, max(float(np.max(hi - lo)) / 2, 1e-6) * 1.08
            for ax in axes.ravel():
                ax.set_aspect("equal", adjustable="box")
                ax.set_xlim(centre[0] - half, centre[0] + half)
                ax.set_ylim(centre[1] - half, centre[1] + half)
        head = f"{title}: interventions" if title else "Interventions"
        fig.suptitle(head + (f" — {subtitle}" if subtitle else ""))
    return fig


# ---- replicates -------------------------------------------------------------------------------

def replicate_colors(n: int) -> list[Any]:
    """One colour per replicate: the term colours up to ten, else evenly along viridis."""
    if n <= len(TERM_COLORS):
        return list(TERM_COLORS[:n])
    return list(matplotlib.colormaps["viridis"](np.linspace(0.0, 0.95, n)))


def _spread(values: np.ndarray) -> str:
    v = values[np.isfinite(values)]
    if v.size < 2:
        return ""
    return f"mean {v.mean():.3g}, range {v.min():.3g} to {v.max():.3g}"


def replicates_figure(data: Mapping[str, Any], title: str = "") -> Figure:
    """The replicates of a run side by side (see plotdata.replicate_data): for the validation
    loss (log scale) and each validation metric, one line per replicate over training (left)
    and each replicate's value at the last validation (right, a bar each). A run of one
    replicate gets one line, and the title says there is nothing to compare. Curriculum stage
    changes are dotted lines."""
    R = int(data["replicates"])
    batch = np.asarray(data["batch"], float)
    rows = [("loss", "validation loss", np.asarray(data["loss"], float))]
    rows += [(m, METRIC_LABELS.get(m, m.replace("_", " ")), np.asarray(y, float)) for m, y in data["metrics"].items()]
    colors = replicate_colors(R)
    stage = np.asarray(data.get("stage", np.zeros(len(batch), int)))
    with style():
        fig = _figure(10.0, 2.3 * len(rows) + 0.9)
        gs = fig.add_gridspec(len(rows), 2, width_ratios=[1.7, 1.0])
        first = None
        for i, (name, label, y) in enumerate(rows):
            ax = fig.add_subplot(gs[i, 0], sharex=first)
            first = first or ax
            for k in range(R):
                ax.plot(batch, _positive(y[:, k]) if name == "loss" else y[:, k], color=colors[k], marker="o",
                        ms=2.5, lw=1.2, label=f"replicate {k}")
            if name == "loss":
                ax.set_yscale("log")
            if name == "correct":
                ax.set_ylim(0, 1.02)
                ax.axhline(0.5, color="0.6", ls=":", lw=0.8)
            for a, b in zip(range(len(stage) - 1), range(1, len(stage))):
                if stage[a] != stage[b]:
                    ax.axvline(batch[a], color="0.5", ls=":", lw=0.9)
            ax.set_ylabel(label)
            if i == 0:
                ax.set_title("Validation, each replicate")
                if R <= 12:
                    ax.legend(loc="best", ncol=1 if R < 6 else 2)
            if i == len(rows) - 1:
                ax.set_xlabel("training batch")
            else:
                ax.tick_params(labelbottom=False)
            bx = fig.add_subplot(gs[i, 1])
            final = y[-1] if len(y) else np.full((R,), np.nan)
            bars = bx.bar(np.arange(R), np.nan_to_num(final, nan=0.0), color=colors, width=0.7)
            for k, bar in enumerate(bars):
                bar.set_gid(f"replicate {k}")
            bx.bar_label(bars, labels=[f"{v:.3g}" for v in final], fontsize=7, padding=1.5)
            bx.set_xticks(np.arange(R), [str(k) for k in range(R)] if R <= 20 else None)
            if name == "correct":
                bx.set_ylim(0, 1.12)
            bx.margins(y=0.15)
            spread = _spread(final)
            bx.set_title(f"final {label}" + (f"\n{spread}" if spread else ""), fontsize=8.5)
            if i == len(rows) - 1:
                bx.set_xlabel("replicate")
        what = (f"{R} replicates" if R > 1 else
                "1 replicate (the run has replicates = 1): one line, nothing to compare")
        fig.suptitle(f"{title}: replicates — {what}" if title else f"Replicates — {what}")
    return fig


# ---- a run's figures ------------------------------------------------------------------------

def save_figure(fig: Figure, path: str | os.PathLike, fmt: str = "png") -> Path:
    """Write a figure atomically (a temporary file beside `path`, then a rename)."""
    path = Path(path)
    with replacing(path) as tmp, style():
        fig.savefig(tmp, format=fmt, dpi=DPI)
    return path
