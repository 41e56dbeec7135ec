"""benchmarks/ceiling.py: the floor's hand-written backward loop is the gradient of its forward
loop (so the floor does the work it claims, no less), and the report reads its measurements."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("rnnlang_bench_ceiling", ROOT / "benchmarks" / "ceiling.py")
ceiling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ceiling)


@pytest.mark.parametrize("gates", [1, 3])
def test_the_floor_gradient_is_autodiff_of_its_forward_loop(gates):
    import jax
    import jax.numpy as jnp
    import jax.random as jr

    H, n_in, T, b = 5, 3, 7, 4
    W = 0.5 * jr.normal(jr.PRNGKey(0), (n_in + H, gates * H))
    xs = jr.normal(jr.PRNGKey(1), (T, b, n_in))

    def loss(W):
        def f(h, x):
            z = jnp.concatenate([x, h], -1) @ W
            if gates == 1:
                return jnp.tanh(z), None
            return jnp.tanh(z[:, :H]) * jax.nn.sigmoid(z[:, H:2 * H]) + z[:, 2 * H:] * h, None

        hT, _ = jax.lax.scan(f, jnp.zeros((b, H)), xs)
        return 0.5 * jnp.sum(hT * hT) / b

    want = jax.grad(loss)(W)
    got = ceiling.floor_gradient(W, xs, H, n_in, gates)
    assert float(jnp.max(jnp.abs(want))) > 1e-3  # not a vacuous comparison
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-6)


def test_report_reads_the_measurements():
    r = {"workload": "R", "rnnlang_step_ms": 54.5, "handwritten_step_ms": 49.7, "floor_step_ms": 28.4,
         "rnnlang_vs_handwritten": 49.7 / 54.5, "floor_vs_handwritten": 49.7 / 28.4,
         "rnnlang_kernels_per_time_step": {"forward": 27, "backward": 31}, "rnnlang_us_per_kernel": 9.49,
         "kernel_us": 1.25, "product_us": 47.7, "product_gflops_per_core": 46.0, "peak_gflops_per_core": 54.0}
    row = ceiling.report([r]).splitlines()[2]
    assert row == "| R | 54.50 | 49.70 | 28.40 | 0.91x | 1.75x | 27 + 31 | 9.49 | 1.25 | 47.70 (46) | 54 |"


def test_one_gate_product_is_the_same_gru():
    """The hand-written reach with one product of [input, state] by all gate weights computes the
    same loss as with the GRU's two products (what `ceiling.py --workloads gates` compares)."""
    import handwritten  # benchmarks/, on the path once ceiling.py is loaded
    import jax.random as jr

    two, one = handwritten.Reach(k=1, batch=4, steps=7), handwritten.Reach(k=1, batch=4, steps=7, one_gate_product=True)
    params, trial = two.init_one(jr.PRNGKey(0)), two.trials(jr.PRNGKey(1), 4)
    a, b = float(two.loss_one(params, trial, None)), float(one.loss_one(params, trial, None))
    assert a > 0 and abs(a - b) <= 1e-6 * abs(a)


def test_workloads_and_round_ratios():
    assert ceiling._s_config("S:128x5") == (128, 5)
    for bad in ("S:12", "S:ax5", "S:0x5"):
        with pytest.raises(ValueError, match="S:"):
            ceiling._s_config(bad)
    # seconds per unit, in turn: base 2 s and 1 s, other 1 s each -> 2x and 1x faster
    assert ceiling._paired([2.0, 1.0, 3.0], [1.0, 1.0, 1.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    with pytest.raises(SystemExit):
        ceiling.main(["--workloads", "Q"])
