"""The syntax tree of a task body and of a task declaration (`task NAME(params) { ... }`):
what the parser builds; every node carries its span."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .. import ast as A


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
class Str:
    """A string: only an argument of a built-in loss term (`reduce = "mean"`)."""

    value: str
    span: A.Span


@dataclass(frozen=True)
class KwArg:
    """`name = value` among a call's arguments (`over = time`, `during = respond`)."""

    name: str
    value: "Expr"
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class Func:
    """A call: a function (`min(a, b)`), a distribution (`uniform(0, 1)`) or an accuracy rule.
    `kwargs` are its keyword arguments in source order (a reduction's `over` and `during`)."""

    name: str
    args: tuple["Expr", ...]
    span: A.Span
    name_span: A.Span
    kwargs: tuple[KwArg, ...] = ()

    def kwarg(self, name: str) -> KwArg | None:
        return next((k for k in self.kwargs if k.name == name), None)


@dataclass(frozen=True)
class Index:
    base: "Expr"
    index: "Expr"
    span: A.Span


@dataclass(frozen=True)
class Attr:
    """`port.channel`: a channel group of a task's input port (in a metric)."""

    base: "Expr"
    name: str
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


Expr = Union[Num, BoolLit, Str, Name, Vector, Func, Index, Attr, Unary, Binary, If]


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
class StepDraw:
    """`name ~ distribution(...) each step` or `name[n] ~ distribution(...) [each step]`: a
    variable drawn once per trial (`each_step` false) or independently at every time step;
    `size` the number of values drawn (one per channel), None for the distribution's own size."""

    name: str
    value: Expr
    size: Expr | None
    each_step: bool
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class Hold:
    """`hold name[n] = rule, from start`: a value kept from step to step. At step k, `rule` gives
    the new value from this step's values and `previous` (the value at step k - 1; `start`, a
    per-trial value, before the first step; 0 when not written)."""

    name: str
    size: Expr | None
    rule: Expr
    start: Expr | None
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
    """`channel = expr`, `channel[i] = expr` or `port.channel = expr` inside an epoch (`port`
    names a declared signal port; `channel` is then one of its channel groups, or None for
    the whole port)."""

    channel: str
    index: Expr | None
    value: Expr
    span: A.Span
    channel_span: A.Span
    port: str | None = None


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


@dataclass(frozen=True)
class RequireCond:
    """`require CONDITION`: a condition on the task's parameters, checked where the task is used
    (`text` is the condition as written, for the message)."""

    cond: Expr
    span: A.Span
    text: str = ""


@dataclass(frozen=True)
class PortDecl:
    """`signal NAME = [channels]` (per-step values set in epochs), `init NAME = [channels]`
    (per-trial values that set a node's initial state) or `input NAME = [channels]` (a signal
    the task receives, read by its metrics). Without channels, a port of one value."""

    kind: str  # "signal", "init" or "input"
    name: str
    channels: Expr | None
    span: A.Span
    name_span: A.Span


@dataclass(frozen=True)
class PortSet:
    """`port.channel = expr` at the top of a body: a channel group of an init port."""

    port: str
    channel: str
    value: Expr
    span: A.Span
    port_span: A.Span
    channel_span: A.Span


@dataclass(frozen=True)
class Metric:
    """`metric NAME = expr`: a per-trial number reported by validation and `rnn eval`."""

    name: str
    value: Expr
    span: A.Span
    name_span: A.Span


Statement = Union[Let, Draw, Noise, Epoch, Validation, Require, RequireCond, PortDecl, PortSet, Metric, StepDraw, Hold]


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


@dataclass(frozen=True)
class TaskParam:
    """`name = default` in a task declaration's parentheses."""

    name: str
    default: Expr
    span: A.Span
    name_span: A.Span
    doc: str = ""  # the comment at the end of its line


@dataclass(frozen=True, repr=False)
class TaskDef:
    """`task NAME(params) { body }`: a task with parameters, used as `node t = NAME(...)`. Its
    text stands for it where it is shown or hashed, as a body's does."""

    name: str
    params: tuple[TaskParam, ...]
    body: TaskBody
    span: A.Span
    name_span: A.Span
    text: str = ""
    doc: str = ""  # the comment lines just above the declaration

    def __str__(self) -> str:
        return self.text or f"task {self.name}(...) {{ ... }}"

    def __repr__(self) -> str:
        return str(self)


