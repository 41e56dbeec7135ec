"""The VS Code extension's TextMate grammar (editors/vscode/syntaxes/rnn.tmLanguage.json), tested
without node: a small TextMate tokenizer (match, begin/end, captures, includes; the regular
expressions are written in the subset that Oniguruma and Python's `re` read alike) runs the
grammar over every .rnn of the repository, and each token the language's own parser sees gets
the scope its place in the grammar calls for: keywords, node kinds, ports, parameters, functions,
numbers, strings, comments, operators and punctuation; no token is left unscoped."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lark import Token, Tree

from rnnlang.dsl.fmt import _lark

from .conftest import ROOT, repository_models

GRAMMAR_PATH = ROOT / "editors" / "vscode" / "syntaxes" / "rnn.tmLanguage.json"
GRAMMAR = json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))
MODEL_FILES = [p for p in repository_models() if "bad" not in p.relative_to(ROOT).parts]
ROOT_SCOPE = GRAMMAR["scopeName"]


# ---- a TextMate tokenizer -------------------------------------------------------------------------


@dataclass
class Rule:
    name: str | None = None
    match: re.Pattern | None = None
    begin: re.Pattern | None = None
    end: re.Pattern | None = None
    captures: dict[int, str] = field(default_factory=dict)
    begin_captures: dict[int, str] = field(default_factory=dict)
    end_captures: dict[int, str] = field(default_factory=dict)
    patterns: list[dict] = field(default_factory=list)


def _captures(d: dict | None) -> dict[int, str]:
    return {int(k): v["name"] for k, v in (d or {}).items() if "name" in v}


def _rules(patterns: list[dict], seen: tuple[str, ...] = ()) -> list[Rule]:
    """The rules of a pattern list, includes expanded (in order)."""
    out: list[Rule] = []
    for p in patterns:
        if "include" in p:
            ref = p["include"]
            if ref == "$self":
                target = {"patterns": GRAMMAR["patterns"]}
            else:
                assert ref.startswith("#"), ref
                target = GRAMMAR["repository"][ref[1:]]
            if ref in seen:
                continue
            out += _rules(target["patterns"], seen + (ref,)) if "patterns" in target and "match" not in target \
                and "begin" not in target else _rules([target], seen + (ref,))
        elif "match" in p:
            out.append(Rule(p.get("name"), re.compile(p["match"]), captures=_captures(p.get("captures"))))
        elif "begin" in p:
            both = _captures(p.get("captures"))
            out.append(Rule(p.get("name"), begin=re.compile(p["begin"]), end=re.compile(p["end"]),
                            begin_captures=_captures(p.get("beginCaptures")) or both,
                            end_captures=_captures(p.get("endCaptures")) or both, patterns=p.get("patterns", [])))
        else:
            out += _rules(p.get("patterns", []), seen)
    return out


@dataclass
class Frame:
    """An open begin/end region (or the file): its end, its rules, its scopes."""

    end: re.Pattern | None
    rules: list[Rule]
    scopes: tuple[str, ...]
    end_captures: dict[int, str] = field(default_factory=dict)


def tokenize(text: str) -> list[list[tuple[str, ...]]]:
    """The scopes of every character, line by line. At each position the earliest match wins;
    on a tie the region's end, then the first rule in order, as in TextMate."""
    stack = [Frame(None, _rules(GRAMMAR["patterns"]), (ROOT_SCOPE,))]
    out = []
    for line in text.split("\n"):
        scopes: list[tuple[str, ...]] = [stack[-1].scopes] * len(line)
        pos = 0
        while pos <= len(line):
            frame = stack[-1]
            best: tuple[int, Rule | None, re.Match] | None = None
            if frame.end is not None and (m := frame.end.search(line, pos)):
                best = (m.start(), None, m)
            for r in frame.rules:
                m = (r.match or r.begin).search(line, pos)
                if m and (best is None or m.start() < best[0]):
                    best = (m.start(), r, m)
            if best is None:
                scopes[pos:] = [frame.scopes] * (len(line) - pos)
                break
            start, rule, m = best
            scopes[pos:start] = [frame.scopes] * (start - pos)
            if rule is None:  # the region ends
                _paint(scopes, m, frame.scopes, frame.end_captures)
                stack.pop()
            else:
                here = frame.scopes + ((rule.name,) if rule.name else ())
                _paint(scopes, m, here, rule.captures if rule.match is not None else rule.begin_captures)
                if rule.begin is not None:
                    stack.append(Frame(rule.end, _rules(rule.patterns), here, rule.end_captures))
            if m.end() > pos:
                pos = m.end()
            elif rule is not None and rule.begin is None:
                pos += 1  # an empty match that opens nothing: move on
            elif m.end() >= len(line):
                break
        out.append(scopes)
    return out


def _paint(scopes: list, m: re.Match, whole: tuple[str, ...], caps: dict[int, str]) -> None:
    """Scope a match: all of it `whole`, each captured group its capture's scope on top."""
    for i in range(m.start(), m.end()):
        scopes[i] = whole
    for g, name in sorted(caps.items()):
        if m.start(g) >= 0:
            for i in range(m.start(g), m.end(g)):
                scopes[i] = scopes[i] + (name,)


# ---- what each token of the language should be --------------------------------------------------


KEYWORD_NAMES = {("task_def", 0), ("task_hold", 0), ("schedule", 0)}  # names the grammar reads as words
EXPECTED_NAMES = {
    ("node_decl", 1): "entity.name.variable.node", ("task_decl", 1): "entity.name.variable.node",
    ("node_decl", 3): "entity.name.type.node-kind",
    ("site_decl", 1): "entity.name.variable.site", ("site_decl", 5): "entity.name.type.intervention",
    ("port_ref", 0): "variable.other.object", ("port_ref", 2): "variable.other.property",
    ("port_ref", 4): "variable.other.property", ("attr", 2): "variable.other.property",
    ("func", 0): "entity.name.function", ("call", 0): "entity.name.function",
    ("keyword", 0): "variable.parameter", ("fkeyword", 0): "variable.parameter", ("task_param", 0): "variable.parameter",
    ("stage", 1): "entity.name.section", ("epoch", 1): "entity.name.section",
    ("metric", 1): "entity.name.variable.metric", ("task_port", 1): "entity.name.variable.port",
    ("task_def", 1): "entity.name.type.task", ("model_block", 1): "entity.name.type.model",
}
OPERATORS = {"ADD_OP": "keyword.operator.arithmetic", "MUL_OP": "keyword.operator.arithmetic",
             "POW_OP": "keyword.operator.arithmetic", "SIGN": "keyword.operator.arithmetic",
             "COMPARE": "keyword.operator.comparison"}


def expected_scope(tok: Token, rule: str, index: int) -> tuple[str, ...]:
    """The scope prefixes one of which the token must carry."""
    if tok.type == "COMMENT":
        return ("comment.line",)
    if tok.type == "STRING":
        return ("string.quoted.double",)
    if tok.type == "NUMBER":
        return ("constant.numeric",)
    if tok.type in OPERATORS:
        return (OPERATORS[tok.type],)
    text = str(tok)
    if tok.type == "NAME":
        if (rule, index) in KEYWORD_NAMES:
            return ("keyword",)
        return (EXPECTED_NAMES.get((rule, index), "variable."), "entity.name") if (rule, index) not in EXPECTED_NAMES \
            else (EXPECTED_NAMES[(rule, index)],)
    if text in ("true", "false", "none"):
        return ("constant.language",)
    if text.isalpha():
        return ("keyword", "storage.type")
    return {"->": ("keyword.operator.arrow",), "=": ("keyword.operator.assignment",), "~": ("keyword.operator",)}.get(
        text, ("punctuation",))


def tokens(text: str) -> list[tuple[Token, str, int]]:
    """Every token (with its grammar rule and place in it) and every comment of a file."""
    out: list[tuple[Token, str, int]] = []
    stack: list[Tree | Token] = [_lark().parse(text)]
    parents: dict[int, tuple[str, int]] = {}
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            for i, c in enumerate(node.children):
                parents[id(c)] = (node.data, i)
            stack.extend(reversed(node.children))
        else:
            out.append((node, *parents.get(id(node), ("", 0))))
    out += [(t, "", 0) for t in _lark().lex(text, dont_ignore=True) if t.type == "COMMENT"]
    return out


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_grammar_is_valid_for_both_regex_engines():
    """Every pattern compiles in Python and avoids what Oniguruma and `re` read differently."""
    assert GRAMMAR["scopeName"] == "source.rnn" and GRAMMAR["fileTypes"] == ["rnn"]
    text = GRAMMAR_PATH.read_text(encoding="utf-8")
    for construct in ("(?<name>", "\\h", "\\G", "\\A", "\\z", "(?>", "*+", "++", "?+", "\\p{", "(?i)"):
        assert construct not in text, construct
    assert _rules(GRAMMAR["patterns"])  # everything compiles


@pytest.mark.parametrize("path", MODEL_FILES, ids=_rel)
def test_every_token_of_a_model_file_is_scoped(path: Path):
    text = path.read_text(encoding="utf-8")
    scopes = tokenize(text)
    problems = []
    for tok, rule, index in tokens(text):
        got = scopes[tok.line - 1][tok.column - 1]
        want = expected_scope(tok, rule, index)
        if not any(s.startswith(w) for s in got[1:] for w in want):
            problems.append(f"{tok.line}:{tok.column} {str(tok)!r} ({rule}): got {got[1:]}, want {' or '.join(want)}")
    assert not problems, "\n".join(problems[:20])


def test_scopes_of_one_line():
    line = 'node net = ctrnn(hidden = 50, transfer = "relu")  # the network'
    s = tokenize(line)[0]
    at = lambda word: s[line.index(word)]  # noqa: E731
    assert at("node")[-1] == "keyword.other.node.rnn"
    assert at("net")[-1] == "entity.name.variable.node.rnn"
    assert at("ctrnn")[-1] == "entity.name.type.node-kind.rnn"
    assert at("hidden")[-1] == "variable.parameter.rnn"
    assert at("50")[-1] == "constant.numeric.rnn"
    assert at('"relu"')[-2:] == ("string.quoted.double.rnn", "punctuation.definition.string.begin.rnn")
    assert at("relu")[-1] == "string.quoted.double.rnn"
    assert at("# the")[-1] == "punctuation.definition.comment.rnn" and at("the network")[-1] == "comment.line.number-sign.rnn"
    edge = tokenize("arm.effector.pos -> net.input  // fed back")[0]
    assert [edge[i][-1] for i in (0, 4, 13, 17, 21, 25, 34)] == [
        "variable.other.object.rnn", "variable.other.property.rnn", "variable.other.property.rnn",
        "keyword.operator.arrow.rnn", "variable.other.object.rnn", "variable.other.property.rnn",
        "comment.line.double-slash.rnn"]


def test_a_call_spanning_lines_keeps_its_parameters():
    s = tokenize("task reach(\n  length = 0.5,  # cm\n  n = 8,\n) { signal go }")
    assert s[0][0][-1] == "keyword.other.task.rnn" and s[0][5][-1] == "entity.name.type.task.rnn"
    assert s[1][2][-1] == "variable.parameter.rnn" and s[2][2][-1] == "variable.parameter.rnn"
    assert s[1][19][-1] == "comment.line.number-sign.rnn"
    assert s[3][0][-1] == "punctuation.section.parens.end.rnn"
    assert s[3][4][-1] == "storage.type.port.rnn" and s[3][11][-1] == "entity.name.variable.port.rnn"
