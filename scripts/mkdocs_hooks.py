"""MkDocs hooks of the documentation site (mkdocs.yml): the command-line page (docs/cli.md)
gets every `rnn` subcommand's --help, taken from the parser at build time, where it has the
marker `<!-- rnn-help -->`, so the site never lists an option the command does not have."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- rnn-help -->"


def help_sections() -> str:
    """Markdown: `rnn --help`, then one section per subcommand with its help text."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; fix the width for the page
    from rnnlang.runtime.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = ["## `rnn`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, p in sorted(sub.choices.items()):
        out += [f"## `rnn {name}`", "", "```text", p.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs' signature)
    if page.file.src_uri == "cli.md" and MARKER in markdown:
        return markdown.replace(MARKER, help_sections())
    return markdown
