"""JAX implementation of the `task` kind: a task declared in the .rnn file itself,
`node NAME = task { ... }` (the language: docs/tasks.md; the checks and the checked description:
dsl/tasklang.py; the signature: `rnnlang.dsl.library.declared`).

Its ports come from its body, and are named like the built-in cognitive tasks' so that a model
can swap one for the other without changing edges or the loss:
  input (out)     the input channels, in the order `inputs` lists them (each group a field);
  target (out)    the target of the output channels (each output group a field);
  mask (out)      the loss mask, one per output channel;
  response (in)   the network's output, for the accuracy rule.
Each trial variable is also a parameter of the node, unset by default: a stage's
`task.coherence = 0.7` (or `--set task.coherence=0.7`) fixes it in every trial, and
`task.coherence = choice(0.5, 0.7)` redraws it from another distribution.

Trials are made inside JAX, vectorised over the batch (no Python loop over trials or time
steps), deterministic for a key: each variable is drawn with its own key, folded in from its
name, so adding a variable does not change the draws of the others. Epoch windows are boolean
masks over the time grid t_k = k * dt; inputs, target and mask are built by `jnp.where` over the
epochs in source order (a later epoch overrides an earlier one where they overlap).
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Mapping

import numpy as np

import jax.numpy as jnp
import jax.random as jr

from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.model import Distribution

from .api import NodeConfig, TaskImpl, Trial
from .tasks import masked_choice, psychrnn_correct

Array = Any


# ---- JAX -------------------------------------------------------------------------------------


def _key_for(key: Array, name: str) -> Array:
    return jr.fold_in(key, zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF)


DTYPES = {"int": "int32", "float": "float32", "bool": "bool_"}


def _as_variable(value: Any, t: TL.Type, batch: int) -> Array:
    """A variable's value in the evaluation layout: (batch, 1, size), its type's dtype."""
    v = jnp.asarray(value).astype(getattr(jnp, DTYPES[t.base]))
    size = t.size or 1
    if v.ndim == 0:
        v = v.reshape(1, 1, 1)
    elif v.ndim == 1:
        v = v.reshape(-1, 1, 1) if t.size is None else v.reshape(1, 1, -1)
    elif v.ndim == 2:
        v = v[:, None, :]
    return jnp.broadcast_to(v, (batch, 1, size))


def sample(name: str, args: list[Any], base: str | None, base_args: list[Any], key: Array, batch: int,
           integer: bool = False) -> Array:
    """One draw per trial, shape (batch, 1, 1), of a distribution with evaluated arguments."""
    shape = (batch, 1, 1)
    f32 = lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), shape)  # noqa: E731
    if name == "uniform":
        lo, hi = f32(args[0]), f32(args[1])
        return lo + (hi - lo) * jr.uniform(key, shape, jnp.float32)
    if name == "normal":
        return f32(args[0]) + f32(args[1]) * jr.normal(key, shape, jnp.float32)
    if name == "integer":
        lo, hi = (jnp.broadcast_to(jnp.asarray(a, jnp.int32), shape) for a in args)
        return jr.randint(key, shape, lo, hi, jnp.int32)
    if name == "choice":
        opts = jnp.broadcast_to(TL._stack_last(jnp, args), (batch, 1, len(args)))
        idx = jr.randint(key, shape, 0, len(args), jnp.int32)
        out = jnp.take_along_axis(opts, idx, axis=-1)
        return out.astype(jnp.int32 if integer else jnp.float32)
    if name == "exponential":
        return f32(args[0]) * jr.exponential(key, shape, jnp.float32)
    if name == "bernoulli":
        return jr.bernoulli(key, f32(args[0]), shape)
    if name == "truncated":
        lo, hi = f32(args[0]), f32(args[1])
        if base == "normal":
            m, s = f32(base_args[0]), f32(base_args[1])
            return m + s * jr.truncated_normal(key, (lo - m) / s, (hi - m) / s, shape, jnp.float32)
        mean = f32(base_args[0])
        cdf = lambda x: -jnp.expm1(-jnp.maximum(x, 0.0) / mean)  # noqa: E731
        u = jr.uniform(key, shape, jnp.float32)
        p = cdf(lo) + (cdf(hi) - cdf(lo)) * u
        return jnp.clip(-mean * jnp.log1p(-p), lo, hi)
    raise ValueError(f"unknown distribution {name!r}")  # the checker rejects these first


def first_crossing(signal: Array, mask: Array, level: Array, dt: float) -> Array:
    """Per trial and channel, the first time (k * dt) where the mask is on and the signal is at
    or above `level`; inf when it never is. signal, mask (B, T, n); level broadcasts to (B, 1, 1).
    Returns (B, n)."""
    hit = (signal >= level) & (mask > 0)
    found = jnp.any(hit, axis=1)
    k = jnp.argmax(hit, axis=1)
    return jnp.where(found, k.astype(jnp.float32) * jnp.float32(dt), jnp.inf)


class DeclaredTaskImpl(TaskImpl):
    """Trials and metrics of a task declared in the file (see the module docstring)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        body = self.p.get("body")
        if not isinstance(body, TL.TaskBody):
            raise ValueError("a declared task needs its body: node NAME = task { ... }")
        spec, diags = TL.analyse(body, body.span, config.dt, config.steps, sample=False)
        if spec is None:
            raise ValueError("the declared task has errors: " + "; ".join(d.message for d in diags))
        self.spec = spec
        self.consts = TL.constants(config.dt, config.steps)
        self.duration = float(config.steps * config.dt)
        # variables fixed (or redrawn) for this node: `--set task.x=...`
        self.fixed = {k: v for k, v in self.p.items() if k != "body" and v is not None}

    # -- helpers ------------------------------------------------------------------------------
    def time_grid(self) -> Array:
        """t_k = k * dt, shape (1, T, 1) (float32, as the built-in tasks compute it)."""
        return (jnp.arange(self.config.steps, dtype=jnp.float32) * jnp.float32(self.config.dt)).reshape(1, -1, 1)

    def _overrides(self, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = {**self.fixed, **(overrides or {})}
        unknown = sorted(k for k in merged if self.spec.variable(k) is None)
        if unknown:
            raise ValueError(f"unknown task variable(s) in overrides: {', '.join(unknown)}")
        return merged

    def _override_value(self, var: TL.Variable, value: Any, key: Array, batch: int) -> Array:
        if isinstance(value, Distribution):
            args = [float(a) if np.ndim(a) == 0 else a for a in value.args]
            return sample(value.name, list(args), None, [], key, batch, integer=var.type.base == "int")
        return value

    # -- trials ---------------------------------------------------------------------------------
    def draw(self, key: Array, batch: int, given: Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | None = None) -> dict[str, Array]:
        """Every trial variable, in order: given values first, then overrides, else drawn or
        computed. Returns the evaluation environment (variables as (batch, 1, size))."""
        given = given or {}
        overrides = overrides or {}
        env: dict[str, Any] = dict(self.consts)
        for var in self.spec.variables:
            k = _key_for(key, var.name)
            if var.name in given:
                value = given[var.name]
            elif var.name in overrides:
                value = self._override_value(var, overrides[var.name], k, batch)
            elif var.dist is not None:
                name, args, base, base_args = TL.distribution_args(var.dist, env, jnp)
                value = sample(name, args, base, base_args, k, batch, integer=var.type.base == "int")
            else:
                value = TL.evaluate(var.expr, env, jnp)  # type: ignore[arg-type]
            env[var.name] = _as_variable(value, var.type, batch)
        return env

    def signals(self, env: Mapping[str, Any], normals: Array | None, batch: int) -> dict[str, Array]:
        """input (B, T, n_in), target and mask (B, T, n_out) from the variables and the
        standard-normal draws of the input noise (None: no noise)."""
        steps, spec = self.config.steps, self.spec
        t = self.time_grid()
        arrays = {"input": jnp.zeros((batch, steps, spec.n_in), jnp.float32),
                  "target": jnp.zeros((batch, steps, spec.n_out), jnp.float32),
                  "mask": jnp.zeros((batch, steps, spec.n_out), jnp.float32)}
        for ep, (start, end) in zip(spec.epochs, TL.epoch_bounds(spec, env, jnp, self.duration)):
            inside = (t >= start) & (t < end)
            local = {**env, "t": t, "t0": start, "t1": end, "elapsed": t - start}
            for a in ep.assigns:
                value = TL.evaluate(a.value, local, jnp)
                arr = arrays[a.signal]
                new = jnp.where(inside, value, arr[..., a.lo:a.hi]).astype(jnp.float32)
                arrays[a.signal] = arr.at[..., a.lo:a.hi].set(jnp.broadcast_to(new, (batch, steps, a.hi - a.lo)))
        if spec.noise is not None and normals is not None:
            std = TL.evaluate(spec.noise, {**env, "t": t}, jnp)
            if spec.noise_scaled:
                std = psychrnn_scale(self.config.dt) * std
            arrays["input"] = arrays["input"] + std * normals
        return arrays

    def make(self, key: Array, batch: int, given: Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | None = None, normals: Array | None = None) -> Trial:
        """A batch of trials. `given` sets variables to values (per trial, shape (batch,) or
        (batch, n)); `normals` (batch, T, n_in) replaces the noise draws."""
        k_vars, k_noise = jr.split(key)
        env = self.draw(k_vars, batch, given, overrides)
        if normals is None and self.spec.noise is not None:
            normals = jr.normal(k_noise, (batch, self.config.steps, self.spec.n_in), jnp.float32)
        signals = self.signals(env, normals, batch)
        out_vars = {}
        for var in self.spec.variables:
            v = env[var.name]
            out_vars[var.name] = v[:, 0, 0] if var.type.size is None else v[:, 0, :]
        return {"signals": signals, "init": {}, "vars": out_vars}

    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        return self.make(key, batch, overrides=self._overrides(overrides))

    def validation(self, key: Array) -> Trial:
        """The validation grid (every combination, first variable slowest, repeated to at least
        `trials`), the other variables drawn from `key`; without a grid, random trials."""
        fixed = self._overrides(None)
        if self.spec.grid is None:
            return self.make(key, self.spec.validation_trials, overrides=fixed)
        axes = {k: jnp.asarray(TL.evaluate(e, self.consts, jnp)).reshape(-1) for k, e in self.spec.grid_exprs.items()}
        values, n = TL.grid_conditions(self.spec, axes)
        given = {k: jnp.asarray(v) for k, v in values.items()}
        return self.make(key, n, given=given, overrides=fixed)

    # -- metrics --------------------------------------------------------------------------------
    def metrics(self, signals: Mapping[str, Array], trial: Trial) -> dict[str, Array]:
        """`correct` by the task's accuracy rule, and `choice` (the output channel with the
        largest masked mean), per trial."""
        if "response" not in signals:
            return {}
        response = jnp.asarray(signals["response"], jnp.float32)
        target, mask = trial["signals"]["target"], trial["signals"]["mask"]
        choice = masked_choice(response, mask)
        acc = self.spec.accuracy
        if acc.rule == "max_masked_mean":
            correct = psychrnn_correct(response, target, mask)
        else:
            batch = response.shape[0]
            env: dict[str, Any] = dict(self.consts)
            for var in self.spec.variables:
                env[var.name] = _as_variable(trial["vars"][var.name], var.type, batch)
            if acc.rule == "threshold":
                level, tol = (TL.evaluate(a, env, jnp) for a in acc.args)
                r = first_crossing(response, mask, level, self.config.dt)
                g = first_crossing(target, mask, level, self.config.dt)
                tol = jnp.broadcast_to(jnp.asarray(tol, jnp.float32), (batch, 1, 1))[:, :, 0]
                ok = (jnp.isinf(r) & jnp.isinf(g)) | (jnp.abs(r - g) <= tol)
                correct = jnp.all(ok, axis=-1)
            else:
                env.update({c.name: c.lo for c in self.spec.outputs if c.size == 1})
                env["response_choice"] = choice[:, None, None]
                env["target_choice"] = masked_choice(target, mask)[:, None, None]
                dt = self.config.dt

                def crossing_of(sig: Array) -> Any:
                    def fn(level: Any, channel: Any = None) -> Array:
                        times = first_crossing(sig, mask, level, dt)
                        t = jnp.min(times, axis=-1) if channel is None else times[:, int(channel)]
                        return t[:, None, None]
                    return fn

                funcs = {"crossing": crossing_of(response), "target_crossing": crossing_of(target)}
                value = TL.evaluate(acc.expr, env, jnp, funcs)  # type: ignore[arg-type]
                correct = jnp.broadcast_to(jnp.asarray(value), (batch, 1, 1))[:, 0, 0]
        return {"correct": jnp.asarray(correct).astype(jnp.float32), "choice": choice.astype(jnp.float32)}


def psychrnn_scale(dt: float) -> Array:
    """PsychRNN's input-noise factor sqrt(2 alpha), with alpha written as PsychRNN's tasks write
    it: 0.01 * sqrt(10 * dt) (= dt / tau for PsychRNN's dt = 10, tau = 100). `noise = x scaled`
    gives std = psychrnn_scale(dt) * x, as the built-in discrimination tasks."""
    return jnp.sqrt(jnp.float32(2 * 0.01 * math.sqrt(10) * math.sqrt(dt)))

