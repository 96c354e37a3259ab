"""Answers: what a `collect:` step asks for, and how the customer's answer becomes a value.

`SlotSpec` is what an author writes under a state's `collect:` key; `parse_value` turns one
answer into a JSON-serialisable value or a machine-readable error code (`Parsed`);
`describe_error` is the default re-prompt for that code. Everything here is pure: no I/O,
and today's date is a parameter.

Rules shared by every type:
- the answer is trimmed first; a blank answer is `empty`; an answer longer than 4096
  characters (WhatsApp's limit for one text) is `too_long`;
- a number, date or time is a few words: a trimmed answer longer than 64 characters is none
  (`not_a_number`, `not_a_date`, `not_a_time`), and is not read further;
- digits in any script (full-width, Arabic-Indic, ...) count as digits;
- words (numbers, months, weekdays, "tomorrow", "noon") are recognised in English, Spanish,
  Portuguese, French, German and Chinese (numbers in Italian too) whatever `lang` is,
  because customers mix languages, except number words that are everyday words of the
  conversation's language; they are compared ignoring case and accents.

One module per kind of answer, each with its rules and error codes:
- `numbers`: the one table of number words, the readers menus and slots share, and
  integer and number;
- `dates`: date; `times`: time;
- `contacts`: phone and email;
- `choices`: text, choice and regex;
- `media`: image, document, audio, video, location, contact and media (answers that are
  not written: `media_answer`);
- `messages`: the default re-prompts; `spec`: the `collect:` settings; `reading`: the
  limits and folded forms every reader shares; `parsed`: the result and its error codes.
"""

from __future__ import annotations

import datetime as dt
from typing import assert_never

from bot.flows.answers.choices import choice_answer, regex_answer, text_answer
from bot.flows.answers.contacts import email_answer, phone_answer
from bot.flows.answers.dates import date_answer
from bot.flows.answers.media import media_answer
from bot.flows.answers.messages import describe_error
from bot.flows.answers.numbers import integer_answer, number_answer
from bot.flows.answers.parsed import ERRORS, Parsed, bad
from bot.flows.answers.reading import MAX_ANSWER
from bot.flows.answers.spec import MEDIA_TYPES, SlotSpec
from bot.flows.answers.times import time_answer

__all__ = [
    "ERRORS", "MAX_ANSWER", "MEDIA_TYPES", "Parsed", "SlotSpec", "describe_error",
    "media_answer", "parse_value",
]  # fmt: skip


def parse_value(
    spec: SlotSpec, text: str, *, today: dt.date, lang: str = "en", region: str | None = None
) -> Parsed:
    """The value of `text` for `spec`, or why it is not one. Never raises.

    `lang` is the conversation's language: number words are read as menus read them
    (`bot.flows.answers.numbers`), so an everyday word of that language is no number even
    where another language's number is spelt the same ("once" in English). `region` (ISO,
    e.g. "ES") is where a phone number without a country code is read, when the slot has no
    `default_region:`: the region of the customer's number.
    """
    if len(text) > MAX_ANSWER:
        return bad("too_long")
    trimmed = text.strip()
    if not trimmed:
        return bad("empty")
    match spec.type:
        case "text":
            return text_answer(spec, trimmed)
        case "integer":
            return integer_answer(spec, trimmed, lang)
        case "number":
            return number_answer(spec, trimmed, lang)
        case "date":
            return date_answer(spec, trimmed, today)
        case "time":
            return time_answer(trimmed)
        case "phone":
            return phone_answer(spec, trimmed, region)
        case "email":
            return email_answer(trimmed)
        case "choice":
            return choice_answer(spec, trimmed, lang)
        case "regex":
            return regex_answer(spec, trimmed)
        case "image" | "document" | "audio" | "video" | "location" | "contact" | "media":
            return bad("wrong_kind")  # a text: these are answered by messages of their kind
        case _:
            assert_never(spec.type)
