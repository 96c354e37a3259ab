"""Times in answers: time slots.

The value is "HH:MM", 24-hour. "14:30", "14.30", "14h30", "14h", "14:30:15" (seconds
dropped), "2:30 pm", "2pm", "2 p.m.", "9" (a bare hour is 24-hour: 09:00), "14 Uhr", "at 9",
"noon"/"mediodía"/"meio-dia"/"midi"/"Mittag"/"中午", "midnight" and its translations,
"下午3点半". With am/pm the hour must be 1-12. `not_a_time`.
"""

from __future__ import annotations

import re

from bot.flows.answers.parsed import Parsed, bad, good
from bot.flows.answers.reading import SHORT_ANSWER, fold, normalize_text, word_key

_TIME_WORDS = {
    word_key(w.replace("_", " ")): t
    for t, words in (
        ("12:00", "noon midday mediodía meio-dia meio_dia midi mittag 中午 正午"),
        ("00:00", "midnight medianoche meia-noite meia_noite minuit mitternacht 午夜 半夜"),
    )
    for w in words.split()
}
_TIME_PREFIX = re.compile(r"^(?:at|a las|a la|as|um|vers|a)\s+")
# Searched, so each starts only where a run of spaces starts (`(?<!\s)`): started inside the
# run too, `\s*` would rescan it from every position, quadratic in the run's length.
_TIME_SUFFIX = re.compile(r"(?<!\s)\s*(?:uhr|horas|hrs|hr|hs|heures|heure)$")
_MERIDIEM = re.compile(r"(?<!\s)\s*([ap])\.?\s*m\.?$")
_CLOCK = re.compile(r"([0-9]{1,2})(?:[:.h]([0-9]{2})(?::([0-9]{2}))?)?h?")
_HAN_TIME = re.compile(
    r"(上午|早上|中午|下午|晚上)?([0-9]{1,2})[点點时時](?:([0-9]{1,2})分?|(半))?"
)


def _hhmm(hour: int, minute: int) -> Parsed:
    if 0 <= hour <= 23 and 0 <= minute <= 59:
        return good(f"{hour:02d}:{minute:02d}")
    return bad("not_a_time")


def time_answer(text: str) -> Parsed:
    """A time slot's value: the time as HH:MM (24-hour)."""
    if len(text) > SHORT_ANSWER:
        return bad("not_a_time")
    key = word_key(text)
    if key in _TIME_WORDS:
        return good(_TIME_WORDS[key])
    s = normalize_text(fold(text))
    han = _HAN_TIME.fullmatch(s)
    if han is not None:
        hour = int(han.group(2))
        minute = 30 if han.group(4) else int(han.group(3) or 0)
        if han.group(1) in ("下午", "晚上") and 1 <= hour < 12:
            hour += 12
        return _hhmm(hour, minute)
    s = _TIME_SUFFIX.sub("", _TIME_PREFIX.sub("", s))
    meridiem = _MERIDIEM.search(s)
    if meridiem is not None:
        s = s[: meridiem.start()]
    clock = _CLOCK.fullmatch(s.replace(" ", ""))
    if clock is None:
        return bad("not_a_time")
    hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
    if clock.group(3) is not None and int(clock.group(3)) > 59:
        return bad("not_a_time")
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return bad("not_a_time")
        hour = hour % 12 + (12 if meridiem.group(1) == "p" else 0)
    return _hhmm(hour, minute)
