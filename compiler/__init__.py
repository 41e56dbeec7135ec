"""Graph -> pure JAX functions: the node registry (`nodes`), the evaluation plan (`schedule`)
and the lowering (`lower`). Knows nothing of training."""
