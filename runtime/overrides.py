"""`--set key=value` on the command line: a value written in the language's own syntax replaces
(or adds) a setting before the model is checked, so it is checked exactly like the file.

Keys: `train.KEY` (any train setting), `model.KEY` (dt, steps, duration, tau, seed) and
`NODE.PARAM` (a node's parameter). A mistake is reported against the `--set` text itself."""

from __future__ import annotations

import dataclasses
from typing import Any

from rnnlang.dsl import ast as A
from rnnlang.dsl.errors import Diagnostic, ModelError, UsageError
from rnnlang.dsl.parser import parse

SET_FILE = "--set"


def _shift(value: Any, cols: int, line: int) -> Any:
    """The same AST with every span moved `cols` columns left and onto `line`: the overrides are
    shown as the lines of a virtual file named --set, one per override."""
    if isinstance(value, A.Span):
        return dataclasses.replace(value, file=SET_FILE, line=line, end_line=line, col=value.col - cols, end_col=value.end_col - cols)
    if isinstance(value, tuple):
        return tuple(_shift(v, cols, line) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _shift(getattr(value, f.name), cols, line) for f in dataclasses.fields(value)})
    return value


def set_source(texts: list[str]) -> str:
    """The virtual --set file: one override per line, for error excerpts."""
    return "\n".join(texts)


def parse_override(text: str, line: int = 1) -> A.Setting:
    """`train.batches=200` -> a Setting whose spans point into the text itself."""
    if "=" not in text:
        raise UsageError(f"--set {text}: expected KEY=VALUE, e.g. --set train.batches=200")
    key, _, value = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not key or not all(p.isidentifier() for p in parts) or len(parts) < 2:
        raise UsageError(f"--set {text}: the key must be dotted names such as train.batches, model.seed or net.hidden")
    prefix = "model { "
    snippet = f"{prefix}{text} }}"
    try:
        mf = parse(snippet, SET_FILE)
    except ModelError as e:
        d = e.diagnostics[0]
        span = _shift(d.span, len(prefix), line) if d.span else None
        if span is not None and span.col > len(text):  # ran into the snippet's closing brace
            end = len(text) + 1
            span = dataclasses.replace(span, col=end, end_col=end + 1)
            d = dataclasses.replace(d, message=d.message.replace("unexpected '}'", "unexpected end of the value"))
        raise ModelError([dataclasses.replace(d, span=span)], text) from None
    if not mf.models or len(mf.models[0].settings) != 1:
        raise UsageError(f"--set {text}: expected one KEY=VALUE")
    return _shift(mf.models[0].settings[0], len(prefix), line)


def apply_overrides(mf: A.ModelFile, texts: list[str]) -> A.ModelFile:
    """A copy of the parsed file with each override applied."""
    mf = dataclasses.replace(mf, models=list(mf.models), nodes=list(mf.nodes), trains=list(mf.trains))
    for i, text in enumerate(texts):
        s = parse_override(text, i + 1)
        head, rest = s.key[0], s.key[1:]
        inner_key = dataclasses.replace(s.key_span, col=s.key_span.col + len(head) + 1)
        inner = dataclasses.replace(s, key=rest, key_span=inner_key)
        if head == "train":
            block = mf.trains[0] if mf.trains else A.TrainBlock((), (), s.span, s.key_span)
            replaced = {rest} | ({("batches",), ("trials",)} if rest in (("batches",), ("trials",)) else set())
            settings = tuple(x for x in block.settings if x.key not in replaced) + (inner,)
            mf.trains[:1] = [dataclasses.replace(block, settings=settings)]
        elif head == "model":
            block = mf.models[0] if mf.models else A.ModelBlock(None, (), s.span, s.key_span)
            replaced = {rest} | ({("steps",), ("duration",)} if rest in (("steps",), ("duration",)) else set())
            settings = tuple(x for x in block.settings if x.key not in replaced) + (inner,)
            mf.models[:1] = [dataclasses.replace(block, settings=settings)]
        else:
            idx = next((i for i, n in enumerate(mf.nodes) if n.name == head), None)
            if idx is None or len(rest) != 1:
                names = ", ".join(["train", "model"] + [n.name for n in mf.nodes])
                raise ModelError([Diagnostic(f"unknown setting `{'.'.join(s.key)}`", s.key_span,
                                             hint=f"keys start with one of: {names}")], text)
            node = mf.nodes[idx]
            kw = A.Keyword(rest[0], s.value, s.span, inner_key)
            mf.nodes[idx] = dataclasses.replace(node, params=tuple(k for k in node.params if k.name != rest[0]) + (kw,))
    return mf
