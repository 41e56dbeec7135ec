"""A Pygments lexer for `.rnn` files, so that documentation sites, notebooks and any tool built on
Pygments colour the language: keywords, node kinds of the registry, loss terms, functions and
distributions of the vocabulary, numbers, strings, comments and operators.

Registered under the name `rnn` (aliases `rnn`, `rnnlang`; files `*.rnn`) through the
`pygments.lexers` entry point in pyproject.toml, so that ```` ```rnn ```` blocks in Markdown and
`pygmentize -l rnn model.rnn` find it once the package is installed.

The word lists come from the same registry and schema the checker reads, so a new node kind is
highlighted as soon as it exists. Like the grammar, which keeps keywords usable as names, a word
followed by `.` (`task.input`) or `=` (`noise = 0.1`), or written after `node`, is lexed as a name, not as a keyword.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

from . import schema
from . import tasklang as TL
from .library import REGISTRY

__all__ = ["RnnLexer", "KEYWORDS", "CONSTANTS", "NODE_KINDS", "BUILTIN_FUNCTIONS"]

#: Words that start statements or clauses (grammar.lark); all remain usable as names.
KEYWORDS: tuple[str, ...] = (
    "model", "node", "site", "at", "loss", "train", "validate", "stage", "until", "task", "epoch", "from",
    "to", "for", "noise", "scaled", "validation", "grid", "require", "epochs", "and", "or", "not", "if",
    "then", "else", "each", "step", "hold", "signal", "init", "input", "metric",
)
#: Literal constants of the language.
CONSTANTS: tuple[str, ...] = ("true", "false", "none")
#: Every node kind of the registry (networks, mechanics, channels, tasks, interventions).
NODE_KINDS: tuple[str, ...] = tuple(sorted(REGISTRY))
#: Loss terms, distributions, expression functions and `file(...)`.
BUILTIN_FUNCTIONS: tuple[str, ...] = tuple(sorted(
    (set(schema.LOSS_TERMS) | set(schema.DISTRIBUTIONS) | set(TL.FUNCTIONS) | set(TL.CROSSINGS) | {"file"})
    - set(NODE_KINDS)))

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# a whole word, not followed by `.` (`task.input`: it names a node) nor by `=` (`noise = 0.1`: a setting)
_END = r"(?![A-Za-z0-9_])(?!\s*\.)(?!\s*=(?!=))"


class RnnLexer(RegexLexer):
    """Lexer for rnnlang's `.rnn` model files."""

    name = "rnn"
    aliases = ["rnn", "rnnlang"]
    filenames = ["*.rnn"]
    mimetypes = ["text/x-rnn"]
    url = "https://pypi.org/project/rnnlang/"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"//[^\n]*", Comment.Single),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            (r"(\d+(\.\d*)?|\.\d+)[eE][+-]?\d+", Number.Float),
            (r"\d+\.\d*|\.\d+", Number.Float),
            (r"\d+", Number.Integer),
            # `node NAME`, `site NAME`, `stage NAME`, `epoch NAME`, `metric NAME`: the declared name
            (r"(node|site|stage|epoch|metric|model)(\s+)(" + _NAME + r")",
             bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (r"(\.)(" + _NAME + r")", bygroups(Punctuation, Name)),  # a port or field: `net.input`
            (words(CONSTANTS, suffix=r"(?![A-Za-z0-9_])"), Keyword.Constant),
            (words(NODE_KINDS, suffix=r"(?=\s*\()"), Name.Builtin),
            (words(KEYWORDS, suffix=_END), Keyword),
            (words(BUILTIN_FUNCTIONS, suffix=r"(?=\s*\()"), Name.Function),
            (r"(" + _NAME + r")(\s*)(?=\()", bygroups(Name.Function, Text)),
            (_NAME, Name),
            (r"->|==|!=|<=|>=|[<>=~+\-*/^]", Operator),
            (r"[{}()\[\],;.:]", Punctuation),
        ],
    }
