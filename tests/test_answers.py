"""Answers: the rules every slot type shares (blank, too long, too long to be a number, date or
time), and a parse that never raises on random and mangled answers."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest

from bot.flows.answers import ERRORS, MAX_ANSWER, SlotSpec, parse_value
from tests.answers_support import SPECS, TODAY, parse, rejects, slot_spec

# --- shared rules -----------------------------------------------------------------------

ALL_TYPES = ["text", "integer", "number", "date", "time", "phone", "email", "choice", "regex"]
EXTRA: dict[str, dict[str, Any]] = {
    "choice": {"choices": ["a"]},
    "regex": {"pattern": ".*"},
}


@pytest.mark.parametrize("kind", ALL_TYPES)
@pytest.mark.parametrize("text", ["", " ", "\n\t ", "\u3000"])
def test_blank_answers_are_empty_for_every_type(kind: str, text: str) -> None:
    """A blank answer is `empty`, whatever the type."""
    rejects(slot_spec(kind, **EXTRA.get(kind, {})), text, "empty")


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_answers_over_the_message_limit_are_too_long(kind: str) -> None:
    """An answer longer than one WhatsApp text (4096 characters) is `too_long`."""
    spec = slot_spec(kind, **EXTRA.get(kind, {}))
    rejects(spec, "1" * (MAX_ANSWER + 1), "too_long")


@pytest.mark.parametrize(
    ("kind", "short", "error"),
    [
        ("integer", "seven", "not_a_number"),
        ("number", "siete", "not_a_number"),
        ("date", "tomorrow", "not_a_date"),
        ("time", "noon", "not_a_time"),
    ],
)
def test_numbers_dates_and_times_are_read_from_64_characters_at_most(
    kind: str, short: str, error: str
) -> None:
    """A number, date or time is a few words: an answer of 64 characters is read, one of 65
    (here the same answer with more punctuation after it) is none, unread."""
    spec = slot_spec(kind)
    assert parse(spec, short + "!" * (64 - len(short))).ok
    rejects(spec, short + "!" * (65 - len(short)), error)


# --- robustness -------------------------------------------------------------------------

FRAGMENTS = [
    *"0123456789",
    *" .,:;/-+()'\"#@_h\t\n",
    *"٣３①²½〇十二三年月日号点半下午",
    "\u2212",
    "\u00a0",
    "\ufe0f\u20e3",
    "\ud800",
    "\u0301",
    "\x00",
    "é",
    "ß",
    "00",
    "+86",
    "1,000",
    "3.5",
    "nov",
    "de",
    "monday",
    "lunes",
    "st",
    "er",
    "pm",
    "a.m.",
    "noon",
    "three",
    "dix-sept",
    "today",
    "mañana",
    "Uhr",
    "mailto:",
    "xn--",
    ".com",
    "(0)",
    "tel:",
    "next",
    "AB-",
]


def _fuzz(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["".join(rng.choices(FRAGMENTS, k=rng.randint(0, 12))) for _ in range(count)]
    texts += ["9" * 4300, "1," * 2000, "(" * 4096, "a" * (MAX_ANSWER - 5) + "@b.co", "1" * 31]
    return texts


# Valid answers of every type, randomly edited, to reach the deeper branches of each parser.
SAMPLES = [
    "1,000.50",
    "-3,5",
    "dix-sept",
    "二十五",
    "30/11/2026",
    "2026-11-30",
    "November 30th, 2026",
    "lunes 30 de noviembre",
    "2026年11月30日",
    "next friday",
    "2:30 pm",
    "14h30",
    "下午3点半",
    "+44 (0)20 7946 0958",
    "0086 138-0013-8000",
    "mailto:John.Doe@Example.COM",
    "x@xn--80ak6aa92e.xn--p1ai",
    "Mediano",
    "(3)",
    "AB-123",
]


def _mutations(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        chars = list(rng.choice(SAMPLES))
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(chars))
            edit = rng.choice(("insert", "delete", "replace"))
            if edit != "insert" and at < len(chars):
                del chars[at]
            if edit != "delete":
                chars.insert(at, rng.choice(FRAGMENTS))
        texts.append("".join(chars))
    return texts


FUZZ = _fuzz(seed=20261122, count=3000) + _mutations(seed=11, count=3000)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}")
def test_parse_value_never_raises_and_returns_a_consistent_result(spec: SlotSpec) -> None:
    """On thousands of random and mangled answers, parsing gives a JSON value or a known code."""
    for text in FUZZ:
        result = parse_value(spec, text, today=TODAY)
        if result.ok:
            assert result.error == ""
            assert result.value is not None
            json.dumps(result.value)
        else:
            assert result.value is None
            assert result.error in ERRORS, (text, result)


@pytest.mark.parametrize("today", [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2028, 2, 29)])
@pytest.mark.parametrize("future", [None, True, False])
def test_date_parsing_survives_extreme_todays(today: dt.date, future: bool | None) -> None:
    """Relative words and weekdays at the ends of the calendar give a result, not a crash."""
    spec = slot_spec("date", future=future)
    for text in ["today", "tomorrow", "yesterday", "monday", "29/02", "1/1/99", "31/12"]:
        result = parse_value(spec, text, today=today)
        assert result.ok or result.error in ERRORS
