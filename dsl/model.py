"""A checked model: every name resolved against the registry and the schema, every default
filled in, every file reference loaded, port sizes and evaluation order planned. This is what the
graph carries and the compiler reads.
Values are plain Python (numbers, strings, lists, NumPy arrays for matrices, dicts for calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import ast as A
from .errors import Diagnostic

if TYPE_CHECKING:
    from .plan import Plan


@dataclass(frozen=True)
class Signal:
    """A reference to a signal: `node.port` or `node.port.field` (a task's port too),
    or, for weight terms, `node` / `node.param` (then port is the param name or None)."""

    node: str
    port: str | None
    field: str | None
    span: A.Span

    def __str__(self) -> str:
        return ".".join(p for p in (self.node, self.port, self.field) if p)


@dataclass(frozen=True)
class Distribution:
    """A value drawn per trial: name in schema.DISTRIBUTIONS, numeric args. A `truncated` one
    has args (low, high) and draws from `base`, (name, args): ("normal", (mean, std)) or
    ("exponential", (mean,))."""

    name: str
    args: tuple[Any, ...]
    span: A.Span
    base: tuple[str, tuple[float, ...]] | None = None

    def base_args(self) -> list[Any]:
        """The table's `base_args` for a draw: [base name, *its args], or [] without a base."""
        return [self.base[0], *self.base[1]] if self.base else []


@dataclass
class ResolvedNode:
    name: str
    kind: str
    family: str
    params: dict[str, Any]  # every parameter of the kind, defaults filled
    decl: A.NodeDecl


@dataclass
class ResolvedSite:
    """An intervention placed at `target` (a port, or an internal site such as `net.hidden`).
    `params` holds the constant parameters; `per_trial` the default spec of every per-trial
    parameter (a number, a list, or a Distribution); `schedules[phase]` overrides per phase
    ("train", "validate")."""

    name: str
    kind: str
    node: str
    site: str  # the port or internal site name
    is_port: bool
    params: dict[str, Any]
    per_trial: dict[str, Any]
    schedules: dict[str, dict[str, Any]]
    decl: A.SiteDecl


@dataclass
class ResolvedTerm:
    name: str
    weight: float
    kind: str  # a key of schema.LOSS_TERMS, or "expression"
    args: dict[str, Any]  # Signal for signal references, plain values otherwise
    decl: A.LossTerm
    expr: Any = None  # an expression term: the checked task-language expression
    text: str = ""  # ... as written
    # what an expression term reads, by its dotted name: ("signal", node, port, field),
    # ("tensor", node, param) or ("var", variable); filled in by the checks after planning
    reads: dict[str, tuple] = field(default_factory=dict)
    read_spans: dict[str, A.Span] = field(default_factory=dict)


@dataclass
class ResolvedStage:
    name: str
    settings: dict[str, Any]  # until_accuracy, batches
    overrides: dict[str, Any]  # task parameter -> value
    decl: A.Stage
    sites: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # site -> phase -> param -> value
    until: Any = None  # the stage's `until` (a conditions.Condition), or None
    task: "ResolvedNode | None" = None  # the task the stage switches to (`task = NAME(args)`), or None


@dataclass
class CheckedModel:
    path: str
    source: str
    name: str
    dt: float
    steps: int
    tau: float | None
    seed: int
    nodes: dict[str, ResolvedNode]
    edges: list[A.Edge]
    sites: dict[str, ResolvedSite]
    loss: list[ResolvedTerm]
    train: dict[str, Any]  # every TRAIN_SETTINGS key, defaults filled (see schema)
    stages: list[ResolvedStage]
    masks: dict[tuple[str, str], Any]  # (node, param) -> per-element gradient mask (NumPy)
    ast: A.ModelFile
    warnings: list[Diagnostic] = field(default_factory=list)
    # where each setting came from, for error positions: "train.batches" -> span
    setting_spans: dict[str, A.Span] = field(default_factory=dict)
    # the evaluation plan (port sizes, timing, order), computed by the checker as its last step
    plan: "Plan | None" = None
    # the types (tasklang.Type) of the task's trial variables, by name: what site expressions read
    task_variables: dict[str, Any] = field(default_factory=dict)
    # the train block's `until` (a conditions.Condition), or None
    stop_rule: Any = None
    # other texts that spans may point into, by file name (the `--set` overrides), for messages
    # about the model made after the check (the optimizer's arguments, the memory budget)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def task(self) -> ResolvedNode | None:
        return next((n for n in self.nodes.values() if n.family == "task"), None)

    # how a notebook shows a checked model (dsl/display.py): the summary with the diagram
    def _repr_html_(self) -> str:
        from .display import model_html

        return model_html(self)

    def _repr_svg_(self) -> str | None:
        from .display import model_svg

        return model_svg(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from .display import model_text

        printer.text(model_text(self))
