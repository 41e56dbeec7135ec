"""The parser: text -> typed AST with spans, and syntax errors in the language's own words."""

from __future__ import annotations

import pytest

from rnnlang.dsl import ast as A
from rnnlang.dsl.errors import ModelError
from rnnlang.dsl.parser import parse

SOURCE = """# a comment
model reach { dt = 0.05  steps = 99 }   // another comment
node net = gru(hidden = 50, out = 2, init = spectral_radius(1.1), transfer = tanh)
node arm = point_mass(mass = -1.5e-1, masks = [[1, 0], [0, 1]], name = "a \\"q\\"", flag = true, x = none)
task.target.pos -> net.input
net.output -> arm.force
site curl at arm.force: curl_field(amplitude = 1.0) {
  train { active = bernoulli(0.5) }
  validate { active = false; amplitude = choice(1, 2) }
}
loss { pos = squared_error(arm.effector.pos, task.target.pos, discount = 6)  effort = 1e-5 * penalty(net.output) }
train {
  optimizer = adam(learning_rate = 1e-2)
  mask.net.W_rec = [[1]]
  stage easy { task.coherences = [0.7]; until_accuracy = 0.9 }
}
"""


@pytest.fixture(scope="module")
def mf() -> A.ModelFile:
    return parse(SOURCE, "m.rnn")


def test_blocks_are_grouped(mf):
    assert mf.path == "m.rnn" and mf.source == SOURCE
    assert [m.name for m in mf.models] == ["reach"]
    assert [n.name for n in mf.nodes] == ["net", "arm"]
    assert len(mf.edges) == 2 and len(mf.sites) == 1 and len(mf.losses) == 1 and len(mf.trains) == 1


def test_spans_count_from_one(mf):
    net = mf.nodes[0]
    assert (net.span.line, net.span.col) == (3, 1)
    assert (net.name_span.col, net.name_span.end_col) == (6, 9)
    assert (net.kind_span.col, net.kind_span.end_col) == (12, 15)
    assert str(net.span) == "m.rnn:3:1"


def test_values(mf):
    arm = {k.name: k.value for k in mf.nodes[1].params}
    assert arm["mass"] == A.Number(-0.15, arm["mass"].span)
    assert isinstance(arm["masks"], A.ListValue) and A.to_python(arm["masks"]) == [[1, 0], [0, 1]]
    assert arm["name"].value == 'a "q"'
    assert arm["flag"].value is True and isinstance(arm["x"], A.NoneValue)
    net = {k.name: k.value for k in mf.nodes[0].params}
    assert isinstance(net["hidden"].value, int)
    assert A.to_python(net["init"]) == {"name": "spectral_radius", "args": [1.1], "kwargs": {}}
    assert net["transfer"] == A.Ref(("tanh",), net["transfer"].span)


def test_edges_keep_source_order_and_fields(mf):
    e0, e1 = mf.edges
    assert (e0.index, e1.index) == (0, 1)
    assert (e0.source.node, e0.source.port, e0.source.field) == ("task", "target", "pos")
    assert str(e0.source) == "task.target.pos" and str(e1.target) == "arm.force"
    assert e0.source.field_span.col == 13


def test_site(mf):
    site = mf.sites[0]
    assert (site.name, site.kind, str(site.target)) == ("curl", "curl_field", "arm.force")
    assert [s.phase for s in site.schedules] == ["train", "validate"]
    assert [s.dotted for s in site.schedules[1].settings] == ["active", "amplitude"]


def test_loss_and_train(mf):
    pos, effort = mf.loss.terms
    assert (pos.name, pos.weight, pos.call.name) == ("pos", 1.0, "squared_error")
    assert (effort.weight, effort.call.name) == (1e-5, "penalty")
    train = mf.train
    assert [s.dotted for s in train.settings] == ["optimizer", "mask.net.W_rec"]
    assert train.stages[0].name == "easy" and train.stages[0].settings[0].key == ("task", "coherences")


def test_keywords_stay_usable_as_names_where_unambiguous():
    mf = parse("node task = simple_reaches()\nnode stage = channel()\ntask.target -> stage.input\n")
    assert [n.name for n in mf.nodes] == ["task", "stage"]


def test_declared_task_body():
    mf = parse("node ctx = task {\n  n = 2\n  inputs = [a, ring[4]]\n  epoch fix for 3 { a = 1 }\n}\n")
    decl = mf.nodes[0]
    assert decl.kind == "task" and decl.body is not None
    assert [type(s).__name__ for s in decl.body.statements] == ["Let", "Let", "Epoch"]
    assert [s.name for s in decl.body.statements] == ["n", "inputs", "fix"]


def test_positional_arguments_are_kept_for_the_checker():
    decl = parse("node n = ctrnn(50, out = 2)").nodes[0]
    assert len(decl.positional) == 1 and [k.name for k in decl.params] == ["out"]


def test_duplicate_blocks_are_all_kept():
    mf = parse("model { dt = 1 }\nmodel { dt = 2 }\nloss { }\nloss { }\ntrain { }\ntrain { }\n")
    assert (len(mf.models), len(mf.losses), len(mf.trains)) == (2, 2, 2)


def syntax_error(text: str):
    with pytest.raises(ModelError) as info:
        parse(text, "s.rnn")
    (d,) = info.value.diagnostics
    return d


@pytest.mark.parametrize("text, line, col, message", [
    ("node net = ctrnn(hidden = 8\nnode x = y()", 2, 1, "unexpected name `node`; expected ')' or ','"),
    ("train {\n  batches = 1\n", 2, 14, "unexpected end of file; expected ';', 'stage', 'until', '}' or a name"),
    ("node n = ctrnn(hidden = 8 $)", 1, 27, "unexpected character '$'"),
    ("node n = ctrnn(t = 'x')", 1, 20, "unexpected character '''"),
    ("node n ctrnn()", 1, 8, "unexpected name `ctrnn`; expected '='"),
    ("node n =", 1, 9, "unexpected end of file; expected 'task' or a node kind"),
    ("a.b ->", 1, 7, "unexpected end of file; expected a port (`node.port`)"),
    ("a.b -> c", 1, 9, "unexpected end of file; expected '.'"),
    ("model { dt = }", 1, 14, "unexpected '}'; expected a value"),
    ("node n = x(a = [1, 2)", 1, 21, "unexpected ')'; expected ',' or ']'"),
    ('node n = x(a = "abc)', 1, 16, "unexpected character '\"'"),
    ("site s at a.b: c() { test { } }", 1, 22, "unknown schedule `test`; a site's schedules are `train` and `validate`"),
])
def test_syntax_errors(text, line, col, message):
    d = syntax_error(text)
    assert (d.span.line, d.span.col, d.message) == (line, col, message)


@pytest.mark.parametrize("text, hint", [
    ("node n = ctrnn(t = 'x')", 'strings use double quotes: "like this"'),
    ("train {\n", "a block opened with '{' is missing its '}'"),
    ("a.b -> c.d -> e.f", "an edge is written `node.port -> node.port`; is the previous edge missing its target?"),
    ("node n ctrnn()", "settings and keyword arguments are written `name = value`"),
])
def test_syntax_hints(text, hint):
    assert syntax_error(text).hint == hint


def test_empty_and_blank_files():
    for text in ("", "   \n\n\t"):
        d = syntax_error(text)
        assert d.message == "the file is empty" and (d.span.line, d.span.col) == (1, 1)
