"""PsychRNN weight files in and out (see docs/psychrnn.md for the key mapping).

`import_psychrnn` turns a PsychRNN `.npz` (what `RNN.save` / `get_weights` write) into a `.rnn`
model and a data file of plain float32 arrays beside it; `export_psychrnn` writes a trained run's
`ctrnn` as a file PsychRNN 1.0 loads with `load_weights_path`.

Files are opened with `allow_pickle=False` and nothing is ever unpickled: a key PsychRNN stored as
a pickled Python object (`dale_ratio` when it is None, the transfer function on PsychRNN's head,
anything else of dtype object) raises when it is read; it is skipped with a warning. The Dale ratio
is then read off the diagonal of `Dale_rec`, the transfer function comes from the caller.

PsychRNN stores *effective* weights (masks and Dale's law applied). Masking and Dale's law are
idempotent, so a `ctrnn` given those weights, the same masks and the same Dale ratio computes what
the PsychRNN model computed. Nothing here imports JAX except `export_psychrnn` / `run_weights`,
which open a run through the compiler.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from rnnlang.dsl.errors import UsageError
from rnnlang.dsl.schema import RESERVED_WORDS
from rnnlang.dsl.vocab import TRANSFERS

from .files import atomic_write, replacing

WEIGHT_KEYS = ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state")
MASK_KEYS = ("input_connectivity", "rec_connectivity", "output_connectivity")
MASK_PARAMS = {"input_connectivity": "input_mask", "rec_connectivity": "rec_mask", "output_connectivity": "output_mask"}
DALE_KEYS = ("Dale_rec", "Dale_out")
OBJECT_KEYS = ("dale_ratio", "transfer_function")  # scalars / objects beside the arrays
KNOWN_KEYS = WEIGHT_KEYS + MASK_KEYS + DALE_KEYS + OBJECT_KEYS
# cognitive task kinds a PsychRNN network pairs with: (inputs, outputs), None where a parameter sets it
COGNITIVE_TASKS: dict[str, tuple[int | None, int | None]] = {
    "perceptual_discrimination": (2, 2),
    "delayed_discrimination": (2, 2),
    "match_to_category": (None, None),
}
SKIP_NOTES = {"dale_ratio": "; the Dale ratio is read off the diagonal of Dale_rec",
              "transfer_function": "; the transfer function is the one asked for (--transfer, default relu)"}
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError)


def _warn(message: str) -> None:
    print(f"rnn: warning: {message}", file=sys.stderr)


# ---- reading a PsychRNN file ------------------------------------------------------------------


@dataclass
class PsychRNNFile:
    """What could be read of a PsychRNN weight file: numeric arrays by key, and what was left out."""

    path: Path
    arrays: dict[str, np.ndarray]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, why), warned about
    slots: list[str] = field(default_factory=list)  # optimizer-slot keys, ignored

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(N_rec, N_in, N_out)."""
        return (int(self.arrays["W_rec"].shape[0]), int(self.arrays["W_in"].shape[1]), int(self.arrays["W_out"].shape[0]))


def is_slot_key(key: str) -> bool:
    """Optimizer slots PsychRNN saves beside the weights (`W_rec/Adam`, `W_rec/Adam_1`, ...)."""
    return "Adam" in key or "/" in key


def read_psychrnn(path: str | os.PathLike, warn: bool = True) -> PsychRNNFile:
    """Open a PsychRNN `.npz` without unpickling; check the keys and shapes of a `Basic` network.
    Raises UsageError for a missing, non-npz, corrupt or incomplete file."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file")
    if p.is_dir():
        raise UsageError(f"{p}: is a directory, not a PsychRNN weight file (.npz)")
    try:
        data = np.load(p, allow_pickle=False)
    except _READ_ERRORS as e:
        raise UsageError(f"{p}: not a NumPy .npz file ({_why(e)})") from None
    if not hasattr(data, "files"):  # an .npy file gives one array, an .npz an archive
        raise UsageError(f"{p}: holds a single array (.npy); a PsychRNN weight file is an .npz archive")
    out = PsychRNNFile(p, {})
    with data:
        for key in data.files:
            if is_slot_key(key):
                out.slots.append(key)
                continue
            try:
                arr = data[key]
            except ValueError as e:
                if "pickle" in str(e) or "Object arrays" in str(e):
                    out.skipped.append((key, "stored as a pickled Python object, which rnnlang never loads"))
                    continue
                raise UsageError(f"{p}: array `{key}` is corrupt or truncated ({_why(e)})") from None
            except _READ_ERRORS as e:
                raise UsageError(f"{p}: array `{key}` is corrupt or truncated ({_why(e)})") from None
            if key not in KNOWN_KEYS:
                out.skipped.append((key, "not part of a PsychRNN Basic network"))
                continue
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) \
                    or np.iscomplexobj(arr):
                out.skipped.append((key, f"holds {arr.dtype} values, not real numbers"))
                continue
            out.arrays[key] = np.asarray(arr)
    if warn:
        for key, why in out.skipped:
            _warn(f"{p.name}: skipped `{key}`: {why}{SKIP_NOTES.get(key, '')}")
    _check_arrays(out)
    return out


def _why(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _check_arrays(f: PsychRNNFile) -> None:
    """Required keys present, shapes consistent, values finite (UsageError otherwise)."""
    a, name = f.arrays, f.path
    missing = [k for k in WEIGHT_KEYS if k not in a]
    if missing:
        raise UsageError(f"{name}: not a PsychRNN Basic weight file: missing {', '.join(missing)} "
                         f"(found: {', '.join(sorted(a)) or 'no numeric arrays'})")
    W_rec = a["W_rec"]
    if W_rec.ndim != 2 or W_rec.shape[0] != W_rec.shape[1] or W_rec.shape[0] == 0:
        raise UsageError(f"{name}: W_rec must be a square (N, N) matrix, got shape {W_rec.shape}")
    N = W_rec.shape[0]
    if a["W_in"].ndim != 2 or a["W_in"].shape[0] != N:
        raise UsageError(f"{name}: W_in must have shape (N_rec, N_in) = ({N}, n), got {a['W_in'].shape}")
    if a["W_out"].ndim != 2 or a["W_out"].shape[1] != N or a["W_out"].shape[0] == 0:
        raise UsageError(f"{name}: W_out must have shape (N_out, N_rec) = (n, {N}), got {a['W_out'].shape}")
    n_in, n_out = a["W_in"].shape[1], a["W_out"].shape[0]
    want = {"b_rec": (N,), "b_out": (n_out,), "init_state": (1, N),
            "input_connectivity": (N, n_in), "rec_connectivity": (N, N), "output_connectivity": (n_out, N),
            "Dale_rec": (N, N), "Dale_out": (N, N)}
    for key, shape in want.items():
        if key not in a:
            continue
        arr = a[key]
        sized = key in ("b_rec", "b_out", "init_state")
        if (sized and arr.size != int(np.prod(shape))) or (not sized and arr.shape != shape):
            raise UsageError(f"{name}: `{key}` must have shape {shape}, got {arr.shape}")
        a[key] = arr.reshape(shape)
    for key, arr in a.items():
        if key != "dale_ratio" and not np.all(np.isfinite(arr.astype(np.float64))):
            raise UsageError(f"{name}: `{key}` holds NaN or infinite values")


# ---- Dale's law and masks, as the file has them -----------------------------------------------


def ratio_for(n_exc: int, n: int) -> float:
    """A Dale ratio r with int(r * n) == n_exc (the first n_exc units excitatory), r > 0."""
    if n_exc <= 0:
        return 0.5 / n
    r = n_exc / n
    while int(r * n) < n_exc:
        r = float(np.nextafter(r, 2.0))
    return r


def dale_ratio_of(f: PsychRNNFile, warn: bool = True) -> float:
    """The Dale ratio for a `ctrnn` that reproduces the file's network; 0 means no Dale's law.

    PsychRNN applies Dale's law when `dale_ratio` is truthy, with the signs on the diagonal of
    `Dale_rec`. When `dale_ratio` could not be read (pickled None), Dale's law is taken as on if
    `Dale_rec` marks inhibitory units, or if it marks none and every weight is non-negative."""
    a, N = f.arrays, f.sizes[0]
    raw = a.get("dale_ratio")
    raw_value = float(np.asarray(raw, np.float64).reshape(-1)[0]) if raw is not None and np.size(raw) == 1 else None
    if raw_value is not None and not np.isfinite(raw_value):
        raw_value = None
    D = a.get("Dale_rec")
    if D is None:
        if not raw_value:
            return 0.0
        return ratio_for(int(raw_value * N), N)
    diag = np.diag(D).astype(np.float64)
    off = D - np.diag(np.diag(D))
    if np.any(off != 0) or not np.all(np.isin(diag, (-1.0, 1.0))):
        if warn:
            _warn(f"{f.path.name}: Dale_rec is not a diagonal matrix of +1/-1; importing without Dale's law "
                  f"(the stored effective weights are used as they are)")
        return 0.0
    n_exc = int(np.sum(diag == 1.0))
    if raw_value is not None:
        on = raw_value != 0.0
        if on and int(raw_value * N) != n_exc and warn:
            _warn(f"{f.path.name}: dale_ratio = {raw_value:g} gives {int(raw_value * N)} excitatory units but Dale_rec "
                  f"marks {n_exc}; following Dale_rec")
    else:
        nonneg = all(np.all(a[k] >= 0) for k in ("W_in", "W_rec", "W_out"))
        on = n_exc < N or nonneg
    if not on:
        return 0.0
    if not (np.all(diag[:n_exc] == 1.0) and np.all(diag[n_exc:] == -1.0)):
        if warn:
            _warn(f"{f.path.name}: Dale_rec's excitatory units are not the first {n_exc}; rnnlang's ctrnn makes the "
                  f"first int(r N) units excitatory, so the network is imported without Dale's law (its stored "
                  f"effective weights are used as they are, but training will not keep their signs)")
        return 0.0
    return ratio_for(n_exc, N)


def _check_idempotent(f: PsychRNNFile, dale_ratio: float) -> None:
    """Warn where applying the masks and Dale's law again would change the stored weights."""
    a, (N, _, _) = f.arrays, f.sizes
    for wkey, mkey in (("W_in", "input_connectivity"), ("W_rec", "rec_connectivity"), ("W_out", "output_connectivity")):
        mask = a.get(mkey)
        if mask is not None and np.any((a[wkey] != 0) & (mask == 0)):
            _warn(f"{f.path.name}: {wkey} has non-zero weights where {mkey} is 0; the imported model zeroes them")
    if dale_ratio <= 0:
        return
    n_exc = int(dale_ratio * N)
    exc = np.arange(N) < n_exc
    W_rec, W_out = a["W_rec"], a["W_out"]
    if np.any(a["W_in"] < 0) or np.any(W_rec[:, exc] < 0) or np.any(W_rec[:, ~exc] > 0):
        _warn(f"{f.path.name}: the weights break Dale's law (ratio {dale_ratio:g}); the imported model applies it, "
              f"so its weights differ from the file's")
    if np.any(W_out[:, exc] < 0):
        _warn(f"{f.path.name}: W_out has negative weights from excitatory units; the imported model makes them positive")
    if np.any(W_out[:, ~exc] != 0):
        dale_out = np.diag(a["Dale_out"]) if "Dale_out" in a else None
        old = dale_out is not None and np.any(dale_out[~exc] == -1)
        why = ("this file was written by PsychRNN 1.0.0, whose Dale_out is -1 for inhibitory units (a bug fixed on "
               "PsychRNN's head, which has 0); " if old else "")
        _warn(f"{f.path.name}: inhibitory units drive the readout: {why}rnnlang follows PsychRNN's head, where "
              f"inhibitory units do not reach the output, so the imported model's outputs differ from this file's")


# ---- writing files atomically -----------------------------------------------------------------


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """np.savez to a temporary file beside `path`, then rename it into place. No object arrays."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise ValueError(f"refusing to write object array {k!r}")
    with replacing(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, text)


# ---- import ------------------------------------------------------------------------------------


def _num(x: float) -> str:
    """A number as the .rnn file writes it (integers without a decimal point; floats round-trip)."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _model_name(stem: str) -> str:
    name = re.sub(r"\W", "_", stem)
    if not name or name[0].isdigit():
        name = "m_" + name
    return "imported" if name in RESERVED_WORDS else name


def _task_line(task: str, n_in: int, n_out: int) -> str:
    """The task node for a built-in cognitive task kind, sized to the network (UsageError if it cannot be)."""
    from rnnlang.dsl.library import kinds_of

    tasks = kinds_of("task")
    if task not in tasks:
        close = difflib.get_close_matches(task, list(COGNITIVE_TASKS), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise UsageError(f"unknown task `{task}`{hint} (a PsychRNN network pairs with one of: {', '.join(COGNITIVE_TASKS)})")
    if task not in COGNITIVE_TASKS:
        raise UsageError(f"`{task}` is not a cognitive task; a PsychRNN network pairs with one of: {', '.join(COGNITIVE_TASKS)}")
    want_in, want_out = COGNITIVE_TASKS[task]
    if want_in is None:
        return f"node task = {task}(n_in = {n_in}, n_out = {n_out})"
    if (want_in, want_out) != (n_in, n_out):
        raise UsageError(f"`{task}` has {want_in} inputs and {want_out} outputs, but the network has {n_in} and {n_out}"
                         + ("; match_to_category takes any sizes" if n_in >= 1 else ""))
    return f"node task = {task}()"


def model_text(f: PsychRNNFile, data_name: str, name: str, transfer: str, dale_ratio: float, autapses: bool,
               task: str | None, dt: float, tau: float, steps: int) -> str:
    """The .rnn source of an imported network."""
    N, n_in, n_out = f.sizes
    q = f'"{data_name}"'
    lines = [f"# Imported from the PsychRNN weight file `{f.path.name}` by `rnn import-psychrnn`.",
             f"# {N} recurrent units, {n_in} inputs, {n_out} outputs"
             + (f"; Dale's law with the first {int(dale_ratio * N)} units excitatory." if dale_ratio > 0 else "; no Dale's law."),
             "# PsychRNN stores effective weights (masks and Dale's law applied); applying them again changes",
             f"# nothing, so this network computes what the PsychRNN network computed. Arrays: {data_name}.",
             "# Not stored in PsychRNN files, so set here: the transfer function, dt, tau, rec_noise (0)."]
    if task is None and n_in > 0:
        lines += [f"# The network takes {n_in} inputs (`inputs = {n_in}`): connect a source of {n_in} channels",
                  "# to net.input, e.g. `task.input -> net.input`; until then it runs on zero input."]
    lines += ["", f"model {name} {{", f"  dt = {_num(dt)}", f"  steps = {int(steps)}", f"  tau = {_num(tau)}", "}", ""]
    if task is not None:
        lines.append(_task_line(task, n_in, n_out))
    net = [f"  hidden = {N},", f"  out = {n_out},", f"  inputs = {n_in},", f'  transfer = "{transfer}",',
           f"  dale_ratio = {_num(dale_ratio)},", f"  autapses = {'true' if autapses else 'false'},"]
    for key in MASK_KEYS:
        if key in f.arrays:
            net.append(f'  {MASK_PARAMS[key]} = file({q}, "{key}"),')
    net.append(f"  weights = file({q}),")
    lines += ["node net = ctrnn(", *net, ")"]
    if task is not None:
        lines += ["", "task.input -> net.input", "net.output -> task.response", "",
                  "loss {", '  mse = squared_error(net.output, task.target, mask = task.mask, reduce = "mean")', "}", "",
                  "train {", "  optimizer = adam(learning_rate = 1e-3)", "  clip = per_tensor(1.0)",
                  "  trials = 50000", "  batch_size = 128", "}"]
    return "\n".join(lines) + "\n"


def data_arrays(f: PsychRNNFile) -> dict[str, np.ndarray]:
    """The arrays the imported model reads: weights (init_state as (1, N)) and masks, float32."""
    keys = WEIGHT_KEYS + tuple(k for k in MASK_KEYS if k in f.arrays)
    return {k: np.asarray(f.arrays[k], np.float32) for k in keys}


def import_psychrnn(weights_npz: str | os.PathLike, output_rnn: str | os.PathLike, transfer: str = "relu",
                    task: str | None = None, dt: float = 10, tau: float = 100, steps: int = 200) -> Path:
    """Write `output_rnn` (a model holding a `ctrnn` named `net`, and a task if `task` names a
    built-in cognitive task) and `<stem>.weights.npz` beside it. Returns the model's path."""
    if transfer not in TRANSFERS:
        raise UsageError(f"unknown transfer function `{transfer}`; expected one of {', '.join(TRANSFERS)}")
    if not (np.isfinite(dt) and dt > 0) or not (np.isfinite(tau) and tau > 0):
        raise UsageError(f"dt and tau must be positive numbers, got dt = {dt}, tau = {tau}")
    if int(steps) != steps or steps < 1:
        raise UsageError(f"steps must be a positive whole number, got {steps}")
    out = Path(output_rnn)
    if any(c in out.name for c in '"\\\n'):
        raise UsageError(f"{out}: the model file's name may not contain quotes, backslashes or newlines")
    if out.exists() and out.is_dir():
        raise UsageError(f"{out}: is a directory; give the path of the .rnn file to write")
    f = read_psychrnn(weights_npz)
    N, n_in, n_out = f.sizes
    if task is not None:
        _task_line(task, n_in, n_out)  # refuse before writing anything
    if f.slots:
        print(f"rnn: note: ignored {len(f.slots)} optimizer-slot arrays ({', '.join(f.slots[:3])}"
              f"{', ...' if len(f.slots) > 3 else ''})", file=sys.stderr)
    dale = dale_ratio_of(f)
    rec_mask = f.arrays.get("rec_connectivity")
    autapses = not (rec_mask is not None and np.all(np.diag(rec_mask) == 0))
    _check_idempotent(f, dale)
    if task is None and n_in > 0:
        _warn(f"no --task: the model holds the network alone; it takes {n_in} inputs, so connect a source of "
              f"{n_in} channels to net.input (until then it runs on zero input)")
    stem = out.name[:-len(out.suffix)] if out.suffix else out.name
    data_path = out.with_name(f"{stem}.weights.npz")
    text = model_text(f, data_path.name, _model_name(stem), transfer, dale, autapses, task, dt, tau, int(steps))
    save_npz(data_path, data_arrays(f))
    _write_text(out, text)
    return out


# ---- export ------------------------------------------------------------------------------------


def network_weights(model: Any, params: Mapping[str, Any], node: str) -> dict[str, np.ndarray]:
    """A `ctrnn`'s weights as PsychRNN's `get_weights` has them (one replicate's `params`):
    effective W_in/W_rec/W_out, biases, init_state (1, N), masks, Dale matrices, dale_ratio."""
    impl = model.impls[node]
    p = {k: np.asarray(v, np.float32) for k, v in params[node].items()}
    eff = {k: np.asarray(v, np.float32) for k, v in model.effective_weights(params, node).items()}
    N = impl.N
    eye = np.eye(N, dtype=np.float32)
    return {
        "W_in": eff["W_in"], "W_rec": eff["W_rec"], "W_out": eff["W_out"],
        "b_rec": p["b_rec"].reshape(N), "b_out": p["b_out"].reshape(impl.n_out),
        "init_state": p["init_state"].reshape(1, N),
        "input_connectivity": np.asarray(impl.in_mask, np.float32),
        "rec_connectivity": np.asarray(impl.rec_mask, np.float32),
        "output_connectivity": np.asarray(impl.out_mask, np.float32),
        "Dale_rec": np.diag(impl.dale_rec).astype(np.float32) if impl.dale else eye,
        "Dale_out": np.diag(impl.dale_out).astype(np.float32) if impl.dale else eye.copy(),
        "dale_ratio": np.array(float(impl.dale_ratio)),
    }


def ctrnn_node(model: Any, node: str | None) -> str:
    """The name of the `ctrnn` node to export (UsageError if there is none, several, or `node` is not one)."""
    kinds = {n: model.plan.kinds[n].name for n in model.cm.nodes}
    ctrnns = [n for n, k in kinds.items() if k == "ctrnn"]
    if node is not None:
        if node not in kinds:
            close = difflib.get_close_matches(node, list(kinds), n=1)
            raise UsageError(f"the model has no node `{node}`" + (f"; did you mean `{close[0]}`?" if close else "")
                             + (f" (its ctrnn nodes: {', '.join(ctrnns)})" if ctrnns else ""))
        if kinds[node] != "ctrnn":
            raise UsageError(f"node `{node}` is a {kinds[node]}; only ctrnn nodes (PsychRNN's Basic) export to PsychRNN")
        return node
    if not ctrnns:
        raise UsageError("the model has no ctrnn node; only ctrnn nodes (PsychRNN's Basic) export to PsychRNN")
    if len(ctrnns) > 1:
        raise UsageError(f"the model has several ctrnn nodes ({', '.join(ctrnns)}); choose one with --node")
    return ctrnns[0]


def run_weights(run: str | os.PathLike, node: str | None = None, replicate: int = 0) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A run's trained `ctrnn` weights in PsychRNN's layout, and its settings (alpha, rec_noise,
    transfer, output_transfer, node)."""
    import jax

    from .api import open_run

    _, model, _, state = open_run(run)
    name = ctrnn_node(model, node)
    leaves = jax.tree_util.tree_leaves(state.params[name])
    n_rep = int(leaves[0].shape[0]) if leaves else 1
    if not 0 <= int(replicate) < n_rep:
        raise UsageError(f"replicate {replicate} does not exist: the run has {n_rep} (0 to {n_rep - 1})")
    one = jax.tree_util.tree_map(lambda x: np.asarray(x[int(replicate)]), state.params)
    impl = model.impls[name]
    settings = {"node": name, "alpha": impl.alpha, "rec_noise": impl.rec_noise, "dt": float(model.dt),
                "tau": impl.tau, "transfer": model.plan.params[name].get("transfer", "relu"),
                "output_transfer": model.plan.params[name].get("output_transfer", "identity")}
    return network_weights(model, one, name), settings


def export_psychrnn(run: str | os.PathLike, output_npz: str | os.PathLike, node: str | None = None,
                    replicate: int = 0) -> Path:
    """Write one replicate of a run's `ctrnn` as a PsychRNN weight file; returns its path
    (`.npz` appended when missing, as numpy.savez does)."""
    out = Path(output_npz)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    if out.exists() and out.is_dir():
        raise UsageError(f"{out}: is a directory; give the path of the .npz file to write")
    weights, settings = run_weights(run, node, replicate)
    if settings["output_transfer"] not in (None, "identity"):
        _warn(f"node `{settings['node']}` has output_transfer = \"{settings['output_transfer']}\"; PsychRNN's Basic "
              f"has no output nonlinearity, so PsychRNN will read out without it")
    if settings["transfer"] != "relu":
        _warn(f"node `{settings['node']}` uses transfer = \"{settings['transfer']}\"; PsychRNN files do not hold "
              f"it in a form rnnlang writes: pass transfer_function to PsychRNN yourself")
    return save_npz(out, weights)
