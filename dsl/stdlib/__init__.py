"""The standard library: the built-in tasks, written in the language as task declarations
(`task NAME(params) { ... }`) in the .rnn files beside this module, shipped as package data and
found by name. `node task = perceptual_discrimination(coherences = [0.7])` uses one exactly as a
task declared in the model's own file.

Positions in a library file are reported as `stdlib/NAME.rnn:LINE:COL`."""

from __future__ import annotations

import functools
from pathlib import Path

from .. import tasklang as T
from ..parser import parse

STDLIB_DIR = Path(__file__).parent
STDLIB_PREFIX = "stdlib/"


@functools.lru_cache(maxsize=1)
def declarations() -> dict[str, T.TaskDef]:
    """Every task the standard library declares, by name (each file once, in name order)."""
    out: dict[str, T.TaskDef] = {}
    for path in sorted(STDLIB_DIR.glob("*.rnn")):
        mf = parse(path.read_text(encoding="utf-8"), STDLIB_PREFIX + path.name)
        for d in mf.tasks:
            if d.name in out:
                raise ValueError(f"the standard library declares the task {d.name!r} twice")
            out[d.name] = d
    return out


def declaration(name: str) -> T.TaskDef | None:
    """The library's task called `name`, or None."""
    return declarations().get(name)


def source(name: str) -> str:
    """The text of a library file (for error excerpts): `stdlib/NAME.rnn` -> its contents."""
    return (STDLIB_DIR / name[len(STDLIB_PREFIX):]).read_text(encoding="utf-8")


def in_library(file: str) -> bool:
    """Whether a span's file is one of the library's."""
    return file.startswith(STDLIB_PREFIX)


__all__ = ["declarations", "declaration", "source", "in_library", "STDLIB_DIR"]
