"""Shared test set-up: JAX sees two CPU devices (as `rnn` arranges), so the sharded training
path is the one tested; compiled programs are kept in a persistent cache shared by the test
processes (xdist workers and the `rnn` subprocesses), so a program that many tests build (the
tiny training step of the CLI, plot and interop tests) compiles once per machine; helpers to
write small models."""

import os
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
