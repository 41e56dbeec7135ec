"""A reaching task declared in the user's file (examples/tasks/via_point_reach.rnn, a reach
through a via-point, which no built-in task offers) trains in closed loop with a point mass, its
metrics are the ones the file states, and `rnn plot` draws its trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnnlang.runtime.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "tasks" / "via_point_reach.rnn"


def test_a_declared_reach_trains_in_closed_loop_and_plots(tmp_path):
    run = tmp_path / "via"
    sets = ["train.batches=30", "train.batch_size=16", "train.validate_every=10", "model.steps=40",
            "task.via_at=20", "net.hidden=16"]
    argv = ["train", str(EXAMPLE), "--out", str(run), "--quiet"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r["loss"] for r in records if r["phase"] == "train"]
    val = [r for r in records if r["phase"] == "validate"]
    assert len(val) == 3 and val[-1]["loss"] < 0.7 * val[0]["loss"] and val[-1]["loss"] < 0.3 * train[0], (train[0], val)
    metrics = val[-1]["metrics"]  # the ones the file states
    assert set(metrics) == {"final_position_error", "final_speed"}
    assert np.isfinite(metrics["final_position_error"]) and metrics["final_position_error"] < 1.0
    assert main(["plot", str(run), "--what", "trajectories"]) == 0
    assert (run / "plots" / "trajectories.png").stat().st_size > 10_000
