"""The front end never imports JAX (it must stay fast to import and usable without it)."""

from __future__ import annotations

import subprocess
import sys

from .dsl_helpers import REPO

SCRIPT = """
import sys
import rnnlang.dsl as dsl
for path in sys.argv[1:]:
    cm, graph = dsl.load(path)
    assert graph.number_of_nodes() == len(cm.nodes)
bad = [m for m in sys.modules if m == "jax" or m.startswith("jax.") or m == "jaxlib" or m == "optax"]
assert not bad, bad
print("clean")
"""


def test_dsl_loads_examples_without_importing_jax():
    examples = sorted(str(p) for p in (REPO / "examples").glob("*.rnn"))
    good = sorted(str(p) for p in (REPO / "tests" / "programs" / "good").glob("*.rnn"))
    assert examples
    result = subprocess.run([sys.executable, "-c", SCRIPT, *examples, *good], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"
