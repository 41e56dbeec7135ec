"""A seeded mutation fuzzer for model files: it derives hostile programs from the examples and
tests/programs/good and runs each through `rnn check`'s own function. The contract it checks:
every text is either accepted (a checked model) or refused with a ModelError whose every
diagnostic has a position (or a UsageError that names `file:line:col`); nothing else escapes.

Mutation kinds: token swaps, deletions and duplications, numeric extremes, string escapes,
deep nesting, empty and reversed ranges, long names, and binary bytes."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rnnlang.dsl.errors import ModelError, UsageError

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
PROGRAMS = TESTS / "programs"
SOURCES = sorted((REPO / "examples").glob("*.rnn")) + sorted((REPO / "examples" / "tasks").glob("*.rnn")) \
    + sorted((PROGRAMS / "good").glob("*.rnn"))

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+|[A-Za-z_]\w*|->|[^\s\w]')
NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
EXTREMES = ("0", "-1", "-0", "0.0", "1e999", "-1e999", "1e-320", "1e12", "1e308", "2147483648", "4294967296",
            "9223372036854775808", "18446744073709551617", "123456789012345678901234567890", "1000000",
            "100000", "nan", "inf", "0.5", "1e-9", "3.5e38")
ESCAPES = ('"\\x"', '"\\u1234"', '"\\777"', '"\\"', '"\\n"', '"\\N{x}"', '"\\U0010ffff"', '"\\ud800"',
           '"\\xff"', '"\\\\"', '"a\\tb"', '"' + "x" * 300 + '.npy"', '""', '"\\0"')
RANGES = ("range(0)", "range(5, 2)", "range(3, 3)", "range(-2)", "[]", "[[]]", "range(100000000)",
          "range(1, 2, 0)", "range(2147483648)")
BYTES = (b"\x00", b"\xff", b"\xe9", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\t", b"\x1b", b"\x7f")


def tokens(text: str) -> list[re.Match]:
    return list(TOKEN.finditer(text))


def _replace(text: str, m: re.Match, new: str) -> str:
    return text[:m.start()] + new + text[m.end():]


def _nest(rng: random.Random) -> str:
    depth = rng.choice((8, 33, 64, 65, 66, 200, 500, 1000, 5000))
    if rng.random() < 0.5:
        return "[" * depth + "1" + "]" * depth
    return "(" * depth + "1" + ")" * depth


def mutate(text: str, rng: random.Random) -> bytes:
    """One to three mutations of `text`; bytes, since some mutations make it invalid UTF-8."""
    raw: bytes | None = None
    for _ in range(rng.randint(1, 3)):
        toks = tokens(text)
        if not toks:
            break
        kind = rng.choice(("swap", "delete", "duplicate", "number", "number", "escape", "nest", "range",
                           "long_name", "bytes", "copy"))
        m = rng.choice(toks)
        if kind == "swap":
            other = rng.choice(toks)
            a, b = sorted((m, other), key=lambda t: t.start())
            if a.end() <= b.start():
                text = text[:a.start()] + b.group() + text[a.end():b.start()] + a.group() + text[b.end():]
        elif kind == "delete":
            text = _replace(text, m, "")
        elif kind == "duplicate":
            text = _replace(text, m, m.group() + " " + m.group())
        elif kind == "number":
            nums = [t for t in toks if NUMBER.fullmatch(t.group())] or toks
            text = _replace(text, rng.choice(nums), rng.choice(EXTREMES))
        elif kind == "escape":
            strs = [t for t in toks if t.group().startswith('"')]
            target = rng.choice(strs) if strs and rng.random() < 0.7 else m
            text = _replace(text, target, rng.choice(ESCAPES))
        elif kind == "nest":
            text = _replace(text, m, _nest(rng))
        elif kind == "range":
            text = _replace(text, m, rng.choice(RANGES))
        elif kind == "long_name":
            names = [t for t in toks if t.group()[0].isalpha()] or toks
            text = _replace(text, rng.choice(names), "n" * rng.choice((64, 300, 5000)))
        elif kind == "copy":  # a line repeated elsewhere (duplicate statements, blocks inside blocks)
            lines = text.splitlines(keepends=True)
            line = rng.choice(lines)
            lines.insert(rng.randrange(len(lines) + 1), line)
            text = "".join(lines)
        else:
            data = text.encode("utf-8")
            i = rng.randrange(len(data) + 1)
            raw = data[:i] + rng.choice(BYTES) + data[i:]
    return raw if raw is not None else text.encode("utf-8", "surrogatepass")


@dataclass
class Outcome:
    kind: str  # "accepted", "refused", "usage", or "crash"
    detail: str = ""


def check_file(path: Path) -> Outcome:
    """Run `rnn check`'s function on a file and classify what came out, enforcing the contract:
    a refusal's every diagnostic has a position."""
    from rnnlang.runtime.cli import _summary

    try:
        _summary(str(path), [])
    except ModelError as e:
        missing = [d.message for d in e.diagnostics if d.span is None]
        if not e.diagnostics or missing:
            return Outcome("crash", f"refusal without a position: {missing or 'no diagnostics'}")
        return Outcome("refused", e.diagnostics[0].message)
    except UsageError as e:
        if re.search(re.escape(str(path)) + r":\d+:\d+", str(e)):
            return Outcome("usage", str(e))
        return Outcome("crash", f"usage error without a position: {e}")
    except RecursionError as e:  # listed apart: the typical crash of deep nesting
        return Outcome("crash", f"RecursionError: {e}")
    except Exception as e:  # noqa: BLE001 - the fuzzer's job is to catch anything
        return Outcome("crash", f"{type(e).__name__}: {e}")
    return Outcome("accepted")


def run_cases(seeds: range, workdir: Path, on_case: Callable[[int, Path, Outcome], None] | None = None) -> list[tuple[int, Outcome]]:
    """Mutate and check one program per seed (in `workdir`, beside which the data folder's files
    are reachable through absolute paths); returns the crashes."""
    crashes = []
    for seed in seeds:
        rng = random.Random(seed)
        source = SOURCES[seed % len(SOURCES)]
        text = source.read_text(encoding="utf-8")
        text = text.replace('"../data/', f'"{PROGRAMS / "data"}/').replace('"data/', f'"{REPO / "examples" / "data"}/')
        path = workdir / f"case{seed}.rnn"
        path.write_bytes(mutate(text, rng))
        outcome = check_file(path)
        if on_case is not None:
            on_case(seed, path, outcome)
        if outcome.kind == "crash":
            crashes.append((seed, outcome))
        path.unlink()
    return crashes
