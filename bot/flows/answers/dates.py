"""Dates in answers: date slots.

The value is "YYYY-MM-DD". A year written first is always year-month-day ("2026-11-30",
"2026/11/30"); otherwise `date_order` orders day and month ("30/11/2026", "30.11.2026",
"30-11-26"; with YMD, a year written last is read as DMY and a date without year as
month/day). Two-digit years are the year within 50 years of today. Month names and their
abbreviations ("30 Nov", "November 30th, 2026", "30 de noviembre", "1er novembre",
"30. November"), optionally after a weekday name that must agree with the date; Chinese
"2026年11月30日" / "11月30号". Without a year: with `future: true` the next such day on or
after today, with `future: false` the last one before today, otherwise this year's.
Relative words: today, tomorrow, the day after tomorrow, yesterday. A weekday name
("monday", "lunes", "next monday", "周一") is the next such day strictly after today
(so "sunday" on a Sunday is a week ahead: customers who mean today say "today"); with
`future: false` it is the last such day strictly before today. Words are recognised in
English, Spanish, Portuguese, French, German and Chinese whatever the conversation's
language.

`not_a_date`, `no_such_date` (31/02, 29/02/2027), `in_the_past` (`future: true`, before
today), `in_the_future` (`future: false`, today or later).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from bot.flows.answers.parsed import Parsed, bad, good
from bot.flows.answers.reading import SHORT_ANSWER, fold, normalize_text, word_key, word_table

if TYPE_CHECKING:
    from bot.flows.answers.spec import SlotSpec

_RELATIVE = word_table(
    {
        -1: "yesterday ayer ontem hier gestern 昨天 昨日",
        0: "today hoy hoje aujourd'hui aujourdhui heute 今天 今日",
        1: "tomorrow mañana amanhã demain morgen 明天 明日",
        2: "day_after_tomorrow the_day_after_tomorrow pasado_mañana depois_de_amanhã "
        "après-demain übermorgen uebermorgen 后天 後天",
    }
)
_HAN_WEEKDAYS = {
    f"{prefix}{day}": n
    for prefix in ("星期", "周", "週", "礼拜", "禮拜")
    for n, days in enumerate(("一", "二", "三", "四", "五", "六", "日天"))
    for day in days
}
_WEEKDAYS = word_table(
    {
        0: "monday mon lunes segunda segunda-feira lundi montag",
        1: "tuesday tue tues martes terça terça-feira mardi dienstag",
        2: "wednesday wed miércoles quarta quarta-feira mercredi mittwoch",
        3: "thursday thu thur thurs jueves quinta quinta-feira jeudi donnerstag",
        4: "friday fri viernes sexta sexta-feira vendredi freitag",
        5: "saturday sat sábado samedi samstag sonnabend",
        6: "sunday sun domingo dimanche sonntag",
    }
) | {word_key(k): n for k, n in _HAN_WEEKDAYS.items()}
# Words around a weekday that do not change which day it is ("next monday", "el lunes").
_WEEKDAY_FILLERS = frozenset(
    word_key(w)
    for w in (
        *("on", "this", "next", "coming"),
        *("el", "este", "próximo", "próxima"),
        *("o", "a", "na", "no", "esta", "este", "próximo", "próxima"),
        *("le", "ce", "prochain"),
        *("am", "diesen", "nächsten", "naechsten", "kommenden"),
    )
)
_MONTHS = word_table(
    {
        1: "january jan enero ene janeiro janvier janv januar jänner",
        2: "february feb febrero fevereiro fev février févr februar",
        3: "march mar marzo março mars märz maerz",
        4: "april apr abril abr avril avr",
        5: "may mayo maio mai",
        6: "june jun junio junho juin juni",
        7: "july jul julio julho juillet juil juli",
        8: "august aug agosto ago août",
        9: "september sep sept septiembre setiembre setembro set septembre",
        10: "october oct octubre outubro out octobre oktober okt",
        11: "november nov noviembre novembro novembre",
        12: "december dec diciembre dic dezembro dez décembre dezember",
    }
)
_DATE_FILLERS = frozenset({"de", "del", "of", "the", "le", "den", "am", "el", "on"})
_DATE_SEPARATORS = re.compile(r"[\s,./\-]+")
_NUMERIC_DATE = re.compile(r"([0-9]{1,4})([/.\-])([0-9]{1,2})(?:\2([0-9]{1,4}))?")
_HAN_DATE = re.compile(r"(?:([0-9]{4})年)?([0-9]{1,2})月([0-9]{1,2})[日号號]?")
_ORDINAL = re.compile(r"([0-9]{1,4})(?:st|nd|rd|th|er|re|eme|ro|o|a|°)?")


class _NoSuchDate(Exception):
    """Day and month are in range but no calendar has them (31/02)."""


def _shift(day: dt.date, days: int) -> dt.date | None:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return None


def _calendar(year: int, month: int, day: int) -> dt.date | None:
    """The date, None when month or day are out of range; _NoSuchDate for 31/02."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _NoSuchDate from None


def _year(text: str, today: dt.date) -> int:
    """A written year; two digits are the year within 50 years of today."""
    year = int(text)
    if len(text) > 2:
        return year
    year += today.year // 100 * 100
    if year > today.year + 50:
        return year - 100
    if year < today.year - 50:
        return year + 100
    return year


def _without_year(spec: SlotSpec, month: int, day: int, today: dt.date) -> dt.date | None:
    """Day and month without a year: the next (future), last (past) or this year's."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if spec.future is None:
        return _calendar(today.year, month, day)
    step = 1 if spec.future else -1
    for offset in range(9):  # 29/02 recurs within 8 years
        try:
            candidate = dt.date(today.year + step * offset, month, day)
        except ValueError:
            continue
        if (candidate >= today) if spec.future else (candidate < today):
            return candidate
    raise _NoSuchDate


def _day_month(spec: SlotSpec, a: int, b: int) -> tuple[int, int]:
    """(day, month) of two numbers written in the spec's order."""
    return (a, b) if spec.date_order == "DMY" else (b, a)


def _weekday(spec: SlotSpec, weekday: int, today: dt.date) -> dt.date | None:
    if spec.future is False:
        return _shift(today, -((today.weekday() - weekday - 1) % 7 + 1))
    return _shift(today, (weekday - today.weekday() - 1) % 7 + 1)


def _numeric_date(spec: SlotSpec, s: str, today: dt.date) -> dt.date | None:
    m = _NUMERIC_DATE.fullmatch(s)
    if m is None:
        return None
    first, second, third = m.group(1), m.group(3), m.group(4)
    if len(first) == 4:
        if third is None or len(third) > 2:
            return None
        return _calendar(int(first), int(second), int(third))
    if len(first) > 2:
        return None
    if third is None:
        day, month = _day_month(spec, int(first), int(second))
        return _without_year(spec, month, day, today)
    if len(third) not in (2, 4):
        return None
    if spec.date_order == "YMD" and len(third) == 2:
        return _calendar(_year(first, today), int(second), int(third))
    day, month = (
        (int(second), int(first)) if spec.date_order == "MDY" else (int(first), int(second))
    )
    return _calendar(_year(third, today), month, day)


def _worded_date(spec: SlotSpec, s: str, today: dt.date) -> dt.date | None:
    """Dates with a month name: "30 Nov", "November 30th, 2026", "sábado 30 de noviembre"."""
    tokens = [t for t in _DATE_SEPARATORS.split(s) if t and t not in _DATE_FILLERS]
    weekday = None
    for size in (2, 1):
        if len(tokens) > size and " ".join(tokens[:size]) in _WEEKDAYS:
            weekday = _WEEKDAYS[" ".join(tokens[:size])]
            tokens = tokens[size:]
            break
    months = [i for i, t in enumerate(tokens) if t in _MONTHS]
    if len(months) != 1 or len(tokens) not in (2, 3):
        return None
    at = months[0]
    month = _MONTHS[tokens[at]]
    numbers = []
    for t in tokens[:at] + tokens[at + 1 :]:
        m = _ORDINAL.fullmatch(t)
        if m is None:
            return None
        numbers.append(m.group(1))
    if at == 2 or len(numbers[0]) > 2:  # the day comes first of the numbers
        return None
    day = int(numbers[0])
    if len(numbers) == 1:
        date = _without_year(spec, month, day, today)
    elif len(numbers[1]) in (2, 4):
        date = _calendar(_year(numbers[1], today), month, day)
    else:
        return None
    if date is not None and weekday is not None and date.weekday() != weekday:
        return None
    return date


def _han_date(spec: SlotSpec, s: str, today: dt.date) -> dt.date | None:
    m = _HAN_DATE.fullmatch(s)
    if m is None:
        return None
    month, day = int(m.group(2)), int(m.group(3))
    if m.group(1) is None:
        return _without_year(spec, month, day, today)
    return _calendar(int(m.group(1)), month, day)


def _find_date(spec: SlotSpec, text: str, today: dt.date) -> dt.date | None:
    if len(text) > SHORT_ANSWER:
        return None
    key = word_key(text)
    if key in _RELATIVE:
        return _shift(today, _RELATIVE[key])
    weekday = _WEEKDAYS.get(" ".join(w for w in key.split() if w not in _WEEKDAY_FILLERS))
    if weekday is not None:
        return _weekday(spec, weekday, today)
    s = normalize_text(fold(text))
    for parse in (_numeric_date, _han_date, _worded_date):
        date = parse(spec, s, today)
        if date is not None:
            return date
    return None


def date_answer(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    """A date slot's value: the date as YYYY-MM-DD, or why the answer is none."""
    try:
        date = _find_date(spec, text, today)
    except _NoSuchDate:
        return bad("no_such_date")
    if date is None:
        return bad("not_a_date")
    if spec.future is True and date < today:
        return bad("in_the_past")
    if spec.future is False and date >= today:
        return bad("in_the_future")
    return good(date.isoformat())
