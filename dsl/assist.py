"""The file as an editor sees it and what its names mean: the ground that hover (`dsl.hover`)
and completion (`dsl.completion`) share.

A `Context` holds the text being edited with the last version of it that parsed and the last
that checked (a file being typed rarely parses). The lookups read the one registry that
docs/reference.md is generated from (`dsl.library.REGISTRY`, `dsl.schema`, the task language's
tables, `dsl.reference`), so an editor says exactly what the checker accepts. Plain front end:
no JAX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import ast as A
from . import schema
from . import tasklang as TL
from .library import REGISTRY
from .model import CheckedModel
from .reference import describe_param, describe_port, kind_section
from .vocab import NodeKind, Param


@dataclass
class Context:
    """What the editor knows of a file: its text, the last version that parsed and the last that
    checked (either may be older than the text, or None)."""

    text: str
    parsed: A.ModelFile | None = None
    checked: CheckedModel | None = None


# ---- the text, token by token ---------------------------------------------------------------


TOKEN = re.compile(r'(?P<comment>#[^\n]*|//[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*"?)|(?P<name>[A-Za-z_]\w*)'
                    r'|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op>->|[<>=!]=|\S)')


def tokens(text: str) -> list[tuple[str, str, int, int]]:
    """(type, text, start, end) of every token but comments and white space."""
    return [(m.lastgroup, m.group(), m.start(), m.end()) for m in TOKEN.finditer(text) if m.lastgroup != "comment"]


def code_only(text: str) -> str:
    """The text with comments and strings blanked (same length), for scanning declarations."""
    return TOKEN.sub(lambda m: " " * len(m.group()) if m.lastgroup in ("comment", "string") else m.group(), text)


# ---- what a name means -------------------------------------------------------------------------


def node_kinds(ctx: Context) -> dict[str, str]:
    """Each declared node's kind name, from the text itself (the current text may not parse)."""
    out = {m.group(1): m.group(2) for m in re.finditer(r"\bnode\s+([A-Za-z_]\w*)\s*=\s*([A-Za-z_]\w*)", code_only(ctx.text))}
    if ctx.parsed is not None:
        for n in ctx.parsed.nodes:
            out.setdefault(n.name, n.kind)
    return out


def kind_of_node(ctx: Context, name: str) -> NodeKind | None:
    """The kind of node `name` as that node has it (a task's ports follow its parameters)."""
    if ctx.checked is not None and name in ctx.checked.plan.kinds:
        return ctx.checked.plan.kinds[name]
    kind = REGISTRY.get(node_kinds(ctx).get(name, ""))
    if kind is not None and kind.specialise is not None:
        try:
            return kind.for_node({})
        except Exception:  # a kind whose ports need its parameters: the plain signature
            return kind
    return kind


def task_defs(ctx: Context) -> dict[str, Any]:
    return {t.name: t for t in ctx.parsed.tasks} if ctx.parsed is not None else {}


def call_doc(name: str, ctx: Context | None = None) -> str | None:
    """What a call (or a function of an expression) named `name` is."""
    if name in schema.DISTRIBUTIONS:
        return f"distribution `{name}` (drawn per trial): {schema.DISTRIBUTIONS[name][2]}"
    if name in schema.LOSS_TERMS:
        term = schema.LOSS_TERMS[name]
        return "\n\n".join([f"loss term `{name}`", term.formula] + ["- " + describe_param(p) for p in term.params])
    for table, what in ((TL.FUNCTIONS, "function"), (TL.CROSSINGS, "crossing"), (TL.METRIC_FUNCTIONS, "function"),
                        (TL.ACCURACY_FUNCTIONS, "accuracy rule")):
        if name in table:
            return f"{what} `{name}`: {table[name][2]}"
    if name in schema.CLIP_KINDS:
        return f"gradient clipping `{name}(x)`: " + (schema.param_named(schema.TRAIN_SETTINGS, "clip").doc or "")
    if name in REGISTRY:
        return "\n".join(kind_section(REGISTRY[name]))
    if ctx is not None and name in task_defs(ctx):
        return task_def_doc(task_defs(ctx)[name])
    return None


def task_def_doc(t: Any) -> str:
    lines = [f"task `{t.name}` (declared in this file)"] + ([t.doc] if t.doc else [])
    lines += [f"- `{p.name}` = `{default_text(p)}`" + (f": {p.doc}" if p.doc else "") for p in t.params]
    return "\n\n".join(lines)


def default_text(p: Any) -> str:
    default = p.default
    return str(getattr(default, "value", getattr(default, "name", "...")))


def param_doc(p: Param | None, owner: str) -> str | None:
    return f"parameter of `{owner}`: " + describe_param(p) if p is not None else None


def port_doc(kind: NodeKind | None, node: str, port: str) -> str | None:
    if kind is None:
        return None
    p = kind.port(port)
    if p is not None:
        return f"`{node}.{port}`: " + describe_port(p)
    site = kind.site(port)
    return f"`{node}.{port}`: internal site of `{kind.name}` ({site.doc or ', '.join(site.tags)})" if site is not None else None


def field_doc(kind: NodeKind | None, node: str, port: str, field: str) -> str | None:
    p = kind.port(port) if kind is not None else None
    if p is None or field not in p.fields:
        return None
    a, b = p.fields[field]
    return f"`{node}.{port}.{field}`: components {a} to {b - 1} of `{port}` ({describe_port(p)})"


__all__ = ["Context", "TOKEN", "tokens", "code_only", "node_kinds", "kind_of_node", "task_defs", "call_doc", "task_def_doc",
           "default_text", "param_doc", "port_doc", "field_doc"]
