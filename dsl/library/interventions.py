"""Signatures of the intervention kinds: curl and constant force fields, additive noise,
clamping and adding input to units, ablating recurrent connections.

An intervention sits at a port or internal site whose tags it `applies_to`. Its parameters
`active` (0/1) and `scale` and its own per-trial parameters may be drawn per trial; the others
(`units`, `mask`, ...) are fixed at declaration.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.dsl.vocab import NodeKind, Param, Problem

CUSTOM_MODES = ("add", "replace")

_GATE = (
    Param("active", "bool", True, per_trial=True, doc="whether the intervention acts on this trial"),
    Param("scale", "float", 1.0, per_trial=True, doc="factor on the intervention's effect"),
)


def _listed(value: Any) -> int | None:
    """The length of a value given as a list (None for a number or a distribution)."""
    return len(value) if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) == 1 else None


def _units_in_range(params: Mapping[str, Any], sizes: Mapping[str, int]) -> list[Problem]:
    """The chosen units exist in the signal at the intervention's place."""
    idx = np.asarray(params.get("units", []), dtype=np.int64).reshape(-1)
    n = int(sizes.get("signal", 0))
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        return [("units", f"units {idx.tolist()} are out of range: the signal has {n} units")]
    return []


def _clamp_values(params: Mapping[str, Any], sizes: Mapping[str, int]) -> list[Problem]:
    """The chosen units exist in the signal at the intervention's place (the length of `values`,
    in every phase and every option of a draw, is checked by `dsl.traps`)."""
    return _units_in_range(params, sizes)


def _field_size(params: Mapping[str, Any], sizes: Mapping[str, int]) -> list[Problem]:
    """The field has the size of the force it is added to."""
    n, given = int(sizes.get("signal", 0)), _listed(params.get("field"))
    if given is not None and given != n:
        return [("field", f"`field` has {given} values but the force it is added to has {n}")]
    return []


def _ablate_mask(params: Mapping[str, Any], sizes: Mapping[str, int]) -> list[Problem]:
    """The mask is (N, N) or (T, N, N), N the number of units whose weights it multiplies."""
    shape, n = tuple(np.shape(params["mask"])), int(sizes.get("signal", 0))
    if len(shape) not in (2, 3) or shape[-2:] != (n, n):
        return [("mask", f"`mask` must be ({n}, {n}) or (T, {n}, {n}), got shape {shape}")]
    return []


def _kind(name: str, params: tuple[Param, ...], applies_to: tuple[str, ...], doc: str, **more: Any) -> NodeKind:
    return NodeKind(name=name, family="intervention", params=_GATE + params, ports=(), doc=doc,
                    applies_to=applies_to, **more)


KINDS = (
    _kind("curl_field",
          (Param("amplitude", "float", 1.0, per_trial=True, doc="curl gain; positive is counterclockwise"),),
          ("force",), "Velocity-dependent curl force field: amplitude * [-v_y, v_x]."),
    _kind("constant_field",
          (Param("field", "vector", [0.0, 0.0], per_trial=True, doc="the constant force (2,)"),),
          ("force",), "Constant force field.", check_sizes=_field_size),
    _kind("noise",
          (Param("std", "float", 0.1, low=0.0, per_trial=True, doc="standard deviation"),),
          ("signal", "force", "units"), "Additive Gaussian noise, drawn per step."),
    _kind("clamp",
          (Param("units", "index_list", doc="indices of the clamped units"),
           Param("values", "vector", per_trial=True, doc="the values they are clamped to")),
          ("units",), "Clamp units to values.", check_sizes=_clamp_values),
    _kind("add_input",
          (Param("units", "index_list", doc="indices of the units"),
           Param("value", "float", 1.0, per_trial=True, doc="constant added to them")),
          ("units",), "Add a constant input to units.", check_sizes=_units_in_range),
    _kind("ablate",
          (Param("mask", "matrix", doc="(N, N) or (T, N, N) multiplier of the recurrent weights"),
           Param("start", "int", 0, low=0, doc="first step it acts"),
           Param("stop", "int", -1, doc="step it stops acting (-1: the end)")),
          ("weights",), "Ablate/perturb recurrent connections: W * mask.", check_sizes=_ablate_mask),
    _kind("custom",
          (Param("mode", "str", "add", choices=CUSTOM_MODES,
                 doc="`add`: x + active * scale * value; `replace`: x + active * scale * (value - x)"),),
          ("signal", "force", "units"),
          "An intervention written in the file: the site's body gives `value = EXPR`, an expression of the "
          "signal at the site (`x`), time (`t`), other nodes' outputs (`arm.effector.vel`) and the task's trial "
          "variables (`task.goal`), computed each step (docs/interventions.md)."),
)
