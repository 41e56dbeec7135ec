"""Channel node kinds: `channel` (a delay line with Feedbax's noise form) and `gain`.

A `channel` with delay d >= 1 outputs, at step k, what entered it at step k - d (before that, the
first value that entered, or zeros); its output is then a state read, which is what lets a loop
through it be a normal closed loop. With d = 0 it passes its input through (feedthrough).
Noise is added on the way out: out = x + signal_noise * x * e1 + noise * e2 (elementwise).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from rnnlang.compiler.nodes.api import ConfigError, Array, NodeConfig, NodeImpl, SiteFn
from rnnlang.compiler.nodes.base import NodeKind, Param, Port, register
from rnnlang.compiler.nodes.lazy import lazy

jnp = lazy("jax.numpy")
jax = lazy("jax")
jr = lazy("jax.random")


def _same_size(params: Mapping[str, Any], in_sizes: Mapping[str, int]) -> int:
    """Size rule: the output has the size of what arrives at `input`."""
    return int(in_sizes["input"])


def _channel_timing(params: Mapping[str, Any]) -> str:
    """A delayed channel's output is read from its state; an undelayed one is feedthrough."""
    return "feedthrough" if int(params.get("delay", 0) or 0) == 0 else "state"


class Channel(NodeImpl):
    """Delay line of `delay` steps with signal-dependent and additive Gaussian noise.

    State for delay d >= 1: a (d, n) queue, oldest first; the output is its head."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = lambda name: CHANNEL_KIND.value(self.p, name)  # noqa: E731
        self.delay = int(P("delay"))
        if self.delay < 0:
            raise ValueError("channel: delay must be >= 0")
        self.noise_std = float(P("noise") or 0.0)
        self.signal_std = float(P("signal_noise") or 0.0)
        self.init_mode = str(P("init"))
        if self.init_mode not in ("first", "zeros"):
            raise ValueError(f"channel: unknown init {self.init_mode!r}")
        self.n = int(config.in_sizes.get("input", 0) or 0)

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        if self.noise_std > 0:
            shapes["noise"] = (self.n,)
        if self.signal_std > 0:
            shapes["signal"] = (self.n,)
        return shapes

    def corrupt(self, x: Array, noise: Mapping[str, Array]) -> Array:
        """x + signal_noise * x * e_signal + noise * e_noise."""
        if self.signal_std > 0:
            x = x + self.signal_std * x * noise["signal"]
        if self.noise_std > 0:
            x = x + self.noise_std * noise["noise"]
        return x

    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> Any:
        """The queue filled with the first input (init "first", when the compiler knows it) or zeros."""
        if self.delay == 0:
            return ()
        if self.init_mode == "first" and init and init.get("input") is not None:
            first = jnp.asarray(init["input"], jnp.float32).reshape((self.n,))
            return jnp.broadcast_to(first, (self.delay, self.n)).astype(jnp.float32)
        return jnp.zeros((self.delay, self.n), jnp.float32)

    def read(self, params: Mapping[str, Array], state: Any, noise: Mapping[str, Array]) -> dict[str, Array]:
        if self.delay == 0:
            return {}
        return {"output": self.corrupt(state[0], noise)}

    def advance(self, params: Mapping[str, Array], state: Any, inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Any, dict[str, Array]]:
        x = jnp.asarray(inputs["input"], jnp.float32).reshape((self.n,))
        if self.delay == 0:
            return state, {"output": self.corrupt(x, noise)}
        return jnp.concatenate([state[1:], x[None, :]], axis=0), {}


class Gain(NodeImpl):
    """y = gain * x, elementwise (gain a scalar or a vector of the signal's size)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.gain = np.asarray(GAIN_KIND.value(self.p, "gain"), np.float32)
        self.n = int(config.in_sizes.get("input", 0) or 0)
        if self.gain.ndim > 1 or (self.gain.ndim == 1 and self.gain.shape[0] not in (1, self.n)):
            raise ConfigError(f"`gain` has shape {self.gain.shape}; expected a number or ({self.n},)", "gain")

    def advance(self, params: Mapping[str, Array], state: Any, inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Any, dict[str, Array]]:
        return state, {"output": jnp.asarray(self.gain) * jnp.asarray(inputs["input"], jnp.float32)}


CHANNEL_KIND = NodeKind(
    name="channel",
    family="channel",
    doc="Delay line (delay steps) with Gaussian noise out = x + signal_noise*x*e1 + noise*e2.",
    params=(
        Param("delay", "int", 0, low=0, high=1_000_000, doc="steps of delay (0: pass through; at most 1,000,000)"),
        Param("noise", "float", 0.0, low=0.0, doc="std of additive Gaussian noise"),
        Param("signal_noise", "float", 0.0, low=0.0, doc="std of noise multiplied by the signal"),
        Param("init", "str", "first", choices=("first", "zeros"),
              doc="what a delayed channel outputs before its first input arrives"),
    ),
    ports=(
        Port("input", "in", None, combine="concat"),
        Port("output", "out", _same_size, timing=_channel_timing),
    ),
    impl=Channel,
)

GAIN_KIND = NodeKind(
    name="gain",
    family="channel",
    doc="Elementwise gain y = gain * x.",
    params=(Param("gain", "value", 1.0, doc="a number or a vector of the signal's size"),),
    ports=(
        Port("input", "in", None, combine="concat"),
        Port("output", "out", _same_size, timing="feedthrough"),
    ),
    impl=Gain,
)

register(CHANNEL_KIND, GAIN_KIND)
