"""Completion: what may be written where the cursor is. It reads the text itself (a file being
typed rarely parses): the brackets open at the cursor say which block or call it is in, the
words before it what comes next; the last parsed and checked versions (`dsl.assist.Context`)
give the ports of nodes whose kind depends on their parameters. Proposals come from the one
registry docs/reference.md is generated from. Plain front end: no JAX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import schema
from . import tasklang as TL
from .assist import (Context, call_doc, code_only, default_text, kind_of_node, node_kinds, task_def_doc, task_defs,
                     tokens, TOKEN)
from .library import REGISTRY
from .reference import describe_param, describe_port, kind_section
from .vocab import TRANSFER_NAMES, NodeKind, Param, Port

NODE_FAMILIES = ("network", "mechanics", "channel", "task")
TOP_KEYWORDS = ("model", "node", "site", "loss", "train", "task")
TASK_KEYWORDS = ("inputs", "outputs", "accuracy", "noise", "epoch", "validation", "require", "signal", "init",
                 "input", "metric", "hold")


@dataclass(frozen=True)
class Completion:
    """One proposal: `label` as listed, `insert` the text put in (default the label), `kind` one of
    kind, parameter, setting, port, field, site, node, distribution, function, keyword, value."""

    label: str
    kind: str
    detail: str = ""
    doc: str = ""
    insert: str | None = None


def _in_comment_or_string(text: str, offset: int) -> bool:
    """Whether the cursor is in a comment or a string (nothing to propose there)."""
    for m in TOKEN.finditer(text, text.rfind("\n", 0, offset) + 1):
        if m.start() >= offset:
            return False
        if m.lastgroup == "comment" and m.end() >= offset:
            return True
        if m.lastgroup == "string" and (m.end() > offset or (m.end() == offset and (len(m.group()) == 1 or not m.group().endswith('"')))):
            return True
    return False


def _blocks(toks: list[tuple[str, str, int, int]]) -> list[tuple[str, int]]:
    """The brackets open at the end of `toks`: (bracket, index of the token that opened it)."""
    stack: list[tuple[str, int]] = []
    pairs = {"}": "{", ")": "(", "]": "["}
    for i, (_, t, _, _) in enumerate(toks):
        if t in "{([":
            stack.append((t, i))
        elif t in pairs and stack and stack[-1][0] == pairs[t]:
            stack.pop()
    return stack


_STARTERS = ("model", "node", "site", "loss", "train", "stage", "epoch", "validation") + schema.PHASES


def _header(toks: list, brace: int) -> list[str]:
    """The words of the statement a `{` belongs to (`site s at a.b : k ( ... )`), back to the
    word that starts it (or the previous `{`, `}` or `;`)."""
    words: list[str] = []
    depth = 0
    i = brace - 1
    while i >= 0:
        t = toks[i][1]
        if t == ")":
            depth += 1
        elif t == "(":
            depth -= 1
        elif depth == 0 and t in ("{", "}", ";"):
            break
        words.insert(0, t)
        if depth == 0 and toks[i][0] == "name" and (t in _STARTERS or (t == "task" and (i == 0 or toks[i - 1][1] != "="))):
            break
        i -= 1
    return words


def _block_kind(toks: list, stack: list[tuple[str, int]]) -> tuple[str, list[str]]:
    """What the innermost `{` block is: model, train, stage, loss, site, schedule, task, epoch,
    validation or other; and its header words."""
    braces = [i for b, i in stack if b == "{"]
    if not braces:
        return "top", []
    head = _header(toks, braces[-1])
    outer = _header(toks, braces[-2]) if len(braces) > 1 else []
    first = head[0] if head else ""
    if len(braces) == 1:
        if first == "model":
            return "model", head
        if first == "train":
            return "train", head
        if first == "loss":
            return "loss", head
        if first == "site":
            return "site", head
        if first == "node" or (len(head) >= 2 and first == "task"):
            return "task", head
        return "other", head
    if outer and outer[0] == "train" and first == "stage":
        return "stage", head
    if outer and outer[0] == "site" and first in schema.PHASES:
        return "schedule", outer
    if first == "epoch":
        return "epoch", head
    if first == "validation":
        return "validation", head
    if outer and (outer[0] == "node" or outer[0] == "task"):
        return "task", head
    return "other", head


def _params(params: tuple[Param, ...], what: str, only_per_trial: bool = False) -> list[Completion]:
    return [Completion(p.name, "parameter", f"{what}: {p.type}" + ("" if p.required else f" = {_plain_default(p)}"),
                       describe_param(p), f"{p.name} = ") for p in params if p.per_trial or not only_per_trial]


def _plain_default(p: Param) -> str:
    d = p.default
    if isinstance(d, dict) and "name" in d:
        args = [str(a) for a in d.get("args", [])] + [f"{k} = {v}" for k, v in d.get("kwargs", {}).items()]
        return f"{d['name']}({', '.join(args)})"
    if isinstance(d, bool):
        return str(d).lower()
    if isinstance(d, str):
        return f'"{d}"'
    return "none" if d is None else str(d)


def _settings(params: tuple[Param, ...], what: str) -> list[Completion]:
    return [Completion(p.name, "setting", f"{what}: {p.type}" + ("" if p.required else f" = {_plain_default(p)}"),
                       describe_param(p), f"{p.name} = ") for p in params]


def _distributions() -> list[Completion]:
    return [Completion(n, "distribution", "distribution", d, f"{n}(") for n, (_, _, d) in schema.DISTRIBUTIONS.items()]


def _functions() -> list[Completion]:
    out = []
    for table in (TL.FUNCTIONS, TL.CROSSINGS):
        out += [Completion(n, "function", "function", d, f"{n}(") for n, (_, _, d) in table.items()]
    return out


def _kinds(families: tuple[str, ...], ctx: Context) -> list[Completion]:
    out = [Completion(k.name, "kind", k.family, "\n".join(kind_section(k)), f"{k.name}(")
           for k in sorted(REGISTRY.values(), key=lambda k: k.name) if k.family in families and k.name != "task"]
    if "task" in families:
        out += [Completion(name, "kind", "task declared in this file", task_def_doc(t), f"{name}(")
                for name, t in task_defs(ctx).items()]
        out.append(Completion("task", "keyword", "a task declared here", "`node NAME = task { ... }`", "task {"))
    return out


def _ports(ctx: Context, node: str, in_site: bool) -> list[Completion]:
    kind = kind_of_node(ctx, node)
    if kind is None:
        return []
    out = [Completion(p.name, "port", f"{p.direction}put port of `{kind.name}`", describe_port(p)) for p in kind.ports]
    if in_site:
        out += [Completion(s.name, "site", f"internal site of `{kind.name}`", s.doc or ", ".join(s.tags)) for s in kind.sites]
    return out


def _fields(ctx: Context, node: str, port: str) -> list[Completion]:
    kind = kind_of_node(ctx, node)
    p: Port | None = kind.port(port) if kind is not None else None
    if p is None:
        return []
    return [Completion(f, "field", f"components {a} to {b - 1} of `{port}`", describe_port(p)) for f, (a, b) in p.fields.items()]


def _call_params(ctx: Context, name: str) -> list[Completion]:
    if name in REGISTRY:
        return _params(REGISTRY[name].params, name)
    if name in schema.LOSS_TERMS:
        return _params(schema.LOSS_TERMS[name].params, name)
    defs = task_defs(ctx)
    if name in defs:
        return [Completion(p.name, "parameter", f"{name}: default {default_text(p)}", p.doc, f"{p.name} = ") for p in defs[name].params]
    return []


def _value_choices(ctx: Context, call: str | None, key: str | None, in_site: bool) -> list[Completion]:
    """What may follow `key =` (inside `call(...)` when given)."""
    p = None
    if call in REGISTRY and key:
        p = REGISTRY[call].param(key)
    elif call in schema.LOSS_TERMS and key:
        p = schema.LOSS_TERMS[call].param(key)
    out: list[Completion] = []
    if p is not None and p.choices:
        out += [Completion(f'"{c}"' if p.type == "str" else c, "value", f"{p.name} of `{call}`") for c in p.choices]
    if p is not None and "transfer" in p.name and not p.choices:
        out += [Completion(f'"{t}"', "value", "transfer function") for t in TRANSFER_NAMES]
    if (p is not None and p.per_trial) or (p is None and in_site):
        out += _distributions()
    return out


def complete(ctx: Context, offset: int) -> list[Completion]:
    """Proposals for the cursor at `offset` (characters into ctx.text)."""
    text = ctx.text
    if _in_comment_or_string(text, offset):
        return []
    prefix = re.search(r"[A-Za-z_]\w*\Z", text[:offset])
    start = prefix.start() if prefix else offset
    toks = tokens(text[:start])
    words = [t for _, t, _, _ in toks]
    nodes = node_kinds(ctx)
    stack = _blocks(toks)
    block, head = _block_kind(toks, stack)
    in_site = block in ("site", "schedule") or (not stack and "site" in words[-6:] and "at" in words[-4:])
    # in a stage, `task.` or `SITE.` starts an override of one of its parameters
    if block == "stage" and len(words) >= 2 and words[-1] == "." and (len(words) < 3 or words[-3] != "."):
        return _override_params(ctx, words[-2])
    # after `node.` or `node.port.`
    if words and words[-1] == ".":
        if len(words) >= 4 and words[-3] == "." and words[-4] in nodes:
            return _fields(ctx, words[-4], words[-2])
        if len(words) >= 2 and words[-2] in nodes and not (len(words) >= 3 and words[-3] == "."):
            return _ports(ctx, words[-2], in_site=bool(words[-3:-2] == ["at"]))
        return []
    if stack and stack[-1][0] in "([":  # inside a call's parentheses
        opener = stack[-1][1]
        call = words[opener - 1] if stack[-1][0] == "(" and opener > 0 and toks[opener - 1][0] == "name" else None
        if words[-1] in ("(", ","):
            return _call_params(ctx, call) if call else []
        if words[-1] == "=" and len(words) >= 2:
            return _value_choices(ctx, call, words[-2], in_site)
        return []
    if block == "top":
        if len(words) >= 3 and words[-3] == "node" and words[-1] == "=":
            return _kinds(NODE_FAMILIES, ctx)
        if words and words[-1] == ":" and "site" in words[-7:]:
            return _kinds(("intervention",), ctx)
        if words and words[-1] in ("->", "at"):
            return [Completion(n, "node", f"node: {k}") for n, k in nodes.items()]
        if _statement_start(text, toks, start):
            return ([Completion(w, "keyword", "declaration") for w in TOP_KEYWORDS]
                    + [Completion(n, "node", f"node: {k}") for n, k in nodes.items()])
        return []
    at_start = _statement_start(text, toks, start)
    if block == "model":
        return _settings(schema.MODEL_SETTINGS, "model") if at_start else []
    if block == "train":
        if at_start:
            return _settings(schema.TRAIN_SETTINGS, "train") + [Completion(w, "keyword", "train block") for w in ("stage", "until")]
        if words[-1] == "=" and words[-2] == "clip":
            return [Completion(c, "function", "gradient clipping", insert=f"{c}(") for c in schema.CLIP_KINDS]
        if words[-1] == "=" and words[-2] == "replicate_trials":
            return [Completion(f'"{c}"', "value", "replicate_trials") for c in ("own", "shared")]
        return []
    if block == "stage":
        if at_start:
            return (_settings(schema.STAGE_SETTINGS, "stage") + [Completion("until", "keyword", "stage")]
                    + [Completion(n, "node", f"override a parameter of `{n}`") for n, k in nodes.items()
                       if REGISTRY.get(k, None) is None or REGISTRY[k].family == "task"])
        return []
    if block == "site":
        return [Completion(p, "keyword", "per-trial values in this phase", insert=f"{p} {{ ") for p in schema.PHASES] if at_start else []
    if block == "schedule":
        kind = _site_kind(head)
        if at_start:
            return _params(kind.params, kind.name, only_per_trial=True) if kind is not None else []
        if words[-1] == "=":
            return _value_choices(ctx, kind.name if kind else None, words[-2], True)
        return []
    if block == "loss":
        if words[-1] in ("=", "*", "+", "-", "/"):
            return ([Completion(n, "function", "loss term", call_doc(n) or "", f"{n}(") for n in schema.LOSS_TERMS]
                    + _functions() + [Completion(n, "node", f"node: {k}") for n, k in nodes.items()])
        return []
    if block in ("task", "epoch", "validation"):
        if block == "task" and at_start:
            return [Completion(w, "keyword", "task body") for w in TASK_KEYWORDS]
        if words[-1] == "~":
            return _distributions()
        if words[-1] in ("=", "*", "+", "-", "/", "(", ",", "if", "then", "else"):
            return _functions()
    return []


def _override_params(ctx: Context, name: str) -> list[Completion]:
    """What a stage may override of a node (its task's parameters) or of a site (its per-trial ones)."""
    sites = {m.group(1): m.group(2) for m in re.finditer(r"\bsite\s+([A-Za-z_]\w*)\s+at\s+[\w.\s]+?:\s*([A-Za-z_]\w*)", code_only(ctx.text))}
    if name in sites and sites[name] in REGISTRY:
        return _params(REGISTRY[sites[name]].params, sites[name], only_per_trial=True)
    defs = task_defs(ctx)
    kind_name = node_kinds(ctx).get(name, "")
    if kind_name in defs:
        return _call_params(ctx, kind_name)
    kind = kind_of_node(ctx, name)
    return _params(kind.params, kind.name) if kind is not None and kind.family == "task" else []


def _site_kind(head: list[str]) -> NodeKind | None:
    """The intervention of a site header `site NAME at a.b : KIND ( ... )`."""
    if ":" in head:
        i = head.index(":")
        if i + 1 < len(head):
            return REGISTRY.get(head[i + 1])
    return None


def _statement_start(text: str, toks: list, start: int) -> bool:
    """Whether the cursor begins a statement: after `{`, `}` or `;`, or on a new line after a
    complete value."""
    if not toks:
        return True
    kind, t, _, end = toks[-1]
    if t in ("{", "}", ";"):
        return True
    return "\n" in text[end:start] and t not in ("=", "~", "->", ",", "(", "[", ".", ":", "+", "-", "*", "/", "^",
                                                  "and", "or", "not", "if", "then", "else", "at", "node", "site")


__all__ = ["Completion", "complete"]
