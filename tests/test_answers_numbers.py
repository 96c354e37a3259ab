"""Numbers in answers: integer and number slots."""

from __future__ import annotations

from typing import Any

import pytest

from bot.flows.answers import Parsed, parse_value
from tests.answers_support import TODAY, accepts, parse, rejects, slot_spec

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
    accepts(slot_spec("integer"), text, value)


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
    spec = slot_spec("integer")
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
    rejects(slot_spec("integer"), text, error)


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
    assert parse(slot_spec("integer", **fields), text) == result


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
    result = parse(slot_spec("number"), text)
    assert result.ok, (text, result)
    assert result.value == value
    assert isinstance(result.value, int) == float(value).is_integer()


@pytest.mark.parametrize(
    "text",
    ["abc", "3.5.1", "3,5,1", "1.2.3", "nan", "NaN", "inf", "-inf", "1e3", "3..5", "3,", "."],
)
def test_number_rejects_what_is_not_a_number(text: str) -> None:
    """Malformed numbers, exponents, infinities and NaN are `not_a_number`."""
    rejects(slot_spec("number"), text, "not_a_number")


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
    assert parse(slot_spec("number", min=0, max=99.5), text) == result
