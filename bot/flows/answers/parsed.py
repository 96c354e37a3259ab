"""What reading one answer gives: a value to store in the slot, or the code of why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERRORS = frozenset(
    {
        "empty",
        "too_short",
        "too_long",
        "not_a_number",
        "not_a_whole_number",
        "too_small",
        "too_large",
        "not_a_date",
        "no_such_date",
        "in_the_past",
        "in_the_future",
        "not_a_time",
        "not_a_phone",
        "not_an_email",
        "not_a_choice",
        "no_match",
        "not_text",  # a photo, a file, a location... where a written answer is asked for
        "wrong_kind",  # a message of another kind than the photo, file... asked for
    }
)


@dataclass(frozen=True, slots=True)
class Parsed:
    """One answer, parsed: a value (`ok`), or the code of why not (`error`)."""

    ok: bool
    value: str | int | float | dict[str, Any] | None = None
    error: str = ""


def good(value: str | int | float | dict[str, Any]) -> Parsed:
    """A value, JSON-serialisable, to store in the slot."""
    return Parsed(True, value)


def bad(error: str) -> Parsed:
    """No value: `error` (one of ERRORS) says why."""
    return Parsed(False, None, error)
