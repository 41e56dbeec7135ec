"""Trial batches for training and validation: the task's trials plus the per-trial parameters of
every intervention site, drawn from the site's schedule for the phase ("train" or "validate").
Everything here traces into the jitted training step; changing a schedule's values changes data,
never the compiled code."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from rnnlang.compiler.lower import CompiledModel
from rnnlang.compiler.nodes.api import TaskImpl
from rnnlang.compiler.nodes.declared import sample
from rnnlang.compiler.nodes.interventions import Custom, variable_key
from rnnlang.dsl import distributions
from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.errors import UsageError
from rnnlang.dsl.model import Distribution, ResolvedSite
from rnnlang.dsl.sitelang import SiteExpr


StageSites = Mapping[str, Mapping[str, Mapping[str, Any]]]  # site -> phase -> param -> value


def site_spec(site: ResolvedSite, phase: str, stage: StageSites | None = None) -> dict[str, Any]:
    """A site's per-trial parameter specs for a phase: its defaults overlaid by the phase's
    schedule, then by a curriculum stage's settings of that site (`stage adapt { curl.active = true }`)."""
    spec = dict(site.per_trial)
    spec.update(site.schedules.get(phase, {}))
    spec.update((stage or {}).get(site.name, {}).get(phase, {}))
    return spec


Variables = Mapping[str, Any]  # the trials' variables, trial["vars"]: name -> (B,) or (B, n)


def draw_value(spec: Any, key: jax.Array, batch: int, model: CompiledModel | None = None,
               variables: Variables | None = None) -> jax.Array:
    """Per-trial values of one parameter: a constant broadcast over the batch, draws, or an
    expression of the trial variables (`spec` a checked `SiteExpr`; needs the model and the
    trials' variables)."""
    if isinstance(spec, SiteExpr):
        assert model is not None
        return evaluate_expression(spec, key, batch, model, variables)
    if isinstance(spec, Distribution):  # the one table's JAX draw
        row = distributions.get(spec.name)
        if row is None:
            raise ValueError(f"unknown distribution {spec.name!r}")  # the checker rejects these first
        args = [a if np.ndim(a) else float(a) for a in spec.args]
        return jnp.asarray(row.jax_draw(key, args, spec.base_args(), (batch,), False), jnp.float32)
    value = jnp.asarray(spec, jnp.float32)
    return jnp.broadcast_to(value, (batch,) + value.shape)


def _variable(variables: Variables | None, name: str, spec_text: str) -> jax.Array:
    if variables is None or name not in variables:
        raise UsageError(f"`{spec_text}` reads the trial variable `{name}`, which these trials do not have "
                         "(trials given as arrays carry no trial variables)")
    return jnp.asarray(variables[name])


def evaluate_expression(spec: SiteExpr, key: jax.Array, batch: int, model: CompiledModel,
                        variables: Variables | None) -> jax.Array:
    """A schedule's expression for one batch, after the trials' variables: each distribution call
    drawn once per trial (its own key, folded from its place), then the expression evaluated with
    the task language's evaluator (jax.numpy). Returns (B,) for a number or a switch (as 0/1),
    (B, n) for a vector."""
    env: dict[str, Any] = dict(TL.constants(model.dt, model.steps))
    for name in spec.variables:
        v = _variable(variables, name, spec.text)
        v = v.reshape(batch, 1, 1) if v.ndim == 1 else v[:, None, :]
        env[f"task.{name}"] = env[f"{spec.task}.{name}"] = v
    for i, d in enumerate(spec.draws):
        dist, args, base, base_args = TL.distribution_args(d.dist, env, jnp)
        env[d.name] = sample(dist, args, base, base_args, jr.fold_in(key, i), batch, integer=d.integer, size=d.size)
    out = jnp.broadcast_to(jnp.asarray(TL.evaluate(spec.expr, env, jnp), jnp.float32), (batch, 1, spec.type.size or 1))
    return out[:, 0, 0] if spec.type.size is None else out[:, 0, :]


def draw_sites(model: CompiledModel, key: jax.Array, batch: int, phase: str,
               stage: StageSites | None = None, variables: Variables | None = None) -> dict[str, dict[str, jax.Array]]:
    """Per-trial parameters of every site for one batch (under a stage's site settings, if any),
    drawn after the trials' `variables` (trial["vars"]), which schedules' expressions may read;
    a custom intervention also carries the trial variables its value reads."""
    out: dict[str, dict[str, jax.Array]] = {}
    sites = list(model.cm.sites.values())
    keys = jr.split(key, max(len(sites), 1))
    impls = {b.name: b.impl for b in model.sites}
    for site, k in zip(sites, keys):
        spec = site_spec(site, phase, stage)
        ks = jr.split(k, max(len(spec), 1))
        out[site.name] = {name: draw_value(v, kk, batch, model, variables) for (name, v), kk in zip(sorted(spec.items()), ks)}
        impl = impls.get(site.name)
        if isinstance(impl, Custom):
            out[site.name].update({variable_key(n): _variable(variables, n, site.name) for n in impl.value.variables})
    return out


def train_batch(model: CompiledModel, key: jax.Array, batch: int, overrides: Mapping[str, Any] | None = None,
                stage_sites: StageSites | None = None, task: TaskImpl | None = None) -> dict:
    """A training batch: the task's trials (under a stage's task `overrides`; of `task`, the one a
    stage switches to, when given) and the sites' training-phase parameters (under a stage's site
    settings)."""
    k_task, k_sites = jr.split(key)
    task = task if task is not None else model.task
    trial = dict(task.trials(k_task, batch, overrides or None)) if task else {"signals": {}, "init": {}, "vars": {}}
    trial["sites"] = draw_sites(model, k_sites, _batch(trial, batch), "train", stage_sites, trial.get("vars"))
    return trial


def validation_batch(model: CompiledModel, key: jax.Array, task: TaskImpl | None = None,
                     stage_sites: StageSites | None = None) -> dict:
    """The task's validation set (of `task` when given) with the sites' validation-phase
    parameters (under a stage's site settings)."""
    k_task, k_sites = jr.split(key)
    task = task if task is not None else model.task
    trial = dict(task.validation(k_task)) if task else {"signals": {}, "init": {}, "vars": {}}
    trial["sites"] = draw_sites(model, k_sites, _batch(trial, 1), "validate", stage_sites, trial.get("vars"))
    return trial


def _batch(trial: Mapping[str, Any], default: int) -> int:
    leaves = jax.tree_util.tree_leaves({k: trial.get(k, {}) for k in ("signals", "init")})
    return int(leaves[0].shape[0]) if leaves else default
