"""The JAX implementations of the node kinds, attached to the library's signatures by name.

    IMPLS["ctrnn"] is the class the lowering builds as IMPLS["ctrnn"](config) for a `ctrnn` node

The signatures (parameters, ports, sites, value checks) live in `rnnlang.dsl.library`; a test
holds the two tables equal (every signature has an implementation and every implementation a
signature).
"""

from __future__ import annotations

from typing import Any

from . import channels, declared, interventions, mechanics, networks, tasks

IMPLS: dict[str, type[Any]] = {
    "ctrnn": networks.CTRNN,
    "gru": networks.GRU,
    "lstm": networks.LSTM,
    "point_mass": mechanics.PointMass,
    "two_link_arm": mechanics.TwoLinkArm,
    "channel": channels.Channel,
    "gain": channels.Gain,
    "curl_field": interventions.CurlField,
    "constant_field": interventions.ConstantField,
    "noise": interventions.Noise,
    "clamp": interventions.Clamp,
    "add_input": interventions.AddInput,
    "ablate": interventions.Ablate,
    "simple_reaches": tasks.SimpleReachesImpl,
    "delayed_reaches": tasks.DelayedReachesImpl,
    "perceptual_discrimination": tasks.PerceptualDiscriminationImpl,
    "delayed_discrimination": tasks.DelayedDiscriminationImpl,
    "match_to_category": tasks.MatchToCategoryImpl,
    "task": declared.DeclaredTaskImpl,
}


def impl_of(kind: str) -> type[Any]:
    """The implementation class of the kind called `kind` (a KeyError names a kind without one)."""
    return IMPLS[kind]


__all__ = ["IMPLS", "impl_of"]
