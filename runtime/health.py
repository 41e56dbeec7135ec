"""The dead-output warning: a network whose outputs have gone constant while its gradient has
vanished has stopped learning for good (a saturated sigmoid scored by cross-entropy is the usual
way there), and says nothing unless told. Checked at every validation, per replicate:

  outputs constant   every output channel of every network (its `output` port) varies over the
                     validation trials and steps by a standard deviation of at most
                     SPREAD_TOL = 1e-3 times max(1, its mean absolute value);
  gradient vanished  the global norm of the gradient of the last training batch before the
                     validation is at most GRAD_TOL = 1e-4 times the validation loss (and so
                     exactly 0 for a zero loss: a solved task is not dead unless nothing moves).

Both at once is reported once when it starts (again if it recovers and starts again): a line in
the training log and a `warnings` entry in the validation record of metrics.jsonl."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax.numpy as jnp

SPREAD_TOL = 1e-3
GRAD_TOL = 1e-4
ADVICE = ("try another output transfer or loss (a `softmax` readout with categorical_cross_entropy(..., logits = false), "
          "or a linear readout with squared_error or categorical_cross_entropy), a lower learning rate, "
          "or gradient clipping (`clip = global_norm(1.0)`)")


def output_spread(model: Any, signals: Mapping[str, Any]) -> Any:
    """The largest standard deviation over trials and steps of any network output channel,
    relative to max(1, the channel's mean absolute value); inf when no network output is recorded."""
    spreads = []
    for name in model.node_names:
        key = f"{name}.output"
        if model.plan.kinds[name].family == "network" and key in signals:
            x = jnp.asarray(signals[key], jnp.float32)
            x = x.reshape(-1, x.shape[-1])
            spreads.append(jnp.max(jnp.std(x, axis=0) / jnp.maximum(1.0, jnp.mean(jnp.abs(x), axis=0))))
    return jnp.max(jnp.stack(spreads)) if spreads else jnp.asarray(jnp.inf, jnp.float32)


def dead(spread: float, grad_norm: float, loss: float) -> bool:
    """Whether one replicate's outputs are constant and its gradient has vanished (see the module)."""
    return spread <= SPREAD_TOL and grad_norm <= GRAD_TOL * abs(loss)


def message(batch: int, replicate: int | None, spread: float, grad_norm: float, loss: float) -> str:
    """The warning line."""
    who = f"replicate {replicate}: " if replicate is not None else ""
    return (f"warning: batch {batch}: {who}the network's outputs are constant (relative spread {spread:.2g} over the "
            f"validation trials and steps) and its gradient has vanished (norm {grad_norm:.2g} at validation loss "
            f"{loss:.4g}): training has stopped moving; {ADVICE}")


def check(batch: int, spreads: Sequence[float], grad_norms: Sequence[float], losses: Sequence[float],
          already: set[int]) -> list[str]:
    """Warnings for the replicates that have just gone dead; `already` (updated) holds those that
    were dead at the previous validation."""
    out = []
    several = len(losses) > 1
    for r, (s, g, loss) in enumerate(zip(spreads, grad_norms, losses)):
        if dead(float(s), float(g), float(loss)):
            if r not in already:
                out.append(message(batch, r if several else None, float(s), float(g), float(loss)))
            already.add(r)
        else:
            already.discard(r)
    return out
