"""The time loop of a rollout with its weight gradients taken out of the backward loop.

Autodiff of a `lax.scan` whose step multiplies by a weight matrix W computes, at every step of
the backward loop, that step's share of W's gradient (a small product g_t^T a_t, and for a bias
a reduction of g_t over the batch) and adds it to a running sum. On a CPU at this project's
sizes those small kernels are a third of the backward loop's operations (`rnn ops`). Here the
loop has a custom VJP instead: within it the products declared with `nodes.api.product` hold W
constant and add a zero "tap"; the backward loop returns the taps' cotangents g_t as per-step
outputs, and after it each W's gradient is one large product over all steps,
sum_t g_t^T a_t, each bias's one sum. Everything else (states, other parameters, the plant) is
differentiated by JAX as before, through `jax.vjp` of the same loop.

Set RNNLANG_HOIST=0 to lower the plain loop (for comparisons)."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from .nodes.api import SEEN, TAPS

# step(params, state, xs_t, t, consts) -> (new state, per-step outputs)
Step = Callable[[Mapping[str, Any], Any, Any, Any, Any], tuple[Any, Any]]


def enabled() -> bool:
    return os.environ.get("RNNLANG_HOIST", "1") != "0"


def _marked(params: Mapping[str, Any], taps_t: Mapping[str, Any] | None, seen: dict) -> dict[str, Any]:
    """params with each node's taps (None: the first look, no taps yet) and its SEEN collector."""
    out = {}
    for n, p in params.items():
        if isinstance(p, Mapping) and (taps_t is None or n in taps_t):
            out[n] = {**p, TAPS: (taps_t[n] if taps_t is not None else {}), SEEN: seen.setdefault(n, {})}
        else:
            out[n] = p
    return out


def _products(step: Step, params, state, xs, steps: int, consts) -> dict[str, dict[str, tuple]]:
    """Which products the step computes, by node: key -> (shape of a, shape of W a, bias name)."""
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


def scan(step: Step, params: Mapping[str, Any], state: Any, xs: Any, steps: int, consts: Any = None) -> Any:
    """The per-step outputs of `steps` steps from `state` (a lax.scan over `xs`, whose leaves
    have a leading time axis), differentiable in `params` and `state`; the gradients of the
    weights the step multiplies through `product` are computed after the backward loop."""

    def loop(params, state, xs, consts, taps):
        def body(carry, inp):
            xs_t, taps_t, t = inp
            seen: dict = {}
            p = _marked(params, taps_t, seen) if taps is not None else params
            new, ys = step(p, carry, xs_t, t, consts)
            return new, (ys, {n: d for n, d in seen.items() if d})

        _, (ys, seen) = jax.lax.scan(body, state, (xs, taps, jnp.arange(steps)))
        return ys, seen

    if not enabled():
        return loop(params, state, xs, consts, None)[0]
    products = _products(step, params, state, xs, steps, consts)
    if not products:
        return loop(params, state, xs, consts, None)[0]

    def zero_taps():
        return {n: {k: jnp.zeros((steps,) + y, jnp.float32) for k, (_, y, _) in d.items()} for n, d in products.items()}

    @jax.custom_vjp
    def run(params, state, xs, consts):
        return loop(params, state, xs, consts, None)[0]

    def fwd(params, state, xs, consts):
        ys, vjp_fn, seen = jax.vjp(lambda p, s, tp: loop(p, s, xs, consts, tp), params, state, zero_taps(), has_aux=True)
        return ys, (vjp_fn, seen)

    def bwd(res, ct):
        vjp_fn, seen = res
        d_params, d_state, d_taps = vjp_fn(ct)
        d_params = jax.tree_util.tree_map(lambda x: x, d_params)  # a copy to update
        for n, d in products.items():
            for key, (_, _, bias) in d.items():
                g, a = d_taps[n][key], seen[n][key]  # (T, out), (T, in)
                node = d_params[n]
                path = key.split("/")
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = node[path[-1]] + jnp.einsum("to,ti->oi", g, a)
                if bias is not None:
                    d_params[n][bias] = d_params[n][bias] + jnp.sum(g, axis=0)
        return d_params, d_state, None, None

    run.defvjp(fwd, bwd)
    return run(params, state, xs, consts)
