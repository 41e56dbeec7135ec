"""benchmarks/diagnostics.py times the language server's check of each file it is given."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("rnnlang_bench_diagnostics", ROOT / "benchmarks" / "diagnostics.py")
diagnostics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(diagnostics)


def test_times_each_file_and_summarises(capsys):
    files = [ROOT / "examples" / "perceptual_discrimination.rnn", ROOT / "examples" / "flip_flop.rnn"]
    assert diagnostics.main([str(f) for f in files] + ["--repeat", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [re.fullmatch(r"(\S+): \d+ ms", line).group(1) for line in lines[:2]] == [f.name for f in files]
    assert re.fullmatch(r"2 files: median \d+ ms, at most \d+ ms \((perceptual_discrimination|flip_flop)\.rnn\)", lines[2])
