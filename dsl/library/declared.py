"""Signatures of the tasks written in the language: the `task` kind (an inline body,
`node t = task { ... }`, or `node t = NAME(...)` of a `task NAME(params) { ... }` the model's file
declares) and one kind per task of the standard library (`node t = perceptual_discrimination(...)`,
the library's declaration bound to its own kind). The language: docs/tasks.md; the checks and the
checked description: `rnnlang.dsl.tasklang`; the library: dsl/stdlib/*.rnn.

Its ports come from its body. `inputs` and `outputs` give the cognitive tasks' ports, so that a
model can swap one task for another without changing edges or the loss:
  input (out)     the input channels, in the order `inputs` lists them (each group a field);
  target (out)    the target of the output channels (each output group a field);
  mask (out)      the loss mask, one per output channel;
  response (in)   the network's output, for the accuracy rule.
`signal`, `init` and `input` statements declare other ports (a reach's target, its start state,
the effector it scores). A declaration's parameters, and each trial variable, are parameters of
the node: a stage's `task.coherences = [0.7]` replaces a parameter (a constant of the stage's
program), `task.coherence = 0.7` fixes a variable in every trial, and
`task.coherence = choice(0.5, 0.7)` redraws it from another distribution.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from rnnlang.dsl import stdlib
from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.vocab import NodeKind, Param, Port

OVERRIDE_DOC = "trial variable: a number or list fixes it in every trial; a distribution redraws it"


# ---- the kind as one node has it -------------------------------------------------------------

PORT_DOCS = {
    "input": "the input channels, with noise",
    "target": "the target of the output channels",
    "mask": "the loss mask (1 where scored)",
    "response": "the network's output, for the accuracy rule",
}
KIND_DOCS = {"signal": "per-step values the task sets in its epochs", "init": "a per-trial initial value",
             "input": "what the task receives, for its metrics"}


def _fields(groups: Any) -> dict[str, tuple[int, int]]:
    return {c.name: (c.lo, c.hi) for c in groups}


def task_ports(body: Any, params: Mapping[str, Any] | None = None) -> tuple[Port, ...]:
    """The ports of a declared task, sized by the channels its body lists (with the values of
    its parameters): `input`, `target`, `mask`, `response` from `inputs` and `outputs`, then the
    ports it declares (`signal`, `init`, `input`)."""
    out = []
    for p in TL.port_layout(body, params):
        doc = PORT_DOCS.get(p.name, KIND_DOCS[p.kind]) if p.name in TL.GENERATED_PORTS else KIND_DOCS[p.kind]
        if p.kind == "input":
            out.append(Port(p.name, "in", p.size, combine="single", fields=_fields(p.channels), doc=doc))
        else:
            out.append(Port(p.name, "out", p.size, timing="state", role="init" if p.kind == "init" else "signal",
                            fields=_fields(p.channels), doc=doc))
    return tuple(out)


def _variable_params(body: Any, taken: tuple[str, ...] = ()) -> tuple[Param, ...]:
    return tuple(Param(n, "value", None, OVERRIDE_DOC, per_trial=True) for n in TL.variable_names(body, taken))


def _declared_params(d: TL.TaskDef) -> tuple[Param, ...]:
    out = []
    for p in d.params:
        default, why = TL.default_value(p)
        if why is None:
            out.append(Param(p.name, TL.param_kind(default), default, p.doc or "a parameter of the task"))
    return tuple(out)


def _values(d: TL.TaskDef, params: Mapping[str, Any]) -> dict[str, Any]:
    """A declaration's parameter values from a node's (unchecked) parameters; the defaults
    where a value is not one (the checker reports it)."""
    given = {p.name: params[p.name] for p in d.params if params.get(p.name) is not None}
    try:
        values, problems = TL.instance_values(d, given)
    except (TypeError, ValueError):
        return TL.instance_values(d)[0]
    return values


def declaration_kind(d: TL.TaskDef, name: str | None = None) -> NodeKind:
    """The node kind of a task declaration: its parameters and trial variables as parameters,
    its ports (with the defaults' sizes; a node's own values give its own)."""
    declared = _declared_params(d)
    params = declared + _variable_params(d.body, tuple(p.name for p in declared))

    def specialise(kind: NodeKind, node_params: Mapping[str, Any]) -> NodeKind:
        ports = task_ports(d.body, _values(d, node_params))
        if [p.name for p in ports] != [p.name for p in kind.ports]:  # values the checker refuses: keep the ports
            ports = kind.ports
        return dataclasses.replace(kind, ports=ports, specialise=None)

    return NodeKind(name or d.name, "task", params, ports=task_ports(d.body, _values(d, {})),
                    doc=d.doc or f"the task `{d.name}` (declared in the language)", specialise=specialise)


def _specialise(kind: NodeKind, params: Mapping[str, Any]) -> NodeKind:
    decl = params.get("decl")
    if isinstance(decl, TL.TaskDef):  # `node t = NAME(...)` of a task the model's file declares
        return declaration_kind(decl).for_node(params)
    body = params.get("body")
    if not isinstance(body, TL.TaskBody):
        return kind
    return dataclasses.replace(kind, params=_variable_params(body), ports=task_ports(body), specialise=None)


TASK = NodeKind(
    "task", "task", (), ports=(),
    doc="a task declared in the file: `node NAME = task { inputs = [...] outputs = [...] ... }`, or "
        "`node NAME = TASK(...)` of a `task TASK(params) { ... }` the file declares (docs/tasks.md)",
    specialise=_specialise,
)

KINDS = (TASK, *(declaration_kind(d) for d in stdlib.declarations().values()))
