"""Answers taken as written: text, choice and regex slots.

- text: the trimmed answer; `min`/`max` bound its length in characters (code points).
  `too_short`, `too_long`.
- choice: the canonical choice whose value or synonym equals the answer (ignoring case,
  accents, surrounding punctuation), else the choice at the answer's number, from 1, read
  as a menu reads it ("2", "(2)", "option 2", "two", "second"; `read_number`), unless some
  choice or synonym is itself a number in digits ("38", "40"): then only the text chooses.
  `not_a_choice`.
- regex: the trimmed answer as typed, when `pattern` matches all of it; the group named
  `value` instead, when the pattern has one and it took part. `no_match`. The pattern is RE2
  syntax (`bot.flows.patterns`), compiled once when the spec loads, case-sensitive; matching
  takes time linear in the answer whatever the pattern (`(a+)+b` included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.flows.answers.numbers import read_number
from bot.flows.answers.parsed import Parsed, bad, good
from bot.flows.answers.reading import normalize_text

if TYPE_CHECKING:
    from bot.flows.answers.spec import SlotSpec


def text_answer(spec: SlotSpec, text: str) -> Parsed:
    """A text slot's value: the trimmed answer, when its length is within bounds."""
    if spec.min is not None and len(text) < spec.min:
        return bad("too_short")
    if spec.max is not None and len(text) > spec.max:
        return bad("too_long")
    return good(text)


def regex_answer(spec: SlotSpec, text: str) -> Parsed:
    """A regex slot's value: the answer, or its group `value`, when the pattern matches."""
    regex = spec.compiled_pattern
    match = regex.fullmatch(text) if regex is not None else None
    if match is None:
        return bad("no_match")
    value = match.named.get("value")
    return good(text if value is None else value)


def choice_answer(spec: SlotSpec, text: str, lang: str = "en") -> Parsed:
    """A choice slot's value: the value the answer's words or number choose, number words
    read as in a conversation in `lang`."""
    hit = spec.choice_words.get(normalize_text(text))
    if hit is not None:
        return good(hit)
    if spec.chooses_by_number:
        values = spec.choice_values
        number = read_number(text, lang)
        if number is not None and 1 <= number <= len(values):
            return good(values[number - 1])
    return bad("not_a_choice")
