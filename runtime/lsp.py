"""`rnn lsp`: a language server for .rnn files (Language Server Protocol over stdio, on pygls).

What it answers, all from the front end (no JAX, so in milliseconds):
  - diagnostics: those of `rnn check` (same positions, messages, hints as a second line, the
    related places as related information), on open and save, and as the user types (debounced);
    the memory estimate, the optimizer's trial build and the names of a weight file's arrays,
    which need the compiler, stay with `rnn check`;
  - hover: the documentation of kinds, parameters, ports, fields, settings, functions,
    distributions and loss terms (`dsl.hover`, from the registry that generates docs/reference.md),
    and of the file's own nodes, sites, task variables and epochs;
  - completion: kinds, parameter names with their defaults, ports after `node.`, fields after
    `node.port.`, intervention kinds, distributions, functions, model / train / stage settings;
  - go to definition, find references and rename of nodes, sites, task parameters, variables
    and epochs (`dsl.symbols`);
  - code actions that apply a diagnostic's "did you mean" hint;
  - document symbols (the outline).

Start it from an editor as `rnn lsp` (stdio). The protocol's glue lives here; what is said lives
in `rnnlang.dsl.hover`, `rnnlang.dsl.completion` and `rnnlang.dsl.symbols`.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from rnnlang.dsl import ast as A
from rnnlang.dsl.assist import Context
from rnnlang.dsl.completion import Completion, complete
from rnnlang.dsl.hover import hover
from rnnlang.dsl.checks import check
from rnnlang.dsl.errors import Diagnostic, ModelError, UsageError
from rnnlang.dsl.fmt import format_source
from rnnlang.dsl.parser import parse
from rnnlang.dsl.schema import RESERVED_WORDS
from rnnlang.dsl.symbols import IDENTIFIER, build_index

DEBOUNCE_S = 0.1  # diagnostics wait this long after the last keystroke
HINT_CHOICE = re.compile(r"did you mean `([^`]+)`\?")

COMPLETION_KINDS = {
    "kind": T.CompletionItemKind.Class, "parameter": T.CompletionItemKind.Property, "setting": T.CompletionItemKind.Property,
    "port": T.CompletionItemKind.Field, "field": T.CompletionItemKind.Field, "site": T.CompletionItemKind.Event,
    "node": T.CompletionItemKind.Variable, "distribution": T.CompletionItemKind.Function,
    "function": T.CompletionItemKind.Function, "keyword": T.CompletionItemKind.Keyword, "value": T.CompletionItemKind.Value,
}


@dataclass
class _State:
    """What the server keeps of one open file: the last version that parsed and that checked."""

    parsed: A.ModelFile | None = None
    checked: Any = None
    pending: asyncio.Task | None = field(default=None, repr=False)


class RnnLanguageServer(LanguageServer):
    def __init__(self) -> None:
        from rnnlang import __version__

        super().__init__("rnn-lsp", __version__)
        self.files: dict[str, _State] = {}

    def state(self, uri: str) -> _State:
        return self.files.setdefault(uri, _State())

    def context(self, uri: str) -> tuple[TextDocument, Context]:
        doc = self.workspace.get_text_document(uri)
        st = self.state(uri)
        return doc, Context(doc.source, st.parsed, st.checked)


def _doc_path(doc: TextDocument) -> str:
    """The file name diagnostics carry (`file(...)` paths are relative to its directory)."""
    return doc.path or doc.uri


def analyse(text: str, path: str) -> tuple[A.ModelFile | None, Any, list[Diagnostic]]:
    """Parse and check as `rnn check` does: the parsed file (None on a syntax error), the checked
    model (None on an error) and the diagnostics to show (the errors, else the warnings)."""
    mf = cm = None
    try:
        mf = parse(text, path)
        cm = check(mf)
        return mf, cm, list(cm.warnings)
    except ModelError as e:
        return mf, None, list(e.diagnostics)
    except UsageError as e:
        return mf, None, [Diagnostic(str(e), None)]


def to_range(doc: TextDocument, span: A.Span | None) -> T.Range:
    """A span (1-based, in characters) as the client's range (0-based, in its code units)."""
    if span is None:
        return T.Range(T.Position(0, 0), T.Position(0, 0))
    server = ServerTextRange(ServerTextPosition(span.line - 1, max(span.col - 1, 0)),
                             ServerTextPosition(span.end_line - 1, max(span.end_col - 1, 0)))
    return doc.range_to_client_units(server)


def _span_uri(doc: TextDocument, span: A.Span) -> str:
    if span.file == _doc_path(doc):
        return doc.uri
    return Path(span.file).resolve().as_uri()


def to_lsp(doc: TextDocument, d: Diagnostic) -> T.Diagnostic:
    here = d.span is not None and d.span.file == _doc_path(doc)
    message = d.message if here or d.span is None else f"{d.span}: {d.message}"
    if d.hint:
        message += f"\nhint: {d.hint}"
    related = []
    for span, note in d.related:
        rng = to_range(doc, span) if span.file == _doc_path(doc) else T.Range(
            T.Position(span.line - 1, span.col - 1), T.Position(span.end_line - 1, span.end_col - 1))
        related.append(T.DiagnosticRelatedInformation(location=T.Location(uri=_span_uri(doc, span), range=rng), message=note))
    return T.Diagnostic(
        range=to_range(doc, d.span if here else None), message=message, source="rnn",
        severity=T.DiagnosticSeverity.Error if d.severity == "error" else T.DiagnosticSeverity.Warning,
        related_information=related or None, data={"hint": d.hint} if d.hint else None)


server = RnnLanguageServer()


def publish(ls: RnnLanguageServer, uri: str) -> None:
    """Check the document now and send its diagnostics."""
    doc = ls.workspace.get_text_document(uri)
    st = ls.state(uri)
    try:
        mf, cm, diags = analyse(doc.source, _doc_path(doc))
    except Exception as e:  # a fault of the checker, not of the file: said in the editor's log, not hidden
        ls.window_log_message(T.LogMessageParams(type=T.MessageType.Error, message=f"rnn lsp: checking {uri} failed: {e!r}"))
        return
    if mf is not None:
        st.parsed = mf
    if cm is not None:
        st.checked = cm
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
        uri=uri, version=doc.version, diagnostics=[to_lsp(doc, d) for d in diags]))


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: RnnLanguageServer, params: T.DidOpenTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: RnnLanguageServer, params: T.DidSaveTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: RnnLanguageServer, params: T.DidChangeTextDocumentParams) -> None:
    """Check once the user pauses: each change cancels the check the previous one scheduled."""
    uri = params.text_document.uri
    st = ls.state(uri)
    if st.pending is not None:
        st.pending.cancel()

    async def later() -> None:
        await asyncio.sleep(DEBOUNCE_S)
        st.pending = None
        publish(ls, uri)

    st.pending = asyncio.ensure_future(later())


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: RnnLanguageServer, params: T.DidCloseTextDocumentParams) -> None:
    st = ls.files.pop(params.text_document.uri, None)
    if st is not None and st.pending is not None:
        st.pending.cancel()
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


def _cursor(doc: TextDocument, position: T.Position) -> tuple[int, int]:
    """A client position as a span's (line, col), 1-based in characters."""
    p = doc.position_from_client_units(position)
    return p.line + 1, p.character + 1


@server.feature(T.TEXT_DOCUMENT_HOVER)
def on_hover(ls: RnnLanguageServer, params: T.HoverParams) -> T.Hover | None:
    doc, ctx = ls.context(params.text_document.uri)
    found = hover(ctx, *_cursor(doc, params.position))
    if found is None:
        return None
    text, span = found
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text), range=to_range(doc, span))


def _item(c: Completion) -> T.CompletionItem:
    return T.CompletionItem(
        label=c.label, kind=COMPLETION_KINDS.get(c.kind), detail=c.detail or None,
        documentation=T.MarkupContent(kind=T.MarkupKind.Markdown, value=c.doc) if c.doc else None,
        insert_text=c.insert)


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[".", "(", ",", ":", "=", "~"]))
def on_completion(ls: RnnLanguageServer, params: T.CompletionParams) -> T.CompletionList:
    doc, ctx = ls.context(params.text_document.uri)
    offset = doc.offset_at_position(params.position)
    return T.CompletionList(is_incomplete=False, items=[_item(c) for c in complete(ctx, offset)])


def _occurrence(ls: RnnLanguageServer, uri: str, position: T.Position):
    doc, ctx = ls.context(uri)
    if ctx.parsed is None:
        return doc, None, None
    index = build_index(ctx.parsed)
    return doc, index, index.at(*_cursor(doc, position))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: RnnLanguageServer, params: T.DefinitionParams) -> T.Location | None:
    doc, index, occ = _occurrence(ls, params.text_document.uri, params.position)
    if occ is None:
        return None
    d = index.definition(occ.symbol)
    return T.Location(uri=doc.uri, range=to_range(doc, d.span)) if d is not None else None


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
def on_references(ls: RnnLanguageServer, params: T.ReferenceParams) -> list[T.Location]:
    doc, index, occ = _occurrence(ls, params.text_document.uri, params.position)
    if occ is None:
        return []
    found = index.occurrences_of(occ.symbol, params.context.include_declaration)
    return [T.Location(uri=doc.uri, range=to_range(doc, o.span)) for o in found]


@server.feature(T.TEXT_DOCUMENT_PREPARE_RENAME)
def on_prepare_rename(ls: RnnLanguageServer, params: T.PrepareRenameParams) -> T.Range | None:
    doc, _, occ = _occurrence(ls, params.text_document.uri, params.position)
    return to_range(doc, occ.span) if occ is not None else None


@server.feature(T.TEXT_DOCUMENT_RENAME)
def on_rename(ls: RnnLanguageServer, params: T.RenameParams) -> T.WorkspaceEdit | None:
    doc, index, occ = _occurrence(ls, params.text_document.uri, params.position)
    if occ is None:
        return None
    new = params.new_name
    if not IDENTIFIER.match(new) or new in RESERVED_WORDS:
        raise JsonRpcInvalidParams(f"`{new}` is not a name a {occ.symbol.kind} can have (letters, digits and _, "
                                   f"not starting with a digit, not one of {', '.join(RESERVED_WORDS)})")
    taken = {s.name for s in index.symbols() if s.scope == occ.symbol.scope or s.scope == "" or occ.symbol.scope == ""}
    if new != occ.symbol.name and new in taken:
        raise JsonRpcInvalidParams(f"`{new}` is already declared in this file")
    edits = [T.TextEdit(range=to_range(doc, o.span), new_text=new) for o in index.occurrences_of(occ.symbol)]
    return T.WorkspaceEdit(changes={doc.uri: edits})


def _hint_edit(doc: TextDocument, diag: T.Diagnostic) -> tuple[str, T.TextEdit] | None:
    """The edit that applies a diagnostic's `did you mean` hint: the name in its range closest to
    the suggestion is replaced by it."""
    hint = (diag.data or {}).get("hint") if isinstance(diag.data, dict) else None
    m = HINT_CHOICE.search(hint or diag.message)
    if m is None:
        return None
    choice = m.group(1)
    text = doc.text_in_client_range(diag.range)
    names = [w for w in re.finditer(r"[A-Za-z_]\w*", text) if w.group() != choice]
    if not names:
        return None
    best = max(names, key=lambda w: difflib.SequenceMatcher(None, w.group(), choice).ratio())
    start = doc.offset_at_position(diag.range.start) + best.start()
    end = start + len(best.group())
    return choice, T.TextEdit(range=T.Range(start=doc.client_position_at_offset(start), end=doc.client_position_at_offset(end)),
                              new_text=choice)


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION, T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
def on_code_action(ls: RnnLanguageServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    actions = []
    for diag in params.context.diagnostics:
        found = _hint_edit(doc, diag)
        if found is None:
            continue
        choice, edit = found
        actions.append(T.CodeAction(title=f"Change to `{choice}`", kind=T.CodeActionKind.QuickFix, diagnostics=[diag],
                                    is_preferred=True, edit=T.WorkspaceEdit(changes={doc.uri: [edit]})))
    return actions


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: RnnLanguageServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
    """The layout of `rnn fmt`, as one edit over the whole document; none when the text does not
    parse (its diagnostics already say why) or is already in canonical form."""
    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        formatted = format_source(doc.source, _doc_path(doc))
    except ModelError:
        return None
    if formatted == doc.source:
        return []
    end = doc.client_position_at_offset(len(doc.source))
    return [T.TextEdit(range=T.Range(start=T.Position(0, 0), end=end), new_text=formatted)]


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def on_document_symbols(ls: RnnLanguageServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    doc, ctx = ls.context(params.text_document.uri)
    return outline(doc, ctx.parsed) if ctx.parsed is not None else []


def outline(doc: TextDocument, mf: A.ModelFile) -> list[T.DocumentSymbol]:
    """The file's outline: model, nodes (a declared task with its parameters, variables and
    epochs), sites, the loss with its terms, training with its stages, declared tasks; in
    source order."""
    index = build_index(mf)
    S = T.SymbolKind

    def sym(name: str, kind: T.SymbolKind, span: A.Span, sel: A.Span, detail: str | None = None,
            children: list[T.DocumentSymbol] | None = None) -> T.DocumentSymbol:
        return T.DocumentSymbol(name=name, kind=kind, range=to_range(doc, span), selection_range=to_range(doc, sel),
                                detail=detail, children=children or None)

    def scope(name: str) -> list[T.DocumentSymbol]:
        kinds = {"parameter": S.Property, "variable": S.Variable, "epoch": S.Event}
        return [sym(o.symbol.name, kinds[o.symbol.kind], o.span, o.span, o.symbol.kind)
                for o in index.occurrences if o.definition and o.symbol.scope == name]

    out: list[tuple[A.Span, T.DocumentSymbol]] = []
    for m in mf.models:
        out.append((m.span, sym(m.name or "model", S.Module, m.span, m.keyword_span, "model")))
    for n in mf.nodes:
        out.append((n.span, sym(n.name, S.Object, n.span, n.name_span, n.kind if n.body is None else "task { ... }",
                                scope(f"node {n.name}") if n.body is not None else None)))
    for s in mf.sites:
        out.append((s.span, sym(s.name, S.Event, s.span, s.name_span, f"{s.kind} at {s.target}")))
    for block in mf.losses:
        terms = [sym(t.name, S.Field, t.span, t.name_span, "loss term") for t in block.terms]
        out.append((block.span, sym("loss", S.Namespace, block.span, block.keyword_span, None, terms)))
    for block in mf.trains:
        stages = [sym(st.name, S.Namespace, st.span, st.name_span, "stage") for st in block.stages]
        out.append((block.span, sym("train", S.Namespace, block.span, block.keyword_span, None, stages)))
    for t in mf.tasks:
        out.append((t.span, sym(t.name, S.Class, t.span, t.name_span, "task", scope(f"task {t.name}"))))
    return [s for _, s in sorted(out, key=lambda x: (x[0].line, x[0].col))]


def main() -> int:
    """Serve on stdin/stdout until the client exits."""
    server.start_io()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
