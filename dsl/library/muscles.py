"""Signatures of the muscle-driven plants (MotorNet's effectors): `arm26`, a two-joint arm pulled
by six lumped muscles (MotorNet's RigidTendonArm26), and `muscle_point_mass`, a 2D point mass
pulled by four ReLU muscles in an X (MotorNet's ReluPointMass24).

The muscle model is a parameter of the plant (`muscle = "hill" | "thelen" | "relu"`), as in
MotorNet where the effector wraps one vectorised muscle object: "hill" is the rigid-tendon
Hill-type muscle of Kistemaker et al. (2010), "thelen" its Thelen (2003) variant, "relu" a force
proportional to activation. A network drives the muscles through `excitation` (one value per
muscle, clipped to [min_activation, 1]); activation follows it with first-order dynamics.

Both are plants (role "plant"): every output is a state read (muscle lengths, velocities,
forces and activations, the joint and effector states at the start of the step), so
proprioception and vision reach a network through `channel` nodes with their own delays.
Interventions act on the excitations (the `excitation` port), on the muscle forces as they pull
on the skeleton (the internal site `tension`) and on an external force on the effector (the
`force` port, where a curl field reads the hand's velocity).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.dsl.vocab import NodeKind, Param, Port, Problem, Site

from .mechanics import EFFECTOR_FIELDS, INTEGRATORS, JOINT_FIELDS

MUSCLE_MODELS = ("hill", "thelen", "relu")
# each model's own defaults where MotorNet's muscle classes differ
MODEL_MIN_ACTIVATION = {"hill": 0.001, "thelen": 0.001, "relu": 0.0}
MODEL_SLACK_LENGTH = {"hill": 1.4, "thelen": 1.0, "relu": 1.0}

ARM26_MUSCLES = ("pectoralis", "deltoid", "brachioradialis", "tricepslat", "biceps", "tricepslong")
POINT_MASS_MUSCLES = ("upper_right", "upper_left", "lower_right", "lower_left")


def _muscle_ports(n: int) -> tuple[Port, ...]:
    """The ports every muscle-driven plant has, for n muscles."""
    return (
        Port("excitation", "in", n, combine="sum", tags=("units",),
             doc=f"descending drive to the {n} muscles, clipped to [min_activation, 1]"),
        Port("force", "in", 2, combine="sum", tags=("force",), doc="external force on the effector (N)"),
        Port("init", "in", 4, combine="single", role="init", fields=EFFECTOR_FIELDS,
             doc="the effector's start state (pos, vel), once per trial"),
        Port("effector", "out", 4, timing="state", fields=EFFECTOR_FIELDS,
             doc="effector (hand) position and velocity at the start of the step"),
        Port("muscle_lengths", "out", n, timing="state", doc="fibre lengths (m)"),
        Port("muscle_velocities", "out", n, timing="state", doc="fibre velocities (m/s)"),
        Port("muscle_forces", "out", n, timing="state", doc="muscle forces (N)"),
        Port("activations", "out", n, timing="state", doc="muscle activations in [min_activation, 1]"),
        Port("proprioception", "out", 2 * n, timing="state",
             fields={"length": (0, n), "velocity": (n, 2 * n)},
             doc="MotorNet's proprioception: lengths / optimal lengths, then velocities / vmax"),
    )


def _tension(n: int) -> Site:
    return Site("tension", ("units",), doc=f"the {n} muscle forces as they pull on the skeleton (N)", size=n)


def _positive_vector(params: Mapping[str, Any], name: str, n: int) -> list[Problem]:
    v = np.asarray(params[name], dtype=float)
    if v.shape != (n,) or not np.all(v > 0):
        return [(name, f"`{name}` must be {n} positive numbers (one per muscle), got {np.asarray(params[name]).tolist()}")]
    return []


def _two_positive(params: Mapping[str, Any], name: str) -> list[Problem]:
    v = np.asarray(params[name], dtype=float)
    if v.shape != (2,) or not np.all(v > 0):
        return [(name, f"`{name}` must be two positive numbers (one per segment), got {np.asarray(params[name]).tolist()}")]
    return []


def _limits(params: Mapping[str, Any], name: str) -> list[Problem]:
    lim = np.asarray(params[name], dtype=float)
    if lim.shape != (2, 2) or not np.all(lim[:, 0] < lim[:, 1]):
        return [(name, f"`{name}` must be [[lo1, hi1], [lo2, hi2]] with lo < hi, got {lim.tolist()}")]
    return []


def _arm26_values(params: Mapping[str, Any]) -> list[Problem]:
    """Per-muscle vectors have six positive entries; segment vectors two; limits are [lo, hi] rows."""
    out: list[Problem] = []
    for name in ("max_isometric_force", "tendon_length", "optimal_length"):
        out += _positive_vector(params, name, 6)
    for name in ("lengths", "masses", "inertias", "com"):
        out += _two_positive(params, name)
    return out + _limits(params, "joint_limits")


def _point_mass_values(params: Mapping[str, Any]) -> list[Problem]:
    lim = np.asarray(params["bounds"], dtype=float)
    if lim.shape != (2, 2) or not np.all(lim[:, 0] < lim[:, 1]) or not np.all(np.abs(lim) < 2):
        return [("bounds", "`bounds` must be [[xlo, xhi], [ylo, yhi]] with lo < hi, inside the muscles' anchors "
                           f"at (+-2, +-2), got {lim.tolist()}")]
    return []


_MUSCLE_COMMON = (
    Param("min_activation", "float", None, low=0.0, high=1.0, high_open=True,
          doc="lower clip of excitation and activation (default: the muscle model's, 0.001 for hill and "
              "thelen, 0 for relu)"),
    Param("tau_activation", "float", 0.015, low=0.0, low_open=True, high=1.0, doc="activation time constant (s)"),
    Param("tau_deactivation", "float", 0.05, low=0.0, low_open=True, high=1.0, doc="deactivation time constant (s)"),
    Param("integrator", "str", "euler", choices=INTEGRATORS,
          doc="explicit Euler (MotorNet's default) or MotorNet's Runge-Kutta 4 scheme"),
    Param("substeps", "int", 1, low=1, high=100, doc="integration steps per model step (MotorNet's n_ministeps)"),
)

ARM26 = NodeKind(
    name="arm26",
    family="mechanics",
    doc="MotorNet's RigidTendonArm26: a planar two-joint arm (shoulder, elbow) pulled by six lumped muscles "
        "(" + ", ".join(ARM26_MUSCLES) + ") with polynomial moment arms (Nijhof & Kouwenhoven 2000); "
        "state (joint angles, velocities, muscle states).",
    params=(
        Param("muscle", "str", "hill", choices=MUSCLE_MODELS,
              doc="muscle model: rigid-tendon Hill (Kistemaker 2010), its Thelen (2003) variant, or ReLU"),
        Param("max_isometric_force", "vector", [838.0, 1207.0, 1422.0, 1549.0, 414.0, 603.0],
              doc="maximum isometric force per muscle (N)"),
        Param("tendon_length", "vector", [0.039, 0.066, 0.172, 0.187, 0.204, 0.217],
              doc="tendon slack length per muscle (m)"),
        Param("optimal_length", "vector", [0.134, 0.140, 0.092, 0.093, 0.137, 0.127],
              doc="optimal fibre length per muscle (m)"),
        Param("slack_length", "float", None, low=0.0, low_open=True, high=3.0,
              doc="fibre length where passive force starts, in optimal lengths (default: the model's, 1.4 for "
                  "hill, 1 for thelen; unused by relu)"),
        *_MUSCLE_COMMON,
        Param("damping", "float", 0.0, low=0.0, high=100.0, doc="joint damping: torque -damping * joint velocity"),
        Param("lengths", "vector", [0.309, 0.333], doc="segment lengths (m)"),
        Param("masses", "vector", [1.82, 1.43], doc="segment masses (kg)"),
        Param("inertias", "vector", [0.051, 0.057], doc="segment moments of inertia about their centres of mass (kg m^2)"),
        Param("com", "vector", [0.135, 0.165], doc="joint-to-centre-of-mass distances (m)"),
        Param("joint_limits", "matrix", [[0.0, 2.356194490192345], [0.0, 2.705260340591211]],
              doc="[[lo, hi] shoulder, [lo, hi] elbow] angle limits (rad); MotorNet's 0-135 and 0-155 degrees"),
    ),
    ports=_muscle_ports(6) + (
        Port("joints", "out", 4, timing="state", fields=JOINT_FIELDS,
             doc="joint angles and angular velocities at the start of the step"),
    ),
    sites=(_tension(6),),
    validate=_arm26_values,
    roles=("plant",),
)

MUSCLE_POINT_MASS = NodeKind(
    name="muscle_point_mass",
    family="mechanics",
    doc="MotorNet's ReluPointMass24: a 2D point mass pulled by four ReLU muscles anchored at (+-2, +-2) "
        "(" + ", ".join(POINT_MASS_MUSCLES) + "), confined to `bounds`; state (pos, vel, muscle states).",
    params=(
        Param("mass", "float", 1.0, low=0.0, low_open=True, high=1000.0, doc="mass (kg)"),
        Param("max_isometric_force", "float", 500.0, low=0.0, low_open=True, high=1e5,
              doc="maximum force of each muscle (N)"),
        Param("bounds", "matrix", [[-1.0, 1.0], [-1.0, 1.0]], doc="[[xlo, xhi], [ylo, yhi]] position limits (m)"),
        *_MUSCLE_COMMON,
    ),
    ports=_muscle_ports(4),
    sites=(_tension(4),),
    validate=_point_mass_values,
    roles=("plant",),
)

KINDS = (ARM26, MUSCLE_POINT_MASS)
