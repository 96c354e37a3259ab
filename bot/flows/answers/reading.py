"""What every reader of answers shares, menus and slots alike: the limits on an answer's
length, and the folded forms in which answers and words are compared.

- An answer longer than `MAX_ANSWER` characters (WhatsApp's limit for one text) chooses no
  option by number, word or pattern, and is `too_long` for every slot type.
- A number, a date or a time is a few words: a trimmed answer longer than `SHORT_ANSWER`
  characters is none, and is not read further.
- `normalize_text` is how an answer meets an option's labels, keywords and synonyms, and a
  choice slot's values: case-, accent- and edge-punctuation-free, spaces collapsed.
- `fold` makes digits of any script ASCII, and typographic dashes and apostrophes plain;
  `word_key` is how words (numbers, months, weekdays, "tomorrow", "noon") are compared:
  folded and normalized, hyphens as spaces.

Cost: each takes time linear in the text; no regular expression here can backtrack.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

MAX_ANSWER = 4096
"""Characters: the longest answer that chooses an option by number, word or pattern, is read
for a slot, or is read as a command or a one-time code (WhatsApp's limit for one text; a
Tencent text may be longer). Folding an answer costs time in proportion to its length, so a
longer one is no match rather than work on every message."""

# Characters of a trimmed answer that can be a number, a date or a time: "sábado, 30 de
# noviembre de 2026" is 31, thirty digits grouped by three with a sign 41.
SHORT_ANSWER = 64

# From the first letter or digit to the last: what is left once the punctuation, symbols and
# spaces at both edges are gone. Linear: `.*` runs to the end once and steps back once. (Its
# predecessor, `^[\s\W_]+|[\s\W_]+$`, tried the second branch from every position: quadratic.)
_CORE = re.compile(r"[^\W_](?:.*[^\W_])?", re.DOTALL)
_SPACES = re.compile(r"\s+")
_VARIATION = "\ufe0e\ufe0f"  # text/emoji presentation selectors


def normalize_text(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a short answer."""
    if text.isascii():  # nothing to decompose, no accents to drop
        folded = text.casefold()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    core = _CORE.search(folded)
    return _SPACES.sub(" ", core.group() if core is not None else _symbols(folded))


def _symbols(text: str) -> str:
    """An answer without letters or digits ("👍!") as its symbols, so that it neither
    matches every other such answer nor is matched by mere punctuation ("?")."""
    kept = (c for c in text if unicodedata.category(c)[0] != "P" and c not in _VARIATION)
    return "".join(kept).strip()


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
