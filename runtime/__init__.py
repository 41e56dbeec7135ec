"""A compiled model -> trained model and results: training, checkpoints, run directories,
evaluation, figures, interop and the `rnn` command. Calls the compiler and the front end."""

if __name__ != "rnnlang.runtime":  # e.g. `import runtime` from the repository root: a second copy of the layer
    raise ImportError(f"import this layer as `rnnlang.runtime`, not `{__name__}` (install the project with "
                      "`pip install -e .` and import `rnnlang.runtime`)")
