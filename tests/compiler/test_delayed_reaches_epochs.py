"""The library's `delayed_reaches` takes any number of epochs before the movement (one row of
`epoch_bounds` per epoch), as Feedbax's DelayedReaches does: with the default three rows its
trials are value for value those of the three-epoch declaration it replaced; with two or four
rows the hold, cue and target-on signals follow the epochs drawn; an epoch index beyond the rows
is refused where it is written."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

import rnnlang.dsl as dsl
from rnnlang.dsl import ModelError
from rnnlang.runtime.api import compile_model

from .test_tasks import make, np_tree

STEPS = 99

# The library's declaration as it was with exactly three epochs (before any number was allowed),
# renamed: the reference the declaration of any number of epochs must reproduce.
THREE_EPOCHS = """
task three_epoch_reaches(
  workspace = [[-1.0, -1.0], [1.0, 1.0]],
  eval_grid_n = 1,
  eval_n_directions = 7,
  eval_length = 0.5,
  epoch_bounds = [[5, 15], [10, 20], [10, 25]],
  target_on_epochs = [1],
) {
  signal cue = [pos[2], vel[2]]
  signal hold
  signal target_on
  signal target = [pos[2], vel[2]]
  init start = [pos[2], vel[2]]
  input effector = [pos[2], vel[2]]

  random_start ~ uniform(workspace[0], workspace[1])
  random_goal ~ uniform(workspace[0], workspace[1])
  centre ~ integer(0, eval_grid_n * eval_grid_n)
  direction ~ integer(0, eval_n_directions)
  angle = 2 * pi * direction / eval_n_directions
  column = centre - eval_grid_n * floor(centre / eval_grid_n)
  row = floor(centre / eval_grid_n)
  centre_pos = workspace[0] + (workspace[1] - workspace[0]) * ([column, row] + 1) / (eval_grid_n + 1)
  start = if validating then centre_pos else random_start
  goal = if validating then centre_pos + eval_length * [cos(angle), sin(angle)] else random_goal

  drawn_lengths ~ integer(concat(epoch_bounds[0][0], epoch_bounds[1][0], epoch_bounds[2][0]),
                          concat(epoch_bounds[0][1], epoch_bounds[1][1], epoch_bounds[2][1]))
  middle_lengths = floor((concat(epoch_bounds[0][0], epoch_bounds[1][0], epoch_bounds[2][0])
                          + concat(epoch_bounds[0][1], epoch_bounds[1][1], epoch_bounds[2][1])) / 2 + 0.5)
  epoch_lengths = if validating then middle_lengths else drawn_lengths
  move_onset = sum(epoch_lengths)
  on0 = any(target_on_epochs == 0)
  on1 = any(target_on_epochs == 1)
  on2 = any(target_on_epochs == 2)

  start.pos = start
  epoch first for epoch_lengths[0] * dt {
    cue.pos = if on0 then goal else [0, 0]   target_on = if on0 then 1 else 0   hold = 1   target.pos = start
  }
  epoch second for epoch_lengths[1] * dt {
    cue.pos = if on1 then goal else [0, 0]   target_on = if on1 then 1 else 0   hold = 1   target.pos = start
  }
  epoch third for epoch_lengths[2] * dt {
    cue.pos = if on2 then goal else [0, 0]   target_on = if on2 then 1 else 0   hold = 1   target.pos = start
  }
  epoch movement { target.pos = goal }

  metric final_position_error = norm(final(effector.pos) - goal)
  metric final_speed = norm(final(effector.vel))

  validation grid { centre = range(eval_grid_n * eval_grid_n)  direction = range(eval_n_directions)  trials = 1 }
}
"""

MODEL = """model {{ dt = 0.05  steps = 99 }}
{decl}
node task = {task}
node net = gru(hidden = 4, out = 2)
node arm = point_mass()
task.cue -> net.input
task.hold -> net.input
net.output -> arm.force
task.start -> arm.init
arm.effector -> task.effector
loss {{ position = squared_error(arm.effector, task.target) }}
"""


def task_of(tmp_path: Path, task: str, decl: str = ""):
    path = tmp_path / "m.rnn"
    path.write_text(MODEL.format(decl=decl, task=task))
    return compile_model(path).task


def test_three_rows_give_the_trials_of_the_three_epoch_declaration(tmp_path):
    library = task_of(tmp_path, "delayed_reaches()")
    reference = task_of(tmp_path, "three_epoch_reaches()", THREE_EPOCHS)
    for made in (lambda t: t.trials(jax.random.PRNGKey(3), 512), lambda t: t.validation(jax.random.PRNGKey(4))):
        a, b = np_tree(made(library)), np_tree(made(reference))
        for group in ("signals", "init"):
            assert set(a[group]) == set(b[group])
            for k in a[group]:
                np.testing.assert_array_equal(a[group][k], b[group][k], err_msg=f"{group}/{k}")
        for k in ("start", "goal", "epoch_lengths", "move_onset"):
            np.testing.assert_array_equal(a["vars"][k], b["vars"][k], err_msg=k)


@pytest.mark.parametrize("bounds, shown", [
    ([[3, 6], [8, 12]], [0]),
    ([[2, 4], [3, 9], [0, 5], [4, 7]], [1, 3]),
])
def test_any_number_of_epochs_sets_hold_cue_and_target_on_by_the_epochs_drawn(bounds, shown):
    tr = np_tree(make("delayed_reaches", epoch_bounds=bounds, target_on_epochs=shown).trials(jax.random.PRNGKey(7), 1000))
    v, s = tr["vars"], tr["signals"]
    L = v["epoch_lengths"]
    assert L.shape == (1000, len(bounds))
    for e, (lo, hi) in enumerate(bounds):
        assert L[:, e].min() == lo and L[:, e].max() == hi - 1
    ends = np.cumsum(L, axis=1)
    np.testing.assert_array_equal(v["move_onset"], ends[:, -1])
    np.testing.assert_array_equal(v["epoch_starts"], np.concatenate([np.zeros((1000, 1), int), ends], axis=1))
    k = np.arange(STEPS)[None, :]
    epoch = (ends[:, None, :] <= k[..., None]).sum(-1)  # the epoch step k lies in (len(bounds): moving)
    moving = epoch == len(bounds)
    on = np.isin(epoch, shown) & ~moving
    np.testing.assert_array_equal(s["hold"][..., 0], (~moving).astype(np.float32))
    np.testing.assert_array_equal(s["target_on"][..., 0], on.astype(np.float32))
    goal4 = np.concatenate([v["goal"], np.zeros((1000, 2))], 1)[:, None]
    start4 = np.concatenate([v["start"], np.zeros((1000, 2))], 1)[:, None]
    np.testing.assert_array_equal(s["cue"], np.where(on[..., None], goal4, 0.0).astype(np.float32))
    np.testing.assert_array_equal(s["target"], np.where(moving[..., None], goal4, start4).astype(np.float32))


def test_validation_uses_the_middle_of_each_row():
    v = np_tree(make("delayed_reaches", epoch_bounds=[[2, 4], [3, 6], [1, 2], [5, 10]]).validation(jax.random.PRNGKey(0)))["vars"]
    np.testing.assert_array_equal(v["epoch_lengths"], np.tile([3, 5, 2, 8], (7, 1)))  # halves round up
    np.testing.assert_array_equal(v["move_onset"], 18)


@pytest.mark.parametrize("args, at, message", [
    ("epoch_bounds = [[2, 3], [4, 5]], target_on_epochs = [2]", "[2]",
     "`delayed_reaches` requires `all(target_on_epochs >= 0 and target_on_epochs < size(epoch_bounds))`"),
    ("epoch_bounds = [[2, 3], [5, 4], [1, 2], [0, 1]]", "[[2, 3]",
     "`delayed_reaches` requires `all(column(epoch_bounds, 0) >= 0) and all(column(epoch_bounds, 0) < column(epoch_bounds, 1))`"),
    ("epoch_bounds = [[2, 3, 4]]", "[[2, 3, 4]]", "`delayed_reaches` requires `size(epoch_bounds[0]) == 2`"),
])
def test_bad_rows_are_refused_at_the_argument(args, at, message):
    text = MODEL.format(decl="", task=f"delayed_reaches({args})")
    with pytest.raises(ModelError) as e:
        dsl.load_source(text)
    d = e.value.errors[0]
    line = text.splitlines()[2]
    assert message in d.message and (d.span.line, d.span.col) == (3, line.rindex(at) + 1), (d.span, d.message)
