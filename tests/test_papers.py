"""The paper reproductions' README (examples/papers/README.md): every model file it trains checks
with the settings its command gives, every figure it shows is in the folder, and every link
points at a file of the repository."""

import re
import shlex
from pathlib import Path

import pytest

from rnnlang.runtime.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ROOT / "examples" / "papers"
README = (PAPERS / "README.md").read_text()


def _train_commands() -> list[list[str]]:
    joined = README.replace("\\\n", " ")
    return [shlex.split(line.split("#")[0]) for line in joined.splitlines() if line.startswith("rnn train ")]


def test_the_readme_trains_three_models():
    files = {cmd[2] for cmd in _train_commands()}
    assert files == {"examples/flip_flop.rnn", "examples/tasks/context_dependent_decision.rnn",
                     "examples/curl_adaptation.rnn"}


@pytest.mark.parametrize("cmd", _train_commands(), ids=lambda c: Path(c[2]).stem + str(len(c)))
def test_every_training_command_checks(cmd, capsys):
    sets = [a for i, a in enumerate(cmd) if i and cmd[i - 1] == "--set"]
    argv = ["check", str(ROOT / cmd[2])] + [x for s in sets for x in ("--set", s)]
    assert main(argv) == 0, capsys.readouterr().err


def test_figures_and_links_exist():
    targets = re.findall(r"\]\(([^)#]+)\)", README)
    assert any(t.startswith("figures/") for t in targets)
    for t in targets:
        assert (PAPERS / t).resolve().is_file(), t
    shown = {p.name for p in (PAPERS / "figures").iterdir()}
    assert shown == {Path(t).name for t in targets if t.startswith("figures/")}
