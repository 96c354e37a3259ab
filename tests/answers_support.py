"""Helpers of the tests of bot.flows.answers: a slot spec, parsing on a fixed today, and
specs of every type."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
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


# The definitions that the linear readings keep: quadratic on long answers, exact on short.
_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$")
_DECORATION = re.compile(r"^[\s(\[#]+|[\s.)\]:\-]+$")
ANSWER_CHARACTERS = (
    " \t\n\u00a0\u3000.,!?¿-_()[]#:👍\ufe0f\u20e3\u0301\u0308éÉaZ1\u0661\u2460\uff11"
)


def folded_by_definition(text: str) -> str:
    """An answer folded as the definition says: accents and case gone, and what stands
    before its first letter or digit and after its last."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    core = (
        _EDGES.sub("", folded)
        or "".join(
            c for c in folded if unicodedata.category(c)[0] != "P" and c not in "\ufe0e\ufe0f"
        ).strip()
    )
    return re.sub(r"\s+", " ", core)


def number_by_definition(text: str) -> int | None:
    """The number an answer of at most three digits is, once its decorations go."""
    s = unicodedata.normalize("NFKC", text.translate({0xFE0F: None, 0x20E3: None})).strip()
    s = _DECORATION.sub("", s)
    digits = [unicodedata.decimal(c, None) for c in s]
    if not s or len(s) > 3 or None in digits:
        return None
    return int("".join(map(str, digits)))
