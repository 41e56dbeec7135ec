"""Per-trial intervention values that depend on the trial: a site's schedule may be an expression
of the task's trial variables (`amplitude = normal(0, 0.5) * task.goal[0]`,
`active = task.direction == 1`), drawn after the trial's variables; its mistakes are reported
with their positions, in the file and in `--set`."""

from __future__ import annotations

import jax.random as jr
import numpy as np
import pytest

from rnnlang.dsl import load_source
from rnnlang.dsl.errors import ModelError
from rnnlang.dsl.model import Distribution
from rnnlang.dsl.sitelang import SiteExpr
from rnnlang.runtime.api import compile_model, load
from rnnlang.runtime.tasks import draw_sites, train_batch, validation_batch

BASE = """model draws { dt = 0.05  steps = 10  seed = 0 }
node task = simple_reaches(eval_n_directions = 4)
node net = gru(hidden = 4, out = 2)
node arm = point_mass()
task.target -> net.input
arm.effector -> net.input
net.output -> arm.force
task.start -> arm.init
arm.effector -> task.effector
loss { position = squared_error(arm.effector.pos, task.target.pos) }
"""
SITES = """site curl at arm.force: curl_field(amplitude = 1.0) {
  train { amplitude = normal(0, 0.5) * task.goal[0]  scale = 2 * task.goal[1] + 1  active = task.goal[0] > 0 }
  validate { active = task.direction == 1  amplitude = if task.direction >= 2 then pi else -dt }
}
site wind at arm.force: constant_field(field = [0, 0]) { train { field = task.goal * 3 } }
"""


def errors(site: str) -> list:
    with pytest.raises(ModelError) as e:
        load_source(BASE + site, "m.rnn")
    return [(d.message, d.span.line, d.span.col, d.hint) for d in e.value.diagnostics]


@pytest.fixture(scope="module")
def model():
    cm, graph = load_source(BASE + SITES, "m.rnn")
    return compile_model(cm, graph)


def test_plain_values_stay_values_and_expressions_are_checked_once():
    cm, _ = load_source(BASE + "site c at arm.force: curl_field() { train { active = bernoulli(0.5)  amplitude = -2 } "
                        "validate { amplitude = 2 * pi } }", "m.rnn")
    train = cm.sites["c"].schedules["train"]
    assert isinstance(train["active"], Distribution) and train["amplitude"] == -2.0
    value = cm.sites["c"].schedules["validate"]["amplitude"]
    assert isinstance(value, SiteExpr) and value.text == "2 * pi" and value.variables == ()


def test_training_draws_follow_the_formulas_of_the_trial_variables(model):
    trial = train_batch(model, jr.PRNGKey(3), 4000)
    goal = np.asarray(trial["vars"]["goal"])
    curl, wind = (({k: np.asarray(v) for k, v in trial["sites"][s].items()}) for s in ("curl", "wind"))
    np.testing.assert_allclose(curl["scale"], 2 * goal[:, 1] + 1, rtol=1e-6)
    np.testing.assert_array_equal(curl["active"], (goal[:, 0] > 0).astype(np.float32))
    np.testing.assert_allclose(wind["field"], 3 * goal, rtol=1e-6)
    assert curl["amplitude"].shape == (4000,)
    z = curl["amplitude"] / goal[:, 0]  # normal(0, 0.5) drawn once per trial, independently of the goal
    assert abs(z.mean()) < 0.05 and abs(z.std() - 0.5) < 0.03
    assert abs(np.corrcoef(z, goal[:, 0])[0, 1]) < 0.06
    again = train_batch(model, jr.PRNGKey(3), 4000)["sites"]["curl"]["amplitude"]
    np.testing.assert_array_equal(again, curl["amplitude"])  # one key, one draw


def test_validation_draws_read_the_validation_trials(model):
    trial = validation_batch(model, jr.PRNGKey(0))
    d = np.asarray(trial["vars"]["direction"])
    curl = {k: np.asarray(v) for k, v in trial["sites"]["curl"].items()}
    assert set(d.tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(curl["active"], (d == 1).astype(np.float32))
    np.testing.assert_allclose(curl["amplitude"], np.where(d >= 2, np.pi, -0.05), rtol=1e-6)


def test_trials_without_variables_are_refused_by_name(model):
    with pytest.raises(Exception, match="reads the trial variable `goal`"):
        draw_sites(model, jr.PRNGKey(0), 4, "train", variables={})


def test_the_draws_drive_the_rollout(model):
    """A trial whose drawn `active` is 0 and whose field is 0 moves as without the sites."""
    trial = train_batch(model, jr.PRNGKey(5), 16)
    params = model.init(jr.PRNGKey(0))
    off = {**trial, "sites": {s: {**v, "active": v["active"] * 0} for s, v in trial["sites"].items()}}
    on, none = (np.asarray(model.rollout(params, t, jr.PRNGKey(1), ["arm.effector"])["arm.effector"]) for t in (trial, off))
    active = np.asarray(trial["sites"]["curl"]["active"]) > 0.5
    assert active.any() and (~active).any()
    assert np.abs(on - none).max() > 1e-3


@pytest.mark.parametrize("site, message, at", [
    ("site c at arm.force: curl_field() { train { amplitude = task.gaol[0] } }",
     "the task `task` has no trial variable `gaol`", "task.gaol"),
    ("site c at arm.force: curl_field() { train { amplitude = task.goal } }",
     "`amplitude` is one number per trial, but this is a vector of 2 numbers", "task.goal"),
    ("site c at arm.force: curl_field() { validate { active = task.direction } }",
     "`active` is a switch (true or false), but this is an integer", "task.direction"),
    ("site c at arm.force: curl_field() { train { amplitude = goal[0] } }", "undefined name `goal`", "goal"),
    ("site c at arm.force: curl_field() { train { amplitude = arm.effector.vel[0] } }",
     "`arm.effector.vel` is a signal within the trial; a schedule gives one value per trial, from the task's trial "
     "variables", "arm.effector.vel"),
    ("site c at arm.force: constant_field() {\n  train { field = [1, 2, 3] * task.goal[0] }\n}",
     "`field` = [1, 2, 3] * task.goal[0]: `field` has 3 values but the force it is added to has 2", "[1, 2, 3]"),
    ("site c at net.hidden: clamp(units = [0, 1], values = [0]) { train { values = [1, 2, 3] * task.goal[0] } }",
     "`values` of `c` has 3 values for 2 units in `units`; give one value per unit, or a single value for all", "values = [1"),
    ("site c at net.hidden: clamp(units = [0], values = 1) { train { units = normal(0, 1) * task.goal[0] } }",
     "`units` is fixed when the model is compiled; a `train` schedule sets per-trial parameters only", "units ="),
    ("site c at arm.force: curl_field() { train { amplitude = normal(0, uniform(0, 1)) * task.goal[0] } }",
     "the arguments of a distribution are computed from trial variables and numbers, not drawn", "uniform"),
    ("site c at arm.force: curl_field() { train { amplitude = normal(0, -1) * task.goal[0] } }",
     "the std of `normal` must be >= 0, got -1", "normal"),
])
def test_schedule_expression_mistakes_are_positioned(site, message, at):
    """Each mistake at its place: the line and column of `at`, the last occurrence in the site."""
    before = site[:site.rindex(at)]
    line, col = BASE.count("\n") + 1 + before.count("\n"), len(before) - (before.rfind("\n") + 1) + 1
    got = errors(site)
    assert (message, line, col) in [g[:3] for g in got], got


def test_a_misspelt_variable_gets_a_suggestion():
    (_, _, _, hint), = errors("site c at arm.force: curl_field() { train { amplitude = task.gaol[0] } }")
    assert hint == "did you mean `goal`?"
    (_, _, _, hint), = errors("site c at arm.force: curl_field() { train { amplitude = goal[0] } }")
    assert hint == "a trial variable is read as `task.goal`"


def test_set_takes_an_expression_for_a_phase(tmp_path):
    p = tmp_path / "m.rnn"
    p.write_text(BASE + "site c at arm.force: curl_field()\n")
    cm, _ = load(p, ["c.train.amplitude=normal(0, 0.5) * task.goal[0]"])
    value = cm.sites["c"].schedules["train"]["amplitude"]
    assert isinstance(value, SiteExpr) and value.variables == ("goal",) and len(value.draws) == 1
    with pytest.raises(ModelError) as e:
        load(p, ["c.train.amplitude=normal(0, 0.5) * task.gol[0]"])
    d, = e.value.diagnostics
    assert (d.message, d.span.file, d.span.line, d.span.col) == ("the task `task` has no trial variable `gol`", "--set", 1, 36)


# ---- the curl adaptation example -------------------------------------------------------------------

from ..conftest import EXAMPLES  # noqa: E402

CURL_EXAMPLE = EXAMPLES / "curl_adaptation.rnn"


def test_the_curl_protocol_switches_the_field_by_stage_and_keeps_catch_trials():
    """The example's protocol without training: the null stage keeps the field off in both
    phases, the field stage turns it on in training, and validation (the file's schedule) leaves
    directions 1 and 5 as catch trials."""
    from rnnlang.runtime.train import Trainer

    cm, graph = load(CURL_EXAMPLE, ["net.hidden=4", "train.batch_size=8"])
    model = compile_model(cm, graph)
    trainer = Trainer(model)
    null, field = trainer.stage_sites(0), trainer.stage_sites(1)
    for stage, want in ((null, 0.0), (field, 1.0)):
        sites = train_batch(model, jr.PRNGKey(0), 8, None, stage)["sites"]["curl"]
        np.testing.assert_array_equal(sites["active"], np.full(8, want, np.float32))
    assert trainer.validation_trial(0)["sites"]["curl"]["active"].max() == 0  # the null stage validates in the null field
    trial = trainer.validation_trial(1)
    d = np.asarray(trial["vars"]["direction"])
    np.testing.assert_array_equal(trial["sites"]["curl"]["active"], ((d != 1) & (d != 5)).astype(np.float32))


@pytest.mark.slow
def test_the_curl_protocol_gives_curved_straight_and_mirror_image_reaches(tmp_path):
    """Trained as examples/README.md states (2.8 min): the null-trained network deviates to the
    left in the field, the adapted one is straighter, and on catch trials it deviates to the right."""
    from rnnlang.runtime.api import evaluate, train

    train(CURL_EXAMPLE, [], out=tmp_path / "curl")
    train(CURL_EXAMPLE, ["train.batches=400"], out=tmp_path / "null")

    def lateral(run, on):
        m = evaluate(tmp_path / run, [f"curl.active={'true' if on else 'false'}"])["metrics"]
        return float(np.mean(m["lateral"])), float(np.mean(m["deviation"]))

    early, late, catch = lateral("null", True), lateral("curl", True), lateral("curl", False)
    assert early[0] > 0.04 and catch[0] < -0.04
    assert late[1] < early[1] / 3
