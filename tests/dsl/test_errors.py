"""Diagnostics: rendering, hints, and syntax messages that never leak the grammar's internals."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

import rnnlang.dsl as dsl
from rnnlang.dsl.ast import Span
from rnnlang.dsl.errors import Diagnostic, ModelError, UsageError, choices_hint, did_you_mean
from rnnlang.dsl.parser import _lark

from .dsl_helpers import PROGRAMS, REPO

SOURCE = "model { dt = 0.1 }\nnode net = gur(hidden = 2)\n"


def test_format_has_header_source_line_carets_and_hint():
    d = Diagnostic("unknown node kind `gur`", Span("m.rnn", 2, 12, 2, 15), hint="did you mean `gru`?")
    assert d.format(SOURCE).splitlines() == [
        "m.rnn:2:12: error: unknown node kind `gur`",
        "   2 | node net = gur(hidden = 2)",
        " " * len("   2 | ") + " " * 11 + "^^^",
        "hint: did you mean `gru`?",
    ]


def test_related_notes_and_warnings():
    d = Diagnostic("duplicate node `net`", Span("m.rnn", 2, 6, 2, 9), severity="warning",
                   related=((Span("m.rnn", 1, 1, 1, 6), "first here"),))
    text = d.format(SOURCE)
    assert text.startswith("m.rnn:2:6: warning: duplicate node `net`")
    assert "m.rnn:1:1: note: first here" in text and "^^^^^" in text


def test_model_error_sorts_and_renders_all():
    a = Diagnostic("second", Span("m.rnn", 2, 1, 2, 2))
    b = Diagnostic("first", Span("m.rnn", 1, 3, 1, 4))
    err = ModelError([a, b], SOURCE)
    assert [d.message for d in err.diagnostics] == ["first", "second"]
    assert str(err).index("first") < str(err).index("second")
    assert err.errors == [b, a]


def test_to_json():
    d = Diagnostic("m", Span("f", 1, 2, 1, 3), hint="h")
    assert d.to_json() == {"severity": "error", "message": "m", "hint": "h", "file": "f", "line": 1, "col": 2,
                           "end_line": 1, "end_col": 3}


def test_did_you_mean_and_choices_hint():
    assert did_you_mean("gur", ["gru", "lstm"]) == "did you mean `gru`?"
    assert did_you_mean("zzz", ["gru", "lstm"]) is None
    assert choices_hint("zzz", ["lstm", "gru"], "node kinds") == "node kinds: `gru`, `lstm`"
    assert choices_hint("zzz", [], "node kinds") == "there are no node kinds"
    assert choices_hint("flip", [], "its parameters") == "it has no parameters"


# ---- no grammar internals in any message -----------------------------------------------------


def terminal_names() -> set[str]:
    return {t.name for t in _lark().terminals} | {"__ANON", "$END"}


LEAK = re.compile(r"__ANON|\$END|\b(" + "|".join(sorted(n for n in terminal_names() if n.isalpha() or "_" in n)) + r")\b")


def assert_no_leak(err: ModelError) -> None:
    for d in err.diagnostics:
        for text in (d.message, d.hint or ""):
            assert not LEAK.search(text), f"grammar terminal in message: {text!r}"


@pytest.mark.parametrize("path", sorted((PROGRAMS / "bad").glob("*.rnn")), ids=lambda p: p.name)
def test_catalogue_messages_name_no_terminals(path: Path):
    with pytest.raises(ModelError) as info:
        cm, graph = dsl.load(path)
        from rnnlang.compiler.lower import compile_model

        compile_model(cm, graph)
    assert_no_leak(info.value)


MUTATION_CHARS = "(){}[]=.,;:\"'*-+#/>\n abc0123_"


def mutate(text: str, rng: random.Random) -> str:
    """Delete, insert or replace a few characters at random places."""
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(chars))
        op = rng.choice(("delete", "insert", "replace"))
        if op == "delete":
            del chars[i]
        elif op == "insert":
            chars.insert(i, rng.choice(MUTATION_CHARS))
        else:
            chars[i] = rng.choice(MUTATION_CHARS)
    return "".join(chars)


SOURCES = sorted((REPO / "examples").glob("*.rnn")) + sorted((PROGRAMS / "good").glob("*.rnn"))


@pytest.mark.parametrize("seed", range(50))
def test_mutated_programs_fail_cleanly(seed: int, tmp_path: Path):
    rng = random.Random(seed)
    source = SOURCES[seed % len(SOURCES)]
    path = tmp_path / source.name
    # keep file references working: the mutated copy sits beside a copy of the data folder's path
    text = mutate(source.read_text(), rng).replace('"../data/', f'"{PROGRAMS / "data"}/')
    path.write_text(text)
    assert_loads_or_fails_cleanly(path)


def assert_loads_or_fails_cleanly(path: Path) -> None:
    """Loading either works or raises a positioned ModelError in the language's words (or a
    UsageError): never another exception."""
    try:
        dsl.load(path)
    except ModelError as e:
        assert_no_leak(e)
        assert e.diagnostics and all(d.span is not None for d in e.diagnostics)
        assert "Traceback" not in e.render()
    except UsageError:
        pass


def test_mutations_mostly_fail():
    failures = 0
    for seed in range(50):
        rng = random.Random(seed)
        source = SOURCES[seed % len(SOURCES)]
        text = mutate(source.read_text(), rng).replace('"../data/', f'"{PROGRAMS / "data"}/')
        try:
            dsl.load_source(text, str(source))
        except (ModelError, UsageError):
            failures += 1
    assert failures >= 25
