"""rnnlang: a declarative language for recurrent networks in closed loop with tasks and plants.

The layers are `rnnlang.dsl` (text -> checked graph, no JAX), `rnnlang.compiler` (graph -> pure
JAX functions) and `rnnlang.runtime` (training, checkpoints, plots, the `rnn` command).

The Python API mirrors the command line (imported on first use, so `import rnnlang.dsl` stays
free of JAX):

    import rnnlang
    cm, graph = rnnlang.load("examples/perceptual_discrimination.rnn", ["train.batches=100"])
    model = rnnlang.compile_model(cm, graph)
    result = rnnlang.train("examples/perceptual_discrimination.rnn", ["train.batches=100"], out="runs/pd")
    print(rnnlang.evaluate("runs/pd"))
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load", "compile_model", "train", "evaluate", "open_run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rnnlang.runtime import api

        return getattr(api, name)
    raise AttributeError(f"module 'rnnlang' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext rnnlang` in Jupyter or IPython: the `%%rnn` cell magic (runtime/notebook.py)."""
    from rnnlang.runtime.notebook import load_ipython_extension as load_extension

    load_extension(ipython)
