"""The diagram: DOT source, rendered SVG/PNG/PDF, atomic writes and clear errors."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

from rnnlang.dsl.library import REGISTRY
from rnnlang.dsl import ast as A
from rnnlang.dsl.diagram import render, to_dot
from rnnlang.dsl.errors import UsageError
from rnnlang.dsl.model import CheckedModel, ResolvedNode, ResolvedSite

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed")
SVG = "{http://www.w3.org/2000/svg}"

S = A.Span("hand.rnn", 1, 1, 1, 2)


def _params(kind: str, given: dict) -> dict:
    k = REGISTRY.get(kind)
    out = {p.name: p.default for p in (k.params if k else ()) if not p.required}
    out.update(given)
    return out


def _ref(text: str) -> A.PortRef:
    parts = text.split(".")
    return A.PortRef(parts[0], parts[1], parts[2] if len(parts) > 2 else None, S, S, S, S if len(parts) > 2 else None)


def build(name: str, nodes: dict[str, tuple[str, dict]], edges: list[str],
          sites: list[tuple[str, str, str]] = ()) -> tuple[CheckedModel, nx.MultiDiGraph]:
    """A CheckedModel and its graph by hand: nodes {name: (kind, params)}, edges "a.p[.f] -> b.q[.g]",
    sites (name, "node.site", intervention kind)."""
    rnodes = {}
    for n, (kind, given) in nodes.items():
        family = REGISTRY[kind].family if kind in REGISTRY else "task"
        rnodes[n] = ResolvedNode(n, kind, family, _params(kind, given), A.NodeDecl(n, kind, (), S, S, S))
    aedges = []
    for i, e in enumerate(edges):
        a, b = (t.strip() for t in e.split("->"))
        aedges.append(A.Edge(_ref(a), _ref(b), S, i))
    rsites = {}
    for sname, target, kind in sites:
        node, site = target.split(".")
        rk = REGISTRY[rnodes[node].kind] if rnodes[node].kind in REGISTRY else None
        is_port = bool(rk and rk.port(site))
        decl = A.SiteDecl(sname, A.PortRef(node, site, None, S, S, S), kind, (), (), S, S, S)
        rsites[sname] = ResolvedSite(sname, kind, node, site, is_port, _params(kind, {}), {}, {}, decl)
    cm = CheckedModel(path="hand.rnn", source="", name=name, dt=0.05, steps=10, tau=None, seed=0,
                      nodes=rnodes, edges=aedges, sites=rsites, loss=[], train={}, stages=[], masks={},
                      ast=A.ModelFile("hand.rnn", ""))
    g = nx.MultiDiGraph(model=cm)
    for n, rn in rnodes.items():
        g.add_node(n, kind=rn.kind, family=rn.family, params=rn.params, span=S)
    for e in aedges:
        g.add_edge(e.source.node, e.target.node, key=e.index, source_port=e.source.port,
                   target_port=e.target.port, field=e.source.field, target_field=e.target.field,
                   span=e.span, index=e.index)
    return cm, g


def reach(delay: int = 5, sites=(("curl", "arm.force", "curl_field"),)):
    return build(
        "point_mass_reach",
        {
            "task": ("simple_reaches", {}),
            "net": ("gru", {"hidden": 50, "out": 2}),
            "arm": ("point_mass", {}),
            "feedback": ("channel", {"delay": delay, "noise": 0.0}),
            "motor": ("channel", {"noise": 0.0}),
        },
        [
            "task.target -> net.input",
            "feedback.output -> net.input",
            "net.output -> motor.input",
            "motor.output -> arm.force",
            "arm.effector.pos -> feedback.input",
            "task.start -> arm.init",
            "arm.effector -> task.effector",
        ],
        list(sites),
    )


def svg_of(cm, graph, tmp_path: Path, name: str = "m.svg") -> ET.Element:
    out = render(cm, graph, tmp_path / name)
    assert out == tmp_path / name and out.is_file()
    return ET.parse(out).getroot()


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def titles(root: ET.Element, cls: str) -> list[str]:
    return [g.find(f"{SVG}title").text for g in groups(root, cls)]


XLINK = "{http://www.w3.org/1999/xlink}title"


def tip(g: ET.Element) -> str:
    """An edge's tooltip: `src.port[.field] -> dst.port[.field]`, the real direction (the DOT
    may write a return-path edge backwards with dir=back to lay the loop out)."""
    return next(a.get(XLINK) for a in g.iter(f"{SVG}a") if a.get(XLINK))


def dashes(g: ET.Element) -> str | None:
    """The edge's stroke-dasharray: dot writes "5,2" for dashed, "1,5" for dotted."""
    return next((p.get("stroke-dasharray") for p in g.iter(f"{SVG}path") if p.get("stroke-dasharray")), None)


def is_dashed(g: ET.Element) -> bool:
    return dashes(g) == "5,2"


def check_svg(cm, graph, root: ET.Element) -> None:
    """Every model node is a drawn node; every edge and every site marker a drawn edge."""
    node_titles = titles(root, "node")
    for n in graph.nodes:
        assert n in node_titles, (n, node_titles)
    for s in cm.sites.values():
        assert f"site {s.name}" in node_titles
    assert len(node_titles) == graph.number_of_nodes() + len(cm.sites)
    assert len(groups(root, "edge")) == graph.number_of_edges() + len(cm.sites)
    # each model edge drawn once, named by its tooltip
    tips = [tip(e) for e in groups(root, "edge")]
    for u, v, d in graph.edges(data=True):
        src = f"{u}.{d['source_port']}" + (f".{d['field']}" if d.get("field") else "")
        dst = f"{v}.{d['target_port']}" + (f".{d['target_field']}" if d.get("target_field") else "")
        assert any(t.split(" (")[0] == f"{src} -> {dst}" for t in tips), (src, dst, tips)


# ---- DOT source --------------------------------------------------------------------------------


def test_dot_source_layout_ports_and_title():
    cm, g = reach()
    src = to_dot(cm, g).source
    assert "rankdir=LR" in src
    assert "point_mass_reach" in src  # the title
    # edges attach to named ports, inputs on the west, outputs on the east
    assert '"net":o0:e -> "motor":i0:w' in src
    assert '"motor":o0:e -> "arm":i0:w' in src
    # sizes known from the registry and propagated through the loop
    assert "effector (4)" in src and "force (2)" in src
    assert "input (6)" in src  # task.target (4) + feedback of effector.pos (2)
    assert "label=<pos" in src  # the field taken by arm.effector.pos -> feedback.input
    assert "delay 5" in src and "dashed" in src
    assert "curl_field" in src and '"site curl"' in src
    # one fill colour per family
    from rnnlang.dsl.diagram import FAMILY_COLORS
    for fam in ("task", "network", "channel", "mechanics"):
        assert FAMILY_COLORS[fam][0] in src
    assert len({c[0] for c in FAMILY_COLORS.values()}) == len(FAMILY_COLORS)


def test_title_override():
    cm, g = reach()
    assert "my title" in to_dot(cm, g, title="my title").source


def test_dot_written_without_dot_program(tmp_path, monkeypatch):
    cm, g = reach()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    for ext in (".dot", ".gv"):
        out = render(cm, g, tmp_path / f"m{ext}")
        text = out.read_text()
        assert text.startswith("digraph") and "rankdir=LR" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dot", "m.gv"]  # no temp files left


def test_missing_dot_is_a_usage_error(tmp_path, monkeypatch):
    cm, g = reach()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(UsageError) as e:
        render(cm, g, tmp_path / "m.svg")
    assert "dot" in str(e.value) and "apt-get install graphviz" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_failing_dot_is_a_usage_error(tmp_path, monkeypatch):
    cm, g = reach()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text("#!/bin/sh\n/bin/cat >/dev/null\necho 'Error: something broke' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(UsageError) as e:
        render(cm, g, out_dir / "m.png")
    assert "something broke" in str(e.value)
    assert list(out_dir.iterdir()) == []


def test_bad_extension(tmp_path):
    cm, g = reach()
    for name in ("m.jpeg", "m"):
        with pytest.raises(UsageError) as e:
            render(cm, g, tmp_path / name)
        for ext in (".svg", ".png", ".pdf", ".dot", ".gv"):
            assert ext in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory(tmp_path):
    cm, g = reach()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError):
        render(cm, g, blocker / "m.dot")  # the "directory" is a file
    with pytest.raises(UsageError):
        render(cm, g, tmp_path / "missing" / "m.dot")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(UsageError):
                render(cm, g, ro / "m.dot")
        finally:
            ro.chmod(0o700)


def test_existing_file_replaced_whole(tmp_path):
    cm, g = reach()
    out = tmp_path / "m.dot"
    out.write_text("old")
    render(cm, g, out)
    assert out.read_text().startswith("digraph")
    assert [p.name for p in tmp_path.iterdir()] == ["m.dot"]


# ---- rendered ----------------------------------------------------------------------------------


@needs_dot
def test_svg_reach_hand_built(tmp_path):
    cm, g = reach(delay=5)
    root = svg_of(cm, g, tmp_path)
    check_svg(cm, g, root)
    assert len(groups(root, "edge")) == 7 + 1
    # dashed edges through the delayed feedback channel, with the delay written
    dashed = {tip(e) for e in groups(root, "edge") if is_dashed(e)}
    assert dashed == {"arm.effector.pos -> feedback.input (delay 5)", "feedback.output -> net.input (delay 5)"}
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "delay 5" in text
    # the site marker: an octagon node naming site and intervention, joined to arm.force
    assert "curl" in text and "curl_field" in text
    site_edges = [tip(e) for e in groups(root, "edge") if "site curl" in e.find(f"{SVG}title").text]
    assert site_edges == ["curl acts on arm.force"]
    # the site's edge is dotted (its own style, not the delay's dashes)
    assert [dashes(e) for e in groups(root, "edge") if tip(e) == "curl acts on arm.force"] == ["1,5"]
    # the title
    assert "point_mass_reach" in text


@needs_dot
def test_svg_no_delay_no_dashes(tmp_path):
    cm, g = reach(delay=0, sites=())
    root = svg_of(cm, g, tmp_path)
    check_svg(cm, g, root)
    assert not any(dashes(e) for e in groups(root, "edge"))


@needs_dot
def test_sites_on_output_and_internal_sites(tmp_path):
    cm, g = build(
        "sites",
        {"task": ("perceptual_discrimination", {}), "net": ("ctrnn", {"hidden": 8, "out": 2})},
        ["task.input -> net.input", "net.output -> task.response"],
        [("silence", "net.hidden", "clamp"), ("cut", "net.W_rec", "ablate"), ("jitter", "net.input", "noise")],
    )
    root = svg_of(cm, g, tmp_path)
    check_svg(cm, g, root)
    src = to_dot(cm, g).source
    assert "W_rec" in src  # the internal site is drawn as a row of the node


@needs_dot
def test_names_are_escaped(tmp_path):
    cm, g = build(
        'a<b & "c">',
        {"n<&>": ("gru", {"hidden": 4, "out": 2}), "m'x": ("channel", {"delay": 2})},
        ["n<&>.output -> m'x.input", "m'x.output -> n<&>.input"],
        [("s<1>&", "m'x.input", "noise")],
    )
    src = to_dot(cm, g).source
    assert "n&lt;&amp;&gt;" in src and "a&lt;b &amp; &quot;c&quot;&gt;" in src
    assert "<b>n<&></b>" not in src
    root = svg_of(cm, g, tmp_path)  # dot accepts the source
    check_svg(cm, g, root)
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "n<&>" in text and 'a<b & "c">' in text


DECLARED = """model declared { dt = 10  steps = 20 }
node task = task {
  inputs = [stimulus, cue[3]]
  outputs = [choice]
  epoch all for 200 { stimulus = 1  choice = 1 }
}
node net = ctrnn(hidden = 8, out = 1)
task.input -> net.input
net.output -> task.response
loss { mse = squared_error(net.output, task.target, mask = task.mask) }
"""


@needs_dot
def test_a_declared_task_is_drawn_with_the_ports_and_sizes_of_its_plan(tmp_path):
    from rnnlang.dsl import load_source

    cm, g = load_source(DECLARED, "declared.rnn")
    root = svg_of(cm, g, tmp_path)
    check_svg(cm, g, root)
    src = to_dot(cm, g).source
    assert "input (4)" in src and "response (1)" in src and "target (1)" in src


@needs_dot
@pytest.mark.parametrize("ext, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-")])
def test_png_pdf(tmp_path, ext, magic):
    cm, g = reach()
    out = render(cm, g, tmp_path / f"m{ext}")
    data = out.read_bytes()
    assert len(data) > 1000 and data.startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"m{ext}"]


# ---- the examples ------------------------------------------------------------------------------


def _load(path: Path):
    dsl = pytest.importorskip("rnnlang.dsl")
    load = getattr(dsl, "load", None)
    if load is None:
        pytest.skip("rnnlang.dsl.load is not there yet")
    return load(str(path))


@needs_dot
@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.rnn")))
def test_examples_render(tmp_path, example):
    cm, g = _load(EXAMPLES / example)
    root = svg_of(cm, g, tmp_path)
    check_svg(cm, g, root)
    text = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert cm.name in text
    for ext, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF-")):
        assert render(cm, g, tmp_path / f"m{ext}").read_bytes().startswith(magic)


@needs_dot
def test_reach_example_is_a_closed_loop(tmp_path):
    path = EXAMPLES / "point_mass_reach.rnn"
    if not path.exists():
        pytest.skip("no reach example")
    cm, g = _load(path)
    tips = {tip(e) for e in groups(svg_of(cm, g, tmp_path), "edge")}
    for t in ("task.target -> net.input", "net.output -> motor.input", "motor.output -> arm.force",
              "arm.effector -> feedback.input", "feedback.output -> net.input"):
        assert t in tips, (t, tips)
    # feedback is laid out on the return path: between the network and the plant
    src = to_dot(cm, g).source
    assert '"net":i0:w -> "feedback":o0:w' in src and "dir=" in src
