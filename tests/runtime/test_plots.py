"""Figures: every figure rendered (Agg) for tiny trained models of each family, with the
expected panels; what fits which model; errors for unknown or unfitting figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnlang.dsl.errors import UsageError  # noqa: E402
from rnnlang.runtime import figures, plotdata, plots  # noqa: E402
from rnnlang.runtime.api import train  # noqa: E402
from rnnlang.runtime.plotdata import RunContext  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TINY = ["train.batches=4", "train.batch_size=16", "train.validate_every=2", "net.hidden=8"]
PNG = b"\x89PNG\r\n\x1a\n"


def _edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


CURL_SITE = ("site curl at arm.force: curl_field(amplitude = 2.0) {\n"
             "  train { active = bernoulli(0.5) }\n  validate { active = true }\n}\n\nloss {")


def _reach_curl_source() -> str:
    """The point-mass reach example (a GRU) with a curl field site."""
    return _edit((EXAMPLES / "point_mass_reach.rnn").read_text(), ("loss {", CURL_SITE))


def _pd_source() -> str:
    """The perceptual-discrimination example (a ctrnn)."""
    return (EXAMPLES / "perceptual_discrimination.rnn").read_text()


def _arm_curl_source() -> str:
    """The reach example on a two-link arm driven by a ctrnn, with a curl field site."""
    return _edit(
        _reach_curl_source(),
        ("simple_reaches(workspace = [[-1, -1], [1, 1]], eval_n_directions = 7, eval_length = 0.5)",
         "simple_reaches(workspace = [[-0.15, 0.35], [0.15, 0.55]], eval_n_directions = 5, eval_length = 0.1)"),
        ("gru(hidden = 50, out = 2)", 'ctrnn(hidden = 50, out = 2, tau = 0.1, transfer = "tanh")'),
        ("point_mass(mass = 1.0, damping = 0.0)", "two_link_arm()"),
    )


def _train(tmp, name: str, source: str, extra=()):
    path = tmp / f"{name}.rnn"
    path.write_text(source)
    return train(path, overrides=TINY + list(extra), out=str(tmp / name))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny trained runs: point-mass reach with a curl field site (a GRU), and perceptual
    discrimination (a ctrnn) with two replicates."""
    tmp = tmp_path_factory.mktemp("plots")
    return {
        "reach": _train(tmp, "reach", _reach_curl_source(), ["model.steps=20"]),
        "pd": _train(tmp, "pd", _pd_source(), ["model.duration=400", "train.replicates=2"]),
    }


@pytest.fixture(scope="module")
def contexts(runs):
    return {k: RunContext.from_result(r) for k, r in runs.items()}


def _check_files(paths, names, fmt="png"):
    assert sorted(p.name for p in paths) == sorted(f"{n}.{fmt}" for n in names)
    for p in paths:
        assert p.is_file() and p.stat().st_size > 1000, p
        if fmt == "png":
            assert p.read_bytes()[:8] == PNG
    leftovers = [q.name for q in paths[0].parent.iterdir() if q.name.startswith(".")]
    assert not leftovers  # written atomically: no temporary files left behind


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def _paths(ax):
    return [ln for ln in ax.get_lines() if ln.get_gid() == "path"]


# ---- plot_run: which figures each model gets -------------------------------------------------


def test_reach_run_default_figures(runs):
    # the real path: plot_run reopens the run from disk
    paths = figures.plot_run(runs["reach"].run.path)
    _check_files(paths, ["loss", "trajectories", "activity", "interventions"])
    assert all(p.parent == runs["reach"].run.plots for p in paths)


def test_cognitive_run_default_figures(runs, contexts, tmp_path):
    paths = figures.plot_run(runs["pd"].run.path, out_dir=tmp_path / "figs", context=contexts["pd"])
    _check_files(paths, ["loss", "activity", "trials", "psychometric", "replicates"])


def test_what_selects_and_formats(runs, contexts, tmp_path):
    paths = figures.plot_run(runs["reach"].run.path, "loss,trajectories", tmp_path, "svg", context=contexts["reach"])
    _check_files(paths, ["loss", "trajectories"], fmt="svg")
    assert paths[0].read_text().lstrip().startswith("<?xml")
    assert [p.name for p in figures.plot_run(runs["reach"].run.path, ["loss"], tmp_path, "pdf")] == ["loss.pdf"]


def test_unknown_figure_lists_the_valid_ones(runs, tmp_path):
    with pytest.raises(UsageError) as e:
        figures.plot_run(runs["reach"].run.path, ["loss", "trajectory"], tmp_path)
    msg = str(e.value)
    assert "'trajectory'" in msg
    for name in figures.FIGURES:
        assert name in msg
    assert not list(tmp_path.iterdir())


def test_unknown_format(runs, tmp_path):
    with pytest.raises(UsageError, match="format"):
        figures.plot_run(runs["reach"].run.path, None, tmp_path, "jpg")


@pytest.mark.parametrize("run, what, why", [
    ("reach", "psychometric", "not a cognitive task"),
    ("reach", "trials", "not a cognitive task"),
    ("pd", "interventions", "no intervention sites"),
    ("pd", "trajectories", "not a reach task"),
])
def test_figures_that_do_not_fit_say_why(runs, contexts, tmp_path, run, what, why):
    with pytest.raises(UsageError, match=why):
        figures.plot_run(runs[run].run.path, ["loss", what], tmp_path, context=contexts[run])
    assert not list(tmp_path.iterdir())  # nothing written when one asked figure cannot be drawn


def test_run_without_checkpoint_gets_the_loss_only(runs, tmp_path):
    src = runs["reach"].run.path
    dst = tmp_path / "partial"
    dst.mkdir()
    for name in ("model.rnn", "settings.json", "metrics.jsonl"):
        (dst / name).write_bytes((src / name).read_bytes())
    _check_files(figures.plot_run(dst), ["loss"])
    with pytest.raises(UsageError, match="no checkpoint"):
        figures.plot_run(dst, "activity")


# ---- the figures' panels ---------------------------------------------------------------------


def test_loss_figure_panels(runs):
    records = plotdata.read_records(runs["reach"].run.path)
    fig = plots.loss_figure(records, "point_mass_reach — run")
    train_ax, val_ax = fig.axes[0], fig.axes[1]
    assert train_ax.get_title() == "Training" and val_ax.get_title() == "Validation"
    assert train_ax.get_yscale() == "log" and train_ax.get_xlabel() == "training batch"
    labels = [t.get_text() for t in train_ax.get_legend().get_texts()]
    assert labels[0] == "total" and set(labels[1:]) == {"position", "final_velocity", "effort", "activity"}
    assert len(fig.axes) == 4  # training, validation, final position error, final speed
    assert "point_mass_reach" in fig._suptitle.get_text()


def test_loss_figure_replicate_band(runs):
    fig = plots.loss_figure(plotdata.read_records(runs["pd"].run.path))
    assert "2 replicates" in fig.axes[0].get_title()
    assert fig.axes[0].collections  # min-max bands
    assert fig.axes[2].get_ylabel() == "accuracy"


def test_trajectory_figure_point_mass(contexts):
    ctx = contexts["reach"]
    data = plotdata.reach_data(ctx)
    fig = plots.trajectory_figure(data, ctx.title, ctx.replicate_note)
    assert len(fig.axes) == 3
    pos_ax, speed_ax, force_ax = fig.axes
    assert len(_paths(pos_ax)) == 7  # one path per validation direction
    assert pos_ax.get_title().startswith("Effector paths (7 validation reaches)")
    assert pos_ax.get_xlabel() == "pos x (m)" and force_ax.get_xlabel() == "time (s)"
    assert speed_ax.get_ylabel() == "speed |vel| (m/s)" and force_ax.get_ylabel() == "|force| (N)"
    assert "replicate 0" in fig._suptitle.get_text()
    # paths start at the start and have T + 1 points
    assert data["pos"].shape == (7, 21, 2)
    np.testing.assert_allclose(data["pos"][:, 0], data["start"], atol=1e-6)


def _check_arm_figure(data, n_reach):
    fig = plots.trajectory_figure(data)
    assert len(fig.axes) == 4  # paths, arm, speed, force
    arm_ax = fig.axes[1]
    assert arm_ax.get_title().startswith("Arm segments at t =")
    assert len(arm_ax.get_lines()) == n_reach * 4  # each reach's arm at four time points
    assert len(_paths(fig.axes[0])) == n_reach
    # the drawn hand is the effector: forward kinematics of the joints gives the recorded path
    _, hand = plots._arm_points(data["joints"], data["lengths"])
    np.testing.assert_allclose(hand, data["pos"][:, 1:], atol=1e-4)
    return fig


def test_trajectory_figure_two_link_arm_from_arrays():
    T, B = 12, 3
    q = np.stack([np.linspace(0.3, 0.6 + 0.2 * b, T) for b in range(B)])  # (B, T) shoulder
    joints = np.stack([q, np.full_like(q, 1.2), np.zeros_like(q), np.zeros_like(q)], axis=-1)
    lengths = np.array([0.3, 0.33])
    _, hand = plots._arm_points(joints, lengths)
    start = hand[:, 0] - 0.01
    cond = plotdata.conditions({"vars": {"angle": np.array([0.0, 2.0, 4.0])}})
    data = {"dt": 0.01, "time_unit": "s", "pos": np.concatenate([start[:, None], hand], 1),
            "vel": np.zeros((B, T + 1, 2)), "force": np.zeros((B, T, 2)), "start": start, "goal": hand[:, -1],
            "cond": cond, "space_unit": "m", "force_label": "torque (N m)", "joints": joints, "lengths": lengths,
            "final_error": np.zeros(B)}
    fig = _check_arm_figure(data, B)
    assert fig.axes[3].get_ylabel() == "|torque| (N m)" and fig.axes[3].get_xlabel() == "time (s)"
    # elbow: first segment of the stick figure has the first segment's length
    xs, ys = fig.axes[1].get_lines()[0].get_data()
    assert np.hypot(xs[1], ys[1]) == pytest.approx(0.3)


@pytest.mark.slow
def test_two_link_arm_run(tmp_path):
    """A ctrnn driving a two-link arm through a curl field: every figure, from the run on disk."""
    result = _train(tmp_path, "arm", _arm_curl_source(), ["model.steps=15"])
    paths = figures.plot_run(result.run.path)
    _check_files(paths, ["loss", "trajectories", "activity", "interventions"])
    ctx = RunContext.from_result(result)
    data = plotdata.reach_data(ctx)
    assert data["joints"].shape == (5, 15, 4) and data["lengths"].tolist() == pytest.approx([0.30, 0.33])
    _check_arm_figure(data, 5)


def test_activity_figure_panels(contexts):
    ctx = contexts["reach"]
    fig = plots.activity_figure(plotdata.activity_data(ctx), ctx.title, ctx.replicate_note)
    titles = _titles(fig)
    assert titles[0] == "All 8 units, trial 0: direction=0"
    assert any(t.startswith("Hidden state, first two PCs") for t in titles)
    assert sum(t.startswith("unit ") for t in titles) == 4
    assert any(ax.get_xlabel().startswith("PC 1") for ax in fig.axes)
    assert any(ax.get_ylabel() == "direction" for ax in fig.axes)  # the condition colour bar


def test_activity_figure_condition_means(contexts):
    data = plotdata.activity_data(contexts["pd"])
    assert data["hidden"].shape == (64, 40, 8)
    fig = plots.activity_figure(data)
    pca_ax = next(ax for ax in fig.axes if ax.get_title().startswith("Hidden state"))
    assert "condition means" in pca_ax.get_title()
    assert len(pca_ax.get_lines()) == 2 * 8 + 1  # 8 conditions: trajectory + end dot each, start dots
    assert fig.axes[0].get_xlabel() == "time (ms)"


def test_trials_figure_panels(contexts):
    data = plotdata.cognitive_data(contexts["pd"])
    fig = plots.trials_figure(data, n_trials=4)
    assert len(fig.axes) == 3 * 4  # input, output 0, output 1 for four trials
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == ["input", "choose_left", "choose_right"]
    assert all("coherence=" in fig.axes[3 * j].get_title() for j in range(4))
    assert fig.axes[2].get_xlabel() == "time (ms)"
    # the four trials cover the condition range: the most negative and the most positive
    picks = plots.pick_trials(data["cond"], 4)
    v = data["cond"]["values"][picks]
    assert v.min() == pytest.approx(-0.7) and v.max() == pytest.approx(0.7)


def test_psychometric_figure(contexts):
    ctx = contexts["pd"]
    data = plotdata.cognitive_data(ctx, [ctx.validation_trial()] + ctx.extra_validation_trials(1))
    assert data["x"].shape == (128,) and set(np.unique(data["choice"])) <= {0.0, 1.0}
    fig = plots.psychometric_figure(data)
    curve_ax, acc_ax = fig.axes
    assert curve_ax.get_title() == "Psychometric curve (128 trials)"
    assert curve_ax.get_ylabel() == "P(choice = choose_left)" and curve_ax.get_xlabel().startswith("signed coherence")
    assert acc_ax.get_xlabel() == "coherence" and acc_ax.get_ylabel() == "accuracy"
    assert "logistic fit" in curve_ax.get_legend_handles_labels()[1]


def test_intervention_figure(contexts):
    entries = plotdata.intervention_data(contexts["reach"])
    assert [e["site"] for e in entries] == ["curl"]
    e = entries[0]
    assert e["values"] == {"amplitude": 2.0, "scale": 1.0}
    assert not np.allclose(e["on"]["pos"], e["off"]["pos"])  # the field pushes the hand
    fig = plots.intervention_figure(entries)
    assert len(fig.axes) == 2
    assert "inactive" in fig.axes[0].get_title() and ": active" in fig.axes[1].get_title()
    assert all(len(_paths(ax)) == 7 for ax in fig.axes)
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()


def test_intervention_figure_cognitive(contexts):
    ctx = contexts["pd"]
    off = plotdata.cognitive_data(ctx)
    on = dict(off, output=off["output"] * 0.5)
    entry = {"site": "s", "kind": "noise", "target": "net.hidden", "values": {"std": 0.1}, "off": off, "on": on}
    fig = plots.intervention_figure([entry])
    assert fig.axes[0].get_xlabel() == "time (ms)"
    assert "accuracy" in fig.axes[0].get_title() and "std = 0.1" in fig.axes[1].get_title()


# ---- helpers --------------------------------------------------------------------------------


def test_time_unit():
    assert plotdata.time_unit(0.05) == "s" and plotdata.time_unit(0.01) == "s"
    assert plotdata.time_unit(10) == "ms" and plotdata.time_unit(1.0) == "ms"


def test_fit_logistic_recovers_parameters():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.5 + 4.0 * x)))).astype(float)
    b0, b1 = plots.fit_logistic(x, y)
    assert b0 == pytest.approx(0.5, abs=0.15) and b1 == pytest.approx(4.0, rel=0.1)
    b0, b1 = plots.fit_logistic(x, (x > 0).astype(float))  # separable: steep but finite
    assert np.isfinite(b1) and b1 > 20


def test_condition_colours_are_the_same_across_figures():
    a = {"values": np.array([0.0, np.pi / 2]), "label": "direction", "kind": "cyclic", "vmax": np.pi / 2}
    b = {"values": np.array([np.pi / 2, np.pi, 0.0]), "label": "direction", "kind": "cyclic", "vmax": np.pi}
    np.testing.assert_allclose(plots.condition_colors(a)[1], plots.condition_colors(b)[0])
    s = {"values": np.array([-0.5, 0.5, 0.1]), "label": "signed coherence", "kind": "diverging", "vmax": 0.5}
    cols = plots.condition_colors(s)
    assert cols[0][2] > cols[0][0] and cols[1][0] > cols[1][2]  # negative blue, positive red


def test_conditions_of_tasks():
    reach = {"vars": {"angle": np.array([0.0, 1.0]), "start": np.zeros((2, 2))}}
    assert plotdata.conditions(reach)["kind"] == "cyclic"
    pd = {"vars": {"signed_coherence": np.array([-0.3, 0.7])}}
    c = plotdata.conditions(pd)
    assert c["kind"] == "diverging" and c["vmax"] == pytest.approx(0.7)
    dd = {"vars": {"f1": np.array([18.0, 10.0]), "f2": np.array([10.0, 18.0])}}
    assert plotdata.conditions(dd)["values"].tolist() == [8.0, -8.0]


def test_plot_command_draws_the_replicate_asked_for(runs, tmp_path, capsys):
    from rnnlang.runtime.cli import main

    run = str(runs["pd"].run.path)
    assert main(["plot", run, "--what", "trials", "--replicate", "1", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "trials.png").exists()
    assert main(["plot", run, "--what", "trials", "--replicate", "5", "-o", str(tmp_path / "no")]) == 2
    assert "replicate 5 out of range: the run has 2" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
