"""The front end of expressions in losses, metrics, the accuracy and the choice: keyword
arguments, reductions over axes and windows, crossings and `never`, evaluated with NumPy
against their formulas; every mistake with its message and position; hostile inputs; and the
built-in loss terms, now parsed as expressions, giving exactly the calls they gave before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlang.dsl import ModelError, ast as A, checks, parser
from rnnlang.dsl import tasklang as TL

ROOT = Path(__file__).resolve().parents[2]

MODEL = """model { dt = 10  steps = 20 }
node task = task {
  inputs = [fixation, stim]
  outputs = [fix, left, right]
  coherence ~ choice(0.1, 0.5)
  direction ~ integer(0, 2)
  epoch fixate for 50 { fixation = 1  fix = 1  mask = 1 }
  epoch respond { left = if direction == 0 then 1 else 0  right = 1 - left_target  mask = 1 }
}
node net = ctrnn(hidden = 8, out = 3)
task.input -> net.input
net.output -> task.response
"""
# `left_target` is not a variable: MODEL's task is fixed up below so that it checks
MODEL = MODEL.replace("right = 1 - left_target", "right = if direction == 1 then 1 else 0")
LOSS_LINE = 14  # the line of the loss block's first term in `with_loss`


def with_loss(*terms: str) -> str:
    return MODEL + "loss {\n" + "\n".join(f"  {t}" for t in terms) + "\n}\n"


def errors(source: str) -> list[tuple[int, int, str, str | None]]:
    with pytest.raises(ModelError) as info:
        checks.check(parser.parse(source, "m.rnn"))
    return [(d.span.line, d.span.col, d.message, d.hint) for d in info.value.errors]


def expr(text: str) -> TL.Expr:
    return parser.parse(f"loss {{ a = {text} }}", "e.rnn").loss.terms[0].expr


# ---- evaluation (NumPy): each reduction, window and crossing against its formula --------------

RNG = np.random.default_rng(3)
B, T, N = 4, 7, 3
X = RNG.normal(size=(B, T, N))
W = np.zeros((B, T, 1))
for b in range(B):
    W[b, 2 + b % 2:5 + b, 0] = 1.0  # windows of different lengths per trial
W[3] = 0.0  # an empty window
ENV = {"x": X, "dt": 10.0, TL.AXES_KEY: ("time", "units"), TL.WINDOW_KEY + "w": W, "v": X[:, :1, :]}


def ev(text: str, env=ENV):
    with np.errstate(all="ignore"):
        return np.asarray(TL.evaluate(expr(text), env, np))


@pytest.mark.parametrize("name", ["mean", "sum", "max", "min"])
@pytest.mark.parametrize("over,axes", [(None, (1, 2)), ("time", (1,)), ("units", (2,)), ("[time, units]", (1, 2))])
def test_reductions_over_axes(name, over, axes):
    got = ev(f"{name}(x{', over = ' + over if over else ''})")
    np.testing.assert_allclose(got, getattr(np, name)(X, axis=axes, keepdims=True))


def test_windowed_reductions():
    wb = np.broadcast_to(W, X.shape)
    inside = wb > 0
    np.testing.assert_allclose(ev("mean(x, during = w)"), (X * wb).sum(axis=(1, 2), keepdims=True)
                               / np.maximum(wb.sum(axis=(1, 2), keepdims=True), 1e-7))
    np.testing.assert_allclose(ev("mean(x, over = time, during = w)"), (X * wb).sum(axis=1, keepdims=True)
                               / np.maximum(wb.sum(axis=1, keepdims=True), 1e-7))
    np.testing.assert_allclose(ev("sum(x, during = w)"), (X * wb).sum(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(ev("max(x, over = time, during = w)"), np.where(inside, X, -np.inf).max(axis=1, keepdims=True))
    np.testing.assert_allclose(ev("min(x, during = w)"), np.where(inside, X, np.inf).min(axis=(1, 2), keepdims=True))
    np.testing.assert_array_equal(ev("all(x > -1, over = time, during = w)"), np.where(inside, X > -1, True).all(axis=1, keepdims=True))
    np.testing.assert_array_equal(ev("any(x > 1, during = w)"), np.where(inside, X > 1, False).any(axis=(1, 2), keepdims=True))
    assert ev("mean(x, during = w)")[3].item() == 0.0  # an empty window: the mean is 0
    # a value constant over time counts once; within a window, once per step of the window
    np.testing.assert_allclose(ev("sum(v, over = time)"), X[:, :1, :])
    np.testing.assert_allclose(ev("sum(1, during = w)"), W.sum(axis=(1, 2), keepdims=True))


def test_two_argument_min_and_max_stay_element_wise_and_sum_of_a_vector_is_over_units():
    np.testing.assert_allclose(ev("max(x, 0.5)"), np.maximum(X, 0.5))
    np.testing.assert_allclose(ev("min(x, 0, -x)"), np.minimum(np.minimum(X, 0), -X))
    env = {TL.AXES_KEY: ("units",), "v": np.array([[[1.0, 2.0, 4.0]]])}  # a task body: units only
    np.testing.assert_allclose(ev("sum(v)", env), [[[7.0]]])
    np.testing.assert_allclose(ev("sum([1, 2, 4])", {}), [7])


def test_argmax_picks_the_first_largest_channel():
    np.testing.assert_array_equal(ev("argmax(x)"), np.argmax(X, axis=-1)[..., None])
    assert ev("argmax([1, 3, 3])", {}).tolist() == [1]


def crossing_reference(x, level, w, last=False):
    hit = (x >= level) & (np.broadcast_to(w, x.shape) > 0)
    if last:
        up = hit & ~np.concatenate([np.zeros_like(hit[:, :1]), hit[:, :-1]], axis=1)
        k = x.shape[1] - 1 - np.argmax(up[:, ::-1], axis=1)
        return np.where(up.any(axis=1), k * 10.0, np.nan)[:, None, :]
    return np.where(hit.any(axis=1), np.argmax(hit, axis=1) * 10.0, np.nan)[:, None, :]


def test_crossings_within_a_window():
    ones = np.ones((B, T, 1))
    np.testing.assert_allclose(ev("first_crossing(x, 0.3)"), crossing_reference(X, 0.3, ones))
    np.testing.assert_allclose(ev("first_crossing(x, 0.3, during = w)"), crossing_reference(X, 0.3, W))
    np.testing.assert_allclose(ev("last_crossing(x, 0.3)"), crossing_reference(X, 0.3, ones, last=True))
    np.testing.assert_allclose(ev("last_crossing(x, 0.3, during = w)"), crossing_reference(X, 0.3, W, last=True))
    np.testing.assert_array_equal(ev("crossed(x, 0.3, during = w)"), ((X >= 0.3) & (W > 0)).any(axis=1, keepdims=True))
    # a level per trial
    env = {**ENV, "lv": np.array([0.0, 0.5, 1.0, 2.0]).reshape(B, 1, 1)}
    np.testing.assert_allclose(ev("first_crossing(x, lv)", env), crossing_reference(X, env["lv"], ones))


def test_never_compares_false():
    for text in ("never < 1", "never >= 1", "never == never", "never != 1", "1 != never", "never > -1e30"):
        assert not ev(text, {"never": TL.NEVER_VALUE}).any(), text
    assert ev("1 != 2", {}).item() and not ev("1 != 1", {}).item()


# ---- loss expressions: what checks, and what is refused where ---------------------------------

def test_expression_terms_check_and_list_what_they_read():
    cm = checks.check(parser.parse(with_loss(
        "late = mean((net.output - task.target)^2, during = respond)",
        "l1 = 1e-3 * sum(abs(net.W_rec))",
        "coh = mean(net.hidden^2) * task.coherence",
        "first = mean(final(net.output)^2)"), "m.rnn"))
    late, l1, coh, first = cm.loss
    assert late.kind == "expression" and late.text == "mean((net.output - task.target)^2, during = respond)"
    assert late.reads == {"net.output": ("signal", "net", "output", None), "task.target": ("signal", "task", "target", None)}
    assert l1.reads == {"net.W_rec": ("tensor", "net", "W_rec")}
    assert coh.reads["task.coherence"] == ("var", "coherence")
    assert first.reads == {"net.output": ("signal", "net", "output", None)}


@pytest.mark.parametrize("term,marker,message,hint", [
    ("a = net.output - task.target", "net.output - task.target", "a loss term is one number, but this is a vector of 3 numbers (one per unit)",
     "reduce it, e.g. wrap it in mean(net.output - task.target) or sum(...)"),
    ("a = sum(net.output, over = units)", "sum(", "a loss term is one number, but this changes over time",
     "reduce it over time, e.g. wrap it in mean(sum(net.output, over = units)) or sum(...)"),
    ("a = net.output - net.hidden", "net.hidden", "`-` combines vectors of different lengths: 3 and 8", None),
    ("a = mean(net.output, during = decision)", "decision", "unknown epoch `decision`", "the task's epochs: `fixate`, `respond`"),
    ("a = mean(net.output, during = respnd)", "respnd", "unknown epoch `respnd`",
     "did you mean `respond`? the task's epochs: `fixate`, `respond`"),
    ("a = mean(net.output, over = units, during = respond)", "during", "`during` restricts the time axis, but this reduces over units only",
     "add time: over = [time, units], or leave `over` out"),
    ("a = mean(net.output, over = trials)", "trials",
     "`trials` is not an axis here: a loss term is computed for each trial over its (time, units) and averaged over the trials",
     "reduce `time` and `units`; the mean over trials is taken for you"),
    ("a = mean(net.output, over = [time, tiem])", "tiem", "`tiem` is not an axis; `over` names `time`, `units` (or a list of them)",
     "did you mean `time`?"),
    ("a = mean(net.output, over = [time, time])", "time])", "the axis `time` is named twice", None),
    ("a = mean(nte.output)", "nte.output", "unknown node `nte`", "did you mean `net`?"),
    ("a = mean(task.coherenc)", "task.coherenc", "`task` (task) has no port `coherenc`", "did you mean `coherence`?"),
    ("a = mean(coherence)", "coherence", "`coherence` is a trial variable of the task; a loss reads it as `task.coherence`", None),
    ("a = mean(net.input)", "net.input", "a loss reads output signals; `net.input` is an input", "outputs of `net`: `output`, `hidden`"),
    ("a = mean(\"x\")", "\"x\"", "a string is only an argument of a built-in loss term (such as `reduce = \"mean\"`)", None),
    ("a = mean(net.output > 0)", "net.output > 0", "`mean` needs numbers, but this is a vector of 3 conditions",
     "turn a condition into a number with `if COND then 1 else 0`"),
    ("a = mean(net.output) > 0", "mean(", "a loss term is a number, but this is a condition (true or false)",
     "write `if COND then 1 else 0`"),
    ("a = mean(net.output) + penalty(net.hidden)", "penalty",
     "`penalty(...)` is a built-in loss term; it stands alone as a term, `name = [weight *] penalty(...)`",
     "write it as a term of its own, and the rest as another term"),
    ("a = net.W_rec * 2", "net.W_rec", "a loss term is one number, but this is every entry of `net.W_rec`",
     "reduce it, e.g. mean(abs(net.W_rec)) or sum(net.W_rec^2)"),
    ("a = net.W_rec * mean(net.output)", "net.W_rec", "the parameter tensor `net.W_rec` combines only with numbers and with itself",
     "reduce it on its own first, e.g. mean(abs(net.W_rec))"),
    ("a = mean(net.W_rec * net.output)", "net.W_rec", "the parameter tensor `net.W_rec` combines only with numbers and with itself",
     "reduce it on its own first, e.g. mean(abs(net.W_rec))"),
    ("a = mean(net.W_rec * task.coherence)", "net.W_rec", "the parameter tensor `net.W_rec` combines only with numbers and with itself",
     None),
    ("a = mean(abs(net.W_rec), over = units)", "over = units",
     "a parameter tensor has no time or units: `mean` reduces it over all its entries", "leave out `over`"),
    ("a = mean(net.output, hello = 1)", "hello", "`mean` has no argument `hello`", None),
    ("a = abs(net.output, over = time)", "over", "`abs` takes no argument `over`",
     "named arguments (`over`, `during`) belong to a reduction of one value (mean, sum, max, min, all, any) and the crossings"),
    ("a = mean(over = time, net.output)", "net.output", "an argument without a name follows a named one",
     "write the named arguments last: mean(x, over = ...)"),
    ("a = mean(first_crossing(task.coherence, 0.5))", "task.coherence",
     "`first_crossing` finds when a signal over the trial reaches a level, but this does not change over time",
     "e.g. first_crossing(response.go, 0.5, during = respond)"),
    ("a = mean(t * net.output, during = fixate) + crossing(0.5)", "crossing",
     "`crossing` reads a task's response in `accuracy`; in a loss write first_crossing(x, level[, during = epoch])", None),
    ("a = mean(undefined_thing)", "undefined_thing", "undefined name `undefined_thing`", None),
    ("a = squared_eror(net.output, task.target)", "squared_eror", "unknown loss term `squared_eror`", "did you mean `squared_error`?"),
])
def test_loss_expression_errors_by_message_and_position(term, marker, message, hint):
    got = errors(with_loss(term))
    assert len(got) == 1, got
    line, c, msg, h = got[0]
    assert (line, c, msg) == (LOSS_LINE, 3 + term.index(marker), message)
    if hint is not None:
        assert h == hint


@pytest.mark.parametrize("term,message,hint", [
    ("a = mean(net.W_rc^2)", "`net` has no port or parameter tensor `W_rc`", "did you mean `W_rec`?"),
    ("a = mean(net.outptu)", "`net` has no port or parameter tensor `outptu`", "did you mean `output`?"),
])
def test_a_typo_of_a_port_or_tensor_is_reported_by_the_compiler_at_its_position(term, message, hint):
    """Parameter tensors are the compiler's to name: `rnn check` compiles the model's shapes."""
    from rnnlang.compiler.lower import compile_model

    cm = checks.check(parser.parse(with_loss(term), "m.rnn"))
    with pytest.raises(ModelError) as info:
        compile_model(cm, None)  # type: ignore[arg-type]
    (d,) = info.value.errors
    assert ((d.span.line, d.span.col), d.message, d.hint) == ((LOSS_LINE, 12), message, hint)


@pytest.mark.parametrize("text,message", [
    ("1e999 * mean(net.output)", "1e999 is beyond the range of numbers a task computes with (32-bit floats, about 3.4e38)"),
    ("mean(net.output, over = [" + ", ".join(["time"] * 5000) + "])", "the axis `time` is named twice"),
    ("mean(net.output, over = [" + ", ".join(f"ax{i}" for i in range(5000)) + "])",
     "`ax0` is not an axis; `over` names `time`, `units` (or a list of them)"),
    ("abs(" * 100 + "1" + ")" * 100, "nested too deeply: more than 64 levels of lists, calls or sub-expressions"),
    ("mean(nan * net.output)", "undefined name `nan`"),
    ("mean(net.output, during = " + "e" * 10000 + ")", "unknown epoch `" + "e" * 10000 + "`"),
])
def test_hostile_loss_expressions_are_refused_with_a_position(text, message):
    got = errors(with_loss(f"a = {text}"))
    assert got and got[0][2] == message and got[0][0] == LOSS_LINE


def test_an_infinite_mean_of_a_finite_expression_is_still_checked():
    """Values beyond float32 in an expression are refused at parse; a huge but finite one checks."""
    cm = checks.check(parser.parse(with_loss("a = 3e38 * mean(net.output^2)"), "m.rnn"))
    assert cm.loss[0].kind == "expression"


# ---- task bodies: metrics, accuracy, choice ---------------------------------------------------

TASK = """model { dt = 10  steps = 20 }
node task = task {
  inputs = [fixation, stim]
  outputs = [fix, left, right]
  direction ~ integer(0, 2)
  choice = if direction == 0 then 0 else 1
  epoch fixate for 50 { fixation = 1  fix = 1  mask = 1 }
  epoch respond { left = 1  mask = 1 }
LINE
}
node net = ctrnn(hidden = 8, out = 3)
task.input -> net.input
net.output -> task.response
loss { mse = squared_error(net.output, task.target) }
"""


def body_errors(line: str) -> list[tuple[int, int, str]]:
    return [(a, b, c) for a, b, c, _ in errors(TASK.replace("  choice = if direction == 0 then 0 else 1\n", "").replace("LINE", line))]


def test_a_choice_that_reads_the_response_is_the_tasks_choice_and_one_that_does_not_is_a_variable():
    def spec(src):
        cm = checks.check(parser.parse(src, "m.rnn"))
        return TL.analyse(cm.task.params["body"], cm.task.params["body"].span, 10, 20, sample=False)[0]

    old = spec(TASK.replace("LINE", ""))
    assert old.choice is None and old.variable("choice") is not None  # as files written before `choice`
    new = spec(TASK.replace("  choice = if direction == 0 then 0 else 1\n", "").replace(
        "LINE", "  choice = argmax(mean(concat(response.left, response.right), over = time, during = respond))"))
    assert new.choice is not None and new.variable("choice") is None


@pytest.mark.parametrize("line,marker,message", [
    ("  choice = mean(response.left, during = respond)", "mean(",
     "`choice` is the index of the chosen channel (an integer per trial), but this is a number"),
    ("  choice = argmax(concat(response.left, response.right))", "argmax", "`choice` is one value per trial, but this changes over time"),
    ("  accuracy = response.left > 0.5", "response.left", "`accuracy` is one value per trial, but this changes over time"),
    ("  metric m = mean(response, over = time)", "mean(", "a metric is one number per trial, but this is a vector of 3 numbers"),
    ("  metric m = mean(response.left, during = respnse)", "respnse", "unknown epoch `respnse`"),
    ("  metric m = mean(response.left, over = trials)", "trials",
     "`trials` is not an axis here: a metric is computed for each trial over its (time, units)"),
    ("  x = mean(direction, over = time)", "time)", "`time` is not an axis here: a value of a task's body is one trial's vector (its units)"),
    ("  x = sum(direction, during = respond)", "during", "`during` restricts a reduction to an epoch's steps; it belongs to metrics, "
     "`accuracy`, `choice` and losses"),
    ("  x = first_crossing(direction, 1)", "first_crossing", "`first_crossing` reads a signal over the trial; it belongs to metrics, `accuracy`, "
     "`choice` and losses"),
    ("  x = never", "never", "`never` is the time of a crossing that does not happen; it is only available where the network's response is "
     "read (a metric, `accuracy`, `choice`, a loss)"),
    ("  accuracy = first_crossing(response.left, 0.5) == never", "first_crossing",
     "`== never` is always false: every comparison with `never` is"),
    ("  metric m = first_crossing(response.left, response.right)", "response.right",
     "the level of a crossing is one number per trial, not a signal over time"),
])
def test_task_body_errors_by_message_and_position(line, marker, message):
    got = body_errors(line)
    assert (8, 1 + line.index(marker), message) in got, got


def test_metrics_accuracy_and_choice_with_windows_check():
    src = TASK.replace("  choice = if direction == 0 then 0 else 1\n", "").replace("LINE", """
  choice = argmax(mean(concat(response.left, response.right), over = time, during = respond))
  accuracy = response_choice == direction and all(response.fix > 0.5, over = time, during = fixate)
  metric rt = first_crossing(response.left, 0.5, during = respond)
  metric second = last_crossing(max(response.left, response.right), 0.5) > 100
  metric went = not crossed(response.right, 0.5)
  metric held = mean(response.fix, during = fixate)
  metric both = argmax(mean(response, over = time, during = respond)) == direction + 1""")
    cm = checks.check(parser.parse(src, "m.rnn"))
    spec = TL.analyse(cm.task.params["body"], cm.task.params["body"].span, 10, 20, sample=False)[0]
    assert [m for m, _ in spec.metrics] == ["rt", "second", "went", "held", "both"]


# ---- the built-in terms: the same calls as before terms were expressions ----------------------

def _builtin_terms() -> list[tuple[Path, A.LossTerm]]:
    files = sorted((ROOT / "examples").rglob("*.rnn")) + sorted((ROOT / "tests" / "programs" / "good").glob("*.rnn"))
    out = []
    for f in files:
        mf = parser.parse(f.read_text(encoding="utf-8"), str(f))
        out += [(f, t) for t in (mf.loss.terms if mf.loss else ()) if t.call is not None]
    return out


def _plain(v):
    if isinstance(v, A.Call):
        return ("call", v.name, tuple(_plain(a) for a in v.args), tuple((k.name, _plain(k.value)) for k in v.kwargs))
    if isinstance(v, A.ListValue):
        return ("list", tuple(_plain(i) for i in v.items))
    return A.to_python(v)


def test_every_builtin_term_of_the_examples_parses_to_the_call_it_was():
    """A built-in term written in the value grammar (as `node x = TERM(...)` still parses it)
    and as an expression give the same call: the same arguments, so the same loss values."""
    terms = _builtin_terms()
    assert len(terms) >= 15
    for path, term in terms:
        sp = term.call.span
        lines = path.read_text(encoding="utf-8").splitlines()
        text = lines[sp.line - 1][sp.col - 1:sp.end_col - 1] if sp.line == sp.end_line else None
        if text is None:
            continue
        node = parser.parse(f"node x = {text}", "v.rnn").nodes[0]
        assert node.kind == term.call.name
        assert tuple(_plain(a) for a in node.positional) == tuple(_plain(a) for a in term.call.args), (path, text)
        assert tuple((k.name, _plain(k.value)) for k in node.params) == \
            tuple((k.name, _plain(k.value)) for k in term.call.kwargs), (path, text)


def test_weights_of_builtin_terms():
    mf = parser.parse("loss { a = 1e-5 * penalty(x.y)  b = -2 * final(x.y)  c = firing_rate(x.y) }", "w.rnn")
    assert [(t.weight, t.call.name) for t in mf.loss.terms] == [(1e-5, "penalty"), (-2.0, "final"), (1.0, "firing_rate")]
