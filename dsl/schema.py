"""What the blocks other than node declarations may hold: model settings, loss terms, training
settings, curriculum stages and per-trial distributions. Plain data, read by the checker (to
report mistakes with positions) and by the runtime (defaults), so both agree by construction.
Parameter signatures reuse the registry's `Param`."""

from __future__ import annotations

from dataclasses import dataclass

from .distributions import arities
from .vocab import REQUIRED, Param

# Bounds of sizes, lengths and seeds (docs/limits.md); the memory a model needs is bounded
# separately, by an estimate against the machine (compiler/budget.py).
MAX_INT = 2**31 - 1  # any integer a setting or parameter takes
MAX_STEPS = 1_000_000  # time steps per trial
MAX_SEED = 2**31 - 1
MAX_BATCH_SIZE = 1_000_000
MAX_REPLICATES = 4096
MAX_BATCHES = 1_000_000_000
MAX_STEPS_PER_DISPATCH = 10_000
MAX_CHECKPOINTS = 100_000  # checkpoints one run keeps
MIN_DT, MAX_DT = 1e-9, 1e9

RESERVED_WORDS = ("model", "node", "site", "loss", "train", "stage", "task", "true", "false", "none")

MODEL_SETTINGS: tuple[Param, ...] = (
    Param("dt", "float", REQUIRED, "time step, in the model's time unit", low=0, low_open=True),
    Param("steps", "int", None, "time steps per trial (give this or `duration`)", low=1, high=MAX_STEPS),
    Param("duration", "float", None, "trial length in time units; steps = round(duration / dt)", low=0, low_open=True),
    Param("tau", "float", None, "default time constant for continuous-time networks", low=0, low_open=True),
    Param("seed", "int", 0, "seed of every random draw: initial weights, trials, noise", low=0, high=MAX_SEED),
)

@dataclass(frozen=True)
class LossTerm:
    """A named loss term: its arguments and the formula it computes. The formula is what
    docs/reference.md states; `runtime/losses.py` holds the one JAX function per term.

    Signals are written as references: `node.port`, `node.port.field`, `task.port`; an argument
    of type "any" holding a signal is a reference, `of` (weights) names a node or node.param."""

    name: str
    params: tuple[Param, ...]
    formula: str

    def param(self, name: str) -> Param | None:
        return param_named(self.params, name)


# Notation of the formulas: x the signal, y the target (0 when absent), m the mask (1 when
# absent), b = 1..B trials, t = 1..T steps, k = 1..n components.
_SUM_OR_MEAN = ('reduce = "sum": (1/B) sum_b sum_t sum_k v[b,t,k] (sum over time and components, '
                'mean over trials; Feedbax); reduce = "mean": (1/(B T n)) sum_b,t,k v[b,t,k] (PsychRNN)')
LOSS_TERMS: dict[str, LossTerm] = {t.name: t for t in (
    LossTerm("squared_error", (
        Param("signal", "any", REQUIRED, "the signal scored"),
        Param("target", "any", None, "what it should be (zeros when absent)"),
        Param("mask", "any", None, "a signal of weights per step and component"),
        Param("discount", "float", 0.0, "power p of the time discount (t / T)^p (Feedbax uses 6)", low=0),
        Param("reduce", "str", "sum", "sum or mean over time and components", choices=("sum", "mean")),
    ), "v[b,t,k] = (t/T)^p * (m[b,t,k] * (x[b,t,k] - y[b,t,k]))^2 (the discount is 1 when p = 0); "
       + _SUM_OR_MEAN),
    LossTerm("final", (
        Param("signal", "any", REQUIRED, "the signal scored at the last step"),
        Param("target", "any", None, "its target (zeros when absent)"),
    ), "(1/B) sum_b sum_k (x[b,T,k] - y[b,T,k])^2: the squared error of the last step only"),
    LossTerm("penalty", (
        Param("signal", "any", REQUIRED, "the signal penalised (activity, outputs)"),
        Param("norm", "str", "l2", "l2 (squares) or l1 (absolute values)", choices=("l1", "l2")),
        Param("reduce", "str", "sum", "sum or mean over time and components", choices=("sum", "mean")),
    ), "v[b,t,k] = x[b,t,k]^2 (l2) or |x[b,t,k]| (l1); " + _SUM_OR_MEAN),
    LossTerm("firing_rate", (
        Param("signal", "any", REQUIRED, "the rates (a network's `hidden` port)"),
    ), "(1/(B T n)) sum_b,t,k x[b,t,k]^2: the mean squared rate over trials, steps and units "
       "(PsychRNN's firing-rate regulariser)"),
    LossTerm("weights", (
        Param("of", "any", REQUIRED, "a network, or one of its weight matrices"),
        Param("norm", "str", "l2", "l1 or l2", choices=("l1", "l2")),
    ), "sum over the matrices W named (every weight matrix of the node, W_in, W_rec, W_out ..., or "
       "the one given as `net.W_rec`) of mean(W^2) (l2) or mean(|W|) (l1), each mean over that "
       "matrix's entries; the effective weights, with masks and Dale's law applied (PsychRNN's L1/L2 "
       "regularisers)"),
    LossTerm("cross_entropy", (
        Param("signal", "any", REQUIRED, "the outputs, in (0, 1)"),
        Param("target", "any", REQUIRED, "the targets"),
        Param("mask", "any", None, "a mask signal"),
    ), "(1/(B T n)) sum_b,t,k m * -(y log x' + (1 - y) log(1 - x')), x' = clip(x, 1e-7, 1 - 1e-7): "
       "binary cross-entropy, averaged over every entry (masked entries count as 0)"),
    LossTerm("categorical_cross_entropy", (
        Param("signal", "any", REQUIRED, "the outputs: logits (a linear readout), or probabilities with logits = false"),
        Param("target", "any", REQUIRED, "the target distribution over the channels (one-hot for a class)"),
        Param("mask", "any", None, "a mask signal; a step counts when any of its channels is on"),
        Param("logits", "bool", True, "the signal holds logits (true) or probabilities that sum to 1 (false)"),
    ), "sum_{b,t} w[b,t] c[b,t] / sum_{b,t} w[b,t], c[b,t] = -sum_k y[b,t,k] log p[b,t,k], p = softmax(x) "
       "computed as log_softmax (logits = true) or p = clip(x, 1e-7, 1) (logits = false), w[b,t] = max_k m[b,t,k]: "
       "the mean categorical cross-entropy over the scored steps (NeuroGym's objective)"),
)}

TRAIN_SETTINGS: tuple[Param, ...] = (
    Param("optimizer", "call", {"name": "adam", "args": [], "kwargs": {"learning_rate": 1e-3}},
          "any optax optimizer by name with its arguments (checked: names it takes, finite numbers, a "
          "learning rate not below 0); learning_rate may be a schedule call"),
    Param("batches", "int", None, "training batches (give this or `trials`)", low=1, high=MAX_BATCHES),
    Param("trials", "int", None, "training trials, as PsychRNN counts; batches = ceil(trials / batch_size)", low=1,
          high=MAX_INT),
    Param("batch_size", "int", 128, "trials per batch", low=1, high=MAX_BATCH_SIZE),
    Param("replicates", "int", 1, "independently initialised models trained together", low=1, high=MAX_REPLICATES),
    Param("replicate_trials", "str", "own", "each replicate trains on its own trials (Feedbax's default), or all "
          "on the same trials", choices=("own", "shared")),
    Param("clip", "call", None, "global_norm(x) or per_tensor(x): gradient clipping"),
    Param("trainable", "any", None, "list of nodes or node.param that train (default: every parameter)"),
    Param("frozen", "any", None, "list of nodes or node.param that do not train"),
    Param("validate_every", "int", 100, "batches between validations", low=1, high=MAX_BATCHES),
    Param("checkpoint_every", "int", 500, "batches between checkpoints", low=1, high=MAX_BATCHES),
    Param("keep_checkpoints", "int", 0, "besides the latest, keep the N most recent checkpoints "
          "(checkpoints/batch-N.safetensors; read with --checkpoint N); 0 keeps only the latest", low=0,
          high=MAX_CHECKPOINTS),
    Param("steps_per_dispatch", "int", 0, "training steps fused into one call (0: automatic)", low=0,
          high=MAX_STEPS_PER_DISPATCH),
    Param("stop_accuracy", "float", None, "stop when validation accuracy reaches this (shorthand for `until accuracy >= x`)", low=0, high=1),
    Param("stop_loss", "float", None, "stop when validation loss falls to this (shorthand for `until loss <= x`)", low=0),
    Param("after_stages", "str", "stop", "when the last curriculum stage is passed (its `until` or until_accuracy reached): "
          "stop training (as PsychRNN), or continue with the file's own settings", choices=("stop", "continue")),
    Param("seed", "int", None, "seed of training (default: the model's seed)", low=0, high=MAX_SEED),
    Param("init_from", "str", None, "a run directory of the same model whose trained parameters start this "
          "training (relative to the model file; the optimizer starts afresh)"),
)
# `mask.NODE.PARAM = matrix` in a train block: per-element gradient mask (1 trains, 0 frozen).
TRAIN_MASK_PREFIX = "mask"

STAGE_SETTINGS: tuple[Param, ...] = (
    Param("until_accuracy", "float", None, "advance when validation accuracy reaches this (shorthand for `until accuracy >= x`)", low=0, high=1),
    Param("batches", "int", None, "at most this many batches in the stage", low=1, high=MAX_BATCHES),
)
# other keys in a stage are `task.PARAM = value` overrides of the task's parameters, and
# `SITE.PARAM` / `SITE.train.PARAM` / `SITE.validate.PARAM` overrides of a site's per-trial parameters

CLIP_KINDS = ("global_norm", "per_tensor")

# The phases an intervention site's schedules (and `--set SITE.PHASE.PARAM`) name.
PHASES = ("train", "validate")

# Distributions a per-trial value may be drawn from (the one table, dsl/distributions.py):
# name -> (min args, max args, description). `truncated` takes a distribution (normal or
# exponential, with numbers) as its first argument.
DISTRIBUTIONS: dict[str, tuple[int, int, str]] = {
    name: (lo, hi if hi is not None else 1000, desc) for name, (lo, hi, desc) in arities().items()}


def param_named(params: tuple[Param, ...], name: str) -> Param | None:
    return next((p for p in params if p.name == name), None)
