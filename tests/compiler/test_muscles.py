"""The muscle plants in models: their sites (excitation, tension, hand force) in the lowering
against a hand-stepped plant, their checks' positioned errors, activation dynamics and the point
mass's geometry against formulas, and the arm26 examples at a small size (their full training
is the slow test at the end; the numerics against MotorNet are in test_muscles_motornet.py)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from rnnlang.compiler.lower import compile_model
from rnnlang.compiler.nodes import muscles
from rnnlang.compiler.nodes.api import NodeConfig
from rnnlang.dsl import load_source
from rnnlang.dsl.errors import ModelError
from rnnlang.runtime.cli import main
from rnnlang.runtime.figures import plot_run
from rnnlang.runtime.plots import muscle_figure
from rnnlang.runtime.tasks import train_batch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
B = 3

MODEL = """model sites { dt = 0.01  steps = 12  seed = 1 }
node task = simple_reaches(workspace = [[-0.1, 0.35], [0.1, 0.55]])
node net = gru(hidden = 4, out = 6, output_transfer = "sigmoid")
node arm = arm26()
node prop = channel(delay = 1)
task.target -> net.input
prop.output -> net.input
net.output -> arm.excitation
arm.proprioception -> prop.input
task.start -> arm.init
arm.effector -> task.effector
site silence at arm.excitation: clamp(units = [0], values = [0.0])
site weak at arm.tension: custom(mode = "replace") { value = x * [1, 1, 1, 1, 0.5, 1] }
site curl at arm.force: curl_field(amplitude = 8.0)
loss { position = squared_error(arm.effector.pos, task.target.pos) }
"""


@pytest.fixture(scope="module")
def sites_run():
    cm, graph = load_source(MODEL, "sites.rnn")
    model = compile_model(cm, graph)
    params = model.init(jr.PRNGKey(0))
    trial = train_batch(model, jr.PRNGKey(1), B)
    roll = jax.jit(lambda tr: model.rollout(params, tr, jr.PRNGKey(2), record=["net.output", "arm.effector",
                                                                              "arm.activations"]))
    out = roll(trial)
    return model, trial, roll, {k: np.asarray(v) for k, v in out.items()}


def test_sites_act_on_excitation_tension_and_hand_force(sites_run):
    """The plant stepped by hand with the network's recorded output, muscle 0 clamped to 0, the
    biceps' force halved where it pulls on the skeleton and a curl field on the hand, gives the
    lowering's trajectory."""
    model, trial, _, out = sites_run
    node = model.impls["arm"]
    half = jnp.asarray([1, 1, 1, 1, 0.5, 1], jnp.float32)

    @jax.jit
    def step(state, u):
        u = u.at[0].set(0.0)
        v = node.velocity(state)
        force = 8.0 * jnp.stack([-v[1], v[0]])
        return node.advance({}, state, {"excitation": u, "force": force}, {}, {"tension": lambda x: x * half})[0]

    for b in range(B):
        state = node.init_state({}, {"init": jnp.asarray(trial["init"]["start"][b])})
        for t in range(out["net.output"].shape[1]):  # a recorded state read is the state after the step
            state = step(state, jnp.asarray(out["net.output"][b, t]))
            read = node.read({}, state, {})
            np.testing.assert_allclose(out["arm.effector"][b, t], read["effector"], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(out["arm.activations"][b, t], read["activations"], rtol=1e-4, atol=1e-6)
    assert np.all(out["arm.activations"][..., 0] <= 0.0011)  # the clamped muscle stays at rest
    assert np.ptp(out["arm.effector"][..., 0]) > 1e-4  # and the arm moves


def test_sites_change_the_movement(sites_run):
    """Without the sites (active = 0) the hand goes elsewhere: each one acts."""
    model, trial, roll, out = sites_run
    for site in ("silence", "weak", "curl"):
        active = trial["sites"][site]["active"]
        off = {**trial, "sites": {**trial["sites"], site: {**trial["sites"][site], "active": jnp.zeros_like(active)}}}
        other = np.asarray(roll(off)["arm.effector"])
        assert np.max(np.abs(other - out["arm.effector"])) > 1e-6, site


def test_activation_follows_thelen_first_order_dynamics():
    """One Euler step of da/dt = (u - a) / tau, tau = tau_a (0.5 + 1.5 a) rising and
    tau_d / (0.5 + 1.5 a) falling, with u clipped to [min_activation, 1]."""
    dt, ta, td = 0.01, 0.02, 0.06
    node = muscles.Arm26(NodeConfig("arm", {"tau_activation": ta, "tau_deactivation": td, "muscle": "relu"},
                                    {}, {}, dt, 10))
    joint = jnp.asarray([0.7, 1.4, 0.0, 0.0])
    state = node.initial_state(joint)
    u = jnp.asarray([1.7, 0.5, 0.2, -0.3, 0.0, 1.0])
    a1 = np.asarray(node.split(node.advance({}, state, {"excitation": u}, {}, {})[0])[1][0])
    np.testing.assert_allclose(a1, dt * np.clip(u, 0, 1) / (ta * 0.5), rtol=1e-5)  # from rest, a = 0
    a = a1
    a2 = np.asarray(node.split(node.advance({}, node.join(joint, jnp.stack([a1, *node.split(state)[1][1:]])),
                                            {"excitation": jnp.full(6, 0.1)}, {}, {})[0])[1][0])
    tau = np.where(0.1 > a, ta * (0.5 + 1.5 * a), td / (0.5 + 1.5 * a))
    np.testing.assert_allclose(a2, np.clip(a + dt * (0.1 - a) / tau, 0, 1), rtol=1e-5)


def test_point_mass_muscles_pull_towards_their_anchors():
    """Straight muscle paths: lengths are distances to the anchors, moment arms unit vectors,
    and one excited muscle accelerates the mass towards its anchor by F / m after one step."""
    dt, m, f = 0.01, 2.0, 300.0
    node = muscles.MusclePointMass(NodeConfig("pm", {"mass": m, "max_isometric_force": f}, {}, {}, dt, 10))
    joint = jnp.asarray([0.3, -0.2, 0.0, 0.0])
    length, velocity, moments = node.geometry(joint)
    anchors = np.array([[2, 2], [-2, 2], [2, -2], [-2, -2]], float)
    diff = np.array([0.3, -0.2]) - anchors
    np.testing.assert_allclose(length, np.linalg.norm(diff, axis=1), rtol=1e-6)
    np.testing.assert_allclose(moments.T, diff / np.linalg.norm(diff, axis=1)[:, None], rtol=1e-6)
    np.testing.assert_allclose(velocity, 0.0)
    state = node.initial_state(joint)
    u = jnp.asarray([1.0, 0.0, 0.0, 0.0])
    for _ in range(2):  # the force of a step's activation acts from the next step on
        state = node.advance({}, state, {"excitation": u}, {}, {})[0]
    a = float(node.split(state)[1][0, 0])
    _, muscle = node.split(state)
    np.testing.assert_allclose(muscle[3], [a * f, 0, 0, 0], rtol=1e-6)
    unit = -diff[0] / np.linalg.norm(diff[0])
    a_prev = min(dt / 0.0075, 1.0)  # the first step's activation: from 0 towards 1 with tau = 0.015 * 0.5, clipped
    np.testing.assert_allclose(node.read({}, state, {})["effector"][2:], dt * a_prev * f / m * unit, rtol=1e-5)


@pytest.mark.parametrize("call, param, message", [
    ("arm26(max_isometric_force = [800, 900, 1000])", "max_isometric_force", "must be 6 positive numbers"),
    ("arm26(tendon_length = [0.1, 0.1, 0.1, 0.1, -0.1, 0.1])", "tendon_length", "must be 6 positive numbers"),
    ("arm26(joint_limits = [[1, 0], [0, 2]])", "joint_limits", "lo < hi"),
    ("muscle_point_mass(bounds = [[-3, 1], [-1, 1]])", "bounds", "inside the muscles' anchors"),
    ('arm26(muscle = "hil")', "muscle", "hill"),
])
def test_wrong_values_are_refused_at_the_parameter(call: str, param: str, message: str):
    source = ("model m { dt = 0.01  steps = 5 }\nnode net = gru(hidden = 3, out = 2)\n"
              f"node arm = {call}\nnet.output -> arm.force\nloss {{ e = penalty(net.output) }}\n")
    with pytest.raises(ModelError) as info:
        load_source(source, "m.rnn")
    text = info.value.render()
    line = source.splitlines()[2]
    name_col = line.index(param) + 1
    value_col = name_col + len(f"{param} = ")
    assert (f"m.rnn:3:{name_col}: error:" in text or f"m.rnn:3:{value_col}: error:" in text), text
    assert message in text and "^" in text and "Traceback" not in text


def test_muscle_figure_draws_joints_and_each_muscle():
    """The `muscles` figure from plotdata's arrays: two joint panels and one per muscle."""
    T = 20
    t = np.linspace(0, 1, T)
    data = {"dt": 0.01, "time_unit": "s", "activations": np.stack([np.outer(np.ones(6), t).T] * 2),
            "joints": np.zeros((2, T, 4)), "muscles": ["pectoralis", "deltoid", "brachioradialis", "tricepslat",
                                                       "biceps", "tricepslong"],
            "cond": {"values": np.array([0.0, np.pi]), "label": "direction", "kind": "cyclic", "vmax": np.pi}}
    fig = muscle_figure(data, "m")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["shoulder angle (deg)", "elbow angle (deg)"] and "biceps activation" in titles
    assert len(fig.axes) == 8 and all(len(ax.get_lines()) == 2 for ax in fig.axes)
    np.testing.assert_allclose(fig.axes[2].get_lines()[0].get_ydata(), t)


@pytest.mark.slow
def test_the_curl_example_trains_at_a_small_size(tmp_path):
    """The examples' whole path (checked file, weight file, channels, the curl site, training,
    the muscles figure) at a small size: a few batches of a small network. arm26_reach.rnn is
    the same file without the site."""
    out = tmp_path / "run"
    small = ["net.hidden=8", "train.batches=3", "train.batch_size=4", "train.validate_every=3", "model.steps=8"]
    assert main(["train", str(EXAMPLES / "arm26_reach_curl.rnn"), "--out", str(out), "--no-plots", "-q",
                 *[a for s in small for a in ("--set", s)]]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["phase"] == "validate"][-1]
    assert np.isfinite(last["loss"]) and 0.0 <= last["metrics"]["final_position_error"] < 1.0
    (path,) = plot_run(out, "muscles")
    assert path.name == "muscles.png" and path.stat().st_size > 10_000


@pytest.mark.slow
def test_arm26_reach_trains_to_the_readme_result(tmp_path):
    """examples/arm26_reach.rnn as it stands (600 batches of 64) reaches its targets: the final
    position error examples/README.md states (0.0081 m), with a margin for other machines."""
    out = tmp_path / "run"
    assert main(["train", str(EXAMPLES / "arm26_reach.rnn"), "--out", str(out), "--no-plots", "-q"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["phase"] == "validate"][-1]
    assert last["batch"] == 600 and last["metrics"]["final_position_error"] < 0.015
