"""How a customer's answer chooses an option of a numbered menu.

Precedence, first match wins:
1. the payload of a tapped button or list row (exact);
2. the option's number: "1", " 1 ", "1.", "1)", "(1)", "#1", "1️⃣", "①", full-width and
   Arabic-Indic digits;
3. the option's label or one of its keywords, ignoring case, accents, surrounding
   punctuation and repeated spaces.
Anything else is no match, and the state re-prompts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

_KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")
_EDGE_PUNCT = re.compile(r"^[\s\W_]+|[\s\W_]+$")
_SPACES = re.compile(r"\s+")
_VARIATION = "\ufe0e\ufe0f"  # text/emoji presentation selectors
_NUMBER_DECORATION = re.compile(r"^[\s(\[#]+|[\s.)\]:\-]+$")


def normalize_text(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a short answer."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = stripped.casefold()
    core = _EDGE_PUNCT.sub("", folded) or _symbols(folded)
    return _SPACES.sub(" ", core)


def _symbols(text: str) -> str:
    """An answer without letters or digits ("👍!") as its symbols, so that it neither
    matches every other such answer nor is matched by mere punctuation ("?")."""
    kept = (c for c in text if unicodedata.category(c)[0] != "P" and c not in _VARIATION)
    return "".join(kept).strip()


def parse_number(text: str) -> int | None:
    """The menu number a customer typed, or None when the answer is not just a number."""
    s = unicodedata.normalize("NFKC", text.translate(_KEYCAP)).strip()
    s = _NUMBER_DECORATION.sub("", s)
    if not s or len(s) > 3:
        return None
    digits = []
    for c in s:
        d = unicodedata.decimal(c, None)
        if d is None:
            return None
        digits.append(str(d))
    return int("".join(digits))


@dataclass(frozen=True, slots=True)
class OptionIndex:
    """A state's options, indexed once at start-up for matching on the hot path."""

    count: int
    by_payload: Mapping[str, int]
    by_word: Mapping[str, int]

    def match(self, text: str, payload: str | None = None) -> int | None:
        """Index (from 0) of the chosen option, or None."""
        if payload is not None:
            hit = self.by_payload.get(payload)
            if hit is not None:
                return hit
        if text:
            number = parse_number(text)
            if number is not None:
                return number - 1 if 1 <= number <= self.count else None
            return self.by_word.get(normalize_text(text))
        return None
