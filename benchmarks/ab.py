"""Interleaved A/B of two lowerings of one workload, in one process.

    python benchmarks/ab.py P --env RNNLANG_REPLICATES=vmap RNNLANG_REPLICATES=map --set train.replicates=5 [--rounds 8]

Each variant is the example's training program (`Trainer.chunk_fn`, K = 50 steps per
dispatch) compiled with its environment variable set while it is traced (the lowering reads
switches such as RNNLANG_REPLICATES then; a scratch change under test can read its own). The variants then run in turn, A B A B ..., `rounds`
times, each turn `dispatches` dispatches ended by block_until_ready, so that a change in the
machine's load hits both alike. Printed: the per-round ratio B/A of steps/s (wall clock) with its
median and spread, the same from the process CPU time, and each variant's op counts per time
step (rnn ops). On a shared machine read the median ratio and its spread, not the speeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = {"R": REPO / "examples" / "point_mass_reach.rnn", "P": REPO / "examples" / "perceptual_discrimination.rnn"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", help="R, P or a .rnn file")
    ap.add_argument("--env", nargs=2, required=True, metavar=("A", "B"), help="NAME=VALUE for variant A and B")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--dispatches", type=int, default=1)
    ap.add_argument("--k", type=int, default=50, help="training steps per dispatch")
    args = ap.parse_args(argv)

    from rnnlang.runtime.cli import _configure_jax

    _configure_jax()
    import jax

    from rnnlang.runtime.api import compile_model, load
    from rnnlang.runtime.opcount import training_step_ops
    from rnnlang.runtime.train import Trainer

    path = EXAMPLES.get(args.workload, args.workload)
    variants = []
    for spec in args.env:
        name, _, value = spec.partition("=")
        os.environ[name] = value
        cm, graph = load(path, args.overrides + [f"train.steps_per_dispatch={args.k}"])
        tr = Trainer(compile_model(cm, graph))
        st = tr.init_state()
        f = tr.chunk_fn(0)
        t = time.perf_counter()
        out = f(st.params, st.opt_state, 0, tr.k, tr.k_train)  # traced and compiled with this setting
        jax.block_until_ready(out)
        compile_s = time.perf_counter() - t
        cm1, g1 = load(path, args.overrides + ["train.steps_per_dispatch=1"])
        ops = training_step_ops(Trainer(compile_model(cm1, g1)))
        variants.append({"name": spec, "f": f, "state": [out[0], out[1]], "k": tr.k, "key": tr.k_train,
                         "start": tr.k, "compile_s": compile_s, "ops": ops, "wall": [], "cpu": []})
        os.environ.pop(name)
    for _ in range(args.rounds):
        for v in variants:
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.dispatches):
                p, o, losses, _ = v["f"](v["state"][0], v["state"][1], v["start"], v["k"], v["key"])
                v["state"] = [p, o]
                v["start"] += v["k"]
            jax.block_until_ready((p, losses))
            steps = v["k"] * args.dispatches
            v["wall"].append(steps / (time.perf_counter() - w0))
            v["cpu"].append(steps / (time.process_time() - c0))
    a, b = variants
    res = {"workload": args.workload, "overrides": args.overrides, "rounds": args.rounds, "variants": {}}
    for v in variants:
        o = v["ops"]
        res["variants"][v["name"]] = {
            "steps_per_s_median": statistics.median(v["wall"]), "compile_s": v["compile_s"],
            "ops_forward": o.get("forward", {}).get("ops"), "ops_backward": o.get("backward", {}).get("ops"),
            "dots_forward": o.get("forward", {}).get("dots"), "dots_backward": o.get("backward", {}).get("dots")}
    for clock in ("wall", "cpu"):
        r = sorted(y / x for x, y in zip(a[clock], b[clock]))
        res[f"ratio_{clock}"] = {"median": statistics.median(r), "min": r[0], "max": r[-1],
                                 "q1": r[len(r) // 4], "q3": r[(3 * len(r)) // 4]}
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
