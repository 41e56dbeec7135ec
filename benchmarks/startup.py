"""Where the time to the first training step goes, by phase, in wall and CPU seconds.

    T0=$(date +%s.%N) python benchmarks/startup.py examples/perceptual_discrimination.rnn

Phases: importing JAX (with Python's own start when T0 is given), importing rnnlang, parse +
check, lowering, `Trainer()`, `init_state()`, and the first one-step dispatch (tracing, the
compiled program from the persistent cache or a compilation, the step). Prints one JSON line:
phase -> [wall s, CPU s]. CPU time (all threads of the process) is the steadier measure on a
shared machine."""

import json
import os
import sys
import time

T0 = float(os.environ.get("T0", time.time()))
marks = []


def mark(name):
    marks.append((name, time.time(), time.process_time()))


def main(path: str) -> None:
    from rnnlang.runtime.cli import _configure_jax

    _configure_jax()
    import jax

    mark("import jax")
    from rnnlang.runtime.api import compile_model, load
    from rnnlang.runtime.train import Trainer

    mark("import rnnlang")
    cm, g = load(path, ["train.steps_per_dispatch=1"])
    mark("parse+check")
    m = compile_model(cm, g)
    mark("compile_model")
    tr = Trainer(m)
    mark("Trainer()")
    st = tr.init_state()
    jax.block_until_ready(st.params)
    mark("init_state")
    out = tr.chunk_fn(0)(st.params, st.opt_state, 0, 1, tr.k_train)
    jax.block_until_ready(out)
    mark("first step")
    res, prev_w, prev_c = {}, T0, 0.0
    for name, w, c in marks:
        res[name] = [round(w - prev_w, 2), round(c - prev_c, 2)]
        prev_w, prev_c = w, c
    res["total"] = [round(marks[-1][1] - T0, 2), round(marks[-1][2], 2)]
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1])
