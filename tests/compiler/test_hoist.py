"""Weight gradients after the time loop (compiler/hoist.py, RNNLANG_HOIST=1): computed after the
backward time loop equal autodiff's through the plain loop, for each network kind, with Dale's
law and a trained initial state, with an intervention on W_rec (whose product is then not hoisted), and with a
GRU's encoder; and the backward loop then holds fewer products (counted as `rnn ops` counts)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rnnlang.runtime.api import compile_model, load
from rnnlang.runtime.opcount import training_step_ops
from rnnlang.runtime.tasks import train_batch
from rnnlang.runtime.train import Trainer

HEAD = "model m {{ dt = 10  steps = 6  tau = 50  seed = 1 }}\nnode task = perceptual_discrimination()\n"
TAIL = ("task.input -> net.input\nnet.output -> task.response\n"
        "loss {{ mse = squared_error(net.output, task.target, mask = task.mask) }}\n"
        "train {{ batch_size = 4  batches = 2  steps_per_dispatch = 1 }}\n")
MODELS = {
    "ctrnn_dale": "node net = ctrnn(hidden = 5, out = 2, dale_ratio = 0.8, rec_noise = 0.1, train_init_state = true)\n",
    "ctrnn_ablated": "node net = ctrnn(hidden = 3, out = 2)\nsite s at net.W_rec: ablate(mask = [[1, 0, 1], [0, 1, 1], [1, 1, 0]])\n",
    "gru_encoder": "node net = gru(hidden = 4, out = 2, encoder = 3, hidden_noise = 0.05)\n",
    "lstm_encoder": "node net = lstm(hidden = 3, out = 2, encoder = 2)\n",
}


SLOW = {"gru_encoder", "lstm_encoder"}  # the same code path as the ctrnns' (product), other kinds


@pytest.fixture(scope="module", params=[pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in sorted(MODELS)])
def case(request, tmp_path_factory):
    """One model's trainer, first replicate's initial parameters and a batch of trials."""
    path = tmp_path_factory.mktemp("hoist") / f"{request.param}.rnn"
    path.write_text((HEAD + MODELS[request.param] + TAIL).replace("{{", "{").replace("}}", "}"))
    cm, graph = load(path)
    trainer = Trainer(compile_model(cm, graph))
    params = jax.tree_util.tree_map(lambda x: x[0], trainer.init_state().params)
    return trainer, params, train_batch(trainer.model, jax.random.PRNGKey(3), 4)


def test_hoisted_gradients_equal_the_plain_loops(case, monkeypatch):
    trainer, params, trial = case
    out = {}
    for hoist in ("0", "1"):  # the lowering reads the switch while it traces
        monkeypatch.setenv("RNNLANG_HOIST", hoist)
        out[hoist] = jax.jit(lambda p, t, k: trainer._value_and_grad(p, t, k))(params, trial, jax.random.PRNGKey(4))
    (loss0, _), g0 = out["0"]
    (loss1, _), g1 = out["1"]
    assert float(loss1) == pytest.approx(float(loss0), rel=1e-6)
    flat0 = jax.tree_util.tree_leaves_with_path(g0)
    assert len(flat0) == len(jax.tree_util.tree_leaves(g1))
    for (where, a), b in zip(flat0, jax.tree_util.tree_leaves(g1)):
        a, b = np.asarray(a), np.asarray(b)
        assert np.any(a != 0), jax.tree_util.keystr(where)  # every gradient flows
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=1e-6 * float(np.max(np.abs(a))),
                                   err_msg=jax.tree_util.keystr(where))


def test_the_backward_loop_loses_the_weight_gradient_products(write_model, monkeypatch):
    """ctrnn: without hoisting 5 products per backward step (2 cotangents + dW_rec, dW_in,
    dW_out); with it, the 2 cotangents (f'(s) g W_rec and g_out W_out) only."""
    path = write_model((HEAD + "node net = ctrnn(hidden = 5, out = 2)\n" + TAIL).replace("{{", "{").replace("}}", "}"))
    counts = {}
    for hoist in ("0", "1"):
        monkeypatch.setenv("RNNLANG_HOIST", hoist)
        cm, graph = load(path)
        counts[hoist] = training_step_ops(Trainer(compile_model(cm, graph)))
    b, N, n_out = 2, 5, 2  # 4 trials over 2 devices
    assert counts["0"]["backward"]["dots"] == 5
    assert counts["1"]["backward"]["dots"] == 2
    assert counts["1"]["backward"]["dot_flops"] == 2 * b * (N * N + N * n_out)
    assert counts["1"]["backward"]["ops"] < counts["0"]["backward"]["ops"]
    assert counts["1"]["forward"]["dots"] == counts["0"]["forward"]["dots"] == 3
