"""PsychRNN interop: importing weight files (never unpickling), exporting runs, round trips, and
the `import-psychrnn` / `export-psychrnn` commands."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnlang.dsl.errors import UsageError
from rnnlang.runtime import api, interop
from rnnlang.runtime.cli import main
from rnnlang.runtime.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
STEPS = 30


def psychrnn_arrays(N: int = 10, n_in: int = 3, n_out: int = 2, dale_ratio: float | None = 0.8,
                    autapses: bool = False, seed: int = 0, old_dale_out: bool = False) -> dict[str, np.ndarray]:
    """What PsychRNN's `get_weights` returns for a Basic network with random masks: effective
    weights (mask, then |.| and Dale's signs), masks, Dale matrices, biases, init_state (1, N)."""
    rng = np.random.default_rng(seed)
    M_in = (rng.random((N, n_in)) < 0.8).astype(np.float32)
    M_rec = (rng.random((N, N)) < 0.7).astype(np.float32)
    if not autapses:
        np.fill_diagonal(M_rec, 0.0)
    M_out = (rng.random((n_out, N)) < 0.9).astype(np.float32)
    W_in = (0.5 * rng.standard_normal((N, n_in))).astype(np.float32)
    W_rec = (1.2 / np.sqrt(N) * rng.standard_normal((N, N))).astype(np.float32)
    W_out = (0.5 * rng.standard_normal((n_out, N))).astype(np.float32)
    if dale_ratio:
        n_exc = int(dale_ratio * N)
        d = np.ones(N, np.float32)
        d[n_exc:] = -1.0
        d_out = d.copy()
        d_out[n_exc:] = -1.0 if old_dale_out else 0.0
        D_rec, D_out = np.diag(d), np.diag(d_out)
        eff = {"W_in": np.abs(W_in * M_in), "W_rec": np.abs(W_rec * M_rec) @ D_rec, "W_out": np.abs(W_out * M_out) @ D_out}
    else:
        D_rec = D_out = np.eye(N, dtype=np.float32)
        eff = {"W_in": W_in * M_in, "W_rec": W_rec * M_rec, "W_out": W_out * M_out}
    return {**{k: v.astype(np.float32) for k, v in eff.items()},
            "b_rec": (0.1 * rng.standard_normal(N)).astype(np.float32),
            "b_out": (0.1 * rng.standard_normal(n_out)).astype(np.float32),
            "init_state": (0.1 + 0.01 * rng.standard_normal((1, N))).astype(np.float32),
            "input_connectivity": M_in, "rec_connectivity": M_rec, "output_connectivity": M_out,
            "Dale_rec": D_rec, "Dale_out": D_out}


def psychrnn_file(path: Path, pickled: bool = True, slots: bool = True, **kwargs) -> dict[str, np.ndarray]:
    """Save a PsychRNN-style weight file as its head writes it: with `pickled`, dale_ratio and the
    transfer function as pickled objects; with `slots`, Adam's slot arrays."""
    arrays = psychrnn_arrays(**kwargs)
    extra: dict[str, np.ndarray] = {}
    ratio = kwargs.get("dale_ratio", 0.8)
    if pickled:
        extra["dale_ratio"] = np.array(None if not ratio else ratio, dtype=object)
        extra["transfer_function"] = np.array(len, dtype=object)
    elif ratio:
        extra["dale_ratio"] = np.array(float(ratio))
    if slots:
        extra["W_rec/Adam"] = np.zeros_like(arrays["W_rec"])
        extra["W_rec/Adam_1"] = np.zeros_like(arrays["W_rec"])
    np.savez(path, **arrays, **extra)
    return arrays


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


_TRAINED: dict[str, Path] = {}


@pytest.fixture(scope="session")
def imported_run(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray], Path]:
    """A PsychRNN file, its imported model, and a run of that model whose parameters did not move
    (learning rate 0): (run directory, original arrays, weight file). Made once per session."""
    if "run" not in _TRAINED:
        d = tmp_path_factory.mktemp("psychrnn_run")
        arrays = psychrnn_file(d / "w.npz")
        model = interop.import_psychrnn(d / "w.npz", d / "m.rnn", task="match_to_category", steps=10)
        api.train(model, ["train.trials=4", "train.batch_size=4", "train.optimizer=adam(learning_rate = 0.0)",
                          "task.eval_n_angles=4"], out=str(d / "run"))
        _TRAINED.update(run=d / "run", file=d / "w.npz")
        _TRAINED["arrays"] = arrays  # type: ignore[assignment]
    return _TRAINED["run"], _TRAINED["arrays"], _TRAINED["file"]  # type: ignore[return-value]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A PsychRNN file (pickled keys, optimizer slots, masks, Dale 0.8, no autapses), imported
    with the match_to_category task, compiled and initialised."""
    d = tmp_path_factory.mktemp("psychrnn_import")
    arrays = psychrnn_file(d / "w.npz")
    path = interop.import_psychrnn(d / "w.npz", d / "m.rnn", task="match_to_category", steps=STEPS)
    model = api.compile_model(path)
    params = model.init(jax.random.PRNGKey(0))
    return d, arrays, path, model, params


# ---- import ------------------------------------------------------------------------------------


def test_import_writes_model_and_float32_data(imported):
    d, arrays, path, _, _ = imported
    text = path.read_text()
    assert re.search(r"hidden = 10,\s+out = 2,", text)
    assert "dale_ratio = 0.8," in text and "autapses = false," in text
    assert 'rec_mask = file("m.weights.npz", "rec_connectivity")' in text
    assert 'input_mask = file("m.weights.npz", "input_connectivity")' in text
    assert 'output_mask = file("m.weights.npz", "output_connectivity")' in text
    assert 'weights = file("m.weights.npz")' in text
    assert "node task = match_to_category(n_in = 3, n_out = 2)" in text
    assert "task.input -> net.input" in text and "net.output -> task.response" in text
    assert "squared_error(net.output, task.target, mask = task.mask" in text and "train {" in text
    assert "steps = 30" in text and "dt = 10" in text and "tau = 100" in text
    data = load_npz(d / "m.weights.npz")
    assert set(data) == set(interop.WEIGHT_KEYS) | set(interop.MASK_KEYS)
    for k, v in data.items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, arrays[k])
    assert not list(d.glob(".*.tmp"))


def test_imported_model_reapplies_masks_and_dale_to_the_same_weights(imported):
    _, arrays, _, model, params = imported
    eff = model.effective_weights(params, "net")
    for k in ("W_in", "W_rec", "W_out"):
        np.testing.assert_array_equal(np.asarray(eff[k]), arrays[k])


def test_imported_model_outputs_equal_the_numpy_simulator(imported):
    d, _, _, model, params = imported
    x = np.random.default_rng(5).standard_normal((4, STEPS, 3)).astype(np.float32)
    out = model.rollout(params, {"signals": {"input": jnp.asarray(x)}}, jax.random.PRNGKey(1),
                        record=["net.output", "net.hidden"])
    y, s = Simulator.from_npz(d / "w.npz", dt=10, tau=100).run_trials(x)
    np.testing.assert_allclose(np.asarray(out["net.output"]), y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["net.hidden"]), np.maximum(s, 0), rtol=1e-5, atol=1e-6)


def test_pickled_keys_are_skipped_with_a_warning(tmp_path, capsys):
    psychrnn_file(tmp_path / "w.npz", pickled=True)
    interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "m.rnn", task="match_to_category")
    err = capsys.readouterr().err
    assert "skipped `dale_ratio`" in err and "skipped `transfer_function`" in err
    assert "pickled" in err and "Dale_rec" in err
    assert "optimizer-slot" in err
    assert "dale_ratio = 0.8," in (tmp_path / "m.rnn").read_text()
    assert "Adam" not in str(sorted(load_npz(tmp_path / "m.weights.npz")))


def test_np_load_is_never_asked_to_unpickle(tmp_path, monkeypatch):
    psychrnn_file(tmp_path / "w.npz", pickled=True)
    real = np.load
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "m.rnn", task="match_to_category")
    Simulator.from_npz(tmp_path / "w.npz")
    assert calls and not any(calls)


def test_no_source_enables_pickle():
    for name in ("runtime/interop.py", "runtime/simulator.py"):
        src = (ROOT / name).read_text()
        assert not re.search(r"allow_pickle\s*=\s*True", src), name
        assert not re.search(r"^\s*(import pickle|from pickle|import dill|import cloudpickle)", src, re.M), name
        assert "eval(" not in src and "exec(" not in src


def test_dale_ratio_read_off_dale_rec_or_the_plain_value(tmp_path):
    for pickled in (True, False):
        psychrnn_file(tmp_path / "w.npz", pickled=pickled, N=13, dale_ratio=0.7)
        f = interop.read_psychrnn(tmp_path / "w.npz", warn=False)
        r = interop.dale_ratio_of(f)
        assert int(r * 13) == int(0.7 * 13)
    psychrnn_file(tmp_path / "w.npz", pickled=True, dale_ratio=None)  # no Dale: identity Dale_rec, mixed signs
    assert interop.dale_ratio_of(interop.read_psychrnn(tmp_path / "w.npz", warn=False)) == 0.0
    psychrnn_file(tmp_path / "w.npz", pickled=False, dale_ratio=None)  # no dale_ratio key at all
    assert interop.dale_ratio_of(interop.read_psychrnn(tmp_path / "w.npz", warn=False)) == 0.0
    for n in range(1, 200):
        for k in range(0, n + 1):
            r = interop.ratio_for(k, n)
            assert int(r * n) == k and 0 < r <= 1


def test_psychrnn_1_0_0_dale_out_is_reported(tmp_path, capsys):
    psychrnn_file(tmp_path / "w.npz", old_dale_out=True)
    interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "m.rnn", task="match_to_category")
    err = capsys.readouterr().err
    assert "1.0.0" in err and "inhibitory" in err


def test_autapses_follow_the_rec_mask_diagonal(tmp_path):
    psychrnn_file(tmp_path / "w.npz", autapses=True, seed=3)
    interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "m.rnn", task="match_to_category")
    assert "autapses = true," in (tmp_path / "m.rnn").read_text()


def test_without_a_task_the_model_holds_the_net_alone(tmp_path, capsys):
    psychrnn_file(tmp_path / "w.npz")
    path = interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "net_only.rnn")
    text = path.read_text()
    assert "node net = ctrnn(" in text and "node task" not in text and "loss" not in text
    assert (tmp_path / "net_only.weights.npz").exists()
    assert "3 inputs" in capsys.readouterr().err


def test_tasks_must_fit_the_network(tmp_path):
    psychrnn_file(tmp_path / "w.npz")  # 3 inputs
    with pytest.raises(UsageError, match="perceptual_discrimination` has 2 inputs"):
        interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "m.rnn", task="perceptual_discrimination")
    with pytest.raises(UsageError, match="did you mean `match_to_category`"):
        interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "m.rnn", task="match_to_categroy")
    with pytest.raises(UsageError, match="not a cognitive task"):
        interop.import_psychrnn(tmp_path / "w.npz", tmp_path / "m.rnn", task="simple_reaches")
    assert not (tmp_path / "m.rnn").exists() and not (tmp_path / "m.weights.npz").exists()
    psychrnn_file(tmp_path / "pd.npz", n_in=2)
    path = interop.import_psychrnn(tmp_path / "pd.npz", tmp_path / "pd.rnn", task="perceptual_discrimination")
    assert "node task = perceptual_discrimination()" in path.read_text()
    api.load(path)  # parses and checks


def test_bad_files_are_usage_errors(tmp_path):
    good = tmp_path / "good.npz"
    psychrnn_file(good)
    raw = good.read_bytes()
    cases = {
        "missing.npz": None,
        "garbage.npz": b"this is not a zip file at all",
        "truncated.npz": raw[: len(raw) // 2],
        "empty.npz": b"",
    }
    flipped = bytearray(raw)
    mid = len(flipped) // 3
    flipped[mid:mid + 64] = bytes(64)
    cases["flipped.npz"] = bytes(flipped)
    for name, content in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(UsageError):
            interop.import_psychrnn(p, tmp_path / "out.rnn")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(UsageError, match="single array"):
        interop.import_psychrnn(tmp_path / "one.npy", tmp_path / "out.rnn")
    with pytest.raises(UsageError, match="directory"):
        interop.import_psychrnn(tmp_path, tmp_path / "out.rnn")
    arrays = psychrnn_arrays()
    del arrays["W_out"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(UsageError, match="missing W_out"):
        interop.import_psychrnn(tmp_path / "partial.npz", tmp_path / "out.rnn")
    arrays = psychrnn_arrays()
    arrays["b_rec"] = np.zeros(7, np.float32)
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(UsageError, match="b_rec"):
        interop.import_psychrnn(tmp_path / "shape.npz", tmp_path / "out.rnn")
    arrays = psychrnn_arrays()
    arrays["W_rec"][0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(UsageError, match="NaN"):
        interop.import_psychrnn(tmp_path / "nan.npz", tmp_path / "out.rnn")
    assert not (tmp_path / "out.rnn").exists() and not (tmp_path / "out.weights.npz").exists()


# ---- export and round trips ---------------------------------------------------------------------


def test_export_writes_psychrnn_keys_without_objects(imported_run, tmp_path):
    run, arrays, _ = imported_run
    out = interop.export_psychrnn(run, tmp_path / "exported")
    assert out == tmp_path / "exported.npz"
    data = load_npz(out)
    want = set(interop.WEIGHT_KEYS) | set(interop.MASK_KEYS) | {"Dale_rec", "Dale_out", "dale_ratio"}
    assert set(data) == want
    assert all(v.dtype != object for v in data.values())
    assert data["dale_ratio"].shape == () and float(data["dale_ratio"]) == 0.8
    assert data["init_state"].shape == (1, 10)
    np.testing.assert_array_equal(np.diag(data["Dale_out"]), [1] * 8 + [0] * 2)
    np.testing.assert_array_equal(np.diag(data["Dale_rec"]), [1] * 8 + [-1] * 2)
    for k, v in arrays.items():  # a run that did not move exports the very arrays it imported
        np.testing.assert_array_equal(data[k], v, err_msg=k)


def test_round_trip_import_export_import(imported_run, tmp_path):
    run, arrays, original = imported_run
    exported = interop.export_psychrnn(run, tmp_path / "exported.npz")
    again = interop.import_psychrnn(exported, tmp_path / "again.rnn", task="match_to_category", steps=10)
    first = load_npz(original.parent / "m.weights.npz")
    second = load_npz(tmp_path / "again.weights.npz")
    assert set(first) == set(second)
    for k in first:
        np.testing.assert_array_equal(first[k], second[k], err_msg=k)
    text1 = (original.parent / "m.rnn").read_text()
    text2 = again.read_text()
    strip = lambda t: [ln for ln in t.splitlines() if not ln.startswith("#") and "file(" not in ln and "model " not in ln]  # noqa: E731
    assert strip(text1) == strip(text2)
    x = np.random.default_rng(2).standard_normal((3, 20, 3))
    y1, s1 = Simulator.from_npz(original).run_trials(x)
    y2, s2 = Simulator.from_npz(exported).run_trials(x)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(s1, s2)


def test_export_refuses_other_nodes_and_replicates(imported_run, tmp_path):
    run, _, _ = imported_run
    with pytest.raises(UsageError, match="is a match_to_category"):
        interop.export_psychrnn(run, tmp_path / "x.npz", node="task")
    with pytest.raises(UsageError, match="no node `nett`; did you mean `net`"):
        interop.export_psychrnn(run, tmp_path / "x.npz", node="nett")
    with pytest.raises(UsageError, match="replicate 3 does not exist"):
        interop.export_psychrnn(run, tmp_path / "x.npz", replicate=3)
    with pytest.raises(UsageError):
        interop.export_psychrnn(tmp_path / "no_run", tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    reach = api.compile_model(ROOT / "examples" / "point_mass_reach.rnn")
    with pytest.raises(UsageError, match="no ctrnn node"):
        interop.ctrnn_node(reach, None)
    with pytest.raises(UsageError, match="`net` is a gru"):
        interop.ctrnn_node(reach, "net")


# ---- the commands -------------------------------------------------------------------------------


def test_cli_import_and_export(imported_run, tmp_path, capsys):
    psychrnn_file(tmp_path / "w.npz")
    rc = main(["import-psychrnn", str(tmp_path / "w.npz"), "-o", str(tmp_path / "cli.rnn"),
               "--task", "match_to_category", "--transfer", "tanh", "--dt", "20", "--tau", "50", "--steps", "15"])
    assert rc == 0
    text = (tmp_path / "cli.rnn").read_text()
    assert 'transfer = "tanh"' in text and "dt = 20" in text and "tau = 50" in text and "steps = 15" in text
    assert (tmp_path / "cli.weights.npz").exists()
    assert "wrote" in capsys.readouterr().out
    run, _, _ = imported_run
    assert main(["export-psychrnn", str(run), "-o", str(tmp_path / "e.npz")]) == 0
    assert set(load_npz(tmp_path / "e.npz")) >= set(interop.WEIGHT_KEYS)


@pytest.mark.parametrize("argv, message", [
    (["import-psychrnn", "{d}/missing.npz", "-o", "{d}/m.rnn"], "no such file"),
    (["import-psychrnn", "{d}/bad.npz", "-o", "{d}/m.rnn"], "not a NumPy .npz file"),
    (["import-psychrnn", "{d}/w.npz", "-o", "{d}/m.rnn", "--task", "nope"], "unknown task"),
    (["import-psychrnn", "{d}/w.npz", "-o", "{d}/m.rnn", "--steps", "0"], "steps"),
    (["import-psychrnn", "{d}/w.npz", "-o", "{d}/m.rnn", "--transfer", "cubic"], "invalid choice"),
    (["export-psychrnn", "{d}/no_run", "-o", "{d}/e.npz"], "no such run"),
])
def test_cli_bad_inputs_exit_2(tmp_path, capsys, argv, message):
    psychrnn_file(tmp_path / "w.npz")
    (tmp_path / "bad.npz").write_bytes(b"nope")
    assert run_cli([a.format(d=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "m.rnn").exists() and not (tmp_path / "e.npz").exists()


def test_cli_export_bad_node_exits_2(imported_run, tmp_path, capsys):
    run, _, _ = imported_run
    assert main(["export-psychrnn", str(run), "-o", str(tmp_path / "e.npz"), "--node", "task"]) == 2
    assert main(["export-psychrnn", str(run), "-o", str(tmp_path / "e.npz"), "--replicate", "9"]) == 2
    err = capsys.readouterr().err
    assert "only ctrnn nodes" in err and "replicate 9" in err
    assert not (tmp_path / "e.npz").exists()


def run_cli(argv: list[str]) -> int:
    """`rnn` with these arguments: its exit status (argparse exits by itself on bad choices)."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)
