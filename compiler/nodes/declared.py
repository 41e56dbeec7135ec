"""JAX implementation of the tasks written in the language (signatures:
`rnnlang.dsl.library.declared`): the `task` kind and every task of the standard library, whose
implementation is this class bound to the library's declaration.

Trials are made inside JAX, vectorised over the batch (no Python loop over trials or time
steps), deterministic for a key: each variable is drawn with its own key, folded in from its
name, so adding a variable does not change the draws of the others. Epoch windows are boolean
masks over the time grid t_k = k * dt; the signals are built by `jnp.where` over the epochs in
source order (a later epoch overrides an earlier one where they overlap).
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from rnnlang.dsl import distributions as D
from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.model import Distribution
from rnnlang.dsl.tasklang.steps import run_hold

from .api import NodeConfig, TaskImpl, Trial

Array = Any

# ---- JAX -------------------------------------------------------------------------------------


def _key_for(key: Array, name: str) -> Array:
    return jr.fold_in(key, zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF)


DTYPES = {"int": "int32", "float": "float32", "bool": "bool_"}


def _as_variable(value: Any, t: TL.Type, batch: int) -> Array:
    """A variable's value in the evaluation layout: (batch, 1, size), its type's dtype."""
    v = jnp.asarray(value).astype(getattr(jnp, DTYPES[t.base]))
    size = t.size or 1
    if v.ndim == 3:  # a per-step value, (batch, steps, size): already in the layout
        return v
    if v.ndim == 0:
        v = v.reshape(1, 1, 1)
    elif v.ndim == 1:
        v = v.reshape(-1, 1, 1) if t.size is None else v.reshape(1, 1, -1)
    elif v.ndim == 2:
        v = v[:, None, :]
    return jnp.broadcast_to(v, (batch, 1, size))


def sample(name: str, args: list[Any], base: str | None, base_args: list[Any], key: Array, batch: int,
           integer: bool = False, size: int | None = None, steps: int = 1) -> Array:
    """One draw per trial, shape (batch, 1, size or 1), of a distribution with evaluated
    arguments (uniform, normal and integer draw vectors element by element); with `steps`,
    one per step, (batch, steps, size or 1)."""
    shape = (batch, steps, size or 1)
    row = D.get(name)
    if row is None:
        raise ValueError(f"unknown distribution {name!r}")  # the checker rejects these first
    return row.jax_draw(key, args, [base, *base_args] if base else [], shape, integer)


def first_crossing(signal: Array, mask: Array, level: Array, dt: float) -> Array:
    """Per trial and channel, the first time (k * dt) where the mask is on and the signal is at
    or above `level`; inf when it never is. signal, mask (B, T, n); level broadcasts to (B, 1, 1).
    Returns (B, n)."""
    hit = (signal >= level) & (mask > 0)
    found = jnp.any(hit, axis=1)
    k = jnp.argmax(hit, axis=1)
    return jnp.where(found, k.astype(jnp.float32) * jnp.float32(dt), jnp.inf)


def masked_choice(output: Array, mask: Array) -> Array:
    """PsychRNN's choice: the channel with the highest time-average of output * mask.

    output, mask: (B, T, n). The average runs over all T steps (as PsychRNN's `np.mean`);
    ties go to the lowest channel. Returns (B,) int32.
    """
    return jnp.argmax(jnp.mean(output * mask, axis=1), axis=-1).astype(jnp.int32)


def psychrnn_correct(response: Array, target: Array, mask: Array) -> Array:
    """PsychRNN's accuracy rule per trial, (B,) float32 of 0/1: the response's masked choice is
    the target's; a trial whose mask is all zero counts as correct."""
    same = masked_choice(response, mask) == masked_choice(target, mask)
    empty = jnp.all(mask == 0, axis=(1, 2))
    return jnp.logical_or(same, empty).astype(jnp.float32)


class DeclaredTaskImpl(TaskImpl):
    """Trials and metrics of a task written in the language (see the module docstring): an
    inline body (`params["body"]`), or a declaration (`decl`, or `params["decl"]` for one of the
    model's file) with the node's values of its parameters."""

    def __init__(self, config: NodeConfig, decl: TL.TaskDef | None = None) -> None:
        super().__init__(config)
        decl = decl if decl is not None else self.p.get("decl")
        if isinstance(decl, TL.TaskDef):
            self.body = decl.body
            self.param_names = tuple(p.name for p in decl.params)
            self.decl: TL.TaskDef | None = decl
            values, problems = TL.instance_values(decl, {k: self.p[k] for k in self.param_names if self.p.get(k) is not None})
            if problems:
                raise ValueError("; ".join(f"{k}: {v}" for k, v in problems.items()))
        else:
            body = self.p.get("body")
            if not isinstance(body, TL.TaskBody):
                raise ValueError("a declared task needs its body: node NAME = task { ... }")
            self.body, self.param_names, self.decl, values = body, (), None, {}
        self.values = values
        self._specs: dict[str, TL.TaskSpec] = {}
        self._programs: dict[tuple, Any] = {}  # jitted trials and validation, by batch size
        self.spec = self.spec_for({})
        self.duration = float(config.steps * config.dt)
        # variables fixed (or redrawn) for this node: `--set task.x=...`
        self.fixed = {k: v for k, v in self.p.items() if k not in ("body", "decl") and k not in self.param_names
                      and v is not None}

    def spec_for(self, param_overrides: Mapping[str, Any]) -> TL.TaskSpec:
        """The checked task with some parameters replaced (a curriculum stage's), cached."""
        values = self.values
        if param_overrides:
            assert self.decl is not None
            values, problems = TL.instance_values(self.decl, {**values, **param_overrides})
            if problems:
                raise ValueError("; ".join(f"{k}: {v}" for k, v in problems.items()))
        cache = repr(sorted((k, np.asarray(v).tolist()) for k, v in values.items()))
        if cache not in self._specs:
            spec, diags = TL.analyse(self.body, self.body.span, self.config.dt, self.config.steps, sample=False, params=values)
            if spec is None:
                raise ValueError("the declared task has errors: " + "; ".join(d.message for d in diags))
            self._specs[cache] = spec
        return self._specs[cache]

    def consts(self, spec: TL.TaskSpec, validating: bool) -> dict[str, Any]:
        """The names every expression reads besides the trial variables."""
        return {**TL.constants(self.config.dt, self.config.steps), **TL.param_env(spec.params), TL.VALIDATING: validating}

    # -- helpers ------------------------------------------------------------------------------
    def time_grid(self) -> Array:
        """t_k = k * dt, shape (1, T, 1) (float32)."""
        return (jnp.arange(self.config.steps, dtype=jnp.float32) * jnp.float32(self.config.dt)).reshape(1, -1, 1)

    def _split(self, overrides: Mapping[str, Any] | None) -> tuple[TL.TaskSpec, dict[str, Any]]:
        """The spec for a stage's parameter overrides, and the trial-variable overrides."""
        overrides = dict(overrides or {})
        params = {k: overrides.pop(k) for k in list(overrides) if k in self.param_names}
        spec = self.spec_for(params)
        merged = {**self.fixed, **overrides}
        unknown = sorted(k for k in merged if spec.variable(k) is None)
        if unknown:
            raise ValueError(f"unknown task variable(s) in overrides: {', '.join(unknown)}")
        return spec, merged

    def _override_value(self, var: TL.Variable, value: Any, key: Array, batch: int) -> Array:
        if isinstance(value, Distribution):
            args = [float(a) if np.ndim(a) == 0 else a for a in value.args]
            base = value.base_args()
            return sample(value.name, list(args), base[0] if base else None, base[1:], key, batch,
                          integer=var.type.base == "int")
        return value

    # -- trials ---------------------------------------------------------------------------------
    def draw(self, key: Array, batch: int, given: Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | None = None, spec: TL.TaskSpec | None = None,
             validating: bool = False) -> dict[str, Array]:
        """Every trial variable, in order: given values first, then overrides, else drawn or
        computed. Returns the evaluation environment (variables as (batch, 1, size))."""
        spec = spec or self.spec
        given = given or {}
        overrides = overrides or {}
        env: dict[str, Any] = self.consts(spec, validating)
        for var in spec.variables:
            k = _key_for(key, var.name)
            if var.per_step:
                env[var.name] = self._per_step(var, env, k, batch, spec)
                continue
            if var.name in given:
                value = given[var.name]
            elif var.name in overrides:
                value = self._override_value(var, overrides[var.name], k, batch)
            elif var.dist is not None:
                name, args, base, base_args = TL.distribution_args(var.dist, env, jnp)
                value = sample(name, args, base, base_args, k, batch, integer=var.type.base == "int", size=var.type.size)
            else:
                value = TL.evaluate(var.expr, env, jnp)  # type: ignore[arg-type]
            env[var.name] = _as_variable(value, var.type, batch)
        return env

    def _per_step(self, var: TL.Variable, env: Mapping[str, Any], key: Array, batch: int, spec: TL.TaskSpec) -> Array:
        """A per-step variable, (batch, steps, size): drawn at every step with its own key, held
        (a scan over the steps) or computed from per-step values."""
        steps, size = self.config.steps, var.type.size or 1
        if var.dist is not None:
            name, args, base, base_args = TL.distribution_args(var.dist, {**env, "t": self.time_grid()}, jnp)
            value = sample(name, args, base, base_args, key, batch, integer=var.type.base == "int", size=size, steps=steps)
        elif var.rule is not None:
            per_step = {v.name for v in spec.variables if v.per_step and v.name in env}
            value = run_hold(var, env, per_step, jnp, batch, steps, self.config.dt, jax.lax.scan)
        else:
            value = TL.evaluate(var.expr, env, jnp)  # type: ignore[arg-type]
        value = jnp.asarray(value).astype(getattr(jnp, DTYPES[var.type.base]))
        return jnp.broadcast_to(value.reshape(value.shape if value.ndim == 3 else (1, 1, -1)), (batch, steps, size))

    def signals(self, env: Mapping[str, Any], normals: Array | None, batch: int,
                spec: TL.TaskSpec | None = None) -> dict[str, Array]:
        """Every per-step output port, (B, T, n): input, target and mask (from `inputs` and
        `outputs`) and the declared signal ports, from the variables and the standard-normal
        draws of the input noise (None: no noise)."""
        spec = spec or self.spec
        steps, dt = self.config.steps, self.config.dt
        t = self.time_grid()
        sizes = {}
        if spec.has_inputs:
            sizes["input"] = spec.n_in
        if spec.has_outputs:
            sizes.update(target=spec.n_out, mask=spec.n_out)
        sizes.update({p.name: p.size for p in spec.ports if p.kind == "signal"})
        arrays = {name: jnp.zeros((batch, steps, n), jnp.float32) for name, n in sizes.items()}
        for ep, (start, end) in zip(spec.epochs, TL.epoch_bounds(spec, env, jnp, self.duration)):
            inside = TL.window(t, start, end, dt)
            local = {**env, "t": t, "t0": start, "t1": end, "elapsed": t - start}
            for a in ep.assigns:
                value = TL.evaluate(a.value, local, jnp)
                arr = arrays[a.signal]
                new = jnp.where(inside, value, arr[..., a.lo:a.hi]).astype(jnp.float32)
                arrays[a.signal] = arr.at[..., a.lo:a.hi].set(jnp.broadcast_to(new, (batch, steps, a.hi - a.lo)))
        if spec.noise is not None and normals is not None and spec.has_inputs:
            std = TL.evaluate(spec.noise, {**env, "t": t}, jnp)
            if spec.noise_scaled:
                std = psychrnn_scale(dt) * std
            arrays["input"] = arrays["input"] + std * normals
        return arrays

    def windows(self, env: Mapping[str, Any], batch: int, spec: TL.TaskSpec | None = None) -> dict[str, Array]:
        """Each epoch's steps, (B, T, 1) float32 of 0/1: the window `during EPOCH` reads."""
        spec = spec or self.spec
        t = self.time_grid()
        shape = (batch, self.config.steps, 1)
        return {ep.name: jnp.broadcast_to(TL.window(t, start, end, self.config.dt), shape).astype(jnp.float32)
                for ep, (start, end) in zip(spec.epochs, TL.epoch_bounds(spec, env, jnp, self.duration))}

    def initial(self, env: Mapping[str, Any], batch: int, spec: TL.TaskSpec | None = None) -> dict[str, Array]:
        """Every init port, (B, n): the channels its `port.channel = ...` lines set (0 elsewhere)."""
        spec = spec or self.spec
        out = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in spec.ports if p.kind == "init"}
        for a in spec.init_sets:
            value = jnp.broadcast_to(jnp.asarray(TL.evaluate(a.value, env, jnp), jnp.float32), (batch, 1, a.hi - a.lo))
            out[a.signal] = out[a.signal].at[:, a.lo:a.hi].set(value[:, 0, :])
        return out

    def make(self, key: Array, batch: int, given: Mapping[str, Any] | None = None,
             overrides: Mapping[str, Any] | None = None, normals: Array | None = None,
             spec: TL.TaskSpec | None = None, validating: bool = False) -> Trial:
        """A batch of trials. `given` sets variables to values (per trial, shape (batch,) or
        (batch, n)); `normals` (batch, T, n_in) replaces the noise draws."""
        spec = spec or self.spec
        k_vars, k_noise = jr.split(key)
        env = self.draw(k_vars, batch, given, overrides, spec, validating)
        if normals is None and spec.noise is not None and spec.has_inputs:
            normals = jr.normal(k_noise, (batch, self.config.steps, spec.n_in), jnp.float32)
        signals = self.signals(env, normals, batch, spec)
        out_vars = {}
        for var in spec.variables:
            v = env[var.name]
            out_vars[var.name] = v if var.per_step else v[:, 0, 0] if var.type.size is None else v[:, 0, :]
        return {"signals": signals, "init": self.initial(env, batch, spec), "vars": out_vars,
                "windows": self.windows(env, batch, spec)}

    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        if not overrides and not isinstance(key, jax.core.Tracer):
            # called on its own (not inside a training step): one compiled program per batch size
            # instead of the dozens of operations a trial is made of, each compiled on its own
            return self._compiled(("trials", batch), lambda k: self._trials(k, batch, None))(key)
        return self._trials(key, batch, overrides)

    def _trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None) -> Trial:
        spec, variables = self._split(overrides)
        return self.make(key, batch, overrides=variables, spec=spec)

    def _compiled(self, what: tuple, fn: Any) -> Any:
        jitted = self._programs.get(what)
        if jitted is None:
            jitted = self._programs[what] = jax.jit(fn)
        return jitted

    def validation(self, key: Array) -> Trial:
        """The validation grid (every combination, first variable slowest, repeated to at least
        `trials`), the other variables drawn from `key`; without a grid, random trials.
        `validating` is true in these trials."""
        if not isinstance(key, jax.core.Tracer):  # as in `trials`
            return self._compiled(("validation",), self._validation)(key)
        return self._validation(key)

    def _validation(self, key: Array) -> Trial:
        spec, fixed = self._split(None)
        if spec.grid is None:
            return self.make(key, spec.validation_trials, overrides=fixed, validating=True)
        consts = self.consts(spec, True)
        axes = {k: jnp.asarray(TL.evaluate(e, consts, jnp)).reshape(-1) for k, e in spec.grid_exprs.items()}
        values, n = TL.grid_conditions(spec, axes)
        given = {k: jnp.asarray(v) for k, v in values.items()}
        return self.make(key, n, given=given, overrides=fixed, validating=True)

    # -- metrics --------------------------------------------------------------------------------
    def _env_of(self, trial: Trial, batch: int) -> dict[str, Any]:
        env: dict[str, Any] = self.consts(self.spec, False)
        for var in self.spec.variables:
            if var.name in trial["vars"]:
                env[var.name] = _as_variable(trial["vars"][var.name], var.type, batch)
        return env

    def _signal_env(self, signals: Mapping[str, Array], trial: Trial, batch: int) -> dict[str, Any]:
        """What metrics, the accuracy and the choice read: the trial variables, the ports the
        task receives (the whole port and each channel group, (B, T, n)), the time t, `never`,
        each epoch's window, and the reductions' default axes (one trial's time and units)."""
        env = self._env_of(trial, batch)
        ports = [p for p in self.spec.ports if p.kind == "input"]
        if self.spec.has_outputs:
            ports.append(TL.PortSpec("response", "input", tuple(self.spec.outputs)))
        for p in ports:
            if p.name in signals:
                sig = jnp.asarray(signals[p.name], jnp.float32)
                env[p.name] = sig
                env.update({f"{p.name}.{c.name}": sig[..., c.lo:c.hi] for c in p.channels})
        env.update({"t": self.time_grid(), TL.NEVER: TL.NEVER_VALUE, TL.AXES_KEY: ("time", "units")})
        env.update({TL.WINDOW_KEY + k: v for k, v in trial.get("windows", {}).items()})
        return env

    def metrics(self, signals: Mapping[str, Array], trial: Trial) -> dict[str, Array]:
        """`correct` by the task's accuracy rule and `choice` (the task's `choice`, else the
        output channel with the largest masked mean) when the task has outputs and a response;
        then the task's own metrics, per trial (a value that changes over the trial is averaged
        over it)."""
        out: dict[str, Array] = {}
        if self.spec.has_outputs and "response" in signals:
            out.update(self._accuracy(signals, trial))
        if self.spec.metrics:
            batch = next(iter(jax.tree_util.tree_leaves(trial["vars"]))).shape[0]
            env = self._signal_env(signals, trial, batch)
            funcs = {"final": lambda x: jnp.asarray(x)[:, -1:, :] if jnp.ndim(x) == 3 else x}
            for name, e in self.spec.metrics:
                if any(isinstance(x, TL.Attr) and x.base.name not in env for x in TL.walk(e)):  # type: ignore[union-attr]
                    continue  # a port nothing is connected to
                value = jnp.asarray(TL.evaluate(e, env, jnp, funcs), jnp.float32)
                if value.ndim == 3:  # (B, T, 1): a value over the trial is averaged over it
                    value = jnp.mean(value, axis=(1, 2))
                out[name] = jnp.broadcast_to(value.reshape(-1) if value.ndim else value, (batch,))
        return out

    def _accuracy(self, signals: Mapping[str, Array], trial: Trial) -> dict[str, Array]:
        response = jnp.asarray(signals["response"], jnp.float32)
        target, mask = trial["signals"]["target"], trial["signals"]["mask"]
        if self.spec.choice is not None:  # `choice = EXPR`: the task says how the network chose
            batch = response.shape[0]
            value = TL.evaluate(self.spec.choice, self._signal_env(signals, trial, batch), jnp)
            choice = jnp.broadcast_to(jnp.asarray(value), (batch, 1, 1))[:, 0, 0].astype(jnp.int32)
        else:
            choice = masked_choice(response, mask)
        acc = self.spec.accuracy
        assert acc is not None
        if acc.rule == "max_masked_mean":
            correct = psychrnn_correct(response, target, mask)
        else:
            batch = response.shape[0]
            env = self._env_of(trial, batch)
            if acc.rule == "threshold":
                level, tol = (TL.evaluate(a, env, jnp) for a in acc.args)
                r = first_crossing(response, mask, level, self.config.dt)
                g = first_crossing(target, mask, level, self.config.dt)
                tol = jnp.broadcast_to(jnp.asarray(tol, jnp.float32), (batch, 1, 1))[:, :, 0]
                ok = (jnp.isinf(r) & jnp.isinf(g)) | (jnp.abs(r - g) <= tol)
                correct = jnp.all(ok, axis=-1)
            else:
                env = self._signal_env(signals, trial, batch)
                env.update({c.name: c.lo for c in self.spec.outputs if c.size == 1})
                env["response_choice"] = choice[:, None, None]
                env["target_choice"] = masked_choice(target, mask)[:, None, None]
                dt = self.config.dt

                def crossing_of(sig: Array) -> Any:
                    def fn(level: Any, channel: Any = None) -> Array:  # the old shorthand: never is NaN (not inf)
                        times = first_crossing(sig, mask, level, dt)
                        t = jnp.min(times, axis=-1) if channel is None else times[:, int(channel)]
                        return jnp.where(jnp.isinf(t), jnp.float32(TL.NEVER_VALUE), t)[:, None, None]
                    return fn

                funcs = {"crossing": crossing_of(response), "target_crossing": crossing_of(target)}
                value = TL.evaluate(acc.expr, env, jnp, funcs)  # type: ignore[arg-type]
                correct = jnp.broadcast_to(jnp.asarray(value), (batch, 1, 1))[:, 0, 0]
        return {"correct": jnp.asarray(correct).astype(jnp.float32), "choice": choice.astype(jnp.float32)}


def psychrnn_scale(dt: float) -> Array:
    """PsychRNN's input-noise factor sqrt(2 alpha), with alpha written as PsychRNN's tasks write
    it: 0.01 * sqrt(10 * dt) (= dt / tau for PsychRNN's dt = 10, tau = 100). `noise = x scaled`
    gives std = psychrnn_scale(dt) * x, as PsychRNN's discrimination tasks."""
    return jnp.sqrt(jnp.float32(2 * 0.01 * math.sqrt(10) * math.sqrt(dt)))
