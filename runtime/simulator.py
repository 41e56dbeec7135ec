"""A NumPy simulator of the `ctrnn` (PsychRNN's `BasicSimulator`), for analyses outside JAX.

The weights are used as they are, as PsychRNN's simulator does: a PsychRNN file and
`interop.network_weights` both hold *effective* weights, so no mask or Dale's law is applied here.
An optional ablation mask multiplies W_rec elementwise, fixed (N, N) or per step (T, N, N).
Row-vector convention, f the transfer function, alpha = dt / tau:

    s_{t+1} = (1 - alpha) s_t + alpha (f(s_t) (W_rec * C_t)^T + u_t W_in^T + b_rec) + sqrt(2 alpha sigma^2) xi
    y_t     = g(f(s_{t+1}) W_out^T + b_out)            (g the output transfer, identity in PsychRNN)

Recorded states exclude the initial state; the output reads the new state. This module imports no
JAX; `Simulator.from_run` opens a run through the compiler (which does).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# The NumPy form of every transfer function of the vocabulary's table (`rnnlang.dsl.vocab.TRANSFERS`).
NUMPY_TRANSFERS: dict[str, ArrayFn] = {
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "identity": lambda x: x,
    "softmax": lambda x: _softmax(x),
}


def _softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (the output channels), the maximum subtracted first."""
    z = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return z / np.sum(z, axis=-1, keepdims=True)


def transfer_function(f: str | ArrayFn) -> ArrayFn:
    """A NumPy transfer function by name (relu, tanh, sigmoid, softplus, identity, softmax), or `f` itself."""
    if callable(f):
        return f
    if f not in NUMPY_TRANSFERS:
        raise ValueError(f"unknown transfer function {f!r}; expected one of {', '.join(NUMPY_TRANSFERS)}")
    return NUMPY_TRANSFERS[f]


class Simulator:
    """Runs trials of a continuous-time RNN from a weights dict (W_in, W_rec, W_out, b_rec, b_out,
    init_state), on any batch size.

    alpha defaults to dt / tau; `rec_noise` is sigma; `rng` (a numpy Generator or a seed) draws the
    recurrent noise, one standard normal (B, N) per step. `dtype` is the arithmetic's precision
    (float64 by default: PsychRNN's simulator promotes to it once its noise term is added)."""

    def __init__(self, weights: Mapping[str, Any], *, dt: float = 10.0, tau: float = 100.0, alpha: float | None = None,
                 rec_noise: float = 0.0, transfer: str | ArrayFn = "relu", output_transfer: str | ArrayFn = "identity",
                 rng: np.random.Generator | int | None = None, dtype: Any = np.float64) -> None:
        missing = [k for k in ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state") if k not in weights]
        if missing:
            raise ValueError(f"weights lack {', '.join(missing)}")
        self.dtype = np.dtype(dtype)
        get = lambda k: np.asarray(weights[k], self.dtype)  # noqa: E731
        self.W_in, self.W_rec, self.W_out = get("W_in"), get("W_rec"), get("W_out")
        self.N = self.W_rec.shape[0]
        if self.W_rec.shape != (self.N, self.N) or self.W_in.ndim != 2 or self.W_in.shape[0] != self.N \
                or self.W_out.ndim != 2 or self.W_out.shape[1] != self.N:
            raise ValueError(f"inconsistent weight shapes: W_in {self.W_in.shape}, W_rec {self.W_rec.shape}, "
                             f"W_out {self.W_out.shape}")
        self.n_in, self.n_out = self.W_in.shape[1], self.W_out.shape[0]
        self.b_rec = get("b_rec").reshape(self.N)
        self.b_out = get("b_out").reshape(self.n_out)
        self.init_state = get("init_state").reshape(self.N)
        self.alpha = float(alpha) if alpha is not None else float(dt) / float(tau)
        self.rec_noise = float(rec_noise)
        self.f = transfer_function(transfer)
        self.g = transfer_function(output_transfer)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    # ---- constructors --------------------------------------------------------------------------
    @classmethod
    def from_npz(cls, path: str | os.PathLike, **kwargs: Any) -> "Simulator":
        """From a PsychRNN weight file (or an exported one), read without unpickling."""
        from .interop import read_psychrnn

        return cls(read_psychrnn(path, warn=False).arrays, **kwargs)

    @classmethod
    def from_run(cls, run: str | os.PathLike, node: str | None = None, replicate: int = 0, **kwargs: Any) -> "Simulator":
        """From a trained run's `ctrnn` (alpha, rec_noise and transfer functions from the model,
        unless given in `kwargs`)."""
        from .interop import run_weights

        weights, s = run_weights(run, node, replicate)
        opts = {"alpha": s["alpha"], "rec_noise": s["rec_noise"], "transfer": s["transfer"],
                "output_transfer": s["output_transfer"]}
        opts.update(kwargs)
        return cls(weights, **opts)

    # ---- running -------------------------------------------------------------------------------
    def step(self, state: np.ndarray, rnn_in: np.ndarray, connectivity: np.ndarray | None = None,
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One step for a batch: state (B, N), rnn_in (B, n_in) -> (output (B, n_out), new state (B, N))."""
        W_rec = self.W_rec if connectivity is None else self.W_rec * connectivity
        a = self.alpha
        new = (1.0 - a) * state + a * (self.f(state) @ W_rec.T + rnn_in @ self.W_in.T + self.b_rec)
        if self.rec_noise > 0:
            xi = (rng or self.rng).standard_normal(state.shape)
            new = new + np.sqrt(2.0 * a * self.rec_noise ** 2) * xi
        new = new.astype(self.dtype, copy=False)
        out = self.g(self.f(new) @ self.W_out.T + self.b_out)
        return out, new

    def run_trials(self, trial_input: np.ndarray, ablation: np.ndarray | None = None,
                   rng: np.random.Generator | int | None = None,
                   init_state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Run a batch of trials. trial_input (B, T, n_in); ablation None, (N, N) or (T, N, N), a
        multiplier of W_rec; rng for this call's noise (default the simulator's). Returns outputs
        (B, T, n_out) and states (B, T, N), the initial state excluded."""
        x = np.asarray(trial_input, self.dtype)
        if x.ndim != 3 or x.shape[2] != self.n_in:
            raise ValueError(f"trial_input must have shape (batch, steps, {self.n_in}), got {x.shape}")
        B, T, _ = x.shape
        conn = None if ablation is None else np.asarray(ablation, self.dtype)
        if conn is not None and conn.shape not in ((self.N, self.N), (T, self.N, self.N)):
            raise ValueError(f"ablation must have shape ({self.N}, {self.N}) or ({T}, {self.N}, {self.N}), got {conn.shape}")
        gen = rng if isinstance(rng, np.random.Generator) else (np.random.default_rng(rng) if rng is not None else self.rng)
        s0 = self.init_state if init_state is None else np.asarray(init_state, self.dtype).reshape(-1, self.N)
        state = np.broadcast_to(s0, (B, self.N)).astype(self.dtype)
        outputs = np.empty((B, T, self.n_out), self.dtype)
        states = np.empty((B, T, self.N), self.dtype)
        for t in range(T):
            c = None if conn is None else (conn if conn.ndim == 2 else conn[t])
            outputs[:, t], state = self.step(state, x[:, t], c, gen)
            states[:, t] = state
        return outputs, states


def from_npz(path: str | os.PathLike, **kwargs: Any) -> Simulator:
    """A simulator of the network in a PsychRNN weight file (see `Simulator`)."""
    return Simulator.from_npz(path, **kwargs)


def from_run(run: str | os.PathLike, node: str | None = None, replicate: int = 0, **kwargs: Any) -> Simulator:
    """A simulator of a trained run's `ctrnn` (see `Simulator.from_run`)."""
    return Simulator.from_run(run, node, replicate, **kwargs)


def ablate_units(n: int, units: Any, steps: int | None = None, start: int = 0, stop: int | None = None,
                 outgoing: bool = True, incoming: bool = False) -> np.ndarray:
    """An ablation mask that cuts the recurrent connections of `units`: their outgoing weights
    (columns of W_rec) and/or incoming ones (rows). With `steps`, a (steps, n, n) mask that acts
    from step `start` to `stop` (exclusive; None: the end)."""
    m = np.ones((n, n))
    idx = np.atleast_1d(np.asarray(units, int))
    if outgoing:
        m[:, idx] = 0.0
    if incoming:
        m[idx, :] = 0.0
    if steps is None:
        return m
    out = np.ones((steps, n, n))
    out[start:stop] = m
    return out
