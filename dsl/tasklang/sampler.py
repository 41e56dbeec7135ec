"""Checks on drawn trials (NumPy): distribution arguments, indices, and the epochs a task requires
to be disjoint or nonempty, on 2,560 trials including every variable at the ends of its range."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import ast as A
from .. import distributions as D
from .evaluate import EvalProblem, _is_int, constants, distribution_args, epoch_bounds, evaluate, grid_conditions, param_env, window
from .spec import TaskSpec, Variable
from .steps import numpy_scan, run_hold
from .syntax import Expr
from .vocab import CONSTANTS, DISTRIBUTIONS, VALIDATING, Diags, _err, _num, _show, names_in


SAMPLES = 2048
EXTREME_SAMPLES = 512
# per-step values (draws `each step`, holds) are checked on the first steps of some of the trials:
# at most this many steps, and this many values in all (trials x steps x channels)
STEP_SAMPLES_STEPS = 2000
STEP_SAMPLES_VALUES = 4_000_000
# the epochs' windows are formed on the sampled trials for this many (trial, step) pairs at a time
WINDOW_VALUES = 4_000_000


def _np_draw(rng: np.random.Generator, name: str, args: list[Any], base: str | None, base_args: list[Any],
             shape: tuple[int, ...], extreme: np.ndarray) -> np.ndarray:
    """Draws for the checker (the table's NumPy draw): random, except where `extreme` is -1 (the
    support's low end) or +1 (high end)."""
    return np.asarray(D.TABLE[name].np_draw(rng, args, [base, *base_args] if base else [], shape, extreme))


def _argument_problems(name: str, args: list[Any], base_args: list[Any]) -> tuple[np.ndarray, str] | None:
    """Samples whose distribution arguments are invalid, and why (the table's rule)."""
    row = D.TABLE[name]
    if row.invalid is None:
        return None
    return row.invalid([np.asarray(x, float) for x in args], [np.asarray(x, float) for x in base_args]), row.invalid_words


class _Sampler:
    """Draws trials with NumPy to check what depends on the draws: distribution arguments,
    indices, and the epochs the file requires to be disjoint or nonempty."""

    def __init__(self, spec: TaskSpec, dt: float, steps: int, seed: int = 0) -> None:
        self.spec, self.dt, self.steps = spec, dt, steps
        self.rng = np.random.default_rng(seed)
        self.n = SAMPLES + EXTREME_SAMPLES
        self.extreme_rows = np.arange(self.n) >= SAMPLES
        self.env: dict[str, Any] = {**constants(dt, steps), **param_env(spec.params)}
        self.diags: Diags = []
        self.given = self._grid_samples()
        rows = max((len(v) for v in self.given.values()), default=0)
        self.env[VALIDATING] = (np.arange(self.n) < rows).reshape(-1, 1, 1)  # the grid's rows stand for validation
        self.steps_env: dict[str, np.ndarray] = {}  # per-step values on the trials `step_rows`, (rows, steps, n)
        self.step_rows, self.step_count = self._step_sampling()

    def _grid_samples(self) -> dict[str, np.ndarray]:
        """The validation grid's conditions on the first samples (the rest are drawn)."""
        if self.spec.grid is None:
            return {}
        values, n = grid_conditions(self.spec)
        n = min(n, SAMPLES // 4)
        return {k: v[:n] for k, v in values.items()}

    def example(self, names: Sequence[str], row: int) -> str:
        parts = []
        for n in names:
            v = self.env.get(n)
            if v is None or n in CONSTANTS:
                continue
            x = np.asarray(v)
            if x.ndim == 3 and x.shape[-1] == 1:
                parts.append(f"{n} = {_num(x[row if x.shape[0] > 1 else 0, 0, 0])}")
        return ", ".join(parts)

    def run(self) -> Diags:
        shape = (self.n, 1, 1)
        for var in self.spec.variables:
            if var.per_step:
                if not self._per_step(var):
                    return self.diags
                continue
            try:
                if var.dist is not None:
                    value = self._draw(var, (self.n, 1, var.type.size or 1))
                    if value is None:
                        return self.diags
                else:
                    with np.errstate(all="ignore"):
                        value = evaluate(var.expr, self.env, np, strict=True)  # type: ignore[arg-type]
            except EvalProblem as p:
                self._problem(p, var.expr or var.dist)
                return self.diags
            value = np.asarray(value)
            if var.name in self.given:
                g = self.given[var.name]
                value = np.broadcast_to(value, shape[:2] + value.shape[-1:]).copy() if value.ndim else np.full(shape, value)
                value[: len(g), 0, 0] = g
            self.env[var.name] = value
        self._epochs()
        return self.diags

    def _problem(self, p: EvalProblem, e: Expr | None) -> None:
        rows = np.argwhere(np.broadcast_to(p.where, (self.n, 1, 1))[..., 0, 0]) if np.ndim(p.where) else [[0]]
        row = int(rows[0][0]) if len(rows) else 0
        ex = self.example(names_in(e), row)
        self.diags.append(_err(f"{p.message} in some trials" + (f", e.g. when {ex}" if ex else ""), p.span))

    def _draw(self, var: Variable, shape: tuple[int, ...]) -> np.ndarray | None:
        dist = var.dist
        assert dist is not None
        with np.errstate(all="ignore"):
            name, args, base, base_args = distribution_args(dist, self.env, np)
        bad = _argument_problems(name, args, base_args)
        if bad is not None:
            rows = np.argwhere(_per_row(bad[0], self.n))
            if len(rows):
                row = int(rows[0][0])
                deps = names_in(dist)
                ex = self.example(deps, row)
                shown = ", ".join(_show(_row_of(a, row)) for a in args)
                self.diags.append(_err(f"`{name}` gets invalid arguments in some trials ({bad[1]})"
                                       + (f", e.g. when {ex}: {name}({shown})" if ex else ""), dist.span,
                                       hint=f"write {DISTRIBUTIONS[name][2]}"))
                return None
        extreme = np.where(self.extreme_rows, self.rng.choice([-1, 1], self.n), 0).reshape(-1, 1, 1)
        extreme[SAMPLES, 0, 0] = -1  # one trial with every variable at its low end, one at its high end
        extreme[SAMPLES + 1, 0, 0] = 1
        return _np_draw(self.rng, name, args, base, base_args, shape, extreme)

    def _epochs(self) -> None:
        spec = self.spec
        if not spec.epochs or not {"nonempty", "disjoint"} & set(spec.requires):
            return
        duration = self.steps * self.dt
        with np.errstate(all="ignore"):
            bounds = [(np.broadcast_to(np.asarray(s, float), (self.n, 1, 1)), np.broadcast_to(np.asarray(e, float), (self.n, 1, 1)))
                      for s, e in epoch_bounds(spec, self.env, np, duration)]
        occupied, overlap = self._windows(bounds)
        deps = [self._epoch_names(i) for i in range(len(spec.epochs))]
        if "nonempty" in spec.requires:
            for i, ep in enumerate(spec.epochs):
                empty = ~occupied[i]
                if np.any(empty):
                    row = int(np.argmax(empty))
                    ex = self.example(deps[i], row)
                    s, e = bounds[i][0][row, 0, 0], bounds[i][1][row, 0, 0]
                    self.diags.append(_err(f"epoch `{ep.name}` is empty in some trials" + (f", e.g. when {ex}" if ex else "")
                                           + f": it spans [{_num(s)}, {_num(e)}), which holds no time step (dt = {_num(self.dt)})",
                                           ep.name_span, hint="the file requires nonempty epochs (`require epochs nonempty`)"))
        if "disjoint" in spec.requires:
            for j in range(len(spec.epochs)):
                for i in range(j):
                    both = overlap[i, j]
                    if np.any(both):
                        row = int(np.argmax(both))
                        ex = self.example(list(dict.fromkeys(deps[i] + deps[j])), row)
                        a, b = spec.epochs[i], spec.epochs[j]
                        span_i = f"[{_num(bounds[i][0][row, 0, 0])}, {_num(bounds[i][1][row, 0, 0])})"
                        span_j = f"[{_num(bounds[j][0][row, 0, 0])}, {_num(bounds[j][1][row, 0, 0])})"
                        self.diags.append(_err(f"epoch `{b.name}` overlaps epoch `{a.name}` in some trials"
                                               + (f", e.g. when {ex}" if ex else "")
                                               + f": `{a.name}` is {span_i} and `{b.name}` is {span_j}", b.name_span,
                                               hint="the file requires disjoint epochs (`require epochs disjoint`)",
                                               related=((a.name_span, f"`{a.name}` is declared here"),)))
                        break

    def _windows(self, bounds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Per sampled trial, whether each epoch holds a time step, (epochs, trials), and whether
        epochs i and j share one, (epochs, epochs, trials); the steps are taken a block at a time,
        so that a trial of a million steps needs no more memory than one of a thousand."""
        k, block = len(bounds), max(1, WINDOW_VALUES // self.n)
        occupied = np.zeros((k, self.n), bool)
        overlap = np.zeros((k, k, self.n), bool)
        for first in range(0, self.steps, block):
            t = (np.arange(first, min(first + block, self.steps)) * self.dt).reshape(1, -1, 1)
            w = [window(t, s, e, self.dt) for s, e in bounds]
            for i in range(k):
                occupied[i] |= np.any(w[i], axis=(1, 2))
                for j in range(i + 1, k):
                    overlap[i, j] |= np.any(w[i] & w[j], axis=(1, 2))
        return occupied, overlap

    # -- per-step values ------------------------------------------------------------------------
    def _step_sampling(self) -> tuple[np.ndarray, int]:
        """The trials (rows, always with the two at the ends of every range) and the number of
        first steps on which per-step values are checked."""
        width = max([v.type.size or 1 for v in self.spec.variables if v.per_step], default=1)
        steps = max(1, min(self.steps, STEP_SAMPLES_STEPS, STEP_SAMPLES_VALUES // (16 * width)))
        m = max(16, min(self.n, STEP_SAMPLES_VALUES // (steps * width)))
        if m >= self.n:
            return np.arange(self.n), steps
        rows = np.linspace(0, SAMPLES - 1, m - 2).astype(int)
        return np.unique(np.concatenate([rows, [SAMPLES, SAMPLES + 1]])), steps

    def _step_env(self) -> dict[str, Any]:
        """What a per-step value reads: per-trial values on the sampled trials, per-step values
        so far, the time."""
        env = dict(self.env)
        for name in [v.name for v in self.spec.variables if not v.per_step and v.name in env] + [VALIDATING]:
            x = np.asarray(env[name])
            if x.ndim == 3 and x.shape[0] == self.n:
                env[name] = x[self.step_rows]
        env.update(self.steps_env)
        env["t"] = (np.arange(self.step_count) * self.dt).reshape(1, -1, 1)
        return env

    def _per_step(self, var: Variable) -> bool:
        """Draw or compute a per-step variable on the sampled trials; False after an error."""
        env = self._step_env()
        m, steps, size = len(self.step_rows), self.step_count, var.type.size or 1
        try:
            with np.errstate(all="ignore"):
                if var.dist is not None:
                    value = self._step_draw(var, env, (m, steps, size))
                    if value is None:
                        return False
                elif var.rule is not None:
                    value = run_hold(var, env, set(self.steps_env), np, m, steps, self.dt, numpy_scan, strict=True)
                else:
                    value = evaluate(var.expr, env, np, strict=True)  # type: ignore[arg-type]
        except EvalProblem as p:
            row, k = _first(p.where, m, steps)
            self._step_error(f"{p.message} in some trials", p.span, names_in(var.expr or var.dist or var.rule), env, row, k)
            return False
        value = np.asarray(value)
        self.steps_env[var.name] = np.broadcast_to(value, (m, steps, value.shape[-1] if value.ndim else 1))
        return True

    def _step_draw(self, var: Variable, env: dict[str, Any], shape: tuple[int, int, int]) -> np.ndarray | None:
        dist = var.dist
        assert dist is not None
        name, args, base, base_args = distribution_args(dist, env, np)
        bad = _argument_problems(name, args, base_args)
        if bad is not None and np.any(bad[0]):
            row, k = _first(bad[0], shape[0], shape[1])
            shown = ", ".join(_show(_at(a, row, k)) for a in args)
            self._step_error(f"`{name}` gets invalid arguments in some trials ({bad[1]})", dist.span, names_in(dist), env,
                             row, k, f": {name}({shown})", hint=f"write {DISTRIBUTIONS[name][2]}")
            return None
        extreme = np.zeros((shape[0], 1, 1))
        extreme[self.step_rows == SAMPLES] = -1  # the trials at the low and high ends of every range
        extreme[self.step_rows == SAMPLES + 1] = 1
        return _np_draw(self.rng, name, args, base, base_args, shape, extreme)

    def _step_error(self, message: str, span: A.Span, names: Sequence[str], env: dict[str, Any], row: int, k: int,
                    tail: str = "", hint: str | None = None) -> None:
        """An error on a sampled trial at step k: the time and the values read there."""
        parts = [f"t = {_num(k * self.dt)}"]
        for n in names:
            if n in CONSTANTS or n not in env or n == "t":
                continue
            x = np.asarray(env[n])
            if x.ndim == 3 and x.shape[-1] == 1:
                parts.append(f"{n} = {_show(_at(x, row, k))}")
        self.diags.append(_err(f"{message}, e.g. when {', '.join(parts)}{tail}", span, hint=hint))

    def _epoch_names(self, i: int) -> list[str]:
        """The variables epoch i's window depends on (through the epochs before it, in sequence)."""
        names: list[str] = []
        for ep in self.spec.epochs[: i + 1][::-1]:
            names += names_in(ep.start) + names_in(ep.end) + names_in(ep.length)
            if ep.start is not None:
                break
        return list(dict.fromkeys(names))


def _per_row(x: Any, n: int) -> np.ndarray:
    """(n,): whether any element of a per-trial value (scalar, vector, (n, 1, k)) holds."""
    a = np.asarray(x)
    a = a.reshape(1, 1, -1) if a.ndim <= 1 else a
    return np.broadcast_to(np.any(a, axis=-1)[:, 0], (n,))


def _first(where: Any, rows: int, steps: int) -> tuple[int, int]:
    """The first trial and step where a per-step condition holds."""
    a = np.asarray(where)
    a = a.reshape(1, 1, -1) if a.ndim <= 1 else a
    hit = np.broadcast_to(np.any(a, axis=-1), (rows, steps))
    row, k = np.unravel_index(int(np.argmax(hit)), hit.shape)
    return int(row), int(k)


def _at(x: Any, row: int, k: int) -> Any:
    """A value at one trial and step (a number or a vector)."""
    a = np.asarray(x, float)
    if a.ndim != 3:
        return a
    v = a[row if a.shape[0] > 1 else 0, k if a.shape[1] > 1 else 0]
    return v[0] if v.shape[-1] == 1 else v


def _row_of(x: Any, row: int) -> Any:
    """One trial's value of an argument (a number or a vector)."""
    a = np.asarray(x, float)
    if a.ndim == 3:
        v = a[row if a.shape[0] > 1 else 0, 0]
        return v[0] if v.shape[-1] == 1 else v
    return a
