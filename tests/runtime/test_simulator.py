"""The NumPy simulator: PsychRNN's published step, written out here, on any batch size; the
ablation mask; transfer functions; noise from a given generator; no JAX; runs and files."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.runtime import api, interop
from rnnlang.runtime.simulator import Simulator, ablate_units, from_npz, from_run
from tests.runtime.test_interop import imported_run, psychrnn_arrays, psychrnn_file  # noqa: F401  (fixture)

TRANSFERS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "identity": lambda x: x,
}


def psychrnn_basic(w, x, alpha, f, sigma=0.0, rng=None, conn=None):
    """PsychRNN's Basic, transcribed from its published equations, one trial and one step at a time:
    s' = (1 - a) s + a (f(s) (W_rec * C_t)^T + u W_in^T + b_rec) + sqrt(2 a sigma^2) N(0, 1),
    y = f(s') W_out^T + b_out; states exclude the initial state. Noise: one (B, N) draw per step."""
    B, T, _ = x.shape
    N = w["W_rec"].shape[0]
    outs, states = np.zeros((B, T, w["W_out"].shape[0])), np.zeros((B, T, N))
    s = np.tile(np.asarray(w["init_state"], np.float64).reshape(1, N), (B, 1))
    for t in range(T):
        C = np.ones((N, N)) if conn is None else (conn if conn.ndim == 2 else conn[t])
        xi = rng.standard_normal((B, N)) if sigma > 0 else np.zeros((B, N))
        new = np.zeros_like(s)
        for b in range(B):
            drive = f(s[b]) @ (w["W_rec"] * C).T + x[b, t] @ w["W_in"].T + w["b_rec"]
            new[b] = (1 - alpha) * s[b] + alpha * drive + np.sqrt(2 * alpha * sigma ** 2) * xi[b]
            outs[b, t] = f(new[b]) @ w["W_out"].T + w["b_out"]
        s = new
        states[:, t] = s
    return outs, states


@pytest.fixture
def weights():
    return {k: v.astype(np.float64) for k, v in psychrnn_arrays(N=12, n_in=3, n_out=2, seed=4).items()}


@pytest.mark.parametrize("batch", [1, 5])
def test_simulator_equals_the_published_formula(weights, batch):
    x = np.random.default_rng(0).standard_normal((batch, 25, 3))
    y, s = Simulator(weights, dt=10, tau=100).run_trials(x)
    y0, s0 = psychrnn_basic(weights, x, 0.1, TRANSFERS["relu"])
    assert y.shape == (batch, 25, 2) and s.shape == (batch, 25, 12)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s, s0, rtol=1e-12, atol=1e-12)


def test_states_exclude_the_initial_state_and_outputs_read_the_new_state(weights):
    x = np.zeros((1, 1, 3))
    sim = Simulator(weights, alpha=0.2)
    y, s = sim.run_trials(x)
    s0 = weights["init_state"].reshape(-1)
    s1 = 0.8 * s0 + 0.2 * (np.maximum(s0, 0) @ weights["W_rec"].T + weights["b_rec"])
    np.testing.assert_allclose(s[0, 0], s1, rtol=1e-12)
    np.testing.assert_allclose(y[0, 0], np.maximum(s1, 0) @ weights["W_out"].T + weights["b_out"], rtol=1e-12)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "identity"])
def test_transfer_functions(weights, name):
    x = np.random.default_rng(1).standard_normal((2, 10, 3))
    y, s = Simulator(weights, transfer=name).run_trials(x)
    y0, s0 = psychrnn_basic(weights, x, 0.1, TRANSFERS[name])
    np.testing.assert_allclose(y, y0, rtol=1e-10, atol=1e-12)
    y1, _ = Simulator(weights, transfer=TRANSFERS[name]).run_trials(x)  # a callable works too
    np.testing.assert_allclose(y1, y0, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="unknown transfer"):
        Simulator(weights, transfer="cubic")


def test_recurrent_noise_from_the_given_generator(weights):
    x = np.random.default_rng(2).standard_normal((3, 15, 3))
    sim = Simulator(weights, rec_noise=0.3)
    y, s = sim.run_trials(x, rng=np.random.default_rng(7))
    y0, s0 = psychrnn_basic(weights, x, 0.1, TRANSFERS["relu"], sigma=0.3, rng=np.random.default_rng(7))
    np.testing.assert_allclose(s, s0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    y2, _ = sim.run_trials(x, rng=7)
    np.testing.assert_array_equal(y, y2)
    y3, _ = sim.run_trials(x, rng=8)
    assert not np.allclose(y, y3)
    quiet, _ = Simulator(weights).run_trials(x)
    assert not np.allclose(y, quiet)


def test_ablation_cuts_a_units_outgoing_weights(weights):
    x = np.random.default_rng(3).standard_normal((2, 20, 3))
    j = 4
    cut = ablate_units(12, [j])
    y, s = Simulator(weights).run_trials(x, ablation=cut)
    w = dict(weights, W_rec=weights["W_rec"].copy())
    w["W_rec"][:, j] = 0.0
    y0, s0 = psychrnn_basic(w, x, 0.1, TRANSFERS["relu"])
    np.testing.assert_allclose(s, s0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    # with its outgoing weights cut, unit j's own activity no longer reaches the other units
    kicked = dict(weights, init_state=weights["init_state"].copy())
    kicked["init_state"][0, j] += 5.0
    _, s_kicked = Simulator(kicked).run_trials(x, ablation=cut)
    others = np.arange(12) != j
    np.testing.assert_allclose(s_kicked[..., others], s[..., others], rtol=1e-12, atol=1e-12)
    assert not np.allclose(s_kicked[..., j], s[..., j])
    _, s_free = Simulator(kicked).run_trials(x)
    assert not np.allclose(s_free[..., others], s[..., others])


def test_time_varying_ablation(weights):
    x = np.random.default_rng(4).standard_normal((2, 20, 3))
    mask = ablate_units(12, [0, 1], steps=20, start=10)
    assert mask.shape == (20, 12, 12) and np.all(mask[:10] == 1) and np.all(mask[10:, :, :2] == 0)
    y, s = Simulator(weights).run_trials(x, ablation=mask)
    y_free, s_free = Simulator(weights).run_trials(x)
    y0, s0 = psychrnn_basic(weights, x, 0.1, TRANSFERS["relu"], conn=mask)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(s[:, :10], s_free[:, :10])  # the mask acts from step 10 on
    assert not np.allclose(s[:, 10:], s_free[:, 10:])


def test_bad_shapes_are_refused(weights):
    sim = Simulator(weights)
    with pytest.raises(ValueError, match="trial_input"):
        sim.run_trials(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="trial_input"):
        sim.run_trials(np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="ablation"):
        sim.run_trials(np.zeros((1, 4, 3)), ablation=np.ones((3, 12, 12)))
    with pytest.raises(ValueError, match="lack b_out"):
        Simulator({k: v for k, v in weights.items() if k != "b_out"})


def test_from_npz_reads_a_psychrnn_file_with_pickled_keys(tmp_path):
    arrays = psychrnn_file(tmp_path / "w.npz", pickled=True)
    sim = from_npz(tmp_path / "w.npz", dt=20, tau=100)
    assert sim.alpha == pytest.approx(0.2)
    np.testing.assert_array_equal(sim.W_rec, arrays["W_rec"].astype(np.float64))


def test_from_run_matches_the_compiled_model(imported_run):  # noqa: F811
    run, arrays, _ = imported_run
    sim = from_run(run)
    np.testing.assert_array_equal(sim.W_rec, arrays["W_rec"].astype(np.float64))
    assert sim.alpha == pytest.approx(0.1)
    _, model, _, state = api.open_run(run)
    params = jax.tree_util.tree_map(lambda p: p[0], state.params)
    x = np.random.default_rng(6).standard_normal((3, model.steps, 3)).astype(np.float32)
    out = model.rollout(params, {"signals": {"input": jnp.asarray(x)}}, jax.random.PRNGKey(0), record=["net.output"])
    y, _ = sim.run_trials(x)
    np.testing.assert_allclose(np.asarray(out["net.output"]), y, rtol=1e-5, atol=1e-6)
    assert interop.ctrnn_node(model, None) == "net"
