"""The loss block, evaluated: a weighted sum of named terms over recorded signals, the trial's
targets and masks, and the network weights. Every term is returned separately for the logs.

Conventions (see schema.LOSS_TERMS): `squared_error` with reduce = "sum" sums over time and
components and averages over the batch (Feedbax); reduce = "mean" averages over everything
(PsychRNN). The discount (k / T)^p weighs step k = 1..T (Feedbax's power discount)."""

from __future__ import annotations

from typing import Any, Mapping

import jax.numpy as jnp

from rnnlang.compiler.lower import CompiledModel
from rnnlang.dsl.model import ResolvedTerm, Signal

EPS = 1e-7  # clipping of outputs for the cross-entropy, as PsychRNN


def signal_value(model: CompiledModel, ref: Signal, signals: Mapping[str, Any], trial: Mapping[str, Any]) -> Any:
    """The (B, T, n) values of `node.port[.field]`: from the rollout, or the trial for the task."""
    if ref.node == model.task_name:
        x = trial["signals"][ref.port]
    else:
        x = signals[f"{ref.node}.{ref.port}"]
    if ref.field is not None:
        lo, hi = model.plan.kinds[ref.node].port(ref.port).fields[ref.field]
        x = x[..., lo:hi]
    return x


def _reduce(x: Any, how: str) -> Any:
    """(B, T, n) -> scalar: sum over time and components then mean over batch, or mean of all."""
    if how == "mean":
        return jnp.mean(x)
    return jnp.mean(jnp.sum(x.reshape(x.shape[0], -1), axis=1))


def term_value(model: CompiledModel, term: ResolvedTerm, params: Mapping, signals: Mapping, trial: Mapping) -> Any:
    """One term's unweighted value."""
    a = term.args
    get = lambda name: signal_value(model, a[name], signals, trial) if a.get(name) is not None else None  # noqa: E731
    if term.kind == "squared_error":
        x, target, mask = get("signal"), get("target"), get("mask")
        err = x - target if target is not None else x
        if mask is not None:
            err = err * mask
        err = err * err
        p = float(a.get("discount") or 0.0)
        if p:
            steps = x.shape[1]
            w = (jnp.arange(1, steps + 1, dtype=jnp.float32) / steps) ** p
            err = err * w[None, :, None]
        return _reduce(err, a.get("reduce", "sum"))
    if term.kind == "final":
        x, target = get("signal"), get("target")
        last = x[:, -1] - (target[:, -1] if target is not None else 0.0)
        return jnp.mean(jnp.sum(last * last, axis=-1))
    if term.kind == "penalty":
        x = get("signal")
        v = jnp.abs(x) if a.get("norm") == "l1" else x * x
        return _reduce(v, a.get("reduce", "sum"))
    if term.kind == "firing_rate":
        x = get("signal")
        return jnp.mean(x * x)
    if term.kind == "weights":
        ref: Signal = a["of"]
        weights = model.effective_weights(params, ref.node)
        if ref.port is not None:
            weights = {ref.port: weights[ref.port]} if ref.port in weights else {ref.port: params[ref.node][ref.port]}
        norm = a.get("norm", "l2")
        return sum(jnp.mean(jnp.abs(w)) if norm == "l1" else jnp.mean(w * w) for w in weights.values())
    if term.kind == "cross_entropy":
        y = jnp.clip(get("signal"), EPS, 1 - EPS)
        t = get("target")
        ce = -(t * jnp.log(y) + (1 - t) * jnp.log(1 - y))
        mask = get("mask")
        return jnp.mean(ce * mask if mask is not None else ce)
    raise ValueError(f"unknown loss term {term.kind!r}")  # the checker rejects these first


def loss_terms(model: CompiledModel, params: Mapping, signals: Mapping, trial: Mapping) -> dict[str, Any]:
    """Every term, weighted, by name."""
    return {t.name: t.weight * term_value(model, t, params, signals, trial) for t in model.cm.loss}


def total_loss(model: CompiledModel, params: Mapping, signals: Mapping, trial: Mapping) -> tuple[Any, dict[str, Any]]:
    """The loss and its terms."""
    terms = loss_terms(model, params, signals, trial)
    total = sum(terms.values()) if terms else jnp.zeros(())
    return total, terms
