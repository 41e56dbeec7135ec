"""Values of a .rnn file as plain Python, checked against what a parameter declares.

`Converter.convert(value, param, name)` returns `(python_value, diagnostics)`. The Python value
is meaningful only when the diagnostics hold no error. Conversions:

  int, float, bool       Python numbers and booleans (an int is a float; 2.0 is not an int)
  str                    a string, or a bare name (`transfer = tanh` is "tanh")
  vector, index_list     flat lists of numbers / of non-negative ints
  matrix                 a rectangular nested list, or file("x.npy") / file("x.npz", "key"),
                         as a NumPy float32 array
  call                   a bare name (a string) or {"name", "args", "kwargs"}
  value                  a number or a (nested) list
  any                    anything, as `ast.to_python` gives it; file(...) loads arrays
  per-trial params       also a distribution: `model.Distribution`

File references are resolved relative to the model file's directory and loaded with NumPy
(`allow_pickle=False`); every way that can fail is a diagnostic at the `file(...)` call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .vocab import Param

from . import ast as A
from . import files
from .errors import Diagnostic, choices_hint, did_you_mean
from .model import Distribution
from . import distributions as dist_table
from .schema import DISTRIBUTIONS, MAX_INT

FLOAT32_MAX = 3.4028234e38  # values of vectors and matrices become 32-bit floats
MAX_DIMS = 32  # dimensions of a nested list

Diags = list[Diagnostic]
FILE_CALL = "file"

TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "`true` or `false`",
    "str": "a string",
    "vector": "a list of numbers",
    "matrix": "a matrix (a list of rows of numbers, or file(\"x.npy\"))",
    "index_list": "a list of unit indices (integers >= 0)",
    "call": "a name or a call such as `name(1.0)`",
    "value": "a number or a list of numbers",
    "any": "a value",
}


def fmt(x: Any) -> str:
    """A number as the user would write it."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return _exp(repr(x)) if len(repr(x)) <= 12 else _exp(f"{x:g}")
    return str(x)


def _exp(text: str) -> str:
    """'1e+12' -> '1e12', '1e-09' -> '1e-9': exponents as the language writes them."""
    mant, e, exp = text.partition("e")
    return f"{mant}e{int(exp)}" if e else text


def bound(x: float) -> str:
    """A parameter's bound, shortest form (0 rather than 0.0; 1,000,000 rather than 1e+06)."""
    if float(x).is_integer() and abs(x) >= 1e5:
        return f"{int(x):,}"
    return _exp(f"{x:g}")


def describe(value: A.Value) -> str:
    """What a value is, for `got ...` in messages."""
    if isinstance(value, A.Number):
        return fmt(value.value)
    if isinstance(value, A.String):
        return "a string"
    if isinstance(value, A.Bool):
        return f"`{fmt(value.value)}`"
    if isinstance(value, A.NoneValue):
        return "`none`"
    if isinstance(value, A.ListValue):
        return "a list"
    if isinstance(value, A.Ref):
        return f"the name `{value.dotted}`"
    if isinstance(value, A.Call):
        return "a file" if value.name == FILE_CALL else f"a call `{value.name}(...)`"
    return "a value"


def range_text(p: Param) -> str | None:
    """The allowed range of a parameter in words: `>= 0`, `> 0`, `in [0, 1]`."""
    lo, hi = p.low, p.high
    if lo is not None and hi is not None:
        return f"in {'(' if p.low_open else '['}{bound(lo)}, {bound(hi)}{')' if p.high_open else ']'}"
    if lo is not None:
        return f"{'>' if p.low_open else '>='} {bound(lo)}"
    if hi is not None:
        return f"{'<' if p.high_open else '<='} {bound(hi)}"
    return None


def in_range(x: float, p: Param) -> bool:
    """Whether a number lies within a parameter's bounds."""
    if p.low is not None and (x < p.low or (p.low_open and x == p.low)):
        return False
    if p.high is not None and (x > p.high or (p.high_open and x == p.high)):
        return False
    return True


def _range_diag(x: float, p: Param, name: str, span: A.Span) -> Diagnostic:
    shown = p
    if p.low is not None and p.high is not None and max(abs(p.low), abs(p.high)) >= 1e5:
        # a resource limit on one side (steps <= 1,000,000): name only the side that is crossed
        low_side = x < p.low or (p.low_open and x == p.low)
        shown = Param(p.name, p.type, low=p.low if low_side else None, high=None if low_side else p.high,
                      low_open=p.low_open, high_open=p.high_open)
    return Diagnostic(f"`{name}` must be {range_text(shown)}, got {fmt(x)}", span)


def _type_diag(p: Param, name: str, value: A.Value, hint: str | None = None) -> Diagnostic:
    return Diagnostic(f"`{name}`: expected {TYPE_WORDS.get(p.type, p.type)}, got {describe(value)}", value.span, hint)


def distribution_args(name: str) -> tuple[str, ...]:
    """The argument names of a fixed-arity distribution (the table's), () for `choice`."""
    row = dist_table.get(name)
    return () if row is None or row.variadic else row.args


def _float(x: int | float) -> float:
    """A number as a float; an integer beyond the float range becomes infinity (refused later)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _big(x: int) -> str:
    text = str(x)
    return text if len(text) <= 15 else f"{_float(x):.3g}"


MAX_RANGE = 1_000_000  # units a range(...) may list


def _index_range(call: A.Call, name: str) -> tuple[Any, Diags]:
    """`range(n)` (0, ..., n - 1) or `range(a, b)` (a, ..., b - 1) as a list of unit indices,
    as declared tasks write it; empty, reversed or negative ranges are errors."""
    args = call.args
    if call.kwargs or not 1 <= len(args) <= 2 or not all(isinstance(a, A.Number) and isinstance(a.value, int) for a in args):
        return None, [Diagnostic(f"`{name}`: `range` takes one or two whole numbers: range(n) or range(a, b)", call.span)]
    lo, hi = (0, args[0].value) if len(args) == 1 else (args[0].value, args[1].value)  # type: ignore[union-attr]
    if lo < 0:
        return None, [Diagnostic(f"`{name}`: unit indices must be >= 0, got range({lo}, {hi})", call.span)]
    if hi <= lo:
        return None, [Diagnostic(f"`{name}`: range({', '.join(str(a.value) for a in args)}) is empty", call.span,  # type: ignore[union-attr]
                                 hint="range(a, b) lists a, a + 1, ..., b - 1; it needs a < b")]
    if hi - lo > MAX_RANGE:
        return None, [Diagnostic(f"`{name}`: range(...) lists {hi - lo:,} units; at most {MAX_RANGE:,}", call.span)]
    return list(range(lo, hi)), []


def _too_big(name: str, item: A.Number) -> Diagnostic:
    return Diagnostic(f"`{name}`: {fmt(_float(item.value))} is beyond the range of 32-bit floats (about 3.4e38)", item.span)


def nested_numbers(value: A.ListValue, name: str, depth: int = 1) -> tuple[Any, Diags]:
    """A rectangular nested list of numbers as nested Python lists; ragged lists, non-numbers,
    numbers beyond 32-bit floats and more than MAX_DIMS levels are errors at the offending list
    or item."""
    if depth > MAX_DIMS:
        return None, [Diagnostic(f"`{name}` nests lists more than {MAX_DIMS} deep", value.span,
                                 hint="a matrix is a list of rows: [[1, 0], [0, 1]]")]
    items = []
    for item in value.items:
        if isinstance(item, A.Number):
            x = _float(item.value)
            if not abs(x) <= FLOAT32_MAX:
                return None, [_too_big(name, item)]
            items.append(item.value if isinstance(item.value, float) or abs(item.value) <= MAX_INT else x)
        elif isinstance(item, A.ListValue):
            sub, diags = nested_numbers(item, name, depth + 1)
            if diags:
                return None, diags
            items.append(sub)
        else:
            return None, [Diagnostic(f"`{name}`: expected a number, got {describe(item)}", item.span)]
    kinds = {isinstance(i, list) for i in items}
    if len(kinds) > 1:
        return None, [Diagnostic(f"`{name}` mixes numbers and lists; every row must be a list of numbers", value.span)]
    if items and isinstance(items[0], list):
        shapes = [np.shape(i) for i in items]
        for item, shape in zip(value.items, shapes):
            if shape != shapes[0]:
                return None, [Diagnostic(f"`{name}` is ragged: this row has {_row(shape)} but the first row has "
                                         f"{_row(shapes[0])}; every row must have the same length", item.span)]
    return items, []


def _row(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"{shape[0]} number{'s' if shape[0] != 1 else ''}"
    return f"shape {_shape(shape)}"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass
class Converter:
    """Converts and checks values; `base_dir` is where `file("...")` paths start."""

    base_dir: Path
    cache: dict[tuple[str, str | None], Any] = field(default_factory=dict)

    # ---- entry point ------------------------------------------------------------------------

    def convert(self, value: A.Value, p: Param, name: str | None = None) -> tuple[Any, Diags]:
        """Check `value` against parameter `p` (called `name` in messages) and convert it."""
        name = name or p.name
        if isinstance(value, A.NoneValue) and p.default is None:
            return None, []
        if isinstance(value, A.Call) and value.name in DISTRIBUTIONS and p.type != "call":
            return self.distribution(value, p, name)
        if isinstance(value, A.Call) and value.name == FILE_CALL:
            return self.file_value(value, p, name)
        if isinstance(value, A.Call) and p.per_trial and p.type not in ("call", "any"):
            return None, [Diagnostic(f"unknown distribution `{value.name}`", value.name_span,
                                     choices_hint(value.name, DISTRIBUTIONS, "distributions"))]
        method = getattr(self, f"_to_{p.type}", None)
        if method is None:
            return A.to_python(value), []
        return method(value, p, name)

    # ---- scalars ----------------------------------------------------------------------------

    def _to_int(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if isinstance(value, A.Number) and isinstance(value.value, int):
            diags = self._range(value.value, p, name, value.span)
            if not diags and abs(value.value) > MAX_INT:
                diags = [Diagnostic(f"`{name}` must be at most {MAX_INT:,} in magnitude, got {_big(value.value)}", value.span,
                                    hint="integers are 32-bit: sizes, counts, delays and seeds stay below 2^31")]
            return value.value, diags
        if isinstance(value, A.Number) and float(value.value).is_integer():
            return None, [_type_diag(p, name, value, hint=f"write `{int(value.value)}`")]
        return None, [_type_diag(p, name, value)]

    def _to_float(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if not isinstance(value, A.Number):
            return None, [_type_diag(p, name, value)]
        x = _float(value.value)
        if not math.isfinite(x):
            return None, [Diagnostic(f"`{name}` must be a finite number, got {fmt(x)}", value.span)]
        return x, self._range(value.value, p, name, value.span)

    def _to_bool(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if isinstance(value, A.Bool):
            return value.value, []
        hint = "write `true` or `false`" if isinstance(value, (A.Number, A.String)) else None
        return None, [_type_diag(p, name, value, hint)]

    def _to_str(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if isinstance(value, A.String):
            text = value.value
        elif isinstance(value, A.Ref) and len(value.parts) == 1:
            text = value.parts[0]
        else:
            return None, [_type_diag(p, name, value)]
        if p.choices is not None and text not in p.choices:
            return None, [Diagnostic(f"unknown value `{text}` for `{name}`", value.span,
                                     choices_hint(text, p.choices, f"`{name}` is one of"))]
        return text, []

    def _range(self, x: float, p: Param, name: str, span: A.Span) -> Diags:
        return [] if in_range(x, p) else [_range_diag(x, p, name, span)]

    # ---- lists ------------------------------------------------------------------------------

    def _to_vector(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if not isinstance(value, A.ListValue):
            return None, [_type_diag(p, name, value)]
        out, diags = [], []
        for item in value.items:
            if isinstance(item, A.Number):
                x = item.value if isinstance(item.value, int) and abs(item.value) <= MAX_INT else _float(item.value)
                if not abs(x) <= FLOAT32_MAX:
                    diags.append(_too_big(name, item))
                    continue
                out.append(x)
                diags += self._range(x, p, name, item.span)
            else:
                diags.append(Diagnostic(f"`{name}`: expected a number, got {describe(item)}", item.span,
                                        hint="a vector is a flat list such as [0.1, 0.2]" if isinstance(item, A.ListValue) else None))
        return out, diags

    def _to_index_list(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if isinstance(value, A.Call) and value.name == "range":
            return _index_range(value, name)
        if not isinstance(value, A.ListValue):
            return None, [_type_diag(p, name, value, hint="a list such as [0, 1, 2], or range(n) / range(a, b)")]
        out, diags = [], []
        for item in value.items:
            if not (isinstance(item, A.Number) and isinstance(item.value, int)):
                diags.append(Diagnostic(f"`{name}`: expected an integer unit index, got {describe(item)}", item.span))
            elif item.value < 0:
                diags.append(Diagnostic(f"`{name}`: unit indices must be >= 0, got {item.value}", item.span))
            elif item.value > MAX_INT:
                diags.append(Diagnostic(f"`{name}`: unit indices are at most {MAX_INT:,}, got {_big(item.value)}", item.span))
            else:
                out.append(item.value)
        return out, diags

    def _to_matrix(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        return self.to_array(value, p, name, min_ndim=2)

    def to_array(self, value: A.Value, p: Param, name: str, min_ndim: int = 1) -> tuple[Any, Diags]:
        """A rectangular nested list of at least `min_ndim` dimensions as a float32 array."""
        if not isinstance(value, A.ListValue):
            return None, [_type_diag(p, name, value)]
        data, diags = nested_numbers(value, name)
        if diags:
            return None, diags
        arr = np.asarray(data, dtype=np.float32)
        if arr.ndim < min_ndim or arr.size == 0:
            return None, [Diagnostic(f"`{name}`: expected {'a matrix (a list of rows of numbers)' if min_ndim > 1 else 'a list of numbers'}, got "
                                     f"{'an empty list' if arr.size == 0 else 'a flat list'}", value.span,
                                     hint="e.g. [[1, 0], [0, 1]]")]
        return self._array_in_range(arr, p, name, value.span)

    def _array_in_range(self, arr: np.ndarray, p: Param, name: str, span: A.Span) -> tuple[Any, Diags]:
        bad = [x for x in arr.ravel().tolist() if not in_range(x, p)]
        return arr, ([_range_diag(bad[0], p, name, span)] if bad else [])

    def _to_value(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if isinstance(value, A.Number):
            return self._to_float(value, p, name)
        if isinstance(value, A.ListValue):
            data, diags = nested_numbers(value, name)
            return data, diags
        return None, [_type_diag(p, name, value)]

    # ---- calls ------------------------------------------------------------------------------

    def _to_call(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        if isinstance(value, A.Ref) and len(value.parts) == 1:
            called, span, result = value.parts[0], value.span, value.parts[0]
        elif isinstance(value, A.Call):
            called, span, result = value.name, value.name_span, A.to_python(value)
        else:
            return None, [_type_diag(p, name, value)]
        if p.choices is not None and called not in p.choices:
            return None, [Diagnostic(f"unknown `{name}` `{called}`", span, choices_hint(called, p.choices, f"`{name}` is one of"))]
        return result, []

    def _to_any(self, value: A.Value, p: Param, name: str) -> tuple[Any, Diags]:
        return A.to_python(value), []

    # ---- distributions ----------------------------------------------------------------------

    def distribution(self, call: A.Call, p: Param, name: str) -> tuple[Any, Diags]:
        """A per-trial distribution for parameter `p`: arity, argument types and ranges."""
        if not p.per_trial:
            return None, [Diagnostic(f"`{name}` is fixed when the model is compiled; it cannot be drawn per trial",
                                     call.span, hint=f"give `{name}` a single value; `{call.name}(...)` draws a value per trial")]
        args, diags = self._distribution_args(call)
        if diags:
            return None, diags
        if call.name == "truncated":
            return self._truncated(call, args, p, name)
        diags = self._distribution_fits(call, args, p, name)
        if diags:
            return None, diags
        if call.name == "choice":
            values = []
            for arg in args:
                v, d = self.convert(arg, _fixed(p), name)
                values.append(v)
                diags += d
            return Distribution(call.name, tuple(values), call.span), diags
        return Distribution(call.name, tuple(float(a.value) for a in args), call.span), diags

    def _truncated(self, call: A.Call, args: list[A.Value], p: Param, name: str) -> tuple[Any, Diags]:
        """`truncated(normal(mean, std), low, high)` or `truncated(exponential(mean), low, high)`:
        the base distribution with numbers, then low < high (each in the parameter's range)."""
        base = args[0]
        if not (isinstance(base, A.Call) and base.name in dist_table.TRUNCATABLE):
            return None, [Diagnostic("`truncated` takes normal(mean, std) or exponential(mean) as its first argument",
                                     base.span, hint="e.g. truncated(normal(0, 1), -2, 2)")]
        base_args, diags = self._distribution_args(base)
        diags = diags or self._distribution_fits(base, base_args, p, name)
        if not diags:
            diags = self._distribution_fits(call, args[1:], p, name)
        if diags:
            return None, diags
        if base.name == "normal" and float(base_args[1].value) <= 0:  # type: ignore[union-attr]
            return None, [Diagnostic(f"the std of a truncated `normal` must be > 0, got {describe(base_args[1])}",
                                     base_args[1].span)]
        lo, hi = (float(a.value) for a in args[1:])  # type: ignore[union-attr]
        problem = dist_table.get("truncated").problem([None, lo, hi])  # type: ignore[union-attr]
        if problem is not None:
            return None, [Diagnostic(problem, args[2].span)]
        bad = [a for a in args[1:] if not in_range(float(a.value), p)]  # type: ignore[union-attr]
        if bad:
            return None, [_range_diag(bad[0].value, p, name, bad[0].span)]  # type: ignore[union-attr]
        return Distribution("truncated", (lo, hi), call.span,
                            base=(base.name, tuple(float(a.value) for a in base_args))), []  # type: ignore[union-attr]

    def _distribution_args(self, call: A.Call) -> tuple[list[A.Value], Diags]:
        """The arguments in order (keywords placed by name), with the arity checked."""
        lo, hi, desc = DISTRIBUTIONS[call.name]
        names = distribution_args(call.name)
        args: list[A.Value | None] = list(call.args)
        for kw in call.kwargs:
            if kw.name not in names:
                hint = did_you_mean(kw.name, names) or f"write it as {desc}"
                return [], [Diagnostic(f"`{call.name}` has no argument `{kw.name}`", kw.name_span, hint)]
            i = names.index(kw.name)
            args += [None] * (i + 1 - len(args))
            if args[i] is not None:
                return [], [Diagnostic(f"`{kw.name}` of `{call.name}` is given twice", kw.span)]
            args[i] = kw.value
        if not lo <= len(args) <= hi or any(a is None for a in args):
            want = str(lo) if lo == hi else f"at least {lo}"
            return [], [Diagnostic(f"`{call.name}` takes {want} argument{'s' if lo != 1 else ''}, got {len(call.args) + len(call.kwargs)}",
                                   call.span, hint=f"write {desc}")]
        return [a for a in args if a is not None], []

    def _distribution_fits(self, call: A.Call, args: list[A.Value], p: Param, name: str) -> Diags:
        """Whether the distribution suits the parameter's type, and its own argument rules."""
        if call.name == "choice":
            return []
        if call.name == "bernoulli" and p.type not in ("bool", "any", "value"):
            return [Diagnostic(f"`bernoulli` draws `true` or `false`, but `{name}` is {TYPE_WORDS[p.type]}", call.name_span,
                               hint="draw numbers with normal(mean, std), uniform(low, high) or choice(a, b, ...)")]
        if call.name == "integer" and p.type not in ("int", "float", "any", "value"):
            return [Diagnostic(f"`integer` draws an integer, but `{name}` is {TYPE_WORDS[p.type]}", call.name_span)]
        if call.name not in ("bernoulli", "integer") and p.type not in ("float", "any", "value"):
            return [Diagnostic(f"`{call.name}` draws a real number, but `{name}` is {TYPE_WORDS[p.type]}", call.name_span,
                               hint="draw from a list of allowed values with choice(a, b, ...)"
                               + ("; a switch is drawn with bernoulli(p)" if p.type == "bool" else ""))]
        for arg in args:
            if not isinstance(arg, A.Number):
                return [Diagnostic(f"the arguments of `{call.name}` must be numbers, got {describe(arg)}", arg.span)]
        return self._distribution_rules(call, [float(a.value) for a in args], args, p, name)

    def _distribution_rules(self, call: A.Call, xs: list[float], args: list[A.Value], p: Param, name: str) -> Diags:
        """The table's rule for the arguments (at the argument it is about), and the parameter's range."""
        problem = dist_table.get(call.name).problem(xs)  # type: ignore[union-attr]
        if problem is not None:
            at = {"normal": 1, "bernoulli": 0, "exponential": 0}.get(call.name)
            if call.name == "uniform":
                problem = f"uniform(low, high) needs low <= high, got {describe(args[0])} > {describe(args[1])}"
            return [Diagnostic(problem, args[at].span if at is not None else call.span)]
        if call.name == "uniform":
            bad = [a for x, a in zip(xs, args) if not in_range(x, p)]
            if bad:
                return [_range_diag(bad[0].value, p, name, bad[0].span)]
        return []

    # ---- files ------------------------------------------------------------------------------

    def file_value(self, call: A.Call, p: Param, name: str) -> tuple[Any, Diags]:
        """`file("x.npy")`, `file("x.npz")` or `file("x.npz", "key")` for a parameter."""
        if p.type not in ("matrix", "vector", "any", "value"):
            return None, [_type_diag(p, name, call)]
        if p.type == "any":
            return self.load_file(call)
        arr, diags = self.file_array(call, p.type if p.type in ("vector", "matrix") else "any", name)
        if diags:
            return None, diags
        return self._file_shape(arr, call, p, name)

    def file_array(self, call: A.Call, want: str = "any", name: str = "file") -> tuple[Any, Diags]:
        """The one array a file(...) call names (an .npz without a key must hold just one)."""
        loaded, diags = self.load_file(call, want, name)
        if diags or not isinstance(loaded, dict):
            return loaded, diags
        if len(loaded) != 1:
            path = call.args[0].value  # type: ignore[union-attr]
            return None, [Diagnostic(f"`{path}` holds several arrays ({', '.join(sorted(loaded))}); name one",
                                     call.span, hint=f'write file("{path}", "{sorted(loaded)[0]}")')]
        return next(iter(loaded.values())), []

    def _file_shape(self, arr: np.ndarray, call: A.Call, p: Param, name: str) -> tuple[Any, Diags]:
        if p.type == "vector":
            if arr.ndim != 1:
                return None, [Diagnostic(f"`{name}`: expected a vector, but the file holds an array of shape {_shape(arr.shape)}", call.span)]
            arr, diags = self._array_in_range(arr, p, name, call.span)
            return arr.tolist(), diags
        if p.type == "matrix" and arr.ndim < 2:
            return None, [Diagnostic(f"`{name}`: expected a matrix, but the file holds an array of shape {_shape(arr.shape)}", call.span)]
        if p.type == "value":
            return arr.tolist(), []
        return self._array_in_range(arr, p, name, call.span) if p.type == "matrix" else (arr, [])

    def load_file(self, call: A.Call, want: str = "any", name: str = "file") -> tuple[Any, Diags]:
        """The array (or, for an .npz without a key, the dict of arrays) a file(...) call names;
        `want` ("vector", "matrix", "any") is checked against each array's header before its data
        is read (see files.py)."""
        if call.kwargs or not 1 <= len(call.args) <= 2 or not all(isinstance(a, A.String) for a in call.args):
            return None, [Diagnostic("`file` takes a path and, for an .npz file, the name of an array", call.span,
                                     hint='write file("weights.npy") or file("weights.npz", "W_rec")')]
        path = call.args[0].value  # type: ignore[union-attr]
        key = call.args[1].value if len(call.args) == 2 else None  # type: ignore[union-attr]
        suffix = Path(path).suffix.lower()
        if suffix not in (".npy", ".npz"):
            return None, [Diagnostic(f"`file` loads .npy or .npz files, not `{_short(path)}`", call.args[0].span)]
        if key is not None and suffix != ".npz":
            return None, [Diagnostic("only an .npz file holds named arrays; an .npy file takes no key", call.args[1].span)]
        cache_key = (str(self.base_dir / path), key, want, name)
        if cache_key not in self.cache:
            self.cache[cache_key] = self._load(self.base_dir / path, path, key, call, want, name)
        return self.cache[cache_key]

    def _load(self, full: Path, path: str, key: str | None, call: A.Call, want: str, name: str) -> tuple[Any, Diags]:
        span = call.args[0].span
        shown = _short(path)
        check = _header_check(want)
        try:
            with files.open_regular(full) as fh:
                magic = fh.read(6)
            if magic[:4] != b"PK\x03\x04" and magic != b"\x93NUMPY":
                return None, [Diagnostic(f"`{shown}` is not a NumPy .npy or .npz file", span,
                                         hint="save arrays with numpy.save or numpy.savez")]
            if magic == b"\x93NUMPY":
                if key is not None:
                    return None, [Diagnostic(f"`{shown}` holds a single array; it takes no key", call.args[1].span)]
                return files.to_float32(files.load_npy(full, check)), []
            return _npz_arrays(full, shown, key, call, check)
        except _ShapeProblem as e:
            return None, [Diagnostic(f"`{name}`: {e}", call.span)]
        except files.FileProblem as e:
            hint = f"paths are relative to the model file's directory ({_short(str(self.base_dir))})" if str(e) == "no such file" else None
            if str(e) == "no such file":
                return None, [Diagnostic(f"no such file: `{shown}`", span, hint=hint)]
            if str(e).startswith("is a directory"):
                return None, [Diagnostic(f"`{shown}` is a directory, not a .npy or .npz file", span)]
            return None, [Diagnostic(_about(shown, e), span, hint=_file_hint(str(e)))]


def _short(path: str, limit: int = 80) -> str:
    """A path for a message: very long ones are cut in the middle."""
    return path if len(path) <= limit else path[:limit // 2 - 2] + "..." + path[-(limit // 2 - 1):]


def _about(path: str, problem: Exception) -> str:
    """`path` and what is wrong with it: "`x.npy` holds ...", "cannot read `x.npy`: its header ..."."""
    text = str(problem)
    return f"`{path}` {text}" if text.split(" ", 1)[0] in ("holds", "is", "has") else f"cannot read `{path}`: {text}"


def _file_hint(problem: str) -> str | None:
    if "Python objects" in problem or "not real numbers" in problem:
        return "save plain numeric arrays with numpy.save / numpy.savez"
    if "regular file" in problem:
        return "`file` reads regular files only (not pipes, devices or directories)"
    return None


class _ShapeProblem(files.FileProblem):
    """An array whose header says it has the wrong number of dimensions for its parameter."""


def _header_check(want: str) -> files.HeaderCheck:
    """What an array's header must say for its use, checked before its data is read."""
    def check(h: files.ArrayHeader) -> None:
        if want == "vector" and len(h.shape) != 1:
            raise _ShapeProblem(f"expected a vector, but the file holds an array of shape {_shape(h.shape)}")
        if want == "matrix" and len(h.shape) < 2:
            raise _ShapeProblem(f"expected a matrix, but the file holds an array of shape {_shape(h.shape)}")
    return check


def _npz_arrays(full: Path, path: str, key: str | None, call: A.Call, check: files.HeaderCheck) -> tuple[Any, Diags]:
    zf, members = files.npz_members(full)
    with zf:
        if key is None:
            if not members:
                return None, [Diagnostic(f"`{path}` holds no arrays", call.args[0].span)]
            one = check if len(members) == 1 else None  # several: the caller asks for a key first
            return {n: files.to_float32(files.load_npz_member(zf, info, one)) for n, info in members.items()}, []
        if key not in members:
            return None, [Diagnostic(f"`{path}` has no array `{key}`", call.args[1].span, choices_hint(key, members, "its arrays"))]
        try:
            return files.to_float32(files.load_npz_member(zf, members[key], check)), []
        except _ShapeProblem:
            raise
        except files.FileProblem as e:
            return None, [Diagnostic(_about(path, e), call.args[1].span, hint=_file_hint(str(e)))]


def _fixed(p: Param) -> Param:
    """The same parameter, not drawn per trial (the values inside a choice(...))."""
    return Param(p.name, p.type, p.default, p.doc, p.low, p.high, p.low_open, p.high_open, p.choices, False)
