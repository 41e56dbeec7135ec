"""Every code block of the documentation says its language, and every `.rnn` block is checked:
a whole model (```` ```rnn ````) passes `rnn check` (run in-process on all of them at once); a
fragment (```` ```rnn {.fragment} ````) parses as it stands or inside the block it belongs to (a
task body, `train`, `loss` or `model`); a mistake in either is reported with the block's place."""

from __future__ import annotations

import json

import pytest

from rnnlang.dsl import ModelError, parse
from rnnlang.runtime.cli import main

from .doc_blocks import DOCS, FRAGMENT_CONTEXTS, FRAGMENT_INFO, all_blocks

BLOCKS = all_blocks()
MODELS = [b for b in BLOCKS if b.info == "rnn"]
FRAGMENTS = [b for b in BLOCKS if b.info == FRAGMENT_INFO]


def test_every_block_in_docs_names_its_language():
    unnamed = [b.where for b in BLOCKS if b.path.parent == DOCS and not b.info]
    assert unnamed == [], "write ```rnn, ```rnn {.fragment}, ```sh, ```text, ```python ... on these fences"
    unknown_rnn = [b.where for b in BLOCKS if b.info.startswith("rnn") and b.info not in ("rnn", FRAGMENT_INFO)]
    assert unknown_rnn == []


def test_there_are_rnn_blocks_to_check():
    assert len(MODELS) >= 10 and len(FRAGMENTS) >= 5
    guides = {b.path.name for b in MODELS}
    assert {"from-psychrnn.md", "from-feedbax.md", "from-neurogym.md", "index.md"} <= guides


def test_every_model_block_passes_rnn_check(tmp_path, capsys):
    paths = []
    for i, b in enumerate(MODELS):
        p = tmp_path / f"block{i:03d}.rnn"
        p.write_text(b.body)
        paths.append(p)
    code = main(["check", "--format", "json", *map(str, paths)])
    results = json.loads(capsys.readouterr().out)
    results = results if isinstance(results, list) else [results]
    failed = {b.where: r["errors"] for b, r in zip(MODELS, results) if r.get("errors")}
    assert failed == {} and code == 0


def _parses_somewhere(body: str) -> list[str]:
    """The errors of parsing `body` in each context; empty when one of them parses."""
    errors = []
    for ctx in FRAGMENT_CONTEXTS:
        try:
            parse(ctx.format(body), "fragment.rnn")
            return []
        except ModelError as e:
            errors.append(str(e).splitlines()[0])
    return errors


@pytest.mark.parametrize("block", FRAGMENTS, ids=lambda b: b.where)
def test_every_fragment_parses_in_its_context(block):
    assert _parses_somewhere(block.body) == []


def test_a_broken_fragment_is_caught():
    assert _parses_somewhere("node net = ctrnn(hidden = 50,, out = 2)")
    assert _parses_somewhere("epoch go from 0 to { target = 1 }")
