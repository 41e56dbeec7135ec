"""The fenced code blocks of the documentation (docs/*.md and the README), for the tests that
check them: every block's language, and for `.rnn` blocks whether it is a whole model
(```` ```rnn ````, checked like `rnn check`) or a fragment (```` ```rnn {.fragment} ````, parsed
inside the declaration it belongs to)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..conftest import ROOT

DOCS = ROOT / "docs"
DOC_FILES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
FRAGMENT_INFO = "rnn {.fragment}"

# where a fragment may sit: as it stands (top-level declarations), in a task body, in the
# train, loss or model block; `{}` marks the fragment
FRAGMENT_CONTEXTS = ("{}", "node t = task {{\n{}\n}}", "train {{\n{}\n}}", "loss {{\n{}\n}}", "model {{\n{}\n}}")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int      # the line of the opening fence (1-based)
    info: str      # the fence's info string: `rnn`, `rnn {.fragment}`, `sh`, ...
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [Block(path, text.count("\n", 0, m.start()) + 1, m["info"].strip(), _dedent(m["body"], len(m["indent"])))
            for m in FENCE.finditer(text)]


def _dedent(body: str, n: int) -> str:
    return "\n".join(line[n:] if line[:n].strip() == "" else line for line in body.split("\n"))


def all_blocks() -> list[Block]:
    return [b for p in DOC_FILES for b in blocks(p)]
