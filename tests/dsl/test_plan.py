"""The plan the checker makes (dsl/plan.py): port sizes, evaluation order, algebraic loops and
size errors with positions, and the kinds' own checks run on the plan's sizes; all without the
compiler."""

import pytest

from rnnlang.dsl import load_source
from rnnlang.dsl.errors import ModelError
from rnnlang.dsl.library import REGISTRY


LOOP = """
model loop {{ dt = 10  steps = 5  tau = 100 }}
node a = ctrnn(hidden = 4, out = 2)
node b = ctrnn(hidden = 4, out = 2)
node c = channel(delay = {delay})
a.output -> c.input
c.output -> b.input
b.output -> a.input
"""


def test_algebraic_loop_is_rejected_with_the_edges_positions():
    with pytest.raises(ModelError) as e:
        load_source(LOOP.format(delay=0), "loop.rnn")
    d = e.value.diagnostics[0]
    assert "algebraic loop" in d.message and all(n in d.message for n in ("a", "b", "c"))
    lines = {d.span.line} | {sp.line for sp, _ in d.related}
    assert lines == {6, 7, 8}  # every edge of the cycle is pointed at
    text = e.value.render()
    assert "loop.rnn:6:1" in text and "^" in text and "hint:" in text


def test_a_delay_breaks_the_loop():
    cm, g = load_source(LOOP.format(delay=1), "loop.rnn")
    plan = cm.plan
    assert plan.feedthrough_order == ["b", "a"] and plan.stateful_rest == ["c"]  # b feeds a within a step


def test_size_mismatch_points_at_the_edge():
    src = """model m { dt = 0.05  steps = 10 }
node net = gru(hidden = 8, out = 3)
node arm = point_mass()
net.output -> arm.force
"""
    with pytest.raises(ModelError) as e:
        load_source(src, "m.rnn")
    d = e.value.diagnostics[0]
    assert d.message == "`net.output` has shape (3,) but `arm.force` expects (2,)"
    assert (d.span.line, d.span.col) == (4, 1)


def test_concatenation_follows_source_order():
    src = """model m {{ dt = 10  steps = 3  tau = 100 }}
node task = perceptual_discrimination()
node a = gain(gain = 2.0)
node net = ctrnn(hidden = 3, out = 1)
{first}
{second}
"""
    outs = []
    for first, second in [("task.input -> net.input", "a.output -> net.input"), ("a.output -> net.input", "task.input -> net.input")]:
        cm, g = load_source(src.format(first=first, second=second) + "task.input -> a.input\n", "m.rnn")
        plan = cm.plan
        outs.append([s.node for s in plan.sources[("net", "input")]])
    assert outs == [["task", "a"], ["a", "task"]]


def test_roles_replace_kind_names_in_generic_code():
    assert {n for n, k in REGISTRY.items() if k.has_role("plant")} == {"point_mass", "two_link_arm", "arm26", "muscle_point_mass"}
    channel = REGISTRY["channel"]
    assert channel.has_role("starts_with_input", {"delay": 2, "init": "first"})
    assert not channel.has_role("starts_with_input", {"delay": 0, "init": "first"})
    assert not channel.has_role("starts_with_input", {"delay": 2, "init": "zeros"})
    assert not REGISTRY["gain"].has_role("starts_with_input", {})


def test_an_intervention_is_sized_by_its_place():
    src = """model m { dt = 10  steps = 5 }
node task = perceptual_discrimination()
node net = ctrnn(hidden = 6, out = 2)
task.input -> net.input
net.output -> task.response
site a at net.hidden: add_input(units = [0, 5])
site b at net.input: noise(std = 0.1)
loss { mse = squared_error(net.output, task.target, mask = task.mask) }
"""
    cm, _ = load_source(src, "m.rnn")
    assert cm.plan.site_size(cm.sites["a"]) == 6 and cm.plan.site_size(cm.sites["b"]) == 2
    with pytest.raises(ModelError) as e:
        load_source(src.replace("[0, 5]", "[0, 6]"), "m.rnn")
    d = e.value.errors[0]
    assert d.message == "units [0, 6] are out of range: the signal has 6 units" and (d.span.line, d.span.col) == (6, 33)
