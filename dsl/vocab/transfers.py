"""The transfer functions a network may name: the one table of their names and formulas. The
compiler's JAX forms and the runtime's NumPy simulator implement exactly these names (tests hold
each side equal to this table).

All are elementwise except `softmax`, which normalises over the channels of one step (the last
axis) and so is only a readout's `output_transfer` (a distribution over the output channels,
scored by `categorical_cross_entropy(..., logits = false)`)."""

from __future__ import annotations

TRANSFERS: dict[str, str] = {
    "relu": "max(x, 0)",
    "tanh": "tanh(x)",
    "sigmoid": "1 / (1 + exp(-x))",
    "softplus": "log(1 + exp(x))",
    "identity": "x",
    "softmax": "exp(x_k - m) / sum_j exp(x_j - m), m = max_j x_j: over the output channels of each step "
               "(output_transfer only)",
}
"""Name -> formula, in the order the reference lists them."""

TRANSFER_NAMES: tuple[str, ...] = tuple(TRANSFERS)
"""What `output_transfer` accepts: every transfer function."""

CHANNEL_TRANSFERS: tuple[str, ...] = ("softmax",)
"""Transfer functions over a step's channels rather than elementwise."""

ELEMENTWISE_TRANSFER_NAMES: tuple[str, ...] = tuple(n for n in TRANSFERS if n not in CHANNEL_TRANSFERS)
"""What a hidden layer's `transfer` and `hidden_transfer` accept."""
