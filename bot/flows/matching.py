"""How a customer's answer chooses an option of a numbered menu.

Precedence: the rules are tried in this order and the first that chooses an option wins; a
rule that reads the answer but names no option passes it on to the next.
1. payload: the payload of a tapped button or list row, exact (no folding). An unknown payload
   falls back to the text; text is never read as a payload.
2. number: the option's position, from 1, read by `read_number` of `bot.flows.answers.numbers`
   (which integer and number slots share the words of):
   a. digits: "1", " 1 ", "1.", "1)", "(1)", "#1", "1️⃣", "①", full-width and Arabic-Indic
      digits (`parse_number`);
   b. a short prefix and digits: "option 1", "opción 1", "opção 1", "number 1", "número 1",
      "no. 1", "nº1", "n° 1", "Nr. 1", "第1";
   c. a number word, alone or after such a prefix (`parse_number_word`): a word of the one
      table of number words, a cardinal 0-20 or round ten to 100 or an ordinal 1-10 ("one",
      "uno", "um", "une", "eins", "一", "first", "primera", "第一", "option two"), or a
      Chinese numeral to 99, in the conversation's language first, then in any.
   The answer must be just the number: "1 - confirm", "1. confirm", "option 1 please",
   "I choose 1", "no 1" ("no" is a prefix only with its dot), "1st" and "the first" are not
   numbers. A number that names no option ("0", "4" or "four" in a menu of 3) is never
   clamped to the first or last option; the next rules still apply.
3. word: one of the option's labels, keywords or synonyms, in any language, ignoring case,
   accents, surrounding punctuation and repeated spaces; the whole answer must equal the word.
   A word of two options belongs to the first.
4. pattern: one of the option's regular expressions (RE2 syntax, `bot.flows.patterns`), fully
   matched case-insensitively against the answer with surrounding whitespace trimmed. Options
   are tried in order, so an answer that matches patterns of two options chooses the first.
Anything else, a blank answer included, is no match, and the state re-prompts. So is an answer
longer than `MAX_ANSWER` characters: only its payload can choose.

`OptionIndex.build` does all the folding and regex compiling once, at start-up; `match` runs on
every message and only looks things up. `find_overlaps` tells a linter where these rules make
one option's word or pattern choose, or lose to, another option.

Cost: every step here takes time linear in the answer's length, and the answer is bounded
first: author patterns run on RE2, which never backtracks, and the folding and the reading of
numbers (`bot.flows.answers`) are linear, a number looked for only in a short answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.errors import PatternError
from bot.flows.answers.numbers import number_readings, read_number
from bot.flows.answers.reading import MAX_ANSWER, normalize_text
from bot.flows.patterns import Pattern, compile_pattern


def flatten_words(
    *groups: str | Sequence[str] | Mapping[str, str | Sequence[str]],
) -> tuple[str, ...]:
    """The words of labels, keywords and synonyms, in order, each once. A group is one word, a
    list of words, or words per language ({"en": ["yes", "yep"], "es": "sí"}); every language's
    words choose the option in every conversation, as labels do."""
    words: dict[str, None] = {}
    for group in groups:
        values = group.values() if isinstance(group, Mapping) else (group,)
        for value in values:
            for word in (value,) if isinstance(value, str) else value:
                words.setdefault(word, None)
    return tuple(words)


@dataclass(frozen=True, slots=True)
class OptionWords:
    """What chooses one option besides its position: its payload, its words (labels, keywords
    and synonyms in every language, as written) and its regular expressions."""

    payload: str
    words: Sequence[str] = ()
    patterns: Sequence[str] = ()


def _compile(index: int, pattern: str) -> Pattern:
    try:
        return compile_pattern(pattern, ignore_case=True)
    except PatternError as e:
        raise PatternError(f"option {index + 1}: {e}") from None


@dataclass(frozen=True, slots=True)
class OptionIndex:
    """A state's options, indexed once at start-up for matching on the hot path."""

    count: int
    by_payload: Mapping[str, int]
    by_word: Mapping[str, int]
    patterns: tuple[tuple[int, Pattern], ...] = ()
    flow_lang: str = "en"

    @classmethod
    def build(cls, options: Sequence[OptionWords], *, flow_lang: str = "en") -> OptionIndex:
        """Index options in order: words normalized and patterns compiled (RE2,
        case-insensitive) once. A payload or word of two options belongs to the first; the
        loader reports such conflicts. `flow_lang` is the language of number words when
        `match` is given none. Raises PatternError (a ValueError) naming the option for a
        pattern that RE2 cannot run."""
        by_payload: dict[str, int] = {}
        by_word: dict[str, int] = {}
        patterns: list[tuple[int, Pattern]] = []
        for i, option in enumerate(options):
            by_payload.setdefault(option.payload, i)
            for word in option.words:
                if folded := normalize_text(word):  # a blank word matches no answer
                    by_word.setdefault(folded, i)
            patterns.extend((i, _compile(i, p)) for p in option.patterns)
        return cls(len(options), by_payload, by_word, tuple(patterns), flow_lang)

    def match(self, text: str, payload: str | None = None, lang: str | None = None) -> int | None:
        """Index (from 0) of the chosen option, or None. `lang` is the conversation's language,
        for number words; without it, the flow's (`flow_lang`, "en" unless built with one).
        A text longer than `MAX_ANSWER` characters chooses nothing (its payload still does)."""
        if payload is not None:
            hit = self.by_payload.get(payload)
            if hit is not None:
                return hit
        if not text or len(text) > MAX_ANSWER:
            return None
        folded = normalize_text(text)
        number = read_number(text, self.flow_lang if lang is None else lang, folded=folded)
        if number is not None and 1 <= number <= self.count:
            return number - 1
        hit = self.by_word.get(folded)
        if hit is not None or not self.patterns:
            return hit
        answer = text.strip()
        if answer:
            for i, pattern in self.patterns:
                if pattern.fullmatch(answer) is not None:
                    return i
        return None


def find_overlaps(options: Sequence[OptionWords]) -> list[tuple[int, int, str]]:
    """Where one option's word or pattern also chooses another option, for a linter.

    Each overlap is (i, j, why): option i (from 0) has the word or pattern to look at, j is the
    other option, and `why` says what collides and which rule wins, numbering options from 1:
    - a word of i is a menu number, in digits or a number word of any language, that chooses j;
    - a word of i is, once normalized, also a word of an earlier option j, which keeps it;
    - a word of i, as written or normalized, fully matches a pattern of j (the word wins);
    - a pattern of i fully matches the digits of j's number (the number wins).
    Overlaps of two patterns are not looked for: the first option's pattern wins. The result is
    in option order. Patterns are compiled as `OptionIndex.build` does: PatternError (a
    ValueError) for a pattern that RE2 cannot run.
    """
    compiled = [
        [(source, _compile(i, source)) for source in option.patterns]
        for i, option in enumerate(options)
    ]
    owners: dict[str, tuple[int, str]] = {}
    found: list[tuple[int, int, str]] = []
    for i, option in enumerate(options):
        for word in dict.fromkeys(option.words):
            folded = normalize_text(word)
            if not folded:
                continue
            for number, langs in number_readings(word).items():
                if 1 <= number <= len(options) and number - 1 != i:
                    where = f" in {', '.join(langs)}" if langs else ""
                    found.append(
                        (
                            i,
                            number - 1,
                            f"option {i + 1}'s word '{word}' is also the number {number}{where}, "
                            f"which chooses option {number}",
                        )
                    )
            owner, first_word = owners.setdefault(folded, (i, word))
            if owner != i:
                found.append(
                    (
                        i,
                        owner,
                        f"option {i + 1}'s word '{word}' is also option {owner + 1}'s word "
                        f"'{first_word}', which chooses option {owner + 1}",
                    )
                )
            for j, patterns in enumerate(compiled):
                for source, pattern in patterns:
                    if j != i and (
                        pattern.fullmatch(word.strip()) is not None
                        or pattern.fullmatch(folded) is not None
                    ):
                        found.append(
                            (
                                i,
                                j,
                                f"option {i + 1}'s word '{word}' also matches option {j + 1}'s "
                                f"pattern '{source}'; the word wins",
                            )
                        )
        for source, pattern in compiled[i]:
            for j in range(len(options)):
                if j != i and pattern.fullmatch(str(j + 1)) is not None:
                    found.append(
                        (
                            i,
                            j,
                            f"option {i + 1}'s pattern '{source}' also matches '{j + 1}', "
                            f"the number of option {j + 1}; the number wins",
                        )
                    )
    return found
