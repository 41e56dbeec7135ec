"""Expressions at intervention sites, written in the task language (dsl/tasklang) and checked by
its checker with the names a site can read:

  - a schedule's per-trial value (`train { amplitude = normal(0, 0.5) * task.goal[0] }`,
    `active = task.direction == 1`): the task's trial variables (`task.VAR`), the constants `dt`,
    `duration`, `pi`, and distributions anywhere (each call drawn once per trial, after the
    trial's variables);
  - a custom intervention's value (`site visc at arm.force: custom() { value = -2 * arm.effector.vel }`),
    computed every step: the signal at the site (`x`), the time (`t`), the constants, the task's
    trial variables and the outputs of other nodes that are known at that point of the step (any
    node's state outputs, the feedthrough outputs of nodes that run before the site's node).

A dotted reference (`task.goal`, `arm.effector.vel`) is read as one name. Plain Python and NumPy,
as the rest of `dsl`; the runtime and the compiler evaluate the checked expressions with
`jax.numpy` through `tasklang.evaluate`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from . import ast as A
from . import tasklang as T
from . import tasks as declared_tasks
from .errors import Diagnostic, choices_hint
from .tasklang.checker import _Checker, _Scope
from .vocab import NodeKind, Param

Diags = list[Diagnostic]
CUSTOM = "custom"  # the intervention kind whose value the site's body gives
SIGNAL = "x"  # the signal at the site, in a custom value
TIME = "t"  # the time within the trial (step * dt), in a custom value


@dataclass(frozen=True)
class Draw:
    """A distribution call inside a schedule's expression: drawn once per trial and read in
    `SiteExpr.expr` as the name `name`."""

    name: str
    dist: T.Func
    size: int | None
    integer: bool


@dataclass(frozen=True)
class SiteExpr:
    """A checked expression at a site. `expr` reads dotted names as single names; `variables`
    are the task's trial variables it reads (as `TASK.VAR`), `signals` the node outputs it reads
    (`arm.effector.vel`, custom values only), `draws` its distribution calls."""

    expr: T.Expr
    type: T.Type
    span: A.Span
    text: str
    task: str | None = None
    variables: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    draws: tuple[Draw, ...] = ()

    def __str__(self) -> str:
        return self.text


# ---- the tree ---------------------------------------------------------------------------------


def dotted(e: T.Expr) -> T.Expr:
    """The expression with every `a.b.c` (an Attr chain on a name) as the one name "a.b.c"."""
    if isinstance(e, T.Attr):
        base = dotted(e.base)
        if isinstance(base, T.Name):
            return T.Name(f"{base.name}.{e.name}", e.span)
        return dataclasses.replace(e, base=base)
    changes = {}
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        if isinstance(v, tuple) and v and all(_is_expr(i) for i in v):
            changes[f.name] = tuple(dotted(i) for i in v)
        elif _is_expr(v):
            changes[f.name] = dotted(v)
    return dataclasses.replace(e, **changes) if changes else e


def _is_expr(v: Any) -> bool:
    return isinstance(v, (T.Num, T.BoolLit, T.Name, T.Vector, T.Func, T.Index, T.Attr, T.Unary, T.Binary, T.If))


def _replace_draws(e: T.Expr, draws: list[T.Func]) -> T.Expr:
    """Every distribution call replaced by a name `~i` (i its place in `draws`, source order)."""
    if isinstance(e, T.Func) and e.name in T.DISTRIBUTIONS:
        draws.append(e)
        return T.Name(f"~{len(draws) - 1}", e.span)
    changes = {}
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        if isinstance(v, tuple) and v and all(_is_expr(i) for i in v):
            changes[f.name] = tuple(_replace_draws(i, draws) for i in v)
        elif _is_expr(v):
            changes[f.name] = _replace_draws(v, draws)
    return dataclasses.replace(e, **changes) if changes else e


# ---- the checker --------------------------------------------------------------------------------


class _SiteChecker(_Checker):
    """The task language's checker with a site's names: `names` (dotted ones included), and
    distributions allowed (in a schedule) or refused (in a custom value, computed each step)."""

    def __init__(self, names: Mapping[str, T.Type], span: A.Span, dt: float | None, steps: int | None,
                 where: str, explain: Mapping[str, tuple[str, str | None]], task: str | None,
                 variables: Mapping[str, T.Type]) -> None:
        super().__init__(T.TaskBody((), span), span, dt, steps)
        self.site_names = dict(names)
        self.where = where  # "schedule" or "value"
        self.explain = explain  # a name that exists but cannot be read here -> (message, hint)
        self.task = task
        self.variables = variables
        self.draw_types: list[tuple[T.Func, T.Type]] = []

    def scope(self, where: str) -> _Scope:
        return _Scope({"dt": T.FLOAT, "duration": T.FLOAT, "pi": T.FLOAT, **self.site_names}, where)

    def _name(self, e: T.Name, sc: _Scope) -> T.Type | None:
        if e.name in sc.names:
            return sc.names[e.name]
        if e.name in self.explain:
            message, hint = self.explain[e.name]
            self.error(message, e.span, hint=hint)
            return None
        head, _, rest = e.name.partition(".")
        if rest and self.task is not None and head in ("task", self.task):
            self.error(f"the task `{self.task}` has no trial variable `{rest}`", e.span,
                       hint=choices_hint(rest, self.variables, "its trial variables"))
            return None
        if rest:
            readable = [n for n in sc.names if "." in n]
            self.error(f"unknown name `{e.name}`", e.span, hint=choices_hint(e.name, readable, "names readable here"))
            return None
        if e.name in self.variables and self.task is not None:
            self.error(f"undefined name `{e.name}`", e.span, hint=f"a trial variable is read as `{self.task}.{e.name}`")
            return None
        self.error(f"undefined name `{e.name}`", e.span, hint=choices_hint(e.name, sc.names, "names readable here"))
        return None

    def _call(self, e: T.Func, sc: _Scope) -> T.Type | None:
        if e.name not in T.DISTRIBUTIONS:
            return super()._call(e, sc)
        if self.where != "schedule":
            self.error(f"`{e.name}(...)` would draw at every step: a custom intervention's value is computed each step",
                       e.name_span, hint="draw per-trial values in a schedule, e.g. `train { scale = normal(1, 0.2) }`, "
                                         "or in the task")
            return None
        inner = [x for a in e.args for x in T.walk(a) if isinstance(x, T.Func) and x.name in T.DISTRIBUTIONS
                 and not (e.name == "truncated" and x is e.args[0])]
        if inner:
            self.error("the arguments of a distribution are computed from trial variables and numbers, not drawn",
                       inner[0].span, hint="draw the two values separately and combine them, e.g. `normal(0, 1) * uniform(0, 1)`")
            return None
        t = self._distribution(e, sc)
        if t is not None:
            self.draw_types.append((e, t))
        return t


# ---- what a site can read -----------------------------------------------------------------------


def task_variables(ctx: Any) -> tuple[str | None, dict[str, T.Type]]:
    """The task node's name and the types of its trial variables (empty when the model has no
    task or its task has errors, reported at the task). Computed once per check."""
    cached = getattr(ctx, "_site_task_variables", None)
    if cached is not None:
        return cached
    name = ctx.task_node
    spec = declared_tasks.node_spec(ctx, ctx.nodes[name]) if name is not None else None
    out = (name, {v.name: v.type for v in spec.variables} if spec is not None else {})
    ctx._site_task_variables = out
    return out


def _variable_names(task: str | None, variables: Mapping[str, T.Type]) -> dict[str, T.Type]:
    """Trial variables by the names an expression reads them: `task.VAR` and `NODE.VAR`."""
    if task is None:
        return {}
    return {f"{head}.{v}": t for v, t in variables.items() for head in dict.fromkeys(("task", task))}


def _node_signals_explained(ctx: Any) -> dict[str, tuple[str, str | None]]:
    """Every node port (and field), explained as a signal a per-trial value cannot read."""
    out: dict[str, tuple[str, str | None]] = {}
    for n, kind in ctx.kinds.items():
        for p in kind.ports:
            for name in [f"{n}.{p.name}", *(f"{n}.{p.name}.{f}" for f in p.fields)]:
                out[name] = (f"`{name}` is a signal within the trial; a schedule gives one value per trial, from the "
                             "task's trial variables", "a custom intervention reads signals each step: "
                             "`site NAME at NODE.PORT: custom() { value = ... }`")
    return out


def _result_problem(t: T.Type, p: Param) -> tuple[str, str | None] | None:
    """Why an expression of type `t` cannot give parameter `p` (message, hint), else None."""
    if t.rows is not None:
        return f"`{p.name}` takes {'a condition' if p.type == 'bool' else 'numbers'}, but this is {t.words()}", None
    if p.type == "bool":
        if t.base == "bool" and t.size is None:
            return None
        return (f"`{p.name}` is a switch (true or false), but this is {t.words()}",
                "compare, e.g. `task.direction == 1`, or draw it with bernoulli(p)")
    if not t.numeric:
        return f"`{p.name}` is a number, but this is {t.words()}", "turn a condition into a number with `if COND then 1 else 0`"
    if p.type == "float" and t.size is not None:
        return f"`{p.name}` is one number per trial, but this is {t.words()}", "take one element, e.g. `task.goal[0]`"
    return None


def analyse_schedule(ctx: Any, site: A.SiteDecl, p: Param, value: A.Expression) -> tuple[SiteExpr | None, Diags]:
    """A schedule's expression for per-trial parameter `p` of `site`: checked, with its draws."""
    task, variables = task_variables(ctx)
    dt, steps = T.model_timing(ctx.mf)
    checker = _SiteChecker(_variable_names(task, variables), value.span, dt, steps, "schedule",
                           _node_signals_explained(ctx), task, variables)
    expr = dotted(value.expr)
    t = checker.type_of(expr, checker.scope("schedule"))
    if t is not None:
        problem = _result_problem(t, p)
        if problem is not None:
            checker.error(problem[0], value.span, hint=problem[1])
    if checker.diags:
        return None, checker.diags
    assert t is not None
    funcs: list[T.Func] = []
    replaced = _replace_draws(expr, funcs)
    types = {id(f): ty for f, ty in checker.draw_types}
    draws = tuple(Draw(f"~{i}", f, types[id(f)].size, types[id(f)].base == "int") for i, f in enumerate(funcs))
    read = [n for n in T.names_in(expr) if "." in n]
    return SiteExpr(replaced, t, value.span, value.text, task, tuple(dict.fromkeys(n.partition(".")[2] for n in read)),
                    (), draws), []


# ---- custom interventions -----------------------------------------------------------------------


def check_custom(site: A.SiteDecl, kind: NodeKind) -> Diags:
    """A custom intervention has a `value`; no other kind has one."""
    if kind.name == CUSTOM and site.value is None:
        return [Diagnostic(f"the custom intervention `{site.name}` needs its value: `{{ value = ... }}`", site.kind_span,
                           hint=f"e.g. `site {site.name} at {site.target}: custom() {{ value = -2 * x }}`")]
    if kind.name != CUSTOM and site.value is not None:
        return [Diagnostic(f"`{kind.name}` computes its own effect; only a `custom` intervention takes `value = ...`",
                           site.value.name_span, hint=f"write `site {site.name} at {site.target}: custom(mode = \"add\") "
                                                      "{ value = ... }`")]
    return []


def _readable_signals(plan: Any, node: str, place: str, is_port: bool) -> tuple[dict[str, T.Type], dict[str, tuple[str, str | None]]]:
    """The node outputs (and their fields) a custom value at `node.place` can read, with their
    types, and the others explained: a node's state outputs are known from the start of the
    step; a feedthrough output once its node has run (before the site's node)."""
    port = plan.kinds[node].port(place) if is_port else None
    where = f"`{node}.{place}`"
    if port is not None and port.direction == "out" and plan.timing[node].get(place) == "state":
        earlier: set[str] = set()  # read at the start of the step, before any node runs
    elif node in plan.feedthrough_order:
        earlier = set(plan.feedthrough_order[:plan.feedthrough_order.index(node)])
    else:
        earlier = set(plan.feedthrough_order)
    names: dict[str, T.Type] = {}
    explain: dict[str, tuple[str, str | None]] = {}
    for n, kind in plan.kinds.items():
        for p in kind.ports:
            full = [(f"{n}.{p.name}", None)] + [(f"{n}.{p.name}.{f}", f) for f in p.fields]
            if p.direction != "out" or p.role != "signal":
                for name, _ in full:
                    explain[name] = (f"`{name}` is {'an input' if p.direction == 'in' else 'a per-trial initial value'}; "
                                     "a custom intervention reads the outputs of nodes", None)
                continue
            ok = kind.family == "task" or plan.timing[n].get(p.name) == "state" or n in earlier
            for name, fld in full:
                lo, hi = plan.field_slice(n, p.name, fld)
                if ok:
                    names[name] = T.Type("float", hi - lo)
                else:
                    explain[name] = (f"`{name}` is computed later in the step than {where}, where `{node}` runs",
                                     "a custom intervention reads any node's state outputs (a plant's effector, a delay "
                                     "line's output) and the outputs of nodes that run before its own")
    return names, explain


def analyse_value(cm: Any, plan: Any, site: Any, task_vars: Mapping[str, T.Type]) -> tuple[SiteExpr | None, Diags]:
    """The value of a custom intervention (a resolved site), checked against what its place can
    read at its point of the step; its size is one number or the signal's."""
    decl: A.SiteDecl = site.decl
    assert decl.value is not None
    size = plan.site_size(site)
    signals, explain = _readable_signals(plan, site.node, site.site, site.is_port)
    task = plan.task
    names = {SIGNAL: T.Type("float", size), TIME: T.FLOAT, **_variable_names(task, task_vars), **signals}
    checker = _SiteChecker(names, decl.value.span, cm.dt, cm.steps, "value", explain, task, task_vars)
    expr = dotted(decl.value.expr)
    t = checker.type_of(expr, checker.scope("value"))
    if t is not None and (not t.numeric or t.rows is not None):
        checker.error(f"the value of `{site.name}` is what it {'adds to' if site.params.get('mode') == 'add' else 'puts in'} "
                      f"`{site.node}.{site.site}`: numbers, but this is {t.words()}", decl.value.expr.span,
                      hint="turn a condition into a number with `if COND then 1 else 0`")
    elif t is not None and t.size is not None and t.size != size:
        checker.error(f"the value of `{site.name}` is {t.words()}, but `{site.node}.{site.site}` has {size} "
                      f"value{'s' if size != 1 else ''}", decl.value.expr.span,
                      hint="one number (for every element) or one per element")
    if checker.diags:
        return None, checker.diags
    assert t is not None
    read = T.names_in(expr)
    variables = [n.partition(".")[2] for n in read if n in _variable_names(task, task_vars)]
    return SiteExpr(expr, t, decl.value.span, "", task, tuple(dict.fromkeys(variables)),
                    tuple(n for n in read if n in signals)), []


def plan_diagnostics(cm: Any, plan: Any, registry: Mapping[str, NodeKind]) -> Diags:
    """Once sizes are known: each custom value checked (see `analyse_value`), and each vector
    parameter a schedule computes checked by its kind as a list of that length would be."""
    out: Diags = []
    for name, site in cm.sites.items():
        if site.decl.value is not None:
            out += analyse_value(cm, plan, site, cm.task_variables)[1]
        kind = registry[site.kind]
        for phase, specs in site.schedules.items():
            for param, spec in specs.items():
                if isinstance(spec, SiteExpr) and spec.type.size is not None:
                    stand_in = {**site.params, **site.per_trial, param: [0.0] * spec.type.size}
                    problems = [m for p, m in kind.size_problems(stand_in, {"signal": plan.site_size(site)}) + kind.problems(stand_in)
                                if p == param]
                    out += [Diagnostic(f"`{param}` = {spec.text}: {m}", spec.span) for m in problems[:1]]
    return out


__all__ = ["SiteExpr", "Draw", "analyse_schedule", "analyse_value", "check_custom", "plan_diagnostics", "dotted"]
