"""The loss block, evaluated: a weighted sum of named terms over recorded signals, the trial's
targets and masks, and the network weights. Every term is returned separately for the logs.

A term written as an expression (`late = mean((net.output - task.target)^2, during = respond)`)
is evaluated by the task language's own evaluator (`tasklang.evaluate`, with jax.numpy): one
number per trial, averaged over the batch's trials (`expression_value`).

`TERMS` is the one table of loss terms' JAX functions, one pure function per name of
`schema.LOSS_TERMS` (which holds their arguments and the formula each computes, as
docs/reference.md states it). A function receives the term's signal arguments as (..., T, n)
arrays (None when absent), its other arguments, and the weight matrices it names, and returns
the term's mean over the leading axes: training passes one trial's (T, n) values, evaluation a
batch's (B, T, n). Training computes each trial's terms inside its vmap over trials, where the
rollout's values are laid out (T, B, n): giving them a leading axis there would copy them into
(B, T, n) first."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from rnnlang.compiler.lower import CompiledModel
from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.model import ResolvedTerm, Signal

EPS = 1e-7  # clipping of outputs for the cross-entropy, as PsychRNN

Array = Any
Values = Mapping[str, Array | None]  # signal arguments by name: (B, T, n) or None
TermFn = Callable[[Values, Mapping[str, Any], Sequence[Array]], Array]


def _reduce(v: Array, how: str) -> Array:
    """(..., T, n) -> scalar: sum over time and components then mean over trials, or mean of all."""
    if how == "mean":
        return jnp.mean(v)
    return jnp.mean(jnp.sum(v, axis=(-2, -1)))


def _error(x: Array, target: Array | None) -> Array:
    return x - target if target is not None else x


def squared_error(v: Values, a: Mapping[str, Any], _w: Sequence[Array]) -> Array:
    err = _error(v["signal"], v["target"])
    if v["mask"] is not None:
        err = err * v["mask"]
    err = err * err
    p = float(a.get("discount") or 0.0)
    if p:
        steps = err.shape[-2]
        err = err * ((jnp.arange(1, steps + 1, dtype=jnp.float32) / steps) ** p)[:, None]
    return _reduce(err, a.get("reduce", "sum"))


def final(v: Values, _a: Mapping[str, Any], _w: Sequence[Array]) -> Array:
    target = v["target"]
    last = v["signal"][..., -1, :] - (target[..., -1, :] if target is not None else 0.0)
    return jnp.mean(jnp.sum(last * last, axis=-1))


def penalty(v: Values, a: Mapping[str, Any], _w: Sequence[Array]) -> Array:
    x = v["signal"]
    return _reduce(jnp.abs(x) if a.get("norm") == "l1" else x * x, a.get("reduce", "sum"))


def firing_rate(v: Values, _a: Mapping[str, Any], _w: Sequence[Array]) -> Array:
    x = v["signal"]
    return jnp.mean(x * x)


def weights(_v: Values, a: Mapping[str, Any], w: Sequence[Array]) -> Array:
    l1 = a.get("norm", "l2") == "l1"
    return sum((jnp.mean(jnp.abs(m)) if l1 else jnp.mean(m * m) for m in w), jnp.zeros(()))


def cross_entropy(v: Values, _a: Mapping[str, Any], _w: Sequence[Array]) -> Array:
    y = jnp.clip(v["signal"], EPS, 1 - EPS)
    t = v["target"]
    ce = -(t * jnp.log(y) + (1 - t) * jnp.log(1 - y))
    return jnp.mean(ce * v["mask"] if v["mask"] is not None else ce)


def categorical_cross_entropy(v: Values, a: Mapping[str, Any], _w: Sequence[Array]) -> Array:
    x, y = v["signal"], v["target"]
    logp = jax.nn.log_softmax(x, axis=-1) if a.get("logits", True) else jnp.log(jnp.clip(x, EPS, 1.0))
    c = -jnp.sum(y * logp, axis=-1)  # (B, T)
    w = jnp.max(v["mask"], axis=-1) if v["mask"] is not None else jnp.ones_like(c)
    return jnp.sum(w * c) / jnp.maximum(jnp.sum(w), EPS)


TERMS: dict[str, TermFn] = {
    "squared_error": squared_error,
    "final": final,
    "penalty": penalty,
    "firing_rate": firing_rate,
    "weights": weights,
    "cross_entropy": cross_entropy,
    "categorical_cross_entropy": categorical_cross_entropy,
}


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


def _named_weights(model: CompiledModel, ref: Signal, params: Mapping) -> list[Array]:
    """The effective weight matrices of `net` (all) or `net.W_x` (one)."""
    ws = model.effective_weights(params, ref.node)
    if ref.port is None:
        return list(ws.values())
    return [ws[ref.port] if ref.port in ws else params[ref.node][ref.port]]


def expression_env(model: CompiledModel, term: ResolvedTerm, params: Mapping, signals: Mapping,
                   trial: Mapping) -> dict[str, Any]:
    """What an expression term reads, in the task language's layout: signals (B, T, n), trial
    variables (B, 1, n), parameter tensors 4-D (see `tasklang.evaluate`), the time t (1, T, 1),
    the constants, and each epoch's window."""
    steps, dt = model.cm.steps, model.cm.dt
    env: dict[str, Any] = {**TL.constants(dt, steps), TL.NEVER: TL.NEVER_VALUE,
                           "t": (jnp.arange(steps, dtype=jnp.float32) * jnp.float32(dt)).reshape(1, -1, 1),
                           TL.AXES_KEY: ("time", "units")}
    env.update({TL.WINDOW_KEY + k: v for k, v in trial.get("windows", {}).items()})
    for key, r in term.reads.items():
        if r[0] == "signal":
            env[key] = jnp.asarray(signal_value(model, Signal(r[1], r[2], r[3], term.decl.span), signals, trial), jnp.float32)
        elif r[0] == "tensor":
            w = jnp.asarray(model.tensor(params, r[1], r[2]), jnp.float32)
            env[key] = w.reshape((1, 1) + (w.shape if w.ndim == 2 else (1, -1)))
        else:
            v = jnp.asarray(trial["vars"][r[1]])
            env[key] = v.reshape(v.shape[0], 1, -1)
    return env


def expression_value(model: CompiledModel, term: ResolvedTerm, params: Mapping, signals: Mapping, trial: Mapping) -> Any:
    """An expression term: its value per trial (B,), averaged over the batch's trials."""
    value = jnp.asarray(TL.evaluate(term.expr, expression_env(model, term, params, signals, trial), jnp), jnp.float32)
    return jnp.mean(value)


def term_value(model: CompiledModel, term: ResolvedTerm, params: Mapping, signals: Mapping, trial: Mapping,
               one_trial: bool = False) -> Any:
    """One term's unweighted value; `one_trial`: `signals` and `trial` are one trial's, without
    the batch axis (an expression, evaluated in the task language's (B, T, n) layout, gets one)."""
    if term.expr is not None:
        if one_trial:
            signals, trial = jax.tree_util.tree_map(lambda x: x[None], (signals, trial))
        return expression_value(model, term, params, signals, trial)
    values = {k: signal_value(model, v, signals, trial) if isinstance(v, Signal) and k != "of" else None
              for k, v in term.args.items()}
    w = _named_weights(model, term.args["of"], params) if isinstance(term.args.get("of"), Signal) else []
    return TERMS[term.kind](values, term.args, w)


def term_values(model: CompiledModel, params: Mapping, signals: Mapping, trial: Mapping,
                one_trial: bool = False) -> dict[str, Any]:
    """Every term, unweighted, by name (`one_trial`: see term_value)."""
    return {t.name: term_value(model, t, params, signals, trial, one_trial) for t in model.cm.loss}


def weighted(model: CompiledModel, values: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The loss and its weighted terms from the terms' unweighted values (`term_values`). Training
    weighs the terms' means over a batch rather than each trial's values: a weight applied per
    trial sits between the reduction over a trial's steps and the one over trials, and XLA then
    forms every trial's sum on its own rather than one sum over the whole batch."""
    terms = {t.name: t.weight * values[t.name] for t in model.cm.loss}
    return (sum(terms.values()) if terms else jnp.zeros(())), terms


def loss_terms(model: CompiledModel, params: Mapping, signals: Mapping, trial: Mapping) -> dict[str, Any]:
    """Every term, weighted, by name."""
    return weighted(model, term_values(model, params, signals, trial))[1]


def total_loss(model: CompiledModel, params: Mapping, signals: Mapping, trial: Mapping) -> tuple[Any, dict[str, Any]]:
    """The loss and its weighted terms."""
    return weighted(model, term_values(model, params, signals, trial))
