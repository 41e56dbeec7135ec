"""How much memory a model needs, estimated from shapes before anything is allocated, and the
refusal (a positioned error) when that exceeds the machine or a `--max-memory` setting.

The estimate, in 32-bit floats (see docs/limits.md):
  parameters      P per replicate (exact: the shapes the plan gives each kind, nothing built)
  training state  R x P x (1 value + 1 gradient + OPTIMIZER_SLOTS), R = replicates
  trial batch     B x T x (the task's channels), B = batch_size, T = steps
  activations     R x B x T x (state + recorded signals) x ACTIVATION_FACTOR: what the backward
                  pass keeps per step, and the compiled program's working buffers (rough)
  validation      V x T x (the task's channels + recorded signals), V = the validation set's trials
It is a lower bound of the true peak, not an upper one: a refusal is certain to be right, an
acceptance is a good sign."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from rnnlang.dsl.ast import Span
from rnnlang.dsl.errors import Diagnostic, ModelError

BYTES = 4  # float32
OPTIMIZER_SLOTS = 2  # adam's two moments: the common, and a larger-than-most, case
ACTIVATION_FACTOR = 2  # forward values kept for the backward pass and its cotangents
HEADROOM = 0.9  # the share of the machine's memory a model may plan to use


@dataclass(frozen=True)
class Estimate:
    """Bytes per part, and where each part's size is set in the source."""

    parameters: int
    training_state: int
    trials: int
    activations: int
    validation: int
    biggest_node: str | None
    replicates: int
    batch_size: int
    steps: int

    @property
    def total(self) -> int:
        return self.training_state + self.trials + self.activations + self.validation

    def describe(self) -> str:
        parts = [("parameters, gradients and optimizer state", self.training_state),
                 (f"activations of {self.batch_size} trials x {self.steps} steps", self.activations + self.trials),
                 ("the validation set", self.validation)]
        return ", ".join(f"{what} {gb(n)}" for what, n in parts if n)


def gb(n: float) -> str:
    """Bytes in words: 1.2 GB, 340 MB, 12 kB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def estimate(model: Any) -> Estimate:
    """The memory a compiled model needs to train, from shapes only (`jax.eval_shape`)."""
    cm, plan = model.cm, model.plan
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    per_node = plan.param_counts()
    params = sum(per_node.values())
    R, B, T = int(cm.train["replicates"]), int(cm.train["batch_size"]), int(cm.steps)
    state = sum(model.state_sizes().values())
    recorded = sum(plan.out_sizes[s.split(".")[0]][s.split(".")[1]] for s in model.default_record())
    channels = sum(plan.out_sizes.get(model.task_name, {}).values()) if model.task_name else 0
    v_trials = 0
    if model.task is not None:
        v_trials = _leading(jax.eval_shape(model.task.validation, key))
    return Estimate(
        parameters=params * BYTES,
        training_state=R * params * (2 + OPTIMIZER_SLOTS) * BYTES,
        trials=B * T * channels * BYTES,
        activations=R * B * T * (state + recorded) * ACTIVATION_FACTOR * BYTES,
        validation=v_trials * T * (channels + recorded + state) * BYTES * R,
        biggest_node=max(per_node, key=per_node.get) if per_node and params else None,
        replicates=R, batch_size=B, steps=T,
    )


def _leading(tree: Any) -> int:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if getattr(x, "ndim", 0)]
    return int(leaves[0].shape[0]) if leaves else 0


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or a smaller cgroup limit."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 1 << 40
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total)


def device_memory() -> int | None:
    """Bytes of memory of the accelerators JAX computes on (None on the CPU)."""
    try:
        devices = jax.local_devices()
        stats = [d.memory_stats() for d in devices if d.platform != "cpu"]
    except Exception:  # noqa: BLE001 - an accelerator's statistics are optional
        return None
    limits = [s.get("bytes_limit") for s in stats if s and s.get("bytes_limit")]
    return int(sum(limits)) if limits else None


def limit_bytes(max_memory: int | None = None) -> int:
    """What a model may use: `--max-memory`, else HEADROOM of the machine (and its accelerators)."""
    if max_memory is not None:
        return max_memory
    limit = machine_memory()
    dev = device_memory()
    if dev is not None:
        limit = min(limit, dev)
    return int(limit * HEADROOM)


def check(model: Any, max_memory: int | None = None, sources: dict[str, str] | None = None) -> Estimate:
    """The estimate, or a ModelError at the setting that makes the model too large (`sources`:
    other texts its position may point into, such as the `--set` overrides)."""
    est = estimate(model)
    limit = limit_bytes(max_memory)
    if est.total <= limit:
        return est
    cm = model.cm
    spans = cm.setting_spans
    if est.training_state >= est.activations + est.trials + est.validation and est.biggest_node is not None:
        n = est.biggest_node
        span = spans.get(f"node.{n}.hidden") or spans.get(f"node.{n}")
        hint = f"`{n}` has {est.parameters // BYTES:,} parameters per replicate; use fewer units"
        if est.replicates > 1:
            hint += f" or fewer replicates ({est.replicates})"
    elif est.validation > est.activations + est.trials:
        span = spans.get(f"node.{model.task_name}")
        hint = "the task's validation set is large: a smaller validation grid needs less"
    elif est.replicates > 1 and spans.get("train.replicates"):
        span = spans.get("train.replicates")
        hint = (f"fewer replicates ({est.replicates}), trials per batch (batch_size = {est.batch_size}) "
                f"or steps ({est.steps}) need less")
    else:
        span = spans.get("train.batch_size") or spans.get("model.steps") or spans.get("model.duration")
        hint = f"fewer trials per batch (batch_size = {est.batch_size}) or fewer steps ({est.steps}) need less"
    where = "the limit set by --max-memory" if max_memory is not None else "this machine's memory"
    span = span or _first_line(cm)
    raise ModelError([Diagnostic(
        f"the model needs about {gb(est.total)} to train ({est.describe()}), more than {where} ({gb(limit)})",
        span, hint=hint + "; or raise the limit with --max-memory")], cm.source, sources)


def _first_line(cm: Any) -> Span:
    return Span(cm.path, 1, 1, 1, 2)


def parse_size(text: str) -> int:
    """'16G', '512MB', '2.5GiB', '1000000' -> bytes; raises ValueError."""
    t = text.strip().upper().replace(" ", "")
    for suffix, mult in (("TIB", 1 << 40), ("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10), ("TB", 10**12),
                         ("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("T", 10**12), ("G", 10**9), ("M", 10**6),
                         ("K", 10**3), ("B", 1)):
        if t.endswith(suffix):
            number = float(t[: -len(suffix)])
            break
    else:
        number, mult = float(t), 1
    if not number > 0 or number != number or number == float("inf"):
        raise ValueError(text)
    return int(number * mult)
