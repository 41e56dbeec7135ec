"""`rnn lsp` end to end: a real client (pytest-lsp) talks to the server over stdio, one server for
the whole module. Each test is one feature, checked by positions and texts."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types as T
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from rnnlang.dsl.checks import check
from rnnlang.dsl.errors import ModelError
from rnnlang.dsl.parser import parse

pytestmark = pytest.mark.asyncio(loop_scope="module")

BAD = Path(__file__).resolve().parents[1] / "programs" / "bad"

REACH = """model reach {
  dt = 0.05
  steps = 50
}

node task = simple_reaches()
node net = gru(hidden = 16, out = 2)
node arm = point_mass(mass = 1.0)

task.target -> net.input
arm.effector -> net.input
net.output -> arm.force
task.start -> arm.init
arm.effector -> task.effector

site curl at arm.force: curl_field(amplitude = 2.0) {
  train { active = bernoulli(0.5) }
}

loss {
  position = squared_error(arm.effector.pos, task.target.pos)
  effort = 1e-5 * penalty(net.output)
}

train {
  batches = 10
  stage easy { curl.amplitude = 0.5  batches = 5 }
}
"""

DECIDE = """model decide {
  dt = 20
  duration = 1000
  tau = 100
}

node task = task {
  inputs = [left, right]
  outputs = [choose_left, choose_right]
  coherence ~ choice(0.1, 0.4)
  direction ~ integer(0, 2)
  epoch stimulus for 500 {
    left = 1 + (if direction == 0 then coherence else 0)
    right = 1 + (if direction == 1 then coherence else 0)
  }
  epoch decision { target = onehot(direction, 2)  mask = 1 }
  accuracy = response_choice == direction
  validation grid { coherence = [0.1, 0.4]  direction = [0, 1] }
}
node net = ctrnn(hidden = 16, out = 2)

task.input -> net.input
net.output -> task.response

loss { mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean") }
train { batches = 10 }
"""


def change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    """The whole new text of a document, as an editor sends it."""
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[T.TextDocumentContentChangeWholeDocument(text=text)]))


def doc(uri: str) -> T.TextDocumentIdentifier:
    return T.TextDocumentIdentifier(uri=uri)


def pos(text: str, needle: str, nth: int = 0, into: int = 0) -> T.Position:
    """The position `into` characters into the nth occurrence of `needle`."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += into
    line = text.count("\n", 0, at)
    return T.Position(line, at - (text.rfind("\n", 0, at) + 1))


def rng(text: str, needle: str, nth: int = 0) -> T.Range:
    start = pos(text, needle, nth)
    return T.Range(start, T.Position(start.line, start.character + len(needle)))


def apply(text: str, edits: list[T.TextEdit]) -> str:
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        a = offsets[e.range.start.line] + e.range.start.character
        b = offsets[e.range.end.line] + e.range.end.character
        text = text[:a] + e.new_text + text[b:]
    return text


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-m", "rnnlang.runtime.cli", "lsp", "--stdio"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(T.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """The two models on disk: name -> (uri, text)."""
    d = tmp_path_factory.mktemp("lsp")
    out = {}
    for name, text in (("reach", REACH), ("decide", DECIDE)):
        path = d / f"{name}.rnn"
        path.write_text(text)
        out[name] = (path.as_uri(), text)
    return out


async def published(client: LanguageClient, uri: str, until) -> list[T.Diagnostic]:
    """Wait for diagnostics of `uri` for which `until(diagnostics)` holds."""
    async def wait():
        while uri not in client.diagnostics or not until(client.diagnostics[uri]):
            await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return list(client.diagnostics[uri])
    return await asyncio.wait_for(wait(), 60)


async def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1) -> list[T.Diagnostic]:
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        text_document=T.TextDocumentItem(uri=uri, language_id="rnn", version=version, text=text)))
    return await published(client, uri, lambda d: True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opened(client, files):
    for uri, text in files.values():
        assert await open_doc(client, uri, text) == []  # both models check
    return files


def _rendered(uri: str, diags: list[T.Diagnostic]) -> list[str]:
    """The diagnostics written as `rnn check` writes them (header, note and hint lines)."""
    path = uri.removeprefix("file://")
    out = []
    for d in diags:
        message, _, hint = d.message.partition("\nhint: ")
        sev = "error" if d.severity == T.DiagnosticSeverity.Error else "warning"
        out.append(f"{path}:{d.range.start.line + 1}:{d.range.start.character + 1}: {sev}: {message}")
        for r in d.related_information or []:
            out.append(f"{r.location.uri.removeprefix('file://')}:{r.location.range.start.line + 1}:"
                       f"{r.location.range.start.character + 1}: note: {r.message}")
        if hint:
            out.append(f"hint: {hint}")
    return out


async def test_diagnostics_are_those_of_rnn_check(client):
    for name in ("several_errors", "algebraic_loop", "task_used_before_drawn", "duplicate_node", "unknown_field"):
        path = BAD / f"{name}.rnn"
        expected = _check_lines(path)
        diags = await open_doc(client, path.as_uri(), path.read_text())
        assert diags and _rendered(path.as_uri(), diags) == expected, name
    # the related places of an algebraic loop are every edge of the loop, in this file
    loop = client.diagnostics[(BAD / "algebraic_loop.rnn").as_uri()][0]
    assert loop.related_information and all(r.location.uri == (BAD / "algebraic_loop.rnn").as_uri()
                                            for r in loop.related_information)


COMPILER_ONLY = {"weights_unknown_array"}  # a weight file's array names are checked by the compiler


def _check_lines(path: Path) -> list[str]:
    """What `rnn check FILE` prints about a file: its header, note and hint lines."""
    from rnnlang.runtime.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        main(["check", str(path)])
    return [line for line in err.getvalue().splitlines() if re.match(r"(\S+:\d+:\d+: (error|warning|note): |hint: )", line)]


@pytest.mark.slow
async def test_every_bad_program_gets_the_diagnostics_of_rnn_check():
    """The server's analysis (in-process here; over stdio above) against `rnn check` on the whole
    catalogue of bad programs."""
    from rnnlang.runtime.lsp import analyse

    differ = []
    for path in sorted(BAD.glob("*.rnn")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # not text: an editor does not open it as a .rnn document
        _, _, diags = analyse(text, str(path))
        got = []
        for d in diags:
            got.append(f"{d.span}: {d.severity}: {d.message}" if d.span else f"{d.severity}: {d.message}")
            got += [f"{span}: note: {note}" for span, note in d.related]
            got += [f"hint: {d.hint}"] if d.hint else []
        if got != _check_lines(path):
            differ.append(path.stem)
    assert set(differ) == COMPILER_ONLY


async def test_diagnostics_follow_edits_and_saves(client, opened):
    uri, text = opened["reach"]
    bad = text.replace("gru(hidden", "gruu(hidden")
    change(client, uri, 2, text.replace("gru(", "g("))
    change(client, uri, 3, bad)  # typed on before the pause: only this one counts
    diags = await published(client, uri, lambda d: len(d) > 0)
    assert len(diags) == 1
    assert diags[0].message == "unknown node kind `gruu`\nhint: did you mean `gru`?"
    assert diags[0].range == rng(bad, "gruu")
    assert diags[0].severity == T.DiagnosticSeverity.Error and diags[0].source == "rnn"
    spare = text + "node spare = channel()\n"  # a model that checks shows its warnings
    change(client, uri, 4, spare)
    diags = await published(client, uri, lambda d: len(d) == 1 and d[0].severity == T.DiagnosticSeverity.Warning)
    assert diags[0].message == "node `spare` is not connected to anything\nhint: connect it with an edge, or remove it"
    assert diags[0].range == rng(spare, "spare")
    change(client, uri, 5, text)
    assert await published(client, uri, lambda d: len(d) == 0) == []
    client.diagnostics.pop(uri)
    client.text_document_did_save(T.DidSaveTextDocumentParams(text_document=doc(uri)))
    assert await published(client, uri, lambda d: True) == []


async def _hover(client, uri: str, at: T.Position) -> T.Hover | None:
    return await client.text_document_hover_async(T.HoverParams(text_document=doc(uri), position=at))


async def test_hover(client, opened):
    uri, text = opened["reach"]
    h = await _hover(client, uri, pos(text, "gru(", into=1))  # a kind: its reference section
    assert h.contents.value.startswith("### `gru`") and "| `hidden` | int | required |" in h.contents.value
    assert h.range == rng(text, "gru")
    h = await _hover(client, uri, pos(text, "hidden = 16"))  # a parameter
    assert h.contents.value == "parameter of `gru`: `hidden`: int, default required; >= 1; <= 1,000,000. number of hidden units"
    h = await _hover(client, uri, pos(text, "arm.force", into=5))  # a port
    assert h.contents.value == "`arm.force`: port `force` (input, size 2, sum). force on the effector (N)"
    assert h.range == rng(text, "force")
    h = await _hover(client, uri, pos(text, "effector.pos", into=10))  # a field, in a loss term's argument
    assert h.contents.value.startswith("`arm.effector.pos`: components 0 to 1 of `effector`")
    h = await _hover(client, uri, pos(text, "bernoulli"))  # a distribution
    assert h.contents.value == "distribution `bernoulli` (drawn per trial): bernoulli(p): true with probability p"
    h = await _hover(client, uri, pos(text, "steps = 50"))  # a setting
    assert h.contents.value.startswith("model setting `steps`: int, default none; >= 1")
    h = await _hover(client, uri, pos(text, "batches = 10"))
    assert h.contents.value.startswith("train setting `batches`: int")
    h = await _hover(client, uri, pos(text, "penalty"))  # a loss term
    assert h.contents.value.startswith("loss term `penalty`\n\nv[b,t,k] = x[b,t,k]^2 (l2)")
    h = await _hover(client, uri, pos(text, "curl_field"))  # an intervention kind
    assert h.contents.value.startswith("### `curl_field`")
    h = await _hover(client, uri, pos(text, "net.output ->"))  # a node of the file
    assert h.contents.value.startswith("node `net` = `gru` (network)")
    uri, text = opened["decide"]
    h = await _hover(client, uri, pos(text, "onehot"))  # a function of expressions
    assert h.contents.value.startswith("function `onehot`: ")
    h = await _hover(client, uri, pos(text, "coherence else"))  # a task variable
    assert h.contents.value == "variable `coherence` of task `task`\n\n```rnn\ncoherence ~ choice(0.1, 0.4)\n```"
    assert await _hover(client, uri, pos(text, "model decide")) is None


async def _complete(client, uri: str, text: str) -> tuple[dict[str, T.CompletionItem], str]:
    """Completions where `|` is in `text` (sent to the server as a change first)."""
    at = text.index("|")
    body = text.replace("|", "")
    change(client, uri, 10 + at, body)
    result = await client.text_document_completion_async(T.CompletionParams(text_document=doc(uri), position=_offset_pos(body, at)))
    items = result.items if isinstance(result, T.CompletionList) else result
    return {i.label: i for i in items}, body


def _offset_pos(text: str, at: int) -> T.Position:
    line = text.count("\n", 0, at)
    return T.Position(line, at - (text.rfind("\n", 0, at) + 1))


async def test_completion(client, opened):
    uri, text = opened["reach"]
    try:
        items, _ = await _complete(client, uri, text + "\nnode extra = |")  # kinds
        assert {"gru", "ctrnn", "lstm", "point_mass", "channel", "simple_reaches"} <= set(items)
        assert "curl_field" not in items and items["gru"].kind == T.CompletionItemKind.Class
        items, _ = await _complete(client, uri, text.replace("gru(hidden", "gru(|hidden"))  # parameters, defaults
        assert items["hidden"].detail == "gru: int" and items["hidden"].insert_text == "hidden = "
        assert items["hidden_noise"].detail == "gru: float = 0.0"
        items, _ = await _complete(client, uri, text.replace("net.output -> arm", "net.|output -> arm"))  # ports
        assert set(items) == {"input", "output", "hidden"}
        items, _ = await _complete(client, uri, text.replace("arm.effector -> net", "arm.effector.| -> net"))  # fields
        assert set(items) == {"pos", "vel"}
        items, _ = await _complete(client, uri, text.replace(": curl_field", ": |curl_field"))  # site kinds
        assert {"curl_field", "constant_field", "noise", "clamp", "ablate"} <= set(items) and "gru" not in items
        items, _ = await _complete(client, uri, text.replace("active = bernoulli", "active = |bernoulli"))  # distributions
        assert {"bernoulli", "uniform", "normal", "choice"} <= set(items)
        assert items["uniform"].kind == T.CompletionItemKind.Function
        items, _ = await _complete(client, uri, text.replace("  batches = 10", "  |batches = 10"))  # train settings
        assert {"batches", "batch_size", "optimizer", "clip", "stage", "until"} <= set(items)
        assert items["batch_size"].detail == "train: int = 128"
        items, _ = await _complete(client, uri, text.replace("train { active", "train { |active"))  # a site's per-trial values
        assert set(items) == {"active", "scale", "amplitude"}
        items, _ = await _complete(client, uri, text.replace("{ curl.amplitude", "{ curl.|amplitude"))  # a stage's overrides
        assert set(items) == {"active", "scale", "amplitude"}
        items, _ = await _complete(client, uri, text.replace("{ curl.amplitude", "{ task.|"))
        assert {"workspace", "eval_n_directions", "eval_length"} <= set(items)
        items, _ = await _complete(client, uri, text.replace("dt = 0.05", "# a comment |\n  dt = 0.05"))
        assert items == {}
    finally:
        change(client, uri, 1000, text)
        await published(client, uri, lambda d: len(d) == 0)


async def test_definition(client, opened):
    uri, text = opened["reach"]
    loc = await client.text_document_definition_async(T.DefinitionParams(text_document=doc(uri), position=pos(text, "net.output")))
    assert loc == T.Location(uri, rng(text, "net", 0))
    loc = await client.text_document_definition_async(T.DefinitionParams(text_document=doc(uri), position=pos(text, "curl.amplitude")))
    assert loc == T.Location(uri, rng(text, "curl", 0))
    uri, text = opened["decide"]
    loc = await client.text_document_definition_async(T.DefinitionParams(text_document=doc(uri), position=pos(text, "direction", 2)))
    assert loc == T.Location(uri, rng(text, "direction", 0))


async def test_references(client, opened):
    uri, text = opened["reach"]
    locs = await client.text_document_references_async(T.ReferenceParams(
        text_document=doc(uri), position=pos(text, "arm.force"), context=T.ReferenceContext(include_declaration=True)))
    starts = sorted((loc.range.start.line, loc.range.start.character) for loc in locs)
    want = sorted((p.line, p.character) for p in (pos(text, "arm", i) for i in range(text.count("arm"))))
    assert starts == want and len(starts) == 7  # the declaration, four edges, the site, the loss term
    uri, text = opened["decide"]
    locs = await client.text_document_references_async(T.ReferenceParams(
        text_document=doc(uri), position=pos(text, "coherence ~"), context=T.ReferenceContext(include_declaration=False)))
    starts = sorted((loc.range.start.line, loc.range.start.character) for loc in locs)
    assert starts == [(p.line, p.character) for p in (pos(text, "coherence", i) for i in (1, 2, 3))]


async def test_rename(client, opened):
    uri, text = opened["reach"]
    prepared = await client.text_document_prepare_rename_async(T.PrepareRenameParams(text_document=doc(uri), position=pos(text, "curl.amp")))
    assert prepared == T.Range(start=pos(text, "curl.amp"), end=pos(text, "curl.amp", into=4))
    assert await client.text_document_prepare_rename_async(T.PrepareRenameParams(text_document=doc(uri), position=pos(text, "dt"))) is None
    edit = await client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=pos(text, "curl at"), new_name="field"))
    renamed = apply(text, edit.changes[uri])
    assert renamed == text.replace("site curl", "site field").replace("curl.amplitude", "field.amplitude")
    check(parse(renamed, "renamed.rnn"))  # still a valid model
    edit = await client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=pos(text, "net.input"), new_name="brain"))
    renamed = apply(text, edit.changes[uri])
    assert re.findall(r"\bnet\b", renamed) == [] and len(re.findall(r"\bbrain\b", renamed)) == 5
    check(parse(renamed, "renamed.rnn"))
    uri, text = opened["decide"]
    edit = await client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=pos(text, "coherence ~"), new_name="strength"))
    renamed = apply(text, edit.changes[uri])
    assert renamed == re.sub(r"\bcoherence\b", "strength", text)
    check(parse(renamed, "renamed.rnn"))
    with pytest.raises(Exception, match="not a name"):
        await client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=pos(text, "coherence ~"), new_name="2x"))
    with pytest.raises(Exception, match="already declared"):
        await client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=pos(text, "coherence ~"), new_name="direction"))


async def test_code_actions_apply_did_you_mean(client):
    for name in ("unknown_port", "unknown_field", "unknown_node_kind", "unknown_parameter", "mask_unknown_node",
                 "unknown_string_choice", "task_undefined_variable", "unknown_loss_term"):
        path = BAD / f"{name}.rnn"
        text = path.read_text()
        diags = await open_doc(client, path.as_uri(), text)
        assert len(diags) == 1 and "did you mean" in diags[0].message
        actions = await client.text_document_code_action_async(T.CodeActionParams(
            text_document=doc(path.as_uri()), range=diags[0].range, context=T.CodeActionContext(diagnostics=diags)))
        assert len(actions) == 1 and actions[0].kind == T.CodeActionKind.QuickFix
        choice = re.search(r"did you mean `([^`]+)`", diags[0].message).group(1)
        assert actions[0].title == f"Change to `{choice}`"
        (edit,) = actions[0].edit.changes[path.as_uri()]
        assert edit.new_text == choice and edit.range.start.line == edit.range.end.line
        fixed = apply(text, [edit])
        try:
            check(parse(fixed, str(path)))
            remaining = []
        except ModelError as e:
            remaining = [d.message for d in e.diagnostics]
        first = diags[0].message.split("\n")[0]
        assert first not in remaining, name


async def test_formatting_is_rnn_fmt(client, tmp_path):
    from rnnlang.dsl.fmt import format_source
    messy = "model m  {dt=10 steps=5}\nnode task=perceptual_discrimination( )   # the task\n\n\n" \
            "node net=ctrnn(hidden=4,out=2)\ntask.input->net.input\nnet.output -> task.response\n" \
            "loss{mse=squared_error(net.output,task.target,mask=task.mask)}\n"
    path = tmp_path / "messy.rnn"
    path.write_text(messy)
    await open_doc(client, path.as_uri(), messy)
    options = T.FormattingOptions(tab_size=2, insert_spaces=True)
    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(text_document=doc(path.as_uri()), options=options))
    formatted = apply(messy, edits)
    assert formatted == format_source(messy, str(path)) != messy
    assert "node net = ctrnn(hidden = 4, out = 2)" in formatted and "# the task" in formatted
    # already canonical: no edit; a file that does not parse: nothing (its diagnostics say why)
    await open_doc(client, path.as_uri(), formatted, version=2)
    assert list(await client.text_document_formatting_async(
        T.DocumentFormattingParams(text_document=doc(path.as_uri()), options=options))) == []
    await open_doc(client, path.as_uri(), "model m {", version=3)
    assert await client.text_document_formatting_async(
        T.DocumentFormattingParams(text_document=doc(path.as_uri()), options=options)) is None


async def test_document_symbols(client, opened):
    uri, text = opened["reach"]
    symbols = await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=doc(uri)))
    assert [(s.name, s.detail) for s in symbols] == [
        ("reach", "model"), ("task", "simple_reaches"), ("net", "gru"), ("arm", "point_mass"),
        ("curl", "curl_field at arm.force"), ("loss", None), ("train", None)]
    net = symbols[2]
    assert net.selection_range == rng(text, "net", 0) and net.range.start == pos(text, "node net")
    assert [c.name for c in symbols[5].children] == ["position", "effort"]
    assert [c.name for c in symbols[6].children] == ["easy"]
    uri, text = opened["decide"]
    symbols = await client.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=doc(uri)))
    task = next(s for s in symbols if s.name == "task")
    assert [(c.name, c.detail) for c in task.children] == [
        ("coherence", "variable"), ("direction", "variable"), ("stimulus", "epoch"), ("decision", "epoch")]


async def test_the_server_imports_no_jax():
    """The server answers from the front end alone: nothing of JAX is loaded to start it."""
    code = "import sys, rnnlang.runtime.cli, rnnlang.runtime.lsp; print([m for m in sys.modules if m.split('.')[0] in ('jax', 'optax')])"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().strip() == "[]"


async def test_without_pygls_rnn_lsp_says_what_to_install(monkeypatch, capsys):
    from rnnlang.runtime.cli import main

    monkeypatch.delitem(sys.modules, "rnnlang.runtime.lsp", raising=False)
    monkeypatch.setitem(sys.modules, "pygls.lsp.server", None)  # as if pygls were not installed
    assert main(["lsp"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnn: error: the language server needs pygls") and "pip install 'rnnlang[lsp]'" in err
