"""Intervention kinds: curl and constant force fields, additive noise, clamping and adding input
to units, and ablating recurrent connections.

An intervention sits at a port or internal site whose tags it `applies_to`, and transforms the
signal there each step. Its parameters `active` (0/1) and `scale` and its own per-trial parameters
arrive per trial as arrays in `p`; the others (e.g. `units`, `mask`) are fixed at declaration and
read from the resolved parameters. Semantics follow Feedbax's intervenors (the output of the
transform is scaled by `scale`, and nothing happens when inactive) and PsychRNN's simulator for
ablation (W_rec times a mask, per step).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.compiler.nodes.api import ConfigError, Array, InterventionImpl, NodeImpl
from rnnlang.compiler.nodes.base import NodeKind, Param, register
from rnnlang.compiler.nodes.lazy import lazy

jnp = lazy("jax.numpy")
jax = lazy("jax")
jr = lazy("jax.random")


class _Base(InterventionImpl):
    """Shared access to parameters: per-trial values from `p`, else the declared ones."""

    kind: NodeKind

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

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any) -> Array:
        active, scale = self.gate(p)
        v = node.velocity(state)
        amp = jnp.asarray(self.get(p, "amplitude"), jnp.float32)
        curl = jnp.stack([-v[1], v[0]])
        return x + active * scale * amp * curl


class ConstantField(_Base):
    """Adds active * scale * field to the force."""

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any) -> Array:
        active, scale = self.gate(p)
        field = jnp.asarray(self.get(p, "field"), jnp.float32)
        return x + active * scale * field


class Noise(_Base):
    """Adds active * scale * std * e, e standard normal per step and element."""

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"e": (self.size,)}

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any) -> Array:
        active, scale = self.gate(p)
        std = jnp.asarray(self.get(p, "std"), jnp.float32)
        return x + active * scale * std * noise["e"]


class Clamp(_Base):
    """Sets the chosen units to values * scale while active (Feedbax's NetworkClamp)."""

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any) -> Array:
        active, scale = self.gate(p)
        idx = self.units()
        values = jnp.broadcast_to(jnp.asarray(self.get(p, "values"), jnp.float32) * scale, idx.shape)
        return jnp.where(active > 0.5, x.at[idx].set(values), x)


class AddInput(_Base):
    """Adds active * scale * value to the chosen units (Feedbax's NetworkConstantInput)."""

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any) -> Array:
        active, scale = self.gate(p)
        idx = self.units()
        value = jnp.broadcast_to(jnp.asarray(self.get(p, "value"), jnp.float32), idx.shape)
        return x.at[idx].add(active * scale * value)


class Ablate(_Base):
    """W -> W * mask while active and start <= t < stop (stop < 0: to the end), as PsychRNN's
    simulator's `t_connectivity`; a (T, N, N) mask gives one mask per step. With scale s the
    multiplier is s * mask + (1 - s) (s = 1: the mask exactly; s = 0: nothing)."""

    def __init__(self, params: Mapping[str, Any], size: int, steps: int, dt: float) -> None:
        super().__init__(params, size, steps, dt)
        self.mask = np.asarray(self.get({}, "mask"), np.float32)
        if self.mask.ndim not in (2, 3):
            raise ConfigError(f"`mask` must be (N, N) or (T, N, N), got shape {self.mask.shape}", "mask")
        self.start = int(self.get({}, "start"))
        stop = int(self.get({}, "stop"))
        self.stop = steps if stop < 0 else stop

    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any) -> Array:
        active, scale = self.gate(p)
        mask = jnp.asarray(self.mask)
        if self.mask.ndim == 3:
            mask = mask[jnp.clip(jnp.asarray(t, jnp.int32), 0, self.mask.shape[0] - 1)]
        on = (active > 0.5) & (t >= self.start) & (t < self.stop)
        return jnp.where(on, x * (scale * mask + (1.0 - scale)), x)


# ---- declarations -----------------------------------------------------------------------------

_GATE = (
    Param("active", "bool", True, per_trial=True, doc="whether the intervention acts on this trial"),
    Param("scale", "float", 1.0, per_trial=True, doc="factor on the intervention's effect"),
)


def _kind(name: str, impl: type[_Base], params: tuple[Param, ...], applies_to: tuple[str, ...], doc: str) -> NodeKind:
    kind = NodeKind(name=name, family="intervention", params=_GATE + params, ports=(), doc=doc,
                    impl=impl, applies_to=applies_to)
    impl.kind = kind
    return kind


KINDS = (
    _kind("curl_field", CurlField,
          (Param("amplitude", "float", 1.0, per_trial=True, doc="curl gain; positive is counterclockwise"),),
          ("force",), "Velocity-dependent curl force field: amplitude * [-v_y, v_x]."),
    _kind("constant_field", ConstantField,
          (Param("field", "vector", [0.0, 0.0], per_trial=True, doc="the constant force (2,)"),),
          ("force",), "Constant force field."),
    _kind("noise", Noise,
          (Param("std", "float", 0.1, low=0.0, per_trial=True, doc="standard deviation"),),
          ("signal", "force", "units"), "Additive Gaussian noise, drawn per step."),
    _kind("clamp", Clamp,
          (Param("units", "index_list", doc="indices of the clamped units"),
           Param("values", "vector", per_trial=True, doc="the values they are clamped to")),
          ("units",), "Clamp units to values."),
    _kind("add_input", AddInput,
          (Param("units", "index_list", doc="indices of the units"),
           Param("value", "float", 1.0, per_trial=True, doc="constant added to them")),
          ("units",), "Add a constant input to units."),
    _kind("ablate", Ablate,
          (Param("mask", "matrix", doc="(N, N) or (T, N, N) multiplier of the recurrent weights"),
           Param("start", "int", 0, low=0, doc="first step it acts"),
           Param("stop", "int", -1, doc="step it stops acting (-1: the end)")),
          ("weights",), "Ablate/perturb recurrent connections: W * mask."),
)

register(*KINDS)
