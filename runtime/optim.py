"""The train block's optimizer, schedule and gradient handling as one optax transformation.

Order, as PsychRNN: per-element gradient masks and untrained parameters zero the gradient first,
then clipping (global norm, or each tensor to its own norm), then the optimizer."""

from __future__ import annotations

from typing import Any, Mapping

import inspect
import math

import jax
import jax.numpy as jnp
import optax

from rnnlang.dsl import ast as A
from rnnlang.dsl.errors import Diagnostic, ModelError
from rnnlang.dsl.errors import choices_hint, did_you_mean

DEFAULT_LEARNING_RATE = 1e-3
SCHEDULE_ALIASES = {"constant": "constant_schedule", "linear": "linear_schedule", "cosine": "cosine_decay_schedule",
                    "exponential": "exponential_decay", "warmup_cosine": "warmup_cosine_decay_schedule",
                    "piecewise": "piecewise_constant_schedule"}


def _error(message: str, cm, key: str, hint: str | None = None, span: A.Span | None = None) -> ModelError:
    """A message at `span`, else at the setting `key` (in the file or in a --set)."""
    return ModelError([Diagnostic(message, span or cm.setting_spans.get(key), hint)], cm.source, cm.sources)


def _schedule(spec: Mapping[str, Any], cm) -> Any:
    name = SCHEDULE_ALIASES.get(spec["name"], spec["name"])
    fn = getattr(optax, name, None) or getattr(optax, name + "_schedule", None)
    if fn is None or not callable(fn) or not ("schedule" in name or name.endswith("decay") or hasattr(optax.schedules, name)):
        names = [n for n in dir(optax.schedules) if not n.startswith("_")]
        raise _error(f"unknown learning-rate schedule `{spec['name']}`", cm, "train.optimizer", did_you_mean(spec["name"], names))
    try:
        return fn(*spec["args"], **spec["kwargs"])
    except TypeError as e:
        raise _error(f"learning-rate schedule `{spec['name']}`: {e}", cm, "train.optimizer") from None


def make_optimizer(cm, inject: tuple[str, ...] = ()) -> optax.GradientTransformation:
    """optax's optimizer named in the train block, e.g. adam(learning_rate = 1e-3), with a
    learning-rate schedule when learning_rate is itself a call. `inject` names numeric arguments
    to hold in the optimizer's state rather than in its code (optax.inject_hyperparams), so that
    replicates trained together can each have their own value (a packed sweep: runtime/sweep.py)."""
    spec = cm.train["optimizer"]
    if isinstance(spec, str):
        spec = {"name": spec, "args": [], "kwargs": {}}
    name = spec["name"]
    fn = getattr(optax, name, None)
    candidates = [n for n in dir(optax) if not n.startswith("_") and n.islower() and callable(getattr(optax, n))]
    if fn is None or not callable(fn) or name in ("chain", "masked", "multi_transform", "inject_hyperparams"):
        raise _error(f"unknown optimizer `{name}`", cm, "train.optimizer", did_you_mean(name, candidates) or "any optax optimizer by name: adam, sgd, adamw, rmsprop, ...")
    _check_arguments(cm, name, fn)
    args = list(spec["args"])
    kwargs = dict(spec["kwargs"])
    if not args and "learning_rate" not in kwargs and "learning_rate" in inspect.signature(fn).parameters:
        kwargs["learning_rate"] = DEFAULT_LEARNING_RATE  # `optimizer = adam` alone: PsychRNN's default
    for k, v in list(kwargs.items()):
        if isinstance(v, dict) and "name" in v:
            kwargs[k] = _schedule(v, cm)
    args = [_schedule(a, cm) if isinstance(a, dict) and "name" in a else a for a in args]
    if inject:
        missing = [k for k in inject if k not in kwargs or not isinstance(kwargs[k], (int, float))]
        if missing:
            raise _error(f"optimizer `{name}` has no number argument `{missing[0]}` to vary", cm, "train.optimizer",
                         f"write it in the call, e.g. {name}({missing[0]} = ...)")
        kwargs = {k: (float(v) if k in inject else v) for k, v in kwargs.items()}
        fn = optax.inject_hyperparams(fn, static_args=tuple(k for k in kwargs if k not in inject))
    try:
        opt = fn(*args, **kwargs)
    except TypeError as e:
        raise _error(f"optimizer `{name}`: {e}", cm, "train.optimizer") from None
    if not isinstance(opt, optax.GradientTransformation):
        raise _error(f"`{name}` is not an optimizer", cm, "train.optimizer")
    _try_on_shapes(opt, name, cm)
    return opt


# parameters of a few shapes, to try an optimizer's arguments on before training (shapes only)
_PROBE = {"a": jax.ShapeDtypeStruct((3,), jnp.float32), "b": jax.ShapeDtypeStruct((2, 5), jnp.float32)}


def _try_on_shapes(opt: optax.GradientTransformation, name: str, cm) -> None:
    """Arguments of the wrong type (a string learning rate, a list for a number) fail only when
    the optimizer first runs: run its init and update on shapes (nothing is computed) so the
    mistake is an error at the argument (`rnn check` reports it; `rnn train` before a run
    directory is made)."""
    try:
        state = jax.eval_shape(opt.init, _PROBE)
        jax.eval_shape(opt.update, _PROBE, state, _PROBE)
    except Exception as e:  # noqa: BLE001 - any failure here is a wrong argument of the user's
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        span, arg = _suspect_argument(cm)
        what = f"argument `{arg}` of optimizer `{name}`" if arg else f"optimizer `{name}`"
        raise _error(f"{what} cannot be used: {text[:200]}", cm, "train.optimizer",
                     "optimizer arguments are numbers (or a schedule for learning_rate), e.g. "
                     "adam(learning_rate = 1e-3, b1 = 0.9)", span) from None


def clip_transform(clip: Any) -> optax.GradientTransformation:
    """global_norm(x) -> optax's global-norm clipping; per_tensor(x) -> each tensor to norm x."""
    if clip is None:
        return optax.identity()
    name = clip["name"] if isinstance(clip, dict) else clip
    value = float((clip.get("args") or [1.0])[0]) if isinstance(clip, dict) else 1.0
    if name == "global_norm":
        return optax.clip_by_global_norm(value)

    def per_tensor(updates, params=None):
        def one(g):
            norm = jnp.sqrt(jnp.sum(g * g))
            return g * jnp.minimum(1.0, value / jnp.maximum(norm, 1e-12))
        return jax.tree_util.tree_map(one, updates)

    return optax.stateless(per_tensor)


def gradient_gate(trainable: Any, masks: Mapping[str, Mapping[str, Any]]) -> optax.GradientTransformation:
    """Zero the gradient (or, placed last, the update) of parameters that do not train and of
    frozen elements, so that no optimizer (weight decay included) moves them."""

    def gate(updates, params=None):
        out = {}
        for node, ps in updates.items():
            out[node] = {}
            for p, g in ps.items():
                if not trainable[node][p]:
                    out[node][p] = jnp.zeros_like(g)
                elif p in masks.get(node, {}):
                    out[node][p] = g * masks[node][p]
                else:
                    out[node][p] = g
        return out

    return optax.stateless(gate)


OPTIMIZER_INDEX = 2  # the optimizer's state in the chain that `build` makes


def build(cm, trainable: Any, masks: Mapping, inject: tuple[str, ...] = ()) -> optax.GradientTransformation:
    """The whole gradient pipeline for one replicate (the optimizer's arguments are tried on
    shapes when it is made: `make_optimizer`); `inject`: see make_optimizer."""
    gate = gradient_gate(trainable, masks)
    return optax.chain(gate, clip_transform(cm.train.get("clip")), make_optimizer(cm, inject), gate)


def _written_arguments(cm) -> tuple[A.Setting | None, list[tuple[str, Any, A.Span]]]:
    """The train block's `optimizer = NAME(...)` setting and its arguments as written: (name,
    value, span), positional ones named by the optimizer's signature."""
    for block in getattr(cm.ast, "trains", []):
        for s in block.settings:
            if s.dotted != "optimizer" or not isinstance(s.value, A.Call):
                continue
            fn = getattr(optax, s.value.name, None)
            try:
                names = list(inspect.signature(fn).parameters) if callable(fn) else []
            except (TypeError, ValueError):
                names = []
            args = [(names[i] if i < len(names) else str(i + 1), a, getattr(a, "span", None) or s.span)
                    for i, a in enumerate(s.value.args)]
            return s, args + [(k.name, k.value, k.span) for k in s.value.kwargs]
    return None, []


def _check_arguments(cm, name: str, fn: Any) -> None:
    """Before optax sees them: every keyword is one the optimizer takes, every number is finite,
    and the learning rate is not below 0 (training would climb the loss; 0 leaves the parameters
    as they are, which a run made only to evaluate or export a model may want)."""
    setting, args = _written_arguments(cm)
    if setting is None:
        return
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for arg, value, span in args:
        if arg not in params and not arg.isdigit() and not takes_any:
            raise _error(f"optimizer `{name}` has no argument `{arg}`", cm, "train.optimizer",
                         choices_hint(arg, [p for p in params if params[p].kind is not inspect.Parameter.VAR_POSITIONAL],
                                      f"the arguments of `{name}`"), span)
        if isinstance(value, A.Number):
            if not math.isfinite(value.value):
                raise _error(f"argument `{arg}` of optimizer `{name}` must be a finite number, got {value.value}",
                             cm, "train.optimizer", None, span)
            if arg == "learning_rate" and value.value < 0:  # 0 keeps the parameters as they are: allowed
                raise _error(f"the learning rate must be >= 0, got {value.value:g} (below 0 the training would "
                             "climb the loss)", cm, "train.optimizer", f"e.g. {name}(learning_rate = 1e-3)", span)


def _suspect_argument(cm) -> tuple[A.Span | None, str | None]:
    """The span and name of the first argument of the train block's optimizer call that is
    neither a number, a boolean nor a call (a schedule): the likely culprit of a failed trace."""
    setting, args = _written_arguments(cm)
    for arg, value, span in args:
        if not isinstance(value, (A.Number, A.Bool, A.Call)):
            return span, arg
    return (setting.span if setting is not None else None), None
