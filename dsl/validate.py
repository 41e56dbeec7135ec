"""The node kinds' own checks of a resolved model, reported at the parameter in the source.

Types, bounds and choices of single parameters are checked by `checks.py` from each `Param`;
what a single parameter cannot state (an ordered pair, indices into another parameter, a mask's
shape against the inferred sizes) is the kind's `validate` / `check_sizes` hook (see
`vocab.signature`). This module runs those hooks and positions their problems:
  - `value_diagnostics(cm)`: every node's and site's parameters, and every curriculum stage's
    task overrides merged into its task's parameters;
  - `size_diagnostics(cm, plan)`: the checks that need the plan's port sizes.
"""

from __future__ import annotations

from typing import Any, Mapping

from . import ast as A
from .errors import Diagnostic
from .model import CheckedModel
from .vocab import NodeKind, Problem


def _diag(kind: NodeKind, problem: Problem, span: A.Span | None, where: str) -> Diagnostic:
    param, message = problem
    decl = kind.param(param)
    hint = f"`{param}` of `{kind.name}`: {decl.doc}" if decl is not None and decl.doc else None
    return Diagnostic(f"{where}: {message}" if where else message, span, hint)


def _span(spans: Mapping[str, A.Span], key: str, param: str) -> A.Span | None:
    """The parameter's own position when the file gives it, else the declaration's."""
    return spans.get(f"{key}.{param}") or spans.get(key)


def value_diagnostics(cm: CheckedModel, registry: Mapping[str, NodeKind]) -> list[Diagnostic]:
    """Problems the kinds find in the resolved parameters of nodes, sites and stage overrides."""
    spans, out = cm.setting_spans, []
    for name, node in cm.nodes.items():
        kind = registry[node.kind].for_node(node.params)
        out += [_diag(kind, p, _span(spans, f"node.{name}", p[0]), "") for p in kind.problems(node.params)]
    for name, site in cm.sites.items():
        kind = registry[site.kind]
        params = {**site.params, **site.per_trial}
        out += [_diag(kind, p, _span(spans, f"site.{name}", p[0]), "") for p in kind.problems(params)]
    for stage in cm.stages:
        out += _stage_diagnostics(cm, registry, stage.name, stage.overrides)
    return out


def _stage_diagnostics(cm: CheckedModel, registry: Mapping[str, NodeKind], stage: str,
                       overrides: Mapping[str, Any]) -> list[Diagnostic]:
    """A stage's task overrides checked as the task's parameters in that stage."""
    task = cm.task
    if task is None or not overrides:
        return []
    kind = registry[task.kind].for_node(task.params)
    merged = {**task.params, **overrides}
    out = []
    for problem in kind.problems(merged):
        if problem[0] not in overrides:
            continue  # reported at the node (or not a problem of this stage)
        span = next((cm.setting_spans[k] for k in (f"train.stage.{stage}.{n}.{problem[0]}" for n in (task.name, "task"))
                     if k in cm.setting_spans), cm.setting_spans.get(f"train.stage.{stage}"))
        out.append(_diag(kind, problem, span, f"in stage `{stage}`"))
    return out


def size_diagnostics(cm: CheckedModel, plan: Any, registry: Mapping[str, NodeKind]) -> list[Diagnostic]:
    """Problems the kinds find once the plan knows every port's size."""
    spans, out = cm.setting_spans, []
    for name in cm.nodes:
        kind = plan.kinds[name]
        out += [_diag(kind, p, _span(spans, f"node.{name}", p[0]), "")
                for p in kind.size_problems(plan.params[name], plan.sizes(name))]
    for name, site in cm.sites.items():
        kind = registry[site.kind]
        params = {**site.params, **site.per_trial}
        out += [_diag(kind, p, _span(spans, f"site.{name}", p[0]), "")
                for p in kind.size_problems(params, {"signal": plan.site_size(site)})]
    return out
