"""Draw a checked model with graphviz: `rnn diagram model.rnn -o model.svg`.

One box per node (name and kind in a header coloured by family, input ports on the left, output
ports on the right, each with its size), one arrow per edge from the source port to the target
port (labelled with the field it takes), dashed arrows through delay lines, and an octagon for
each intervention site joined to the port it acts on by a dotted line. Left to right, so the
closed loop network -> motor channel -> plant -> feedback channel -> network reads as a loop.

Only the `graphviz` Python package is used here: `to_dot` needs nothing else; `render` needs
Graphviz's `dot` program for .svg, .png and .pdf (not for .dot / .gv). No JAX.
"""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import graphviz

from .errors import UsageError

__all__ = ["to_dot", "render", "FORMATS", "FAMILY_COLORS"]

# extension -> graphviz output format (None: the DOT source itself, no `dot` needed)
FORMATS: dict[str, str | None] = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}

# One palette (header fill, body fill, border) per family; the legend repeats it.
FAMILY_COLORS: dict[str, tuple[str, str, str]] = {
    "task": ("#f6c9b5", "#fdf1ec", "#b5623d"),
    "network": ("#b9d3ee", "#eef4fb", "#3d6a9e"),
    "channel": ("#f5e0a3", "#fdf8e9", "#a88420"),
    "mechanics": ("#bfe0bf", "#eff8ef", "#3f8a45"),
    "intervention": ("#dcc6ea", "#f6f0fa", "#7a4d99"),
}
_OTHER = ("#dddddd", "#f7f7f7", "#666666")
_FONT = "Helvetica"
_EDGE = "#444444"
_FAINT = "#9a9a9a"


def _esc(text: Any) -> str:
    """Text from a user's file, made safe inside an HTML-like label."""
    return html.escape(str(text), quote=True)


def _id(name: str) -> str:
    """A DOT identifier for any string: always quoted, quotes escaped, never read as HTML."""
    s = str(name).replace('"', '\\"').replace("\n", " ")
    if s.endswith("\\") and not s.endswith("\\\\"):
        s += " "  # a lone final backslash would escape the closing quote
    return f'"{s}"'


def _attrs(**kw: Any) -> str:
    """A DOT attribute list; values in <...> are HTML-like labels, the rest quoted strings."""
    parts = []
    for k, v in kw.items():
        if v is None:
            continue
        v = str(v)
        parts.append(f"{k}={v}" if (v.startswith("<") and v.endswith(">")) else f"{k}={_id(v)}")
    return "[" + " ".join(parts) + "]" if parts else ""


# ---- what is drawn -----------------------------------------------------------------------------


@dataclass
class _PortInfo:
    name: str
    direction: str  # "in" / "out"
    size: int | None = None
    role: str = "signal"
    combine: str = "concat"
    connected: bool = False
    cell: str = ""  # the HTML port id
    compass: str = "w"  # the side its edges attach on


@dataclass
class _NodeInfo:
    name: str
    kind: str
    family: str
    params: Mapping[str, Any]
    inputs: list[_PortInfo] = field(default_factory=list)
    outputs: list[_PortInfo] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)  # internal sites that carry an intervention
    layout: str = "normal"

    def port(self, name: str, direction: str | None = None) -> _PortInfo | None:
        for p in (self.outputs + self.inputs) if direction != "in" else self.inputs:
            if p.name == name and (direction is None or p.direction == direction):
                return p
        return None


def _edges(graph) -> list[tuple[str, str, dict]]:
    """The model's edges in source order."""
    out = [(u, v, d) for u, v, _k, d in graph.edges(keys=True, data=True)]
    out.sort(key=lambda e: (e[2].get("index", 0) if isinstance(e[2].get("index", 0), int) else 0))
    return out


def _delay(params: Mapping[str, Any]) -> int:
    try:
        return int(params.get("delay", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _plan_of(cm: Any) -> Any:
    """The checked model's plan (a model built by hand, without one, is planned here)."""
    if cm.plan is not None:
        return cm.plan
    from .plan import analyse

    return analyse(cm)


def _collect(cm, graph) -> dict[str, _NodeInfo]:
    """Every node with its ports and their sizes, as the checked plan has them."""
    plan = _plan_of(cm)
    nodes: dict[str, _NodeInfo] = {}
    for name in graph.nodes:
        rn = cm.nodes[name]
        info = _NodeInfo(str(name), rn.kind, rn.family, rn.params)
        for p in plan.kinds[name].ports:
            size = (plan.in_sizes if p.direction == "in" else plan.out_sizes)[name].get(p.name)
            (info.inputs if p.direction == "in" else info.outputs).append(_PortInfo(p.name, p.direction, size, p.role, p.combine))
        nodes[name] = info

    for u, v, d in _edges(graph):
        for node, port, direction in ((u, d.get("source_port"), "out"), (v, d.get("target_port"), "in")):
            p = nodes[node].port(port, direction) if node in nodes else None
            if p is not None:
                p.connected = True

    for site in cm.sites.values():
        info = nodes.get(site.node)
        if info is None:
            continue
        if info.port(site.site) is None and site.site not in info.internal:
            info.internal.append(site.site)
    return nodes


# ---- drawing -----------------------------------------------------------------------------------


def _return_path(nodes: Mapping[str, _NodeInfo], edges) -> set[str]:
    """Channels on the way back from a plant to a network (sensory feedback). They are drawn
    between the network and the plant, mirrored (input on the right, output on the left), so the
    loop network -> motor -> plant -> feedback -> network reads as a loop, not a detour."""
    succ: dict[str, set[str]] = {n: set() for n in nodes}
    pred: dict[str, set[str]] = {n: set() for n in nodes}
    for u, v, _d in edges:
        if u in nodes and v in nodes and u != v:
            succ[u].add(v)
            pred[v].add(u)

    def reaches(start: str, step: Mapping[str, set[str]], goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for m in step[todo.pop()]:
                if nodes[m].family == goal:
                    return True
                if nodes[m].family == "channel" and m not in seen:
                    seen.add(m)
                    todo.append(m)
        return False

    return {n for n, i in nodes.items()
            if i.family == "channel" and reaches(n, pred, "mechanics") and reaches(n, succ, "network")}


def _assign_cells(info: _NodeInfo, layout: str) -> None:
    """Port ids and the side each port's edges attach on: normal (inputs west, outputs east),
    mirrored (the reverse), or column (a task: one column, everything east)."""
    info.layout = layout
    for k, p in enumerate(info.inputs):
        p.cell, p.compass = f"i{k}", ("e" if layout in ("mirrored", "column") else "w")
    for k, p in enumerate(info.outputs):
        p.cell, p.compass = f"o{k}", ("w" if layout == "mirrored" else "e")


def _port_text(p: _PortInfo, mark: bool) -> str:
    text = _esc(p.name) + (f" ({p.size})" if p.size is not None else "")
    color = "#222222" if p.connected else _FAINT
    if p.role == "init":
        text = f"<i>{text}</i>"
    text = f'<font color="{color}">{text}</font>'
    if mark:
        diamond = f'<font color="{FAMILY_COLORS["intervention"][2]}">&#9670;</font>'
        text = f"{text} {diamond}" if p.compass == "e" else f"{diamond} {text}"
    return text


def _cell(p: _PortInfo | None, body: str, sited: set[tuple[str, str]], colspan: int = 1) -> str:
    span = f' colspan="{colspan}"' if colspan > 1 else ""
    if p is None:
        return f'<td{span} bgcolor="{body}"> </td>'
    align = "right" if p.compass == "e" else "left"
    return (f'<td{span} port="{p.cell}" align="{align}" bgcolor="{body}">'
            f'{_port_text(p, (p.direction, p.name) in sited)}</td>')


def _node_label(info: _NodeInfo, sited: set[tuple[str, str]]) -> str:
    head, body, border = FAMILY_COLORS.get(info.family, _OTHER)
    sub = _esc(info.kind) if info.kind == info.family or not info.family else f"{_esc(info.kind)} · {_esc(info.family)}"
    extra = ""
    if info.family == "channel" and _delay(info.params) > 0:
        extra = f'<br/><font point-size="9" color="{border}">delay {_delay(info.params)} steps</font>'
    ncols = 1 if info.layout == "column" else 2
    rows = [
        f'<tr><td colspan="{ncols}" bgcolor="{head}" align="center" cellpadding="5">'
        f'<b>{_esc(info.name)}</b><br/><font point-size="9" color="#333333"><i>{sub}</i></font>{extra}</td></tr>'
    ]
    if info.layout == "column":
        for p in info.outputs + info.inputs:
            rows.append("<tr>" + _cell(p, body, sited) + "</tr>")
    else:
        left, right = (info.inputs, info.outputs) if info.layout == "normal" else (info.outputs, info.inputs)
        for k in range(max(len(left), len(right))):
            rows.append("<tr>" + _cell(left[k] if k < len(left) else None, body, sited)
                        + _cell(right[k] if k < len(right) else None, body, sited) + "</tr>")
    for k, site in enumerate(info.internal):
        rows.append(
            f'<tr><td colspan="{ncols}" port="s{k}" align="right" bgcolor="{body}">'
            f'<font color="{FAMILY_COLORS["intervention"][2]}">&#9670;</font> '
            f'<font color="#555555"><i>{_esc(site)}</i></font></td></tr>'
        )
    if len(rows) == 1:
        rows.append(f'<tr><td colspan="{ncols}" bgcolor="{body}"> </td></tr>')
    return (
        f'<<table border="1" cellborder="0" cellspacing="0" cellpadding="3" color="{border}">'
        + "".join(rows) + "</table>>"
    )


def _title_label(title: str, families: Iterable[str], any_delay: bool, any_site: bool) -> str:
    present = set(families)
    swatches = "".join(
        f'<td bgcolor="{FAMILY_COLORS[f][0]}" border="1" color="{FAMILY_COLORS[f][2]}">'
        f'<font point-size="9">{f}</font></td><td> </td>'
        for f in FAMILY_COLORS if f in present
    )
    notes = []
    if any_delay:
        notes.append("- - -  through a delay line")
    if any_site:
        notes.append("&#9670;  intervention site")
    note_cells = "".join(f'<td><font point-size="9" color="#555555">{n}</font></td><td> </td>' for n in notes)
    # the legend beside the title: under it, its cells would be stretched to the title's width
    return (
        '<<table border="0" cellborder="0" cellspacing="0" cellpadding="3"><tr>'
        f'<td align="left"><font point-size="16"><b>{_esc(title)}</b></font></td><td width="24"> </td>'
        f'<td valign="middle"><table border="0" cellborder="0" cellspacing="0" cellpadding="2"><tr>'
        f"{swatches}{note_cells}</tr></table></td></tr></table>>"
    )


def _site_id(site_name: str) -> str:
    return f"site {site_name}"


def _edge_line(tail: str, head: str, reverse: bool, attrs: dict[str, Any]) -> str:
    """One DOT edge. Reversed edges are written head -> tail with dir=back, so the layout ranks
    them backwards while the arrow still points at the real target."""
    if reverse:
        attrs = {{"arrowhead": "arrowtail", "headlabel": "taillabel"}.get(k, k): v for k, v in attrs.items()}
        attrs["dir"] = "back"
        tail, head = head, tail
    return f"\t{tail} -> {head} {_attrs(**attrs)}\n"


def to_dot(cm, graph, *, title: str | None = None) -> graphviz.Digraph:
    """The model as a graphviz Digraph (DOT source in `.source`); needs no `dot` program.

    `cm` is the CheckedModel (for the name and the intervention sites), `graph` the networkx
    graph built from it. Node ids in the DOT are the model's node names; a site's marker is the
    node `site NAME`. Every edge carries a tooltip `src.port[.field] -> dst.port[.field]`."""
    nodes = _collect(cm, graph)
    edges = _edges(graph)
    sites = list(cm.sites.values())
    name = title if title is not None else (cm.name or "model")

    back = _return_path(nodes, edges)
    for n, info in nodes.items():
        _assign_cells(info, "column" if info.family == "task" else "mirrored" if n in back else "normal")

    g = graphviz.Digraph(name="model")
    g.attr("graph", rankdir="LR", splines="spline", nodesep="0.5", ranksep="0.8", fontname=_FONT,
           labelloc="t", labeljust="l", pad="0.3", bgcolor="white", newrank="true")
    g.attr("node", shape="plaintext", fontname=_FONT, fontsize="11", margin="0")
    g.attr("edge", fontname=_FONT, fontsize="10", color=_EDGE, fontcolor="#333333", arrowsize="0.7", penwidth="1.2")

    any_delay = any(i.family == "channel" and _delay(i.params) > 0 for i in nodes.values())
    families = [i.family for i in nodes.values()] + (["intervention"] if sites else [])
    g.body.append("\tlabel=" + _title_label(name, families, any_delay, bool(sites)) + "\n")

    sited: dict[str, set[tuple[str, str]]] = {}
    for s in sites:
        info = nodes.get(s.node)
        p = info.port(s.site) if info is not None else None
        if p is not None:
            sited.setdefault(s.node, set()).add((p.direction, p.name))

    # tasks first, so the layout starts from the task feeding the network
    for info in sorted(nodes.values(), key=lambda i: 0 if i.family == "task" else 1):
        tip = f"{info.name}: {info.kind}"
        g.body.append(f"\t{_id(info.name)} {_attrs(label=_node_label(info, sited.get(info.name, set())), tooltip=tip)}\n")

    # concatenating inputs that receive several edges: number the edges in concatenation order
    arrivals: dict[tuple[str, str], list[int]] = {}
    for u, v, d in edges:
        arrivals.setdefault((v, d.get("target_port")), []).append(id(d))

    for u, v, d in edges:
        src, dst = nodes.get(u), nodes.get(v)
        if src is None or dst is None:
            continue
        sp, tp = src.port(d.get("source_port"), "out"), dst.port(d.get("target_port"), "in")
        tail = _id(u) + (f":{sp.cell}:{sp.compass}" if sp else "")
        head = _id(v) + (f":{tp.cell}:{tp.compass}" if tp else "")
        fld, tfld = d.get("field"), d.get("target_field")
        label = []
        if fld and tfld and tfld != fld:
            label.append(f"{_esc(fld)} &#8594; {_esc(tfld)}")
        elif fld or tfld:
            label.append(_esc(fld or tfld))
        group = arrivals.get((v, d.get("target_port")), [])
        if len(group) > 1 and tp is not None and tp.combine == "concat":
            label.append(f'<font point-size="8" color="#777777">#{group.index(id(d)) + 1} of {len(group)}</font>')
        delay = max(_delay(src.params) if src.family == "channel" else 0,
                    _delay(dst.params) if dst.family == "channel" else 0)
        attrs: dict[str, Any] = {}
        if delay > 0:
            attrs["style"] = "dashed"
            label.append(f'<font color="{FAMILY_COLORS["channel"][2]}">delay {delay}</font>')
        if (sp is not None and sp.role == "init") or (tp is not None and tp.role == "init"):
            attrs.update(color=_FAINT, arrowhead="empty", style=attrs.get("style", "solid"))
            label.append('<font color="#777777"><i>init</i></font>')
        if dst.family == "task" and src.family != "task":
            # what the task scores: light, and not allowed to pull the task to the right
            attrs.update(color=_FAINT, constraint="false")
        if label:
            attrs["label"] = "<" + "<br/>".join(label) + ">"
        src_text = f"{u}.{d.get('source_port')}" + (f".{fld}" if fld else "")
        dst_text = f"{v}.{d.get('target_port')}" + (f".{tfld}" if tfld else "")
        attrs["tooltip"] = f"{src_text} -> {dst_text}" + (f" (delay {delay})" if delay > 0 else "")
        g.body.append(_edge_line(tail, head, u in back or v in back, attrs))

    ihead, _ibody, iborder = FAMILY_COLORS["intervention"]
    for s in sites:
        info = nodes.get(s.node)
        sid = _id(_site_id(s.name))
        label = (f'<<font point-size="10"><b>{_esc(s.name)}</b>: {_esc(s.kind)}</font>'
                 f'<br/><font point-size="8" color="#555555">at {_esc(s.node)}.{_esc(s.site)}</font>>')
        g.body.append(f"\t{sid} {_attrs(label=label, shape='octagon', style='filled', fillcolor=ihead, color=iborder, margin='0.04', tooltip=f'{s.name}: {s.kind} at {s.node}.{s.site}')}\n")
        if info is None:
            continue
        p = info.port(s.site)
        port = f"{p.cell}:{p.compass}" if p is not None else f"s{info.internal.index(s.site)}:e"
        attrs = dict(style="dotted", color=iborder, arrowhead="dot", arrowsize="0.6", penwidth="1.4",
                     tooltip=f"{s.name} acts on {s.node}.{s.site}")
        # the marker sits on the side of the port it acts on
        g.body.append(_edge_line(sid, f"{_id(s.node)}:{port}", port.endswith(":e"), attrs))
    return g


def render(cm, graph, out_path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Draw the model into `out_path`; the format follows the extension (.svg, .png, .pdf, or
    .dot / .gv for the DOT source). Written atomically: a temporary file in the same directory,
    then renamed. Raises UsageError for an unknown extension, a directory that cannot be
    written, or a missing `dot` program."""
    out = Path(out_path)
    ext = out.suffix.lower()
    if ext not in FORMATS:
        supported = ", ".join(FORMATS)
        raise UsageError(f"cannot draw to `{out}`: unknown extension `{out.suffix or '(none)'}`; "
                         f"supported: {supported}")
    g = to_dot(cm, graph, title=title)
    fmt = FORMATS[ext]
    if fmt is None:
        data = g.source.encode("utf-8")
    else:
        try:
            data = g.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise UsageError(
                f"cannot draw `{out}`: Graphviz's `dot` program was not found\n"
                "hint: install it (Debian/Ubuntu: `apt-get install graphviz`), "
                "or write the DOT source with a .dot or .gv extension"
            ) from None
        except graphviz.CalledProcessError as e:
            msg = (e.stderr or b"").decode("utf-8", "replace").strip() if isinstance(e.stderr, bytes) else str(e.stderr or e)
            raise UsageError(f"cannot draw `{out}`: `dot` failed: {msg}") from None
        except OSError as e:
            raise UsageError(f"cannot draw `{out}`: could not run `dot`: {e.strerror or e}") from None
    _write_atomic(out, data)
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(out: Path, data: bytes) -> None:
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"cannot write `{out}`: directory `{directory}` does not exist")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
        tmp = None
    except OSError as e:
        raise UsageError(f"cannot write `{out}`: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
