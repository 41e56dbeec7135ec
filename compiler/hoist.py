"""The weights' gradients taken out of the backward time loop.

Autodiff of a `lax.scan` whose step multiplies by a weight matrix W computes, at every step of
the backward loop, that step's share of W's gradient (a small product g_t^T a_t, and for a bias
a reduction of g_t over the trials) and adds it to a running sum. On a CPU at this project's
sizes those small kernels are a third of the backward loop's operations (`rnn ops`).

Here the products the networks declare with `nodes.api.product` hold W (and its bias) constant
within the loop and add a zero "tap" to their result; `scan` also returns, per step, the vector
each product multiplied (a_t). Whoever differentiates the loss takes its gradient with respect
to the taps as well (their cotangents are the products' cotangents g_t, per trial and step) and
then adds to each weight's gradient one large product over all trials and steps,
sum_{b,t} g_{b,t}^T a_{b,t}, and to each bias sum_{b,t} g_{b,t} (`weight_grads`): one kernel
per weight after the loop instead of two at every step. Everything else (states, other
parameters, the plant) is differentiated by JAX as before.

Off unless RNNLANG_HOIST=1: measured on two CPU cores (benchmarks/ab.py, interleaved), it cuts
the backward loop's operations per step (P: 23 -> 10, R: 31 -> 23) yet trains slower (P 0.81x,
R 0.65x by CPU time; benchmarks/RESULTS.md): the per-step taps and vectors are (trials, steps)
arrays the batched loop writes and transposes, which costs more than the small products saved."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from .nodes.api import SEEN, TAPS

# step(params, state, xs_t, t, consts) -> (new state, per-step outputs)
Step = Callable[[Mapping[str, Any], Any, Any, Any, Any], tuple[Any, Any]]
# by node, by product ("W_rec" or "effective/W_rec"): (shape of a, shape of the product, bias name or None)
Products = dict[str, dict[str, tuple[tuple[int, ...], tuple[int, ...], "str | None"]]]


def enabled() -> bool:
    """Whether training takes the weights' gradients out of the loop (RNNLANG_HOIST=1; default off)."""
    return os.environ.get("RNNLANG_HOIST", "0") == "1"


def _marked(params: Mapping[str, Any], taps_t: Mapping[str, Any] | None, seen: dict) -> dict[str, Any]:
    """params with each node's taps (None: the first look, no taps yet) and its SEEN collector."""
    out = {}
    for n, p in params.items():
        if isinstance(p, Mapping) and (taps_t is None or n in taps_t):
            out[n] = {**p, TAPS: (taps_t[n] if taps_t is not None else {}), SEEN: seen.setdefault(n, {})}
        else:
            out[n] = p
    return out


def products(step: Step, params: Mapping[str, Any], state: Any, xs: Any, consts: Any = None) -> Products:
    """Which products one step computes, by node (shapes only: nothing runs)."""
    biases: dict[str, dict[str, str | None]] = {}

    def first(params, state, xs, consts):
        seen: dict = {}
        xs_0 = jax.tree_util.tree_map(lambda x: x[0], xs)
        step(_marked(params, None, seen), state, xs_0, jnp.zeros((), jnp.int32), consts)
        for n, d in seen.items():
            biases[n] = {k: v[2] for k, v in d.items()}
        return {n: {k: (v[0], v[1]) for k, v in d.items()} for n, d in seen.items() if d}

    shapes = jax.eval_shape(first, params, state, xs, consts)
    return {n: {k: (a.shape, y.shape, biases[n][k]) for k, (a, y) in d.items()} for n, d in shapes.items()}


def zero_taps(found: Products, steps: int) -> dict[str, dict[str, Any]]:
    """One trial's taps: zeros of (steps,) + the product's shape."""
    return {n: {k: jnp.zeros((steps,) + y, jnp.float32) for k, (_, y, _) in d.items()} for n, d in found.items()}


def scan(step: Step, params: Mapping[str, Any], state: Any, xs: Any, steps: int, consts: Any = None,
         taps: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, dict[str, Any]]]:
    """(per-step outputs, a by node and product with a leading time axis) of `steps` steps from
    `state`, a lax.scan over `xs` (leaves with a leading time axis). Without taps the products
    are plain ones and the second element is empty."""

    def body(carry, inp):
        xs_t, taps_t, t = inp
        seen: dict = {}
        p = _marked(params, taps_t, seen) if taps is not None else params
        new, ys = step(p, carry, xs_t, t, consts)
        return new, (ys, {n: d for n, d in seen.items() if d})

    _, (ys, seen) = jax.lax.scan(body, state, (xs, taps, jnp.arange(steps)))
    return ys, seen


def weight_grads(grads: Mapping[str, Any], found: Products, tap_grads: Mapping[str, Any],
                 seen: Mapping[str, Any]) -> dict[str, Any]:
    """`grads` (by node; the gradient of the prepared parameters, or of the parameters when the
    products read them directly) plus each product's weight and bias gradient from the taps'
    gradients g and the vectors a, both with any leading axes (trials, steps): one contraction
    over all of them per weight."""
    out = jax.tree_util.tree_map(lambda x: x, dict(grads))  # a copy to update
    for n, d in found.items():
        for key, (_, _, bias) in d.items():
            g, a = tap_grads[n][key], seen[n][key]
            g2, a2 = g.reshape((-1, g.shape[-1])), a.reshape((-1, a.shape[-1]))
            node = out[n]
            path = key.split("/")
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = node[path[-1]] + g2.T @ a2
            if bias is not None:
                out[n][bias] = out[n][bias] + jnp.sum(g2, axis=0)
    return out
