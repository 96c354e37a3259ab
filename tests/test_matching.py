"""How a customer's answer chooses an option: payload, then number, then label or keyword."""

from __future__ import annotations

import pytest

from bot.flows.compiler import compile_flow
from bot.flows.matching import OptionIndex, normalize_text, parse_number
from bot.flows.spec import FlowSpec


def _index(options: list[dict[str, object]]) -> OptionIndex:
    """The option index of a state, compiled as at start-up."""
    spec = FlowSpec.model_validate(
        {"start": "ask", "states": {"ask": {"say": "Pick one", "options": options}}}
    )
    return compile_flow("menu", spec).states["ask"].index


MENU = _index(
    [
        {"label": "Confirm", "keywords": ["yes", "ok"], "payload": "CONFIRM", "go": "ask"},
        {"label": "Reschedule", "keywords": ["another  day"], "go": "ask"},
        {"label": {"en": "Cancel", "es": "Cancelar"}, "keywords": ["no"], "go": "ask"},
    ]
)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        (" 1 ", 1),
        ("1.", 1),
        ("1)", 1),
        ("(1)", 1),
        ("[2]", 2),
        ("#1", 1),
        ("3:", 3),
        ("2 -", 2),
        ("1\ufe0f\u20e3", 1),  # keycap 1️⃣
        ("1\u20e3", 1),  # keycap without the variation selector
        ("\u2460", 1),  # CIRCLED DIGIT ONE
        ("\uff11", 1),  # FULLWIDTH DIGIT ONE
        ("\u0661", 1),  # ARABIC-INDIC DIGIT ONE
        ("\u06f2", 2),  # EXTENDED ARABIC-INDIC DIGIT TWO
        ("\u0968", 2),  # DEVANAGARI DIGIT TWO
        ("12", 12),
        ("007", 7),
        ("0", 0),
        ("\n3\t", 3),
    ],
)
def test_parse_number_reads_decorated_and_non_ascii_digits(text: str, number: int) -> None:
    """A number with menu decoration or in another script is read as that number."""
    assert parse_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "12abc",
        "1 2",
        "1,2",
        "1.5",
        "one",
        "-1",
        "+1",
        "1000",
        "#",
        "()",
        "\ufe0f\u20e3",
        "1st",
    ],
)
def test_parse_number_rejects_answers_that_are_not_just_a_number(text: str) -> None:
    """Anything but a lone, at most three-digit number is no number."""
    assert parse_number(text) is None


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


@pytest.mark.parametrize(
    ("text", "payload", "chosen"),
    [
        # By number: the option's position, from 1.
        ("1", None, 0),
        ("2.", None, 1),
        ("(3)", None, 2),
        ("3\ufe0f\u20e3", None, 2),
        ("\uff12", None, 1),
        ("\u0663", None, 2),
        # Out of range is no match, never clamped to the first or last option.
        ("0", None, None),
        ("4", None, None),
        ("99", None, None),
        # Not just a number: no match by number, and no label is a number.
        ("12abc", None, None),
        ("1 2", None, None),
        ("", None, None),
        ("   ", None, None),
        # By label or keyword, ignoring case, accents, edge punctuation, repeated spaces.
        ("Confirm", None, 0),
        ("CONFIRM!", None, 0),
        ("confirm.", None, 0),
        ("réschedule", None, 1),
        ("RESCHEDULE", None, 1),
        ("Another day", None, 1),
        ("another    day!", None, 1),
        ("yes", None, 0),
        ("Ok 👍", None, 0),
        ("no", None, 2),
        # Every language's label counts.
        ("cancel", None, 2),
        ("CANCELAR", None, 2),
        # A word inside a longer answer is not a match.
        ("yes please", None, None),
        ("maybe", None, None),
        ("?", None, None),
        ("👍", None, None),
    ],
)
def test_match_by_number_label_or_keyword(
    text: str, payload: str | None, chosen: int | None
) -> None:
    """A typed answer chooses an option by number, label or keyword, or nothing."""
    assert MENU.match(text, payload) == chosen


@pytest.mark.parametrize(
    ("text", "payload", "chosen"),
    [
        # An explicit payload, and the default FLOW.STATE.NUMBER one.
        ("Confirm", "CONFIRM", 0),
        ("", "menu.ask.2", 1),
        ("", "menu.ask.3", 2),
        # The payload wins over the text: a button of option 2 with text "1" is option 2.
        ("1", "menu.ask.2", 1),
        ("Cancel", "CONFIRM", 0),
        # A payload is exact: no folding.
        ("", "confirm", None),
        # An unknown payload falls back to the text.
        ("1", "OLD-PAYLOAD", 0),
        ("Reschedule", "menu.ask.9", 1),
        ("nothing", "OLD-PAYLOAD", None),
        ("", "OLD-PAYLOAD", None),
    ],
)
def test_payload_takes_precedence_over_text(text: str, payload: str, chosen: int | None) -> None:
    """A known payload decides alone; an unknown one falls back to the text."""
    assert MENU.match(text, payload) == chosen


def test_text_is_never_read_as_a_payload() -> None:
    """Text that looks like a payload is only text: numbers, labels and keywords decide."""
    assert MENU.match("CONFIRM") == 0
    assert MENU.match("menu.ask.2") is None


EMOJI = _index(
    [{"label": "👍", "go": "ask"}, {"label": "👎", "go": "ask"}, {"label": "Later", "go": "ask"}]
)


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        ("👍", 0),
        (" 👎 ", 1),
        ("👎!", 1),
        ("👍\ufe0f", 0),
        ("?", None),
        ("...", None),
        ("👌", None),
        ("👍👍", None),
        ("2", 1),
    ],
)
def test_all_symbol_labels_are_told_apart(text: str, chosen: int | None) -> None:
    """Labels made only of emoji match exactly themselves; other symbols match none."""
    assert EMOJI.match(text) == chosen


def test_a_blank_label_is_matched_by_no_answer() -> None:
    """A label that folds to nothing is not matched by a blank or all-space answer."""
    index = _index([{"label": " ", "go": "ask"}, {"label": "Stop", "go": "ask"}])
    assert index.match(" ") is None
    assert index.match("\t") is None
    assert index.match("1") == 0
