"""Parameter counts without building anything: each network kind declares the shapes of its
parameter tensors (`NodeKind.param_shapes`), the plan gives them per node, and `rnn check`
counts from them. They are exactly the shapes the compiled `init_params` makes, for every
example, every good test program and each variant of the network kinds."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from rnnlang.compiler import budget
from rnnlang.runtime.api import compile_model, load

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "examples").glob("*.rnn")) + sorted((ROOT / "examples" / "tasks").glob("*.rnn")) \
    + sorted((ROOT / "tests" / "programs" / "good").glob("*.rnn"))

VARIANTS = {
    "gru with an encoder": 'gru(hidden = 5, out = 2, encoder = 3)',
    "textbook lstm with an encoder": 'lstm(hidden = 4, out = 2, encoder = 2)',
    "psychrnn lstm": 'lstm(hidden = 6, out = 2, variant = "psychrnn")',
    "psychrnn lstm with an encoder": 'lstm(hidden = 4, out = 2, variant = "psychrnn", encoder = 3)',
    "ctrnn with masks and Dale's law": 'ctrnn(hidden = 4, out = 2, dale_ratio = 0.5, autapses = false, '
                                       'input_mask = [[1, 0], [1, 1], [0, 1], [1, 1]])',
}

SOURCE = """model {{ dt = 10  duration = 100 }}
node task = perceptual_discrimination()
node net = {net}
node quiet = gru(hidden = 3, out = 1)
task.input -> net.input
net.output -> task.response
loss {{ mse = squared_error(net.output, task.target, mask = task.mask) }}
"""


def compiled_shapes(path: Path) -> tuple[dict, dict, object]:
    """The plan's shapes and the compiled init's shapes per node, and the compiled model."""
    cm, graph = load(path)
    model = compile_model(cm, graph)
    built = jax.eval_shape(model.init, jax.ShapeDtypeStruct((2,), jnp.uint32))
    compiled = {n: {k: tuple(v.shape) for k, v in ps.items()} for n, ps in built.items()}
    assert set(compiled) <= set(cm.nodes)  # the task holds no parameters, and is left out
    return {n: cm.plan.param_shapes(n) for n in cm.nodes}, {n: compiled.get(n, {}) for n in cm.nodes}, model


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {n: c for n, c in counts.items() if c}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_plan_gives_the_shapes_init_makes(path):
    planned, compiled, model = compiled_shapes(path)
    assert planned == compiled
    assert nonzero(model.cm.plan.param_counts()) == nonzero(model.param_counts())
    assert sum(model.param_counts().values()) > 0


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_network_variant_is_counted_as_built(tmp_path, variant):
    path = tmp_path / "m.rnn"
    path.write_text(SOURCE.format(net=VARIANTS[variant]))
    planned, compiled, model = compiled_shapes(path)
    assert planned == compiled
    assert planned["quiet"]["weight_ih"] == (9, 0)  # a network nothing connects to: no inputs
    assert budget.estimate(model).parameters == 4 * sum(model.param_counts().values())
