"""JAX implementations of the channel kinds: `channel` (a delay line with Feedbax's noise form)
and `gain` (their signatures: `rnnlang.dsl.library.channels`).

A `channel` with delay d >= 1 outputs, at step k, what entered it at step k - d (before that, the
first value that entered, or zeros); its output is then a state read, which is what lets a loop
through it be a normal closed loop. With d = 0 it passes its input through (feedthrough).
Noise is added on the way out: out = x + signal_noise * x * e1 + noise * e2 (elementwise).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

import jax.numpy as jnp

from rnnlang.compiler.nodes.api import ConfigError, Array, NodeConfig, NodeImpl, SiteFn
from rnnlang.dsl.library.channels import CHANNEL as CHANNEL_KIND
from rnnlang.dsl.library.channels import CHANNEL_INITS
from rnnlang.dsl.library.channels import GAIN as GAIN_KIND


class Channel(NodeImpl):
    """Delay line of `delay` steps with signal-dependent and additive Gaussian noise.

    State for delay d >= 1: a (d, n) queue, oldest first; the output is its head."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = lambda name: CHANNEL_KIND.value(self.p, name)  # noqa: E731
        self.delay = int(P("delay"))
        assert self.delay >= 0, "the signature bounds the delay"
        self.noise_std = float(P("noise") or 0.0)
        self.signal_std = float(P("signal_noise") or 0.0)
        self.init_mode = str(P("init"))
        assert self.init_mode in CHANNEL_INITS, "the checker admits only the signature's choices"
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
