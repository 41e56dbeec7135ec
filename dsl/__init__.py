"""The front end: text -> typed AST -> checked model -> networkx graph. Imports no JAX.

    cm, graph = rnnlang.dsl.load("model.rnn")

`load` raises `UsageError` when the file cannot be read and `ModelError` (every diagnostic,
positioned, rendered with the source line and a caret) when the model is wrong.
"""

from __future__ import annotations

if __name__ != "rnnlang.dsl":  # e.g. `import dsl` from the repository root: a second copy of the layer
    raise ImportError(f"import this layer as `rnnlang.dsl`, not `{__name__}` (install the project with "
                      "`pip install -e .` and import `rnnlang.dsl`)")

import os  # noqa: E402

import networkx as nx

from .ast import ModelFile, Span
from .checks import check
from .errors import Diagnostic, ModelError, UsageError
from .graph import build_graph, incoming, outgoing
from .model import CheckedModel, Distribution, ResolvedNode, ResolvedSite, ResolvedStage, ResolvedTerm, Signal
from .parser import parse, parse_file


def load(path: str | os.PathLike) -> tuple[CheckedModel, nx.MultiDiGraph]:
    """Read, parse and check a .rnn file; returns the checked model and its graph."""
    cm = check(parse_file(path))
    return cm, build_graph(cm)


def load_source(text: str, filename: str = "<string>") -> tuple[CheckedModel, nx.MultiDiGraph]:
    """Parse and check source text; `file("...")` paths are relative to `filename`'s directory
    (the working directory for "<string>")."""
    cm = check(parse(text, filename))
    return cm, build_graph(cm)


__all__ = [
    "load", "load_source", "parse", "parse_file", "check", "build_graph", "incoming", "outgoing",
    "ModelError", "UsageError", "Diagnostic", "CheckedModel", "ModelFile", "Span", "Signal",
    "Distribution", "ResolvedNode", "ResolvedSite", "ResolvedStage", "ResolvedTerm",
]
