"""The `sweep { ... }` block: what `rnn sweep` varies.

    sweep {
      model.seed = 0:8                                 # a range: 0, 1, ..., 7
      train.optimizer.learning_rate = [1e-3, 3e-3]     # a list of values
      net.hidden = [32, 64]
    }

Each axis is a `--set` key (runtime/overrides.py: `train.KEY`, `train.optimizer.ARG`,
`model.KEY`, `NODE.PARAM`, `SITE.PARAM`, `SITE.train.PARAM`) with a list of values written as in
the file, or a range of integers `a:b` (b excluded); the points of the sweep are every
combination of the axes' values, the first axis slowest. This module checks the block's shape
(known heads, non-empty lists, ranges of integers, no axis twice); whether each value suits its
setting is checked by `rnn sweep`, which checks every point as the model it is."""

from __future__ import annotations

from typing import Iterable

from . import ast as A
from .errors import Diagnostic

MAX_POINTS = 100_000  # a sweep larger than this is a typo (a range with one zero too many)


def span_text(source: str, span: A.Span) -> str:
    """The source text a span covers (joined with spaces when it spans lines)."""
    lines = source.splitlines()
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1:span.end_col - 1]
    return " ".join([lines[span.line - 1][span.col - 1:]] + lines[span.line:span.end_line - 1]
                    + [lines[span.end_line - 1][:span.end_col - 1]])


def axis_values(axis: A.Setting, source: str) -> list[tuple[str, A.Span]]:
    """An axis's values as the text a `--set` override takes, each with its place in the source."""
    v = axis.value
    if isinstance(v, A.Call) and v.name == "range" and len(v.args) == 2 and not v.kwargs \
            and all(isinstance(a, A.Number) and isinstance(a.value, int) for a in v.args):
        lo, hi = (a.value for a in v.args)
        return [(str(i), v.span) for i in range(lo, hi)]
    if isinstance(v, A.ListValue):
        return [(span_text(source, item.span), item.span) for item in v.items]
    return []


def axis_diagnostics(axes: Iterable[A.Setting], heads: Iterable[str]) -> list[Diagnostic]:
    """What is wrong with the axes' shapes: an unknown head, a value that is neither a list nor
    a range of integers, an empty one, an axis given twice, too many points."""
    heads = list(heads)
    diags: list[Diagnostic] = []
    seen: dict[tuple[str, ...], A.Setting] = {}
    points = 1
    for axis in axes:
        if len(axis.key) < 2 or axis.key[0] not in heads:
            diags.append(Diagnostic(f"unknown setting `{axis.dotted}` to sweep", axis.key_span,
                                    hint=f"an axis is a --set key starting with one of: {', '.join(heads)} "
                                         "(e.g. model.seed, train.optimizer.learning_rate, net.hidden)"))
        if axis.key in seen:
            diags.append(Diagnostic(f"`{axis.dotted}` is swept twice", axis.key_span,
                                    hint="give all its values in one list"))
        seen[axis.key] = axis
        v = axis.value
        if isinstance(v, A.Call) and v.name == "range":
            ints = len(v.args) == 2 and not v.kwargs and all(isinstance(a, A.Number) and isinstance(a.value, int)
                                                             for a in v.args)
            if not ints:
                diags.append(Diagnostic("a range takes two integers", v.span, hint="write e.g. 0:8 (0, 1, ..., 7)"))
                continue
            lo, hi = (a.value for a in v.args)
            if hi <= lo:
                diags.append(Diagnostic(f"the range {lo}:{hi} is empty", v.span,
                                        hint=f"a:b counts from a up to b - 1; write e.g. {lo}:{lo + 4}"))
                continue
            points *= hi - lo
        elif isinstance(v, A.ListValue):
            if not v.items:
                diags.append(Diagnostic(f"no values to sweep `{axis.dotted}` over", v.span,
                                        hint="give at least one value, e.g. [1e-3, 3e-3]"))
                continue
            points *= len(v.items)
        else:
            diags.append(Diagnostic(f"`{axis.dotted}` needs a list of values or a range", v.span,
                                    hint="write e.g. [1e-3, 3e-3], or 0:8 for the integers 0 to 7"))
            continue
        if points > MAX_POINTS:
            diags.append(Diagnostic(f"the sweep has more than {MAX_POINTS} points", axis.span,
                                    hint="fewer values, or several sweeps"))
            break
    return diags


def check_sweeps(mf: A.ModelFile) -> list[Diagnostic]:
    """At most one sweep block, and the shape of its axes (see axis_diagnostics)."""
    diags = [Diagnostic("a second sweep block", b.keyword_span, hint="put every axis in one sweep block")
             for b in mf.sweeps[1:]]
    if mf.sweeps:
        heads = ["train", "model"] + [n.name for n in mf.nodes] + [s.name for s in mf.sites]
        diags += axis_diagnostics(mf.sweeps[0].axes, heads)
    return diags
