"""The one table of transfer functions (rnnlang.dsl.vocab.TRANSFERS): the compiler's JAX forms and
the runtime simulator's NumPy forms implement exactly its names, and both compute its formulas."""

import numpy as np
import pytest

from rnnlang.compiler.nodes.networks import JAX_TRANSFERS
from rnnlang.dsl.library.networks import CTRNN
from rnnlang.dsl.vocab import TRANSFER_NAMES, TRANSFERS
from rnnlang.runtime.simulator import NUMPY_TRANSFERS

X = np.linspace(-4.0, 4.0, 33).astype(np.float32)
FORMULAS = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
            "softplus": lambda x: np.log1p(np.exp(x)), "identity": lambda x: x,
            "softmax": lambda x: np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)}


def test_every_table_names_the_same_transfer_functions():
    assert tuple(JAX_TRANSFERS) == tuple(NUMPY_TRANSFERS) == tuple(TRANSFERS) == TRANSFER_NAMES == tuple(FORMULAS)
    assert CTRNN.param("output_transfer").choices == TRANSFER_NAMES
    assert CTRNN.param("transfer").choices == tuple(n for n in TRANSFER_NAMES if n != "softmax")


@pytest.mark.parametrize("name", TRANSFER_NAMES)
def test_jax_and_numpy_forms_compute_the_formula(name):
    want = FORMULAS[name](X.astype(np.float64))
    np.testing.assert_allclose(np.asarray(JAX_TRANSFERS[name](X)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(NUMPY_TRANSFERS[name](X), want, rtol=1e-5, atol=1e-6)
