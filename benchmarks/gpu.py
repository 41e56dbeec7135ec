"""Training throughput on an accelerator: rnnlang against the hand-written JAX loop, side by side,
over batch sizes, to find where each saturates the device.

For each workload (R: the point-mass reach, P: perceptual discrimination, S: P with more units and
replicates) and each batch size, the two variants are compiled and timed in turn in this one
process (interleaved, so both see the same device state): `K` training steps per dispatch, one
untimed dispatch after compilation, then `--blocks` timed dispatches. Throughput is trials per
second (training steps x batch); the ratio is rnnlang over the hand-written loop.

    python benchmarks/gpu.py --out gpu.json                 # the default sweep
    python benchmarks/gpu.py --workloads P --batches 128,1024 --blocks 2

It runs on whatever device JAX picks (a GPU when one is visible); on CPU it is a smoke test.
Results with their command go to benchmarks/RESULTS.md ("GPU").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

EXAMPLES = {"R": REPO / "examples" / "point_mass_reach.rnn", "P": REPO / "examples" / "perceptual_discrimination.rnn"}


def _time_blocks(step, blocks: int) -> tuple[float, list[float]]:
    """(seconds of the first call, compilation included; seconds of each timed call after one
    untimed warm-up)."""
    import jax

    t = time.perf_counter()
    jax.block_until_ready(step())
    first = time.perf_counter() - t
    jax.block_until_ready(step())
    times = []
    for _ in range(blocks):
        t = time.perf_counter()
        jax.block_until_ready(step())
        times.append(time.perf_counter() - t)
    return first, times


def rnnlang_variant(workload: str, batch: int, k: int, hidden: int | None, replicates: int):
    """A zero-argument function running K training steps of rnnlang's trainer."""
    from rnnlang.runtime.api import compile_model, load
    from rnnlang.runtime.train import Trainer

    ov = [f"train.batch_size={batch}", f"train.steps_per_dispatch={k}", f"train.replicates={replicates}"]
    if hidden:
        ov.append(f"net.hidden={hidden}")
    cm, graph = load(str(EXAMPLES["P" if workload == "S" else workload]), ov)
    trainer = Trainer(compile_model(cm, graph))
    state = trainer.init_state()
    f = trainer.chunk_fn(0)
    box = {"p": state.params, "o": state.opt_state, "start": 0}

    def step():
        box["p"], box["o"], losses, _ = f(box["p"], box["o"], box["start"], trainer.k, trainer.k_train)
        box["start"] += trainer.k
        return losses

    return step, trainer.k


def handwritten_variant(workload: str, batch: int, k: int, hidden: int | None, replicates: int):
    """The same for the hand-written loop (benchmarks/handwritten.py)."""
    import handwritten as hw

    cls = hw.WORKLOADS[workload]
    kw = {"hidden": hidden} if hidden else {}
    w = cls(k=k, replicates=replicates, batch=batch, **kw)
    params, opt_state = w.init(0)
    f = w.chunk_fn()
    box = {"p": params, "o": opt_state, "start": 0}

    def step():
        box["p"], box["o"], losses = f(box["p"], box["o"], box["start"])
        box["start"] += k
        return losses

    return step, k


def measure(workload: str, batch: int, k: int, blocks: int, hidden: int | None = None, replicates: int = 1) -> dict:
    row: dict = {"workload": workload, "batch": batch, "hidden": hidden, "replicates": replicates}
    for name, make in (("rnnlang", rnnlang_variant), ("handwritten", handwritten_variant)):
        try:
            step, kk = make(workload, batch, k, hidden, replicates)
            first, times = _time_blocks(step, blocks)
        except Exception as e:  # noqa: BLE001 - a variant that fails (out of memory) is reported, not fatal
            row[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
            continue
        best = min(times)
        row[name] = {"first_call_s": round(first, 3), "steps_per_s": round(kk / best, 2),
                     "trials_per_s": round(kk * batch * replicates / best, 1)}
    a, b = row.get("rnnlang", {}), row.get("handwritten", {})
    if "trials_per_s" in a and "trials_per_s" in b:
        row["ratio"] = round(a["trials_per_s"] / b["trials_per_s"], 3)
    return row


def saturation(rows: list[dict], variant: str, gain: float = 1.1) -> int | None:
    """The smallest batch after which doubling (or more) the batch raises trials/s by less than
    `gain` (10%): where the device is full."""
    pts = [(r["batch"], r[variant]["trials_per_s"]) for r in rows if "trials_per_s" in r.get(variant, {})]
    for (b0, v0), (_, v1) in zip(pts, pts[1:]):
        if v1 < gain * v0:
            return b0
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="R,P,S")
    ap.add_argument("--batches", default="128,512,2048,8192,32768")
    ap.add_argument("--s-configs", default="256x1,512x1,256x20", help="S: HIDDENxREPLICATES at batch 128")
    ap.add_argument("--k", type=int, default=20, help="training steps per dispatch")
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    from rnnlang.runtime.cli import _configure_jax

    _configure_jax()
    import jax

    env = {"jax": jax.__version__, "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
           "command": "python benchmarks/gpu.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    print(json.dumps(env), flush=True)
    rows: list[dict] = []
    batches = [int(b) for b in a.batches.split(",")]
    for w in a.workloads.split(","):
        if w == "S":
            for cfg in a.s_configs.split(","):
                h, r = (int(x) for x in cfg.split("x"))
                rows.append(measure("S", 128, a.k, a.blocks, hidden=h, replicates=r))
                print(json.dumps(rows[-1]), flush=True)
            continue
        for b in batches:
            rows.append(measure(w, b, a.k, a.blocks))
            print(json.dumps(rows[-1]), flush=True)
    summary = {w: {v: saturation([r for r in rows if r["workload"] == w], v) for v in ("rnnlang", "handwritten")}
               for w in ("R", "P") if any(r["workload"] == w for r in rows)}
    print(json.dumps({"saturates_at_batch": summary}), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps({"env": env, "rows": rows, "saturates_at_batch": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
