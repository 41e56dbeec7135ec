"""The fixed-point finder recovers fixed points known in closed form (to 1e-4), with their
eigenvalues and stability, through the networks' own step functions; `rnn analyze` writes them."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.runtime import api, fixedpoints
from rnnlang.runtime.cli import main

ALPHA = 0.1  # dt / tau


def model_file(tmp_path: Path, weights: dict[str, np.ndarray], transfer: str, task: bool = False) -> Path:
    """A ctrnn of the given weights (dt 10, tau 100), alone or with a declared two-input task."""
    np.savez(tmp_path / "w.npz", **weights)
    N = weights["W_rec"].shape[0]
    head = "model fp { dt = 10  steps = 40  tau = 100 }\n"
    if not task:
        return _write(tmp_path / "m.rnn", head + f'node net = ctrnn(hidden = {N}, out = 1, transfer = "{transfer}", '
                      'weights = file("w.npz"))\n')
    body = f'''{head}
node task = task {{
  inputs = [a, b]
  outputs = [y]
  x ~ choice(-1, 1)
  epoch pulse from 0 to 100 {{ a = x  b = -x }}
  epoch rest to duration {{ target = x  mask = 1 }}
  accuracy = response_choice == 0
}}
node net = ctrnn(hidden = {N}, out = 1, transfer = "{transfer}", weights = file("w.npz"))
task.input -> net.input
net.output -> task.response
loss {{ mse = squared_error(net.output, task.target, mask = task.mask) }}
train {{ batches = 1 }}
'''
    return _write(tmp_path / "m.rnn", body)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def step_of(path: Path) -> tuple[fixedpoints.NetworkStep, object, dict]:
    model = api.compile_model(path)
    params = model.init(jax.random.PRNGKey(0))
    return fixedpoints.network_step(model, params, "net"), model, params


def test_linear_ctrnn_single_fixed_point_and_eigenvalues(tmp_path):
    """s' = (1-a)s + a(W s + b): s* = (I - W)^-1 b, eigenvalues (1-a) + a eig(W)."""
    W = np.array([[0.5, -0.3], [0.2, 0.4]], np.float32)
    b = np.array([0.3, -0.2], np.float32)
    step, _, _ = step_of(model_file(tmp_path, {"W_rec": W, "b_rec": b}, "identity"))
    x0 = np.random.default_rng(0).normal(0, 2, (16, 2))
    res = fixedpoints.find(step, x0)
    assert len(res.x) == 1 and res.kind[0] == "fixed"
    np.testing.assert_allclose(res.x[0], np.linalg.solve(np.eye(2) - W, b), atol=1e-4)
    want = np.sort_complex((1 - ALPHA) + ALPHA * np.linalg.eigvals(W.astype(float)))
    np.testing.assert_allclose(np.sort_complex(res.eigenvalues[0]), want, atol=1e-4)
    np.testing.assert_allclose(res.jacobian[0], (1 - ALPHA) * np.eye(2) + ALPHA * W, atol=1e-5)
    assert bool(res.stable[0])


def tanh_root(w: float) -> float:
    """The positive root of s = w tanh(s) (w > 1), by bisection in float64."""
    lo, hi = 1e-6, w
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mid - w * np.tanh(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


def test_three_bit_attractors_of_a_self_exciting_tanh_network(tmp_path):
    """W = 2 I: each unit has s* in {-c, 0, c} with c = 2 tanh(c); 27 fixed points: the 8 corners
    stable (|lambda| = 1 - a + 2a (1 - tanh^2 c) < 1), every point with a 0 coordinate unstable."""
    w = 2.0
    step, _, _ = step_of(model_file(tmp_path, {"W_rec": w * np.eye(3, dtype=np.float32)}, "tanh"))
    g = np.array([-3.0, -0.4, 0.0, 0.4, 3.0])
    x0 = np.array([[i, j, k] for i in g for j in g for k in g]) + 0.01
    res = fixedpoints.find(step, x0)
    c = tanh_root(w)
    want = np.array([[i, j, k] for i in (-c, 0, c) for j in (-c, 0, c) for k in (-c, 0, c)])
    assert len(res.x) == 27
    for p in want:
        d = np.linalg.norm(res.x - p, axis=1)
        i = int(np.argmin(d))
        assert d[i] < 1e-4, (p, res.x[i])
        lam = 1 - ALPHA + ALPHA * w * (1 - np.tanh(p) ** 2)
        np.testing.assert_allclose(np.sort(np.abs(res.eigenvalues[i])), np.sort(lam), atol=1e-4)
        assert bool(res.stable[i]) == bool(np.all(p != 0))
        if not res.stable[i]:  # the unstable mode lies along a unit at 0
            assert np.all(np.abs(res.unstable_mode[i][p != 0]) < 1e-4)
    assert int(np.sum(res.stable)) == 8


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_gru_and_lstm_points_are_fixed_under_the_compiled_step(tmp_path, kind):
    """The finder's F is the node's own update: a found point stays put under the whole model's step."""
    path = _write(tmp_path / "m.rnn", f"model m {{ dt = 1  steps = 5 }}\nnode net = {kind}(hidden = 6, out = 1)\n")
    step, model, params = step_of(path)
    x0 = np.random.default_rng(1).normal(0, 0.5, (32, step.size))
    res = fixedpoints.find(step, x0)
    assert len(res.x) >= 1 and np.all(res.q <= 1e-9)
    state = model.initial_state(params, {"signals": {}, "init": {}})
    for x in res.x:
        state["net"] = step.unravel(jnp.asarray(x, jnp.float32))
        new, _ = model.step(params, state, {"signals": {}, "t": 0}, jax.random.PRNGKey(0))
        np.testing.assert_allclose(step.ravel(new["net"]), x, atol=1e-4)
        J = np.asarray(jax.jacfwd(lambda y: step.fn(y, jnp.zeros((0,))))(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(res.jacobian[-1], J, atol=1e-5)


def test_rnn_analyze_fixed_points_writes_points_and_figure(tmp_path, capsys):
    """Through the command, on a model file at its initialization: the pulses push the two-unit
    network into either attractor; the points written are the closed-form ones."""
    w = 2.0
    W_in = np.array([[3.0, 0.0], [0.0, 3.0]], np.float32)
    path = model_file(tmp_path, {"W_rec": w * np.eye(2, dtype=np.float32), "W_in": W_in,
                                 "init_state": np.zeros(2, np.float32)}, "tanh", task=True)
    out = tmp_path / "an"
    assert main(["analyze", str(path), "fixed-points", "--n-init", "64", "--noise", "0.3", "-o", str(out)]) == 0
    z = np.load(out / "fixed_points.npz", allow_pickle=False)
    meta = json.loads((out / "fixed_points.json").read_text())
    c = tanh_root(w)
    for p in z["x"]:
        assert np.all(np.min(np.abs(p[:, None] - np.array([-c, 0.0, c])[None, :]), axis=1) < 1e-4)
    assert {tuple(np.sign(np.round(p, 3))) for p, s in zip(z["x"], z["stable"]) if s} >= {(1.0, -1.0), (-1.0, 1.0)}
    assert meta["conditions"][0]["points"] == len(z["q"]) and (out / "fixed_points.png").is_file()
    assert z["x_pca"].shape == (len(z["q"]), 2)
    assert main(["analyze", str(path), "fixed-points", "--per-condition", "x", "--n-init", "16", "-o", str(out)]) == 0
    meta = json.loads((out / "fixed_points.json").read_text())
    assert [m["label"] for m in meta["conditions"]] == ["x=-1", "x=1"]
    assert main(["analyze", str(path), "fixed-points", "--input", "1", "-o", str(out)]) == 2
    assert "--input has 1 values but the network takes 2 inputs" in capsys.readouterr().err
