"""The JAX implementations of the node kinds, attached to the library's signatures by name.

    IMPLS["ctrnn"] is the class the lowering builds as IMPLS["ctrnn"](config) for a `ctrnn` node

The signatures (parameters, ports, sites, value checks) live in `rnnlang.dsl.library`; a test
holds the two tables equal (every signature has an implementation and every implementation a
signature).
"""

from __future__ import annotations

import functools
from typing import Any

from rnnlang.dsl import stdlib

from . import channels, declared, interventions, mechanics, muscles, networks

IMPLS: dict[str, type[Any]] = {
    "ctrnn": networks.CTRNN,
    "gru": networks.GRU,
    "lstm": networks.LSTM,
    "point_mass": mechanics.PointMass,
    "two_link_arm": mechanics.TwoLinkArm,
    "arm26": muscles.Arm26,
    "muscle_point_mass": muscles.MusclePointMass,
    "channel": channels.Channel,
    "gain": channels.Gain,
    "curl_field": interventions.CurlField,
    "constant_field": interventions.ConstantField,
    "noise": interventions.Noise,
    "clamp": interventions.Clamp,
    "add_input": interventions.AddInput,
    "ablate": interventions.Ablate,
    "custom": interventions.Custom,
    "task": declared.DeclaredTaskImpl,
    # the standard library's tasks: the same implementation, bound to each one's declaration
    **{name: functools.partial(declared.DeclaredTaskImpl, decl=d) for name, d in stdlib.declarations().items()},
}


def impl_of(kind: str) -> type[Any]:
    """The implementation class of the kind called `kind` (a KeyError names a kind without one)."""
    return IMPLS[kind]


__all__ = ["IMPLS", "impl_of"]
