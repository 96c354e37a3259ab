"""The default re-prompts of slots, in English, Spanish, Portuguese, French, German and
Chinese."""

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
        ({"type": "text"}, "empty", "it", "Please send a reply."),
        ({"type": "text"}, "empty", "fr_CA", "Veuillez envoyer une réponse."),
        (
            {"type": "number", "min": 2.5},
            "too_small",
            "fr",
            "Veuillez envoyer un nombre d'au moins 2,5.",
        ),
        (
            {"type": "integer", "min": 1, "max": 5},
            "too_large",
            "de",
            "Bitte senden Sie eine ganze Zahl zwischen 1 und 5.",
        ),
        (
            {"type": "location"},
            "wrong_kind",
            "de-AT",
            "Bitte senden Sie einen Standort (Anhängen, dann Standort).",
        ),
        (
            {"type": "integer", "min": 1, "max": 5},
            "too_large",
            "zh",
            "请发送一个整数，介于 1 和 5 之间。",
        ),
        (
            {"type": "text", "min": 3, "max": 50},
            "too_short",
            "zh_CN",
            "请发送一条回复，长度为 3 到 50 个字符。",
        ),
        ({"type": "image"}, "wrong_kind", "zh", "请发送一张照片。"),
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
    """The default re-prompt says what the slot expects, in en/es/pt/fr/de/zh (else
    English); a bound comes as a clause of its own in Chinese."""
    spec = SlotSpec.model_validate({"slot": "answer", **fields})
    assert describe_error(error, spec, lang) == text


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}")
@pytest.mark.parametrize("lang", ["en", "es", "pt", "fr", "de", "zh", "it", ""])
def test_describe_error_has_a_sentence_for_every_code(spec: SlotSpec, lang: str) -> None:
    """Every error code, even an unknown one, yields a non-empty sentence in any language."""
    for error in [*sorted(ERRORS), "unknown"]:
        text = describe_error(error, spec, lang)
        assert text.endswith((".", "。"))
        assert len(text) > (6 if lang == "zh" else 10)
