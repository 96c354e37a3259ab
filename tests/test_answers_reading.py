"""How answers and words are compared: folded, case-, accent- and edge-punctuation-free."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows.answers.reading import normalize_text


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


# The definitions that the linear readings keep: quadratic on long answers, exact on short.
_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$")
_DECORATION = re.compile(r"^[\s(\[#]+|[\s.)\]:\-]+$")
_ANSWER_CHARACTERS = (
    " \t\n\u00a0\u3000.,!?¿-_()[]#:👍\ufe0f\u20e3\u0301\u0308éÉaZ1\u0661\u2460\uff11"
)


def _folded_by_definition(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    core = (
        _EDGES.sub("", folded)
        or "".join(
            c for c in folded if unicodedata.category(c)[0] != "P" and c not in "\ufe0e\ufe0f"
        ).strip()
    )
    return re.sub(r"\s+", " ", core)


def _number_by_definition(text: str) -> int | None:
    s = unicodedata.normalize("NFKC", text.translate({0xFE0F: None, 0x20E3: None})).strip()
    s = _DECORATION.sub("", s)
    digits = [unicodedata.decimal(c, None) for c in s]
    if not s or len(s) > 3 or None in digits:
        return None
    return int("".join(map(str, digits)))


@given(st.text(_ANSWER_CHARACTERS, max_size=24))
def test_normalize_text_keeps_what_stripping_the_edges_keeps(text: str) -> None:
    """Folding keeps the answer from its first letter or digit to its last: what stripping
    the punctuation, symbols and spaces at its edges keeps, for any answer."""
    assert normalize_text(text) == _folded_by_definition(text)
