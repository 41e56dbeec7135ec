"""The checker of a task body: names, types, channels, ports, epochs, metrics, the validation
grid and the requirements on a declaration's parameters, every mistake with its position."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .. import ast as A
from .. import distributions as D  # noqa: F401
from ..errors import choices_hint, did_you_mean
from .evaluate import constants, evaluate, param_env, reduction_axes
from .spec import (Accuracy, AssignSpec, Channel, EpochSpec, PortSpec, TaskSpec, Variable, _count, param_type)
from .syntax import *  # noqa: F401,F403  (the tree's classes)
from .syntax import Expr, Statement
from .vocab import *  # noqa: F401,F403  (names, tables, types)
from .vocab import Diags, _err, _names, _show
from .steps import PREVIOUS, StepChecks


@dataclass
class _Scope:
    """The names an expression may read: their types, and what they are if not readable."""

    names: dict[str, Type]
    where: str  # "trial", "epoch", "noise", "accuracy", "choice", "metric", "grid", "param", "loss"

    @property
    def signals(self) -> bool:
        """Whether signals over time are read here (reductions over time, windows, crossings)."""
        return self.where in SIGNAL_PLACES

    @property
    def axes(self) -> tuple[str, ...]:
        """What a reduction without `over` reduces: one trial's (time, units) where signals
        are read, a value's units elsewhere."""
        return ("time", "units") if self.signals else ("units",)


@dataclass
class Use:
    """Where a declared task is used: `node t = NAME(args)`. `spans` gives the position of each
    argument given (where a requirement it breaks is reported), `at` the position of the call."""

    task: str
    at: A.Span
    spans: dict[str, A.Span] = field(default_factory=dict)


class _Checker(StepChecks):
    def __init__(self, body: TaskBody, decl_span: A.Span, dt: float | None, steps: int | None,
                 params: Mapping[str, Any] | None = None, use: Use | None = None) -> None:
        self.body = body
        self.decl_span = decl_span
        self.dt, self.steps = dt, steps
        self.diags: Diags = []
        self.params: dict[str, Any] = dict(params or {})
        self.param_types: dict[str, Type] = {k: param_type(v) for k, v in self.params.items()}
        self.use = use
        self.vars: dict[str, Type] = {}
        self.definitions: dict[str, Let | Draw] = {}  # every variable, for "used before defined"
        self.inputs: list[Channel] = []
        self.outputs: list[Channel] = []
        self.ports: list[PortSpec] = []
        self.const_env: dict[str, Any] = {**constants(dt or 1.0, steps or 1), **param_env(self.params)}
        self.grid_exprs: dict[str, Expr] = {}
        self.types: dict[int, Type] = {}  # the type of every sub-expression checked, by id
        self.epoch_names: list[str] = list(dict.fromkeys(s.name for s in body.statements if isinstance(s, Epoch)))
        self.choice_stmt: Let | None = choice_statement(body.statements)
        self.step_vars: dict[str, A.Span] = {}  # per-step variables: where each is defined
        self.holding: str | None = None  # the hold whose rule is being checked

    def error(self, *args: Any, **kw: Any) -> None:
        d = _err(*args, **kw)
        if d not in self.diags:  # a sub-expression checked twice reports once
            self.diags.append(d)

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> TaskSpec | None:
        st_all = self.body.statements
        for st in st_all:
            if isinstance(st, (Let, Draw)) and st.name not in SETTINGS and st is not self.choice_stmt \
                    or isinstance(st, (StepDraw, Hold)):
                self.definitions.setdefault(st.name, st)  # type: ignore[arg-type]
        if not self._param_requirements(st_all):
            return None  # the body is not checked against values it does not accept
        self._settings_once(st_all)
        self._channels(st_all)
        self._ports(st_all)
        variables = self._variables(st_all)
        init_sets = self._init_sets(st_all)
        noise, scaled = self._noise(st_all)
        epochs = self._epochs(st_all)
        choice = self._choice()
        accuracy = self._accuracy(st_all)
        metrics = self._metrics(st_all)
        grid, trials = self._validation(st_all)
        requires = self._requires(st_all)
        if self.diags:
            return None
        return TaskSpec(self.inputs, self.outputs, variables, epochs, noise, scaled, accuracy, grid, self.grid_exprs,
                        trials, requires, self.ports, init_sets, metrics, self.params, choice)

    # -- requirements on the parameters --------------------------------------------------------
    def _param_requirements(self, statements: Sequence[Statement]) -> bool:
        """`require CONDITION` lines: conditions on the parameters, checked first; a value that
        breaks one is reported at the argument that gives it (or at the use of the task)."""
        ok = True
        for st in (s for s in statements if isinstance(s, RequireCond)):
            t = self.type_of(st.cond, self.scope("param"))
            if t is None:
                ok = False
                continue
            if t.base != "bool" or t.rows is not None:
                self.error(f"a requirement is a condition, but this is {t.words()}", st.cond.span)
                ok = False
                continue
            try:
                with np.errstate(all="ignore"):
                    value = evaluate(st.cond, self.const_env, np)
            except Exception:  # noqa: BLE001 - an index out of range in the requirement itself
                value = False
            if bool(np.all(value)):
                continue
            ok = False
            names = names_in(st.cond)
            given = [n for n in names if self.use is not None and n in self.use.spans]
            shown = ", ".join(f"{n} = {_show(self.params[n])}" for n in (given or [n for n in names if n in self.params]))
            where = self.use.task if self.use is not None else "the task"
            span = self.use.spans[given[0]] if given else (self.use.at if self.use is not None else st.span)
            self.error(f"`{where}` requires `{st.text}`" + (f"; got {shown}" if shown else ""), span,
                       hint=f"the requirement is part of the declaration of `{where}`")
        return ok

    # -- settings and channels ------------------------------------------------------------------
    def _settings_once(self, statements: Sequence[Statement]) -> None:
        first: dict[str, A.Span] = {}
        for st in statements:
            key = None
            if isinstance(st, Let) and st.name in SETTINGS:
                key, span = st.name, st.name_span
            elif isinstance(st, Noise):
                key, span = "noise", st.span
            elif isinstance(st, Validation):
                key, span = "validation", st.span
            if key is None:
                continue
            if key in first:
                self.error(f"duplicate `{key}`", span, hint=f"a task has one `{key}`",
                           related=((first[key], f"the first `{key}` is here"),))
            else:
                first[key] = span

    def _channels(self, statements: Sequence[Statement]) -> None:
        seen: dict[str, A.Span] = {}
        declares_ports = any(isinstance(s, PortDecl) for s in statements)
        for which in CHANNEL_SETTINGS:
            st = next((s for s in statements if isinstance(s, Let) and s.name == which), None)
            if st is None:
                if not declares_ports:
                    self.error(f"the task declares no `{which}`", self.decl_span,
                               hint=f"list its {which[:-1]} channels, e.g. `{which} = [left, right]` (`ring[16]` names 16 "
                                    "channels), or declare its ports (`signal`, `init`, `input`)")
                continue
            groups = self.inputs if which == "inputs" else self.outputs
            groups += self._channel_list(st.value, which, seen)

    def _channel_list(self, value: Expr | None, which: str, seen: dict[str, A.Span]) -> list[Channel]:
        """The channel groups a list such as `[left, right, ring[16]]` declares."""
        if value is None:
            return []
        if not isinstance(value, Vector):
            self.error(f"`{which}` is a list of channel names, such as `[left, right]`", value.span)
            return []
        out, lo = [], 0
        for item in value.items:
            got = self._channel_item(item)
            if got is None:
                continue
            name, size, span = got
            if name in seen:
                self.error(f"duplicate channel `{name}`", span, related=((seen[name], f"`{name}` is first declared here"),))
                continue
            if name in RESERVED:
                self.error(f"`{name}` is a built-in name and cannot name a channel", span)
                continue
            seen[name] = span
            out.append(Channel(name, lo, lo + size))
            lo += size
        return out

    def _channel_item(self, item: Expr) -> tuple[str, int, A.Span] | None:
        if isinstance(item, Name):
            return item.name, 1, item.span
        if isinstance(item, Index) and isinstance(item.base, Name):
            n = _count(item.index, self.params)
            if n is not None:
                return item.base.name, n, item.span
            self.error(f"the number of channels in `{item.base.name}[n]` must be a whole number from 1 to {MAX_CHANNELS:,}",
                       item.index.span,
                       hint="write it with numbers and the task's parameters")
            return None
        self.error("a channel is a name, or `name[n]` for a group of n channels", item.span)
        return None

    def _ports(self, statements: Sequence[Statement]) -> None:
        """`signal`, `init` and `input` ports: names unique (and not those `inputs` and `outputs`
        give), channel groups unique within the port."""
        taken = {"input": bool(self.inputs), "target": bool(self.outputs), "mask": bool(self.outputs),
                 "response": bool(self.outputs)}
        first: dict[str, A.Span] = {}
        for st in (s for s in statements if isinstance(s, PortDecl)):
            if taken.get(st.name):
                self.error(f"`{st.name}` is already a port of this task (from `{'inputs' if st.name == 'input' else 'outputs'}`)",
                           st.name_span, hint="name the port differently")
                continue
            if st.name in first:
                self.error(f"duplicate port `{st.name}`", st.name_span, related=((first[st.name], "it is first declared here"),))
                continue
            if st.name in PARAM_RESERVED - set(GENERATED_PORTS) or st.name in self.params:
                self.error(f"`{st.name}` is a built-in name or a parameter and cannot name a port", st.name_span)
                continue
            first[st.name] = st.name_span
            channels = self._channel_list(st.channels, st.kind, {}) if st.channels is not None else []
            self.ports.append(PortSpec(st.name, st.kind, tuple(channels)))

    # -- names and types ------------------------------------------------------------------------
    def scope(self, where: str) -> _Scope:
        """The names readable in one place: "param" (requirements), "grid", "trial", "epoch",
        "noise", "accuracy" or "metric"."""
        consts = {"dt": FLOAT, "duration": FLOAT, "pi": FLOAT, **self.param_types}
        if where in ("grid", "param"):
            return _Scope(consts, where)
        names = {**self.vars, **consts, VALIDATING: BOOL}
        if where in ("epoch", "noise", "step"):
            names["t"] = FLOAT
        if where == "epoch":
            names.update({n: FLOAT for n in EPOCH_NAMES})
        if where == "accuracy":
            names.update({n: INT for n in ACCURACY_NAMES})
        if where in SIGNAL_PLACES:
            names.update({"t": FLOAT, NEVER: FLOAT})
            names.update({p.name: Type("float", p.size) for p in self.input_ports()})
        return _Scope(names, where)

    def input_ports(self) -> list[PortSpec]:
        """The ports the task receives (its `input` ports and `response`), read by metrics,
        the accuracy and the choice."""
        return [p for p in self.ports if p.kind == "input"] + (
            [PortSpec("response", "input", tuple(self.outputs))] if self.outputs else [])

    def _name(self, e: Name, sc: _Scope) -> Type | None:
        if e.name in sc.names:
            return sc.names[e.name]
        n = e.name
        if n in TIME_NAMES or n in EPOCH_NAMES:
            if sc.where == "grid":
                self.error(f"`{n}` is the time within a trial; a validation grid holds fixed values", e.span)
            elif n in TIME_NAMES:
                self.error(f"`{n}` is the time within the trial; {self._where_words(sc)} cannot depend on it", e.span,
                           hint="use `t` inside an epoch, e.g. `left = t / duration`")
            else:
                self.error(f"`{n}` belongs to an epoch; it is only available inside an epoch's braces", e.span)
            return None
        if n in ACCURACY_NAMES:
            self.error(f"`{n}` is the network's choice; it is only available in `accuracy`", e.span)
            return None
        if n == NEVER:
            self.error("`never` is the time of a crossing that does not happen; it is only available where the network's "
                       "response is read (a metric, `accuracy`, `choice`, a loss)", e.span)
            return None
        if sc.where == "grid" and n in self.vars:
            self.error(f"a validation grid holds fixed values; it cannot read the variable `{n}`", e.span)
            return None
        if sc.where == "param" and (n in self.vars or n in self.definitions):
            self.error(f"a requirement reads the task's parameters; `{n}` is a trial variable", e.span)
            return None
        if sc.where == "param" and n == VALIDATING:
            self.error(f"a requirement reads the task's parameters, not `{n}`", e.span)
            return None
        if any(p.name == n for p in self.ports) or (n == "response" and self.outputs):
            self.error(f"`{n}` is a port; only a metric, `accuracy` and `choice` read a port, as `{n}` or `{n}.CHANNEL`",
                       e.span)
            return None
        chan = next((c for c in self.inputs + self.outputs if c.name == n), None)
        if chan is not None or n in SIGNALS:
            self.error(f"`{n}` is a channel; expressions read trial variables, not channels", e.span,
                       hint="a channel is set inside an epoch: `name = value`")
            return None
        if n == PREVIOUS:
            self.previous_outside(e)
            return None
        if self.own_name(e):
            return None
        later = self.definitions.get(n)
        if later is not None:
            verb = "drawn" if isinstance(later, (Draw, StepDraw)) else "computed"
            self.error(f"`{n}` is used before it is {verb}", e.span,
                       hint="trial variables are drawn and computed in the order they are written; move this line below it",
                       related=((later.name_span, f"`{n}` is {verb} here"),))
            return None
        if n in ACCURACY_RULES:
            self.error(f"`{n}` is an accuracy rule; write `accuracy = {n}`", e.span)
            return None
        self.error(f"undefined name `{n}`", e.span, hint=choices_hint(n, sc.names, "names defined here"))
        return None

    @staticmethod
    def _where_words(sc: _Scope) -> str:
        return {"trial": "a trial variable (drawn once per trial)", "grid": "a validation grid"}.get(sc.where, "this value")

    def type_of(self, e: Expr, sc: _Scope) -> Type | None:
        """The type of an expression; None (with an error reported) when it is wrong."""
        t = self._type_of(e, sc)
        if t is not None:
            self.types[id(e)] = t
        return t

    def _type_of(self, e: Expr, sc: _Scope) -> Type | None:
        if isinstance(e, Str):
            self.error("a string is only an argument of a built-in loss term (such as `reduce = \"mean\"`)", e.span)
            return None
        if isinstance(e, Num):
            return INT if isinstance(e.value, int) else FLOAT
        if isinstance(e, BoolLit):
            return BOOL
        if isinstance(e, Name):
            return self._name(e, sc)
        if isinstance(e, Vector):
            return self._vector(e, sc)
        if isinstance(e, Index):
            return self._index(e, sc)
        if isinstance(e, Attr):
            return self._attr(e, sc)
        if isinstance(e, Unary):
            t = self.type_of(e.operand, sc)
            if t is None:
                return None
            if e.op == "not":
                return t if self._want_bool(t, e.operand, "`not`") else None
            return t if self._want_number(t, e.operand, f"`{e.op}`") else None
        if isinstance(e, Binary):
            return self._binary(e, sc)
        if isinstance(e, If):
            return self._if(e, sc)
        if isinstance(e, Func):
            return self._call(e, sc)
        raise TypeError(f"not an expression: {e!r}")

    def _attr(self, e: Attr, sc: _Scope) -> Type | None:
        """`port.channel` in a metric, `accuracy` or `choice`: a channel group of an input
        port, per time step."""
        inputs = self.input_ports()
        if not isinstance(e.base, Name):
            self.error("only a port's channel is read with `.`, as `effector.pos`", e.span)
            return None
        port = next((p for p in inputs if p.name == e.base.name), None)
        if port is None:
            self.error(f"`{e.base.name}` is not an input port of this task", e.base.span,
                       hint=f"input ports: {_names(p.name for p in inputs)}" if inputs else "declare one: `input effector = [pos[2], vel[2]]`")
            return None
        if not sc.signals:
            self.error(f"`{e.base.name}.{e.name}` is what the task receives; only a metric, `accuracy` and `choice` read it",
                       e.span)
            return None
        ch = port.channel(e.name)
        if ch is None:
            self.error(f"the port `{port.name}` has no channel `{e.name}`", e.span,
                       hint=choices_hint(e.name, [c.name for c in port.channels], "its channels"))
            return None
        return Type("float", ch.size)

    def _want_number(self, t: Type, e: Expr, what: str) -> bool:
        if t.rows is not None:
            self.error(f"{what} needs numbers, but this is {t.words()}", e.span, hint="take a row of a matrix with m[i]")
            return False
        if t.numeric:
            return True
        self.error(f"{what} needs numbers, but this is {t.words()}", e.span,
                   hint="turn a condition into a number with `if COND then 1 else 0`")
        return False

    def _want_bool(self, t: Type, e: Expr, what: str) -> bool:
        if t.base == "bool":
            return True
        self.error(f"{what} needs a condition (true or false), but this is {t.words()}", e.span,
                   hint="compare it, e.g. `x > 0` or `direction == 1`")
        return False

    def _broadcast(self, types: Sequence[Type], exprs: Sequence[Expr], what: str) -> int | None | bool:
        """The common size of operands (None: all scalars; a scalar goes with any vector);
        False after an error."""
        size: int | None = None
        for t, e in zip(types, exprs):
            if t.size is None:
                continue
            if size is not None and t.size != size:
                self.error(f"{what} combines vectors of different lengths: {size} and {t.size}", e.span,
                           hint="combine values of one length, or a vector with single numbers; pick channels with an "
                                "index (`v[0]`) or a field (`arm.effector.pos`)")
                return False
            size = t.size
        return size

    def _vector(self, e: Vector, sc: _Scope) -> Type | None:
        types = [self.type_of(i, sc) for i in e.items]
        if any(t is None for t in types):
            return None
        for item, t in zip(e.items, types):
            if t.size is not None:
                self.error("a vector holds numbers, not vectors", item.span, hint="vectors are flat, e.g. [1, 0.2]")
                return None
        bases = {t.base for t in types}
        if "bool" in bases and len(bases) > 1:
            self.error("a vector mixes numbers and conditions", e.span)
            return None
        base = "bool" if bases == {"bool"} else ("int" if bases == {"int"} else "float")
        return Type(base, len(e.items))

    def _index(self, e: Index, sc: _Scope) -> Type | None:
        bt, it = self.type_of(e.base, sc), self.type_of(e.index, sc)
        if bt is None or it is None:
            return None
        if bt.rows is not None:
            if it.base != "int" or it.size is not None:
                self.error(f"a row index is an integer, but this is {it.words()}", e.index.span)
                return None
            k = self.const(e.index)
            if k is not None and not 0 <= int(k) < bt.rows:
                self.error(f"row {int(k)} is out of range for a matrix of {bt.rows} rows (0 to {bt.rows - 1})", e.index.span)
                return None
            return Type(bt.base, bt.size)
        if bt.size is None:
            self.error(f"only a vector can be indexed, but this is {bt.words()}", e.base.span)
            return None
        if it.base != "int" or it.size is not None:
            self.error(f"an index is an integer, but this is {it.words()}", e.index.span,
                       hint="round a number down with floor(x)")
            return None
        k = self.const(e.index)
        if k is not None and not 0 <= int(k) < bt.size:
            self.error(f"index {int(k)} is out of range for a vector of {bt.size} (0 to {bt.size - 1})", e.index.span)
            return None
        return Type(bt.base)

    def _binary(self, e: Binary, sc: _Scope) -> Type | None:
        lt, rt = self.type_of(e.left, sc), self.type_of(e.right, sc)
        if lt is None or rt is None:
            return None
        if e.op in ("==", "!=") and any(isinstance(x, Name) and x.name == NEVER for x in (e.left, e.right)):
            self.error(f"`{e.op} never` is always false: every comparison with `never` is", e.span,
                       hint="whether a signal reaches a level is `crossed(x, level)`; that it never does, `not crossed(x, level)`")
            return None
        what = f"`{e.op}`"
        if e.op in ("and", "or"):
            if not (self._want_bool(lt, e.left, what) and self._want_bool(rt, e.right, what)):
                return None
            size = self._broadcast([lt, rt], [e.left, e.right], what)
            return None if size is False else Type("bool", size)
        if e.op in ("==", "!=") and lt.base == "bool" and rt.base == "bool":
            size = self._broadcast([lt, rt], [e.left, e.right], what)
            return None if size is False else Type("bool", size)
        if not (self._want_number(lt, e.left, what) and self._want_number(rt, e.right, what)):
            return None
        size = self._broadcast([lt, rt], [e.left, e.right], what)
        if size is False:
            return None
        if e.op in ("<", "<=", ">", ">=", "==", "!="):
            return Type("bool", size)
        base = "int" if lt.base == rt.base == "int" and e.op in "+-*" else "float"
        return Type(base, size)

    def _if(self, e: If, sc: _Scope) -> Type | None:
        ct, at, bt = self.type_of(e.cond, sc), self.type_of(e.then, sc), self.type_of(e.orelse, sc)
        if ct is None or at is None or bt is None:
            return None
        if not self._want_bool(ct, e.cond, "`if`"):
            return None
        if at.numeric != bt.numeric:
            self.error(f"the two branches of `if` differ: `then` gives {at.words()}, `else` gives {bt.words()}", e.orelse.span)
            return None
        size = self._broadcast([ct, at, bt], [e.cond, e.then, e.orelse], "`if`")
        if size is False:
            return None
        base = at.base if at.base == bt.base else "float"
        return Type(base, size)

    def _arity(self, e: Func, table: Mapping[str, tuple[int, int | None, str]]) -> bool:
        lo, hi, desc = table[e.name]
        n = len(e.args)
        if n < lo or (hi is not None and n > hi):
            want = str(lo) if lo == hi else (f"at least {lo}" if hi is None else f"{lo} or {hi}")
            self.error(f"`{e.name}` takes {want} argument{'s' if (hi or 2) != 1 else ''}, got {n}", e.span, hint=f"write {desc}")
            return False
        return True

    def _call(self, e: Func, sc: _Scope) -> Type | None:
        if e.name in DISTRIBUTIONS:
            self.error(f"`{e.name}(...)` draws a trial variable; it can only be written as `name ~ {e.name}(...)`", e.name_span,
                       hint="draw it on its own line, then use its name here")
            return None
        if e.name in ACCURACY_FUNCTIONS:
            if sc.where != "accuracy":
                self.error(f"`{e.name}` reads the network's response; it is only available in `accuracy`", e.name_span)
                return None
            return self._crossing(e, sc)
        if e.name == "threshold":
            self.error("`threshold(level, tolerance)` is an accuracy rule; write `accuracy = threshold(...)`", e.name_span)
            return None
        if e.name in METRIC_FUNCTIONS:
            if not sc.signals:
                self.error(f"`{e.name}` reads a signal over the trial; it is only available in a `metric`", e.name_span)
                return None
            if not self._arity(e, METRIC_FUNCTIONS) or not self._no_keywords(e):
                return None
            return self.type_of(e.args[0], sc)
        if e.name in CROSSINGS:
            return self._window_crossing(e, sc)
        if e.name in REDUCTIONS and len(e.args) == 1:
            return self._reduction(e, sc)
        if e.name not in FUNCTIONS:
            self.error(f"unknown function `{e.name}`", e.name_span,
                       hint=choices_hint(e.name, list(FUNCTIONS) + list(DISTRIBUTIONS), "functions"))
            return None
        if not self._arity(e, FUNCTIONS) or not self._no_keywords(e):
            return None
        types = [self.type_of(a, sc) for a in e.args]
        if any(t is None for t in types):
            return None
        name = e.name
        if name == "argmax":
            if not self._want_number(types[0], e.args[0], "`argmax`"):
                return None
            if types[0].size is None:
                self.error(f"`argmax` picks a channel of a vector, but this is {types[0].words()}", e.args[0].span,
                           hint="e.g. argmax(concat(response.left, response.right))")
                return None
            return INT
        if name == "size":
            if types[0].size is None:
                self.error(f"`size` takes a vector or a matrix, but this is {types[0].words()}", e.args[0].span)
                return None
            return INT
        if name in ("all", "any"):
            if not self._want_bool(types[0], e.args[0], f"`{name}`"):
                return None
            return BOOL
        if name == "column":
            return self._column(e, types)
        for a, t in zip(e.args, types):
            if not self._want_number(t, a, f"`{e.name}`"):
                return None
        if name == "norm":
            return FLOAT
        if name == "concat":
            return Type("int" if all(t.base == "int" for t in types) else "float", sum(t.size or 1 for t in types))
        if name in ("onehot", "range", "linspace"):
            n_arg = e.args[-1]
            n = self._const_count(n_arg, name)
            if n is None:
                return None
            if name == "range":
                return Type("int", n)
            if any(t.size is not None for t in types[:-1]) or (name == "onehot" and types[0].base != "int"):
                what = "an integer index" if name == "onehot" else "numbers"
                self.error(f"the first argument{'s' if name == 'linspace' else ''} of `{name}` must be {what}, "
                           f"got {types[0].words()}", e.args[0].span,
                           hint="round a number down with floor(x)" if name == "onehot" else None)
                return None
            return Type("float", n)
        if name == "cumsum":
            if types[0].size is None or types[0].rows is not None:
                self.error(f"`cumsum` takes a vector, but this is {types[0].words()}", e.args[0].span)
                return None
            return Type(types[0].base, types[0].size)
        size = self._broadcast(types, list(e.args), f"`{name}`")
        if size is False:
            return None
        if name in ("floor", "ceil", "round"):
            return Type("int", size)
        if name in ("min", "max", "clip", "abs"):
            return Type("int" if all(t.base == "int" for t in types) else "float", size)
        return Type("float", size)

    # -- reductions, windows, crossings --------------------------------------------------------
    def _no_keywords(self, e: Func) -> bool:
        if not e.kwargs:
            return True
        k = e.kwargs[0]
        what = "a reduction of one value (mean, sum, max, min, all, any) and the crossings" \
            if e.name not in REDUCTIONS else f"`{e.name}` of one value"
        self.error(f"`{e.name}` takes no argument `{k.name}`", k.name_span,
                   hint=f"named arguments (`over`, `during`) belong to {what}")
        return False

    def _keywords(self, e: Func, allowed: tuple[str, ...]) -> bool:
        seen: set[str] = set()
        for k in e.kwargs:
            if k.name not in allowed:
                self.error(f"`{e.name}` has no argument `{k.name}`", k.name_span, hint=choices_hint(k.name, allowed, "its arguments"))
                return False
            if k.name in seen:
                self.error(f"`{k.name}` is given twice", k.span)
                return False
            seen.add(k.name)
        return True

    def _over(self, e: Func, sc: _Scope) -> tuple[str, ...] | None:
        """The axes a reduction reduces: those `over` names (checked), else the place's."""
        kw = e.kwarg("over")
        if kw is None:
            return sc.axes
        items = kw.value.items if isinstance(kw.value, Vector) else (kw.value,)
        out: list[str] = []
        for item in items:
            if not isinstance(item, Name) or item.name not in AXES:
                shown = f"`{item.name}`" if isinstance(item, Name) else "this"
                self.error(f"{shown} is not an axis; `over` names {_names(AXES[1:])} (or a list of them)", item.span,
                           hint=choices_hint(item.name, AXES, "axes") if isinstance(item, Name) else "e.g. over = [time, units]")
                return None
            if item.name in out:
                self.error(f"the axis `{item.name}` is named twice", item.span)
                return None
            if item.name not in sc.axes:
                self.error(f"`{item.name}` is not an axis here: {self._axes_words(sc)}", item.span,
                           hint=self._axes_hint(item.name, sc))
                return None
            out.append(item.name)
        if not out:
            self.error("`over` names at least one axis", kw.value.span, hint="e.g. over = time")
            return None
        return tuple(out)

    @staticmethod
    def _axes_words(sc: _Scope) -> str:
        if sc.where == "loss":
            return "a loss term is computed for each trial over its (time, units) and averaged over the trials"
        if sc.signals:
            return f"{'a metric' if sc.where == 'metric' else f'`{sc.where}`'} is computed for each trial over its (time, units)"
        return "a value of a task's body is one trial's vector (its units)"

    @staticmethod
    def _axes_hint(axis: str, sc: _Scope) -> str:
        if axis == "trials":
            return "reduce `time` and `units`; the mean over trials is taken for you" if sc.signals else                 "a task's body describes one trial"
        return "reductions over time belong to metrics, `accuracy`, `choice` and losses"

    def _window(self, e: Func, sc: _Scope, axes: Sequence[str]) -> bool:
        """`during = epoch`: an epoch of the task, and time among the reduced axes."""
        kw = e.kwarg("during")
        if kw is None:
            return True
        if not sc.signals:
            self.error("`during` restricts a reduction to an epoch's steps; it belongs to metrics, `accuracy`, `choice` and "
                       "losses", kw.name_span)
            return False
        if "time" not in axes:
            self.error(f"`during` restricts the time axis, but this reduces over {' and '.join(axes)} only", kw.name_span,
                       hint="add time: over = [time, units], or leave `over` out")
            return False
        if not isinstance(kw.value, Name):
            self.error("`during` names an epoch of the task", kw.value.span,
                       hint=f"its epochs: {_names(self.epoch_names)}" if self.epoch_names else None)
            return False
        if kw.value.name not in self.epoch_names:
            self.error(f"unknown epoch `{kw.value.name}`", kw.value.span,
                       hint=" ".join(filter(None, (did_you_mean(kw.value.name, self.epoch_names),
                                                    f"the task's epochs: {_names(self.epoch_names)}")))
                       if self.epoch_names else "the task declares no epochs")
            return False
        return True

    def _reduction(self, e: Func, sc: _Scope) -> Type | None:
        """mean, sum, max, min, all, any of one value: over `over`'s axes (else the place's),
        within `during`'s epoch."""
        if not self._keywords(e, REDUCTION_KEYWORDS):
            return None
        t = self.type_of(e.args[0], sc)
        if t is None:
            return None
        if e.name in ("all", "any"):
            if not self._want_bool(t, e.args[0], f"`{e.name}`"):
                return None
        elif not self._want_number(t, e.args[0], f"`{e.name}`"):
            return None
        if e.kwargs and any(v.startswith("tensor:") for v in self.varies(e.args[0], sc)):
            self.error(f"a parameter tensor has no time or units: `{e.name}` reduces it over all its entries", e.kwargs[0].span,
                       hint=f"leave out `{e.kwargs[0].name}`")
            return None
        axes = self._over(e, sc)
        if axes is None or not self._window(e, sc, axes):
            return None
        size = None if "units" in axes else t.size
        base = "float" if e.name == "mean" else t.base
        return Type(base, size)

    def _window_crossing(self, e: Func, sc: _Scope) -> Type | None:
        """first_crossing, last_crossing, crossed of a signal over time, within `during`."""
        if not sc.signals:
            self.error(f"`{e.name}` reads a signal over the trial; it belongs to metrics, `accuracy`, `choice` and losses",
                       e.name_span)
            return None
        if not self._arity(e, CROSSINGS) or not self._keywords(e, ("during",)):
            return None
        types = [self.type_of(a, sc) for a in e.args]
        if any(t is None for t in types):
            return None
        for a, t in zip(e.args, types):
            if not self._want_number(t, a, f"`{e.name}`"):
                return None
        if "time" not in self.varies(e.args[0], sc):
            self.error(f"`{e.name}` finds when a signal over the trial reaches a level, but this does not change over time",
                       e.args[0].span, hint="e.g. first_crossing(response.go, 0.5, during = respond)")
            return None
        if "time" in self.varies(e.args[1], sc):
            self.error("the level of a crossing is one number per trial, not a signal over time", e.args[1].span)
            return None
        if not self._window(e, sc, ("time",)):
            return None
        size = self._broadcast(types, list(e.args), f"`{e.name}`")
        if size is False:
            return None
        return Type("bool" if e.name == "crossed" else "float", size)

    def varies(self, e: Expr, sc: _Scope) -> frozenset[str]:
        """What a checked expression's value varies over within one trial, besides its units:
        "time" for a signal over the trial; "tensor:NAME" for a parameter tensor (a loss)."""
        if isinstance(e, Name):
            return self.name_varies(e.name, sc)
        if isinstance(e, Attr):
            return self.attr_varies(e, sc)
        if isinstance(e, Func):
            if e.name in REDUCTIONS and len(e.args) == 1:
                inner = self.varies(e.args[0], sc)
                axes = reduction_axes(e, sc.axes)
                if any(v.startswith("tensor:") for v in inner):
                    return frozenset()
                return inner - {"time"} if "time" in axes else inner
            if e.name in CROSSINGS:
                return (self.varies(e.args[0], sc) - {"time"}) | self.varies(e.args[1], sc)
            if e.name in METRIC_FUNCTIONS:
                return self.varies(e.args[0], sc) - {"time"}
            parts: tuple[Expr, ...] = e.args
        elif isinstance(e, Vector):
            parts = e.items
        elif isinstance(e, Index):
            parts = (e.base, e.index)
        elif isinstance(e, Unary):
            parts = (e.operand,)
        elif isinstance(e, Binary):
            parts = (e.left, e.right)
        elif isinstance(e, If):
            parts = (e.cond, e.then, e.orelse)
        else:
            return frozenset()
        each = [self.varies(p, sc) for p in parts]
        out = frozenset().union(*each)
        tensors = sorted(v for v in out if v.startswith("tensor:"))
        if tensors:
            other = [p for p, v in zip(parts, each) if not any(x.startswith("tensor:") for x in v)]
            reads = any(isinstance(x, Attr) for p in other for x in walk(p))  # a signal or a trial variable
            if len(tensors) > 1 or "time" in out or reads or any((self.types.get(id(p)) or INT).size is not None for p in other):
                self.error(f"the parameter tensor `{tensors[0][7:]}` combines only with numbers and with itself",
                           e.span, hint=f"reduce it on its own first, e.g. mean(abs({tensors[0][7:]}))")
        return out

    def name_varies(self, name: str, sc: _Scope) -> frozenset[str]:
        if name in self.step_vars or sc.signals and (name == "t" or any(p.name == name for p in self.input_ports())):
            return frozenset({"time"})
        return frozenset()

    def attr_varies(self, e: Attr, sc: _Scope) -> frozenset[str]:
        return frozenset({"time"}) if sc.signals else frozenset()

    def per_trial(self, e: Expr, sc: _Scope, what: str, example: str) -> bool:
        """A value that must be one per trial does not vary over time."""
        if "time" not in self.varies(e, sc):
            return True
        self.error(f"{what} is one value per trial, but this changes over time", e.span,
                   hint=f"reduce it over time, e.g. {example}")
        return False

    def _column(self, e: Func, types: Sequence[Type]) -> Type | None:
        """`column(m, j)`: a matrix and a fixed column index in range give a vector of its rows."""
        m, j = types
        if m.rows is None:
            self.error(f"`column` takes a matrix (a parameter given as a list of rows), but this is {m.words()}",
                       e.args[0].span)
            return None
        k = self.const(e.args[1])
        if j.base != "int" or j.size is not None or k is None:
            self.error("the column index of `column` must be a fixed integer", e.args[1].span)
            return None
        if not 0 <= int(k) < m.size:
            self.error(f"column {int(k)} is out of range for a matrix of {m.size} columns (0 to {m.size - 1})",
                       e.args[1].span)
            return None
        return Type(m.base, m.rows)

    def _const_count(self, e: Expr, fname: str) -> int | None:
        v = self.const(e)
        if v is None or isinstance(v, bool) or np.ndim(v) != 0 or not np.isfinite(v) or not float(v).is_integer() \
                or not 1 <= int(v) <= MAX_CHANNELS:
            self.error(f"the length given to `{fname}` must be a fixed whole number from 1 to {MAX_CHANNELS:,}", e.span)
            return None
        return int(v)

    def _crossing(self, e: Func, sc: _Scope) -> Type | None:
        if not self._arity(e, ACCURACY_FUNCTIONS):
            return None
        t = self.type_of(e.args[0], sc)
        if t is None or not self._want_number(t, e.args[0], f"`{e.name}`"):
            return None
        if len(e.args) == 2 and self.output_channel(e.args[1]) is None:
            return None
        return FLOAT

    def output_channel(self, e: Expr) -> int | None:
        """An output channel given by name or fixed index (the crossing functions)."""
        if isinstance(e, Name):
            c = next((c for c in self.outputs if c.name == e.name), None)
            if c is not None and c.size == 1:
                return c.lo
        v = self.const(e)
        if v is not None and float(v).is_integer() and 0 <= int(v) < max(1, self._n_out()):
            return int(v)
        names = [c.name for c in self.outputs if c.size == 1]
        self.error(f"expected an output channel (a name or an index from 0 to {self._n_out() - 1})", e.span,
                   hint=f"output channels: {_names(names)}" if names else None)
        return None

    def _n_out(self) -> int:
        return self.outputs[-1].hi if self.outputs else 0

    def const(self, e: Expr) -> Any:
        """The value of an expression made of constants and parameters only, else None."""
        if any(isinstance(x, Name) and x.name not in CONSTANTS and x.name not in self.params for x in walk(e)):
            return None
        if any(isinstance(x, Func) and (x.name not in FUNCTIONS) for x in walk(e)):
            return None
        try:
            with np.errstate(all="ignore"):
                v = evaluate(e, self.const_env, np)
        except Exception:  # a constant that does not evaluate is reported by the type check
            return None
        return v.item() if isinstance(v, np.ndarray) and v.size == 1 else v

    # -- variables ------------------------------------------------------------------------------
    def _variables(self, statements: Sequence[Statement]) -> list[Variable]:
        out: list[Variable] = []
        for st in statements:
            if not isinstance(st, (Let, Draw, StepDraw, Hold)) or isinstance(st, (Let, Draw)) and st.name in SETTINGS \
                    or st is self.choice_stmt:
                continue
            if isinstance(st, (StepDraw, Hold)) and (isinstance(st, Hold) or st.each_step):
                self.step_vars.setdefault(st.name, st.name_span)
            if st.name == PREVIOUS and any(isinstance(x, Hold) for x in statements):
                self.error(f"`{PREVIOUS}` is what a hold's rule reads its value at the step before by; "
                           "a variable needs another name", st.name_span)
                continue
            if st.name in RESERVED:
                self.error(f"`{st.name}` is a built-in name and cannot name a variable", st.name_span,
                           hint=f"built-in names: {_names(sorted(CONSTANTS + TIME_NAMES + EPOCH_NAMES))}")
                continue
            if st.name in self.vars or any(v.name == st.name for v in out):
                first = self.definitions[st.name]
                self.error(f"duplicate variable `{st.name}`", st.name_span,
                           related=((first.name_span, f"`{st.name}` is first defined here"),))
                continue
            if any(c.name == st.name for c in self.inputs + self.outputs):
                self.error(f"`{st.name}` is already a channel; a variable needs another name", st.name_span)
                continue
            if st.name in self.params:
                self.error(f"`{st.name}` is a parameter of the task; a variable needs another name", st.name_span)
                continue
            sc = self.scope("trial")
            if isinstance(st, StepDraw):
                var = self.step_draw(st)
            elif isinstance(st, Hold):
                var = self.hold(st)
            elif isinstance(st, Draw):
                t = self._draw(st, sc)
                if t is not None and not self.fixed_in_trial(st.value, "a variable drawn once per trial",
                                                             hint=f"draw it at every step: `{st.name} ~ ... each step`"):
                    t = None
                var = Variable(st.name, t, st.span, dist=st.value) if t is not None else None  # type: ignore[arg-type]
            else:
                t = self.type_of(st.value, sc)
                steps = self.per_step(st.value) is not None
                if steps:
                    self.step_vars.setdefault(st.name, st.name_span)
                var = Variable(st.name, t, st.span, expr=st.value, per_step=steps) if t is not None else None
            if var is not None:
                out.append(var)
                self.vars[st.name] = var.type
            else:
                self.vars[st.name] = FLOAT  # keep checking later lines without cascading errors
        return out

    def _draw(self, st: Draw, sc: _Scope) -> Type | None:
        e = st.value
        if not isinstance(e, Func) or e.name not in DISTRIBUTIONS:
            got = f"`{e.name}(...)`" if isinstance(e, Func) else "an expression"
            hint = choices_hint(e.name, DISTRIBUTIONS, "distributions") if isinstance(e, Func) else \
                f"to compute it from other variables write `{st.name} = ...`"
            self.error(f"`~` draws from a distribution such as uniform(0, 1), got {got}", e.span, hint=hint)
            return None
        return self._distribution(e, sc)

    def _distribution(self, e: Func, sc: _Scope) -> Type | None:
        if not self._arity(e, DISTRIBUTIONS):
            return None
        name = e.name
        args = list(e.args)
        if name == "truncated":
            base = args[0]
            if not (isinstance(base, Func) and base.name in ("normal", "exponential")):
                self.error("`truncated` takes normal(mean, std) or exponential(mean) as its first argument", base.span,
                           hint="e.g. truncated(normal(0, 1), -2, 2)")
                return None
            if self._distribution(base, sc) is None:
                return None
            args = args[1:]
        types = [self.type_of(a, sc) for a in args]
        if any(t is None for t in types):
            return None
        if name == "choice" and len(types) == 1 and types[0].size is not None and types[0].rows is None:
            if not types[0].numeric:
                self.error(f"`choice` draws one of numbers, but this is {types[0].words()}", args[0].span)
                return None
            return Type(types[0].base)  # one element of the vector
        vector_ok = name in ("uniform", "normal", "integer")  # drawn element by element
        for a, t in zip(args, types):
            if (t.size is not None and not vector_ok) or t.rows is not None or not t.numeric:
                self.error(f"the arguments of `{name}` are numbers, but this is {t.words()}", a.span,
                           hint="uniform, normal and integer also take vectors (drawn element by element)" if t.size else None)
                return None
        size = self._broadcast(types, args, f"`{name}`") if vector_ok else None
        if size is False:
            return None
        if name == "integer":
            for a, t in zip(args, types):
                if t.base != "int":
                    self.error(f"`integer(low, high)` takes integers, but this is {t.words()}", a.span,
                               hint="round it with floor(x), or draw a real number with uniform(low, high)")
                    return None
        if not self._static_arguments(e, e.args):
            return None
        if name in ("uniform", "normal", "integer"):
            return Type("int" if name == "integer" else "float", size)
        return {"bernoulli": BOOL}.get(name, INT if name == "choice" and all(t.base == "int" for t in types) else FLOAT)

    def _static_arguments(self, e: Func, args: Sequence[Expr]) -> bool:
        """Arguments that are constants are checked now; the others (and vectors) on sampled trials."""
        values = [self.const(a) for a in args]
        values = [v if v is None or np.ndim(v) == 0 else None for v in values]
        problem = argument_problem(e.name, values)
        if problem is None:
            return True
        self.error(problem, e.span, hint=f"write {DISTRIBUTIONS[e.name][2]}")
        return False

    # -- noise, epochs, accuracy, validation -----------------------------------------------------
    def _noise(self, statements: Sequence[Statement]) -> tuple[Expr | None, bool]:
        st = next((s for s in statements if isinstance(s, Noise)), None)
        if st is None:
            return None, False
        t = self.type_of(st.value, self.scope("noise"))
        if t is None or not self._want_number(t, st.value, "`noise`"):
            return None, False
        n_in = self.inputs[-1].hi if self.inputs else 0
        if t.size is not None and t.size != n_in:
            self.error(f"`noise` is one number, or one per input channel ({n_in}), but this is {t.words()}", st.value.span)
        return st.value, st.scaled

    def _epochs(self, statements: Sequence[Statement]) -> list[EpochSpec]:
        out: list[EpochSpec] = []
        seen: dict[str, A.Span] = {}
        for ep in (s for s in statements if isinstance(s, Epoch)):
            if ep.name in seen:
                self.error(f"duplicate epoch `{ep.name}`", ep.name_span, related=((seen[ep.name], f"`{ep.name}` is first declared here"),))
                continue
            seen[ep.name] = ep.name_span
            timing = ep.timing or EpochTiming(None, None, None, ep.name_span)
            ok = True
            for part in (timing.start, timing.end, timing.length):
                if part is None:
                    continue
                t = self.type_of(part, self.scope("trial"))
                if t is None or not self._want_number(t, part, "an epoch's time"):
                    ok = False
                elif t.size is not None:
                    self.error(f"an epoch's time is one number, but this is {t.words()}", part.span)
                    ok = False
                elif not self.fixed_in_trial(part, "an epoch's time", hint="an epoch's start, end and length are fixed "
                                             "for the trial; a per-step value is set inside the epoch"):
                    ok = False
            assigns = self._assigns(ep)
            if ok and assigns is not None:
                out.append(EpochSpec(ep.name, timing.start, timing.end, timing.length, assigns, ep.span, ep.name_span))
        return out

    def _port_target(self, port: str, channel: str | None, span: A.Span, kinds: tuple[str, ...]) -> tuple[str, int, int] | None:
        """A declared port (of one of `kinds`), or one of its channel groups: (port, lo, hi)."""
        p = next((p for p in self.ports if p.name == port), None)
        if p is None or p.kind not in kinds:
            fits = [q.name for q in self.ports if q.kind in kinds]
            what = " or ".join(kinds)
            self.error(f"`{port}` is not a {what} port of this task", span,
                       hint=choices_hint(port, fits, f"its {what} ports") if fits else f"declare it: `{kinds[0]} {port} = [...]`")
            return None
        if channel is None:
            return p.name, 0, p.size
        c = p.channel(channel)
        if c is None:
            self.error(f"the port `{p.name}` has no channel `{channel}`", span,
                       hint=choices_hint(channel, [c.name for c in p.channels], "its channels"))
            return None
        return p.name, c.lo, c.hi

    def _channel_target(self, a: Assign) -> tuple[str, int, int] | None:
        if a.port is not None:
            return self._port_target(a.port, a.channel, a.channel_span, ("signal",))
        if any(p.name == a.channel and p.kind == "signal" for p in self.ports):
            return self._port_target(a.channel, None, a.channel_span, ("signal",))
        if a.channel in SIGNALS:
            n = (self.inputs[-1].hi if self.inputs else 0) if a.channel == "input" else self._n_out()
            return a.channel, 0, n
        for signal, groups in (("input", self.inputs), ("target", self.outputs)):
            c = next((c for c in groups if c.name == a.channel), None)
            if c is not None:
                return signal, c.lo, c.hi
        names = [c.name for c in self.inputs + self.outputs] + list(SIGNALS) + [p.name for p in self.ports if p.kind == "signal"]
        hint = choices_hint(a.channel, names, "channels")
        if a.channel in self.vars or a.channel in self.definitions:
            hint = f"`{a.channel}` is a trial variable; an epoch sets channels ({_names(names)})"
        self.error(f"unknown channel `{a.channel}`", a.channel_span, hint=hint)
        return None

    def _assigns(self, ep: Epoch) -> tuple[AssignSpec, ...] | None:
        out: list[AssignSpec] = []
        ok = True
        for a in ep.assigns:
            target = self._channel_target(a)
            if target is None:
                ok = False
                continue
            signal, lo, hi = target
            if a.index is not None:
                k = self.const(a.index)
                if k is None or not float(k).is_integer() or isinstance(k, bool):
                    self.error("a channel index is a fixed whole number, such as `ring[3]`", a.index.span)
                    ok = False
                    continue
                k = int(k)
                if not 0 <= k < hi - lo:
                    self.error(f"channel index {k} is out of range: `{a.channel}` has {hi - lo} channel{'s' if hi - lo != 1 else ''} "
                               f"(0 to {hi - lo - 1})", a.index.span)
                    ok = False
                    continue
                lo, hi = lo + k, lo + k + 1
            clash = next((b for b in out if b.signal == signal and b.lo < hi and lo < b.hi), None)
            if clash is not None:
                self.error(f"`{a.channel}` is set twice in epoch `{ep.name}`", a.channel_span,
                           related=((clash.span, "it is first set here"),))
                ok = False
                continue
            t = self.type_of(a.value, self.scope("epoch"))
            if t is None:
                ok = False
                continue
            if t.base == "bool":
                self.error(f"a channel holds numbers, but this is {t.words()}", a.value.span,
                           hint="write `if COND then 1 else 0`")
                ok = False
                continue
            width = hi - lo
            if t.size is not None and t.size != width:
                what = f"`{a.channel}{'[...]' if a.index is not None else ''}`"
                self.error(f"{what} has {width} channel{'s' if width != 1 else ''}, but the value is {t.words()}", a.value.span)
                ok = False
                continue
            out.append(AssignSpec(signal, lo, hi, a.value, a.span))
        return tuple(out) if ok else None

    def _init_sets(self, statements: Sequence[Statement]) -> list[AssignSpec]:
        """`port.channel = value` for init ports: a per-trial value of the channel's width."""
        out: list[AssignSpec] = []
        for st in (s for s in statements if isinstance(s, PortSet)):
            target = self._port_target(st.port, st.channel, st.channel_span, ("init",))
            if target is None:
                continue
            port, lo, hi = target
            clash = next((b for b in out if b.signal == port and b.lo < hi and lo < b.hi), None)
            if clash is not None:
                self.error(f"`{st.port}.{st.channel}` is set twice", st.span, related=((clash.span, "it is first set here"),))
                continue
            t = self.type_of(st.value, self.scope("trial"))
            if t is None or not self._want_number(t, st.value, f"`{st.port}.{st.channel}`"):
                continue
            if not self.fixed_in_trial(st.value, f"`{st.port}.{st.channel}` (an initial value)"):
                continue
            if t.size is not None and t.size != hi - lo:
                self.error(f"`{st.port}.{st.channel}` has {hi - lo} channels, but the value is {t.words()}", st.value.span)
                continue
            out.append(AssignSpec(port, lo, hi, st.value, st.span))
        return out

    def _metrics(self, statements: Sequence[Statement]) -> list[tuple[str, Expr]]:
        """`metric NAME = expr`: a number per trial (a value that changes over time is averaged)."""
        out: list[tuple[str, Expr]] = []
        seen: dict[str, A.Span] = {}
        for st in (s for s in statements if isinstance(s, Metric)):
            if st.name in seen:
                self.error(f"duplicate metric `{st.name}`", st.name_span, related=((seen[st.name], "it is first declared here"),))
                continue
            seen[st.name] = st.name_span
            if st.name in ("correct", "choice") and self.outputs:  # noqa: SIM102
                self.error(f"`{st.name}` is the metric the accuracy rule gives; name this one differently", st.name_span)
                continue
            t = self.type_of(st.value, self.scope("metric"))
            if t is None:
                continue
            if t.size not in (None, 1):  # a group of one channel is one value
                self.error(f"a metric is one number per trial, but this is {t.words()}", st.value.span,
                           hint="reduce it, e.g. with norm(v), sum(v) or mean(v, over = units)")
                continue
            self.varies(st.value, self.scope("metric"))
            out.append((st.name, st.value))
        return out

    def _choice(self) -> Expr | None:
        """`choice = EXPR`: the channel the network chose in a trial (an integer per trial),
        read by `rnn eval`, the psychometric curve and `response_choice` in `accuracy`."""
        st = self.choice_stmt
        if st is None:
            return None
        if not self.outputs:
            self.error("`choice` is the output channel the network chose; this task declares no `outputs`", st.name_span)
            return None
        sc = self.scope("choice")
        t = self.type_of(st.value, sc)
        if t is None:
            return None
        example = "choice = argmax(mean(concat(response.left, response.right), over = time, during = decision))"
        if t.base != "int" or t.size not in (None, 1):
            self.error(f"`choice` is the index of the chosen channel (an integer per trial), but this is {t.words()}",
                       st.value.span, hint=f"e.g. {example}")
            return None
        if not self.per_trial(st.value, sc, "`choice`", example):
            return None
        return st.value

    def _accuracy(self, statements: Sequence[Statement]) -> Accuracy | None:
        st = next((s for s in statements if isinstance(s, Let) and s.name == "accuracy"), None)
        if not self.outputs:
            if st is not None:
                self.error("`accuracy` scores the network's response to the task's `outputs`; this task declares none",
                           st.name_span, hint="state what to measure with `metric NAME = ...`")
            return None
        if st is None:
            return Accuracy("max_masked_mean")
        e = st.value
        if isinstance(e, Name) and e.name not in self.vars:
            if e.name == "max_masked_mean":
                return Accuracy("max_masked_mean")
            self.error(f"unknown accuracy rule `{e.name}`", e.span,
                       hint=choices_hint(e.name, ACCURACY_RULES, "accuracy rules") + "; or write a condition such as `response_choice == direction`")
            return Accuracy("max_masked_mean")
        if isinstance(e, Func) and e.name == "threshold":
            if len(e.args) != 2:
                self.error(f"`threshold` takes 2 arguments, got {len(e.args)}", e.span,
                           hint="write threshold(level, tolerance): the response reaches level within tolerance of when the target does")
                return Accuracy("max_masked_mean")
            sc = self.scope("trial")
            for a in e.args:
                t = self.type_of(a, sc)
                if t is not None and (not t.numeric or t.size is not None):
                    self.error(f"the arguments of `threshold` are numbers, but this is {t.words()}", a.span)
                elif t is not None:
                    self.fixed_in_trial(a, "an argument of `threshold`")
            return Accuracy("threshold", tuple(e.args))
        sc = self.scope("accuracy")
        t = self.type_of(e, sc)
        if t is not None and (t.base != "bool" or t.size not in (None, 1)):  # one channel counts as one value
            self.error(f"`accuracy` is a rule or a condition (true when a trial is correct), but this is {t.words()}", e.span,
                       hint="e.g. `accuracy = max_masked_mean`, `accuracy = threshold(0.5, 100)` or `accuracy = response_choice == direction`")
        elif t is not None:
            self.per_trial(e, sc, "`accuracy`", "all(response.go < 0.5, over = time, during = fixation)")
        return Accuracy("custom", expr=e)

    def _validation(self, statements: Sequence[Statement]) -> tuple[dict[str, np.ndarray] | None, int]:
        st = next((s for s in statements if isinstance(s, Validation)), None)
        if st is None:
            return None, RANDOM_VALIDATION_TRIALS
        grid: dict[str, np.ndarray] = {}
        trials = DEFAULT_VALIDATION_TRIALS
        seen: dict[str, A.Span] = {}
        for item in st.items:
            if item.name in seen:
                self.error(f"duplicate `{item.name}` in the validation grid", item.name_span,
                           related=((seen[item.name], "it is first given here"),))
                continue
            seen[item.name] = item.name_span
            t = self.type_of(item.value, self.scope("grid"))
            if t is None:
                continue
            value = self.const(item.value)
            if item.name == "trials":
                if t.base != "int" or t.size is not None or value is None or not 1 <= int(value) <= MAX_VALIDATION_TRIALS:
                    self.error(f"`trials` is the least number of validation trials, a whole number from 1 to "
                               f"{MAX_VALIDATION_TRIALS:,}", item.value.span)
                else:
                    trials = int(value)
                continue
            var = self.vars.get(item.name)
            if item.name in self.step_vars:
                self.error(f"`{item.name}` changes at every step; a validation grid varies per-trial variables", item.name_span,
                           related=((self.step_vars[item.name], f"`{item.name}` is defined here"),))
                continue
            if var is None or item.name not in self.definitions:
                names = [n for n in self.definitions if n in self.vars]
                self.error(f"`{item.name}` is not a trial variable", item.name_span, hint=choices_hint(item.name, names, "trial variables"))
                continue
            if var.size is not None:
                self.error(f"`{item.name}` is {var.words()}; a validation grid varies scalar variables", item.name_span)
                continue
            if value is None or t.base == "bool" and var.base != "bool":
                self.error(f"the values of `{item.name}` are numbers, such as [0.1, 0.5]", item.value.span)
                continue
            arr = np.atleast_1d(np.asarray(value)).reshape(-1)
            if var.base == "int" and not np.all(np.mod(arr, 1) == 0):
                self.error(f"`{item.name}` is {var.words()}, but the grid gives non-integer values", item.value.span)
                continue
            if var.base == "bool" and not np.all(np.isin(arr.astype(float), (0.0, 1.0))):
                self.error(f"`{item.name}` is {var.words()}; its grid values are true and false (or 1 and 0)", item.value.span)
                continue
            grid[item.name] = arr.astype({"int": np.int32, "bool": np.bool_}.get(var.base, np.float32))
            self.grid_exprs[item.name] = item.value
        if not st.items:
            self.error("the validation grid names no variable", st.span,
                       hint="e.g. `validation grid { coherence = [0.1, 0.3]  direction = [0, 1] }`")
            return None, trials
        conditions = math.prod(len(v) for v in grid.values())
        if conditions > MAX_VALIDATION_TRIALS:
            self.error(f"the validation grid has {conditions:,} conditions; a validation set has at most "
                       f"{MAX_VALIDATION_TRIALS:,} trials", st.span, hint="fewer values per variable, or fewer variables in the grid")
            return None, trials
        return grid, trials

    def _requires(self, statements: Sequence[Statement]) -> tuple[str, ...]:
        out: list[str] = []
        for st in (s for s in statements if isinstance(s, Require)):
            for prop, span in st.props:
                if prop not in REQUIRE_PROPS:
                    self.error(f"unknown requirement `{prop}`", span, hint=choices_hint(prop, REQUIRE_PROPS, "epochs can be required to be"))
                elif prop not in out:
                    out.append(prop)
        return tuple(out)


def argument_problem(name: str, values: Sequence[Any]) -> str | None:
    """What is wrong with a distribution's arguments (None for unknown values), else None."""
    row = D.get(name)
    return row.problem(values) if row is not None else None


