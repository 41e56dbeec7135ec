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
from rnnlang.dsl import distributions
from rnnlang.dsl.model import Distribution, ResolvedSite


StageSites = Mapping[str, Mapping[str, Mapping[str, Any]]]  # site -> phase -> param -> value


def site_spec(site: ResolvedSite, phase: str, stage: StageSites | None = None) -> dict[str, Any]:
    """A site's per-trial parameter specs for a phase: its defaults overlaid by the phase's
    schedule, then by a curriculum stage's settings of that site (`stage adapt { curl.active = true }`)."""
    spec = dict(site.per_trial)
    spec.update(site.schedules.get(phase, {}))
    spec.update((stage or {}).get(site.name, {}).get(phase, {}))
    return spec


def draw_value(spec: Any, key: jax.Array, batch: int) -> jax.Array:
    """Per-trial values of one parameter: a constant broadcast over the batch, or draws."""
    if isinstance(spec, Distribution):  # the one table's JAX draw
        row = distributions.get(spec.name)
        if row is None:
            raise ValueError(f"unknown distribution {spec.name!r}")  # the checker rejects these first
        args = [a if np.ndim(a) else float(a) for a in spec.args]
        return jnp.asarray(row.jax_draw(key, args, spec.base_args(), (batch,), False), jnp.float32)
    value = jnp.asarray(spec, jnp.float32)
    return jnp.broadcast_to(value, (batch,) + value.shape)


def draw_sites(model: CompiledModel, key: jax.Array, batch: int, phase: str,
               stage: StageSites | None = None) -> dict[str, dict[str, jax.Array]]:
    """Per-trial parameters of every site for one batch (under a stage's site settings, if any)."""
    out: dict[str, dict[str, jax.Array]] = {}
    sites = list(model.cm.sites.values())
    keys = jr.split(key, max(len(sites), 1))
    for site, k in zip(sites, keys):
        spec = site_spec(site, phase, stage)
        ks = jr.split(k, max(len(spec), 1))
        out[site.name] = {name: draw_value(v, kk, batch) for (name, v), kk in zip(sorted(spec.items()), ks)}
    return out


def train_batch(model: CompiledModel, key: jax.Array, batch: int, overrides: Mapping[str, Any] | None = None,
                stage_sites: StageSites | None = None) -> dict:
    """A training batch: the task's trials (under a stage's task `overrides`) and the sites'
    training-phase parameters (under a stage's site settings)."""
    k_task, k_sites = jr.split(key)
    trial = dict(model.task.trials(k_task, batch, overrides or None)) if model.task else {"signals": {}, "init": {}, "vars": {}}
    trial["sites"] = draw_sites(model, k_sites, _batch(trial, batch), "train", stage_sites)
    return trial


def validation_batch(model: CompiledModel, key: jax.Array) -> dict:
    """The task's validation set with the sites' validation-phase parameters."""
    k_task, k_sites = jr.split(key)
    trial = dict(model.task.validation(k_task)) if model.task else {"signals": {}, "init": {}, "vars": {}}
    trial["sites"] = draw_sites(model, k_sites, _batch(trial, 1), "validate")
    return trial


def _batch(trial: Mapping[str, Any], default: int) -> int:
    leaves = jax.tree_util.tree_leaves({k: trial.get(k, {}) for k in ("signals", "init")})
    return int(leaves[0].shape[0]) if leaves else default
