"""The Pygments lexer for `.rnn` (dsl/highlight.py): found through its entry point by name, alias
and file name; lexes every example, every standard-library task and every good test program with
no Error token; gives the expected token types on a sample; marks real syntax errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String

from rnnlang.dsl.highlight import NODE_KINDS, RnnLexer
from rnnlang.dsl.library import REGISTRY

from ..conftest import ROOT

SOURCES = sorted([*(ROOT / "examples").rglob("*.rnn"), *(ROOT / "dsl" / "stdlib").glob("*.rnn"),
                  *(ROOT / "tests" / "programs" / "good").glob("*.rnn")])


def _tokens(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in RnnLexer().get_tokens(text) if not v.isspace()]


def test_registered_by_entry_point():
    for name in ("rnn", "rnnlang"):
        assert isinstance(get_lexer_by_name(name), RnnLexer)
    assert isinstance(get_lexer_for_filename("model.rnn"), RnnLexer)


def test_node_kinds_come_from_the_registry():
    assert set(NODE_KINDS) == set(REGISTRY)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_program_lexes_without_errors(path: Path):
    text = path.read_text()
    toks = list(RnnLexer().get_tokens(text))
    assert [v for t, v in toks if t in Error] == []
    assert "".join(v for _, v in toks).rstrip("\n") == text.rstrip("\n")  # nothing lost or added


def test_sample_token_types():
    src = ('model m { dt = 0.05  seed = 1e-3 }  # settings\n'
           'node task = perceptual_discrimination(noise = 0.1)\n'
           'node net = gru(hidden = 50, out = 2, transfer = "tanh")\n'
           'task.input -> net.input  // an edge\n'
           'loss { ce = cross_entropy(net.output, task.target)  w = 1e-4 * weights(net.W_rec) }\n'
           'train { batches = 10  until accuracy >= 0.9 and not false }\n')
    toks = _tokens(src)
    want = [
        (Keyword.Declaration, "model"), (Name.Variable, "m"), (Punctuation, "{"), (Name, "dt"), (Operator, "="),
        (Number.Float, "0.05"), (Name, "seed"), (Operator, "="), (Number.Float, "1e-3"), (Punctuation, "}"),
        (Comment.Single, "# settings"),
        (Keyword.Declaration, "node"), (Name.Variable, "task"), (Operator, "="),
        (Name.Builtin, "perceptual_discrimination"), (Punctuation, "("), (Name, "noise"), (Operator, "="),
        (Number.Float, "0.1"), (Punctuation, ")"),
    ]
    assert toks[:len(want)] == want
    assert (Name.Builtin, "gru") in toks and (Number.Integer, "50") in toks and (String.Double, '"tanh"') in toks
    i = toks.index((Operator, "->"))  # `task.input`: `task` names a node here, not the keyword
    assert toks[i - 3:i + 4] == [(Name, "task"), (Punctuation, "."), (Name, "input"), (Operator, "->"),
                                 (Name, "net"), (Punctuation, "."), (Name, "input")]
    assert (Comment.Single, "// an edge") in toks
    assert (Keyword, "loss") in toks and (Keyword, "train") in toks and (Keyword, "until") in toks
    assert (Name.Function, "cross_entropy") in toks and (Name.Function, "weights") in toks
    assert (Operator, ">=") in toks and (Keyword, "and") in toks and (Keyword, "not") in toks
    assert (Keyword.Constant, "false") in toks


def test_syntax_errors_show_as_error_tokens():
    for bad in ("x = 'single'", "node a = gru() $"):
        assert any(t in Error for t, _ in RnnLexer().get_tokens(bad))
