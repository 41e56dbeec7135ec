"""Training features against hand-computed values: clipping, trainable subsets and per-element
masks, learning-rate schedules, replicates, curriculum stages and stopping rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.runtime import optim
from rnnlang.runtime.api import compile_model, load
from rnnlang.runtime.train import Trainer

MODEL = """
model m {{ dt = 10  duration = 100  tau = 100  seed = 1 }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = 6, out = 2)
task.input -> net.input
net.output -> task.response
loss {{ mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean") }}
train {{
  batches = {batches}
  batch_size = 8
  validate_every = 1
  steps_per_dispatch = 1
  {extra}
}}
"""


def trainer_for(write_model, batches=3, extra=""):
    cm, g = load(write_model(MODEL.format(batches=batches, extra=extra)))
    return Trainer(compile_model(cm, g))


def test_per_tensor_clipping_scales_each_tensor_to_its_own_norm():
    clip = optim.clip_transform({"name": "per_tensor", "args": [1.0], "kwargs": {}})
    g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([0.3, 0.4])}
    out, _ = clip.update(g, clip.init(g))
    np.testing.assert_allclose(out["a"], [0.6, 0.8], rtol=1e-6)  # norm 5 -> 1
    np.testing.assert_allclose(out["b"], [0.3, 0.4], rtol=1e-6)  # norm 0.5 stays


def test_global_clipping_uses_the_norm_of_everything():
    clip = optim.clip_transform({"name": "global_norm", "args": [1.0], "kwargs": {}})
    g = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([0.0, 4.0])}
    out, _ = clip.update(g, clip.init(g))
    np.testing.assert_allclose(out["a"], [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out["b"], [0.0, 0.8], rtol=1e-6)


def test_frozen_parameters_and_masked_elements_do_not_move(write_model, tmp_path):
    mask = np.ones((6, 6), np.float32)
    mask[0, :] = 0
    np.save(tmp_path / "m.npy", mask)
    t = trainer_for(write_model, extra='frozen = [net.W_in]\n  mask.net.W_rec = file("m.npy")\n  optimizer = adamw(learning_rate = 0.05, weight_decay = 0.1)')
    s0 = t.init_state()
    p0 = jax.tree_util.tree_map(np.asarray, s0.params)
    s1 = t.run(s0)
    p1 = jax.tree_util.tree_map(np.asarray, s1.params)
    np.testing.assert_array_equal(p1["net"]["W_in"], p0["net"]["W_in"])
    np.testing.assert_array_equal(p1["net"]["W_rec"][:, 0], p0["net"]["W_rec"][:, 0])  # masked row
    assert np.abs(p1["net"]["W_rec"][:, 1:] - p0["net"]["W_rec"][:, 1:]).max() > 0
    assert np.abs(p1["net"]["W_out"] - p0["net"]["W_out"]).max() > 0


def test_trainable_subset(write_model):
    t = trainer_for(write_model, extra="trainable = [net.W_out, net.b_out]")
    assert t.trainable["net"] == {"W_in": False, "W_rec": False, "W_out": True, "b_rec": False, "b_out": True, "init_state": False}


def test_learning_rate_schedule_from_the_file(write_model):
    t = trainer_for(write_model, extra="optimizer = sgd(learning_rate = exponential_decay(init_value = 0.1, transition_steps = 1, decay_rate = 0.5))")
    sched_opt = t.opt
    params = {"net": {k: jnp.zeros(()) for k in t.trainable["net"]}}
    state = sched_opt.init(params)
    grads = {"net": {k: jnp.ones(()) for k in t.trainable["net"]}}
    steps = []
    for _ in range(3):
        upd, state = sched_opt.update(grads, state, params)
        steps.append(float(upd["net"]["W_rec"]))
    np.testing.assert_allclose(steps, [-0.1, -0.05, -0.025], rtol=1e-6)


def test_unknown_optimizer_is_reported_at_its_setting(write_model):
    from rnnlang.dsl.errors import ModelError

    with pytest.raises(ModelError) as e:
        trainer_for(write_model, extra="optimizer = adamm(learning_rate = 0.1)")
    d = e.value.diagnostics[0]
    assert "unknown optimizer `adamm`" in d.message and d.hint == "did you mean `adam`?" and d.span.line == 13


def test_replicates_train_together_from_different_inits(write_model):
    t = trainer_for(write_model, extra="replicates = 3")
    s = t.run(t.init_state())
    w = np.asarray(s.params["net"]["W_rec"])
    assert w.shape == (3, 6, 6) and not np.allclose(w[0], w[1])
    assert len(s.history[-1]["loss"]) == 3 and len(s.history[-1]["metrics"]["correct"]) == 3


def test_curriculum_advances_on_accuracy_and_stops(write_model):
    extra = ("stage easy { task.coherences = [0.7]  until_accuracy = 0.0 }\n"
             "  stage capped { task.coherences = [0.5]  batches = 2 }\n  stop_accuracy = 0.0")
    t = trainer_for(write_model, batches=20, extra=extra)
    s = t.run(t.init_state())
    stages = [h["stage"] for h in s.history]
    # easy ends at its first validation (accuracy >= 0), capped after its 2 batches, then the
    # full task runs until the stop rule (accuracy >= 0) ends training at its first validation
    assert stages == [0, 1, 1, 2] and s.batch == 4 and s.done
    assert set(t._chunk_fns) == {0, 1, 2}  # one compilation per stage


@pytest.mark.parametrize("mode", ["own", "shared"])
def test_replicates_draw_their_own_trials_unless_shared(write_model, mode):
    import jax.random as jr

    from rnnlang.runtime.tasks import train_batch

    extra = "replicates = 2" + ("" if mode == "own" else '\n  replicate_trials = "shared"')
    t = trainer_for(write_model, extra=extra)
    s = t.init_state()
    same = jax.tree_util.tree_map(lambda x: jnp.stack([x[0], x[0]]), s.params)  # two equal replicates
    opt_state = jax.vmap(t.opt.init)(same)
    _, _, losses, _ = t.chunk_fn(0)(same, opt_state, 0, 1, t.k_train)
    first = np.asarray(losses)[0]
    # the first step's trials: key -> (k_trial, k_noise); own trials split k_trial per replicate
    k_trial, k_noise = jr.split(jr.fold_in(t.k_train, 0))
    params0 = jax.tree_util.tree_map(lambda x: x[0], same)
    noise0 = jr.split(k_noise, 2)[0]
    trial0 = train_batch(t.model, jr.split(k_trial, 2)[0] if mode == "own" else k_trial, 8)
    loss_of = jax.jit(lambda p, tr, k: t._value_and_grad(p, tr, k)[0][0])  # one program, not op by op
    want = loss_of(params0, trial0, noise0)
    np.testing.assert_allclose(first[0], float(want), rtol=1e-5)
    if mode == "own":
        assert abs(first[0] - first[1]) > 1e-6  # same parameters, other trials
    else:  # replicate 1 sees the same trials (its own noise key)
        trial1 = train_batch(t.model, k_trial, 8)
        want1 = loss_of(params0, trial1, jr.split(k_noise, 2)[1])
        np.testing.assert_allclose(first[1], float(want1), rtol=1e-5)


@pytest.mark.parametrize("after, batches, done", [("stop", 2, True), ("continue", 4, False)])
def test_training_stops_when_the_last_stage_is_passed_unless_told_to_continue(write_model, after, batches, done):
    extra = (f'after_stages = "{after}"\n'
             "  stage one { task.coherences = [0.7]  until_accuracy = 0.0 }\n"
             "  stage two { task.coherences = [0.5]  until_accuracy = 0.0 }")
    t = trainer_for(write_model, batches=4, extra=extra)
    s = t.run(t.init_state())
    assert s.batch == batches and s.done is done and [h["stage"] for h in s.history][:2] == [0, 1]
    if done:
        assert s.reason.startswith("the last stage `two` is passed")
