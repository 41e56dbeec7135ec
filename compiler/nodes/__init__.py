"""The one registry of node kinds. Importing this package registers every family; none of the
family modules imports JAX at import time, so the front end can read the signatures cheaply."""

from .base import REGISTRY, NodeKind, Param, Port, Site, register  # noqa: F401
from . import networks, mechanics, channels, interventions, declared  # noqa: F401  (registers the kinds)


def kind(name: str) -> NodeKind | None:
    """The node kind called `name`, or None."""
    return REGISTRY.get(name)


def kinds_of(family: str) -> dict[str, NodeKind]:
    """Every registered kind of one family, by name."""
    return {k: v for k, v in REGISTRY.items() if v.family == family}
