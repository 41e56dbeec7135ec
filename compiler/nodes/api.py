"""The contract between the lowering and a node kind's JAX implementation.

A kind's implementation (`IMPLS[kind]`) is a subclass of `NodeImpl`. The lowering builds one
instance per declared node with its resolved configuration, then calls the methods below inside
traced code. Every method works on ONE trial (no batch axis): the lowering vmaps over the
batch. Arrays are float32.

Per time step the lowering calls, for every node:
  1. `read(params, state, noise)`        -> outputs of its state-read ports;
  2. in topological order of the feedthrough edges, for nodes with feedthrough outputs:
     `advance(params, state, inputs, noise, sites)` -> (new_state, feedthrough outputs);
  3. for every other stateful node, `advance(...)` too (its outputs dict may be empty).
`advance` is called exactly once per node and step. `noise` holds this step's standard-normal
draws with the shapes `noise_shapes()` asked for (drawn up front for the whole trial).
`sites` maps an internal site name (e.g. "hidden", "W_rec") to a function value -> value that
applies the interventions placed there (identity when none); call it where the site sits.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Mapping

Array = Any
SiteFn = Callable[[Array], Array]


class ConfigError(ValueError):
    """A node's or intervention's parameters do not fit the model (a mask of the wrong shape,
    units out of range): the lowering reports it at the parameter in the source."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class NodeConfig:
    """What a node instance knows: its name, resolved parameters (defaults filled in, file
    references loaded as NumPy arrays), the sizes of its ports, and the model's dt and steps."""

    name: str
    params: Mapping[str, Any]
    in_sizes: Mapping[str, int]
    out_sizes: Mapping[str, int]
    dt: float
    steps: int
    tau: float | None = None


class NodeImpl:
    """Base class: a stateless node with no parameters. Override what applies."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.p = config.params

    # -- parameters -----------------------------------------------------------------------
    def init_params(self, key: Array) -> dict[str, Array]:
        """Initial values of this node's parameters (trainable ones and fixed ones alike)."""
        return {}

    def fixed_params(self) -> set[str]:
        """Names among init_params() that never train (e.g. a fixed initial state)."""
        return set()

    def frozen_masks(self) -> dict[str, Array]:
        """Per-element gradient masks (1 trains, 0 frozen) for some parameters, if any."""
        return {}

    def effective_weights(self, params: Mapping[str, Array]) -> dict[str, Array]:
        """The weights as the dynamics use them (masks, Dale's law applied); for L1/L2 terms."""
        return {k: v for k, v in params.items() if k.startswith("W")}

    def prepare(self, params: Mapping[str, Array]) -> Mapping[str, Array]:
        """What `read`/`advance` receive as params: computed once per rollout, before the time
        loop (e.g. a ctrnn's effective weights), so nothing loop-invariant runs every step."""
        return params

    # -- state ------------------------------------------------------------------------------
    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> Any:
        """The state at t = 0; `init` maps this node's init ports to the trial's values."""
        return ()

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-step standard-normal draws this node needs, by name and shape (one trial)."""
        return {}

    def read(self, params: Mapping[str, Array], state: Any, noise: Mapping[str, Array]) -> dict[str, Array]:
        """Outputs of the state-read ports (noise: this step's draws, as in `advance`)."""
        return {}

    def advance(
        self,
        params: Mapping[str, Array],
        state: Any,
        inputs: Mapping[str, Array],
        noise: Mapping[str, Array],
        sites: Mapping[str, SiteFn],
    ) -> tuple[Any, dict[str, Array]]:
        """One step: the new state and the feedthrough outputs."""
        return state, {}

    # -- hooks for interventions --------------------------------------------------------------
    def velocity(self, state: Any) -> Array:
        """Effector velocity (mechanics only): what a curl field reads."""
        raise TypeError(f"{type(self).__name__} has no velocity")


class InterventionImpl(abc.ABC):
    """An intervention kind's JAX side. `apply` gets the signal at its site (one trial, one step),
    the per-trial parameters (`active`, `scale` and the kind's own, as arrays), this step's noise
    draws, the time index, and the owning node's impl and current state (for curl fields)."""

    def __init__(self, params: Mapping[str, Any], size: int, steps: int, dt: float) -> None:
        self.p = params
        self.size = size
        self.steps = steps
        self.dt = dt

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def signal_reads(self) -> tuple[str, ...]:
        """Outputs of nodes this intervention reads each step (`node.port` or `node.port.field`;
        a custom intervention's value), handed to `apply` as `signals`."""
        return ()

    @abc.abstractmethod
    def apply(self, x: Array, p: Mapping[str, Array], noise: Mapping[str, Array], t: Array,
              node: NodeImpl, state: Any, signals: Mapping[str, Array] | None = None) -> Array:
        """The signal with the intervention applied (scaled by p["scale"], gated by p["active"]);
        `signals` holds the outputs `signal_reads` names, as they are at this point of the step."""


Trial = dict[str, Any]
"""A batch of trials, as a task makes it (leading axis B = batch):
  "signals": {port: (B, T, n)}   per-step values of the task's signal ports (inputs to the model,
                                 targets, masks: anything a loss or plot reads as `task.port`);
  "init":    {port: (B, n)}      per-trial values of the task's init ports (e.g. an effector start);
  "vars":    {name: (B, ...)}    the trial variables drawn (coherence, direction, goal, ...), for
                                 metrics and plots: (B,) or (B, n); a per-step value (drawn
                                 `each step`, a hold) is (B, T, n), n = 1 for one value;
  "windows": {epoch: (B, T, 1)}  1.0 at the steps inside each declared epoch, 0.0 elsewhere: the
                                 response windows that losses and metrics restrict themselves to.
The runtime adds "sites": {site: {param: (B, ...)}} with intervention parameters drawn per trial.
"""


class TaskImpl(abc.ABC):
    """A task kind's JAX side: trial generation inside JAX (vectorised over the batch, no Python
    loop over trials or steps; deterministic for a key) and its metrics."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.p = config.params

    @abc.abstractmethod
    def trials(self, key: Array, batch: int, overrides: Mapping[str, Any] | None = None) -> Trial:
        """A training batch. `overrides` replaces task parameters per curriculum stage
        (e.g. {"coherences": [0.7]}); they are Python constants (each stage compiles its own
        program)."""

    @abc.abstractmethod
    def validation(self, key: Array) -> Trial:
        """The fixed validation set (e.g. center-out reaches, or a grid of conditions)."""

    def metrics(self, signals: Mapping[str, Array], trial: Trial) -> dict[str, Array]:
        """Task metrics per trial, shape (B,), from the values arriving at the task's input
        ports over the trial (`signals[port]`: (B, T, n)). Cognitive tasks return "correct"
        (so accuracy = its mean); reaches return "final_position_error" and "final_speed"."""
        return {}


# ---- products ------------------------------------------------------------------------------------


TRANSPOSED = "(transposed)"  # prepared params' key: {dotted path: W^T}; not a parameter name


def with_transposed(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` and, under TRANSPOSED, every weight matrix in it transposed, for `product`.

    The lowering calls this once per rollout, before the time loop, so that the matrices the
    products in the loop read are (in, out): autodiff then accumulates their gradients in that
    layout, (in, out) += a^T g at every time step, and transposes them once after the loop. With
    the stored (out, in) matrices each step's gradient product writes the transposed layout,
    measured slower on the CPU: for a GRU's recurrent weights (50 units, 125 trials per core) 6.4
    against 5.4 ms per training step. Matrices that no product reads cost nothing: XLA drops
    them."""
    flat: dict[str, Array] = {}

    def walk(tree: Mapping[str, Any], prefix: str) -> None:
        for k, v in tree.items():
            if isinstance(v, Mapping):
                walk(v, f"{prefix}{k}.")
            elif getattr(v, "ndim", 0) == 2:
                flat[prefix + k] = v.T

    walk(params, "")
    return {**params, TRANSPOSED: flat} if flat else dict(params)


def product(params: Mapping[str, Any], path: tuple[str, ...], a: Array, bias: str | None = None) -> Array:
    """`a @ W.T (+ b)`, W = params[path[0]][path[1]]..., b = params[bias]: a weight matrix times
    this step's row vector (vmapped over the batch it stays batch-major, with no transposes).
    Reads W^T from `with_transposed`'s table when the params went through it."""
    wt = params.get(TRANSPOSED, {}).get(".".join(path))
    if wt is None:
        w = params
        for k in path:
            w = w[k]
        wt = w.T
    y = a @ wt
    return y if bias is None else y + params[bias]
