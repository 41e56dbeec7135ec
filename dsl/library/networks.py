"""Signatures of the network kinds: `ctrnn` (PsychRNN's continuous-time `Basic`), `gru`, `lstm`.

Every network has the ports `input` (concatenation of whatever arrives), `output` (the readout)
and `hidden` (the hidden activity after this step), and the internal site `hidden`; `ctrnn` also
has the site `W_rec`, its effective recurrent matrix each step (for ablation).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.dsl.vocab import ELEMENTWISE_TRANSFER_NAMES, TRANSFER_NAMES, NodeKind, Param, Port, Problem, Site

INITS = ("spectral_radius", "alpha_identity", "glorot_uniform", "glorot_normal", "const_uniform", "const_normal")
LSTM_VARIANTS = ("textbook", "psychrnn")


def _network_ports() -> tuple[Port, ...]:
    return (
        Port("input", "in", lambda p, ins: p.get("inputs"), combine="concat",
             doc="concatenation of every edge into it, in source order (size `inputs` when given)"),
        Port("output", "out", "out", timing="feedthrough", doc="the readout after this step"),
        Port("hidden", "out", "hidden", timing="feedthrough", doc="hidden activity after this step"),
    )


HIDDEN_SITE = Site("hidden", ("units",), doc="the hidden state right after it is computed each step")


def _ctrnn_masks(params: Mapping[str, Any], sizes: Mapping[str, int]) -> list[Problem]:
    """Each connectivity mask has the shape of the weights it masks."""
    n, n_in, n_out = int(params["hidden"]), int(sizes.get("input", 0)), int(params["out"])
    out = []
    for name, shape in (("input_mask", (n, n_in)), ("rec_mask", (n, n)), ("output_mask", (n_out, n))):
        value = params.get(name)
        if value is not None and np.shape(value) != shape:
            out.append((name, f"`{name}` has shape {tuple(np.shape(value))} but the network needs {shape}"))
    return out


def _sizes(params: Mapping[str, Any], sizes: Mapping[str, int]) -> tuple[int, int, int, int, int]:
    """hidden, out, input size, encoder size (0: none) and the cell's input size."""
    h, n_out, n_in = int(params["hidden"]), int(params["out"]), int(sizes.get("input", 0) or 0)
    n_enc = int(params.get("encoder") or 0)
    return h, n_out, n_in, n_enc, n_enc if n_enc > 0 else n_in


def _readout(h: int, n_out: int, n_in: int, n_enc: int) -> dict[str, tuple[int, ...]]:
    """The linear readout, and the encoder when there is one (gru, lstm)."""
    enc = {"W_enc": (n_enc, n_in), "b_enc": (n_enc,)} if n_enc > 0 else {}
    return {**enc, "W_out": (n_out, h), "b_out": (n_out,)}


def _ctrnn_shapes(params: Mapping[str, Any], sizes: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    n, n_out, n_in, _, _ = _sizes(params, sizes)
    return {"W_in": (n, n_in), "W_rec": (n, n), "W_out": (n_out, n), "b_rec": (n,), "b_out": (n_out,), "init_state": (n,)}


def _gru_shapes(params: Mapping[str, Any], sizes: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    h, n_out, n_in, n_enc, cell_in = _sizes(params, sizes)
    cell = {"weight_ih": (3 * h, cell_in), "weight_hh": (3 * h, h), "bias": (3 * h,), "bias_n": (h,)}
    return {**cell, **_readout(h, n_out, n_in, n_enc)}


def _lstm_shapes(params: Mapping[str, Any], sizes: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    h, n_out, n_in, n_enc, cell_in = _sizes(params, sizes)
    if params.get("variant", "textbook") == "textbook":
        cell = {"weight_ih": (4 * h, cell_in), "weight_hh": (4 * h, h), "bias": (4 * h,)}
    else:  # PsychRNN's: one (h + input, h) matrix and a bias per gate, trained initial hidden and cell
        cell = {**{f"W_{g}": (h + cell_in, h) for g in "fico"}, **{f"b_{g}": (h,) for g in "fico"},
                "init_hidden": (h,), "init_cell": (h,)}
    return {**cell, **_readout(h, n_out, n_in, n_enc)}


_COMMON = (
    Param("hidden", "int", low=1, high=1_000_000, doc="number of hidden units"),
    Param("out", "int", low=1, high=1_000_000, doc="number of readout units"),
    Param("inputs", "int", None, low=0, high=1_000_000, doc="input size; when given, the edges into `input` must add up to it "
          "(zeros when none arrive); by default the input is what the edges carry"),
)
_OUT_TRANSFER = Param("output_transfer", "str", "identity", choices=TRANSFER_NAMES, doc="nonlinearity on the readout; `softmax` over the output channels of each step")
_WEIGHTS = Param("weights", "any", None, doc="initial values by parameter name (e.g. a weight file's arrays)")
_ENCODER = Param("encoder", "int", 0, low=0, doc="size of a linear encoder before the cell (0: none)")
_HIDDEN_NOISE = Param("hidden_noise", "float", 0.0, low=0.0, doc="std of Gaussian noise added to h' each step")

CTRNN = NodeKind(
    name="ctrnn",
    family="network",
    doc="Continuous-time RNN exactly as PsychRNN's Basic: pre-activation state, alpha = dt/tau, "
        "recurrent noise, Dale's law, connectivity masks, autapses, PsychRNN's initializers.",
    params=_COMMON + (
        Param("tau", "float", None, low=0.0, low_open=True, doc="time constant (default: the model's tau, else 100)"),
        Param("transfer", "str", "relu", choices=ELEMENTWISE_TRANSFER_NAMES, doc="transfer function f"),
        _OUT_TRANSFER,
        Param("rec_noise", "float", 0.0, low=0.0, doc="recurrent noise sigma: sqrt(2 alpha sigma^2) N(0,1)"),
        Param("dale_ratio", "float", 0.0, low=0.0, high=1.0, doc="fraction of excitatory units (0: no Dale's law)"),
        Param("autapses", "bool", True, doc="allow self-connections"),
        Param("input_mask", "matrix", None, doc="(hidden, n_in) connectivity mask"),
        Param("rec_mask", "matrix", None, doc="(hidden, hidden) connectivity mask"),
        Param("output_mask", "matrix", None, doc="(out, hidden) connectivity mask"),
        Param("init", "call", "spectral_radius", choices=INITS, doc="recurrent weight initializer"),
        _WEIGHTS,
        Param("train_init_state", "bool", True, doc="whether the initial state trains"),
    ),
    ports=_network_ports(),
    sites=(HIDDEN_SITE, Site("W_rec", ("weights",), doc="the effective recurrent matrix each step")),
    check_sizes=_ctrnn_masks,
    param_shapes=_ctrnn_shapes,
)

GRU = NodeKind(
    name="gru",
    family="network",
    doc="GRU cell (equinox/Feedbax numerics), optional linear encoder, linear readout.",
    params=_COMMON + (
        _ENCODER,
        _HIDDEN_NOISE,
        Param("hidden_transfer", "str", "identity", choices=ELEMENTWISE_TRANSFER_NAMES, doc="nonlinearity on the cell output"),
        _OUT_TRANSFER,
        _WEIGHTS,
    ),
    ports=_network_ports(),
    sites=(HIDDEN_SITE,),
    param_shapes=_gru_shapes,
)

LSTM = NodeKind(
    name="lstm",
    family="network",
    doc="LSTM cell: textbook (equinox) or PsychRNN's variant; optional encoder; linear readout.",
    params=_COMMON + (
        Param("variant", "str", "textbook", choices=LSTM_VARIANTS, doc="which LSTM equations"),
        _ENCODER,
        _HIDDEN_NOISE,
        _OUT_TRANSFER,
        _WEIGHTS,
    ),
    ports=_network_ports(),
    sites=(HIDDEN_SITE,),
    param_shapes=_lstm_shapes,
)

KINDS = (CTRNN, GRU, LSTM)
