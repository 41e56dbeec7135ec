"""The `rnn` command as a user meets it: exit codes, summaries, JSON, diagrams, eval tables."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from rnnlang.runtime.cli import main

from ..conftest import EXAMPLES

ALL_EXAMPLES = sorted(EXAMPLES.glob("*.rnn")) + sorted((EXAMPLES / "tasks").glob("*.rnn"))


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.name)
def test_every_example_checks_clean(path, capsys):
    assert main(["check", "--quiet", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_check_summary_lists_nodes_sizes_and_parameter_counts(capsys):
    assert main(["check", str(EXAMPLES / "point_mass_reach.rnn")]) == 0
    out = capsys.readouterr().out
    # GRU 8 -> 50 with a 2-unit readout: 3*50*8 + 3*50*50 + 3*50 + 50 + 2*50 + 2 = 9002 (Feedbax's count)
    assert "9002 params" in out and "gru" in out and "input (8)" in out
    assert "total: 9002 parameters, 54 state values per trial" in out
    assert "arm.effector -> feedback.input" in out


def test_check_json_and_errors(tmp_path, capsys):
    bad = tmp_path / "bad.rnn"
    bad.write_text("node net = gur(hidden = 5, out = 2)\n")
    code = main(["check", "--format", "json", str(EXAMPLES / "perceptual_discrimination.rnn"), str(bad)])
    assert code == 1
    results = json.loads(capsys.readouterr().out)
    assert results[0]["parameters"] == 50 * 2 + 50 * 50 + 2 * 50 + 50 + 2 + 50  # W_in, W_rec, W_out, b_rec, b_out, init_state
    assert "no `model` block" in results[1]["errors"][0]["message"]  # every independent error, in order
    err = results[1]["errors"][1]
    assert (err["line"], err["col"]) == (1, 12) and "unknown node kind `gur`" in err["message"]
    assert err["hint"] == "did you mean `gru`?"


def test_check_exit_codes(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.rnn")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.rnn"
    bad.write_text("node net = ctrnn(hidden = 5, out = 2\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:1:37: error: unexpected end of file" in err and "^" in err and "Traceback" not in err


def test_diagram_svg_holds_every_node_and_edge(tmp_path, capsys):
    out = tmp_path / "reach.svg"
    assert main(["diagram", str(EXAMPLES / "point_mass_reach.rnn"), "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    titles = {g.find("s:title", ns).text for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"}
    assert {"task", "net", "arm", "feedback", "motor"} <= titles
    edges = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "edge"]
    assert len(edges) == 7


def test_rnn_command_has_no_traceback_on_a_bad_file(tmp_path):
    bad = tmp_path / "bad.rnn"
    bad.write_bytes(b"\xff\xfe node")
    r = subprocess.run([sys.executable, "-m", "rnnlang.runtime.cli", "check", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and f"{bad}:1:1: error: not valid UTF-8 text (byte 0xff)" in r.stderr and "Traceback" not in r.stderr


def test_check_and_train_refuse_a_model_too_large_for_max_memory(tmp_path, capsys):
    model = tmp_path / "big.rnn"
    model.write_text((EXAMPLES / "perceptual_discrimination.rnn").read_text())
    assert main(["check", str(model), "--max-memory", "1M"]) == 1
    err = capsys.readouterr().err
    assert "error: the model needs about" in err and "more than the limit set by --max-memory (1.0 MB)" in err
    # the position is the setting that dominates: here the batch (trials x steps), in the train block
    line = next(i for i, t in enumerate(model.read_text().splitlines(), 1) if "batch_size" in t)
    assert f"{model}:{line}:" in err
    out = tmp_path / "run"
    assert main(["train", str(model), "--max-memory", "1M", "--out", str(out), "--quiet"]) == 1
    assert not out.exists()  # refused before a run directory is made
    with pytest.raises(SystemExit) as info:
        main(["check", str(model), "--max-memory", "lots"])
    assert info.value.code == 2 and "not a memory size" in capsys.readouterr().err


def test_train_then_eval_table_and_json(tmp_path, capsys):
    run = tmp_path / "run"
    # the tiny settings of the figure tests' cognitive run (tests/runtime/test_plots.py): one program to compile
    tiny = ["train.batches=4", "train.batch_size=16", "train.validate_every=2", "net.hidden=8", "model.duration=400",
            "train.replicates=2"]
    assert main(["train", str(EXAMPLES / "perceptual_discrimination.rnn"), "--out", str(run), "--quiet", "--no-plots",
                 *(x for t in tiny for x in ("--set", t))]) == 0
    assert main(["eval", str(run)]) == 0
    table = capsys.readouterr().out
    assert "after 4 batches" in table and "correct" in table and "mse" in table
    assert main(["eval", str(run), "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["batch"] == 4 and 0 <= r["metrics"]["correct"][0] <= 1
    assert {"model.rnn", "settings.json", "versions.json", "metrics.jsonl", "final.safetensors"} <= {p.name for p in run.iterdir()}
    settings = json.loads((run / "settings.json").read_text())
    assert settings["overrides"][0] == "train.batches=4" and settings["resolved"]["train"]["batches"] == 4
    # a second run into the same directory is refused rather than mixed in
    assert main(["train", str(EXAMPLES / "perceptual_discrimination.rnn"), "--out", str(run), "--quiet"]) == 2


@pytest.mark.parametrize("optimizer, text, col", [
    ('adam(learning_rate = "fast")', "argument `learning_rate` of optimizer `adam` cannot be used", 20),
    ("adam(b1 = [1, 2])", "argument `b1` of optimizer `adam` cannot be used", 20),
    ("nosuch(1)", "unknown optimizer `nosuch`", 3),
    ("adam(lr = 1e-3)", "optimizer `adam` has no argument `lr`", 20),
    ("adam(learning_rate = 1e999)", "argument `learning_rate` of optimizer `adam` must be a finite number, got inf", 20),
    ("sgd(learning_rate = -1)", "the learning rate must be >= 0, got -1 (below 0 the training would climb the loss)", 19),
    ("adam(learning_rate = -1e-3)", "the learning rate must be >= 0, got -0.001", 20),
])
def test_optimizer_arguments_of_the_wrong_type_or_value_are_refused_by_check_and_train(tmp_path, capsys, optimizer, text, col):
    src = (EXAMPLES / "perceptual_discrimination.rnn").read_text()
    assert "optimizer = adam(learning_rate = 1e-3)" in src
    model = tmp_path / "m.rnn"
    model.write_text(src.replace("optimizer = adam(learning_rate = 1e-3)", f"optimizer = {optimizer}"))
    line = next(i for i, t in enumerate(model.read_text().splitlines(), 1) if "optimizer =" in t)
    assert main(["check", str(model)]) == 1
    assert f"{model}:{line}:{col}: error: {text}" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["train", str(model), "--out", str(out), "--quiet", "--no-plots"]) == 1
    assert text in capsys.readouterr().err and not out.exists()


def test_an_optimizer_mistake_in_a_set_is_shown_in_the_set(capsys):
    """The message points into the --set text and shows that line, not the file's line 1."""
    assert main(["check", str(EXAMPLES / "perceptual_discrimination.rnn"), "--set", "train.optimizer=adam(lr = 1)"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:4] == ["--set:1:22: error: optimizer `adam` has no argument `lr`",
                       "   1 | train.optimizer=adam(lr = 1)",
                       "                            ^^^^^^",
                       "hint: the arguments of `adam`: `b1`, `b2`, `eps`, `eps_root`, `learning_rate`, `mu_dtype`, `nesterov`"]
