"""The default re-prompts of slots, in English, Spanish and Portuguese."""

from __future__ import annotations

from typing import Any

import pytest

from bot.flows.answers import ERRORS, SlotSpec, describe_error
from tests.answers_support import SPECS


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


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}")
@pytest.mark.parametrize("lang", ["en", "es", "pt", "zh", ""])
def test_describe_error_has_a_sentence_for_every_code(spec: SlotSpec, lang: str) -> None:
    """Every error code, even an unknown one, yields a non-empty sentence in any language."""
    for error in [*sorted(ERRORS), "unknown"]:
        text = describe_error(error, spec, lang)
        assert text.endswith(".")
        assert len(text) > 10
