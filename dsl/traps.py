"""Checks of a resolved model for mistakes that would otherwise pass silently or fail late:

  - a site's per-trial `values` whose length fits neither one value nor one per unit of its
    `units` (the clamp once died in training with a JAX traceback): an error at the values;
  - a plant whose `init` port is not connected while the task offers start states: a warning
    (every trial would start at rest at the origin, ignoring the task's start positions);
  - a time step of a second or more with a mechanical plant, whose equations are in seconds
    (dt = 50 meant as milliseconds makes the plant blow up to NaN): a warning at `dt`.

Run by `checks.check` after resolution; returns diagnostics, errors and warnings mixed."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from . import ast as A
from .errors import Diagnostic
from .model import CheckedModel, Distribution
from .sitelang import SiteExpr

Diags = list[Diagnostic]
MECHANICS_DT_WARNING = 1.0  # time units per step from which a plant's dt looks like milliseconds


def check(cm: CheckedModel, registry: Mapping[str, Any]) -> Diags:
    return [*site_value_lengths(cm), *unconnected_plant_init(cm, registry), *plant_time_step(cm)]


def _value_specs(site: Any, name: str, spans: Mapping[str, A.Span]) -> Iterable[tuple[Any, A.Span | None]]:
    """Every value a per-trial parameter may take (default, schedules), with the span it came from."""
    if name in site.per_trial:
        yield site.per_trial[name], spans.get(f"site.{site.name}.{name}")
    for phase, overrides in site.schedules.items():
        if name in overrides:
            yield overrides[name], spans.get(f"site.{site.name}.{phase}.{name}") or spans.get(f"site.{site.name}")


def _lengths(value: Any) -> list[int]:
    """The lengths a vector value may have: one list, or each option of a choice(...)."""
    if isinstance(value, Distribution):
        if value.name == "choice":
            return [n for v in value.args for n in _lengths(v)]
        return [1]  # normal/uniform draw one number, applied to every unit
    if isinstance(value, (list, tuple)):
        return [len(value)]
    if isinstance(value, SiteExpr):  # an expression of the trial (`values = [1, 2] * task.goal[0]`)
        return [value.type.size or 1]
    return [1]


def site_value_lengths(cm: CheckedModel) -> Diags:
    """`values` of a site with `units`: 1 value (for every unit) or one per unit."""
    diags = []
    for site in cm.sites.values():
        units = site.params.get("units")
        if not isinstance(units, (list, tuple)):
            continue
        n = len(units)
        for value, span in _value_specs(site, "values", cm.setting_spans):
            bad = [k for k in _lengths(value) if k not in (1, n)]
            if bad:
                diags.append(Diagnostic(
                    f"`values` of `{site.name}` has {bad[0]} value{'s' if bad[0] != 1 else ''} for {n} unit{'s' if n != 1 else ''} "
                    f"in `units`; give one value per unit, or a single value for all",
                    span or site.decl.span, hint=f"`units` lists {n} unit{'s' if n != 1 else ''}: {_short(units)}"))
                break
    return diags


def _short(items: list) -> str:
    return str(list(items)) if len(items) <= 8 else str(list(items[:8]))[:-1] + ", ...]"


def unconnected_plant_init(cm: CheckedModel, registry: Mapping[str, Any]) -> Diags:
    """A warning at a plant whose `init` port has no edge while the task has a start-state port."""
    task = cm.task
    if task is None or task.kind not in registry:
        return []
    starts = [p.name for p in registry[task.kind].outputs if p.role == "init"]
    if not starts:
        return []
    fed = {(e.target.node, e.target.port) for e in cm.edges}
    diags = []
    for node in cm.nodes.values():
        if node.family != "mechanics" or node.kind not in registry:
            continue
        for port in registry[node.kind].inputs:
            if port.role == "init" and (node.name, port.name) not in fed:
                diags.append(Diagnostic(
                    f"`{node.name}.{port.name}` is not connected: every trial starts `{node.name}` at rest at the origin, "
                    f"ignoring the task's start states (`{task.name}.{starts[0]}`)", node.decl.name_span,
                    hint=f"add the edge `{task.name}.{starts[0]} -> {node.name}.{port.name}`", severity="warning"))
    return diags


def plant_time_step(cm: CheckedModel) -> Diags:
    """A warning when dt looks like milliseconds in a model with a plant (plants use seconds)."""
    plants = [n.name for n in cm.nodes.values() if n.family == "mechanics"]
    if not plants or cm.dt < MECHANICS_DT_WARNING:
        return []
    span = cm.setting_spans.get("model.dt")
    dt = f"{cm.dt:g}"
    return [Diagnostic(f"`dt` = {dt} with the plant `{plants[0]}`: plants integrate in seconds, so each step is {dt} s "
                       "and the plant is likely to blow up (NaN)", span or cm.nodes[plants[0]].decl.name_span,
                       hint=f"for {dt} ms steps write `dt = {cm.dt / 1000:g}`, with durations and times in seconds too",
                       severity="warning")]


def file_keys_read(mf: A.ModelFile) -> dict[str, set[str]]:
    """For each path, the array names the file reads from it with `file(path, key)` anywhere:
    an archive given whole to `weights` may hold arrays read elsewhere (an imported network's
    masks), which are then not unknown parameters."""
    out: dict[str, set[str]] = {}
    stack: list[Any] = [*mf.nodes, *mf.sites, *mf.trains]
    while stack:
        item = stack.pop()
        if isinstance(item, A.Call):
            if item.name == "file" and len(item.args) == 2 and all(isinstance(a, A.String) for a in item.args):
                out.setdefault(item.args[0].value, set()).add(item.args[1].value)  # type: ignore[union-attr]
            stack.extend(item.args)
            stack.extend(k.value for k in item.kwargs)
        elif isinstance(item, A.ListValue):
            stack.extend(item.items)
        elif isinstance(item, A.NodeDecl | A.SiteDecl):
            stack.extend(k.value for k in item.params)
        elif isinstance(item, A.TrainBlock):
            stack.extend(s.value for s in item.settings)
            stack.extend(s.value for st in item.stages for s in st.settings)
        elif isinstance(item, A.Setting):
            stack.append(item.value)
    return out


def weights_file_path(node_decl: A.NodeDecl) -> str | None:
    """The path of a node's `weights = file("x.npz")`, if it has one."""
    for kw in node_decl.params:
        v = kw.value
        if kw.name == "weights" and isinstance(v, A.Call) and v.name == "file" and v.args and isinstance(v.args[0], A.String):
            return v.args[0].value
    return None
