"""`rnn fmt` on the command line: --check, --diff, standard input, directories, atomic writes
that keep a file's permissions, and files that do not parse (the usual positioned error, exit 1,
the file left byte for byte as it was)."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest

from rnnlang.runtime.cli import main

MESSY = "model{dt=10  steps=30}\nnode net=ctrnn(hidden=4,out=2)  # the network\n"
CANONICAL = "model { dt = 10  steps = 30 }\nnode net = ctrnn(hidden = 4, out = 2)  # the network\n"
BROKEN = "model { dt = 10 }\nnode net = ctrnn(hidden = 4, transfer = 'relu')\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("messy.rnn", MESSY), ("canonical.rnn", CANONICAL), ("broken.rnn", BROKEN)):
        out[name] = tmp_path / name
        out[name].write_text(text, encoding="utf-8")
    return out


def test_rewrites_a_file_in_place_keeping_its_permissions(files, capsys):
    path = files["messy.rnn"]
    path.chmod(0o600)
    assert main(["fmt", str(path)]) == 0
    assert path.read_text() == CANONICAL
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert capsys.readouterr().err == f"reformatted {path}\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["broken.rnn", "canonical.rnn", "messy.rnn"]  # no temp files


def test_an_unchanged_file_is_not_written(files, capsys):
    path = files["canonical.rnn"]
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    assert main(["fmt", str(path)]) == 0
    assert path.stat().st_mtime_ns == before - 10**9
    assert capsys.readouterr() == ("", "")


def test_check_lists_what_would_change_and_writes_nothing(files, capsys):
    assert main(["fmt", "--check", str(files["messy.rnn"]), str(files["canonical.rnn"])]) == 1
    assert capsys.readouterr().out == f"would reformat {files['messy.rnn']}\n"
    assert files["messy.rnn"].read_text() == MESSY
    assert main(["fmt", "--check", str(files["canonical.rnn"])]) == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(files, capsys):
    path = files["messy.rnn"]
    assert main(["fmt", "--diff", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [f"--- {path} (before)", f"+++ {path} (formatted)", "@@ -1,2 +1,2 @@"]
    assert "-model{dt=10  steps=30}\n" in out and "+model { dt = 10  steps = 30 }\n" in out
    assert path.read_text() == MESSY
    assert main(["fmt", "--diff", "--check", str(path)]) == 1


def test_diff_of_a_file_without_a_final_newline(tmp_path: Path, capsys):
    path = tmp_path / "m.rnn"
    path.write_text("model { dt = 1 }\nnode net = ctrnn(hidden = 4, out = 2)")
    assert main(["fmt", "--diff", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[4:] == [
        "-node net = ctrnn(hidden = 4, out = 2)", "\\ No newline at end of file", "+node net = ctrnn(hidden = 4, out = 2)"]


def test_standard_input_to_standard_output(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode())))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == CANONICAL
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode())))
    assert main(["fmt", "--check", "-"]) == 1
    assert capsys.readouterr().out == "would reformat <stdin>\n"


def test_standard_input_that_does_not_parse(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BROKEN.encode())))
    assert main(["fmt", "-"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("<stdin>:2:41: error: unexpected character")


def test_a_file_that_does_not_parse_is_reported_and_left_alone(files, capsys):
    broken, messy = files["broken.rnn"], files["messy.rnn"]
    assert main(["fmt", str(broken), str(messy)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:4] == [f"{broken}:2:41: error: unexpected character '''",
                       "   2 | node net = ctrnn(hidden = 4, transfer = 'relu')",
                       " " * 47 + "^",
                       'hint: strings use double quotes: "like this"']
    assert err[4] == f"reformatted {messy}"
    assert broken.read_bytes() == BROKEN.encode()
    assert messy.read_text() == CANONICAL  # the other files are still formatted


def test_a_directory_stands_for_its_model_files(tmp_path: Path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "sub" / "a.rnn").write_text(MESSY)
    (tmp_path / ".hidden" / "b.rnn").write_text(MESSY)
    (tmp_path / "notes.txt").write_text("not a model")
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"would reformat {tmp_path / 'sub' / 'a.rnn'}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["fmt", str(empty)]) == 2
    assert "no .rnn files" in capsys.readouterr().err


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys):
    assert main(["fmt", str(tmp_path / "nope.rnn")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_symbolic_link_is_written_through(files, capsys):
    link = files["messy.rnn"].with_name("link.rnn")
    link.symlink_to(files["messy.rnn"])
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink() and files["messy.rnn"].read_text() == CANONICAL


def test_output_that_would_change_the_tokens_is_never_written(files, capsys, monkeypatch):
    """The formatter checks its own output holds the input's tokens; a (hypothetical) layout bug
    is an error and the file stays as it was."""
    import rnnlang.dsl.fmt as fmt

    layout = fmt._layout
    monkeypatch.setattr(fmt, "_layout", lambda items, text: layout(items, text).replace("hidden", "hiden"))
    assert main(["fmt", str(files["messy.rnn"])]) == 1
    assert "the formatter would change the tokens" in capsys.readouterr().err
    assert files["messy.rnn"].read_text() == MESSY
