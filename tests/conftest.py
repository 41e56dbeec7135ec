"""Shared test set-up: JAX sees two CPU devices (as `rnn` arranges), so the sharded training
path is the one tested; compiled programs are kept in a persistent cache shared by the test
processes (xdist workers and the `rnn` subprocesses), so a program that many tests build (the
tiny training step of the CLI, plot and interop tests) compiles once per machine; helpers to
write small models."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".pytest_cache" / "xla"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# Most of the suite's time is XLA compiling hundreds of tiny programs that then run for
# milliseconds; without its expensive optimisation passes compiling takes about a quarter less
# CPU time. The programs compute the same values (to float rounding), which the equivalence tests
# against PsychRNN and Feedbax check under this setting too. Set it to false to test the
# optimised programs.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")

import pytest  # noqa: E402

EXAMPLES = ROOT / "examples"


@pytest.fixture
def write_model(tmp_path):
    """Write a .rnn source into tmp_path and return its path."""

    def write(text: str, name: str = "model.rnn") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write


def tracked_files() -> list[str]:
    """The repository's files, relative to its root: git's list in a checkout, else every file but
    build output and runs (what `rnn train` and the docs build write into a working copy)."""
    import subprocess

    r = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        return [f for f in r.stdout.split("\n")[:-1] if (ROOT / f).is_file()]
    skip = re.compile(r"(^|/)(\.[^/]*|site|build|dist|runs|sweeps|node_modules|__pycache__|[^/]*\.egg-info)(/|$)")
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not skip.search(str(p.relative_to(ROOT)))]


def repository_models() -> list[Path]:
    """Every .rnn file of the repository (not the runs a user trained in the working copy)."""
    return sorted(ROOT / f for f in tracked_files() if f.endswith(".rnn"))
