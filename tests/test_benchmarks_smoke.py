"""Smoke tests of the benchmark runner (benchmarks/run.py): its summary and report logic on
made-up process results (fast), and one real --quick run with the anchors absent (slow)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("rnnlang_bench_run", ROOT / "benchmarks" / "run.py")
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)  # benchmarks/run.py imports no JAX


def _cfg(kind="speed"):
    res = {"rnnlang": [{"steps_per_s_blocks": [40.0, 42.0], "time_to_first_step_s": 2.5, "peak_rss_mib": 600.0}],
           "handwritten": [{"steps_per_s_blocks": [44.0, 46.0], "time_to_first_step_s": 2.0, "peak_rss_mib": 500.0}],
           "feedbax": [{"steps_per_s_blocks": [8.0, 8.0], "peak_rss_mib": 700.0},
                       {"error": "boom", "peak_rss_mib": 1.0}]}
    if kind == "accuracy":
        res = {"rnnlang": [{"time_to_target_s": 5.0, "trials": 5120, "peak_rss_mib": 600.0}],
               "handwritten": [{"time_to_target_s": 4.0, "trials": 6400, "peak_rss_mib": 500.0}]}
    return {"workload": "R", "config": "GRU 50", "kind": kind, "results": res, "skipped": {"psychrnn": "not installed"},
            "batch": 250, "replicates": 1, "anchor": "feedbax"}


def test_summary_ratios_and_report():
    c = _cfg()
    c["summary"] = run.summarise(c)
    r = c["summary"]["ratios"]["rnnlang"]
    assert r["vs_handwritten"] == pytest.approx(41.0 / 45.0)
    assert r["vs_anchor"] == pytest.approx(41.0 / 8.0)
    assert c["summary"]["variants"]["feedbax"]["ok"] == 1
    a = _cfg("accuracy")
    a["summary"] = run.summarise(a)
    assert a["summary"]["ratios"]["rnnlang"]["vs_handwritten"] == pytest.approx(0.8)
    md = run.table([c, a])
    assert "| R | GRU 50 | rnnlang | 41.0 | 10250 |" in md and "skipped: not installed" in md
    lines = run.targets([c, a])
    assert any("5.12x" in x and "[x]" in x for x in lines)  # >= 5x the anchor
    assert any("0.911x its speed" in x and "[x]" in x for x in lines)  # within 1.15x
    assert any("2.50 s" in x and "[x]" in x for x in lines)  # first step within 3 s


def test_plan_skips_missing_anchors(tmp_path):
    args = type("A", (), {"quick": True, "feedbax": None, "feedbax_venv": str(tmp_path / "no"),
                          "psychrnn_venv": str(tmp_path / "no"), "workloads": ["R", "P", "S"], "patched": None,
                          "acc_rounds": 1, "rounds": None, "s_rounds": None, "no_accuracy": False})()
    configs = run.plan(args)
    assert {c["workload"] for c in configs} == {"R", "P", "S"}
    for c in configs:
        assert "rnnlang" in c["variants"] and "handwritten" in c["variants"]
        assert not ({"feedbax", "psychrnn"} & set(c["variants"]))
    assert "feedbax" in configs[0]["skipped"]


@pytest.mark.slow
def test_quick_run_without_anchors(tmp_path):
    """The real thing, --quick, P only, anchors absent (about a minute on two idle cores)."""
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--workloads", "P", "--quick",
                        "--no-accuracy", "--psychrnn-venv", str(tmp_path / "none"), "--out", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "skipped: no PsychRNN virtual environment" in p.stdout
    data = json.loads(out.read_text())
    (cfg,) = data["configs"]
    for name in ("rnnlang", "handwritten"):
        v = cfg["summary"]["variants"][name]
        assert v["ok"] == 1 and v["steps_per_s"] > 0 and v["peak_rss_mib"] > 0
    assert cfg["summary"]["ratios"]["rnnlang"]["vs_handwritten"] > 0


_gspec = importlib.util.spec_from_file_location("rnnlang_bench_gpu", ROOT / "benchmarks" / "gpu.py")
gpu = importlib.util.module_from_spec(_gspec)
_gspec.loader.exec_module(gpu)  # imports JAX only when it measures


def test_gpu_saturation_rule():
    """The batch where doubling stops paying (less than 10% more trials/s), None when it never does."""
    rows = [{"batch": b, "rnnlang": {"trials_per_s": v}} for b, v in ((128, 100.0), (256, 190.0), (512, 200.0), (1024, 205.0))]
    assert gpu.saturation(rows, "rnnlang") == 256
    assert gpu.saturation(rows[:2], "rnnlang") is None
    assert gpu.saturation([{"batch": 1, "rnnlang": {"error": "out of memory"}}], "rnnlang") is None
