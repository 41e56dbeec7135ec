"""The documentation site builds with `mkdocs build --strict` (a warning, such as a broken link or
anchor, fails it), with `.rnn` code highlighted by rnnlang's lexer and every subcommand's --help
on the command-line page; and a link check for what MkDocs does not see: the links of the
READMEs outside docs/, and links from docs/ to files outside it (which the site cannot serve)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

from rnnlang.runtime.cli import build_parser

from ..conftest import ROOT

LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
FENCED = re.compile(r"^[ ]*```.*?^[ ]*```", re.M | re.S)
READMES = [ROOT / "README.md", ROOT / "examples" / "README.md", ROOT / "benchmarks" / "README.md"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in r.stdout + r.stderr
    return out


def test_site_builds_strict_with_every_page(site):
    for page in ("index", "language", "tasks", "reference", "cli", "runs", "psychrnn", "analysis", "benchmarks",
                 "from-psychrnn", "from-feedbax", "from-neurogym"):
        assert (site / page / "index.html").is_file() or (page == "index" and (site / "index.html").is_file()), page


def test_rnn_code_is_highlighted_by_the_lexer(site):
    html = (site / "index.html").read_text()
    # `model` a declaration keyword, `ctrnn` a node kind, `0.05`-style numbers, comments: Pygments' classes
    assert '<span class="kd">model</span>' in html
    assert '<span class="nb">ctrnn</span>' in html
    assert '<span class="c1"># PsychRNN&#39;s hello world' in html


def test_command_line_page_has_every_subcommand_help(site):
    html = (site / "cli" / "index.html").read_text()
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        assert f"usage: rnn {name}" in html, name
    assert "&lt;!-- rnn-help --&gt;" not in html and "<!-- rnn-help -->" not in html


def _anchors(md: Path) -> set[str]:
    text = FENCED.sub("", md.read_text())
    return {slugify(re.sub(r"`", "", h), "-") for h in HEADING.findall(text)}


def _links(md: Path) -> list[str]:
    return LINK.findall(FENCED.sub("", md.read_text()))


def _broken(md: Path) -> list[str]:
    bad = []
    for target in _links(md):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading `{anchor}` in {dest.name}")
    return bad


@pytest.mark.parametrize("md", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_readme_links_resolve(md):
    assert _broken(md) == []


def test_docs_link_nowhere_outside_docs():
    """The site serves docs/ only: a link from a page to ../examples/x.rnn would be dead there.
    Name such files in backticks (`examples/x.rnn`)."""
    outside = []
    for md in sorted((ROOT / "docs").glob("*.md")):
        for target in _links(md):
            path = target.partition("#")[0]
            if path and not re.match(r"[a-z]+:", path) and not (md.parent / path).resolve().is_relative_to(ROOT / "docs"):
                outside.append(f"{md.name}: {target}")
    assert outside == []


def test_the_link_check_catches_mistakes(tmp_path):
    (tmp_path / "a.md").write_text("# Title here\n\n[ok](a.md#title-here) [bad](b.md) [anchor](a.md#nope)\n"
                                   "```\n[in code](ignored.md)\n```\n")
    assert _broken(tmp_path / "a.md") == ["b.md: no such file", "a.md#nope: no heading `nope` in a.md"]
