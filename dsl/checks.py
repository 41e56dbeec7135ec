"""Checks a parsed model against the node registry and the schema, and resolves it.

`check(mf)` runs every check below, each a small function `check_*(ctx) -> list[Diagnostic]`.
All errors of a file are raised together as one `ModelError` (sorted by position); warnings
(an unused node) do not fail and land in `CheckedModel.warnings`. When nothing is wrong the
model is resolved: defaults filled in, values converted (see `values.py`), files loaded.

Checks do not cascade: a node of an unknown kind is reported once, and edges, sites and loss
terms that name its ports are not checked further.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import ast as A
from . import lossexpr
from . import schema as S
from . import sitelang
from . import tasks as declared_tasks
from . import conditions, readouts, stagetasks, sweeps, traps
from .errors import Diagnostic, ModelError, choices_hint, duplicates
from .model import CheckedModel, ResolvedNode, ResolvedSite, ResolvedStage, ResolvedTerm, Signal
from .plan import plan_checked
from .values import Converter, describe, fmt
from .vocab import REQUIRED, NodeKind, Param, Port, Site

Diags = list[Diagnostic]
DEFAULT_BATCHES = 1000
# Reserved words a node cannot be called: the parser reads them as keywords where a node name
# would start an edge (model, node, site, loss, train) or a value in the loss (true, false, none).
# `task` and `stage` stay usable: they are keywords only inside a declaration or a train block.
UNUSABLE_NAMES = tuple(w for w in S.RESERVED_WORDS if w not in ("task", "stage"))
SIGNAL_ARGS = ("signal", "target", "mask")
WEIGHTS_ARG = "of"
TAG_WORDS = {"force": "force ports", "signal": "any port", "units": "units (such as `net.hidden`)",
             "weights": "weight matrices (such as `net.W_rec`)"}


def _err(message: str, span: A.Span | None, hint: str | None = None,
         related: tuple[tuple[A.Span, str], ...] = ()) -> Diagnostic:
    return Diagnostic(message, span, hint, "error", related)


def _from(start: A.Span, end: A.Span) -> A.Span:
    """The span from the start of one span to the end of another."""
    return A.Span(start.file, start.line, start.col, end.end_line, end.end_col)


def _names(items: Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in items)


# ---- context ---------------------------------------------------------------------------------


@dataclass
class Context:
    """What every check reads: the file, the registry, and lookups built once."""

    mf: A.ModelFile
    registry: Mapping[str, NodeKind]
    conv: Converter
    nodes: dict[str, A.NodeDecl] = field(default_factory=dict)  # first declaration of each name
    kinds: dict[str, NodeKind] = field(default_factory=dict)  # node name -> its (known) kind

    @classmethod
    def build(cls, mf: A.ModelFile, registry: Mapping[str, NodeKind]) -> "Context":
        ctx = cls(mf, registry, Converter(base_dir(mf.path)))
        for decl in mf.nodes:
            ctx.nodes.setdefault(decl.name, decl)
        own = declared_tasks.file_declarations(mf)
        for name, decl in ctx.nodes.items():
            if decl.body is None and decl.kind in own and "task" in registry:  # a task the file declares
                ctx.kinds[name] = registry["task"].for_node({"decl": own[decl.kind], **_tolerant(decl)})
                continue
            kind = registry.get(decl.kind)
            if kind is not None and kind.family != "intervention":
                ctx.kinds[name] = kind.for_node({"body": decl.body}) if decl.body is not None else kind.for_node(_tolerant(decl))
        return ctx

    @property
    def task_node(self) -> str | None:
        return next((n for n, k in self.kinds.items() if k.family == "task"), None)

    def sites_by_name(self) -> dict[str, A.SiteDecl]:
        return {s.name: s for s in reversed(self.mf.sites)}  # the first declaration of each name

    def node_kinds(self) -> list[str]:
        return [k for k, v in self.registry.items() if v.family != "intervention"]

    def interventions(self) -> list[str]:
        return [k for k, v in self.registry.items() if v.family == "intervention"]


def _tolerant(decl: A.NodeDecl) -> dict[str, Any]:
    """A node's arguments as plain Python, unchecked: enough for kinds whose ports depend on them."""
    return {kw.name: A.to_python(kw.value) for kw in decl.params}


def base_dir(path: str) -> Path:
    """The directory `file("...")` paths are relative to: the model file's own."""
    if not path or path.startswith("<"):
        return Path.cwd()
    return Path(path).resolve().parent


def _default_registry() -> Mapping[str, NodeKind]:
    from .library import REGISTRY

    return REGISTRY


# ---- entry point -----------------------------------------------------------------------------


def check(mf: A.ModelFile, registry: Mapping[str, NodeKind] | None = None) -> CheckedModel:
    """Check a parsed file, resolve it and plan it (`plan.plan_checked`: the kinds' own checks,
    sizes, evaluation order, algebraic loops); raises ModelError with every error found."""
    registry = _default_registry() if registry is None else registry
    cm = check_declarations(mf, registry)
    cm.plan = plan_checked(cm, registry)
    return cm


def check_declarations(mf: A.ModelFile, registry: Mapping[str, NodeKind]) -> CheckedModel:
    """Every check of `CHECKS` (names, types, values of single parameters), then the resolved
    model, not yet planned."""
    ctx = Context.build(mf, registry)
    diags = [d for fn in CHECKS for d in fn(ctx)]
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        raise ModelError(errors, mf.source)
    warnings = sorted((d for d in diags if d.severity != "error"), key=Diagnostic.sort_key)
    cm = resolve(ctx, warnings)
    late = traps.check(cm, ctx.registry)  # silent traps, seen once everything is resolved
    if any(d.severity == "error" for d in late):
        raise ModelError([d for d in late if d.severity == "error"], mf.source)
    cm.warnings = sorted(cm.warnings + late, key=Diagnostic.sort_key)
    return cm


# ---- duplicates ------------------------------------------------------------------------------


def check_duplicate_blocks(ctx: Context) -> Diags:
    """At most one `model`, `loss` and `train` block."""
    diags = []
    for word, blocks in (("model", ctx.mf.models), ("loss", ctx.mf.losses), ("train", ctx.mf.trains)):
        for block in blocks[1:]:
            diags.append(_err(f"duplicate `{word}` block", block.keyword_span,
                              hint=f"a model has one `{word}` block; merge them",
                              related=((blocks[0].keyword_span, f"the first `{word}` block is here"),)))
    return diags


def check_duplicate_names(ctx: Context) -> Diags:
    """Node, site, loss-term and stage names are each declared once."""
    mf = ctx.mf
    diags = duplicates(((n.name, n.name_span) for n in mf.nodes), "node")
    diags += duplicates(((s.name, s.name_span) for s in mf.sites), "site")
    diags += duplicates(((t.name, t.name_span) for b in mf.losses for t in b.terms), "loss term")
    diags += duplicates(((s.name, s.name_span) for b in mf.trains for s in b.stages), "stage")
    return diags


def _setting_groups(ctx: Context) -> Iterable[Sequence[A.Setting]]:
    mf = ctx.mf
    yield from (m.settings for m in mf.models)
    yield from (t.settings for t in mf.trains)
    yield from (s.settings for t in mf.trains for s in t.stages)
    yield from (sc.settings for s in mf.sites for sc in s.schedules)


def _keyword_groups(ctx: Context) -> Iterable[Sequence[A.Keyword]]:
    mf = ctx.mf
    yield from (n.params for n in mf.nodes)
    yield from (s.params for s in mf.sites)


def check_duplicate_settings(ctx: Context) -> Diags:
    """A setting or keyword argument given twice in one block or call."""
    diags = []
    for settings in _setting_groups(ctx):
        diags += duplicates(((s.dotted, s.key_span) for s in settings), "setting")
    for kwargs in _keyword_groups(ctx):
        diags += duplicates(((k.name, k.name_span) for k in kwargs), "parameter")
    return diags


def check_reserved_names(ctx: Context) -> Diags:
    """A node named with a keyword cannot be used in edges or the loss."""
    return [_err(f"`{d.name}` is a reserved word and cannot name a node", d.name_span,
                 hint=f"the parser reads `{d.name}` as a keyword, so `{d.name}.port` cannot be used in edges; rename the node")
            for d in ctx.mf.nodes if d.name in UNUSABLE_NAMES]


# ---- model settings --------------------------------------------------------------------------


def check_model_settings(ctx: Context) -> Diags:
    """dt is required; exactly one of steps and duration; duration a whole number of steps."""
    block = ctx.mf.model
    if block is None:
        return [_err("the model has no `model` block", A.Span(ctx.mf.path, 1, 1, 1, 2),
                     hint="declare the time step and trial length, e.g. `model { dt = 0.01  steps = 100 }`")]
    diags, values = _check_settings(ctx, block.settings, S.MODEL_SETTINGS, "model setting")
    given = {s.dotted: s for s in block.settings}
    # a misspelt setting is reported as unknown, not also as missing
    present = set(given) | {_closest(k, [p.name for p in S.MODEL_SETTINGS]) for k in given}
    if "dt" not in present:
        diags.append(_err("the model block does not set `dt`", block.keyword_span, hint="add the time step, e.g. `dt = 0.01`"))
    if "steps" in given and "duration" in given:
        later = max(given["steps"], given["duration"], key=lambda s: (s.span.line, s.span.col))
        diags.append(_err("give either `steps` or `duration`, not both", later.key_span,
                          hint="steps = round(duration / dt)"))
    elif "steps" not in present and "duration" not in present:
        diags.append(_err("the model block sets neither `steps` nor `duration`", block.keyword_span,
                          hint="add the trial length, e.g. `steps = 100` or `duration = 1.0`"))
    elif isinstance(values.get("duration"), float) and isinstance(values.get("dt"), float):
        diags += _duration_steps(given["duration"], given["dt"])
    dt = values.get("dt")
    if isinstance(dt, float) and dt > 0 and not S.MIN_DT <= dt <= S.MAX_DT:
        diags.append(_err(f"`dt` = {describe(given['dt'].value)} is outside the range a time step may take "
                          "(1e-9 to 1e9)", given["dt"].value.span,
                          hint="dt is in the model's time unit (e.g. 10 for milliseconds, 0.01 for seconds)"))
    return diags


def _duration_steps(setting: A.Setting, dt_setting: A.Setting) -> Diags:
    duration, dt = float(setting.value.value), float(dt_setting.value.value)  # type: ignore[union-attr]
    ratio = duration / dt
    if not 0.5 <= ratio < S.MAX_STEPS + 0.5:  # zero steps, or more than a trial may have
        return [_err(f"`duration` = {describe(setting.value)} with dt = {describe(dt_setting.value)} gives {ratio:.4g} steps; "
                     f"a trial has 1 to {S.MAX_STEPS:,} steps", setting.value.span,
                     hint="duration and dt are in the same time unit; steps = round(duration / dt)")]
    if abs(ratio - round(ratio)) > 1e-6 * max(1.0, abs(ratio)):
        return [_err(f"`duration` = {describe(setting.value)} is not a whole number of steps of dt = {describe(dt_setting.value)} "
                     f"(duration / dt = {ratio:g})", setting.value.span,
                     hint=f"use a multiple of dt, e.g. {fmt(round(ratio) * dt)}, or give `steps`")]
    return []


def _check_settings(ctx: Context, settings: Sequence[A.Setting], params: Sequence[Param],
                    what: str) -> tuple[Diags, dict[str, Any]]:
    """Settings against a parameter list: unknown keys and value types and ranges."""
    diags, values = [], {}
    names = [p.name for p in params]
    for s in settings:
        p = S.param_named(tuple(params), s.dotted)
        if p is None:
            diags.append(_err(f"unknown {what} `{s.dotted}`", s.key_span, choices_hint(s.dotted, names, f"{what}s")))
            continue
        value, d = ctx.conv.convert(s.value, p, s.dotted)
        diags += d
        if not d:
            values[s.dotted] = value
    return diags, values


# ---- nodes -----------------------------------------------------------------------------------


def check_node_kinds(ctx: Context) -> Diags:
    """Every node's kind exists and is not an intervention; a declared task needs its kind."""
    diags = []
    for decl in ctx.mf.nodes:
        kind = ctx.registry.get(decl.kind)
        if decl.name in ctx.kinds:
            continue  # a task the file declares, or a registered kind
        if decl.body is not None and kind is None:
            tasks = sorted(k for k, v in ctx.registry.items() if v.family == "task")
            diags.append(_err("tasks declared in the file (`node <name> = task { ... }`) are not available: "
                              "no `task` kind is registered", decl.span, hint=f"use a task kind: {_names(tasks)}"))
        elif kind is None:
            diags.append(_err(f"unknown node kind `{decl.kind}`", decl.kind_span,
                              choices_hint(decl.kind, ctx.node_kinds(), "node kinds")))
        elif kind.family == "intervention":
            diags.append(_err(f"`{decl.kind}` is an intervention, not a node kind", decl.kind_span,
                              hint=f"place it at a site: `site <name> at <node>.<port>: {decl.kind}(...)`"))
    return diags


def check_params(ctx: Context) -> Diags:
    """Node parameters: named, known, required ones present, values of the right type and range."""
    diags = []
    for decl in ctx.mf.nodes:
        kind = ctx.kinds.get(decl.name)
        if kind is None or ctx.nodes[decl.name] is not decl:
            continue
        diags += check_call_params(ctx, kind, decl.params, decl.positional, _from(decl.kind_span, decl.span), "node")
    return diags


def check_call_params(ctx: Context, kind: NodeKind, kwargs: Sequence[A.Keyword], positional: Sequence[A.Value],
                      call_span: A.Span, what: str) -> Diags:
    """The arguments of `kind(...)` in a node or site declaration."""
    diags = _positional(kind, positional, what)
    given = set()
    for kw in kwargs:
        p = kind.param(kw.name)
        if p is None:
            diags.append(_err(f"`{kind.name}` has no parameter `{kw.name}`", kw.name_span,
                              choices_hint(kw.name, [q.name for q in kind.params], "its parameters")))
            given.add(_closest(kw.name, [q.name for q in kind.params]))  # no second error for a typo
            continue
        given.add(kw.name)
        diags += ctx.conv.convert(kw.value, p, kw.name)[1]
    missing = [p.name for p in kind.params if p.required and p.name not in given]
    if missing and not positional:
        diags.append(_err(f"`{kind.name}` needs {_names(missing)}", call_span,
                          hint="e.g. " + ", ".join(f"`{m} = ...`" for m in missing)))
    return diags


def _positional(kind: NodeKind, positional: Sequence[A.Value], what: str) -> Diags:
    """One error at the first positional argument of a call whose parameters are named."""
    if not positional:
        return []
    required = [p.name for p in kind.params if p.required]
    example = f"e.g. `{kind.name}({', '.join(f'{n} = ...' for n in required)})`; " if required else ""
    return [_err(f"{what} parameters are named: write `name = value`", positional[0].span,
                 hint=f"{example}`{kind.name}` takes {_names(p.name for p in kind.params)}")]


def _closest(name: str, candidates: Sequence[str]) -> str | None:
    """The closest candidate, as `did_you_mean` would suggest it."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def check_task_count(ctx: Context) -> Diags:
    """At most one task node."""
    tasks = [d for d in ctx.mf.nodes if d.name in ctx.kinds and ctx.kinds[d.name].family == "task"
             and ctx.nodes[d.name] is d]
    return [_err(f"a model has at most one task; `{d.name}` is a second one", d.kind_span if d.body is None else d.name_span,
                 related=((tasks[0].name_span, f"the task `{tasks[0].name}` is declared here"),)) for d in tasks[1:]]


def check_no_nodes(ctx: Context) -> Diags:
    """A model declares at least one node."""
    if ctx.mf.nodes:
        return []
    return [_err("the model declares no nodes", A.Span(ctx.mf.path, 1, 1, 1, 2),
                 hint="declare one with `node net = ctrnn(hidden = 50, out = 2)`")]


# ---- references to ports ---------------------------------------------------------------------


def _node_of(ctx: Context, name: str, span: A.Span) -> tuple[NodeKind | None, Diags]:
    """The kind of a referenced node; an error if the node is not declared (None, no error,
    when it is declared but its kind is unknown: that was reported at the declaration)."""
    if name not in ctx.nodes:
        return None, [_err(f"unknown node `{name}`", span, choices_hint(name, ctx.nodes, "the nodes"))]
    return ctx.kinds.get(name), []


def _port_of(ctx: Context, ref: A.PortRef) -> tuple[Port | None, Diags]:
    """The port a `node.port[.field]` reference names, with its field checked."""
    kind, diags = _node_of(ctx, ref.node, ref.node_span)
    if kind is None:
        return None, diags
    port = kind.port(ref.port)
    if port is None:
        return None, [_err(f"`{ref.node}` ({kind.name}) has no port `{ref.port}`", ref.port_span,
                           choices_hint(ref.port, [p.name for p in kind.ports], "its ports"))]
    return port, _field_diags(ref.node, port, ref.field, ref.field_span)


def _field_diags(node: str, port: Port, fld: str | None, span: A.Span | None) -> Diags:
    if fld is None or fld in port.fields:
        return []
    if not port.fields:
        return [_err(f"`{node}.{port.name}` has no fields", span, hint=f"use the whole port `{node}.{port.name}`")]
    return [_err(f"`{node}.{port.name}` has no field `{fld}`", span, choices_hint(fld, port.fields, "its fields"))]


# ---- edges -----------------------------------------------------------------------------------


def check_edges(ctx: Context) -> Diags:
    """Edges go from an output to an input; init ports pair with init outputs; a `single` port
    takes one edge."""
    diags = []
    single_first: dict[tuple[str, str], A.Edge] = {}
    for edge in ctx.mf.edges:
        src, d1 = _port_of(ctx, edge.source)
        dst, d2 = _port_of(ctx, edge.target)
        diags += d1 + d2
        diags += _direction(edge.source, src, "out") + _direction(edge.target, dst, "in")
        if src is None or dst is None or src.direction != "out" or dst.direction != "in":
            continue
        diags += _roles(ctx, edge, src, dst)
        key = (edge.target.node, edge.target.port)
        if dst.combine == "single" and key in single_first:
            first = single_first[key]
            diags.append(_err(f"`{edge.target.node}.{edge.target.port}` takes a single edge; this is a second one",
                              edge.span, related=((first.span, "the first edge into it"),)))
        single_first.setdefault(key, edge)
    return diags


def _direction(ref: A.PortRef, port: Port | None, want: str) -> Diags:
    if port is None or port.direction == want:
        return []
    what = "an output" if port.direction == "out" else "an input"
    return [_err(f"`{ref.node}.{ref.port}` is {what}; an edge must go from an output to an input",
                 _from(ref.node_span, ref.port_span))]


def _roles(ctx: Context, edge: A.Edge, src: Port, dst: Port) -> Diags:
    if src.role == dst.role:
        return []
    if src.role == "init":
        ports = [f"{n}.{p.name}" for n, k in ctx.kinds.items() for p in k.inputs if p.role == "init"]
        return [_err(f"`{edge.source}` is a per-trial initial value; it can only go to an init port",
                     edge.source.span, hint=f"init ports in this model: {_names(ports)}" if ports else None)]
    ports = [f"{n}.{p.name}" for n, k in ctx.kinds.items() for p in k.outputs if p.role == "init"]
    return [_err(f"`{edge.target}` sets the initial state once per trial; its edge must come from an init output",
                 edge.target.span, hint=f"init outputs in this model: {_names(ports)}" if ports else "such as a reaching task's `start`")]


# ---- sites -----------------------------------------------------------------------------------


def check_sites(ctx: Context) -> Diags:
    """Interventions: a known kind, a place that exists and that the kind can act on, its
    parameters, and schedules that set per-trial parameters only."""
    diags = []
    for site in ctx.mf.sites:
        kind, d = _intervention(ctx, site)
        diags += d
        place, d = _site_place(ctx, site.target)
        diags += d
        if kind is None:
            continue
        if place is not None:
            diags += _site_tags(ctx, site, kind, place)
        diags += check_call_params(ctx, kind, site.params, site.positional, _from(site.kind_span, site.span), "intervention")
        diags += sitelang.check_custom(site, kind)
        diags += _schedules(ctx, site, kind)
    return diags


def _intervention(ctx: Context, site: A.SiteDecl) -> tuple[NodeKind | None, Diags]:
    kind = ctx.registry.get(site.kind)
    if kind is None:
        return None, [_err(f"unknown intervention `{site.kind}`", site.kind_span,
                           choices_hint(site.kind, ctx.interventions(), "interventions"))]
    if kind.family != "intervention":
        return None, [_err(f"`{site.kind}` is a node kind, not an intervention", site.kind_span,
                           hint=f"interventions: {_names(sorted(ctx.interventions()))}")]
    return kind, []


def _site_place(ctx: Context, ref: A.PortRef) -> tuple[Site | Port | None, Diags]:
    kind, diags = _node_of(ctx, ref.node, ref.node_span)
    if kind is None:
        return None, diags
    place = kind.site(ref.port)
    if place is None:
        names = [s.name for s in kind.sites] + [p.name for p in kind.ports]
        return None, [_err(f"`{ref.node}` ({kind.name}) has no port or site `{ref.port}`", ref.port_span,
                           choices_hint(ref.port, names, "its ports and sites"))]
    if ref.field is not None:
        return None, [_err(f"a site acts on a whole port or site, not on the field `{ref.field}`", ref.field_span,
                           hint=f"write `{ref.node}.{ref.port}`")]
    return place, []


def place_tags(place: Site | Port) -> set[str]:
    """The tags of a port (every port is a "signal") or an internal site."""
    return set(place.tags) | ({"signal"} if isinstance(place, Port) else set())


def _site_tags(ctx: Context, site: A.SiteDecl, kind: NodeKind, place: Site | Port) -> Diags:
    if set(kind.applies_to) & place_tags(place):
        return []
    fits = [f"{n}.{p.name}" for n, k in ctx.kinds.items() for p in (*k.sites, *k.ports)
            if set(kind.applies_to) & place_tags(p) and k.site(p.name) is p]
    return [_err(f"`{kind.name}` acts on {' or '.join(TAG_WORDS.get(t, t) for t in kind.applies_to)}; "
                 f"`{site.target}` is {place_words(place)}", site.target.span,
                 hint=f"places in this model where `{kind.name}` can act: {_names(fits)}" if fits else None)]


def place_words(place: Site | Port) -> str:
    """A port or site in words: `a force port`, `a signal port`, `a site of units`."""
    if isinstance(place, Port):
        return f"a {'force' if 'force' in place.tags else 'signal'} port"
    return "a site of " + " and ".join(place.tags)


def _schedules(ctx: Context, site: A.SiteDecl, kind: NodeKind) -> Diags:
    diags = duplicates(((s.phase, s.span) for s in site.schedules), "schedule")
    per_trial = [p.name for p in kind.params if p.per_trial]
    for sched in site.schedules:
        for s in sched.settings:
            p = kind.param(s.dotted)
            if p is None:
                diags.append(_err(f"`{kind.name}` has no parameter `{s.dotted}`", s.key_span,
                                  choices_hint(s.dotted, [q.name for q in kind.params], "its parameters")))
            elif not p.per_trial:
                diags.append(_err(f"`{s.dotted}` is fixed when the model is compiled; a `{sched.phase}` schedule "
                                  "sets per-trial parameters only", s.key_span,
                                  hint=f"per-trial parameters of `{kind.name}`: {_names(per_trial)}"))
            elif isinstance(s.value, A.Expression):
                diags += sitelang.analyse_schedule(ctx, site, p, s.value)[1]
            else:
                diags += ctx.conv.convert(s.value, p, s.dotted)[1]
    return diags


# ---- loss ------------------------------------------------------------------------------------


def check_loss(ctx: Context) -> Diags:
    """Loss terms: known kinds, their arguments, and the signals they name."""
    diags = []
    for block in ctx.mf.losses:
        for term in block.terms:
            if term.call is None:  # an expression: checked once the plan knows the sizes (dsl.lossexpr)
                diags += lossexpr.unknown_term(term)
                continue
            spec = S.LOSS_TERMS.get(term.call.name)
            if spec is None:
                diags.append(_err(f"unknown loss term `{term.call.name}`", term.call.name_span,
                                  choices_hint(term.call.name, S.LOSS_TERMS, "loss terms")))
                continue
            params = spec.params
            args, d = loss_arguments(term.call, params)
            diags += d
            for name, value in args.items():
                diags += loss_value(ctx, S.param_named(params, name), value)[1]
    return diags


def loss_arguments(call: A.Call, params: tuple[Param, ...]) -> tuple[dict[str, A.Value], Diags]:
    """A term's arguments by name: positional ones in the order of its parameters."""
    diags, args = [], {}
    names = [p.name for p in params]
    for i, value in enumerate(call.args):
        if i >= len(params):
            diags.append(_err(f"`{call.name}` takes at most {len(params)} argument{'s' if len(params) > 1 else ''}",
                              value.span, hint=f"its arguments: {_names(names)}"))
            break
        args[names[i]] = value
    for kw in call.kwargs:
        if kw.name not in names:
            diags.append(_err(f"`{call.name}` has no argument `{kw.name}`", kw.name_span, choices_hint(kw.name, names, "its arguments")))
        elif kw.name in args:
            diags.append(_err(f"`{kw.name}` of `{call.name}` is given twice", kw.span))
        else:
            args[kw.name] = kw.value
    missing = [p.name for p in params if p.required and p.name not in args]
    if missing:
        diags.append(_err(f"`{call.name}` needs {_names(missing)}", call.span))
    return args, diags


def loss_value(ctx: Context, p: Param, value: A.Value) -> tuple[Any, Diags]:
    """A loss argument: a signal reference, a weights reference, or a plain value."""
    if p.name == WEIGHTS_ARG:
        return _weights_ref(ctx, value)
    if p.name in SIGNAL_ARGS and p.type == "any":
        if isinstance(value, A.NoneValue) and not p.required:
            return None, []
        return _signal_ref(ctx, value, p.name)
    return ctx.conv.convert(value, p, p.name)


def _signal_ref(ctx: Context, value: A.Value, what: str) -> tuple[Signal | None, Diags]:
    if not (isinstance(value, A.Ref) and len(value.parts) in (2, 3)):
        return None, [_err(f"the {what} of a loss term is a signal such as `net.output` or `arm.effector.pos`, "
                           f"got {describe(value)}", value.span)]
    node, port_name, fld = value.parts[0], value.parts[1], (value.parts[2] if len(value.parts) == 3 else None)
    kind, diags = _node_of(ctx, node, value.span)
    if kind is None:
        return None, diags
    port = kind.port(port_name)
    if port is None:
        return None, [_err(f"`{node}` ({kind.name}) has no port `{port_name}`", value.span,
                           choices_hint(port_name, [p.name for p in kind.outputs], "its outputs"))]
    if port.direction != "out" or port.role != "signal":
        why = "an input" if port.direction != "out" else "a per-trial initial value"
        outs = [p.name for p in kind.outputs if p.role == "signal"]
        return None, [_err(f"a loss reads output signals; `{node}.{port_name}` is {why}", value.span,
                           hint=f"outputs of `{node}`: {_names(outs)}" if outs else None)]
    diags = _field_diags(node, port, fld, value.span)
    return (Signal(node, port_name, fld, value.span) if not diags else None), diags


def _weights_ref(ctx: Context, value: A.Value) -> tuple[Signal | None, Diags]:
    if not (isinstance(value, A.Ref) and len(value.parts) in (1, 2)):
        return None, [_err(f"`of` names a node or one of its weights, such as `net` or `net.W_rec`, got {describe(value)}", value.span)]
    node = value.parts[0]
    _, diags = _node_of(ctx, node, value.span)
    if diags:
        return None, diags
    return Signal(node, value.parts[1] if len(value.parts) == 2 else None, None, value.span), []


# ---- train -----------------------------------------------------------------------------------


def check_train(ctx: Context) -> Diags:
    """Train settings: known keys, masks, clipping, trainable/frozen lists, batches or trials."""
    diags = []
    for block in ctx.mf.trains:
        given = {}
        for s in block.settings:
            diags += _train_setting(ctx, s)
            given.setdefault(s.dotted, s)
        if "batches" in given and "trials" in given:
            later = max(given["batches"], given["trials"], key=lambda s: (s.span.line, s.span.col))
            diags.append(_err("give either `batches` or `trials`, not both", later.key_span,
                              hint="batches = ceil(trials / batch_size)"))
    return diags


def _train_setting(ctx: Context, s: A.Setting) -> Diags:
    if s.key[0] == S.TRAIN_MASK_PREFIX and len(s.key) > 1:
        return _mask_setting(ctx, s)[1]
    p = S.param_named(S.TRAIN_SETTINGS, s.dotted)
    if p is None:
        names = [q.name for q in S.TRAIN_SETTINGS] + [f"{S.TRAIN_MASK_PREFIX}.<node>.<param>"]
        return [_err(f"unknown train setting `{s.dotted}`", s.key_span, choices_hint(s.dotted, names, "train settings"))]
    special = TRAIN_VALUE_CHECKS.get(p.name)
    if special is not None:
        return special(ctx, s.value)[1]
    return ctx.conv.convert(s.value, p, s.dotted)[1]


MASK_PARAM = Param("mask", "matrix", REQUIRED)


def _mask_setting(ctx: Context, s: A.Setting) -> tuple[Any, Diags]:
    if len(s.key) != 3:
        return None, [_err(f"a gradient mask is written `{S.TRAIN_MASK_PREFIX}.<node>.<param> = [[...]]`, not `{s.dotted}`", s.key_span)]
    _, diags = _node_of(ctx, s.key[1], s.key_span)
    if diags:
        return None, diags
    if isinstance(s.value, A.ListValue):
        return ctx.conv.to_array(s.value, MASK_PARAM, s.dotted, min_ndim=1)
    if isinstance(s.value, A.Call) and s.value.name == "file":
        return ctx.conv.file_array(s.value)
    return None, [_err(f"`{s.dotted}`: expected a mask of 0s and 1s (a nested list or file(\"x.npy\")), got {describe(s.value)}",
                       s.value.span)]


def clip_value(ctx: Context, value: A.Value) -> tuple[Any, Diags]:
    """`clip = global_norm(x)` or `per_tensor(x)` with x > 0."""
    if isinstance(value, A.NoneValue):
        return None, []
    hint = "write `clip = global_norm(1.0)` or `clip = per_tensor(1.0)`"
    if not isinstance(value, A.Call):
        return None, [_err(f"`clip`: expected global_norm(x) or per_tensor(x), got {describe(value)}", value.span, hint)]
    if value.name not in S.CLIP_KINDS:
        return None, [_err(f"unknown clipping `{value.name}`", value.name_span, choices_hint(value.name, S.CLIP_KINDS, "clipping kinds"))]
    args = list(value.args) + [k.value for k in value.kwargs]
    if len(args) != 1:
        return None, [_err(f"`{value.name}` takes one argument, the threshold", value.span, hint)]
    x = args[0]
    if not isinstance(x, A.Number):
        return None, [_err(f"the threshold of `{value.name}` must be a number, got {describe(x)}", x.span)]
    if not x.value > 0:
        return None, [_err(f"the threshold of `{value.name}` must be > 0, got {fmt(x.value)}", x.span)]
    return {"name": value.name, "args": [float(x.value)], "kwargs": {}}, []


def node_list(ctx: Context, value: A.Value) -> tuple[Any, Diags]:
    """`trainable` / `frozen`: a list of `node` or `node.param` references."""
    if isinstance(value, A.NoneValue):
        return None, []
    items = value.items if isinstance(value, A.ListValue) else (value,)
    out, diags = [], []
    for item in items:
        if not (isinstance(item, A.Ref) and len(item.parts) <= 2):
            diags.append(_err(f"expected a node or `node.param`, such as `net` or `net.W_rec`, got {describe(item)}", item.span))
            continue
        d = _node_of(ctx, item.parts[0], item.span)[1]
        diags += d
        out.append(item.dotted)
    return out, diags


TRAIN_VALUE_CHECKS: dict[str, Callable[[Context, A.Value], tuple[Any, Diags]]] = {
    "clip": clip_value,
    "trainable": node_list,
    "frozen": node_list,
}


def check_stages(ctx: Context) -> Diags:
    """Stage settings, and `task.PARAM = value` overrides of the task's parameters."""
    diags = []
    for block in ctx.mf.trains:
        for stage in block.stages:
            for s in stage.settings:
                if not stagetasks.is_switch(ctx, s):  # `task = NAME(...)`: stagetasks.check_stage_tasks
                    diags += _stage_setting(ctx, s)[1]
    return diags


def _stage_setting(ctx: Context, s: A.Setting) -> tuple[Any, Diags]:
    task = ctx.task_node
    if len(s.key) == 2 and s.key[0] in ("task", task):
        if task is None:
            return None, [_err("this stage overrides a task parameter, but the model has no task", s.key_span)]
        kind = ctx.kinds[task]
        p = kind.param(s.key[1])
        if p is None:
            return None, [_err(f"the task `{task}` ({kind.name}) has no parameter `{s.key[1]}`", s.key_span,
                               choices_hint(s.key[1], [q.name for q in kind.params], "its parameters"))]
        return ctx.conv.convert(s.value, p, s.key[1])
    site = next((x for x in ctx.mf.sites if x.name == s.key[0]), None) if len(s.key) > 1 else None
    if site is not None:
        return _stage_site_setting(ctx, site, s)
    p = S.param_named(S.STAGE_SETTINGS, s.dotted)
    if p is None:
        names = [q.name for q in S.STAGE_SETTINGS] + ["task.<param>", "<site>.<param>", "<site>.train.<param>"]
        return None, [_err(f"unknown stage setting `{s.dotted}`", s.key_span, choices_hint(s.dotted, names, "stage settings"))]
    return ctx.conv.convert(s.value, p, s.dotted)


def stage_site_key(key: tuple[str, ...]) -> tuple[str, tuple[str, ...], str] | None:
    """`SITE.PARAM` -> (site, both phases, param); `SITE.PHASE.PARAM` -> (site, (phase,), param)."""
    if len(key) == 2:
        return key[0], S.PHASES, key[1]
    if len(key) == 3 and key[1] in S.PHASES:
        return key[0], (key[1],), key[2]
    return None


def _stage_site_setting(ctx: Context, site: A.SiteDecl, s: A.Setting) -> tuple[Any, Diags]:
    """A stage's override of a site's per-trial parameter (`curl.active = true`), in both phases
    or one (`curl.train.amplitude = 2`)."""
    kind = ctx.registry.get(site.kind)
    parsed = stage_site_key(s.key)
    if kind is None:
        return None, []  # reported at the site
    per_trial = [q.name for q in kind.params if q.per_trial]
    if parsed is None:
        return None, [_err(f"unknown stage setting `{s.dotted}`", s.key_span,
                           hint=f"a stage sets `{site.name}.PARAM`, `{site.name}.train.PARAM` or `{site.name}.validate.PARAM`")]
    p = kind.param(parsed[2])
    if p is None or not p.per_trial:
        what = "has no parameter" if p is None else "fixes when the model is compiled the parameter"
        return None, [_err(f"the site `{site.name}` ({kind.name}) {what} `{parsed[2]}`", s.key_span,
                           hint=f"a stage sets its per-trial parameters: {_names(per_trial)}")]
    return ctx.conv.convert(s.value, p, parsed[2])


# ---- usage -----------------------------------------------------------------------------------


def used_nodes(ctx: Context) -> set[str]:
    """Nodes named by an edge, a site, the loss or the train block."""
    used = {e.source.node for e in ctx.mf.edges} | {e.target.node for e in ctx.mf.edges}
    used |= {s.target.node for s in ctx.mf.sites}
    for block in ctx.mf.losses:
        for term in block.terms:
            if term.call is None:
                used |= lossexpr.expression_nodes(term.expr)
                continue
            used |= {v.parts[0] for v in (*term.call.args, *(k.value for k in term.call.kwargs)) if isinstance(v, A.Ref)}
    for block in ctx.mf.trains:
        for s in block.settings:
            if s.key[0] == S.TRAIN_MASK_PREFIX and len(s.key) > 1:
                used.add(s.key[1])
            items = s.value.items if isinstance(s.value, A.ListValue) else (s.value,)
            used |= {v.parts[0] for v in items if isinstance(v, A.Ref) and s.dotted in ("trainable", "frozen")}
    return used


def check_unused_nodes(ctx: Context) -> Diags:
    """A warning for a node nothing refers to."""
    used = used_nodes(ctx)
    return [Diagnostic(f"node `{d.name}` is not connected to anything", d.name_span,
                       hint="connect it with an edge, or remove it", severity="warning")
            for name, d in ctx.nodes.items() if name not in used]


CHECKS: tuple[Callable[[Context], Diags], ...] = (
    check_duplicate_blocks,
    check_duplicate_names,
    check_duplicate_settings,
    check_reserved_names,
    check_model_settings,
    check_no_nodes,
    check_node_kinds,
    check_params,
    check_task_count,
    declared_tasks.check_task_uses,
    check_edges,
    check_sites,
    check_loss,
    readouts.check_probability_readouts,
    check_train,
    check_stages,
    stagetasks.check_stage_tasks,
    conditions.check_conditions,
    check_unused_nodes,
    lambda ctx: sweeps.check_sweeps(ctx.mf),
)


# ---- resolution ------------------------------------------------------------------------------


def resolve(ctx: Context, warnings: list[Diagnostic]) -> CheckedModel:
    """The checked model; only called when every check passed."""
    mf = ctx.mf
    spans: dict[str, A.Span] = {}
    model = resolve_model(ctx, spans)
    train, masks = resolve_train(ctx, spans, model["seed"])
    sites = resolve_sites(ctx, spans)
    variables = sitelang.task_variables(ctx)[1] if any(s.decl.value is not None for s in sites.values()) else {}
    return CheckedModel(
        path=mf.path, source=mf.source, name=model["name"], dt=model["dt"], steps=model["steps"],
        tau=model["tau"], seed=model["seed"], nodes=resolve_nodes(ctx, spans), edges=list(mf.edges),
        sites=sites, loss=resolve_loss(ctx, spans), train=train,
        stages=resolve_stages(ctx, spans), masks=masks, ast=mf, warnings=warnings, setting_spans=spans,
        task_variables=variables, stop_rule=conditions.resolve(mf.train.until) if mf.train is not None else None)


def _value(ctx: Context, value: A.Value, p: Param, name: str | None = None) -> Any:
    return ctx.conv.convert(value, p, name)[0]


def _defaults(params: Iterable[Param]) -> dict[str, Any]:
    """Every parameter's default (a matrix default as a float32 array, as given values are)."""
    out = {}
    for p in params:
        if p.required:
            continue
        out[p.name] = _matrix_default(p.default) if p.type == "matrix" else p.default
    return out


def _ordered(params: Sequence[Param], given: dict[str, Any]) -> dict[str, Any]:
    """Every parameter in declaration order: the given value, else the default."""
    defaults = _defaults(params)
    return {p.name: given[p.name] if p.name in given else defaults[p.name] for p in params
            if p.name in given or p.name in defaults}


def _matrix_default(value: Any) -> Any:
    import numpy as np

    return None if value is None else np.asarray(value, dtype=np.float32)


def resolve_model(ctx: Context, spans: dict[str, A.Span]) -> dict[str, Any]:
    """name, dt, steps, tau and seed."""
    block = ctx.mf.model
    assert block is not None
    values = _defaults(S.MODEL_SETTINGS)
    for s in block.settings:
        values[s.dotted] = _value(ctx, s.value, S.param_named(S.MODEL_SETTINGS, s.dotted))
        spans[f"model.{s.dotted}"] = s.span
    if values.get("steps") is None:
        values["steps"] = int(round(values["duration"] / values["dt"]))
    values["name"] = block.name or Path(ctx.mf.path).stem
    return values


def resolve_nodes(ctx: Context, spans: dict[str, A.Span]) -> dict[str, ResolvedNode]:
    """Every node with its parameters, defaults filled in."""
    out = {}
    own = declared_tasks.file_declarations(ctx.mf)
    for name, decl in ctx.nodes.items():
        kind = ctx.kinds[name]
        given = {kw.name: _value(ctx, kw.value, kind.param(kw.name), kw.name) for kw in decl.params}
        params = _ordered(kind.params, given)
        kind_name = kind.name
        if decl.body is not None:
            params["body"] = decl.body
        elif decl.kind in own:  # a task the file declares: the `task` kind, with its declaration
            params["decl"] = own[decl.kind]
            kind_name = "task"
        spans.update({f"node.{name}.{kw.name}": kw.span for kw in decl.params})
        spans[f"node.{name}"] = decl.span
        out[name] = ResolvedNode(name, kind_name, kind.family, params, decl)
    return out


def resolve_sites(ctx: Context, spans: dict[str, A.Span]) -> dict[str, ResolvedSite]:
    """Every site: constant parameters, per-trial defaults, and schedule overrides."""
    out = {}
    for site in ctx.mf.sites:
        if site.name in out:
            continue
        kind = ctx.registry[site.kind]
        values = _ordered(kind.params, {kw.name: _value(ctx, kw.value, kind.param(kw.name), kw.name) for kw in site.params})
        spans.update({f"site.{site.name}.{kw.name}": kw.span for kw in site.params})
        spans[f"site.{site.name}"] = site.span
        per_trial = {p.name: values.pop(p.name) for p in kind.params if p.per_trial and p.name in values}
        schedules: dict[str, dict[str, Any]] = {"train": {}, "validate": {}}
        for sched in site.schedules:
            for s in sched.settings:
                p = kind.param(s.dotted)
                schedules[sched.phase][s.dotted] = (sitelang.analyse_schedule(ctx, site, p, s.value)[0]
                                                    if isinstance(s.value, A.Expression) else _value(ctx, s.value, p, s.dotted))
                spans[f"site.{site.name}.{sched.phase}.{s.dotted}"] = s.span
        place = ctx.kinds[site.target.node].site(site.target.port)
        out[site.name] = ResolvedSite(site.name, kind.name, site.target.node, site.target.port,
                                      isinstance(place, Port), values, per_trial, schedules, site)
    return out


def resolve_loss(ctx: Context, spans: dict[str, A.Span]) -> list[ResolvedTerm]:
    """Every loss term with its arguments by name, defaults filled in, signals as `Signal`."""
    out = []
    block = ctx.mf.loss
    for term in block.terms if block is not None else ():
        spans[f"loss.{term.name}"] = term.span
        if term.call is None:
            out.append(ResolvedTerm(term.name, 1.0, "expression", {}, term, term.expr, _source_text(ctx.mf.source, term.expr.span)))
            continue
        params = S.LOSS_TERMS[term.call.name].params
        given, _ = loss_arguments(term.call, params)
        args = {p.name: loss_value(ctx, p, given[p.name])[0] if p.name in given else p.default for p in params}
        spans[f"loss.{term.name}"] = term.span
        out.append(ResolvedTerm(term.name, term.weight, term.call.name, args, term))
    return out


def _source_text(source: str, sp: A.Span) -> str:
    """The text a span covers (lines joined by a space)."""
    lines = source.splitlines()
    if sp.line == sp.end_line:
        return lines[sp.line - 1][sp.col - 1:sp.end_col - 1]
    return " ".join([lines[sp.line - 1][sp.col - 1:]] + [x.strip() for x in lines[sp.line:sp.end_line - 1]]
                    + [lines[sp.end_line - 1][:sp.end_col - 1].strip()])


def resolve_train(ctx: Context, spans: dict[str, A.Span], model_seed: int) -> tuple[dict[str, Any], dict]:
    """Every train setting (defaults filled, batches from trials) and the gradient masks."""
    train = _defaults(S.TRAIN_SETTINGS)
    masks: dict[tuple[str, str], Any] = {}
    block = ctx.mf.train
    for s in block.settings if block is not None else ():
        spans[f"train.{s.dotted}"] = s.span
        if s.key[0] == S.TRAIN_MASK_PREFIX and len(s.key) == 3:
            masks[(s.key[1], s.key[2])] = _mask_setting(ctx, s)[0]
            continue
        special = TRAIN_VALUE_CHECKS.get(s.dotted)
        train[s.dotted] = special(ctx, s.value)[0] if special else _value(ctx, s.value, S.param_named(S.TRAIN_SETTINGS, s.dotted))
    if train["trials"] is not None:
        train["batches"] = math.ceil(train["trials"] / train["batch_size"])
    elif train["batches"] is None:
        train["batches"] = DEFAULT_BATCHES
    if train["seed"] is None:
        train["seed"] = model_seed
    return train, masks


def resolve_stages(ctx: Context, spans: dict[str, A.Span]) -> list[ResolvedStage]:
    """Curriculum stages in order: their settings and task overrides."""
    out = []
    block = ctx.mf.train
    for stage in block.stages if block is not None else ():
        settings = {p.name: p.default for p in S.STAGE_SETTINGS}
        overrides: dict[str, Any] = {}
        sites: dict[str, dict[str, dict[str, Any]]] = {}
        task = None
        for s in stage.settings:
            if stagetasks.is_switch(ctx, s):
                task = _switched_task(ctx, s, spans, f"train.stage.{stage.name}.{s.dotted}")
                continue
            value = _stage_setting(ctx, s)[0]
            if len(s.key) == 2 and s.key[0] in ("task", ctx.task_node):
                overrides[s.key[1]] = value
            elif len(s.key) > 1 and s.key[0] in ctx.sites_by_name():
                site, phases, param = stage_site_key(s.key)  # type: ignore[misc]
                for phase in phases:
                    sites.setdefault(site, {}).setdefault(phase, {})[param] = value
            else:
                settings[s.dotted] = value
            spans[f"train.stage.{stage.name}.{s.dotted}"] = s.span
        spans[f"train.stage.{stage.name}"] = stage.span
        out.append(ResolvedStage(stage.name, settings, overrides, stage, sites, conditions.resolve(stage.until), task))
    return out


def _switched_task(ctx: Context, s: A.Setting, spans: dict[str, A.Span], where: str) -> ResolvedNode:
    """A stage's `task = NAME(args)` as the task node it stands for while the stage lasts."""
    call = s.value
    assert isinstance(call, A.Call)
    kind, kind_name = stagetasks.switch_kind(ctx, call)
    assert kind is not None
    params = _ordered(kind.params, {kw.name: _value(ctx, kw.value, kind.param(kw.name), kw.name) for kw in call.kwargs})
    if kind_name == "task":  # a task the file declares
        params["decl"] = declared_tasks.file_declarations(ctx.mf)[call.name]
    spans.update({f"{where}.{kw.name}": kw.span for kw in call.kwargs})
    spans[where] = s.span
    task = ctx.task_node
    decl = A.NodeDecl(task, call.name, call.kwargs, s.span, s.key_span, call.name_span)
    return ResolvedNode(task, kind_name, "task", params, decl)


__all__ = ["check", "check_declarations", "CHECKS", "Context"]
