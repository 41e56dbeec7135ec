"""Sweeps and replicates: what packing points into one compiled program buys.

    python benchmarks/sweep.py compare --seeds 16 --batches 200 --out sweep-bench.json
        `rnn sweep FILE --grid model.seed=0:16` (one program) against 16 separate
        `rnn train FILE --set model.seed=S` runs, interleaved (half of the separate runs, the
        sweep, the other half) so that both see the same load; wall time of each command,
        start-up and compilation included (the persistent compilation cache is on for both,
        as `rnn` has it by default, in a fresh directory).
    python benchmarks/sweep.py replicates --replicates 1,2,4,8,16,32,64 --steps 10
        trials per second of the training step against the number of replicates, in this
        process: one untimed dispatch after compilation, then `--blocks` timed dispatches of
        `--steps` steps each.

FILE defaults to examples/perceptual_discrimination.rnn. Results go to benchmarks/RESULTS.md
("Sweeps and replicates") with the command that produced them."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "perceptual_discrimination.rnn"


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def compare(args: argparse.Namespace) -> dict:
    """One sweep of `seeds` points against as many separate runs (interleaved)."""
    work = Path(tempfile.mkdtemp(prefix="rnn-sweep-bench-"))
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(work / "xla"))
    rnn = [sys.executable, "-m", "rnnlang.runtime.cli"]
    sets = ["--set", f"train.batches={args.batches}"]
    runs: list[float] = []

    def separate(seeds):
        for s in seeds:
            runs.append(_timed(rnn + ["train", str(args.file), *sets, "--set", f"model.seed={s}", "--out",
                                      str(work / f"run{s}"), "--quiet", "--no-plots"], env))
            print(f"run seed {s}: {runs[-1]:.1f} s", file=sys.stderr)

    half = args.seeds // 2
    try:
        separate(range(half))
        sweep = _timed(rnn + ["sweep", str(args.file), *sets, "--grid", f"model.seed=0:{args.seeds}", "--out",
                              str(work / "sweep"), "--quiet"], env)
        print(f"sweep: {sweep:.1f} s", file=sys.stderr)
        separate(range(half, args.seeds))
        groups = json.loads((work / "sweep" / "sweep.json").read_text())["groups"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = sum(runs)
    return {"file": str(args.file), "seeds": args.seeds, "batches": args.batches, "programs": len(groups),
            "sweep_s": round(sweep, 1), "separate_runs_s": [round(r, 1) for r in runs], "separate_total_s": round(total, 1),
            "sweep_over_separate": round(sweep / total, 3)}


def replicates(args: argparse.Namespace) -> dict:
    """Trials per second of the compiled training step against the number of replicates."""
    os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={min(os.cpu_count() or 1, 8)}")
    import jax

    from rnnlang.runtime.api import compile_model, load
    from rnnlang.runtime.train import Trainer

    out = []
    for r in [int(x) for x in args.replicates.split(",")]:
        cm, graph = load(args.file, [f"train.replicates={r}", f"train.steps_per_dispatch={args.steps}",
                                     f"train.batches={args.steps * (args.blocks + 1)}"])
        trainer = Trainer(compile_model(cm, graph))
        state = trainer.init_state()
        fn = trainer.chunk_fn(0)
        t = time.perf_counter()
        p, o, losses, _ = fn(state.params, state.opt_state, 0, args.steps, trainer.train_keys)
        jax.block_until_ready(losses)
        first = time.perf_counter() - t
        times = []
        for b in range(args.blocks):
            t = time.perf_counter()
            p, o, losses, _ = fn(p, o, (b + 1) * args.steps, args.steps, trainer.train_keys)
            jax.block_until_ready(losses)
            times.append(time.perf_counter() - t)
        best = min(times)
        trials = r * trainer.batch_size * args.steps
        row = {"replicates": r, "first_dispatch_s": round(first, 2), "block_s": [round(x, 3) for x in times],
               "trials_per_s": round(trials / best, 1), "replicate_steps_per_s": round(r * args.steps / best, 2)}
        print(json.dumps(row), file=sys.stderr)
        out.append(row)
    return {"file": str(args.file), "devices": jax.device_count(), "backend": jax.default_backend(),
            "batch_size": trainer.batch_size, "steps": args.steps, "rows": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("compare", help="a sweep of seeds against separate runs")
    c.add_argument("--file", type=Path, default=EXAMPLE)
    c.add_argument("--seeds", type=int, default=16)
    c.add_argument("--batches", type=int, default=200)
    r = sub.add_parser("replicates", help="trials/s against replicates")
    r.add_argument("--file", type=Path, default=EXAMPLE)
    r.add_argument("--replicates", default="1,2,4,8,16,32,64")
    r.add_argument("--steps", type=int, default=10)
    r.add_argument("--blocks", type=int, default=2)
    for x in (c, r):
        x.add_argument("--out", type=Path, default=None, help="write the result as JSON here too")
    args = p.parse_args()
    result = compare(args) if args.what == "compare" else replicates(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
