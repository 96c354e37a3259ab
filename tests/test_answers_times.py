"""Times in answers: time slots."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows.answers.times import _MERIDIEM, _TIME_SUFFIX
from tests.answers_support import accepts, rejects, slot_spec

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
    accepts(slot_spec("time"), text, value)


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
    rejects(slot_spec("time"), text, "not_a_time")
