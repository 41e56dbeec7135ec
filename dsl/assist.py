"""What an editor asks the front end besides diagnostics: the documentation of the word under
the cursor (hover) and what may be written where the cursor is (completion).

Both read the one registry that docs/reference.md is generated from (`dsl.library.REGISTRY`,
`dsl.schema`, the task language's tables, `dsl.reference`), so an editor says exactly what the
checker accepts. Hover works on the last file that parsed; completion reads the text itself
(a file being typed rarely parses), helped by the last parsed and checked versions.
Plain front end: no JAX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import ast as A
from . import schema
from . import tasklang as TL
from .library import REGISTRY
from .model import CheckedModel
from .reference import describe_param, describe_port, kind_section
from .symbols import Occurrence, SymbolIndex, build_index, contains, element_path, part_spans
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


@dataclass
class Context:
    """What the editor knows of a file: its text, the last version that parsed and the last that
    checked (either may be older than the text, or None)."""

    text: str
    parsed: A.ModelFile | None = None
    checked: CheckedModel | None = None

    def index(self) -> SymbolIndex | None:
        return build_index(self.parsed) if self.parsed is not None else None


# ---- what a name means -------------------------------------------------------------------------


def node_kinds(ctx: Context) -> dict[str, str]:
    """Each declared node's kind name, from the text itself (the current text may not parse)."""
    out = {m.group(1): m.group(2) for m in re.finditer(r"\bnode\s+([A-Za-z_]\w*)\s*=\s*([A-Za-z_]\w*)", _code(ctx.text))}
    if ctx.parsed is not None:
        for n in ctx.parsed.nodes:
            out.setdefault(n.name, n.kind)
    return out


def kind_of_node(ctx: Context, name: str) -> NodeKind | None:
    """The kind of node `name` as that node has it (a task's ports follow its parameters)."""
    if ctx.checked is not None and name in ctx.checked.plan.kinds:
        return ctx.checked.plan.kinds[name]
    kind = REGISTRY.get(node_kinds(ctx).get(name, ""))
    if kind is not None and kind.specialise is not None:
        try:
            return kind.for_node({})
        except Exception:  # a kind whose ports need its parameters: the plain signature
            return kind
    return kind


def task_defs(ctx: Context) -> dict[str, Any]:
    return {t.name: t for t in ctx.parsed.tasks} if ctx.parsed is not None else {}


def call_doc(name: str, ctx: Context | None = None) -> str | None:
    """What a call (or a function of an expression) named `name` is."""
    if name in schema.DISTRIBUTIONS:
        return f"distribution `{name}` (drawn per trial): {schema.DISTRIBUTIONS[name][2]}"
    if name in schema.LOSS_TERMS:
        term = schema.LOSS_TERMS[name]
        return "\n\n".join([f"loss term `{name}`", term.formula] + ["- " + describe_param(p) for p in term.params])
    for table, what in ((TL.FUNCTIONS, "function"), (TL.CROSSINGS, "crossing"), (TL.METRIC_FUNCTIONS, "function"),
                        (TL.ACCURACY_FUNCTIONS, "accuracy rule")):
        if name in table:
            return f"{what} `{name}`: {table[name][2]}"
    if name in schema.CLIP_KINDS:
        return f"gradient clipping `{name}(x)`: " + (schema.param_named(schema.TRAIN_SETTINGS, "clip").doc or "")
    if name in REGISTRY:
        return "\n".join(kind_section(REGISTRY[name]))
    if ctx is not None and name in task_defs(ctx):
        return task_def_doc(task_defs(ctx)[name])
    return None


def task_def_doc(t: Any) -> str:
    lines = [f"task `{t.name}` (declared in this file)"] + ([t.doc] if t.doc else [])
    lines += [f"- `{p.name}` = `{_expr_text(p)}`" + (f": {p.doc}" if p.doc else "") for p in t.params]
    return "\n\n".join(lines)


def _expr_text(p: Any) -> str:
    default = p.default
    return str(getattr(default, "value", getattr(default, "name", "...")))


def _param_doc(p: Param | None, owner: str) -> str | None:
    return f"parameter of `{owner}`: " + describe_param(p) if p is not None else None


def _port_doc(kind: NodeKind | None, node: str, port: str) -> str | None:
    if kind is None:
        return None
    p = kind.port(port)
    if p is not None:
        return f"`{node}.{port}`: " + describe_port(p)
    site = kind.site(port)
    return f"`{node}.{port}`: internal site of `{kind.name}` ({site.doc or ', '.join(site.tags)})" if site is not None else None


def _field_doc(kind: NodeKind | None, node: str, port: str, field: str) -> str | None:
    p = kind.port(port) if kind is not None else None
    if p is None or field not in p.fields:
        return None
    a, b = p.fields[field]
    return f"`{node}.{port}.{field}`: components {a} to {b - 1} of `{port}` ({describe_port(p)})"


def _symbol_doc(ctx: Context, occ: Occurrence, index: SymbolIndex) -> str:
    sym = occ.symbol
    mf = ctx.parsed
    if sym.kind == "node":
        decl = next(n for n in mf.nodes if n.name == sym.name)
        kind = kind_of_node(ctx, sym.name)
        head = f"node `{sym.name}` = `{decl.kind}`" + (f" ({kind.family})" if kind is not None else "")
        doc = (kind.doc or "").strip().split("\n\n")[0] if kind is not None else ""
        ports = "\n".join(f"- {describe_port(p)}" for p in kind.ports) if kind is not None else ""
        return "\n\n".join(x for x in (head, doc, ports) if x)
    if sym.kind == "site":
        decl = next(s for s in mf.sites if s.name == sym.name)
        kind = REGISTRY.get(decl.kind)
        head = f"site `{sym.name}` at `{decl.target}`: intervention `{decl.kind}`"
        return "\n\n".join(x for x in (head, (kind.doc or "").strip().split("\n\n")[0] if kind else "") if x)
    definition = index.definition(sym)
    lines = ctx.text.splitlines()
    where = lines[definition.span.line - 1].strip() if definition is not None and definition.span.line <= len(lines) else ""
    owner = sym.scope.split(" ", 1)[1]
    return f"{sym.kind} `{sym.name}` of task `{owner}`" + (f"\n\n```rnn\n{where}\n```" if where else "")


def hover(ctx: Context, line: int, col: int) -> tuple[str, A.Span] | None:
    """Markdown about what is at (line, col) (1-based, as spans count) and the span it covers."""
    mf = ctx.parsed
    if mf is None:
        return None
    index = build_index(mf)
    occ = index.at(line, col)
    path = element_path(mf, line, col)
    for i in range(len(path) - 1, -1, -1):
        found = _hover_element(ctx, path[i], path[:i], line, col)
        if found is not None:
            if occ is not None and _inside(occ.span, found[1]):
                break  # a name inside the element: the name says more
            return found
    if occ is not None:
        return _symbol_doc(ctx, occ, index), occ.span
    return None


def _inside(inner: A.Span, outer: A.Span) -> bool:
    return (outer.line, outer.col) <= (inner.line, inner.col) and (inner.end_line, inner.end_col) <= (outer.end_line, outer.end_col)


def _hover_element(ctx: Context, el: Any, parents: list[Any], line: int, col: int) -> tuple[str, A.Span] | None:
    def at(span: A.Span | None) -> bool:
        return span is not None and contains(span, line, col)

    parent = parents[-1] if parents else None
    if isinstance(el, A.NodeDecl) and at(el.kind_span):
        doc = call_doc(el.kind, ctx) if el.body is None else "a task declared here: its body lists channels, variables and epochs"
        return (doc, el.kind_span) if doc else None
    if isinstance(el, A.SiteDecl) and at(el.kind_span):
        return ("\n".join(kind_section(REGISTRY[el.kind])), el.kind_span) if el.kind in REGISTRY else None
    if isinstance(el, A.Keyword) and at(el.name_span):
        owner = parent
        doc = None
        if isinstance(owner, A.NodeDecl):
            kind = kind_of_node(ctx, owner.name)
            doc = _param_doc(kind.param(el.name), kind.name) if kind is not None else None
        elif isinstance(owner, A.SiteDecl) and owner.kind in REGISTRY:
            doc = _param_doc(REGISTRY[owner.kind].param(el.name), owner.kind)
        elif isinstance(owner, A.Call) and owner.name in schema.LOSS_TERMS:
            doc = _param_doc(schema.LOSS_TERMS[owner.name].param(el.name), owner.name)
        elif isinstance(owner, A.Call) and owner.name in REGISTRY:
            doc = _param_doc(REGISTRY[owner.name].param(el.name), owner.name)
        return (doc, el.name_span) if doc else None
    if isinstance(el, A.PortRef):
        kind = kind_of_node(ctx, el.node)
        if at(el.port_span):
            doc = _port_doc(kind, el.node, el.port)
            return (doc, el.port_span) if doc else None
        if el.field is not None and at(el.field_span):
            doc = _field_doc(kind, el.node, el.port, el.field)
            return (doc, el.field_span) if doc else None
    if isinstance(el, A.Ref) and el.parts[0] in node_kinds(ctx) and len(el.parts) >= 2:
        spans = part_spans(ctx.text.splitlines(), el.span, el.parts)
        kind = kind_of_node(ctx, el.parts[0])
        if at(spans[1]):
            doc = _port_doc(kind, el.parts[0], el.parts[1])
            return (doc, spans[1]) if doc else None
        if len(el.parts) == 3 and at(spans[2]):
            doc = _field_doc(kind, *el.parts)
            return (doc, spans[2]) if doc else None
    if isinstance(el, (A.Call, TL.Func)) and at(el.name_span):
        doc = call_doc(el.name, ctx)
        return (doc, el.name_span) if doc else None
    if isinstance(el, TL.KwArg) and at(el.name_span) and isinstance(parent, TL.Func) and parent.name in schema.LOSS_TERMS:
        doc = _param_doc(schema.LOSS_TERMS[parent.name].param(el.name), parent.name)
        return (doc, el.name_span) if doc else None
    if isinstance(el, TL.Attr) and isinstance(el.base, TL.Name) and el.span.line == el.span.end_line:
        span = A.Span(el.span.file, el.span.line, el.span.end_col - len(el.name), el.span.end_line, el.span.end_col)
        if at(span) and el.base.name in node_kinds(ctx):
            doc = _port_doc(kind_of_node(ctx, el.base.name), el.base.name, el.name)
            return (doc, span) if doc else None
    if isinstance(el, A.Setting) and at(el.key_span):
        doc = _setting_doc(ctx, el, parents)
        return (doc, el.key_span) if doc else None
    return None


def _setting_doc(ctx: Context, setting: A.Setting, parents: list[Any]) -> str | None:
    block = next((p for p in reversed(parents) if isinstance(p, (A.ModelBlock, A.TrainBlock, A.Stage, A.Schedule))), None)
    key = setting.key
    if isinstance(block, A.ModelBlock):
        p = schema.param_named(schema.MODEL_SETTINGS, setting.dotted)
        return "model setting " + describe_param(p) if p else None
    if isinstance(block, A.Schedule):
        site = next((p for p in reversed(parents) if isinstance(p, A.SiteDecl)), None)
        kind = REGISTRY.get(site.kind) if site is not None else None
        return _param_doc(kind.param(setting.dotted), kind.name) if kind is not None else None
    if isinstance(block, A.Stage):
        p = schema.param_named(schema.STAGE_SETTINGS, setting.dotted)
        if p is not None:
            return "stage setting " + describe_param(p)
    if isinstance(block, A.TrainBlock):
        p = schema.param_named(schema.TRAIN_SETTINGS, setting.dotted)
        if p is not None:
            return "train setting " + describe_param(p)
        if key[0] == schema.TRAIN_MASK_PREFIX:
            return f"`{schema.TRAIN_MASK_PREFIX}.NODE.PARAM = matrix`: a per-element gradient mask (1 trains, 0 frozen)"
    if len(key) >= 2 and isinstance(block, A.Stage):  # task.PARAM or SITE.PARAM overrides
        kind = kind_of_node(ctx, key[0])
        if kind is None and ctx.parsed is not None:
            site = next((s for s in ctx.parsed.sites if s.name == key[0]), None)
            kind = REGISTRY.get(site.kind) if site is not None else None
        if kind is not None:
            return "in this stage: " + (_param_doc(kind.param(key[-1]), kind.name) or f"`{setting.dotted}`")
        defs = task_defs(ctx)
        decl = next((n for n in (ctx.parsed.nodes if ctx.parsed else ()) if n.name == key[0]), None)
        if decl is not None and decl.kind in defs:
            p = next((p for p in defs[decl.kind].params if p.name == key[1]), None)
            return f"in this stage: parameter `{key[1]}` of task `{decl.kind}`" + (f": {p.doc}" if p and p.doc else "")
    return None


# ---- completion ------------------------------------------------------------------------------


_TOKEN = re.compile(r'(?P<comment>#[^\n]*|//[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*"?)|(?P<name>[A-Za-z_]\w*)'
                    r'|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op>->|[<>=!]=|\S)')


def _tokens(text: str) -> list[tuple[str, str, int, int]]:
    """(type, text, start, end) of every token but comments and white space."""
    return [(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text) if m.lastgroup != "comment"]


def _code(text: str) -> str:
    """The text with comments and strings blanked (same length), for scanning declarations."""
    return _TOKEN.sub(lambda m: " " * len(m.group()) if m.lastgroup in ("comment", "string") else m.group(), text)


def _in_comment_or_string(text: str, offset: int) -> bool:
    """Whether the cursor is in a comment or a string (nothing to propose there)."""
    for m in _TOKEN.finditer(text, text.rfind("\n", 0, offset) + 1):
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
        return [Completion(p.name, "parameter", f"{name}: default {_expr_text(p)}", p.doc, f"{p.name} = ") for p in defs[name].params]
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
    toks = _tokens(text[:start])
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
    sites = {m.group(1): m.group(2) for m in re.finditer(r"\bsite\s+([A-Za-z_]\w*)\s+at\s+[\w.\s]+?:\s*([A-Za-z_]\w*)", _code(ctx.text))}
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


__all__ = ["Context", "Completion", "hover", "complete", "call_doc", "kind_of_node", "node_kinds"]
