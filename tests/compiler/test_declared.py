"""The `task` kind: tasks declared in the file, compiled to JAX trial generation.

The declared versions of PsychRNN's three tasks in examples/tasks/ are compared with the
standard library's (dsl/stdlib/): exactly, value for value, when both are given the same draws
and the same noise, and statistically on many trials drawn independently. The rest covers the language's semantics in JAX: distributions,
epochs, noise, the accuracy rules, the validation grid, overrides, determinism, and that trial
generation is vectorised (its program does not grow with the batch or the trial length)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import rnnlang.dsl as dsl
from rnnlang.compiler.lower import compile_model
from rnnlang.compiler.nodes import IMPLS
from rnnlang.dsl.library import REGISTRY
from rnnlang.compiler.nodes.api import NodeConfig
from rnnlang.compiler.nodes.declared import DeclaredTaskImpl, first_crossing, psychrnn_correct, psychrnn_scale
from rnnlang.dsl.model import Distribution

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "tasks"
SIGNALS = ("input", "target", "mask")


def declared(name: str) -> DeclaredTaskImpl:
    cm, graph = dsl.load(EXAMPLES / f"{name}.rnn")
    task = compile_model(cm, graph).task
    assert isinstance(task, DeclaredTaskImpl)
    return task


def builtin(kind: str, dt: float = 10.0, steps: int = 200, **params):
    """A task of the standard library, as the registry has it."""
    k = REGISTRY[kind]
    full = {p.name: p.default for p in k.params}
    full.update(params)
    return IMPLS[kind](NodeConfig("task", full, {}, {}, dt, steps, 100.0))


def task_from(body: str, dt: float = 10.0, steps: int = 100, **params) -> DeclaredTaskImpl:
    """A declared task from a body (channels in, out unless the body declares them)."""
    if "inputs" not in body:
        body = "inputs = [x]  outputs = [y]\n" + body
    cm, _ = dsl.load_source(f"model {{ dt = {dt}  steps = {steps} }}\nnode task = task {{\n{body}\n}}\n")
    node = cm.nodes["task"]
    return DeclaredTaskImpl(NodeConfig("task", {**node.params, **params}, {}, {}, dt, steps))


def key(i: int) -> jax.Array:
    return jr.PRNGKey(i)


def assert_same_signals(a, b) -> None:
    for s in SIGNALS:
        np.testing.assert_array_equal(np.asarray(a["signals"][s]), np.asarray(b["signals"][s]), err_msg=s)


# ---- PsychRNN's tasks, declared: the same trials as the built-in kinds ---------------------------

B = 256


def test_perceptual_discrimination_exact_for_the_same_draws():
    b, d = builtin("perceptual_discrimination"), declared("perceptual_discrimination")
    normals = jr.normal(key(7), (B, 200, 2), jnp.float32)
    ref = b.make(key(3), B, normals=normals)
    v = ref["vars"]
    given = {"coherence": v["coherence"], "direction": v["direction"], "onset": v["onset"], "stim": v["stimulus_duration"]}
    got = d.make(key(99), B, given=given, normals=normals)
    assert_same_signals(ref, got)
    np.testing.assert_array_equal(got["vars"]["signed_coherence"], v["signed_coherence"])


def test_delayed_discrimination_exact_for_the_same_draws():
    b, d = builtin("delayed_discrimination"), declared("delayed_discrimination")
    normals = jr.normal(key(8), (B, 200, 2), jnp.float32)
    ref = b.make(key(4), B, normals=normals)
    names = ("pair", "order", "fixation", "stim1", "delay", "stim2", "decision")
    got = d.make(key(99), B, given={n: ref["vars"][n] for n in names}, normals=normals)
    assert_same_signals(ref, got)
    for name in ("f1", "f2", "choice", "pair", "order"):
        np.testing.assert_array_equal(got["vars"][name], ref["vars"][name], err_msg=name)


def test_match_to_category_exact_for_the_same_draws():
    b, d = builtin("match_to_category", n_in=16, n_out=2), declared("match_to_category")
    normals = jr.normal(key(9), (B, 200, 16), jnp.float32)
    ref = b.make(key(5), B, normals=normals)
    got = d.make(key(99), B, given={"angle": ref["vars"]["angle"]}, normals=normals)
    assert_same_signals(ref, got)
    np.testing.assert_array_equal(got["vars"]["category"], ref["vars"]["category"])


@pytest.mark.parametrize("name, kind, grid", [
    ("perceptual_discrimination", "perceptual_discrimination", ("coherence", "direction")),
    ("delayed_discrimination", "delayed_discrimination", ("pair", "order")),
    ("match_to_category", "match_to_category", ("angle",)),
])
def test_validation_sets_match(name: str, kind: str, grid: tuple[str, ...]):
    b, d = builtin(kind), declared(name)
    ref, got = b.validation(key(0)), d.validation(key(0))
    assert got["signals"]["input"].shape == ref["signals"]["input"].shape
    for var in grid:
        np.testing.assert_array_equal(np.asarray(got["vars"][var]), np.asarray(ref["vars"][var]), err_msg=var)


def _stats(x) -> tuple[float, float, float, float]:
    x = np.asarray(x, float)
    return x.mean(), x.std(), x.min(), x.max()


N = 8192


def _draws(name: str, kind: str, **params):
    return builtin(kind, **params).trials(key(11), N), declared(name).trials(key(12), N)


def _close_distribution(a, b, values=None, tol: float = 0.03) -> None:
    """Two samples from one distribution: equal frequencies over `values`, else close moments
    and a small Kolmogorov-Smirnov distance."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if values is not None:
        for v in values:
            assert abs(np.mean(np.isclose(a, v)) - np.mean(np.isclose(b, v))) < tol, v
        assert np.all(np.isin(np.round(b, 5), np.round(values, 5)))
        return
    grid = np.sort(np.concatenate([a, b]))
    ks = np.max(np.abs(np.searchsorted(np.sort(a), grid, "right") / a.size - np.searchsorted(np.sort(b), grid, "right") / b.size))
    assert ks < tol, ks


def test_perceptual_discrimination_same_distributions():
    ref, got = _draws("perceptual_discrimination", "perceptual_discrimination")
    rv, gv = ref["vars"], got["vars"]
    _close_distribution(rv["coherence"], gv["coherence"], [0.1, 0.3, 0.5, 0.7])
    _close_distribution(rv["direction"], gv["direction"], [0, 1])
    _close_distribution(rv["onset"], gv["onset"])
    _close_distribution(rv["stimulus_duration"], gv["stim"])
    assert 0 <= gv["onset"].min() and gv["onset"].max() < 1000 and 250 <= gv["stim"].min() and gv["stim"].max() < 750
    for s in SIGNALS:
        m_ref, m_got = float(jnp.mean(ref["signals"][s])), float(jnp.mean(got["signals"][s]))
        assert abs(m_ref - m_got) < 0.02 * max(1.0, abs(m_ref)), s


def test_delayed_discrimination_same_distributions():
    ref, got = _draws("delayed_discrimination", "delayed_discrimination")
    rv, gv = ref["vars"], got["vars"]
    _close_distribution(rv["pair"], gv["pair"], range(5))
    _close_distribution(rv["order"], gv["order"], [0, 1])
    _close_distribution(rv["choice"], gv["choice"], [0, 1])
    _close_distribution(rv["f1"], gv["f1"], [10, 14, 18, 22, 26, 30, 34])
    ends = np.cumsum(np.stack([gv[n] for n in ("fixation", "stim1", "delay", "stim2", "decision")], -1), -1)
    for i, name in enumerate(("stim1_on", "delay_on", "stim2_on", "decision_on", "end")):
        _close_distribution(rv[name], ends[:, i])
    for s in SIGNALS:
        assert abs(float(jnp.mean(ref["signals"][s])) - float(jnp.mean(got["signals"][s]))) < 0.01, s


def test_match_to_category_same_distributions():
    ref, got = _draws("match_to_category", "match_to_category", n_in=16, n_out=2)
    _close_distribution(ref["vars"]["angle"], got["vars"]["angle"])
    _close_distribution(ref["vars"]["category"], got["vars"]["category"], [0, 1])
    for s in SIGNALS:
        np.testing.assert_allclose(np.mean(np.asarray(ref["signals"][s]), axis=(0,)),
                                   np.mean(np.asarray(got["signals"][s]), axis=(0,)), atol=0.03, err_msg=s)


def test_input_noise_matches_psychrnn():
    d = declared("perceptual_discrimination")
    trial = d.trials(key(1), 512)
    x, mask = np.asarray(trial["signals"]["input"]), np.asarray(trial["signals"]["mask"])
    v = trial["vars"]
    t = np.arange(200) * 10.0
    off = (t[None, :] < np.asarray(v["onset"])[:, None] - 10.0)  # a step before the stimulus: noise only
    noise = x[off]
    expected = float(psychrnn_scale(10.0)) * 0.1  # sqrt(2 * 0.01 * sqrt(10) * sqrt(dt)) * stim_noise
    assert abs(noise.std() - expected) < 0.01 * expected and abs(noise.mean()) < 0.01
    assert mask.sum() > 0


# ---- metrics ---------------------------------------------------------------------------------


def test_max_masked_mean_is_psychrnns_rule():
    d = declared("perceptual_discrimination")
    trial = d.validation(key(0))
    target, mask = trial["signals"]["target"], trial["signals"]["mask"]
    assert float(jnp.mean(d.metrics({"response": target}, trial)["correct"])) == 1.0
    flipped = target[..., ::-1]
    m = d.metrics({"response": flipped}, trial)
    assert float(jnp.mean(m["correct"])) == 0.0
    noisy = target + jr.normal(key(2), target.shape)
    np.testing.assert_array_equal(d.metrics({"response": noisy}, trial)["correct"], psychrnn_correct(noisy, target, mask))


def test_custom_accuracy_context_dependent_decision():
    d = declared("context_dependent_decision")
    trial = d.validation(key(0))
    target = trial["signals"]["target"]
    assert trial["signals"]["input"].shape[0] == 72  # 2 contexts x 6 x 6 coherences
    assert float(jnp.mean(d.metrics({"response": target}, trial)["correct"])) == 1.0
    assert float(jnp.mean(d.metrics({"response": target[..., ::-1]}, trial)["correct"])) == 0.0
    v = trial["vars"]
    relevant = np.where(np.asarray(v["context"]) == 0, v["motion_coherence"], v["color_coherence"])
    np.testing.assert_array_equal(v["signed_coherence"], relevant)
    np.testing.assert_array_equal(v["direction"], np.where(relevant > 0, 0, 1))


def test_crossing_accuracy_ready_set_go():
    d = declared("ready_set_go")
    trial = d.validation(key(0))
    target = trial["signals"]["target"]
    v = trial["vars"]
    assert float(jnp.mean(d.metrics({"response": target}, trial)["correct"])) == 1.0
    # answering a quarter of the interval late is wrong; one step (20 ms) late is right
    late = jnp.concatenate([jnp.zeros_like(target[:, :1]), target[:, :-1]], axis=1)
    assert float(jnp.mean(d.metrics({"response": late}, trial)["correct"])) == 1.0
    shift = int(0.25 * 800 / 20)
    very_late = jnp.concatenate([jnp.zeros_like(target[:, :shift]), target[:, :-shift]], axis=1)
    assert float(jnp.mean(d.metrics({"response": very_late}, trial)["correct"])) == 0.0
    # the target reaches 0.9 at set + 0.9 interval
    crossing = first_crossing(target, trial["signals"]["mask"], 0.9, 20.0)[:, 0]
    np.testing.assert_allclose(crossing, np.asarray(v["set_at"] + 0.9 * v["interval"]), atol=20.0)


def test_threshold_rule():
    task = task_from("""
      onset ~ uniform(100, 300)
      epoch go from onset to duration { y = 1  mask = 1 }
      epoch before from 0 to onset { mask = 1 }
      accuracy = threshold(0.5, 30)
    """, steps=50)
    trial = task.trials(key(0), 64)
    target = trial["signals"]["target"]
    assert float(jnp.mean(task.metrics({"response": target}, trial)["correct"])) == 1.0
    shifted = jnp.concatenate([jnp.zeros_like(target[:, :5]), target[:, :-5]], axis=1)  # 50 late
    assert float(jnp.mean(task.metrics({"response": shifted}, trial)["correct"])) == 0.0
    never = jnp.zeros_like(target)
    assert float(jnp.mean(task.metrics({"response": never}, trial)["correct"])) == 0.0


# ---- semantics ---------------------------------------------------------------------------------


def test_trials_are_deterministic_and_jittable():
    d = declared("delayed_discrimination")
    fn = jax.jit(lambda k: d.trials(k, 32))
    a, b, c = fn(key(7)), fn(key(7)), fn(key(8))
    assert_same_signals(a, b)
    eager = d.trials(key(7), 32)  # the same trials outside jit (to float32 rounding: XLA fuses differently)
    for s in SIGNALS:
        np.testing.assert_allclose(np.asarray(eager["signals"][s]), np.asarray(a["signals"][s]), atol=1e-6)
    assert not np.array_equal(np.asarray(a["signals"]["input"]), np.asarray(c["signals"]["input"]))
    v1, v2 = d.validation(key(1)), d.validation(key(1))
    assert_same_signals(v1, v2)


def _equations(fn, *args) -> int:
    return len(jax.make_jaxpr(fn)(*args).jaxpr.eqns)


def test_trial_generation_is_vectorised():
    """No Python loop over trials or time steps: the traced program has the same size for any
    batch and any trial length."""
    body = ("inputs = [a, ring[4]]  outputs = [y]  c ~ choice(0.1, 0.5)  o ~ uniform(0, 50)\n"
            "noise = 0.1\n epoch s from o for 20 { a = c * t  ring = onehot(1, 4) }\n epoch r to duration { y = elapsed  mask = 1 }")
    short, long = task_from(body, steps=20), task_from(body, steps=400)
    n8 = _equations(lambda k: short.trials(k, 8), key(0))
    assert n8 == _equations(lambda k: short.trials(k, 512), key(0)) == _equations(lambda k: long.trials(k, 8), key(0))


def test_adding_a_variable_keeps_the_others_draws():
    a = task_from("c ~ uniform(0, 1)\n d ~ normal(0, 1)")
    b = task_from("c ~ uniform(0, 1)\n e ~ uniform(5, 6)\n d ~ normal(0, 1)")
    ta, tb = a.trials(key(0), 16), b.trials(key(0), 16)
    for v in ("c", "d"):
        np.testing.assert_array_equal(ta["vars"][v], tb["vars"][v])


def test_distributions():
    task = task_from("""
      u ~ uniform(2, 4)
      n ~ normal(1, 2)
      i ~ integer(3, 6)
      c ~ choice(0.5, 1.5, 2.5)
      ci ~ choice(1, 2)
      e ~ exponential(3)
      b ~ bernoulli(0.25)
      tn ~ truncated(normal(0, 1), -0.5, 1)
      te ~ truncated(exponential(10), 5, 8)
      dep ~ uniform(0, u)
    """)
    v = {k: np.asarray(x) for k, x in task.trials(key(0), 20000)["vars"].items()}
    assert v["u"].dtype == np.float32 and v["i"].dtype == np.int32 and v["b"].dtype == np.bool_ and v["ci"].dtype == np.int32
    assert 2 <= v["u"].min() and v["u"].max() < 4 and abs(v["u"].mean() - 3) < 0.02
    assert abs(v["n"].mean() - 1) < 0.05 and abs(v["n"].std() - 2) < 0.05
    assert set(np.unique(v["i"])) == {3, 4, 5}
    assert set(np.unique(v["c"]).tolist()) == {0.5, 1.5, 2.5} and set(np.unique(v["ci"]).tolist()) == {1, 2}
    assert abs(v["e"].mean() - 3) < 0.1 and v["e"].min() >= 0
    assert abs(v["b"].mean() - 0.25) < 0.01
    assert -0.5 <= v["tn"].min() and v["tn"].max() <= 1 and abs(v["tn"].mean() - 0.2) < 0.05
    assert 5 <= v["te"].min() and v["te"].max() <= 8 and 6 < v["te"].mean() < 6.5
    assert np.all((0 <= v["dep"]) & (v["dep"] < v["u"]))


def test_epochs_in_sequence_and_at_times():
    task = task_from("""
      inputs = [a, b, ring[3]]  outputs = [y, z]
      d ~ uniform(20, 40)
      epoch one for d { a = 1 }
      epoch two for 30 { b = elapsed  ring[2] = t1 - t0 }
      epoch three from 50 to 60 { ring = [1, 2, 3] }
      epoch four from 55 { target = [t, -1]  mask[1] = 1 }
    """, dt=1.0, steps=100)
    trial = task.trials(key(0), 8)
    x, y, m = (np.asarray(trial["signals"][s]) for s in SIGNALS)
    d = np.asarray(trial["vars"]["d"])
    t = np.arange(100.0)
    for i in range(8):
        one = t < d[i]
        two = (t >= d[i]) & (t < d[i] + 30)
        np.testing.assert_array_equal(x[i, :, 0], one.astype(float))
        np.testing.assert_allclose(x[i, :, 1], np.where(two, t - d[i], 0), atol=1e-4)
        np.testing.assert_allclose(x[i, :, 4], np.where((t >= 50) & (t < 60), 3, np.where(two, 30, 0)), atol=1e-4)
        np.testing.assert_array_equal(x[i, :, 2], np.where((t >= 50) & (t < 60), 1, 0))
        np.testing.assert_array_equal(y[i, :, 0], np.where(t >= 55, t, 0))
        np.testing.assert_array_equal(y[i, :, 1], np.where(t >= 55, -1, 0))
        np.testing.assert_array_equal(m[i], np.stack([np.zeros(100), (t >= 55).astype(float)], -1))


def test_later_epochs_override_earlier_ones():
    task = task_from("epoch all from 0 to duration { x = 1 }\n epoch mid from 30 to 60 { x = 2 }", dt=1.0)
    x = np.asarray(task.trials(key(0), 2)["signals"]["input"])[0, :, 0]
    t = np.arange(100)
    np.testing.assert_array_equal(x, np.where((t >= 30) & (t < 60), 2, 1))


def test_noise_forms():
    body = "inputs = [a, b]  outputs = [y]\n noise = {}\n"
    plain = task_from(body.format("0.5"))
    per_channel = task_from(body.format("[0.0, 2.0]"))
    scaled = task_from(body.format("0.5 scaled"))
    none = task_from("inputs = [a, b]  outputs = [y]")
    x = np.asarray(plain.trials(key(0), 200)["signals"]["input"])
    assert abs(x.std() - 0.5) < 0.01
    x = np.asarray(per_channel.trials(key(0), 200)["signals"]["input"])
    assert x[..., 0].std() == 0 and abs(x[..., 1].std() - 2) < 0.05
    x = np.asarray(scaled.trials(key(0), 200)["signals"]["input"])
    assert abs(x.std() - float(psychrnn_scale(10.0)) * 0.5) < 0.01
    assert np.all(np.asarray(none.trials(key(0), 4)["signals"]["input"]) == 0)


def test_validation_grid_repeats_to_its_trials():
    task = task_from("c ~ choice(1, 2, 3)\n d ~ integer(0, 2)\n e ~ uniform(0, 1)\n validation grid { c = [1, 2, 3]  d = [0, 1]  trials = 20 }")
    v = task.validation(key(0))["vars"]
    assert v["c"].shape == (24,)
    np.testing.assert_array_equal(v["c"][:6], [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(v["d"][:6], [0, 1, 0, 1, 0, 1])
    assert len(np.unique(np.asarray(v["e"]))) == 24  # the others are drawn
    no_grid = task_from("c ~ uniform(0, 1)")
    assert no_grid.validation(key(0))["vars"]["c"].shape == (256,)


def test_overrides_fix_or_redraw_variables():
    task = task_from("c ~ choice(0.1, 0.5)\n s = c * 2\n epoch e for 10 { x = c }")
    v = task.trials(key(0), 64, {"c": 0.7})["vars"]
    np.testing.assert_allclose(v["c"], 0.7) and np.testing.assert_allclose(v["s"], 1.4)
    v = task.trials(key(0), 512, {"c": Distribution("uniform", (2.0, 3.0), None)})["vars"]
    assert 2 <= float(v["c"].min()) and float(v["c"].max()) < 3
    with pytest.raises(ValueError, match="unknown task variable"):
        task.trials(key(0), 4, {"nope": 1.0})
    fixed = task_from("c ~ choice(0.1, 0.5)", c=0.3)  # `--set task.c=0.3`
    np.testing.assert_allclose(fixed.trials(key(0), 8)["vars"]["c"], 0.3)
    np.testing.assert_allclose(fixed.validation(key(0))["vars"]["c"], 0.3)


def test_vector_variables_are_kept_per_trial():
    d = declared("match_to_category")
    v = d.trials(key(0), 8)["vars"]
    assert v["wrapped"].shape == (8, 16) and v["angle"].shape == (8,)
    assert float(jnp.max(jnp.abs(v["wrapped"]))) <= np.pi + 1e-6


def test_a_declared_task_trains_a_model_step():
    """The model compiles with a declared task, and its loss and gradient are finite."""
    from rnnlang.runtime.tasks import train_batch, validation_batch

    cm, graph = dsl.load(EXAMPLES / "ready_set_go.rnn")
    model = compile_model(cm, graph)
    params = model.init(key(0))
    trial = train_batch(model, key(1), 4)
    out = model.rollout(params, trial, key(2), ["net.output"])
    assert out["net.output"].shape == (4, 120, 1) and bool(jnp.all(jnp.isfinite(out["net.output"])))
    val = validation_batch(model, key(3))
    assert val["signals"]["target"].shape == (65, 120, 1)
