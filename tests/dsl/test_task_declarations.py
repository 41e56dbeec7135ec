"""Task declarations with parameters (`task NAME(params) { ... }`) and the standard library
written in the language: the library is found by name, its values are checked where the user
gives them (arguments, `--set`, curriculum stages) with positions, a user's own declaration works
the same way, and motor-task statements (signal, init and input ports, metrics) are checked."""

from __future__ import annotations

import pytest

import rnnlang.dsl as dsl
from rnnlang.dsl import ModelError
from rnnlang.dsl import stdlib as library
from rnnlang.dsl.library import REGISTRY
from rnnlang.dsl import tasklang as T

from .test_errors import assert_no_leak

LIBRARY = ("perceptual_discrimination", "delayed_discrimination", "match_to_category", "simple_reaches",
           "delayed_reaches")

COGNITIVE = """model {{ dt = 10  duration = 2000 }}
node task = {task}
node net = ctrnn(hidden = 4, out = 2)
task.input -> net.input
net.output -> task.response
loss {{ mse = squared_error(net.output, task.target, mask = task.mask) }}
{train}
"""


def cognitive(task: str, train: str = "") -> str:
    return COGNITIVE.format(task=task, train=train)


def errors(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(ModelError) as info:
        dsl.load_source(text)
    assert_no_leak(info.value)
    return [(d.span.line, d.span.col, d.message) for d in info.value.errors]


def test_the_library_is_written_in_the_language_and_registered():
    decls = library.declarations()
    assert set(LIBRARY) <= set(decls)
    for name in LIBRARY:
        assert (library.STDLIB_DIR / f"{name}.rnn").exists()
        kind = REGISTRY[name]
        assert kind.family == "task" and kind.doc
        assert {p.name for p in decls[name].params} <= {p.name for p in kind.params}


def test_library_parameters_keep_their_names_types_and_defaults():
    pd = REGISTRY["perceptual_discrimination"]
    assert pd.param("coherences").default == [0.1, 0.3, 0.5, 0.7] and pd.param("coherences").type == "vector"
    assert pd.param("noise").type == "float" and pd.param("target_delay").default == 20.0
    assert pd.param("coherence").per_trial  # a trial variable is a parameter too
    mc = REGISTRY["match_to_category"]
    assert mc.param("n_in").type == "int" and mc.param("n_in").default == 16
    dr = REGISTRY["delayed_reaches"]
    assert dr.param("epoch_bounds").type == "matrix" and dr.param("target_on_epochs").default == [1]
    sr = REGISTRY["simple_reaches"]
    ports = {p.name: p for p in sr.ports}
    assert set(ports) == {"target", "start", "effector"}
    assert ports["start"].role == "init" and ports["effector"].direction == "in"
    assert dict(ports["target"].fields) == {"pos": (0, 2), "vel": (2, 4)}
    assert {p.name for p in dr.ports} == {"cue", "hold", "target_on", "target", "start", "effector"}


def test_ports_follow_the_parameters():
    cm, _ = dsl.load_source(cognitive("match_to_category(n_in = 8, n_out = 3)").replace("out = 2", "out = 3"))
    assert cm.nodes["task"].params["n_in"] == 8


def test_a_requirement_is_reported_at_the_users_argument():
    text = cognitive("perceptual_discrimination(onset_frac = [0.5, 0.2])")
    (line, col, msg), = errors(text)
    assert (line, col) == (2, 52)
    assert msg == ("`perceptual_discrimination` requires `size(onset_frac) == 2 and onset_frac[0] >= 0 and "
                   "onset_frac[0] <= onset_frac[1]`; got onset_frac = [0.5, 0.2]")


@pytest.mark.parametrize("call, col, message", [
    ("match_to_category(n_in = 0)", 38, "`match_to_category` requires `n_in >= 1 and n_in <= 100000`; got n_in = 0"),
    ("match_to_category(n_in = 2.5)", 38, "`n_in`: expected an integer, got 2.5"),
    ("perceptual_discrimination(coherences = [])", 52, "`perceptual_discrimination` requires `size(coherences) >= 1`; got coherences = []"),
    ("perceptual_discrimination(noise = -1)", 47, "`perceptual_discrimination` requires `noise >= 0`; got noise = -1"),
    ("delayed_discrimination(freq_range = [34, 10])", 49,
     "`delayed_discrimination` requires `size(freq_range) == 2 and freq_range[0] < freq_range[1]`; got freq_range = [34, 10]"),
    ("perceptual_discrimination(coherence = uniform(2, 1))", 51, "uniform(low, high) needs low <= high, got 2 > 1"),
])
def test_library_values_are_checked_with_positions(call, col, message):
    text = cognitive(call)
    got = errors(text)
    assert got == [(2, col, message)], got


def test_set_and_stages_are_checked_like_arguments():
    from rnnlang.runtime.overrides import apply_overrides

    mf = dsl.parse(cognitive("perceptual_discrimination()"))
    with pytest.raises(ModelError) as info:
        dsl.check(apply_overrides(mf, ["task.onset_frac=[0.9, 0.1]"]))
    d = info.value.errors[0]
    assert d.span.file == "--set" and d.message.endswith("got onset_frac = [0.9, 0.1]")
    text = cognitive("perceptual_discrimination()", "train { stage easy { task.coherences = [0.7]  until_accuracy = 0.9 }\n"
                                                     "        stage bad { task.target_delay = -5 } }")
    assert errors(text) == [(8, 41, "`perceptual_discrimination` requires `target_delay >= 0`; got target_delay = -5")]
    cm, _ = dsl.load_source(cognitive("perceptual_discrimination()", "train { stage easy { task.coherences = [0.7] } }"))
    assert cm.stages[0].overrides == {"coherences": [0.7]}


def test_set_a_trial_variable_to_any_distribution_of_the_table():
    from rnnlang.runtime.overrides import apply_overrides

    mf = dsl.parse(cognitive("perceptual_discrimination()"))
    cm = dsl.check(apply_overrides(mf, ["task.direction=integer(0, 2)"]))
    assert cm.nodes["task"].params["direction"].name == "integer"


USER_TASK = """model { dt = 10  duration = 1000 }
# two flashes; report which came first
task order_task(gap = 100.0, level = 1.0) {
  require gap > 0
  inputs = [a, b]
  outputs = [first_a, first_b]
  which ~ integer(0, 2)
  epoch one from 100 for 50 { a = if which == 0 then level else 0   b = if which == 1 then level else 0 }
  epoch two from 150 + gap for 50 { a = if which == 1 then level else 0   b = if which == 0 then level else 0 }
  epoch respond from 800 { target = onehot(which, 2)  mask = 1 }
  validation grid { which = [0, 1] }
}
node task = order_task(gap = 200)
node net = ctrnn(hidden = 4, out = 2)
task.input -> net.input
net.output -> task.response
loss { mse = squared_error(net.output, task.target, mask = task.mask) }
"""


def test_a_users_declaration_is_used_like_the_librarys():
    cm, _ = dsl.load_source(USER_TASK)
    node = cm.nodes["task"]
    assert node.kind == "task" and node.params["gap"] == 200 and isinstance(node.params["decl"], T.TaskDef)
    assert node.params["decl"].doc == "two flashes; report which came first"
    bad = USER_TASK.replace("order_task(gap = 200)", "order_task(gap = -1)")
    assert errors(bad) == [(13, 30, "`order_task` requires `gap > 0`; got gap = -1")]
    bad = USER_TASK.replace("order_task(gap = 200)", "order_task(gapp = 1)")
    assert errors(bad)[0][2] == "`order_task` has no parameter `gapp`"


@pytest.mark.parametrize("edit, expected", [
    (("task order_task(", "task perceptual_discrimination("), (3, 6, "`perceptual_discrimination` is already a node kind of the standard library")),
    (("gap = 100.0, level", "gap = x, level"), (3, 23, "the default of `gap` is not a value: a default is written with numbers (and `pi`), not names")),
    (("level = 1.0)", "dt = 1.0)"), (3, 30, "`dt` is a built-in name and cannot name a parameter")),
    (("which ~ integer(0, 2)", "gap ~ integer(0, 2)"), (7, 3, "`gap` is a parameter of the task; a variable needs another name")),
    (("require gap > 0", "require which > 0"), (4, 11, "a requirement reads the task's parameters; `which` is a trial variable")),
])
def test_mistakes_in_a_declaration(edit, expected):
    text = USER_TASK.replace(*edit)
    if "perceptual_discrimination(" in edit[1]:
        text = text.replace("= order_task(gap = 200)", "= perceptual_discrimination()")
    assert expected in errors(text)


REACH = """model { dt = 0.05  steps = 20 }
task via_reach(via_offset = 0.3) {
  signal target = [pos[2], vel[2]]
  init start = [pos[2], vel[2]]
  input effector = [pos[2], vel[2]]
  goal ~ uniform([-1, -1], [1, 1])
  via = goal / 2 + [0, via_offset]
  start.pos = [0, 0]
  epoch to_via for 10 * dt { target.pos = via }
  epoch to_goal { target.pos = goal }
  metric final_position_error = norm(final(effector.pos) - goal)
  metric mean_speed = norm(effector.vel)
}
node task = via_reach()
node net = gru(hidden = 8, out = 2)
node arm = point_mass(mass = 1.0)
task.target -> net.input
arm.effector -> net.input
net.output -> arm.force
task.start -> arm.init
arm.effector -> task.effector
loss { position = squared_error(arm.effector.pos, task.target.pos) }
"""


def test_motor_statements_are_checked():
    cm, _ = dsl.load_source(REACH)
    assert cm.nodes["task"].kind == "task"
    cases = [
        (("epoch to_goal { target.pos = goal }", "epoch to_goal { target.place = goal }"),
         (10, 26, "the port `target` has no channel `place`")),
        (("start.pos = [0, 0]", "start.pos = [0, 0, 0]"), (8, 15, "`start.pos` has 2 channels, but the value is a vector of 3 integers")),
        (("start.pos = [0, 0]", "cue.pos = [0, 0]"), (8, 7, "`cue` is not a init port of this task")),
        (("norm(effector.vel)", "effector.vel"), (12, 23, "a metric is one number per trial, but this is a vector of 2 numbers")),
        (("via = goal / 2", "via = final(goal) / 2"), (7, 9, "`final` reads a signal over the trial; it is only available in a `metric`")),
        (("via = goal / 2", "via = effector.pos / 2"), (7, 9, "`effector.pos` is what the task receives; only a metric, `accuracy` and `choice` read it")),
    ]
    for edit, expected in cases:
        got = errors(REACH.replace(*edit))
        assert expected in got, (edit, got)
