"""What every reader of answers shares: the limits on an answer's length, and the folded
forms in which answers and words are compared.

- An answer longer than `MAX_INPUT` characters (WhatsApp's limit for one text) is
  `too_long`, whatever the slot's type.
- A number, a date or a time is a few words: a trimmed answer longer than `SHORT_ANSWER`
  characters is none, and is not read further.
- `fold` makes digits of any script ASCII, and typographic dashes and apostrophes plain;
  `word_key` is how words (numbers, months, weekdays, "tomorrow", "noon") are compared:
  folded, case- and accent-free, hyphens as spaces.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from bot.flows.matching import MAX_ANSWER, normalize_text

MAX_INPUT = MAX_ANSWER
# Characters of a trimmed answer that can be a number, a date or a time: "sábado, 30 de
# noviembre de 2026" is 31, thirty digits grouped by three with a sign 41.
SHORT_ANSWER = 64

_PUNCT = str.maketrans(
    {
        "\u2212": "-",  # MINUS SIGN
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
    }
)


def fold(text: str) -> str:
    """NFKC, every decimal digit as ASCII, typographic dashes and apostrophes as ASCII."""
    s = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    if s.isascii():
        return s
    out = []
    for c in s:
        d = unicodedata.decimal(c, None)
        out.append(str(d) if d is not None else c)
    return "".join(out)


def word_key(text: str) -> str:
    """How words are compared: folded, case- and accent-free, hyphens as spaces."""
    return " ".join(normalize_text(fold(text)).replace("-", " ").split())


def word_table(groups: Mapping[int, str]) -> dict[str, int]:
    """{value: "word word ..."} -> {word_key(word): value}; words with spaces use `_`."""
    return {word_key(w.replace("_", " ")): n for n, words in groups.items() for w in words.split()}
