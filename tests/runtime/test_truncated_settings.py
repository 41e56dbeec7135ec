"""`truncated(...)` wherever a distribution is accepted: `--set` of a task variable, a curriculum
stage, an intervention site's schedule and `--set SITE.PHASE.PARAM`; the draws stay in their
bounds with the truncated distribution's mean; mistakes are positioned."""

from __future__ import annotations

import math

import jax.random as jr
import numpy as np
import pytest

from rnnlang.dsl.errors import ModelError
from rnnlang.runtime.api import compile_model, load
from rnnlang.runtime.tasks import draw_sites

SOURCE = """model pd { dt = 10  duration = 400  tau = 100  seed = 0 }
node task = perceptual_discrimination()
node net = ctrnn(hidden = 4, out = 2)
task.input -> net.input
net.output -> task.response
site jitter at net.hidden: noise(std = 0.1) {
  train { std = truncated(normal(0.2, 0.1), 0.15, 0.3) }
}
loss { mse = squared_error(net.output, task.target, mask = task.mask) }
train {
  batches = 2
  stage a { task.onset = truncated(exponential(50), 20, 100)  batches = 1 }
}
"""
N = 4000


def truncated_normal_mean(m: float, s: float, lo: float, hi: float) -> float:
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    a, b = (lo - m) / s, (hi - m) / s
    return m + s * (phi(a) - phi(b)) / (Phi(b) - Phi(a))


def truncated_exponential_mean(mean: float, lo: float, hi: float) -> float:
    lam = 1 / mean
    ea, eb = math.exp(-lam * lo), math.exp(-lam * hi)
    return (lo * ea - hi * eb) / (ea - eb) + mean


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("truncated") / "pd.rnn"
    p.write_text(SOURCE)
    return p


def test_set_a_task_variable_to_a_truncated_normal(model_file):
    cm, g = load(model_file, ["task.onset=truncated(normal(100, 50), 60, 180)"])
    onset = np.asarray(compile_model(cm, g).task.trials(jr.PRNGKey(0), N)["vars"]["onset"]).ravel()
    assert onset.min() >= 60 and onset.max() <= 180
    assert onset.mean() == pytest.approx(truncated_normal_mean(100, 50, 60, 180), abs=1.5)  # std of the mean < 0.5


def test_a_stage_draws_a_task_variable_from_a_truncated_exponential(model_file):
    cm, g = load(model_file)
    model = compile_model(cm, g)
    onset = np.asarray(model.task.trials(jr.PRNGKey(1), N, cm.stages[0].overrides)["vars"]["onset"]).ravel()
    assert onset.min() >= 20 and onset.max() <= 100
    assert onset.mean() == pytest.approx(truncated_exponential_mean(50, 20, 100), abs=1.5)


def test_site_schedules_draw_truncated_values(model_file):
    cm, g = load(model_file, ["jitter.validate.std=truncated(exponential(0.1), 0.05, 0.2)"])
    model = compile_model(cm, g)
    train = np.asarray(draw_sites(model, jr.PRNGKey(2), N, "train")["jitter"]["std"])
    assert train.min() >= 0.15 and train.max() <= 0.3
    assert train.mean() == pytest.approx(truncated_normal_mean(0.2, 0.1, 0.15, 0.3), abs=3e-3)
    val = np.asarray(draw_sites(model, jr.PRNGKey(3), N, "validate")["jitter"]["std"])
    assert val.min() >= 0.05 and val.max() <= 0.2
    assert val.mean() == pytest.approx(truncated_exponential_mean(0.1, 0.05, 0.2), abs=3e-3)


@pytest.mark.parametrize("setting, col, message", [
    ("task.onset=truncated(uniform(0, 1), 0, 1)", 22, "`truncated` takes normal(mean, std) or exponential(mean) as its first argument"),
    ("task.onset=truncated(normal(0, 1), 2, 1)", 39, "truncated(distribution, low, high) needs low < high, got low = 2, high = 1"),
    ("task.onset=truncated(normal(0, 0), 0, 1)", 32, "the std of a truncated `normal` must be > 0, got 0"),
    ("task.onset=truncated(normal(0, 1), 0)", 12, "`truncated` takes 3 arguments, got 2"),
    ("task.onset=truncated(normal(0, 1), low = 0, top = 1)", 45, "`truncated` has no argument `top`"),
    ("jitter.std=truncated(normal(0, 1), -1, 1)", 36, "`std` must be >= 0, got -1"),
    ("net.tau=truncated(normal(100, 10), 50, 150)", 9, "`tau` is fixed when the model is compiled; it cannot be drawn per trial"),
])
def test_bad_truncated_settings_are_positioned(model_file, setting, col, message):
    with pytest.raises(ModelError) as e:
        load(model_file, [setting])
    d = e.value.diagnostics[0]
    assert message in d.message and d.span.file == "--set" and d.span.col == col, (d.span, d.message)


def test_keyword_arguments_name_the_bounds(model_file):
    cm, g = load(model_file, ["task.onset=truncated(normal(100, 50), high = 120, low = 80)"])
    onset = np.asarray(compile_model(cm, g).task.trials(jr.PRNGKey(4), 64)["vars"]["onset"])
    assert onset.min() >= 80 and onset.max() <= 120
