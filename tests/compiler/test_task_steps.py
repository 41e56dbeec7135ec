"""Per-step events and holds in JAX: draws at every step (their rate, their independence across
steps and channels), holds against a NumPy loop, determinism per key, the time in per-step
arguments, and the 3-bit flip-flop example (its trials and its metric; trained in a slow test)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import rnnlang.dsl as dsl
from rnnlang.compiler.lower import compile_model
from rnnlang.compiler.nodes.api import NodeConfig
from rnnlang.compiler.nodes.declared import DeclaredTaskImpl
from rnnlang.dsl import tasklang as TL
from rnnlang.dsl.tasklang.steps import numpy_scan, run_hold

REPO = Path(__file__).resolve().parents[2]
FLIP_FLOP = REPO / "examples" / "flip_flop.rnn"


def task_from(body: str, dt: float = 10.0, steps: int = 200) -> DeclaredTaskImpl:
    if "inputs" not in body:
        body = "inputs = [x[3]]  outputs = [y[3]]\n" + body
    cm, _ = dsl.load_source(f"model {{ dt = {dt}  steps = {steps} }}\nnode task = task {{\n{body}\n}}\n")
    return DeclaredTaskImpl(NodeConfig("task", dict(cm.nodes["task"].params), {}, {}, dt, steps))


def trials(task: DeclaredTaskImpl, batch: int, seed: int = 0):
    return jax.jit(lambda k: task.trials(k, batch))(jr.PRNGKey(seed))


def loop_hold(flip: np.ndarray, sign: np.ndarray, start: float = 0.0) -> np.ndarray:
    """The flip-flop's hold as a plain loop: the sign of the last pulse (start before the first)."""
    out = np.zeros(flip.shape)
    prev = np.full(flip[:, 0].shape, start)
    for k in range(flip.shape[1]):
        prev = np.where(flip[:, k], sign[:, k], prev)
        out[:, k] = prev
    return out


@pytest.fixture(scope="module")
def pulses():
    task = task_from("""
      flip[3] ~ bernoulli(0.02) each step
      sign[3] ~ choice(-1, 1) each step
      hold memory = if flip then sign else previous, from 0
      hold count = if any(flip) then 0 else previous + 1, from 0
      epoch all { x = if flip then sign else 0  y = memory  mask = 1 }
    """)
    return task, trials(task, 512)


def test_per_step_draws_have_the_rate_asked(pulses):
    _, tr = pulses
    flip, sign = np.asarray(tr["vars"]["flip"]), np.asarray(tr["vars"]["sign"])
    assert flip.shape == (512, 200, 3) and flip.dtype == np.bool_
    n = flip.size  # 307,200 draws: the rate's std is about 2.5e-4
    assert abs(flip.mean() - 0.02) < 0.0015
    for c in range(3):  # each channel on its own, and no channel copies another
        assert abs(flip[..., c].mean() - 0.02) < 0.003
    assert abs(np.mean(flip[..., 0] & flip[..., 1]) - 0.02 ** 2) < 2e-4
    assert abs(np.mean(flip[:, 1:] & flip[:, :-1]) - 0.02 ** 2) < 2e-4  # steps are independent
    assert set(np.unique(sign)) == {-1, 1} and abs(sign.mean()) < 4 / np.sqrt(n)


def test_holds_match_a_loop(pulses):
    _, tr = pulses
    v = {k: np.asarray(x) for k, x in tr["vars"].items()}
    np.testing.assert_array_equal(v["memory"], loop_hold(v["flip"], v["sign"]))
    count = np.zeros((512, 200, 1))
    prev = np.zeros((512, 1))
    for k in range(200):
        prev = np.where(v["flip"][:, k].any(-1, keepdims=True), 0, prev + 1)
        count[:, k] = prev
    np.testing.assert_array_equal(v["count"], count)
    sig = {k: np.asarray(x) for k, x in tr["signals"].items()}
    np.testing.assert_array_equal(sig["input"], np.where(v["flip"], v["sign"], 0))
    np.testing.assert_array_equal(sig["target"], v["memory"])


def test_jax_and_numpy_holds_agree():
    """One definition of a hold: the compiler's (lax.scan) and the checker's (a loop) give the same."""
    body = "f[2] ~ bernoulli(0.3) each step\nhold h = if f then previous * 0.5 + t else previous - 1, from 3"
    spec = task_from("inputs = [x]  outputs = [y]\n" + body, steps=40).spec
    var = next(v for v in spec.variables if v.name == "h")
    f = np.random.default_rng(1).uniform(size=(8, 40, 2)) < 0.3
    env = {**TL.constants(10.0, 40), "f": f}
    a = run_hold(var, env, {"f"}, np, 8, 40, 10.0, numpy_scan)
    b = run_hold(var, {**env, "f": jnp.asarray(f)}, {"f"}, jnp, 8, 40, 10.0, jax.lax.scan)
    np.testing.assert_allclose(a, np.asarray(b), rtol=1e-6)
    ref = np.zeros((8, 40, 2))
    prev = np.full((8, 2), 3.0)
    for k in range(40):
        prev = np.where(f[:, k], prev * 0.5 + k * 10.0, prev - 1)
        ref[:, k] = prev
    np.testing.assert_allclose(a, ref, rtol=1e-6)


def test_per_step_draws_are_deterministic_per_key(pulses):
    task, tr = pulses
    again = trials(task, 512)
    for k in tr["vars"]:
        np.testing.assert_array_equal(np.asarray(tr["vars"][k]), np.asarray(again["vars"][k]))
    other = trials(task, 512, seed=1)
    assert not np.array_equal(np.asarray(tr["vars"]["flip"]), np.asarray(other["vars"]["flip"]))


def test_each_variable_has_its_own_key(pulses):
    """Adding a variable (per step or per trial) leaves the others' draws unchanged."""
    task, tr = pulses
    more = task_from("""
      extra ~ uniform(0, 1) each step
      flip[3] ~ bernoulli(0.02) each step
      coin ~ bernoulli(0.5)
      sign[3] ~ choice(-1, 1) each step
      hold memory = if flip then sign else previous, from 0
      epoch all { y = memory }
    """)
    tr2 = trials(more, 512)
    for k in ("flip", "sign", "memory"):
        np.testing.assert_array_equal(np.asarray(tr["vars"][k]), np.asarray(tr2["vars"][k]))


def test_per_step_arguments_read_the_time_and_trial_variables():
    task = task_from("""
      rate ~ choice(0.05, 0.2)
      early ~ bernoulli(if t < 1000 then rate else 0) each step
      epoch all { x[0] = if early then 1 else 0 }
    """)
    tr = trials(task, 1024)
    early, rate = np.asarray(tr["vars"]["early"])[..., 0], np.asarray(tr["vars"]["rate"])
    assert early.shape == (1024, 200) and not early[:, 100:].any()
    for r in (0.05, 0.2):
        assert abs(early[rate == r, :100].mean() - r) < 0.02


def test_sized_draw_per_trial():
    task = task_from("v[3] ~ normal(0, 1)\nepoch all { x = v }")
    tr = trials(task, 4096)
    v = np.asarray(tr["vars"]["v"])
    assert v.shape == (4096, 3) and abs(v.std() - 1) < 0.05
    assert abs(np.corrcoef(v[:, 0], v[:, 1])[0, 1]) < 0.06
    np.testing.assert_array_equal(np.asarray(tr["signals"]["input"]), np.broadcast_to(v[:, None, :], (4096, 200, 3)))


def test_trial_generation_stays_vectorised():
    """A hold is one scan: the program does not grow with the batch or the trial length."""
    def size(batch: int, steps: int) -> int:
        task = task_from("f[3] ~ bernoulli(0.1) each step\nhold h = if f then 1 else previous, from 0\n"
                         "epoch all { y = h }", steps=steps)
        return len(jax.make_jaxpr(lambda k: task.trials(k, batch))(jr.PRNGKey(0)).jaxpr.eqns)
    assert size(4, 50) == size(64, 50) == size(4, 400)


# ---- the 3-bit flip-flop ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flip_flop():
    cm, graph = dsl.load(FLIP_FLOP)
    return cm, compile_model(cm, graph)


def test_flip_flop_makes_trials(flip_flop):
    cm, model = flip_flop
    assert cm.steps == 100 and model.task is not None
    tr = jax.jit(lambda k: model.task.trials(k, 64))(jr.PRNGKey(3))
    v = {k: np.asarray(x) for k, x in tr["vars"].items()}
    sig = {k: np.asarray(x) for k, x in tr["signals"].items()}
    np.testing.assert_array_equal(sig["input"], np.where(v["flip"], v["sign"], 0))
    np.testing.assert_array_equal(sig["target"], loop_hold(v["flip"], v["sign"]))
    np.testing.assert_array_equal(sig["mask"], (sig["target"] != 0).astype(np.float32))
    assert set(np.unique(sig["target"])) == {-1.0, 0.0, 1.0}
    val = model.task.validation(jr.PRNGKey(4))
    assert np.asarray(val["signals"]["target"]).shape == (256, 100, 3)


def test_flip_flop_metric(flip_flop):
    """step_accuracy: the fraction of scored steps where the output has the target's sign."""
    _, model = flip_flop
    tr = model.task.trials(jr.PRNGKey(5), 32)
    target, mask = np.asarray(tr["signals"]["target"]), np.asarray(tr["signals"]["mask"])
    score = lambda resp: np.asarray(model.task.metrics({"response": jnp.asarray(resp)}, tr)["step_accuracy"])  # noqa: E731
    np.testing.assert_allclose(score(0.7 * target), 1.0)
    np.testing.assert_allclose(score(-target), 0.0)
    resp = np.where(np.arange(100)[None, :, None] < 50, target, -target)
    expected = np.sum(mask[:, :50], axis=(1, 2)) / np.maximum(np.sum(mask, axis=(1, 2)), 1)
    np.testing.assert_allclose(score(resp), expected, rtol=1e-6)


@pytest.mark.slow
def test_flip_flop_trains(tmp_path):
    """The example, trained as examples/README.md says, holds >= 95% of its scored steps."""
    from rnnlang.runtime.cli import main
    out = tmp_path / "run"
    assert main(["train", str(FLIP_FLOP), "--out", str(out), "--quiet", "--no-plots"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r.get("phase") == "validate"][-1]
    assert last["metrics"]["step_accuracy"] >= 0.95
