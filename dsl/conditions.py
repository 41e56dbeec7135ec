"""Stop rules and stage conditions: `until CONDITION`, a condition in the task language's
expression grammar over the results of a validation.

    stage easy { task.coherences = [0.7]  until accuracy >= 0.95 and loss < 0.05 }
    train { ...  until accuracy >= 0.9 }        the stop rule

The names a condition reads (each the mean over the validation trials, then over replicates):
  accuracy   the fraction of validation trials correct by the task's accuracy rule (a task
             with outputs whose `response` the network drives)
  loss       the validation loss
  TERM       each loss term by its name (weighted, as logged)
  METRIC     each metric the task declares (`metric NAME = ...`), its mean over the trials
  batch      the number of training batches done
A stage reads its own task's accuracy and metrics (the task it switches to, if it does). The
names above win over a loss term or metric of the same name. `until_accuracy = x`,
`stop_accuracy = x` and `stop_loss = x` are shorthands for `until accuracy >= x`,
`until accuracy >= x` and `until loss <= x`; when a block has several rules, any one ends it.

Checked here (names with positions, the type: a true-or-false value); evaluated with NumPy by
`holds` (the runtime builds the values from each validation record)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from . import ast as A
from . import tasklang as T
from .errors import Diagnostic
from .stagetasks import node_task_body, stage_task_body
from .tasklang.checker import _Checker, _Scope

Diags = list[Diagnostic]

BUILTIN = ("accuracy", "loss", "batch")


@dataclass(frozen=True)
class Condition:
    """A checked `until CONDITION`: the expression, its text and position, the names it reads."""

    expr: Any
    text: str
    span: A.Span
    names: tuple[str, ...]


def _has_accuracy(ctx: Any, body: Any) -> bool:
    """Whether validation reports accuracy: the task has outputs and its `response` is driven."""
    task = ctx.task_node
    if task is None or body is None:
        return False
    has_outputs = any(isinstance(st, T.Let) and st.name == "outputs" for st in body.statements)
    driven = any(e.target.node == task and e.target.port == "response" for e in ctx.mf.edges)
    return has_outputs and driven


def _metrics(body: Any) -> list[str]:
    return [st.name for st in body.statements if isinstance(st, T.Metric)] if body is not None else []


def _terms(ctx: Any) -> list[str]:
    return [t.name for b in ctx.mf.losses for t in b.terms]


def available(ctx: Any, stage: A.Stage | None) -> dict[str, T.Type]:
    """The names a stage's (or, with None, the train block's) condition may read, with their types."""
    found = stage_task_body(ctx, stage) if stage is not None else node_task_body(ctx)
    body = found[0] if found is not None else None
    names: dict[str, T.Type] = {}
    for n in _metrics(body) + _terms(ctx):
        names[n] = T.FLOAT
    if _has_accuracy(ctx, body):
        names["accuracy"] = T.FLOAT
    names["loss"] = T.FLOAT
    names["batch"] = T.INT
    return names


def _names_read(e: Any) -> list[T.Name]:
    return [x for x in T.walk(e) if isinstance(x, T.Name)]


def check_condition(until: A.Until, names: Mapping[str, T.Type], where: str) -> Diags:
    """One `until`: names it may read, a true-or-false value. `where` names the block in messages."""
    diags: Diags = []
    listed = ", ".join(f"`{n}`" for n in names)
    for x in T.walk(until.cond):
        if isinstance(x, T.Attr):
            diags.append(Diagnostic("a condition reads validation results by name, not `a.b`", x.span,
                                    hint=f"names {where} reads: {listed}"))
    if diags:
        return diags
    for x in _names_read(until.cond):
        if x.name not in names:
            hint = f"names {where} reads: {listed}"
            if x.name == "accuracy":
                hint = "there is no accuracy here: the task has no outputs, or nothing drives its `response`; " + hint
            diags.append(Diagnostic(f"unknown name `{x.name}` in `until`", x.span, hint=hint))
    if diags:
        return diags
    checker = _Checker(T.TaskBody((), until.span, ""), until.span, None, None)
    t = checker.type_of(until.cond, _Scope(dict(names), "until"))
    if checker.diags:
        return checker.diags
    if t is not None and (t.base != "bool" or t.size is not None or t.rows is not None):
        return [Diagnostic(f"`until` needs a condition (true or false), but this is {t.words()}", until.cond.span,
                           hint="compare it, e.g. `until accuracy >= 0.9` or `until loss < 0.01`")]
    return []


def _one(untils: tuple[A.Until, ...], what: str) -> Diags:
    return [Diagnostic(f"{what} has one `until`", u.span, hint="join conditions with `and` or `or`") for u in untils[1:]]


def check_conditions(ctx: Any) -> Diags:
    """Every `until` of the train block and of its stages."""
    diags: Diags = []
    for block in ctx.mf.trains:
        diags += _one(block.until, "a train block")
        for u in block.until[:1]:
            diags += check_condition(u, available(ctx, None), "the stop rule")
        for stage in block.stages:
            diags += _one(stage.until, "a stage")
            for u in stage.until[:1]:
                diags += check_condition(u, available(ctx, stage), f"stage `{stage.name}`")
    return diags


def resolve(until: tuple[A.Until, ...]) -> Condition | None:
    """The checked condition of a block (None without one)."""
    if not until:
        return None
    u = until[0]
    return Condition(u.cond, u.text, u.span, tuple(dict.fromkeys(x.name for x in _names_read(u.cond))))


def holds(cond: Condition, values: Mapping[str, float]) -> bool:
    """Whether the condition holds for these validation results (a name whose value is missing or
    not finite makes a comparison false, as NaN does)."""
    env = {n: float(values.get(n, float("nan"))) for n in cond.names}
    with np.errstate(all="ignore"):
        return bool(np.all(T.evaluate(cond.expr, env, np)))


__all__ = ["Condition", "available", "check_conditions", "check_condition", "resolve", "holds", "BUILTIN"]
