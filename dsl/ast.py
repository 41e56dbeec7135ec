"""The typed syntax tree of a .rnn file. Every element carries the span of source it came from,
so any later stage (checks, shape inference, the algebraic-loop test) can point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # the declared-task language's own tree (dsl/tasklang.py)
    from .tasklang import TaskBody, TaskDef


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns count from 1, the end column is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# ---- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: int | float
    span: Span


@dataclass(frozen=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True)
class NoneValue:
    span: Span


@dataclass(frozen=True)
class ListValue:
    items: tuple["Value", ...]
    span: Span


@dataclass(frozen=True)
class Ref:
    """A bare name or a dotted path: `tanh`, `net`, `task.target.pos`."""

    parts: tuple[str, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Keyword:
    name: str
    value: "Value"
    span: Span  # the whole `name = value`
    name_span: Span


@dataclass(frozen=True)
class Call:
    """`name(args, key = value)`: an initializer, a distribution, an optimizer, a loss term."""

    name: str
    args: tuple["Value", ...]
    kwargs: tuple[Keyword, ...]
    span: Span
    name_span: Span

    def kwarg(self, name: str) -> Keyword | None:
        return next((k for k in self.kwargs if k.name == name), None)


@dataclass(frozen=True)
class Expression:
    """An expression of the task language where a site's schedule gives a per-trial value that is
    more than a plain value (`amplitude = normal(0, 0.5) * task.goal[0]`); `text` as written."""

    expr: Any  # a tasklang expression (dsl/tasklang/syntax.py)
    span: Span
    text: str = ""


Value = Union[Number, String, Bool, NoneValue, ListValue, Ref, Call, Expression]


# ---- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """`key = value`; the key may be dotted (`task.coherences = [0.7]`)."""

    key: tuple[str, ...]
    value: Value
    span: Span
    key_span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.key)


@dataclass(frozen=True)
class ModelBlock:
    name: str | None
    settings: tuple[Setting, ...]
    span: Span
    keyword_span: Span


@dataclass(frozen=True)
class NodeDecl:
    """`node NAME = KIND(params)`, or `node NAME = task { ... }` (a declared task: `body`)."""

    name: str
    kind: str
    params: tuple[Keyword, ...]
    span: Span
    name_span: Span
    kind_span: Span
    positional: tuple[Value, ...] = ()
    body: "TaskBody | None" = None


@dataclass(frozen=True)
class PortRef:
    """`node.port` or `node.port.field`."""

    node: str
    port: str
    field: str | None
    span: Span
    node_span: Span
    port_span: Span
    field_span: Span | None = None

    def __str__(self) -> str:
        return f"{self.node}.{self.port}" + (f".{self.field}" if self.field else "")


@dataclass(frozen=True)
class Edge:
    source: PortRef
    target: PortRef
    span: Span
    index: int = 0  # source order among all edges: concatenation order


@dataclass(frozen=True)
class Schedule:
    """`train { ... }` or `validate { ... }` inside a site: per-phase parameter values."""

    phase: str
    settings: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True)
class SiteDecl:
    """`site NAME at node.port: intervention(params) { schedules }`."""

    name: str
    target: PortRef
    kind: str
    params: tuple[Keyword, ...]
    schedules: tuple[Schedule, ...]
    span: Span
    name_span: Span
    kind_span: Span
    positional: tuple[Value, ...] = ()
    value: "SiteValue | None" = None  # `{ value = EXPR }` of a custom intervention


@dataclass(frozen=True)
class SiteValue:
    """`value = EXPR` in a site's body: what a custom intervention adds to (or puts in place of)
    the signal at its site, each step."""

    expr: Any  # a tasklang expression
    span: Span
    name_span: Span
    name: str = "value"


@dataclass(frozen=True)
class LossTerm:
    """`name = [weight *] term(args)` of a built-in term (`call`), or `name = EXPRESSION`
    (`expr`, a task-language expression; `call` is then None and the weight 1)."""

    name: str
    weight: float
    call: Call | None
    span: Span
    name_span: Span
    expr: Any = None


@dataclass(frozen=True)
class LossBlock:
    terms: tuple[LossTerm, ...]
    span: Span
    keyword_span: Span


@dataclass(frozen=True)
class Until:
    """`until CONDITION`: an expression of the task language over the validation results (a
    stage's end, or the train block's stop rule); `text` is its source."""

    cond: Any  # a tasklang expression (dsl/tasklang/syntax.py)
    span: Span
    text: str


@dataclass(frozen=True)
class Stage:
    name: str
    settings: tuple[Setting, ...]
    span: Span
    name_span: Span
    until: tuple[Until, ...] = ()


@dataclass(frozen=True)
class TrainBlock:
    settings: tuple[Setting, ...]
    stages: tuple[Stage, ...]
    span: Span
    keyword_span: Span
    until: tuple[Until, ...] = ()


@dataclass(frozen=True)
class SweepBlock:
    """`sweep { key = [v1, v2]  key = a:b }`: each axis is a Setting whose value is a ListValue, or a
    Call `range(a, b)` for `a:b`."""

    axes: tuple[Setting, ...]
    span: Span
    keyword_span: Span


@dataclass
class ModelFile:
    """A parsed file: every declaration in source order, grouped by what it is. Blocks that
    may appear once are lists here so that a duplicate can be reported with its position."""

    path: str
    source: str
    models: list[ModelBlock] = field(default_factory=list)
    nodes: list[NodeDecl] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    sites: list[SiteDecl] = field(default_factory=list)
    losses: list[LossBlock] = field(default_factory=list)
    trains: list[TrainBlock] = field(default_factory=list)
    tasks: list["TaskDef"] = field(default_factory=list)  # `task NAME(params) { ... }` declarations
    sweeps: list[SweepBlock] = field(default_factory=list)  # `sweep { ... }`: what `rnn sweep` varies

    @property
    def model(self) -> ModelBlock | None:
        return self.models[0] if self.models else None

    @property
    def loss(self) -> LossBlock | None:
        return self.losses[0] if self.losses else None

    @property
    def train(self) -> TrainBlock | None:
        return self.trains[0] if self.trains else None


def to_python(value: Value) -> Any:
    """A value as plain Python data: numbers, strings, booleans, None, lists, a dotted string for
    a reference, and {"name", "args", "kwargs"} for a call."""
    if isinstance(value, (Number, String, Bool)):
        return value.value
    if isinstance(value, NoneValue):
        return None
    if isinstance(value, ListValue):
        return [to_python(v) for v in value.items]
    if isinstance(value, Ref):
        return value.dotted
    if isinstance(value, Call):
        return {
            "name": value.name,
            "args": [to_python(a) for a in value.args],
            "kwargs": {k.name: to_python(k.value) for k in value.kwargs},
        }
    if isinstance(value, Expression):
        return value.text
    raise TypeError(f"not a value: {value!r}")
