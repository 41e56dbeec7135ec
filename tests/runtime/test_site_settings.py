"""Interventions as settings: `--set SITE.PARAM`, `--set SITE.PHASE.PARAM`, the same keys in
curriculum stages, and `rnn eval RUN --set ...` evaluating trained parameters under another
intervention without retraining."""

import jax
import numpy as np
import pytest

from rnnlang.dsl.errors import ModelError
from rnnlang.runtime.api import compile_model, evaluate, load, train
from rnnlang.runtime.cli import main
from rnnlang.runtime.tasks import train_batch
from rnnlang.runtime.train import Trainer

SOURCE = """
model push { dt = 0.05 steps = 10 seed = 0 }
node task = simple_reaches()
node net = gru(hidden = 8, out = 2)
node arm = point_mass()
task.target -> net.input
arm.effector -> net.input
net.output -> arm.force
task.start -> arm.init
arm.effector -> task.effector
site wind at arm.force: constant_field(field = [5, 0], active = false) {
  validate { active = bernoulli(0.5) }
}
loss { position = squared_error(arm.effector.pos, task.target.pos) }
train {
  batches = 2  batch_size = 8  validate_every = 1
  stage calm { batches = 1 }
  stage windy { wind.active = true  wind.train.field = [0, 3]  batches = 1 }
}
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("site") / "push.rnn"
    p.write_text(SOURCE)
    return p


def test_set_site_param_applies_to_both_phases(model_file):
    cm, _ = load(model_file, ["wind.active=true"])
    site = cm.sites["wind"]
    assert site.per_trial["active"] is True
    assert "active" not in site.schedules["validate"]  # the phase schedule of it is replaced too


def test_set_site_phase_param_sets_one_schedule(model_file):
    cm, _ = load(model_file, ["wind.train.active=true", "wind.validate.field=[1, 2]"])
    site = cm.sites["wind"]
    assert site.schedules["train"] == {"active": True}
    np.testing.assert_array_equal(site.schedules["validate"]["field"], [1.0, 2.0])
    assert site.schedules["validate"]["active"].name == "bernoulli"  # untouched
    assert site.per_trial["active"] is False


@pytest.mark.parametrize("setting, message, col", [
    ("wind.train.strength=1", "`constant_field` has no parameter `strength`", 12),
    ("wind.later.active=1", "unknown setting `wind.later.active`", 1),
    ("wind.active=2", "`active`", 13),
])
def test_bad_site_settings_are_positioned(model_file, setting, message, col):
    with pytest.raises(ModelError) as e:
        load(model_file, [setting])
    d = e.value.diagnostics[0]
    assert message in d.message and d.span.file == "--set" and d.span.col == col


def test_stage_sets_site_parameters_per_phase(model_file):
    cm, graph = load(model_file)
    assert cm.stages[1].sites == {"wind": {"train": {"active": True, "field": pytest.approx([0.0, 3.0])},
                                           "validate": {"active": True}}}
    trainer = Trainer(compile_model(cm, graph))
    import jax.random as jr

    calm = train_batch(trainer.model, jr.PRNGKey(0), 8, trainer.overrides(0), trainer.stage_sites(0))["sites"]["wind"]
    windy = train_batch(trainer.model, jr.PRNGKey(0), 8, trainer.overrides(1), trainer.stage_sites(1))["sites"]["wind"]
    assert not np.any(np.asarray(calm["active"])) and np.all(np.asarray(windy["active"]) == 1)
    np.testing.assert_array_equal(np.asarray(windy["field"]), np.tile([0.0, 3.0], (8, 1)))
    val = trainer.validation_trial(1)["sites"]["wind"]  # validation: active from the stage, field from the site
    assert np.all(np.asarray(val["active"]) == 1)
    np.testing.assert_array_equal(np.asarray(val["field"])[0], [5.0, 0.0])


@pytest.mark.parametrize("line, message", [
    ("wind.strength = 1", "the site `wind` (constant_field) has no parameter `strength`"),
    ("wind.scale.active = 1", "unknown stage setting `wind.scale.active`"),
])
def test_bad_stage_site_settings_are_positioned(write_model, line, message):
    path = write_model(SOURCE.replace("wind.active = true", line))
    with pytest.raises(ModelError) as e:
        load(path)
    d = e.value.diagnostics[0]
    assert message in d.message and (d.span.line, d.span.col) == (18, 17)


@pytest.fixture(scope="module")
def trained_run(model_file, tmp_path_factory):
    """The model trained once (2 batches over its two stages), shared by the tests that read it."""
    return train(model_file, out=str(tmp_path_factory.mktemp("site_run") / "run")).run.path


def test_eval_under_another_intervention_without_retraining(trained_run, capsys):
    run = trained_run
    calm = evaluate(run, ["wind.active=false"])
    windy = evaluate(run, ["wind.active=true"])
    assert calm["batch"] == windy["batch"] == 2  # the same trained parameters
    assert windy["metrics"]["final_position_error"] != pytest.approx(calm["metrics"]["final_position_error"])
    assert main(["eval", str(run), "--set", "wind.validate.active=true", "--format", "json"]) == 0
    assert '"final_position_error"' in capsys.readouterr().out
    assert calm["by_site"] == windy["by_site"] == {}  # every trial alike: nothing to split
    mixed = evaluate(run)  # the file's own validation schedule: active = bernoulli(0.5)
    on, off = mixed["by_site"]["wind"]["on"], mixed["by_site"]["wind"]["off"]
    assert on["trials"] > 0 and off["trials"] > 0 and on["trials"] + off["trials"] == 7
    for name in ("final_position_error", "final_speed"):  # the split averages back to the whole
        whole = (on["trials"] * on[name][0] + off["trials"] * off[name][0]) / 7
        assert whole == pytest.approx(mixed["metrics"][name][0], rel=1e-5)
    assert main(["eval", str(run)]) == 0
    assert f"with `wind` on ({on['trials']} trials):" in capsys.readouterr().out


def test_training_starts_from_an_earlier_runs_parameters(model_file, trained_run):
    """The adaptation protocol in two runs: the second starts where the first ended."""
    from rnnlang.runtime import checkpoint as ckpt
    from rnnlang.runtime.api import initial_state

    first = trained_run
    trained, _ = ckpt.load(first / "final.safetensors", {"params": _params_template(model_file)},
                           ckpt.fingerprint(load(model_file)[0]), trees_only=True)
    cm, graph = load(model_file, [f'train.init_from="{first}"', "train.replicates=2", "wind.active=true"])
    trainer = Trainer(compile_model(cm, graph))
    state = initial_state(cm, trainer, ckpt.fingerprint(cm))
    got, want = jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(trained["params"])
    assert len(got) == len(want) > 3
    for g, w in zip(got, want):
        assert g.shape[0] == 2  # one replicate starts both
        np.testing.assert_array_equal(np.asarray(g)[0], np.asarray(w)[0])
        np.testing.assert_array_equal(np.asarray(g)[1], np.asarray(w)[0])


def _params_template(model_file):
    cm, graph = load(model_file)
    return Trainer(compile_model(cm, graph)).init_state().params


@pytest.mark.parametrize("value, message", [
    ('"no_such_run"', "`init_from`:"),
])
def test_a_bad_init_from_is_positioned_and_writes_nothing(write_model, tmp_path, value, message):
    path = write_model(SOURCE.replace("batches = 2  batch_size = 8", f"batches = 2  batch_size = 8  init_from = {value}"))
    with pytest.raises(ModelError) as e:
        train(path, out=str(tmp_path / "never"))
    d = e.value.diagnostics[0]
    assert message in d.message and d.span.line == 16 and d.hint
    assert not (tmp_path / "never").exists()
