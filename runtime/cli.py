"""The `rnn` command: check, diagram, train, eval, plot, and PsychRNN interop.

Exit status: 0 success, 1 an error in a model (with file:line:col and a caret) or a failed run,
2 a usage error (bad arguments, missing files, unusable run directory or checkpoint).
A user's mistake never prints a Python traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

EXIT_OK, EXIT_MODEL, EXIT_USAGE = 0, 1, 2


def _configure_jax() -> None:
    """Split the batch over the CPU cores as JAX devices (one per core) unless the user chose;
    must happen before JAX starts its backends."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        n = min(os.cpu_count() or 1, 8)
        os.environ["XLA_FLAGS"] = (flags + f" --xla_force_host_platform_device_count={n}").strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # compiled programs are kept on disk, so the next run of the same model (another seed, more
    # batches, a resume) starts without recompiling; RNNLANG_CACHE=0 turns this off
    if os.environ.get("RNNLANG_CACHE", "1") != "0" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(base, "rnnlang", "xla")
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line, no traceback
        self.print_usage(sys.stderr)
        print(f"rnn: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rnn", description="rnnlang: declare, check, train and look at recurrent networks in closed loop.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("check", help="parse and check model files; print a summary")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    d = sub.add_parser("diagram", help="draw a model with graphviz (svg, png, pdf or dot by extension)")
    d.add_argument("file", metavar="FILE")
    d.add_argument("-o", "--output", required=True, metavar="OUT")

    t = sub.add_parser("train", help="train a model into a run directory")
    t.add_argument("file", nargs="?", metavar="FILE")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.batches=200 (repeatable)")
    t.add_argument("--out", metavar="DIR", help="the run directory (default runs/<model>-<timestamp>)")
    t.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its last checkpoint")
    t.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    t.add_argument("--no-plots", action="store_true", help="skip the figures and diagram at the end")

    e = sub.add_parser("eval", help="evaluate a trained run on its validation set")
    e.add_argument("run", metavar="RUN")
    e.add_argument("--format", choices=("text", "json"), default="text")

    pl = sub.add_parser("plot", help="draw the figures of a run")
    pl.add_argument("run", metavar="RUN")
    pl.add_argument("--what", nargs="*", default=None, metavar="FIGURE", help="which figures (default: all that fit)")
    pl.add_argument("-o", "--output", metavar="DIR", help="where (default RUN/plots)")
    pl.add_argument("--format", choices=("png", "svg", "pdf"), default="png")

    ip = sub.add_parser("import-psychrnn", help="make a .rnn model from a PsychRNN weight file")
    ip.add_argument("weights", metavar="WEIGHTS.npz")
    ip.add_argument("-o", "--output", required=True, metavar="MODEL.rnn")
    ip.add_argument("--transfer", default="relu", choices=("relu", "tanh", "sigmoid", "softplus", "identity"))
    ip.add_argument("--task", default=None, help="a built-in task kind to pair it with")
    ip.add_argument("--dt", type=float, default=10.0)
    ip.add_argument("--tau", type=float, default=100.0)
    ip.add_argument("--steps", type=int, default=200)

    ep = sub.add_parser("export-psychrnn", help="write a run's ctrnn weights as a PsychRNN weight file")
    ep.add_argument("run", metavar="RUN")
    ep.add_argument("-o", "--output", required=True, metavar="WEIGHTS.npz")
    ep.add_argument("--node", default=None, help="which ctrnn node (default: the only one)")
    ep.add_argument("--replicate", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rnnlang.dsl.errors import ModelError, UsageError

    try:
        return COMMANDS[args.command](args)
    except ModelError as e:
        print(e.render(), file=sys.stderr)
        n = len(e.errors)
        if n > 1:
            print(f"{n} errors", file=sys.stderr)
        return EXIT_MODEL
    except UsageError as e:
        print(f"rnn: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:  # a file that cannot be written or read (permissions, a full disk)
        where = f"{e.filename}: " if e.filename else ""
        print(f"rnn: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE


# ---- check ---------------------------------------------------------------------------------------


def _summary(path: str, overrides: Sequence[str]) -> dict[str, Any]:
    """Parse, check, analyse and summarise one file (raises ModelError/UsageError)."""
    from rnnlang.compiler.schedule import analyse
    from rnnlang.runtime.api import load

    cm, graph = load(path, overrides)
    plan = analyse(cm, graph)
    counts, states = _sizes(cm, graph)
    nodes = []
    for name, node in cm.nodes.items():
        nodes.append({"name": name, "kind": node.kind, "family": node.family,
                      "inputs": plan.in_sizes[name], "outputs": plan.out_sizes[name],
                      "parameters": counts.get(name, 0), "state": states.get(name, 0)})
    return {
        "file": path, "model": cm.name, "dt": cm.dt, "steps": cm.steps,
        "nodes": nodes,
        "edges": [f"{e.source} -> {e.target}" for e in cm.edges],
        "sites": [f"{s.name}: {s.kind} at {s.node}.{s.site}" for s in cm.sites.values()],
        "task": cm.task.name if cm.task else None,
        "loss": [f"{t.name} = {t.weight:g} * {t.kind}" for t in cm.loss],
        "order": plan.feedthrough_order + plan.stateful_rest,
        "parameters": sum(counts.values()), "state": sum(states.values()),
        "warnings": [w.format(cm.source) for w in cm.warnings],
    }


def _sizes(cm, graph) -> tuple[dict[str, int], dict[str, int]]:
    _configure_jax()
    from rnnlang.compiler.lower import compile_model

    model = compile_model(cm, graph)
    return model.param_counts(), model.state_sizes()


def _print_summary(s: dict[str, Any]) -> None:
    print(f"{s['file']}: model `{s['model']}`, dt = {s['dt']:g}, {s['steps']} steps")
    width = max(len(n["name"]) for n in s["nodes"]) if s["nodes"] else 4
    print(f"  nodes ({len(s['nodes'])}):")
    for n in s["nodes"]:
        ins = ", ".join(f"{k} ({v})" for k, v in n["inputs"].items())
        outs = ", ".join(f"{k} ({v})" for k, v in n["outputs"].items())
        print(f"    {n['name']:<{width}}  {n['kind']:<26} {n['parameters']:>7} params  {n['state']:>5} state   in: {ins or '-'}   out: {outs or '-'}")
    print(f"  edges ({len(s['edges'])}):")
    for e in s["edges"]:
        print(f"    {e}")
    if s["sites"]:
        print(f"  sites ({len(s['sites'])}):")
        for x in s["sites"]:
            print(f"    {x}")
    print(f"  task: {s['task'] or '-'}")
    print(f"  loss: {'; '.join(s['loss']) if s['loss'] else '-'}")
    print(f"  step order: {' -> '.join(s['order'])}")
    print(f"  total: {s['parameters']} parameters, {s['state']} state values per trial")
    for w in s["warnings"]:
        print(w)


def cmd_check(args) -> int:
    from rnnlang.dsl.errors import ModelError, UsageError

    status, results = EXIT_OK, []
    for path in args.files:
        try:
            s = _summary(path, args.overrides)
            results.append(s)
            if args.format == "text" and not args.quiet:
                _print_summary(s)
        except ModelError as e:
            status = max(status, EXIT_MODEL)
            results.append({"file": path, "errors": [d.to_json() for d in e.diagnostics]})
            if args.format == "text":
                print(e.render(), file=sys.stderr)
        except UsageError as e:
            status = EXIT_USAGE
            results.append({"file": path, "errors": [{"severity": "error", "message": str(e)}]})
            if args.format == "text":
                print(f"rnn: error: {e}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return status


# ---- diagram ---------------------------------------------------------------------------------------


def cmd_diagram(args) -> int:
    from rnnlang.compiler.schedule import analyse
    from rnnlang.dsl import load
    from rnnlang.dsl.diagram import render

    cm, graph = load(args.file)
    analyse(cm, graph)  # sizes and loops are checked before drawing
    out = render(cm, graph, args.output)
    print(f"wrote {out}")
    return EXIT_OK


# ---- train / eval ------------------------------------------------------------------------------------


def cmd_train(args) -> int:
    _configure_jax()
    from rnnlang.runtime.api import train
    from rnnlang.runtime.train import TrainingInterrupted, TrainingStopped

    if args.file is None and args.resume is None:
        raise _usage("give a model file to train, or --resume RUN")
    if args.file is not None and args.resume is not None:
        raise _usage("give either a model file or --resume RUN, not both")
    show = not args.quiet and sys.stderr.isatty()
    bar = _Progress(show)

    def on_start(run, trainer):
        if not args.quiet:
            print(f"run directory: {run.path}", file=sys.stderr)
        bar.start(trainer.total)

    try:
        result = train(args.file, args.overrides, out=args.out, resume=args.resume, progress=bar.update, on_start=on_start)
    except TrainingStopped as e:
        bar.close()
        print(f"rnn: {e}", file=sys.stderr)
        return EXIT_MODEL
    except TrainingInterrupted as e:
        bar.close()
        print(f"rnn: {e}", file=sys.stderr)
        return 130
    bar.close()

    if not args.no_plots:
        _finish_run(result.run.path, quiet=args.quiet)
    if not args.quiet:
        last = result.state.history[-1] if result.state.history else None
        if last is not None:
            print(_eval_text({"run": str(result.run.path), "model": result.model.name, "batch": result.state.batch,
                              "loss": last["loss"], "terms": last["terms"], "metrics": last["metrics"]}))
    return EXIT_OK


def _finish_run(run_path: Path, quiet: bool) -> None:
    """The diagram and default figures of a finished run; a failure here never fails the run."""
    from rnnlang.runtime.rundir import RunDir

    try:
        from rnnlang.dsl.diagram import render
        from rnnlang.runtime.api import load

        run = RunDir.open(run_path)
        settings = run.read_settings()
        cm, graph = load(settings["source_path"], settings.get("overrides", []), source=run.read_source())
        render(cm, graph, run.path / "diagram.svg")
    except Exception as e:  # drawing is a courtesy at the end of training
        if not quiet:
            print(f"rnn: note: no diagram: {e}", file=sys.stderr)
    try:
        from rnnlang.runtime import plots

        plots.plot_run(run_path, None, None, "png")
    except ImportError:
        pass
    except Exception as e:
        if not quiet:
            print(f"rnn: note: no figures: {e}", file=sys.stderr)


def _eval_text(r: dict[str, Any]) -> str:
    import numpy as np

    lines = [f"{r['run']}: model `{r['model']}` after {r['batch']} batches (validation set)"]
    rows = [("loss", r["loss"])] + [(f"  {k}", v) for k, v in r["terms"].items()] + list(r["metrics"].items())
    width = max(len(k) for k, _ in rows)
    reps = len(r["loss"])
    header = f"{'':<{width}}  {'mean':>11}" + ("".join(f"  {'rep ' + str(i):>11}" for i in range(reps)) if reps > 1 else "")
    lines.append(header)
    for k, v in rows:
        vals = list(np.atleast_1d(v))
        lines.append(f"{k:<{width}}  {np.mean(vals):>11.4g}" + ("".join(f"  {x:>11.4g}" for x in vals) if reps > 1 else ""))
    return "\n".join(lines)


def cmd_eval(args) -> int:
    _configure_jax()
    from rnnlang.runtime.api import evaluate

    r = evaluate(args.run)
    print(json.dumps(r, indent=2) if args.format == "json" else _eval_text(r))
    return EXIT_OK


def cmd_plot(args) -> int:
    _configure_jax()
    from rnnlang.runtime import plots

    written = plots.plot_run(args.run, args.what, args.output, args.format)
    for p in written:
        print(f"wrote {p}")
    return EXIT_OK


def cmd_import(args) -> int:
    from rnnlang.runtime import interop

    out = interop.import_psychrnn(args.weights, args.output, transfer=args.transfer, task=args.task,
                                  dt=args.dt, tau=args.tau, steps=args.steps)
    print(f"wrote {out}")
    return EXIT_OK


def cmd_export(args) -> int:
    _configure_jax()
    from rnnlang.runtime import interop

    out = interop.export_psychrnn(args.run, args.output, node=args.node, replicate=args.replicate)
    print(f"wrote {out}")
    return EXIT_OK


def _usage(message: str) -> Exception:
    from rnnlang.dsl.errors import UsageError

    return UsageError(message)


class _Progress:
    """A tqdm bar on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar = enabled, None

    def start(self, total: int) -> None:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="batch", dynamic_ncols=True, file=sys.stderr)

    def update(self, done: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


COMMANDS = {"check": cmd_check, "diagram": cmd_diagram, "train": cmd_train, "eval": cmd_eval, "plot": cmd_plot,
            "import-psychrnn": cmd_import, "export-psychrnn": cmd_export}

if __name__ == "__main__":
    raise SystemExit(main())
