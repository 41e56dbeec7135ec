"""The canonical layout of a .rnn file (`rnn fmt`).

The formatter works on the token stream that the grammar's own parser produces, so it covers
every construct of the language (settings, nodes, edges, sites, loss expressions, stages,
declared tasks with their epochs and expressions) with one set of rules:

- Line breaks are the author's: statements, lists and expressions stay on the lines they were
  written on (a run of blank lines becomes one; none at the start of a block or file). A `{ }`
  block that spans lines opens with `{` at the end of a line and closes with `}` on its own line.
- Indentation is two spaces per open `{`, `(` or `[` (one level per line, however many open on
  it). Inside a `(` or `[` followed by an item on its own line, continuation lines line up with
  that item; a statement continued on the next line outside brackets lines up with its value
  (after its first `=`, `~` or `->`), or is indented two levels more when the value starts a line.
- Within a line: one space around `=`, `~`, `->`, binary operators and words; none around `.`
  and `^`, inside brackets, before `,` `;` `:` or after a sign; two spaces between statements
  that share a line (`model { dt = 10  steps = 30 }`).
- Comments stay where they were: a comment on its own line is indented like a statement there;
  trailing comments of consecutive lines are aligned two spaces after the longest line's code.

Only whitespace changes. The result is checked to hold the same tokens and comments as the
input, and formatting it again changes nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import lark
from lark import Token, Tree

from .parser import GRAMMAR_PATH, parse

INDENT = 2  # spaces per level
CONTINUATION = 2 * INDENT  # extra indentation of a statement's continuation line outside brackets
COMMENT_GAP = 2  # spaces before a trailing comment

# Grammar rules that are statements: the first token of one starts a statement.
STATEMENTS = frozenset({
    "model_block", "node_decl", "task_decl", "edge", "site_decl", "loss_block", "train_block", "task_def",
    "setting", "stage", "until", "loss_term", "schedule", "schedule_setting", "site_value",
    "task_let", "task_draw", "task_noise", "epoch", "validation", "require", "require_cond", "task_port",
    "task_set", "metric", "task_sized_draw", "task_step_draw", "task_hold", "epoch_set", "grid_item",
})
CALLS = frozenset({"func", "call", "node_decl", "site_decl", "task_def"})  # NAME "(" ...: no space before "("
INDEXED = frozenset({"index", "task_sized_draw", "epoch_set", "task_hold"})  # NAME "[" ...: no space before "["
OPENERS = {"{": "}", "(": ")", "[": "]"}
CLOSERS = frozenset(OPENERS.values())
WORDS = frozenset({"NAME", "NUMBER", "STRING"})


class FormatError(Exception):
    """The formatter's output would not hold the input's tokens: a bug, reported, never written."""


@dataclass
class _Item:
    """A token or a comment of the source, with what the layout rules need to know about it."""

    text: str
    start: int
    end: int
    punct: str = ""  # the token's text when it is punctuation or an operator, else ""
    comment: bool = False
    statement: bool = False  # the first token of a statement
    sign: bool = False  # a unary + or -
    call: bool = False  # the "(" of a call
    index: bool = False  # the "[" of an index
    number: bool = False
    multiline: bool = False  # for "{" and "}": the block spans lines in the source


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    """The language's grammar, keeping every token (keywords and punctuation included)."""
    return lark.Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                     keep_all_tokens=True, maybe_placeholders=False)


def format_source(text: str, path: str) -> str:
    """The canonical layout of `text` (the contents of the file `path`, named in errors).

    Raises ModelError, positioned like `rnn check`'s, when the text does not parse; FormatError
    if the result would not hold exactly the input's tokens and comments (never expected)."""
    parse(text, path)  # the usual positioned errors; nothing below runs on text that does not parse
    items = _items(text)
    out = _layout(items, text)
    if _lexed(out) != [(it.comment, it.text) for it in items]:
        raise FormatError(f"{path}: the formatter would change the tokens of the file; it was left as it was")
    return out


# ---- tokens and comments ---------------------------------------------------------------------


def _items(text: str) -> list[_Item]:
    """Every token (from the parse tree, marked by its place in the grammar) and every comment
    (from the gaps between tokens, which hold only whitespace and comments), in source order."""
    tokens: list[_Item] = []
    _walk(_lark().parse(text), tokens)
    items: list[_Item] = []
    pos = 0
    for tok in tokens + [None]:
        end = tok.start if tok is not None else len(text)
        items.extend(_comments(text, pos, end))
        if tok is not None:
            items.append(tok)
            pos = tok.end
    _match_brackets(items, text)
    return items


def _walk(tree: Tree, out: list[_Item]) -> None:
    """Append the tokens of `tree` in order, marking statement starts, signs, calls and indexes."""
    stack: list[tuple[Tree | Token, Tree | None, bool]] = [(tree, None, False)]
    while stack:
        node, parent, first = stack.pop()
        if isinstance(node, Tree):
            starts = node.data in STATEMENTS
            for i in reversed(range(len(node.children))):
                stack.append((node.children[i], node, (first or starts) if i == 0 else False))
            continue
        rule = parent.data if parent is not None else ""
        punct = "" if node.type in WORDS else str(node)
        first_child = parent is not None and parent.children and parent.children[0] is node
        out.append(_Item(
            str(node), node.start_pos, node.end_pos, punct=punct, statement=first,
            sign=node.type == "SIGN" or (rule == "unary" and first_child),
            call=punct == "(" and rule in CALLS, index=punct == "[" and rule in INDEXED,
            number=node.type == "NUMBER"))


def _comments(text: str, start: int, end: int) -> list[_Item]:
    """The comments in text[start:end], a gap between two tokens."""
    out = []
    i = start
    while i < end:
        if text[i] == "#" or text.startswith("//", i):
            j = text.find("\n", i, end)
            j = end if j < 0 else j
            out.append(_Item(text[i:j].rstrip(), i, j, comment=True))
            i = j
        else:
            i += 1
    return out


def _match_brackets(items: list[_Item], text: str) -> None:
    """Mark each `{` and its `}` when the block spans lines in the source."""
    stack: list[_Item] = []
    for it in items:
        if it.punct in OPENERS:
            stack.append(it)
        elif it.punct in CLOSERS:
            opener = stack.pop()
            if it.punct == "}":
                it.multiline = opener.multiline = "\n" in text[opener.end:it.start]


def _lexed(text: str) -> list[tuple[bool, str]] | None:
    """(is a comment, text) of every token and comment of `text`, by the grammar's lexer alone
    (no parse: a cheap check of the output); None if it does not lex."""
    try:
        return [(t.type == "COMMENT", str(t).rstrip()) for t in _lark().lex(text, dont_ignore=True) if t.type != "WS"]
    except lark.exceptions.LarkError:
        return None


# ---- layout ----------------------------------------------------------------------------------


@dataclass
class _Line:
    indent: int
    code: str = ""
    comment: str = ""
    blank_before: bool = False


def _space(a: _Item, b: _Item) -> str:
    """The space between two tokens on one line."""
    if a.number and b.punct == ".":
        return " "  # `1 .x` is not `1.` followed by `x`
    if b.punct in (",", ";", ")", "]", ":", ".") or a.punct in ("(", "[", ".") or a.sign:
        return ""
    if "^" in (a.punct, b.punct) or (b.call or b.index):
        return ""
    if a.punct == "{":
        return "" if b.punct == "}" else " "
    if b.punct == "}":
        return " "
    if b.statement and a.punct != ";":
        return "  "
    return " "


@dataclass
class _Context:
    """An open bracket (or the file itself): where its lines go."""

    punct: str  # "{", "(", "[" ("{" for the file)
    outer: int  # the indentation of the line that opened it (its closer's line gets this)
    inner: int | None = None  # the indentation of its lines; for "(" and "[" with content after
    # them on their line, the column of that content (continuation lines line up with it)
    value: int | None = None  # in a block: the column of the current statement's value, after
    # its first `=`, `~` or `->` (lines continuing the statement line up with it)
    value_next: bool = False  # that `=` was just written: the next token's column is the value's


def _layout(items: list[_Item], text: str) -> str:
    """The items laid out on lines (the author's line breaks, normalised), rendered as text."""
    lines: list[_Line] = []
    stack = [_Context("{", 0, 0)]
    prev: _Item | None = None
    for it in items:
        breaks = _breaks(prev, it, text)
        ctx = stack[-1]
        if breaks:
            if ctx.inner is None:  # the first item after an opener starts a line: a hanging indent
                ctx.inner = ctx.outer + INDENT
            if it.statement and ctx.punct == "{":
                ctx.value = None
            lines.append(_Line(_indent(it, ctx), blank_before=breaks > 1 and prev is not None))
        line = lines[-1]
        space = _space(prev, it) if line.code and not it.comment else ""
        column = len(_head(line)) + len(space)  # where `it` goes, if it stays on this line
        if ctx.inner is None:  # the first item after an opener follows it on its line
            ctx.inner = ctx.outer + INDENT if it.comment else column
        if ctx.value_next:  # the first item after a statement's `=`: where its value starts
            ctx.value = None if breaks or it.comment else column
            ctx.value_next = False
        if it.statement and ctx.punct == "{" and not breaks:
            ctx.value = None
        if it.comment:  # on its own line or trailing: it ends the line
            line.comment = it.text
        else:
            line.code += space + it.text
            if it.punct in OPENERS:
                stack.append(_Context(it.punct, line.indent))
            elif it.punct in CLOSERS:
                stack.pop()
            elif it.punct in ("=", "~", "->") and ctx.punct == "{" and ctx.value is None:
                ctx.value_next = True
        prev = it
    return _render(lines)


def _breaks(prev: _Item | None, it: _Item, text: str) -> int:
    """How many line breaks go before `it`: the source's, at most 2 (one blank line), none at
    the start of a file or at the edges of a bracket; a block spanning lines has its `{` end a
    line and its `}` start one."""
    if prev is None:
        return 1
    breaks = text.count("\n", prev.end, it.start)
    if not it.comment and (prev.punct == "{" and prev.multiline or it.punct == "}" and it.multiline):
        breaks = max(breaks, 1)
    if prev.punct in OPENERS or it.punct in CLOSERS:
        breaks = min(breaks, 1)
    return min(breaks, 2)


def _head(line: _Line) -> str:
    return " " * line.indent + line.code


def _indent(it: _Item, ctx: _Context) -> int:
    """The indentation of a line that starts with `it` in the bracket `ctx`: a closer's is its
    opener's line's; in a block (or at the top level) a line that continues a statement lines up
    with the statement's value, or is indented further when the value started a line."""
    if it.punct in CLOSERS:
        return ctx.outer
    assert ctx.inner is not None
    if ctx.punct == "{" and not (it.comment or it.statement or it.punct in ("{", ";")):
        return ctx.value if ctx.value else ctx.inner + CONTINUATION
    return ctx.inner


def _render(lines: list[_Line]) -> str:
    """The lines as text, trailing comments of consecutive lines aligned."""
    out: list[str] = []
    n = len(lines)
    i = 0
    while i < n:
        j = i
        if lines[i].code and lines[i].comment:
            while j + 1 < n and lines[j + 1].code and lines[j + 1].comment and not lines[j + 1].blank_before:
                j += 1
            column = max(lines[k].indent + len(lines[k].code) for k in range(i, j + 1)) + COMMENT_GAP
        else:
            column = 0
        for k in range(i, j + 1):
            ln = lines[k]
            if ln.blank_before:
                out.append("")
            head = " " * ln.indent + ln.code
            if ln.code and ln.comment:
                out.append(head + " " * (column - len(head)) + ln.comment)
            else:
                out.append((head + ln.comment) if ln.comment else head)
        i = j + 1
    return "\n".join(out) + "\n"
