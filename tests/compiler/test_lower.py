"""The lowering: rollouts of the examples, purity of the step, delays through the graph, and
the parameter names the file refers to (the plan itself: tests/dsl/test_plan.py)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from rnnlang.compiler.lower import compile_model
from rnnlang.dsl import load, load_source
from rnnlang.dsl.errors import ModelError
from rnnlang.runtime.tasks import train_batch

from ..conftest import EXAMPLES


def _compiled(path):
    cm, g = load(path)
    return compile_model(cm, g)


def test_reach_example_rollout_shapes():
    m = _compiled(EXAMPLES / "point_mass_reach.rnn")
    trial = train_batch(m, jr.PRNGKey(0), 5)
    out = m.rollout(m.init(jr.PRNGKey(1)), trial, jr.PRNGKey(2), record=m.all_signals())
    assert out["arm.effector"].shape == (5, 99, 4)
    assert out["net.output"].shape == (5, 99, 2)
    assert out["net.hidden"].shape == (5, 99, 50)
    assert out["feedback.output"].shape == (5, 99, 4)
    # the first recorded position is p_1 = p_0 + dt * v_0 = the start (v_0 = 0)
    np.testing.assert_allclose(out["arm.effector"][:, 0, :2], trial["init"]["start"][:, :2], atol=1e-6)


def test_perceptual_discrimination_rollout_shapes():
    m = _compiled(EXAMPLES / "perceptual_discrimination.rnn")
    trial = train_batch(m, jr.PRNGKey(0), 3)
    out = m.rollout(m.init(jr.PRNGKey(1)), trial, jr.PRNGKey(2))
    assert set(out) == {"net.output"}  # only what the loss and the task's metrics read
    assert out["net.output"].shape == (3, 200, 2)


def test_step_is_pure_and_matches_rollout():
    m = _compiled(EXAMPLES / "point_mass_reach.rnn")
    params = m.init(jr.PRNGKey(0))
    trial = train_batch(m, jr.PRNGKey(3), 1)
    one = jax.tree_util.tree_map(lambda x: x[0], trial)
    state = m.initial_state(params, one)
    inputs = {"signals": {p: one["signals"][p][0] for p in m.task_signal_ports}, "sites": one["sites"], "t": 0}
    s1, r1 = m.step(params, state, inputs, jr.PRNGKey(9), record=["arm.effector"])
    s2, r2 = m.step(params, state, inputs, jr.PRNGKey(9), record=["arm.effector"])
    np.testing.assert_array_equal(r1["arm.effector"], r2["arm.effector"])
    roll = m.rollout_one(params, one, jr.PRNGKey(9), record=["arm.effector"])
    np.testing.assert_allclose(roll["arm.effector"][0], r1["arm.effector"], atol=1e-6)


DELAY_MODEL = """
model d {{ dt = 1  steps = 12 }}
node task = perceptual_discrimination()
node line = channel(delay = {delay}, init = "zeros")
node g = gain(gain = 1.0)
task.input -> line.input
line.output -> g.input
"""


@pytest.mark.parametrize("delay", [0, 1, 3])
def test_delay_line_in_a_graph_shifts_by_its_delay(delay):
    cm, g = load_source(DELAY_MODEL.format(delay=delay), "d.rnn")
    m = compile_model(cm, g)
    trial = train_batch(m, jr.PRNGKey(0), 2)
    out = m.rollout(m.init(jr.PRNGKey(0)), trial, jr.PRNGKey(1), record=["g.output"])["g.output"]
    x = np.asarray(trial["signals"]["input"])
    expected = np.concatenate([np.zeros((2, delay, 2)), x[:, : 12 - delay]], axis=1)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_parameter_names_in_the_train_block_and_loss_are_checked():
    src = """model m { dt = 10  duration = 100  tau = 100 }
node task = perceptual_discrimination()
node net = ctrnn(hidden = 6, out = 2)
task.input -> net.input
loss { w = weights(net.Wrec) }
train {
  frozen = [net.W_inn]
  mask.net.W_rec = [[1, 0], [0, 1]]
}
"""
    cm, g = load_source(src, "m.rnn")
    with pytest.raises(ModelError) as e:
        compile_model(cm, g)
    got = [(d.span.line, d.message, d.hint) for d in e.value.diagnostics]
    assert got == [
        (5, "`net` has no parameter tensor `Wrec`", "did you mean `W_rec`?"),
        (7, "`net` has no parameter tensor `W_inn`", "did you mean `W_in`?"),
        (8, "the mask for `net.W_rec` has shape (2, 2) but the tensor has (6, 6)", None),
    ]
