"""Declared tasks where a model uses them: the checks `dsl.checks` runs for every task node
whose task is declared in the language (inline `node t = task { ... }`, a declaration in the
model's file, or one of the standard library's), and the lookups that find a declaration.

A problem with a value the user gives (an argument, a `--set`, a stage's `task.PARAM`) is
reported at that value; a problem inside a library declaration, which only odd values can cause,
is reported at the use of the task, naming the library line."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from . import ast as A
from . import stdlib as library
from . import tasklang as T
from .errors import Diagnostic, duplicates

Diags = list[Diagnostic]


def _err(message: str, span: A.Span | None, hint: str | None = None, related: tuple = ()) -> Diagnostic:
    return Diagnostic(message, span, hint, "error", related)


def file_declarations(mf: A.ModelFile) -> dict[str, T.TaskDef]:
    """The tasks the model's own file declares, by name (the first of duplicates)."""
    out: dict[str, T.TaskDef] = {}
    for d in mf.tasks:
        out.setdefault(d.name, d)
    return out


def declaration_for(mf: A.ModelFile, kind: str) -> T.TaskDef | None:
    """The declaration a node of kind `kind` instantiates: the file's own, else the library's."""
    return file_declarations(mf).get(kind) or library.declaration(kind)


def check_declarations(mf: A.ModelFile, registry: Mapping[str, Any]) -> Diags:
    """The file's own task declarations: names free, parameters well formed."""
    diags = duplicates(((d.name, d.name_span) for d in mf.tasks), "task")
    for d in file_declarations(mf).values():
        if d.name in registry or d.name == "task":
            diags.append(_err(f"`{d.name}` is already a node kind" + (" of the standard library" if library.declaration(d.name) else ""),
                              d.name_span, hint="give your task another name"))
        diags += param_diags(d)
    return diags


def param_diags(d: T.TaskDef) -> Diags:
    """A declaration's parameters: unique, not built-in names, defaults that are values."""
    diags = duplicates(((p.name, p.name_span) for p in d.params), "parameter")
    for p in {q.name: q for q in reversed(d.params)}.values():  # the first of each name
        if p.name in T.PARAM_RESERVED:
            diags.append(_err(f"`{p.name}` is a built-in name and cannot name a parameter", p.name_span))
        _, why = T.default_value(p)
        if why is not None:
            diags.append(_err(f"the default of `{p.name}` is not a value: {why}", p.default.span))
    return diags


def _relocated(diags: Diags, use: A.Span, task: str) -> Diags:
    """Diagnostics inside a library file, moved to the use of the task (the user's file)."""
    out = []
    for d in diags:
        if d.span is not None and library.in_library(d.span.file):
            d = dataclasses.replace(d, span=use, message=f"in the standard library's `{task}` ({d.span}): {d.message}",
                                    related=())
        out.append(d)
    return out


def use_values(ctx: Any, decl: A.NodeDecl, d: T.TaskDef, kind: Any) -> tuple[dict[str, Any] | None, dict[str, A.Span], Diags]:
    """The parameter values of a use `node t = NAME(args)` and the spans of the values given;
    None when an argument is not a value of its parameter (reported by `check_params`)."""
    names = {p.name for p in d.params}
    given: dict[str, Any] = {}
    spans: dict[str, A.Span] = {}
    diags: Diags = []
    for kw in decl.params:
        if kw.name not in names:
            continue
        p = kind.param(kw.name)
        if p is None:
            continue
        value, d2 = ctx.conv.convert(kw.value, p, kw.name)
        if d2:
            return None, spans, []
        given[kw.name], spans[kw.name] = value, kw.value.span
    values, problems = T.instance_values(d, given)
    for name, why in problems.items():
        diags.append(_err(f"`{name}`: {why}", spans[name]))
    return (values if not problems else None), spans, diags


def check_task_uses(ctx: Any) -> Diags:
    """Every task node made from a declaration (inline, the file's or the library's), checked
    with its values, and every declaration of the file (with its defaults when unused);
    stage overrides of a declaration's parameters are checked against its requirements."""
    kind = ctx.registry.get("task")
    if kind is None or kind.family != "task":
        return []
    diags = check_declarations(ctx.mf, ctx.registry)
    dt, steps = T.model_timing(ctx.mf)
    used: set[str] = set()
    for decl in ctx.mf.nodes:
        if ctx.nodes.get(decl.name) is not decl:
            continue
        if decl.body is not None:
            diags += T.analyse(decl.body, decl.name_span, dt, steps)[1]
            continue
        d = declaration_for(ctx.mf, decl.kind)
        node_kind = ctx.kinds.get(decl.name)
        if d is None or node_kind is None:
            continue
        used.add(d.name)
        if param_diags(d):  # reported with the declaration
            continue
        values, spans, d2 = use_values(ctx, decl, d, node_kind)
        diags += d2
        if values is None:
            continue
        use = T.Use(d.name, decl.kind_span, spans)
        diags += _relocated(T.analyse(d.body, d.name_span, dt, steps, params=values, use=use)[1], decl.kind_span, d.name)
        diags += _stage_uses(ctx, decl, d, values)
    for d in ctx.mf.tasks:
        if d.name not in used and not param_diags(d):
            diags += T.analyse(d.body, d.name_span, dt, steps, params=T.instance_values(d)[0])[1]
    return diags


def node_spec(ctx: Any, decl: A.NodeDecl) -> T.TaskSpec | None:
    """The checked description of a task node as the checker sees it (its declaration and the
    values written at the node; for what reads its trial variables while the file is checked,
    such as a site's schedule); None when it has errors (reported by `check_task_uses`).
    `task_spec` gives the same for a resolved node, after checking."""
    dt, steps = T.model_timing(ctx.mf)
    if decl.body is not None:
        return T.analyse(decl.body, decl.name_span, dt, steps, sample=False)[0]
    d = declaration_for(ctx.mf, decl.kind)
    kind = ctx.kinds.get(decl.name)
    if d is None or kind is None or param_diags(d):
        return None
    values, _, diags = use_values(ctx, decl, d, kind)
    if values is None or diags:
        return None
    return T.analyse(d.body, d.name_span, dt, steps, sample=False, params=values)[0]


def _stage_uses(ctx: Any, decl: A.NodeDecl, d: T.TaskDef, values: dict[str, Any]) -> Diags:
    """A curriculum stage's `task.PARAM = value` for a declaration's parameters: the task with
    the stage's values meets its requirements (reported at the stage's value)."""
    names = {p.name for p in d.params}
    kind = ctx.kinds[decl.name]
    diags: Diags = []
    for block in ctx.mf.trains:
        for stage in block.stages:
            given, spans = {}, {}
            for s in stage.settings:
                if len(s.key) == 2 and s.key[0] in ("task", decl.name) and s.key[1] in names:
                    value, d2 = ctx.conv.convert(s.value, kind.param(s.key[1]), s.key[1])
                    if d2:
                        break
                    given[s.key[1]], spans[s.key[1]] = value, s.value.span
            else:
                if not given:
                    continue
                merged, problems = T.instance_values(d, {**values, **given})
                for name, why in problems.items():
                    diags.append(_err(f"`{name}`: {why}", spans.get(name, stage.name_span)))
                if problems:
                    continue
                use = T.Use(d.name, stage.name_span, spans)
                diags += _relocated(T.analyse(d.body, d.name_span, None, None, sample=False, params=merged, use=use)[1],
                                    stage.name_span, d.name)
    return diags


def task_spec(mf: A.ModelFile, node: Any, dt: float, steps: int) -> T.TaskSpec | None:
    """The checked description of a model's task node (a resolved node: an inline body, a
    declaration of the file or of the library, with the node's parameter values); None when
    the node is no declared task or it has errors (reported by its own checks)."""
    if node is None:
        return None
    body = node.params.get("body")
    if isinstance(body, T.TaskBody):
        return T.analyse(body, body.span, dt, steps, sample=False)[0]
    d = node.params.get("decl")
    d = d if isinstance(d, T.TaskDef) else declaration_for(mf, node.kind)
    if d is None:
        return None
    given = {p.name: node.params[p.name] for p in d.params if node.params.get(p.name) is not None}
    try:
        values, problems = T.instance_values(d, given)
    except (TypeError, ValueError):
        return None
    if problems:
        return None
    return T.analyse(d.body, d.name_span, dt, steps, sample=False, params=values)[0]


__all__ = ["check_task_uses", "declaration_for", "file_declarations", "node_spec", "task_spec", "use_values"]
