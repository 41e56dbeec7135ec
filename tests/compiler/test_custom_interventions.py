"""Custom interventions: `site NAME at PLACE: custom(mode = "add" | "replace") { value = EXPR }`,
EXPR an expression of the signal at the site (`x`), the time (`t`), trial variables and the
outputs known at that point of the step. Numerics against the formulas (a custom value restating
the curl field rolls out as `curl_field`), and mistakes by message and position."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from rnnlang.compiler.lower import compile_model
from rnnlang.dsl import load_source
from rnnlang.dsl.errors import ModelError
from rnnlang.runtime.tasks import train_batch

BASE = """model custom { dt = 0.05  steps = 12  seed = 0 }
node task = simple_reaches()
node net = gru(hidden = 6, out = 2)
node arm = point_mass()
task.target -> net.input
arm.effector -> net.input
net.output -> arm.force
task.start -> arm.init
arm.effector -> task.effector
loss { position = squared_error(arm.effector.pos, task.target.pos) }
"""
CURL = "site f at arm.force: curl_field() { train { amplitude = 1.5 * task.goal[0]  scale = 2 - task.goal[1] } }\n"
RESTATED = ("site f at arm.force: custom(mode = \"add\") {\n"
            "  value = 1.5 * task.goal[0] * [-arm.effector.vel[1], arm.effector.vel[0]]\n"
            "  train { scale = 2 - task.goal[1] }\n}\n")


def compiled(site: str):
    cm, graph = load_source(BASE + site, "m.rnn")
    return compile_model(cm, graph)


def rollout(model, key: int = 1, batch: int = 16) -> tuple[np.ndarray, dict]:
    trial = train_batch(model, jr.PRNGKey(key), batch)
    out = model.rollout(model.init(jr.PRNGKey(0)), trial, jr.PRNGKey(2), ["arm.effector", "net.output"])
    return np.asarray(out["arm.effector"]), trial


@pytest.fixture(scope="module")
def curl_and_restated():
    return rollout(compiled(CURL)), rollout(compiled(RESTATED))


def test_a_custom_value_restating_the_curl_field_rolls_out_as_curl_field(curl_and_restated):
    (a, trial_a), (b, trial_b) = curl_and_restated
    np.testing.assert_array_equal(trial_a["vars"]["goal"], trial_b["vars"]["goal"])
    assert np.abs(a[:, :, 2:]).max() > 0.05  # the arm moves, so the field acts
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_the_restated_field_acts(curl_and_restated):
    _, (_, trial) = curl_and_restated
    model = compiled(RESTATED)
    off = {**trial, "sites": {"f": {**trial["sites"]["f"], "active": trial["sites"]["f"]["active"] * 0}}}
    params = model.init(jr.PRNGKey(0))
    on, none = (np.asarray(model.rollout(params, t, jr.PRNGKey(2), ["arm.effector"])["arm.effector"]) for t in (trial, off))
    assert np.abs(on - none).max() > 1e-3


def test_add_and_replace_follow_their_formulas():
    model = compiled('site f at net.input: custom(mode = "replace") { value = t * x + task.goal[0] }\n'
                     'site g at net.input: custom(mode = "add") { value = [1, 2, 3, 4, 5, 6, 7, 8] - t }\n')
    f, g = (b.impl for b in model.sites)
    assert f.value.variables == ("goal",) and f.signal_reads() == ()
    x = jnp.arange(8.0) / 3
    p = {"active": jnp.float32(1), "scale": jnp.float32(0.25), "task.goal": jnp.asarray([0.7, -0.2])}
    t, dt = 3, 0.05
    value = t * dt * x + 0.7
    np.testing.assert_allclose(f.apply(x, p, {}, t, None, None), x + 0.25 * (value - x), rtol=1e-6)
    np.testing.assert_allclose(g.apply(x, p, {}, t, None, None), x + 0.25 * (np.arange(1, 9) - t * dt), rtol=1e-6)
    np.testing.assert_allclose(f.apply(x, {**p, "active": jnp.float32(0)}, {}, t, None, None), x)
    np.testing.assert_allclose(f.apply(x, {**p, "scale": jnp.float32(1)}, {}, t, None, None), value, rtol=1e-6)


def test_a_value_reads_a_feedthrough_output_computed_before_its_place():
    """`value = -net.output` at `arm.force` cancels the network's command: the arm stays put."""
    model = compiled('site stop at arm.force: custom(mode = "add") { value = -net.output }\n')
    assert model.sites[0].impl.signal_reads() == ("net.output",)
    effector, trial = rollout(model)
    start = np.asarray(trial["init"]["start"])[:, None, :]
    np.testing.assert_allclose(effector, np.broadcast_to(start, effector.shape), atol=1e-6)


def test_a_value_reads_the_task_signals_at_each_step():
    """`replace` with the target's position puts the goal itself into the network's input."""
    model = compiled('site show at net.output: custom(mode = "replace") { value = task.target.pos }\n')
    cm_sig = model.task_signal_ports
    assert "target" in cm_sig
    trial = train_batch(model, jr.PRNGKey(4), 8)
    out = model.rollout(model.init(jr.PRNGKey(0)), trial, jr.PRNGKey(2), ["net.output"])
    np.testing.assert_allclose(out["net.output"], np.asarray(trial["signals"]["target"])[..., :2], rtol=1e-6)


def errors(site: str) -> list:
    with pytest.raises(ModelError) as e:
        load_source(BASE + site, "m.rnn")
    return [(d.message, d.span.line, d.span.col) for d in e.value.diagnostics]


@pytest.mark.parametrize("site, message, at", [
    ("site f at net.input: custom() { value = x + net.output[0] }",
     "`net.output` is computed later in the step than `net.input`, where `net` runs", "net.output"),
    ("site f at arm.force: custom() { value = [1, 2, 3] }",
     "the value of `f` is a vector of 3 integers, but `arm.force` has 2 values", "[1, 2, 3]"),
    ("site f at arm.force: custom() { value = normal(0, 1) * x }",
     "`normal(...)` would draw at every step: a custom intervention's value is computed each step", "normal"),
    ("site f at arm.force: custom()", "the custom intervention `f` needs its value: `{ value = ... }`", "custom"),
    ("site f at arm.force: curl_field() { value = x }",
     "`curl_field` computes its own effect; only a `custom` intervention takes `value = ...`", "value"),
    ("site f at arm.force: custom() { value = x > 0 }",
     "the value of `f` is what it adds to `arm.force`: numbers, but this is a vector of 2 conditions", "x > 0"),
    ("site f at arm.force: custom() { value = arm.effector.acc }", "unknown name `arm.effector.acc`", "arm.effector.acc"),
    ("site f at net.input: custom() { value = arm.force[0] }",
     "`arm.force` is an input; a custom intervention reads the outputs of nodes", "arm.force"),
    ("site f at arm.force: custom() { value = task.gaol }", "the task `task` has no trial variable `gaol`", "task.gaol"),
    ("site f at arm.force: custom() { speed = x }",
     "unknown statement `speed = ...` in a site; a site's body holds `train { ... }`, `validate { ... }` and, for a "
     "custom intervention, `value = ...`", "speed"),
    ("site f at arm.force: custom(mode = \"scale\") { value = x }", "unknown value `scale` for `mode`", "\"scale\""),
])
def test_custom_mistakes_are_positioned(site, message, at):
    before = site[:site.rindex(at)]
    line, col = BASE.count("\n") + 1 + before.count("\n"), len(before) - (before.rfind("\n") + 1) + 1
    got = errors(site)
    assert (message, line, col) in got, got
