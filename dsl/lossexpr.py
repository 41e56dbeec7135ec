"""Loss terms written as expressions (`loss { late = mean((net.output - task.target)^2, during = respond) }`):
their checks, with the task language's own checker (`tasklang.checker`) and what a loss reads.

A loss expression reads signals `node.port[.field]` (one trial's (time, units) values), a
node's parameter tensors `net.W_rec` (the effective weights, as the `weights` term uses), the
task's trial variables `task.coherence`, the time `t` and the constants; it reduces them with
mean, sum, max, min (over time and units, maybe `during` an epoch of the task) to one number
per trial, which the loss averages over the batch's trials. The checks need the plan's port
sizes, so they run after planning (`plan.plan_checked`); the names of parameter tensors are
known to the compiler only, which checks them (`compiler.lower.check_param_refs`).
"""

from __future__ import annotations

from typing import Any

from . import ast as A
from . import tasklang as T
from .errors import Diagnostic, choices_hint
from .model import CheckedModel, ResolvedTerm
from .schema import LOSS_TERMS
from .tasklang.checker import _Checker, _Scope
from .tasklang.vocab import _names

Diags = list[Diagnostic]

# what a name in a loss expression reads: ("signal", node, port, field), ("tensor", node, param)
# or ("var", variable)
Read = tuple


def expression_nodes(e: Any) -> set[str]:
    """The nodes an expression names (the first part of `node.port`)."""
    out = set()
    for x in T.walk(e):
        if isinstance(x, T.Attr):
            base = x.base
            while isinstance(base, T.Attr):
                base = base.base
            if isinstance(base, T.Name):
                out.add(base.name)
    return out


def known_function(name: str) -> bool:
    """A function a loss expression may call (besides the built-in terms, which stand alone)."""
    return name in T.FUNCTIONS or name in T.CROSSINGS or name in T.METRIC_FUNCTIONS or name in T.ACCURACY_FUNCTIONS


def unknown_term(term: A.LossTerm) -> Diags:
    """`name = squared_eror(...)`: an unknown call standing as the term is an unknown loss term
    (reported before the plan, as the built-in terms' mistakes are)."""
    e = term.expr
    if isinstance(e, T.Binary) and e.op == "*" and isinstance(e.right, T.Func):
        e = e.right
    if isinstance(e, T.Func) and not known_function(e.name) and e.name not in T.DISTRIBUTIONS and e.name not in LOSS_TERMS:
        return [Diagnostic(f"unknown loss term `{e.name}`", e.name_span,
                           choices_hint(e.name, list(LOSS_TERMS) + ["mean", "sum", "max", "min"], "loss terms and reductions"))]
    return []


class _LossChecker(_Checker):
    """The task language's checker with a loss's names: signals, tensors, trial variables."""

    def __init__(self, cm: CheckedModel, plan: Any, spec: T.TaskSpec | None) -> None:
        body = T.TaskBody((), A.Span(cm.path, 1, 1, 1, 1))
        super().__init__(body, body.span, cm.dt, cm.steps)
        self.plan, self.spec, self.task = plan, spec, plan.task
        self.epoch_names = [ep.name for ep in spec.epochs] if spec is not None else []
        self.reads: dict[str, Read] = {}
        self.read_spans: dict[str, A.Span] = {}

    def scope(self, where: str) -> _Scope:
        return _Scope({"dt": T.FLOAT, "duration": T.FLOAT, "pi": T.FLOAT, "t": T.FLOAT, T.NEVER: T.FLOAT}, "loss")

    def _name(self, e: T.Name, sc: _Scope) -> T.Type | None:
        if e.name in sc.names:
            return sc.names[e.name]
        n = e.name
        if n in self.plan.kinds:
            kind = self.plan.kinds[n]
            outs = [p.name for p in kind.outputs if p.role == "signal"]
            self.error(f"`{n}` is a node; a loss reads its signals as `{n}.PORT`", e.span,
                       hint=f"its outputs: {_names(outs)}" if outs else None)
            return None
        if self.spec is not None and self.spec.variable(n) is not None:
            self.error(f"`{n}` is a trial variable of the task; a loss reads it as `{self.task}.{n}`", e.span)
            return None
        self.error(f"undefined name `{n}`", e.span,
                   hint=choices_hint(n, list(sc.names) + list(self.plan.kinds), "names a loss reads (and nodes)"))
        return None

    def _call(self, e: T.Func, sc: _Scope) -> T.Type | None:
        if e.name in LOSS_TERMS and e.name not in T.METRIC_FUNCTIONS:
            self.error(f"`{e.name}(...)` is a built-in loss term; it stands alone as a term, `name = [weight *] {e.name}(...)`",
                       e.name_span, hint="write it as a term of its own, and the rest as another term")
            return None
        if e.name == "final" and len(e.args) != 1:
            self.error("`final(x)` inside an expression is the value at the last step; the built-in term "
                       "`final(signal, target)` stands alone as a term", e.name_span)
            return None
        if e.name in T.ACCURACY_FUNCTIONS:
            self.error(f"`{e.name}` reads a task's response in `accuracy`; in a loss write first_crossing(x, level[, during = epoch])",
                       e.name_span)
            return None
        return super()._call(e, sc)

    def _attr(self, e: T.Attr, sc: _Scope) -> T.Type | None:
        """`node.port`, `node.port.field`, `task.VARIABLE` or `node.TENSOR`."""
        try:
            key = T.dotted(e)
        except TypeError:
            self.error("only a node's port, field or parameter is read with `.`, as `net.output`", e.span)
            return None
        parts = key.split(".")
        node = parts[0]
        kind = self.plan.kinds.get(node)
        if kind is None:
            self.error(f"unknown node `{node}`", e.span, hint=choices_hint(node, self.plan.kinds, "nodes"))
            return None
        if len(parts) > 3:
            self.error(f"`{key}` names too much: a loss reads `node.port` or `node.port.field`", e.span)
            return None
        port = kind.port(parts[1])
        if port is not None:
            return self._signal(e, key, node, kind, port, parts[2] if len(parts) == 3 else None)
        if node == self.task and self.spec is not None and self.spec.variable(parts[1]) is not None and len(parts) == 2:
            var = self.spec.variable(parts[1])
            self._read(key, ("var", parts[1]), e.span)
            return var.type if var.type.rows is None else None
        if kind.family != "task" and len(parts) == 2:
            self._read(key, ("tensor", node, parts[1]), e.span)  # its name is the compiler's to check
            return T.FLOAT
        outs = [p.name for p in kind.outputs if p.role == "signal"]
        names = outs + ([v.name for v in self.spec.variables] if node == self.task and self.spec is not None else [])
        self.error(f"`{node}` ({kind.name}) has no port `{parts[1]}`", e.span,
                   hint=choices_hint(parts[1], names, "its outputs" + (" and trial variables" if node == self.task else "")))
        return None

    def _signal(self, e: T.Attr, key: str, node: str, kind: Any, port: Any, fld: str | None) -> T.Type | None:
        if port.direction != "out" or port.role != "signal":
            why = "an input" if port.direction != "out" else "a per-trial initial value"
            outs = [p.name for p in kind.outputs if p.role == "signal"]
            self.error(f"a loss reads output signals; `{node}.{port.name}` is {why}", e.span,
                       hint=f"outputs of `{node}`: {_names(outs)}" if outs else None)
            return None
        if fld is not None:
            if fld not in port.fields:
                self.error(f"`{node}.{port.name}` has no field `{fld}`", e.span,
                           hint=choices_hint(fld, port.fields, "its fields") if port.fields else f"`{node}.{port.name}` has no fields")
                return None
            lo, hi = port.fields[fld]
        else:
            lo, hi = 0, self.plan.out_sizes[node][port.name]
        self._read(key, ("signal", node, port.name, fld), e.span)
        return T.Type("float", hi - lo)

    def _read(self, key: str, what: Read, span: A.Span) -> None:
        self.reads.setdefault(key, what)
        self.read_spans.setdefault(key, span)

    def name_varies(self, name: str, sc: _Scope) -> frozenset[str]:
        return frozenset({"time"}) if name == "t" else frozenset()

    def attr_varies(self, e: T.Attr, sc: _Scope) -> frozenset[str]:
        key = T.dotted(e)
        what = self.reads.get(key)
        if what is None or what[0] == "var":
            return frozenset()
        return frozenset({"time"}) if what[0] == "signal" else frozenset({f"tensor:{key}"})

    def term(self, term: ResolvedTerm) -> None:
        """One term: a number per trial (no time, no units left)."""
        e = term.expr
        sc = self.scope("loss")
        t = self.type_of(e, sc)
        if t is None:
            return
        example = f"mean({_text(term)})" if len(_text(term)) < 60 else "mean(...)"
        if t.base == "bool":
            self.error(f"a loss term is a number, but this is {t.words()}", e.span, hint="write `if COND then 1 else 0`")
            return
        if t.size not in (None, 1):  # a signal of one channel is one number
            self.error(f"a loss term is one number, but this is {t.words()} (one per unit)", e.span,
                       hint=f"reduce it, e.g. wrap it in {example} or sum(...)")
            return
        varies = self.varies(e, sc)
        if self.diags:
            return
        if "time" in varies:
            self.error("a loss term is one number, but this changes over time", e.span,
                       hint=f"reduce it over time, e.g. wrap it in {example} or sum(...)")
            return
        if any(v.startswith("tensor:") for v in varies):
            name = next(v for v in varies if v.startswith("tensor:"))[7:]
            self.error(f"a loss term is one number, but this is every entry of `{name}`", e.span,
                       hint=f"reduce it, e.g. mean(abs({name})) or sum({name}^2)")


def _text(term: ResolvedTerm) -> str:
    return term.text or "..."


def loss_diagnostics(cm: CheckedModel, plan: Any, spec: T.TaskSpec | None) -> Diags:
    """Every expression term of the loss checked against the plan; what each reads is stored
    on its `ResolvedTerm` (`reads`, `read_spans`) for the compiler and the runtime."""
    diags: Diags = []
    for term in cm.loss:
        if term.expr is None:
            continue
        checker = _LossChecker(cm, plan, spec)
        checker.term(term)
        diags += checker.diags
        term.reads, term.read_spans = dict(checker.reads), dict(checker.read_spans)
    return diags


__all__ = ["expression_nodes", "known_function", "loss_diagnostics", "unknown_term"]
