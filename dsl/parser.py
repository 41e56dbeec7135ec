"""Text -> typed AST. lark's LALR parser with positions; a Transformer builds the dataclasses of
`ast.py`; syntax errors are translated into the language's own words."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast as A
from . import tasklang as T
from . import files
from .errors import Diagnostic, ModelError, UsageError
from .schema import LOSS_TERMS

MAX_FILE_BYTES = 1_000_000  # a model file is a page of text; refuse anything far larger
MAX_DEPTH = 64  # levels of nesting (lists, calls, sub-expressions) in the syntax tree
ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}  # what may follow a backslash in a string
HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}  # and a character code of this many hex digits
MAX_TASK_INT = 2**31 - 1  # integers in a declared task's expressions are 32-bit
FLOAT32_MAX = 3.4028234e38
GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

# How the syntax-error messages name the grammar's terminals.
TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "SIGN": "a sign",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "COMPARE": "a comparison",
    "$END": "the end of the file",
}
@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    return lark.Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def read_source(path: str | os.PathLike) -> str:
    """Read a model file as UTF-8 text. A file that cannot be read (missing, a directory, a FIFO
    or device, too large) is a UsageError; text that is not UTF-8 or holds a NUL byte is a
    ModelError at the first bad byte."""
    try:
        data = files.read_regular(path, MAX_FILE_BYTES)
    except files.FileProblem as e:
        text = str(e)
        if text == "is a directory, not a regular file":
            text = "is a directory, not a .rnn file"
        raise UsageError(f"{path}: {text}") from None
    return decode_source(data, str(path))


def decode_source(data: bytes, filename: str) -> str:
    """Bytes as UTF-8 text; invalid UTF-8 or a NUL byte is an error at the first bad byte."""
    bad, what = None, ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad, what = e.start, f"not valid UTF-8 text (byte 0x{data[e.start]:02x})"
        text = data.decode("utf-8", "replace")
    nul = data.find(b"\x00")
    if nul >= 0 and (bad is None or nul < bad):
        bad, what = nul, "a NUL byte: this looks like a binary file, not a .rnn text file"
    if bad is None:
        return text
    line_start = data.rfind(b"\n", 0, bad) + 1
    line = data[:bad].count(b"\n") + 1
    col = len(data[line_start:bad].decode("utf-8", "replace")) + 1
    shown = text.replace("\x00", "\ufffd")
    raise ModelError([Diagnostic(what, A.Span(filename, line, col, line, col + 1),
                                 hint="save the model as UTF-8 text" if "UTF-8" in what else None)], shown)


def parse_file(path: str | os.PathLike) -> A.ModelFile:
    """Read and parse a file; raises UsageError (unreadable) or ModelError (syntax)."""
    return parse(read_source(path), str(path))


def parse(source: str, filename: str = "<string>") -> A.ModelFile:
    """Parse source text into a ModelFile; raises ModelError with a positioned message."""
    if not source.strip():
        span = A.Span(filename, 1, 1, 1, 1)
        raise ModelError([Diagnostic("the file is empty", span, hint="a model declares at least its nodes, e.g. `node net = ctrnn(hidden = 50, out = 2)`")], source)
    try:
        tree = _lark().parse(source)
    except UnexpectedInput as e:
        raise ModelError([_syntax_diagnostic(e, source, filename)], source) from None
    _check_depth(tree, source, filename)
    try:
        return _Builder(filename, source).transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, ModelError):
            raise e.orig_exc from None
        raise


def _check_depth(tree: lark.Tree, source: str, filename: str) -> None:
    """Refuse a tree nested deeper than MAX_DEPTH (walked without recursion), at the first
    subtree past the limit, so that nothing later recurses without bound."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            line, col = getattr(meta, "line", 1), getattr(meta, "column", 1)
            span = A.Span(filename, line, col, line, col + 1)
            raise ModelError([Diagnostic(f"nested too deeply: more than {MAX_DEPTH} levels of lists, calls or sub-expressions",
                                         span, hint="a value or expression nests at most "
                                         f"{MAX_DEPTH} levels; load large arrays with file(\"x.npy\")")], source)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, lark.Tree))


# ---- syntax errors ---------------------------------------------------------------------------


def _describe_terminal(name: str) -> str:
    if name in TERMINAL_WORDS:
        return TERMINAL_WORDS[name]
    term = next((t for t in _lark().terminals if t.name == name), None)
    if term is not None and isinstance(term.pattern, lark.lexer.PatternStr):
        return f"'{term.pattern.value}'"
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    text = str(tok)
    if tok.type == "NUMBER":
        return f"number {text}"
    if tok.type == "STRING":
        return f"string {text}"
    if tok.type == "NAME":
        return f"name `{text}`"
    return f"'{text}'"


# Terminals that can start a value; when a value may come, they are named as one: "a value".
VALUE_STARTS = {"NUMBER", "STRING", "SIGN", "LSQB", "TRUE", "FALSE", "NONE", "NAME"}


# Terminals that can start an expression of a declared task: named as one, "an expression".
EXPR_STARTS = {"NUMBER", "NAME", "LSQB", "LPAR", "ADD_OP", "IF", "NOT", "TRUE", "FALSE", "STRING"}
# Words that are keywords inside a task body (where a name could also stand).
TASK_KEYWORDS = {"FROM", "TO", "FOR", "IF", "THEN", "ELSE", "AND", "OR", "NOT", "SCALED", "EPOCHS", "GRID", "EACH"}
# Operators after an operand: named as one, "an operator".
OPERATORS = {"ADD_OP", "MUL_OP", "POW_OP", "COMPARE", "AND", "OR"}


def _expected_words(expected: set[str], name_word: str) -> list[str]:
    words = set()
    if {"NUMBER", "LPAR", "LSQB"} <= expected:  # a value never starts with a parenthesis
        expected = expected - EXPR_STARTS
        words.add("an expression")
    if {"MUL_OP", "COMPARE"} <= expected:
        expected = expected - OPERATORS
        words.add("an operator")
    if {"NUMBER", "STRING", "LSQB"} <= expected:
        expected = expected - VALUE_STARTS
        words.add("a value")
    for name in expected:
        if name == "NAME":
            words.add(name_word)
        elif name == "SIGN":
            words.add("a number")
        else:
            words.add(_describe_terminal(name))
    return sorted(words, key=lambda w: (not w.startswith("'"), w))


def _name_word(e: UnexpectedToken) -> str:
    """What a NAME would be at this point, read off the tokens just parsed."""
    values = e.interactive_parser.parser_state.value_stack
    if values and not isinstance(values[-1], Token):
        return "a name"  # a complete value or statement was just parsed: the next one starts
    types = [v.type for v in values[-3:] if isinstance(v, Token)]
    last = types[-1] if types else None
    if values and isinstance(values[-1], Token) and str(values[-1]) == "->":
        return "a port (`node.port`)"
    in_loss = any(isinstance(v, Token) and v.type == "LOSS" for v in values)
    if in_loss and last in ("EQUAL", "STAR"):
        return "a loss term such as `penalty(net.output)`"
    if last == "NODE":
        return "a node name"
    if types[-3:] == ["NODE", "NAME", "EQUAL"]:
        return "a node kind"
    if last == "SITE":
        return "a site name"
    if last == "AT":
        return "a port (`node.port`)"
    if last == "STAGE":
        return "a stage name"
    if last == "DOT":
        return "a port or field name"
    if last == "COLON":
        return "an intervention kind"
    if last in ("LPAR", "COMMA"):
        return "a value or `name = value`"
    if last in ("EQUAL", "LSQB"):
        return "a value"
    return "a name"


def _syntax_diagnostic(e: UnexpectedInput, source: str, filename: str) -> Diagnostic:
    line = getattr(e, "line", None) or 1
    col = getattr(e, "column", None) or 1
    if isinstance(e, UnexpectedCharacters):
        ch = source[e.pos_in_stream] if e.pos_in_stream < len(source) else ""
        span = A.Span(filename, line, col, line, col + 1)
        hint = None
        if ch == "'":
            hint = 'strings use double quotes: "like this"'
        elif ch == '"':
            hint = "this string is not closed: a string ends with '\"' on the same line"
        elif ch in "*/" :
            hint = "arithmetic is only allowed where a weight multiplies a loss term, and in declared tasks"
        shown = repr(ch)[1:-1] if ch.isprintable() else f"\\x{ord(ch):02x}" if ch else ""
        return Diagnostic(f"unexpected character '{shown}'", span, hint)
    if isinstance(e, UnexpectedEOF):
        lines = source.splitlines() or [""]
        last = len(lines)
        span = A.Span(filename, last, len(lines[-1]) + 1, last, len(lines[-1]) + 2)
        words = _expected_words(set(e.expected), "a name")
        return Diagnostic("unexpected end of file" + (f"; expected {_join(words)}" if words else ""), span,
                          hint="a block opened with '{' is missing its '}'" if "'}'" in words else None)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    if tok.type == "$END":
        lines = source.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        span = A.Span(filename, line, col, line, col + 1)
    else:
        span = A.Span(filename, tok.line, tok.column, tok.end_line or tok.line,
                      tok.end_column if tok.end_line == tok.line else tok.column + len(str(tok)))
    try:
        expected = set(e.interactive_parser.accepts()) - {"$END"} | ({"$END"} if "$END" in e.expected else set())
    except Exception:  # accepts() only sharpens the list; fall back to lark's own
        expected = set(e.expected)
    words = _expected_words(expected, _name_word(e))
    msg = f"unexpected {_describe_token(tok)}"
    if words:
        msg += f"; expected {_join(words)}"
    return Diagnostic(msg, span, _task_hint(e, tok) or _syntax_hint(tok, words))


def _task_hint(e: UnexpectedToken, tok: Token) -> str | None:
    """Hints for mistakes inside a declared task (or in front of one)."""
    values = e.interactive_parser.parser_state.value_stack
    last = values[-1] if values else None
    if isinstance(last, Token) and last.type == "TASK" and str(tok) == "(":
        return "a task declared in the file is written `node <name> = task { ... }` (see docs/tasks.md)"
    if isinstance(last, Token) and last.type == "UNTIL" and tok.type == "EQUAL":
        return "`until` is followed by a condition, e.g. `until accuracy >= 0.9` (or write `until_accuracy = 0.9`)"
    if isinstance(last, Token) and last.type == "NOISE":
        return "`noise` sets the task's input noise (`noise = 0.1`); a variable needs another name"
    if isinstance(last, Token) and last.type in ("EPOCH", "VALIDATION", "REQUIRE") and tok.type in ("EQUAL", "TILDE"):
        return f"`{last}` starts a statement in a task; a variable needs another name"
    if tok.type in TASK_KEYWORDS and str(tok).isidentifier():
        return f"`{tok}` is a keyword inside a task; a variable or channel needs another name"
    return None


def _syntax_hint(tok: Token, words: list[str]) -> str | None:
    text = str(tok)
    if tok.type == "$END" and "'}'" in words:
        return "a block opened with '{' is missing its '}'"
    if text == "->":
        return "an edge is written `node.port -> node.port`; is the previous edge missing its target?"
    if tok.type == "NAME" and text in ("model", "node", "site", "loss", "train", "task"):
        return f"`{text}` is a keyword; did a previous statement end early, or is a node named `{text}`?"
    if "'='" in words and tok.type == "NAME":
        return "settings and keyword arguments are written `name = value`"
    if "'->'" in words:
        return "an edge is written `node.port -> node.port`"
    if "')'" in words and "','" in words:
        return "separate arguments with ',' and close the call with ')'"
    if "']'" in words and "','" in words:
        return "separate list items with ',' and close the list with ']'"
    return None


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    if len(words) > 6:
        return ", ".join(words[:6]) + ", ..."
    return ", ".join(words[:-1]) + " or " + words[-1]


# ---- tree -> AST -----------------------------------------------------------------------------


def _dotted(e) -> tuple[str, ...] | None:
    """`a.b.c` written as an expression (names joined by `.`), as its parts; else None."""
    if isinstance(e, T.Name):
        return (e.name,)
    if isinstance(e, T.Attr):
        base = _dotted(e.base)
        return None if base is None else base + (e.name,)
    return None


def _builtin_term(e) -> tuple[float, T.Func | None]:
    """(weight, call) when a loss term is `[weight *] TERM(...)` of a built-in term, the weight
    a number (maybe signed); else (1, None): the term is an expression."""
    weight = 1.0
    if isinstance(e, T.Binary) and e.op == "*" and isinstance(e.right, T.Func) and e.right.name in LOSS_TERMS:
        w = e.left
        sign = 1.0
        if isinstance(w, T.Unary) and w.op in "+-":
            sign, w = (-1.0 if w.op == "-" else 1.0), w.operand
        if not isinstance(w, T.Num):
            return 1.0, None
        weight, e = sign * float(w.value), e.right
    if isinstance(e, T.Func) and e.name in LOSS_TERMS:
        return weight, e
    return 1.0, None


def _plain_value(e) -> A.Value | None:
    """An expression that is a plain value, as that value (None for a real expression): a number
    (maybe signed), `true`/`false`, a list of plain values, a bare name other than the built-in
    constants, or a call of something other than a task-language function (a distribution) with
    plain arguments."""
    if isinstance(e, T.Num):
        return A.Number(e.value, e.span)
    if isinstance(e, T.Unary) and e.op in "+-" and isinstance(e.operand, T.Num):
        return A.Number(-e.operand.value if e.op == "-" else e.operand.value, e.span)
    if isinstance(e, T.BoolLit):
        return A.Bool(e.value, e.span)
    if isinstance(e, T.Name) and e.name not in T.CONSTANTS:
        return A.NoneValue(e.span) if e.name == "none" else A.Ref((e.name,), e.span)
    if isinstance(e, T.Vector):
        items = [_plain_value(i) for i in e.items]
        return A.ListValue(tuple(items), e.span) if all(i is not None for i in items) else None  # type: ignore[arg-type]
    if isinstance(e, T.Func) and e.name not in T.FUNCTIONS:
        args = [_plain_value(a) for a in e.args]
        values = [_plain_value(k.value) for k in e.kwargs]
        if all(a is not None for a in args + values):
            kwargs = tuple(A.Keyword(k.name, v, k.span, k.name_span) for k, v in zip(e.kwargs, values))
            return A.Call(e.name, tuple(args), kwargs, e.span, e.name_span)  # type: ignore[arg-type]
    return None


def _tok_span(filename: str, tok: Token) -> A.Span:
    end_line = tok.end_line or tok.line
    end_col = tok.end_column or (tok.column + len(str(tok)))
    return A.Span(filename, tok.line, tok.column, end_line, end_col)


@v_args(meta=True)
class _Builder(Transformer):
    def __init__(self, filename: str, source: str) -> None:
        super().__init__()
        self.filename = filename
        self.source = source
        self._edges = 0

    def _span(self, meta) -> A.Span:
        return A.Span(self.filename, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> A.Span:
        return _tok_span(self.filename, tok)

    # values
    def signed_number(self, meta, children):
        sign = children[0] if len(children) == 2 else None
        tok = children[-1]
        text = str(tok)
        is_int = all(c.isdigit() for c in text)
        value = int(text) if is_int else float(text)
        if sign is not None and str(sign) == "-":
            value = -value
        return A.Number(value, self._span(meta))

    def string(self, meta, children):
        raw = str(children[0])[1:-1]
        return A.String(self._unescape(raw, meta) if "\\" in raw else raw, self._span(meta))

    def _unescape(self, raw: str, meta) -> str:
        r"""A string's escapes: `\\`, `\"`, `\n`, `\t`, and `\xHH`, `\uHHHH`, `\UHHHHHHHH` for a
        character by its code; anything else after a backslash is an error at the backslash."""
        out, i = [], 0
        while i < len(raw):
            ch = raw[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            if nxt in ESCAPES:
                out.append(ESCAPES[nxt])
                i += 2
                continue
            width = HEX_ESCAPES.get(nxt, 0)
            digits = raw[i + 2:i + 2 + width]
            code = int(digits, 16) if width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits) else -1
            if code < 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                col = meta.column + 1 + i
                shown = raw[i:i + 2 + width] if width else raw[i:i + 2]
                span = A.Span(self.filename, meta.line, col, meta.line, col + len(shown))
                shown = "".join(c if c.isprintable() else "?" for c in shown)
                what = (f"`{shown}` is not a character code: `\\{nxt}` takes exactly {width} hex digits of a valid character"
                        if width else f"unknown escape `{shown}` in a string")
                raise ModelError([Diagnostic(what, span, hint='a string may hold \\\\, \\", \\n, \\t, \\xHH, '
                                             '\\uHHHH and \\UHHHHHHHH; write a backslash itself as \\\\')], self.source)
            out.append(chr(code))
            i += 2 + width
        return "".join(out)

    def true(self, meta, children):
        return A.Bool(True, self._span(meta))

    def false(self, meta, children):
        return A.Bool(False, self._span(meta))

    def none(self, meta, children):
        return A.NoneValue(self._span(meta))

    def list(self, meta, children):
        return A.ListValue(tuple(c for c in children if c is not None), self._span(meta))

    def ref(self, meta, children):
        return A.Ref(tuple(str(c) for c in children), self._span(meta))

    def keyword(self, meta, children):
        name, value = children
        return A.Keyword(str(name), value, self._span(meta), self._tspan(name))

    def _split_args(self, args) -> tuple[tuple, tuple]:
        args = [a for a in args if a is not None]
        positional = tuple(a for a in args if not isinstance(a, A.Keyword))
        kwargs = tuple(a for a in args if isinstance(a, A.Keyword))
        return positional, kwargs

    def call(self, meta, children):
        name, *args = children
        positional, kwargs = self._split_args(args)
        return A.Call(str(name), positional, kwargs, self._span(meta), self._tspan(name))

    # statements
    def key(self, meta, children):
        return tuple(str(c) for c in children), self._span(meta)

    def setting(self, meta, children):
        (key, key_span), value = children
        return A.Setting(key, value, self._span(meta), key_span)

    def model_block(self, meta, children):
        name, *settings = children
        kw = A.Span(self.filename, meta.line, meta.column, meta.line, meta.column + len("model"))
        return A.ModelBlock(str(name) if name is not None else None, tuple(s for s in settings if isinstance(s, A.Setting)), self._span(meta), kw)

    def node_decl(self, meta, children):
        name, kind, *args = children
        positional, kwargs = self._split_args(args)
        return A.NodeDecl(str(name), str(kind), kwargs, self._span(meta), self._tspan(name), self._tspan(kind), positional)

    # declared tasks: expressions (see tasklang.py for the tree)
    def number(self, meta, children):
        text = str(children[0])
        value: int | float = int(text) if text.isdigit() else float(text)
        if abs(value) > MAX_TASK_INT:  # beyond 32-bit integers, a task computes with the float
            value = float(value) if len(text) < 400 else math.inf
        if not abs(value) <= FLOAT32_MAX:
            raise ModelError([Diagnostic(f"{text if len(text) <= 20 else text[:17] + '...'} is beyond the range of numbers a task "
                                         "computes with (32-bit floats, about 3.4e38)", self._span(meta))], self.source)
        return T.Num(value, self._span(meta))

    def name(self, meta, children):
        return T.Name(str(children[0]), self._span(meta))

    def expr_true(self, meta, children):
        return T.BoolLit(True, self._span(meta))

    def expr_false(self, meta, children):
        return T.BoolLit(False, self._span(meta))

    def func(self, meta, children):
        name, *args = children
        args = [a for a in args if a is not None]
        positional = tuple(a for a in args if not isinstance(a, T.KwArg))
        kwargs = tuple(a for a in args if isinstance(a, T.KwArg))
        if kwargs:
            late = next((a for a in args[args.index(kwargs[0]):] if not isinstance(a, T.KwArg)), None)
            if late is not None:
                raise ModelError([Diagnostic("an argument without a name follows a named one", late.span,
                                             hint=f"write the named arguments last: {name}(x, {kwargs[0].name} = ...)")],
                                 self.source)
        return T.Func(str(name), positional, self._span(meta), self._tspan(name), kwargs)

    def fkeyword(self, meta, children):
        name, value = children
        return T.KwArg(str(name), value, self._span(meta), self._tspan(name))

    def expr_string(self, meta, children):
        raw = str(children[0])[1:-1]
        return T.Str(self._unescape(raw, meta) if "\\" in raw else raw, self._span(meta))

    def vector(self, meta, children):
        return T.Vector(tuple(c for c in children if c is not None), self._span(meta))

    def index(self, meta, children):
        base, idx = children
        return T.Index(base, idx, self._span(meta))

    def unary(self, meta, children):
        op, operand = children
        return T.Unary(str(op), operand, self._span(meta))

    def binary(self, meta, children):
        left, op, right = children
        return T.Binary(str(op), left, right, self._span(meta))

    compare = binary

    def and_expr(self, meta, children):
        return T.Binary("and", children[0], children[1], self._span(meta))

    def or_expr(self, meta, children):
        return T.Binary("or", children[0], children[1], self._span(meta))

    def not_expr(self, meta, children):
        return T.Unary("not", children[0], self._span(meta))

    def if_expr(self, meta, children):
        cond, then, orelse = children
        return T.If(cond, then, orelse, self._span(meta))

    # declared tasks: statements
    def task_let(self, meta, children):
        name, value = children
        return T.Let(str(name), value, self._span(meta), self._tspan(name))

    def task_draw(self, meta, children):
        name, value = children
        return T.Draw(str(name), value, self._span(meta), self._tspan(name))

    def task_sized_draw(self, meta, children):
        name, size, value, each = children
        return T.StepDraw(str(name), value, size, each is not None, self._span(meta), self._tspan(name))

    def task_step_draw(self, meta, children):
        name, value, _ = children
        return T.StepDraw(str(name), value, None, True, self._span(meta), self._tspan(name))

    def each_step(self, meta, children):
        return True

    def task_hold(self, meta, children):
        word, name, size, rule, start = children
        if str(word) != "hold":
            raise ModelError([Diagnostic(f"unexpected name `{name}`; expected '=', '~' or '['", self._tspan(name),
                                         hint="a value kept from step to step is written `hold NAME = RULE, from START`; "
                                              "a variable is written `NAME = ...` or `NAME ~ distribution(...)`")], self.source)
        return T.Hold(str(name), size, rule, start, self._span(meta), self._tspan(name))

    def task_noise(self, meta, children):
        value, scaled = children
        return T.Noise(value, scaled is not None, self._span(meta))

    def from_to(self, meta, children):
        return T.EpochTiming(children[0], children[1], None, self._span(meta))

    def from_for(self, meta, children):
        return T.EpochTiming(children[0], None, children[1], self._span(meta))

    def from_start(self, meta, children):
        return T.EpochTiming(children[0], None, None, self._span(meta))

    def for_length(self, meta, children):
        return T.EpochTiming(None, None, children[0], self._span(meta))

    def to_end(self, meta, children):
        return T.EpochTiming(None, children[0], None, self._span(meta))

    def epoch_set(self, meta, children):
        first, second, idx, value = children
        if second is None:
            return T.Assign(str(first), idx, value, self._span(meta), self._tspan(first))
        return T.Assign(str(second), idx, value, self._span(meta), self._tspan(second), port=str(first))

    def attr(self, meta, children):
        base, name = children
        return T.Attr(base, str(name), self._span(meta))

    def task_set(self, meta, children):
        port, channel, value = children
        return T.PortSet(str(port), str(channel), value, self._span(meta), self._tspan(port), self._tspan(channel))

    def task_port(self, meta, children):
        kind, name, channels = children
        return T.PortDecl(str(kind), str(name), channels, self._span(meta), self._tspan(name))

    def metric(self, meta, children):
        name, value = children
        return T.Metric(str(name), value, self._span(meta), self._tspan(name))

    def require_cond(self, meta, children):
        return T.RequireCond(children[0], self._span(meta), self._text(children[0]))

    def _text(self, node) -> str:
        """The source text of an expression (from its span; one line or several)."""
        sp = node.span
        lines = self.source.splitlines()
        if sp.line == sp.end_line:
            return lines[sp.line - 1][sp.col - 1:sp.end_col - 1]
        return " ".join([lines[sp.line - 1][sp.col - 1:]] + lines[sp.line:sp.end_line - 1] + [lines[sp.end_line - 1][:sp.end_col - 1]])

    def task_param(self, meta, children):
        name, default = children
        rest = self.source.splitlines()[meta.end_line - 1][meta.end_column - 1:]
        doc = rest.split("#", 1)[1].strip() if "#" in rest else ""
        return T.TaskParam(str(name), default, self._span(meta), self._tspan(name), doc)

    def task_def(self, meta, children):
        word, name, *rest = children
        if str(word) != "task":
            raise ModelError([Diagnostic(f"unexpected name `{name}`; expected '.' or '->'", self._tspan(name),
                                         hint="a task is declared `task NAME(params) { ... }`; an edge is written "
                                              "`node.port -> node.port`")], self.source)
        body = rest[-1]
        params = tuple(p for p in rest[:-1] if isinstance(p, T.TaskParam))
        text = self.source[meta.start_pos:meta.end_pos] if getattr(meta, "start_pos", None) is not None else ""
        return T.TaskDef(str(name), params, body, self._span(meta), self._tspan(name), text, self._doc_above(meta.line))

    def _doc_above(self, line: int) -> str:
        """The comment lines just above line `line` (a declaration's description)."""
        lines = self.source.splitlines()
        out: list[str] = []
        i = line - 2
        while i >= 0 and lines[i].lstrip().startswith("#"):
            out.insert(0, lines[i].lstrip()[1:].strip())
            i -= 1
        return " ".join(out)

    def epoch(self, meta, children):
        name, timing, *items = children
        assigns = tuple(i for i in items if isinstance(i, T.Assign))
        return T.Epoch(str(name), timing, assigns, self._span(meta), self._tspan(name))

    def grid_item(self, meta, children):
        name, value = children
        return T.GridItem(str(name), value, self._span(meta), self._tspan(name))

    def validation(self, meta, children):
        return T.Validation(tuple(c for c in children if isinstance(c, T.GridItem)), self._span(meta))

    def require(self, meta, children):
        return T.Require(tuple((str(c), self._tspan(c)) for c in children), self._span(meta))

    def task_body(self, meta, children):
        text = self.source[meta.start_pos:meta.end_pos] if getattr(meta, "start_pos", None) is not None else ""
        return T.TaskBody(tuple(c for c in children if c is not None and not isinstance(c, Token)), self._span(meta), text)

    def task_decl(self, meta, children):
        name, body = children
        start = self._tspan(name)
        kind_span = A.Span(self.filename, start.line, start.end_col, start.line, start.end_col)
        return A.NodeDecl(str(name), "task", (), self._span(meta), start, kind_span, (), body)

    def port_ref(self, meta, children):
        node, port, field = children
        return A.PortRef(str(node), str(port), str(field) if field is not None else None, self._span(meta),
                         self._tspan(node), self._tspan(port), self._tspan(field) if field is not None else None)

    def edge(self, meta, children):
        src, dst = children
        self._edges += 1
        return A.Edge(src, dst, self._span(meta), self._edges - 1)

    def schedule_setting(self, meta, children):
        (key, key_span), expr = children
        return A.Setting(key, self._site_value(expr), self._span(meta), key_span)

    def _site_value(self, e) -> A.Value:
        """A schedule's value: a plain value (a number, `true`, a list, a distribution with
        constant arguments, a name) as the rest of the file writes it, so it is checked as before;
        anything else an `Expression` of the task language."""
        plain = _plain_value(e)
        return plain if plain is not None else A.Expression(e, e.span, self._text(e))

    def site_value(self, meta, children):
        name, expr = children
        return A.SiteValue(expr, self._span(meta), self._tspan(name), str(name))

    def schedule(self, meta, children):
        phase, *settings = children
        if str(phase) not in ("train", "validate"):
            raise ModelError([Diagnostic(f"unknown schedule `{phase}`; a site's schedules are `train` and `validate`",
                                         self._tspan(phase), hint="e.g. `train { active = bernoulli(0.5) }`")], self.source)
        return A.Schedule(str(phase), tuple(s for s in settings if isinstance(s, A.Setting)), self._span(meta))

    def site_body(self, meta, children):
        items = [c for c in children if isinstance(c, (A.Schedule, A.SiteValue))]
        values = [c for c in items if isinstance(c, A.SiteValue)]
        for v in values:
            if v.name != "value":
                raise ModelError([Diagnostic(f"unknown statement `{v.name} = ...` in a site; a site's body holds `train {{ ... }}`, "
                                             "`validate { ... }` and, for a custom intervention, `value = ...`", v.name_span,
                                             hint="e.g. `site visc at arm.force: custom() { value = -2 * arm.effector.vel }`")],
                                 self.source)
        if len(values) > 1:
            raise ModelError([Diagnostic("duplicate `value` in a site", values[1].name_span, hint="a custom intervention has one `value`",
                                         related=((values[0].name_span, "the first `value` is here"),))], self.source)
        return tuple(c for c in items if isinstance(c, A.Schedule)), (values[0] if values else None)

    def site_decl(self, meta, children):
        name, target, kind, *rest = children
        body = rest[-1] if rest and isinstance(rest[-1], tuple) else ((), None)
        args = rest[:-1] if rest and (isinstance(rest[-1], tuple) or rest[-1] is None) else rest
        positional, kwargs = self._split_args(args)
        return A.SiteDecl(str(name), target, str(kind), kwargs, body[0], self._span(meta),
                          self._tspan(name), self._tspan(kind), positional, body[1])

    def loss_term(self, meta, children):
        """`name = [weight *] TERM(args)` of a built-in term becomes its call (the arguments as
        values, as before terms were expressions); any other expression is kept as one."""
        name, expr = children
        weight, call = _builtin_term(expr)
        if call is None:
            return A.LossTerm(str(name), 1.0, None, self._span(meta), self._tspan(name), expr)
        return A.LossTerm(str(name), weight, self._as_call(call), self._span(meta), self._tspan(name))

    def _as_call(self, f: T.Func) -> A.Call:
        kwargs = tuple(A.Keyword(k.name, self._as_value(k.value, f), k.span, k.name_span) for k in f.kwargs)
        return A.Call(f.name, tuple(self._as_value(a, f) for a in f.args), kwargs, f.span, f.name_span)

    def _as_value(self, e, f: T.Func) -> A.Value:
        """An argument of a built-in term as the value it was before terms were expressions."""
        if isinstance(e, T.Num):
            return A.Number(e.value, e.span)
        if isinstance(e, T.Unary) and e.op in "+-" and isinstance(e.operand, T.Num):
            return A.Number(-e.operand.value if e.op == "-" else e.operand.value, e.span)
        if isinstance(e, T.Str):
            return A.String(e.value, e.span)
        if isinstance(e, T.BoolLit):
            return A.Bool(e.value, e.span)
        if isinstance(e, T.Name):
            return A.NoneValue(e.span) if e.name == "none" else A.Ref((e.name,), e.span)
        parts = _dotted(e)
        if parts is not None:
            return A.Ref(parts, e.span)
        if isinstance(e, T.Vector):
            return A.ListValue(tuple(self._as_value(i, f) for i in e.items), e.span)
        if isinstance(e, T.Func) and not e.kwargs:
            return A.Call(e.name, tuple(self._as_value(a, f) for a in e.args), (), e.span, e.name_span)
        raise ModelError([Diagnostic(f"the arguments of `{f.name}` are signals and values, not computations", e.span,
                                     hint=f"`{f.name}(...)` is a built-in term; to compute with signals write the term as "
                                          "an expression, e.g. `mean((net.output - task.target)^2)` (docs/losses.md)")],
                         self.source)

    def loss_block(self, meta, children):
        kw = A.Span(self.filename, meta.line, meta.column, meta.line, meta.column + len("loss"))
        return A.LossBlock(tuple(c for c in children if isinstance(c, A.LossTerm)), self._span(meta), kw)

    def until(self, meta, children):
        return A.Until(children[0], self._span(meta), self._text(children[0]))

    def stage(self, meta, children):
        name, *settings = children
        return A.Stage(str(name), tuple(s for s in settings if isinstance(s, A.Setting)), self._span(meta), self._tspan(name),
                       tuple(s for s in settings if isinstance(s, A.Until)))

    def train_block(self, meta, children):
        kw = A.Span(self.filename, meta.line, meta.column, meta.line, meta.column + len("train"))
        return A.TrainBlock(tuple(c for c in children if isinstance(c, A.Setting)),
                            tuple(c for c in children if isinstance(c, A.Stage)), self._span(meta), kw,
                            tuple(c for c in children if isinstance(c, A.Until)))

    def sweep_range(self, meta, children):
        lo, hi = children
        return A.Call("range", (lo, hi), (), self._span(meta), self._span(meta))

    def sweep_axis(self, meta, children):
        (key, key_span), values = children
        return A.Setting(key, values, self._span(meta), key_span)

    def sweep_block(self, meta, children):
        name, *axes = children
        if str(name) != "sweep":
            raise ModelError([Diagnostic(f"unknown block `{name}`", self._tspan(name),
                                         hint="blocks are model, train, loss and sweep")], self.source)
        return A.SweepBlock(tuple(a for a in axes if isinstance(a, A.Setting)), self._span(meta), self._tspan(name))

    def start(self, meta, children):
        mf = A.ModelFile(self.filename, self.source)
        for item in children:
            if isinstance(item, A.ModelBlock):
                mf.models.append(item)
            elif isinstance(item, A.NodeDecl):
                mf.nodes.append(item)
            elif isinstance(item, A.Edge):
                mf.edges.append(item)
            elif isinstance(item, A.SiteDecl):
                mf.sites.append(item)
            elif isinstance(item, A.LossBlock):
                mf.losses.append(item)
            elif isinstance(item, A.TrainBlock):
                mf.trains.append(item)
            elif isinstance(item, T.TaskDef):
                mf.tasks.append(item)
            elif isinstance(item, A.SweepBlock):
                mf.sweeps.append(item)
        return mf
