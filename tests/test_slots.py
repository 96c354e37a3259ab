"""Slots: a `collect:` step's spec, how an answer becomes a value, and the default re-prompt."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.flows.slots import (
    _MERIDIEM,
    _TIME_SUFFIX,
    ERRORS,
    MAX_INPUT,
    Parsed,
    SlotSpec,
    describe_error,
    parse_value,
)

TODAY = dt.date(2026, 11, 22)  # a Sunday


def _spec(kind: str = "text", **fields: Any) -> SlotSpec:
    return SlotSpec.model_validate({"slot": "answer", "type": kind, **fields})


def _parse(spec: SlotSpec, text: str, today: dt.date = TODAY) -> Parsed:
    return parse_value(spec, text, today=today)


def _accepts(spec: SlotSpec, text: str, value: object) -> None:
    result = _parse(spec, text)
    assert result == Parsed(True, value, ""), (text, result)


def _rejects(spec: SlotSpec, text: str, error: str) -> None:
    result = _parse(spec, text)
    assert result == Parsed(False, None, error), (text, result)


# --- SlotSpec ---------------------------------------------------------------------------


def test_defaults_make_a_text_slot() -> None:
    """A spec with only a slot name collects text in day-month-year order, unconstrained."""
    spec = SlotSpec(slot="name")
    assert (spec.type, spec.min, spec.max, spec.date_order, spec.future) == (
        "text",
        None,
        None,
        "DMY",
        None,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "regex"}, "type regex needs `pattern:`"),
        ({"type": "choice"}, "type choice needs `choices:`"),
        ({"type": "choice", "choices": []}, "`choices:` needs at least one value"),
        ({"type": "regex", "pattern": "(a"}, "pattern `(a` is not a regular expression"),
        ({"type": "regex", "pattern": "[z-a]"}, "invalid character class range: z-a"),
        ({"type": "regex", "pattern": r"(a+)\1"}, "refers back to a group"),
        ({"type": "integer", "min": 5, "max": 1}, "`min:` (5) is greater than `max:` (1)"),
        ({"type": "number", "min": 2.5, "max": 1}, "`min:` (2.5) is greater than `max:` (1)"),
        ({"type": "text", "min": 9, "max": 3}, "`min:` (9) is greater than `max:` (3)"),
        ({"type": "integer", "min": 1.2, "max": 1.8}, "no whole number lies between"),
        ({"type": "text", "min": 1.5}, "`min:` is a length"),
        ({"type": "text", "min": -1}, "`min:` is a length"),
        ({"type": "text", "max": 0}, "`max:` is a length"),
        ({"type": "text", "pattern": "x"}, "`pattern:` is for type regex, not text"),
        ({"type": "text", "choices": ["a"]}, "`choices:` is for type choice, not text"),
        ({"type": "email", "default_region": "86"}, "`default_region:` is for type phone"),
        ({"type": "time", "future": True}, "`future:` is for type date, not time"),
        ({"type": "text", "date_order": "MDY"}, "`date_order:` is for type date"),
        ({"type": "date", "min": 1}, "`min:` is for types text (length), integer and number"),
        ({"type": "phone", "max": 1}, "`max:` is for types text (length), integer and number"),
        ({"type": "phone", "default_region": "abc"}, "is an ISO region code such as US"),
        ({"type": "phone", "default_region": "0"}, "is an ISO region code such as US"),
        ({"type": "phone", "default_region": "1234"}, "is an ISO region code such as US"),
        ({"slot": "1st"}, "slot name `1st` is not an identifier"),
        ({"slot": "my-slot"}, "slot name `my-slot` is not an identifier"),
        ({"slot": ""}, "is not an identifier"),
        (
            {"type": "choice", "choices": ["Yes", {"No": ["yes!"]}]},
            "`yes!` is used by two choices, `Yes` and `No`",
        ),
        ({"type": "choice", "choices": [{"a": [], "b": []}]}, "one mapping `value: [synonym"),
        ({"type": "choice", "choices": [" "]}, "a choice cannot be empty"),
        ({"type": "choice", "choices": [{"A": ["?"]}]}, "has no letters, digits or symbols"),
        ({"type": "bogus"}, "Input should be 'text', 'integer'"),
        ({"type": "number", "min": float("nan")}, "finite number"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_spec_rejects_what_cannot_work_with_a_clear_message(
    fields: dict[str, Any], message: str
) -> None:
    """An impossible or misplaced setting fails validation with a message saying what to fix."""
    with pytest.raises(ValidationError) as caught:
        SlotSpec.model_validate({"slot": "answer", **fields})
    assert message in str(caught.value)


def test_a_bad_pattern_is_reported_at_the_pattern_field() -> None:
    """A regex that does not compile is an error located at `pattern`, so the loader names
    its line."""
    with pytest.raises(ValidationError) as caught:
        _spec("regex", pattern="(?P<value")
    assert [e["loc"] for e in caught.value.errors()] == [("pattern",)]


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        ({"type": "phone", "default_region": "+86"}, ("default_region", "CN")),
        ({"type": "phone", "default_region": 44}, ("default_region", "GB")),
        ({"type": "phone", "default_region": "us"}, ("default_region", "US")),
        ({"type": "choice", "choices": [38, 40]}, ("choices", ["38", "40"])),
        ({"type": "date", "date_order": "YMD", "future": False}, ("date_order", "YMD")),
        ({"type": "number", "min": -1.5, "max": 1.5}, ("min", -1.5)),
        ({"type": "integer", "min": 1, "max": 1}, ("max", 1)),
    ],
)
def test_spec_accepts_and_normalises_valid_settings(
    fields: dict[str, Any], check: tuple[str, object]
) -> None:
    """Valid per-type settings load; a `+` before the region and YAML numbers are tolerated."""
    spec = SlotSpec.model_validate({"slot": "answer", **fields})
    assert getattr(spec, check[0]) == check[1]


def test_spec_is_frozen_and_hashable_without_choices() -> None:
    """A spec cannot be changed after loading and can key a dict."""
    spec = _spec("regex", pattern=r"\d+")
    with pytest.raises(ValidationError):
        spec.pattern = "x"  # type: ignore[misc]
    assert {spec: 1}[_spec("regex", pattern=r"\d+")] == 1


def test_choice_values_lists_the_canonical_values_in_order() -> None:
    """`choice_values` are the values the slot can hold, synonyms left out."""
    spec = _spec("choice", choices=["Small", {"Medium": ["M"]}, "Large"])
    assert spec.choice_values == ("Small", "Medium", "Large")


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
    _rejects(_spec(kind, **EXTRA.get(kind, {})), text, "empty")


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_answers_over_the_message_limit_are_too_long(kind: str) -> None:
    """An answer longer than one WhatsApp text (4096 characters) is `too_long`."""
    spec = _spec(kind, **EXTRA.get(kind, {}))
    _rejects(spec, "1" * (MAX_INPUT + 1), "too_long")


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
    spec = _spec(kind)
    assert _parse(spec, short + "!" * (64 - len(short))).ok
    _rejects(spec, short + "!" * (65 - len(short)), error)


_TIME_SUFFIX_DEFINITION = re.compile(r"\s*(?:uhr|horas|hrs|hr|hs|heures|heure)$")
_MERIDIEM_DEFINITION = re.compile(r"\s*([ap])\.?\s*m\.?$")


@given(st.text(" \t.apmuhrs1", max_size=16))
def test_time_suffixes_are_found_where_their_definitions_find_them(text: str) -> None:
    """The suffix and am/pm patterns that start only where spaces start find the same match
    as their definitions, which also start inside runs of spaces (quadratic on long ones)."""
    assert _TIME_SUFFIX.sub("", text) == _TIME_SUFFIX_DEFINITION.sub("", text)
    found, defined = _MERIDIEM.search(text), _MERIDIEM_DEFINITION.search(text)
    assert (found and (found.span(), found.groups())) == (
        defined and (defined.span(), defined.groups())
    )


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
    _accepts(_spec("text", **fields), text, value)


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
    _rejects(_spec("text", **fields), text, error)


# --- integer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        (" 3 ", 3),
        ("+3", 3),
        ("-3", -3),
        ("\u22123", -3),  # MINUS SIGN
        ("- 3", -3),
        ("3.0", 3),
        ("3,00", 3),
        ("3.", 3),
        ("007", 7),
        ("0", 0),
        ("\uff13", 3),  # FULLWIDTH DIGIT THREE
        ("\u0663", 3),  # ARABIC-INDIC DIGIT THREE
        ("\u06f1\u06f2", 12),  # EXTENDED ARABIC-INDIC 12
        ("1,000", 1000),
        ("1.000", 1000),
        ("1 000", 1000),
        ("1\u00a0000", 1000),  # no-break space
        ("1\u202f000", 1000),  # narrow no-break space (French)
        ("1'000", 1000),
        ("1,000,000", 1000000),
        ("1.000.000", 1000000),
        ("three", 3),
        ("Three!", 3),
        ("tres", 3),
        ("três", 3),
        ("trois", 3),
        ("drei", 3),
        ("三", 3),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("两", 2),
        ("二十五", 25),
        ("dix-sept", 17),
        ("dix sept", 17),
        ("zwölf", 12),
        ("ZWOLF", 12),
        ("dieciséis", 16),
        ("twenty", 20),
        ("fifty", 50),
        ("cien", 100),
    ],
)
def test_integer_accepts_common_ways_to_write_a_whole_number(text: str, value: int) -> None:
    """Signs, any script's digits, thousands separators and number words give an int."""
    _accepts(_spec("integer"), text, value)


NUMBER_WORDS = {
    "en": "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty",
    "es": "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
    "quince dieciséis diecisiete dieciocho diecinueve veinte",
    "pt": "zero um dois três quatro cinco seis sete oito nove dez onze doze treze catorze "
    "quinze dezesseis dezessete dezoito dezenove vinte",
    "fr": "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
    "quinze seize dix-sept dix-huit dix-neuf vingt",
    "de": "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn "
    "vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig",
    "zh": "零 一 二 三 四 五 六 七 八 九 十 十一 十二 十三 十四 十五 十六 十七 十八 十九 二十",
}


@pytest.mark.parametrize("lang", sorted(NUMBER_WORDS))
def test_integer_reads_number_words_from_zero_to_twenty(lang: str) -> None:
    """Every language's words for 0-20 are read as their numbers, whatever `lang` is."""
    spec = _spec("integer")
    words = NUMBER_WORDS[lang].split()
    assert len(words) == 21
    for number, word in enumerate(words):
        assert parse_value(spec, word, today=TODAY, lang="en").value == number, word


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("3.5", "not_a_whole_number"),
        ("3,5", "not_a_whole_number"),
        ("abc", "not_a_number"),
        ("3 people", "not_a_number"),
        ("1,5,3", "not_a_number"),
        ("1,00,000", "not_a_number"),
        ("1 00", "not_a_number"),
        ("1,000.000,5", "not_a_number"),
        ("1e5", "not_a_number"),
        ("0x10", "not_a_number"),
        ("--3", "not_a_number"),
        ("+", "not_a_number"),
        ("½", "not_a_number"),
        ("1" * 31, "not_a_number"),
        ("inf", "not_a_number"),
        ("twenty-one", "not_a_number"),
    ],
)
def test_integer_rejects_what_is_not_a_whole_number(text: str, error: str) -> None:
    """Fractions are `not_a_whole_number`; anything else unreadable is `not_a_number`."""
    _rejects(_spec("integer"), text, error)


@pytest.mark.parametrize(
    ("fields", "text", "result"),
    [
        ({"min": 1, "max": 5}, "1", Parsed(True, 1)),
        ({"min": 1, "max": 5}, "5", Parsed(True, 5)),
        ({"min": 1, "max": 5}, "0", Parsed(False, None, "too_small")),
        ({"min": 1, "max": 5}, "6", Parsed(False, None, "too_large")),
        ({"min": 1, "max": 5}, "six", Parsed(False, None, "too_large")),
        ({"min": 1, "max": 5}, "-1", Parsed(False, None, "too_small")),
        ({"min": 0.5}, "0", Parsed(False, None, "too_small")),
        ({"max": 10}, "1,000", Parsed(False, None, "too_large")),
    ],
)
def test_integer_range_is_inclusive(fields: dict[str, Any], text: str, result: Parsed) -> None:
    """`min` and `max` are inclusive bounds; outside them is `too_small` or `too_large`."""
    assert _parse(_spec("integer", **fields), text) == result


# --- number -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("3.5", 3.5),
        ("3,5", 3.5),
        ("3,25", 3.25),
        ("-0.5", -0.5),
        ("+2.75", 2.75),
        (".5", 0.5),
        (",5", 0.5),
        ("0,500", 0.5),
        ("0.125", 0.125),
        ("3,14159", 3.14159),
        ("1234.567", 1234.567),
        ("1,000", 1000),
        ("1.000", 1000),
        ("12,345", 12345),
        ("1,000.5", 1000.5),
        ("1.000,5", 1000.5),
        ("1 000,25", 1000.25),
        ("1'000.5", 1000.5),
        ("1,234,567.89", 1234567.89),
        ("\uff13\uff0e\uff15", 3.5),  # full-width 3.5
        ("\u0663.\u0665", 3.5),
        ("3.0", 3),
        ("seven", 7),
    ],
)
def test_number_reads_decimals_with_either_separator(text: str, value: float) -> None:
    """A lone "," or "." before 3 digits groups thousands; otherwise it marks decimals."""
    result = _parse(_spec("number"), text)
    assert result.ok, (text, result)
    assert result.value == value
    assert isinstance(result.value, int) == float(value).is_integer()


@pytest.mark.parametrize(
    "text",
    ["abc", "3.5.1", "3,5,1", "1.2.3", "nan", "NaN", "inf", "-inf", "1e3", "3..5", "3,", "."],
)
def test_number_rejects_what_is_not_a_number(text: str) -> None:
    """Malformed numbers, exponents, infinities and NaN are `not_a_number`."""
    _rejects(_spec("number"), text, "not_a_number")


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("0", Parsed(True, 0)),
        ("99.5", Parsed(True, 99.5)),
        ("-0.01", Parsed(False, None, "too_small")),
        ("99.51", Parsed(False, None, "too_large")),
    ],
)
def test_number_range_is_inclusive(text: str, result: Parsed) -> None:
    """Decimal answers are checked against `min` and `max` inclusively."""
    assert _parse(_spec("number", min=0, max=99.5), text) == result


# --- date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2026-11-30", "2026-11-30"),
        ("2026/11/30", "2026-11-30"),
        ("2026.1.5", "2026-01-05"),
        ("30/11/2026", "2026-11-30"),
        ("30.11.2026", "2026-11-30"),
        ("30-11-2026", "2026-11-30"),
        ("1/2/2027", "2027-02-01"),
        ("30/11/26", "2026-11-30"),
        ("1/1/80", "1980-01-01"),
        ("1/1/76", "2076-01-01"),
        ("30/11", "2026-11-30"),
        ("20/11", "2026-11-20"),
        ("30/11.", "2026-11-30"),
        ("\uff13\uff10/\uff11\uff11/\uff12\uff10\uff12\uff16", "2026-11-30"),
        ("30 Nov", "2026-11-30"),
        ("30 nov.", "2026-11-30"),
        ("Nov 30", "2026-11-30"),
        ("November 30", "2026-11-30"),
        ("November 30th, 2026", "2026-11-30"),
        ("1st December 2026", "2026-12-01"),
        ("30 de noviembre", "2026-11-30"),
        ("30 de noviembre de 2026", "2026-11-30"),
        ("1º de dezembro", "2026-12-01"),
        ("30 de novembro de 2026", "2026-11-30"),
        ("1er décembre", "2026-12-01"),
        ("30 novembre 2026", "2026-11-30"),
        ("30. November 2026", "2026-11-30"),
        ("3. März", "2026-03-03"),
        ("15 août", "2026-08-15"),
        ("Monday, 30 November 2026", "2026-11-30"),
        ("lunes 30 de noviembre", "2026-11-30"),
        ("segunda-feira, 30 de novembro", "2026-11-30"),
        ("2026年11月30日", "2026-11-30"),
        ("11月30日", "2026-11-30"),
        ("11月30号", "2026-11-30"),
    ],
)
def test_date_reads_numeric_and_named_month_forms(text: str, value: str) -> None:
    """Numeric (day first by default), ISO, month-name and Chinese dates give ISO dates."""
    _accepts(_spec("date"), text, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("today", "2026-11-22"),
        ("Today!", "2026-11-22"),
        ("hoy", "2026-11-22"),
        ("hoje", "2026-11-22"),
        ("aujourd'hui", "2026-11-22"),
        ("aujourd\u2019hui", "2026-11-22"),
        ("heute", "2026-11-22"),
        ("今天", "2026-11-22"),
        ("tomorrow", "2026-11-23"),
        ("mañana", "2026-11-23"),
        ("manana", "2026-11-23"),
        ("amanhã", "2026-11-23"),
        ("demain", "2026-11-23"),
        ("morgen", "2026-11-23"),
        ("明天", "2026-11-23"),
        ("day after tomorrow", "2026-11-24"),
        ("pasado mañana", "2026-11-24"),
        ("après-demain", "2026-11-24"),
        ("übermorgen", "2026-11-24"),
        ("后天", "2026-11-24"),
        ("yesterday", "2026-11-21"),
        ("ayer", "2026-11-21"),
        ("gestern", "2026-11-21"),
    ],
)
def test_date_reads_relative_words_in_every_language(text: str, value: str) -> None:
    """today/tomorrow/the day after/yesterday, in six languages, count from `today`."""
    _accepts(_spec("date"), text, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("monday", "2026-11-23"),
        ("Mon", "2026-11-23"),
        ("lunes", "2026-11-23"),
        ("segunda", "2026-11-23"),
        ("segunda-feira", "2026-11-23"),
        ("lundi", "2026-11-23"),
        ("Montag", "2026-11-23"),
        ("星期一", "2026-11-23"),
        ("周一", "2026-11-23"),
        ("wednesday", "2026-11-25"),
        ("miércoles", "2026-11-25"),
        ("friday", "2026-11-27"),
        ("next friday", "2026-11-27"),
        ("el viernes", "2026-11-27"),
        ("vendredi prochain", "2026-11-27"),
        ("am Freitag", "2026-11-27"),
        ("saturday", "2026-11-28"),
        ("sábado", "2026-11-28"),
        ("sunday", "2026-11-29"),
        ("domingo", "2026-11-29"),
        ("星期天", "2026-11-29"),
        ("周日", "2026-11-29"),
    ],
)
def test_weekday_names_mean_the_next_such_day_after_today(text: str, value: str) -> None:
    """A weekday is the next one strictly after today: on a Sunday, "sunday" is next week."""
    _accepts(_spec("date"), text, value)
    _accepts(_spec("date", future=True), text, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("saturday", "2026-11-21"),
        ("monday", "2026-11-16"),
        ("sunday", "2026-11-15"),
    ],
)
def test_weekday_names_look_back_when_the_date_must_be_past(text: str, value: str) -> None:
    """With `future: false`, a weekday is the last one strictly before today."""
    _accepts(_spec("date", future=False), text, value)


@pytest.mark.parametrize(
    ("future", "text", "value"),
    [
        (None, "20/11", "2026-11-20"),
        (None, "1/1", "2026-01-01"),
        (True, "20/11", "2027-11-20"),
        (True, "22/11", "2026-11-22"),
        (True, "1 Jan", "2027-01-01"),
        (True, "29/02", "2028-02-29"),
        (False, "30/11", "2025-11-30"),
        (False, "22/11", "2025-11-22"),
        (False, "21/11", "2026-11-21"),
        (False, "29/02", "2024-02-29"),
    ],
)
def test_a_date_without_year_takes_the_year_that_fits(
    future: bool | None, text: str, value: str
) -> None:
    """Without a year: next on or after today (future), last before today (past), else this
    year."""
    _accepts(_spec("date", future=future), text, value)


@pytest.mark.parametrize(
    ("future", "text", "error"),
    [
        (True, "21/11/2026", "in_the_past"),
        (True, "yesterday", "in_the_past"),
        (True, "2020-01-01", "in_the_past"),
        (False, "today", "in_the_future"),
        (False, "22/11/2026", "in_the_future"),
        (False, "tomorrow", "in_the_future"),
        (False, "2030-01-01", "in_the_future"),
    ],
)
def test_date_future_constraint(future: bool, text: str, error: str) -> None:
    """`future: true` refuses dates before today; `future: false` refuses today and later."""
    _rejects(_spec("date", future=future), text, error)


@pytest.mark.parametrize(("future", "text"), [(True, "today"), (False, "yesterday")])
def test_date_future_constraint_boundaries(future: bool, text: str) -> None:
    """Today satisfies `future: true`; yesterday satisfies `future: false`."""
    assert _parse(_spec("date", future=future), text).ok


@pytest.mark.parametrize(
    ("fields", "text", "value"),
    [
        ({"date_order": "MDY"}, "11/30/2026", "2026-11-30"),
        ({"date_order": "MDY"}, "11/30", "2026-11-30"),
        ({"date_order": "MDY"}, "2/1/2027", "2027-02-01"),
        ({"date_order": "MDY"}, "2026-11-30", "2026-11-30"),
        ({"date_order": "YMD"}, "2026/11/30", "2026-11-30"),
        ({"date_order": "YMD"}, "26/11/30", "2026-11-30"),
        ({"date_order": "YMD"}, "11/30", "2026-11-30"),
        ({"date_order": "YMD"}, "30/11/2026", "2026-11-30"),
        ({"date_order": "DMY"}, "2/1/2027", "2027-01-02"),
    ],
)
def test_date_order_decides_day_and_month(fields: dict[str, Any], text: str, value: str) -> None:
    """`date_order` orders day and month; a four-digit year written first is always ISO."""
    _accepts(_spec("date", **fields), text, value)


@pytest.mark.parametrize(
    ("fields", "text", "error"),
    [
        ({}, "31/02/2026", "no_such_date"),
        ({}, "31/02", "no_such_date"),
        ({}, "29/02/2027", "no_such_date"),
        ({}, "29/02", "no_such_date"),
        ({}, "31/04/2026", "no_such_date"),
        ({}, "2026-02-30", "no_such_date"),
        ({}, "31 de abril", "no_such_date"),
        ({}, "0000-01-01", "no_such_date"),
        ({"future": True}, "31/02", "no_such_date"),
        ({}, "32/01/2026", "not_a_date"),
        ({}, "30/13/2026", "not_a_date"),
        ({}, "0/11/2026", "not_a_date"),
        ({}, "11/30/2026", "not_a_date"),
        ({"date_order": "MDY"}, "30/11", "not_a_date"),
        ({}, "30/11/026", "not_a_date"),
        ({}, "30/11-2026", "not_a_date"),
        ({}, "2026/11", "not_a_date"),
        ({}, "Nov 2026", "not_a_date"),
        ({}, "30 Nov 11 Dec", "not_a_date"),
        ({}, "soon", "not_a_date"),
        ({}, "next", "not_a_date"),
        ({}, "30", "not_a_date"),
        ({}, "sunday 30 November 2026", "not_a_date"),
        ({}, "someday", "not_a_date"),
    ],
)
def test_date_rejects_impossible_and_unreadable_dates(
    fields: dict[str, Any], text: str, error: str
) -> None:
    """Real calendar dates only (`no_such_date`); unreadable answers are `not_a_date`."""
    _rejects(_spec("date", **fields), text, error)


# --- time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("14:30", "14:30"),
        ("9:05", "09:05"),
        ("09:05", "09:05"),
        ("0:00", "00:00"),
        ("23:59", "23:59"),
        ("14.30", "14:30"),
        ("14h30", "14:30"),
        ("14h", "14:00"),
        ("14 h 30", "14:30"),
        ("14:30h", "14:30"),
        ("14:30:15", "14:30"),
        ("14", "14:00"),
        ("9", "09:00"),
        ("2pm", "14:00"),
        ("2 pm", "14:00"),
        ("2 PM", "14:00"),
        ("2:30 pm", "14:30"),
        ("2:30pm", "14:30"),
        ("2 p.m.", "14:00"),
        ("9 a. m.", "09:00"),
        ("11am", "11:00"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("12:15 am", "00:15"),
        ("14 Uhr", "14:00"),
        ("14:30 Uhr", "14:30"),
        ("15 horas", "15:00"),
        ("at 9", "09:00"),
        ("a las 9", "09:00"),
        ("às 14h", "14:00"),
        ("\uff11\uff14\uff1a\uff13\uff10", "14:30"),
        ("noon", "12:00"),
        ("Noon.", "12:00"),
        ("midday", "12:00"),
        ("mediodía", "12:00"),
        ("meio-dia", "12:00"),
        ("midi", "12:00"),
        ("Mittag", "12:00"),
        ("中午", "12:00"),
        ("midnight", "00:00"),
        ("medianoche", "00:00"),
        ("meia-noite", "00:00"),
        ("minuit", "00:00"),
        ("Mitternacht", "00:00"),
        ("3点", "03:00"),
        ("下午3点", "15:00"),
        ("下午3点半", "15:30"),
        ("上午9点15分", "09:15"),
        ("晚上8点", "20:00"),
    ],
)
def test_time_reads_24_hour_12_hour_and_words(text: str, value: str) -> None:
    """Clock times in common notations, am/pm and named times give `HH:MM`."""
    _accepts(_spec("time"), text, value)


@pytest.mark.parametrize(
    "text",
    [
        "24:00",
        "25",
        "14:60",
        "14:5",
        "14:30:61",
        "13pm",
        "0am",
        "14:30 pm",
        "1430",
        "2 o'clock",
        "soon",
        "14:30:15:00",
        "pm",
    ],
)
def test_time_rejects_impossible_and_unreadable_times(text: str) -> None:
    """Out-of-range hours and minutes, am/pm on a 24-hour time and prose are `not_a_time`."""
    _rejects(_spec("time"), text, "not_a_time")


# --- phone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "text", "value"),
    [
        (None, "+86 138 0013 8000", "8613800138000"),
        (None, "+1 (202) 555-0143", "12025550143"),
        (None, "+44 (0)20 7946 0958", "442079460958"),
        (None, "0044 20 7946 0958", "442079460958"),
        (None, "+34.612.345.678", "34612345678"),
        (None, "8613800138000", "8613800138000"),
        (
            None,
            "\uff0b\uff18\uff16 \uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10",
            "8613800138000",
        ),
        (None, "tel:+34612345678", "34612345678"),
        ("86", "0138 0013 8000", "8613800138000"),
        ("86", "(010) 1234 5678", "861012345678"),
        ("86", "138 0013 8000", "8613800138000"),
        ("CN", "138 0013 8000", "8613800138000"),
        ("86", "+44 20 7946 0958", "442079460958"),
        ("86", "0044 20 7946 0958", "442079460958"),
        ("44", "07946 095 800", "447946095800"),
        ("US", "(415) 555-2671", "14155552671"),
    ],
)
def test_phone_normalises_to_digits_with_country_code(
    region: str | None, text: str, value: str
) -> None:
    """ "+" or "00" gives the country code; a national number takes `default_region`'s (an
    ISO code, or a calling code for its main region); the value keeps the country code."""
    _accepts(_spec("phone", default_region=region), text, value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("12345", "too_short"),
        ("123456", "too_short"),
        ("+44 123", "too_short"),
        ("+123456789012345", "too_long"),
        ("13800138000", "not_a_phone"),  # national, and no region to read it in
        ("020 7946 0958", "not_a_phone"),
        ("1234567890123456", "too_long"),
        ("+1 234 567 890 123 456", "too_long"),
        ("call me", "not_a_phone"),
        ("138-0013-8000 ext 5", "not_a_phone"),
        ("138+0013", "not_a_phone"),
        ("++86 138 0013 8000", "not_a_phone"),
        ("+0086 138 0013 8000", "not_a_phone"),
        ("000 1234 5678", "not_a_phone"),
        ("+", "not_a_phone"),
        ("()-.", "not_a_phone"),
        ("138/0013/8000", "not_a_phone"),
    ],
)
def test_phone_rejects_wrong_characters_and_lengths(text: str, error: str) -> None:
    """Only digits and phone punctuation, a number libphonenumber knows to be in use, with a
    country code (there is no region to read a national number in)."""
    _rejects(_spec("phone"), text, error)


# --- email ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ana@example.com", "ana@example.com"),
        ("John.Doe@Example.COM", "John.Doe@example.com"),
        ("  x+tag@mail.example.co.uk ", "x+tag@mail.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("a_b-c@sub-domain.example.org", "a_b-c@sub-domain.example.org"),
        ("mailto:ana@example.com", "ana@example.com"),
        ("<ana@example.com>", "ana@example.com"),
        ("josé@correo.es", "josé@correo.es"),
        ("x@MÜNCHEN.de", "x@münchen.de"),
        ("x@xn--80ak6aa92e.xn--p1ai", "x@xn--80ak6aa92e.xn--p1ai"),
        ("x@1.example.com", "x@1.example.com"),
    ],
)
def test_email_accepts_pragmatic_addresses_and_lowercases_the_domain(text: str, value: str) -> None:
    """A local part, one "@" and a dotted domain with a real TLD; the domain is lower-cased."""
    _accepts(_spec("email"), text, value)


@pytest.mark.parametrize(
    "text",
    [
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "ana@@example.com",
        "a@b@example.com",
        "ana @example.com",
        "ana@exa mple.com",
        "ana@example.c",
        "ana@example.123",
        "ana@-example.com",
        "ana@example-.com",
        "ana@exa_mple.com",
        "ana@example..com",
        "ana@.example.com",
        "ana@example.com.",
        ".ana@example.com",
        "ana.@example.com",
        "a..na@example.com",
        "an(a)@example.com",
        "ana\x00@example.com",
        "x" * 65 + "@example.com",
        "ana@" + "a" * 64 + ".com",
    ],
)
def test_email_rejects_malformed_addresses(text: str) -> None:
    """Addresses without exactly one "@", with spaces or with a bad domain are refused."""
    _rejects(_spec("email"), text, "not_an_email")


# --- choice -----------------------------------------------------------------------------

SIZES = ["Small", {"Medium": ["M", "med", "mediano"]}, "Large"]


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
    ],
)
def test_choice_matches_value_synonym_or_position(text: str, value: str) -> None:
    """A choice is chosen by its value or a synonym (case- and accent-free) or its number."""
    _accepts(_spec("choice", choices=SIZES), text, value)


@pytest.mark.parametrize("text", ["0", "4", "huge", "small medium", "sm", "1 2"])
def test_choice_rejects_other_answers(text: str) -> None:
    """Numbers outside the list and unknown words are `not_a_choice`."""
    _rejects(_spec("choice", choices=SIZES), text, "not_a_choice")


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
    spec = _spec("choice", choices=["38", "39", {"40": ["forty"]}])
    assert _parse(spec, text) == result


def test_accents_in_choices_are_ignored_both_ways() -> None:
    """A choice written with accents matches an answer without, and the reverse."""
    spec = _spec("choice", choices=["Sí", "Nao"])
    assert _parse(spec, "si").value == "Sí"
    assert _parse(spec, "NÃO").value == "Nao"


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
    assert _parse(_spec("regex", pattern=pattern), text) == result


# --- describe_error ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error", "lang", "text"),
    [
        (
            {"type": "integer", "min": 1, "max": 5},
            "too_large",
            "en",
            "Please send a whole number between 1 and 5.",
        ),
        (
            {"type": "integer", "min": 0.5},
            "too_small",
            "en",
            "Please send a whole number of at least 1.",
        ),
        (
            {"type": "number", "max": 2.5},
            "too_large",
            "es",
            "Por favor, envía un número de como máximo 2,5.",
        ),
        ({"type": "number"}, "not_a_number", "pt-BR", "Por favor, envie um número."),
        (
            {"type": "text", "min": 3, "max": 50},
            "too_short",
            "en",
            "Please send a reply of 3 to 50 characters.",
        ),
        (
            {"type": "text", "max": 50},
            "too_long",
            "en",
            "Please send a reply of at most 50 characters.",
        ),
        ({"type": "text"}, "empty", "fr", "Please send a reply."),
        ({"type": "date"}, "not_a_date", "en", "Please send a date, for example 30/11."),
        (
            {"type": "date", "date_order": "MDY"},
            "no_such_date",
            "en",
            "That date does not exist. Please send a date, for example 11/30.",
        ),
        (
            {"type": "date", "future": True},
            "in_the_past",
            "en",
            "Please send a date from today on.",
        ),
        (
            {"type": "date", "future": False},
            "in_the_future",
            "es_ES",
            "Por favor, envía una fecha anterior a hoy.",
        ),
        ({"type": "time"}, "not_a_time", "en", "Please send a time, for example 14:30."),
        (
            {"type": "choice", "choices": ["Small", {"Large": ["L"]}]},
            "not_a_choice",
            "en",
            "Please send one of: Small, Large.",
        ),
        (
            {"type": "email"},
            "not_an_email",
            "pt",
            "Por favor, envie um e-mail, por exemplo nome@exemplo.com.",
        ),
        (
            {"type": "regex", "pattern": "x"},
            "no_match",
            "en",
            "Please send a reply in the expected format.",
        ),
    ],
)
def test_describe_error_states_what_to_send(
    fields: dict[str, Any], error: str, lang: str, text: str
) -> None:
    """The default re-prompt says what the slot expects, in en/es/pt (else English)."""
    spec = SlotSpec.model_validate({"slot": "answer", **fields})
    assert describe_error(error, spec, lang) == text


SPECS: list[SlotSpec] = [
    _spec("text"),
    _spec("text", min=2, max=20),
    _spec("integer"),
    _spec("integer", min=1, max=10),
    _spec("number", min=-5.5, max=5.5),
    _spec("date"),
    _spec("date", future=True),
    _spec("date", future=False, date_order="MDY"),
    _spec("date", date_order="YMD"),
    _spec("time"),
    _spec("phone"),
    _spec("phone", default_region="86"),
    _spec("email"),
    _spec("choice", choices=SIZES),
    _spec("choice", choices=["38", "40"]),
    _spec("regex", pattern=r"(?P<value>[A-Z]{2})-\d{3}"),
    _spec("regex", pattern=r"[^@]+@(?P<value>\w+)\.co"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}")
@pytest.mark.parametrize("lang", ["en", "es", "pt", "zh", ""])
def test_describe_error_has_a_sentence_for_every_code(spec: SlotSpec, lang: str) -> None:
    """Every error code, even an unknown one, yields a non-empty sentence in any language."""
    for error in [*sorted(ERRORS), "unknown"]:
        text = describe_error(error, spec, lang)
        assert text.endswith(".")
        assert len(text) > 10


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
    texts += ["9" * 4300, "1," * 2000, "(" * 4096, "a" * (MAX_INPUT - 5) + "@b.co", "1" * 31]
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
    spec = _spec("date", future=future)
    for text in ["today", "tomorrow", "yesterday", "monday", "29/02", "1/1/99", "31/12"]:
        result = parse_value(spec, text, today=today)
        assert result.ok or result.error in ERRORS
