"""The task language's vocabulary (reserved names, functions, distributions, accuracy rules),
the types of its expressions, and small helpers every part of it shares."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .. import ast as A
from .. import distributions as D
from ..errors import Diagnostic
from .syntax import Attr, Binary, Expr, Func, If, Index, Let, Name, PortDecl, Unary, Vector

Diags = list[Diagnostic]


CHANNEL_SETTINGS = ("inputs", "outputs")
SETTINGS = CHANNEL_SETTINGS + ("accuracy",)
CONSTANTS = ("dt", "duration", "pi")  # usable everywhere
VALIDATING = "validating"  # true in the validation set, false in training batches (trial variables on)
TIME_NAMES = ("t",)  # inside epochs and the noise
EPOCH_NAMES = ("t0", "t1", "elapsed")  # inside epochs only
ACCURACY_NAMES = ("response_choice", "target_choice")  # inside `accuracy` only
SIGNALS = ("input", "target", "mask")
GENERATED_PORTS = SIGNALS + ("response",)  # the ports `inputs` and `outputs` give a task
PORT_KINDS = ("signal", "init", "input")
RESERVED = set(SETTINGS) | set(CONSTANTS) | set(TIME_NAMES) | set(EPOCH_NAMES) | set(ACCURACY_NAMES) | set(SIGNALS) | {
    "response", "noise", "true", "false", VALIDATING}
# names a task's parameter cannot take (it may be called `noise`: a parameter is read in expressions)
PARAM_RESERVED = (RESERVED - {"noise"}) | {"body", "decl"}
# a window holds the steps whose time lies in [start, end) to within this relative precision
# (a few float32 roundings), so that times computed as sums of whole steps (`for n * dt`) land
# on their steps
WINDOW_TOLERANCE = 1e-6

# name -> (min args, max args or None, how it is written): the one table's (dsl/distributions.py)
DISTRIBUTIONS: dict[str, tuple[int, int | None, str]] = D.arities()
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "onehot": (2, 2, "onehot(i, n): n channels, 1 at index i, 0 elsewhere"),
    "min": (1, None, "min(a, b, ...) element by element, or min(x[, over = ...][, during = epoch]) over axes"),
    "max": (1, None, "max(a, b, ...) element by element, or max(x[, over = ...][, during = epoch]) over axes"),
    "mean": (1, 1, "mean(x[, over = ...][, during = epoch]): the mean over axes (time, units)"),
    "argmax": (1, 1, "argmax(v): the index of the largest element of a vector (a channel; ties: the first)"),
    "abs": (1, 1, "abs(x)"), "sqrt": (1, 1, "sqrt(x)"), "exp": (1, 1, "exp(x)"), "log": (1, 1, "log(x)"),
    "sin": (1, 1, "sin(x)"), "cos": (1, 1, "cos(x)"), "tanh": (1, 1, "tanh(x)"),
    "floor": (1, 1, "floor(x)"), "ceil": (1, 1, "ceil(x)"), "round": (1, 1, "round(x)"),
    "clip": (3, 3, "clip(x, low, high)"),
    "range": (1, 1, "range(n): the vector 0, 1, ..., n - 1"),
    "linspace": (3, 3, "linspace(a, b, n): n evenly spaced numbers from a to b"),
    "sum": (1, 1, "sum(x[, over = ...][, during = epoch]): the sum over axes (a vector's elements by default)"),
    "cumsum": (1, 1, "cumsum(v): the running sums of a vector's elements, v[0], v[0] + v[1], ..."),
    "column": (2, 2, "column(m, j): column j of a matrix (from 0), one element per row"),
    "size": (1, 1, "size(v): the number of elements of a vector (of rows of a matrix)"),
    "all": (1, 1, "all(c[, over = ...][, during = epoch]): whether c holds everywhere (a vector's elements by default)"),
    "any": (1, 1, "any(c[, over = ...][, during = epoch]): whether c holds somewhere (a vector's elements by default)"),
    "norm": (1, 1, "norm(v): the Euclidean length of a vector"),
    "concat": (1, None, "concat(a, b, ...): numbers and vectors joined into one vector"),
}
# reductions of one argument: what they reduce (`over`) and where in time (`during`)
REDUCTIONS = ("mean", "sum", "max", "min", "all", "any")
REDUCTION_KEYWORDS = ("over", "during")
# the axes a reduction names in `over`: a loss or a metric sees one trial's (time, units), a
# value of a task's body one trial's units; a loss is computed per trial and averaged over trials
AXES = ("trials", "time", "units")
NEVER = "never"  # the time of a crossing that does not happen: every comparison with it is false
# crossings of a signal within a window, in metrics, accuracy, choice and losses
CROSSINGS: dict[str, tuple[int, int | None, str]] = {
    "first_crossing": (2, 2, "first_crossing(x, level[, during = epoch]): the first time x reaches level, or never"),
    "last_crossing": (2, 2, "last_crossing(x, level[, during = epoch]): the last time x rises to level, or never"),
    "crossed": (2, 2, "crossed(x, level[, during = epoch]): whether x reaches level"),
}
SIGNAL_PLACES = ("metric", "accuracy", "choice", "loss")  # where signals over time are read
METRIC_FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "final": (1, 1, "final(x): the value at the last time step"),
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
MAX_CHANNELS = 100_000  # channels of one `name[n]` group, and lengths of vectors a function makes


# ---- types -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Type:
    """An expression's type: `base` int, float or bool; `size` None for a scalar, n for a vector."""

    base: str
    size: int | None = None
    rows: int | None = None  # a matrix (a task's parameter only): `rows` vectors of `size`

    @property
    def numeric(self) -> bool:
        return self.base in ("int", "float")

    def words(self) -> str:
        one = {"int": "an integer", "float": "a number", "bool": "a condition (true or false)"}[self.base]
        many = {"int": "integers", "float": "numbers", "bool": "conditions"}[self.base]
        if self.rows is not None:
            return f"a matrix of {self.rows} rows of {self.size} {many}"
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
    elif isinstance(e, Attr):
        yield from walk(e.base)
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



def _show(value: Any) -> str:
    """A parameter's value as it would be written: 0.5, [0.5, 0.2], [[1, 2], [3, 4]]."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return ("true" if bool(arr) else "false") if arr.dtype == np.bool_ else _num(arr)
    return "[" + ", ".join(_show(x) for x in arr) + "]"


def _num(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def choice_statement(statements: Sequence[Any]) -> Let | None:
    """The `choice = EXPR` line that gives the task's choice: the one that reads the network's
    response (`response`, or a port the task receives). A `choice` line that reads only trial
    variables is a trial variable named `choice`, as files written before the setting have it."""
    received = {"response"} | {s.name for s in statements if isinstance(s, PortDecl) and s.kind == "input"}
    for st in statements:
        if isinstance(st, Let) and st.name == "choice":
            reads = {x.name for x in walk(st.value) if isinstance(x, Name)}
            if reads & received:
                return st
    return None
