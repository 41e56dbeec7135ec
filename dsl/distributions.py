"""Distributions: the one table. Each entry gives a distribution's name, its arguments, what it
draws, the check of its arguments, and its NumPy draw (for the checker's sampled trials, with the
ends of the support on demand) and its JAX draw (for trials and per-trial parameters), side by
side. Task variables (`x ~ uniform(0, 1)`), `--set task.x=...`, curriculum stages and
intervention sites all read this table.

No JAX at import: a JAX draw imports `jax` when it runs. Every draw takes its arguments already
evaluated (numbers or arrays that broadcast to `shape`) and returns an array of `shape`.
`truncated(base, low, high)` draws from a base distribution (`normal` or `exponential`)
restricted to [low, high]; its base's arguments come as `base_args`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

Array = Any


def _jax() -> tuple[Any, Any]:
    """jax.numpy and jax.random, imported when a JAX draw runs."""
    return importlib.import_module("jax.numpy"), importlib.import_module("jax.random")


def _g(x: float) -> str:
    return f"{float(x):g}"


@dataclass(frozen=True)
class Distribution:
    """One row of the table.

    args: the argument names (`choice` takes any number of values: `variadic`).
    draws: "float", "int", "bool", or "value" (one of the given values: an integer when all are).
    problem(values): what is wrong with arguments that are known numbers (None for unknown), else None.
    np_draw(rng, args, base_args, shape, extreme): NumPy draws; where `extreme` is -1 the support's
        low end, +1 its high end (the checker's trials at the ends of every range).
    jax_draw(key, args, base_args, shape, integer): JAX draws, float32 (int32 for integers, bool).
    """

    name: str
    args: tuple[str, ...]
    description: str
    draws: str
    problem: Callable[[Sequence[Any]], str | None]
    np_draw: Callable[..., np.ndarray]
    jax_draw: Callable[..., Array]
    variadic: bool = False
    vector_args: bool = False  # numeric vector arguments draw element by element
    # per draw, whether the (array) arguments are invalid, and why in a few words (the checker's
    # trials, where arguments depend on other variables)
    invalid: Callable[[list[np.ndarray], list[np.ndarray]], np.ndarray] | None = None
    invalid_words: str = ""

    @property
    def arity(self) -> tuple[int, int | None]:
        return (1, None) if self.variadic else (len(self.args), len(self.args))


def _known(values: Sequence[Any], *idx: int) -> bool:
    return all(i < len(values) and values[i] is not None for i in idx)


# ---- argument checks ---------------------------------------------------------------------------


def _uniform_problem(v: Sequence[Any]) -> str | None:
    if _known(v, 0, 1) and v[0] > v[1]:
        return f"uniform(low, high) needs low <= high, got low = {_g(v[0])} > high = {_g(v[1])}"
    return None


def _normal_problem(v: Sequence[Any]) -> str | None:
    return f"the std of `normal` must be >= 0, got {_g(v[1])}" if _known(v, 1) and v[1] < 0 else None


def _integer_problem(v: Sequence[Any]) -> str | None:
    if _known(v, 0, 1) and v[0] >= v[1]:
        return f"integer(low, high) draws low, ..., high - 1, so it needs low < high, got low = {_g(v[0])}, high = {_g(v[1])}"
    if any(x is not None and not float(x).is_integer() for x in v[:2]):
        return "`integer(low, high)` takes integers"
    return None


def _exponential_problem(v: Sequence[Any]) -> str | None:
    return f"the mean of `exponential` must be > 0, got {_g(v[0])}" if _known(v, 0) and v[0] <= 0 else None


def _bernoulli_problem(v: Sequence[Any]) -> str | None:
    return f"the probability of `bernoulli` must be in [0, 1], got {_g(v[0])}" if _known(v, 0) and not 0 <= v[0] <= 1 else None


def _truncated_problem(v: Sequence[Any]) -> str | None:
    if _known(v, 1, 2) and v[1] >= v[2]:
        return f"truncated(distribution, low, high) needs low < high, got low = {_g(v[1])}, high = {_g(v[2])}"
    return None


def _none(v: Sequence[Any]) -> str | None:
    return None


# ---- NumPy draws (the checker's) ---------------------------------------------------------------


def _np_args(args: Sequence[Any], shape: tuple[int, ...]) -> list[np.ndarray]:
    return [np.broadcast_to(np.asarray(x, float), shape) for x in args]


def _np_uniform(rng, args, base_args, shape, extreme):
    lo, hi = _np_args(args, shape)
    x = lo + (hi - lo) * rng.uniform(0, 1, shape)
    return np.where(extreme < 0, lo, np.where(extreme > 0, lo + (hi - lo) * (1 - 1e-7), x))


def _np_normal(rng, args, base_args, shape, extreme):
    m, s = _np_args(args, shape)
    return m + s * np.where(extreme != 0, 3.0 * extreme, rng.standard_normal(shape))


def _np_integer(rng, args, base_args, shape, extreme):
    lo, hi = _np_args(args, shape)
    x = np.floor(lo + (hi - lo) * rng.uniform(0, 1, shape))
    return np.where(extreme < 0, lo, np.where(extreme > 0, hi - 1, x)).astype(np.int64)


def _np_choice(rng, args, base_args, shape, extreme):
    if len(args) == 1 and np.ndim(args[0]) >= 1:  # choice(v): an element of the vector v
        opts = np.broadcast_to(np.asarray(args[0], float), shape + (np.shape(args[0])[-1],))
    else:
        opts = np.stack(_np_args(args, shape), axis=-1)
    k = rng.integers(0, opts.shape[-1], shape)
    k = np.where(extreme < 0, np.argmin(opts, axis=-1), np.where(extreme > 0, np.argmax(opts, axis=-1), k))
    x = np.take_along_axis(opts, k[..., None], axis=-1)[..., 0]
    ints = all(np.issubdtype(np.asarray(v).dtype, np.integer) and not isinstance(v, bool) for v in args)
    return x.astype(np.int64) if ints else x


def _np_exponential(rng, args, base_args, shape, extreme):
    (m,) = _np_args(args, shape)
    return m * np.where(extreme < 0, 0.0, np.where(extreme > 0, 5.0, rng.exponential(1.0, shape)))


def _np_bernoulli(rng, args, base_args, shape, extreme):
    (p,) = _np_args(args, shape)
    return np.where(extreme != 0, extreme > 0, rng.uniform(0, 1, shape) < p)


def _np_truncated(rng, args, base_args, shape, extreme):
    lo, hi = _np_args(args[-2:], shape)
    u = rng.uniform(0, 1, shape)
    base = TABLE[base_args[0]] if base_args and isinstance(base_args[0], str) else None
    z = base.np_draw(rng, base_args[1:], (), shape, np.zeros(shape)) if base is not None else u
    x = np.where((z >= lo) & (z <= hi), z, lo + (hi - lo) * u)
    return np.where(extreme < 0, lo, np.where(extreme > 0, hi, x))


# ---- JAX draws ---------------------------------------------------------------------------------


def _f32(jnp, x, shape):
    return jnp.broadcast_to(jnp.asarray(x, jnp.float32), shape)


def _jax_uniform(key, args, base_args, shape, integer=False):
    jnp, jr = _jax()
    lo, hi = _f32(jnp, args[0], shape), _f32(jnp, args[1], shape)
    return lo + (hi - lo) * jr.uniform(key, shape, jnp.float32)


def _jax_normal(key, args, base_args, shape, integer=False):
    jnp, jr = _jax()
    return _f32(jnp, args[0], shape) + _f32(jnp, args[1], shape) * jr.normal(key, shape, jnp.float32)


def _jax_integer(key, args, base_args, shape, integer=True):
    jnp, jr = _jax()
    lo, hi = (jnp.broadcast_to(jnp.asarray(a, jnp.int32), shape) for a in args)
    return jr.randint(key, shape, lo, hi, jnp.int32)


def _jax_choice(key, args, base_args, shape, integer=False):
    """One of the values per draw: of numbers (broadcasting to `shape`), of the elements of one
    vector, or of several equal-length vectors (then each draw is a vector: `shape` + (n,))."""
    jnp, jr = _jax()
    if len(args) > 1 and all(jnp.ndim(a) == 1 for a in args):  # equal-length vectors: one of them per draw
        rows = jnp.asarray(args, jnp.float32)
        return rows[jr.randint(key, shape, 0, rows.shape[0])]
    if len(args) == 1 and jnp.ndim(args[0]) >= 1:
        opts = jnp.asarray(args[0], jnp.float32)
    else:
        opts = jnp.stack([jnp.broadcast_to(jnp.asarray(a, jnp.float32), shape) for a in args], axis=-1)
    opts = jnp.broadcast_to(opts, shape + (opts.shape[-1],))
    idx = jr.randint(key, shape, 0, opts.shape[-1], jnp.int32)
    out = jnp.take_along_axis(opts, idx[..., None], axis=-1)[..., 0]
    return out.astype(jnp.int32 if integer else jnp.float32)


def _jax_exponential(key, args, base_args, shape, integer=False):
    jnp, jr = _jax()
    return _f32(jnp, args[0], shape) * jr.exponential(key, shape, jnp.float32)


def _jax_bernoulli(key, args, base_args, shape, integer=False):
    jnp, jr = _jax()
    return jr.bernoulli(key, _f32(jnp, args[0], shape), shape)


def _jax_truncated(key, args, base_args, shape, integer=False):
    jnp, jr = _jax()
    lo, hi = _f32(jnp, args[-2], shape), _f32(jnp, args[-1], shape)
    base, bargs = base_args[0], base_args[1:]
    if base == "normal":
        m, s = _f32(jnp, bargs[0], shape), _f32(jnp, bargs[1], shape)
        return m + s * jr.truncated_normal(key, (lo - m) / s, (hi - m) / s, shape, jnp.float32)
    mean = _f32(jnp, bargs[0], shape)
    cdf = lambda x: -jnp.expm1(-jnp.maximum(x, 0.0) / mean)  # noqa: E731
    p = cdf(lo) + (cdf(hi) - cdf(lo)) * jr.uniform(key, shape, jnp.float32)
    return jnp.clip(-mean * jnp.log1p(-p), lo, hi)


TABLE: dict[str, Distribution] = {d.name: d for d in (
    Distribution("uniform", ("low", "high"), "uniform(low, high): a number in [low, high)", "float",
                 _uniform_problem, _np_uniform, _jax_uniform, vector_args=True,
                 invalid=lambda a, b: a[0] > a[1], invalid_words="low > high"),
    Distribution("normal", ("mean", "std"), "normal(mean, std)", "float", _normal_problem, _np_normal, _jax_normal,
                 vector_args=True, invalid=lambda a, b: a[1] < 0, invalid_words="a negative std"),
    Distribution("integer", ("low", "high"), "integer(low, high): one of low, low + 1, ..., high - 1", "int",
                 _integer_problem, _np_integer, _jax_integer, vector_args=True,
                 invalid=lambda a, b: a[0] >= a[1], invalid_words="low >= high"),
    Distribution("choice", ("values",), "choice(a, b, ...): one of the values, equally likely", "value",
                 _none, _np_choice, _jax_choice, variadic=True),
    Distribution("exponential", ("mean",), "exponential(mean)", "float", _exponential_problem, _np_exponential,
                 _jax_exponential, invalid=lambda a, b: a[0] <= 0, invalid_words="a mean <= 0"),
    Distribution("bernoulli", ("p",), "bernoulli(p): true with probability p", "bool", _bernoulli_problem,
                 _np_bernoulli, _jax_bernoulli, invalid=lambda a, b: (a[0] < 0) | (a[0] > 1),
                 invalid_words="a probability outside [0, 1]"),
    Distribution("truncated", ("distribution", "low", "high"),
                 "truncated(normal(mean, std), low, high) or truncated(exponential(mean), low, high)", "float",
                 _truncated_problem, _np_truncated, _jax_truncated,
                 invalid=lambda a, b: (a[0] >= a[1]) | ((b[1] <= 0) if len(b) == 2 else False),
                 invalid_words="low >= high or a std <= 0"),
)}
TRUNCATABLE = ("normal", "exponential")


def get(name: str) -> Distribution | None:
    """The table's row for `name`, or None."""
    return TABLE.get(name)


def arities() -> dict[str, tuple[int, int | None, str]]:
    """name -> (least arguments, most or None, how it is written): for arity checks."""
    return {d.name: (*d.arity, d.description) for d in TABLE.values()}


__all__ = ["Distribution", "TABLE", "TRUNCATABLE", "get", "arities"]
