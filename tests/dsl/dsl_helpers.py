"""Shared helpers for the front-end tests (imported relatively: tests is a package): a small fake node registry, so the checks are tested
independently of the real node library, and shortcuts to check source text against it."""

from __future__ import annotations

from pathlib import Path

from rnnlang.dsl.vocab import REQUIRED, NodeKind, Param, Port, Site
from rnnlang.dsl import ModelError, checks, parser

POSVEL = {"pos": (0, 2), "vel": (2, 4)}

FAKE_KINDS = (
    NodeKind("rnn", "network", (
        Param("hidden", "int", REQUIRED, low=1),
        Param("out", "int", REQUIRED, low=1),
        Param("act", "str", "tanh", choices=("tanh", "relu")),
        Param("init", "call", "gauss", choices=("gauss", "scaled")),
        Param("noise", "float", 0.0, low=0),
        Param("ratio", "float", 0.0, low=0, high=1),
        Param("mask", "matrix", None),
        Param("taus", "vector", None, low=0, low_open=True),
        Param("flag", "bool", True),
        Param("extra", "any", None),
    ), ports=(Port("input", "in", None), Port("output", "out", "out"), Port("hidden", "out", "hidden")),
        sites=(Site("units", ("units",)), Site("W", ("weights",)))),
    NodeKind("body", "mechanics", (Param("mass", "float", 1.0, low=0, low_open=True),), ports=(
        Port("force", "in", 2, combine="sum", tags=("force",)),
        Port("init", "in", 4, combine="single", role="init", fields=POSVEL),
        Port("state", "out", 4, timing="state", fields=POSVEL),
    )),
    NodeKind("line", "channel", (Param("delay", "int", 0, low=0),),
             ports=(Port("input", "in", None), Port("output", "out", None))),
    NodeKind("reach", "task", (Param("size", "float", 1.0, low=0), Param("levels", "vector", [0.5])), ports=(
        Port("goal", "out", 4, timing="state", fields=POSVEL),
        Port("start", "out", 4, timing="state", role="init", fields=POSVEL),
        Port("seen", "in", 4, combine="single"),
    )),
    NodeKind("reach2", "task", (), ports=(Port("goal", "out", 4, timing="state"),)),
    NodeKind("push", "intervention", (
        Param("active", "bool", True, per_trial=True),
        Param("amount", "float", 1.0, per_trial=True, low=-5, high=5),
        Param("field", "vector", [0.0, 0.0], per_trial=True),
        Param("start", "int", 0, low=0),
    ), applies_to=("force",)),
    NodeKind("pin", "intervention", (
        Param("active", "bool", True, per_trial=True),
        Param("units", "index_list", REQUIRED),
        Param("level", "vector", REQUIRED, per_trial=True),
    ), applies_to=("units",)),
    NodeKind("jitter", "intervention", (Param("std", "float", 0.1, low=0, per_trial=True),),
             applies_to=("signal", "units")),
)
FAKE = {k.name: k for k in FAKE_KINDS}

HEADER = "model { dt = 0.1  steps = 10 }\n"
BASE = HEADER + """node task = reach()
node net = rnn(hidden = 4, out = 2)
node arm = body()
task.goal -> net.input
arm.state -> net.input
net.output -> arm.force
task.start -> arm.init
arm.state -> task.seen
"""


def check_text(text: str, path: str = "<test>"):
    """Parse and check source against the fake registry (its toy ports have no consistent sizes,
    so the model is checked and resolved, not planned)."""
    return checks.check_declarations(parser.parse(text, path), FAKE)


def errors_of(text: str, path: str = "<test>") -> list[tuple[int, int, str]]:
    """(line, col, message) of every error the source has against the fake registry."""
    try:
        check_text(text, path)
    except ModelError as e:
        return [(d.span.line, d.span.col, d.message) for d in e.errors]
    return []


def messages(text: str, path: str = "<test>") -> list[str]:
    return [m for _, _, m in errors_of(text, path)]


def hints(text: str) -> list[str | None]:
    try:
        check_text(text)
    except ModelError as e:
        return [d.hint for d in e.errors]
    return []


def context(text: str, path: str = "<test>") -> checks.Context:
    """A check context for source text and the fake registry (to call one check directly)."""
    return checks.Context.build(parser.parse(text, path), FAKE)


PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
DATA = PROGRAMS / "data"
REPO = Path(__file__).resolve().parents[2]
