"""Silent traps made visible (dsl/traps.py and the weights check): the catalogue holds the errors
(clamp values of the wrong length, reversed ranges, unknown weight arrays); here are the warnings
and what is now accepted."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlang.dsl import ModelError, load_source

REACH = """model {{ dt = {dt}  steps = 20 }}
node task = simple_reaches()
node net = gru(hidden = 8, out = 2)
node arm = point_mass()
task.target -> net.input
arm.effector -> net.input
net.output -> arm.force
{init}arm.effector -> task.effector
loss {{ p = squared_error(arm.effector.pos, task.target.pos) }}
"""
START = "task.start -> arm.init\n"


def warnings(text: str) -> list[tuple[int, int, str, str | None]]:
    cm, _ = load_source(text)
    return [(w.span.line, w.span.col, w.message, w.hint) for w in cm.warnings]


def test_connected_plant_and_seconds_give_no_warning():
    assert warnings(REACH.format(dt=0.05, init=START)) == []


def test_unconnected_plant_init_is_a_warning_at_the_plant():
    ((line, col, msg, hint),) = warnings(REACH.format(dt=0.05, init=""))
    assert (line, col) == (4, 6)
    assert msg == ("`arm.init` is not connected: every trial starts `arm` at rest at the origin, ignoring the "
                   "task's start states (`task.start`)")
    assert hint == "add the edge `task.start -> arm.init`"


def test_a_plant_with_a_time_step_in_milliseconds_is_a_warning_at_dt():
    ((line, col, msg, hint),) = warnings(REACH.format(dt=50, init=START))
    assert (line, col) == (1, 9)  # the setting `dt = 50`
    assert msg.startswith("`dt` = 50 with the plant `arm`: plants integrate in seconds")
    assert hint == "for 50 ms steps write `dt = 0.05`, with durations and times in seconds too"


def test_a_network_alone_may_count_in_milliseconds():
    text = """model { dt = 10  steps = 20 }
node task = perceptual_discrimination()
node net = ctrnn(hidden = 4, out = 2)
task.input -> net.input
net.output -> task.response
"""
    assert warnings(text) == []


SITE = """model {{ dt = 10  steps = 20 }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = 16, out = 2)
task.input -> net.input
net.output -> task.response
site hold at net.hidden: clamp(units = {units}, values = {values})
"""


@pytest.mark.parametrize("units, expected", [("range(16)", list(range(16))), ("range(4, 8)", [4, 5, 6, 7])])
def test_site_units_accept_range_as_tasks_do(units, expected):
    cm, _ = load_source(SITE.format(units=units, values="[1]"))
    assert cm.sites["hold"].params["units"] == expected


@pytest.mark.parametrize("values", ["[0.5]", "[1, 2, 3, 4]", "choice([1], [1, 2, 3, 4])"])
def test_clamp_values_of_one_or_one_per_unit_are_accepted(values):
    load_source(SITE.format(units="range(4)", values=values))


def test_clamp_with_matching_values_runs_a_rollout():
    """The case that once died in training: now refused at check time, and a matching one runs."""
    import jax

    from rnnlang.compiler.lower import compile_model

    cm, graph = load_source(SITE.format(units="[0, 1]", values="[0.5, 0.25]"))
    model = compile_model(cm, graph)
    key = jax.random.PRNGKey(0)
    trial = model.task.trials(key, 2)
    trial["sites"] = {"hold": {"active": np.ones(2, bool), "values": np.tile([0.5, 0.25], (2, 1)).astype(np.float32)}}
    out = model.rollout(model.init(key), trial, key, record=["net.hidden"])
    assert np.allclose(np.asarray(out["net.hidden"])[..., :2], [0.5, 0.25])


@pytest.mark.parametrize("units, message", [
    ("range(0)", "`units`: range(0) is empty"),
    ("range(-2, 3)", "`units`: unit indices must be >= 0, got range(-2, 3)"),
    ("range(2.5)", "`units`: `range` takes one or two whole numbers: range(n) or range(a, b)"),
    ("range(2000000)", "`units`: range(...) lists 2,000,000 units; at most 1,000,000"),
])
def test_bad_ranges_are_positioned_errors(units, message):
    with pytest.raises(ModelError) as info:
        load_source(SITE.format(units=units, values="[1]"))
    (d,) = info.value.errors
    assert d.message == message and (d.span.line, d.span.col) == (6, 40)
