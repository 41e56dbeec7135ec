"""rnnlang: a declarative language for recurrent networks in closed loop with tasks and plants.

The layers are `rnnlang.dsl` (text -> checked graph, no JAX), `rnnlang.compiler` (graph -> pure
JAX functions) and `rnnlang.runtime` (training, checkpoints, plots, the `rnn` command).
"""

__version__ = "0.1.0"
