"""The node-kind registry's vocabulary: parameters, ports, sites and kinds.

Everything here is plain Python: the front end (`rnnlang.dsl`) reads these signatures to check a
model without importing JAX. A node family module (networks, mechanics, ...) declares its kinds with
these classes and attaches a JAX implementation class whose module-level JAX imports are lazy
(see `lazy.py`), so importing the registry never loads JAX.
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


@dataclass
class NodeKind:
    """A node kind: what the checker needs (params, ports, sites) and, for the compiler, `impl`,
    a class constructed as impl(config) by the lowering (see `compiler.nodes.api`).

    For interventions, `applies_to` lists the port/site tags it can act on ("force", "signal",
    "units", "weights"); an intervention acts on any port when it lists "signal".
    """

    name: str
    family: str
    params: tuple[Param, ...]
    ports: tuple[Port, ...] = ()
    sites: tuple[Site, ...] = ()
    doc: str = ""
    impl: Any = None
    applies_to: tuple[str, ...] = ()
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


REGISTRY: dict[str, NodeKind] = {}


def register(*kinds: NodeKind) -> None:
    """Add node kinds to the one registry. A second kind with the same name is a programming error."""
    for kind in kinds:
        if kind.family not in FAMILIES:
            raise ValueError(f"node kind {kind.name!r}: unknown family {kind.family!r}")
        if kind.name in REGISTRY:
            raise ValueError(f"node kind {kind.name!r} registered twice")
        for p in kind.params:
            if p.type not in VALUE_TYPES:
                raise ValueError(f"node kind {kind.name!r}: parameter {p.name!r} has unknown type {p.type!r}")
        REGISTRY[kind.name] = kind


def resolve_size(rule: SizeRule, params: Mapping[str, Any], in_sizes: Mapping[str, int]) -> int | None:
    """Evaluate a size rule against resolved parameters and the sizes arriving at the inputs."""
    if rule is None:
        return None
    if isinstance(rule, int):
        return rule
    if isinstance(rule, str):
        return int(params[rule])
    return rule(params, in_sizes)
