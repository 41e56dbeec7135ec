"""The layers import one way: the vocabulary (dsl/vocab) imports nothing above it, the front end
(dsl/) imports neither the compiler, the runtime nor JAX, and the compiler imports nothing of the
runtime. Checked over every module's imports (the source's AST, imports inside functions
included), plus one run of the front end on every example in a fresh interpreter to see that JAX
is never loaded, and the guard that refuses a layer imported under a second name."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"rnnlang.dsl": ROOT / "dsl", "rnnlang.compiler": ROOT / "compiler", "rnnlang.runtime": ROOT / "runtime"}
JAX = ("jax", "jaxlib", "optax")

# module prefix -> imports it must not make (prefixes; "rnnlang.dsl.vocab" may import only itself)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "rnnlang.dsl": ("rnnlang.compiler", "rnnlang.runtime", *JAX),
    "rnnlang.compiler": ("rnnlang.runtime",),
    "rnnlang.runtime.simulator": JAX,  # the NumPy simulator
}
BOTTOM = "rnnlang.dsl.vocab"


def modules() -> dict[str, Path]:
    """Every module of the three layers by its dotted name."""
    out = {}
    for pkg, folder in LAYERS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("").parts
            name = ".".join((pkg, *rel))
            out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """The absolute names a module imports, anywhere in it (relative imports resolved)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations() -> list[str]:
    found = []
    for name, path in modules().items():
        names = imports(name, path)
        for owner, banned in FORBIDDEN.items():
            if _under(name, owner):
                found += [f"{name} imports {n}" for n in sorted(names) if any(_under(n, b) for b in banned)]
        if _under(name, BOTTOM):
            found += [f"{name} (the vocabulary) imports {n}" for n in sorted(names)
                      if _under(n, "rnnlang") and not _under(n, BOTTOM)]
        found += [f"{name} imports the layer `{n}` by its bare name" for n in sorted(names)
                  if n.split(".")[0] in ("dsl", "compiler", "runtime")]
    return found


def test_the_import_graph_goes_one_way():
    assert len(modules()) > 30  # the walk found the layers
    assert violations() == []


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path: Path):
    src = tmp_path / "m.py"
    src.write_text("from . import a\nfrom ..b import c\ndef f():\n    import jax.numpy\n")
    assert imports("rnnlang.dsl.x.m", src) == {"rnnlang.dsl.x", "rnnlang.dsl.x.a", "rnnlang.dsl.b", "rnnlang.dsl.b.c",
                                               "jax.numpy"}


SCRIPT = """
import sys
import rnnlang.dsl as dsl
from rnnlang.dsl.diagram import to_dot
for path in sys.argv[1:]:
    cm, graph = dsl.load(path)
    assert cm.plan is not None and graph.number_of_nodes() == len(cm.nodes)
    to_dot(cm, graph).source
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "optax"))
assert not bad, bad
print("clean", len(sys.argv) - 1)
"""


def test_the_front_end_checks_and_draws_every_example_without_jax():
    files = sorted(str(p) for p in (ROOT / "examples").rglob("*.rnn"))
    files += sorted(str(p) for p in (ROOT / "tests" / "programs" / "good").glob("*.rnn"))
    result = subprocess.run([sys.executable, "-c", SCRIPT, *files], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["clean", str(len(files))]


@pytest.mark.parametrize("bare", ["dsl", "compiler", "compiler.nodes", "runtime"])
def test_a_layer_imported_by_its_bare_name_is_refused(bare: str, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    layer = bare.split(".")[0]
    with pytest.raises(ImportError, match=f"import this layer as `rnnlang.{layer}`, not `{layer}`"):
        importlib.import_module(bare)
    for name in [m for m in sys.modules if m.split(".")[0] == layer]:
        del sys.modules[name]
