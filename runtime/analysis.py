"""`rnn analyze TARGET WHAT`: fixed points, principal components, targeted dimensionality
reduction, psychometric and chronometric curves by a condition, and per-unit tuning curves of a
trained network (a run directory) or of a model
file at its initialization.

Every analysis runs replicate 0 (or `--replicate K`) on the validation set, writes its numbers
to WHAT.npz and WHAT.json and its figure to WHAT.png in RUN/analysis/ (or MODEL-analysis/ for a
model file, or `-o DIR`). The data is gathered with `rnnlang.runtime.run` (states included) and
`plotdata`; the drawing reuses `plots`' PCA, condition colours and logistic fit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from rnnlang.dsl.errors import UsageError

from . import fixedpoints, plotdata, plots
from .interop import save_npz
from .rundir import atomic_write
from .run import Opened, open_target, rollout

Written = list[Path]


# ---- gathering -------------------------------------------------------------------------------------


def networks(o: Opened) -> list[str]:
    """The network nodes (ctrnn, gru, lstm), in declaration order."""
    return [n for n in o.model.node_names if o.model.plan.kinds[n].family == "network"]


def pick_network(o: Opened, node: str | None) -> str:
    nets = networks(o)
    if not nets:
        raise UsageError("the model has no network node to analyse")
    if node is None:
        return nets[0]
    if node not in nets:
        raise UsageError(f"`{node}` is not a network of this model; its networks: {', '.join(nets)}")
    return node


def validation(o: Opened) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The validation trials (NumPy) and the rollout on them (outputs, states, metrics)."""
    if o.trainer.val_trial is None:
        raise UsageError("the model has no task, so no validation set to analyse")
    trial = {k: {kk: np.asarray(vv) if not isinstance(vv, Mapping) else {a: np.asarray(b) for a, b in vv.items()}
                 for kk, vv in v.items()} for k, v in o.trainer.val_trial.items()}
    return trial, rollout(o, o.trainer.val_trial, o.trainer.k_val)


def state_of(out: Mapping[str, np.ndarray], node: str) -> np.ndarray:
    """The node's flat state (B, T, N), its parts in the order the fixed-point finder flattens
    them (an lstm's h then c)."""
    names = [k for k in out if k == f"{node}.state" or k.startswith(f"{node}.state.")]
    names.sort(key=lambda k: [int(p) if p.isdigit() else p for p in k.split(".")[2:]])
    parts = [out[k].reshape(out[k].shape[:2] + (-1,)) for k in names]
    return np.concatenate(parts, axis=-1)


def network_input(o: Opened, node: str, trial: Mapping[str, Any], out: Mapping[str, np.ndarray]) -> np.ndarray:
    """What arrives at the network's `input` port (B, T, n_in), before any intervention."""
    model = o.model
    parts = []
    for s in model.plan.sources.get((node, "input"), []):
        src = trial["signals"][s.port] if s.node == model.task_name else out[f"{s.node}.{s.port}"]
        parts.append(np.asarray(src)[..., s.lo:s.hi])
    B, T = state_of(out, node).shape[:2]
    return np.concatenate(parts, axis=-1) if parts else np.zeros((B, T, 0), np.float32)


def variable(trial: Mapping[str, Any], name: str) -> np.ndarray:
    vars_ = trial.get("vars", {})
    if name not in vars_:
        raise UsageError(f"the task has no trial variable `{name}`; its variables: {', '.join(sorted(vars_)) or 'none'}")
    v = np.asarray(vars_[name])
    if v.ndim != 1:
        raise UsageError(f"trial variable `{name}` is a vector; choose a number-valued one")
    return v.astype(float)


def by_variable(trial: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    """A condition for colouring (see plotdata.conditions): a chosen variable, or the default."""
    if name is None:
        return plotdata.conditions(trial)
    values = variable(trial, name)
    return {"values": values, "label": name, "kind": "diverging" if values.min() < 0 < values.max() else "sequential",
            "vmax": float(np.max(np.abs(values))) or 1.0}


def out_dir(o: Opened, target: str | os.PathLike, output: str | os.PathLike | None) -> Path:
    if output is not None:
        d = Path(output)
    elif o.run_path is not None:
        d = o.run_path / "analysis"
    else:
        d = Path(f"{Path(target).stem}-analysis")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _write(d: Path, name: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], fig: Any, fmt: str) -> Written:
    paths = [save_npz(d / f"{name}.npz", arrays)]
    atomic_write(d / f"{name}.json", json.dumps(meta, indent=2, default=float) + "\n")
    paths.append(d / f"{name}.json")
    paths.append(plots.save_figure(fig, d / f"{name}.{fmt}", fmt))
    return paths


# ---- fixed points ---------------------------------------------------------------------------------


def parse_input(text: str | None, n_in: int) -> np.ndarray:
    if text is None:
        return np.zeros(n_in, np.float32)
    try:
        u = np.asarray([float(v) for v in text.split(",") if v.strip()], np.float32)
    except ValueError:
        raise UsageError(f"--input {text!r}: give {n_in} numbers separated by commas") from None
    if u.size != n_in:
        raise UsageError(f"--input has {u.size} values but the network takes {n_in} inputs")
    return u


def sample_states(states: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """n states drawn along the trajectories (B, T, N), plus Gaussian noise of `noise` times the
    states' standard deviation."""
    rng = np.random.default_rng(seed)
    flat = states.reshape(-1, states.shape[-1])
    pick = flat[rng.integers(0, flat.shape[0], n)]
    return pick + noise * float(flat.std() or 1.0) * rng.standard_normal(pick.shape)


def fixed_points(o: Opened, node: str, u_text: str | None = None, per_condition: str | None = None, n_init: int = 256,
                 noise: float = 0.01, q_tol: float = 1e-9, slow_tol: float | None = None) -> dict[str, Any]:
    """Fixed (and slow) points of `node` under a constant input, or one search per condition
    under its mean input, from states sampled along the validation trajectories. Returns the
    arrays and summary that `analyze` writes, plus what the figure needs."""
    trial, out = validation(o)
    step = fixedpoints.network_step(o.model, o.params, node)
    X = state_of(out, node)
    U = network_input(o, node, trial, out)
    if per_condition is not None:
        v = variable(trial, per_condition)
        groups = [(float(c), np.isclose(v, c)) for c in np.unique(v)]
        searches = [(f"{per_condition}={c:g}", U[sel].mean(axis=(0, 1)), X[sel]) for c, sel in groups]
    else:
        searches = [("input=" + ",".join(f"{x:g}" for x in parse_input(u_text, step.n_in)), parse_input(u_text, step.n_in), X)]
    found = []
    for i, (label, u, xs) in enumerate(searches):
        x0 = sample_states(xs, n_init, noise, seed=i)
        found.append((label, fixedpoints.find(step, x0, u, q_tol=q_tol, slow_tol=slow_tol,
                                              dedup_tol=1e-3 * max(1.0, float(np.abs(X).max())))))
    return {"node": node, "states": X, "searches": found, "trial": trial}


def fixed_points_outputs(res: Mapping[str, Any], o: Opened) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    X, found = res["states"], res["searches"]
    N = X.shape[-1]
    mean, comps, ratio = plots.pca_basis(X.reshape(-1, N), 3)
    cat = lambda f, dflt: np.concatenate([f(r) for _, r in found]) if found else dflt  # noqa: E731
    arrays = {
        "x": cat(lambda r: r.x, np.zeros((0, N))), "q": cat(lambda r: r.q, np.zeros(0)),
        "eigenvalues": cat(lambda r: r.eigenvalues, np.zeros((0, N), complex)),
        "jacobian": cat(lambda r: r.jacobian, np.zeros((0, N, N))),
        "stable": cat(lambda r: r.stable, np.zeros(0, bool)),
        "kind": cat(lambda r: r.kind, np.zeros(0, "<U5")).astype("<U5"),
        "unstable_mode": cat(lambda r: r.unstable_mode, np.zeros((0, N))),
        "condition": np.concatenate([np.full(len(r.q), i) for i, (_, r) in enumerate(found)]).astype(int),
        "inputs": np.stack([r.input for _, r in found]),
        "pca_mean": mean, "pca_components": comps, "pca_explained_variance_ratio": ratio,
    }
    arrays["x_pca"] = (arrays["x"] - mean) @ comps.T
    meta = {"node": res["node"], "kind": o.model.plan.kinds[res["node"]].name, "parameters": o.origin,
            "state": "the node's state vector (a ctrnn's pre-activation state; an lstm's [h, c])",
            "stable_means": "every eigenvalue of dF/dx has |lambda| < 1 (discrete time)",
            "conditions": [{"label": label, "input": r.input.tolist(), **r.summary()} for label, r in found],
            "points": [{"condition": int(c), "q": float(q), "stable": bool(s), "kind": str(k),
                        "max_abs_eigenvalue": float(np.abs(e).max()) if e.size else 0.0,
                        "pca": [float(v) for v in p]}
                       for c, q, s, k, e, p in zip(arrays["condition"], arrays["q"], arrays["stable"], arrays["kind"],
                                                   arrays["eigenvalues"], arrays["x_pca"])]}
    cond = plotdata.conditions(res["trial"])
    fig = fixed_points_figure(X, arrays, cond, [label for label, _ in found], title=o.model.name)
    return arrays, meta, fig


def fixed_points_figure(X: np.ndarray, fp: Mapping[str, np.ndarray], cond: Mapping[str, Any], labels: Sequence[str],
                        title: str = "") -> Any:
    """The trajectories over their first two principal components (coloured by condition), the
    points (filled: stable; open red: unstable) and each unstable point's unstable mode."""
    mean, comps = fp["pca_mean"], fp["pca_components"]
    with plots.style():
        fig = plots._figure(6.0, 5.0)
        ax = fig.subplots()
        colors = plots.condition_colors(cond)
        for b in range(X.shape[0]):
            p = (X[b] - mean) @ comps.T
            ax.plot(p[:, 0], p[:, 1] if p.shape[1] > 1 else 0 * p[:, 0], color=colors[b], lw=0.7, alpha=0.6)
        P = fp["x_pca"]
        span = float(np.ptp((X.reshape(-1, X.shape[-1]) - mean) @ comps[:1].T)) or 1.0
        for i in range(len(P)):
            y = P[i, 1] if P.shape[1] > 1 else 0.0
            if fp["stable"][i]:
                ax.plot(P[i, 0], y, "o", color="black", ms=6, zorder=5)
            else:
                ax.plot(P[i, 0], y, "o", mfc="white", mec="#d62728", mew=1.5, ms=6, zorder=5)
                d = fp["unstable_mode"][i] @ comps.T * 0.08 * span
                dy = d[1] if d.shape[0] > 1 else 0.0
                ax.plot([P[i, 0] - d[0], P[i, 0] + d[0]], [y - dy, y + dy], color="#d62728", lw=1.5, zorder=4)
        ax.plot([], [], "o", color="black", label=f"stable ({int(np.sum(fp['stable']))})")
        ax.plot([], [], "o", mfc="white", mec="#d62728", label=f"unstable ({int(np.sum(~fp['stable']))}), with its unstable mode")
        ratio = fp["pca_explained_variance_ratio"]
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f}% of variance)")
        if len(ratio) > 1:
            ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f}%)")
        ax.legend(loc="best", fontsize=7)
        ax.set_title((f"{title}: " if title else "") + "fixed points over the validation trajectories"
                     + (f"\n{'; '.join(labels)}" if len(labels) <= 4 else f"\n{len(labels)} conditions"), fontsize=9)
    return fig


# ---- pca, psychometric, tuning --------------------------------------------------------------------


def plane(ax: Any, colors: Sequence[Any], means: np.ndarray, xlabel: str, ylabel: str | None, title: str) -> None:
    """Mean trajectories (conditions, steps, >= 1 coordinates) in the plane of their first two
    coordinates (on a line when there is one, `ylabel` None), each ending in a dot."""
    two = ylabel is not None
    for c, m in zip(colors, means):
        ax.plot(m[:, 0], m[:, 1] if two else 0 * m[:, 0], color=c, lw=1.3)
        ax.plot(m[-1, 0], m[-1, 1] if two else 0, "o", color=c, ms=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or "")
    ax.set_title(title)


def pca_analysis(o: Opened, node: str, k: int, by: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """Principal components of the hidden activity on the validation set, the trajectories
    projected on them, and the mean trajectory of each condition."""
    trial, out = validation(o)
    H = out[f"{node}.hidden"]
    B, T, N = H.shape
    mean, comps, ratio = plots.pca_basis(H.reshape(-1, N), k)
    proj = (H - mean) @ comps.T
    cond = by_variable(trial, by)
    values, groups = plots._groups(cond)
    means = np.stack([proj[g].mean(axis=0) for g in groups])
    full_ratio = plots.pca_basis(H.reshape(-1, N), N)[2]
    arrays = {"components": comps, "mean": mean, "explained_variance_ratio": ratio, "explained_variance_ratio_all": full_ratio,
              "projections": proj, "condition": cond["values"], "condition_values": values, "condition_means": means}
    meta = {"node": node, "signal": f"{node}.hidden", "parameters": o.origin, "trials": B, "steps": T, "units": N,
            "condition": cond["label"], "explained_variance_ratio": ratio.tolist(),
            "components_for_90_percent": int(np.searchsorted(np.cumsum(full_ratio), 0.9) + 1)}
    t = np.arange(T) * o.model.dt
    unit = plotdata.time_unit(o.model.dt)
    with plots.style():
        fig = plots._figure(11.0, 3.6)
        a1, a2, a3 = fig.subplots(1, 3)
        colors = plots.condition_colors(cond, values)
        plane(a1, colors, means, f"PC1 ({100 * ratio[0]:.0f}%)", f"PC2 ({100 * ratio[1]:.0f}%)" if k > 1 else None,
              f"mean trajectory by {cond['label']}")
        for c, m in zip(colors, means):
            a2.plot(t, m[:, 0], color=c, lw=1.0)
        a2.set_xlabel(plots.time_label(unit))
        a2.set_ylabel("PC1")
        a2.set_title("PC1 over time")
        n = min(len(full_ratio), 20)
        a3.bar(np.arange(1, n + 1), full_ratio[:n], color="0.5")
        a3.plot(np.arange(1, n + 1), np.cumsum(full_ratio[:n]), "k.-", lw=0.8, label="cumulative")
        a3.set_xlabel("component")
        a3.set_ylabel("explained variance ratio")
        a3.legend(loc="center right")
        plots._condition_colorbar(fig, a1, cond)
        fig.suptitle(f"{o.model.name}: principal components of {node}.hidden")
    return arrays, meta, fig


def psychometric_analysis(o: Opened, by: str | None, x_var: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """P(choice of the first output channel) against the signed stimulus, one curve (with a logistic fit) per
    value of the `by` variable (e.g. the context), on the validation set redrawn 4 times."""
    ctx = plotdata.RunContext(o.run_path, o.model, o.trainer, _one_replicate(o), 0)
    trials = [ctx.validation_trial()] + ctx.extra_validation_trials(3)
    data = plotdata.cognitive_data(ctx, trials)
    if data.get("choice") is None:
        raise UsageError("the task reports no choice per trial, so there is no psychometric curve")
    cat = lambda name: np.concatenate([variable(t, name) for t in trials])  # noqa: E731
    x = cat(x_var) if x_var else data["x"]
    if x is None:
        raise UsageError("name the stimulus variable for the x axis with --var (e.g. --var coherence)")
    x = np.asarray(x, float)
    choice0 = (np.asarray(data["choice"]) == 0).astype(float)
    split = cat(by) if by else np.zeros_like(x)
    levels = np.unique(split)
    arrays: dict[str, np.ndarray] = {"x": x, "choice0": choice0, "by": split, "levels": levels}
    curves = []
    cond = {"values": levels, "label": by or "all", "kind": "sequential", "vmax": float(np.abs(levels).max()) or 1.0}
    with plots.style():
        fig = plots._figure(6.0, 4.2)
        ax = fig.subplots()
        for level, color in zip(levels, plots.condition_colors(cond, levels)):
            sel = split == level
            xs = np.unique(x[sel])
            p = np.array([choice0[sel & (x == v)].mean() for v in xs])
            b0, b1 = plots.fit_logistic(x[sel], choice0[sel])
            grid = np.linspace(x.min(), x.max(), 200)
            ax.plot(grid, 1 / (1 + np.exp(-(b0 + b1 * grid))), color=color, lw=1.3)
            ax.plot(xs, p, "o", color=color, ms=4, label=f"{by} = {level:g}: slope {b1:.3g}" if by else f"slope {b1:.3g}")
            arrays[f"level{len(curves)}_x"], arrays[f"level{len(curves)}_p"] = xs, p
            curves.append({"level": float(level), "trials": int(sel.sum()), "slope": b1, "intercept": b0,
                           "bias": (-b0 / b1) if abs(b1) > 1e-9 else None})
        ax.set_xlabel(x_var or data.get("x_label") or "stimulus")
        ax.set_ylabel(f"P(choice = {data['output_names'][0]})")
        ax.set_ylim(-0.03, 1.03)
        ax.legend(loc="best", fontsize=7)
        ax.set_title(f"{o.model.name}: psychometric curves" + (f" by {by}" if by else ""))
    meta = {"parameters": o.origin, "x": x_var or data.get("x_label"), "by": by, "trials": int(len(x)), "curves": curves}
    return arrays, meta, fig


def _one_replicate(o: Opened) -> Any:
    """A stand-in for a training state holding only the chosen replicate (as replicate 0)."""
    from types import SimpleNamespace

    import jax

    return SimpleNamespace(params=jax.tree_util.tree_map(lambda x: x[None], o.params), batch=0)


def tuning_analysis(o: Opened, node: str, var: str) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """Each unit's mean activity over the trial against a trial variable: (values, units)."""
    trial, out = validation(o)
    H = out[f"{node}.hidden"]
    v = variable(trial, var)
    values = np.unique(v)
    per_trial = H.mean(axis=1)  # (B, N)
    tuning = np.stack([per_trial[np.isclose(v, x)].mean(axis=0) for x in values])
    sem = np.stack([per_trial[np.isclose(v, x)].std(axis=0) / np.sqrt(max(np.sum(np.isclose(v, x)), 1)) for x in values])
    preferred = values[np.argmax(tuning, axis=0)]
    depth = tuning.max(axis=0) - tuning.min(axis=0)
    arrays = {"values": values, "tuning": tuning, "sem": sem, "preferred": preferred, "modulation": depth}
    meta = {"node": node, "signal": f"{node}.hidden, mean over each trial", "variable": var, "parameters": o.origin,
            "units": int(H.shape[-1]), "values": values.tolist(),
            "most_modulated_units": np.argsort(-depth)[:10].tolist()}
    units = plots.sample_units(H, 6)
    with plots.style():
        fig = plots._figure(10.0, 3.8)
        a1, a2 = fig.subplots(1, 2)
        for u in units:
            a1.errorbar(values, tuning[:, u], yerr=sem[:, u], marker="o", ms=3, lw=1.0, capsize=2, label=f"unit {u}")
        a1.set_xlabel(var)
        a1.set_ylabel("mean activity")
        a1.legend(loc="best", fontsize=7)
        a1.set_title("tuning curves (sampled units)")
        order = np.lexsort((-depth, preferred))
        z = tuning[:, order]
        z = (z - z.min(axis=0)) / np.where(depth[order] > 0, depth[order], 1.0)
        im = a2.imshow(z.T, aspect="auto", cmap="viridis", interpolation="nearest",
                       extent=(-0.5, len(values) - 0.5, len(order) - 0.5, -0.5))
        a2.set_xticks(range(len(values)))
        a2.set_xticklabels([f"{x:g}" for x in values], rotation=45 if len(values) > 6 else 0)
        a2.set_xlabel(var)
        a2.set_ylabel("unit (sorted by preferred value)")
        a2.set_title("all units, normalised")
        fig.colorbar(im, ax=a2, label="(r - min) / range")
        fig.suptitle(f"{o.model.name}: tuning of {node}.hidden to {var}")
    return arrays, meta, fig


# ---- targeted dimensionality reduction ---------------------------------------------------------------


def regressors(trial: Mapping[str, Any], out: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """(B, V) values per trial of the named trial variables, or `choice` (the network's choice,
    from the task's metrics)."""
    cols = []
    for name in names:
        if name == "choice" and "choice" not in trial.get("vars", {}):
            if "metrics/choice" not in out:
                raise UsageError("`choice` needs a task that reports the network's choice per trial")
            cols.append(np.asarray(out["metrics/choice"], float))
        else:
            cols.append(variable(trial, name))
    return np.stack(cols, axis=1)


def tdr(H: np.ndarray, F: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Targeted dimensionality reduction (Mante, Sussillo, Shenoy & Newsome 2013).

    H (B, T, N): activity of N units over T steps of B trials; F (B, V): the task variables.
    1. each unit is z-scored over trials and steps;
    2. per unit and step, least squares z[b, t, i] = sum_v beta[v, t, i] f[b, v] + c[t, i], with
       each variable centred and scaled to unit standard deviation over trials;
    3. the coefficients are denoised by projecting them on the first k principal components of
       the population activity (k = 0: no denoising);
    4. each variable's axis is its coefficient vector at the step where its norm is largest;
    5. the axes are orthogonalised in the order given (QR): the first keeps its direction, each
       next one keeps what the earlier ones do not explain.
    Returns the z-scored activity's mean and std per unit, the coefficients (V, T, N), the steps
    of maximal norm (V,), the axes (V, N) and the projections of every trial on them (B, T, V)."""
    B, T, N = H.shape
    X = H.reshape(-1, N).astype(float)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (H - mu) / sd
    Fc = F - F.mean(axis=0)
    fs = Fc.std(axis=0)
    if np.any(fs == 0):
        raise ValueError("a regressor is the same on every trial")
    Fz = Fc / fs
    design = np.concatenate([Fz, np.ones((B, 1))], axis=1)  # (B, V + 1)
    coef, *_ = np.linalg.lstsq(design, Z.reshape(B, T * N), rcond=None)
    beta = coef[:-1].reshape(-1, T, N)  # (V, T, N)
    if k:
        _, comps, _ = plots.pca_basis(Z.reshape(-1, N), k)
        beta = beta @ comps.T @ comps
    norms = np.linalg.norm(beta, axis=-1)  # (V, T)
    t_max = np.argmax(norms, axis=1)
    bmax = beta[np.arange(beta.shape[0]), t_max]  # (V, N)
    q, r = np.linalg.qr(bmax.T)  # columns of q: the orthogonalised axes, in order
    axes = (q * np.sign(np.diag(r))).T  # each axis points as its own coefficients do
    return {"mean": mu, "std": sd, "beta": beta, "t_max": t_max, "axes": axes, "projections": Z @ axes.T}


def tdr_analysis(o: Opened, node: str, names: Sequence[str], k: int, by: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """TDR of the network's hidden activity on the validation set against task variables; the
    mean trajectory of each condition (`by`, default the first variable) projected on the
    first two axes, and every axis over time."""
    if len(names) < 1:
        raise UsageError("tdr needs --vars VAR1,VAR2,... (trial variables, or choice)")
    trial, out = validation(o)
    H = out[f"{node}.hidden"]
    F = regressors(trial, out, names)
    try:
        res = tdr(H, F, min(k, H.shape[-1]))
    except ValueError as e:
        raise UsageError(f"tdr: {e}; use variables that differ between validation trials") from None
    cond = by_variable(trial, by) if by else by_variable(trial, names[0]) if names[0] != "choice" else {
        "values": F[:, 0], "label": "choice", "kind": "sequential", "vmax": float(np.max(np.abs(F[:, 0]))) or 1.0}
    values, groups = plots._groups(cond)
    P = res["projections"]
    means = np.stack([P[g].mean(axis=0) for g in groups])  # (C, T, V)
    arrays = {**{k_: v for k_, v in res.items()}, "regressors": F, "condition": np.asarray(cond["values"], float),
              "condition_values": values, "condition_means": means}
    dt = o.model.dt
    meta = {"node": node, "signal": f"{node}.hidden", "parameters": o.origin, "variables": list(names),
            "denoising_components": int(min(k, H.shape[-1])), "trials": int(H.shape[0]),
            "time_of_max_norm": {n: float(t * dt) for n, t in zip(names, res["t_max"])},
            "axis_overlaps_before_orthogonalisation": _overlaps(res["beta"], res["t_max"]).tolist(),
            "condition": cond["label"]}
    t = np.arange(H.shape[1]) * dt
    unit = plotdata.time_unit(dt)
    V = len(names)
    with plots.style():
        fig = plots._figure(4.0 + 3.2 * V, 3.6)
        axs = fig.subplots(1, 1 + V)
        colors = plots.condition_colors(cond, values)
        a0 = axs[0]
        plane(a0, colors, means, f"{names[0]} axis", f"{names[1]} axis" if V > 1 else None,
              f"mean trajectory by {cond['label']}")
        for j, name in enumerate(names):
            ax = axs[1 + j]
            for c, m in zip(colors, means):
                ax.plot(t, m[:, j], color=c, lw=1.0)
            ax.axvline(res["t_max"][j] * dt, color="0.6", lw=0.8, ls=":")
            ax.set_xlabel(plots.time_label(unit))
            ax.set_title(f"{name} axis")
        plots._condition_colorbar(fig, a0, cond)
        fig.suptitle(f"{o.model.name}: targeted dimensionality reduction of {node}.hidden")
    return arrays, meta, fig


def _overlaps(beta: np.ndarray, t_max: np.ndarray) -> np.ndarray:
    """Cosines between the variables' coefficient vectors at their steps of maximal norm."""
    b = beta[np.arange(beta.shape[0]), t_max]
    n = np.linalg.norm(b, axis=1, keepdims=True)
    b = b / np.where(n > 0, n, 1.0)
    return b @ b.T


# ---- chronometric curves -----------------------------------------------------------------------------


def chronometric_analysis(o: Opened, metric: str, x_var: str, by: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """A per-trial task metric (a reaction time, e.g. `metric rt = first_crossing(...)`) against a
    trial variable: its mean and standard error per value, one curve per value of `by`, on the
    validation set redrawn 4 times; trials where the metric is not finite (no response) are
    left out of the mean and counted."""
    ctx = plotdata.RunContext(o.run_path, o.model, o.trainer, _one_replicate(o), 0)
    trials = [ctx.validation_trial()] + ctx.extra_validation_trials(3)
    values, xs, splits = [], [], []
    for t in trials:
        out = rollout(o, t, o.trainer.k_val)
        if f"metrics/{metric}" not in out:
            names = sorted(k.split("/", 1)[1] for k in out if k.startswith("metrics/"))
            raise UsageError(f"the task has no metric `{metric}`; its metrics: {', '.join(names) or 'none'}")
        values.append(np.asarray(out[f"metrics/{metric}"], float))
        xs.append(variable(t, x_var))
        splits.append(variable(t, by) if by else np.zeros(len(xs[-1])))
    y, x, split = np.concatenate(values), np.concatenate(xs), np.concatenate(splits)
    levels = np.unique(split)
    arrays: dict[str, np.ndarray] = {"x": x, "metric": y, "by": split, "levels": levels}
    curves = []
    cond = {"values": levels, "label": by or "all", "kind": "sequential", "vmax": float(np.abs(levels).max()) or 1.0}
    unit = plotdata.time_unit(o.model.dt)
    with plots.style():
        fig = plots._figure(6.0, 4.2)
        ax = fig.subplots()
        for level, color in zip(levels, plots.condition_colors(cond, levels)):
            sel = split == level
            ux = np.unique(x[sel])
            m, se, missing = [], [], []
            for v in ux:
                vals = y[sel & (x == v)]
                ok = vals[np.isfinite(vals)]
                m.append(ok.mean() if len(ok) else np.nan)
                se.append(ok.std() / np.sqrt(len(ok)) if len(ok) > 1 else 0.0)
                missing.append(int(len(vals) - len(ok)))
            m, se = np.array(m), np.array(se)
            ax.errorbar(ux, m, yerr=se, marker="o", ms=4, lw=1.2, capsize=2, color=color,
                        label=f"{by} = {level:g}" if by else None)
            i = len(curves)
            arrays[f"level{i}_x"], arrays[f"level{i}_mean"], arrays[f"level{i}_sem"] = ux, m, se
            curves.append({"level": float(level), "x": ux.tolist(), "mean": [None if np.isnan(v) else float(v) for v in m],
                           "not_finite": missing})
        ax.set_xlabel(x_var)
        ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
        if by:
            ax.legend(loc="best", fontsize=7)
        ax.set_title(f"{o.model.name}: {metric} by {x_var}")
    meta = {"parameters": o.origin, "metric": metric, "x": x_var, "by": by, "trials": int(len(x)), "curves": curves}
    return arrays, meta, fig


# ---- the command -------------------------------------------------------------------------------------


def analyze(args: Any) -> Written:
    """Run the analysis `args.analysis` as `rnn analyze` parsed it; returns the files written."""
    o = open_target(args.target, args.overrides, args.replicate, getattr(args, "checkpoint", None))
    d = out_dir(o, args.target, args.output)
    what = args.analysis
    if what == "fixed-points":
        node = pick_network(o, args.node)
        res = fixed_points(o, node, args.input, args.per_condition, args.n_init, args.noise, args.q_tol, args.slow_tol)
        arrays, meta, fig = fixed_points_outputs(res, o)
        return _write(d, "fixed_points", arrays, meta, fig, args.format)
    if args.components is not None and args.components < (1 if what == "pca" else 0):
        raise UsageError(f"--components {args.components}: give a count of at least {1 if what == 'pca' else 0}")
    if what == "pca":
        arrays, meta, fig = pca_analysis(o, pick_network(o, args.node), 3 if args.components is None else args.components, args.by)
        return _write(d, "pca", arrays, meta, fig, args.format)
    if what == "psychometric":
        arrays, meta, fig = psychometric_analysis(o, args.by, args.var)
        return _write(d, "psychometric", arrays, meta, fig, args.format)
    if what == "tuning":
        if args.var is None:
            raise UsageError("tuning needs --var VAR, the trial variable to tune to (e.g. --var coherence)")
        arrays, meta, fig = tuning_analysis(o, pick_network(o, args.node), args.var)
        return _write(d, "tuning", arrays, meta, fig, args.format)
    if what == "tdr":
        names = [v.strip() for v in (args.vars or "").split(",") if v.strip()]
        arrays, meta, fig = tdr_analysis(o, pick_network(o, args.node), names, 12 if args.components is None else args.components, args.by)
        return _write(d, "tdr", arrays, meta, fig, args.format)
    if what == "chronometric":
        if args.metric is None or args.var is None:
            raise UsageError("chronometric needs --metric NAME (a per-trial task metric, e.g. a reaction time) "
                             "and --var VAR (the trial variable on the x axis)")
        arrays, meta, fig = chronometric_analysis(o, args.metric, args.var, args.by)
        return _write(d, "chronometric", arrays, meta, fig, args.format)
    raise UsageError(f"unknown analysis {what!r}")
