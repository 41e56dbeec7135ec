"""Stop rules and stage conditions (`until CONDITION`), stages that switch task, and the
dead-output warning: the checker's errors by message and position, the conditions' semantics,
and training on a tiny model (one compiled program per distinct task)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rnnlang.dsl import ModelError, conditions, load_source
from rnnlang.runtime import health
from rnnlang.runtime.api import compile_model, load, train
from rnnlang.runtime.train import Trainer, condition_values

ROOT = Path(__file__).resolve().parents[2]

MODEL = """model m {{ dt = 10  duration = 100  tau = 100  seed = 1 }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = 6, out = 2)
task.input -> net.input
net.output -> task.response
loss {{ mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean") }}
train {{
  batches = {batches}
  batch_size = 8
  validate_every = 1
  steps_per_dispatch = 1
  {extra}
}}
"""


def source(extra: str, batches: int = 3) -> str:
    return MODEL.format(batches=batches, extra=extra)


def error_of(text: str):
    with pytest.raises(ModelError) as e:
        load_source(text, "m.rnn")
    return e.value.diagnostics[0]


def at(text: str, word: str, nth: int = 0) -> tuple[int, int]:
    """(line, col) of the nth occurrence of `word` on the first line holding it (1-based)."""
    line = next(i for i, s in enumerate(text.splitlines(), 1) if word in s)
    s = text.splitlines()[line - 1]
    col = -1
    for _ in range(nth + 1):
        col = s.index(word, col + 1)
    return line, col + 1


# ---- the checker ---------------------------------------------------------------------------------


def test_until_resolves_for_stages_and_the_train_block():
    text = source("stage easy { task.coherences = [0.7]  until accuracy >= 0.95 and loss < 0.05 }\n"
                  "  until mse < 0.01 or batch >= 100")
    cm, _ = load_source(text)
    assert cm.stages[0].until.names == ("accuracy", "loss")
    assert cm.stages[0].until.text == "accuracy >= 0.95 and loss < 0.05"
    assert list(cm.stages[0].overrides) == ["coherences"] and cm.stop_rule is not None
    assert cm.stop_rule.names == ("mse", "batch") and cm.stop_rule.text == "mse < 0.01 or batch >= 100"


def test_an_unknown_name_is_an_error_listing_the_names_available():
    text = source("until acuracy >= 0.9")
    d = error_of(text)
    assert d.message == "unknown name `acuracy` in `until`"
    assert (d.span.line, d.span.col) == at(text, "acuracy")
    assert d.hint == "names the stop rule reads: `mse`, `accuracy`, `loss`, `batch`"


def test_a_stage_reads_its_loss_terms_and_says_which_stage():
    text = source("stage easy { until mze < 0.1 }")
    d = error_of(text)
    assert d.message == "unknown name `mze` in `until`"
    assert (d.span.line, d.span.col) == at(text, "mze")
    assert d.hint.startswith("names stage `easy` reads: `mse`")


def test_accuracy_needs_a_task_whose_response_is_driven():
    text = source("until accuracy >= 0.9").replace("net.output -> task.response\n", "")
    d = error_of(text)
    assert d.message == "unknown name `accuracy` in `until`"
    assert (d.span.line, d.span.col) == at(text, "accuracy")
    assert "nothing drives its `response`" in d.hint


def test_a_task_metric_is_a_name_of_a_condition():
    text = (ROOT / "examples" / "point_mass_reach.rnn").read_text()
    text = text.replace("train {", "train {\n  until final_position_error < 0.01 and final_speed < 0.01", 1)
    cm, _ = load_source(text)
    assert cm.stop_rule.names == ("final_position_error", "final_speed")


def test_a_condition_must_be_true_or_false():
    text = source("until loss * 2")
    d = error_of(text)
    assert d.message == "`until` needs a condition (true or false), but this is a number"
    assert (d.span.line, d.span.col) == at(text, "loss * 2")


def test_one_until_per_block():
    text = source("stage a { until loss < 1  until batch > 2 }")
    d = error_of(text)
    assert d.message == "a stage has one `until`"
    assert (d.span.line, d.span.col) == at(text, "until", 1)
    assert d.hint == "join conditions with `and` or `or`"


# ---- switching task: checks --------------------------------------------------------------------------


def test_a_stage_switching_to_a_task_with_other_port_sizes_is_an_error_naming_the_port():
    text = source("stage pre { task = match_to_category(n_in = 3)  until accuracy >= 0.9 }")
    d = error_of(text)
    assert d.message == "the port `input` differs: `match_to_category` gives it 3 channels, the task node `task` has 2"
    assert (d.span.line, d.span.col) == at(text, "match_to_category")


def test_a_stage_switching_to_an_unknown_task_is_an_error():
    text = source("stage pre { task = perceptual_discrimnation() }")
    d = error_of(text)
    assert d.message == "unknown task `perceptual_discrimnation`"
    assert (d.span.line, d.span.col) == at(text, "perceptual_discrimnation")
    assert d.hint == "did you mean `perceptual_discrimination`?"


def test_a_switched_task_argument_is_checked_at_its_value():
    text = source("stage pre { task = perceptual_discrimination(coherences = 0.7, nosie = 1) }")
    with pytest.raises(ModelError) as e:
        load_source(text, "m.rnn")
    d1, d2 = e.value.diagnostics
    assert d1.message == "`coherences`: expected a list of numbers, got 0.7"
    assert (d1.span.line, d1.span.col) == at(text, "0.7")
    assert d2.message == "the task `perceptual_discrimination` has no parameter `nosie`"
    assert (d2.span.line, d2.span.col) == at(text, "nosie")


def test_a_task_parameter_next_to_a_switch_is_refused():
    text = source("stage pre { task = perceptual_discrimination()  task.coherences = [0.7] }")
    d = error_of(text)
    assert d.message == "this stage switches to `perceptual_discrimination`; give its parameters in the call"
    assert (d.span.line, d.span.col) == at(text, "task.coherences")


def test_a_task_declared_in_the_file_can_be_switched_to():
    text = source("stage pre { task = easy(level = 0.9) }") + """
task easy(level = 0.5) {
  inputs = [left, right]
  outputs = [a, b]
  direction ~ integer(0, 2)
  epoch stimulus for 50 { left = if direction == 0 then level else 0  right = if direction == 1 then level else 0 }
  epoch respond { target = onehot(direction, 2)  mask = 1 }
}
"""
    cm, _ = load_source(text)
    node = cm.stages[0].task
    assert node.kind == "task" and node.params["decl"].name == "easy" and node.params["level"] == 0.9


# ---- semantics ---------------------------------------------------------------------------------------


def test_holds_evaluates_the_condition_and_nan_is_false():
    cm, _ = load_source(source("until accuracy >= 0.9 and not (loss > 0.5 or batch < 10)"))
    rule = cm.stop_rule
    assert conditions.holds(rule, {"accuracy": 0.95, "loss": 0.1, "batch": 10})
    assert not conditions.holds(rule, {"accuracy": 0.95, "loss": 0.6, "batch": 10})
    assert not conditions.holds(rule, {"accuracy": 0.95, "loss": 0.1, "batch": 9})
    assert not conditions.holds(rule, {"accuracy": math.nan, "loss": 0.1, "batch": 10})


def test_condition_values_are_means_over_replicates_and_builtins_win():
    record = {"loss": [1.0, 3.0], "terms": {"mse": [0.5, 1.5], "loss": [9.0, 9.0]},
              "metrics": {"correct": [0.5, 1.0], "choice": [1.0, 0.0], "speed": [2.0, 4.0]}}
    assert condition_values(record, 7) == {"mse": 1.0, "loss": 2.0, "speed": 3.0, "accuracy": 0.75, "batch": 7.0}


# ---- training ----------------------------------------------------------------------------------------


def trainer_for(write_model, extra: str, batches: int = 3) -> Trainer:
    cm, g = load(write_model(source(extra, batches)))
    return Trainer(compile_model(cm, g))


def test_stages_switch_task_compile_once_per_task_and_stop_after_the_last(write_model):
    extra = ("stage a { task = perceptual_discrimination(coherences = [0.7])  until batch >= 1 }\n"
             "  stage b { task = perceptual_discrimination(coherences = [0.7])  until batch >= 2 }\n"
             "  stage c { until batch >= 3 and loss >= 0 }")
    t = trainer_for(write_model, extra, batches=10)
    s = t.run(t.init_state())
    assert [h["stage"] for h in s.history] == [0, 1, 2] and s.batch == 3 and s.done
    assert s.reason.startswith("the last stage `c` is passed (`until batch >= 3 and loss >= 0` holds (batch = 3, loss = ")
    # a and b switch to the same task: one task built, one training program and one validation
    # program for it; c trains on the node's own task (a second of each)
    assert len(t._tasks) == 1
    assert set(t._eval_fns) == {"", next(iter(t._tasks))}
    assert t._chunk_fns[0] is t._chunk_fns[1] and t._chunk_fns[1] is not t._chunk_fns[2]
    assert len(t._programs) == 2
    assert t.validation_trial(0) is t.validation_trial(1)  # one validation set for the one task
    # each stage validates on its own task: the switched one has coherence 0.7 only
    assert set(np.unique(np.asarray(t.validation_trial(0)["vars"]["coherence"]))) == {np.float32(0.7)}
    assert len(np.unique(np.asarray(t.validation_trial(2)["vars"]["coherence"]))) == 4


def test_the_stop_rule_ends_training_and_the_shorthands_still_work(write_model):
    t = trainer_for(write_model, "until batch >= 2 and mse > 0", batches=10)
    s = t.run(t.init_state())
    assert s.batch == 2 and s.done and s.reason.startswith("`until batch >= 2 and mse > 0` holds (batch = 2, mse = ")
    t = trainer_for(write_model, "stop_loss = 1e9", batches=10)
    s = t.run(t.init_state())
    assert s.batch == 1 and s.reason.startswith("validation loss ") and s.reason.endswith("<= stop_loss 1e+09")


def test_after_stages_continue_goes_on_with_the_node_task(write_model):
    extra = ('stage a { task = perceptual_discrimination(coherences = [0.7])  until batch >= 1 }\n'
             '  after_stages = "continue"')
    t = trainer_for(write_model, extra, batches=3)
    s = t.run(t.init_state())
    assert [h["stage"] for h in s.history] == [0, 1, 1] and s.batch == 3 and s.reason is None


# ---- the dead-output warning ---------------------------------------------------------------------------


def test_health_thresholds_are_relative_to_the_loss_and_warn_once():
    already: set[int] = set()
    # replicate 0 dead (constant outputs, gradient 1e-5 <= 1e-4 * 1.0); replicate 1 moving
    lines = health.check(100, [0.0, 0.0], [1e-5, 1e-3], [1.0, 1.0], already)
    assert len(lines) == 1 and lines[0].startswith("warning: batch 100: replicate 0: the network's outputs are constant")
    assert "lower learning rate" in lines[0] and "clip" in lines[0]
    assert health.check(200, [0.0, 0.0], [1e-5, 1e-3], [1.0, 1.0], already) == []  # said once
    assert not health.dead(0.5, 0.0, 1.0)  # outputs that vary are not dead
    assert not health.dead(0.0, 2e-4, 1.0)  # nor is a gradient above 1e-4 of the loss
    assert health.dead(1e-3, 1e-4, 1.0)


DYING = """model die {{ dt = 10  duration = 100  tau = 100  seed = 0 }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = 6, out = 2, output_transfer = "sigmoid")
task.input -> net.input
net.output -> task.response
loss {{ ce = cross_entropy(net.output, task.target, mask = task.mask) }}
train {{ optimizer = adam(learning_rate = {lr})  batches = 10  batch_size = 8  validate_every = 5 }}
"""


@pytest.mark.parametrize("lr,dies", [(10.0, True), (1e-3, False)])
def test_a_dying_run_is_warned_in_the_log_and_the_metrics_and_a_healthy_one_is_not(write_model, tmp_path, lr, dies):
    lines: list[str] = []
    result = train(write_model(DYING.format(lr=lr)), out=str(tmp_path / "run"), on_warning=lines.append)
    records = [json.loads(x) for x in (result.run.path / "metrics.jsonl").read_text().splitlines()]
    warned = [r for r in records if r.get("warnings")]
    if not dies:
        assert lines == [] and warned == []
        return
    assert len(lines) == 1 and lines[0].startswith("warning: batch 5: the network's outputs are constant")
    assert warned[0]["batch"] == 5 and warned[0]["warnings"] == lines


def test_until_written_as_a_setting_is_a_syntax_error_saying_what_to_write():
    text = source("stage a { until = 0.9 }")
    d = error_of(text)
    assert d.message == "unexpected '='; expected an expression"
    assert (d.span.line, d.span.col) == at(text, "= 0.9")
    assert d.hint == "`until` is followed by a condition, e.g. `until accuracy >= 0.9` (or write `until_accuracy = 0.9`)"
