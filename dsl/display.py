"""How a checked model shows itself in a notebook: its diagram (SVG, drawn by Graphviz's `dot`)
and its summary (HTML: the nodes with kinds, port sizes and parameter counts, the edges, sites,
task, loss terms and step order, as `rnn check` prints them, followed by the diagram).

    cm, graph = rnnlang.load("model.rnn")
    cm          # in Jupyter: the summary and the diagram

Front end only (no JAX): parameter counts come from the plan's shapes. Without `dot`, the
summary says so in words and the SVG is left out (the notebook shows the text instead).
"""

from __future__ import annotations

import html
from typing import Any

import graphviz

from .diagram import to_dot
from .graph import build_graph

NO_DOT = "no diagram: Graphviz's `dot` program was not found (Debian/Ubuntu: `apt-get install graphviz`)"


def model_svg(cm: Any) -> str | None:
    """The model's diagram as SVG text, or None when `dot` cannot be run."""
    try:
        return to_dot(cm, build_graph(cm)).pipe(format="svg").decode("utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
        return None


def summary_rows(cm: Any) -> list[dict[str, Any]]:
    """One row per node: name, kind, family, input and output port sizes, parameters."""
    plan = cm.plan
    counts = plan.param_counts()
    return [{"name": name, "kind": node.kind, "family": node.family, "inputs": dict(plan.in_sizes[name]),
             "outputs": dict(plan.out_sizes[name]), "parameters": counts.get(name, 0)} for name, node in cm.nodes.items()]


def _ports(sizes: dict[str, int]) -> str:
    return ", ".join(f"{html.escape(k)} ({v})" for k, v in sizes.items()) or "-"


def model_html(cm: Any, svg: str | None = None, with_diagram: bool = True) -> str:
    """The summary table (and the diagram, unless `with_diagram` is false) as HTML."""
    e = html.escape
    rows = summary_rows(cm)
    out = [f"<div class='rnnlang-model'><p><b>model <code>{e(cm.name)}</code></b>: dt = {cm.dt:g}, {cm.steps} steps, "
           f"{sum(r['parameters'] for r in rows)} parameters</p>",
           "<table><thead><tr><th>node</th><th>kind</th><th>parameters</th><th>in</th><th>out</th></tr></thead><tbody>"]
    for r in rows:
        out.append(f"<tr><td><code>{e(r['name'])}</code></td><td>{e(r['kind'])} ({e(r['family'])})</td>"
                   f"<td style='text-align:right'>{r['parameters']}</td><td>{_ports(r['inputs'])}</td><td>{_ports(r['outputs'])}</td></tr>")
    out.append("</tbody></table>")
    items = [("edges", [f"{x.source} -> {x.target}" for x in cm.edges]),
             ("sites", [f"{s.name}: {s.kind} at {s.node}.{s.site}" for s in cm.sites.values()]),
             ("task", [cm.task.name] if cm.task else []),
             ("loss", [f"{t.name} = {t.text}" if t.expr is not None else f"{t.name} = {t.weight:g} * {t.kind}" for t in cm.loss]),
             ("step order", [" -> ".join(cm.plan.feedthrough_order + cm.plan.stateful_rest)])]
    out.append("<ul>" + "".join(f"<li>{e(title)}: " + "; ".join(f"<code>{e(v)}</code>" for v in values) + "</li>"
                                for title, values in items if values) + "</ul>")
    if cm.warnings:
        out.append("<pre>" + e("\n".join(w.format(cm.source) for w in cm.warnings)) + "</pre>")
    if with_diagram:
        svg = svg if svg is not None else model_svg(cm)
        out.append(svg[svg.find("<svg"):] if svg is not None else f"<p><i>{e(NO_DOT)}</i></p>")  # inline: no XML prologue
    out.append("</div>")
    return "\n".join(out)


def model_text(cm: Any) -> str:
    """The summary as plain text (what a terminal or a notebook without HTML shows)."""
    lines = [f"model `{cm.name}`: dt = {cm.dt:g}, {cm.steps} steps"]
    for r in summary_rows(cm):
        lines.append(f"  {r['name']}: {r['kind']}, {r['parameters']} parameters, in: {_plain(r['inputs'])}, out: {_plain(r['outputs'])}")
    lines += [f"  {x.source} -> {x.target}" for x in cm.edges]
    return "\n".join(lines)


def _plain(sizes: dict[str, int]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in sizes.items()) or "-"


__all__ = ["model_svg", "model_html", "model_text", "summary_rows", "NO_DOT"]
