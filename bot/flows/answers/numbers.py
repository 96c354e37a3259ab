"""Numbers in answers: the one table of number words, and the readers that menus
(`bot.flows.matching`) and integer, number and choice slots share.

The table, per language (en, es, pt, fr, de, it, zh): the cardinals 0-20 and the round tens
to 100 (`_CARDINALS`, `_TENS`) and the ordinals 1-10 (`_ORDINALS`), "/" between the forms of
one number (gender, spelling, region) and "_" for a space. In one language each word means
one number. Words are compared as `number_key` folds them: case, accents and edge
punctuation ignored, a hyphen as a space ("dix-sept", "dix sept"); German ordinals take
their endings (erste, erster, erstes, ersten, erstem). Chinese numerals are read to 99
(三, 十五, 二十五) besides the table's words.

A word of one language is read in every conversation, because customers mix languages,
with two exceptions:
- a word that means different numbers in two languages means its conversation's
  language's number, and none in a third language (no word of the table is one today);
- `NOT_NUMBER_WORDS`: an everyday word of the conversation's language that is another
  language's number word is not a number there: "once" is 11 in Spanish, not in English.

The readers, the same words for each:
- `read_number`, a position (rule 2 of `bot.flows.matching`; a choice slot's values by
  number): digits of any script with a menu's decorations (`parse_number`: "1.", "(1)",
  "1️⃣", "①"), after a short prefix ("option 1", "nº 1", "第1") or not, or a number word,
  cardinal or ordinal ("two", "second", "option two").
- `read_quantity`, a value (integer and number slots): digits with a sign, thousands
  separators and decimals, or a cardinal word. An ordinal is a position, not an amount: "how
  many?" is not answered "second" ("segundo" is also a second of time; "quarta", "quinta"
  and "sexta" are Portuguese weekdays), so ordinals are no quantity.
So a word reads the same number in a menu and in a slot, in any conversation.

Slot types (the value stored, then the error codes):
- integer: "3", "+3", "-3", "3.0" (a whole value written with decimals is accepted),
  "1,000", "1.000", "1 000", "1'000"; a cardinal word ("three", "tres", "três", "trois",
  "drei", "三", "fifty"); Chinese numerals to 99 ("二十五"). An int. `not_a_number`,
  `not_a_whole_number` ("3.5"), `too_small`, `too_large`.
- number: the same, plus decimals. Of "," and ".", the one written last is the decimal
  separator when both appear ("1.000,5", "1,000.5"). A lone "," or "." followed by exactly
  three digits groups thousands ("1,000", "1.000" -> 1000) unless the part before it is 0
  or more than three digits ("0,500" -> 0.5); otherwise it is the decimal separator ("3,5",
  "3.25"). Repeated separators must group by three. No exponents, no "inf"/"nan", at most
  30 digits. An int when the value is whole, else a float. `not_a_number`, `too_small`,
  `too_large`.

Cost: every reader takes time linear in the answer, and looks for a number only in a short
answer (16 characters for a menu's digits, 32 after a prefix, 64 for a quantity).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from bot.flows.answers.parsed import Parsed, bad, good
from bot.flows.answers.reading import MAX_ANSWER, SHORT_ANSWER, fold, normalize_text

if TYPE_CHECKING:
    from bot.flows.answers.spec import SlotSpec

# -- the table ------------------------------------------------------------------------------

# 0 to 20, one group per number.
_CARDINALS = {
    "en": "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty",
    "es": "cero uno/una/un dos tres cuatro cinco seis siete ocho nueve diez once doce trece "
    "catorce quince dieciséis diecisiete dieciocho diecinueve veinte",
    "pt": "zero um/uma dois/duas três quatro cinco seis sete oito nove dez onze doze treze "
    "catorze/quatorze quinze dezesseis/dezasseis dezessete/dezassete dezoito dezenove/dezanove "
    "vinte",
    "fr": "zéro un/une deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
    "quinze seize dix-sept dix-huit dix-neuf vingt",
    "de": "null eins/ein/eine zwei/zwo drei vier fünf/fuenf sechs sieben acht neun zehn elf "
    "zwölf/zwoelf dreizehn vierzehn fünfzehn/fuenfzehn sechzehn siebzehn achtzehn neunzehn "
    "zwanzig",
    "it": "zero uno/una/un due tre quattro cinque sei sette otto nove dieci undici dodici "
    "tredici quattordici quindici sedici diciassette diciotto diciannove venti",
    "zh": "零/\u3007 一 二/两/兩 三 四 五 六 七 八 九 十 十一 十二 十三 十四 十五 十六 十七 十八 "
    "十九 二十",
}
# 30, 40, ... 90, 100.
_TENS = {
    "en": "thirty forty fifty sixty seventy eighty ninety hundred/one_hundred/a_hundred",
    "es": "treinta cuarenta cincuenta sesenta setenta ochenta noventa cien",
    "pt": "trinta quarenta cinquenta sessenta setenta oitenta noventa cem",
    "fr": "trente quarante cinquante soixante soixante-dix quatre-vingts/quatre-vingt "
    "quatre-vingt-dix cent",
    "de": "dreißig vierzig fünfzig/fuenfzig sechzig siebzig achtzig neunzig hundert/einhundert",
    "it": "trenta quaranta cinquanta sessanta settanta ottanta novanta cento",
    "zh": "三十 四十 五十 六十 七十 八十 九十 一百/百",
}
# 1st to 10th.
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
word: in a conversation in that language they are not read as numbers, in a menu or a slot."""


class NumberWord(NamedTuple):
    """What a word of the table means: its number, and whether it is an ordinal."""

    number: int
    ordinal: bool = False


_DASHES = str.maketrans(dict.fromkeys("-\u2010\u2011\u2012\u2013\u2014\u2212", " "))


def number_key(folded: str) -> str:
    """A `normalize_text` form as number words are keyed: hyphens and dashes as spaces."""
    if folded.isascii() and "-" not in folded:
        return folded  # normalize_text already collapsed the spaces
    return " ".join(folded.translate(_DASHES).split())


def _language_table(lang: str) -> Mapping[str, NumberWord]:
    """One language's number words, keyed by `number_key`, each to its number."""
    cardinals, tens = _CARDINALS[lang].split(), _TENS[lang].split()
    ordinals = _ORDINALS[lang].split()
    if (len(cardinals), len(tens), len(ordinals)) != (21, 8, 10):
        raise ValueError(
            f"{lang}: {len(cardinals)} cardinals, {len(tens)} tens, {len(ordinals)} ordinals"
        )
    endings = _ORDINAL_ENDINGS.get(lang, ("",))
    groups: list[tuple[NumberWord, str, tuple[str, ...]]]
    groups = [(NumberWord(n), g, ("",)) for n, g in enumerate(cardinals)]
    groups += [(NumberWord(n), g, ("",)) for n, g in zip(range(30, 101, 10), tens, strict=True)]
    groups += [(NumberWord(n, ordinal=True), g, endings) for n, g in enumerate(ordinals, 1)]
    table: dict[str, NumberWord] = {}
    for meaning, group, suffixes in groups:
        for form in group.split("/"):
            for word in (form.replace("_", " ") + suffix for suffix in suffixes):
                key = number_key(normalize_text(word))
                if table.setdefault(key, meaning) != meaning:
                    raise ValueError(f"{lang}: {key!r} is both {table[key]} and {meaning}")
    return MappingProxyType(table)


_TABLE: Mapping[str, Mapping[str, NumberWord]] = MappingProxyType(
    {lang: _language_table(lang) for lang in _CARDINALS}
)

NUMBER_WORDS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {lang: MappingProxyType({w: m.number for w, m in t.items()}) for lang, t in _TABLE.items()}
)
"""Language -> number word (as `number_key` folds it) -> number: cardinals 0-20 and the
round tens to 100, ordinals 1-10."""

ORDINAL_WORDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {lang: frozenset(w for w, m in t.items() if m.ordinal) for lang, t in _TABLE.items()}
)
"""Language -> the words of NUMBER_WORDS that are ordinals: positions, not quantities."""


def _merge(
    words: Mapping[str, Mapping[str, NumberWord]], not_numbers: Mapping[str, frozenset[str]]
) -> tuple[Mapping[str, NumberWord], Mapping[str, Mapping[str, NumberWord]]]:
    """The words that mean one number in every language that has them, and per language its
    own words over those (less its everyday words): what the readers look words up in."""
    seen: dict[str, NumberWord | None] = {}
    for table in words.values():
        for word, meaning in table.items():
            seen[word] = meaning if seen.get(word, meaning) == meaning else None
    anywhere = {word: meaning for word, meaning in seen.items() if meaning is not None}
    by_lang: dict[str, Mapping[str, NumberWord]] = {}
    for lang in {**words, **not_numbers}:
        skip = not_numbers.get(lang, frozenset())
        others = {word: meaning for word, meaning in anywhere.items() if word not in skip}
        by_lang[lang] = {**others, **words.get(lang, {})}
    return anywhere, by_lang


_ANYWHERE, _BY_LANG = _merge(_TABLE, NOT_NUMBER_WORDS)


def _words_for(
    lang: str,
    by_lang: Mapping[str, Mapping[str, NumberWord]] = _BY_LANG,
    anywhere: Mapping[str, NumberWord] = _ANYWHERE,
) -> Mapping[str, NumberWord]:
    """The number words of a conversation in `lang` ("pt", "pt-BR", "pt_BR", "PT")."""
    table = by_lang.get(lang)
    if table is None:
        table = by_lang.get(lang.replace("_", "-").split("-", 1)[0].casefold(), anywhere)
    return table


_HAN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"\u3007": 0, "两": 2, "兩": 2}
_HAN_NUMBER = re.compile(r"([一二两兩三四五六七八九])?十([一二三四五六七八九])?")


def _han_number(s: str) -> int | None:
    """Chinese numerals 0-99: 三, 十, 十五, 二十, 二十五."""
    if len(s) == 1 and s in _HAN_DIGITS:
        return _HAN_DIGITS[s]
    m = _HAN_NUMBER.fullmatch(s) if len(s) <= 3 else None
    if m is None:
        return None
    tens = _HAN_DIGITS[m.group(1)] if m.group(1) else 1
    ones = _HAN_DIGITS[m.group(2)] if m.group(2) else 0
    return tens * 10 + ones


def _word(folded: str, words: Mapping[str, NumberWord]) -> NumberWord | None:
    """What a normalized answer means as a number word of `words`, or a Chinese numeral."""
    key = number_key(folded)
    meaning = words.get(key)
    if meaning is None and (han := _han_number(key)) is not None:
        meaning = NumberWord(han)
    return meaning


# -- positions: menus and choices -----------------------------------------------------------

_KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")
# A number (at most 3 characters) after its opening decorations and before its closing ones.
# Linear: the decorations are possessive (never given back), and the number is tried at 3
# lengths only, each followed by one scan of the closing decorations.
_DECORATED_NUMBER = re.compile(r"[\s(\[#]*+(.{1,3}?)[\s.)\]:\-]*+", re.DOTALL)
# A menu number is at most 3 digits in a few decorations ("( 1 )", "#1.", "1️⃣"): an answer
# longer than this, once trimmed, is not one, and is not read further.
_MAX_NUMBER_ANSWER = 16


def parse_number(text: str) -> int | None:
    """The menu number a customer typed in digits, or None when the answer is not just a
    number."""
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


def _word_number(text: str, folded: str, words: Mapping[str, NumberWord]) -> int | None:
    meaning = _word(folded, words)
    if meaning is None and (rest := _after_prefix(text, folded)) is not None:
        meaning = _word(normalize_text(rest), words)
    return None if meaning is None else meaning.number


def read_number(text: str, lang: str = "en", *, folded: str | None = None) -> int | None:
    """The number an answer gives as a position, by rule 2 of `bot.flows.matching`: bare
    digits (`parse_number`), a prefix and digits ("option 1", "nº1"), or a number word,
    cardinal or ordinal, alone or after a prefix (`parse_number_word`), in a conversation in
    `lang`; None when the answer is not just a number, or is longer than `MAX_ANSWER`
    characters. `folded` is the answer's `normalize_text` form, when the caller has it."""
    if len(text) > MAX_ANSWER:
        return None
    number = parse_number(text)
    if number is not None:
        return number
    if folded is None:
        folded = normalize_text(text)
    words = _words_for(lang)
    meaning = _word(folded, words)
    if meaning is not None:
        return meaning.number
    rest = _after_prefix(text, folded)
    if rest is None:
        return None
    number = parse_number(rest)
    if number is not None:
        return number
    meaning = _word(normalize_text(rest), words)
    return None if meaning is None else meaning.number


def parse_number_word(
    text: str, lang: str, *, words: Mapping[str, Mapping[str, int]] = NUMBER_WORDS
) -> int | None:
    """The number an answer spells out in words, or None.

    A word of `words` (by default the table, `NUMBER_WORDS`) or a Chinese numeral, compared
    as `number_key` folds it, alone ("One!", "uno", "第一") or after a short prefix ("option
    one", "número uno"). Digits are `parse_number`'s. The conversation's language `lang`
    ("pt", "pt-BR", "pt_BR") is tried first, then every language. So a word that means
    different numbers in two languages means the number of the conversation's language, and
    in a conversation in a third language no number at all. A word of `NOT_NUMBER_WORDS` for
    the conversation's language is an everyday word there, not another language's number:
    "prima" is 1 in an Italian or English conversation, but "great" in a German one. An
    unknown language tries every language. An answer longer than `MAX_ANSWER` characters is
    no number.
    """
    if len(text) > MAX_ANSWER:
        return None
    if words is NUMBER_WORDS:
        table = _words_for(lang)
    else:
        given = {
            language: {number_key(w): NumberWord(n) for w, n in t.items()}
            for language, t in words.items()
        }
        anywhere, by_lang = _merge(given, NOT_NUMBER_WORDS)
        table = _words_for(lang, by_lang, anywhere)
    return _word_number(text, normalize_text(text), table)


def number_readings(text: str) -> dict[int, list[str]]:
    """Every number `text` reads as in a menu, in any conversation, each with the languages
    whose words it is (none for digits): what a linter warns about in an option's words."""
    folded = normalize_text(text)
    rest = _after_prefix(text, folded)
    readings: dict[int, list[str]] = {}
    digits = parse_number(text)
    if digits is None and rest is not None:
        digits = parse_number(rest)
    if digits is not None:
        readings[digits] = []
    candidates = (folded,) if rest is None else (folded, normalize_text(rest))
    for candidate in candidates:
        key = number_key(candidate)
        for lang, table in NUMBER_WORDS.items():
            number = table.get(key)
            if number is None and lang == "zh":
                number = _han_number(key)
            if number is not None and lang not in (langs := readings.setdefault(number, [])):
                langs.append(lang)
    return readings


# -- quantities: integer and number slots ---------------------------------------------------

_NUMERIC = re.compile(r"[0-9](?:[0-9., ']*[0-9])?|[.,][0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}(?P<sep>[ ,.'])[0-9]{3}(?:(?P=sep)[0-9]{3})*")
_MAX_DIGITS = 30


def read_quantity(text: str, lang: str = "en") -> Decimal | None:
    """The amount written in `text` (digits, or a cardinal word of a conversation in
    `lang`), or None."""
    if len(text) > SHORT_ANSWER:
        return None
    s = fold(text).strip()
    sign = ""
    if s[:1] in ("+", "-"):
        sign, s = s[0], s[1:].lstrip()
    if len(s) > 1 and s.endswith(".") and s[-2].isdigit():
        s = s[:-1]  # "5." as in a sentence
    if not _NUMERIC.fullmatch(s):
        meaning = _word(normalize_text(text), _words_for(lang))
        return None if meaning is None or meaning.ordinal else Decimal(meaning.number)
    seps = [c for c in s if not c.isdigit()]
    head, frac = s, ""
    if seps and seps[-1] in ",." and seps.count(seps[-1]) == 1:
        before, _, after = s.rpartition(seps[-1])
        groups_thousands = (
            len(seps) == 1 and len(after) == 3 and 1 <= len(before) <= 3 and before[0] != "0"
        )
        if not groups_thousands:
            head, frac = before, after
    if head and not head.isdigit() and not _GROUPED.fullmatch(head):
        return None
    whole = "".join(c for c in head if c.isdigit()) or "0"
    if len(whole) + len(frac) > _MAX_DIGITS:
        return None
    return Decimal(f"{sign}{whole}.{frac or '0'}")


def _plain(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


def _in_range(spec: SlotSpec, value: int | float) -> Parsed:
    if spec.min is not None and value < spec.min:
        return bad("too_small")
    if spec.max is not None and value > spec.max:
        return bad("too_large")
    return good(value)


def integer_answer(spec: SlotSpec, text: str, lang: str = "en") -> Parsed:
    """An integer slot's value: a whole number within `min` and `max`."""
    d = read_quantity(text, lang)
    if d is None:
        return bad("not_a_number")
    if d != d.to_integral_value():
        return bad("not_a_whole_number")
    return _in_range(spec, int(d))


def number_answer(spec: SlotSpec, text: str, lang: str = "en") -> Parsed:
    """A number slot's value: a number within `min` and `max`, an int when it is whole."""
    d = read_quantity(text, lang)
    return bad("not_a_number") if d is None else _in_range(spec, _plain(d))
