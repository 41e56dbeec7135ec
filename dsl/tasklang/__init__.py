"""Tasks declared in a .rnn file: the syntax tree of a task body, its checks, and the checked
description (`TaskSpec`) that the compiler lowers to JAX.

A task body lists, in any order: its channels (`inputs = [left, right, ring[16]]`,
`outputs = [...]`), trial variables drawn from distributions (`x ~ uniform(0, 1)`) or computed
from others (`y = if x > 0.5 then 1 else 0`), the input noise, epochs (windows of time that say
what the inputs, the target and the mask hold), the accuracy rule, a validation grid and
requirements on the epochs; a declaration (`task NAME(params) { ... }`) adds parameters, and a
body may declare ports (`signal`, `init`, `input`) and metrics. See docs/tasks.md for the language as a user sees it.

Everything here is plain Python and NumPy (no JAX): the checker uses it to report mistakes with
positions. `evaluate` works with any array module (`xp`): NumPy here, `jax.numpy` in
`compiler/nodes/declared.py`. Values follow one layout: an array whose last axis holds the
vector (1 for a scalar), leading axes broadcasting (trials, time steps); Python scalars are
constants.

The package, by concern: `syntax` (the tree), `vocab` (names, tables, types), `evaluate`
(expressions with any array module), `spec` (the checked description, tolerant readers,
parameter values), `checker` and `sampler` (the checks), and here the entry points.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .. import ast as A
from ..schema import MAX_DT, MAX_STEPS, MIN_DT
from .checker import Use, _Checker, argument_problem
from .evaluate import *  # noqa: F401,F403
from .evaluate import _is_int, _stack_last  # noqa: F401
from .sampler import _Sampler
from .spec import *  # noqa: F401,F403
from .spec import _count  # noqa: F401
from .syntax import *  # noqa: F401,F403
from .vocab import *  # noqa: F401,F403
from .vocab import Diags, _num, _show  # noqa: F401


def analyse(body: TaskBody, decl_span: A.Span, dt: float | None = None, steps: int | None = None,
            sample: bool = True, params: Mapping[str, Any] | None = None,
            use: Use | None = None) -> tuple[TaskSpec | None, Diags]:
    """Check a task body; returns the checked description (None when there are errors) and the
    diagnostics. `params` are the values of a declaration's parameters (see `instance_params`),
    `use` where the task is used. With the model's dt and steps, what depends on the draws is
    checked on sampled trials (unless `sample` is false)."""
    checker = _Checker(body, decl_span, dt, steps, params, use)
    spec = checker.run()
    diags = checker.diags
    if spec is not None and sample and dt is not None and steps is not None:
        diags = _Sampler(spec, dt, steps).run()
        if diags:
            spec = None
    return spec, diags


def model_timing(mf: A.ModelFile) -> tuple[float | None, int | None]:
    """dt and steps as the model block writes them, when it writes them validly."""
    block = mf.model
    if block is None:
        return None, None
    given = {s.dotted: s.value for s in block.settings}
    dt = given.get("dt")
    if not (isinstance(dt, A.Number) and MIN_DT <= dt.value <= MAX_DT):
        return None, None
    steps, duration = given.get("steps"), given.get("duration")
    if isinstance(steps, A.Number) and isinstance(steps.value, int) and 1 <= steps.value <= MAX_STEPS and duration is None:
        return float(dt.value), int(steps.value)
    if isinstance(duration, A.Number) and duration.value > 0 and steps is None:
        ratio = duration.value / dt.value
        if math.isfinite(ratio) and 1 <= round(ratio) <= MAX_STEPS and abs(ratio - round(ratio)) <= 1e-6 * max(1.0, ratio):
            return float(dt.value), int(round(ratio))
    return None, None


__all__ = ["TaskBody", "TaskDef", "TaskSpec", "analyse", "channel_layout", "port_layout", "variable_names", "evaluate",
           "epoch_bounds", "grid_conditions", "constants", "distribution_args", "param_env", "instance_values"]
