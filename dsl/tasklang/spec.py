"""The checked description of a task (`TaskSpec`, what the compiler lowers), the tolerant
readers that give a node its ports before it is checked, and the values of a declaration's
parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from .. import ast as A
from .evaluate import Rows, constants, evaluate, param_env
from .syntax import (Draw, Expr, Func, Hold, Index, Let, Name, Num, PortDecl, StepDraw, TaskBody, TaskDef, TaskParam,
                     Vector)
from .vocab import (BOOL, CONSTANTS, DEFAULT_VALIDATION_TRIALS, MAX_CHANNELS, RESERVED, SETTINGS, Type, choice_statement,
                    names_in, walk)


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
    """A trial variable: drawn (`dist` a distribution call) or computed (`expr`), or a hold
    (`rule`, from `start`: None for 0). `per_step` when it takes a value at every time step (a
    draw `each step`, a hold, or a value computed from those); `type` is one step's type."""

    name: str
    type: Type
    span: A.Span
    dist: Func | None = None
    expr: Expr | None = None
    per_step: bool = False
    rule: Expr | None = None
    start: Expr | None = None


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


@dataclass(frozen=True)
class PortSpec:
    """A port a task declares: `signal` (out, per step), `init` (out, per trial) or `input`
    (in, read by metrics); its channel groups are its fields. A port without channels holds
    one value."""

    name: str
    kind: str
    channels: tuple[Channel, ...]

    @property
    def size(self) -> int:
        return self.channels[-1].hi if self.channels else 1

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)


@dataclass
class TaskSpec:
    """A checked task: what the compiler needs to generate trials and score them."""

    inputs: list[Channel]
    outputs: list[Channel]
    variables: list[Variable]
    epochs: list[EpochSpec]
    noise: Expr | None = None
    noise_scaled: bool = False
    accuracy: Accuracy | None = field(default_factory=lambda: Accuracy("max_masked_mean"))  # None: no outputs
    grid: dict[str, np.ndarray] | None = None  # validation axes, first slowest
    grid_exprs: dict[str, Expr] = field(default_factory=dict)  # the expressions that give them
    validation_trials: int = DEFAULT_VALIDATION_TRIALS
    requires: tuple[str, ...] = ()
    ports: list[PortSpec] = field(default_factory=list)  # declared ports (signal, init, input)
    init_sets: list[AssignSpec] = field(default_factory=list)  # `start.pos = ...`: signal is the port
    metrics: list[tuple[str, Expr]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # the declaration's parameters, as given
    choice: Expr | None = None  # `choice = EXPR`: the chosen channel per trial (else the masked choice)

    @property
    def n_in(self) -> int:
        return self.inputs[-1].hi if self.inputs else 0

    @property
    def n_out(self) -> int:
        return self.outputs[-1].hi if self.outputs else 0

    @property
    def has_inputs(self) -> bool:
        return bool(self.inputs)

    @property
    def has_outputs(self) -> bool:
        return bool(self.outputs)

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def port(self, name: str) -> PortSpec | None:
        return next((p for p in self.ports if p.name == name), None)


# ---- tolerant readers (ports and parameters of a node, before checks) ------------------------


def _count(e: Expr, params: Mapping[str, Any]) -> int | None:
    """A channel group's size: a whole number >= 1 written with constants and parameters."""
    if isinstance(e, Num):
        v: Any = e.value
    else:
        if any(isinstance(x, Name) and x.name not in params and x.name not in CONSTANTS for x in walk(e)):
            return None
        try:
            with np.errstate(all="ignore"):
                v = evaluate(e, {**constants(1.0, 1), **param_env(params)}, np)
        except Exception:  # a malformed size is reported by the checker
            return None
    if isinstance(v, (bool, np.bool_)) or np.ndim(v) != 0 or not np.isfinite(v) or not float(v).is_integer() \
            or not 1 <= int(v) <= MAX_CHANNELS:
        return None
    return int(v)


def _channel_items(value: Expr | None, params: Mapping[str, Any]) -> list[tuple[str, int]]:
    out = []
    for item in value.items if isinstance(value, Vector) else ():
        if isinstance(item, Name):
            out.append((item.name, 1))
        elif isinstance(item, Index) and isinstance(item.base, Name):
            n = _count(item.index, params)
            if n is not None:
                out.append((item.base.name, n))
    return out


def _groups(value: Expr | None, params: Mapping[str, Any]) -> list[Channel]:
    groups, lo = [], 0
    for name, size in _channel_items(value, params):
        groups.append(Channel(name, lo, lo + size))
        lo += size
    return groups


def channel_layout(body: Any, params: Mapping[str, Any] | None = None) -> tuple[list[Channel], list[Channel]]:
    """The input and output channel groups a body declares, read without checking (for ports)."""
    groups: dict[str, list[Channel]] = {"inputs": [], "outputs": []}
    if isinstance(body, TaskBody):
        for st in body.statements:
            if isinstance(st, Let) and st.name in groups and not groups[st.name]:
                groups[st.name] = _groups(st.value, params or {})
    return groups["inputs"], groups["outputs"]


def port_layout(body: Any, params: Mapping[str, Any] | None = None) -> list[PortSpec]:
    """Every port a body gives its task, read without checking (for the node's ports): `input`
    from `inputs`; `target`, `mask` and `response` from `outputs`; then the declared ports."""
    ins, outs = channel_layout(body, params)
    ports: list[PortSpec] = []
    if ins:
        ports.append(PortSpec("input", "signal", tuple(ins)))
    if outs:
        ports += [PortSpec("target", "signal", tuple(outs)), PortSpec("mask", "signal", tuple(outs)),
                  PortSpec("response", "input", tuple(outs))]
    if isinstance(body, TaskBody):
        for st in body.statements:
            if isinstance(st, PortDecl) and all(p.name != st.name for p in ports):
                ports.append(PortSpec(st.name, st.kind, tuple(_groups(st.channels, params or {}))))
    return ports


def variable_names(body: Any, params: Iterable[str] = ()) -> list[str]:
    """The trial variables a body defines, in order (for per-node parameters)."""
    if not isinstance(body, TaskBody):
        return []
    taken = set(params)
    chosen = choice_statement(body.statements)
    steps = per_step_names(body)
    names = [st.name for st in body.statements
             if isinstance(st, (Let, Draw, StepDraw)) and st.name not in SETTINGS and st is not chosen]
    return list(dict.fromkeys(n for n in names if n not in RESERVED and n not in taken and n not in steps))


def per_step_names(body: TaskBody) -> set[str]:
    """The variables of a body that take a value at every step (drawn `each step`, held, or
    computed from those), read without checking: they are not parameters of the node."""
    out: set[str] = set()
    for st in body.statements:
        if isinstance(st, Hold) or isinstance(st, StepDraw) and st.each_step:
            out.add(st.name)
        elif isinstance(st, Let) and st.name not in SETTINGS and out.intersection(names_in(st.value)):
            out.add(st.name)
    return out


# ---- parameters of a task declaration --------------------------------------------------------


def param_type(value: Any) -> Type:
    """The type of a parameter's value: a number, an integer, a condition, a vector or a matrix."""
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    arr = np.asarray(value)
    base = "bool" if arr.dtype == np.bool_ else ("int" if np.issubdtype(arr.dtype, np.integer) else "float")
    if arr.ndim == 0:
        return Type(base)
    if arr.ndim == 1:
        return Type(base, arr.shape[0])
    return Type(base, arr.shape[1] if arr.ndim == 2 else 0, rows=arr.shape[0])


def default_value(p: TaskParam) -> tuple[Any, str | None]:
    """A parameter's default (a number, a bool, a list or a list of rows), or why it is not one:
    a default is written with numbers, `true`/`false`, `pi` and brackets."""
    e = p.default
    rows = e.items if isinstance(e, Vector) and e.items and all(isinstance(i, Vector) for i in e.items) else None
    try:
        with np.errstate(all="ignore"):
            if rows is not None:
                vals = [np.asarray(evaluate(r, {"pi": math.pi}, np)).reshape(-1) for r in rows]
                if len({v.shape for v in vals}) != 1:
                    return None, "the rows of a matrix have one length"
                value: Any = np.stack(vals)
            else:
                if any(isinstance(x, Name) and x.name != "pi" for x in walk(e)):
                    return None, "a default is written with numbers (and `pi`), not names"
                value = evaluate(e, {"pi": math.pi}, np)
    except Exception:  # anything else is not a constant
        return None, "a default is a number, `true`, `false`, a list of numbers or a list of rows"
    arr = np.asarray(value)
    if arr.dtype == object or arr.ndim > 2:
        return None, "a default is a number, `true`, `false`, a list of numbers or a list of rows"
    if arr.ndim == 0:
        return (bool(arr) if arr.dtype == np.bool_ else arr.item()), None
    return arr.tolist(), None


def instance_values(d: TaskDef, given: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The values of a declaration's parameters for one use: each given value (in its
    parameter's form), else the default; and, by name, what is wrong with a given value."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for p in d.params:
        default, _ = default_value(p)
        raw = (given or {}).get(p.name, default)
        value, why = param_value(raw, default)
        if why is not None:
            problems[p.name] = why
            value, _ = param_value(default, default)
        values[p.name] = value
    return values, problems


def param_kind(value: Any) -> str:
    """The value type (as node parameters declare them) a parameter with this default takes."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "matrix" if np.ndim(value) == 2 else "vector"


def param_value(value: Any, default: Any) -> tuple[Any, str | None]:
    """A given value in its parameter's form (integers where the default holds integers), or what
    is wrong with it."""
    if isinstance(default, (bool, int, float)) or value is None:
        return value, None
    arr = np.asarray(value, dtype=float)
    want_int = np.issubdtype(np.asarray(default).dtype, np.integer)
    if want_int:
        if not np.all(np.mod(arr, 1) == 0):
            return None, "expected whole numbers"
        return arr.astype(np.int32), None
    return arr.astype(np.float32), None


