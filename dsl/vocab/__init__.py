"""The vocabulary every layer shares, at the bottom of the project: node-kind signatures
(parameters, ports, sites, value checks, roles) and the transfer-function table. Plain Python;
imports nothing of the project above it. The kinds themselves are declared in
`rnnlang.dsl.library`."""

from .signature import (  # noqa: F401
    FAMILIES, REQUIRED, ROLES, VALUE_TYPES, CheckSizes, NodeKind, Param, Port, Problem, Site, SizeRule,
    Validate, registry_of, resolve_size,
)
from .transfers import CHANNEL_TRANSFERS, ELEMENTWISE_TRANSFER_NAMES, TRANSFER_NAMES, TRANSFERS  # noqa: F401
