"""The evaluation plan of a checked model: port sizes, which outputs are state reads and which
are feedthrough, the order in which feedthrough nodes run within a step, and the errors a model
can have at this level (size mismatches, algebraic loops). The checker computes it as the last
step of `check` (`CheckedModel.plan`), so `rnn check` reports all of this without the compiler;
the compiler lowers the plan, the diagram draws it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import networkx as nx

from . import ast as A
from .errors import Diagnostic, ModelError
from . import sitelang
from .library import REGISTRY
from .model import CheckedModel, ResolvedSite
from .vocab import NodeKind, Port, resolve_size


@dataclass(frozen=True)
class Source:
    """Where one incoming value comes from: a node's output port, maybe one field of it."""

    node: str
    port: str
    field: str | None
    lo: int  # the slice of the source port this edge carries
    hi: int
    span: A.Span

    @property
    def size(self) -> int:
        return self.hi - self.lo

    def __str__(self) -> str:
        return f"{self.node}.{self.port}" + (f".{self.field}" if self.field else "")


@dataclass
class Plan:
    """Everything the lowering, the diagram and `rnn check`'s summary need to know about the
    model's graph besides the node implementations: each node's kind as it has it, its
    parameters, the size of every port, which outputs are state reads, where every input comes
    from, and the order in which nodes run within a step."""

    kinds: dict[str, NodeKind]
    params: dict[str, dict[str, Any]]
    in_sizes: dict[str, dict[str, int]]
    out_sizes: dict[str, dict[str, int]]
    timing: dict[str, dict[str, str]]  # node -> output port -> "state" | "feedthrough"
    sources: dict[tuple[str, str], list[Source]]  # (node, input port) -> sources in source order
    feedthrough_order: list[str]  # nodes with a feedthrough output, dependencies first
    stateful_rest: list[str]  # the other non-task nodes, advanced after the feedthrough phase
    task: str | None
    warnings: list[Diagnostic] = field(default_factory=list)

    def field_slice(self, node: str, port: str, fld: str | None) -> tuple[int, int]:
        """The (lo, hi) slice of `node.port` that `fld` names (the whole port when None)."""
        size = self.out_sizes[node].get(port, self.in_sizes[node].get(port, 0))
        if fld is None:
            return 0, size
        return tuple(self.kinds[node].port(port).fields[fld])  # type: ignore[return-value]

    def sizes(self, node: str) -> dict[str, int]:
        """Every port size of one node, by port name."""
        return {**self.in_sizes[node], **self.out_sizes[node]}

    def param_shapes(self, node: str) -> dict[str, tuple[int, ...]]:
        """The shapes of one node's parameter tensors, by name (none for a kind without any)."""
        rule = self.kinds[node].param_shapes
        return dict(rule(self.params[node], self.sizes(node))) if rule is not None else {}

    def param_counts(self) -> dict[str, int]:
        """Parameters per node (every tensor's elements), from the shapes alone: nothing is built."""
        return {n: sum(math.prod(s) for s in self.param_shapes(n).values()) for n in self.kinds}

    def site_size(self, site: ResolvedSite) -> int:
        """The size of the signal an intervention acts on: its port's, or for an internal site
        (hidden units, recurrent weights) the node's number of hidden units."""
        port = self.kinds[site.node].port(site.site) if site.is_port else None
        if port is not None:
            return (self.in_sizes if port.direction == "in" else self.out_sizes)[site.node][site.site]
        decl = self.kinds[site.node].site(site.site)
        if decl is not None and getattr(decl, "size", None) is not None:  # a site of a declared size
            return int(decl.size)
        return self.out_sizes[site.node].get("hidden", 0)


def plan_checked(cm: CheckedModel, registry: Mapping[str, NodeKind] | None = None) -> Plan:
    """The last step of checking a resolved model: the kinds' own checks of their values, the
    plan, then the kinds' checks that need its sizes. Raises ModelError at the first step that
    finds problems, with every problem of that step, positioned in the source."""
    from .validate import size_diagnostics, value_diagnostics

    registry = REGISTRY if registry is None else registry
    diags = value_diagnostics(cm, registry)
    if diags:
        raise ModelError(diags, cm.source)
    plan = analyse(cm, registry)
    diags = size_diagnostics(cm, plan, registry) + sitelang.plan_diagnostics(cm, plan, registry)
    if diags:
        raise ModelError(diags, cm.source)
    if any(t.expr is not None for t in cm.loss):  # loss terms written as expressions need the sizes
        from .lossexpr import loss_diagnostics
        from .tasks import task_spec

        diags = loss_diagnostics(cm, plan, task_spec(cm.ast, cm.task, cm.dt, cm.steps))
        if diags:
            raise ModelError(diags, cm.source)
    return plan


def analyse(cm: CheckedModel, registry: Mapping[str, NodeKind] | None = None) -> Plan:
    """Infer every port's size, check sizes along edges, find the evaluation order, and reject
    algebraic loops. Raises ModelError with every problem found, positioned in the source."""
    registry = REGISTRY if registry is None else registry
    kinds = {name: registry[n.kind].for_node(n.params) for name, n in cm.nodes.items()}
    params = {name: dict(n.params) for name, n in cm.nodes.items()}
    sources: dict[tuple[str, str], list[Source]] = {}
    for edge in sorted(cm.edges, key=lambda e: e.index):
        src, dst = edge.source, edge.target
        sources.setdefault((dst.node, dst.port), []).append(Source(src.node, src.port, src.field, 0, 0, edge.span))

    diags: list[Diagnostic] = []
    in_sizes, out_sizes = _infer_sizes(cm, kinds, params, sources, diags)
    if diags:
        raise ModelError(diags, cm.source)
    # fill in the slices now that the source sizes are known
    for key, lst in sources.items():
        resolved = []
        for s in lst:
            port = kinds[s.node].port(s.port)
            lo, hi = (0, out_sizes[s.node][s.port]) if s.field is None else port.fields[s.field]
            resolved.append(Source(s.node, s.port, s.field, lo, hi, s.span))
        sources[key] = resolved

    timing = {name: {p.name: ("state" if kinds[name].family == "task" else p.timing_for(params[name]))
                     for p in kinds[name].outputs} for name in kinds}
    task = next((n for n, k in kinds.items() if k.family == "task"), None)
    order = _feedthrough_order(cm, kinds, timing, sources, diags)
    if diags:
        raise ModelError(diags, cm.source)
    ft = set(order)
    rest = [n for n in cm.nodes if n not in ft and kinds[n].family != "task"]
    return Plan(kinds, params, in_sizes, out_sizes, timing, sources, order, rest, task)


def _infer_sizes(cm, kinds, params, sources, diags) -> tuple[dict, dict]:
    """Fixed-point size inference: an output's size may depend on its node's input sizes (a
    channel passes its input's size through), which depend on upstream outputs."""
    out_sizes: dict[str, dict[str, int]] = {n: {} for n in kinds}
    in_sizes: dict[str, dict[str, int]] = {n: {} for n in kinds}
    pending = {(n, p.name) for n, k in kinds.items() for p in k.outputs}
    for _ in range(len(pending) + 2):
        progress = False
        for name, kind in kinds.items():
            known_in = {}
            for port in kind.inputs:
                size = _input_size(name, port, params[name], sources.get((name, port.name), []), out_sizes, kinds)
                if size is not None:
                    known_in[port.name] = size
            in_sizes[name] = known_in
            for port in kind.outputs:
                if (name, port.name) not in pending:
                    continue
                try:
                    size = resolve_size(port.size, params[name], known_in)
                except KeyError:
                    size = None  # waits for an input's size
                if size is not None:
                    out_sizes[name][port.name] = int(size)
                    pending.discard((name, port.name))
                    progress = True
        if not progress:
            break
    for name, port in sorted(pending):
        decl = cm.nodes[name].decl
        diags.append(Diagnostic(f"cannot infer the size of `{name}.{port}`: its input's size depends on itself",
                                decl.name_span, hint="a loop made only of channels has no size; connect a network or a plant into it"))
    if diags:
        return in_sizes, out_sizes
    _check_edge_sizes(cm, kinds, params, sources, out_sizes, in_sizes, diags)
    return in_sizes, out_sizes


def _source_size(s: Source, out_sizes, kinds) -> int | None:
    if s.field is not None:
        lo, hi = kinds[s.node].port(s.port).fields[s.field]
        return hi - lo
    return out_sizes[s.node].get(s.port)


def _input_size(name: str, port: Port, params, srcs: list[Source], out_sizes, kinds) -> int | None:
    """The size arriving at an input port, or None while an upstream size is unknown."""
    declared = resolve_size(port.size, params, {}) if port.size is not None else None
    sizes = [_source_size(s, out_sizes, kinds) for s in srcs]
    if any(s is None for s in sizes):
        return declared
    if not srcs:
        return declared if declared is not None else 0
    if port.combine == "concat":
        return declared if declared is not None else sum(sizes)
    return declared if declared is not None else sizes[0]


def _check_edge_sizes(cm, kinds, params, sources, out_sizes, in_sizes, diags) -> None:
    for (name, pname), srcs in sources.items():
        port = kinds[name].port(pname)
        declared = resolve_size(port.size, params[name], {}) if port.size is not None else None
        sizes = [_source_size(s, out_sizes, kinds) for s in srcs]
        target = f"`{name}.{pname}`"
        if port.combine == "concat":
            total = sum(sizes)
            if declared is not None and total != declared:
                if len(srcs) == 1:
                    diags.append(_size_diag(srcs[0], sizes[0], target, declared))
                else:
                    parts = " + ".join(str(s) for s in sizes)
                    diags.append(Diagnostic(
                        f"the edges into {target} carry {parts} = {total} values but it expects ({declared},)",
                        srcs[-1].span, hint=f"edges into {target} are concatenated in source order"))
        else:
            expect = declared if declared is not None else sizes[0]
            for s, size in zip(srcs, sizes):
                if size != expect:
                    diags.append(_size_diag(s, size, target, expect))


def _size_diag(src: Source, size: int, target: str, expect: int) -> Diagnostic:
    return Diagnostic(f"`{src}` has shape ({size},) but {target} expects ({expect},)", src.span,
                      hint=f"make `{src.node}` produce {expect} values, or connect a field of it (e.g. `{src.node}.{src.port}.pos`)"
                      if size > expect else None)


def _feedthrough_order(cm, kinds, timing, sources, diags) -> list[str]:
    """Topological order of the nodes with feedthrough outputs; a cycle is an algebraic loop."""
    ft_nodes = [n for n, k in kinds.items() if k.family != "task" and "feedthrough" in timing[n].values()]
    dep = nx.DiGraph()
    dep.add_nodes_from(ft_nodes)
    edge_span: dict[tuple[str, str], list[A.Span]] = {}
    for (name, pname), srcs in sources.items():
        if kinds[name].port(pname).role == "init" or name not in dep:
            continue
        for s in srcs:
            if s.node in dep and timing[s.node].get(s.port) == "feedthrough":
                dep.add_edge(s.node, name)
                edge_span.setdefault((s.node, name), []).append(s.span)
    try:
        return list(nx.lexicographical_topological_sort(dep, key=lambda n: list(cm.nodes).index(n)))
    except nx.NetworkXUnfeasible:
        pass
    for comp in nx.strongly_connected_components(dep):
        if len(comp) < 2 and not dep.has_edge(next(iter(comp)), next(iter(comp))):
            continue
        cycle = nx.find_cycle(dep.subgraph(comp))
        names = [u for u, _ in cycle]
        spans = [sp for u, v in cycle for sp in edge_span[(u, v)]]
        related = tuple((sp, "this edge is part of the loop") for sp in spans[1:])
        diags.append(Diagnostic(
            "algebraic loop: " + " -> ".join(names + [names[0]]) + " depend on each other within one time step",
            spans[0], related=related,
            hint="put a state between them: a channel with delay >= 1, or a plant"))
    return []
