"""Curriculum stages that switch task: `stage pretrain { task = perceptual_discrimination(coherences = [0.7]) }`.

The key is the task node's name (or `task`), the value a call of a task of the standard library
or of a task the file declares. While the stage lasts, its trials, its validation set and its
metrics come from that task; the network, the edges and the loss stay as they are, so the new
task must have the task node's ports with the same sizes (a port that differs is an error at the
call, naming the port). Training compiles one program per distinct task.

The checks here are the front end's (no JAX); `checks.resolve_stages` turns a checked switch into
a `ResolvedNode` the compiler builds like the task node itself."""

from __future__ import annotations

from typing import Any

from . import ast as A
from . import stdlib as library
from . import tasklang as T
from .errors import Diagnostic, choices_hint
from .tasks import _relocated, declaration_for, file_declarations
from .vocab import NodeKind, resolve_size

Diags = list[Diagnostic]


def _err(message: str, span: A.Span | None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(message, span, hint)


def is_switch(ctx: Any, s: A.Setting) -> bool:
    """Whether a stage setting is `TASKNODE = ...` (or `task = ...`)."""
    task = ctx.task_node
    return task is not None and len(s.key) == 1 and s.key[0] in ("task", task)


def switch_of(ctx: Any, stage: A.Stage) -> A.Setting | None:
    """The stage's switch of task, if it has one (the first; a second is a duplicate setting)."""
    return next((s for s in stage.settings if is_switch(ctx, s)), None)


def task_names(mf: A.ModelFile) -> list[str]:
    """The tasks a stage may switch to: the file's own declarations and the library's."""
    return sorted(set(file_declarations(mf)) | set(library.declarations()))


def switch_kind(ctx: Any, call: A.Call) -> tuple[NodeKind | None, str]:
    """The node kind of `NAME(args)` (specialised to its arguments) and the kind name a
    `ResolvedNode` carries ("task" for a task the file declares, as `resolve_nodes` does)."""
    own = file_declarations(ctx.mf)
    tolerant = {kw.name: A.to_python(kw.value) for kw in call.kwargs}
    if call.name in own and "task" in ctx.registry:
        return ctx.registry["task"].for_node({"decl": own[call.name], **tolerant}), "task"
    kind = ctx.registry.get(call.name)
    if kind is None or kind.family != "task":
        return None, call.name
    return kind.for_node(tolerant), call.name


def check_switch(ctx: Any, s: A.Setting) -> Diags:
    """One stage's `task = NAME(args)`: a known task, its arguments, its declaration's checks with
    these values, and the task node's ports with the same sizes."""
    task = ctx.task_node
    call = s.value
    if not isinstance(call, A.Call):
        return [_err(f"a stage switches the task with a call of a task, e.g. `{s.dotted} = perceptual_discrimination(coherences = [0.7])`",
                     s.value.span, hint="a task's parameter is set with `task.PARAM = value`")]
    d = declaration_for(ctx.mf, call.name)
    kind, _ = switch_kind(ctx, call)
    if d is None or kind is None:
        return [_err(f"unknown task `{call.name}`", call.name_span, choices_hint(call.name, task_names(ctx.mf), "tasks"))]
    if call.args:
        return [_err(f"give the arguments of `{call.name}` by name", call.args[0].span,
                     hint=f"its parameters: {', '.join(f'`{p.name}`' for p in kind.params)}")]
    diags: Diags = []
    given: dict[str, Any] = {}
    spans: dict[str, A.Span] = {}
    declared = {p.name for p in d.params}
    for kw in call.kwargs:
        p = kind.param(kw.name)
        if p is None:
            diags.append(_err(f"the task `{call.name}` has no parameter `{kw.name}`", kw.name_span,
                              choices_hint(kw.name, [q.name for q in kind.params], "its parameters")))
            continue
        value, d2 = ctx.conv.convert(kw.value, p, kw.name)
        diags += d2
        if not d2 and kw.name in declared:
            given[kw.name], spans[kw.name] = value, kw.value.span
    if diags:
        return diags
    values, problems = T.instance_values(d, given)
    if problems:
        return [_err(f"`{name}`: {why}", spans.get(name, call.span)) for name, why in problems.items()]
    dt, steps = T.model_timing(ctx.mf)
    use = T.Use(d.name, call.name_span, spans)
    diags += _relocated(T.analyse(d.body, d.name_span, dt, steps, params=values, use=use)[1], call.name_span, d.name)
    if diags:
        return diags
    return _port_diags(ctx.kinds[task], kind, task, call)


def _size(port: Any, params: dict) -> Any:
    try:
        return resolve_size(port.size, params, {}) if port.size is not None else None
    except Exception:  # noqa: BLE001 - a size the kind leaves to the edges
        return port.size


def _port_diags(node_kind: NodeKind, kind: NodeKind, task: str, call: A.Call) -> Diags:
    """Each port of the task node, present in the new task with the same direction, role and size."""
    diags = []
    for p in node_kind.ports:
        q = kind.port(p.name)
        if q is None:
            diags.append(_err(f"`{call.name}` has no port `{p.name}`, which the task node `{task}` has", call.name_span,
                              hint="a stage switches to a task with the same ports: the network, edges and loss stay"))
            continue
        a, b = _size(p, {}), _size(q, {})
        if q.direction != p.direction or q.role != p.role:
            diags.append(_err(f"the port `{p.name}` of `{call.name}` is not the same kind of port as the task node `{task}`'s",
                              call.name_span))
        elif a != b:
            diags.append(_err(f"the port `{p.name}` differs: `{call.name}` gives it {b} channel{'s' if b != 1 else ''}, "
                              f"the task node `{task}` has {a}", call.name_span,
                              hint="a stage switches to a task with the same port sizes: the network, edges and loss stay"))
    return diags


def check_stage_tasks(ctx: Any) -> Diags:
    """Every stage's switch of task, and `task.PARAM` settings next to one (refused: the
    parameters of the task switched to are given in its call)."""
    diags: Diags = []
    for block in ctx.mf.trains:
        for stage in block.stages:
            s = switch_of(ctx, stage)
            if s is None:
                continue
            diags += check_switch(ctx, s)
            for other in stage.settings:
                if len(other.key) == 2 and other.key[0] in ("task", ctx.task_node):
                    name = s.value.name if isinstance(s.value, A.Call) else "the task"
                    diags.append(_err(f"this stage switches to `{name}`; give its parameters in the call", other.key_span,
                                      hint=f"e.g. `{s.dotted} = {name}({other.key[1]} = ...)`"))
    return diags


def stage_task_body(ctx: Any, stage: A.Stage) -> tuple[Any, str] | None:
    """The body and name of the task a stage trains on: its switch's, else the task node's; None
    when there is no task."""
    s = switch_of(ctx, stage)
    if s is not None and isinstance(s.value, A.Call):
        d = declaration_for(ctx.mf, s.value.name)
        return (d.body, d.name) if d is not None else None
    return node_task_body(ctx)


def node_task_body(ctx: Any) -> tuple[Any, str] | None:
    """The body and name of the task node's task."""
    task = ctx.task_node
    if task is None:
        return None
    decl = ctx.nodes[task]
    if decl.body is not None:
        return decl.body, task
    d = declaration_for(ctx.mf, decl.kind)
    return (d.body, d.name) if d is not None else None


__all__ = ["check_stage_tasks", "is_switch", "switch_of", "switch_kind", "stage_task_body", "node_task_body"]
