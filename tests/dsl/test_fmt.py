"""`rnn fmt` and rnnlang.dsl.fmt.format_source: the canonical layout of .rnn files.

Every .rnn of the repository is in canonical form (the CI check); formatting is idempotent,
keeps comments and blank-line groups, and preserves meaning: the parsed file is the same up to
positions, and the `rnn check` summary is the same. Files are also "scrambled" (the whitespace
inside and at the start of every line changed, line breaks kept) and must format back to the
same text. Files that do not parse get the usual positioned error and are never rewritten."""

from __future__ import annotations

import dataclasses
import io
import os
import random
import stat
import sys
from pathlib import Path

import pytest

from rnnlang.dsl import ModelError, Span, parse
from rnnlang.dsl.fmt import _items, format_source
from rnnlang.runtime import cli

from ..conftest import ROOT, repository_models

BAD_DIR = ROOT / "tests" / "programs" / "bad"
# every .rnn of the repository but the bad-program catalogue, whose files keep their exact
# layout (their headers state the line:col of each expected error)
REPO_FILES = [p for p in repository_models() if BAD_DIR not in p.parents]


def _parses(path: Path) -> bool:
    try:
        parse(path.read_text(encoding="utf-8"), str(path))
    except ModelError:
        return False
    return True


BAD_PARSEABLE = [p for p in sorted(BAD_DIR.glob("*.rnn")) if _parses(p)]


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def meaning(node):
    """A parsed file without its positions: spans dropped, source texts compared without whitespace."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        out = {"": type(node).__name__}
        for f in dataclasses.fields(node):
            if f.name == "span" or f.name.endswith("_span") or f.name == "spans":
                continue
            value = getattr(node, f.name)
            texts = f.name in ("text", "source") and isinstance(value, str)
            out[f.name] = "".join(value.split()) if texts else meaning(value)
        return out
    if isinstance(node, (tuple, list)):
        return [meaning(x) for x in node]
    if isinstance(node, dict):
        return {k: meaning(v) for k, v in node.items()}
    return node


TIGHT = frozenset("()[]{},;")  # no space is ever needed next to these


def scramble(text: str, seed: int) -> str:
    """The same tokens, comments and line breaks, with other whitespace changed at random: no
    space where none is needed, several elsewhere, any indentation."""
    rng = random.Random(seed)
    items = _items(text)
    out, pos = [], 0
    for prev, it in zip([None] + items[:-1], items):
        gap = text[pos:it.start]
        if prev is None:
            out.append("\n" * gap.count("\n"))
        elif "\n" in gap:
            out.append("\n" * gap.count("\n") + " " * rng.randint(0, 7))
        else:
            tight = (prev.punct in TIGHT and not it.comment) or (it.punct in TIGHT and not prev.number)
            out.append(" " * rng.randint(0 if tight else 1, 3))
        out.append(it.text)
        pos = it.end
    return "".join(out) + "\n" * text.count("\n", pos)


def rebreak(text: str, seed: int) -> str:
    """The same tokens and comments with line breaks added and removed at random (a comment
    still ends its line)."""
    rng = random.Random(seed)
    items = _items(text)
    out, pos = [], 0
    for prev, it in zip([None] + items[:-1], items):
        gap = text[pos:it.start]
        if prev is not None and "\n" not in gap and rng.random() < 0.15:
            gap = "\n" * rng.randint(1, 3) + " " * rng.randint(0, 9)
        elif prev is not None and "\n" in gap and not prev.comment and rng.random() < 0.3:
            gap = " "
        out += [gap, it.text]
        pos = it.end
    return "".join(out) + text[pos:]


def _idempotent_and_faithful(text: str, path: Path) -> None:
    once = format_source(text, str(path))
    assert format_source(once, str(path)) == once
    assert meaning(parse(once, str(path))) == meaning(parse(text, str(path)))


# ---- the repository is in canonical form ---------------------------------------------------------


def test_the_repository_has_model_files():
    names = {_rel(p) for p in REPO_FILES}
    assert {"examples/point_mass_reach.rnn", "dsl/stdlib/delayed_reaches.rnn", "tests/programs/good/compact_reversed.rnn",
            "examples/tasks/ready_set_go.rnn"} <= names and len(REPO_FILES) >= 30
    assert len(BAD_PARSEABLE) >= 100


def test_rnn_fmt_check_passes_on_every_model_file_in_the_repository(capsys):
    """The CI check: `rnn fmt --check` over every .rnn of the repository (not the bad catalogue)."""
    status = cli.main(["fmt", "--check", *map(str, REPO_FILES)])
    out = capsys.readouterr()
    assert status == 0, out.out + out.err
    assert out.out == "" and out.err == ""


@pytest.mark.parametrize("path", REPO_FILES, ids=_rel)
def test_repository_file_formats_back_from_scrambled_whitespace(path: Path):
    text = path.read_text(encoding="utf-8")
    messy = scramble(text, seed=len(text))
    assert messy != text
    assert meaning(parse(messy, str(path))) == meaning(parse(text, str(path)))
    assert format_source(messy, str(path)) == text


@pytest.mark.parametrize("path", BAD_PARSEABLE, ids=lambda p: p.name)
def test_bad_catalogue_formatting_is_idempotent_and_keeps_meaning(path: Path):
    _idempotent_and_faithful(path.read_text(encoding="utf-8"), path)


@pytest.mark.parametrize("name", ["dsl/stdlib/delayed_reaches.rnn", "examples/curl_adaptation.rnn",
                                  "tests/programs/good/compact_reversed.rnn"])
def test_any_line_breaks_format_idempotently(name: str):
    """Line breaks anywhere between tokens (the language does not mind them): the layout
    rules for continuation lines, brackets and blocks still reach a fixed point at once."""
    path = ROOT / name
    _idempotent_and_faithful(rebreak(path.read_text(encoding="utf-8"), seed=3), path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("path", REPO_FILES + BAD_PARSEABLE, ids=_rel)
def test_any_line_breaks_format_idempotently_in_every_file(path: Path, seed: int):
    _idempotent_and_faithful(rebreak(path.read_text(encoding="utf-8"), seed), path)


# ---- meaning: the `rnn check` summary ----------------------------------------------------------------


def _check_summary(path: Path, text: str) -> dict:
    s = cli._summary(str(path), [], source=text)
    s["loss"] = ["".join(t.split()) for t in s["loss"]]  # a loss expression's text is its source's
    return s


def test_check_summary_is_the_same_after_formatting():
    """Loss expressions (whose text the summary shows), nodes, edges and sizes; every model
    file is compared in the slow test below."""
    path = ROOT / "examples" / "custom_loss.rnn"
    text = path.read_text(encoding="utf-8")
    messy = scramble(text, seed=1)
    assert _check_summary(path, format_source(messy, str(path))) == _check_summary(path, messy)


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in REPO_FILES if "stdlib" not in p.parts], ids=_rel)
def test_check_summary_is_the_same_after_formatting_every_model(path: Path):
    text = path.read_text(encoding="utf-8")
    messy = scramble(text, seed=2)
    assert _check_summary(path, format_source(messy, str(path))) == _check_summary(path, messy)


@pytest.mark.slow
@pytest.mark.parametrize("path", BAD_PARSEABLE, ids=lambda p: p.name)
def test_check_errors_are_the_same_after_formatting_a_bad_program(path: Path):
    import rnnlang.dsl as dsl

    def errors(text: str) -> list[tuple[str, str | None]]:
        try:
            dsl.load_source(text, str(path))
        except ModelError as e:
            return [(d.message, d.hint) for d in e.diagnostics]
        return []

    text = path.read_text(encoding="utf-8")
    assert errors(format_source(text, str(path))) == errors(text)


# ---- the layout ----------------------------------------------------------------------------------


MESSY = """\


# a model   \n\
model   tiny{dt=10   steps =30 ;seed=0}



node task=perceptual_discrimination( coherences=[ 0.1,0.3 ] )   # the task
node net = ctrnn(hidden=8,out=2,
      transfer="relu")
task.input->net.input    // feedback
net.output  ->  task.response


loss {   # terms
  mse = squared_error(net.output,task.target)
      quiet=0.5*mean(net.output ^ 2 , during=respond)
  far = -2*mean((net.output-task.target)^2) }
train { optimizer=adam( learning_rate=1e-3 )
stage easy{task.coherences=[0.3]   until accuracy>=0.9 and not (batch<10)}
  batches=- 5 }
"""

CANONICAL = """\
# a model
model tiny { dt = 10  steps = 30; seed = 0 }

node task = perceptual_discrimination(coherences = [0.1, 0.3])  # the task
node net = ctrnn(hidden = 8, out = 2,
                 transfer = "relu")
task.input -> net.input  // feedback
net.output -> task.response

loss {  # terms
  mse = squared_error(net.output, task.target)
  quiet = 0.5 * mean(net.output^2, during = respond)
  far = -2 * mean((net.output - task.target)^2)
}
train {
  optimizer = adam(learning_rate = 1e-3)
  stage easy { task.coherences = [0.3]  until accuracy >= 0.9 and not (batch < 10) }
  batches = -5
}
"""


def test_layout_rules():
    assert format_source(MESSY, "m.rnn") == CANONICAL
    assert format_source(CANONICAL, "m.rnn") == CANONICAL


def test_declared_task_layout_with_continuations_and_comments():
    src = """\
node task = task {
inputs=[left,right[2]]  outputs = [go]
    # drawn
  coherence ~ choice(0.1, 0.3)    # per trial
flip[3] ~ bernoulli(0.02) each step
  hold memory = if flip then 1 else previous, from 0
  signed = if coherence>0 then coherence
     else -coherence
  noise = 0.1 scaled
  epoch stimulus from 100 for 500 { left = 1+coherence   right[0]=1 ; mask = 0 }
  epoch respond to duration { go = 1
     mask = 1 }
  metric m = mean(response, over = time,
    during = respond)
  accuracy = response.go > 0.5
             and true
  validation grid {  coherence = [0.1, 0.3]  }
  require epochs stimulus and respond
}
"""
    assert format_source(src, "t.rnn") == """\
node task = task {
  inputs = [left, right[2]]  outputs = [go]
  # drawn
  coherence ~ choice(0.1, 0.3)  # per trial
  flip[3] ~ bernoulli(0.02) each step
  hold memory = if flip then 1 else previous, from 0
  signed = if coherence > 0 then coherence
           else -coherence
  noise = 0.1 scaled
  epoch stimulus from 100 for 500 { left = 1 + coherence  right[0] = 1; mask = 0 }
  epoch respond to duration {
    go = 1
    mask = 1
  }
  metric m = mean(response, over = time,
                  during = respond)
  accuracy = response.go > 0.5
             and true
  validation grid { coherence = [0.1, 0.3] }
  require epochs stimulus and respond
}
"""


def test_sites_and_task_definitions():
    src = """\
task pulse( width = 2,   # steps
  height=1.0 ,
){ signal out
  epoch on for width*dt{out=height} }
site curl at arm.force : curl_field( amplitude = 1.0 ){train{active=bernoulli( 0.5 )}
validate { active = false } }
site push at net.input: custom(mode="add"){ value = -2.0*arm.effector.vel }
"""
    assert format_source(src, "s.rnn") == """\
task pulse(width = 2,  # steps
           height = 1.0,
) {
  signal out
  epoch on for width * dt { out = height }
}
site curl at arm.force: curl_field(amplitude = 1.0) {
  train { active = bernoulli(0.5) }
  validate { active = false }
}
site push at net.input: custom(mode = "add") { value = -2.0 * arm.effector.vel }
"""


def test_hanging_brackets_and_blank_lines_inside_blocks():
    src = "task t(\n\n  a = 1,\n  b = [\n  1,\n      2,\n  ],\n\n) {\n\n  signal s\n\n\n  epoch e { s = a }\n\n}\n"
    assert format_source(src, "t.rnn") == (
        "task t(\n  a = 1,\n  b = [\n    1,\n    2,\n  ],\n) {\n  signal s\n\n  epoch e { s = a }\n}\n")


def test_comments_stay_where_they_were():
    src = "# head\n\n  # above\nmodel { dt = 1   # trailing\n  # inside\n  steps = 2 # two\n}  # after\n# end\n"
    out = format_source(src, "c.rnn")
    assert out == "# head\n\n# above\nmodel {\n  dt = 1  # trailing\n  # inside\n  steps = 2  # two\n}            # after\n# end\n"


def test_a_task_parameters_documentation_is_kept():
    """A declared task's parameter documentation is the comment after it on its line, and its
    description the comment lines above it: formatting keeps both."""
    src = "# Pulses.\ntask pulse(width=2,   # steps of the pulse\n height = 1.0) { signal out\n epoch on for width { out = height } }\n"
    before, after = parse(src, "p.rnn"), parse(format_source(src, "p.rnn"), "p.rnn")
    (t0,), (t1,) = before.tasks, after.tasks
    assert [(p.name, p.doc) for p in t1.params] == [(p.name, p.doc) for p in t0.params] == [
        ("width", "steps of the pulse"), ("height", "")]
    assert t1.doc == t0.doc == "Pulses."
