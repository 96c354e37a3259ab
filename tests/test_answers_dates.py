"""Dates in answers: date slots."""

from __future__ import annotations

from typing import Any

import pytest

from tests.answers_support import accepts, parse, rejects, slot_spec


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
    accepts(slot_spec("date"), text, value)


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
    accepts(slot_spec("date"), text, value)


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
    accepts(slot_spec("date"), text, value)
    accepts(slot_spec("date", future=True), text, value)


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
    accepts(slot_spec("date", future=False), text, value)


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
    accepts(slot_spec("date", future=future), text, value)


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
    rejects(slot_spec("date", future=future), text, error)


@pytest.mark.parametrize(("future", "text"), [(True, "today"), (False, "yesterday")])
def test_date_future_constraint_boundaries(future: bool, text: str) -> None:
    """Today satisfies `future: true`; yesterday satisfies `future: false`."""
    assert parse(slot_spec("date", future=future), text).ok


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
    accepts(slot_spec("date", **fields), text, value)


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
    rejects(slot_spec("date", **fields), text, error)
