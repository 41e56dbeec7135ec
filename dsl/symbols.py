"""The names of a parsed file and every place they occur: what an editor needs to go to a
definition, list references, rename and outline.

    index = build_index(parse(text, path))
    occ = index.at(line, col)                  # the name under the cursor (1-based, as spans)
    index.occurrences_of(occ.symbol)           # its definition and every use

Indexed: nodes (declared by `node NAME = ...`, used in edges, site targets, references and
expressions such as `net.output`, stage and mask keys), sites (`site NAME ...`, used by stage
keys such as `curl.amplitude`), and inside each declared task its parameters, variables (`x ~ ...`,
`y = ...`, `hold h = ...`) and epochs (used in expressions, grids, `require epochs` and, for a
parameter, as a keyword of `node t = NAME(param = ...)` and a stage key `t.param`). Only names
that are declared are indexed, so a rename never touches a word that means something else.
Plain front end: the parser's tree, nothing checked.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Iterator

from . import ast as A
from . import tasklang as T

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Symbol:
    """A declared name: `kind` is node, site, parameter, variable or epoch; `scope` is "" for
    the file's nodes and sites, else the task that declares it (`task NAME` or `node NAME`)."""

    kind: str
    name: str
    scope: str = ""


@dataclass(frozen=True)
class Occurrence:
    symbol: Symbol
    span: A.Span
    definition: bool = False


def contains(span: A.Span, line: int, col: int) -> bool:
    """Whether the position is inside the span or just after its end (a cursor after a word)."""
    return (span.line, span.col) <= (line, col) <= (span.end_line, span.end_col)


def _size(span: A.Span) -> tuple[int, int]:
    return (span.end_line - span.line, span.end_col - span.col)


class SymbolIndex:
    """Every occurrence of every declared name of one file."""

    def __init__(self, occurrences: list[Occurrence]) -> None:
        seen: set[tuple[Symbol, A.Span]] = set()
        self.occurrences: list[Occurrence] = []
        for o in occurrences:
            if (o.symbol, o.span) not in seen:
                seen.add((o.symbol, o.span))
                self.occurrences.append(o)

    def at(self, line: int, col: int) -> Occurrence | None:
        """The occurrence under a position (the narrowest, when spans nest)."""
        hits = [o for o in self.occurrences if contains(o.span, line, col)]
        return min(hits, key=lambda o: _size(o.span)) if hits else None

    def definition(self, symbol: Symbol) -> Occurrence | None:
        return next((o for o in self.occurrences if o.symbol == symbol and o.definition), None)

    def occurrences_of(self, symbol: Symbol, include_definition: bool = True) -> list[Occurrence]:
        """The definition and every use, in source order."""
        out = [o for o in self.occurrences if o.symbol == symbol and (include_definition or not o.definition)]
        return sorted(out, key=lambda o: (o.span.line, o.span.col))

    def symbols(self, scope: str | None = None) -> list[Symbol]:
        """The declared names (of one scope when given), in order of declaration."""
        return [o.symbol for o in self.occurrences if o.definition and (scope is None or o.symbol.scope == scope)]


def walk(value: Any) -> Iterator[Any]:
    """Every syntax-tree element under `value` (itself first), depth first in source order."""
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from walk(v)
        return
    if not dataclasses.is_dataclass(value) or isinstance(value, (type, A.Span)):
        return
    yield value
    for f in dataclasses.fields(value):
        if f.name not in ("span", "source", "text", "doc", "path"):
            yield from walk(getattr(value, f.name))


def part_spans(source_lines: list[str], span: A.Span, parts: tuple[str, ...]) -> list[A.Span | None]:
    """The span of each name of a dotted reference or key (`task.target.pos`) written on one
    line; None for a part that cannot be placed (a reference written across lines)."""
    if span.line != span.end_line or not 1 <= span.line <= len(source_lines):
        return [None] * len(parts)
    text = source_lines[span.line - 1][span.col - 1:span.end_col - 1]
    out: list[A.Span | None] = []
    pos = 0
    for part in parts:
        m = re.compile(r"\s*\.?\s*(" + re.escape(part) + r")(?![A-Za-z0-9_])").match(text, pos)
        if m is None:
            return out + [None] * (len(parts) - len(out))
        start = span.col + m.start(1)
        out.append(A.Span(span.file, span.line, start, span.line, start + len(part)))
        pos = m.end(1)
    return out


class _Builder:
    def __init__(self, mf: A.ModelFile) -> None:
        self.mf = mf
        self.lines = mf.source.splitlines()
        self.out: list[Occurrence] = []
        self.nodes = {n.name for n in mf.nodes}
        self.sites = {s.name for s in mf.sites}
        self.task_defs = {t.name: t for t in mf.tasks}
        self.node_kinds = {n.name: n.kind for n in mf.nodes}

    def add(self, kind: str, name: str, span: A.Span | None, definition: bool = False, scope: str = "") -> None:
        if span is not None:
            self.out.append(Occurrence(Symbol(kind, name, scope), span, definition))

    def file_name(self, name: str, span: A.Span | None) -> None:
        """A use of a node or a site name at file level."""
        if name in self.nodes:
            self.add("node", name, span)
        elif name in self.sites:
            self.add("site", name, span)

    def build(self) -> SymbolIndex:
        mf = self.mf
        for n in mf.nodes:
            self.add("node", n.name, n.name_span, True)
        for s in mf.sites:
            self.add("site", s.name, s.name_span, True)
        for t in mf.tasks:
            self.task_scope(f"task {t.name}", t.body, t.params)
        for n in mf.nodes:
            if n.body is not None:
                self.task_scope(f"node {n.name}", n.body, ())
            elif n.kind in self.task_defs:  # node t = NAME(param = ...): the declaration's parameters
                for kw in n.params:
                    self.add("parameter", kw.name, kw.name_span, scope=f"task {n.kind}")
            self.values(n.params)
        for e in mf.edges:
            self.port_ref(e.source)
            self.port_ref(e.target)
        for s in mf.sites:
            self.port_ref(s.target)
            self.values(s.params)
            for schedule in s.schedules:
                for setting in schedule.settings:
                    self.values(setting.value)
            if s.value is not None:
                self.expression(s.value.expr)
        for block in mf.losses:
            for term in block.terms:
                self.values(term.call) if term.call is not None else self.expression(term.expr)
        for block in mf.trains:
            for setting in block.settings:
                self.train_key(setting)
                self.values(setting.value)
            for stage in block.stages:
                for setting in stage.settings:
                    self.stage_key(setting)
                    self.values(setting.value)
                for until in stage.until:
                    self.expression(until.cond)
            for until in block.until:
                self.expression(until.cond)
        return SymbolIndex(self.out)

    def port_ref(self, ref: A.PortRef) -> None:
        self.file_name(ref.node, ref.node_span)

    def values(self, value: Any) -> None:
        """References (`trainable = [net]`, `mask = task.mask`) and expressions in a value."""
        for v in walk(value):
            if isinstance(v, A.Ref):
                self.file_name(v.parts[0], part_spans(self.lines, v.span, v.parts[:1])[0])
            elif isinstance(v, A.Expression):
                self.expression(v.expr)

    def expression(self, expr: Any) -> None:
        """File-level names in an expression: `net` of `net.output`."""
        for v in walk(expr):
            if isinstance(v, T.Name):
                self.file_name(v.name, v.span)

    def train_key(self, setting: A.Setting) -> None:
        """`mask.NODE.PARAM = ...` names a node."""
        if len(setting.key) >= 2 and setting.key[0] == "mask":
            self.file_name(setting.key[1], part_spans(self.lines, setting.key_span, setting.key[:2])[1])

    def stage_key(self, setting: A.Setting) -> None:
        """`task.PARAM = ...` names a node (and a declared task's parameter), `SITE.PARAM` a site."""
        spans = part_spans(self.lines, setting.key_span, setting.key)
        if len(setting.key) < 2:
            return
        self.file_name(setting.key[0], spans[0])
        kind = self.node_kinds.get(setting.key[0])
        if kind in self.task_defs and setting.key[1] in {p.name for p in self.task_defs[kind].params}:
            self.add("parameter", setting.key[1], spans[1], scope=f"task {kind}")

    def task_scope(self, scope: str, body: T.TaskBody, params: tuple[T.TaskParam, ...]) -> None:
        """A declared task's parameters, variables and epochs, and their uses inside it."""
        declared: dict[str, str] = {}
        for p in params:
            declared[p.name] = "parameter"
            self.add("parameter", p.name, p.name_span, True, scope)
        for st in body.statements:
            if isinstance(st, T.Let) and st.name in T.SETTINGS:
                continue
            if isinstance(st, (T.Let, T.Draw, T.StepDraw, T.Hold)):
                declared.setdefault(st.name, "variable")
                self.add(declared[st.name], st.name, st.name_span, declared[st.name] == "variable", scope)
            elif isinstance(st, T.Epoch):
                declared.setdefault(st.name, "epoch")
                self.add("epoch", st.name, st.name_span, True, scope)
        for p in params:
            self._scoped_uses(p.default, declared, scope)
        for st in body.statements:
            self._scoped_uses(st, declared, scope)

    def _scoped_uses(self, tree: Any, declared: dict[str, str], scope: str) -> None:
        for v in walk(tree):
            if isinstance(v, T.Name) and v.name in declared:
                self.add(declared[v.name], v.name, v.span, scope=scope)
            elif isinstance(v, T.GridItem) and v.name in declared:
                self.add(declared[v.name], v.name, v.name_span, scope=scope)
            elif isinstance(v, T.Require):
                for name, span in v.props:
                    if declared.get(name) == "epoch":
                        self.add("epoch", name, span, scope=scope)


def build_index(mf: A.ModelFile) -> SymbolIndex:
    """The name index of a parsed file."""
    return _Builder(mf).build()


def element_path(mf: A.ModelFile, line: int, col: int) -> list[Any]:
    """The syntax-tree elements whose span holds the position, outermost first (for hover)."""
    path: list[Any] = []

    def visit(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for v in value:
                visit(v)
            return
        if not dataclasses.is_dataclass(value) or isinstance(value, (type, A.Span)):
            return
        span = getattr(value, "span", None)
        if isinstance(span, A.Span) and not contains(span, line, col):
            return
        path.append(value)
        for f in dataclasses.fields(value):
            if f.name not in ("span", "source", "text", "doc", "path"):
                visit(getattr(value, f.name))

    for group in (mf.models, mf.nodes, mf.edges, mf.sites, mf.losses, mf.trains, mf.tasks):
        for item in group:
            if contains(item.span, line, col):
                visit(item)
                return path
    return path


__all__ = ["Symbol", "Occurrence", "SymbolIndex", "build_index", "element_path", "walk", "part_spans", "contains",
           "IDENTIFIER"]
