"""Deferred imports, so the node registry can be read without loading JAX.

Node family modules write `jnp = lazy("jax.numpy")` and use `jnp.tanh(...)` as usual; the real
module is imported on first attribute access, which happens only when the compiler traces a step.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A stand-in for a module that imports it on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def lazy(name: str) -> LazyModule:
    return LazyModule(name)
