"""The language reference (docs/reference.md), generated from the node library, the vocabulary
and the schema so it always says what the checker accepts.
`python -m rnnlang.dsl.reference > docs/reference.md`."""

from __future__ import annotations

import inspect

from . import schema
from . import tasklang as TL
from .library import REGISTRY
from .values import bound
from .vocab import FAMILIES, TRANSFERS, NodeKind, Param, Port

FAMILY_TITLES = {"network": "Networks", "mechanics": "Mechanics", "channel": "Channels", "task": "Tasks",
                 "intervention": "Interventions"}


def _default(p: Param) -> str:
    if p.required:
        return "required"
    d = p.default
    if isinstance(d, dict) and "name" in d:
        args = ", ".join([str(a) for a in d.get("args", [])] + [f"{k} = {v}" for k, v in d.get("kwargs", {}).items()])
        return f"`{d['name']}({args})`"
    if isinstance(d, str):
        return f'`"{d}"`'
    if d is None:
        return "none"
    if isinstance(d, bool):
        return f"`{str(d).lower()}`"
    return f"`{d}`"


def _range(p: Param) -> str:
    parts = []
    if p.low is not None:
        parts.append(f"{'>' if p.low_open else '>='} {bound(p.low)}")
    if p.high is not None:
        parts.append(f"{'<' if p.high_open else '<='} {bound(p.high)}")
    if p.choices:
        parts.append("one of " + ", ".join(f"`{c}`" for c in p.choices))
    if p.per_trial:
        parts.append("may be drawn per trial")
    return "; ".join(parts)


def _params_table(params: tuple[Param, ...]) -> list[str]:
    rows = ["| parameter | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for p in params:
        rows.append(f"| `{p.name}` | {p.type} | {_default(p)} | {_range(p)} | {p.doc.replace('|', '/')} |")
    return rows


def _size(port: Port) -> str:
    if port.size is None:
        return "what arrives"
    if isinstance(port.size, int):
        return str(port.size)
    if isinstance(port.size, str):
        return f"`{port.size}`"
    return "inferred"


def _ports_table(ports: tuple[Port, ...]) -> list[str]:
    rows = ["| port | direction | size | combines / timing | fields | meaning |", "| --- | --- | --- | --- | --- | --- |"]
    for p in ports:
        how = p.combine if p.direction == "in" else (p.timing if isinstance(p.timing, str) else "state if delayed, else feedthrough")
        if p.role == "init":
            how += ", initial value"
        fields = ", ".join(f"`{k}`" for k in p.fields) or ""
        rows.append(f"| `{p.name}` | {p.direction} | {_size(p)} | {how} | {fields} | {p.doc.replace('|', '/')} |")
    return rows


def _checks(k: NodeKind) -> list[str]:
    """The kind's own checks, in the words of their docstrings."""
    docs = [inspect.getdoc(fn) for fn in (k.validate, k.check_sizes) if fn is not None]
    return ["Also checked: " + " ".join(d.replace("\n", " ") for d in docs if d), ""] if any(docs) else []


def kind_section(k: NodeKind) -> list[str]:
    """A node kind's section of the reference (title, description, parameters, ports, sites):
    also what an editor shows when hovering over the kind."""
    out = [f"### `{k.name}`", "", (k.doc or "").strip(), ""]
    if k.specialise is not None and not k.params:  # ports and parameters come from the body
        return out + ["Its channels, trial variables and epochs are written in the file: see [tasks.md](tasks.md).", ""]
    if k.specialise is not None:  # a task of the standard library
        out += [f"Written in the language: `dsl/stdlib/{k.name}.rnn` (see [tasks.md](tasks.md)). Its trial "
                "variables are parameters too (unset: drawn as declared); port sizes follow the parameters.", ""]
    if k.applies_to:
        out += ["Placed at ports or sites tagged: " + ", ".join(f"`{t}`" for t in k.applies_to), ""]
    out += _params_table(k.params) + [""] + _checks(k)
    if "plant" in k.roles:
        out += ["A plant: reach tasks score its effector and the reach figures draw it.", ""]
    if k.ports:
        out += _ports_table(k.ports) + [""]
    if k.sites:
        out += ["Internal sites: " + ", ".join(f"`{s.name}` ({s.doc or ', '.join(s.tags)})" for s in k.sites), ""]
    return out


def describe_param(p: Param) -> str:
    """One parameter or setting in a line of Markdown: type, default, allowed values, meaning."""
    allowed = _range(p)
    return f"`{p.name}`: {p.type}, default {_default(p)}" + (f"; {allowed}" if allowed else "") + (f". {p.doc}" if p.doc else "")


def describe_port(p: Port) -> str:
    """One port in a line of Markdown, as the reference's ports table says it."""
    how = p.combine if p.direction == "in" else (p.timing if isinstance(p.timing, str) else "state if delayed, else feedthrough")
    fields = ", ".join(f"`{k}` [{a}:{b}]" for k, (a, b) in p.fields.items())
    return (f"port `{p.name}` ({p.direction}put, size {_size(p)}, {how})" + (f"; fields {fields}" if fields else "")
            + (f". {p.doc}" if p.doc else ""))


def render() -> str:
    out = ["# rnnlang reference", "",
           "Generated from the node registry and the schema (`python -m rnnlang.dsl.reference`); what is",
           "written here is exactly what `rnn check` accepts.", ""]
    out += ["## The model block", ""] + _params_table(schema.MODEL_SETTINGS) + [""]
    for family in FAMILIES:
        kinds = sorted((k for k in REGISTRY.values() if k.family == family), key=lambda k: k.name)
        if not kinds:
            continue
        out += [f"## {FAMILY_TITLES[family]}", ""]
        for k in kinds:
            out += kind_section(k)
    out += ["## Transfer functions", "", "Names a network's `transfer`, `output_transfer` and `hidden_transfer` accept; `softmax`, over a step's "
            "output channels, is an `output_transfer` only.", "",
            "| name | f(x) |", "| --- | --- |"]
    out += [f"| `{name}` | {formula} |" for name, formula in TRANSFERS.items()] + [""]
    out += ["## Loss terms", "", "`loss { NAME = [WEIGHT *] TERM(args) ... }`; signals are `node.port` or `node.port.field`.", ""]
    out += ["Each formula uses x for the signal, y for the target (0 when absent), m for the mask (1 when",
            "absent), b = 1..B trials, t = 1..T steps, k = 1..n components.", ""]
    out += ["A term may also be any expression over signals, parameter tensors (`net.W_rec`), the task's trial",
            "variables (`task.coherence`) and time, reduced to one number per trial and averaged over trials:",
            "`late = mean((net.output - task.target)^2, during = respond)`. [losses.md](losses.md) teaches them and",
            "gives each built-in term as the expression it equals. Functions of expressions besides those of",
            "[tasks.md](tasks.md#expressions):", "", "| call | value |", "| --- | --- |"]
    out += [f"| `{name}` | {desc} |" for name, (_, _, desc) in {**TL.CROSSINGS, **{k: TL.FUNCTIONS[k] for k in TL.REDUCTIONS
                                                                                if k in TL.FUNCTIONS}}.items()] + [""]
    for name, term in schema.LOSS_TERMS.items():
        out += [f"### `{name}`", "", term.formula, ""] + _params_table(term.params) + [""]
    out += ["## The train block", ""] + _params_table(schema.TRAIN_SETTINGS) + [""]
    out += [f"`{schema.TRAIN_MASK_PREFIX}.NODE.PARAM = matrix` sets a per-element gradient mask (1 trains, 0 frozen).", ""]
    out += ["`until CONDITION` in the train block is the stop rule: training stops at the first validation where the",
            "condition holds. A condition is an expression over `accuracy`, `loss`, each loss term and task metric by",
            "name (means over the validation trials and replicates) and `batch` (see [training.md](training.md)).", ""]
    out += ["### Curriculum stages", "", "`stage NAME { task.PARAM = value ... }` overrides the task's parameters while the stage lasts;",
            "`SITE.PARAM = value` sets a site's per-trial parameter in both phases, `SITE.train.PARAM` or",
            "`SITE.validate.PARAM` in one (see [interventions.md](interventions.md)); `TASKNODE = TASK(args)` trains and",
            "validates on another task with the same port sizes; `until CONDITION` ends the stage (see",
            "[training.md](training.md)).", ""]
    out += _params_table(schema.STAGE_SETTINGS) + [""]
    out += ["## Distributions (values drawn per trial)", "", "| call | meaning |", "| --- | --- |"]
    out += [f"| `{name}` | {desc} |" for name, (_, _, desc) in schema.DISTRIBUTIONS.items()] + [""]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
