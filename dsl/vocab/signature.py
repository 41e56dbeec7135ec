"""The signature of a node kind: its parameters, ports, sites, value checks and roles.

This is the vocabulary every layer shares. It is plain Python and imports nothing of the project
above it: the front end (`rnnlang.dsl.library`) declares every kind with these classes and checks
models against them; the compiler attaches a JAX implementation to each kind by name
(`rnnlang.compiler.nodes.IMPLS`); the runtime reads ports and roles to draw and report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

FAMILIES = ("network", "mechanics", "channel", "task", "intervention")


class _Required:
    """Marker for a parameter without a default."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

# Value types a parameter may declare. The checker in `rnnlang.dsl.checks` knows each one.
#   int, float, bool, str   plain scalars (an int is accepted where a float is asked)
#   vector                  a flat list of numbers
#   matrix                  a nested list of numbers, or file("path.npy") / file("path.npz", "key")
#   index_list              a flat list of non-negative integers
#   call                    a name or a call such as spectral_radius(1.1) (see Param.choices)
#   value                   a number, a list, or a distribution drawn per trial (Param.per_trial)
#   any                     anything the grammar can write
VALUE_TYPES = ("int", "float", "bool", "str", "vector", "matrix", "index_list", "call", "value", "any")


@dataclass(frozen=True)
class Param:
    """One keyword parameter of a node kind.

    `low`/`high` bound numbers (inclusive unless `low_open`/`high_open`); `choices` lists the
    allowed strings for `str`, or the allowed call names for `call`. `per_trial` means the value
    may be a distribution drawn per trial (interventions and tasks). `trainable` names the JAX
    parameter this one initialises when it is itself a tensor (rare; most config is fixed).
    """

    name: str
    type: str
    default: Any = REQUIRED
    doc: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    per_trial: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# A size rule: an int, the name of an int parameter, or a function of (params, input sizes).
SizeRule = int | str | Callable[[Mapping[str, Any], Mapping[str, int]], int] | None


@dataclass(frozen=True)
class Port:
    """A port of a node. All signals are vectors per trial and time step.

    direction: "in" or "out".
    size: for an output, its size rule (must resolve); for an input, the size it expects, or
        None for "whatever arrives" (a network's input takes the concatenation of its edges).
    combine (inputs): "concat" (in source order), "sum" (each edge must have the port's size),
        or "single" (at most one edge).
    timing (outputs): "state" (read from the state at the start of the step), "feedthrough"
        (depends on this step's inputs), or a function of the resolved params giving one of them.
    role: "signal" (every step) or "init" (consumed once, to set the initial state; task outputs
        with role "init" are per-trial values such as an effector's start).
    fields: named slices of the vector, e.g. {"pos": (0, 2), "vel": (2, 4)}.
    """

    name: str
    direction: str
    size: SizeRule = None
    combine: str = "concat"
    timing: str | Callable[[Mapping[str, Any]], str] = "feedthrough"
    role: str = "signal"
    fields: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    doc: str = ""
    tags: tuple[str, ...] = ()

    def timing_for(self, params: Mapping[str, Any]) -> str:
        return self.timing(params) if callable(self.timing) else self.timing


@dataclass(frozen=True)
class Site:
    """An internal place of a node where interventions may act besides its ports,
    e.g. a network's `hidden` units or its recurrent weights `W_rec`."""

    name: str
    tags: tuple[str, ...]
    doc: str = ""
    size: int | None = None  # the signal's size; None: the node's number of hidden units


# A problem with a user's value, found by a kind's own check: (parameter name, message). The
# checker reports it at that parameter in the source (or at the declaration when it was not given).
Problem = tuple[str, str]
# validate(params) -> problems: a check of the resolved parameters (defaults filled in) that the
# per-parameter type, bounds and choices cannot state (an ordered pair, a shape, a relation).
Validate = Callable[[Mapping[str, Any]], list[Problem]]
# check_sizes(params, sizes) -> problems: a check that needs the sizes the plan inferred; `sizes`
# maps the node's port names to their sizes (an intervention's: {"signal": size at its place}).
CheckSizes = Callable[[Mapping[str, Any], Mapping[str, int]], list[Problem]]

# param_shapes(params, sizes) -> {tensor name: shape}: the parameter tensors a node with these
# parameters and port sizes has, known without building them (`rnn check` counts parameters from
# the plan; the compiled `init_params` makes exactly these, which the contract tests hold).
ParamShapes = Callable[[Mapping[str, Any], Mapping[str, int]], dict[str, tuple[int, ...]]]

# What a kind may declare it is, for code that must find a node by what it does, not by its name:
#   plant               a mechanical plant whose effector a reach task scores and figures draw
#   starts_with_input   its state at t = 0 is made from the first value arriving at its `input`
#                       (when `starts_with_input(params)` is true; a delay line)
ROLES = ("plant", "starts_with_input")


@dataclass
class NodeKind:
    """A node kind: what the checker needs (params, ports, sites, value checks) and what the
    lowering and the runtime read (roles). Its JAX implementation is attached by name in the
    compiler (`rnnlang.compiler.nodes.IMPLS`), never here.

    For interventions, `applies_to` lists the port/site tags it can act on ("force", "signal",
    "units", "weights"); an intervention acts on any port when it lists "signal".
    """

    name: str
    family: str
    params: tuple[Param, ...]
    ports: tuple[Port, ...] = ()
    sites: tuple[Site, ...] = ()
    doc: str = ""
    applies_to: tuple[str, ...] = ()
    validate: Validate | None = None
    check_sizes: CheckSizes | None = None
    param_shapes: ParamShapes | None = None  # None: the kind has no parameter tensors
    roles: tuple[str, ...] = ()
    # for the role "starts_with_input": whether a node with these parameters does
    starts_with_input: Callable[[Mapping[str, Any]], bool] | None = None
    # for kinds whose ports and parameters depend on the node (a task declared in the file):
    # specialise(kind, node params) -> the kind as that node has it
    specialise: Callable[["NodeKind", Mapping[str, Any]], "NodeKind"] | None = None

    def for_node(self, params: Mapping[str, Any]) -> "NodeKind":
        """This kind as one node of it has it: itself, unless its ports depend on the node's
        parameters (then a copy with that node's ports and parameters)."""
        return self.specialise(self, params) if self.specialise is not None else self

    def ports_for(self, params: Mapping[str, Any]) -> tuple[Port, ...]:
        """The ports of one node of this kind."""
        return self.for_node(params).ports

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def value(self, params: Mapping[str, Any], name: str) -> Any:
        """A resolved parameter, falling back to the declared default (so a configuration built
        by hand, in tests or notebooks, need only name what differs)."""
        if name in params:
            return params[name]
        decl = self.param(name)
        if decl is None or decl.required:
            raise KeyError(f"{self.name}: parameter {name!r} is required")
        return decl.default

    def port(self, name: str) -> Port | None:
        return next((p for p in self.ports if p.name == name), None)

    def site(self, name: str) -> Site | Port | None:
        return next((s for s in self.sites if s.name == name), None) or self.port(name)

    @property
    def inputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction == "in")

    @property
    def outputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction == "out")

    def has_role(self, role: str, params: Mapping[str, Any] | None = None) -> bool:
        """Whether this kind (a node of it with `params`, for roles that depend on them) plays `role`."""
        if role not in self.roles:
            return False
        if role == "starts_with_input" and self.starts_with_input is not None:
            return bool(self.starts_with_input(params or {}))
        return True

    def problems(self, params: Mapping[str, Any]) -> list[Problem]:
        """The kind's own checks of resolved parameters (see `Validate`)."""
        return list(self.validate(params)) if self.validate is not None else []

    def size_problems(self, params: Mapping[str, Any], sizes: Mapping[str, int]) -> list[Problem]:
        """The kind's checks that need the inferred sizes (see `CheckSizes`)."""
        return list(self.check_sizes(params, sizes)) if self.check_sizes is not None else []


def registry_of(*kinds: NodeKind) -> dict[str, NodeKind]:
    """The registry of these kinds by name, each signature checked: a known family, known value
    types and roles, one kind per name (a second one is a programming error)."""
    out: dict[str, NodeKind] = {}
    for kind in kinds:
        if kind.family not in FAMILIES:
            raise ValueError(f"node kind {kind.name!r}: unknown family {kind.family!r}")
        if kind.name in out:
            raise ValueError(f"node kind {kind.name!r} declared twice")
        for p in kind.params:
            if p.type not in VALUE_TYPES:
                raise ValueError(f"node kind {kind.name!r}: parameter {p.name!r} has unknown type {p.type!r}")
        for role in kind.roles:
            if role not in ROLES:
                raise ValueError(f"node kind {kind.name!r}: unknown role {role!r}")
        out[kind.name] = kind
    return out


def resolve_size(rule: SizeRule, params: Mapping[str, Any], in_sizes: Mapping[str, int]) -> int | None:
    """Evaluate a size rule against resolved parameters and the sizes arriving at the inputs."""
    if rule is None:
        return None
    if isinstance(rule, int):
        return rule
    if isinstance(rule, str):
        return int(params[rule])
    return rule(params, in_sizes)
