"""The standard library's tasks (dsl/stdlib/*.rnn, written in the language): trial generation (values against
PsychRNN's and Feedbax's formulas, distributions, validation sets) and metrics."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.compiler.nodes import declared as tasks
from rnnlang.compiler.nodes.api import NodeConfig, TaskImpl
from rnnlang.compiler.nodes import IMPLS
from rnnlang.dsl.library import REGISTRY
from rnnlang.dsl.vocab import resolve_size

# kind -> (dt, steps) as the anchors use them
TIMING = {
    "simple_reaches": (0.05, 99),
    "delayed_reaches": (0.05, 99),
    "perceptual_discrimination": (10.0, 200),
    "delayed_discrimination": (10.0, 200),
    "match_to_category": (10.0, 200),
}
COGNITIVE = ("perceptual_discrimination", "delayed_discrimination", "match_to_category")


def make(name: str, dt: float | None = None, steps: int | None = None, tau: float | None = None, **params):
    """Build a task impl by hand, filling defaults from the kind's Param list."""
    full = {p.name: p.default for p in REGISTRY[name].params}
    full.update(params)
    kind = REGISTRY[name].for_node(full)
    d_dt, d_steps = TIMING[name]
    cfg = NodeConfig(
        name="task",
        params=full,
        in_sizes={p.name: resolve_size(p.size, full, {}) for p in kind.inputs},
        out_sizes={p.name: resolve_size(p.size, full, {}) for p in kind.outputs},
        dt=d_dt if dt is None else dt,
        steps=d_steps if steps is None else steps,
        tau=tau if tau is not None else (100.0 if name in COGNITIVE else None),
    )
    return IMPLS[name](cfg)


def key(i: int):
    return jax.random.PRNGKey(i)


def np_tree(tree):
    return jax.tree.map(np.asarray, tree)


def assert_trees_equal(a, b):
    la, lb = jax.tree.leaves(np_tree(a)), jax.tree.leaves(np_tree(b))
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------------
# generic contract


@pytest.mark.parametrize("name", list(TIMING))
def test_declaration_matches_trials(name):
    kind = REGISTRY[name]
    assert kind.family == "task" and isinstance(make(name), TaskImpl)
    assert len(kind.inputs) == 1
    impl = make(name)
    dt, steps = TIMING[name]
    for tr in (impl.trials(key(0), 5), impl.validation(key(1))):
        b = next(iter(tr["signals"].values())).shape[0]
        sig = {p.name for p in kind.outputs if p.role == "signal"}
        ini = {p.name for p in kind.outputs if p.role == "init"}
        assert set(tr["signals"]) == sig and set(tr["init"]) == ini
        for port in kind.outputs:
            n = impl.config.out_sizes[port.name]
            assert port.timing_for(impl.p) == "state"
            arr = tr["signals"][port.name] if port.role == "signal" else tr["init"][port.name]
            assert arr.shape == ((b, steps, n) if port.role == "signal" else (b, n))
            assert arr.dtype == jnp.float32
        for v in tr["vars"].values():
            assert v.shape[0] == b and v.dtype in (jnp.float32, jnp.int32, jnp.bool_)


@pytest.mark.parametrize("name", list(TIMING))
def test_deterministic_and_key_dependent(name):
    impl = make(name)
    a, b, c = impl.trials(key(0), 6), impl.trials(key(0), 6), impl.trials(key(1), 6)
    assert_trees_equal(a, b)
    assert any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(np_tree(a["vars"])),
                                                         jax.tree.leaves(np_tree(c["vars"]))))
    assert_trees_equal(impl.validation(key(3)), impl.validation(key(3)))


@pytest.mark.parametrize("name", list(TIMING))
def test_jittable(name):
    impl = make(name)
    jitted = jax.jit(lambda k: impl.trials(k, 8))(key(2))
    eager = impl.trials(key(2), 8)
    for x, y in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-6)
    jax.jit(impl.validation)(key(0))


def test_unknown_override_is_an_error():
    with pytest.raises(ValueError, match="nope"):
        make("perceptual_discrimination").trials(key(0), 2, {"nope": 1})


# ---------------------------------------------------------------------------------------------
# accuracy rule


def psychrnn_accuracy_per_trial(correct_output, test_output, mask):
    """PsychRNN's accuracy_function, per trial instead of averaged (NumPy)."""
    chosen = np.argmax(np.mean(test_output * mask, axis=1), axis=1)
    truth = np.argmax(np.mean(correct_output * mask, axis=1), axis=1)
    return np.equal(truth, chosen)


def test_accuracy_rule_hand_made():
    T = 4
    target = np.zeros((5, T, 2), np.float32)
    target[:, 2:, 0] = 1.0
    target[:, 2:, 1] = 0.2
    mask = np.zeros((5, T, 2), np.float32)
    mask[:, 2:] = 1.0
    resp = np.zeros((5, T, 2), np.float32)
    resp[0, 2:] = [0.9, 0.1]                          # right
    resp[1, 2:] = [0.1, 0.9]                          # wrong
    resp[2, :2] = [0.0, 5.0]; resp[2, 2:] = [0.6, 0.5]  # wrong outside the mask only: right
    resp[3, 2] = [0.0, 1.0]; resp[3, 3] = [1.5, 0.0]  # masked mean decides: 0.75 > 0.5: right
    mask[4] = 0.0; resp[4] = [0.0, 1.0]               # all-zero mask: counts as correct
    target[4, :, 1] = 1.0
    got = np.asarray(tasks.psychrnn_correct(resp, target, mask))
    np.testing.assert_array_equal(got, [1, 0, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(tasks.masked_choice(resp, mask)), [0, 1, 0, 0, 0])
    assert got.dtype == np.float32


def test_accuracy_rule_matches_psychrnn_formula_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(200, 10, 3)).astype(np.float32)
    out = rng.normal(size=(200, 10, 3)).astype(np.float32)
    m = (rng.random((200, 10, 3)) < 0.5).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(tasks.psychrnn_correct(out, y, m)).astype(bool),
                                  psychrnn_accuracy_per_trial(y, out, m))


@pytest.mark.parametrize("name", COGNITIVE)
def test_metrics_on_perfect_and_flipped_response(name):
    impl = make(name)
    tr = impl.trials(key(4), 64)
    target = tr["signals"]["target"]
    m = impl.metrics({"response": target}, tr)
    np.testing.assert_array_equal(np.asarray(m["correct"]), 1.0)
    flipped = impl.metrics({"response": target[..., ::-1]}, tr)
    has_mask = np.asarray(tr["signals"]["mask"]).any(axis=(1, 2))
    np.testing.assert_array_equal(np.asarray(flipped["correct"])[has_mask], 0.0)


# ---------------------------------------------------------------------------------------------
# perceptual discrimination


def perceptual_expected(v, steps=200, dt=10.0):
    """PsychRNN's trial_function, noise-free, from the trial's vars (NumPy)."""
    t = np.arange(steps) * dt
    B = v["coherence"].shape[0]
    x = np.zeros((B, steps, 2)); y = np.zeros((B, steps, 2)); m = np.zeros((B, steps, 2))
    for b in range(B):
        d, c, on, dur = int(v["direction"][b]), float(v["coherence"][b]), float(v["onset"][b]), float(v["stimulus_duration"][b])
        stim = (t > on) & (t < on + dur)
        x[b, stim, d] = 1 + c
        x[b, stim, 1 - d] = 1
        after = t > on + dur + 20
        y[b, after, d] = 1.0
        y[b, after, 1 - d] = 0.2
        m[b, t >= on + dur] = 1.0
    return x, y, m


def test_perceptual_exact_values():
    impl = make("perceptual_discrimination", noise=0.0)
    tr = np_tree(impl.trials(key(5), 32))
    x, y, m = perceptual_expected(tr["vars"])
    np.testing.assert_allclose(tr["signals"]["input"], x, atol=1e-6)
    np.testing.assert_array_equal(tr["signals"]["target"], y.astype(np.float32))
    np.testing.assert_array_equal(tr["signals"]["mask"], m)
    # the mask turns on 20 ms (2 steps here) before the target does
    first_mask = m[..., 0].argmax(axis=1)
    first_target = (y[..., 0] > 0).argmax(axis=1)
    assert np.all((first_target - first_mask >= 2) & (first_target - first_mask <= 3))
    v = tr["vars"]
    np.testing.assert_allclose(v["signed_coherence"], np.where(v["direction"] == 0, v["coherence"], -v["coherence"]))


def test_perceptual_noise_std():
    clean = make("perceptual_discrimination", noise=0.0).trials(key(6), 500)
    noisy = make("perceptual_discrimination").trials(key(6), 500)
    resid = np.asarray(noisy["signals"]["input"] - clean["signals"]["input"])
    expected = math.sqrt(2 * 0.01 * math.sqrt(10) * math.sqrt(10.0) * 0.1**2)  # = sqrt(2 alpha) * 0.1
    assert abs(resid.std() / expected - 1) < 0.01
    assert abs(resid.mean()) < 1e-3


def test_perceptual_distribution():
    v = np_tree(make("perceptual_discrimination").trials(key(7), 4000)["vars"])
    cohs, counts = np.unique(v["coherence"], return_counts=True)
    np.testing.assert_allclose(cohs, [0.1, 0.3, 0.5, 0.7], rtol=1e-6)
    assert np.all(np.abs(counts / 4000 - 0.25) < 0.03)
    assert set(np.unique(v["direction"])) == {0, 1} and abs(v["direction"].mean() - 0.5) < 0.03
    assert v["onset"].min() >= 0 and v["onset"].max() < 1000
    assert v["onset"].min() < 20 and v["onset"].max() > 980 and abs(v["onset"].mean() - 500) < 15
    assert v["stimulus_duration"].min() >= 250 and v["stimulus_duration"].max() < 750
    assert v["stimulus_duration"].min() < 270 and v["stimulus_duration"].max() > 730 and abs(v["stimulus_duration"].mean() - 500) < 10


def test_perceptual_coherence_overrides():
    impl = make("perceptual_discrimination")
    v = impl.trials(key(8), 100, {"coherences": [0.7]})["vars"]
    np.testing.assert_allclose(np.asarray(v["coherence"]), 0.7, rtol=1e-6)
    # a stage's values are constants of its compiled program
    f = jax.jit(lambda k: impl.trials(k, 400, {"coherences": [0.1, 0.5]})["vars"]["coherence"])
    got = np.asarray(f(key(8)))
    np.testing.assert_allclose(np.unique(got), [0.1, 0.5], rtol=1e-6)


def test_perceptual_validation_grid():
    impl = make("perceptual_discrimination")
    tr = np_tree(impl.validation(key(9)))
    v = tr["vars"]
    assert v["coherence"].shape == (64,)
    pairs = list(zip(np.round(v["coherence"] * 10).astype(int).tolist(), v["direction"].tolist()))
    for c in (1, 3, 5, 7):
        for d in (0, 1):
            assert pairs.count((c, d)) == 8
    # three coherences: 6 conditions, repeated to 66 >= 64
    v3 = make("perceptual_discrimination", coherences=[0.2, 0.4, 0.6]).validation(key(9))["vars"]
    assert v3["coherence"].shape == (66,)
    # noise comes from the key
    other = np_tree(impl.validation(key(10)))
    assert not np.array_equal(tr["signals"]["input"], other["signals"]["input"])
    np.testing.assert_array_equal(tr["vars"]["coherence"], other["vars"]["coherence"])


# ---------------------------------------------------------------------------------------------
# delayed discrimination


def enc(f):
    return np.array([0.4 + 0.8 * (f - 10) / 24, 0.4 + 0.8 * (34 - f) / 24])


def test_delayed_discrimination_exact_values():
    impl = make("delayed_discrimination", noise=0.0)
    tr = np_tree(impl.trials(key(11), 32))
    v, s = tr["vars"], tr["signals"]
    t = np.arange(200) * 10.0
    for b in range(32):
        b0, b1, b2, b3, b4 = (float(v[k][b]) for k in ("stim1_on", "delay_on", "stim2_on", "decision_on", "end"))
        x = np.zeros((200, 2)); y = np.zeros((200, 2)); m = np.zeros((200, 2))
        x[(b0 <= t) & (t < b1)] += enc(float(v["f1"][b]))
        x[(b2 <= t) & (t < b3)] += enc(float(v["f2"][b]))
        dec = (b3 <= t) & (t < b4)
        ch = 0 if v["f1"][b] > v["f2"][b] else 1
        assert v["choice"][b] == ch
        y[dec, ch] = 1.0; y[dec, 1 - ch] = 0.2; m[dec] = 1.0
        np.testing.assert_allclose(s["input"][b], x, atol=1e-6)
        np.testing.assert_allclose(s["target"][b], y, atol=1e-7)
        np.testing.assert_array_equal(s["mask"][b], m)


def test_delayed_discrimination_distribution():
    impl = make("delayed_discrimination")
    v = np_tree(impl.trials(key(12), 3000)["vars"])
    pairs = [(18, 10), (22, 14), (26, 18), (30, 22), (34, 26)]
    hi, lo = np.maximum(v["f1"], v["f2"]), np.minimum(v["f1"], v["f2"])
    assert set(zip(hi.astype(int), lo.astype(int))) == set(pairs)
    assert np.all(np.abs(np.bincount(v["pair"], minlength=5) / 3000 - 0.2) < 0.03)
    assert abs(v["choice"].mean() - 0.5) < 0.03
    np.testing.assert_array_equal(v["choice"], (v["f1"] < v["f2"]).astype(int))
    durs = np.diff(np.stack([np.zeros(3000), v["stim1_on"], v["delay_on"], v["stim2_on"],
                             v["decision_on"], v["end"]], 1), axis=1)
    maxes = np.array([250, 500, 500, 500, 250])
    assert np.all(durs >= 0) and np.all(durs < maxes + 1e-3)
    assert np.all(durs.max(0) > 0.97 * maxes) and np.all(np.abs(durs.mean(0) / (maxes / 2) - 1) < 0.05)
    assert v["end"].max() <= 2000


def test_delayed_discrimination_validation_grid():
    v = np_tree(make("delayed_discrimination").validation(key(13))["vars"])
    assert v["pair"].shape == (70,)
    conds = list(zip(v["pair"], v["order"]))
    assert all(conds.count((p, o)) == 7 for p in range(5) for o in (0, 1))


# ---------------------------------------------------------------------------------------------
# match to category


def test_match_to_category_ring_and_values():
    impl = make("match_to_category", noise=0.0)
    tr = np_tree(impl.trials(key(14), 32))
    x, y, m = tr["signals"]["input"], tr["signals"]["target"], tr["signals"]["mask"]
    angle, cat = tr["vars"]["angle"], tr["vars"]["category"]
    # the ring includes both 0 and 2*pi: the first and last channels coincide
    np.testing.assert_allclose(x[..., 0], x[..., 15], atol=1e-6)
    ring = np.linspace(0, 2 * np.pi, 16)
    d = ring[None, :] - angle[:, None]
    d = np.where(d > np.pi, d - 2 * np.pi, np.where(d < -np.pi, d + 2 * np.pi, d))
    bump = np.exp(-d**2 / 2) / np.sqrt(2 * np.pi)
    k = np.arange(200)
    stim = (k >= 20) & (k < 120)   # 200 <= t < 1200 ms
    out = (k >= 120) & (k < 200)   # 1200 <= t < 2000 ms
    np.testing.assert_allclose(x[:, stim], np.broadcast_to(bump[:, None], (32, stim.sum(), 16)), atol=1e-5)
    np.testing.assert_array_equal(x[:, ~stim], 0.0)
    np.testing.assert_array_equal(cat, np.floor(angle / np.pi).astype(int))
    expected_y = np.zeros((32, 200, 2), np.float32)
    expected_y[np.arange(32)[:, None], np.nonzero(out)[0][None, :], cat[:, None]] = 1.0
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(m, np.broadcast_to(out[None, :, None], m.shape).astype(np.float32))


def test_match_to_category_distribution_and_noise():
    clean = make("match_to_category", noise=0.0).trials(key(15), 2000)
    noisy = make("match_to_category").trials(key(15), 2000)
    v = np_tree(noisy["vars"])
    assert v["angle"].min() >= 0 and v["angle"].max() < 2 * np.pi
    assert abs(v["angle"].mean() - np.pi) < 0.1 and abs(v["category"].mean() - 0.5) < 0.04
    resid = np.asarray(noisy["signals"]["input"] - clean["signals"]["input"])
    assert abs(resid.std() / (0.1 / (2 * 10.0)) - 1) < 0.01


def test_match_to_category_sizes_and_validation():
    impl = make("match_to_category", n_in=8, n_out=4)
    assert impl.config.out_sizes == {"input": 8, "target": 4, "mask": 4}
    tr = impl.trials(key(16), 10)
    assert tr["signals"]["input"].shape == (10, 200, 8) and tr["signals"]["target"].shape == (10, 200, 4)
    v = np_tree(make("match_to_category").validation(key(17))["vars"])
    np.testing.assert_allclose(v["angle"], 2 * np.pi * (np.arange(64) + 0.5) / 64, rtol=1e-6)
    assert v["category"].sum() == 32


# ---------------------------------------------------------------------------------------------
# reaches


@pytest.mark.parametrize("ws", [[[-1.0, -1.0], [1.0, 1.0]], [[0.0, -2.0], [3.0, 1.0]]])
def test_simple_reaches_uniform_in_workspace(ws):
    tr = np_tree(make("simple_reaches", workspace=ws).trials(key(18), 4000))
    lo, hi = np.array(ws[0]), np.array(ws[1])
    for name in ("start", "goal"):
        p = tr["vars"][name]
        assert np.all(p >= lo) and np.all(p < hi)
        assert np.all(p.min(0) < lo + 0.01 * (hi - lo)) and np.all(p.max(0) > hi - 0.01 * (hi - lo))
        assert np.all(np.abs(p.mean(0) - (lo + hi) / 2) < 0.02 * (hi - lo))
    assert abs(np.corrcoef(tr["vars"]["start"][:, 0], tr["vars"]["goal"][:, 0])[0, 1]) < 0.05
    goal4 = np.concatenate([tr["vars"]["goal"], np.zeros((4000, 2))], 1)
    np.testing.assert_array_equal(tr["signals"]["target"], np.broadcast_to(goal4[:, None], (4000, 99, 4)))
    np.testing.assert_array_equal(tr["init"]["start"][:, :2], tr["vars"]["start"])
    np.testing.assert_array_equal(tr["init"]["start"][:, 2:], 0.0)


def test_simple_reaches_center_out_validation():
    tr = np_tree(make("simple_reaches").validation(key(0)))
    v = tr["vars"]
    assert v["start"].shape == (7, 2)
    np.testing.assert_array_equal(v["start"], 0.0)
    np.testing.assert_array_equal(v["direction"], np.arange(7))
    np.testing.assert_allclose(v["angle"], 2 * np.pi * np.arange(7) / 7, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(v["goal"], axis=1), 0.5, rtol=1e-6)
    np.testing.assert_allclose(v["goal"], 0.5 * np.stack([np.cos(v["angle"]), np.sin(v["angle"])], 1), atol=1e-6)
    np.testing.assert_allclose(tr["signals"]["target"][:, 50, :2], v["goal"])
    other = np_tree(make("simple_reaches").validation(key(99)))  # independent of the key
    assert_trees_equal({k: tr[k] for k in ("signals", "init")}, {k: other[k] for k in ("signals", "init")})
    for name in ("start", "goal", "direction", "angle", "centre"):
        np.testing.assert_array_equal(v[name], other["vars"][name])


def test_simple_reaches_validation_grid():
    v = np_tree(make("simple_reaches", eval_grid_n=2, eval_n_directions=4, eval_length=0.25).validation(key(0))["vars"])
    assert v["start"].shape == (16, 2)
    c = 1 / 3
    centres = np.array([[-c, -c], [c, -c], [-c, c], [c, c]])   # x varies fastest (Feedbax)
    np.testing.assert_allclose(v["start"], np.repeat(centres, 4, axis=0), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(v["goal"] - v["start"], axis=1), 0.25, rtol=1e-5)
    np.testing.assert_array_equal(v["direction"], np.tile(np.arange(4), 4))


@pytest.mark.parametrize("name", ["simple_reaches", "delayed_reaches"])
def test_reach_metrics(name):
    impl = make(name)
    tr = impl.trials(key(19), 3)
    goal = np.asarray(tr["vars"]["goal"])
    eff = np.zeros((3, 99, 4), np.float32)
    eff[:, -1, :2] = goal + np.array([0.3, 0.4])
    eff[:, -1, 2:] = [3.0, 4.0]
    eff[:, -2, :2] = goal   # only the last state counts
    m = impl.metrics({"effector": jnp.asarray(eff)}, tr)
    np.testing.assert_allclose(np.asarray(m["final_position_error"]), 0.5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(m["final_speed"]), 5.0, rtol=1e-6)


def test_delayed_reaches_epochs_and_signals():
    tr = np_tree(make("delayed_reaches").trials(key(20), 2000))
    v, s = tr["vars"], tr["signals"]
    L = v["epoch_lengths"]
    for e, (lo, hi) in enumerate([(5, 15), (10, 20), (10, 25)]):
        assert L[:, e].min() == lo and L[:, e].max() == hi - 1
        assert abs(L[:, e].mean() - (lo + hi - 1) / 2) < 0.4
    np.testing.assert_array_equal(v["move_onset"], L.sum(1))
    np.testing.assert_array_equal(v["epoch_starts"][:, 1:], np.cumsum(L, 1))
    k = np.arange(99)[None, :]
    moving = k >= v["move_onset"][:, None]
    np.testing.assert_array_equal(s["hold"][..., 0], (~moving).astype(np.float32))
    start4 = np.concatenate([v["start"], np.zeros((2000, 2))], 1)[:, None]
    goal4 = np.concatenate([v["goal"], np.zeros((2000, 2))], 1)[:, None]
    np.testing.assert_array_equal(s["target"], np.where(moving[..., None], goal4, start4))
    on = (k >= L[:, :1]) & (k < L[:, :1] + L[:, 1:2])   # epoch 1: target on
    np.testing.assert_array_equal(s["target_on"][..., 0], on.astype(np.float32))
    np.testing.assert_array_equal(s["cue"], np.where(on[..., None], goal4, 0.0).astype(np.float32))
    np.testing.assert_array_equal(tr["init"]["start"], start4[:, 0])
    # one trial by hand: target switches exactly at movement onset
    b = 0
    mo = int(v["move_onset"][b])
    np.testing.assert_array_equal(s["target"][b, mo - 1, :2], v["start"][b])
    np.testing.assert_array_equal(s["target"][b, mo, :2], v["goal"][b])
    assert s["hold"][b, mo - 1, 0] == 1 and s["hold"][b, mo, 0] == 0


def test_delayed_reaches_validation_and_options():
    tr = np_tree(make("delayed_reaches").validation(key(0)))
    v = tr["vars"]
    assert v["start"].shape == (7, 2)
    np.testing.assert_array_equal(v["epoch_lengths"], np.tile([10, 15, 18], (7, 1)))
    np.testing.assert_array_equal(v["move_onset"], 43)
    np.testing.assert_allclose(np.linalg.norm(v["goal"] - v["start"], axis=1), 0.5, rtol=1e-6)
    np.testing.assert_array_equal(tr["signals"]["target_on"][0, :, 0], (np.arange(99) >= 10) & (np.arange(99) < 25))
    impl = make("delayed_reaches", epoch_bounds=[[2, 3], [4, 5], [0, 1]], target_on_epochs=[0, 1])
    t2 = np_tree(impl.trials(key(1), 4))
    np.testing.assert_array_equal(t2["vars"]["move_onset"], 6)
    np.testing.assert_array_equal(t2["signals"]["target_on"][:, :, 0], np.broadcast_to(np.arange(99) < 6, (4, 99)))
    with pytest.raises(ValueError):
        make("delayed_reaches", target_on_epochs=[3])
