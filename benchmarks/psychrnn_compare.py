"""PsychRNN 1.0.0 against rnnlang on the same weights and inputs (not run by the tests).

    python benchmarks/psychrnn_compare.py [--venv /tmp/psychrnn-venv] [--train-batches 20]

1. Makes (or reuses) a throwaway virtualenv outside the repository with `pip<24.1`,
   `psychrnn==1.0.0 --no-deps` and the CPU build of TensorFlow, from the package index.
2. In that virtualenv (a subprocess), builds PsychRNN's `Basic` (N_rec = 50, Dale's ratio 0.8, random
   connectivity masks, no autapses, PsychRNN's own weight initialisation), trains it briefly on perceptual
   discrimination (so the saved file holds trained weights and Adam's slots), runs it on a batch of
   trials and saves its weights with `model.save`.
3. Imports that file with `rnnlang.runtime.interop.import_psychrnn`, compiles the model and runs it
   on the same inputs; also runs rnnlang's NumPy simulator on the file.
4. Writes the imported model's weights as `export_psychrnn` does, loads that file into PsychRNN
   (`load_weights_path`) and runs the same trials again.
5. Prints the largest differences of the outputs and states, absolute and relative to the largest
   output (or state) magnitude, and exits 1 if the relative difference exceeds --tolerance.

PsychRNN 1.0.0 builds Dale_out with -1 for inhibitory units (fixed on its head, 0); rnnlang follows the
head, so the script hands PsychRNN the head's Dale_out explicitly. Recurrent noise is 0 on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

PSYCHRNN_SIDE = r'''
import json, sys, numpy as np
import tensorflow as tf
from psychrnn.backend.models.basic import Basic
from psychrnn.tasks.perceptual_discrimination import PerceptualDiscrimination

work = sys.argv[1]
cfg = json.load(open(work + "/config.json"))
with np.load(work + "/init.npz", allow_pickle=False) as z:
    init = {k: z[k] for k in z.files}
np.random.seed(cfg["seed"])
tf.compat.v1.set_random_seed(cfg["seed"])
task = PerceptualDiscrimination(dt=cfg["dt"], tau=cfg["tau"], T=cfg["T"], N_batch=cfg["batch"])
params = task.get_task_params()
params.update(name="basic", N_rec=cfg["N"], rec_noise=0.0, dale_ratio=cfg["dale_ratio"], autapses=False,
              **init)
model = Basic(params)
if cfg["train_batches"] > 0:
    model.train(task, {"training_iters": cfg["train_batches"] * cfg["batch"], "learning_rate": 1e-3, "verbosity": False})
x, y, mask, _ = task.get_trial_batch()
outputs, states = model.test(x)
model.save(work + "/psychrnn_weights.npz")
np.savez(work + "/psychrnn_out.npz", x=x, outputs=outputs, states=states)
print("tensorflow", tf.__version__)
'''

# PsychRNN loads the file rnnlang exports and runs the same trials
PSYCHRNN_LOAD = r'''
import json, sys, numpy as np
from psychrnn.backend.models.basic import Basic
from psychrnn.tasks.perceptual_discrimination import PerceptualDiscrimination

work = sys.argv[1]
cfg = json.load(open(work + "/config.json"))
task = PerceptualDiscrimination(dt=cfg["dt"], tau=cfg["tau"], T=cfg["T"], N_batch=cfg["batch"])
params = task.get_task_params()
params.update(name="reloaded", N_rec=cfg["N"], rec_noise=0.0, load_weights_path=work + "/rnnlang_export.npz")
model = Basic(params)
with np.load(work + "/psychrnn_out.npz", allow_pickle=False) as z:
    x = z["x"]
outputs, states = model.test(x)
np.savez(work + "/reloaded_out.npz", outputs=outputs, states=states)
'''


def ensure_venv(venv: Path, install: bool) -> Path:
    """The virtualenv's python, with psychrnn 1.0.0 and TensorFlow (CPU) installed into it."""
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import psychrnn, tensorflow"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    if not install:
        raise SystemExit(f"{venv}: no usable virtualenv (run without --no-install to create it)")
    t = time.time()
    print(f"creating {venv} (installing TensorFlow takes minutes)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + ["pip<24.1"], check=True)  # PsychRNN 1.0.0's metadata is refused by newer pip
    subprocess.run(pip + ["psychrnn==1.0.0", "--no-deps"], check=True)
    subprocess.run(pip + ["tensorflow-cpu", "numpy"], check=True)
    subprocess.run(probe, check=True)
    print(f"virtualenv ready in {time.time() - t:.0f} s", file=sys.stderr)
    return py


def random_network(N: int, n_in: int, n_out: int, dale_ratio: float, seed: int) -> dict[str, np.ndarray]:
    """Random connectivity masks (no autapses) and the head's Dale_out; PsychRNN draws the weights
    itself (its default GaussianSpectralRadius initializer, balanced for Dale's law)."""
    rng = np.random.default_rng(seed)
    rec = (rng.random((N, N)) < 0.5).astype(np.float32)
    np.fill_diagonal(rec, 0.0)
    d = (np.arange(N) < int(dale_ratio * N)).astype(np.float32)
    return {
        "input_connectivity": (rng.random((N, n_in)) < 0.8).astype(np.float32),
        "rec_connectivity": rec,
        "output_connectivity": (rng.random((n_out, N)) < 0.8).astype(np.float32),
        "Dale_out": np.diag(d),
    }


def rel(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(max |a - b|, max |a - b| / max |b|)."""
    d = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
    return d, d / max(float(np.max(np.abs(b))), 1e-30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", default="/tmp/psychrnn-venv", help="the throwaway virtualenv (outside the repository)")
    ap.add_argument("--no-install", action="store_true", help="use the virtualenv as it is")
    ap.add_argument("--N", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--dale-ratio", type=float, default=0.8)
    ap.add_argument("--train-batches", type=int, default=20, help="PsychRNN training batches before the comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest acceptable relative difference")
    args = ap.parse_args(argv)

    venv = Path(args.venv).resolve()
    if venv == ROOT or ROOT in venv.parents:
        raise SystemExit(f"{venv}: the virtualenv must lie outside the repository ({ROOT})")
    py = ensure_venv(venv, not args.no_install)

    from rnnlang.runtime import api, interop
    from rnnlang.runtime.simulator import Simulator

    import jax
    import jax.numpy as jnp

    dt, tau, T = 10, 100, 2000
    cfg = {"N": args.N, "batch": args.batch, "dale_ratio": args.dale_ratio, "train_batches": args.train_batches,
           "seed": args.seed, "dt": dt, "tau": tau, "T": T}
    with tempfile.TemporaryDirectory(prefix="psychrnn-compare-") as tmp:
        work = Path(tmp)
        (work / "config.json").write_text(json.dumps(cfg))
        np.savez(work / "init.npz", **random_network(args.N, 2, 2, args.dale_ratio, args.seed))
        (work / "psychrnn_side.py").write_text(PSYCHRNN_SIDE)
        t = time.time()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        done = subprocess.run([str(py), str(work / "psychrnn_side.py"), str(work)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            raise SystemExit("PsychRNN's side failed")
        print(f"PsychRNN 1.0.0 ({done.stdout.strip()}): built, trained {args.train_batches} batches, ran "
              f"{args.batch} trials in {time.time() - t:.1f} s")
        with np.load(work / "psychrnn_out.npz", allow_pickle=False) as z:
            x, y_ps, s_ps = z["x"], z["outputs"], z["states"]

        t = time.time()
        model_path = interop.import_psychrnn(work / "psychrnn_weights.npz", work / "imported.rnn",
                                             task="perceptual_discrimination", dt=dt, tau=tau, steps=T // dt)
        model = api.compile_model(model_path)
        params = model.init(jax.random.PRNGKey(0))
        out = model.rollout(params, {"signals": {"input": jnp.asarray(x, jnp.float32)}}, jax.random.PRNGKey(0),
                            record=["net.output", "net.hidden"])
        y_rl = np.asarray(out["net.output"])
        r_rl = np.asarray(out["net.hidden"])
        print(f"rnnlang: imported, compiled and ran in {time.time() - t:.1f} s")
        y_np, s_np = Simulator.from_npz(work / "psychrnn_weights.npz", dt=dt, tau=tau).run_trials(x)

        # the other way: what export_psychrnn writes for these parameters, loaded by PsychRNN 1.0.0
        interop.save_npz(work / "rnnlang_export.npz", interop.network_weights(model, params, "net"))
        (work / "psychrnn_load.py").write_text(PSYCHRNN_LOAD)
        done = subprocess.run([str(py), str(work / "psychrnn_load.py"), str(work)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            raise SystemExit("PsychRNN could not load rnnlang's exported file")
        with np.load(work / "reloaded_out.npz", allow_pickle=False) as z:
            y_back, s_back = z["outputs"], z["states"]

    rows = [
        ("outputs: rnnlang (JAX) vs PsychRNN (TF)", *rel(y_rl, y_ps)),
        ("rates f(state): rnnlang vs PsychRNN", *rel(r_rl, np.maximum(s_ps, 0))),
        ("outputs: rnnlang NumPy simulator vs PsychRNN", *rel(y_np, y_ps)),
        ("states: rnnlang NumPy simulator vs PsychRNN", *rel(s_np, s_ps)),
        ("outputs: PsychRNN on rnnlang's export vs PsychRNN", *rel(y_back, y_ps)),
        ("states: PsychRNN on rnnlang's export vs PsychRNN", *rel(s_back, s_ps)),
    ]
    print(f"{args.batch} trials x {T // dt} steps, N_rec = {args.N}, Dale's ratio {args.dale_ratio}, masks, no autapses")
    for name, absd, reld in rows:
        print(f"  {name:50s} max abs diff {absd:.3e}   relative {reld:.3e}")
    worst = max(r[2] for r in rows)
    print(f"largest relative difference: {worst:.3e}")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    raise SystemExit(main())
