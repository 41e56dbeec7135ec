"""Signatures of the channel kinds: `channel` (a delay line with Feedbax's noise form) and `gain`.

A `channel` with delay d >= 1 outputs, at step k, what entered it at step k - d (before that, the
first value that entered, or zeros); its output is then a state read, which is what lets a loop
through it be a normal closed loop. With d = 0 it passes its input through (feedthrough).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.dsl.vocab import NodeKind, Param, Port, Problem

CHANNEL_INITS = ("first", "zeros")


def _same_size(params: Mapping[str, Any], in_sizes: Mapping[str, int]) -> int:
    """Size rule: the output has the size of what arrives at `input`."""
    return int(in_sizes["input"])


def _channel_timing(params: Mapping[str, Any]) -> str:
    """A delayed channel's output is read from its state; an undelayed one is feedthrough."""
    return "feedthrough" if int(params.get("delay", 0) or 0) == 0 else "state"


def _starts_with_input(params: Mapping[str, Any]) -> bool:
    """A delay line with init "first" is filled with its first input at t = 0."""
    return int(params.get("delay", 0) or 0) > 0 and params.get("init", "first") == "first"


def _gain_size(params: Mapping[str, Any], sizes: Mapping[str, int]) -> list[Problem]:
    """The gain is a number or a vector of the signal's size."""
    shape, n = np.shape(params["gain"]), int(sizes.get("input", 0))
    if len(shape) > 1 or (len(shape) == 1 and shape[0] not in (1, n)):
        return [("gain", f"`gain` has shape {tuple(shape)}; expected a number or ({n},)")]
    return []


CHANNEL = NodeKind(
    name="channel",
    family="channel",
    doc="Delay line (delay steps) with Gaussian noise out = x + signal_noise*x*e1 + noise*e2.",
    params=(
        Param("delay", "int", 0, low=0, high=1_000_000, doc="steps of delay (0: pass through; at most 1,000,000)"),
        Param("noise", "float", 0.0, low=0.0, doc="std of additive Gaussian noise"),
        Param("signal_noise", "float", 0.0, low=0.0, doc="std of noise multiplied by the signal"),
        Param("init", "str", "first", choices=CHANNEL_INITS,
              doc="what a delayed channel outputs before its first input arrives"),
    ),
    ports=(
        Port("input", "in", None, combine="concat"),
        Port("output", "out", _same_size, timing=_channel_timing),
    ),
    roles=("starts_with_input",),
    starts_with_input=_starts_with_input,
)

GAIN = NodeKind(
    name="gain",
    family="channel",
    doc="Elementwise gain y = gain * x.",
    params=(Param("gain", "value", 1.0, doc="a number or a vector of the signal's size"),),
    ports=(
        Port("input", "in", None, combine="concat"),
        Port("output", "out", _same_size, timing="feedthrough"),
    ),
    check_sizes=_gain_size,
)

KINDS = (CHANNEL, GAIN)
