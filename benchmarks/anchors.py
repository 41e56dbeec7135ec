"""How the anchors are timed: each runs as a subprocess inside its own throwaway virtual
environment (made by benchmarks/setup_anchors.sh, outside the repository), running one of the
scripts below, which prints one line of JSON.

Both scripts time the anchor through its own public training loop, as a user runs it, and
read the clock from inside it without changing what it does:

- Feedbax (R): `feedbax.xabdeef.point_mass_nn_simple_reaches(...).train(...)`, Adam 1e-2,
  batch 250, with a `batch_callbacks` entry on every batch recording the wall clock. Feedbax's
  loop waits for every batch to finish (it checks the loss for NaN), so the gap between two
  callbacks is one training step. Validation runs only at the first and the last batch
  (`log_step = n_batches`), outside the timed blocks. The tutorial's model adds sensory and
  motor noise; by default the script switches every channel's `add_noise` off, which makes it
  the same noise-free model as examples/point_mass_reach.rnn (`noise=True` keeps Feedbax's
  default). Time to first step = the callback of batch 0 (compilation done and batch 0
  dispatched) plus one median step.
- PsychRNN (P, S): `Basic(params).train(generator, {...})` on `PerceptualDiscrimination(dt=10,
  tau=100, T=2000, N_batch=128)`, Adam 1e-3 with PsychRNN's default per-tensor clipping. The
  generator wraps the task's own `batch_generator()` and records the clock at each call, once
  per training iteration, so a block's time includes PsychRNN's NumPy trial generation (data
  generation included, as the target asks). Accuracy mode: every `check_every` batches the
  generator scores a fixed set of 128 trials with `model.test` and PsychRNN's
  `accuracy_function`, and stops training at the target.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FEEDBAX_SCRIPT = r'''
import json, os, sys, time, tempfile
T0 = float(os.environ.get("BENCH_T0", time.time()))
a = json.loads(sys.argv[1])
os.chdir(tempfile.mkdtemp(prefix="fbx-bench-"))  # Feedbax writes checkpoints into the cwd
import logging
logging.disable(logging.WARNING)
import jax, jax.random as jr
import equinox as eqx
from feedbax.xabdeef import point_mass_nn_simple_reaches
from feedbax.channel import Channel

ctx = point_mass_nn_simple_reaches(key=jr.PRNGKey(a.get("seed", 0)))
if not a.get("noise", False):
    is_ch = lambda x: isinstance(x, Channel)
    chans = lambda m: [x for x in jax.tree_util.tree_leaves(m, is_leaf=is_ch) if is_ch(x)]
    model = eqx.tree_at(chans, ctx.model, [eqx.tree_at(lambda c: c.add_noise, c, False) for c in chans(ctx.model)])
    ctx = eqx.tree_at(lambda c: c.model, ctx, model)
warm, blocks, n = a["warmup"], a["blocks"], a["block_steps"]
n_batches = 1 + warm + blocks * n + 1
marks = {}
class ByBatch(dict):  # Feedbax looks batches up with a jax scalar, which is unhashable
    def __contains__(self, b):
        return dict.__contains__(self, int(b))
    def __getitem__(self, b):
        return dict.__getitem__(self, int(b))
def mark(b):
    return lambda: marks.__setitem__(b, time.time())
t_build = time.time()
ctx.train(n_batches=n_batches, batch_size=a.get("batch", 250), learning_rate=1e-2, log_step=n_batches,
          key=jr.PRNGKey(1), batch_callbacks=ByBatch({b: [mark(b)] for b in range(n_batches)}), disable_tqdm=True)
rates = []
for i in range(blocks):
    b0 = 1 + warm + i * n
    rates.append(n / (marks[b0 + n] - marks[b0]))
steps = sorted(marks[b + 1] - marks[b] for b in range(1 + warm, n_batches - 1))
print(json.dumps({"variant": "feedbax", "workload": "R", "jax": jax.__version__, "noise": bool(a.get("noise", False)),
                  "steps_per_s_blocks": rates, "batch": a.get("batch", 250), "replicates": 1,
                  "time_to_first_step_s": marks[0] - T0 + steps[len(steps) // 2],
                  "import_and_build_s": t_build - T0}), flush=True)
'''

PSYCHRNN_SCRIPT = r'''
import json, os, sys, time, tempfile
T0 = float(os.environ.get("BENCH_T0", time.time()))
a = json.loads(sys.argv[1])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
from psychrnn.tasks.perceptual_discrimination import PerceptualDiscrimination
from psychrnn.backend.models.basic import Basic
from psychrnn._version import __version__ as psychrnn_version

np.random.seed(a.get("seed", 0))
tf.compat.v1.set_random_seed(a.get("seed", 0))
batch = a.get("batch", 128)
pd = PerceptualDiscrimination(dt=10, tau=100, T=2000, N_batch=batch)
params = pd.get_task_params()
params["name"] = "bench"
params["N_rec"] = a.get("hidden", 50)
model = Basic(params)
marks = []
out = {"variant": "psychrnn", "psychrnn": psychrnn_version, "tf": tf.__version__, "batch": batch,
       "hidden": params["N_rec"], "replicates": 1}

if a["mode"] == "speed":
    warm, blocks, n = a["warmup"], a["blocks"], a["block_steps"]
    iters = 1 + warm + blocks * n + 1
    def gen():
        g = pd.batch_generator()
        while True:
            marks.append(time.time())
            yield next(g)
    # marks[0]: the call that reads the batch size; marks[i], i >= 1: the start of iteration i
    model.train(gen(), {"training_iters": (iters + 1) * batch, "learning_rate": 1e-3, "verbosity": False})
    rates = []
    for i in range(blocks):
        b0 = 1 + 1 + warm + i * n
        rates.append(n / (marks[b0 + n] - marks[b0]))
    out.update(steps_per_s_blocks=rates, time_to_first_step_s=marks[2] - T0)
else:
    val_x, val_y, val_m, _ = pd.get_trial_batch()
    every, target = a["check_every"], a["target"]
    state = {"n": 0, "reached": None, "acc": []}
    def gen():
        g = pd.batch_generator()
        yield next(g)  # read for the batch size
        while True:
            if state["n"] and state["n"] % every == 0:
                y, _ = model.test(val_x)
                acc = float(pd.accuracy_function(val_y, y, val_m))
                state["acc"].append((state["n"], round(acc, 4)))
                if acc >= target:
                    state["reached"] = time.time() - T0
                    return
            state["n"] += 1
            yield next(g)
    try:
        model.train(gen(), {"training_iters": a["max_batches"] * batch, "learning_rate": 1e-3, "verbosity": False})
    except StopIteration:
        pass
    out.update(mode="accuracy", target=target, time_to_target_s=state["reached"], batches=state["n"],
               trials=state["n"] * batch, history=state["acc"][-5:])
print(json.dumps(out), flush=True)
'''


def venv_python(venv: str | os.PathLike | None) -> str | None:
    """The venv's python, or None when there is no usable venv there."""
    if not venv:
        return None
    py = Path(venv) / "bin" / "python"
    return str(py) if py.exists() else None


def feedbax_python(feedbax_path: str | None, venv: str | None) -> tuple[str | None, str]:
    """(python, why-not): the Feedbax venv's python when Feedbax imports there. `feedbax_path`
    is its source (a checkout); the venv (default /tmp/bench-venvs/feedbax) must have it installed."""
    py = venv_python(venv)
    if py is None:
        return None, f"no Feedbax virtual environment at {venv} (run benchmarks/setup_anchors.sh)"
    if feedbax_path is None:
        return None, "no Feedbax source given (--feedbax PATH)"
    if not Path(feedbax_path).exists():
        return None, f"Feedbax source {feedbax_path} not found"
    return py, ""


def feedbax_command(py: str, args: dict) -> list[str]:
    return [py, "-c", FEEDBAX_SCRIPT, json.dumps(args)]


def psychrnn_command(py: str, args: dict) -> list[str]:
    return [py, "-c", PSYCHRNN_SCRIPT, json.dumps(args)]
