"""`--set key=value` on the command line: a value written in the language's own syntax replaces
(or adds) a setting before the model is checked, so it is checked exactly like the file.

Keys: `train.KEY` (any train setting), `train.optimizer.ARG` (one argument of the optimizer
call, the others kept: `train.optimizer.learning_rate=3e-3`), `model.KEY` (dt, steps, duration, tau, seed),
`NODE.PARAM` (a node's parameter), and for an intervention site `SITE.PARAM` (in both phases:
it replaces the site's value and any `train`/`validate` schedule of it), `SITE.train.PARAM` or
`SITE.validate.PARAM` (one phase's schedule). A mistake is reported against the `--set` text
itself."""

from __future__ import annotations

import dataclasses
from typing import Any

from rnnlang.dsl import ast as A
from rnnlang.dsl.errors import Diagnostic, ModelError, UsageError
from rnnlang.dsl.parser import parse
from rnnlang.dsl.schema import PHASES

SET_FILE = "--set"


def shift_spans(value: Any, cols: int, line: int, file: str = SET_FILE) -> Any:
    """The same AST with every span moved `cols` columns left and onto `line`: the overrides are
    shown as the lines of a virtual file named --set (or `file`), one per override."""
    if isinstance(value, A.Span):
        return dataclasses.replace(value, file=file, line=line, end_line=line, col=value.col - cols, end_col=value.end_col - cols)
    if isinstance(value, tuple):
        return tuple(shift_spans(v, cols, line, file) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: shift_spans(getattr(value, f.name), cols, line, file)
                                             for f in dataclasses.fields(value)})
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
    # a site's phase (`curl.train.amplitude=...`) takes what a schedule takes: an expression too
    phase = len(parts) == 3 and parts[1] in PHASES
    prefix = "site s at n.p: k() { train { " if phase else "model { "
    snippet = f"{prefix}{text} }}" + (" }" if phase else "")
    try:
        mf = parse(snippet, SET_FILE)
    except ModelError as e:
        d = e.diagnostics[0]
        span = shift_spans(d.span, len(prefix), line) if d.span else None
        if span is not None and span.col > len(text):  # ran into the snippet's closing brace
            end = len(text) + 1
            span = dataclasses.replace(span, col=end, end_col=end + 1)
            d = dataclasses.replace(d, message=d.message.replace("unexpected '}'", "unexpected end of the value"))
        raise ModelError([dataclasses.replace(d, span=span)], text) from None
    settings = mf.sites[0].schedules[0].settings if phase and mf.sites and mf.sites[0].schedules else (
        mf.models[0].settings if mf.models else ())
    if len(settings) != 1:
        raise UsageError(f"--set {text}: expected one KEY=VALUE")
    return shift_spans(settings[0], len(prefix), line)


def apply_overrides(mf: A.ModelFile, texts: list[str]) -> A.ModelFile:
    """A copy of the parsed file with each override applied."""
    mf = dataclasses.replace(mf, models=list(mf.models), nodes=list(mf.nodes), trains=list(mf.trains),
                             sites=list(mf.sites))
    for i, text in enumerate(texts):
        s = parse_override(text, i + 1)
        head, rest = s.key[0], s.key[1:]
        inner_key = dataclasses.replace(s.key_span, col=s.key_span.col + len(head) + 1)
        inner = dataclasses.replace(s, key=rest, key_span=inner_key)
        if head == "train" and len(rest) == 2 and rest[0] == "optimizer":
            inner, rest = _optimizer_argument(mf, s, rest[1], inner_key), ("optimizer",)
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
        elif any(n.name == head for n in mf.nodes) and len(rest) == 1:
            idx = next(i for i, n in enumerate(mf.nodes) if n.name == head)
            node = mf.nodes[idx]
            kw = A.Keyword(rest[0], s.value, s.span, inner_key)
            mf.nodes[idx] = dataclasses.replace(node, params=tuple(k for k in node.params if k.name != rest[0]) + (kw,))
        elif any(x.name == head for x in mf.sites):
            idx = next(i for i, x in enumerate(mf.sites) if x.name == head)
            mf.sites[idx] = _set_site(mf.sites[idx], s, rest, inner_key, text)
        else:
            names = ", ".join(["train", "model"] + [n.name for n in mf.nodes] + [x.name for x in mf.sites])
            raise ModelError([Diagnostic(f"unknown setting `{'.'.join(s.key)}`", s.key_span,
                                         hint=f"keys start with one of: {names}")], text)
    return mf


def _optimizer_argument(mf: A.ModelFile, s: A.Setting, arg: str, key_span: A.Span) -> A.Setting:
    """`train.optimizer.ARG=V` as a whole `optimizer = NAME(..., ARG = V)` setting: the file's
    optimizer call (or the default, adam(learning_rate = 1e-3)) with that argument replaced."""
    old = next((x for x in (mf.trains[0].settings if mf.trains else ()) if x.key == ("optimizer",)), None)
    if old is None:
        call = A.Call("adam", (), (A.Keyword("learning_rate", A.Number(1e-3, s.span), s.span, s.span),), s.span, s.span)
    elif isinstance(old.value, A.Call):
        call = old.value
    elif isinstance(old.value, (A.Ref, A.String)):
        name = old.value.dotted if isinstance(old.value, A.Ref) else old.value.value
        call = A.Call(name, (), (), old.value.span, old.value.span)
    else:
        return A.Setting(("optimizer", arg), s.value, s.span, key_span)  # reported as an unknown setting
    arg_span = dataclasses.replace(key_span, col=key_span.col + len("optimizer") + 1)
    kwargs = tuple(k for k in call.kwargs if k.name != arg) + (A.Keyword(arg, s.value, s.span, arg_span),)
    return A.Setting(("optimizer",), dataclasses.replace(call, kwargs=kwargs), s.span, key_span)


def _set_site(site: A.SiteDecl, s: A.Setting, rest: tuple[str, ...], key_span: A.Span, text: str) -> A.SiteDecl:
    """`SITE.PARAM` (both phases: the site's value, no phase schedule of it left) or
    `SITE.train.PARAM` / `SITE.validate.PARAM` (that phase's schedule)."""
    if len(rest) == 1:
        kw = A.Keyword(rest[0], s.value, s.span, key_span)
        schedules = tuple(dataclasses.replace(sc, settings=tuple(x for x in sc.settings if x.key != rest))
                          for sc in site.schedules)
        return dataclasses.replace(site, params=tuple(k for k in site.params if k.name != rest[0]) + (kw,),
                                   schedules=schedules)
    if len(rest) == 2 and rest[0] in PHASES:
        phase, param = rest
        inner = dataclasses.replace(key_span, col=key_span.col + len(phase) + 1)
        setting = A.Setting((param,), s.value, s.span, inner)
        old = next((sc for sc in site.schedules if sc.phase == phase), None)
        if old is None:
            return dataclasses.replace(site, schedules=site.schedules + (A.Schedule(phase, (setting,), s.span),))
        new = dataclasses.replace(old, settings=tuple(x for x in old.settings if x.key != (param,)) + (setting,))
        return dataclasses.replace(site, schedules=tuple(new if sc is old else sc for sc in site.schedules))
    raise ModelError([Diagnostic(f"unknown setting `{'.'.join(s.key)}`", s.key_span,
                                 hint=f"a site takes `{site.name}.PARAM`, `{site.name}.train.PARAM` or "
                                      f"`{site.name}.validate.PARAM`")], text)
