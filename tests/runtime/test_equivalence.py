"""rnnlang against the anchors' published formulas, with neither anchor installed:
PsychRNN's Basic through a compiled model, Feedbax's point mass and reach model, and Feedbax's
reach loss, each transcribed here in NumPy."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.runtime import api
from rnnlang.runtime.losses import total_loss

ROOT = Path(__file__).resolve().parents[2]
REACH = ROOT / "examples" / "point_mass_reach.rnn"


# ---- PsychRNN's Basic ----------------------------------------------------------------------------

CTRNN_MODEL = """
model basic {{ dt = 10  steps = {steps}  tau = 100 }}
node task = match_to_category(n_in = {n_in}, n_out = {n_out})
node net = ctrnn(hidden = {N}, out = {n_out}, transfer = "{transfer}", dale_ratio = 0.8, autapses = false,
                 input_mask = file("raw.npz", "M_in"), rec_mask = file("raw.npz", "M_rec"),
                 output_mask = file("raw.npz", "M_out"), weights = file("raw.npz"))
task.input -> net.input
net.output -> task.response
"""


def psychrnn_effective(raw, M_in, M_rec, M_out, dale_ratio, autapses):
    """The anchors' effective weights: masks, then |.| and Dale's signs on the first floor(r N)
    (excitatory) and the other (inhibitory) units; D_out is 1 for E and 0 for I units."""
    N = raw["W_rec"].shape[0]
    M_rec = M_rec.copy()
    if not autapses:
        np.fill_diagonal(M_rec, 0.0)
    e = (np.arange(N) < int(dale_ratio * N)).astype(np.float64)
    D_rec, D_out = np.diag(2 * e - 1), np.diag(e)
    return (np.abs(raw["W_in"] * M_in), np.abs(raw["W_rec"] * M_rec) @ D_rec, np.abs(raw["W_out"] * M_out) @ D_out)


@pytest.mark.parametrize("transfer", ["relu", "tanh"])
def test_ctrnn_equals_psychrnn_basic_formula(tmp_path, transfer):
    N, n_in, n_out, T, B = 10, 3, 2, 40, 3
    rng = np.random.default_rng(11)
    raw = {"W_in": rng.standard_normal((N, n_in)), "W_rec": 1.5 / np.sqrt(N) * rng.standard_normal((N, N)),
           "W_out": rng.standard_normal((n_out, N)), "b_rec": 0.1 * rng.standard_normal(N),
           "b_out": 0.1 * rng.standard_normal(n_out), "init_state": 0.1 + 0.01 * rng.standard_normal((1, N))}
    raw = {k: v.astype(np.float32) for k, v in raw.items()}  # the raw (trainable) weights, with mixed signs
    M_in = (rng.random((N, n_in)) < 0.7).astype(np.float32)
    M_rec = (rng.random((N, N)) < 0.6).astype(np.float32)
    M_out = (rng.random((n_out, N)) < 0.8).astype(np.float32)
    np.savez(tmp_path / "raw.npz", **raw, M_in=M_in, M_rec=M_rec, M_out=M_out)
    path = tmp_path / "basic.rnn"
    path.write_text(CTRNN_MODEL.format(steps=T, n_in=n_in, n_out=n_out, N=N, transfer=transfer))
    model = api.compile_model(path)
    params = model.init(jax.random.PRNGKey(0))
    x = rng.standard_normal((B, T, n_in)).astype(np.float32)
    out = model.rollout(params, {"signals": {"input": jnp.asarray(x)}}, jax.random.PRNGKey(1),
                        record=["net.output", "net.hidden"])

    # PsychRNN, row-vector convention: s' = (1-a) s + a (f(s) W_rec^T + u W_in^T + b_rec); y = f(s') W_out^T + b_out
    f = {"relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh}[transfer]
    W_in, W_rec, W_out = psychrnn_effective({k: v.astype(np.float64) for k, v in raw.items()}, M_in, M_rec, M_out, 0.8, False)
    alpha = 10 / 100
    s = np.repeat(raw["init_state"].astype(np.float64), B, axis=0)
    ys, rs = [], []
    for t in range(T):
        s = (1 - alpha) * s + alpha * (f(s) @ W_rec.T + x[:, t].astype(np.float64) @ W_in.T + raw["b_rec"])
        ys.append(f(s) @ W_out.T + raw["b_out"])
        rs.append(f(s))
    np.testing.assert_allclose(np.asarray(out["net.output"]), np.stack(ys, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["net.hidden"]), np.stack(rs, 1), rtol=1e-5, atol=1e-6)
    eff = model.effective_weights(params, "net")
    np.testing.assert_allclose(np.asarray(eff["W_rec"]), W_rec, rtol=1e-7)
    assert np.all(np.asarray(eff["W_out"])[:, 8:] == 0)  # inhibitory units do not reach the readout


# ---- Feedbax's point mass and reach model -----------------------------------------------------------


def euler_point_mass(start, forces, dt, mass=1.0, damping=0.0):
    """p_k = p_{k-1} + dt v_{k-1};  v_k = v_{k-1} + dt (u_k / m - (c / m) v_{k-1}); k = 1..T.
    start (B, 4), forces (B, T, 2) -> (B, T, 4), the states after each update."""
    p, v = start[:, :2].astype(np.float64), start[:, 2:].astype(np.float64)
    out = []
    for k in range(forces.shape[1]):
        p, v = p + dt * v, v + dt * (forces[:, k] / mass - (damping / mass) * v)
        out.append(np.concatenate([p, v], axis=-1))
    return np.stack(out, 1)


@pytest.fixture(scope="module")
def reach():
    model = api.compile_model(REACH)
    params = model.init(jax.random.PRNGKey(0))
    trial = model.task.trials(jax.random.PRNGKey(3), 3)
    return model, params, trial


def test_reach_model_point_mass_is_feedbax_euler(reach):
    model, params, trial = reach
    out = model.rollout(params, trial, jax.random.PRNGKey(4), record=["arm.effector", "net.output"])
    start = np.asarray(trial["init"]["start"])
    forces = np.asarray(out["net.output"], np.float64)  # noise-free channels: u = y
    np.testing.assert_allclose(np.asarray(out["arm.effector"]), euler_point_mass(start, forces, 0.05),
                               rtol=1e-5, atol=1e-6)


def test_reach_model_closed_loop_is_feedbax(reach):
    """The whole tutorial model in NumPy: GRU (equinox), linear readout, Euler point mass, the
    network seeing [goal, 0, p_{k-1}, v_{k-1}]."""
    model, params, trial = reach
    out = model.rollout(params, trial, jax.random.PRNGKey(4), record=["arm.effector", "net.output", "net.hidden"])
    g = {k: np.asarray(v, np.float64) for k, v in params["net"].items()}
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    H = g["weight_hh"].shape[1]
    goal = np.asarray(trial["signals"]["target"], np.float64)[:, 0, :2]
    state = np.asarray(trial["init"]["start"], np.float64)
    h = np.zeros((state.shape[0], H))
    ys, hs, xs = [], [], []
    for _ in range(model.steps):
        z = np.concatenate([goal, np.zeros_like(goal), state], axis=-1)
        i = z @ g["weight_ih"].T + g["bias"]
        hh = h @ g["weight_hh"].T
        r, s = sig(i[:, :H] + hh[:, :H]), sig(i[:, H:2 * H] + hh[:, H:2 * H])
        n = np.tanh(i[:, 2 * H:] + r * (hh[:, 2 * H:] + g["bias_n"]))
        h = n + s * (h - n)
        y = h @ g["W_out"].T + g["b_out"]
        p, v = state[:, :2], state[:, 2:]
        state = np.concatenate([p + 0.05 * v, v + 0.05 * y], axis=-1)
        ys.append(y), hs.append(h), xs.append(state)
    np.testing.assert_allclose(np.asarray(out["net.hidden"]), np.stack(hs, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["net.output"]), np.stack(ys, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["arm.effector"]), np.stack(xs, 1), rtol=1e-4, atol=1e-5)


POINT_MASS_MODEL = """
model pm { dt = 0.01  steps = 50 }
node task = simple_reaches()
node net = gru(hidden = 4, out = 2)
node arm = point_mass(mass = 2.5, damping = 0.7)
task.start -> arm.init
net.output -> arm.force
arm.effector -> net.input
arm.effector -> task.effector
"""


def test_point_mass_with_mass_and_damping_is_feedbax_euler(tmp_path):
    path = tmp_path / "pm.rnn"
    path.write_text(POINT_MASS_MODEL)
    model = api.compile_model(path)
    params = model.init(jax.random.PRNGKey(1))
    params["net"]["b_out"] = jnp.asarray([3.0, -2.0], jnp.float32)  # a force well away from zero
    trial = model.task.trials(jax.random.PRNGKey(2), 3)
    out = model.rollout(params, trial, jax.random.PRNGKey(0), record=["arm.effector", "net.output"])
    want = euler_point_mass(np.asarray(trial["init"]["start"]), np.asarray(out["net.output"], np.float64),
                            0.01, mass=2.5, damping=0.7)
    np.testing.assert_allclose(np.asarray(out["arm.effector"]), want, rtol=1e-5, atol=1e-6)


# ---- Feedbax's reach loss ----------------------------------------------------------------------------


def test_reach_loss_is_feedbax_formula(reach):
    """L = mean over the batch of sum_k (k/99)^6 |p_k - g|^2 + |v_99|^2 + 1e-5 sum_k |u_k|^2 + 1e-5 sum_k |h_k|^2."""
    model, params, _ = reach
    B, T = 3, model.steps
    rng = np.random.default_rng(0)
    eff = rng.standard_normal((B, T, 4)).astype(np.float32)
    y = rng.standard_normal((B, T, 2)).astype(np.float32)
    h = rng.standard_normal((B, T, 50)).astype(np.float32)
    target = np.zeros((B, T, 4), np.float32)
    target[..., :2] = rng.uniform(-1, 1, (B, 1, 2))
    signals = {"arm.effector": jnp.asarray(eff), "net.output": jnp.asarray(y), "net.hidden": jnp.asarray(h)}
    trial = {"signals": {"target": jnp.asarray(target)}}
    total, terms = total_loss(model, params, signals, trial)

    e, yy, hh, g = (a.astype(np.float64) for a in (eff, y, h, target[..., :2]))
    k = np.arange(1, T + 1)
    position = np.sum((k / T) ** 6 * np.sum((e[..., :2] - g) ** 2, axis=-1), axis=1)
    final_velocity = np.sum(e[:, -1, 2:] ** 2, axis=-1)
    effort = 1e-5 * np.sum(yy ** 2, axis=(1, 2))
    activity = 1e-5 * np.sum(hh ** 2, axis=(1, 2))
    want = {"position": position.mean(), "final_velocity": final_velocity.mean(),
            "effort": effort.mean(), "activity": activity.mean()}
    assert set(terms) == set(want)
    for name, value in want.items():
        np.testing.assert_allclose(float(terms[name]), value, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(float(total), sum(want.values()), rtol=1e-5)
