"""A checked model and its plan -> pure JAX functions: the kinds' JAX implementations (`nodes`,
attached by name to the signatures of `rnnlang.dsl.library`) and the lowering (`lower`).
Imports the front end, never the runtime; knows nothing of training."""

if __name__ != "rnnlang.compiler":  # e.g. `import compiler` from the repository root: a second copy of the layer
    raise ImportError(f"import this layer as `rnnlang.compiler`, not `{__name__}` (install the project with "
                      "`pip install -e .` and import `rnnlang.compiler`)")
