"""How a customer's answer chooses an option of a numbered menu.

Precedence: the rules are tried in this order and the first that chooses an option wins; a
rule that reads the answer but names no option passes it on to the next.
1. payload: the payload of a tapped button or list row, exact (no folding). An unknown payload
   falls back to the text; text is never read as a payload.
2. number: the option's position, from 1, read by `read_number`:
   a. digits: "1", " 1 ", "1.", "1)", "(1)", "#1", "1️⃣", "①", full-width and Arabic-Indic
      digits (`parse_number`);
   b. a short prefix and digits: "option 1", "opción 1", "opção 1", "number 1", "número 1",
      "no. 1", "nº1", "n° 1", "Nr. 1", "第1";
   c. a number word, alone or after such a prefix (`parse_number_word`): a cardinal 1-20 or an
      ordinal 1-10 of `NUMBER_WORDS` ("one", "uno", "um", "une", "eins", "一", "first",
      "primera", "第一", "option two"), in the conversation's language first, then in any.
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
first: no regular expression of this module can backtrack (each scans its text a bounded number
of times), author patterns run on RE2, which never backtracks, and a number is looked for only
in an answer of at most `_MAX_NUMBER_ANSWER` characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from bot.flows.patterns import Pattern, PatternError, compile_pattern

MAX_ANSWER = 4096
"""Characters: the longest answer that chooses an option by number, word or pattern, or is
read as a command or a one-time code (WhatsApp's limit for one text; a Tencent text may be
longer). Folding an answer costs time in proportion to its length, so a longer one is no
match rather than work on every message."""

_KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")
# From the first letter or digit to the last: what is left once the punctuation, symbols and
# spaces at both edges are gone. Linear: `.*` runs to the end once and steps back once. (Its
# predecessor, `^[\s\W_]+|[\s\W_]+$`, tried the second branch from every position: quadratic.)
_CORE = re.compile(r"[^\W_](?:.*[^\W_])?", re.DOTALL)
_SPACES = re.compile(r"\s+")
_VARIATION = "\ufe0e\ufe0f"  # text/emoji presentation selectors
# A number (at most 3 characters) after its opening decorations and before its closing ones.
# Linear: the decorations are possessive (never given back), and the number is tried at 3
# lengths only, each followed by one scan of the closing decorations.
_DECORATED_NUMBER = re.compile(r"[\s(\[#]*+(.{1,3}?)[\s.)\]:\-]*+", re.DOTALL)
# A menu number is at most 3 digits in a few decorations ("( 1 )", "#1.", "1️⃣"): an answer
# longer than this, once trimmed, is not one, and is not read further.
_MAX_NUMBER_ANSWER = 16


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


def parse_number(text: str) -> int | None:
    """The menu number a customer typed, or None when the answer is not just a number."""
    s = text.strip()
    if len(s) > _MAX_NUMBER_ANSWER:
        return None
    number = _DECORATED_NUMBER.fullmatch(unicodedata.normalize("NFKC", s.translate(_KEYCAP)))
    if number is None:
        return None
    digits = []
    for c in number.group(1):
        d = unicodedata.decimal(c, None)
        if d is None:
            return None
        digits.append(str(d))
    return int("".join(digits))


# Number words as written: the cardinals 1-20, then the ordinals 1-10, one group per number,
# "/" between the forms of one number (gender, spelling, region). A hyphenated word is also
# read with a space ("dix-sept", "dix sept"); German ordinals take their endings (erste,
# erster, erstes, ersten, erstem).
_CARDINALS = {
    "en": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty",
    "es": "uno/una/un dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
    "quince dieciséis diecisiete dieciocho diecinueve veinte",
    "pt": "um/uma dois/duas três quatro cinco seis sete oito nove dez onze doze treze "
    "catorze/quatorze quinze dezesseis/dezasseis dezessete/dezassete dezoito dezenove/dezanove "
    "vinte",
    "fr": "un/une deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
    "quinze seize dix-sept dix-huit dix-neuf vingt",
    "de": "eins/ein/eine zwei/zwo drei vier fünf/fuenf sechs sieben acht neun zehn elf "
    "zwölf/zwoelf dreizehn vierzehn fünfzehn/fuenfzehn sechzehn siebzehn achtzehn neunzehn "
    "zwanzig",
    "it": "uno/una/un due tre quattro cinque sei sette otto nove dieci undici dodici tredici "
    "quattordici quindici sedici diciassette diciotto diciannove venti",
    "zh": "一 二/两/兩 三 四 五 六 七 八 九 十 十一 十二 十三 十四 十五 十六 十七 十八 十九 二十",
}
_ORDINALS = {
    "en": "first second third fourth fifth sixth seventh eighth ninth tenth",
    "es": "primero/primera/primer segundo/segunda tercero/tercera/tercer cuarto/cuarta "
    "quinto/quinta sexto/sexta séptimo/séptima/sétimo/sétima octavo/octava "
    "noveno/novena/nono/nona décimo/décima",
    "pt": "primeiro/primeira segundo/segunda terceiro/terceira quarto/quarta quinto/quinta "
    "sexto/sexta sétimo/sétima oitavo/oitava nono/nona décimo/décima",
    "fr": "premier/première deuxième/second/seconde troisième quatrième cinquième sixième "
    "septième huitième neuvième dixième",
    "de": "erste zweite dritte vierte fünfte/fuenfte sechste siebte/siebente achte neunte zehnte",
    "it": "primo/prima secondo/seconda terzo/terza quarto/quarta quinto/quinta sesto/sesta "
    "settimo/settima ottavo/ottava nono/nona decimo/decima",
    "zh": "第一 第二 第三 第四 第五 第六 第七 第八 第九 第十",
}
_ORDINAL_ENDINGS: dict[str, tuple[str, ...]] = {"de": ("", "r", "s", "n", "m")}


def _number_table(lang: str) -> Mapping[str, int]:
    """One language's number words, normalized, each to its number."""
    table: dict[str, int] = {}
    cardinals, ordinals = _CARDINALS[lang].split(), _ORDINALS[lang].split()
    if len(cardinals) != 20 or len(ordinals) != 10:
        raise ValueError(f"{lang}: {len(cardinals)} cardinals, {len(ordinals)} ordinals")
    endings = _ORDINAL_ENDINGS.get(lang, ("",))
    groups: list[tuple[int, str, tuple[str, ...]]] = [
        (n, g, ("",)) for n, g in enumerate(cardinals, 1)
    ]
    groups += [(n, g, endings) for n, g in enumerate(ordinals, 1)]
    for number, group, suffixes in groups:
        for form in group.split("/"):
            for word in (form + suffix for suffix in suffixes):
                for spelling in {word, word.replace("-", " ")}:
                    key = normalize_text(spelling)
                    if table.setdefault(key, number) != number:
                        raise ValueError(f"{lang}: {key!r} is both {table[key]} and {number}")
    return MappingProxyType(table)


NUMBER_WORDS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {lang: _number_table(lang) for lang in _CARDINALS}
)
"""Language -> normalized number word -> number: cardinals 1-20 and ordinals 1-10."""

NOT_NUMBER_WORDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "de": frozenset({"prima"}),  # "great", not the Italian "first"
        "en": frozenset({"once"}),  # not the Spanish 11
        "es": frozenset({"primo", "prima"}),  # "cousin", not the Italian "first"
        "fr": frozenset({"dos", "tres"}),  # "back"; "très" ("very") written without its accent
        "pt": frozenset({"sei", "primo", "prima"}),  # "I know", not the Italian 6; "cousin"
    }
)
"""Language -> normalized everyday words of that language that are another language's number
word: in a conversation in that language they are not read as numbers."""


def _merge(
    words: Mapping[str, Mapping[str, int]], not_numbers: Mapping[str, frozenset[str]]
) -> tuple[Mapping[str, int], Mapping[str, Mapping[str, int]]]:
    """The words that mean one number in every language that has them, and per language its
    own words over those (less its everyday words): the lookups of `parse_number_word`."""
    seen: dict[str, int | None] = {}
    for table in words.values():
        for word, number in table.items():
            seen[word] = number if seen.get(word, number) == number else None
    anywhere = {word: number for word, number in seen.items() if number is not None}
    by_lang: dict[str, Mapping[str, int]] = {}
    for lang in {**words, **not_numbers}:
        skip = not_numbers.get(lang, frozenset())
        others = {word: number for word, number in anywhere.items() if word not in skip}
        by_lang[lang] = {**others, **words.get(lang, {})}
    return anywhere, by_lang


_ANYWHERE, _BY_LANG = _merge(NUMBER_WORDS, NOT_NUMBER_WORDS)


def _numbers_for(
    lang: str,
    by_lang: Mapping[str, Mapping[str, int]] = _BY_LANG,
    anywhere: Mapping[str, int] = _ANYWHERE,
) -> Mapping[str, int]:
    """The number words of a conversation in `lang` ("pt", "pt-BR", "pt_BR", "PT")."""
    table = by_lang.get(lang)
    if table is None:
        table = by_lang.get(lang.replace("_", "-").split("-", 1)[0].casefold(), anywhere)
    return table


# "option 1", "opción uno", "nº1", "第1": a short prefix, then just a number. "no" needs its dot
# ("no 1" may be "no, 1"); "º" and "°" are kept apart from "o", hence NFC and not NFKD here.
_PREFIX = re.compile(
    r"(?:option|opci[oó]n|op[cç][aã]o|opzione|number|n[uú]m[eé]ro|nummer|n[uú]m\.|nro\.?"
    r"|nr\.?|no\.|n\.?[º°]|第|选项|選項)\s*(?P<rest>.+)",
    re.DOTALL,
)
_PREFIX_START = frozenset("on第选選")  # first letters of the prefixes, once normalized
# A prefix and a number, in digits or words ("opzione diciannove"), is a few words: a longer
# answer, once trimmed, is not one, and is not read further.
_MAX_PREFIXED_ANSWER = 32


def _after_prefix(text: str, folded: str) -> str | None:
    """What follows a number prefix at the start of the answer, or None without one."""
    if not folded or folded[0] not in _PREFIX_START:
        return None
    s = text.strip()
    if len(s) > _MAX_PREFIXED_ANSWER:
        return None
    found = _PREFIX.fullmatch(unicodedata.normalize("NFC", s).casefold().strip())
    return found["rest"] if found else None


def _word_number(text: str, folded: str, numbers: Mapping[str, int]) -> int | None:
    number = numbers.get(folded)
    if number is None and (rest := _after_prefix(text, folded)) is not None:
        number = numbers.get(normalize_text(rest))
    return number


def _read_number(text: str, folded: str, numbers: Mapping[str, int]) -> int | None:
    number = parse_number(text)
    if number is None:
        number = numbers.get(folded)
    if number is None and (rest := _after_prefix(text, folded)) is not None:
        number = parse_number(rest)
        if number is None:
            number = numbers.get(normalize_text(rest))
    return number


def parse_number_word(
    text: str, lang: str, *, words: Mapping[str, Mapping[str, int]] = NUMBER_WORDS
) -> int | None:
    """The number an answer spells out in words, or None.

    A word of `words` (by default `NUMBER_WORDS`), compared after `normalize_text`, alone
    ("One!", "uno", "第一") or after a short prefix ("option one", "número uno"). Digits are
    `parse_number`'s. The conversation's language `lang` ("pt", "pt-BR", "pt_BR") is tried
    first, then every language. So a word that means different numbers in two languages means
    the number of the conversation's language, and in a conversation in a third language no
    number at all (`NUMBER_WORDS` has no such word today). A word of `NOT_NUMBER_WORDS` for the
    conversation's language is an everyday word there, not another language's number: "prima"
    is 1 in an Italian or English conversation, but "great" in a German one. An unknown language
    tries every language. An answer longer than `MAX_ANSWER` characters is no number.
    """
    if len(text) > MAX_ANSWER:
        return None
    if words is NUMBER_WORDS:
        numbers = _numbers_for(lang)
    else:
        anywhere, by_lang = _merge(words, NOT_NUMBER_WORDS)
        numbers = _numbers_for(lang, by_lang, anywhere)
    return _word_number(text, normalize_text(text), numbers)


def read_number(text: str, lang: str = "en") -> int | None:
    """The menu number an answer gives, by rule 2 of the module's precedence: bare digits
    (`parse_number`), a prefix and digits ("option 1", "nº1"), or a number word, alone or
    after a prefix (`parse_number_word`); None when the answer is not just a number, or is
    longer than `MAX_ANSWER` characters."""
    if len(text) > MAX_ANSWER:
        return None
    return _read_number(text, normalize_text(text), _numbers_for(lang))


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
        number = _read_number(text, folded, _numbers_for(self.flow_lang if lang is None else lang))
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


def _number_readings(word: str, folded: str) -> dict[int, list[str]]:
    """Every number a word reads as (rule 2), each with the languages where it does."""
    readings: dict[int, list[str]] = {}
    rest = _after_prefix(word, folded)
    digits = parse_number(word)
    if digits is None and rest is not None:
        digits = parse_number(rest)
    if digits is not None:
        readings[digits] = []
    candidates = (folded,) if rest is None else (folded, normalize_text(rest))
    for lang, table in NUMBER_WORDS.items():
        for candidate in candidates:
            number = table.get(candidate)
            if number is not None and lang not in (langs := readings.setdefault(number, [])):
                langs.append(lang)
    return readings


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
            for number, langs in _number_readings(word, folded).items():
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
