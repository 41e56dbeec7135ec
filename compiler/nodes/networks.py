"""JAX implementations of the network kinds: `ctrnn` (PsychRNN's continuous-time `Basic`), `gru`
and `lstm` (their signatures: `rnnlang.dsl.library.networks`).

Every network has the ports `input` (concatenation of whatever arrives), `output` (the readout)
and `hidden` (the hidden activity after this step), and the internal site `hidden` (the state
vector right after it is computed, before the readout reads it). `ctrnn` also has the site
`W_rec`, its effective recurrent matrix each step (for ablation).

Numerics follow PsychRNN and Feedbax exactly (tests/runtime/test_equivalence.py): `ctrnn` is PsychRNN's `Basic` in its
row-vector convention with PsychRNN-shaped parameters; `gru` is equinox's `GRUCell` inside
Feedbax's `SimpleStagedNetwork` (cell -> hidden nonlinearity -> hidden noise -> readout -> output
nonlinearity); `lstm` is the textbook cell (equinox's `LSTMCell`) or PsychRNN's variant.
All arrays are float32 and every method works on one trial; products by weight matrices are row
vectors times W^T (`api.product`), so that vmapped over the batch they stay batch-major.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

import jax
import jax.numpy as jnp
import jax.random as jr

from rnnlang.compiler.nodes.api import ConfigError, Array, NodeConfig, NodeImpl, SiteFn, product
from rnnlang.dsl.library.networks import CTRNN as CTRNN_KIND
from rnnlang.dsl.library.networks import GRU as GRU_KIND
from rnnlang.dsl.library.networks import INITS
from rnnlang.dsl.library.networks import LSTM as LSTM_KIND
from rnnlang.dsl.vocab import NodeKind


# ---- shared helpers ---------------------------------------------------------------------------


# The JAX form of every transfer function of the vocabulary's table (`rnnlang.dsl.vocab.TRANSFERS`).
JAX_TRANSFERS: dict[str, Callable[[Array], Array]] = {
    "relu": lambda x: jnp.maximum(x, 0.0),
    "tanh": lambda x: jnp.tanh(x),
    "sigmoid": lambda x: jax.nn.sigmoid(x),
    "softplus": lambda x: jax.nn.softplus(x),
    "identity": lambda x: x,
    "softmax": lambda x: _softmax(x),
}


def _softmax(x: Array) -> Array:
    """Softmax over the last axis (a step's output channels), the maximum subtracted first so
    that large logits neither overflow nor lose the small probabilities."""
    z = x - jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    e = jnp.exp(z)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def transfer_fn(name: str) -> Callable[[Array], Array]:
    """The transfer function called `name` (a key of TRANSFERS), as a JAX function."""
    return JAX_TRANSFERS[name]


def _in_size(config: NodeConfig) -> int:
    """Size of the `input` port (0 when nothing connects)."""
    return int(config.in_sizes.get("input", 0) or 0)


def _input(inputs: Mapping[str, Array], n_in: int) -> Array:
    """This step's input vector, or an empty vector for a network with no input edges."""
    if n_in == 0 or "input" not in inputs:
        return jnp.zeros((0,), jnp.float32)
    return jnp.asarray(inputs["input"], jnp.float32).reshape((n_in,))


def _site(sites: Mapping[str, SiteFn], name: str) -> SiteFn:
    """The intervention function at an internal site, identity when none is placed there."""
    fn = sites.get(name) if sites else None
    return fn if fn is not None else (lambda x: x)


def _uniform(key: Array, shape: tuple[int, ...], lim: float) -> Array:
    """U(-lim, lim) float32 draws (equinox's default initialisation)."""
    return jr.uniform(key, shape, jnp.float32, minval=-lim, maxval=lim)


def _linear(key: Array, n_in: int, n_out: int, zero_bias: bool) -> tuple[Array, Array]:
    """equinox.nn.Linear's initialisation: weight and bias ~ U(-1/sqrt(n_in), 1/sqrt(n_in))."""
    wkey, bkey = jr.split(key, 2)
    lim = 1.0 / math.sqrt(max(n_in, 1))
    w = _uniform(wkey, (n_out, n_in), lim)
    b = jnp.zeros((n_out,), jnp.float32) if zero_bias else _uniform(bkey, (n_out,), lim)
    return w, b


def parse_call(value: Any, default: str) -> tuple[str, list[Any], dict[str, Any]]:
    """A `call` parameter value (a name or {"name", "args", "kwargs"}) as (name, args, kwargs)."""
    if value is None:
        return default, [], {}
    if isinstance(value, str):
        return value, [], {}
    if isinstance(value, Mapping):
        return str(value["name"]), list(value.get("args") or []), dict(value.get("kwargs") or {})
    raise TypeError(f"cannot read initializer {value!r}")


def _call_arg(args: list[Any], kwargs: dict[str, Any], i: int, names: tuple[str, ...], default: float) -> float:
    """Positional argument i of an initializer call, or one of its keyword names, or the default."""
    for n in names:
        if n in kwargs:
            return float(kwargs[n])
    return float(args[i]) if len(args) > i else float(default)


def _apply_weights(kind: NodeKind, params: dict[str, Array], weights: Any) -> dict[str, Array]:
    """Replace initial values by those given in the `weights` parameter (same names), exactly."""
    if weights is None:
        return params
    out = dict(params)
    for name, value in dict(weights).items():
        if name not in params:
            continue
        arr = np.asarray(value, dtype=np.float32)
        want = tuple(params[name].shape)
        if arr.size == int(np.prod(want)) and arr.shape != want:
            arr = arr.reshape(want)  # e.g. PsychRNN's init_state (1, N)
        if arr.shape != want:
            raise ConfigError(f"`weights` has `{name}` of shape {arr.shape} but the model needs {want}", "weights")
        out[name] = jnp.asarray(arr)
    return out


# ---- ctrnn ------------------------------------------------------------------------------------


def glorot_std(mask: np.ndarray, uniform: bool) -> np.ndarray:
    """PsychRNN's per-element Glorot scale from a connectivity mask (fan-in per row, fan-out per
    column): sqrt(2/(fi+fo)) for the normal, sqrt(6/(fi+fo)) as the uniform's limit."""
    fan = mask.sum(axis=1)[:, None] + mask.sum(axis=0)[None, :]
    fan = np.where(fan > 0, fan, 1.0)
    return np.sqrt((6.0 if uniform else 2.0) / fan).astype(np.float32)


def dale_balance(rec_mask: np.ndarray, dale_ratio: float) -> np.ndarray:
    """PsychRNN's `balance_dale_ratio` as a right-multiplying matrix: inhibitory columns are
    r/(1-r) times larger, each column j divided by the norm of row j of mask*diag(vec)."""
    n = rec_mask.shape[0]
    n_exc = int(dale_ratio * n)
    vec = np.ones(n)
    if n_exc < n:
        vec[n_exc:] = dale_ratio / (1.0 - dale_ratio)
    norms = np.linalg.norm(rec_mask @ np.diag(vec), axis=1)
    norms = np.where(norms > 0, norms, 1.0)
    return (np.diag(vec) / norms[:, None]).astype(np.float32)


def max_abs_eig(w: Array) -> Array:
    """max |eigenvalue| of a square matrix. On the CPU, JAX's own eig (LAPACK, float32: within
    about 4e-6 of the float64 value up to 512 units): a program with a host callback gets a new
    key in the persistent compilation cache in every process, so the initialisation would be
    compiled again at every start (3-4 s of CPU time before a ctrnn's first training step).
    Elsewhere (JAX's eig is CPU-only) NumPy's, in float64 on the host."""
    if jax.default_backend() == "cpu":
        return jnp.max(jnp.abs(jnp.linalg.eigvals(w))).astype(jnp.float32)

    def host(m: np.ndarray) -> np.ndarray:
        return np.asarray(np.max(np.abs(np.linalg.eigvals(np.asarray(m, np.float64)))), np.float32)

    return jax.pure_callback(host, jax.ShapeDtypeStruct((), jnp.float32), w, vmap_method="sequential")


class CTRNN(NodeImpl):
    """PsychRNN's `Basic` continuous-time RNN (pre-activation state, Euler step alpha = dt/tau)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = lambda name: CTRNN_KIND.value(self.p, name)  # noqa: E731
        self.N = int(P("hidden"))
        self.n_out = int(P("out"))
        self.n_in = _in_size(config)
        tau = P("tau")
        if tau is None:
            tau = config.tau if config.tau is not None else 100.0
        self.tau = float(tau)
        self.alpha = float(config.dt) / self.tau
        self.f = transfer_fn(P("transfer"))
        self.g = transfer_fn(P("output_transfer"))
        self.rec_noise = float(P("rec_noise") or 0.0)
        self.dale_ratio = float(P("dale_ratio") or 0.0)
        self.train_init_state = bool(P("train_init_state"))
        self.init_spec = parse_call(P("init"), "spectral_radius")
        self.weights = P("weights")
        N, n_in, n_out = self.N, self.n_in, self.n_out
        self.in_mask = self._mask(P("input_mask"), (N, n_in), "input_mask")
        self.rec_mask = self._mask(P("rec_mask"), (N, N), "rec_mask")
        self.out_mask = self._mask(P("output_mask"), (n_out, N), "output_mask")
        if not bool(P("autapses")):
            self.rec_mask = np.array(self.rec_mask)  # a writable copy (the default mask is a view)
            np.fill_diagonal(self.rec_mask, 0.0)
        self.dale = self.dale_ratio > 0.0
        n_exc = int(self.dale_ratio * N)
        self.dale_rec = np.where(np.arange(N) < n_exc, 1.0, -1.0).astype(np.float32)
        self.dale_out = np.where(np.arange(N) < n_exc, 1.0, 0.0).astype(np.float32)

    @staticmethod
    def _mask(value: Any, shape: tuple[int, int], name: str) -> np.ndarray:
        if value is None:  # all ones, as a read-only view: `rnn check` allocates no hidden x hidden array
            return np.broadcast_to(np.float32(1.0), shape)
        m = np.array(value, dtype=np.float32)
        if m.shape != shape:
            raise ConfigError(f"`{name}` has shape {m.shape} but the network needs {shape}", name)
        return m

    # -- parameters -------------------------------------------------------------------------
    def init_params(self, key: Array) -> dict[str, Array]:
        """PsychRNN's initialisation (seed 004), or the `weights` given, exactly."""
        N, n_out = self.N, self.n_out
        k_in, k_rec, k_out, k_state = jr.split(key, 4)
        name, args, kwargs = self.init_spec
        assert name in INITS, "the checker admits only the initializers of the signature"

        def rand(k: Array, mask: np.ndarray, which: str) -> Array:
            shape = mask.shape
            if which == "glorot_normal":
                return jr.normal(k, shape, jnp.float32) * jnp.asarray(glorot_std(mask, False))
            if which == "glorot_uniform":
                lim = jnp.asarray(glorot_std(mask, True))
                return jr.uniform(k, shape, jnp.float32, minval=-1.0, maxval=1.0) * lim
            if which == "const_uniform":
                lo = _call_arg(args, kwargs, 0, ("low", "minval"), -0.1)
                hi = _call_arg(args, kwargs, 1, ("high", "maxval"), 0.1)
                return jr.uniform(k, shape, jnp.float32, minval=lo, maxval=hi)
            mean = _call_arg(args, kwargs, 0, ("mean",), 0.0)
            std = _call_arg(args, kwargs, 1, ("std",), 1.0)
            return mean + std * jr.normal(k, shape, jnp.float32)

        io_init = name if name not in ("spectral_radius", "alpha_identity") else "glorot_normal"
        W_in = rand(k_in, self.in_mask, io_init)
        W_out = rand(k_out, self.out_mask, io_init)
        if name == "spectral_radius":
            r = _call_arg(args, kwargs, 0, ("r", "spec_rad", "radius"), 1.1)
            W_rec = jr.normal(k_rec, (N, N), jnp.float32)
            if self.dale:
                W_rec = W_rec @ jnp.asarray(dale_balance(self.rec_mask, self.dale_ratio))
            W_rec = r * W_rec / max_abs_eig(W_rec)
        elif name == "alpha_identity":
            a = _call_arg(args, kwargs, 0, ("alpha",), self.alpha)
            W_rec = a * jnp.eye(N, dtype=jnp.float32)
            if self.dale:
                W_rec = W_rec @ jnp.asarray(dale_balance(self.rec_mask, self.dale_ratio))
        else:
            W_rec = rand(k_rec, self.rec_mask, name)
        params = {
            "W_in": W_in.astype(jnp.float32),
            "W_rec": W_rec.astype(jnp.float32),
            "W_out": W_out.astype(jnp.float32),
            "b_rec": jnp.zeros((N,), jnp.float32),
            "b_out": jnp.zeros((n_out,), jnp.float32),
            "init_state": 0.1 + 0.01 * jr.normal(k_state, (N,), jnp.float32),
        }
        return _apply_weights(CTRNN_KIND, params, self.weights)

    def fixed_params(self) -> set[str]:
        return set() if self.train_init_state else {"init_state"}

    def effective_weights(self, params: Mapping[str, Array]) -> dict[str, Array]:
        """Masks, then Dale's law: |W_in*M|, |W_rec*M| D_rec, |W_out*M| D_out (PsychRNN head)."""
        W_in = params["W_in"] * jnp.asarray(self.in_mask)
        W_rec = params["W_rec"] * jnp.asarray(self.rec_mask)
        W_out = params["W_out"] * jnp.asarray(self.out_mask)
        if self.dale:
            W_in = jnp.abs(W_in)
            W_rec = jnp.abs(W_rec) * jnp.asarray(self.dale_rec)[None, :]
            W_out = jnp.abs(W_out) * jnp.asarray(self.dale_out)[None, :]
        return {"W_in": W_in, "W_rec": W_rec, "W_out": W_out}

    # -- state and step ---------------------------------------------------------------------
    def prepare(self, params: Mapping[str, Array]) -> dict[str, Any]:
        """The effective weights, computed once per rollout rather than at every step."""
        return {**params, "effective": self.effective_weights(params)}

    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> Array:
        return jnp.asarray(params["init_state"], jnp.float32).reshape((self.N,))

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"rec": (self.N,)} if self.rec_noise > 0 else {}

    def advance(self, params: Mapping[str, Array], state: Array, inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Array, dict[str, Array]]:
        """s' = (1-a)s + a(f(s) W_rec^T + u W_in^T + b_rec) + sqrt(2 a sigma^2) xi; y = g(f(s') W_out^T + b_out)."""
        if "effective" not in params:
            params = self.prepare(params)
        w = params["effective"]
        a = self.alpha
        if sites and sites.get("W_rec") is not None:  # W_rec may change from step to step
            drive = self.f(state) @ sites["W_rec"](w["W_rec"]).T + params["b_rec"]
        else:
            drive = product(params, ("effective", "W_rec"), self.f(state), "b_rec")
        if self.n_in > 0:
            drive = drive + product(params, ("effective", "W_in"), _input(inputs, self.n_in))
        s = (1.0 - a) * state + a * drive
        if self.rec_noise > 0:
            s = s + math.sqrt(2.0 * a * self.rec_noise ** 2) * noise["rec"]
        s = _site(sites, "hidden")(s)
        r = self.f(s)
        y = self.g(product(params, ("effective", "W_out"), r, "b_out"))
        return s, {"output": y, "hidden": r}


# ---- gru --------------------------------------------------------------------------------------


class GRU(NodeImpl):
    """equinox's GRUCell with Feedbax's optional linear encoder, hidden nonlinearity and noise,
    and linear readout (zero initial bias)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = lambda name: GRU_KIND.value(self.p, name)  # noqa: E731
        self.H = int(P("hidden"))
        self.n_out = int(P("out"))
        self.n_in = _in_size(config)
        self.n_enc = int(P("encoder") or 0)
        self.noise_std = float(P("hidden_noise") or 0.0)
        self.h_fn = transfer_fn(P("hidden_transfer"))
        self.g = transfer_fn(P("output_transfer"))
        self.weights = P("weights")

    def init_params(self, key: Array) -> dict[str, Array]:
        """All cell weights and biases ~ U(-1/sqrt(H), 1/sqrt(H)); readout likewise, bias 0."""
        H = self.H
        k_cell, k_enc, k_out = jr.split(key, 3)
        cell_in = self.n_enc if self.n_enc > 0 else self.n_in
        ihkey, hhkey, bkey, bkey2 = jr.split(k_cell, 4)
        lim = math.sqrt(1.0 / H)
        params = {
            "weight_ih": _uniform(ihkey, (3 * H, cell_in), lim),
            "weight_hh": _uniform(hhkey, (3 * H, H), lim),
            "bias": _uniform(bkey, (3 * H,), lim),
            "bias_n": _uniform(bkey2, (H,), lim),
        }
        if self.n_enc > 0:
            params["W_enc"], params["b_enc"] = _linear(k_enc, self.n_in, self.n_enc, zero_bias=False)
        params["W_out"], params["b_out"] = _linear(k_out, H, self.n_out, zero_bias=True)
        return _apply_weights(GRU_KIND, params, self.weights)

    def effective_weights(self, params: Mapping[str, Array]) -> dict[str, Array]:
        return {k: params[k] for k in ("weight_ih", "weight_hh", "W_enc", "W_out") if k in params}

    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> Array:
        return jnp.zeros((self.H,), jnp.float32)

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"hidden": (self.H,)} if self.noise_std > 0 else {}

    def advance(self, params: Mapping[str, Array], state: Array, inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Array, dict[str, Array]]:
        """r, z gates; n = tanh(i_n + r (h_n + b_n)); h' = n + z (h - n); then Feedbax's stages."""
        H = self.H
        x = _input(inputs, self.n_in)
        # row-vector products (x W^T): vmapped over the batch they stay batch-major (B, 3H); W @ x
        # gives (3H, B) and a transpose of x and h at every time step
        if self.n_enc > 0:
            x = product(params, ("W_enc",), x, "b_enc")
        ig = product(params, ("weight_ih",), x, "bias")
        hg = product(params, ("weight_hh",), state)
        r = jax.nn.sigmoid(ig[:H] + hg[:H])
        z = jax.nn.sigmoid(ig[H:2 * H] + hg[H:2 * H])
        n = jnp.tanh(ig[2 * H:] + r * (hg[2 * H:] + params["bias_n"]))
        h = n + z * (state - n)
        h = self.h_fn(h)
        if self.noise_std > 0:
            h = h + self.noise_std * noise["hidden"]
        h = _site(sites, "hidden")(h)
        y = self.g(product(params, ("W_out",), h, "b_out"))
        return h, {"output": y, "hidden": h}


# ---- lstm -------------------------------------------------------------------------------------


class LSTM(NodeImpl):
    """LSTM: the textbook cell (equinox's LSTMCell, gates i, f, g, o; h' = o tanh(c')) or
    PsychRNN's variant (gates on concat(h, u); h' = o sigmoid(c'); biases start at 1)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        P = lambda name: LSTM_KIND.value(self.p, name)  # noqa: E731
        self.H = int(P("hidden"))
        self.n_out = int(P("out"))
        self.n_in = _in_size(config)
        self.variant = str(P("variant"))
        assert self.variant in ("textbook", "psychrnn"), "the checker admits only the signature's variants"
        self.n_enc = int(P("encoder") or 0)
        self.noise_std = float(P("hidden_noise") or 0.0)
        self.g = transfer_fn(P("output_transfer"))
        self.weights = P("weights")

    def init_params(self, key: Array) -> dict[str, Array]:
        """Textbook: U(-1/sqrt(H), 1/sqrt(H)) everywhere. PsychRNN: W_f/W_i/W_c/W_o
        (H + n_in, H) ~ N(0, 0.1), biases 1, init_hidden/init_cell ~ N(0, 0.1), W_out Glorot normal."""
        H = self.H
        k_cell, k_enc, k_out = jr.split(key, 3)
        cell_in = self.n_enc if self.n_enc > 0 else self.n_in
        params: dict[str, Array] = {}
        if self.variant == "textbook":
            ihkey, hhkey, bkey = jr.split(k_cell, 3)
            lim = math.sqrt(1.0 / H)
            params["weight_ih"] = _uniform(ihkey, (4 * H, cell_in), lim)
            params["weight_hh"] = _uniform(hhkey, (4 * H, H), lim)
            params["bias"] = _uniform(bkey, (4 * H,), lim)
            params["W_out"], params["b_out"] = _linear(k_out, H, self.n_out, zero_bias=True)
        else:
            ks = jr.split(k_cell, 6)
            for i, g in enumerate("fico"):
                params[f"W_{g}"] = 0.1 * jr.normal(ks[i], (H + cell_in, H), jnp.float32)
                params[f"b_{g}"] = jnp.ones((H,), jnp.float32)
            params["init_hidden"] = 0.1 * jr.normal(ks[4], (H,), jnp.float32)
            params["init_cell"] = 0.1 * jr.normal(ks[5], (H,), jnp.float32)
            std = math.sqrt(2.0 / (H + self.n_out))
            params["W_out"] = std * jr.normal(k_out, (self.n_out, H), jnp.float32)
            params["b_out"] = jnp.zeros((self.n_out,), jnp.float32)
        if self.n_enc > 0:
            params["W_enc"], params["b_enc"] = _linear(k_enc, self.n_in, self.n_enc, zero_bias=False)
        return _apply_weights(LSTM_KIND, params, self.weights)

    def effective_weights(self, params: Mapping[str, Array]) -> dict[str, Array]:
        names = ("weight_ih", "weight_hh", "W_f", "W_i", "W_c", "W_o", "W_enc", "W_out")
        return {k: params[k] for k in names if k in params}

    def init_state(self, params: Mapping[str, Array], init: Mapping[str, Array]) -> tuple[Array, Array]:
        if self.variant == "psychrnn":
            return (jnp.asarray(params["init_hidden"], jnp.float32), jnp.asarray(params["init_cell"], jnp.float32))
        z = jnp.zeros((self.H,), jnp.float32)
        return (z, z)

    def noise_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"hidden": (self.H,)} if self.noise_std > 0 else {}

    def advance(self, params: Mapping[str, Array], state: tuple[Array, Array], inputs: Mapping[str, Array],
                noise: Mapping[str, Array], sites: Mapping[str, SiteFn]) -> tuple[Any, dict[str, Array]]:
        """One LSTM step; the site `hidden` acts on h' (the cell state c' is kept as computed)."""
        H = self.H
        h, c = state
        x = _input(inputs, self.n_in)
        if self.n_enc > 0:
            x = product(params, ("W_enc",), x, "b_enc")
        if self.variant == "textbook":
            lin = product(params, ("weight_ih",), x, "bias") + product(params, ("weight_hh",), h)
            i = jax.nn.sigmoid(lin[:H])
            f = jax.nn.sigmoid(lin[H:2 * H])
            g = jnp.tanh(lin[2 * H:3 * H])
            o = jax.nn.sigmoid(lin[3 * H:])
            c = f * c + i * g
            h = o * jnp.tanh(c)
        else:
            hx = jnp.concatenate([h, x])
            f = jax.nn.sigmoid(hx @ params["W_f"] + params["b_f"])
            i = jax.nn.sigmoid(hx @ params["W_i"] + params["b_i"])
            g = jnp.tanh(hx @ params["W_c"] + params["b_c"])
            o = jax.nn.sigmoid(hx @ params["W_o"] + params["b_o"])
            c = f * c + i * g
            h = o * jax.nn.sigmoid(c)
        if self.noise_std > 0:
            h = h + self.noise_std * noise["hidden"]
        h = _site(sites, "hidden")(h)
        y = self.g(product(params, ("W_out",), h, "b_out"))
        return (h, c), {"output": y, "hidden": h}
