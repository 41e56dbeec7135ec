"""Network kinds against direct NumPy transcriptions of PsychRNN's and Feedbax's formulas."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.compiler.nodes import networks
from rnnlang.compiler.nodes.api import NodeConfig
from rnnlang.dsl.library import REGISTRY

RNG = np.random.default_rng(0)


def cfg(params: dict, n_in: int = 3, dt: float = 10.0, tau: float | None = None) -> NodeConfig:
    return NodeConfig("net", params, {"input": n_in}, {}, dt, 20, tau)


def relu(x):
    return np.maximum(x, 0.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_registry_declarations():
    k = REGISTRY["ctrnn"]
    assert [p.name for p in k.ports] == ["input", "output", "hidden"]
    assert k.port("input").combine == "concat"
    size = k.port("input").size  # what the edges carry, unless `inputs` fixes it
    assert size({}, {}) is None and size({"inputs": 3}, {}) == 3
    assert {s.name for s in k.sites} == {"hidden", "W_rec"}
    assert k.site("W_rec").tags == ("weights",) and k.site("hidden").tags == ("units",)
    assert k.param("init").default == "spectral_radius"
    for name in ("gru", "lstm"):
        assert {s.name for s in REGISTRY[name].sites} == {"hidden"}


# ---- ctrnn ------------------------------------------------------------------------------------


def psychrnn_step(s, u, W_in, W_rec, W_out, b_rec, b_out, alpha, sigma=0.0, xi=None, f=relu):
    """PsychRNN Basic.recurrent_timestep + output_timestep (row vectors), on effective weights."""
    new = (1 - alpha) * s + alpha * (f(s) @ W_rec.T + u @ W_in.T + b_rec)
    if sigma > 0:
        new = new + np.sqrt(2 * alpha * sigma ** 2) * xi
    return new, f(new) @ W_out.T + b_out


def psychrnn_effective(W_in, W_rec, W_out, M_in, M_rec, M_out, dale_ratio):
    N = W_rec.shape[0]
    vec = np.ones(N)
    vec[int(dale_ratio * N):] = -1
    D_rec = np.diag(vec)
    vec[int(dale_ratio * N):] = 0
    D_out = np.diag(vec)
    return (np.abs(W_in * M_in), np.abs(W_rec * M_rec) @ D_rec, np.abs(W_out * M_out) @ D_out)


def random_ctrnn(N=6, n_in=3, n_out=2, **extra):
    M_in = (RNG.random((N, n_in)) > 0.3).astype(np.float32)
    M_rec = (RNG.random((N, N)) > 0.3).astype(np.float32)
    M_out = (RNG.random((n_out, N)) > 0.2).astype(np.float32)
    weights = {
        "W_in": RNG.normal(size=(N, n_in)).astype(np.float32),
        "W_rec": RNG.normal(size=(N, N)).astype(np.float32) * 0.5,
        "W_out": RNG.normal(size=(n_out, N)).astype(np.float32),
        "b_rec": RNG.normal(size=N).astype(np.float32) * 0.1,
        "b_out": RNG.normal(size=n_out).astype(np.float32) * 0.1,
        "init_state": (0.1 + 0.01 * RNG.normal(size=(1, N))).astype(np.float32),
    }
    params = dict(hidden=N, out=n_out, input_mask=M_in, rec_mask=M_rec, output_mask=M_out,
                  dale_ratio=0.5, autapses=False, weights=weights, **extra)
    return params, weights, (M_in, M_rec, M_out)


def test_ctrnn_matches_psychrnn_formula_with_masks_and_dale():
    params, w, (M_in, M_rec, M_out) = random_ctrnn()
    net = networks.CTRNN(cfg(params, dt=10.0, tau=100.0))
    p = net.init_params(jax.random.PRNGKey(0))
    M_rec_na = M_rec.copy()
    np.fill_diagonal(M_rec_na, 0)
    W_in, W_rec, W_out = psychrnn_effective(w["W_in"], w["W_rec"], w["W_out"], M_in, M_rec_na, M_out, 0.5)
    s_ref = w["init_state"][0].astype(np.float64)
    s = net.init_state(p, {})
    for t in range(5):
        u = RNG.normal(size=3).astype(np.float32)
        s_ref, y_ref = psychrnn_step(s_ref, u, W_in, W_rec, W_out, w["b_rec"], w["b_out"], 0.1)
        s, out = net.advance(p, s, {"input": jnp.asarray(u)}, {}, {})
        np.testing.assert_allclose(s, s_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["output"], y_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["hidden"], relu(s_ref), rtol=1e-5, atol=1e-6)


def test_ctrnn_noise_with_given_draws_and_transfers():
    params, w, (M_in, M_rec, M_out) = random_ctrnn(rec_noise=0.3, transfer="tanh", output_transfer="sigmoid")
    params["dale_ratio"] = 0.0
    params["autapses"] = True
    net = networks.CTRNN(cfg(params, dt=20.0, tau=None))  # tau defaults to 100 -> alpha 0.2
    assert net.noise_shapes() == {"rec": (6,)}
    p = net.init_params(jax.random.PRNGKey(0))
    s = net.init_state(p, {})
    xi = RNG.normal(size=6).astype(np.float32)
    u = RNG.normal(size=3).astype(np.float32)
    s_new, out = net.advance(p, s, {"input": u}, {"rec": jnp.asarray(xi)}, {})
    W_in, W_rec, W_out = w["W_in"] * M_in, w["W_rec"] * M_rec, w["W_out"] * M_out
    s_ref, y_lin = psychrnn_step(w["init_state"][0], u, W_in, W_rec, W_out, w["b_rec"], w["b_out"], 0.2,
                                 sigma=0.3, xi=xi, f=np.tanh)
    np.testing.assert_allclose(s_new, s_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["output"], sigmoid(y_lin), rtol=1e-5, atol=1e-6)
    # the noise term alone is sqrt(2 alpha sigma^2) xi
    s0, _ = net.advance(p, s, {"input": u}, {"rec": jnp.zeros(6)}, {})
    np.testing.assert_allclose(s_new - s0, np.sqrt(2 * 0.2 * 0.09) * xi, rtol=1e-4, atol=1e-6)


def test_ctrnn_effective_weights():
    N = 4
    W = np.arange(1, 17, dtype=np.float32).reshape(4, 4) * np.array([1, -1, 1, -1], np.float32)
    M = np.ones((4, 4), np.float32)
    M[0, 1] = 0
    params = dict(hidden=N, out=2, dale_ratio=0.5, autapses=False, rec_mask=M,
                  weights={"W_rec": W, "W_in": -np.ones((4, 1)), "W_out": -np.ones((2, 4))})
    net = networks.CTRNN(cfg(params, n_in=1))
    eff = net.effective_weights(net.init_params(jax.random.PRNGKey(0)))
    expected = np.abs(W) * np.array([1, 1, -1, -1])[None, :]
    expected[0, 1] = 0
    np.fill_diagonal(expected, 0)
    np.testing.assert_array_equal(eff["W_rec"], expected)
    np.testing.assert_array_equal(eff["W_in"], np.ones((4, 1)))
    np.testing.assert_array_equal(eff["W_out"], np.array([[1, 1, 0, 0], [1, 1, 0, 0]], np.float32))
    # idempotent: effective weights fed back as weights give the same effective weights
    net2 = networks.CTRNN(cfg(dict(params, weights={k: np.asarray(v) for k, v in eff.items()}), n_in=1))
    eff2 = net2.effective_weights(net2.init_params(jax.random.PRNGKey(0)))
    for k in eff:
        np.testing.assert_array_equal(eff2[k], eff[k])


@pytest.mark.parametrize("dale", [0.0, 0.8])
def test_spectral_radius_init(dale):
    net = networks.CTRNN(cfg(dict(hidden=20, out=2, dale_ratio=dale)))
    p = net.init_params(jax.random.PRNGKey(3))
    assert abs(np.max(np.abs(np.linalg.eigvals(np.asarray(p["W_rec"], np.float64)))) - 1.1) < 1e-5
    np.testing.assert_array_equal(p["b_rec"], 0)
    np.testing.assert_array_equal(p["b_out"], 0)
    assert abs(float(np.mean(p["init_state"])) - 0.1) < 0.01 and float(np.std(p["init_state"])) < 0.03
    net = networks.CTRNN(cfg(dict(hidden=20, out=2, init={"name": "spectral_radius", "args": [1.5]})))
    W = net.init_params(jax.random.PRNGKey(4))["W_rec"]
    assert abs(np.max(np.abs(np.linalg.eigvals(np.asarray(W, np.float64)))) - 1.5) < 1e-5


def test_spectral_radius_under_vmap_and_jit():
    net = networks.CTRNN(cfg(dict(hidden=8, out=2)))
    Ws = jax.jit(jax.vmap(net.init_params))(jax.random.split(jax.random.PRNGKey(0), 3))["W_rec"]
    for W in np.asarray(Ws, np.float64):
        assert abs(np.max(np.abs(np.linalg.eigvals(W))) - 1.1) < 1e-5


def test_alpha_identity_and_dale_balance():
    net = networks.CTRNN(cfg(dict(hidden=5, out=2, init="alpha_identity"), dt=10.0, tau=50.0))
    np.testing.assert_allclose(net.init_params(jax.random.PRNGKey(0))["W_rec"], 0.2 * np.eye(5), rtol=1e-6)
    # with Dale's law: PsychRNN's balance_dale_ratio applied to alpha * I
    net = networks.CTRNN(cfg(dict(hidden=5, out=2, init="alpha_identity", dale_ratio=0.6), dt=10.0, tau=50.0))
    vec = np.array([1, 1, 1, 1.5, 1.5])
    D = np.diag(vec) / np.linalg.norm(np.ones((5, 5)) @ np.diag(vec), axis=1)[:, None]
    np.testing.assert_allclose(net.init_params(jax.random.PRNGKey(0))["W_rec"], 0.2 * np.eye(5) @ D, rtol=1e-6)


def test_glorot_and_const_inits():
    net = networks.CTRNN(cfg(dict(hidden=40, out=30, init="glorot_normal"), n_in=20))
    p = net.init_params(jax.random.PRNGKey(0))
    assert abs(float(np.std(p["W_rec"])) - np.sqrt(2 / 80)) < 0.02
    assert abs(float(np.std(p["W_in"])) - np.sqrt(2 / 60)) < 0.02
    net = networks.CTRNN(cfg(dict(hidden=40, out=2, init="glorot_uniform"), n_in=20))
    p = net.init_params(jax.random.PRNGKey(0))
    assert float(np.max(np.abs(p["W_rec"]))) <= np.sqrt(6 / 80) + 1e-6
    net = networks.CTRNN(cfg(dict(hidden=30, out=2, init={"name": "const_uniform", "args": [0.2, 0.5]})))
    W = np.asarray(net.init_params(jax.random.PRNGKey(0))["W_rec"])
    assert W.min() >= 0.2 and W.max() <= 0.5
    net = networks.CTRNN(cfg(dict(hidden=40, out=2, init={"name": "const_normal", "kwargs": {"mean": 3.0, "std": 0.5}})))
    W = np.asarray(net.init_params(jax.random.PRNGKey(0))["W_rec"])
    assert abs(W.mean() - 3.0) < 0.05 and abs(W.std() - 0.5) < 0.05


def test_given_weights_exact_and_fixed_init_state():
    params, w, _ = random_ctrnn()
    params["train_init_state"] = False
    net = networks.CTRNN(cfg(params))
    p = net.init_params(jax.random.PRNGKey(0))
    for k, v in w.items():
        np.testing.assert_array_equal(p[k], v.reshape(p[k].shape))
        assert p[k].dtype == jnp.float32
    assert p["init_state"].shape == (6,)
    assert net.fixed_params() == {"init_state"}
    assert networks.CTRNN(cfg(dict(hidden=3, out=1))).fixed_params() == set()


def test_ctrnn_no_input_and_sites():
    net = networks.CTRNN(cfg(dict(hidden=4, out=1, transfer="identity",
                                  weights={"W_rec": np.eye(4), "W_out": np.ones((1, 4)), "init_state": np.ones(4)}),
                             n_in=0, dt=10.0, tau=100.0))
    p = net.init_params(jax.random.PRNGKey(0))
    assert p["W_in"].shape == (4, 0)
    s = net.init_state(p, {})
    s1, out = net.advance(p, s, {}, {}, {})
    np.testing.assert_allclose(s1, np.ones(4), rtol=1e-6)  # (1-a) 1 + a (1 W^T) = 1
    clamp = lambda x: x.at[0].set(5.0)  # noqa: E731
    ablate = lambda W: W * 0.0  # noqa: E731
    s2, out2 = net.advance(p, s, {}, {}, {"hidden": clamp, "W_rec": ablate})
    np.testing.assert_allclose(s2, [5.0, 0.9, 0.9, 0.9], rtol=1e-6)
    np.testing.assert_allclose(out2["output"], [5.0 + 2.7], rtol=1e-6)


# ---- gru ----------------------------------------------------------------------------------------


def gru_ref(x, h, p, H):
    ig = p["weight_ih"] @ x + p["bias"]
    hg = p["weight_hh"] @ h
    r = sigmoid(ig[:H] + hg[:H])
    s = sigmoid(ig[H:2 * H] + hg[H:2 * H])
    n = np.tanh(ig[2 * H:] + r * (hg[2 * H:] + p["bias_n"]))
    return n + s * (h - n)


def test_gru_matches_anchor_formula():
    H, n_in = 7, 4
    net = networks.GRU(cfg(dict(hidden=H, out=2), n_in=n_in))
    p = net.init_params(jax.random.PRNGKey(0))
    lim = 1 / np.sqrt(H)
    for k in ("weight_ih", "weight_hh", "bias", "bias_n", "W_out"):
        assert np.max(np.abs(p[k])) <= lim and np.std(p[k]) > 0.2 * lim
    assert p["weight_ih"].shape == (3 * H, n_in) and p["bias_n"].shape == (H,)
    np.testing.assert_array_equal(p["b_out"], 0)
    pn = {k: np.asarray(v, np.float64) for k, v in p.items()}
    h = net.init_state(p, {})
    np.testing.assert_array_equal(h, 0)
    h_ref = np.zeros(H)
    for _ in range(4):
        x = RNG.normal(size=n_in)
        h_ref = gru_ref(x, h_ref, pn, H)
        h, out = net.advance(p, h, {"input": jnp.asarray(x, jnp.float32)}, {}, {})
        np.testing.assert_allclose(h, h_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["output"], pn["W_out"] @ h_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["hidden"], h_ref, rtol=1e-5, atol=1e-6)


def test_gru_encoder_noise_transfers():
    H, n_in, E = 5, 3, 4
    net = networks.GRU(cfg(dict(hidden=H, out=2, encoder=E, hidden_noise=0.2, hidden_transfer="tanh",
                                output_transfer="tanh"), n_in=n_in))
    assert net.noise_shapes() == {"hidden": (H,)}
    p = net.init_params(jax.random.PRNGKey(1))
    assert p["W_enc"].shape == (E, n_in) and p["weight_ih"].shape == (3 * H, E)
    assert np.max(np.abs(p["W_enc"])) <= 1 / np.sqrt(n_in)
    pn = {k: np.asarray(v, np.float64) for k, v in p.items()}
    x = RNG.normal(size=n_in)
    e = RNG.normal(size=H)
    h0 = RNG.normal(size=H)
    h, out = net.advance(p, jnp.asarray(h0, jnp.float32), {"input": jnp.asarray(x, jnp.float32)},
                         {"hidden": jnp.asarray(e, jnp.float32)}, {})
    z = pn["W_enc"] @ x + pn["b_enc"]
    h_ref = np.tanh(gru_ref(z, h0, pn, H)) + 0.2 * e
    np.testing.assert_allclose(h, h_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["output"], np.tanh(pn["W_out"] @ h_ref), rtol=1e-5, atol=1e-6)


# ---- lstm ---------------------------------------------------------------------------------------


def test_lstm_textbook_formula():
    H, n_in = 5, 3
    net = networks.LSTM(cfg(dict(hidden=H, out=2), n_in=n_in))
    p = net.init_params(jax.random.PRNGKey(0))
    assert p["weight_ih"].shape == (4 * H, n_in) and p["bias"].shape == (4 * H,)
    assert np.max(np.abs(p["weight_hh"])) <= 1 / np.sqrt(H)
    pn = {k: np.asarray(v, np.float64) for k, v in p.items()}
    state = net.init_state(p, {})
    h, c = np.zeros(H), np.zeros(H)
    for _ in range(3):
        x = RNG.normal(size=n_in)
        lin = pn["weight_ih"] @ x + pn["weight_hh"] @ h + pn["bias"]
        i, f, g, o = sigmoid(lin[:H]), sigmoid(lin[H:2 * H]), np.tanh(lin[2 * H:3 * H]), sigmoid(lin[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        state, out = net.advance(p, state, {"input": jnp.asarray(x, jnp.float32)}, {}, {})
        np.testing.assert_allclose(state[0], h, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state[1], c, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["output"], pn["W_out"] @ h, rtol=1e-5, atol=1e-6)


def test_lstm_psychrnn_variant_formula():
    H, n_in = 4, 2
    net = networks.LSTM(cfg(dict(hidden=H, out=3, variant="psychrnn"), n_in=n_in))
    p = net.init_params(jax.random.PRNGKey(0))
    for g in "fico":
        assert p[f"W_{g}"].shape == (H + n_in, H)
        np.testing.assert_array_equal(p[f"b_{g}"], 1.0)
    pn = {k: np.asarray(v, np.float64) for k, v in p.items()}
    state = net.init_state(p, {})
    np.testing.assert_array_equal(state[0], p["init_hidden"])
    h, c = pn["init_hidden"], pn["init_cell"]
    for _ in range(3):
        x = RNG.normal(size=n_in)
        hx = np.concatenate([h, x])
        f = sigmoid(hx @ pn["W_f"] + pn["b_f"])
        i = sigmoid(hx @ pn["W_i"] + pn["b_i"])
        cc = np.tanh(hx @ pn["W_c"] + pn["b_c"])
        o = sigmoid(hx @ pn["W_o"] + pn["b_o"])
        c = f * c + i * cc
        h = o * sigmoid(c)
        state, out = net.advance(p, state, {"input": jnp.asarray(x, jnp.float32)}, {}, {})
        np.testing.assert_allclose(state[0], h, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state[1], c, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["output"], pn["W_out"] @ h + pn["b_out"], rtol=1e-5, atol=1e-6)


def test_hidden_site_applies_to_new_hidden_state():
    net = networks.LSTM(cfg(dict(hidden=3, out=1), n_in=1))
    p = net.init_params(jax.random.PRNGKey(0))
    st, out = net.advance(p, net.init_state(p, {}), {"input": jnp.ones(1)}, {},
                          {"hidden": lambda h: h.at[1].set(2.0)})
    assert float(st[0][1]) == 2.0 and float(out["hidden"][1]) == 2.0
    np.testing.assert_allclose(out["output"], np.asarray(p["W_out"]) @ np.asarray(st[0]), rtol=1e-6)


def test_advance_under_jit_vmap_and_scan():
    """The lowering vmaps one-trial methods over the batch and scans over time."""
    for net in (networks.CTRNN(cfg(dict(hidden=5, out=2, rec_noise=0.1), n_in=3)),
                networks.GRU(cfg(dict(hidden=5, out=2, hidden_noise=0.1), n_in=3)),
                networks.LSTM(cfg(dict(hidden=5, out=2, variant="psychrnn"), n_in=3))):
        p = net.init_params(jax.random.PRNGKey(0))
        B, T = 4, 6
        u = jnp.asarray(RNG.normal(size=(B, T, 3)), jnp.float32)
        noise = {k: jnp.asarray(RNG.normal(size=(B, T) + s), jnp.float32) for k, s in net.noise_shapes().items()}

        def trial(u_tr, nz_tr):
            def body(s, xs):
                s, out = net.advance(p, s, {"input": xs[0]}, xs[1], {})
                return s, out["output"]
            return jax.lax.scan(body, net.init_state(p, {}), (u_tr, nz_tr))[1]

        ys = jax.jit(jax.vmap(trial))(u, noise)
        s = net.init_state(p, {})
        for t in range(T):  # trial 2 by hand
            s, out = net.advance(p, s, {"input": u[2, t]}, {k: v[2, t] for k, v in noise.items()}, {})
        np.testing.assert_allclose(ys[2, -1], out["output"], rtol=1e-5, atol=1e-6)
