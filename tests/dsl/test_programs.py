"""The program catalogue: tests/programs/good/*.rnn load cleanly; every tests/programs/bad/*.rnn
fails with exactly the errors its header states.

Header format (the leading comment lines of a bad file):
    # expect: LINE:COL: MESSAGE      an error with exactly this message at this position
    # hint: HINT                     (optional) the hint of the error above, exactly
    # expect~: LINE:COL: TEXT        an error at this position whose message contains TEXT
A bad file is loaded with `rnnlang.dsl.load`, which checks everything (names, types, values, the
kinds' own checks, sizes along edges, algebraic loops) without the compiler; what it accepts is
then compiled with `rnnlang.compiler.lower.compile_model` as `rnn check` does for its summary
(shapes only: nothing is run), so no mistake slips through to the compiler.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import rnnlang.dsl as dsl
from rnnlang.dsl import ModelError, UsageError

from .dsl_helpers import PROGRAMS

GOOD = sorted((PROGRAMS / "good").glob("*.rnn"))
BAD = sorted((PROGRAMS / "bad").glob("*.rnn"))
EXPECT = re.compile(r"^# (expect~?): (\d+):(\d+): (.*)$")
HINT = re.compile(r"^# hint: (.*)$")


@dataclass
class Expected:
    line: int
    col: int
    text: str
    approx: bool
    hint: str | None = None

    def matches(self, d) -> bool:
        if (d.span.line, d.span.col) != (self.line, self.col):
            return False
        if self.approx:
            return self.text in d.message
        return d.message == self.text and (self.hint is None or d.hint == self.hint)


def expectations(path: Path) -> list[Expected]:
    """The expected errors stated in a bad file's leading comment lines."""
    out: list[Expected] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if m := EXPECT.match(line):
            out.append(Expected(int(m[2]), int(m[3]), m[4], m[1] == "expect~"))
        elif (m := HINT.match(line)) and out:
            out[-1].hint = m[1]
    return out


def load_and_analyse(path: Path):
    from rnnlang.compiler.lower import compile_model

    cm, graph = dsl.load(path)
    assert cm.plan is not None
    compile_model(cm, graph)
    return cm


def test_catalogue_is_big_enough():
    assert len(GOOD) >= 6
    assert len(BAD) >= 35
    assert all(expectations(p) for p in BAD), [p.name for p in BAD if not expectations(p)]


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_program_loads_cleanly(path: Path):
    cm = load_and_analyse(path)
    assert cm.warnings == []
    assert cm.nodes and cm.dt > 0 and cm.steps >= 1


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_program_fails_with_its_expected_errors(path: Path):
    with pytest.raises(ModelError) as info:
        load_and_analyse(path)
    err = info.value
    expected = expectations(path)
    got = err.errors
    assert len(got) == len(expected), err.render()
    for e, d in zip(expected, got):
        assert e.matches(d), f"expected {e}, got {d.span.line}:{d.span.col}: {d.message} (hint: {d.hint})"
    rendered = err.render()
    assert "Traceback" not in rendered
    for d in got:
        assert f"{path}:{d.span.line}:{d.span.col}: error: {d.message}" in rendered
        source_line = err.source.splitlines()[d.span.line - 1]
        assert f"{d.span.line:>4} | {source_line.expandtabs(1)[:200]}" in rendered
    assert re.search(r"^\s+\^+$", rendered, re.M), rendered


# ---- files that are not models ---------------------------------------------------------------


def test_missing_file(tmp_path: Path):
    with pytest.raises(UsageError, match="no such file"):
        dsl.load(tmp_path / "nope.rnn")


def test_directory(tmp_path: Path):
    with pytest.raises(UsageError, match="is a directory"):
        dsl.load(tmp_path)


def test_empty_file(tmp_path: Path):
    path = tmp_path / "empty.rnn"
    path.write_text("")
    with pytest.raises(ModelError) as info:
        dsl.load(path)
    assert [d.message for d in info.value.diagnostics] == ["the file is empty"]


def test_binary_file(tmp_path: Path):
    path = tmp_path / "model.rnn"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ModelError) as info:
        dsl.load(path)
    (d,) = info.value.diagnostics
    assert d.message == "not valid UTF-8 text (byte 0x89)" and (d.span.line, d.span.col) == (1, 1)


def test_nul_byte_is_refused_at_its_position(tmp_path: Path):
    path = tmp_path / "model.rnn"
    path.write_bytes(b"model { dt = 1 steps = 2 }\nnode n\x00et = ctrnn(hidden = 2, out = 1)\n")
    with pytest.raises(ModelError) as info:
        dsl.load(path)
    (d,) = info.value.diagnostics
    assert d.message.startswith("a NUL byte") and (d.span.line, d.span.col) == (2, 7)
    assert f"{path}:2:7: error: a NUL byte" in info.value.render()


def test_non_utf8_file(tmp_path: Path):
    path = tmp_path / "model.rnn"
    path.write_bytes("model { dt = 1 steps = 2 }\n# café é".encode() + b"\xe9\n")
    with pytest.raises(ModelError) as info:
        dsl.load(path)
    (d,) = info.value.diagnostics
    # the column counts characters: "# café é" is 8 characters before the bad byte
    assert d.message == "not valid UTF-8 text (byte 0xe9)" and (d.span.line, d.span.col) == (2, 9)


@pytest.mark.parametrize("make", ["fifo", "device", "directory"])
def test_model_file_must_be_a_regular_file_and_never_blocks(tmp_path: Path, make: str):
    import os

    path = tmp_path / "model.rnn"
    if make == "fifo":
        os.mkfifo(path)  # opening it for reading would block without a writer
    elif make == "directory":
        path.mkdir()
    else:
        path = Path("/dev/zero")
    with pytest.raises(UsageError) as info:
        dsl.load(path)
    assert {"fifo": "is a FIFO (named pipe), not a regular file", "device": "is a device, not a regular file",
            "directory": "is a directory, not a .rnn file"}[make] in str(info.value)


def test_overlong_model_file_name_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="too long"):
        dsl.load(tmp_path / ("m" * 300 + ".rnn"))


def test_huge_file(tmp_path: Path):
    path = tmp_path / "big.rnn"
    path.write_text("# padding\n" * 1_000_000)  # 10 MB
    with pytest.raises(UsageError, match="MB"):
        dsl.load(path)


def test_load_source_and_load_agree():
    path = PROGRAMS / "good" / "declared_defaults.rnn"
    cm1, g1 = dsl.load(path)
    cm2, g2 = dsl.load_source(path.read_text(), str(path))
    assert cm1.nodes.keys() == cm2.nodes.keys() and list(g1.edges(keys=True)) == list(g2.edges(keys=True))


def test_load_source_resolves_files_relative_to_the_filename():
    src = (PROGRAMS / "good" / "ablation_and_clamp.rnn").read_text()
    cm, _ = dsl.load_source(src, str(PROGRAMS / "good" / "anything.rnn"))
    assert cm.sites["cut"].params["mask"].shape == (8, 8)
    with pytest.raises(ModelError, match="no such file"):
        dsl.load_source(src, str(PROGRAMS / "elsewhere.rnn"))


def test_files_resolve_relative_to_the_model_not_the_working_directory(tmp_path: Path):
    path = PROGRAMS / "good" / "cognitive_ctrnn.rnn"
    result = subprocess.run([sys.executable, "-c", f"import rnnlang.dsl as d; d.load({str(path)!r}); print('ok')"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
