"""Slots: what an author writes under `collect:`, checked and normalised when the flows load."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.flows.answers import SlotSpec
from tests.answers_support import slot_spec


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
        slot_spec("regex", pattern="(?P<value")
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
    spec = slot_spec("regex", pattern=r"\d+")
    with pytest.raises(ValidationError):
        spec.pattern = "x"  # type: ignore[misc]
    assert {spec: 1}[slot_spec("regex", pattern=r"\d+")] == 1


def test_choice_values_lists_the_canonical_values_in_order() -> None:
    """`choice_values` are the values the slot can hold, synonyms left out."""
    spec = slot_spec("choice", choices=["Small", {"Medium": ["M"]}, "Large"])
    assert spec.choice_values == ("Small", "Medium", "Large")
