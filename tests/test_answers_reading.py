"""How answers and words are compared: folded, case-, accent- and edge-punctuation-free."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows.answers.reading import normalize_text
from tests.answers_support import ANSWER_CHARACTERS, folded_by_definition


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Réschedule", "reschedule"),
        ("CONFIRM!", "confirm"),
        ("  another   day?! ", "another day"),
        ("¿Sí?", "si"),
        ("«Straße»", "strasse"),
        ("👍", "👍"),
        ("  ?! ", ""),
        ("👍!", "👍"),
        ("", ""),
    ],
)
def test_normalize_text_ignores_case_accents_edge_punctuation_and_spacing(
    text: str, expected: str
) -> None:
    """Labels and answers compare in one folded form; an all-symbol answer keeps its symbols."""
    assert normalize_text(text) == expected


@given(st.text(ANSWER_CHARACTERS, max_size=24))
def test_normalize_text_keeps_what_stripping_the_edges_keeps(text: str) -> None:
    """Folding keeps the answer from its first letter or digit to its last: what stripping
    the punctuation, symbols and spaces at its edges keeps, for any answer."""
    assert normalize_text(text) == folded_by_definition(text)
