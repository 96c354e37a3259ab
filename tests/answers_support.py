"""Helpers of the tests of bot.flows.answers: a slot spec, parsing on a fixed today, and
specs of every type."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.flows.answers import Parsed, SlotSpec, parse_value

TODAY = dt.date(2026, 11, 22)  # a Sunday


def slot_spec(kind: str = "text", **fields: Any) -> SlotSpec:
    """A spec of the slot `answer` of type `kind`."""
    return SlotSpec.model_validate({"slot": "answer", "type": kind, **fields})


def parse(spec: SlotSpec, text: str, today: dt.date = TODAY) -> Parsed:
    """`text` read for `spec`, today being TODAY unless given."""
    return parse_value(spec, text, today=today)


def accepts(spec: SlotSpec, text: str, value: object) -> None:
    """`text` is read as `value`."""
    result = parse(spec, text)
    assert result == Parsed(True, value, ""), (text, result)


def rejects(spec: SlotSpec, text: str, error: str) -> None:
    """`text` is no value, for the reason `error`."""
    result = parse(spec, text)
    assert result == Parsed(False, None, error), (text, result)


SIZES = ["Small", {"Medium": ["M", "med", "mediano"]}, "Large"]
SPECS: list[SlotSpec] = [
    slot_spec("text"),
    slot_spec("text", min=2, max=20),
    slot_spec("integer"),
    slot_spec("integer", min=1, max=10),
    slot_spec("number", min=-5.5, max=5.5),
    slot_spec("date"),
    slot_spec("date", future=True),
    slot_spec("date", future=False, date_order="MDY"),
    slot_spec("date", date_order="YMD"),
    slot_spec("time"),
    slot_spec("phone"),
    slot_spec("phone", default_region="86"),
    slot_spec("email"),
    slot_spec("choice", choices=SIZES),
    slot_spec("choice", choices=["38", "40"]),
    slot_spec("regex", pattern=r"(?P<value>[A-Z]{2})-\d{3}"),
    slot_spec("regex", pattern=r"[^@]+@(?P<value>\w+)\.co"),
]
