"""Signature of the `task` kind: a task declared in the .rnn file itself, `node NAME = task { ... }`
(the language: docs/tasks.md; its checks and checked description: `rnnlang.dsl.tasklang`).

Its ports come from its body, named like the built-in cognitive tasks' so that a model can swap
one for the other without changing edges or the loss: input, target, mask (outputs) and response
(input). Each trial variable is also a parameter of the node, unset by default: a stage's
`task.coherence = 0.7` (or `--set task.coherence=0.7`) fixes it in every trial.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.vocab import NodeKind, Param, Port

OVERRIDE_DOC = "trial variable: a number or list fixes it in every trial; a distribution redraws it"


def _fields(groups: list[TL.Channel]) -> dict[str, tuple[int, int]]:
    return {c.name: (c.lo, c.hi) for c in groups}


def task_ports(body: Any) -> tuple[Port, ...]:
    """The ports of a declared task, sized by the channels its body lists."""
    ins, outs = TL.channel_layout(body)
    n_in, n_out = (ins[-1].hi if ins else 0), (outs[-1].hi if outs else 0)
    fin, fout = _fields(ins), _fields(outs)
    return (
        Port("input", "out", n_in, timing="state", fields=fin, doc="the input channels, with noise"),
        Port("target", "out", n_out, timing="state", fields=fout, doc="the target of the output channels"),
        Port("mask", "out", n_out, timing="state", fields=fout, doc="the loss mask (1 where scored)"),
        Port("response", "in", n_out, combine="single", fields=fout, doc="the network's output, for the accuracy rule"),
    )


def _specialise(kind: NodeKind, params: Mapping[str, Any]) -> NodeKind:
    body = params.get("body")
    if not isinstance(body, TL.TaskBody):
        return kind
    variables = tuple(Param(n, "value", None, OVERRIDE_DOC, per_trial=True) for n in TL.variable_names(body))
    return dataclasses.replace(kind, params=variables, ports=task_ports(body), specialise=None)


TASK = NodeKind(
    "task", "task", (), ports=(),
    doc="a task declared in the file: `node NAME = task { inputs = [...] outputs = [...] ... }` (docs/tasks.md)",
    specialise=_specialise,
)

KINDS = (TASK,)
