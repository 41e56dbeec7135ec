"""How fast could a training step of R or P be on this machine? Measured floors beside the real steps.

    python benchmarks/ceiling.py [--workloads R,P] [--rounds 5] [--k 20] [--out FILE]

Everything runs in one process with one JAX CPU device per core, the batch split over them as
`rnn train` and the hand-written loop split it, and the variants are timed in turn, A B C A B C
..., `rounds` times (medians reported). Per workload:

- **rnnlang**: the example's training program (`Trainer.chunk_fn`, K steps per dispatch), with its
  kernels per time step counted as `rnn ops` counts them;
- **hand-written**: the speed reference of benchmarks/handwritten.py;
- **floor**: the smallest kernel structure a recurrent training step can have on this backend: a
  recurrence with the model's product sizes, where each time step is one product of
  [input, state] with all gate weights and one fused elementwise kernel forward, and one product
  and one fused elementwise kernel backward (written by hand, no autodiff), the weight gradient
  formed after the loop as one large product, then Adam. It computes no task, plant or loss: it is
  what is left when every elementwise operation of a step (gates, plant, readout, loss, noise)
  costs nothing beyond one kernel;
- **kernel**: one elementwise kernel on the (trials per device, units) state per loop iteration
  (the cost of a kernel and of the loop around it);
- **product**: one product of the step's recurrent size per loop iteration, chained through the
  loop (its GFLOP/s is the ceiling for that product size), and a 1024^3 product per core (the
  machine's ceiling for large products).

`S:UNITSxREPLICATES` (e.g. `--workloads S:128x5,S:512x1`) times P's ctrnn at that size with
replicates: rnnlang with each replicate drawing its own trials (its default), rnnlang with shared
trials (as the hand-written loop does) and the hand-written loop, and the ratios per round.

`gates` times the hand-written R loop with the GRU's two gate products (input, state) against one
product of [input, state] by all gate weights, whose zero block keeps the new gate's two terms apart.

Printed: markdown tables, and with --out the numbers as JSON. The speed-up over the hand-written
loop that any lowering could reach is bounded by hand-written / floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
EXAMPLES = {"R": REPO / "examples" / "point_mass_reach.rnn", "P": REPO / "examples" / "perceptual_discrimination.rnn"}
# per workload: batch, time steps, units, inputs to the cell, gate blocks, outputs
SHAPES = {"R": dict(batch=250, steps=99, hidden=50, inputs=8, gates=3, outputs=2),
          "P": dict(batch=128, steps=200, hidden=50, inputs=2, gates=1, outputs=2)}


def floor_gradient(W, xs, H: int, n_in: int, G: int):
    """The floor's gradient of 0.5 |h_T|^2 / trials with respect to W (n_in + H, G*H), for
    inputs xs (T, trials, n_in): the forward loop keeps its states, the backward loop is written
    by hand (one product and one elementwise kernel per step), the weight gradient is one product
    after it. G = 1: h' = tanh(z); G = 3: h' = tanh(z1) sigmoid(z2) + z3 h, z = [x, h] W."""
    import jax
    import jax.numpy as jnp

    T, b = xs.shape[0], xs.shape[1]

    # forward: one product and one elementwise fusion per step; states kept for the backward
    def f(h, x):
        z = jnp.concatenate([x, h], -1) @ W  # (b, G*H)
        h2 = jnp.tanh(z[:, :H]) if G == 1 else jnp.tanh(z[:, :H]) * jax.nn.sigmoid(z[:, H:2 * H]) + z[:, 2 * H:] * h
        return h2, (h, z)

    hT, (hs, zs) = jax.lax.scan(f, jnp.zeros((b, H)), xs)

    # backward by hand: one elementwise fusion and one product per step
    Wh = W[n_in:]  # (H, G*H)

    def g(dh, hz):
        h, z = hz
        t = jnp.tanh(z[:, :H])
        if G == 1:
            dz = dh * (1 - t * t)
            dprev = dz @ Wh.T
        else:
            s = jax.nn.sigmoid(z[:, H:2 * H])
            dz = jnp.concatenate([dh * s * (1 - t * t), dh * t * s * (1 - s), dh * h], -1)
            dprev = dz @ Wh.T + dh * z[:, 2 * H:]
        return dprev, dz

    _, dzs = jax.lax.scan(g, hT, (hs, zs), reverse=True)
    a = jnp.concatenate([xs, hs], -1).reshape(T * b, n_in + H)
    return a.T @ dzs.reshape(T * b, G * H) / b  # the weight gradient: one large product


def _floor_program(jax, shape: dict, k: int, ndev: int):
    """K training steps of the floor (module docstring), per device on its share of the batch."""
    import jax.numpy as jnp
    import jax.random as jr
    import optax
    from jax.sharding import Mesh, PartitionSpec as P

    b, T, H, n_in, G = shape["batch"] // ndev, shape["steps"], shape["hidden"], shape["inputs"], shape["gates"]
    opt = optax.adam(1e-3)

    def per_device(W, s, xs):
        def step(carry, _):
            W, s = carry
            g = jax.lax.pmean(floor_gradient(W, xs, H, n_in, G), "b")
            u, s = opt.update(g, s, W)
            return (optax.apply_updates(W, u), s), None

        (W, s), _ = jax.lax.scan(step, (W, s), None, length=k)
        return W, s

    mesh = Mesh(jax.devices()[:ndev], ("b",))
    fn = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P(), P(), P(None, "b")), out_specs=(P(), P()),
                               check_vma=False))
    W = 0.1 * jr.normal(jr.PRNGKey(0), (n_in + H, G * H))
    xs = jr.normal(jr.PRNGKey(1), (T, shape["batch"], n_in))
    state = [W, opt.init(W)]

    def run():
        state[0], state[1] = fn(state[0], state[1], xs)
        return state[0]

    return run, k


def _loop_program(jax, shape: dict, what: str, ndev: int, reps: int = 20):
    """`reps` loops of T iterations of one kernel: `kernel` (elementwise on the state) or `product`
    (state @ W of the recurrent product's size, chained)."""
    import jax.numpy as jnp
    import jax.random as jr
    from jax.sharding import Mesh, PartitionSpec as P

    b, T, H, n_in, G = shape["batch"] // ndev, shape["steps"], shape["hidden"], shape["inputs"], shape["gates"]

    def per_device(h, W):
        def body(h, _):
            if what == "kernel":
                return h * 0.999 + 1e-3, None
            z = h @ W  # (b, n_in + H) @ (n_in + H, G*H): the recurrent product's size
            return z[:, : n_in + H], None

        def rep(h, _):
            return jax.lax.scan(body, h, None, length=T)[0], None

        return jax.lax.scan(rep, h, None, length=reps)[0]

    mesh = Mesh(jax.devices()[:ndev], ("b",))
    fn = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P("b"), P()), out_specs=P("b"), check_vma=False))
    width = n_in + H
    W = jr.normal(jr.PRNGKey(0), (width, max(G * H, width))) / width ** 0.5
    h0 = [jr.normal(jr.PRNGKey(1), (shape["batch"], width))]

    def run():
        h0[0] = fn(h0[0], W)
        return h0[0]

    flops = 2 * b * width * G * H if what == "product" else 0
    return run, reps * T, flops


def _peak_program(jax, ndev: int, n: int = 1024, reps: int = 8):
    import jax.numpy as jnp
    import jax.random as jr
    from jax.sharding import Mesh, PartitionSpec as P

    def per_device(a, w):
        return jax.lax.scan(lambda a, _: ((a @ w) * (1.0 / n ** 0.5), None), a, None, length=reps)[0]

    mesh = Mesh(jax.devices()[:ndev], ("b",))
    fn = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P("b"), P()), out_specs=P("b"), check_vma=False))
    a = [jr.normal(jr.PRNGKey(0), (n * ndev, n))]
    w = jr.normal(jr.PRNGKey(1), (n, n))

    def run():
        a[0] = fn(a[0], w)
        return a[0]

    return run, reps, 2 * n ** 3


def _rnnlang_program(path: Path, k: int, overrides: list[str] = (), count_ops: bool = True):
    import jax

    from rnnlang.runtime.api import compile_model, load
    from rnnlang.runtime.opcount import training_step_ops
    from rnnlang.runtime.train import Trainer

    cm, graph = load(path, [*overrides, f"train.steps_per_dispatch={k}"])
    tr = Trainer(compile_model(cm, graph))
    st = tr.init_state()
    f = tr.chunk_fn(0)
    state = {"p": st.params, "o": st.opt_state, "start": 0}

    def run():
        p, o, losses, _ = f(state["p"], state["o"], state["start"], tr.k, tr.k_train)
        state.update(p=p, o=o, start=state["start"] + tr.k)
        return losses

    args = _shapes(st.params, st.opt_state)
    run.hlo = lambda: f.lower(*args, 0, tr.k, tr.k_train).compile().as_text()  # the optimised program
    ops = None
    if count_ops:  # as `rnn ops` counts them: a one-step program of its own
        cm1, g1 = load(path, [*overrides, "train.steps_per_dispatch=1"])
        ops = training_step_ops(Trainer(compile_model(cm1, g1)))
    jax.block_until_ready(run())
    return run, tr.k, ops


def _handwritten_program(name: str, k: int, **kw):
    import handwritten

    w = handwritten.WORKLOADS[name](k=k, **kw)
    params, opt_state = w.init(0)
    f = w.chunk_fn()
    state = {"p": params, "o": opt_state, "start": 0}

    def run():
        p, o, losses = f(state["p"], state["o"], state["start"])
        state.update(p=p, o=o, start=state["start"] + k)
        return losses

    args = _shapes(params, opt_state)
    run.hlo = lambda: f.lower(*args, 0).compile().as_text()
    return run, k


def _shapes(*trees):
    """Shapes, dtypes and placements of `trees`' arrays: what lowering a program needs, kept
    before the program's first call donates the arrays themselves."""
    import jax

    def shape(x):  # a placement over the devices is part of the program; one device's is not
        placed = isinstance(x.sharding, jax.sharding.NamedSharding)
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding if placed else None)

    return jax.tree_util.tree_map(shape, trees)


def interleave(programs: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds per unit of work of each program ({name: (run, units per call)}), one call of each
    in turn per round, after two untimed calls each (the compilation, then the first run after
    it, which is slower: benchmarks/run.py's warm-up)."""
    import jax

    times: dict[str, list[float]] = {n: [] for n in programs}
    for run, _ in programs.values():
        jax.block_until_ready(run())
        jax.block_until_ready(run())
    for _ in range(rounds):
        for name, (run, units) in programs.items():
            t = time.perf_counter()
            jax.block_until_ready(run())
            times[name].append((time.perf_counter() - t) / units)
    return times


def _paired(base: list[float], other: list[float]) -> dict[str, float]:
    """The speed of `other` over `base` round by round (their seconds per unit, in turn): median
    and range."""
    r = sorted(b / o for b, o in zip(base, other))
    return {"median": statistics.median(r), "min": r[0], "max": r[-1]}


def _s_config(config: str) -> tuple[int, int]:
    """`S:128x5` -> (128 units, 5 replicates); ValueError in words otherwise."""
    try:
        hidden, reps = (int(x) for x in config.split(":", 1)[1].split("x"))
    except (IndexError, ValueError):
        raise ValueError(f"{config!r}: write S:UNITSxREPLICATES, e.g. S:128x5") from None
    if hidden < 1 or reps < 1:
        raise ValueError(f"{config!r}: units and replicates are at least 1")
    return hidden, reps


def measure_s(config: str, rounds: int, k: int) -> dict:
    """S:UNITSxREPLICATES: rnnlang with each replicate drawing its own trials (its default), with
    the replicates sharing them (`train.replicate_trials = "shared"`, as the hand-written loop
    does), and the hand-written loop, in turn; ratios per round."""
    hidden, reps = _s_config(config)
    ov = [f"net.hidden={hidden}", f"train.replicates={reps}"]
    own, k_o, _ = _rnnlang_program(EXAMPLES["P"], k, ov, count_ops=False)
    shared, k_s, _ = _rnnlang_program(EXAMPLES["P"], k, ov + ['train.replicate_trials="shared"'], count_ops=False)
    hw, k_h = _handwritten_program("S", k, hidden=hidden, replicates=reps)
    times = interleave({"rnnlang": (own, k_o), "rnnlang-shared": (shared, k_s), "handwritten": (hw, k_h)}, rounds)
    out = {"workload": config, "rounds": rounds, "seconds_per_unit": times}
    for name in ("rnnlang", "rnnlang-shared"):
        out[f"{name}_vs_handwritten"] = _paired(times["handwritten"], times[name])
    out["step_ms"] = {n: 1e3 * statistics.median(v) for n, v in times.items()}
    return out


def report_s(results: list[dict]) -> str:
    lines = ["| configuration | rnnlang ms/step | rnnlang, shared trials, ms/step | hand-written ms/step | "
             "rnnlang / hand-written (per round: median, range) | shared trials / hand-written |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        ms, a, b = r["step_ms"], r["rnnlang_vs_handwritten"], r["rnnlang-shared_vs_handwritten"]
        lines.append(f"| {r['workload']} | {ms['rnnlang']:.1f} | {ms['rnnlang-shared']:.1f} | {ms['handwritten']:.1f} | "
                     f"{a['median']:.2f}x ({a['min']:.2f}-{a['max']:.2f}) | {b['median']:.2f}x ({b['min']:.2f}-{b['max']:.2f}) |")
    return "\n".join(lines)


def measure_gates(rounds: int, k: int) -> dict:
    """`gates`: the hand-written R loop with the GRU's two gate products (input, state) against one
    product of [input, state] by all gate weights (`Reach(one_gate_product=True)`), in turn."""
    split, k_s = _handwritten_program("R", k)
    one, k_o = _handwritten_program("R", k, one_gate_product=True)
    times = interleave({"two products": (split, k_s), "one product": (one, k_o)}, rounds)
    return {"workload": "gates", "rounds": rounds, "seconds_per_unit": times,
            "one_vs_two": _paired(times["two products"], times["one product"])}


def measure(workload: str, rounds: int, k: int) -> dict:
    from rnnlang.runtime.cli import _configure_jax

    _configure_jax()
    import jax

    if workload.startswith("S:"):
        return measure_s(workload, rounds, k)
    if workload == "gates":
        return measure_gates(rounds, k)
    ndev = len(jax.devices())
    shape = SHAPES[workload]
    rn, k_r, ops = _rnnlang_program(EXAMPLES[workload], k)
    hw, k_h = _handwritten_program(workload, k)
    fl, k_f = _floor_program(jax, shape, k, ndev)
    kern, n_kern, _ = _loop_program(jax, shape, "kernel", ndev)
    prod, n_prod, prod_flops = _loop_program(jax, shape, "product", ndev)
    peak, n_peak, peak_flops = _peak_program(jax, ndev)
    # per call: how many units of work it does (training steps, loop iterations, products)
    programs = {"rnnlang": (rn, k_r), "handwritten": (hw, k_h), "floor": (fl, k_f),
                "kernel": (kern, n_kern), "product": (prod, n_prod), "peak": (peak, n_peak)}
    times = interleave(programs, rounds)
    med = {n: statistics.median(v) for n, v in times.items()}
    T = shape["steps"]
    fwd, bwd = ops.get("forward", {}), ops.get("backward", {})
    kernels = (fwd.get("ops") or 0) + (bwd.get("ops") or 0)
    return {
        "workload": workload, "devices": ndev, "batch_per_device": shape["batch"] // ndev, "shape": shape,
        "rounds": rounds, "seconds_per_unit": times, "median_s": med,
        "rnnlang_step_ms": 1e3 * med["rnnlang"], "handwritten_step_ms": 1e3 * med["handwritten"],
        "floor_step_ms": 1e3 * med["floor"],
        "rnnlang_vs_handwritten": med["handwritten"] / med["rnnlang"],
        "floor_vs_handwritten": med["handwritten"] / med["floor"],
        "rnnlang_kernels_per_time_step": {"forward": fwd.get("ops"), "backward": bwd.get("ops")},
        "rnnlang_us_per_kernel": 1e6 * med["rnnlang"] / (T * kernels) if kernels else None,
        "kernel_us": 1e6 * med["kernel"], "product_us": 1e6 * med["product"],
        "product_gflops_per_core": prod_flops / med["product"] / 1e9,
        "peak_gflops_per_core": peak_flops / med["peak"] / 1e9,
    }


def report(results: list[dict]) -> str:
    lines = ["| workload | rnnlang ms/step | hand-written ms/step | floor ms/step | rnnlang / hand-written | "
             "hand-written / floor (the most any lowering could gain) | rnnlang kernels per time step (fwd + bwd) | "
             "us per kernel (rnnlang) | one elementwise kernel in a loop, us | the recurrent product in a loop, us (GFLOP/s per core) | "
             "1024^3 product, GFLOP/s per core |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        kpt = r["rnnlang_kernels_per_time_step"]
        lines.append(
            f"| {r['workload']} | {r['rnnlang_step_ms']:.2f} | {r['handwritten_step_ms']:.2f} | {r['floor_step_ms']:.2f} | "
            f"{r['rnnlang_vs_handwritten']:.2f}x | {r['floor_vs_handwritten']:.2f}x | {kpt['forward']} + {kpt['backward']} | "
            f"{r['rnnlang_us_per_kernel']:.2f} | {r['kernel_us']:.2f} | {r['product_us']:.2f} ({r['product_gflops_per_core']:.0f}) | "
            f"{r['peak_gflops_per_core']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default="R,P", help="R, P, S:UNITSxREPLICATES (e.g. S:128x5: rnnlang and the "
                    "hand-written loop only) and gates (the GRU's gate products in the hand-written R loop)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--k", type=int, default=20, help="training steps per dispatch")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    workloads = a.workloads.split(",")
    for w in workloads:  # a mistake is a usage message before anything is compiled
        try:
            if w.startswith("S:"):
                _s_config(w)
            elif w not in SHAPES and w != "gates":
                raise ValueError(f"unknown workload {w!r}: R, P, S:UNITSxREPLICATES or gates")
        except ValueError as e:
            ap.error(str(e))
    if a.rounds < 1 or a.k < 1:
        ap.error("--rounds and --k are at least 1")
    results = [measure(w, a.rounds, a.k) for w in workloads]
    rp, sc = [r for r in results if "floor_step_ms" in r], [r for r in results if "step_ms" in r]
    parts = ([report(rp)] if rp else []) + ([report_s(sc)] if sc else [])
    parts += [f"GRU gates, one product over the hand-written loop's two: {g['median']:.2f}x ({g['min']:.2f}-{g['max']:.2f})"
              for g in (r["one_vs_two"] for r in results if "one_vs_two" in r)]
    print("\n\n".join(parts))
    if a.out:
        a.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
