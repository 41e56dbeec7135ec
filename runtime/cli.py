"""The `rnn` command: check, diagram, train, eval, run, analyze, plot, and PsychRNN interop.

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

from rnnlang.dsl.vocab import TRANSFER_NAMES
from rnnlang.runtime.fmt import cmd_fmt

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


CHECKPOINT_HELP = "which checkpoint: final, last, init, or a batch kept by train.keep_checkpoints (default: final, else last)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line, no traceback
        self.print_usage(sys.stderr)
        print(f"rnn: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _memory_size(text: str) -> int:
    """`--max-memory 8G`: bytes, with an optional unit (K, M, G, T; KiB, MiB, GiB, TiB)."""
    from rnnlang.compiler.budget import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a memory size: {text!r} (write e.g. 512M or 8G)") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rnn", description="rnnlang: declare, check, train and look at recurrent networks in closed loop.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("check", help="parse and check model files; print a summary")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--max-memory", type=_memory_size, default=None, metavar="SIZE",
                   help="refuse models estimated to need more memory to train than SIZE (e.g. 8G; default: this machine's)")

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
    t.add_argument("--max-memory", type=_memory_size, default=None, metavar="SIZE",
                   help="refuse a model estimated to need more memory than SIZE (e.g. 8G; default: this machine's)")
    t.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="train in several processes (hosts) with jax.distributed: process 0's address, or auto (SLURM)")
    t.add_argument("--num-processes", type=int, default=None, metavar="N", help="with --coordinator: how many processes")
    t.add_argument("--process-id", type=int, default=None, metavar="I", help="with --coordinator: this process (0 writes the run)")

    sw = sub.add_parser("sweep", help="train every point of a sweep (the file's sweep block, --grid), then a summary")
    sw.add_argument("file", nargs="?", metavar="FILE")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=VALUES",
                    help="an axis: a --set key with [v1, v2, ...] or a range a:b, e.g. --grid 'model.seed=0:8' (repeatable)")
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting of every point (repeatable)")
    sw.add_argument("--out", metavar="DIR", help="the sweep directory (default sweeps/<model>-<timestamp>); "
                                                 "an existing one of the same sweep is continued")
    sw.add_argument("--resume", metavar="SWEEP", help="continue the sweep in SWEEP")
    sw.add_argument("--jobs", type=int, default=1, metavar="N", help="train N programs at once, in processes of their own")
    sw.add_argument("--no-pack", action="store_true", help="train every point as its own program")
    sw.add_argument("--group", type=int, default=None, metavar="G", help="train only program G (as a SLURM array task does)")
    sw.add_argument("--plan", action="store_true", help="print the points and programs; train nothing")
    sw.add_argument("--metric", default=None, help="what the figure shows (default: accuracy, else the loss)")
    sw.add_argument("--no-summary", action="store_true", help="no summary table or figure at the end")
    sw.add_argument("--slurm", action="store_true", help="write a SLURM job array (one task per program), train nothing here")
    sw.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                    help="an #SBATCH option of the job array, e.g. partition=gpu (repeatable)")
    sw.add_argument("--submit", action="store_true", help="with --slurm: submit the array with sbatch")
    sw.add_argument("--quiet", "-q", action="store_true")

    e = sub.add_parser("eval", help="evaluate a trained run (or a model file at its initialization) on its validation set")
    e.add_argument("run", metavar="RUN|MODEL.rnn")
    e.add_argument("--format", choices=("text", "json"), default="text")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="evaluate under another setting without retraining, e.g. --set curl.active=true")
    e.add_argument("--checkpoint", default=None, metavar="NAME", help=CHECKPOINT_HELP)

    r = sub.add_parser("run", help="run a trained run (or a model file at its initialization) and write every signal to a .npz")
    r.add_argument("target", metavar="RUN|MODEL.rnn")
    r.add_argument("-o", "--output", metavar="OUT.npz", help="where (default RUN/run.npz, or MODEL-init.npz here)")
    r.add_argument("--batch", type=int, default=None, metavar="N", help="a fresh training batch of N trials")
    r.add_argument("--grid", action="append", default=[], metavar="VAR=[v1,v2]",
                   help="a grid of a declared task's variables (repeatable; every combination)")
    r.add_argument("--inputs", metavar="X.npz", help="the task's signal ports from a .npz, each (batch, steps, n)")
    r.add_argument("--seed", type=int, default=0, help="the seed of --batch and --grid trials")
    r.add_argument("--replicate", type=int, default=0, metavar="K")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument("--checkpoint", default=None, metavar="NAME", help=CHECKPOINT_HELP)

    an = sub.add_parser("analyze", help="analyse a network: fixed-points, pca, tdr, psychometric, chronometric, tuning "
                                        "(into RUN/analysis)")
    an.add_argument("target", metavar="RUN|MODEL.rnn")
    an.add_argument("analysis", choices=("fixed-points", "pca", "tdr", "psychometric", "chronometric", "tuning"))
    an.add_argument("--node", default=None, help="which network (default: the first)")
    an.add_argument("--input", default=None, metavar="v1,v2,...", help="fixed points: the constant input (default zeros)")
    an.add_argument("--per-condition", default=None, metavar="VAR",
                    help="fixed points: one search per value of VAR, under that condition's mean input")
    an.add_argument("--n-init", type=int, default=256, help="fixed points: initial states sampled from trajectories")
    an.add_argument("--noise", type=float, default=0.01, help="fixed points: std of the noise added to them (relative)")
    an.add_argument("--q-tol", type=float, default=1e-9, help="fixed points: largest q = 1/2 |F(x) - x|^2 kept as fixed")
    an.add_argument("--slow-tol", type=float, default=None, help="fixed points: also keep slow points up to this q")
    an.add_argument("--by", default=None, metavar="VAR", help="psychometric / pca: split by this trial variable")
    an.add_argument("--var", default=None, metavar="VAR", help="tuning, chronometric: the trial variable")
    an.add_argument("--vars", default=None, metavar="V1,V2,...",
                    help="tdr: the trial variables (or choice) to find axes for, in order of orthogonalisation")
    an.add_argument("--metric", default=None, metavar="NAME", help="chronometric: the per-trial task metric (e.g. rt)")
    an.add_argument("--components", type=int, default=None,
                    help="pca: how many components (default 3); tdr: principal components kept to denoise (default 12; 0: none)")
    an.add_argument("--replicate", type=int, default=0, metavar="K")
    an.add_argument("-o", "--output", metavar="DIR", help="where (default RUN/analysis, or MODEL-analysis/)")
    an.add_argument("--format", choices=("png", "svg", "pdf"), default="png")
    an.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    an.add_argument("--checkpoint", default=None, metavar="NAME", help=CHECKPOINT_HELP)

    pl = sub.add_parser("plot", help="draw the figures of a run")
    pl.add_argument("run", metavar="RUN")
    pl.add_argument("--what", nargs="*", default=None, metavar="FIGURE", help="which figures (default: all that fit)")
    pl.add_argument("-o", "--output", metavar="DIR", help="where (default RUN/plots)")
    pl.add_argument("--format", choices=("png", "svg", "pdf"), default="png")
    pl.add_argument("--replicate", type=int, default=0, metavar="K",
                    help="which replicate's trajectories, activity and trials to draw (default 0; "
                         "--what replicates compares them all)")
    pl.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="draw under another setting without retraining, e.g. --set curl.validate.active=true")
    pl.add_argument("--checkpoint", default=None, metavar="NAME", help=CHECKPOINT_HELP)

    ip = sub.add_parser("import-psychrnn", help="make a .rnn model from a PsychRNN weight file")
    ip.add_argument("weights", metavar="WEIGHTS.npz")
    ip.add_argument("-o", "--output", required=True, metavar="MODEL.rnn")
    ip.add_argument("--transfer", default="relu", choices=TRANSFER_NAMES)
    ip.add_argument("--task", default=None, help="a built-in task kind to pair it with")
    ip.add_argument("--dt", type=float, default=10.0)
    ip.add_argument("--tau", type=float, default=100.0)
    ip.add_argument("--steps", type=int, default=200)

    fm = sub.add_parser("fmt", help="rewrite model files in the canonical layout (--check, --diff: write nothing)")
    fm.add_argument("files", nargs="+", metavar="FILE", help="a .rnn file, a directory (its .rnn files) or - (standard input to standard output)")
    fm.add_argument("--check", action="store_true", help="write nothing; list the files that would change and exit 1 if any")
    fm.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")

    op = sub.add_parser("ops", help="count the operations per time step of a model's compiled training step")
    op.add_argument("files", nargs="+", metavar="FILE")
    op.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    op.add_argument("--format", choices=("text", "json"), default="text")

    ep = sub.add_parser("export-psychrnn", help="write a run's ctrnn weights as a PsychRNN weight file")
    ep.add_argument("run", metavar="RUN")
    ep.add_argument("-o", "--output", required=True, metavar="WEIGHTS.npz")
    ep.add_argument("--node", default=None, help="which ctrnn node (default: the only one)")
    ep.add_argument("--replicate", type=int, default=0)

    ls = sub.add_parser("lsp", help="a language server for editors (diagnostics, hover, completion, rename; stdio)")
    ls.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default and only transport)")
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


def _summary(path: str, overrides: Sequence[str], max_memory: int | None = None, source: str | None = None) -> dict[str, Any]:
    """Parse, check and summarise one file (raises ModelError/UsageError); a model estimated to
    need more memory to train than the machine (or `max_memory`) is refused. `source`: that
    text, read as if it were the file at `path`."""
    from rnnlang.runtime.api import load

    cm, graph = load(path, overrides, source=source)
    plan = cm.plan
    counts, states, memory = _sizes(cm, graph, max_memory)
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
        "loss": [f"{t.name} = {t.text}" if t.expr is not None else f"{t.name} = {t.weight:g} * {t.kind}" for t in cm.loss],
        "order": plan.feedthrough_order + plan.stateful_rest,
        "parameters": sum(counts.values()), "state": sum(states.values()), "memory": memory,
        "warnings": [w.format(cm.source) for w in cm.warnings],
    }


def _sizes(cm, graph, max_memory: int | None = None) -> tuple[dict[str, int], dict[str, int], int]:
    """Parameters per node (from the plan: nothing built), state per node and the estimated bytes
    to train (shapes only)."""
    _configure_jax()
    from rnnlang.compiler import budget
    from rnnlang.compiler.lower import compile_model
    from rnnlang.runtime.optim import make_optimizer

    model = compile_model(cm, graph)
    make_optimizer(cm)  # the optimizer's name and arguments, tried on shapes
    estimate = budget.check(model, max_memory, cm.sources)
    return cm.plan.param_counts(), model.state_sizes(), estimate.total


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
    print(f"  total: {s['parameters']} parameters, {s['state']} state values per trial; "
          f"about {_gb(s['memory'])} to train")
    for w in s["warnings"]:
        print(w)


def _gb(n: int) -> str:
    from rnnlang.compiler.budget import gb

    return gb(n)


def cmd_check(args) -> int:
    from rnnlang.dsl.errors import ModelError, UsageError

    status, results = EXIT_OK, []
    for path in args.files:
        try:
            s = _summary(path, args.overrides, args.max_memory)
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
    from rnnlang.dsl import load
    from rnnlang.dsl.diagram import render

    cm, graph = load(args.file)  # sizes and loops are checked before drawing
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
    from rnnlang.runtime import distributed

    if distributed.initialize(args.coordinator, args.num_processes, args.process_id) and not distributed.is_writer():
        return distributed.follow(args)
    show = not args.quiet and sys.stderr.isatty()
    bar = _Progress(show)

    def on_start(run, trainer):
        if not args.quiet:
            print(f"run directory: {run.path}", file=sys.stderr)
        bar.start(trainer.total)

    try:
        result = train(args.file, args.overrides, out=args.out, resume=args.resume, progress=bar.update, on_start=on_start,
                       max_memory=args.max_memory, on_warning=bar.write)
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
        if result.state.reason:
            print(f"stopped at batch {result.state.batch}: {result.state.reason}", file=sys.stderr)
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
        from rnnlang.runtime import figures

        figures.plot_run(run_path, None, None, "png")
    except ImportError:
        pass
    except Exception as e:
        if not quiet:
            print(f"rnn: note: no figures: {e}", file=sys.stderr)


def _eval_text(r: dict[str, Any]) -> str:
    import numpy as np

    rows: list[tuple[str, Any]] = [("loss", r["loss"])] + [(f"  {k}", v) for k, v in r["terms"].items()]
    rows += list(r["metrics"].items())
    for site, states in r.get("by_site", {}).items():
        for state, values in states.items():
            rows.append((f"with `{site}` {state} ({values['trials']} trials):", None))
            rows += [(f"  {k}", v) for k, v in values.items() if k != "trials"]
    width = max(len(k) for k, v in rows if v is not None)
    reps = len(r["loss"])
    lines = [f"{r['run']}: model `{r['model']}` after {r['batch']} batches (validation set)",
             f"{'':<{width}}  {'mean':>11}" + ("".join(f"  {'rep ' + str(i):>11}" for i in range(reps)) if reps > 1 else "")]
    for k, v in rows:
        if v is None:
            lines.append(k)
            continue
        vals = list(np.atleast_1d(v))
        lines.append(f"{k:<{width}}  {np.mean(vals):>11.4g}" + ("".join(f"  {x:>11.4g}" for x in vals) if reps > 1 else ""))
    return "\n".join(lines)


def cmd_eval(args) -> int:
    _configure_jax()
    from rnnlang.runtime.api import evaluate

    r = evaluate(args.run, args.overrides, args.checkpoint)
    print(json.dumps(r, indent=2) if args.format == "json" else _eval_text(r))
    return EXIT_OK


def cmd_sweep(args) -> int:
    _configure_jax()
    from rnnlang.runtime.sweep import command

    return command(args)


def cmd_run(args) -> int:
    _configure_jax()
    from rnnlang.runtime.run import parse_grid, run_target

    out, meta = run_target(args.target, args.output, args.overrides, batch=args.batch, grid=parse_grid(args.grid),
                           inputs=args.inputs, seed=args.seed, replicate=args.replicate, checkpoint=args.checkpoint)
    print(f"wrote {out} and {out.with_suffix('.json')}: {len(meta['arrays'])} arrays, {meta['batch']} trials of "
          f"{meta['steps']} steps ({meta['trials']}; {meta['parameters']})")
    return EXIT_OK


def cmd_analyze(args) -> int:
    _configure_jax()
    from rnnlang.runtime import analysis

    for p in analysis.analyze(args):
        print(f"wrote {p}")
    return EXIT_OK


def cmd_plot(args) -> int:
    _configure_jax()
    from rnnlang.runtime import figures

    written = figures.plot_run(args.run, args.what, args.output, args.format, replicate=args.replicate,
                               overrides=args.overrides, checkpoint=args.checkpoint)
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


def cmd_lsp(args) -> int:
    try:
        from rnnlang.runtime import lsp
    except ImportError as e:
        raise _usage(f"the language server needs pygls ({e}); install it with: pip install 'rnnlang[lsp]'") from None
    return lsp.main()


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

    def write(self, text: str) -> None:
        """A line of the training log on stderr, above the bar when there is one."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_ops(args) -> int:
    _configure_jax()
    from rnnlang.runtime.opcount import run_ops

    return run_ops(args.files, args.overrides, args.format)


COMMANDS = {"check": cmd_check, "diagram": cmd_diagram, "train": cmd_train, "eval": cmd_eval, "plot": cmd_plot,
            "run": cmd_run, "analyze": cmd_analyze, "import-psychrnn": cmd_import, "export-psychrnn": cmd_export,
            "lsp": cmd_lsp, "fmt": cmd_fmt, "ops": cmd_ops, "sweep": cmd_sweep}

if __name__ == "__main__":
    raise SystemExit(main())
