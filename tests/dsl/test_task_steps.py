"""Per-step events and holds in the task language, front end: the grammar (`x[3] ~ dist each step`,
`hold NAME = RULE, from START`), the checker's errors (message and line:col), the checker's NumPy
sampler, and the NumPy evaluation of a hold against a plain loop. The JAX side is in
tests/compiler/test_task_steps.py."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlang.dsl as dsl
from rnnlang.dsl import ModelError, tasklang as T
from rnnlang.dsl.parser import parse
from rnnlang.dsl.tasklang.steps import numpy_scan, run_hold

from .dsl_helpers import REPO
from .test_errors import assert_no_leak

FLIP_FLOP = REPO / "examples" / "flip_flop.rnn"


def model(body: str, head: str = "model { dt = 10  duration = 1000 }") -> str:
    """A complete model around a task body (channels left, right -> a, b); the body's first line
    is line 8 of the file."""
    return (f"{head}\nnode net = ctrnn(hidden = 4, out = 2)\ntask.input -> net.input\nnet.output -> task.response\n"
            f"node task = task {{\n  inputs = [left, right]\n  outputs = [a, b]\n{body}\n}}\n")


def errors(body: str) -> list[tuple[int, int, str]]:
    """(line within the body, column, message) of every error; line 1 is the body's first line."""
    with pytest.raises(ModelError) as info:
        dsl.load_source(model(body))
    assert_no_leak(info.value)
    return [(d.span.line - 7, d.span.col, d.message) for d in info.value.errors]


def first_error(body: str):
    with pytest.raises(ModelError) as info:
        dsl.load_source(model(body))
    return info.value.errors[0]


def spec_of(body: str, dt: float = 10.0, steps: int = 100) -> T.TaskSpec:
    b = parse(f"node t = task {{\n inputs = [left, right]\n outputs = [a, b]\n{body}\n}}").nodes[0].body
    spec, diags = T.analyse(b, b.span, dt, steps)
    assert spec is not None, [d.message for d in diags]
    return spec


# ---- grammar -----------------------------------------------------------------------------------


def test_step_statements_parse():
    body = parse("""node t = task {
      flip[3] ~ bernoulli(0.02) each step
      y ~ normal(0, 1) each step
      v[2] ~ uniform(0, 1)
      hold memory = if flip then 1 else previous, from 0
      hold count[3] = previous + 1
    }""").nodes[0].body
    a, b, c, d, e = body.statements
    assert isinstance(a, T.StepDraw) and a.each_step and isinstance(a.size, T.Num) and a.size.value == 3
    assert isinstance(b, T.StepDraw) and b.each_step and b.size is None
    assert isinstance(c, T.StepDraw) and not c.each_step and c.size.value == 2
    assert isinstance(d, T.Hold) and d.name == "memory" and d.size is None and isinstance(d.start, T.Num)
    assert isinstance(e, T.Hold) and e.size.value == 3 and e.start is None
    assert (d.name_span.line, d.name_span.col) == (5, 12)


def test_hold_and_step_stay_names():
    """`hold` is read as a name (the standard library has a signal and a parameter called `hold`),
    `step` is a word only after `each`."""
    body = parse("node t = task { hold = 5  step ~ uniform(0, 1)  signal hold  epoch e { x = 1  hold = step } }").nodes[0].body
    assert [type(s).__name__ for s in body.statements] == ["Let", "Draw", "PortDecl", "Epoch"]
    assert [a.channel for a in body.statements[3].assigns] == ["x", "hold"]


def test_a_statement_of_two_names_that_is_not_a_hold():
    with pytest.raises(ModelError) as info:
        parse("node t = task {\n  keep memory = previous\n}")
    d = info.value.diagnostics[0]
    assert d.message == "unexpected name `memory`; expected '=', '~' or '['"
    assert (d.span.line, d.span.col) == (2, 8)
    assert "hold NAME = RULE, from START" in d.hint


# ---- checks --------------------------------------------------------------------------------------


def test_the_flip_flop_example_checks():
    cm, _ = dsl.load(FLIP_FLOP)
    spec = T.analyse(cm.nodes["task"].params["body"], cm.nodes["task"].params["body"].span, cm.dt, cm.steps)[0]
    assert spec is not None
    by = {v.name: v for v in spec.variables}
    assert by["flip"].per_step and by["flip"].type == T.Type("bool", 3)
    assert by["sign"].per_step and by["sign"].type == T.Type("int", 3)
    assert by["memory"].per_step and by["memory"].rule is not None and by["memory"].type == T.Type("int", 3)
    assert len(FLIP_FLOP.read_text().splitlines()) <= 25


def test_per_step_values_are_not_node_parameters():
    body = parse("node t = task { x ~ uniform(0, 1)  f ~ bernoulli(x) each step  g = if f then 1 else 0"
                 "  v[2] ~ normal(0, 1)  hold h = previous + g }").nodes[0].body
    assert T.variable_names(body) == ["x", "v"]


def test_types_of_holds():
    spec = spec_of("""
      f ~ bernoulli(0.1) each step
      hold count = previous + 1
      hold level = if f then 0.5 else previous
      hold seen = previous or f, from false
      hold three = previous + [1, 2, 3]
      hold two[2] = previous, from 1
    """)
    types = {v.name: v.type for v in spec.variables if v.rule is not None}
    assert types == {"count": T.Type("int"), "level": T.Type("float"), "seen": T.Type("bool"),
                     "three": T.Type("int", 3), "two": T.Type("int", 2)}
    assert next(v for v in spec.variables if v.name == "f").per_step


@pytest.mark.parametrize("body, where, message", [
    # a per-step value where one value per trial is needed
    ("  f ~ bernoulli(0.1) each step\n  epoch e from if f then 1 else 2 { a = 1 }",
     (2, 19), "`f` changes at every step, but an epoch's time is one value per trial"),
    ("  f ~ uniform(0, 100) each step\n  g = f * 2\n  epoch e for g { a = 1 }",
     (3, 15), "`g` changes at every step, but an epoch's time is one value per trial"),
    ("  f ~ uniform(0, 1) each step\n  x ~ normal(f, 1)",
     (2, 14), "`f` changes at every step, but a variable drawn once per trial is one value per trial"),
    ("  f ~ bernoulli(0.5) each step\n  hold h = previous, from if f then 1 else 0",
     (2, 30), "`f` changes at every step, but a hold's start is one value per trial"),
    ("  f ~ bernoulli(0.5) each step\n  accuracy = f",
     (2, 14), "`accuracy` is one value per trial, but this changes over time"),
    ("  f ~ uniform(0, 1) each step\n  validation grid { f = [0.1, 0.2] }",
     (2, 21), "`f` changes at every step; a validation grid varies per-trial variables"),
    ("  f ~ uniform(0, 1) each step\n  start.pos = f\n  init start = [pos]",
     (2, 15), "`f` changes at every step, but `start.pos` (an initial value) is one value per trial"),
    # `previous` and holds
    ("  x = previous + 1", (1, 7), "`previous` is a hold's value at the step before; it is only available in the rule of a `hold`"),
    ("  hold h = h + 1", (1, 12), "the rule of `h` reads its value at the step before as `previous`"),
    ("  previous = 1\n  hold h = previous + 1",
     (1, 3), "`previous` is what a hold's rule reads its value at the step before by; a variable needs another name"),
    ("  hold h = previous + 1, from false",
     (1, 12), "`+` needs numbers, but this is a condition (true or false)"),
    ("  f ~ bernoulli(0.5) each step\n  hold h = f, from 0",
     (2, 12), "the rule of `h` gives a condition (true or false), but the hold starts from an integer (its start)"),
    # sizes
    ("  hold h[3] = previous + [1, 2]", (1, 26), "`+` combines vectors of different lengths: 3 and 2"),
    ("  hold h = previous + [1, 2], from [0, 0, 0]", (1, 23), "`+` combines vectors of different lengths: 3 and 2"),
    ("  hold h[2] = previous, from [0, 0, 0]", (1, 30), "`h[2]` holds 2 values, but it starts from a vector of 3 integers"),
    ("  f[3] ~ uniform([0, 0], [1, 1]) each step",
     (1, 10), "`f[3]` draws 3 values, but the distribution gives a vector of 2 numbers"),
    ("  f[0] ~ bernoulli(0.5) each step", (1, 5), "the length given to `f[n]` must be a fixed whole number from 1 to 100,000"),
    ("  f[3] ~ bernoulli(0.5) each step\n  epoch e { left = if f then 1 else 0 }",
     (2, 20), "`left` has 1 channel, but the value is a vector of 3 integers"),
    # probabilities
    ("  f ~ bernoulli(1.5) each step", (1, 7), "the probability of `bernoulli` must be in [0, 1], got 1.5"),
])
def test_errors_with_positions(body: str, where: tuple[int, int], message: str):
    got = errors(body)
    assert (where[0], where[1], message) in got, got


def test_errors_have_hints_and_related_positions():
    d = first_error("  f ~ bernoulli(0.1) each step\n  epoch e from if f then 1 else 2 { a = 1 }")
    assert d.hint and "inside the epoch" in d.hint
    assert [(sp.line - 7, sp.col, text) for sp, text in d.related] == [(1, 3, "`f` is defined here")]
    d = first_error("  x = previous + 1")
    assert "hold memory = if flip then sign else previous, from 0" in d.hint


def test_per_step_values_where_they_belong():
    """Per-step values are read in epochs, in the noise, by other per-step values, holds and metrics."""
    cm, _ = dsl.load_source(model("""
      f[2] ~ bernoulli(0.1) each step
      s ~ uniform(0.01, 0.02) each step
      rate = 0.05 + t / duration / 10
      g ~ bernoulli(if t < 500 then 0.1 else 0.2) each step
      hold h = if any(f) then 1 else previous * 0.9, from 0
      pulse = if f then 1 else 0
      noise = s
      epoch e { input = pulse  a = h  mask = 1 }
      metric m = sum(if g then 1 else 0, over = time)
    """.replace("  rate = 0.05 + t / duration / 10\n", "")))
    assert "task" in cm.nodes


def test_time_only_in_step_draws_and_holds():
    assert errors("  x = t / 10")[0][2].startswith("`t` is the time within the trial")
    spec_of("  f ~ bernoulli(t / 1000) each step\n  hold h = previous + t")


# ---- the checker's samples ------------------------------------------------------------------------


def test_sampled_probability_outside_0_1():
    """A probability that leaves [0, 1] at some step of some trial: found by sampling, with the
    time and the values read there."""
    got = errors("  f ~ bernoulli(t / 500) each step")
    assert got == [(1, 7, "`bernoulli` gets invalid arguments in some trials (a probability outside [0, 1]), "
                          "e.g. when t = 510: bernoulli(1.02)")]
    got = errors("  p ~ uniform(0, 2)\n  f ~ bernoulli(p) each step")
    assert len(got) == 1 and got[0][:2] == (2, 7)
    assert got[0][2].startswith("`bernoulli` gets invalid arguments in some trials (a probability outside [0, 1]), e.g. when t = 0, p = 1.")


def test_sampled_index_out_of_range_in_a_hold():
    got = errors("  k ~ integer(0, 4) each step\n  hold h = previous + [1, 2, 3][k]")
    assert len(got) == 1 and got[0][:2] == (2, 33)
    assert got[0][2].startswith("index out of range for a vector of 3 (0 to 2) in some trials, e.g. when t = ")
    assert ", k = 3" in got[0][2]


def test_sampler_runs_holds_like_the_loop():
    """The checker's hold (numpy_scan) against a plain loop over the steps."""
    spec = spec_of("""
      f[3] ~ bernoulli(0.2) each step
      s[3] ~ choice(-1, 1) each step
      hold m = if f then s else previous, from 0
      hold c = if any(f) then 0 else previous + 1, from 7
    """, steps=50)
    rng = np.random.default_rng(0)
    f = rng.uniform(size=(16, 50, 3)) < 0.2
    s = rng.choice([-1, 1], size=(16, 50, 3))
    env = {**T.constants(10.0, 50), "f": f, "s": s}
    by = {v.name: v for v in spec.variables}
    m = run_hold(by["m"], env, {"f", "s"}, np, 16, 50, 10.0, numpy_scan)
    env["m"] = m
    c = run_hold(by["c"], env, {"f", "s", "m"}, np, 16, 50, 10.0, numpy_scan)
    ref_m, ref_c = np.zeros((16, 50, 3)), np.zeros((16, 50, 1))
    prev_m, prev_c = np.zeros((16, 3)), np.full((16, 1), 7)
    for k in range(50):
        prev_m = np.where(f[:, k], s[:, k], prev_m)
        prev_c = np.where(f[:, k].any(-1, keepdims=True), 0, prev_c + 1)
        ref_m[:, k], ref_c[:, k] = prev_m, prev_c
    np.testing.assert_array_equal(m, ref_m)
    np.testing.assert_array_equal(c, ref_c)
    assert m.dtype == np.int32 and c.shape == (16, 50, 1)


def test_existing_task_files_have_no_per_step_values():
    """Nothing changes for a file without `each step` or `hold`: its variables are per trial."""
    for path in sorted((REPO / "examples" / "tasks").glob("*.rnn")):
        cm, _ = dsl.load(path)
        for node in cm.nodes.values():
            body = node.params.get("body") if node.kind == "task" else None
            if isinstance(body, T.TaskBody):
                spec = T.analyse(body, body.span, cm.dt, cm.steps, sample=False)[0]
                assert spec is not None and not any(v.per_step for v in spec.variables), path
