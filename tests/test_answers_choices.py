"""Answers taken as written: text, choice and regex slots."""

from __future__ import annotations

from typing import Any

import pytest

from bot.flows.answers import Parsed, parse_value
from tests.answers_support import SIZES, TODAY, accepts, parse, rejects, slot_spec

# --- text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "text", "value"),
    [
        ({}, "  Ana María  ", "Ana María"),
        ({}, "x", "x"),
        ({"min": 2, "max": 5}, "ab", "ab"),
        ({"min": 2, "max": 5}, " abcde ", "abcde"),
        ({"max": 4}, "a  b", "a  b"),
        ({"min": 1}, "👍", "👍"),
    ],
)
def test_text_is_trimmed_and_kept(fields: dict[str, Any], text: str, value: str) -> None:
    """Text is stored trimmed, inner spacing untouched, when its length is within bounds."""
    accepts(slot_spec("text", **fields), text, value)


@pytest.mark.parametrize(
    ("fields", "text", "error"),
    [
        ({"min": 2}, "a", "too_short"),
        ({"min": 3}, "  ab  ", "too_short"),
        ({"max": 5}, "abcdef", "too_long"),
    ],
)
def test_text_outside_its_length_bounds_is_rejected(
    fields: dict[str, Any], text: str, error: str
) -> None:
    """Trimmed text shorter than `min` or longer than `max` characters is rejected."""
    rejects(slot_spec("text", **fields), text, error)


# --- choice -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Small", "Small"),
        ("small", "Small"),
        ("  SMALL!! ", "Small"),
        ("medium", "Medium"),
        ("m", "Medium"),
        ("Mediano", "Medium"),
        ("1", "Small"),
        ("2.", "Medium"),
        ("(3)", "Large"),
        ("3\ufe0f\u20e3", "Large"),
        ("\uff12", "Medium"),
        ("option 2", "Medium"),
        ("nº 3", "Large"),
        ("two", "Medium"),
        ("Tres", "Large"),
        ("first", "Small"),
        ("third", "Large"),
    ],
)
def test_choice_matches_value_synonym_or_position(text: str, value: str) -> None:
    """A choice is chosen by its value or a synonym (case- and accent-free) or its number,
    read as a menu reads it."""
    accepts(slot_spec("choice", choices=SIZES), text, value)


@pytest.mark.parametrize(
    "text", ["0", "4", "huge", "small medium", "sm", "1 2", "four", "zero", "option 4", "once"]
)
def test_choice_rejects_other_answers(text: str) -> None:
    """Numbers outside the list and unknown words are `not_a_choice`."""
    rejects(slot_spec("choice", choices=SIZES), text, "not_a_choice")


@pytest.mark.parametrize(("lang", "value"), [("es", "Large"), ("en", "Large"), ("fr", None)])
def test_a_choice_by_number_word_follows_the_conversation_language(
    lang: str, value: str | None
) -> None:
    """As in menus, "tres" is 3 in Spanish and English conversations, "très" in French."""
    spec = slot_spec("choice", choices=SIZES)
    assert parse_value(spec, "tres", today=TODAY, lang=lang).value == value


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("38", Parsed(True, "38")),
        ("40", Parsed(True, "40")),
        ("forty", Parsed(True, "40")),
        ("1", Parsed(False, None, "not_a_choice")),
        ("2", Parsed(False, None, "not_a_choice")),
    ],
)
def test_numeric_choices_are_chosen_by_text_only(text: str, result: Parsed) -> None:
    """When a choice is itself a number, positions are off: "1" never means the first."""
    spec = slot_spec("choice", choices=["38", "39", {"40": ["forty"]}])
    assert parse(spec, text) == result


def test_accents_in_choices_are_ignored_both_ways() -> None:
    """A choice written with accents matches an answer without, and the reverse."""
    spec = slot_spec("choice", choices=["Sí", "Nao"])
    assert parse(spec, "si").value == "Sí"
    assert parse(spec, "NÃO").value == "Nao"


# --- regex ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "result"),
    [
        (r"[A-Z]{2}-\d{3}", "AB-123", Parsed(True, "AB-123")),
        (r"[A-Z]{2}-\d{3}", "  AB-123 ", Parsed(True, "AB-123")),
        (r"[A-Z]{2}-\d{3}", "AB-1234", Parsed(False, None, "no_match")),
        (r"[A-Z]{2}-\d{3}", "xAB-123", Parsed(False, None, "no_match")),
        (r"[A-Z]{2}-\d{3}", "ab-123", Parsed(False, None, "no_match")),
        (r"(?i)[A-Z]{2}-\d{3}", "ab-123", Parsed(True, "ab-123")),
        (r"#?(?P<value>\d{6})", "#123456", Parsed(True, "123456")),
        (r"#?(?P<value>\d{6})", "123456", Parsed(True, "123456")),
        (r"(?P<value>\d+)?x", "x", Parsed(True, "x")),
        (r"\d+|", "", Parsed(False, None, "empty")),
    ],
)
def test_regex_fullmatches_the_trimmed_answer(pattern: str, text: str, result: Parsed) -> None:
    """The whole trimmed answer must match; a `value` group, when it took part, is stored."""
    assert parse(slot_spec("regex", pattern=pattern), text) == result
