"""Value conversion and file references (`rnnlang.dsl.values`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlang.dsl.vocab import REQUIRED, Param
from rnnlang.dsl import ast as A
from rnnlang.dsl.model import Distribution
from rnnlang.dsl.parser import parse
from rnnlang.dsl.values import Converter, describe, distribution_args, fmt, in_range, range_text


def value(text: str) -> A.Value:
    """The value of `x = TEXT` in a model block."""
    return parse(f"model {{ x = {text} }}").models[0].settings[0].value


def convert(text: str, p: Param, base: Path = Path(".")):
    return Converter(base).convert(value(text), p, p.name)


def ok(text: str, p: Param, base: Path = Path(".")):
    result, diags = convert(text, p, base)
    assert diags == [], [d.message for d in diags]
    return result


def err(text: str, p: Param, base: Path = Path(".")) -> str:
    result, diags = convert(text, p, base)
    assert len(diags) == 1, [d.message for d in diags]
    return diags[0].message


def test_fmt_and_describe():
    assert fmt(1) == "1" and fmt(0.5) == "0.5" and fmt(4.0) == "4.0" and fmt(True) == "true"
    assert describe(value("-2")) == "-2" and describe(value('"s"')) == "a string"
    assert describe(value("a.b")) == "the name `a.b`" and describe(value("f(1)")) == "a call `f(...)`"
    assert describe(value('file("x.npy")')) == "a file" and describe(value("none")) == "`none`"


def test_range_text_and_in_range():
    assert range_text(Param("a", "float", low=0)) == ">= 0"
    assert range_text(Param("a", "float", low=0, low_open=True)) == "> 0"
    assert range_text(Param("a", "float", low=0, high=1)) == "in [0, 1]"
    assert range_text(Param("a", "float", low=0, high=1, low_open=True, high_open=True)) == "in (0, 1)"
    assert range_text(Param("a", "float", high=2)) == "<= 2"
    assert range_text(Param("a", "float")) is None
    p = Param("a", "float", low=0, high=1, high_open=True)
    assert in_range(0, p) and not in_range(1, p) and not in_range(-0.1, p)


def test_scalars():
    assert ok("3", Param("n", "int")) == 3
    assert ok("3", Param("x", "float")) == 3.0
    assert ok("-2.5e-1", Param("x", "float")) == -0.25
    assert ok("true", Param("b", "bool")) is True
    assert ok('"tanh"', Param("s", "str")) == "tanh"
    assert ok("tanh", Param("s", "str")) == "tanh"
    assert err("3.0", Param("n", "int")) == "`n`: expected an integer, got 3.0"
    assert err("a.b", Param("s", "str")) == "`s`: expected a string, got the name `a.b`"
    assert err("1e999", Param("x", "float")) == "`x` must be a finite number, got inf"


def test_lists():
    assert ok("[1, 2.5]", Param("v", "vector")) == [1, 2.5]
    assert ok("[]", Param("v", "vector")) == []
    assert ok("[0, 3, 3]", Param("i", "index_list")) == [0, 3, 3]
    assert err("[0, 1.0]", Param("i", "index_list")) == "`i`: expected an integer unit index, got 1.0"
    assert err("[0, -1]", Param("i", "index_list")) == "`i`: unit indices must be >= 0, got -1"
    assert err("1", Param("v", "vector")) == "`v`: expected a list of numbers, got 1"
    m = ok("[[1, 2], [3, 4], [5, 6]]", Param("m", "matrix"))
    assert m.shape == (3, 2) and m.dtype == np.float32
    assert ok("[[[1], [2]], [[3], [4]]]", Param("m", "matrix")).shape == (2, 2, 1)
    assert err("[[[1], [2]], [[3], [4, 5]]]", Param("m", "matrix")).startswith("`m` is ragged")
    assert err("[[1, 2], 3]", Param("m", "matrix")) == "`m` mixes numbers and lists; every row must be a list of numbers"
    assert err("[]", Param("m", "matrix")) == "`m`: expected a matrix (a list of rows of numbers), got an empty list"
    assert err("[[1, 2], [3, -4]]", Param("m", "matrix", low=0)) == "`m` must be >= 0, got -4.0"


def test_ragged_error_points_at_the_row():
    _, diags = convert("[[1, 2],\n [3]]", Param("m", "matrix"))
    assert (diags[0].span.line, diags[0].span.col) == (2, 2)


def test_value_and_any():
    assert ok("2", Param("g", "value")) == 2.0
    assert ok("[1, [2, 3]]", Param("g", "any")) == [1, [2, 3]]
    assert ok("[[1, 2], [3, 4]]", Param("g", "value")) == [[1, 2], [3, 4]]
    assert err('"x"', Param("g", "value")) == "`g`: expected a number or a list of numbers, got a string"
    assert ok("f(1, a = b)", Param("g", "any")) == {"name": "f", "args": [1], "kwargs": {"a": "b"}}


def test_calls():
    p = Param("init", "call", "a", choices=("alpha", "beta"))
    assert ok("alpha", p) == "alpha"
    assert ok("beta(1, k = 2)", p) == {"name": "beta", "args": [1], "kwargs": {"k": 2}}
    assert err("gama(1)", p) == "unknown `init` `gama`"
    assert ok("anything(1)", Param("opt", "call")) == {"name": "anything", "args": [1], "kwargs": {}}
    # a call parameter whose choices include a distribution's name is a call, not a draw
    assert ok("normal(1)", Param("init", "call", choices=("normal",))) == {"name": "normal", "args": [1], "kwargs": {}}


def test_none():
    assert ok("none", Param("x", "float", None)) is None
    assert err("none", Param("x", "float", 1.0)) == "`x`: expected a number, got `none`"
    assert err("none", Param("x", "float", REQUIRED)) == "`x`: expected a number, got `none`"


def test_distributions():
    p = Param("a", "float", 1.0, per_trial=True)
    d = ok("normal(0, 1)", p)
    assert isinstance(d, Distribution) and (d.name, d.args) == ("normal", (0.0, 1.0))
    assert ok("choice(1, 2, 3)", p).args == (1.0, 2.0, 3.0)
    assert ok("bernoulli(0.5)", Param("b", "bool", True, per_trial=True)).args == (0.5,)
    assert ok("choice(true, false)", Param("b", "bool", True, per_trial=True)).args == (True, False)
    assert ok("choice([1, 2], [3, 4])", Param("v", "vector", per_trial=True)).args == ([1, 2], [3, 4])
    assert err("choice(normal(0, 1))", p) == "`a` is fixed when the model is compiled; it cannot be drawn per trial"
    assert distribution_args("normal") == ("mean", "std") and distribution_args("choice") == ()


# ---- files -----------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    np.save(tmp_path / "m.npy", np.eye(3))
    np.save(tmp_path / "v.npy", np.arange(4.0))
    np.save(tmp_path / "ints.npy", np.array([[1, 0], [0, 1]], dtype=np.int64))
    np.save(tmp_path / "nan.npy", np.array([[np.nan, 1.0]]))
    np.save(tmp_path / "obj.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "w.npz", W=np.ones((2, 2)), b=np.zeros(2))
    np.savez(tmp_path / "one.npz", only=np.ones((2, 3)))
    np.savez(tmp_path / "objs.npz", o=np.array([None, 1], dtype=object))
    (tmp_path / "text.npy").write_text("hello")
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "m.npy").read_bytes()[:90])
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub.npy").mkdir()
    return tmp_path


MATRIX = Param("m", "matrix", None)


def test_file_loads_relative_to_base(files: Path):
    m = ok('file("m.npy")', MATRIX, files)
    assert m.dtype == np.float32 and m.shape == (3, 3) and m[1, 1] == 1
    assert ok('file("../m.npy")', MATRIX, files / "sub").shape == (3, 3)
    assert ok('file("ints.npy")', MATRIX, files).dtype == np.float32
    assert ok('file("w.npz", "W")', MATRIX, files).shape == (2, 2)
    assert ok('file("one.npz")', MATRIX, files).shape == (2, 3)
    assert ok('file("v.npy")', Param("v", "vector"), files) == [0.0, 1.0, 2.0, 3.0]
    arrays = ok('file("w.npz")', Param("w", "any"), files)
    assert sorted(arrays) == ["W", "b"] and arrays["b"].dtype == np.float32


@pytest.mark.parametrize("call, message", [
    ('file("nope.npy")', "no such file: `nope.npy`"),
    ('file("sub.npy")', "`sub.npy` is a directory, not a .npy or .npz file"),
    ('file("text.npy")', "`text.npy` is not a NumPy .npy or .npz file"),
    ('file("obj.npy")', "`obj.npy` holds Python objects; only numeric arrays can be loaded"),
    ('file("objs.npz", "o")', "`objs.npz` holds Python objects; only numeric arrays can be loaded"),
    ('file("nan.npy")', "`nan.npy` holds NaN or infinite values"),
    ('file("w.npz", "X")', "`w.npz` has no array `X`"),
    ('file("w.npz")', "`w.npz` holds several arrays (W, b); name one"),
    ('file("m.npy", "k")', "only an .npz file holds named arrays; an .npy file takes no key"),
    ('file("m.csv")', "`file` loads .npy or .npz files, not `m.csv`"),
    ("file()", "`file` takes a path and, for an .npz file, the name of an array"),
    ("file(1)", "`file` takes a path and, for an .npz file, the name of an array"),
    ('file("v.npy")', "`m`: expected a matrix, but the file holds an array of shape (4,)"),
])
def test_file_errors(files: Path, call: str, message: str):
    assert err(call, MATRIX, files) == message


def test_truncated_and_corrupt_files_are_errors_not_tracebacks(files: Path):
    assert err('file("trunc.npy")', MATRIX, files).startswith("cannot read `trunc.npy`")
    assert err('file("broken.npz")', MATRIX, files).startswith("cannot read `broken.npz`")


def test_file_for_a_scalar_parameter(files: Path):
    assert err('file("m.npy")', Param("n", "int"), files) == "`n`: expected an integer, got a file"


def test_file_error_points_at_the_path(files: Path):
    _, diags = convert('file("nope.npy")', MATRIX, files)
    assert diags[0].span.col == len("model { x = file(") + 1
    assert str(files) in diags[0].hint


def test_loaded_files_are_cached(files: Path):
    conv = Converter(files)
    a = conv.convert(value('file("m.npy")'), MATRIX, "m")[0]
    b = conv.convert(value('file("m.npy")'), MATRIX, "m")[0]
    assert a is b
