"""Tasks declared in the file: the grammar of task bodies, the checker (every kind of mistake,
with its position), NumPy evaluation of expressions, and the ports and parameters a declared
task gets. The JAX side (trials, metrics, the match with the built-in tasks) is in
tests/compiler/test_declared.py."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

import rnnlang.dsl as dsl
from rnnlang.dsl import ModelError, tasklang as T
from rnnlang.dsl.parser import parse

from .dsl_helpers import REPO
from .test_errors import assert_loads_or_fails_cleanly, assert_no_leak, mutate

EXAMPLES = sorted((REPO / "examples" / "tasks").glob("*.rnn"))
DOCS = REPO / "docs" / "tasks.md"


def model(body: str, head: str = "model { dt = 10  duration = 1000 }") -> str:
    """A complete model around a task body (channels left, right -> a, b)."""
    return (f"{head}\nnode net = ctrnn(hidden = 4, out = 2)\ntask.input -> net.input\nnet.output -> task.response\n"
            f"node task = task {{\n  inputs = [left, right]\n  outputs = [a, b]\n{body}\n}}\n")


def errors(body: str, **kw) -> list[tuple[int, int, str]]:
    """(line within the body, column, message) of every error; line 1 is the body's first line."""
    with pytest.raises(ModelError) as info:
        dsl.load_source(model(body, **kw))
    assert_no_leak(info.value)
    return [(d.span.line - 7, d.span.col, d.message) for d in info.value.errors]


def messages(body: str, **kw) -> list[str]:
    return [m for _, _, m in errors(body, **kw)]


def hints(body: str) -> list[str | None]:
    with pytest.raises(ModelError) as info:
        dsl.load_source(model(body))
    return [d.hint for d in info.value.errors]


def body_of(text: str) -> T.TaskBody:
    return parse(text).nodes[0].body


def expr(text: str) -> T.Expr:
    """One expression, parsed as the value of `x = ...` in a task."""
    return body_of(f"node t = task {{ x = {text} }}").statements[0].value


def value(text: str, env: dict | None = None):
    return T.evaluate(expr(text), {**T.constants(10.0, 100), **(env or {})}, np)


# ---- grammar -----------------------------------------------------------------------------------


def test_every_statement_kind_parses():
    body = body_of("""node t = task {
      inputs = [a, ring[4]]  outputs = [o]
      x ~ uniform(0, duration / 2)
      y = if x > 1 then -x ^ 2 else [1, 2][0]
      noise = 0.1 scaled
      epoch e from x for 3 { a = 1; ring[2] = t0 }
      epoch f { }
      accuracy = max_masked_mean
      validation grid { x = [1, 2]  trials = 8 }
      require epochs disjoint and nonempty
    }""")
    kinds = [type(s).__name__ for s in body.statements]
    assert kinds == ["Let", "Let", "Draw", "Let", "Noise", "Epoch", "Epoch", "Let", "Validation", "Require"]
    noise = body.statements[4]
    assert noise.scaled and isinstance(noise.value, T.Num)
    e, f = body.statements[5], body.statements[6]
    assert isinstance(e.timing.start, T.Name) and isinstance(e.timing.length, T.Num) and e.timing.end is None
    assert f.timing is None and f.assigns == ()
    assert [(a.channel, a.index is not None) for a in e.assigns] == [("a", False), ("ring", True)]
    assert [p for p, _ in body.statements[9].props] == ["disjoint", "nonempty"]
    assert str(body).startswith("{") and "require epochs" in str(body)


@pytest.mark.parametrize("timing, parts", [
    ("from 1 to 2", ("start", "end")), ("from 1 for 2", ("start", "length")), ("from 1", ("start",)),
    ("for 2", ("length",)), ("to 2", ("end",)),
])
def test_epoch_timings(timing: str, parts: tuple[str, ...]):
    ep = body_of(f"node t = task {{ epoch e {timing} {{ }} }}").statements[0]
    given = tuple(p for p in ("start", "end", "length") if getattr(ep.timing, p) is not None)
    assert given == parts


def test_operator_precedence():
    assert value("1 + 2 * 3 ^ 2") == 19
    assert value("-2 ^ 2") == -4
    assert value("2 ^ 3 ^ 2") == 2 ** 9
    assert value("(1 + 2) * 3") == 9
    assert value("7 - 2 - 1") == 4 and value("8 / 2 / 2") == 2
    assert bool(value("1 < 2 and 2 < 3 or false")) and not bool(value("not 1 < 2"))
    assert value("if 1 > 2 then 10 else if 2 > 1 then 20 else 30") == 20
    assert value("1 + (if true then 1 else 0)") == 2


def test_expression_spans():
    e = expr("a + b * c")
    assert isinstance(e, T.Binary) and e.op == "+" and isinstance(e.right, T.Binary)
    assert (e.span.col, e.span.end_col) == (21, 30) and (e.right.span.col, e.right.span.end_col) == (25, 30)


def test_task_keywords_stay_names_elsewhere():
    mf = parse("node epoch = ctrnn(hidden = 2, out = 1)\nnode noise = channel()\nepoch.output -> noise.input\n")
    assert [n.name for n in mf.nodes] == ["epoch", "noise"]
    body = body_of("node t = task { from = 1  grid = from + 1 }")
    assert [s.name for s in body.statements] == ["from", "grid"]
    assert syntax_error("node t = task { x = 1  to = 2 }")[1] == "`to` is a keyword inside a task; a variable or channel needs another name"


def syntax_error(text: str) -> tuple[str, str | None]:
    with pytest.raises(ModelError) as info:
        parse(text)
    assert_no_leak(info.value)
    d = info.value.diagnostics[0]
    return d.message, d.hint


def test_syntax_errors_speak_the_language():
    assert syntax_error("node t = task { x = }")[0] == "unexpected '}'; expected an expression"
    msg, _ = syntax_error("node t = task { x = 1 + }")
    assert msg == "unexpected '}'; expected an expression"
    assert syntax_error("node t = task { x = (1 + 2 }")[0] == "unexpected '}'; expected ')'"
    assert syntax_error("node t = task { x = (1 2) }")[0] == "unexpected number 2; expected ')', '.', '[' or an operator"
    assert syntax_error("node t = task { epoch { } }")[0].startswith("unexpected '{'; expected")
    assert syntax_error("node t = task()")[1] == "a task declared in the file is written `node <name> = task { ... }` (see docs/tasks.md)"
    assert "another name" in syntax_error("node t = task { noise ~ uniform(0, 1) }")[1]


# ---- evaluation ------------------------------------------------------------------------------


def test_evaluation_of_functions_and_vectors():
    np.testing.assert_array_equal(value("onehot(2, 4)"), [0, 0, 1, 0])
    np.testing.assert_array_equal(value("[1, 2, 3] * 2 + 1"), [3, 5, 7])
    assert value("[5, 6, 7][2]") == [7]
    np.testing.assert_allclose(value("linspace(0, 1, 5)"), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(value("range(3)"), [0, 1, 2])
    assert value("min(3, 1, 2)") == 1 and value("max(3, 1, 2)") == 3 and value("clip(5, 0, 2)") == 2
    assert value("floor(2.7)") == 2 and value("ceil(2.1)") == 3 and value("abs(-2)") == 2
    assert value("sum([1, 2, 3])") == [6]
    assert value("duration") == 1000.0 and value("dt") == 10.0 and value("pi") == pytest.approx(np.pi)
    v = value("if [1, 5, 3] > 2 then 1 else 0")
    np.testing.assert_array_equal(v, [0, 1, 1])


def test_evaluation_is_per_trial():
    x = np.array([0.0, 1.0, 2.0]).reshape(3, 1, 1)
    out = value("onehot(floor(x), 3) * 10 + x", {"x": x})
    assert out.shape == (3, 1, 3)
    np.testing.assert_array_equal(out[:, 0, :], [[10, 0, 0], [1, 11, 1], [2, 2, 12]])
    idx = np.array([0, 2, 1]).reshape(3, 1, 1)
    np.testing.assert_array_equal(value("[10, 20, 30][i]", {"i": idx})[:, 0, 0], [10, 30, 20])


# ---- checks ----------------------------------------------------------------------------------


def test_examples_check_cleanly():
    assert EXAMPLES and len(EXAMPLES) >= 5
    for path in EXAMPLES:
        cm, _ = dsl.load(path)
        assert cm.warnings == [], path
        assert cm.task.kind == "task"


def test_example_tasks_are_short():
    for name in ("context_dependent_decision", "ready_set_go"):
        assert len((REPO / "examples" / "tasks" / f"{name}.rnn").read_text().splitlines()) < 40


def test_undefined_variable_with_a_suggestion():
    body = "  coherence ~ choice(0.1, 0.5)\n  epoch s from 100 to 500 { left = 1 + coherance }"
    assert errors(body) == [(2, 40, "undefined name `coherance`")]
    assert hints(body) == ["did you mean `coherence`?"]


def test_variable_used_before_it_is_drawn():
    errs = errors("  onset ~ uniform(0, duration - stim)\n  stim ~ uniform(100, 300)")
    assert errs == [(1, 33, "`stim` is used before it is drawn")]
    errs = errors("  y = x * 2\n  x = 1")
    assert errs == [(1, 7, "`x` is used before it is computed")]


def test_channel_index_out_of_range():
    assert errors("  epoch r from 500 to duration { target[2] = 1 }") == [
        (1, 41, "channel index 2 is out of range: `target` has 2 channels (0 to 1)")]
    body = "  epoch r from 500 to duration { a[1] = 1 }"
    assert messages(body) == ["channel index 1 is out of range: `a` has 1 channel (0 to 0)"]


def test_index_out_of_range_in_an_expression():
    assert messages("  x = [1, 2, 3][3]") == ["index 3 is out of range for a vector of 3 (0 to 2)"]
    msgs = messages("  k ~ integer(0, 4)\n  x = [1, 2, 3][k]")
    assert len(msgs) == 1 and msgs[0].startswith("index out of range for a vector of 3 (0 to 2) in some trials, e.g. when k = 3")


def test_overlapping_epochs_only_when_required():
    body = "  onset ~ uniform(0, 500)\n  epoch s from onset for 400 { left = 1 }\n  epoch r from 600 to duration { mask = 1 }"
    dsl.load_source(model(body))  # overlapping epochs are allowed (the later one wins) ...
    errs = errors(body + "\n  require epochs disjoint")  # ... unless the file requires them disjoint
    assert len(errs) == 1 and errs[0][:2] == (3, 9)
    assert re.fullmatch(r"epoch `r` overlaps epoch `s` in some trials, e\.g\. when onset = [0-9.]+: "
                        r"`s` is \[[0-9.]+, [0-9.]+\) and `r` is \[600, 1000\)", errs[0][2]), errs[0][2]


def test_sequences_are_disjoint():
    body = ("  la ~ uniform(0, 300)\n  lb ~ uniform(0, 300)\n  epoch one for la { left = 1 }\n  epoch two for lb { right = 1 }\n"
            "  epoch three to duration { mask = 1 }\n  require epochs disjoint")
    dsl.load_source(model(body))


def test_empty_epochs_only_when_required():
    body = "  d ~ uniform(0, 200)\n  epoch s from 100 for 200 { left = 1 }\n  epoch hold for d { }\n  epoch r to duration { mask = 1 }"
    dsl.load_source(model(body))
    msgs = messages(body + "\n  require epochs nonempty")
    assert msgs == ["epoch `hold` is empty in some trials, e.g. when d = 0: it spans [300, 300), which holds no time step (dt = 10)"]
    # an epoch between two time steps is empty too
    assert messages("  epoch s from 101 to 109 { left = 1 }\n  require epochs nonempty")[0].startswith("epoch `s` is empty")
    assert messages("  epoch s from 100 to 100 { }  require epochs nonempty")[0].startswith("epoch `s` is empty")


@pytest.mark.parametrize("dist, message", [
    ("uniform(0.5, 0.1)", "uniform(low, high) needs low <= high, got low = 0.5 > high = 0.1"),
    ("normal(0, -1)", "the std of `normal` must be >= 0, got -1"),
    ("integer(2, 2)", "integer(low, high) draws low, ..., high - 1, so it needs low < high, got low = 2, high = 2"),
    ("exponential(0)", "the mean of `exponential` must be > 0, got 0"),
    ("bernoulli(1.5)", "the probability of `bernoulli` must be in [0, 1], got 1.5"),
    ("truncated(normal(0, 1), 2, 1)", "truncated(distribution, low, high) needs low < high, got low = 2, high = 1"),
    ("uniform(1)", "`uniform` takes 2 arguments, got 1"),
    ("choice()", "`choice` takes at least 1 arguments, got 0"),
    ("truncated(uniform(0, 1), 0, 1)", "`truncated` takes normal(mean, std) or exponential(mean) as its first argument"),
    ("integer(0, duration / 2)", "`integer(low, high)` takes integers, but this is a number"),
    ("gauss(0, 1)", "`~` draws from a distribution such as uniform(0, 1), got `gauss(...)`"),
    ("3 * 2", "`~` draws from a distribution such as uniform(0, 1), got an expression"),
    ("exponential([0, 1])", "the arguments of `exponential` are numbers, but this is a vector of 2 integers"),
])
def test_invalid_distributions(dist: str, message: str):
    assert messages(f"  x ~ {dist}") == [message]


def test_distribution_arguments_checked_on_drawn_trials():
    msgs = messages("  stop ~ uniform(0, 600)\n  start ~ uniform(400, stop)")
    assert len(msgs) == 1 and msgs[0].startswith("`uniform` gets invalid arguments in some trials (low > high), e.g. when stop = ")
    dsl.load_source(model("  stop ~ uniform(500, 600)\n  start ~ uniform(400, stop)"))


@pytest.mark.parametrize("body, message", [
    ("  d ~ integer(0, 2)\n  x = 1 + (d == 0)", "`+` needs numbers, but this is a condition (true or false)"),
    ("  x = 1 and true", "`and` needs a condition (true or false), but this is an integer"),
    ("  x = if 1 then 2 else 3", "`if` needs a condition (true or false), but this is an integer"),
    ("  x = if true then 1 else false", "the two branches of `if` differ: `then` gives an integer, `else` gives a condition (true or false)"),
    ("  x = [1, 2] + [1, 2, 3]", "`+` combines vectors of different lengths: 2 and 3"),
    ("  x = [[1], [2]]", "a vector holds numbers, not vectors"),
    ("  x = 2[0]", "only a vector can be indexed, but this is an integer"),
    ("  x = [1, 2][0.5]", "an index is an integer, but this is a number"),
    ("  x = onehot(0.5, 2)", "the first argument of `onehot` must be an integer index, got a number"),
    ("  n ~ integer(1, 3)\n  x = onehot(0, n)", "the length given to `onehot` must be a fixed whole number from 1 to 100,000"),
    ("  x = sqroot(2)", "unknown function `sqroot`"),
    ("  x = min()", "`min` takes at least 1 arguments, got 0"),  # min(x) of one value reduces it
    ("  x = uniform(0, 1)", "`uniform(...)` draws a trial variable; it can only be written as `name ~ uniform(...)`"),
    ("  x = crossing(0.5)", "`crossing` reads the network's response; it is only available in `accuracy`"),
    ("  x = response_choice", "`response_choice` is the network's choice; it is only available in `accuracy`"),
    ("  x = t / 2", "`t` is the time within the trial; a trial variable (drawn once per trial) cannot depend on it"),
    ("  x = elapsed", "`elapsed` belongs to an epoch; it is only available inside an epoch's braces"),
    ("  x = left + 1", "`left` is a channel; expressions read trial variables, not channels"),
])
def test_type_and_name_errors(body: str, message: str):
    assert messages(body) == [message]


@pytest.mark.parametrize("body, message", [
    ("  epoch r from 500 to duration { target = onehot(0, 3) }", "`target` has 2 channels, but the value is a vector of 3 numbers"),
    ("  epoch r from 500 to duration { left = [1, 2] }", "`left` has 1 channel, but the value is a vector of 2 integers"),
    ("  epoch r from 500 to duration { left = 1 > 0 }", "a channel holds numbers, but this is a condition (true or false)"),
    ("  epoch r from 500 to duration { lef = 1 }", "unknown channel `lef`"),
    ("  epoch r from 500 to duration { left = 1  left = 2 }", "`left` is set twice in epoch `r`"),
    ("  epoch r from 500 to duration { input = [1, 2]  right = 2 }", "`right` is set twice in epoch `r`"),
    ("  epoch r from 500 to duration { target[k] = 1 }", "a channel index is a fixed whole number, such as `ring[3]`"),
    ("  epoch r from [1, 2] to duration { }", "an epoch's time is one number, but this is a vector of 2 integers"),
    ("  epoch r from t to duration { }", "`t` is the time within the trial; a trial variable (drawn once per trial) cannot depend on it"),
    ("  epoch r for 1 { }\n  epoch r for 2 { }", "duplicate epoch `r`"),
])
def test_epoch_errors(body: str, message: str):
    assert messages(body) == [message]


def test_epochs_read_time():
    dsl.load_source(model("  epoch r from 100 to duration { left = elapsed / (t1 - t0)  right = t / duration  mask = 1 }"))


@pytest.mark.parametrize("body, message", [
    ("  x = 1\n  x = 2", "duplicate variable `x`"),
    ("  left = 1", "`left` is already a channel; a variable needs another name"),
    ("  duration = 5", "`duration` is a built-in name and cannot name a variable"),
    ("  elapsed ~ uniform(0, 1)", "`elapsed` is a built-in name and cannot name a variable"),
    ("  accuracy = max_mean", "unknown accuracy rule `max_mean`"),
    ("  accuracy = 1 + 1", "`accuracy` is a rule or a condition (true when a trial is correct), but this is an integer"),
    ("  accuracy = threshold(0.5)", "`threshold` takes 2 arguments, got 1"),
    ("  accuracy = crossing(0.5, c) < 100", "expected an output channel (a name or an index from 0 to 1)"),
    ("  accuracy = max_masked_mean\n  accuracy = max_masked_mean", "duplicate `accuracy`"),
    ("  noise = [0.1, 0.2, 0.3]", "`noise` is one number, or one per input channel (2), but this is a vector of 3 numbers"),
    ("  noise = 0.1\n  noise = 0.2", "duplicate `noise`"),
    ("  require epochs disjoint and empty", "unknown requirement `empty`"),
    ("  validation grid { }", "the validation grid names no variable"),
    ("  c ~ choice(0.1, 0.5)\n  validation grid { coherence = [0.1] }", "`coherence` is not a trial variable"),
    ("  d ~ integer(0, 2)\n  validation grid { d = [0, 0.5] }", "`d` is an integer, but the grid gives non-integer values"),
    ("  d ~ integer(0, 2)\n  validation grid { d = [0, 1]  trials = 0 }", "`trials` is the least number of validation trials, a whole number from 1 to 100,000"),
    ("  d ~ integer(0, 2)\n  e ~ uniform(0, 1)\n  validation grid { d = [e] }", "a validation grid holds fixed values; it cannot read the variable `e`"),
    ("  v = [1, 2]\n  validation grid { v = [0, 1] }", "`v` is a vector of 2 integers; a validation grid varies scalar variables"),
])
def test_setting_errors(body: str, message: str):
    assert messages(body) == [message]


def test_channel_errors():
    text = "model { dt = 1  steps = 5 }\nnode task = task {\n  inputs = [a, a, 2, ring[0]]\n}\n"
    with pytest.raises(ModelError) as info:
        dsl.load_source(text)
    got = [(d.span.line, d.span.col, d.message) for d in info.value.errors]
    assert got == [
        (2, 6, "the task declares no `outputs`"),
        (3, 16, "duplicate channel `a`"),
        (3, 19, "a channel is a name, or `name[n]` for a group of n channels"),
        (3, 27, "the number of channels in `ring[n]` must be a whole number from 1 to 100,000"),
    ]


def test_errors_do_not_cascade():
    # an undefined name makes its variable unknown, but later uses of the variable are not errors
    assert messages("  x = nope + 1\n  y = x * 2\n  epoch s for 10 { left = y }") == ["undefined name `nope`"]


def test_several_errors_are_reported_together():
    body = "  x = nope\n  y ~ uniform(1, 0)\n  epoch s for 10 { lef = 1 }"
    assert [line for line, _, _ in errors(body)] == [1, 2, 3]


# ---- the node: ports, parameters, stage overrides ----------------------------------------------


def test_ports_come_from_the_body():
    from rnnlang.dsl.library import REGISTRY

    body = body_of("node t = task { inputs = [motion, color, cue[2]]  outputs = [left, right]  c ~ uniform(0, 1)  d = c * 2 }")
    kind = REGISTRY["task"].for_node({"body": body})
    ports = {p.name: p for p in kind.ports}
    assert [(p.name, p.direction, p.size) for p in kind.ports] == [
        ("input", "out", 4), ("target", "out", 2), ("mask", "out", 2), ("response", "in", 2)]
    assert ports["input"].fields == {"motion": (0, 1), "color": (1, 2), "cue": (2, 4)}
    assert ports["target"].fields == ports["mask"].fields == {"left": (0, 1), "right": (1, 2)}
    assert [p.name for p in kind.params] == ["c", "d"] and all(p.default is None for p in kind.params)
    assert REGISTRY["task"].ports_for({"body": body}) == kind.ports
    assert REGISTRY["ctrnn"].for_node({}) is REGISTRY["ctrnn"]


def test_fields_of_a_declared_task_in_edges():
    text = model("  epoch s for 10 { left = 1 }").replace("task.input -> net.input", "task.input.left -> net.input")
    cm, graph = dsl.load_source(text)
    plan = cm.plan
    assert plan.in_sizes["net"]["input"] == 1 and plan.out_sizes["task"] == {"input": 2, "target": 2, "mask": 2}


def test_stage_overrides_are_checked_against_the_variables():
    base = model("  c ~ choice(0.1, 0.5)\n  epoch s for 10 { left = c }")
    ok = base + "train { stage easy { task.c = 0.5  batches = 2 }  stage mid { task.c = choice(0.3, 0.5) } }\n"
    cm, _ = dsl.load_source(ok)
    assert cm.stages[0].overrides == {"c": 0.5} and cm.stages[1].overrides["c"].name == "choice"
    with pytest.raises(ModelError, match="has no parameter `coherence`"):
        dsl.load_source(base + "train { stage easy { task.coherence = 0.5 } }\n")


def test_variables_are_unset_node_parameters():
    cm, _ = dsl.load_source(model("  c ~ choice(0.1, 0.5)"))
    assert cm.nodes["task"].params["c"] is None and isinstance(cm.nodes["task"].params["body"], T.TaskBody)


def test_body_repr_is_its_text():
    body = body_of("node t = task {  x = 1 }")
    assert repr(body) == "task {  x = 1 }" and str(body) == "{  x = 1 }"


# ---- documentation and robustness -------------------------------------------------------------


def doc_blocks() -> list[str]:
    return re.findall(r"```rnn\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


def test_documentation_examples_check():
    blocks = doc_blocks()
    assert blocks, "docs/tasks.md has no ```rnn blocks"
    complete = [b for b in blocks if b.lstrip().startswith(("model", "#"))]
    assert complete, "docs/tasks.md has no complete model"
    for block in complete:
        dsl.load_source(block, str(DOCS))
    for block in blocks:
        if block not in complete:  # fragments of a task body: check them inside a task
            parse("node task = task {\n" + block + "\n}\n")


@pytest.mark.parametrize("seed", range(40))
def test_mutated_task_programs_fail_cleanly(seed: int, tmp_path: Path):
    rng = random.Random(1000 + seed)
    source = EXAMPLES[seed % len(EXAMPLES)]
    path = tmp_path / source.name
    path.write_text(mutate(source.read_text(), rng))
    assert_loads_or_fails_cleanly(path)

@pytest.mark.parametrize("block", [1, 7, 10_000])
def test_epoch_windows_are_checked_a_block_of_steps_at_a_time(monkeypatch, block):
    """The same overlaps and empty epochs are found whether the steps' windows are formed all at
    once or a few steps at a time (which keeps a trial of a million steps within memory)."""
    from rnnlang.dsl.tasklang import sampler

    monkeypatch.setattr(sampler, "WINDOW_VALUES", block * (sampler.SAMPLES + sampler.EXTREME_SAMPLES))
    body = ("  onset ~ uniform(0, 500)\n  d ~ uniform(0, 200)\n  epoch s from onset for 400 { left = 1 }\n"
            "  epoch hold for d { }\n  epoch r from 600 to duration { mask = 1 }\n  require epochs disjoint and nonempty")
    errs = errors(body)
    assert [e[:2] for e in errs] == [(4, 9), (5, 9)], errs
    assert re.fullmatch(r"epoch `hold` is empty in some trials, e\.g\. when d = [0-9.]+, onset = [0-9.]+: it spans "
                        r"\[[0-9.]+, [0-9.]+\), which holds no time step \(dt = 10\)", errs[0][2]), errs[0][2]
    assert errs[1][2].startswith("epoch `r` overlaps epoch `s` in some trials, e.g. when onset = ")


def test_long_trials_are_checked_in_bounded_memory():
    """`require epochs disjoint` on a 50,000-step trial: formed all at once, the windows of the
    2,560 sampled trials would take 1 GB each (a 1,000,000-step trial asked for 19 GB and was
    killed); a block at a time they take a few MB."""
    import tracemalloc

    body = "  epoch s from 0 for 400 { left = 1 }\n  epoch r from 600 to duration { mask = 1 }\n  require epochs disjoint"
    tracemalloc.start()
    try:
        dsl.load_source(model(body, head="model { dt = 10  duration = 500000 }"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6, peak
