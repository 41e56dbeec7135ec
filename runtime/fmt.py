"""`rnn fmt FILE...`: rewrite model files in the canonical layout (rnnlang.dsl.fmt).

`--check` writes nothing and lists the files that would change (exit 1 if any); `--diff` writes
nothing and prints a unified diff; `-` reads standard input and writes the result to standard
output; a directory stands for the .rnn files under it. A file that does not parse gets the
usual positioned error and is left as it was; a changed file is replaced atomically (a temporary
file beside it, then a rename), keeping its permissions."""

from __future__ import annotations

import difflib
import os
import stat
import sys
from pathlib import Path

from rnnlang.dsl.errors import ModelError, UsageError
from rnnlang.dsl.fmt import FormatError, format_source
from rnnlang.dsl.parser import MAX_FILE_BYTES, decode_source, read_source

from .files import atomic_write

STDIN = "-"
EXIT_OK, EXIT_CHANGED, EXIT_USAGE = 0, 1, 2  # a model error is 1, like a file --check would change


def cmd_fmt(args) -> int:
    """Format every file named (see the module's docstring); the exit status is the worst case."""
    status = EXIT_OK
    for name in args.files:
        try:
            paths = _expand(name)
        except UsageError as e:
            print(f"rnn: error: {e}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        for path in paths:
            status = max(status, _run_one(path, args.check, args.diff))
    return status


def _run_one(path: str, check: bool, diff: bool) -> int:
    """Format one file, reporting its errors; returns its exit status."""
    try:
        changed = _format_one(path, check=check, diff=diff)
    except ModelError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_CHANGED
    except UsageError as e:
        print(f"rnn: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except FormatError as e:
        print(f"rnn: error: {e}", file=sys.stderr)
        return EXIT_CHANGED
    return EXIT_CHANGED if changed and check else EXIT_OK


def _expand(name: str) -> list[str]:
    """The files a name stands for: itself, or a directory's .rnn files (sorted; hidden
    directories and node_modules skipped)."""
    if name == STDIN or not os.path.isdir(name):
        return [name]
    found = sorted(p for p in Path(name).rglob("*.rnn")
                   if not any(part.startswith(".") or part == "node_modules" for part in p.relative_to(name).parts))
    if not found:
        raise UsageError(f"{name}: no .rnn files in this directory")
    return [str(p) for p in found]


def _format_one(path: str, check: bool, diff: bool) -> bool:
    """Format one file (or standard input); returns whether its text changes."""
    if path == STDIN:
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise UsageError(f"standard input is larger than {MAX_FILE_BYTES // 1_000_000} MB; a model is a page of text")
        name = "<stdin>"
        text = decode_source(data, name)
    else:
        name, text = path, read_source(path)
    out = format_source(text, name)
    changed = out != text
    if diff:
        for line in difflib.unified_diff(text.splitlines(keepends=True), out.splitlines(keepends=True),
                                         f"{name} (before)", f"{name} (formatted)"):
            # a last line without its newline is marked as diff and patch write it
            sys.stdout.write(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    if check:
        if changed:
            print(f"would reformat {name}")
    elif path == STDIN:
        if not diff:
            sys.stdout.write(out)
    elif changed and not diff:
        target = Path(os.path.realpath(path))  # through a symbolic link, not over it
        atomic_write(target, out, mode=stat.S_IMODE(target.stat().st_mode))
        print(f"reformatted {name}", file=sys.stderr)
    return changed
