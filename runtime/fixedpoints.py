"""Fixed and slow points of a network's one-step state update, in JAX.

A fixed point of x' = F(x, u) under a constant input u is a state with F(x, u) = x; a slow point
is a local minimum of q(x) = 1/2 |F(x, u) - x|^2 that is small but not zero (Sussillo & Barak
2013). `find` minimises q from many initial states at once (vmapped, one jitted program).

The minimiser is Levenberg-Marquardt on the residual r(x) = F(x, u) - x rather than Adam on q:
q is a sum of squares, so Gauss-Newton steps (J^T J + lambda D) dx = -J^T r with J = dF/dx - I
converge quadratically near a fixed point and reach q at float32's floor in a few dozen
iterations, where a first-order method needs thousands of steps and a learning rate per
network; the damping lambda (per point: shrunk after a step that lowers q, grown after one that
does not) keeps steps safe far from a solution and makes them gradient steps where J is
singular, which is also what finds slow points. The cost per iteration is one Jacobian and one
N x N solve per point: small for the networks these models train (N up to a few hundred).

The points found are deduplicated (within a distance), and each gets its Jacobian dF/dx, its
eigenvalues, and a label: discrete time, stable when every |lambda| < 1.

`network_step(model, params, node)` builds F for a compiled model's network node (ctrnn, gru,
lstm) from the node's own implementation, through the compiled model, so the update is the one
training and `rnn run` use (noise off, no interventions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

StepFn = Callable[[Any, Any], Any]  # (x (N,), u (n_in,)) -> x' (N,)


@dataclass
class NetworkStep:
    """A network node's one-step update on a flat state vector."""

    fn: StepFn
    size: int  # state size N
    n_in: int  # input size
    unravel: Callable[[Any], Any]  # flat state -> the node's state structure
    ravel: Callable[[Any], Any]  # the node's state structure -> flat state


def network_step(model: Any, params: Any, node: str) -> NetworkStep:
    """F(x, u) for the network `node` of a compiled model, with one replicate's parameters
    (the whole model's dict). The state is flattened (an lstm's (h, c) becomes [h, c])."""
    impl = model.impls[node]
    p = impl.prepare(params[node])
    n_in = int(model.plan.in_sizes[node].get("input", 0) or 0)
    state0 = impl.init_state(params[node], {})
    flat0, unravel = ravel_pytree(state0)
    noise = {k: jnp.zeros(shape, jnp.float32) for k, shape in impl.noise_shapes().items()}

    def fn(x, u):
        inputs = {"input": u} if n_in > 0 else {}
        new, _ = impl.advance(p, unravel(x), inputs, noise, {})
        return ravel_pytree(new)[0]

    return NetworkStep(fn, int(flat0.shape[0]), n_in, unravel, lambda s: ravel_pytree(s)[0])


@dataclass
class FixedPoints:
    """What `find` returns (NumPy). Per point: x (K, N), q (K,), eigenvalues (K, N) complex,
    jacobian (K, N, N), stable (K,), kind (K,) "fixed" or "slow", unstable_mode (K, N) the real
    part of the eigenvector of the largest |lambda| (zeros for a stable point, unit norm)."""

    x: np.ndarray
    q: np.ndarray
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    kind: np.ndarray
    unstable_mode: np.ndarray
    input: np.ndarray
    n_init: int
    iterations: int
    q_all: np.ndarray = field(repr=False)  # q at every initial state's end point

    def summary(self) -> dict[str, Any]:
        return {"points": int(len(self.q)), "stable": int(np.sum(self.stable)), "unstable": int(np.sum(~self.stable)),
                "fixed": int(np.sum(self.kind == "fixed")), "slow": int(np.sum(self.kind == "slow")),
                "initial_states": self.n_init, "iterations": self.iterations}


def _minimise(fn: StepFn, x0: Any, u: Any, q_tol: float, max_iter: int) -> tuple[Any, Any, Any]:
    """Levenberg-Marquardt from each row of x0 (K, N), all rows in one loop that stops when every
    row has q < q_tol / 100, or has stalled, or after max_iter iterations."""

    def residual(x):
        return fn(x, u) - x

    def q_of(x):
        r = residual(x)
        return 0.5 * jnp.sum(r * r)

    def lm_step(x, lam, q):
        r = residual(x)
        J = jax.jacfwd(residual)(x)
        JtJ = J.T @ J
        g = J.T @ r
        d = jnp.diag(JtJ) + 1e-6
        dx = jnp.linalg.solve(JtJ + lam * jnp.diag(d), -g)
        xn = x + dx
        qn = q_of(xn)
        better = jnp.isfinite(qn) & (qn < q)
        x = jnp.where(better, xn, x)
        q = jnp.where(better, qn, q)
        lam = jnp.where(better, jnp.maximum(lam * 0.3, 1e-9), lam * 10.0)
        return x, lam, q

    step = jax.vmap(lm_step)
    target = q_tol * 1e-2

    def cond(c):
        _, lam, q, i = c
        active = (q > target) & (lam < 1e6)
        return (i < max_iter) & jnp.any(active)

    def body(c):
        x, lam, q, i = c
        return (*step(x, lam, q), i + 1)

    q0 = jax.vmap(q_of)(x0)
    lam0 = jnp.full(q0.shape, 1e-2, x0.dtype)
    x, _, q, it = jax.lax.while_loop(cond, body, (x0, lam0, q0, jnp.asarray(0)))
    return x, q, it


def deduplicate(x: np.ndarray, q: np.ndarray, tol: float) -> np.ndarray:
    """Indices of the points kept: the lowest q first, dropping any within `tol` (Euclidean) of
    one already kept."""
    order = np.argsort(q)
    kept: list[int] = []
    for i in order:
        if all(np.linalg.norm(x[i] - x[j]) > tol for j in kept):
            kept.append(int(i))
    return np.asarray(kept, int)


def find(step: NetworkStep | StepFn, x0: Any, u: Any = None, q_tol: float = 1e-9, slow_tol: float | None = None,
         dedup_tol: float = 1e-3, max_iter: int = 200) -> FixedPoints:
    """Fixed points (q <= q_tol) and, with slow_tol, slow points (q <= slow_tol) of x' = F(x, u)
    reached from the initial states x0 (K, N); deduplicated within dedup_tol; each with its
    Jacobian, eigenvalues and stability (every |lambda| < 1)."""
    fn = step.fn if isinstance(step, NetworkStep) else step
    x0 = jnp.asarray(x0, jnp.float32)
    n = x0.shape[1]
    n_in = step.n_in if isinstance(step, NetworkStep) else (0 if u is None else int(np.size(u)))
    u = jnp.zeros((n_in,), jnp.float32) if u is None else jnp.asarray(u, jnp.float32).reshape(-1)
    x, q, it = jax.jit(_minimise, static_argnums=(0, 3, 4))(fn, x0, u, float(q_tol), int(max_iter))
    x, q = np.asarray(x, np.float64), np.asarray(q, np.float64)
    limit = q_tol if slow_tol is None else max(q_tol, slow_tol)
    good = np.flatnonzero(np.isfinite(q) & (q <= limit))
    keep = good[deduplicate(x[good], q[good], dedup_tol)] if good.size else good
    xs = x[keep]
    if len(keep):
        jac = np.asarray(jax.jit(jax.vmap(jax.jacfwd(fn), in_axes=(0, None)))(jnp.asarray(xs, jnp.float32), u), np.float64)
    else:
        jac = np.zeros((0, n, n))
    eig = np.zeros((len(keep), n), complex)
    mode = np.zeros((len(keep), n))
    for i, J in enumerate(jac):
        w, v = np.linalg.eig(J)
        order = np.argsort(-np.abs(w))
        eig[i] = w[order]
        if np.abs(w[order[0]]) >= 1.0:
            vec = np.real(v[:, order[0]])
            mode[i] = vec / (np.linalg.norm(vec) or 1.0)
    stable = np.all(np.abs(eig) < 1.0, axis=1) if len(keep) else np.zeros(0, bool)
    kind = np.where(q[keep] <= q_tol, "fixed", "slow")
    return FixedPoints(xs, q[keep], jac, eig, stable, kind, mode, np.asarray(u, np.float64), int(x0.shape[0]),
                       int(it), q)
