"""What the blocks other than node declarations may hold: model settings, loss terms, training
settings, curriculum stages and per-trial distributions. Plain data, read by the checker (to
report mistakes with positions) and by the runtime (defaults), so both agree by construction.
Parameter signatures reuse the registry's `Param`."""

from __future__ import annotations

from rnnlang.compiler.nodes.base import REQUIRED, Param

# Bounds of sizes, lengths and seeds (docs/limits.md); the memory a model needs is bounded
# separately, by an estimate against the machine (compiler/budget.py).
MAX_INT = 2**31 - 1  # any integer a setting or parameter takes
MAX_STEPS = 1_000_000  # time steps per trial
MAX_SEED = 2**31 - 1
MAX_BATCH_SIZE = 1_000_000
MAX_REPLICATES = 4096
MAX_BATCHES = 1_000_000_000
MAX_STEPS_PER_DISPATCH = 10_000
MIN_DT, MAX_DT = 1e-9, 1e9

RESERVED_WORDS = ("model", "node", "site", "loss", "train", "stage", "task", "true", "false", "none")

MODEL_SETTINGS: tuple[Param, ...] = (
    Param("dt", "float", REQUIRED, "time step, in the model's time unit", low=0, low_open=True),
    Param("steps", "int", None, "time steps per trial (give this or `duration`)", low=1, high=MAX_STEPS),
    Param("duration", "float", None, "trial length in time units; steps = round(duration / dt)", low=0, low_open=True),
    Param("tau", "float", None, "default time constant for continuous-time networks", low=0, low_open=True),
    Param("seed", "int", 0, "seed of every random draw: initial weights, trials, noise", low=0, high=MAX_SEED),
)

# Signals are written as references: `node.port`, `node.port.field`, `task.port`.
# type "signal" is a reference to a port's signal; "weights" a reference to a node or node.param.
LOSS_TERMS: dict[str, tuple[Param, ...]] = {
    # sum over time (discounted) and components of (mask * (signal - target))^2, mean over the batch;
    # reduce = "mean" averages over time and components too (PsychRNN's mean squared error)
    "squared_error": (
        Param("signal", "any", REQUIRED, "the signal scored"),
        Param("target", "any", None, "what it should be (zeros when absent)"),
        Param("mask", "any", None, "a signal of weights per step and component"),
        Param("discount", "float", 0.0, "power p of the time discount (k / T)^p (Feedbax uses 6)", low=0),
        Param("reduce", "str", "sum", "sum or mean over time and components", choices=("sum", "mean")),
    ),
    # squared error at the last step only: |signal_T - target_T|^2
    "final": (
        Param("signal", "any", REQUIRED, "the signal scored at the last step"),
        Param("target", "any", None, "its target (zeros when absent)"),
    ),
    # sum over time and components of signal^2 (or |signal|), mean over the batch
    "penalty": (
        Param("signal", "any", REQUIRED, "the signal penalised (activity, outputs)"),
        Param("norm", "str", "l2", "l2 (squares) or l1 (absolute values)", choices=("l1", "l2")),
        Param("reduce", "str", "sum", "sum or mean over time and components", choices=("sum", "mean")),
    ),
    # PsychRNN's firing-rate regulariser: the mean of rates^2 over batch, time and units
    "firing_rate": (Param("signal", "any", REQUIRED, "the rates (a network's `hidden` port)"),),
    # mean of |W| (l1) or W^2 (l2) of the effective weights: `net` for all, `net.W_rec` for one
    "weights": (
        Param("of", "any", REQUIRED, "a network, or one of its weight matrices"),
        Param("norm", "str", "l2", "l1 or l2", choices=("l1", "l2")),
    ),
    # binary cross-entropy on outputs clipped to (eps, 1 - eps), masked, mean over everything
    "cross_entropy": (
        Param("signal", "any", REQUIRED, "the outputs, in (0, 1)"),
        Param("target", "any", REQUIRED, "the targets"),
        Param("mask", "any", None, "a mask signal"),
    ),
}

TRAIN_SETTINGS: tuple[Param, ...] = (
    Param("optimizer", "call", {"name": "adam", "args": [], "kwargs": {"learning_rate": 1e-3}},
          "any optax optimizer by name with its arguments; learning_rate may be a schedule call"),
    Param("batches", "int", None, "training batches (give this or `trials`)", low=1, high=MAX_BATCHES),
    Param("trials", "int", None, "training trials, as PsychRNN counts; batches = ceil(trials / batch_size)", low=1,
          high=MAX_INT),
    Param("batch_size", "int", 128, "trials per batch", low=1, high=MAX_BATCH_SIZE),
    Param("replicates", "int", 1, "independently initialised models trained together", low=1, high=MAX_REPLICATES),
    Param("clip", "call", None, "global_norm(x) or per_tensor(x): gradient clipping"),
    Param("trainable", "any", None, "list of nodes or node.param that train (default: every parameter)"),
    Param("frozen", "any", None, "list of nodes or node.param that do not train"),
    Param("validate_every", "int", 100, "batches between validations", low=1, high=MAX_BATCHES),
    Param("checkpoint_every", "int", 500, "batches between checkpoints", low=1, high=MAX_BATCHES),
    Param("steps_per_dispatch", "int", 0, "training steps fused into one call (0: automatic)", low=0,
          high=MAX_STEPS_PER_DISPATCH),
    Param("stop_accuracy", "float", None, "stop when validation accuracy reaches this", low=0, high=1),
    Param("stop_loss", "float", None, "stop when validation loss falls to this", low=0),
    Param("seed", "int", None, "seed of training (default: the model's seed)", low=0, high=MAX_SEED),
)
# `mask.NODE.PARAM = matrix` in a train block: per-element gradient mask (1 trains, 0 frozen).
TRAIN_MASK_PREFIX = "mask"

STAGE_SETTINGS: tuple[Param, ...] = (
    Param("until_accuracy", "float", None, "advance when validation accuracy reaches this", low=0, high=1),
    Param("batches", "int", None, "at most this many batches in the stage", low=1, high=MAX_BATCHES),
)
# other keys in a stage are `task.PARAM = value` overrides of the task's parameters

CLIP_KINDS = ("global_norm", "per_tensor")

# Distributions a per-trial value may be drawn from: name -> (min args, max args, description)
DISTRIBUTIONS: dict[str, tuple[int, int, str]] = {
    "normal": (2, 2, "normal(mean, std)"),
    "uniform": (2, 2, "uniform(low, high)"),
    "choice": (1, 1000, "choice(a, b, ...): one of the values, equally likely"),
    "bernoulli": (1, 1, "bernoulli(p): true with probability p"),
}


def param_named(params: tuple[Param, ...], name: str) -> Param | None:
    return next((p for p in params if p.name == name), None)
