"""Signatures of the built-in task kinds: reaching tasks after Feedbax and cognitive tasks after
PsychRNN (their trials are made by the compiler's implementations).

Reaches (time in steps): `simple_reaches`, `delayed_reaches`. Cognitive tasks (time in the units
of `dt`): `perceptual_discrimination`, `delayed_discrimination`, `match_to_category`.
Every relation between parameters that a single bound cannot state (an ordered pair, rows of a
matrix, indices into another parameter) is a `validate` check here, so the checker reports it at
the parameter.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.dsl.vocab import NodeKind, Param, Port, Problem

POSVEL = {"pos": (0, 2), "vel": (2, 4)}


def _array(value: Any) -> np.ndarray | None:
    """The value as a float array, or None when it is not a rectangular array of numbers."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None


def _ordered_pair(params: Mapping[str, Any], name: str) -> list[Problem]:
    v = _array(params[name])
    if v is None or v.shape != (2,) or not (0 <= v[0] <= v[1]):
        return [(name, f"`{name}` must be [a, b] with 0 <= a <= b, got {_show(params[name])}")]
    return []


def _show(value: Any) -> str:
    return str(np.asarray(value).tolist()) if _array(value) is not None else repr(value)


def _workspace(params: Mapping[str, Any]) -> list[Problem]:
    ws = _array(params["workspace"])
    if ws is None or ws.shape != (2, 2) or not np.all(ws[0] <= ws[1]):
        return [("workspace", f"`workspace` must be [[xmin, ymin], [xmax, ymax]] with min <= max, "
                              f"got {_show(params['workspace'])}")]
    return []


def _simple_reaches(params: Mapping[str, Any]) -> list[Problem]:
    """`workspace` is [[xmin, ymin], [xmax, ymax]] with min <= max."""
    return _workspace(params)


def _delayed_reaches(params: Mapping[str, Any]) -> list[Problem]:
    """`workspace` is [[xmin, ymin], [xmax, ymax]] with min <= max; `epoch_bounds` are rows
    [lo, hi) of whole steps with 0 <= lo < hi; `target_on_epochs` index those rows."""
    out = _workspace(params)
    b = _array(params["epoch_bounds"])
    shown = _show(params["epoch_bounds"])
    if b is None or b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1 or np.any(b[:, 0] < 0) or np.any(b[:, 0] >= b[:, 1]):
        return out + [("epoch_bounds", f"`epoch_bounds` must be rows [lo, hi) with 0 <= lo < hi, got {shown}")]
    if not np.all(b == np.round(b)):
        return out + [("epoch_bounds", f"`epoch_bounds` must be whole numbers of steps, got {shown}")]
    on = [int(e) for e in np.asarray(params["target_on_epochs"]).reshape(-1)]
    if any(e >= b.shape[0] for e in on):
        out.append(("target_on_epochs", f"`target_on_epochs` {on} must index the {b.shape[0]} epochs of `epoch_bounds` "
                                        f"(0 to {b.shape[0] - 1})"))
    return out


def _perceptual(params: Mapping[str, Any]) -> list[Problem]:
    """`coherences` is not empty; `onset_frac` and `duration_frac` are [a, b] with 0 <= a <= b."""
    out = []
    if np.asarray(params["coherences"]).size < 1:
        out.append(("coherences", "`coherences` must not be empty"))
    return out + _ordered_pair(params, "onset_frac") + _ordered_pair(params, "duration_frac")


def _delayed_discrimination(params: Mapping[str, Any]) -> list[Problem]:
    """`pairs` are rows [f_a, f_b]; `freq_range` is [fmin, fmax] with fmin < fmax; `epoch_fracs`
    is 5 non-negative numbers."""
    out = []
    pairs = _array(params["pairs"])
    if pairs is None or pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] < 1:
        out.append(("pairs", f"`pairs` must be rows [f_a, f_b], got {_show(params['pairs'])}"))
    fr = _array(params["freq_range"])
    if fr is None or fr.shape != (2,) or not fr[0] < fr[1]:
        out.append(("freq_range", f"`freq_range` must be [fmin, fmax] with fmin < fmax, got {_show(params['freq_range'])}"))
    fracs = _array(params["epoch_fracs"])
    if fracs is None or fracs.shape != (5,) or np.any(fracs < 0):
        out.append(("epoch_fracs", f"`epoch_fracs` must be 5 non-negative numbers, got {_show(params['epoch_fracs'])}"))
    return out


def _reach_params() -> tuple[Param, ...]:
    return (
        Param("workspace", "matrix", [[-1.0, -1.0], [1.0, 1.0]],
              "reach workspace [[xmin, ymin], [xmax, ymax]]; starts and goals are uniform in it"),
        Param("eval_grid_n", "int", 1, "validation: n x n grid of centre-out sets inside the workspace", low=1),
        Param("eval_n_directions", "int", 7, "validation: reaches per centre, at angles 2*pi*j/n", low=1),
        Param("eval_length", "float", 0.5, "validation: reach length", low=0, low_open=True),
    )


_REACH_START = Port("start", "out", 4, timing="state", role="init", fields=POSVEL,
                    doc="the effector's start state (position, zero velocity)")
_REACH_EFFECTOR = Port("effector", "in", 4, combine="single", fields=POSVEL,
                       doc="the effector state (pos, vel) after each update, for metrics")

_COGNITIVE_NOISE = Param("noise", "float", 0.1, "PsychRNN's stim_noise (input noise scale)", low=0)


def _cognitive_ports(n_in: Any, n_out: Any) -> tuple[Port, ...]:
    return (
        Port("input", "out", n_in, timing="state", doc="the network's input, with noise"),
        Port("target", "out", n_out, timing="state", doc="the target output"),
        Port("mask", "out", n_out, timing="state", doc="the loss mask (1 where scored)"),
        Port("response", "in", n_out, combine="single", doc="the network's output, for metrics"),
    )


KINDS = (
    NodeKind(
        "simple_reaches", "task", _reach_params(),
        ports=(
            Port("target", "out", 4, timing="state", fields=POSVEL,
                 doc="goal position and zero velocity, constant over the trial (input and loss target)"),
            _REACH_START,
            _REACH_EFFECTOR,
        ),
        doc="Feedbax SimpleReaches: reaches between uniform random points; center-out validation.",
        validate=_simple_reaches,
    ),
    NodeKind(
        "delayed_reaches", "task",
        _reach_params() + (
            Param("epoch_bounds", "matrix", [[5, 15], [10, 20], [10, 25]],
                  "epoch lengths in steps, each uniform in [lo, hi): start, target on, delay; then movement"),
            Param("target_on_epochs", "index_list", [1], "epochs in which the cue shows the goal"),
        ),
        ports=(
            Port("cue", "out", 4, timing="state", fields=POSVEL,
                 doc="goal (zero velocity) during the target-on epochs, zeros otherwise"),
            Port("hold", "out", 1, timing="state", doc="1 before movement onset, 0 from then on"),
            Port("target_on", "out", 1, timing="state", doc="1 during the target-on epochs"),
            Port("target", "out", 4, timing="state", fields=POSVEL,
                 doc="loss target: the start until movement onset, then the goal (zero velocity)"),
            _REACH_START,
            _REACH_EFFECTOR,
        ),
        doc="Feedbax DelayedReaches: cue, delay with hold, then movement; center-out validation "
            "with fixed epoch lengths.",
        validate=_delayed_reaches,
    ),
    NodeKind(
        "perceptual_discrimination", "task",
        (
            Param("coherences", "vector", [0.1, 0.3, 0.5, 0.7], "coherences drawn uniformly per trial"),
            _COGNITIVE_NOISE,
            Param("onset_frac", "vector", [0.0, 0.5], "stimulus onset ~ U[a, b) * T, T = steps * dt"),
            Param("duration_frac", "vector", [0.125, 0.375], "stimulus duration ~ U[a, b) * T"),
            Param("target_delay", "float", 20.0, "target starts this long (time units) after the stimulus", low=0),
            Param("hi", "float", 1.0, "target on the correct channel"),
            Param("lo", "float", 0.2, "target on the other channel"),
        ),
        ports=_cognitive_ports(2, 2),
        doc="PsychRNN PerceptualDiscrimination (2AFC on two noisy channels).",
        validate=_perceptual,
    ),
    NodeKind(
        "delayed_discrimination", "task",
        (
            Param("pairs", "matrix", [[18, 10], [22, 14], [26, 18], [30, 22], [34, 26]],
                  "frequency pairs; each trial draws a pair and an order"),
            _COGNITIVE_NOISE,
            Param("freq_range", "vector", [10.0, 34.0], "[fmin, fmax] of the input encoding"),
            Param("epoch_fracs", "vector", [0.125, 0.25, 0.25, 0.25, 0.125],
                  "onset, stimulus 1, delay, stimulus 2, decision: each ~ U[0, 1) * frac * T"),
            Param("hi", "float", 1.0, "target on the correct channel"),
            Param("lo", "float", 0.2, "target on the other channel"),
        ),
        ports=_cognitive_ports(2, 2),
        doc="PsychRNN DelayedDiscrimination (was f1 > f2?).",
        validate=_delayed_discrimination,
    ),
    NodeKind(
        "match_to_category", "task",
        (
            Param("n_in", "int", 16, "ring input channels (angles linspace(0, 2*pi, n_in))", low=1),
            Param("n_out", "int", 2, "categories (equal slices of the ring)", low=1),
            _COGNITIVE_NOISE,
            Param("onset", "float", 200.0, "stimulus onset (time units)", low=0),
            Param("input_dur", "float", 1000.0, "stimulus duration (time units)", low=0),
            Param("output_dur", "float", 800.0, "response window after the stimulus (time units)", low=0),
            Param("bump_scale", "float", 1.0, "width (std, radians) of the input bump", low=0, low_open=True),
            Param("eval_n_angles", "int", 64, "validation: evenly spaced angles", low=1),
        ),
        ports=_cognitive_ports("n_in", "n_out"),
        doc="PsychRNN MatchToCategory (ring input, half-ring categories).",
    ),
)
