"""Values that change from step to step inside a trial: draws made at every time step
(`flip[3] ~ bernoulli(0.02) each step`) and holds, values kept from one step to the next
(`hold memory = if flip then sign else previous, from 0`). Their checks (a mixin of the task
checker) and their evaluation with any array module: a hold runs its rule once per step with a
`scan` the caller gives (`jax.lax.scan` in the compiler, `numpy_scan` in the checker), so the
two sides share one definition of what a hold is.

A per-step value is (trials, steps, n) in the evaluation layout (evaluate.py); a per-trial value
(trials, 1, n) broadcasts against it. A value computed from a per-step one is per step itself.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from .. import ast as A
from .evaluate import EvalProblem, evaluate
from .spec import Variable
from .syntax import Attr, Expr, Hold, Name, StepDraw
from .vocab import INT, Type, walk

PREVIOUS = "previous"  # inside a hold's rule: the hold's value at the step before

# how a per-trial value is described where a per-step one is refused
STEP_HINT = "this value is fixed for the whole trial; set a per-step value inside an epoch (`channel = pulse`)"


class StepChecks:
    """The checks of per-step draws and holds, mixed into the task checker (`_Checker`): it
    provides `error`, `type_of`, `scope`, `_distribution`, `_const_count`, `vars`, `params`."""

    step_vars: dict[str, A.Span]
    holding: str | None
    diags: list[Any]
    error: Callable[..., None]
    type_of: Callable[..., Type | None]
    scope: Callable[[str], Any]
    _draw: Callable[..., Type | None]
    _const_count: Callable[[Expr, str], int | None]

    def per_step(self, e: Expr | None) -> Name | None:
        """The first name in `e` that changes from step to step (None: `e` is fixed per trial)."""
        steps = getattr(self, "step_vars", {})
        return next((x for x in walk(e) if isinstance(x, Name) and x.name in steps), None) if e is not None else None

    def fixed_in_trial(self, e: Expr | None, what: str, hint: str | None = None) -> bool:
        """Refuse a per-step value where one value per trial is needed (an epoch's time, the
        arguments of a per-trial draw, an init port, a hold's start, the accuracy)."""
        x = self.per_step(e)
        if x is None:
            return True
        self.error(f"`{x.name}` changes at every step, but {what} is one value per trial", x.span,
                   hint=hint or STEP_HINT, related=((self.step_vars[x.name], f"`{x.name}` is defined here"),))
        return False

    def previous_outside(self, e: Name) -> None:
        """`previous` read outside a hold's rule."""
        self.error(f"`{PREVIOUS}` is a hold's value at the step before; it is only available in the rule of a `hold`",
                   e.span, hint="e.g. `hold memory = if flip then sign else previous, from 0`")

    def _size_of(self, e: Expr | None, what: str) -> int | None | bool:
        """`name[n]`: n, a fixed whole number (None when not written; False after an error)."""
        if e is None:
            return None
        n = self._const_count(e, what)
        return False if n is None else n

    def step_draw(self, st: StepDraw) -> Variable | None:
        """`name[n] ~ dist(...)` (per trial, n values) or `name[n] ~ dist(...) each step`."""
        size = self._size_of(st.size, f"{st.name}[n]")
        if size is False:
            return None
        sc = self.scope("step" if st.each_step else "trial")
        t = self._draw(st, sc)
        if t is None:
            return None
        if not st.each_step and not self.fixed_in_trial(st.value, "a variable drawn once per trial",
                                                        hint=f"draw it at every step: `{st.name} ~ ... each step`"):
            return None
        if size is not None:
            if t.size is not None and t.size != size:
                self.error(f"`{st.name}[{size}]` draws {size} values, but the distribution gives {t.words()}",
                           st.value.span, hint=f"give the distribution numbers (one draw each), or vectors of {size}")
                return None
            t = Type(t.base, size)
        return Variable(st.name, t, st.span, dist=st.value, per_step=st.each_step)  # type: ignore[arg-type]

    def hold(self, st: Hold) -> Variable | None:
        """`hold name[n] = rule, from start`: the type is the start's, widened by the rule (a
        number rule makes a hold of numbers; a vector rule a hold of that many values)."""
        size = self._size_of(st.size, f"{st.name}[n]")
        if size is False:
            return None
        start_t = INT
        if st.start is not None:
            start_t = self.type_of(st.start, self.scope("trial"))
            if start_t is None or not self.fixed_in_trial(st.start, "a hold's start"):
                return None
            if start_t.rows is not None:
                self.error(f"a hold starts from a number, a condition or a vector, but this is {start_t.words()}",
                           st.start.span)
                return None
            if size is not None and start_t.size is not None and start_t.size != size:
                self.error(f"`{st.name}[{size}]` holds {size} values, but it starts from {start_t.words()}", st.start.span)
                return None
        size = size if size is not None else start_t.size
        prev = Type(start_t.base, size)
        self.holding = st.name
        try:
            for _ in range(3):  # at most: widen to the rule's length, then from integers to numbers
                sc = self.scope("step")
                sc.names[PREVIOUS] = prev
                before = len(self.diags)
                got = self.type_of(st.rule, sc)
                if got is None:
                    return None
                if got.rows is not None:
                    self.error(f"a hold's rule gives a number, a condition or a vector, but this is {got.words()}", st.rule.span)
                    return None
                if (got.base == "bool") != (prev.base == "bool"):
                    start = "0" if st.start is None else "its start"
                    self.error(f"the rule of `{st.name}` gives {got.words()}, but the hold starts from {start_t.words()} ({start})",
                               st.rule.span, hint="a hold of conditions starts `from false` or `from true`; "
                                                  "turn a condition into a number with `if COND then 1 else 0`")
                    return None
                if got.size is not None and got.size != prev.size:
                    if prev.size is not None:
                        self.error(f"`{st.name}` holds {prev.size} values, but its rule gives {got.words()}", st.rule.span)
                        return None
                    prev = Type(prev.base, got.size)
                    del self.diags[before:]
                    continue
                if prev.base == "int" and got.base == "float":
                    prev = Type("float", prev.size)
                    del self.diags[before:]
                    continue
                return Variable(st.name, prev, st.span, per_step=True, rule=st.rule, start=st.start)
            return Variable(st.name, prev, st.span, per_step=True, rule=st.rule, start=st.start)
        finally:
            self.holding = None

    def own_name(self, e: Name) -> bool:
        """A hold's rule that reads the hold by its own name: reported (it reads `previous`)."""
        if getattr(self, "holding", None) != e.name:
            return False
        self.error(f"the rule of `{e.name}` reads its value at the step before as `{PREVIOUS}`", e.span,
                   hint=f"e.g. `hold {e.name} = if flip then sign else {PREVIOUS}, from 0`")
        return True


def numpy_scan(f: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Mapping[str, Any]) -> tuple[Any, Any]:
    """`jax.lax.scan` for NumPy (a loop over the leading axis of `xs`, a dict of arrays)."""
    steps = len(next(iter(xs.values())))
    carry, ys = init, []
    for k in range(steps):
        try:
            carry, y = f(carry, {n: v[k] for n, v in xs.items()})
        except EvalProblem as p:  # say at which step: (trials, steps, 1)
            where = np.zeros((np.shape(init)[0], steps, 1), bool)
            where[:, k] = np.any(np.broadcast_to(np.asarray(p.where).reshape(-1, 1, 1) if np.ndim(p.where) < 3 else p.where,
                                                 (np.shape(init)[0], 1, 1)), axis=-1)
            raise EvalProblem(p.span, p.message, where) from None
        ys.append(y)
    return carry, np.stack(ys)


DTYPES = {"int": "int32", "float": "float32", "bool": "bool_"}


def run_hold(var: Variable, env: Mapping[str, Any], per_step: set[str], xp: Any, trials: int, steps: int, dt: float,
             scan: Callable[..., tuple[Any, Any]], strict: bool = False) -> Any:
    """A hold's values at every step, (trials, steps, size): at step k its rule reads the
    per-step values at step k, the per-trial values, `t` = k * dt and `previous` (the value at
    step k - 1; the start, or 0, before the first step). `per_step` names the per-step entries
    of `env` ((trials, steps, n)); the others are per trial."""
    assert var.rule is not None
    size = var.type.size or 1
    dtype = getattr(xp, DTYPES[var.type.base])
    start = evaluate(var.start, env, xp, strict=strict) if var.start is not None else 0
    start = xp.asarray(start).astype(dtype)
    start = start.reshape(start.shape if start.ndim == 3 else (1, 1, -1) if start.ndim == 1 else (1, 1, 1))
    start = xp.broadcast_to(start, (trials, 1, size))
    reads = [x.name for x in walk(var.rule) if isinstance(x, Name) and x.name in per_step]
    xs = {n: xp.moveaxis(xp.asarray(env[n]), 1, 0)[:, :, None, :] for n in dict.fromkeys(reads)}  # (steps, trials, 1, n)
    xs["t"] = (xp.arange(steps) * dt).astype(xp.float32).reshape(steps, 1, 1, 1)

    def step(prev: Any, x: Mapping[str, Any]) -> tuple[Any, Any]:
        value = evaluate(var.rule, {**env, **x, PREVIOUS: prev}, xp, strict=strict)  # type: ignore[arg-type]
        value = xp.broadcast_to(xp.asarray(value).astype(dtype), (trials, 1, size))
        return value, value[:, 0, :]

    _, ys = scan(step, start, xs)
    return xp.moveaxis(ys, 0, 1)  # (trials, steps, size)


__all__ = ["PREVIOUS", "StepChecks", "numpy_scan", "run_hold"]
