"""docs/reference.md is generated from the registry: it must match what the code accepts."""

from pathlib import Path

from rnnlang.dsl.library import REGISTRY
from rnnlang.dsl.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_reference_is_up_to_date():
    assert DOC.read_text() == render(), "regenerate: python -m rnnlang.dsl.reference > docs/reference.md"


def test_reference_names_every_kind_and_parameter():
    text = render()
    for kind in REGISTRY.values():
        assert f"### `{kind.name}`" in text
        for p in kind.params:
            assert f"| `{p.name}` |" in text
