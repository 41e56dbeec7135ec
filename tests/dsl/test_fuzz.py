"""The seeded mutation fuzzer (tests/dsl/fuzzing.py) through `rnn check`'s own function: every
mutated program is a checked model or a refusal whose every diagnostic has a position. A few
hundred cases by default; 10,000 in the slow run (`python -m pytest -m slow tests/dsl/test_fuzz.py`)."""

from __future__ import annotations

import collections
import random
from pathlib import Path

import numpy as np
import pytest

from .fuzzing import SOURCES, check_file, mutate, run_cases


def _report(crashes) -> str:
    kinds = collections.Counter(o.detail.split(":")[0] for _, o in crashes)
    return f"{len(crashes)} crashes {dict(kinds)}; first: " + "; ".join(f"seed {s}: {o.detail[:200]}" for s, o in crashes[:5])


def test_mutated_programs_are_accepted_or_refused_with_positions(tmp_path: Path):
    outcomes = collections.Counter()
    crashes = run_cases(range(300), tmp_path, lambda seed, path, o: outcomes.update([o.kind]))
    assert not crashes, _report(crashes)
    # the mutations must exercise both sides of the contract, not just one
    assert outcomes["refused"] >= 150 and outcomes["accepted"] >= 10, outcomes


@pytest.mark.slow
def test_ten_thousand_mutated_programs(tmp_path: Path):
    crashes = run_cases(range(10_000), tmp_path)
    assert not crashes, _report(crashes)


def test_every_mutation_kind_is_drawn():
    """Each kind of mutation appears among the first few hundred seeds (so the default run covers
    them all): binary bytes, extremes, escapes, nesting, ranges and long names."""
    seen = collections.Counter()
    for seed in range(300):
        rng = random.Random(seed)
        original = SOURCES[seed % len(SOURCES)].read_bytes()
        out = mutate(original.decode(), rng)
        try:
            out.decode("utf-8")
            seen["text"] += 1
        except UnicodeDecodeError:
            seen["invalid utf-8"] += 1
        seen["nul"] += b"\x00" in out
        seen["escape"] += any(e in out for e in (b'"\\x"', b'"\\u1234"', b'"\\777"'))
        seen["deep"] += b"[" * 60 in out or b"(" * 60 in out
        seen["extreme"] += any(x in out for x in (b"1e999", b"1e-320", b"9223372036854775808", b"2147483648"))
        seen["range"] += b"range(" in out
        seen["long name"] += b"n" * 300 in out
    assert all(seen[k] > 0 for k in ("text", "invalid utf-8", "nul", "escape", "deep", "extreme", "range", "long name")), seen


def test_mutants_are_reproducible():
    a = mutate(SOURCES[0].read_text(), random.Random(7))
    b = mutate(SOURCES[0].read_text(), random.Random(7))
    assert a == b


def test_check_file_classifies_a_crash_as_a_crash(tmp_path: Path, monkeypatch):
    """The fuzzer's own contract check: an exception other than a refusal is reported."""
    import rnnlang.runtime.cli as cli

    def boom(path, overrides):
        raise KeyError("x")

    monkeypatch.setattr(cli, "_summary", boom)
    path = tmp_path / "m.rnn"
    path.write_text("model { dt = 1 steps = 1 }\n")
    out = check_file(path)
    assert out.kind == "crash" and out.detail.startswith("KeyError")


def test_integers_beyond_32_bits_in_a_declared_task_are_computed_as_floats(tmp_path: Path):
    """`[1, 4294967296][k]` once overflowed JAX's int32; the task now computes with the float."""
    from rnnlang.compiler.lower import compile_model
    from rnnlang.dsl import load

    path = tmp_path / "m.rnn"
    path.write_text("""model { dt = 10  steps = 5 }
node task = task {
  inputs = [a]  outputs = [b]
  k ~ choice(0, 1)
  level = [1, 4294967296][k]
  epoch all { a = level  b = 1  mask = 1 }
}
node net = ctrnn(hidden = 4, out = 1)
task.input -> net.input
net.output -> task.response
loss { mse = squared_error(net.output, task.target, mask = task.mask) }
""")
    cm, graph = load(path)
    model = compile_model(cm, graph)
    import jax

    trial = model.task.trials(jax.random.PRNGKey(0), 64)
    a = np.asarray(trial["signals"]["input"])[..., 0]
    assert set(np.unique(a).tolist()) <= {1.0, 4294967296.0} and len(np.unique(a)) == 2
