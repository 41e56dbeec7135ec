"""rnnlang in Jupyter: how an opened run shows itself, and the `%%rnn` cell magic.

    %load_ext rnnlang

    %%rnn --name model
    model tiny { dt = 10  steps = 20 }
    ...                                   # checked; shows the summary and the diagram

    %%rnn --train runs/tiny --set train.batches=5
    ...                                   # checked, trained, then the run is shown

A checked model shows itself (dsl/display.py); a run directory (`RunDir.open(path)`, or what
`%%rnn --train` returns) shows its validation metrics table, its diagram and its figures.
Mistakes in a cell are printed as `rnn check` prints them, with lines and columns counted from
the cell's first line (the file is called `<cell>`), never as a traceback. A cell's `file(...)`
paths are relative to the notebook's working directory.
"""

from __future__ import annotations

import argparse
import base64
import html
import shlex
import sys
from pathlib import Path
from typing import Any

from rnnlang.dsl.errors import ModelError, UsageError

from .rundir import RunDir

CELL = "<cell>"  # the file name of a model written in a cell
MAX_ROWS = 40  # validation records shown (the last ones) in a run's table


# ---- a run ------------------------------------------------------------------------------------


def metrics_rows(run: RunDir) -> list[dict[str, Any]]:
    """The validation records of a run as table rows: batch, stage, loss, each term and metric."""
    records = [r for r in run.read_metrics() if r.get("phase") == "validate"]
    staged = any(r.get("stage") for r in records)  # the stage column only for a curriculum
    rows = []
    for r in records:
        row = {"batch": r.get("batch"), **({"stage": r.get("stage")} if staged else {}), "loss": r.get("loss")}
        row.update(r.get("terms", {}))
        row.update(r.get("metrics", {}))
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def figure_html(path: Path) -> str:
    """One figure file as HTML: a PNG inline as base64, an SVG as itself."""
    if path.suffix == ".svg":
        text = path.read_text(encoding="utf-8")
        return text[text.find("<svg"):]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img src='data:image/png;base64,{data}' alt='{html.escape(path.stem)}' style='max-width:100%'/>"


def run_html(run: RunDir) -> str:
    """A run as HTML: its model and path, the table of its validation records (the last
    MAX_ROWS), its diagram and the figures in RUN/plots."""
    rows = metrics_rows(run)
    out = [f"<div class='rnnlang-run'><p><b>run <code>{html.escape(str(run.path))}</code></b>: model "
           f"<code>{html.escape(model_name(run))}</code>, {len(rows)} validations</p>"]
    if rows:
        shown = rows[-MAX_ROWS:]
        columns = list(dict.fromkeys(k for r in shown for k in r))
        out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{_cell(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in shown]
        out.append("</tbody></table>")
        if len(rows) > len(shown):
            out.append(f"<p><i>the last {len(shown)} of {len(rows)} validations</i></p>")
    else:
        out.append("<p><i>no validation yet</i></p>")
    figures = [run.path / "diagram.svg"] if (run.path / "diagram.svg").exists() else []
    figures += sorted(p for p in run.plots.glob("*") if p.suffix in (".png", ".svg")) if run.plots.is_dir() else []
    for p in figures:
        out.append(f"<figure>{figure_html(p)}<figcaption>{html.escape(p.name)}</figcaption></figure>")
    out.append("</div>")
    return "\n".join(out)


def model_name(run: RunDir) -> str:
    return str(run.read_settings().get("resolved", {}).get("model", {}).get("name", "?"))


def run_text(run: RunDir) -> str:
    rows = metrics_rows(run)
    last = rows[-1] if rows else None
    tail = ", ".join(f"{k} = {_cell(v)}" for k, v in last.items()) if last else "no validation yet"
    return f"run {run.path}: {len(rows)} validations; last: {tail}"


# ---- the %%rnn magic ------------------------------------------------------------------------------


class _Args(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # a mistake in the magic's line: one line, no exit
        raise UsageError(f"%%rnn: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Args(prog="%%rnn", add_help=False, description="check (and train) the model written in the cell")
    p.add_argument("--train", metavar="RUN_DIR", help="train it into this run directory (new), then show the run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, as `rnn train --set` (repeatable)")
    p.add_argument("--no-plots", action="store_true", help="with --train: skip the figures and diagram at the end")
    p.add_argument("--name", metavar="VAR", help="keep the checked model (or the run) in this notebook variable")
    return p


def rnn_cell(line: str, cell: str, namespace: dict[str, Any] | None = None) -> Any:
    """`%%rnn [--train RUN_DIR [--no-plots]] [--set KEY=VALUE]... [--name VAR]`: check the cell's
    model; with --train, train it (then draw its diagram and figures, as `rnn train` does, unless
    --no-plots) and return the run. A mistake is printed (with the cell's lines and
    columns) and nothing is returned."""
    from rnnlang.runtime.cli import _configure_jax

    _configure_jax()  # before JAX starts: as `rnn train` runs it
    try:
        args = _parser().parse_args(shlex.split(line))
        from rnnlang.runtime.api import load

        cm, _ = load(CELL, args.overrides, source=cell)
        result: Any = cm
        if args.train:
            result = _train(cell, args)
    except ModelError as e:
        print(e.render(), file=sys.stderr)
        if len(e.errors) > 1:
            print(f"{len(e.errors)} errors", file=sys.stderr)
        return None
    except UsageError as e:
        print(f"rnn: error: {e}", file=sys.stderr)
        return None
    for w in getattr(result, "warnings", ()):
        print(w.format(cell), file=sys.stderr)
    if args.name and namespace is not None:
        namespace[args.name] = result
    return result


def _train(cell: str, args: argparse.Namespace) -> RunDir:
    from rnnlang.runtime.api import train
    from rnnlang.runtime.cli import _finish_run
    from rnnlang.runtime.train import TrainingInterrupted, TrainingStopped

    try:
        result = train(CELL, args.overrides, out=args.train, source=cell)
    except (TrainingStopped, TrainingInterrupted) as e:
        raise UsageError(str(e)) from None
    if not args.no_plots:
        _finish_run(result.run.path, quiet=False)  # the diagram and the figures, as `rnn train` draws them
    return RunDir.open(result.run.path)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext rnnlang`: registers the `%%rnn` cell magic."""
    def rnn(line: str, cell: str) -> Any:
        return rnn_cell(line, cell, ipython.user_ns)

    rnn.__doc__ = rnn_cell.__doc__
    ipython.register_magic_function(rnn, magic_kind="cell", magic_name="rnn")


__all__ = ["run_html", "run_text", "metrics_rows", "rnn_cell", "load_ipython_extension"]
