"""How long the language server takes to check a file: the whole cost of a diagnostic.

    python benchmarks/diagnostics.py [FILE.rnn ...]   (default: every examples/*.rnn)

For each file, `rnn lsp`'s own check (`runtime.lsp.analyse`: parse, names, values, sizes, the
sampled trials of declared tasks) runs once to warm up and then `--repeat` times; printed: each
file's median in milliseconds, then the median and the maximum over the files.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    from rnnlang.runtime.lsp import analyse

    files = a.files or sorted((REPO / "examples").glob("*.rnn"))
    per_file = {}
    for f in files:
        text = f.read_text(encoding="utf-8")
        analyse(text, str(f))
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            analyse(text, str(f))
            times.append(time.perf_counter() - t)
        per_file[f.name] = 1e3 * statistics.median(times)
        print(f"{f.name}: {per_file[f.name]:.0f} ms")
    worst = max(per_file, key=per_file.get)
    print(f"{len(per_file)} files: median {statistics.median(per_file.values()):.0f} ms, "
          f"at most {per_file[worst]:.0f} ms ({worst})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
