"""Figures say what they show: channels by their declared names, each trial's condition in its
title, trials on which an intervention site acts drawn in that site's line style with a legend
entry naming it, and the `replicates` figure; errors for an unknown figure or a replicate the
run does not have. Asserts on the matplotlib objects (legend texts, titles, line styles)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnlang.dsl.errors import UsageError  # noqa: E402
from rnnlang.runtime import figures, plotdata, plots  # noqa: E402
from rnnlang.runtime.api import open_model, train  # noqa: E402
from rnnlang.runtime.cli import main  # noqa: E402
from rnnlang.runtime.plotdata import RunContext  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TINY = ["train.batches=4", "train.batch_size=16", "train.validate_every=2", "net.hidden=8"]

# a curl field acting on about half the validation reaches (drawn per trial)
CURL_SITE = ("site curl at arm.force: curl_field(amplitude = 2.0) {\n"
             "  train { active = bernoulli(0.5) }\n  validate { active = bernoulli(0.5) }\n}\n\nloss {")

# a task without a validation grid, with a group of channels (`cue[2]`) and a site on half the trials
CUE_MODEL = """\
model cue { dt = 10  duration = 200  seed = 0 }
node task = task {
  inputs = [cue[2], go]
  outputs = [a, b]
  which ~ integer(0, 2)
  level ~ choice([0.5, 1.0])
  gap = level * 2
  epoch show from 0 for 100 { cue = onehot(which, 2) * level }
  epoch respond { go = 1  target = onehot(which, 2)  mask = 1 }
}
node net = ctrnn(hidden = 8, out = 2)
task.input -> net.input
net.output -> task.response
site kick at net.hidden: noise(std = 0.1) { validate { active = bernoulli(0.5) } }
loss { mse = squared_error(net.output, task.target, mask = task.mask) }
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny trained runs: perceptual discrimination with two replicates (the library task:
    inputs [left, right], outputs [choose_left, choose_right], a grid of coherence x direction),
    and the point-mass reach (one replicate) with a curl field on about half its validation trials."""
    tmp = tmp_path_factory.mktemp("labels")
    reach = (EXAMPLES / "point_mass_reach.rnn").read_text()
    assert "loss {" in reach
    sources = {"pd": ((EXAMPLES / "perceptual_discrimination.rnn").read_text(), ["model.duration=400", "train.replicates=2"]),
               "reach": (reach.replace("loss {", CURL_SITE), ["model.steps=20"])}
    out = {}
    for name, (text, extra) in sources.items():
        path = tmp / f"{name}.rnn"
        path.write_text(text)
        out[name] = train(path, overrides=TINY + extra, out=str(tmp / name))
    return out


@pytest.fixture(scope="module")
def contexts(runs):
    return {k: RunContext.from_result(r) for k, r in runs.items()}


@pytest.fixture(scope="module")
def cue(tmp_path_factory):
    """The cue model at its initialization (no training needed to gather and draw its trials)."""
    path = tmp_path_factory.mktemp("cue") / "cue.rnn"
    path.write_text(CUE_MODEL)
    _, model, trainer, state = open_model(path)
    return RunContext(None, model, trainer, state)


def _legend(obj):
    legend = obj.legends[0] if hasattr(obj, "legends") and obj.legends else obj.get_legend()
    return [t.get_text() for t in legend.get_texts()]


def _paths(ax):
    return [ln for ln in ax.get_lines() if ln.get_gid() == "path"]


# ---- declared channel names --------------------------------------------------------------------


def test_channel_names_from_declared_fields():
    assert plotdata.channel_names({"left": (0, 1), "right": (1, 2)}, 2) == ["left", "right"]
    assert plotdata.channel_names({"cue": (0, 2), "go": (2, 3)}, 3) == ["cue[0]", "cue[1]", "go"]
    assert plotdata.channel_names({"pos": (0, 2), "vel": (2, 4)}, 4) == ["pos x", "pos y", "vel x", "vel y"]
    assert plotdata.channel_names({"ring": (1, 4)}, 5) == ["channel 0", "ring[0]", "ring[1]", "ring[2]", "channel 4"]
    assert plotdata.channel_names({}, 2) == ["channel 0", "channel 1"]


def test_trials_figure_uses_the_declared_names(contexts):
    data = plotdata.cognitive_data(contexts["pd"])
    assert data["input_names"] == ["left", "right"] and data["output_names"] == ["choose_left", "choose_right"]
    fig = plots.trials_figure(data)
    assert _legend(fig) == ["left (input)", "right (input)", "choose_left (output)", "choose_right (output)",
                            "target", "mask (scored)"]
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == ["input", "choose_left", "choose_right"]
    # each input line carries its channel's name and colour
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["left", "right"]
    assert lines[0].get_color() == plots.CHANNEL_COLORS[0] and lines[1].get_color() == plots.CHANNEL_COLORS[1]
    assert not any("channel" in t for t in _legend(fig))


def test_group_channels_are_indexed(cue):
    data = plotdata.cognitive_data(cue)
    assert data["input_names"] == ["cue[0]", "cue[1]", "go"] and data["output_names"] == ["a", "b"]
    fig = plots.trials_figure(data)
    assert _legend(fig)[:5] == ["cue[0] (input)", "cue[1] (input)", "go (input)", "a (output)", "b (output)"]


def test_heatmaps_name_their_rows():
    B, T = 3, 10
    rng = np.random.default_rng(0)
    x, y = rng.random((B, T, 20)), rng.random((B, T, 6))
    data = {"input": x, "target": y, "mask": np.ones_like(y), "output": y, "dt": 10.0, "time_unit": "ms",
            "cond": plotdata.conditions({"signals": {"input": x}}),
            "input_names": plotdata.channel_names({"ring": (0, 16), "fix": (16, 17), "cue": (17, 20)}, 20),
            "output_names": plotdata.channel_names({"out": (0, 6)}, 6)}
    fig = plots.trials_figure(data, n_trials=1)
    in_ax, target_ax, output_ax = fig.axes
    # 20 inputs: the first channel of each group; 6 outputs: every one
    assert [t.get_text() for t in in_ax.get_yticklabels()] == ["ring[0]", "fix", "cue[0]"]
    assert [t.get_text() for t in target_ax.get_yticklabels()] == [f"out[{i}]" for i in range(6)]
    assert [t.get_text() for t in output_ax.get_yticklabels()] == [f"out[{i}]" for i in range(6)]
    assert in_ax.get_title() == "trial 0"  # nothing names the condition


def test_choice_figures_name_the_first_output(contexts):
    ctx = contexts["pd"]
    data = plotdata.cognitive_data(ctx)
    curve_ax = plots.psychometric_figure(data).axes[0]
    assert curve_ax.get_ylabel() == "P(choice = choose_left)"
    assert curve_ax.get_xlabel() == "signed coherence (+: choose_left)"
    entry = {"site": "s", "kind": "noise", "target": "net.hidden", "values": {}, "off": data, "on": data}
    assert plots.intervention_figure([entry]).axes[0].get_ylabel() == "choose_left − choose_right (cond. mean)"


def test_effector_fields_by_name(contexts):
    data = plotdata.reach_data(contexts["reach"])
    assert data["effector_names"] == ["pos x", "pos y", "vel x", "vel y"]
    pos_ax, speed_ax, _ = plots.trajectory_figure(data).axes
    assert (pos_ax.get_xlabel(), pos_ax.get_ylabel()) == ("pos x (m)", "pos y (m)")
    assert speed_ax.get_ylabel() == "speed |vel| (m/s)"


def test_hidden_units_stay_numbered(contexts):
    fig = plots.activity_figure(plotdata.activity_data(contexts["pd"]))
    assert sum(ax.get_title().startswith("unit ") for ax in fig.axes) == 4


# ---- each trial's condition --------------------------------------------------------------------


def test_grid_variables_define_the_condition(contexts):
    ctx = contexts["pd"]
    assert plotdata.condition_variables(ctx.model) == ["coherence", "direction"]
    trial = ctx.validation_trial()
    texts = ctx.conditions_of(trial)
    v = trial["vars"]
    assert texts == [f"coherence={float(c):g} direction={int(d)}" for c, d in zip(v["coherence"], v["direction"])]
    data = plotdata.cognitive_data(ctx)
    fig = plots.trials_figure(data, n_trials=4)
    for j, b in enumerate(plots.pick_trials(data["cond"], 4)):
        mark = "✓ correct" if data["correct"][b] > 0.5 else "✗ wrong"
        assert fig.axes[3 * j].get_title() == f"trial {b}: {texts[b]}  {mark}"


def test_drawn_variables_without_a_grid(cue):
    # no grid: the drawn variables (not `gap`, computed from `level`)
    assert plotdata.condition_variables(cue.model) == ["which", "level"]
    trial = cue.validation_trial()
    v = trial["vars"]
    expected = [f"which={int(w)} level={float(x):g}" for w, x in zip(v["which"], v["level"])]
    assert cue.conditions_of(trial) == expected
    data = plotdata.activity_data(cue)
    assert plots.activity_figure(data, trial=3).axes[0].get_title() == f"All 8 units, trial 3: {expected[3]}"


def test_constant_grid_variables_are_left_out(contexts):
    # simple_reaches' grid is centre x direction with one centre: the title names the direction only
    ctx = contexts["reach"]
    assert plotdata.condition_variables(ctx.model) == ["centre", "direction"]
    assert ctx.conditions_of(ctx.validation_trial()) == [f"direction={d}" for d in range(7)]
    trial = {"vars": {"a": np.array([1.0, 1.0]), "b": np.array([[0.25, -2.0], [3.0, 4.0]])}}
    assert plotdata.condition_texts(["a", "b"], trial) == ["b=[0.25, -2]", "b=[3, 4]"]


# ---- perturbed trials ----------------------------------------------------------------------------


def test_perturbations_follow_the_sites_parameters():
    trial = {"vars": {"x": np.zeros(4)},
             "sites": {"a": {"active": np.array([1.0, 0.0, 1.0, 1.0]), "scale": np.array([1.0, 1.0, 0.0, 2.0])},
                       "b": {"active": np.array([1.0, 1.0, 0.0, 1.0])}}}
    assert plotdata.perturbations(trial, ["a", "b"]) == [("a", "b"), ("b",), (), ("a", "b")]


def test_trajectories_mark_perturbed_trials(contexts):
    ctx = contexts["reach"]
    trial = ctx.validation_trial()
    active = np.asarray(trial["sites"]["curl"]["active"]) > 0.5
    assert 0 < active.sum() < len(active)  # the seed gives both kinds of trial
    data = plotdata.reach_data(ctx, trial)
    assert data["perturbed_by"] == [("curl",) if a else () for a in active]
    fig = plots.trajectory_figure(data)
    pos_ax, speed_ax, force_ax = fig.axes
    want = ["-." if a else "-" for a in active]
    assert [ln.get_linestyle() for ln in _paths(pos_ax)] == want
    assert [ln.get_linestyle() for ln in speed_ax.get_lines()] == want
    assert [ln.get_linestyle() for ln in force_ax.get_lines()] == want
    labels = _legend(pos_ax)
    assert labels[:2] == ["effector path, no site active", "path, `curl` active"]
    handles = pos_ax.get_legend().legend_handles
    assert handles[0].get_linestyle() == "-" and handles[1].get_linestyle() == "-."


def test_every_trial_perturbed_has_no_unperturbed_entry(contexts):
    entries = plotdata.intervention_data(contexts["reach"])
    fig = plots.intervention_figure(entries)
    off_ax, on_ax = fig.axes
    assert all(ln.get_linestyle() == "-" for ln in _paths(off_ax)) and _legend(off_ax)[0] == "effector path"
    assert all(ln.get_linestyle() == "-." for ln in _paths(on_ax)) and _legend(on_ax)[0] == "path, `curl` active"


def test_trials_titles_name_the_sites_acting(cue):
    data = plotdata.cognitive_data(cue)
    by = data["perturbed_by"]
    assert set(by) == {(), ("kick",)}
    fig = plots.trials_figure(data, n_trials=4)
    picks = plots.pick_trials(data["cond"], 4)
    assert {by[b] for b in picks} == {(), ("kick",)}  # the drawn trials show both kinds
    for j, b in enumerate(picks):
        title = fig.axes[3 * j].get_title()  # input, a, b, then the next trial
        assert title.startswith(f"trial {b}: {data['conditions'][b]}")
        assert title.endswith("\n`kick` active") == (by[b] == ("kick",))


# ---- the replicates figure -------------------------------------------------------------------------


def _validation_records(run):
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["phase"] == "validate"]


def test_replicates_figure_compares_replicates(runs, tmp_path):
    run = runs["pd"].run.path
    paths = figures.plot_run(run, "replicates", tmp_path)
    assert [p.name for p in paths] == ["replicates.png"]
    fig = plots.replicates_figure(plotdata.replicate_data(plotdata.read_records(run), 2), "pd")
    loss_ax, loss_bars, acc_ax, acc_bars = fig.axes
    assert "2 replicates" in fig._suptitle.get_text()
    assert _legend(loss_ax) == ["replicate 0", "replicate 1"] and loss_ax.get_yscale() == "log"
    val = _validation_records(run)
    for k in range(2):  # one line per replicate: its validation losses and accuracies
        np.testing.assert_allclose(loss_ax.get_lines()[k].get_ydata(), [r["replicates"]["loss"][k] for r in val])
        np.testing.assert_allclose(acc_ax.get_lines()[k].get_ydata(),
                                   [r["replicates"]["metrics"]["correct"][k] for r in val])
    np.testing.assert_allclose([b.get_height() for b in loss_bars.patches], val[-1]["replicates"]["loss"], rtol=1e-6)
    np.testing.assert_allclose([b.get_height() for b in acc_bars.patches], val[-1]["replicates"]["metrics"]["correct"])
    assert acc_ax.get_ylabel() == "accuracy" and loss_bars.get_title().startswith("final validation loss")


def _copy_metrics(src: Path, dst: Path, validation: bool = True) -> Path:
    """A run directory with the source, settings and metrics of `src` (no checkpoint: only the
    figures drawn from the metrics fit it), without the validation records if asked."""
    dst.mkdir()
    for name in ("model.rnn", "settings.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    lines = (src / "metrics.jsonl").read_text().splitlines()
    (dst / "metrics.jsonl").write_text("\n".join(ln for ln in lines if validation or '"validate"' not in ln) + "\n")
    return dst


def test_one_replicate_gets_one_line_and_says_so(runs, tmp_path):
    run = runs["reach"].run.path
    assert [p.name for p in figures.plot_run(run, "replicates", tmp_path)] == ["replicates.png"]
    data = plotdata.replicate_data(plotdata.read_records(run), 1)
    fig = plots.replicates_figure(data)
    assert "1 replicate (the run has replicates = 1): one line, nothing to compare" in fig._suptitle.get_text()
    assert len(fig.axes[0].get_lines()) == 1
    val = _validation_records(run)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [r["loss"] for r in val])
    # the task's metrics, one panel each besides the loss
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["validation loss", "final position error", "final speed"]


def test_replicates_figure_is_drawn_by_default_with_several(runs, tmp_path):
    pd = _copy_metrics(runs["pd"].run.path, tmp_path / "pd")
    assert [p.name for p in figures.plot_run(pd, None, tmp_path / "a")] == ["loss.png", "replicates.png"]
    reach = _copy_metrics(runs["reach"].run.path, tmp_path / "reach")
    assert [p.name for p in figures.plot_run(reach, None, tmp_path / "b")] == ["loss.png"]


def test_replicates_figure_needs_validation_records(runs, tmp_path):
    dst = _copy_metrics(runs["pd"].run.path, tmp_path / "partial", validation=False)
    with pytest.raises(UsageError) as e:
        figures.plot_run(dst, "replicates", tmp_path / "out")
    assert str(e.value) == (f"cannot draw `replicates` for {dst}: the run has no validation records yet "
                            "(metrics.jsonl holds no `validate` line)")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in figures.plot_run(dst, None, tmp_path / "out")] == ["loss.png"]


# ---- errors ------------------------------------------------------------------------------------------


def test_unknown_figure_name(runs, tmp_path, capsys):
    run = str(runs["pd"].run.path)
    assert main(["plot", run, "--what", "replicate", "-o", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert ("unknown figure 'replicate'; the figures are: loss, trajectories, muscles, activity, trials, psychometric, "
            "interventions, replicates") in err
    assert "Traceback" not in err and not (tmp_path / "no").exists()


@pytest.mark.parametrize("run, k, message", [
    ("pd", 2, "replicate 2 out of range: the run has 2 (replicates 0 to 1)"),
    ("pd", -1, "replicate -1 out of range: the run has 2 (replicates 0 to 1)"),
    ("reach", 1, "replicate 1 out of range: the run has 1 (replicate 0)"),
])
def test_replicate_out_of_range(runs, tmp_path, capsys, run, k, message):
    # refused for figures drawn from the metrics alone too, before anything is written
    args = ["plot", str(runs[run].run.path), "--what", "loss", "--replicate", str(k), "-o", str(tmp_path / "no")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "no").exists()


# ---- docs ---------------------------------------------------------------------------------------------


def test_every_figure_is_taught():
    text = (ROOT / "docs" / "runs.md").read_text()
    section = text[text.index("## Figures"):]
    for name in figures.FIGURES:
        assert f"| `{name}` |" in section, name
