"""Loss terms, metrics, the accuracy and the choice written as expressions, evaluated with JAX:
each against its formula written out in NumPy, each built-in term against the expression that
restates it, and the training step (which computes each trial's loss on its own) against the
loss of the whole batch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.dsl import checks, parser
from rnnlang.runtime import tasks as RT
from rnnlang.runtime.api import compile_model
from rnnlang.runtime.losses import loss_terms, total_loss
from rnnlang.runtime.train import Trainer, metric_signals

DT, STEPS = 10, 20
SOURCE = f"""
model {{ dt = {DT}  steps = {STEPS} }}
node task = task {{
  inputs = [fixation, left_in, right_in]
  outputs = [fix, left, right]
  coherence ~ choice(0.1, 0.5)
  direction ~ integer(0, 2)
  onset ~ choice(30, 60)
  signed = if direction == 0 then coherence else -coherence
  epoch fixate to onset {{ fixation = 1  fix = 1  mask = 1 }}
  epoch stim for 50 {{ fixation = 1  left_in = 1 + signed  right_in = 1 - signed  fix = 1  mask = 1 }}
  epoch respond {{ left = if direction == 0 then 1 else 0  right = if direction == 1 then 1 else 0  mask = 1 }}
  choice = argmax(mean(concat(response.left, response.right), over = time, during = respond))
  accuracy = response_choice == direction and all(response.fix > -10, over = time, during = fixate)
  metric rt = first_crossing(response.left, 0.0, during = respond)
  metric last_up = last_crossing(response.left, 0.0)
  metric went = crossed(response.left, 0.0, during = respond)
  metric held = mean(response.fix, during = fixate)
  metric peak = max(response.right, during = stim)
  validation grid {{ coherence = [0.1, 0.5]  direction = [0, 1]  onset = [30, 60]  trials = 16 }}
}}
node net = ctrnn(hidden = 12, out = 3)
task.input -> net.input
net.output -> task.response
loss {{
  se_builtin = squared_error(net.output, task.target, mask = task.mask)
  se_expr = sum((task.mask * (net.output - task.target))^2)
  sem_builtin = squared_error(net.output, task.target, mask = task.mask, reduce = "mean")
  sem_expr = mean((task.mask * (net.output - task.target))^2)
  disc_builtin = squared_error(net.output, task.target, discount = 2)
  disc_expr = sum(((t + dt) / duration)^2 * (net.output - task.target)^2)
  pen_builtin = 0.5 * penalty(net.hidden, norm = "l1")
  pen_expr = 0.5 * sum(abs(net.hidden))
  fr_builtin = firing_rate(net.hidden)
  fr_expr = mean(net.hidden^2)
  w_builtin = weights(net.W_rec)
  w_expr = mean(net.W_rec^2)
  w1_builtin = weights(net.W_rec, norm = "l1")
  w1_expr = mean(abs(net.W_rec))
  final_builtin = final(net.output, task.target)
  final_expr = sum(final(net.output - task.target)^2)
  ce_builtin = cross_entropy(net.output, task.target, mask = task.mask)
  ce_expr = mean(-(task.target * log(clip(net.output, 1e-7, 1 - 1e-7)) + (1 - task.target) * log(1 - clip(net.output, 1e-7, 1 - 1e-7))) * task.mask)
  cce_builtin = categorical_cross_entropy(net.output, task.target, mask = task.mask)
  cce_expr = sum(max(task.mask, over = units) * -sum(task.target * (net.output - log(sum(exp(net.output), over = units))), over = units)) / max(sum(max(task.mask, over = units)), 1e-7)
  wall_builtin = weights(net)
  wall_expr = mean(net.W_in^2) + mean(net.W_rec^2) + mean(net.W_out^2)
  late = mean((net.output - task.target)^2, during = respond)
  late_units = sum(mean(net.output, over = time, during = respond))
  stim_sum = sum(net.hidden, during = stim)
  stim_peak = max(net.hidden, during = stim)
  stim_low = min(net.hidden, over = [time, units], during = stim)
  by_coherence = mean(net.output^2) * task.coherence
  rate_change = mean((net.hidden - net.hidden)^2) + 1e-3 * sum(abs(net.W_rec))
}}
"""


@pytest.fixture(scope="module")
def run():
    mf = parser.parse(SOURCE, "expr.rnn")
    cm = checks.check(mf)
    model = compile_model(cm)
    params = model.init(jax.random.PRNGKey(0))
    trial = RT.validation_batch(model, jax.random.PRNGKey(1))
    key = jax.random.PRNGKey(2)
    signals = model.rollout(params, trial, key)
    terms = {k: float(v) for k, v in loss_terms(model, params, signals, trial).items()}
    metrics = {k: np.asarray(v) for k, v in model.task.metrics(metric_signals(model, signals), trial).items()}
    return dict(model=model, params=params, trial=trial, key=key, signals=signals, terms=terms, metrics=metrics,
                y=np.asarray(signals["net.output"], np.float64), h=np.asarray(signals["net.hidden"], np.float64),
                target=np.asarray(trial["signals"]["target"], np.float64), mask=np.asarray(trial["signals"]["mask"], np.float64),
                w={k: np.asarray(v, np.float64) for k, v in trial["windows"].items()},
                W=np.asarray(model.effective_weights(params, "net")["W_rec"], np.float64))


@pytest.mark.parametrize("name", ["se", "sem", "disc", "pen", "fr", "w", "w1", "final", "ce", "cce", "wall"])
def test_an_expression_restating_a_builtin_term_gives_its_value(run, name):
    assert run["terms"][f"{name}_expr"] == pytest.approx(run["terms"][f"{name}_builtin"], rel=2e-5, abs=1e-7)


def windowed_mean(x, w):
    """mean over (time, units) within the window, per trial; then over trials."""
    wb = np.broadcast_to(w, x.shape)
    return ((x * wb).sum(axis=(1, 2)) / np.maximum(wb.sum(axis=(1, 2)), 1e-7)).mean()


def test_windowed_reductions_follow_their_formulas(run):
    y, h, tg, w, terms = run["y"], run["h"], run["target"], run["w"], run["terms"]
    assert len({w["respond"][b].sum() for b in range(w["respond"].shape[0])}) > 1  # windows differ between trials
    np.testing.assert_allclose(terms["late"], windowed_mean((y - tg) ** 2, w["respond"]), rtol=1e-5)
    per_unit = (y * w["respond"]).sum(axis=1) / w["respond"].sum(axis=1)  # (B, n)
    np.testing.assert_allclose(terms["late_units"], per_unit.sum(axis=1).mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["stim_sum"], (h * w["stim"]).sum(axis=(1, 2)).mean(), rtol=1e-5)
    inside = np.broadcast_to(w["stim"] > 0, h.shape)
    np.testing.assert_allclose(terms["stim_peak"], np.where(inside, h, -np.inf).max(axis=(1, 2)).mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["stim_low"], np.where(inside, h, np.inf).min(axis=(1, 2)).mean(), rtol=1e-5)


def test_trial_variables_and_tensors_in_a_term(run):
    coh = np.asarray(run["trial"]["vars"]["coherence"], np.float64)
    np.testing.assert_allclose(run["terms"]["by_coherence"], ((run["y"] ** 2).mean(axis=(1, 2)) * coh).mean(), rtol=1e-5)
    np.testing.assert_allclose(run["terms"]["rate_change"], 1e-3 * np.abs(run["W"]).sum(), rtol=1e-5)


def test_the_training_step_gives_the_batch_loss():
    """Training computes each trial's terms on its own and averages them: the same numbers as
    the loss of the whole batch (a small model with a few terms, to compile fast)."""
    start = SOURCE.index("loss {")
    src = SOURCE[:start] + """loss {
  late = mean((net.output - task.target)^2, during = respond)
  peak = max(net.hidden, during = stim) * task.coherence
  l1 = 1e-3 * sum(abs(net.W_rec))
}
train { batch_size = 4 }
"""
    model = compile_model(checks.check(parser.parse(src.replace("hidden = 12", "hidden = 4"), "small.rnn")))
    trainer = Trainer(model)
    params = model.init(jax.random.PRNGKey(0))
    trial = RT.train_batch(model, jax.random.PRNGKey(5), trainer.batch_size)
    key = jax.random.PRNGKey(2)
    (loss, terms), _ = jax.jit(trainer._value_and_grad)(params, trial, key)
    want_loss, want = total_loss(model, params, model.rollout(params, trial, key), trial)
    for k in ("late", "peak", "l1"):
        np.testing.assert_allclose(float(terms[k]), float(want[k]), rtol=1e-4)
    np.testing.assert_allclose(float(loss), float(want_loss), rtol=1e-4)


def test_choice_accuracy_and_metrics_follow_their_formulas(run):
    y, w, m = run["y"], run["w"], run["metrics"]
    vars_ = {k: np.asarray(v) for k, v in run["trial"]["vars"].items()}
    resp = w["respond"]
    means = (y[..., 1:3] * resp).sum(axis=1) / resp.sum(axis=1)
    choice = np.argmax(means, axis=-1)
    np.testing.assert_array_equal(m["choice"], choice)
    np.testing.assert_array_equal(m["correct"], (choice == vars_["direction"]).astype(np.float32))
    left = y[..., 1]
    hit = (left >= 0.0) & (resp[..., 0] > 0)
    rt = np.where(hit.any(axis=1), hit.argmax(axis=1) * DT, np.nan)
    np.testing.assert_allclose(m["rt"], rt, rtol=1e-6)
    np.testing.assert_array_equal(m["went"], hit.any(axis=1).astype(np.float32))
    up = (left >= 0) & ~np.concatenate([np.zeros((left.shape[0], 1), bool), left[:, :-1] >= 0], axis=1)
    last = np.where(up.any(axis=1), (left.shape[1] - 1 - up[:, ::-1].argmax(axis=1)) * DT, np.nan)
    np.testing.assert_allclose(m["last_up"], last, rtol=1e-6)
    np.testing.assert_allclose(m["held"], (y[..., 0:1] * w["fixate"]).sum(axis=(1, 2)) / w["fixate"].sum(axis=(1, 2)), rtol=1e-5)
    inside = w["stim"][..., 0] > 0
    np.testing.assert_allclose(m["peak"], np.where(inside, y[..., 2], -np.inf).max(axis=1), rtol=1e-5)


def test_never_fails_every_comparison():
    """A silent network never crosses: `first_crossing(...) >= t` fails, as do == and !=."""
    from rnnlang.dsl import tasklang as TL

    x = jnp.zeros((2, 6, 1))
    w = jnp.ones((2, 6, 1))
    env = {"dt": 10.0, TL.WINDOW_KEY + "respond": w, TL.AXES_KEY: ("time", "units"), "x": x}
    for text in ("first_crossing(x, 0.5) >= 0", "first_crossing(x, 0.5) < 1e9", "first_crossing(x, 0.5) != 3",
                 "first_crossing(x, 0.5, during = respond) == first_crossing(x, 0.5)", "last_crossing(x, 0.5) > -1",
                 "crossed(x, 0.5)"):
        e = _expr(text)
        assert not bool(np.any(np.asarray(TL.evaluate(e, env, jnp)))), text
    assert bool(np.all(np.asarray(TL.evaluate(_expr("not crossed(x, 0.5)"), env, jnp))))


def _expr(text: str):
    mf = parser.parse(f"loss {{ a = {text} }}", "e.rnn")
    return mf.loss.terms[0].expr


def test_the_old_crossing_shorthand_no_longer_passes_a_silent_network():
    src = SOURCE.replace("accuracy = response_choice == direction and all(response.fix > -10, over = time, during = fixate)",
                         "accuracy = crossing(1e6) >= 0")
    model = compile_model(checks.check(parser.parse(src, "old.rnn")))
    params = model.init(jax.random.PRNGKey(0))
    trial = RT.validation_batch(model, jax.random.PRNGKey(1))
    signals = model.rollout(params, trial, jax.random.PRNGKey(2))
    correct = np.asarray(model.task.metrics(metric_signals(model, signals), trial)["correct"])
    assert correct.shape[0] > 0 and not correct.any()


@pytest.mark.slow
def test_a_short_training_logs_every_expression_term(tmp_path):
    from rnnlang.runtime.api import train

    path = tmp_path / "m.rnn"
    path.write_text(SOURCE + "train { batches = 4  batch_size = 8  validate_every = 2 }\n", encoding="utf-8")
    train(path, out=str(tmp_path / "run"))
    import json

    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() if x.strip()]
    logged = set().union(*(set(r.get("terms", {})) for r in lines))
    assert {"late", "stim_peak", "by_coherence", "w1_expr"} <= logged
    assert all(np.isfinite(v) for r in lines for v in np.ravel(r.get("loss", [0.0])))
