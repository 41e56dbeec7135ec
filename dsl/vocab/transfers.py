"""The transfer functions (elementwise nonlinearities) a network may name: the one table of their
names and formulas. The compiler's JAX forms and the runtime's NumPy simulator implement exactly
these names (tests hold each side equal to this table)."""

from __future__ import annotations

TRANSFERS: dict[str, str] = {
    "relu": "max(x, 0)",
    "tanh": "tanh(x)",
    "sigmoid": "1 / (1 + exp(-x))",
    "softplus": "log(1 + exp(x))",
    "identity": "x",
}
"""Name -> formula, in the order the reference lists them."""

TRANSFER_NAMES: tuple[str, ...] = tuple(TRANSFERS)
