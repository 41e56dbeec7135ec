"""Training: the train block run to completion.

One jitted function runs `K` optimizer steps per dispatch (a lax.scan over steps), each step
generating its batch inside JAX from `fold_in(train_key, batch_index)`, so a run resumed from a
checkpoint at batch i draws exactly the batches an uninterrupted run draws and ends with
bit-identical parameters. Replicates are a leading axis of the parameters (vmap); the batch is
split over the JAX devices (on CPU, one per core) with `jax.sharding`. The training loss is
checked for NaN/inf after every dispatch, the validation loss after each validation; a stop
keeps the latest state whose training and validation losses were finite. Validation,
curriculum stages, stopping rules and a requested interrupt are handled between dispatches."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rnnlang.compiler.lower import CompiledModel
from rnnlang.compiler.nodes.api import TaskImpl
from rnnlang.dsl import conditions
from rnnlang.dsl.errors import Diagnostic, ModelError

from . import health, optim
from .health import output_spread
from .losses import term_values, total_loss, weighted
from .tasks import draw_sites, train_batch, validation_batch

AUTO_STEPS_PER_DISPATCH = 50
GRAD_NORM = "@grad_norm"  # the chunk's per-step gradient norms travel with the loss terms (not a term's name)


@dataclass(frozen=True)
class Pack:
    """Several points of a sweep trained as one compiled program (runtime/sweep.py): point p's
    replicates are rows p*R .. p*R + R - 1 of the replicate axis (R = the train block's
    replicates). Each point has its own training seed (its initial parameters, trials, noise and
    validation set are those a run of that seed alone gets) and its own values of the optimizer's
    arguments named in `hyper` (held in the optimizer's state: optax.inject_hyperparams)."""

    seeds: tuple[int, ...]
    hyper: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return len(self.seeds)


class TrainingStopped(Exception):
    """Training could not go on (NaN or inf in a training or validation loss). `state` is the
    latest state whose training loss and validation loss were both finite, the one to keep;
    None when this run computed no such state."""

    def __init__(self, message: str, state: "TrainState | None") -> None:
        super().__init__(message)
        self.state = state


class TrainingInterrupted(Exception):
    """The user asked training to stop (Ctrl-C); `state` is where it stopped, between two
    dispatches, with everything before it logged."""

    def __init__(self, message: str, state: "TrainState") -> None:
        super().__init__(message)
        self.state = state


@dataclass
class TrainState:
    params: Any  # every leaf has a leading replicate axis
    opt_state: Any
    batch: int = 0  # batches done
    stage: int = 0
    stage_start: int = 0
    done: bool = False
    history: list[dict] = field(default_factory=list)  # validation records
    reason: str | None = None  # why training stopped before its last batch (a stopping rule)

    def meta(self) -> dict:
        return {"batch": self.batch, "stage": self.stage, "stage_start": self.stage_start, "done": self.done}


def batches_of(train: Mapping[str, Any]) -> int:
    """Total batches: `batches`, or `trials` / batch_size rounded up, or 1000."""
    if train.get("batches"):
        return int(train["batches"])
    if train.get("trials"):
        return math.ceil(int(train["trials"]) / int(train["batch_size"]))
    return 1000


def metric_signals(model: CompiledModel, signals: Mapping[str, Any]) -> dict[str, Any]:
    """What arrives at each of the task's input ports over the trial, (B, T, n)."""
    out = {}
    for port, srcs in model.metric_sources.items():
        parts = [signals[f"{s.node}.{s.port}"][..., s.lo:s.hi] for s in srcs]
        if parts:
            out[port] = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)
    return out


class Trainer:
    """Trains a compiled model as its train block says. Use `init_state`, then `run`."""

    def __init__(self, model: CompiledModel, pack: Pack | None = None) -> None:
        self.model = model
        self.pack = pack
        cm = model.cm
        _require_task_and_loss(cm)
        t = cm.train
        self.point_replicates = int(t["replicates"])  # replicates of one point of a packed sweep
        self.replicates = self.point_replicates * (pack.points if pack is not None else 1)
        self.batch_size = int(t["batch_size"])
        self.total = batches_of(t)
        self.validate_every = int(t["validate_every"])
        self.checkpoint_every = int(t["checkpoint_every"])
        k = int(t["steps_per_dispatch"] or 0)
        # never more fused steps than the run has batches (a huge setting would loop for nothing)
        self.k = min(k, self.total) if k > 0 else max(1, min(AUTO_STEPS_PER_DISPATCH, self.validate_every, self.total))
        seed = t.get("seed") if t.get("seed") is not None else cm.seed
        self.k_init, self.k_train, self.k_val = jr.split(jr.PRNGKey(seed), 3)
        template = jax.eval_shape(model.init, self.k_init)  # structure only: nothing runs
        self.trainable = model.trainable(template)
        self.masks = model.gradient_masks(template)
        self.opt = optim.build(cm, self.trainable, self.masks, tuple(pack.hyper) if pack is not None else ())
        self.stages = cm.stages
        devices = jax.devices()
        # a packed sweep splits its replicates over the devices when they divide evenly (each
        # device trains whole replicates: no reduction between devices); otherwise, as a run, the batch
        self.shard_replicates = pack is not None and len(devices) > 1 and self.replicates % len(devices) == 0
        split_batch = len(devices) > 1 and self.batch_size % len(devices) == 0
        self.mesh = Mesh(np.array(devices), ("batch",)) if self.shard_replicates or split_batch else None
        self._chunk_fns: dict[int, Callable] = {}  # by stage; stages with the same trials share one program
        self._programs: dict[str, Callable] = {}  # by the signature of a stage's task, overrides and site settings
        self._tasks: dict[str, TaskImpl] = {}  # the tasks stages switch to, one per distinct call
        self._eval_fns: dict[str, Callable] = {}  # by task ("" the task node's)
        # one compiled program for the initial parameters and optimizer state of all replicates
        self._init_fn = jax.jit(lambda keys: (lambda p: (p, jax.vmap(self.opt.init)(p)))(jax.vmap(model.init)(keys)))
        # one compiled program rather than dozens of eager ops: 0.5-0.8 s of the time to the first step
        self.val_trial = jax.jit(lambda k: validation_batch(model, k))(self.k_val) if model.task else None
        self._stage_val: dict[int, dict] = {}
        self.train_keys = self.k_train  # the key argument of the compiled steps
        self.diverged: dict[int, int] = {}  # packed sweep: point -> batch at which its loss became NaN/inf
        self.stopped_points: dict[int, tuple[int, str]] = {}  # packed sweep: point -> (batch, why) it met its stopping rule
        self._keep_fn: Callable | None = None
        if pack is not None:
            _require_packable(cm)
            keys = jax.vmap(lambda s: jr.split(jr.PRNGKey(s), 3))(jnp.asarray(pack.seeds, jnp.uint32))
            self.point_keys = keys  # (P, 3, 2): each point's init, train and validation keys
            self.train_keys = jnp.repeat(keys[:, 1], self.point_replicates, axis=0)  # each replicate's point's
            self.val_trials = jax.jit(jax.vmap(lambda k: validation_batch(model, k)))(keys[:, 2]) if model.task else None

    # ---- state -----------------------------------------------------------------------------
    def init_state(self) -> TrainState:
        if self.pack is None:
            params, opt_state = self._init_fn(jr.split(self.k_init, self.replicates))
            return self.place(TrainState(params, opt_state))
        # each point's replicates start where a run of its seed alone starts
        keys = jax.vmap(lambda k: jr.split(k, self.point_replicates))(self.point_keys[:, 0])
        params, opt_state = self._init_fn(keys.reshape((self.replicates,) + keys.shape[2:]))
        return self.place(TrainState(params, self.with_hyper(opt_state)))

    def with_hyper(self, opt_state: Any) -> Any:
        """The optimizer state with each replicate's own values of the packed optimizer arguments."""
        if self.pack is None or not self.pack.hyper:
            return opt_state
        inner = opt_state[optim.OPTIMIZER_INDEX]
        hyper = dict(inner.hyperparams)
        for name, values in self.pack.hyper.items():
            hyper[name] = jnp.repeat(jnp.asarray(values, hyper[name].dtype), self.point_replicates)
        states = list(opt_state)
        states[optim.OPTIMIZER_INDEX] = inner._replace(hyperparams=hyper)
        return tuple(states)

    def place(self, state: TrainState) -> TrainState:
        """Put parameters and optimizer state on the devices as the compiled step returns them
        (replicated, or split by replicate in a packed sweep), so the first and every later
        dispatch hit the same compiled code."""
        if self.mesh is not None:
            rep = NamedSharding(self.mesh, PartitionSpec("batch") if self.shard_replicates else PartitionSpec())
            state.params = jax.device_put(state.params, rep)
            state.opt_state = jax.device_put(state.opt_state, rep)
        return state

    def overrides(self, stage: int) -> dict[str, Any]:
        """A stage's overrides of the task's parameters."""
        return dict(self.stages[stage].overrides) if stage < len(self.stages) else {}

    def stage_sites(self, stage: int) -> dict[str, Any]:
        """A stage's settings of the sites' per-trial parameters: site -> phase -> param -> value."""
        return dict(self.stages[stage].sites) if stage < len(self.stages) else {}

    def task_of(self, stage: int) -> tuple[str, TaskImpl | None]:
        """The task a stage trains and validates on, and its key ("" for the task node's own):
        the task the stage switches to (`task = NAME(args)`), built once per distinct call."""
        node = self.stages[stage].task if stage < len(self.stages) else None
        if node is None:
            return "", self.model.task
        key = signature((node.kind, node.params))
        if key not in self._tasks:
            name = self.stages[stage].name
            spans = self.model.cm.setting_spans
            where = next((w for w in (f"train.stage.{name}.{node.name}", f"train.stage.{name}.task") if w in spans),
                         f"train.stage.{name}")
            self._tasks[key] = self.model.stage_task(node, where)
        return key, self._tasks[key]

    # ---- compiled pieces ---------------------------------------------------------------------
    def _shard(self, tree: Any) -> Any:
        if self.mesh is None:
            return tree
        spec = NamedSharding(self.mesh, PartitionSpec("batch"))
        return jax.tree_util.tree_map(
            lambda x: jax.lax.with_sharding_constraint(x, spec) if x.ndim and x.shape[0] == self.batch_size else x, tree)

    def _share_value_and_grad(self, params, trial, keys):
        """((loss, terms), grads) of one replicate on the trials given (`keys`: one per trial, as
        rollout() splits them), on whichever device runs it.

        Each trial's loss terms are computed on its own time-major values inside the vmap over
        trials and averaged over the trials before they are weighted (`losses.weighted`): XLA then
        sums a penalty over the whole batch at once, with no (T, B, n) -> (B, T, n) copy."""
        model = self.model
        record = model.default_record()

        def trial_terms(params, t_full, t_needed, k):
            return term_values(model, params, model.rollout_one(params, t_needed, k, record), t_full, one_trial=True)

        def loss(params, trial, keys):
            needed = {"signals": {p: trial["signals"][p] for p in model.task_signal_ports},
                      "init": trial.get("init", {}), "sites": trial.get("sites", {})}
            values = jax.vmap(trial_terms, in_axes=(None, 0, 0, 0))(params, trial, needed, keys)
            return weighted(model, {k: jnp.mean(v) for k, v in values.items()})

        return jax.value_and_grad(loss, has_aux=True)(params, trial, keys)

    def _on_devices(self, fn: Callable, params, trial, keys, trial_axis: int = 0, keys_axis: int = 0):
        """`fn(params, trial, keys)` -> ((loss, terms), grads), with the batch split over the devices:
        each device computes the loss and gradient of its own share of the trials (`shard_map`)
        and the shares are averaged once (`pmean`), as a hand-written data-parallel loop does.
        `trial_axis`, `keys_axis`: the trials' axis in `trial` and in `keys` (1 behind a replicate
        axis).

        Differentiating the whole batch instead makes the partitioner all-reduce the weight
        gradients inside the backward time loop, once per time step; a vmap over per-device chunks
        gives every product a batch axis of size 1 on each device, and XLA then writes each weight
        gradient transposed (measured: R 0.94x the hand-written loop that way, 1.00x with
        shard_map and `with_transposed`). With replicates, the whole loop over them runs inside
        (one reduction per step, not one per replicate)."""
        if self.mesh is None or self.shard_replicates:  # the batch on one device
            return fn(params, trial, keys)
        B = self.batch_size

        def spec(axis):
            def of(x):
                if getattr(x, "ndim", 0) > axis and x.shape[axis] == B:
                    return PartitionSpec(*([None] * axis), "batch")
                return PartitionSpec()
            return of

        def per_device(params, trial, keys):
            return jax.lax.pmean(fn(params, trial, keys), "batch")

        specs = (PartitionSpec(), jax.tree_util.tree_map(spec(trial_axis), trial), jax.tree_util.tree_map(spec(keys_axis), keys))
        return jax.shard_map(per_device, mesh=self.mesh, in_specs=specs, out_specs=PartitionSpec(),
                             check_vma=False)(params, trial, keys)

    def _value_and_grad(self, params, trial, key):
        """((loss, terms), grads) of one replicate on a batch: the value and gradient of the loss of
        `model.rollout(params, trial, key)`, computed as training computes it."""
        return self._on_devices(self._share_value_and_grad, params, trial, jr.split(key, self.batch_size))

    def _replicate_grads(self, own: bool, one_by_one: bool) -> Callable:
        """grad_fn(params, trial, keys) -> every replicate's ((loss, terms), grads), `keys` one per
        replicate; `own`: `trial` has a leading replicate axis (each replicate's own trials), else
        all replicates share it; `one_by_one`: replicates by lax.map rather than vmap. The devices'
        shares are averaged once for all replicates (`_on_devices` around the replicate loop)."""
        share, batch = self._share_value_and_grad, self.batch_size
        if self.replicates == 1:
            # one replicate: no vmap over a size-1 axis (it turns every product into a batched one)
            def replicates_fn(params, trial, keys):
                first = lambda x: x[0]  # noqa: E731
                out = share(jax.tree_util.tree_map(first, params),
                            jax.tree_util.tree_map(first, trial) if own else trial, keys[0])
                return jax.tree_util.tree_map(lambda x: x[None], out)
        elif one_by_one:
            # large models: replicates one after the other (lax.map) beat vmap on CPU
            if own:
                def replicates_fn(params, trial, keys):
                    return jax.lax.map(lambda ptk: share(*ptk), (params, trial, keys))
            else:
                def replicates_fn(params, trial, keys):
                    return jax.lax.map(lambda pk: share(pk[0], trial, pk[1]), (params, keys))
        else:
            replicates_fn = jax.vmap(share, in_axes=(0, 0 if own else None, 0))

        def grad_fn(params, trial, keys):
            trial_keys = jax.vmap(lambda k: jr.split(k, batch))(keys)  # (R, B): as rollout() splits them
            return self._on_devices(replicates_fn, params, trial, trial_keys, trial_axis=1 if own else 0, keys_axis=1)

        return grad_fn

    def chunk_fn(self, stage: int) -> Callable:
        """The jitted function running up to K training steps: (params, opt_state, start, n, key)
        -> (params, opt_state, losses (K, R), terms {name: (K, R)}, with the gradient norms under
        GRAD_NORM). One compilation per stage (stages with the same task and settings share it);
        the key is an argument, not a constant, so runs with other seeds reuse the program."""
        if stage in self._chunk_fns:
            return self._chunk_fns[stage]
        model, opt, batch = self.model, self.opt, self.batch_size
        overrides, stage_sites = self.overrides(stage), self.stage_sites(stage)
        task_key, task = self.task_of(stage)
        program = signature((task_key, overrides, stage_sites))
        if program in self._programs:
            self._chunk_fns[stage] = self._programs[program]
            return self._chunk_fns[stage]
        if self.pack is not None:
            fn = jax.jit(self._packed_chunk(overrides, stage_sites, task))
            self._chunk_fns[stage] = self._programs[program] = fn
            return fn
        own = self.replicates > 1 and model.cm.train.get("replicate_trials", "own") == "own"
        grad_fn = self._replicate_grads(own, self._replicates_one_by_one())

        def make_trials(k_trial):
            """One batch for every replicate, or each replicate's own (a leading replicate axis)."""
            if own:
                keys = jr.split(k_trial, self.replicates)
                return jax.vmap(lambda k: train_batch(model, k, batch, overrides, stage_sites, task))(keys)
            return self._shard(train_batch(model, k_trial, batch, overrides, stage_sites, task))

        def one_step(params, opt_state, i, key):
            k_trial, k_noise = jr.split(jr.fold_in(key, i))
            trial = make_trials(k_trial)
            (loss, terms), grads = grad_fn(params, trial, jr.split(k_noise, self.replicates))
            updates, opt_state = jax.vmap(opt.update)(grads, opt_state, params)
            terms = {**terms, GRAD_NORM: jax.vmap(_global_norm)(grads)}
            return jax.vmap(optax.apply_updates)(params, updates), opt_state, loss, terms

        fn = jax.jit(_chunk_of(one_step, self.k))
        self._chunk_fns[stage] = self._programs[program] = fn
        return fn

    def _packed_chunk(self, overrides: Mapping[str, Any], stage_sites: Mapping[str, Any], task: TaskImpl | None) -> Callable:
        """The chunk of a packed sweep: `key` holds each replicate's point's training key, and
        every replicate draws the trials and noise that replicate of a run of its point's seed
        alone draws (its own trials, or its point's shared ones)."""
        model, batch, R = self.model, self.batch_size, self.point_replicates
        own = R > 1 and model.cm.train.get("replicate_trials", "own") == "own"
        within = jnp.arange(self.replicates) % R  # each replicate's index within its point
        rows = NamedSharding(self.mesh, PartitionSpec("batch")) if self.shard_replicates else None

        def keys_of(k, r, i):
            k_trial, k_noise = jr.split(jr.fold_in(k, i))
            return (jr.split(k_trial, R)[r] if own else k_trial), jr.split(k_noise, R)[r]

        # each replicate its own trials (its point's, drawn as a run of that point draws them)
        grad_fn = self._replicate_grads(True, not self.shard_replicates and self._replicates_one_by_one())

        def one_step(params, opt_state, i, keys):
            k_trial, k_noise = jax.vmap(keys_of, in_axes=(0, 0, None))(keys, within, i)
            trial = jax.vmap(lambda k: train_batch(model, k, batch, overrides, stage_sites, task))(k_trial)
            if rows is not None:
                trial = jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, rows), trial)
            (loss, terms), grads = grad_fn(params, trial, k_noise)
            updates, opt_state = jax.vmap(self.opt.update)(grads, opt_state, params)
            terms = {**terms, GRAD_NORM: jax.vmap(_global_norm)(grads)}
            return jax.vmap(optax.apply_updates)(params, updates), opt_state, loss, terms

        return _chunk_of(one_step, self.k)

    def _replicates_one_by_one(self) -> bool:
        """Replicates by lax.map rather than vmap: on CPU from about 16k parameters per replicate
        (a 128-unit ctrnn), where measured on two cores map was 1.2-1.4x faster; vmap was faster
        for 50-unit networks. On an accelerator always vmap (measured on an H200: 10.6x faster than
        map at 256 units x 20 replicates, 3.5x at 512 x 5; benchmarks/RESULTS.md, "GPU")."""
        if os.environ.get("RNNLANG_REPLICATES") in ("vmap", "map"):
            return os.environ["RNNLANG_REPLICATES"] == "map"
        if jax.default_backend() != "cpu":
            return False
        shapes = jax.eval_shape(self.model.init, self.k_init)
        n = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(shapes))
        return n >= 16384

    def eval_fn(self, stage: int | None = None) -> Callable:
        """Jitted validation: params -> (loss (R,), terms {name: (R,)}, metrics {name: (R,)},
        output spread (R,)); the metrics are those of the stage's task (one program per task).
        The spread is the largest standard deviation of an output channel over the trials and
        steps (for the dead-output warning)."""
        key, task = self.task_of(stage) if stage is not None else ("", self.model.task)
        if self.pack is not None:
            key = "@packed"
        if key not in self._eval_fns:
            model = self.model

            def evaluate(params, trial, rng):
                def one(p):
                    signals = model.rollout(p, trial, rng)
                    loss, terms = total_loss(model, p, signals, trial)
                    metrics = task.metrics(metric_signals(model, signals), trial) if task else {}
                    # a metric that is `never` (NaN) in some trials is the mean over the others
                    return (loss, terms, {k: jnp.nanmean(jnp.asarray(v, jnp.float32)) for k, v in metrics.items()},
                            output_spread(model, signals))
                return jax.vmap(one)(params)

            if self.pack is not None:
                # each point on its own validation set: trial (P, ...), rng (P, 2)
                P, R = self.pack.points, self.point_replicates

                def packed(params, trials, rngs):
                    by_point = jax.tree_util.tree_map(lambda x: x.reshape((P, R) + x.shape[1:]), params)
                    out = jax.vmap(evaluate)(by_point, trials, rngs)
                    return jax.tree_util.tree_map(lambda x: x.reshape((P * R,) + x.shape[2:]), out)

                self._eval_fns[key] = jax.jit(packed)
                return self._eval_fns[key]
            self._eval_fns[key] = jax.jit(evaluate)
        return self._eval_fns[key]

    def validation_trial(self, stage: int) -> dict:
        """The validation set; during a curriculum stage that sets task parameters, a fixed batch
        drawn with them (as PsychRNN measures a stage's accuracy on that stage's trials); during a
        stage that switches task, that task's own validation set; the sites' validation-phase
        parameters under the stage's site settings."""
        overrides, stage_sites = self.overrides(stage), self.stage_sites(stage)
        task_key, task = self.task_of(stage)
        if task_key and stage not in self._stage_val:
            # a stage that switches task validates on that task's own validation set (drawn once
            # for each task and site settings)
            same = next((self._stage_val[i] for i in self._stage_val
                         if self.task_of(i)[0] == task_key and signature(self.stage_sites(i)) == signature(stage_sites)), None)
            self._stage_val[stage] = same if same is not None else jax.jit(
                lambda k: validation_batch(self.model, k, task, stage_sites))(self.k_val)
        if not overrides and not stage_sites and not task_key:
            return self.val_trial
        if stage not in self._stage_val:
            if overrides:
                trial = train_batch(self.model, self.k_val, max(self.batch_size, 256), overrides)
            else:
                trial = dict(self.val_trial)
            n = int(jax.tree_util.tree_leaves(trial["signals"])[0].shape[0]) if trial["signals"] else max(self.batch_size, 256)
            trial["sites"] = draw_sites(self.model, self.k_val, n, "validate", stage_sites, trial.get("vars"))
            self._stage_val[stage] = trial
        return self._stage_val[stage]

    def validate(self, params: Any, stage: int | None = None) -> dict[str, Any]:
        """Validation loss, terms and task metrics, each as a list over replicates."""
        if self.pack is not None:
            loss, terms, metrics, spread = self.eval_fn(stage)(params, self.val_trials, self.point_keys[:, 2])
        else:
            trial = self.val_trial if stage is None else self.validation_trial(stage)
            loss, terms, metrics, spread = self.eval_fn(stage)(params, trial, self.k_val)
        return {"loss": np.asarray(loss).tolist(), "terms": {k: np.asarray(v).tolist() for k, v in terms.items()},
                "metrics": {k: np.asarray(v).tolist() for k, v in metrics.items()},
                "output_spread": np.asarray(spread).tolist()}

    # ---- the loop ------------------------------------------------------------------------------
    def run(self, state: TrainState, log: "Callbacks | None" = None) -> TrainState:
        """Train from `state` to the end (or a stopping rule). `log` receives metrics, validation
        records and checkpoint requests."""
        log = log or Callbacks()
        prev: TrainState | None = None  # the state before `state`, its training loss seen finite
        good: TrainState | None = None  # the latest state whose training and validation losses were finite
        grad_norms = None  # of the last batch trained, per replicate
        dead: set[int] = set()  # replicates whose outputs were constant with a vanished gradient
        while state.batch < self.total and not state.done:
            if log.interrupted():
                raise TrainingInterrupted(f"interrupted at batch {state.batch}", state)
            start = state.batch
            # the chunk ends at the next multiple of K, validation point, checkpoint or the end
            stop = min(self.total, (start // self.k + 1) * self.k,
                       (start // self.validate_every + 1) * self.validate_every,
                       (start // self.checkpoint_every + 1) * self.checkpoint_every)
            stage_limit = self._stage_limit(state)
            if stage_limit is not None:
                stop = min(stop, stage_limit)
            n = stop - start
            params, opt_state, losses, terms = self.chunk_fn(state.stage)(state.params, state.opt_state, start, n, self.train_keys)
            losses = np.asarray(losses)[:n]
            finite = np.all(np.isfinite(self._alive(losses, start + 1)), axis=1)
            if not finite.all():
                bad = int(np.argmax(~finite))
                # losses[j] is the loss of the parameters after start + j batches: when the first
                # bad one is losses[0], `state` itself gives it, and the state before is kept
                keep = state if bad > 0 else prev
                raise TrainingStopped(f"the loss became {_what(losses)} at batch {start + bad + 1}",
                                      self._finite_or_none(keep) or good)
            prev = state
            terms_np = {k: np.asarray(v)[:n] for k, v in terms.items()}
            grad_norms = terms_np.pop(GRAD_NORM)[-1]
            log.train(start, losses, terms_np)
            if self.stopped_points:  # points of a packed sweep that met their stopping rule keep their state
                params, opt_state = self._keep_stopped(params, opt_state, state.params, state.opt_state)
            state = TrainState(params, opt_state, stop, state.stage, state.stage_start, False, state.history)
            if stop % self.validate_every == 0 or stop == self.total or (stage_limit is not None and stop == stage_limit):
                record = self.validate(params, state.stage)
                record.update(batch=stop, stage=state.stage)
                warnings = health.check(stop, record.pop("output_spread"), grad_norms, record["loss"], dead)
                if warnings:
                    record["warnings"] = warnings
                log.validate(record)
                if not np.all(np.isfinite(self._alive(np.asarray(record["loss"])[None], stop))):
                    raise TrainingStopped(f"the validation loss became {_what(np.asarray(record['loss']))} at batch {stop}",
                                          self._finite_or_none(prev) or good)
                state.history.append(record)
                good = state
                if self.pack is not None:
                    self._after_packed_validation(state, record)
                else:
                    self._after_validation(state, record)
            if stop % self.checkpoint_every == 0 or stop == self.total or state.done:
                log.checkpoint(state)
        return state

    def _after_packed_validation(self, state: TrainState, record: Mapping[str, Any]) -> None:
        """The stopping rules of a packed sweep, point by point (each on the mean over its own
        replicates, as a run of that point alone decides): a point that stops is noted in
        `stopped_points` (point -> (batch, why)) and keeps its state from then on; training ends
        when every point has stopped or diverged."""
        R = self.point_replicates
        for p in range(self.pack.points):
            if p in self.stopped_points or p in self.diverged:
                continue
            part = lambda v: list(v[p * R:(p + 1) * R])  # noqa: E731
            own = {"loss": part(record["loss"]), "terms": {k: part(v) for k, v in record["terms"].items()},
                   "metrics": {k: part(v) for k, v in record["metrics"].items()}}
            why = stop_reason(self.model.cm, condition_values(own, state.batch))
            if why is not None:
                self.stopped_points[p] = (state.batch, why)
        if len(self.stopped_points) + len(self.diverged) == self.pack.points:
            state.done = True
            state.reason = "every point of the sweep stopped"

    def _keep_stopped(self, params: Any, opt_state: Any, old_params: Any, old_opt: Any) -> tuple[Any, Any]:
        """The new state, except the rows of the stopped points, which keep the old one."""
        R = self.point_replicates
        keep = np.zeros(self.replicates, bool)
        for p in self.stopped_points:
            keep[p * R:(p + 1) * R] = True
        if self._keep_fn is None:
            def select(keep, new, old):
                pick = lambda a, b: jnp.where(keep.reshape((-1,) + (1,) * (a.ndim - 1)), b, a)  # noqa: E731
                return jax.tree_util.tree_map(pick, new, old)
            self._keep_fn = jax.jit(select)
        return self._keep_fn(jnp.asarray(keep), (params, opt_state), (old_params, old_opt))

    def _alive(self, values: np.ndarray, first: int) -> np.ndarray:
        """`values` (J, replicates) of the batches from `first` on, less the columns of a packed
        sweep's points whose loss is no longer finite: such a point is noted in `diverged`
        (point -> batch) and the others train on (each replicate's computation is its own). While
        no point, or only one, is left, all the columns (the run stops as any run would)."""
        if self.pack is None:
            return values
        R = self.point_replicates
        for p in range(self.pack.points):
            if p in self.diverged:
                continue
            bad = ~np.all(np.isfinite(values[:, p * R:(p + 1) * R]), axis=1)
            if bad.any() and len(self.diverged) + 1 < self.pack.points:
                self.diverged[p] = first + int(np.argmax(bad))
        rows = [r for r in range(values.shape[1]) if r // R not in self.diverged]
        return values[:, rows]

    def _finite_or_none(self, state: TrainState | None) -> TrainState | None:
        """`state` if its validation loss (what `rnn eval` computes) is finite, else None."""
        if state is None:
            return None
        record = self.validate(state.params)
        return state if np.all(np.isfinite(record["loss"])) else None

    def _stage_limit(self, state: TrainState) -> int | None:
        if state.stage < len(self.stages):
            limit = self.stages[state.stage].settings.get("batches")
            if limit:
                return state.stage_start + int(limit)
        return None

    def _after_validation(self, state: TrainState, record: Mapping[str, Any]) -> None:
        """Advance the curriculum or stop, by the rules of the train block: a stage ends when its
        `until` (or `until_accuracy`) holds or its `batches` are done; after the stages, training
        stops when the train block's `until`, `stop_accuracy` or `stop_loss` holds (any one)."""
        values = condition_values(record, state.batch)
        acc = values.get("accuracy")
        t = self.model.cm.train
        if state.stage < len(self.stages):
            st = self.stages[state.stage]
            target = st.settings.get("until_accuracy")
            limit = self._stage_limit(state)
            why = None
            if target is not None and acc is not None and acc >= target:
                why = f"accuracy {acc:.4g} >= {target:g}"
            elif st.until is not None and conditions.holds(st.until, values):
                why = _holds_text(st.until, values)
            if why is not None or (limit is not None and state.batch >= limit):
                state.stage += 1
                state.stage_start = state.batch
                if why is not None and state.stage == len(self.stages) and t.get("after_stages", "stop") == "stop":
                    # as PsychRNN: passing the last stage ends training
                    state.done = True
                    state.reason = f"the last stage `{st.name}` is passed ({why})"
            return
        why = stop_reason(self.model.cm, values)
        if why is not None:
            state.done = True
            state.reason = why


def stop_reason(cm: Any, values: Mapping[str, float]) -> str | None:
    """Why training stops after the stages, by the train block's `stop_loss`, `stop_accuracy` or
    `until` (any one, in that order of precedence in the message); None while none holds."""
    t = cm.train
    acc, loss = values.get("accuracy"), values["loss"]
    if t.get("stop_loss") is not None and loss <= t["stop_loss"]:
        return f"validation loss {loss:.4g} <= stop_loss {t['stop_loss']:g}"
    if t.get("stop_accuracy") is not None and acc is not None and acc >= t["stop_accuracy"]:
        return f"validation accuracy {acc:.4g} >= stop_accuracy {t['stop_accuracy']:g}"
    if cm.stop_rule is not None and conditions.holds(cm.stop_rule, values):
        return _holds_text(cm.stop_rule, values)
    return None


def condition_values(record: Mapping[str, Any], batch: int) -> dict[str, float]:
    """What `until` conditions read from a validation record (means over replicates): each loss
    term and task metric by name, then `accuracy`, `loss` and `batch`, which win over a term or
    metric of the same name (see rnnlang.dsl.conditions)."""
    mean = lambda v: float(np.mean(v))  # noqa: E731
    values = {k: mean(v) for k, v in record["terms"].items()}
    values.update({k: mean(v) for k, v in record["metrics"].items() if k not in ("correct", "choice")})
    if "correct" in record["metrics"]:
        values["accuracy"] = mean(record["metrics"]["correct"])
    values["loss"] = mean(record["loss"])
    values["batch"] = float(batch)
    return values


def _holds_text(cond: Any, values: Mapping[str, float]) -> str:
    shown = ", ".join(f"{n} = {values[n]:.4g}" for n in cond.names if n in values)
    return f"`until {cond.text}` holds" + (f" ({shown})" if shown else "")


def signature(x: Any) -> str:
    """A text that identifies a value (tasks' parameters, stage overrides): equal values, equal
    texts; arrays by their contents."""
    if isinstance(x, Mapping):
        return "{" + ",".join(f"{k!r}:{signature(v)}" for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ",".join(signature(v) for v in x) + "]"
    if isinstance(x, (np.ndarray, jax.Array)):
        a = np.ascontiguousarray(np.asarray(x))
        return f"array{a.shape}{a.dtype}:{hashlib.sha1(a.tobytes()).hexdigest()}"
    return repr(x)


def _global_norm(tree: Any) -> Any:
    """The Euclidean norm of every leaf of a tree together (the gradient's norm)."""
    return jnp.sqrt(sum((jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(tree)), jnp.zeros(())))


def _what(losses: np.ndarray) -> str:
    return "NaN" if np.isnan(losses).any() else "infinite"


def packable(cm) -> str | None:
    """Why the points of a sweep of this model cannot be trained as one program (None: they
    can). A curriculum changes the program as a run goes on, and `init_from` starts every
    replicate from one run; stopping rules are applied point by point (Trainer._after_packed_validation)."""
    t = cm.train
    if cm.stages:
        return "it has curriculum stages"
    if t.get("init_from"):
        return "it starts from another run (init_from)"
    return None


def _require_packable(cm) -> None:
    why = packable(cm)
    if why is not None:
        raise ModelError([Diagnostic(f"the points of this sweep cannot be trained together: {why}",
                                     cm.ast.train.keyword_span if cm.ast.train else None)], cm.source)


def _require_task_and_loss(cm) -> None:
    """Training draws its trials from a task and follows a loss: a model without either can be
    checked, drawn and simulated, but not trained. Said before anything is written."""
    block = cm.ast.model  # always in the file (a train block may come from --set)
    anchor = block.keyword_span if block else next((n.decl.name_span for n in cm.nodes.values()), None)
    diags = []
    if cm.task is None:
        diags.append(Diagnostic("there is no task to train on", anchor,
                                hint="declare one, e.g. `node task = perceptual_discrimination()`, and connect it"))
    if not cm.loss:
        diags.append(Diagnostic("there is no loss to train", anchor,
                                hint="add a loss block, e.g. `loss { mse = squared_error(net.output, task.target) }`"))
    if diags:
        raise ModelError(diags, cm.source)


class Callbacks:
    """What the training loop reports; the run directory and the progress bar implement it."""

    def train(self, start: int, losses: np.ndarray, terms: Mapping[str, np.ndarray]) -> None:
        pass

    def validate(self, record: Mapping[str, Any]) -> None:
        pass

    def checkpoint(self, state: TrainState) -> None:
        pass

    def interrupted(self) -> bool:
        """Whether the user asked to stop (checked between dispatches)."""
        return False


def _chunk_of(one_step: Callable, k: int) -> Callable:
    """`k` training steps in one scan: `one_step(params, opt_state, i, key)` at batches
    start .. start + k - 1, of which only the first `n` change the state (the last chunk of a run
    or stage is shorter than `k` but keeps the one compiled shape)."""
    def chunk(params, opt_state, start, n, key):
        def body(carry, j):
            p, s = carry
            p2, s2, loss, terms = one_step(p, s, start + j, key)
            keep = j < n
            p2 = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), p2, p)
            s2 = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), s2, s)
            return (p2, s2), (loss, terms)

        (params, opt_state), (losses, terms) = jax.lax.scan(body, (params, opt_state), jnp.arange(k))
        return params, opt_state, losses, terms

    return chunk
