"""Shared test set-up: JAX sees two CPU devices (as `rnn` arranges), so the sharded training
path is the one tested; helpers to write small models."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def write_model(tmp_path):
    """Write a .rnn source into tmp_path and return its path."""

    def write(text: str, name: str = "model.rnn") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write
