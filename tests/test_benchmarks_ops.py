"""The benchmark report's table of operations per time step (benchmarks/run.py), on made-up
process results."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("rnnlang_bench_run_ops", ROOT / "benchmarks" / "run.py")
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)  # benchmarks/run.py imports no JAX


def test_ops_per_step_reach_the_report():
    ops = {"forward": {"ops": 15, "dots": 3, "fusions": 13, "dot_flops": 345600, "by_kind": {}},
           "backward": {"ops": 23, "dots": 5, "fusions": 18, "dot_flops": 678400, "by_kind": {}}}
    c = {"workload": "P", "config": "ctrnn 50", "kind": "speed", "skipped": {}, "batch": 128, "replicates": 1,
         "anchor": "psychrnn",
         "results": {"rnnlang": [{"steps_per_s_blocks": [150.0], "ops_per_step": ops}],
                     "handwritten": [{"steps_per_s_blocks": [160.0]}]}}
    c["summary"] = run.summarise(c)
    assert c["summary"]["variants"]["rnnlang"]["ops_per_step"] == ops
    assert "ops_per_step" not in c["summary"]["variants"]["handwritten"]
    table = run.ops_table([c])
    assert "| P | rnnlang | 15 | 3 | 23 | 5 | 1.02 |" in table  # (345600 + 678400) / 1e6
    env = {"cpus": 2, "python": "3", "loadavg_start": (1.0, 1.0, 1.0), "loadavg_end": (1.0, 1.0, 1.0), "total_s": 60}
    assert table in run.report([c], env, ["--workloads", "P"])
