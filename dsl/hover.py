"""Hover: the documentation of what is under the cursor, in Markdown: a kind's section of the
reference, a parameter, port, field, setting, distribution, loss term or function, and the
file's own nodes, sites, task parameters, variables and epochs. Reads the last version of the
file that parsed (`dsl.assist.Context`). Plain front end: no JAX.
"""

from __future__ import annotations

from typing import Any

from . import ast as A
from . import schema
from . import tasklang as TL
from .assist import Context, call_doc, field_doc, kind_of_node, node_kinds, param_doc, port_doc, task_defs
from .library import REGISTRY
from .reference import describe_param, describe_port, kind_section
from .symbols import Occurrence, SymbolIndex, build_index, contains, element_path, part_spans


def _symbol_doc(ctx: Context, occ: Occurrence, index: SymbolIndex) -> str:
    sym = occ.symbol
    mf = ctx.parsed
    if sym.kind == "node":
        decl = next(n for n in mf.nodes if n.name == sym.name)
        kind = kind_of_node(ctx, sym.name)
        head = f"node `{sym.name}` = `{decl.kind}`" + (f" ({kind.family})" if kind is not None else "")
        doc = (kind.doc or "").strip().split("\n\n")[0] if kind is not None else ""
        ports = "\n".join(f"- {describe_port(p)}" for p in kind.ports) if kind is not None else ""
        return "\n\n".join(x for x in (head, doc, ports) if x)
    if sym.kind == "site":
        decl = next(s for s in mf.sites if s.name == sym.name)
        kind = REGISTRY.get(decl.kind)
        head = f"site `{sym.name}` at `{decl.target}`: intervention `{decl.kind}`"
        return "\n\n".join(x for x in (head, (kind.doc or "").strip().split("\n\n")[0] if kind else "") if x)
    definition = index.definition(sym)
    lines = ctx.text.splitlines()
    where = lines[definition.span.line - 1].strip() if definition is not None and definition.span.line <= len(lines) else ""
    owner = sym.scope.split(" ", 1)[1]
    return f"{sym.kind} `{sym.name}` of task `{owner}`" + (f"\n\n```rnn\n{where}\n```" if where else "")


def hover(ctx: Context, line: int, col: int) -> tuple[str, A.Span] | None:
    """Markdown about what is at (line, col) (1-based, as spans count) and the span it covers."""
    mf = ctx.parsed
    if mf is None:
        return None
    index = build_index(mf)
    occ = index.at(line, col)
    path = element_path(mf, line, col)
    for i in range(len(path) - 1, -1, -1):
        found = _hover_element(ctx, path[i], path[:i], line, col)
        if found is not None:
            if occ is not None and _inside(occ.span, found[1]):
                break  # a name inside the element: the name says more
            return found
    if occ is not None:
        return _symbol_doc(ctx, occ, index), occ.span
    return None


def _inside(inner: A.Span, outer: A.Span) -> bool:
    return (outer.line, outer.col) <= (inner.line, inner.col) and (inner.end_line, inner.end_col) <= (outer.end_line, outer.end_col)


def _hover_element(ctx: Context, el: Any, parents: list[Any], line: int, col: int) -> tuple[str, A.Span] | None:
    def at(span: A.Span | None) -> bool:
        return span is not None and contains(span, line, col)

    parent = parents[-1] if parents else None
    if isinstance(el, A.NodeDecl) and at(el.kind_span):
        doc = call_doc(el.kind, ctx) if el.body is None else "a task declared here: its body lists channels, variables and epochs"
        return (doc, el.kind_span) if doc else None
    if isinstance(el, A.SiteDecl) and at(el.kind_span):
        return ("\n".join(kind_section(REGISTRY[el.kind])), el.kind_span) if el.kind in REGISTRY else None
    if isinstance(el, A.Keyword) and at(el.name_span):
        owner = parent
        doc = None
        if isinstance(owner, A.NodeDecl):
            kind = kind_of_node(ctx, owner.name)
            doc = param_doc(kind.param(el.name), kind.name) if kind is not None else None
        elif isinstance(owner, A.SiteDecl) and owner.kind in REGISTRY:
            doc = param_doc(REGISTRY[owner.kind].param(el.name), owner.kind)
        elif isinstance(owner, A.Call) and owner.name in schema.LOSS_TERMS:
            doc = param_doc(schema.LOSS_TERMS[owner.name].param(el.name), owner.name)
        elif isinstance(owner, A.Call) and owner.name in REGISTRY:
            doc = param_doc(REGISTRY[owner.name].param(el.name), owner.name)
        return (doc, el.name_span) if doc else None
    if isinstance(el, A.PortRef):
        kind = kind_of_node(ctx, el.node)
        if at(el.port_span):
            doc = port_doc(kind, el.node, el.port)
            return (doc, el.port_span) if doc else None
        if el.field is not None and at(el.field_span):
            doc = field_doc(kind, el.node, el.port, el.field)
            return (doc, el.field_span) if doc else None
    if isinstance(el, A.Ref) and el.parts[0] in node_kinds(ctx) and len(el.parts) >= 2:
        spans = part_spans(ctx.text.splitlines(), el.span, el.parts)
        kind = kind_of_node(ctx, el.parts[0])
        if at(spans[1]):
            doc = port_doc(kind, el.parts[0], el.parts[1])
            return (doc, spans[1]) if doc else None
        if len(el.parts) == 3 and at(spans[2]):
            doc = field_doc(kind, *el.parts)
            return (doc, spans[2]) if doc else None
    if isinstance(el, (A.Call, TL.Func)) and at(el.name_span):
        doc = call_doc(el.name, ctx)
        return (doc, el.name_span) if doc else None
    if isinstance(el, TL.KwArg) and at(el.name_span) and isinstance(parent, TL.Func) and parent.name in schema.LOSS_TERMS:
        doc = param_doc(schema.LOSS_TERMS[parent.name].param(el.name), parent.name)
        return (doc, el.name_span) if doc else None
    if isinstance(el, TL.Attr) and isinstance(el.base, TL.Name) and el.span.line == el.span.end_line:
        span = A.Span(el.span.file, el.span.line, el.span.end_col - len(el.name), el.span.end_line, el.span.end_col)
        if at(span) and el.base.name in node_kinds(ctx):
            doc = port_doc(kind_of_node(ctx, el.base.name), el.base.name, el.name)
            return (doc, span) if doc else None
    if isinstance(el, A.Setting) and at(el.key_span):
        doc = _setting_doc(ctx, el, parents)
        return (doc, el.key_span) if doc else None
    return None


def _setting_doc(ctx: Context, setting: A.Setting, parents: list[Any]) -> str | None:
    block = next((p for p in reversed(parents) if isinstance(p, (A.ModelBlock, A.TrainBlock, A.Stage, A.Schedule))), None)
    key = setting.key
    if isinstance(block, A.ModelBlock):
        p = schema.param_named(schema.MODEL_SETTINGS, setting.dotted)
        return "model setting " + describe_param(p) if p else None
    if isinstance(block, A.Schedule):
        site = next((p for p in reversed(parents) if isinstance(p, A.SiteDecl)), None)
        kind = REGISTRY.get(site.kind) if site is not None else None
        return param_doc(kind.param(setting.dotted), kind.name) if kind is not None else None
    if isinstance(block, A.Stage):
        p = schema.param_named(schema.STAGE_SETTINGS, setting.dotted)
        if p is not None:
            return "stage setting " + describe_param(p)
    if isinstance(block, A.TrainBlock):
        p = schema.param_named(schema.TRAIN_SETTINGS, setting.dotted)
        if p is not None:
            return "train setting " + describe_param(p)
        if key[0] == schema.TRAIN_MASK_PREFIX:
            return f"`{schema.TRAIN_MASK_PREFIX}.NODE.PARAM = matrix`: a per-element gradient mask (1 trains, 0 frozen)"
    if len(key) >= 2 and isinstance(block, A.Stage):  # task.PARAM or SITE.PARAM overrides
        kind = kind_of_node(ctx, key[0])
        if kind is None and ctx.parsed is not None:
            site = next((s for s in ctx.parsed.sites if s.name == key[0]), None)
            kind = REGISTRY.get(site.kind) if site is not None else None
        if kind is not None:
            return "in this stage: " + (param_doc(kind.param(key[-1]), kind.name) or f"`{setting.dotted}`")
        defs = task_defs(ctx)
        decl = next((n for n in (ctx.parsed.nodes if ctx.parsed else ()) if n.name == key[0]), None)
        if decl is not None and decl.kind in defs:
            p = next((p for p in defs[decl.kind].params if p.name == key[1]), None)
            return f"in this stage: parameter `{key[1]}` of task `{decl.kind}`" + (f": {p.doc}" if p and p.doc else "")
    return None


__all__ = ["hover"]
