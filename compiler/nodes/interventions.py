"""JAX implementations of the intervention kinds (signatures: `rnnlang.dsl.library.interventions`):
curl and constant force fields, additive noise, clamping and adding input
to units, and ablating recurrent connections.

An intervention sits at a port or internal site whose tags it `applies_to`, and transforms the
signal there each step. Its parameters `active` (0/1) and `scale` and its own per-trial parameters
arrive per trial as arrays in `p`; the others (e.g. `units`, `mask`) are fixed at declaration and
read from the resolved parameters. Semantics follow Feedbax's intervenors (the output of the
transform is scaled by `scale`, and nothing happens when inactive) and PsychRNN's simulator for
ablation (W_rec times a mask, per step). A `custom` intervention computes the value its site's
body gives (`value = -2 * arm.effector.vel`) with the task language's evaluator.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

import jax.numpy as jnp

from rnnlang.compiler.nodes.api import ConfigError, Array, InterventionImpl, NodeImpl
from rnnlang.dsl import sitelang
from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.library import REGISTRY
from rnnlang.dsl.vocab import NodeKind


class _Base(InterventionImpl):
    """Shared access to parameters: per-trial values from `p`, else the declared ones.
    Each subclass names its kind (`kind_name`); its signature comes from the library."""

    kind_name: str

    @property
    def kind(self) -> NodeKind:
        return REGISTRY[self.kind_name]

    def get(self, p: Mapping[str, Array], name: str) -> Any:
        """A parameter's value for this trial: from `p` if drawn per trial, else as declared."""
        if p is not None and name in p:
            return p[name]
        if name in self.p:
            return self.p[name]
        decl = self.kind.param(name)
        if decl is None or decl.required:
            raise KeyError(f"{self.kind.name}: parameter {name!r} is required")
        return decl.default

    def __init__(self, params: Mapping[str, Any], size: int, steps: int, dt: float) -> None:
        super().__init__(params, size, steps, dt)
        if self.kind.param("units") is not None:
            self.units()  # a unit out of range is the user's mistake: report it when compiling

    def gate(self, p: Mapping[str, Array]) -> tuple[Array, Array]:
        """(active as float 0/1, scale), float32 scalars."""
        active = jnp.asarray(self.get(p, "active"), jnp.float32)
        scale = jnp.asarray(self.get(p, "scale"), jnp.float32)
        return active, scale

    def units(self) -> np.ndarray:
        """The unit indices this intervention acts on, checked against the signal size."""
        idx = np.asarray(self.get({}, "units"), dtype=np.int32).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise ConfigError(f"units {idx.tolist()} are out of range: the signal has {self.size} units", "units")
        return idx


class CurlField(_Base):
    """Adds active * scale * amplitude * [-v_y, v_x] to the force, v the owning node's velocity."""

    kind_name = "curl_field"

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        active, scale = self.gate(p)
        v = node.velocity(state)
        amp = jnp.asarray(self.get(p, "amplitude"), jnp.float32)
        curl = jnp.stack([-v[1], v[0]])
        return x + active * scale * amp * curl


class ConstantField(_Base):
    """Adds active * scale * field to the force."""

    kind_name = "constant_field"

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        active, scale = self.gate(p)
        field = jnp.asarray(self.get(p, "field"), jnp.float32)
        return x + active * scale * field


class Noise(_Base):
    """Adds active * scale * std * e, e standard normal per step and element."""

    kind_name = "noise"

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"e": (self.size,)}

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        active, scale = self.gate(p)
        std = jnp.asarray(self.get(p, "std"), jnp.float32)
        return x + active * scale * std * noise["e"]


class Clamp(_Base):
    """Sets the chosen units to values * scale while active (Feedbax's NetworkClamp)."""

    kind_name = "clamp"

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        active, scale = self.gate(p)
        idx = self.units()
        values = jnp.broadcast_to(jnp.asarray(self.get(p, "values"), jnp.float32) * scale, idx.shape)
        return jnp.where(active > 0.5, x.at[idx].set(values), x)


class AddInput(_Base):
    """Adds active * scale * value to the chosen units (Feedbax's NetworkConstantInput)."""

    kind_name = "add_input"

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        active, scale = self.gate(p)
        idx = self.units()
        value = jnp.broadcast_to(jnp.asarray(self.get(p, "value"), jnp.float32), idx.shape)
        return x.at[idx].add(active * scale * value)


class Ablate(_Base):
    """W -> W * mask while active and start <= t < stop (stop < 0: to the end), as PsychRNN's
    simulator's `t_connectivity`; a (T, N, N) mask gives one mask per step. With scale s the
    multiplier is s * mask + (1 - s) (s = 1: the mask exactly; s = 0: nothing)."""

    kind_name = "ablate"

    def __init__(self, params: Mapping[str, Any], size: int, steps: int, dt: float) -> None:
        super().__init__(params, size, steps, dt)
        self.mask = np.asarray(self.get({}, "mask"), np.float32)
        if self.mask.ndim not in (2, 3):
            raise ConfigError(f"`mask` must be (N, N) or (T, N, N), got shape {self.mask.shape}", "mask")
        self.start = int(self.get({}, "start"))
        stop = int(self.get({}, "stop"))
        self.stop = steps if stop < 0 else stop

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        active, scale = self.gate(p)
        mask = jnp.asarray(self.mask)
        if self.mask.ndim == 3:
            mask = mask[jnp.clip(jnp.asarray(t, jnp.int32), 0, self.mask.shape[0] - 1)]
        on = (active > 0.5) & (t >= self.start) & (t < self.stop)
        return jnp.where(on, x * (scale * mask + (1.0 - scale)), x)


def variable_key(name: str) -> str:
    """Where a trial variable a custom value reads travels among its site's per-trial values
    (`trial["sites"][SITE]`): beside `active` and `scale`, under a name no parameter has."""
    return f"task.{name}"


class Custom(_Base):
    """The value of the site's body (a checked `sitelang.SiteExpr`), evaluated each step with
    jax.numpy from the signal at the site (`x`), the time (`t` = step * dt), the trial variables
    it reads (from `p`) and the other nodes' outputs it reads (`signals`, handed over by the
    lowering): mode `add` gives x + active * scale * value, `replace` x + active * scale * (value - x)
    (scale 1: the value itself; 0: nothing)."""

    kind_name = "custom"

    def __init__(self, params: Mapping[str, Any], size: int, steps: int, dt: float) -> None:
        super().__init__(params, size, steps, dt)
        value = self.p.get("value")
        if not isinstance(value, sitelang.SiteExpr):
            raise ConfigError("a custom intervention needs its checked value (`{ value = ... }`)", "value")
        self.value = value
        self.mode = str(self.get({}, "mode"))
        self.consts = TL.constants(dt, steps)

    def signal_reads(self) -> tuple[str, ...]:
        return self.value.signals

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        active, scale = self.gate(p)
        env: dict[str, Any] = {**self.consts, sitelang.SIGNAL: x,
                               sitelang.TIME: jnp.reshape(jnp.asarray(t, jnp.float32) * jnp.float32(self.dt), (1,))}
        for name in self.value.variables:
            v = jnp.asarray(p[variable_key(name)])
            v = v.reshape(1) if v.ndim == 0 else v
            env.update({f"task.{name}": v, f"{self.value.task}.{name}": v})
        env.update({k: jnp.asarray(v, jnp.float32) for k, v in (signals or {}).items()})
        value = jnp.broadcast_to(jnp.asarray(TL.evaluate(self.value.expr, env, jnp), jnp.float32), x.shape)
        if self.mode == "add":
            return x + active * scale * value
        return x + active * scale * (value - x)
