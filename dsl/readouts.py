"""Warnings about how a loss reads a network's readout: `categorical_cross_entropy` takes logits
(a linear readout, `logits = true`, its default) or probabilities (a `softmax` readout,
`logits = false`). Scoring a softmax readout as logits, or any other readout as probabilities,
trains badly or not at all without any error, so the checker says so where it is surely a
mistake: the term's signal is a network's whole `output` port, whose `output_transfer` the file
states (or leaves at its default, `identity`)."""

from __future__ import annotations

from typing import Any

from . import ast as A
from . import schema as S
from .errors import Diagnostic

TERM = "categorical_cross_entropy"


def _argument(call: A.Call, name: str) -> A.Value | None:
    """The value given for `name`, by keyword or by position."""
    kw = call.kwarg(name)
    if kw is not None:
        return kw.value
    names = [p.name for p in S.LOSS_TERMS[TERM].params]
    i = names.index(name)
    return call.args[i] if i < len(call.args) else None


def _output_transfer(ctx: Any, node: str) -> str | None:
    """The `output_transfer` a network node's declaration gives (its default when absent)."""
    decl, kind = ctx.nodes.get(node), ctx.kinds.get(node)
    if decl is None or kind is None or kind.family != "network" or kind.param("output_transfer") is None:
        return None
    given = next((kw.value for kw in decl.params if kw.name == "output_transfer"), None)
    if given is None:
        return str(kind.param("output_transfer").default)
    return given.value if isinstance(given, A.String) else None


def check_probability_readouts(ctx: Any) -> list[Diagnostic]:
    """A warning where `categorical_cross_entropy` reads a softmax readout as logits, or another
    readout as probabilities."""
    out: list[Diagnostic] = []
    for block in ctx.mf.losses:
        for term in block.terms:
            call = getattr(term, "call", None)
            if not isinstance(call, A.Call) or call.name != TERM:
                continue
            signal, logits = _argument(call, "signal"), _argument(call, "logits")
            if not (isinstance(signal, A.Ref) and len(signal.parts) == 2 and signal.parts[1] == "output"):
                continue
            net = signal.parts[0]
            transfer = _output_transfer(ctx, net)
            if transfer is None or (logits is not None and not isinstance(logits, A.Bool)):
                continue
            as_logits = logits.value if isinstance(logits, A.Bool) else True
            where = logits.span if logits is not None else call.name_span
            if transfer == "softmax" and as_logits:
                out.append(Diagnostic(
                    f"`{signal.dotted}` is a softmax readout (probabilities), but `{TERM}` reads it as logits"
                    + ("" if logits is not None else " (its default, `logits = true`)"), where,
                    hint="write `logits = false`; or keep `logits = true` with `output_transfer = \"identity\"`",
                    severity="warning"))
            elif transfer != "softmax" and not as_logits:
                what = "a linear readout (logits)" if transfer == "identity" else f"a `{transfer}` readout"
                out.append(Diagnostic(
                    f"`{signal.dotted}` is {what}, not probabilities over its channels, but `{TERM}` reads it "
                    "with `logits = false`", where,
                    hint=f"write `logits = true` with a linear readout, or give `{net}` `output_transfer = \"softmax\"`",
                    severity="warning"))
    return out


__all__ = ["check_probability_readouts"]
