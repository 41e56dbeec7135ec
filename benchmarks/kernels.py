"""Where a training step's time goes, kernel by kernel: rnnlang beside the hand-written loop.

    python benchmarks/kernels.py [R|P] [--set KEY=VALUE ...] [--k 5] [--rounds 3] [--top 25] [--out FILE]

Both programs (the example's `Trainer.chunk_fn` and benchmarks/handwritten.py's loop, K training
steps per dispatch, the batch split over one JAX CPU device per core) are compiled in one
process, then each dispatch runs once under JAX's profiler per round, in turn. XLA's CPU runtime
records every kernel it runs (a fusion, a product, a copy, a collective, a loop); this script
sums their durations per kernel name over the devices and reports the median over the rounds,
in milliseconds per training step and device, grouped into the forward time loop, the backward
time loop (both found as `rnn ops` finds them), everything outside them, and waits at the
devices' rendezvous. The biggest kernels of each program are listed with their HLO shape, so a
kernel rnnlang runs and the hand-written loop does not (a transposed copy, a weight gradient
written in the other layout) shows by name and shape.

The profiler adds a little to every kernel; compare the two columns, not against untimed runs.
The layout changes of benchmarks/RESULTS.md ("Layout") were found this way.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ceiling  # noqa: E402  (its programs: the example's training step and the hand-written loop)

EXAMPLES = ceiling.EXAMPLES
WAITS = ("Rendezvous", "Wait:")
RUNTIME = ("ThunkExecutor",)  # the runtime's own spans, each covering a whole program
NOT_KERNELS = RUNTIME + ("ThreadpoolListener", "end:")  # spans and markers of the runtime, not kernels


def kernel_owners(hlo_text: str, steps: int) -> tuple[dict[str, str], dict[str, str]]:
    """({instruction: "forward" | "backward"} for the instructions of the time loops' bodies,
    {instruction: its shape}) from an optimised HLO module."""
    from rnnlang.runtime.opcount import _called, _trip_count, parse_hlo

    comps = parse_hlo(hlo_text)
    owner: dict[str, str] = {}
    shapes = {i.name: i.shape for body in comps.values() for i in body}
    for body in comps.values():
        for ins in body:
            name = _called(ins, "body") if ins.opcode == "while" else None
            if not name or _trip_count(ins) != steps:
                continue
            text = " ".join(i.attrs for i in comps.get(name, []))
            if "threefry" in text:
                continue
            direction = "backward" if "transpose(" in text else "forward"
            owner[ins.name] = f"{direction} loop"
            for i in comps.get(name, []):
                owner[i.name] = direction
    return owner, shapes


def group(durations: dict[str, float], owner: dict[str, str]) -> dict[str, float]:
    """Per-kernel milliseconds -> the loops (as their own spans), outside them, and waits."""
    out: dict[str, float] = collections.Counter()
    for name, ms in durations.items():
        if name.startswith(NOT_KERNELS):
            continue
        if name in owner:
            key = owner[name]
        elif name.startswith(WAITS):
            key = "waits"
        else:
            key = "outside the loops"
        out[key] += ms
    return dict(out)


def profile_once(run, devices: int, steps_per_call: int) -> dict[str, float]:
    """{kernel name: ms per training step and device} of one call of `run` under the profiler."""
    import jax.profiler as jp

    with tempfile.TemporaryDirectory() as d:
        with jp.trace(d):
            run()
        files = glob.glob(f"{d}/**/*.xplane.pb", recursive=True)
        data = jp.ProfileData.from_file(files[0])
    total: dict[str, float] = collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if line.name == "python":  # the Python calls; the other threads run the compiled kernels
                continue
            for ev in line.events:
                if not ev.name.startswith(NOT_KERNELS):
                    total[ev.name] += ev.duration_ns / 1e6 / devices / steps_per_call
    return dict(total)


def _programs(workload: str, k: int, overrides: list[str]):
    """Both training programs (ceiling.py's), each a call that runs one dispatch and waits for it,
    their optimised HLO texts, and the workload's time steps."""
    import jax

    rn, _, _ = ceiling._rnnlang_program(EXAMPLES[workload], k, overrides, count_ops=False)
    hw, _ = ceiling._handwritten_program(workload, k)
    runs = {"rnnlang": lambda: jax.block_until_ready(rn()), "handwritten": lambda: jax.block_until_ready(hw())}
    texts = {"rnnlang": rn.hlo(), "handwritten": hw.hlo()}
    return runs, texts, ceiling.SHAPES[workload]["steps"]


def measure(workload: str, k: int, rounds: int, overrides: list[str]) -> dict:
    import jax

    runs, texts, steps = _programs(workload, k, overrides)
    devices = len(jax.devices())
    for run in runs.values():  # compiled, then the first run after compiling (slower)
        run()
        run()
    per_round: dict[str, list[dict[str, float]]] = {n: [] for n in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            per_round[name].append(profile_once(run, devices, k))
    out = {"workload": workload, "overrides": overrides, "k": k, "rounds": rounds, "devices": devices, "programs": {}}
    for name, rounds_ in per_round.items():
        names = set().union(*rounds_)
        med = {n: statistics.median(r.get(n, 0.0) for r in rounds_) for n in names}
        owner, shapes = kernel_owners(texts[name], steps)
        out["programs"][name] = {"groups": group(med, owner),
                                 "kernels": {n: {"ms": v, "where": owner.get(n, "outside the loops"),
                                                 "shape": shapes.get(n, "")}
                                             for n, v in med.items() if not n.startswith(NOT_KERNELS + WAITS)}}
    return out


def report(result: dict, top: int) -> str:
    progs = result["programs"]
    keys = ["forward loop", "backward loop", "outside the loops", "waits"]
    lines = [f"{result['workload']} {' '.join(result['overrides'])} (ms per training step and device, median of "
             f"{result['rounds']} profiled dispatches of {result['k']} steps)", "",
             "| part | rnnlang | hand-written | difference |", "| --- | ---: | ---: | ---: |"]
    for key in keys:
        a, b = progs["rnnlang"]["groups"].get(key, 0.0), progs["handwritten"]["groups"].get(key, 0.0)
        lines.append(f"| {key} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")
    for name in ("rnnlang", "handwritten"):
        lines += ["", f"{name}: the {top} biggest kernels", "", "| ms | where | kernel | shape |", "| ---: | --- | --- | --- |"]
        ks = sorted(progs[name]["kernels"].items(), key=lambda kv: -kv[1]["ms"])[:top]
        lines += [f"| {v['ms']:.3f} | {v['where']} | {n} | {v['shape'][:60]} |" for n, v in ks]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", choices=sorted(EXAMPLES))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--k", type=int, default=5, help="training steps per dispatch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.k < 1 or args.rounds < 1:
        ap.error("--k and --rounds must be at least 1")
    from rnnlang.runtime.cli import _configure_jax

    _configure_jax()  # one JAX CPU device per core, as `rnn train` (before JAX starts)
    result = measure(args.workload, args.k, args.rounds, args.overrides)
    print(report(result, args.top))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
