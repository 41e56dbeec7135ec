"""The built-in node kinds' signatures, one module per family, and the one registry of them.

    from rnnlang.dsl.library import REGISTRY, kind, kinds_of

The checker checks models against `REGISTRY`; the compiler attaches a JAX implementation to each
entry by name (`rnnlang.compiler.nodes.IMPLS`, held equal to this registry by a test).
"""

from __future__ import annotations

from rnnlang.dsl.vocab import NodeKind, registry_of

from . import channels, declared, interventions, mechanics, muscles, networks

REGISTRY: dict[str, NodeKind] = registry_of(
    *networks.KINDS, *mechanics.KINDS, *muscles.KINDS, *channels.KINDS, *interventions.KINDS, *declared.KINDS,
)


def kind(name: str) -> NodeKind | None:
    """The node kind called `name`, or None."""
    return REGISTRY.get(name)


def kinds_of(family: str) -> dict[str, NodeKind]:
    """Every registered kind of one family, by name."""
    return {k: v for k, v in REGISTRY.items() if v.family == family}


__all__ = ["REGISTRY", "kind", "kinds_of"]
