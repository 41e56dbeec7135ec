"""Diagnostics: what the user sees when a model is wrong.

Every message has the form `file:line:col: error: message`, then the source line and a run of
carets under the offending span, then an optional `hint:` line. A `ModelError` carries all the
independent diagnostics of a file, sorted by position.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence

from .ast import Span


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"
    # further places that belong to this diagnostic (e.g. every edge of an algebraic loop)
    related: tuple[tuple[Span, str], ...] = ()

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0)
        return (self.span.file, self.span.line, self.span.col)

    def format(self, source: str | None = None) -> str:
        """Render with the source line and carets; `source` is the file's text."""
        lines = [_header(self.span, self.severity, self.message)]
        if self.span is not None and source is not None:
            lines.extend(_excerpt(source, self.span))
        for span, note in self.related:
            lines.append(_header(span, "note", note))
            if source is not None:
                lines.extend(_excerpt(source, span))
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        d = {"severity": self.severity, "message": self.message, "hint": self.hint}
        if self.span is not None:
            d.update(file=self.span.file, line=self.span.line, col=self.span.col,
                     end_line=self.span.end_line, end_col=self.span.end_col)
        return d


def _header(span: Span | None, severity: str, message: str) -> str:
    return f"{span}: {severity}: {message}" if span is not None else f"{severity}: {message}"


def _excerpt(source: str, span: Span) -> list[str]:
    text_lines = source.splitlines()
    if not 1 <= span.line <= len(text_lines):
        return []
    line = text_lines[span.line - 1]
    shown = line.expandtabs(1)[:200]
    start = max(span.col - 1, 0)
    end = span.end_col - 1 if span.end_line == span.line else len(line)
    width = max(1, min(end, len(shown)) - start)
    gutter = f"{span.line:>4} | "
    return [gutter + shown, " " * len(gutter) + " " * start + "^" * width]


class ModelError(Exception):
    """One or more user errors in a model file (exit status 1)."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str | None = None,
                 sources: dict[str, str] | None = None) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        self.source = source
        self.sources = dict(sources or {})  # other texts diagnostics may point into (e.g. --set)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.format(self.sources.get(d.span.file, self.source) if d.span else self.source)
                         for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


class UsageError(Exception):
    """A mistake on the command line or in a file name (exit status 2)."""


def duplicates(items: Iterable[tuple[str, Span]], what: str) -> list[Diagnostic]:
    """An error at every repeat of a name, with a note at its first occurrence."""
    first: dict[str, Span] = {}
    diags = []
    for name, span in items:
        if name in first:
            diags.append(Diagnostic(f"duplicate {what} `{name}`", span, None, "error",
                                    ((first[name], f"`{name}` is first declared here"),)))
        else:
            first[name] = span
    return diags


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, if one is close enough."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def choices_hint(name: str, candidates: Iterable[str], what: str) -> str:
    """`did you mean` if something is close, else the list of what exists."""
    cands = sorted(set(candidates))
    if not cands:  # "node kinds" -> "there are no node kinds"; "its parameters" -> "it has no parameters"
        return f"it has no {what[4:]}" if what.startswith("its ") else f"there are no {what}"
    return did_you_mean(name, cands) or f"{what}: " + ", ".join(f"`{c}`" for c in cands)
