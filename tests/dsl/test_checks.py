"""Each check on its own, against a small fake registry (see dsl_helpers.FAKE_KINDS)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlang.dsl import checks
from rnnlang.dsl.model import Distribution, Signal

from .dsl_helpers import BASE, HEADER, check_text, context, errors_of, hints, messages

LOSS = "loss { p = squared_error(arm.state.pos, task.goal.pos) }\n"
OK = BASE + LOSS


def test_the_base_model_is_clean():
    cm = check_text(OK)
    assert cm.warnings == []
    assert list(cm.nodes) == ["task", "net", "arm"]


# ---- duplicates ------------------------------------------------------------------------------


def test_duplicate_node_points_at_the_second_and_notes_the_first():
    diags = checks.check_duplicate_names(context(OK + "node net = rnn(hidden = 2, out = 2)\n"))
    assert [d.message for d in diags] == ["duplicate node `net`"]
    assert diags[0].span.line == 11
    assert diags[0].related[0][0].line == 3


def test_duplicate_site_term_and_stage():
    text = OK + """site s at arm.force: push()
site s at arm.force: push()
loss { p = final(arm.state) }
train { stage a { batches = 1 } stage a { batches = 2 } }
"""
    diags = checks.check_duplicate_names(context(text))
    assert [d.message for d in diags] == ["duplicate site `s`", "duplicate loss term `p`", "duplicate stage `a`"]


@pytest.mark.parametrize("block", ["model { dt = 1 steps = 2 }", "loss { }", "train { }"])
def test_duplicate_blocks(block):
    text = OK + "train { }\n" + block + "\n" if not block.startswith("train") else OK + "train { }\n" + block + "\n"
    word = block.split()[0]
    diags = checks.check_duplicate_blocks(context(text))
    assert [d.message for d in diags] == [f"duplicate `{word}` block"]
    assert diags[0].span.line == 12


def test_duplicate_settings_and_parameters():
    text = HEADER.replace("steps = 10", "steps = 10 steps = 11") + "node a = rnn(hidden = 1, hidden = 2, out = 1)\n"
    assert [d.message for d in checks.check_duplicate_settings(context(text))] == [
        "duplicate setting `steps`", "duplicate parameter `hidden`"]


# ---- names -----------------------------------------------------------------------------------


def test_reserved_word_node_names():
    text = HEADER + "node model = rnn(hidden = 1, out = 1)\nnode task = reach()\nnode stage = line()\n"
    diags = checks.check_reserved_names(context(text))
    assert [d.message for d in diags] == ["`model` is a reserved word and cannot name a node"]
    assert "cannot be used in edges" in diags[0].hint


def test_unknown_node_kind_suggests_the_closest():
    text = HEADER + "node net = rnm(hidden = 1, out = 1)\n"
    assert messages(text) == ["unknown node kind `rnm`"]
    assert hints(text) == ["did you mean `rnn`?"]


def test_unknown_node_kind_lists_kinds_when_nothing_is_close():
    assert "node kinds: `body`, `line`, `reach`, `reach2`, `rnn`" == hints(HEADER + "node x = zzzzzz()\n")[0]


def test_intervention_is_not_a_node_kind():
    assert messages(HEADER + "node x = push()\n") == ["`push` is an intervention, not a node kind"]


def test_unknown_node_kind_does_not_cascade_into_edges():
    text = HEADER + "node net = rnm(hidden = 1, out = 1)\nnode t = reach()\nt.goal -> net.input\nnet.output -> t.seen\n"
    assert messages(text) == ["unknown node kind `rnm`"]


def test_declared_task_without_a_task_kind():
    text = HEADER + "node n = rnn(hidden = 1, out = 1)\nnode t = task { inputs = [a]  outputs = [b] }\n"
    assert messages(text)[0].startswith("tasks declared in the file")


def test_at_most_one_task():
    text = OK + "node other = reach2()\n"
    assert messages(text) == ["a model has at most one task; `other` is a second one"]


def test_no_nodes():
    assert messages(HEADER) == ["the model declares no nodes"]


# ---- parameters ------------------------------------------------------------------------------


def node(params: str) -> str:
    return HEADER + f"node net = rnn({params})\nnode t = reach()\nt.goal -> net.input\nnet.output -> t.seen\n"


def test_missing_required_parameter_points_at_the_call():
    errs = errors_of(node("hidden = 4"))
    assert errs == [(2, 12, "`rnn` needs `out`")]


def test_missing_and_misspelt_parameter_is_one_error():
    assert messages(node("hiden = 4, out = 2")) == ["`rnn` has no parameter `hiden`"]
    assert hints(node("hiden = 4, out = 2")) == ["did you mean `hidden`?"]


def test_positional_arguments_are_refused_once_per_call():
    assert messages(node("4, 2")) == ["node parameters are named: write `name = value`"]
    assert "rnn(hidden = ..., out = ...)" in hints(node("4, 2"))[0]


@pytest.mark.parametrize("value, message", [
    ('"4"', "`hidden`: expected an integer, got a string"),
    ("4.0", "`hidden`: expected an integer, got 4.0"),
    ("1e2", "`hidden`: expected an integer, got 100.0"),
    ("true", "`hidden`: expected an integer, got `true`"),
    ("[4]", "`hidden`: expected an integer, got a list"),
    ("0", "`hidden` must be >= 1, got 0"),
    ("-3", "`hidden` must be >= 1, got -3"),
])
def test_int_parameter(value, message):
    assert messages(node(f"hidden = {value}, out = 2")) == [message]


@pytest.mark.parametrize("params, message", [
    ("noise = -0.5", "`noise` must be >= 0, got -0.5"),
    ("ratio = 1.5", "`ratio` must be in [0, 1], got 1.5"),
    ("ratio = true", "`ratio`: expected a number, got `true`"),
    ('act = "tan"', "unknown value `tan` for `act`"),
    ("act = 3", "`act`: expected a string, got 3"),
    ("init = scaledd(2)", "unknown `init` `scaledd`"),
    ("init = 2", "`init`: expected a name or a call such as `name(1.0)`, got 2"),
    ("flag = 1", "`flag`: expected `true` or `false`, got 1"),
    ("taus = [1, 0]", "`taus` must be > 0, got 0"),
    ("taus = [[1]]", "`taus`: expected a number, got a list"),
    ("mask = [1, 0]", "`mask`: expected a matrix (a list of rows of numbers), got a flat list"),
    ("mask = [[1, 0], [1]]", "`mask` is ragged: this row has 1 number but the first row has 2 numbers; every row must have the same length"),
    ("mask = [[1, 0], [1, x]]", "`mask`: expected a number, got the name `x`"),
    ("noise = normal(0, 1)", "`noise` is fixed when the model is compiled; it cannot be drawn per trial"),
])
def test_parameter_values(params, message):
    assert messages(node(f"hidden = 4, out = 2, {params}")) == [message]


def test_an_int_is_a_float_and_values_resolve_to_python():
    cm = check_text(node("hidden = 4, out = 2, noise = 1, act = relu, init = scaled(1.5, k = 2), "
                         "mask = [[1, 0], [0, 1]], taus = [1, 2.5], flag = false, extra = [1, \"a\"]"))
    p = cm.nodes["net"].params
    assert p["noise"] == 1.0 and isinstance(p["noise"], float)
    assert p["act"] == "relu"
    assert p["init"] == {"name": "scaled", "args": [1.5], "kwargs": {"k": 2}}
    assert isinstance(p["mask"], np.ndarray) and p["mask"].dtype == np.float32 and p["mask"].shape == (2, 2)
    assert p["taus"] == [1, 2.5] and p["flag"] is False and p["extra"] == [1, "a"]
    assert p["ratio"] == 0.0 and p["hidden"] == 4


def test_defaults_filled_and_bare_call_name():
    p = check_text(node("hidden = 4, out = 2, init = scaled")).nodes["net"].params
    assert p["init"] == "scaled" and p["act"] == "tanh" and p["mask"] is None
    assert list(p) == ["hidden", "out", "act", "init", "noise", "ratio", "mask", "taus", "flag", "extra"]


def test_none_only_for_optional_parameters():
    assert check_text(node("hidden = 4, out = 2, mask = none")).nodes["net"].params["mask"] is None
    assert messages(node("hidden = none, out = 2")) == ["`hidden`: expected an integer, got `none`"]


# ---- edges -----------------------------------------------------------------------------------


def edges(extra: str) -> str:
    return HEADER + "node task = reach()\nnode net = rnn(hidden = 4, out = 2)\nnode arm = body()\n" + extra


def test_edge_into_an_output():
    assert messages(edges("task.goal -> net.output\n")) == [
        "`net.output` is an output; an edge must go from an output to an input"]


def test_edge_out_of_an_input():
    assert messages(edges("net.input -> arm.force\n")) == [
        "`net.input` is an input; an edge must go from an output to an input"]


def test_unknown_node_port_and_field_in_edges():
    text = edges("tsk.goal -> net.input\ntask.gaol -> net.input\ntask.goal.pso -> net.input\nnet.output.x -> arm.force\n")
    assert messages(text) == [
        "unknown node `tsk`", "`task` (reach) has no port `gaol`", "`task.goal` has no field `pso`",
        "`net.output` has no fields"]
    assert hints(text)[:3] == ["did you mean `task`?", "did you mean `goal`?", "did you mean `pos`?"]


def test_init_ports_pair_with_init_outputs():
    text = edges("net.output -> arm.init\ntask.start -> net.input\n")
    assert messages(text) == [
        "`arm.init` sets the initial state once per trial; its edge must come from an init output",
        "`task.start` is a per-trial initial value; it can only go to an init port"]
    assert hints(text) == ["init outputs in this model: `task.start`", "init ports in this model: `arm.init`"]


def test_single_port_takes_one_edge():
    diags = checks.check_edges(context(edges("task.start -> arm.init\ntask.start.pos -> arm.init.pos\n")))
    assert [d.message for d in diags] == ["`arm.init` takes a single edge; this is a second one"]
    assert diags[0].span.line == 6 and diags[0].related[0][0].line == 5


def test_sum_and_concat_ports_take_many_edges():
    assert messages(edges("net.output -> arm.force\nnet.output -> arm.force\ntask.goal -> net.input\narm.state -> net.input\n"
                          "task.start -> arm.init\narm.state -> task.seen\n")) == []


# ---- model settings --------------------------------------------------------------------------


def model(settings: str) -> str:
    return f"model {{ {settings} }}\n" + BASE.split("\n", 1)[1] + LOSS


@pytest.mark.parametrize("settings, message", [
    ("steps = 10", "the model block does not set `dt`"),
    ("dt = 0.1", "the model block sets neither `steps` nor `duration`"),
    ("dt = 0.1 steps = 10 duration = 1", "give either `steps` or `duration`, not both"),
    ("dt = 0 steps = 10", "`dt` must be > 0, got 0"),
    ("dt = -0.1 steps = 10", "`dt` must be > 0, got -0.1"),
    ("dt = 0.1 steps = 0", "`steps` must be >= 1, got 0"),
    ("dt = 0.1 steps = 10.5", "`steps`: expected an integer, got 10.5"),
    ("dt = 0.3 duration = 1", "`duration` = 1 is not a whole number of steps of dt = 0.3 (duration / dt = 3.33333)"),
    ("dt = 0.1 steps = 10 sead = 1", "unknown model setting `sead`"),
    ("dt = 0.1 steps = 10 seed = -1", "`seed` must be >= 0, got -1"),
])
def test_model_settings(settings, message):
    assert messages(model(settings)) == [message]


def test_a_misspelt_required_setting_is_one_error():
    assert messages(model("dt = 0.1 stesp = 10")) == ["unknown model setting `stesp`"]


def test_no_model_block():
    errs = errors_of(BASE.split("\n", 1)[1] + LOSS)
    assert errs == [(1, 1, "the model has no `model` block")]


def test_steps_from_duration():
    cm = check_text(model("dt = 0.05 duration = 1"))
    assert cm.steps == 20 and cm.dt == 0.05 and cm.tau is None and cm.seed == 0
    cm = check_text(model("dt = 10 duration = 2000 tau = 100 seed = 4"))
    assert (cm.steps, cm.tau, cm.seed) == (200, 100.0, 4)


def test_model_name_from_block_or_file():
    assert check_text("model reach { dt = 1 steps = 2 }\n" + BASE.split("\n", 1)[1]).name == "reach"
    assert check_text(model("dt = 1 steps = 2"), "some/dir/arm_model.rnn").name == "arm_model"


# ---- sites -----------------------------------------------------------------------------------


def test_site_resolution_splits_constants_and_per_trial():
    cm = check_text(OK + """site f at arm.force: push(amount = uniform(-1, 2), start = 3) {
  train { active = bernoulli(0.5) }
  validate { amount = 1; field = choice([1, 0], [0, 1]) }
}
site p at net.units: pin(units = [0, 2], level = [1, 1])
""")
    f = cm.sites["f"]
    assert (f.kind, f.node, f.site, f.is_port) == ("push", "arm", "force", True)
    assert f.params == {"start": 3}
    assert f.per_trial["active"] is True and f.per_trial["field"] == [0.0, 0.0]
    amount = f.per_trial["amount"]
    assert isinstance(amount, Distribution) and amount.name == "uniform" and amount.args == (-1.0, 2.0)
    assert f.schedules["train"]["active"] == Distribution("bernoulli", (0.5,), f.schedules["train"]["active"].span)
    assert f.schedules["validate"]["amount"] == 1.0
    assert f.schedules["validate"]["field"].args == ([1, 0], [0, 1])
    p = cm.sites["p"]
    assert p.is_port is False and p.params == {"units": [0, 2]} and p.per_trial["level"] == [1, 1]


@pytest.mark.parametrize("site, message", [
    ("site s at arm.forse: push()", "`arm` (body) has no port or site `forse`"),
    ("site s at arn.force: push()", "unknown node `arn`"),
    ("site s at arm.state.pos: jitter()", "a site acts on a whole port or site, not on the field `pos`"),
    ("site s at arm.force: psh()", "unknown intervention `psh`"),
    ("site s at arm.force: rnn()", "`rnn` is a node kind, not an intervention"),
    ("site s at net.units: push()", "`push` acts on force ports; `net.units` is a site of units"),
    ("site s at net.output: pin(units = [0], level = [1])", "`pin` acts on units (such as `net.hidden`); `net.output` is a signal port"),
    ("site s at net.W: jitter()", "`jitter` acts on any port or units (such as `net.hidden`); `net.W` is a site of weights"),
    ("site s at arm.force: push(1)", "intervention parameters are named: write `name = value`"),
    ("site s at net.units: pin(level = [1])", "`pin` needs `units`"),
    ("site s at arm.force: push(start = choice(1, 2))", "`start` is fixed when the model is compiled; it cannot be drawn per trial"),
    ("site s at arm.force: push() { train { start = 1 } }",
     "`start` is fixed when the model is compiled; a `train` schedule sets per-trial parameters only"),
    ("site s at arm.force: push() { validate { amout = 1 } }", "`push` has no parameter `amout`"),
    ("site s at arm.force: push() { train { } train { } }", "duplicate schedule `train`"),
])
def test_site_errors(site, message):
    assert messages(OK + site + "\n") == [message]


def test_site_tag_hint_lists_places_that_fit():
    assert hints(OK + "site s at net.units: push()\n") == ["places in this model where `push` can act: `arm.force`"]


@pytest.mark.parametrize("value, message", [
    ("normal(0)", "`normal` takes 2 arguments, got 1"),
    ("normal(0, 1, 2)", "`normal` takes 2 arguments, got 3"),
    ("normal(0, -1)", "the std of `normal` must be >= 0, got -1"),
    ("normal(mean = 0, sd = 1)", "`normal` has no argument `sd`"),
    ("uniform(1, 0)", "uniform(low, high) needs low <= high, got 1 > 0"),
    ("uniform(-9, 0)", "`amount` must be in [-5, 5], got -9"),
    ("uniform(0, \"a\")", "the arguments of `uniform` must be numbers, got a string"),
    ("bernoulli(0.5)", "`bernoulli` draws `true` or `false`, but `amount` is a number"),
    ("choice()", "`choice` takes at least 1 argument, got 0"),
    ("choice(1, 9)", "`amount` must be in [-5, 5], got 9"),
    ("choice(1, true)", "`amount`: expected a number, got `true`"),
    ("gauss(0, 1)", "unknown distribution `gauss`"),
])
def test_distributions(value, message):
    assert messages(OK + f"site s at arm.force: push(amount = {value})\n") == [message]


def test_distribution_keywords_and_bool_draws():
    cm = check_text(OK + "site s at arm.force: push(amount = normal(std = 2, mean = 1), active = bernoulli(p = 1))\n")
    assert cm.sites["s"].per_trial["amount"].args == (1.0, 2.0)
    assert messages(OK + "site s at arm.force: push(active = bernoulli(1.5))\n") == [
        "the probability of `bernoulli` must be in [0, 1], got 1.5"]
    assert messages(OK + "site s at arm.force: push(active = normal(0, 1))\n") == [
        "`normal` draws a real number, but `active` is `true` or `false`"]
    assert messages(OK + "site s at arm.force: push(field = uniform(0, 1))\n") == [
        "`uniform` draws a real number, but `field` is a list of numbers"]


# ---- loss ------------------------------------------------------------------------------------


def test_loss_resolution():
    cm = check_text(BASE + """loss {
  pos = 2 * squared_error(arm.state.pos, target = task.goal.pos, discount = 6)
  act = penalty(net.hidden, norm = l1)
  w = 1e-3 * weights(of = net.W)
  all = weights(net)
}
""")
    pos, act, w, all_ = cm.loss
    assert (pos.name, pos.weight, pos.kind) == ("pos", 2.0, "squared_error")
    assert pos.args["signal"] == Signal("arm", "state", "pos", pos.args["signal"].span)
    assert str(pos.args["target"]) == "task.goal.pos"
    assert pos.args["mask"] is None and pos.args["discount"] == 6.0 and pos.args["reduce"] == "sum"
    assert list(pos.args) == ["signal", "target", "mask", "discount", "reduce"]
    assert act.args == {"signal": act.args["signal"], "norm": "l1", "reduce": "sum"}
    assert (w.weight, w.args["of"].node, w.args["of"].port) == (1e-3, "net", "W")
    assert (all_.args["of"].node, all_.args["of"].port) == ("net", None)


@pytest.mark.parametrize("term, message", [
    ("squared_eror(net.output)", "unknown loss term `squared_eror`"),
    ("squared_error(net.outptu)", "`net` (rnn) has no port `outptu`"),
    ("squared_error(nett.output)", "unknown node `nett`"),
    ("squared_error(arm.state.poss)", "`arm.state` has no field `poss`"),
    ("squared_error(net.output, discont = 2)", "`squared_error` has no argument `discont`"),
    ("squared_error(net.output, signal = net.hidden)", "`signal` of `squared_error` is given twice"),
    ("squared_error(mask = net.output)", "`squared_error` needs `signal`"),
    ("final(net.output, net.output, net.output)", "`final` takes at most 2 arguments"),
    ("penalty(net.output, norm = \"l3\")", "unknown value `l3` for `norm`"),
    ("penalty(arm.force)", "a loss reads output signals; `arm.force` is an input"),
    ("penalty(task.start)", "a loss reads output signals; `task.start` is a per-trial initial value"),
    ("penalty(net)", "the signal of a loss term is a signal such as `net.output` or `arm.effector.pos`, got the name `net`"),
    ("penalty(3)", "the signal of a loss term is a signal such as `net.output` or `arm.effector.pos`, got 3"),
    ("weights(of = nett)", "unknown node `nett`"),
    ("weights(of = \"net\")", "`of` names a node or one of its weights, such as `net` or `net.W_rec`, got a string"),
    ("squared_error(net.output, discount = -1)", "`discount` must be >= 0, got -1"),
])
def test_loss_errors(term, message):
    assert messages(BASE + f"loss {{ t = {term} }}\n") == [message]


# ---- train -----------------------------------------------------------------------------------


def test_train_defaults():
    train = check_text(OK).train
    assert set(train) == {p.name for p in checks.S.TRAIN_SETTINGS}
    assert train["batches"] == 1000 and train["trials"] is None and train["batch_size"] == 128
    assert train["optimizer"] == {"name": "adam", "args": [], "kwargs": {"learning_rate": 1e-3}}
    assert train["seed"] == 0 and train["clip"] is None


def test_train_resolution():
    cm = check_text(OK + """train {
  optimizer = sgd(learning_rate = 0.1, momentum = 0.9)
  trials = 1000
  batch_size = 64
  clip = global_norm(2)
  trainable = [net, arm.mass]
  frozen = net.W
  mask.net.W = [[1, 0], [0, 1]]
  mask.net.b = [1, 0]
  seed = 5
}
""")
    t = cm.train
    assert t["batches"] == 16 and t["trials"] == 1000
    assert t["clip"] == {"name": "global_norm", "args": [2.0], "kwargs": {}}
    assert t["trainable"] == ["net", "arm.mass"] and t["frozen"] == ["net.W"]
    assert t["optimizer"] == {"name": "sgd", "args": [], "kwargs": {"learning_rate": 0.1, "momentum": 0.9}}
    assert t["seed"] == 5
    assert cm.masks[("net", "W")].shape == (2, 2) and cm.masks[("net", "b")].dtype == np.float32
    assert "train.batch_size" in cm.setting_spans and "train.mask.net.W" in cm.setting_spans


@pytest.mark.parametrize("settings, message", [
    ("batchs = 10", "unknown train setting `batchs`"),
    ("batches = 10 trials = 100", "give either `batches` or `trials`, not both"),
    ("batches = 0", "`batches` must be >= 1, got 0"),
    ("clip = 1.0", "`clip`: expected global_norm(x) or per_tensor(x), got 1.0"),
    ("clip = max_norm(1)", "unknown clipping `max_norm`"),
    ("clip = global_norm(0)", "the threshold of `global_norm` must be > 0, got 0"),
    ("clip = global_norm(1, 2)", "`global_norm` takes one argument, the threshold"),
    ("clip = per_tensor(x)", "the threshold of `per_tensor` must be a number, got the name `x`"),
    ("trainable = [nett]", "unknown node `nett`"),
    ("frozen = [\"net\"]", "expected a node or `node.param`, such as `net` or `net.W_rec`, got a string"),
    ("mask.nett.W = [[1]]", "unknown node `nett`"),
    ("mask.net = [[1]]", "a gradient mask is written `mask.<node>.<param> = [[...]]`, not `mask.net`"),
    ("mask.net.W = 1", "`mask.net.W`: expected a mask of 0s and 1s (a nested list or file(\"x.npy\")), got 1"),
    ("mask.net.W = [[1], [1, 0]]", "`mask.net.W` is ragged: this row has 2 numbers but the first row has 1 number; every row must have the same length"),
    ("optimizer = 1e-3", "`optimizer`: expected a name or a call such as `name(1.0)`, got 0.001"),
    ("stop_accuracy = 2", "`stop_accuracy` must be in [0, 1], got 2"),
    ("net.W = 1", "unknown train setting `net.W`"),
])
def test_train_errors(settings, message):
    assert messages(OK + f"train {{ {settings} }}\n") == [message]


def test_stages():
    cm = check_text(OK + "train { stage easy { task.size = 0.5; until_accuracy = 0.9 } stage hard { batches = 4; task.levels = [1, 2] } }\n")
    easy, hard = cm.stages
    assert (easy.name, easy.overrides, easy.settings) == ("easy", {"size": 0.5}, {"until_accuracy": 0.9, "batches": None})
    assert (hard.overrides, hard.settings["batches"]) == ({"levels": [1, 2]}, 4)


@pytest.mark.parametrize("settings, message", [
    ("task.sise = 1", "the task `task` (reach) has no parameter `sise`"),
    ("task.size = -1", "`size` must be >= 0, got -1"),
    ("task.levels = 1", "`levels`: expected a list of numbers, got 1"),
    ("batches = 1.5", "`batches`: expected an integer, got 1.5"),
])
def test_stage_errors(settings, message):
    assert messages(OK + f"train {{ stage s {{ {settings} }} }}\n") == [message]


def test_stage_override_names_the_task_node_or_task():
    text = HEADER + "node t = reach()\nnode n = rnn(hidden = 1, out = 1)\nt.goal -> n.input\n"
    cm = check_text(text + "train { stage s { t.size = 2; task.levels = [0.1] } }\n")
    assert cm.stages[0].overrides == {"size": 2.0, "levels": [0.1]}
    notask = HEADER + "node n = rnn(hidden = 1, out = 1)\nnode c = line()\nn.output -> c.input\n"
    assert messages(notask + "train { stage s { task.size = 2 } }\n") == [
        "this stage overrides a task parameter, but the model has no task"]


# ---- usage and collection --------------------------------------------------------------------


def test_unused_node_is_a_warning():
    cm = check_text(OK + "node spare = line()\n")
    assert [(w.severity, w.message) for w in cm.warnings] == [("warning", "node `spare` is not connected to anything")]


def test_nodes_used_only_by_loss_sites_or_train_are_not_unused():
    text = BASE + "node a = line()\nnode b = rnn(hidden = 1, out = 1)\nnode c = line()\nnode d = line()\n"
    text += "loss { x = penalty(a.output) }\nsite s at b.units: jitter()\ntrain { frozen = [c] }\n"
    cm = check_text(text)
    assert [w.message for w in cm.warnings] == ["node `d` is not connected to anything"]
    assert cm.warnings[0].span.line == 13


def test_all_independent_errors_are_reported_together_sorted():
    text = HEADER + """node net = rnn(hiden = 4, out = 2, act = "tanhh")
node arm = body(mass = 0)
net.output -> arm.forse
loss { e = penalty(net.outputs) }
train { batchs = 3 }
"""
    assert errors_of(text) == [
        (2, 16, "`rnn` has no parameter `hiden`"),
        (2, 42, "unknown value `tanhh` for `act`"),
        (3, 24, "`mass` must be > 0, got 0"),
        (4, 19, "`arm` (body) has no port `forse`"),
        (5, 20, "`net` (rnn) has no port `outputs`"),
        (6, 9, "unknown train setting `batchs`"),
    ]


def test_every_check_is_listed_and_returns_a_list():
    ctx = context(OK)
    for fn in checks.CHECKS:
        assert fn(ctx) == [], fn.__name__


def test_setting_spans():
    cm = check_text(OK + "train { batches = 3 }\nsite s at arm.force: push(amount = 1)\n")
    spans = cm.setting_spans
    assert spans["model.dt"].line == 1 and spans["model.steps"].line == 1
    assert spans["train.batches"].line == 11
    assert spans["loss.p"].line == 10
    assert spans["node.net.hidden"].line == 3
    assert spans["site.s.amount"].line == 12


def test_mask_from_files():
    from .dsl_helpers import DATA

    text = OK + f'train {{ mask.net.W = file("{DATA}/masks.npz", "rec_mask")\n mask.net.b = file("{DATA}/rec_mask8.npy") }}\n'
    cm = check_text(text)
    assert cm.masks[("net", "W")].shape == (8, 8) and cm.masks[("net", "b")].dtype == np.float32
    assert messages(OK + f'train {{ mask.net.W = file("{DATA}/masks.npz") }}\n')[0].endswith("holds several arrays (input_mask, rec_mask); name one")
