"""The networkx graph built from a checked model."""

from __future__ import annotations

import networkx as nx

from rnnlang.dsl.graph import build_graph, incoming, outgoing

from .dsl_helpers import BASE, check_text


def graph():
    cm = check_text(BASE + "loss { p = squared_error(arm.state.pos, task.goal.pos) }\n")
    return cm, build_graph(cm)


def test_one_node_per_declaration_with_attributes():
    cm, g = graph()
    assert isinstance(g, nx.MultiDiGraph)
    assert list(g.nodes) == ["task", "net", "arm"]
    net = g.nodes["net"]
    assert net["kind"] == "rnn" and net["family"] == "network"
    assert net["params"]["hidden"] == 4 and net["params"]["act"] == "tanh"
    assert net["span"] == cm.nodes["net"].decl.span
    assert g.graph["model"] is cm


def test_one_edge_per_connection_keyed_by_source_index():
    cm, g = graph()
    assert g.number_of_edges() == len(cm.edges) == 5
    keys = sorted(k for _, _, k in g.edges(keys=True))
    assert keys == [0, 1, 2, 3, 4]
    data = g.get_edge_data("task", "arm", key=3)
    assert data["source_port"] == "start" and data["target_port"] == "init"
    assert data["field"] is None and data["target_field"] is None
    assert data["index"] == 3 and data["span"] == cm.edges[3].span


def test_fields_on_edges():
    cm = check_text(BASE + "task.goal.pos -> net.input\n")
    g = build_graph(cm)
    data = g.get_edge_data("task", "net", key=5)
    assert data["field"] == "pos" and data["target_port"] == "input"


def test_incoming_in_source_order():
    cm, g = graph()
    into = incoming(g, "net", "input")
    assert [(u, d["source_port"], d["index"]) for u, d in into] == [("task", "goal", 0), ("arm", "state", 1)]
    assert incoming(g, "arm", "force")[0][0] == "net"
    assert incoming(g, "net", "output") == []


def test_outgoing_in_source_order():
    cm, g = graph()
    out = outgoing(g, "arm", "state")
    assert [(v, d["target_port"]) for v, d in out] == [("net", "input"), ("task", "seen")]


def test_parallel_edges_between_the_same_nodes_are_kept():
    cm = check_text(BASE + "task.goal -> net.input\n")
    g = build_graph(cm)
    assert g.number_of_edges("task", "net") == 2
    assert [d["index"] for _, d in incoming(g, "net", "input")] == [0, 1, 5]
