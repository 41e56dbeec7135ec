"""Tasks declared in a .rnn file: the syntax tree of a task body, its checks, and the checked
description (`TaskSpec`) that the compiler lowers to JAX.

A task body lists, in any order: its channels (`inputs = [left, right, ring[16]]`,
`outputs = [...]`), trial variables drawn from distributions (`x ~ uniform(0, 1)`) or computed
from others (`y = if x > 0.5 then 1 else 0`), the input noise, epochs (windows of time that say
what the inputs, the target and the mask hold), the accuracy rule, a validation grid and
requirements on the epochs. See docs/tasks.md for the language as a user sees it.

Everything here is plain Python and NumPy (no JAX): the checker uses it to report mistakes with
positions. `evaluate` works with any array module (`xp`): NumPy here, `jax.numpy` in
`compiler/nodes/declared.py`. Values follow one layout: an array whose last axis holds the
vector (1 for a scalar), leading axes broadcasting (trials, time steps); Python scalars are
constants.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

import numpy as np

from . import ast as A
from .errors import Diagnostic, choices_hint
from .schema import MAX_DT, MAX_STEPS, MIN_DT

MAX_CHANNELS = 100_000  # channels of one `name[n]` input or output of a declared task

Diags = list[Diagnostic]

# ---- syntax tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int | float
    span: A.Span


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: A.Span


@dataclass(frozen=True)
class Name:
    name: str
    span: A.Span


@dataclass(frozen=True)
class Vector:
    items: tuple["Expr", ...]
    span: A.Span


@dataclass(frozen=True)
class Func:
    """A call: a function (`min(a, b)`), a distribution (`uniform(0, 1)`) or an accuracy rule."""

    name: str
    args: tuple["Expr", ...]
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class Index:
    base: "Expr"
    index: "Expr"
    span: A.Span


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: "Expr"
    span: A.Span


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / ^ < <= > >= == != and or
    left: "Expr"
    right: "Expr"
    span: A.Span


@dataclass(frozen=True)
class If:
    cond: "Expr"
    then: "Expr"
    orelse: "Expr"
    span: A.Span


Expr = Union[Num, BoolLit, Name, Vector, Func, Index, Unary, Binary, If]


@dataclass(frozen=True)
class Let:
    """`name = expr`: a computed variable, or a task setting (inputs, outputs, accuracy)."""

    name: str
    value: Expr
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class Draw:
    """`name ~ distribution(...)`: a trial variable drawn per trial."""

    name: str
    value: Expr
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class Noise:
    """`noise = expr [scaled]`: the std of the Gaussian noise added to every input each step."""

    value: Expr
    scaled: bool
    span: A.Span


@dataclass(frozen=True)
class EpochTiming:
    """`from A to B`, `from A for D`, `from A`, `for D`, `to B` (a missing start is the end of
    the previous epoch, 0 for the first; a missing end is the end of the trial)."""

    start: Expr | None
    end: Expr | None
    length: Expr | None
    span: A.Span


@dataclass(frozen=True)
class Assign:
    """`channel = expr` or `channel[i] = expr` inside an epoch."""

    channel: str
    index: Expr | None
    value: Expr
    span: A.Span
    channel_span: A.Span


@dataclass(frozen=True)
class Epoch:
    name: str
    timing: EpochTiming | None
    assigns: tuple[Assign, ...]
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class GridItem:
    name: str
    value: Expr
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class Validation:
    items: tuple[GridItem, ...]
    span: A.Span


@dataclass(frozen=True)
class Require:
    """`require epochs disjoint and nonempty`."""

    props: tuple[tuple[str, A.Span], ...]
    span: A.Span


Statement = Union[Let, Draw, Noise, Epoch, Validation, Require]


@dataclass(frozen=True, repr=False)
class TaskBody:
    """The body of `node NAME = task { ... }`: its statements in source order. Its text stands
    for it where it is shown or hashed (the run's settings, a checkpoint's fingerprint), so a
    copy of the file elsewhere is the same task."""

    statements: tuple[Statement, ...]
    span: A.Span
    text: str = ""

    def __str__(self) -> str:
        return self.text or "{ ... }"

    def __repr__(self) -> str:
        return f"task {self}"


# ---- vocabulary ------------------------------------------------------------------------------

CHANNEL_SETTINGS = ("inputs", "outputs")
SETTINGS = CHANNEL_SETTINGS + ("accuracy",)
CONSTANTS = ("dt", "duration", "pi")  # usable everywhere
TIME_NAMES = ("t",)  # inside epochs and the noise
EPOCH_NAMES = ("t0", "t1", "elapsed")  # inside epochs only
ACCURACY_NAMES = ("response_choice", "target_choice")  # inside `accuracy` only
SIGNALS = ("input", "target", "mask")
RESERVED = set(SETTINGS) | set(CONSTANTS) | set(TIME_NAMES) | set(EPOCH_NAMES) | set(ACCURACY_NAMES) | set(SIGNALS) | {
    "response", "noise", "true", "false"}

# name -> (min args, max args or None, how it is written)
DISTRIBUTIONS: dict[str, tuple[int, int | None, str]] = {
    "uniform": (2, 2, "uniform(low, high): a number in [low, high)"),
    "normal": (2, 2, "normal(mean, std)"),
    "integer": (2, 2, "integer(low, high): one of low, low + 1, ..., high - 1"),
    "choice": (1, None, "choice(a, b, ...): one of the values, equally likely"),
    "exponential": (1, 1, "exponential(mean)"),
    "bernoulli": (1, 1, "bernoulli(p): true with probability p"),
    "truncated": (3, 3, "truncated(normal(mean, std), low, high) or truncated(exponential(mean), low, high)"),
}
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "onehot": (2, 2, "onehot(i, n): n channels, 1 at index i, 0 elsewhere"),
    "min": (2, None, "min(a, b, ...)"),
    "max": (2, None, "max(a, b, ...)"),
    "abs": (1, 1, "abs(x)"), "sqrt": (1, 1, "sqrt(x)"), "exp": (1, 1, "exp(x)"), "log": (1, 1, "log(x)"),
    "sin": (1, 1, "sin(x)"), "cos": (1, 1, "cos(x)"), "tanh": (1, 1, "tanh(x)"),
    "floor": (1, 1, "floor(x)"), "ceil": (1, 1, "ceil(x)"), "round": (1, 1, "round(x)"),
    "clip": (3, 3, "clip(x, low, high)"),
    "range": (1, 1, "range(n): the vector 0, 1, ..., n - 1"),
    "linspace": (3, 3, "linspace(a, b, n): n evenly spaced numbers from a to b"),
    "sum": (1, 1, "sum(v): the sum of a vector's elements"),
}
ACCURACY_FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "crossing": (1, 2, "crossing(level[, channel]): first time the response reaches level where the mask is on"),
    "target_crossing": (1, 2, "target_crossing(level[, channel]): the same for the target"),
}
ACCURACY_RULES = ("max_masked_mean", "threshold")
REQUIRE_PROPS = ("disjoint", "nonempty")
DEFAULT_VALIDATION_TRIALS = 64  # a grid repeats to at least this many trials (as the built-in tasks)
RANDOM_VALIDATION_TRIALS = 256  # trials drawn when there is no validation grid
MAX_VALIDATION_TRIALS = 100_000  # a validation set's trials: `trials` and the grid's conditions


# ---- types -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Type:
    """An expression's type: `base` int, float or bool; `size` None for a scalar, n for a vector."""

    base: str
    size: int | None = None

    @property
    def numeric(self) -> bool:
        return self.base in ("int", "float")

    def words(self) -> str:
        one = {"int": "an integer", "float": "a number", "bool": "a condition (true or false)"}[self.base]
        many = {"int": "integers", "float": "numbers", "bool": "conditions"}[self.base]
        return one if self.size is None else f"a vector of {self.size} {many}"


INT, FLOAT, BOOL = Type("int"), Type("float"), Type("bool")


def _err(message: str, span: A.Span | None, hint: str | None = None,
         related: tuple[tuple[A.Span, str], ...] = ()) -> Diagnostic:
    return Diagnostic(message, span, hint, "error", related)


def _names(items: Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in items)


def walk(e: Expr) -> Iterable[Expr]:
    """An expression and every expression inside it."""
    yield e
    if isinstance(e, Vector):
        for i in e.items:
            yield from walk(i)
    elif isinstance(e, Func):
        for a in e.args:
            yield from walk(a)
    elif isinstance(e, Index):
        yield from walk(e.base)
        yield from walk(e.index)
    elif isinstance(e, Unary):
        yield from walk(e.operand)
    elif isinstance(e, Binary):
        yield from walk(e.left)
        yield from walk(e.right)
    elif isinstance(e, If):
        yield from walk(e.cond)
        yield from walk(e.then)
        yield from walk(e.orelse)


def names_in(e: Expr | None) -> list[str]:
    """The names an expression reads, in order, once each."""
    if e is None:
        return []
    return list(dict.fromkeys(x.name for x in walk(e) if isinstance(x, Name)))


# ---- the checked description -----------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """A named group of channels: [lo, hi) of the input (or target and mask) vector."""

    name: str
    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True)
class Variable:
    """A trial variable: drawn (`dist` a distribution call) or computed (`expr`)."""

    name: str
    type: Type
    span: A.Span
    dist: Func | None = None
    expr: Expr | None = None


@dataclass(frozen=True)
class AssignSpec:
    """Inside an epoch: `signal[lo:hi]` ("input", "target" or "mask") holds `value`."""

    signal: str
    lo: int
    hi: int
    value: Expr
    span: A.Span


@dataclass(frozen=True)
class EpochSpec:
    name: str
    start: Expr | None  # None: the previous epoch's end (0 for the first)
    end: Expr | None  # None with length None: the end of the trial
    length: Expr | None
    assigns: tuple[AssignSpec, ...]
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class Accuracy:
    """rule "max_masked_mean" (PsychRNN's), "threshold" (args: level, tolerance) or "custom"
    (`expr`, a condition)."""

    rule: str
    args: tuple[Expr, ...] = ()
    expr: Expr | None = None


@dataclass
class TaskSpec:
    """A checked task: what the compiler needs to generate trials and score them."""

    inputs: list[Channel]
    outputs: list[Channel]
    variables: list[Variable]
    epochs: list[EpochSpec]
    noise: Expr | None = None
    noise_scaled: bool = False
    accuracy: Accuracy = field(default_factory=lambda: Accuracy("max_masked_mean"))
    grid: dict[str, np.ndarray] | None = None  # validation axes, first slowest
    grid_exprs: dict[str, Expr] = field(default_factory=dict)  # the expressions that give them
    validation_trials: int = DEFAULT_VALIDATION_TRIALS
    requires: tuple[str, ...] = ()

    @property
    def n_in(self) -> int:
        return self.inputs[-1].hi if self.inputs else 0

    @property
    def n_out(self) -> int:
        return self.outputs[-1].hi if self.outputs else 0

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)


# ---- tolerant readers (ports and parameters of a node, before checks) ------------------------


def _channel_items(value: Expr) -> list[tuple[str, int]]:
    out = []
    for item in value.items if isinstance(value, Vector) else ():
        if isinstance(item, Name):
            out.append((item.name, 1))
        elif (isinstance(item, Index) and isinstance(item.base, Name) and isinstance(item.index, Num)
              and isinstance(item.index.value, int) and item.index.value >= 1):
            out.append((item.base.name, item.index.value))
    return out


def channel_layout(body: Any) -> tuple[list[Channel], list[Channel]]:
    """The input and output channel groups a body declares, read without checking (for ports)."""
    groups: dict[str, list[Channel]] = {"inputs": [], "outputs": []}
    if isinstance(body, TaskBody):
        for st in body.statements:
            if isinstance(st, Let) and st.name in groups and not groups[st.name]:
                lo = 0
                for name, size in _channel_items(st.value):
                    groups[st.name].append(Channel(name, lo, lo + size))
                    lo += size
    return groups["inputs"], groups["outputs"]


def variable_names(body: Any) -> list[str]:
    """The trial variables a body defines, in order (for per-node parameters)."""
    if not isinstance(body, TaskBody):
        return []
    names = [st.name for st in body.statements if isinstance(st, (Let, Draw)) and st.name not in SETTINGS]
    return list(dict.fromkeys(n for n in names if n not in RESERVED))


# ---- evaluation (any array module) -----------------------------------------------------------


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
    """Scalars (shape (..., 1) or ()) side by side along the last axis."""
    shape = np.broadcast_shapes(*(_shape(xp, i) for i in items)) or (1,)
    return xp.concatenate([xp.broadcast_to(xp.asarray(i), shape) for i in items], axis=-1)


def _take(xp: Any, v: Any, i: Any, span: A.Span, strict: bool) -> Any:
    """v[..., i] keeping a trailing axis of 1; out-of-range indices clip (or raise when strict)."""
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
    "!=": lambda xp, a, b: xp.not_equal(a, b),
    "and": lambda xp, a, b: xp.logical_and(a, b),
    "or": lambda xp, a, b: xp.logical_or(a, b),
}


def _power(xp: Any, a: Any, b: Any) -> Any:
    if _is_int(xp, a) and _is_int(xp, b):
        a = a * 1.0  # a power is a real number, even of integers
    return xp.power(a, b)


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
    if name == "sum":
        return xp.sum(xp.asarray(args[0]), axis=-1, keepdims=True)
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
        return _func(xp, e.name, args, e.span)
    raise TypeError(f"not an expression: {e!r}")


def constants(dt: float, steps: int) -> dict[str, float]:
    """The names every expression may read: dt, duration (= steps * dt) and pi."""
    return {"dt": float(dt), "duration": float(steps * dt), "pi": math.pi}


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


# ---- the checker -----------------------------------------------------------------------------


@dataclass
class _Scope:
    """The names an expression may read: their types, and what they are if not readable."""

    names: dict[str, Type]
    where: str  # "trial", "epoch", "noise", "accuracy", "grid"


class _Checker:
    def __init__(self, body: TaskBody, decl_span: A.Span, dt: float | None, steps: int | None) -> None:
        self.body = body
        self.decl_span = decl_span
        self.dt, self.steps = dt, steps
        self.diags: Diags = []
        self.vars: dict[str, Type] = {}
        self.definitions: dict[str, Let | Draw] = {}  # every variable, for "used before defined"
        self.inputs: list[Channel] = []
        self.outputs: list[Channel] = []
        self.const_env: dict[str, Any] = constants(dt or 1.0, steps or 1)
        self.grid_exprs: dict[str, Expr] = {}

    def error(self, *args: Any, **kw: Any) -> None:
        self.diags.append(_err(*args, **kw))

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> TaskSpec | None:
        st_all = self.body.statements
        self._settings_once(st_all)
        self._channels(st_all)
        for st in st_all:
            if isinstance(st, (Let, Draw)) and st.name not in SETTINGS:
                self.definitions.setdefault(st.name, st)
        variables = self._variables(st_all)
        noise, scaled = self._noise(st_all)
        epochs = self._epochs(st_all)
        accuracy = self._accuracy(st_all)
        grid, trials = self._validation(st_all)
        requires = self._requires(st_all)
        if self.diags:
            return None
        return TaskSpec(self.inputs, self.outputs, variables, epochs, noise, scaled, accuracy, grid, self.grid_exprs,
                        trials, requires)

    # -- settings and channels ------------------------------------------------------------------
    def _settings_once(self, statements: Sequence[Statement]) -> None:
        first: dict[str, A.Span] = {}
        for st in statements:
            key = None
            if isinstance(st, Let) and st.name in SETTINGS:
                key, span = st.name, st.name_span
            elif isinstance(st, Noise):
                key, span = "noise", st.span
            elif isinstance(st, Validation):
                key, span = "validation", st.span
            if key is None:
                continue
            if key in first:
                self.error(f"duplicate `{key}`", span, hint=f"a task has one `{key}`",
                           related=((first[key], f"the first `{key}` is here"),))
            else:
                first[key] = span

    def _channels(self, statements: Sequence[Statement]) -> None:
        seen: dict[str, A.Span] = {}
        for which in CHANNEL_SETTINGS:
            st = next((s for s in statements if isinstance(s, Let) and s.name == which), None)
            if st is None:
                self.error(f"the task declares no `{which}`", self.decl_span,
                           hint=f"list its {which[:-1]} channels, e.g. `{which} = [left, right]` (`ring[16]` names 16 channels)")
                continue
            groups = self.inputs if which == "inputs" else self.outputs
            if not isinstance(st.value, Vector):
                self.error(f"`{which}` is a list of channel names, such as `[left, right]`", st.value.span)
                continue
            lo = 0
            for item in st.value.items:
                got = self._channel_item(item)
                if got is None:
                    continue
                name, size, span = got
                if name in seen:
                    self.error(f"duplicate channel `{name}`", span, related=((seen[name], f"`{name}` is first declared here"),))
                    continue
                if name in RESERVED:
                    self.error(f"`{name}` is a built-in name and cannot name a channel", span)
                    continue
                seen[name] = span
                groups.append(Channel(name, lo, lo + size))
                lo += size

    def _channel_item(self, item: Expr) -> tuple[str, int, A.Span] | None:
        if isinstance(item, Name):
            return item.name, 1, item.span
        if isinstance(item, Index) and isinstance(item.base, Name):
            if isinstance(item.index, Num) and isinstance(item.index.value, int) and 1 <= item.index.value <= MAX_CHANNELS:
                return item.base.name, item.index.value, item.span
            if isinstance(item.index, Num) and isinstance(item.index.value, (int, float)) and item.index.value > MAX_CHANNELS:
                self.error(f"`{item.base.name}[n]` may have at most {MAX_CHANNELS:,} channels", item.index.span)
                return None
            self.error(f"the number of channels in `{item.base.name}[n]` must be a whole number >= 1", item.index.span)
            return None
        self.error("a channel is a name, or `name[n]` for a group of n channels", item.span)
        return None

    # -- names and types ------------------------------------------------------------------------
    def scope(self, where: str) -> _Scope:
        names = dict(self.vars)
        names.update({"dt": FLOAT, "duration": FLOAT, "pi": FLOAT})
        if where == "grid":
            names = {"dt": FLOAT, "duration": FLOAT, "pi": FLOAT}
        if where in ("epoch", "noise"):
            names["t"] = FLOAT
        if where == "epoch":
            names.update({n: FLOAT for n in EPOCH_NAMES})
        if where == "accuracy":
            names.update({n: INT for n in ACCURACY_NAMES})
        return _Scope(names, where)

    def _name(self, e: Name, sc: _Scope) -> Type | None:
        if e.name in sc.names:
            return sc.names[e.name]
        n = e.name
        if n in TIME_NAMES or n in EPOCH_NAMES:
            if sc.where == "grid":
                self.error(f"`{n}` is the time within a trial; a validation grid holds fixed values", e.span)
            elif n in TIME_NAMES:
                self.error(f"`{n}` is the time within the trial; {self._where_words(sc)} cannot depend on it", e.span,
                           hint="use `t` inside an epoch, e.g. `left = t / duration`")
            else:
                self.error(f"`{n}` belongs to an epoch; it is only available inside an epoch's braces", e.span)
            return None
        if n in ACCURACY_NAMES:
            self.error(f"`{n}` is the network's choice; it is only available in `accuracy`", e.span)
            return None
        if sc.where == "grid" and n in self.vars:
            self.error(f"a validation grid holds fixed values; it cannot read the variable `{n}`", e.span)
            return None
        chan = next((c for c in self.inputs + self.outputs if c.name == n), None)
        if chan is not None or n in SIGNALS:
            self.error(f"`{n}` is a channel; expressions read trial variables, not channels", e.span,
                       hint="a channel is set inside an epoch: `name = value`")
            return None
        later = self.definitions.get(n)
        if later is not None:
            verb = "drawn" if isinstance(later, Draw) else "computed"
            self.error(f"`{n}` is used before it is {verb}", e.span,
                       hint="trial variables are drawn and computed in the order they are written; move this line below it",
                       related=((later.name_span, f"`{n}` is {verb} here"),))
            return None
        if n in ACCURACY_RULES:
            self.error(f"`{n}` is an accuracy rule; write `accuracy = {n}`", e.span)
            return None
        self.error(f"undefined name `{n}`", e.span, hint=choices_hint(n, sc.names, "names defined here"))
        return None

    @staticmethod
    def _where_words(sc: _Scope) -> str:
        return {"trial": "a trial variable (drawn once per trial)", "grid": "a validation grid"}.get(sc.where, "this value")

    def type_of(self, e: Expr, sc: _Scope) -> Type | None:
        """The type of an expression; None (with an error reported) when it is wrong."""
        if isinstance(e, Num):
            return INT if isinstance(e.value, int) else FLOAT
        if isinstance(e, BoolLit):
            return BOOL
        if isinstance(e, Name):
            return self._name(e, sc)
        if isinstance(e, Vector):
            return self._vector(e, sc)
        if isinstance(e, Index):
            return self._index(e, sc)
        if isinstance(e, Unary):
            t = self.type_of(e.operand, sc)
            if t is None:
                return None
            if e.op == "not":
                return t if self._want_bool(t, e.operand, "`not`") else None
            return t if self._want_number(t, e.operand, f"`{e.op}`") else None
        if isinstance(e, Binary):
            return self._binary(e, sc)
        if isinstance(e, If):
            return self._if(e, sc)
        if isinstance(e, Func):
            return self._call(e, sc)
        raise TypeError(f"not an expression: {e!r}")

    def _want_number(self, t: Type, e: Expr, what: str) -> bool:
        if t.numeric:
            return True
        self.error(f"{what} needs numbers, but this is {t.words()}", e.span,
                   hint="turn a condition into a number with `if COND then 1 else 0`")
        return False

    def _want_bool(self, t: Type, e: Expr, what: str) -> bool:
        if t.base == "bool":
            return True
        self.error(f"{what} needs a condition (true or false), but this is {t.words()}", e.span,
                   hint="compare it, e.g. `x > 0` or `direction == 1`")
        return False

    def _broadcast(self, types: Sequence[Type], exprs: Sequence[Expr], what: str) -> int | None | bool:
        """The common size of operands (None: all scalars; a scalar goes with any vector);
        False after an error."""
        size: int | None = None
        for t, e in zip(types, exprs):
            if t.size is None:
                continue
            if size is not None and t.size != size:
                self.error(f"{what} combines vectors of different lengths: {size} and {t.size}", e.span)
                return False
            size = t.size
        return size

    def _vector(self, e: Vector, sc: _Scope) -> Type | None:
        types = [self.type_of(i, sc) for i in e.items]
        if any(t is None for t in types):
            return None
        for item, t in zip(e.items, types):
            if t.size is not None:
                self.error("a vector holds numbers, not vectors", item.span, hint="vectors are flat, e.g. [1, 0.2]")
                return None
        bases = {t.base for t in types}
        if "bool" in bases and len(bases) > 1:
            self.error("a vector mixes numbers and conditions", e.span)
            return None
        base = "bool" if bases == {"bool"} else ("int" if bases == {"int"} else "float")
        return Type(base, len(e.items))

    def _index(self, e: Index, sc: _Scope) -> Type | None:
        bt, it = self.type_of(e.base, sc), self.type_of(e.index, sc)
        if bt is None or it is None:
            return None
        if bt.size is None:
            self.error(f"only a vector can be indexed, but this is {bt.words()}", e.base.span)
            return None
        if it.base != "int" or it.size is not None:
            self.error(f"an index is an integer, but this is {it.words()}", e.index.span,
                       hint="round a number down with floor(x)")
            return None
        k = self.const(e.index)
        if k is not None and not 0 <= int(k) < bt.size:
            self.error(f"index {int(k)} is out of range for a vector of {bt.size} (0 to {bt.size - 1})", e.index.span)
            return None
        return Type(bt.base)

    def _binary(self, e: Binary, sc: _Scope) -> Type | None:
        lt, rt = self.type_of(e.left, sc), self.type_of(e.right, sc)
        if lt is None or rt is None:
            return None
        what = f"`{e.op}`"
        if e.op in ("and", "or"):
            if not (self._want_bool(lt, e.left, what) and self._want_bool(rt, e.right, what)):
                return None
            size = self._broadcast([lt, rt], [e.left, e.right], what)
            return None if size is False else Type("bool", size)
        if e.op in ("==", "!=") and lt.base == "bool" and rt.base == "bool":
            size = self._broadcast([lt, rt], [e.left, e.right], what)
            return None if size is False else Type("bool", size)
        if not (self._want_number(lt, e.left, what) and self._want_number(rt, e.right, what)):
            return None
        size = self._broadcast([lt, rt], [e.left, e.right], what)
        if size is False:
            return None
        if e.op in ("<", "<=", ">", ">=", "==", "!="):
            return Type("bool", size)
        base = "int" if lt.base == rt.base == "int" and e.op in "+-*" else "float"
        return Type(base, size)

    def _if(self, e: If, sc: _Scope) -> Type | None:
        ct, at, bt = self.type_of(e.cond, sc), self.type_of(e.then, sc), self.type_of(e.orelse, sc)
        if ct is None or at is None or bt is None:
            return None
        if not self._want_bool(ct, e.cond, "`if`"):
            return None
        if at.numeric != bt.numeric:
            self.error(f"the two branches of `if` differ: `then` gives {at.words()}, `else` gives {bt.words()}", e.orelse.span)
            return None
        size = self._broadcast([ct, at, bt], [e.cond, e.then, e.orelse], "`if`")
        if size is False:
            return None
        base = at.base if at.base == bt.base else "float"
        return Type(base, size)

    def _arity(self, e: Func, table: Mapping[str, tuple[int, int | None, str]]) -> bool:
        lo, hi, desc = table[e.name]
        n = len(e.args)
        if n < lo or (hi is not None and n > hi):
            want = str(lo) if lo == hi else (f"at least {lo}" if hi is None else f"{lo} or {hi}")
            self.error(f"`{e.name}` takes {want} argument{'s' if (hi or 2) != 1 else ''}, got {n}", e.span, hint=f"write {desc}")
            return False
        return True

    def _call(self, e: Func, sc: _Scope) -> Type | None:
        if e.name in DISTRIBUTIONS:
            self.error(f"`{e.name}(...)` draws a trial variable; it can only be written as `name ~ {e.name}(...)`", e.name_span,
                       hint="draw it on its own line, then use its name here")
            return None
        if e.name in ACCURACY_FUNCTIONS:
            if sc.where != "accuracy":
                self.error(f"`{e.name}` reads the network's response; it is only available in `accuracy`", e.name_span)
                return None
            return self._crossing(e, sc)
        if e.name == "threshold":
            self.error("`threshold(level, tolerance)` is an accuracy rule; write `accuracy = threshold(...)`", e.name_span)
            return None
        if e.name not in FUNCTIONS:
            self.error(f"unknown function `{e.name}`", e.name_span,
                       hint=choices_hint(e.name, list(FUNCTIONS) + list(DISTRIBUTIONS), "functions"))
            return None
        if not self._arity(e, FUNCTIONS):
            return None
        types = [self.type_of(a, sc) for a in e.args]
        if any(t is None for t in types):
            return None
        for a, t in zip(e.args, types):
            if not self._want_number(t, a, f"`{e.name}`"):
                return None
        name = e.name
        if name in ("onehot", "range", "linspace"):
            n_arg = e.args[-1]
            n = self._const_count(n_arg, name)
            if n is None:
                return None
            if name == "range":
                return Type("int", n)
            if any(t.size is not None for t in types[:-1]) or (name == "onehot" and types[0].base != "int"):
                what = "an integer index" if name == "onehot" else "numbers"
                self.error(f"the first argument{'s' if name == 'linspace' else ''} of `{name}` must be {what}, "
                           f"got {types[0].words()}", e.args[0].span,
                           hint="round a number down with floor(x)" if name == "onehot" else None)
                return None
            return Type("float", n)
        if name == "sum":
            return Type(types[0].base)
        size = self._broadcast(types, list(e.args), f"`{name}`")
        if size is False:
            return None
        if name in ("floor", "ceil", "round"):
            return Type("int", size)
        if name in ("min", "max", "clip", "abs"):
            return Type("int" if all(t.base == "int" for t in types) else "float", size)
        return Type("float", size)

    def _const_count(self, e: Expr, fname: str) -> int | None:
        v = self.const(e)
        if v is None or isinstance(v, bool) or np.ndim(v) != 0 or not float(v).is_integer() or int(v) < 1:
            self.error(f"the length given to `{fname}` must be a fixed whole number >= 1", e.span)
            return None
        if int(v) > MAX_CHANNELS:
            self.error(f"the length given to `{fname}` may be at most {MAX_CHANNELS:,}", e.span)
            return None
        return int(v)

    def _crossing(self, e: Func, sc: _Scope) -> Type | None:
        if not self._arity(e, ACCURACY_FUNCTIONS):
            return None
        t = self.type_of(e.args[0], sc)
        if t is None or not self._want_number(t, e.args[0], f"`{e.name}`"):
            return None
        if len(e.args) == 2 and self.output_channel(e.args[1]) is None:
            return None
        return FLOAT

    def output_channel(self, e: Expr) -> int | None:
        """An output channel given by name or fixed index (the crossing functions)."""
        if isinstance(e, Name):
            c = next((c for c in self.outputs if c.name == e.name), None)
            if c is not None and c.size == 1:
                return c.lo
        v = self.const(e)
        if v is not None and float(v).is_integer() and 0 <= int(v) < max(1, self._n_out()):
            return int(v)
        names = [c.name for c in self.outputs if c.size == 1]
        self.error(f"expected an output channel (a name or an index from 0 to {self._n_out() - 1})", e.span,
                   hint=f"output channels: {_names(names)}" if names else None)
        return None

    def _n_out(self) -> int:
        return self.outputs[-1].hi if self.outputs else 0

    def const(self, e: Expr) -> Any:
        """The value of an expression made of constants only, else None."""
        if any(isinstance(x, Name) and x.name not in CONSTANTS for x in walk(e)):
            return None
        if any(isinstance(x, Func) and (x.name not in FUNCTIONS) for x in walk(e)):
            return None
        try:
            with np.errstate(all="ignore"):
                v = evaluate(e, self.const_env, np)
        except Exception:  # a constant that does not evaluate is reported by the type check
            return None
        return v.item() if isinstance(v, np.ndarray) and v.size == 1 else v

    # -- variables ------------------------------------------------------------------------------
    def _variables(self, statements: Sequence[Statement]) -> list[Variable]:
        out: list[Variable] = []
        for st in statements:
            if not isinstance(st, (Let, Draw)) or st.name in SETTINGS:
                continue
            if st.name in RESERVED:
                self.error(f"`{st.name}` is a built-in name and cannot name a variable", st.name_span,
                           hint=f"built-in names: {_names(sorted(CONSTANTS + TIME_NAMES + EPOCH_NAMES))}")
                continue
            if st.name in self.vars or any(v.name == st.name for v in out):
                first = self.definitions[st.name]
                self.error(f"duplicate variable `{st.name}`", st.name_span,
                           related=((first.name_span, f"`{st.name}` is first defined here"),))
                continue
            if any(c.name == st.name for c in self.inputs + self.outputs):
                self.error(f"`{st.name}` is already a channel; a variable needs another name", st.name_span)
                continue
            sc = self.scope("trial")
            if isinstance(st, Draw):
                t = self._draw(st, sc)
                var = Variable(st.name, t, st.span, dist=st.value) if t is not None else None  # type: ignore[arg-type]
            else:
                t = self.type_of(st.value, sc)
                var = Variable(st.name, t, st.span, expr=st.value) if t is not None else None
            if var is not None:
                out.append(var)
                self.vars[st.name] = var.type
            else:
                self.vars[st.name] = FLOAT  # keep checking later lines without cascading errors
        return out

    def _draw(self, st: Draw, sc: _Scope) -> Type | None:
        e = st.value
        if not isinstance(e, Func) or e.name not in DISTRIBUTIONS:
            got = f"`{e.name}(...)`" if isinstance(e, Func) else "an expression"
            hint = choices_hint(e.name, DISTRIBUTIONS, "distributions") if isinstance(e, Func) else \
                f"to compute it from other variables write `{st.name} = ...`"
            self.error(f"`~` draws from a distribution such as uniform(0, 1), got {got}", e.span, hint=hint)
            return None
        return self._distribution(e, sc)

    def _distribution(self, e: Func, sc: _Scope) -> Type | None:
        if not self._arity(e, DISTRIBUTIONS):
            return None
        name = e.name
        args = list(e.args)
        if name == "truncated":
            base = args[0]
            if not (isinstance(base, Func) and base.name in ("normal", "exponential")):
                self.error("`truncated` takes normal(mean, std) or exponential(mean) as its first argument", base.span,
                           hint="e.g. truncated(normal(0, 1), -2, 2)")
                return None
            if self._distribution(base, sc) is None:
                return None
            args = args[1:]
        types = [self.type_of(a, sc) for a in args]
        if any(t is None for t in types):
            return None
        for a, t in zip(args, types):
            if t.size is not None or not t.numeric:
                self.error(f"the arguments of `{name}` are numbers, but this is {t.words()}", a.span)
                return None
        if name == "integer":
            for a, t in zip(args, types):
                if t.base != "int":
                    self.error(f"`integer(low, high)` takes integers, but this is {t.words()}", a.span,
                               hint="round it with floor(x), or draw a real number with uniform(low, high)")
                    return None
        if not self._static_arguments(e, e.args):
            return None
        return {"integer": INT, "bernoulli": BOOL}.get(name, INT if name == "choice" and all(t.base == "int" for t in types) else FLOAT)

    def _static_arguments(self, e: Func, args: Sequence[Expr]) -> bool:
        """Arguments that are constants are checked now; the others on sampled trials."""
        values = [self.const(a) for a in args]
        problem = argument_problem(e.name, values)
        if problem is None:
            return True
        self.error(problem, e.span, hint=f"write {DISTRIBUTIONS[e.name][2]}")
        return False

    # -- noise, epochs, accuracy, validation -----------------------------------------------------
    def _noise(self, statements: Sequence[Statement]) -> tuple[Expr | None, bool]:
        st = next((s for s in statements if isinstance(s, Noise)), None)
        if st is None:
            return None, False
        t = self.type_of(st.value, self.scope("noise"))
        if t is None or not self._want_number(t, st.value, "`noise`"):
            return None, False
        n_in = self.inputs[-1].hi if self.inputs else 0
        if t.size is not None and t.size != n_in:
            self.error(f"`noise` is one number, or one per input channel ({n_in}), but this is {t.words()}", st.value.span)
        return st.value, st.scaled

    def _epochs(self, statements: Sequence[Statement]) -> list[EpochSpec]:
        out: list[EpochSpec] = []
        seen: dict[str, A.Span] = {}
        for ep in (s for s in statements if isinstance(s, Epoch)):
            if ep.name in seen:
                self.error(f"duplicate epoch `{ep.name}`", ep.name_span, related=((seen[ep.name], f"`{ep.name}` is first declared here"),))
                continue
            seen[ep.name] = ep.name_span
            timing = ep.timing or EpochTiming(None, None, None, ep.name_span)
            ok = True
            for part in (timing.start, timing.end, timing.length):
                if part is None:
                    continue
                t = self.type_of(part, self.scope("trial"))
                if t is None or not self._want_number(t, part, "an epoch's time"):
                    ok = False
                elif t.size is not None:
                    self.error(f"an epoch's time is one number, but this is {t.words()}", part.span)
                    ok = False
            assigns = self._assigns(ep)
            if ok and assigns is not None:
                out.append(EpochSpec(ep.name, timing.start, timing.end, timing.length, assigns, ep.span, ep.name_span))
        return out

    def _channel_target(self, a: Assign) -> tuple[str, int, int] | None:
        if a.channel in SIGNALS:
            n = (self.inputs[-1].hi if self.inputs else 0) if a.channel == "input" else self._n_out()
            return a.channel, 0, n
        for signal, groups in (("input", self.inputs), ("target", self.outputs)):
            c = next((c for c in groups if c.name == a.channel), None)
            if c is not None:
                return signal, c.lo, c.hi
        names = [c.name for c in self.inputs + self.outputs] + list(SIGNALS)
        hint = choices_hint(a.channel, names, "channels")
        if a.channel in self.vars or a.channel in self.definitions:
            hint = f"`{a.channel}` is a trial variable; an epoch sets channels ({_names(names)})"
        self.error(f"unknown channel `{a.channel}`", a.channel_span, hint=hint)
        return None

    def _assigns(self, ep: Epoch) -> tuple[AssignSpec, ...] | None:
        out: list[AssignSpec] = []
        ok = True
        for a in ep.assigns:
            target = self._channel_target(a)
            if target is None:
                ok = False
                continue
            signal, lo, hi = target
            if a.index is not None:
                k = self.const(a.index)
                if k is None or not float(k).is_integer() or isinstance(k, bool):
                    self.error("a channel index is a fixed whole number, such as `ring[3]`", a.index.span)
                    ok = False
                    continue
                k = int(k)
                if not 0 <= k < hi - lo:
                    self.error(f"channel index {k} is out of range: `{a.channel}` has {hi - lo} channel{'s' if hi - lo != 1 else ''} "
                               f"(0 to {hi - lo - 1})", a.index.span)
                    ok = False
                    continue
                lo, hi = lo + k, lo + k + 1
            clash = next((b for b in out if b.signal == signal and b.lo < hi and lo < b.hi), None)
            if clash is not None:
                self.error(f"`{a.channel}` is set twice in epoch `{ep.name}`", a.channel_span,
                           related=((clash.span, "it is first set here"),))
                ok = False
                continue
            t = self.type_of(a.value, self.scope("epoch"))
            if t is None:
                ok = False
                continue
            if t.base == "bool":
                self.error(f"a channel holds numbers, but this is {t.words()}", a.value.span,
                           hint="write `if COND then 1 else 0`")
                ok = False
                continue
            width = hi - lo
            if t.size is not None and t.size != width:
                what = f"`{a.channel}{'[...]' if a.index is not None else ''}`"
                self.error(f"{what} has {width} channel{'s' if width != 1 else ''}, but the value is {t.words()}", a.value.span)
                ok = False
                continue
            out.append(AssignSpec(signal, lo, hi, a.value, a.span))
        return tuple(out) if ok else None

    def _accuracy(self, statements: Sequence[Statement]) -> Accuracy:
        st = next((s for s in statements if isinstance(s, Let) and s.name == "accuracy"), None)
        if st is None:
            return Accuracy("max_masked_mean")
        e = st.value
        if isinstance(e, Name) and e.name not in self.vars:
            if e.name == "max_masked_mean":
                return Accuracy("max_masked_mean")
            self.error(f"unknown accuracy rule `{e.name}`", e.span,
                       hint=choices_hint(e.name, ACCURACY_RULES, "accuracy rules") + "; or write a condition such as `response_choice == direction`")
            return Accuracy("max_masked_mean")
        if isinstance(e, Func) and e.name == "threshold":
            if len(e.args) != 2:
                self.error(f"`threshold` takes 2 arguments, got {len(e.args)}", e.span,
                           hint="write threshold(level, tolerance): the response reaches level within tolerance of when the target does")
                return Accuracy("max_masked_mean")
            sc = self.scope("trial")
            for a in e.args:
                t = self.type_of(a, sc)
                if t is not None and (not t.numeric or t.size is not None):
                    self.error(f"the arguments of `threshold` are numbers, but this is {t.words()}", a.span)
            return Accuracy("threshold", tuple(e.args))
        t = self.type_of(e, self.scope("accuracy"))
        if t is not None and (t.base != "bool" or t.size is not None):
            self.error(f"`accuracy` is a rule or a condition (true when a trial is correct), but this is {t.words()}", e.span,
                       hint="e.g. `accuracy = max_masked_mean`, `accuracy = threshold(0.5, 100)` or `accuracy = response_choice == direction`")
        return Accuracy("custom", expr=e)

    def _validation(self, statements: Sequence[Statement]) -> tuple[dict[str, np.ndarray] | None, int]:
        st = next((s for s in statements if isinstance(s, Validation)), None)
        if st is None:
            return None, RANDOM_VALIDATION_TRIALS
        grid: dict[str, np.ndarray] = {}
        trials = DEFAULT_VALIDATION_TRIALS
        seen: dict[str, A.Span] = {}
        for item in st.items:
            if item.name in seen:
                self.error(f"duplicate `{item.name}` in the validation grid", item.name_span,
                           related=((seen[item.name], "it is first given here"),))
                continue
            seen[item.name] = item.name_span
            t = self.type_of(item.value, self.scope("grid"))
            if t is None:
                continue
            value = self.const(item.value)
            if item.name == "trials":
                if t.base != "int" or t.size is not None or value is None or not 1 <= int(value) <= MAX_VALIDATION_TRIALS:
                    self.error(f"`trials` is the least number of validation trials, a whole number from 1 to {MAX_VALIDATION_TRIALS:,}",
                               item.value.span)
                else:
                    trials = int(value)
                continue
            var = self.vars.get(item.name)
            if var is None or item.name not in self.definitions:
                names = [n for n in self.definitions if n in self.vars]
                self.error(f"`{item.name}` is not a trial variable", item.name_span, hint=choices_hint(item.name, names, "trial variables"))
                continue
            if var.size is not None:
                self.error(f"`{item.name}` is {var.words()}; a validation grid varies scalar variables", item.name_span)
                continue
            if value is None or t.base == "bool" and var.base != "bool":
                self.error(f"the values of `{item.name}` are numbers, such as [0.1, 0.5]", item.value.span)
                continue
            arr = np.atleast_1d(np.asarray(value)).reshape(-1)
            if var.base == "int" and not np.all(np.mod(arr, 1) == 0):
                self.error(f"`{item.name}` is {var.words()}, but the grid gives non-integer values", item.value.span)
                continue
            if var.base == "bool" and not np.all(np.isin(arr.astype(float), (0.0, 1.0))):
                self.error(f"`{item.name}` is {var.words()}; its grid values are true and false (or 1 and 0)", item.value.span)
                continue
            grid[item.name] = arr.astype({"int": np.int32, "bool": np.bool_}.get(var.base, np.float32))
            self.grid_exprs[item.name] = item.value
        if not st.items:
            self.error("the validation grid names no variable", st.span,
                       hint="e.g. `validation grid { coherence = [0.1, 0.3]  direction = [0, 1] }`")
            return None, trials
        conditions = math.prod(len(v) for v in grid.values())
        if conditions > MAX_VALIDATION_TRIALS:
            self.error(f"the validation grid has {conditions:,} conditions; a validation set has at most {MAX_VALIDATION_TRIALS:,} trials",
                       st.span, hint="fewer values per variable, or fewer variables in the grid")
            return None, trials
        return grid, trials

    def _requires(self, statements: Sequence[Statement]) -> tuple[str, ...]:
        out: list[str] = []
        for st in (s for s in statements if isinstance(s, Require)):
            for prop, span in st.props:
                if prop not in REQUIRE_PROPS:
                    self.error(f"unknown requirement `{prop}`", span, hint=choices_hint(prop, REQUIRE_PROPS, "epochs can be required to be"))
                elif prop not in out:
                    out.append(prop)
        return tuple(out)


def argument_problem(name: str, values: Sequence[Any]) -> str | None:
    """What is wrong with a distribution's arguments (None for unknown values), else None."""
    def known(*idx: int) -> bool:
        return all(i < len(values) and values[i] is not None for i in idx)

    if name == "uniform" and known(0, 1) and values[0] > values[1]:
        return f"uniform(low, high) needs low <= high, got low = {values[0]:g} > high = {values[1]:g}"
    if name == "normal" and known(1) and values[1] < 0:
        return f"the std of `normal` must be >= 0, got {values[1]:g}"
    if name == "integer" and known(0, 1) and values[0] >= values[1]:
        return f"integer(low, high) draws low, ..., high - 1, so it needs low < high, got low = {values[0]:g}, high = {values[1]:g}"
    if name == "exponential" and known(0) and values[0] <= 0:
        return f"the mean of `exponential` must be > 0, got {values[0]:g}"
    if name == "bernoulli" and known(0) and not 0 <= values[0] <= 1:
        return f"the probability of `bernoulli` must be in [0, 1], got {values[0]:g}"
    if name == "truncated" and known(1, 2) and values[1] >= values[2]:
        return f"truncated(distribution, low, high) needs low < high, got low = {values[1]:g}, high = {values[2]:g}"
    return None


# ---- sampled checks (drawn trials, NumPy) ----------------------------------------------------

SAMPLES = 2048
EXTREME_SAMPLES = 512


def _np_draw(rng: np.random.Generator, name: str, args: list[Any], base: str | None, base_args: list[Any],
             shape: tuple[int, ...], extreme: np.ndarray) -> np.ndarray:
    """Draws for the checker: random, except where `extreme` is -1 (the support's low end) or +1 (high end)."""
    a = [np.broadcast_to(np.asarray(x, float), shape) for x in args]
    if name == "uniform":
        x, lo, hi = rng.uniform(0, 1, shape), a[0], a[1]
        x = lo + (hi - lo) * x
        x = np.where(extreme < 0, lo, np.where(extreme > 0, lo + (hi - lo) * (1 - 1e-7), x))
    elif name == "normal":
        x = a[0] + a[1] * np.where(extreme != 0, 3.0 * extreme, rng.standard_normal(shape))
    elif name == "integer":
        lo, hi = a[0], a[1]
        x = np.floor(lo + (hi - lo) * rng.uniform(0, 1, shape))
        x = np.where(extreme < 0, lo, np.where(extreme > 0, hi - 1, x)).astype(np.int64)
    elif name == "choice":
        opts = np.stack(a, axis=-1)
        k = rng.integers(0, len(args), shape)
        k = np.where(extreme < 0, np.argmin(opts, axis=-1), np.where(extreme > 0, np.argmax(opts, axis=-1), k))
        x = np.take_along_axis(opts, k[..., None], axis=-1)[..., 0]
        if all(_is_int(np, v) for v in args):
            x = x.astype(np.int64)
    elif name == "exponential":
        x = a[0] * np.where(extreme < 0, 0.0, np.where(extreme > 0, 5.0, rng.exponential(1.0, shape)))
    elif name == "bernoulli":
        x = np.where(extreme != 0, extreme > 0, rng.uniform(0, 1, shape) < a[0])
    else:  # truncated
        lo, hi = a[0], a[1]
        u = rng.uniform(0, 1, shape)
        if base == "normal":
            m, s = (np.broadcast_to(np.asarray(v, float), shape) for v in base_args)
            z = m + s * rng.standard_normal(shape)
        else:
            z = np.broadcast_to(np.asarray(base_args[0], float), shape) * rng.exponential(1.0, shape)
        x = np.where((z >= lo) & (z <= hi), z, lo + (hi - lo) * u)
        x = np.where(extreme < 0, lo, np.where(extreme > 0, hi, x))
    return np.asarray(x)


def _argument_problems(name: str, args: list[Any], base_args: list[Any]) -> tuple[np.ndarray, str] | None:
    """Samples whose distribution arguments are invalid, and why."""
    a = [np.asarray(x, float) for x in args]
    if name == "uniform":
        return a[0] > a[1], "low > high"
    if name == "normal":
        return a[1] < 0, "a negative std"
    if name == "integer":
        return a[0] >= a[1], "low >= high"
    if name == "exponential":
        return a[0] <= 0, "a mean <= 0"
    if name == "bernoulli":
        return (a[0] < 0) | (a[0] > 1), "a probability outside [0, 1]"
    if name == "truncated":
        bad = a[0] >= a[1]
        if base_args and len(base_args) == 2:
            bad = bad | (np.asarray(base_args[1], float) <= 0)
        return bad, "low >= high or a std <= 0"
    return None


class _Sampler:
    """Draws trials with NumPy to check what depends on the draws: distribution arguments,
    indices, and the epochs the file requires to be disjoint or nonempty."""

    def __init__(self, spec: TaskSpec, dt: float, steps: int, seed: int = 0) -> None:
        self.spec, self.dt, self.steps = spec, dt, steps
        self.rng = np.random.default_rng(seed)
        self.n = SAMPLES + EXTREME_SAMPLES
        self.extreme_rows = np.arange(self.n) >= SAMPLES
        self.env: dict[str, Any] = constants(dt, steps)
        self.diags: Diags = []
        self.given = self._grid_samples()

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
            try:
                if var.dist is not None:
                    value = self._draw(var, shape)
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
            rows = np.argwhere(np.broadcast_to(bad[0], shape)[:, 0, 0])
            if len(rows):
                row = int(rows[0][0])
                deps = names_in(dist)
                ex = self.example(deps, row)
                shown = ", ".join(_num(np.broadcast_to(np.asarray(a, float), shape)[row, 0, 0]) for a in args)
                self.diags.append(_err(f"`{name}` gets invalid arguments in some trials ({bad[1]})"
                                       + (f", e.g. when {ex}: {name}({shown})" if ex else ""), dist.span,
                                       hint=f"write {DISTRIBUTIONS[name][2]}"))
                return None
        extreme = np.where(self.extreme_rows, self.rng.choice([-1, 1], self.n), 0).reshape(shape)
        extreme[SAMPLES, 0, 0] = -1  # one trial with every variable at its low end, one at its high end
        extreme[SAMPLES + 1, 0, 0] = 1
        return _np_draw(self.rng, name, args, base, base_args, shape, extreme)

    def _epochs(self) -> None:
        spec = self.spec
        if not spec.epochs:
            return
        duration = self.steps * self.dt
        with np.errstate(all="ignore"):
            bounds = [(np.broadcast_to(np.asarray(s, float), (self.n, 1, 1)), np.broadcast_to(np.asarray(e, float), (self.n, 1, 1)))
                      for s, e in epoch_bounds(spec, self.env, np, duration)]
        t = (np.arange(self.steps) * self.dt).reshape(1, -1, 1)
        windows = [(t >= s) & (t < e) for s, e in bounds]
        deps = [self._epoch_names(i) for i in range(len(spec.epochs))]
        if "nonempty" in spec.requires:
            for i, (ep, w) in enumerate(zip(spec.epochs, windows)):
                empty = ~np.any(w, axis=(1, 2))
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
                    both = np.any(windows[i] & windows[j], axis=(1, 2))
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

    def _epoch_names(self, i: int) -> list[str]:
        """The variables epoch i's window depends on (through the epochs before it, in sequence)."""
        names: list[str] = []
        for ep in self.spec.epochs[: i + 1][::-1]:
            names += names_in(ep.start) + names_in(ep.end) + names_in(ep.length)
            if ep.start is not None:
                break
        return list(dict.fromkeys(names))


def _num(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.4g}"


# ---- entry points ----------------------------------------------------------------------------


def analyse(body: TaskBody, decl_span: A.Span, dt: float | None = None, steps: int | None = None,
            sample: bool = True) -> tuple[TaskSpec | None, Diags]:
    """Check a task body; returns the checked description (None when there are errors) and the
    diagnostics. With the model's dt and steps, what depends on the draws is checked on
    sampled trials (unless `sample` is false)."""
    checker = _Checker(body, decl_span, dt, steps)
    spec = checker.run()
    diags = checker.diags
    if spec is not None and sample and dt is not None and steps is not None:
        diags = _Sampler(spec, dt, steps).run()
        if diags:
            spec = None
    return spec, diags


def model_timing(mf: A.ModelFile) -> tuple[float | None, int | None]:
    """dt and steps as the model block writes them, when it writes them validly."""
    block = mf.model
    if block is None:
        return None, None
    given = {s.dotted: s.value for s in block.settings}
    dt = given.get("dt")
    if not (isinstance(dt, A.Number) and MIN_DT <= dt.value <= MAX_DT):
        return None, None
    steps, duration = given.get("steps"), given.get("duration")
    if isinstance(steps, A.Number) and isinstance(steps.value, int) and 1 <= steps.value <= MAX_STEPS and duration is None:
        return float(dt.value), int(steps.value)
    if isinstance(duration, A.Number) and duration.value > 0 and steps is None:
        ratio = duration.value / dt.value
        if math.isfinite(ratio) and 1 <= round(ratio) <= MAX_STEPS and abs(ratio - round(ratio)) <= 1e-6 * max(1.0, ratio):
            return float(dt.value), int(round(ratio))
    return None, None


def check_declared_tasks(ctx: Any) -> Diags:
    """The check run by `dsl.checks`: every task declared in the file, when a `task` kind is
    registered (else `check_node_kinds` reports that declared tasks are not available)."""
    diags: Diags = []
    kind = ctx.registry.get("task")
    if kind is None or kind.family != "task":
        return diags
    dt, steps = model_timing(ctx.mf)
    for decl in ctx.mf.nodes:
        if decl.body is not None and ctx.nodes.get(decl.name) is decl:
            diags += analyse(decl.body, decl.name_span, dt, steps)[1]
    return diags


__all__ = ["TaskBody", "TaskSpec", "analyse", "check_declared_tasks", "channel_layout", "variable_names", "evaluate",
           "epoch_bounds", "grid_conditions", "constants", "distribution_args"]
