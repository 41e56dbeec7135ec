"""A checked model as a networkx multigraph: one node per declared node, one edge per connection.

Node attributes: kind, family, params (resolved), span (the declaration's). Edge key: the edge's
source index (its position among the file's edges, which is also the concatenation order);
edge attributes: source_port, target_port, field (the source field or None), target_field,
span, index. `graph.graph["model"]` is the CheckedModel.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from .model import CheckedModel


def build_graph(cm: CheckedModel) -> nx.MultiDiGraph:
    """The model's graph, nodes in declaration order and edges in source order."""
    g = nx.MultiDiGraph(model=cm)
    for name, node in cm.nodes.items():
        g.add_node(name, kind=node.kind, family=node.family, params=node.params, span=node.decl.span)
    for edge in sorted(cm.edges, key=lambda e: e.index):
        g.add_edge(edge.source.node, edge.target.node, key=edge.index,
                   source_port=edge.source.port, target_port=edge.target.port,
                   field=edge.source.field, target_field=edge.target.field,
                   span=edge.span, index=edge.index)
    return g


def incoming(g: nx.MultiDiGraph, node: str, port: str) -> list[tuple[str, dict[str, Any]]]:
    """The edges into `node.port` in source order, as (source node, edge attributes)."""
    edges = [(u, data) for u, _, data in g.in_edges(node, data=True) if data["target_port"] == port]
    return sorted(edges, key=lambda e: e[1]["index"])


def outgoing(g: nx.MultiDiGraph, node: str, port: str) -> list[tuple[str, dict[str, Any]]]:
    """The edges out of `node.port` in source order, as (target node, edge attributes)."""
    edges = [(v, data) for _, v, data in g.out_edges(node, data=True) if data["source_port"] == port]
    return sorted(edges, key=lambda e: e[1]["index"])
