"""Signatures of the mechanics kinds: `point_mass` (Feedbax's PointMass) and `two_link_arm`
(Feedbax's TwoLinkArm with its default segment parameters).

Both are plants (role "plant"): stateful, their outputs are state reads (the effector's position
and velocity at the start of the step), so a loop network -> plant -> network is the normal
closed loop.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.dsl.vocab import NodeKind, Param, Port, Problem

INTEGRATORS = ("euler", "rk4")
EFFECTOR_FIELDS = {"pos": (0, 2), "vel": (2, 4)}
JOINT_FIELDS = {"angle": (0, 2), "vel": (2, 4)}


def _mechanics_ports(*extra: Port) -> tuple[Port, ...]:
    return (
        Port("force", "in", 2, combine="sum", tags=("force",), doc="force on the effector (N)"),
        Port("init", "in", 4, combine="single", role="init", fields=EFFECTOR_FIELDS,
             doc="the effector's start state (pos, vel), once per trial"),
        Port("effector", "out", 4, timing="state", fields=EFFECTOR_FIELDS,
             doc="effector position and velocity at the start of the step"),
    ) + extra


def _arm_values(params: Mapping[str, Any]) -> list[Problem]:
    """Segment vectors are pairs of positive numbers; friction is 2 x 2; limits are [lo, hi] rows."""
    out = []
    for name in ("lengths", "masses", "inertias", "com"):
        v = np.asarray(params[name], dtype=float)
        if v.shape != (2,) or not np.all(v > 0):
            shown = np.asarray(params[name]).tolist()
            out.append((name, f"`{name}` must be two positive numbers (one per segment), got {shown}"))
    if np.shape(params["friction"]) != (2, 2):
        out.append(("friction", f"`friction` must be a 2 x 2 matrix, got shape {tuple(np.shape(params['friction']))}"))
    limits = params.get("joint_limits")
    if limits is not None:
        lim = np.asarray(limits, dtype=float)
        if lim.shape != (2, 2) or not np.all(lim[:, 0] < lim[:, 1]):
            out.append(("joint_limits", "`joint_limits` must be [[lo1, hi1], [lo2, hi2]] with lo < hi, "
                                        f"got {lim.tolist()}"))
    return out


_INTEGRATOR = Param("integrator", "str", "euler", choices=INTEGRATORS, doc="explicit Euler or classical RK4")

POINT_MASS = NodeKind(
    name="point_mass",
    family="mechanics",
    doc="2D point mass with damping (Feedbax's PointMass); state (pos, vel).",
    params=(
        Param("mass", "float", 1.0, low=0.0, low_open=True, doc="mass (kg)"),
        Param("damping", "float", 0.0, low=0.0, doc="linear damping coefficient c: force -c v"),
        _INTEGRATOR,
    ),
    ports=_mechanics_ports(),
    roles=("plant",),
)

TWO_LINK_ARM = NodeKind(
    name="two_link_arm",
    family="mechanics",
    doc="Planar two-link arm (Feedbax's TwoLinkArm defaults); state (joint angles, angular velocities).",
    params=(
        Param("lengths", "vector", [0.30, 0.33], doc="segment lengths (m)"),
        Param("masses", "vector", [1.4, 1.0], doc="segment masses (kg)"),
        Param("inertias", "vector", [0.025, 0.045], doc="segment moments of inertia about the joints (kg m^2)"),
        Param("com", "vector", [0.11, 0.16], doc="joint-to-centre-of-mass distances (m)"),
        Param("friction", "matrix", [[0.05, 0.025], [0.025, 0.05]], doc="joint friction matrix B"),
        Param("joint_limits", "matrix", None, doc="[[lo1, hi1], [lo2, hi2]] angle limits (rad)"),
        _INTEGRATOR,
    ),
    ports=_mechanics_ports(
        Port("torque", "in", 2, combine="sum", tags=("force",), doc="joint torques (N m)"),
        Port("joints", "out", 4, timing="state", fields=JOINT_FIELDS,
             doc="joint angles and angular velocities at the start of the step"),
    ),
    validate=_arm_values,
    roles=("plant",),
)

KINDS = (POINT_MASS, TWO_LINK_ARM)
