"""Evaluation of checked expressions with any array module (`xp`): NumPy in the checker,
`jax.numpy` in the compiler. Values follow one layout: an array whose last axis holds the vector
(1 for a scalar), leading axes broadcasting (trials, time steps); Python scalars are constants;
a matrix parameter is `Rows`."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .. import ast as A
from .syntax import Attr, BoolLit, Binary, Expr, Func, If, Index, Name, Num, Str, Unary, Vector
from .vocab import CROSSINGS, REDUCTIONS, WINDOW_TOLERANCE

if TYPE_CHECKING:
    from .spec import TaskSpec


class Rows:
    """A matrix parameter's value in an evaluation: indexing it gives a row (a vector)."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __repr__(self) -> str:
        return f"Rows({np.asarray(self.array).tolist()})"


def param_env(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as an evaluation reads them: numbers as numbers, vectors as arrays, matrices
    as `Rows`."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        arr = np.asarray(v)
        out[k] = v if arr.ndim == 0 else (arr if arr.ndim == 1 else Rows(arr))
    return out


class EvalProblem(Exception):
    """Raised by a strict evaluation (the checker's samples) at an index out of range."""

    def __init__(self, span: A.Span, message: str, where: Any) -> None:
        super().__init__(message)
        self.span, self.message, self.where = span, message, where


def _is_int(xp: Any, x: Any) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    dt = getattr(x, "dtype", None)
    return dt is not None and xp.issubdtype(dt, xp.integer)


def _shape(xp: Any, x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", ()))


def _stack_last(xp: Any, items: Sequence[Any]) -> Any:
    """Scalars (shape (..., 1) or ()) and vectors (shape (..., n)) side by side along the last axis."""
    shapes = [_shape(xp, i) or (1,) for i in items]
    lead = np.broadcast_shapes(*(s[:-1] for s in shapes))
    return xp.concatenate([xp.broadcast_to(xp.reshape(xp.asarray(i), s), lead + s[-1:]) for i, s in zip(items, shapes)],
                          axis=-1)


def _take(xp: Any, v: Any, i: Any, span: A.Span, strict: bool) -> Any:
    """v[..., i] keeping a trailing axis of 1; out-of-range indices clip (or raise when strict).
    Of a matrix (`Rows`), row i: a vector."""
    if isinstance(v, Rows):
        return _row(xp, v, i, span, strict)
    v = xp.asarray(v)
    n = v.shape[-1]
    if isinstance(i, int):
        return v[..., i:i + 1]
    i = xp.asarray(i)
    if strict:
        bad = (i < 0) | (i >= n)
        if bool(np.any(bad)):
            raise EvalProblem(span, f"index out of range for a vector of {n} (0 to {n - 1})", np.asarray(bad))
    lead = np.broadcast_shapes(v.shape[:-1], i.shape[:-1] if i.ndim else ())
    vb = xp.broadcast_to(v, lead + (n,))
    ib = xp.broadcast_to(xp.clip(i, 0, n - 1).astype(xp.int32), lead + (1,))
    return xp.take_along_axis(vb, ib, axis=-1)


def _row(xp: Any, m: Rows, i: Any, span: A.Span, strict: bool) -> Any:
    rows = xp.asarray(m.array)
    n = rows.shape[0]
    if isinstance(i, int):
        return rows[i]
    i = xp.asarray(i)
    if strict:
        bad = (i < 0) | (i >= n)
        if bool(np.any(bad)):
            raise EvalProblem(span, f"row index out of range for a matrix of {n} rows (0 to {n - 1})", np.asarray(bad))
    return rows[xp.clip(i[..., 0], 0, n - 1).astype(xp.int32)]


BINARY_OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "+": lambda xp, a, b: a + b,
    "-": lambda xp, a, b: a - b,
    "*": lambda xp, a, b: a * b,
    "/": lambda xp, a, b: xp.true_divide(a, b),
    "<": lambda xp, a, b: xp.less(a, b),
    "<=": lambda xp, a, b: xp.less_equal(a, b),
    ">": lambda xp, a, b: xp.greater(a, b),
    ">=": lambda xp, a, b: xp.greater_equal(a, b),
    "==": lambda xp, a, b: xp.equal(a, b),
    # `never` (NaN) compares false with everything, `!=` included
    "!=": lambda xp, a, b: xp.not_equal(a, b) & xp.equal(a, a) & xp.equal(b, b),
    "and": lambda xp, a, b: xp.logical_and(a, b),
    "or": lambda xp, a, b: xp.logical_or(a, b),
}


def _power(xp: Any, a: Any, b: Any) -> Any:
    if _is_int(xp, a) and _is_int(xp, b):
        a = a * 1.0  # a power is a real number, even of integers
    return xp.power(a, b)


# ---- reductions, windows and crossings -----------------------------------------------------
# Where signals over time are read (a loss, a metric, the accuracy, the choice) a value is one
# trial's or a batch's (trials, time, units) array, (B, T, n), its leading axes maybe 1 where it
# does not vary; a parameter tensor is carried as 4-D (1, 1, rows, cols) so that a reduction tells
# it from a signal. The evaluation environment says what a reduction without `over` reduces
# (AXES_KEY, default: units only, as in a task's body) and each epoch's window (WINDOW_KEY + name:
# (B, T, 1) of 0/1).
AXES_KEY = "@axes"
WINDOW_KEY = "@window."
NEVER_VALUE = float("nan")
EPS = 1e-7  # the least count of steps a windowed mean divides by (an empty window gives 0)
_AXIS_INDEX = {"time": 1, "units": 2}


def reduction_axes(e: Func, default: Sequence[str]) -> tuple[str, ...]:
    """The axes a reduction names in `over` (a name or a list of names), else `default`."""
    kw = e.kwarg("over")
    if kw is None:
        return tuple(default)
    items = kw.value.items if isinstance(kw.value, Vector) else (kw.value,)
    return tuple(dict.fromkeys(i.name for i in items if isinstance(i, Name)))


def _during(e: Func, env: Mapping[str, Any]) -> Any:
    kw = e.kwarg("during")
    return None if kw is None else env[WINDOW_KEY + kw.value.name]  # type: ignore[union-attr]


def _as3(xp: Any, x: Any) -> Any:
    x = xp.asarray(x)
    return xp.reshape(x, (1,) * (3 - x.ndim) + x.shape) if x.ndim < 3 else x


def _reduce(xp: Any, e: Func, x: Any, env: Mapping[str, Any]) -> Any:
    """mean, sum, max, min, all, any of one value over axes, maybe within a window:
    mean = sum(x w) / max(sum(w), EPS), sum = sum(x w), max/min/all/any ignore the steps outside
    the window (an empty window gives max -inf, min +inf, all true, any false)."""
    name = e.name
    x = xp.asarray(x)
    if x.ndim == 4:  # a parameter tensor: every entry
        return getattr(xp, name)(x * 1.0 if name == "mean" else x)
    axes = reduction_axes(e, env.get(AXES_KEY, ("units",)))
    w = _during(e, env)
    if axes == ("units",) and w is None:  # within a vector (as in a task's body)
        if x.ndim == 0:
            return x * 1.0 if name == "mean" else x
        return getattr(xp, name)(x * 1.0 if name == "mean" else x, axis=-1, keepdims=True)
    x = _as3(xp, x)
    # a value that does not change over time (a trial variable, final(x)) counts once, unless a
    # window gives it the window's steps
    shape = x.shape if w is None else np.broadcast_shapes(x.shape, tuple(w.shape))
    x = xp.broadcast_to(x, shape)
    ax = tuple(_AXIS_INDEX[a] for a in axes if a in _AXIS_INDEX)
    if w is None:
        return getattr(xp, name)(x * 1.0 if name == "mean" else x, axis=ax, keepdims=True)
    inside = xp.broadcast_to(xp.asarray(w) > 0, shape)
    if name == "mean":
        wf = inside.astype(xp.float32)
        return xp.sum(x * wf, axis=ax, keepdims=True) / xp.maximum(xp.sum(wf, axis=ax, keepdims=True), EPS)
    if name == "sum":
        return xp.sum(xp.where(inside, x, 0), axis=ax, keepdims=True)
    if name in ("max", "min"):
        fill = -np.inf if name == "max" else np.inf
        return getattr(xp, name)(xp.where(inside, x * 1.0, fill), axis=ax, keepdims=True)
    return getattr(xp, name)(xp.where(inside, x, name == "all"), axis=ax, keepdims=True)


def _crossing(xp: Any, e: Func, args: list[Any], env: Mapping[str, Any]) -> Any:
    """Per trial and channel, within the window (the whole trial without `during`):
    first_crossing: the first step k with x[k] >= level, as the time k * dt;
    last_crossing: the last step k with x[k] >= level where the step before is below the level
    (or outside the window): the start of the last excursion to the level;
    crossed: whether x reaches the level. A crossing that does not happen is `never` (NaN)."""
    x = _as3(xp, args[0]) * 1.0
    hit = x >= xp.asarray(args[1])
    w = _during(e, env)
    if w is not None:
        hit = hit & (xp.asarray(w) > 0)
    if e.name == "crossed":
        return xp.any(hit, axis=1, keepdims=True)
    if e.name == "last_crossing":
        before = xp.concatenate([xp.zeros_like(hit[:, :1]), hit[:, :-1]], axis=1)
        up = hit & xp.logical_not(before)
        found = xp.any(up, axis=1, keepdims=True)
        k = (hit.shape[1] - 1) - xp.argmax(up[:, ::-1], axis=1)[:, None]
    else:
        found = xp.any(hit, axis=1, keepdims=True)
        k = xp.argmax(hit, axis=1)[:, None]
    return xp.where(found, k.astype(xp.float32) * xp.float32(env["dt"]), xp.float32(NEVER_VALUE))


def _func(xp: Any, name: str, args: list[Any], span: A.Span) -> Any:
    if name in ("min", "max"):
        op = xp.minimum if name == "min" else xp.maximum
        out = args[0]
        for a in args[1:]:
            out = op(out, a)
        return out
    if name in ("abs", "sqrt", "exp", "log", "sin", "cos", "tanh"):
        return getattr(xp, name)(args[0])
    if name in ("floor", "ceil", "round"):
        x = args[0]
        if _is_int(xp, x):
            return x
        if not hasattr(x, "astype"):
            return int({"floor": math.floor, "ceil": math.ceil, "round": round}[name](x))
        return getattr(xp, name)(x).astype(xp.int32)
    if name == "clip":
        return xp.minimum(xp.maximum(args[0], args[1]), args[2])
    if name == "onehot":
        n = int(args[1])
        return (xp.arange(n) == xp.asarray(args[0])).astype(xp.float32)
    if name == "range":
        return xp.arange(int(args[0]))
    if name == "linspace":
        a, b, n = args[0], args[1], int(args[2])
        if not _shape(xp, a) and not _shape(xp, b):
            return xp.linspace(a, b, n)
        return a + (b - a) * (xp.arange(n) / max(n - 1, 1))
    if name == "argmax":
        return xp.argmax(xp.asarray(args[0]), axis=-1, keepdims=True).astype(xp.int32)
    if name == "cumsum":
        return xp.cumsum(xp.asarray(args[0]), axis=-1)
    if name == "column":
        return xp.asarray(args[0].array)[:, int(args[1])]
    if name == "size":
        return int(args[0].array.shape[0]) if isinstance(args[0], Rows) else int(np.shape(args[0])[-1])
    if name == "norm":
        return xp.sqrt(xp.sum(xp.square(xp.asarray(args[0]) * 1.0), axis=-1, keepdims=True))
    if name == "concat":
        return _stack_last(xp, args)
    if name == "final":
        x = xp.asarray(args[0])
        return x[:, -1:, :] if x.ndim == 3 else x
    raise ValueError(f"unknown function {name!r}")  # the checker rejects these first


def evaluate(e: Expr, env: Mapping[str, Any], xp: Any, funcs: Mapping[str, Callable[..., Any]] | None = None,
             strict: bool = False) -> Any:
    """The value of a checked expression. `env` maps names to values in the layout described
    at the top of this module; `funcs` adds functions (the accuracy rule's crossings)."""
    ev = lambda x: evaluate(x, env, xp, funcs, strict)  # noqa: E731
    if isinstance(e, Num):
        return e.value
    if isinstance(e, BoolLit):
        return e.value
    if isinstance(e, Name):
        return env[e.name]
    if isinstance(e, Vector):
        return _stack_last(xp, [ev(i) for i in e.items])
    if isinstance(e, Index):
        return _take(xp, ev(e.base), ev(e.index), e.index.span, strict)
    if isinstance(e, Attr):
        return env[dotted(e)]
    if isinstance(e, Str):
        return e.value
    if isinstance(e, Unary):
        x = ev(e.operand)
        return xp.logical_not(x) if e.op == "not" else (-x if e.op == "-" else x)
    if isinstance(e, Binary):
        a, b = ev(e.left), ev(e.right)
        return _power(xp, a, b) if e.op == "^" else BINARY_OPS[e.op](xp, a, b)
    if isinstance(e, If):
        return xp.where(ev(e.cond), ev(e.then), ev(e.orelse))
    if isinstance(e, Func):
        args = [ev(a) for a in e.args]
        if funcs and e.name in funcs:
            return funcs[e.name](*args)
        if e.name in REDUCTIONS and len(args) == 1:
            return _reduce(xp, e, args[0], env)
        if e.name in CROSSINGS:
            return _crossing(xp, e, args, env)
        return _func(xp, e.name, args, e.span)
    raise TypeError(f"not an expression: {e!r}")


def dotted(e: Expr) -> str:
    """`a.b.c` as written: the key of a port's channel (`response.left`) or of a signal
    (`net.output`, `arm.effector.pos`) in an evaluation's environment."""
    if isinstance(e, Attr):
        return f"{dotted(e.base)}.{e.name}"
    if isinstance(e, Name):
        return e.name
    raise TypeError(f"not a dotted name: {e!r}")


def constants(dt: float, steps: int) -> dict[str, float]:
    """The names every expression may read: dt, duration (= steps * dt) and pi."""
    return {"dt": float(dt), "duration": float(steps * dt), "pi": math.pi}


def window(t: Any, start: Any, end: Any, dt: float) -> Any:
    """Whether time t lies in [start, end), to within the precision of float32 times."""
    tol = WINDOW_TOLERANCE * (abs(t) + dt)
    return (t >= start - tol) & (t < end - tol)


def epoch_bounds(spec: TaskSpec, env: Mapping[str, Any], xp: Any, duration: float) -> list[tuple[Any, Any]]:
    """Each epoch's [start, end) in time units, in the order of the epochs."""
    out, prev = [], 0.0
    for ep in spec.epochs:
        start = evaluate(ep.start, env, xp) if ep.start is not None else prev
        if ep.length is not None:
            end = start + evaluate(ep.length, env, xp)
        elif ep.end is not None:
            end = evaluate(ep.end, env, xp)
        else:
            end = duration
        out.append((start, end))
        prev = end
    return out


def distribution_args(dist: Func, env: Mapping[str, Any], xp: Any) -> tuple[str, list[Any], str | None, list[Any]]:
    """(name, evaluated args, base name, base args): `truncated(normal(m, s), lo, hi)` gives
    ("truncated", [lo, hi], "normal", [m, s])."""
    if dist.name == "truncated":
        base = dist.args[0]
        assert isinstance(base, Func)
        return "truncated", [evaluate(a, env, xp) for a in dist.args[1:]], base.name, [evaluate(a, env, xp) for a in base.args]
    return dist.name, [evaluate(a, env, xp) for a in dist.args], None, []


def grid_conditions(spec: TaskSpec, axes: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], int]:
    """The validation grid's conditions, repeated to at least `validation_trials`: the values of
    each grid variable per trial (first axis slowest), and the number of trials. `axes` gives
    the grid's values as another array module computed them (default: `spec.grid`)."""
    assert spec.grid is not None
    axes = spec.grid if axes is None else axes
    names = list(spec.grid)
    combos = list(itertools.product(*(range(len(spec.grid[n])) for n in names)))
    n_cond = len(combos)
    repeats = max(1, math.ceil(spec.validation_trials / n_cond))
    cond = np.arange(n_cond * repeats) % n_cond
    idx = np.asarray(combos, dtype=np.int64).reshape(n_cond, len(names))
    return {n: axes[n][idx[cond, j]] for j, n in enumerate(names)}, n_cond * repeats


