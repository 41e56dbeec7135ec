"""A task's trials drawn outside a training step are one compiled program per batch size (and one
for the validation set), with the values of the same trials drawn inside a traced function (the
values against the anchors' formulas are tests/compiler/test_tasks.py's)."""

from __future__ import annotations

import jax
import numpy as np

from tests.compiler.test_tasks import key, make, np_tree


def test_one_program_per_batch_size_and_the_values_of_eager_trials():
    impl = make("perceptual_discrimination")
    a, b = impl.trials(key(0), 8), impl.trials(key(1), 8)  # the second call reuses the first's program
    impl.trials(key(0), 4)
    v = impl.validation(key(2))
    assert sorted(impl._programs) == [("trials", 4), ("trials", 8), ("validation",)]
    assert all(f._cache_size() == 1 for f in impl._programs.values())
    assert not np.array_equal(np.asarray(a["vars"]["coherence"]), np.asarray(b["vars"]["coherence"])) or \
        not np.array_equal(np.asarray(a["signals"]["input"]), np.asarray(b["signals"]["input"]))
    # the same trials as those drawn inside another traced function (a training step)
    traced = jax.jit(lambda k1, k2: (impl.trials(k1, 8), impl.validation(k2)))(key(0), key(2))
    for got, want in ((np_tree(a), np_tree(traced[0])), (np_tree(v), np_tree(traced[1]))):
        assert jax.tree.structure(got) == jax.tree.structure(want)
        for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)

def test_inside_a_traced_function_and_with_overrides_the_trials_are_traced_as_before():
    impl = make("perceptual_discrimination")
    inner = jax.jit(lambda k: impl.trials(k, 8))(key(3))
    over = impl.trials(key(3), 8, {"coherences": [0.7]})
    assert impl._programs == {}  # neither went through the per-batch-size programs
    assert np.allclose(np.asarray(over["vars"]["coherence"]), 0.7)
    np.testing.assert_array_equal(np.asarray(inner["signals"]["mask"]), np.asarray(impl.trials(key(3), 8)["signals"]["mask"]))
