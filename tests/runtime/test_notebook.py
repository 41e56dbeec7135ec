"""rnnlang in notebooks: a checked model shows its summary and diagram, a run its metrics and
figures, and the `%%rnn` magic checks (and trains) a cell's model with errors at the cell's
positions. The example notebook itself is executed by nbclient, after the in-process tests
have compiled its model's programs into the shared cache."""

from __future__ import annotations

import base64
import html
import json
import re
import sys
from pathlib import Path

from rnnlang.dsl import load_source
from rnnlang.dsl.display import NO_DOT
from rnnlang.runtime import notebook
from rnnlang.runtime.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebooks" / "quickstart.ipynb"

TINY = """model tiny {
  dt = 10
  duration = 300
  tau = 100
  seed = 0
}

node task = perceptual_discrimination(coherences = [0.5])
node net = ctrnn(hidden = 8, out = 2)

task.input -> net.input
net.output -> task.response

loss {
  mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean")
}

train {
  batches = 5
  batch_size = 16
  validate_every = 5
}
"""  # the example notebook's model: its kernel then reads the programs compiled here from the cache


def ctrnn_parameters(hidden: int, inputs: int, out: int) -> int:
    """W_in, W_rec, W_out, the recurrent and output biases and the learned initial state."""
    return hidden * inputs + hidden * hidden + out * hidden + hidden + out + hidden


def test_a_checked_model_shows_its_summary_and_diagram():
    cm, _ = load_source(TINY)
    page = cm._repr_html_()
    n = ctrnn_parameters(8, 2, 2)
    assert f"<b>model <code>tiny</code></b>: dt = 10, 30 steps, {n} parameters" in page
    assert (f"<tr><td><code>net</code></td><td>ctrnn (network)</td><td style='text-align:right'>{n}</td>"
            "<td>input (2)</td><td>output (2), hidden (8)</td></tr>") in page
    assert "<code>task.input -&gt; net.input</code>" in page
    svg = cm._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and ">net<" in svg.replace(" ", "")
    assert page.count("<svg") == 1 and NO_DOT not in page  # the diagram, inline, after the summary
    from IPython.lib.pretty import pretty

    assert pretty(cm).splitlines()[:3] == ["model `tiny`: dt = 10, 30 steps",
                                           "  task: perceptual_discrimination, 0 parameters, in: response (2), out: input (2), target (2), mask (2)",
                                           f"  net: ctrnn, {n} parameters, in: input (2), out: output (2), hidden (8)"]


def test_without_dot_the_model_shows_text(monkeypatch):
    cm, _ = load_source(TINY)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cm._repr_svg_() is None
    page = cm._repr_html_()
    assert "<svg" not in page and html.escape(NO_DOT) in page and "ctrnn (network)" in page


def test_the_magic_reports_mistakes_at_the_cell_positions(capsys):
    cell = TINY.replace("ctrnn(hidden = 8", "ctrnn(hiden = 8").replace("net.output -> task", "net.outptu -> task")
    assert notebook.rnn_cell("", cell) is None
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "<cell>:9:18: error: `ctrnn` has no parameter `hiden`",
        "   9 | node net = ctrnn(hiden = 8, out = 2)",
        "                        ^^^^^",
        "hint: did you mean `hidden`?",
        "<cell>:12:5: error: `net` (ctrnn) has no port `outptu`",
        "  12 | net.outptu -> task.response",
        "           ^^^^^^",
        "hint: did you mean `output`?",
        "2 errors",
    ]
    assert notebook.rnn_cell("--train", TINY) is None
    assert capsys.readouterr().err == "rnn: error: %%rnn: argument --train: expected one argument\n"


def test_the_docs_show_what_the_magic_prints(capsys):
    """docs/notebooks.md: its cell checks, and the mistake it shows is printed as shown."""
    docs = (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    cell = re.search(r"```\w*\n%%rnn --name model\n(.*?)```", docs, re.S).group(1)
    assert notebook.rnn_cell("", cell).name == "tiny"
    shown = re.search(r"```\w*\n(<cell>:.*?)```", docs, re.S).group(1)
    assert notebook.rnn_cell("", cell.replace("hidden = 8", "hiden = 8")) is None
    assert capsys.readouterr().err == shown


def test_the_magic_checks_with_overrides_and_keeps_the_model():
    ns: dict = {}
    cm = notebook.rnn_cell("--set net.hidden=4 --name model", TINY, ns)
    assert ns["model"] is cm and cm.nodes["net"].params["hidden"] == 4
    assert cm.path == "<cell>" and cm.plan.param_counts()["net"] == ctrnn_parameters(4, 2, 2)


def test_load_ext_registers_the_cell_magic(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))  # a shell of its own, put back afterwards
    monkeypatch.setattr(sys, "displayhook", sys.displayhook)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "rnnlang")
        cm = shell.run_cell_magic("rnn", "--name m", TINY)
        assert shell.user_ns["m"] is cm and cm.name == "tiny"
    finally:
        InteractiveShell.clear_instance()


def _png(path: Path) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)
    return path.read_bytes()


def test_a_run_shows_its_metrics_and_figures(tmp_path):
    cm, _ = load_source(TINY)
    run = RunDir.create("tiny", "<cell>", TINY, [], {"model": {"name": "tiny"}}, str(tmp_path / "run"))
    try:
        run.append_metrics([{"phase": "train", "batch": 1, "loss": 0.9, "terms": {"mse": 0.9}}]
                           + [{"phase": "validate", "batch": b, "stage": 0, "loss": 1.0 / b, "terms": {"mse": 1.0 / b},
                               "metrics": {"accuracy": 0.25 * b}} for b in (1, 2, 3)])
    finally:
        run.close()
    run = RunDir.open(run.path)
    run.plots.mkdir()
    png = _png(run.plots / "loss.png")
    page = run._repr_html_()
    assert "3 validations" in page
    assert "<thead><tr><th>batch</th><th>loss</th><th>mse</th><th>accuracy</th></tr></thead>" in page
    assert "<tr><td>3</td><td>0.3333</td><td>0.3333</td><td>0.75</td></tr>" in page
    (data,) = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert base64.b64decode(data) == png and "<figcaption>loss.png</figcaption>" in page
    assert notebook.metrics_rows(run)[0] == {"batch": 1, "loss": 1.0, "mse": 1.0, "accuracy": 0.25}


def test_the_magic_trains_into_a_run_and_shows_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    run = notebook.rnn_cell("--train runs/cell --no-plots --name run", TINY, ns)
    assert isinstance(run, RunDir) and ns["run"] is run and run.path == Path("runs/cell")
    rows = notebook.metrics_rows(run)
    assert [r["batch"] for r in rows] == [5]  # validate_every = 5 of 5 batches
    assert run.read_source() == TINY and json.loads(run.settings.read_text())["resolved"]["model"]["name"] == "tiny"
    (record,) = [r for r in run.read_metrics() if r["phase"] == "validate"]
    assert rows == [{"batch": 5, "loss": record["loss"], **record["terms"], **record["metrics"]}]
    page = run._repr_html_()
    assert "1 validations" in page and f"<td>{record['loss']:.4g}</td>" in page
    # a second training into the same directory is refused, in words
    assert notebook.rnn_cell("--train runs/cell --no-plots", TINY) is None
    err = capsys.readouterr().err
    assert err.startswith("rnn: error: ") and "runs/cell" in err and "Traceback" not in err


def test_the_example_notebook_runs(tmp_path):
    """Executed as a user would: a kernel runs every cell; the model shows its diagram, the typo
    its message at the cell's position, the run its metrics and the loss figure."""
    import nbclient
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [c.get("outputs", []) for c in nb.cells if c.cell_type == "code"]
    assert {"text/html", "image/svg+xml"} <= set(outputs[1][0]["data"])  # the checked model
    assert outputs[2][0]["name"] == "stderr" and outputs[2][0]["text"].startswith("<cell>:9:18: error: `ctrnn` has no parameter `hiden`")
    assert "1 validations" in outputs[3][0]["data"]["text/html"]
    assert "data:image/png;base64," in outputs[4][-1]["data"]["text/html"]  # the run, with the loss figure
    assert (tmp_path / "runs" / "notebook-tiny" / "plots" / "loss.png").is_file()
