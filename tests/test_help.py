"""Every help text prints cleanly: `rnn --help`, each subcommand's, and the benchmark runner's."""

import subprocess
import sys

import pytest

from rnnlang.runtime.cli import build_parser, main

from .conftest import ROOT


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(action.choices)


@pytest.mark.parametrize("argv", [[]] + [[c] for c in _subcommands()], ids=lambda a: " ".join(a) or "rnn")
def test_every_help_text(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rnn")


def test_benchmark_runner_help():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stderr == ""
    assert "skip P's time to 90% accuracy" in " ".join(r.stdout.split())
