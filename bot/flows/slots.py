"""Slots: what a `collect:` step asks for, and how the customer's answer becomes a value.

`SlotSpec` is what an author writes under a state's `collect:` key; `parse_value` turns one
answer into a JSON-serialisable value or a machine-readable error code; `describe_error`
is the default re-prompt for that code. Everything here is pure: no I/O, and today's date
is a parameter.

Rules shared by every type:
- the answer is trimmed first; a blank answer is `empty`; an answer longer than 4096
  characters (WhatsApp's limit for one text) is `too_long`;
- a number, date or time is a few words: a trimmed answer longer than 64 characters is none
  (`not_a_number`, `not_a_date`, `not_a_time`), and is not read further;
- digits in any script (full-width, Arabic-Indic, ...) count as digits;
- words (numbers, months, weekdays, "tomorrow", "noon") are recognised in English, Spanish,
  Portuguese, French, German and Chinese whatever `lang` is, because customers mix
  languages; they are compared ignoring case and accents.

Per type (the value stored in the slot, then the error codes):
- text: the trimmed answer; `min`/`max` bound its length in characters (code points).
  `too_short`, `too_long`.
- integer: "3", "+3", "-3", "3.0" (a whole value written with decimals is accepted),
  "1,000", "1.000", "1 000", "1'000"; number words for 0-20 and the round tens to 100
  ("three", "tres", "três", "trois", "drei", "三"); Chinese numerals to 99 ("二十五").
  An int. `not_a_number`, `not_a_whole_number` ("3.5"), `too_small`, `too_large`.
- number: the same, plus decimals. Of "," and ".", the one written last is the decimal
  separator when both appear ("1.000,5", "1,000.5"). A lone "," or "." followed by exactly
  three digits groups thousands ("1,000", "1.000" -> 1000) unless the part before it is 0
  or more than three digits ("0,500" -> 0.5); otherwise it is the decimal separator ("3,5",
  "3.25"). Repeated separators must group by three. No exponents, no "inf"/"nan", at most
  30 digits. An int when the value is whole, else a float. `not_a_number`, `too_small`,
  `too_large`.
- date: "YYYY-MM-DD". A year written first is always year-month-day ("2026-11-30",
  "2026/11/30"); otherwise `date_order` orders day and month ("30/11/2026", "30.11.2026",
  "30-11-26"; with YMD, a year written last is read as DMY and a date without year as
  month/day). Two-digit years are the year within 50 years of today. Month names and their
  abbreviations ("30 Nov", "November 30th, 2026", "30 de noviembre", "1er novembre",
  "30. November"), optionally after a weekday name that must agree with the date; Chinese
  "2026年11月30日" / "11月30号". Without a year: with `future: true` the next such day on or
  after today, with `future: false` the last one before today, otherwise this year's.
  Relative words: today, tomorrow, the day after tomorrow, yesterday. A weekday name
  ("monday", "lunes", "next monday", "周一") is the next such day strictly after today
  (so "sunday" on a Sunday is a week ahead: customers who mean today say "today"); with
  `future: false` it is the last such day strictly before today.
  `not_a_date`, `no_such_date` (31/02, 29/02/2027), `in_the_past` (`future: true`, before
  today), `in_the_future` (`future: false`, today or later).
- time: "HH:MM", 24-hour. "14:30", "14.30", "14h30", "14h", "14:30:15" (seconds dropped),
  "2:30 pm", "2pm", "2 p.m.", "9" (a bare hour is 24-hour: 09:00), "14 Uhr", "at 9",
  "noon"/"mediodía"/"meio-dia"/"midi"/"Mittag"/"中午", "midnight" and its translations,
  "下午3点半". With am/pm the hour must be 1-12. `not_a_time`.
- phone: read by libphonenumber (bot.phones): digits with an optional leading "+", spaces,
  dashes, dots, parentheses, fullwidth digits, "tel:". "+" or "00" gives the country code
  (a "(0)" after it is dropped: "+44 (0)20 ..."); otherwise the number is read as a national
  number of `default_region` (an ISO code: US, GB, CN; a country calling code such as 44
  means its main region), or, without one, of the region of the customer's own number, or,
  when that is unknown too, as digits with the country code first. The number must be one
  in use (libphonenumber's `is_valid_number`). The value is the E.164 number's digits
  without "+", the form of conversation ids. `not_a_phone`, `too_short`, `too_long`.
- email: "local@domain.tld", one "@", no spaces, domain labels of letters, digits and inner
  hyphens, a top-level domain of 2+ letters; a leading "mailto:" and surrounding "<>" are
  dropped. The address with its domain lower-cased. `not_an_email`.
- choice: the canonical choice whose value or synonym equals the answer (ignoring case,
  accents, surrounding punctuation), else the choice at the answer's number (from 1, as in
  menus), unless some choice or synonym is itself a number ("38", "40"): then only the text
  chooses. `not_a_choice`.
- regex: the trimmed answer as typed, when `pattern` matches all of it; the group named
  `value` instead, when the pattern has one and it took part. `no_match`. The pattern is RE2
  syntax (`bot.flows.patterns`), compiled once when the spec loads, case-sensitive; matching
  takes time linear in the answer whatever the pattern (`(a+)+b` included).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from bot.flows.matching import MAX_ANSWER, normalize_text, parse_number
from bot.flows.patterns import Pattern, PatternError, compile_pattern
from bot.phones import NotAPhoneNumber, e164, region_code

SlotType = Literal["text", "integer", "number", "date", "time", "phone", "email", "choice", "regex"]
DateOrder = Literal["DMY", "MDY", "YMD"]
# A choice as written: its value, or one mapping `value: [synonym, ...]`.
Choice = str | dict[str, list[str]]

MAX_INPUT = MAX_ANSWER
# Characters of a trimmed answer that can be a number, a date or a time: "sábado, 30 de
# noviembre de 2026" is 31, thirty digits grouped by three with a sign 41.
_SHORT_ANSWER = 64
ERRORS = frozenset(
    {
        "empty",
        "too_short",
        "too_long",
        "not_a_number",
        "not_a_whole_number",
        "too_small",
        "too_large",
        "not_a_date",
        "no_such_date",
        "in_the_past",
        "in_the_future",
        "not_a_time",
        "not_a_phone",
        "not_an_email",
        "not_a_choice",
        "no_match",
    }
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RANGED: frozenset[str] = frozenset({"text", "integer", "number"})


class SlotSpec(BaseModel):
    """A value to collect: its slot, its type and the type's constraints.

    `choices` items are either a value (`- Small`) or a one-key mapping from the value to
    its synonyms (`- Small: [S, little]`); the value is what the slot stores.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    slot: str = Field(description="Where the value is stored: an identifier.")
    type: SlotType = Field("text", description="What kind of value to accept.")
    min: float | None = Field(
        None, allow_inf_nan=False, description="integer/number: lowest value; text: length."
    )
    max: float | None = Field(
        None, allow_inf_nan=False, description="integer/number: highest value; text: length."
    )
    pattern: str | None = Field(
        None, description="regex: a regular expression (RE2 syntax) the whole answer must match."
    )
    choices: list[Choice] | None = Field(
        None, description="choice: the accepted values, each a value or `value: [synonyms]`."
    )
    default_region: str | None = Field(
        None,
        description="phone: the ISO region (US, GB, CN...) of numbers written without a "
        "country code; default: the region of the customer's own number.",
    )
    date_order: DateOrder = Field("DMY", description="date: order of day, month and year.")
    future: bool | None = Field(
        None, description="date: true = today or later; false = before today."
    )

    _regex: Pattern | None = PrivateAttr(None)
    _choice_words: dict[str, str] = PrivateAttr(default_factory=dict)
    _choice_values: tuple[str, ...] = PrivateAttr(())
    _choice_by_number: bool = PrivateAttr(True)

    @field_validator("slot")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError(
                f"slot name `{value}` is not an identifier: use letters, digits and _, "
                "not starting with a digit"
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_pattern(value)
            except PatternError as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return region_code(value)
        except ValueError as e:
            raise ValueError(
                f"`default_region:` is an ISO region code such as US, GB or CN (or a country "
                f"calling code such as 44): {e}"
            ) from None

    @field_validator("choices")
    @classmethod
    def _distinct_choices(cls, value: list[Choice] | None) -> list[Choice] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("`choices:` needs at least one value")
        owner: dict[str, str] = {}
        for item in value:
            if isinstance(item, dict) and len(item) != 1:
                raise ValueError(
                    "a choice with synonyms is one mapping `value: [synonym, ...]`, "
                    f"not {len(item)} keys"
                )
            canonical, words = _choice_words(item)
            if not canonical.strip():
                raise ValueError("a choice cannot be empty")
            for word in words:
                key = normalize_text(word)
                if not key:
                    raise ValueError(
                        f"choice `{canonical}`: `{word}` has no letters, digits or symbols to "
                        "match; remove it"
                    )
                if owner.get(key, canonical) != canonical:
                    raise ValueError(
                        f"`{word}` is used by two choices, `{owner[key]}` and `{canonical}`: an "
                        "answer must choose one only"
                    )
                owner[key] = canonical
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        kind = self.type
        if kind == "regex" and self.pattern is None:
            raise ValueError(
                "type regex needs `pattern:`, a regular expression the whole answer must match"
            )
        if kind == "choice" and self.choices is None:
            raise ValueError("type choice needs `choices:`, the list of accepted values")
        only: list[tuple[str, bool, str]] = [
            ("pattern", self.pattern is not None, "regex"),
            ("choices", self.choices is not None, "choice"),
            ("default_region", self.default_region is not None, "phone"),
            ("future", self.future is not None, "date"),
            ("date_order", "date_order" in self.model_fields_set, "date"),
        ]
        for key, given, owner in only:
            if given and kind != owner:
                raise ValueError(f"`{key}:` is for type {owner}, not {kind}: remove it")
        for key, bound in (("min", self.min), ("max", self.max)):
            if bound is not None and kind not in _RANGED:
                raise ValueError(
                    f"`{key}:` is for types text (length), integer and number, not {kind}: "
                    "remove it"
                )
        self._check_bounds()
        self._compile()
        return self

    def _check_bounds(self) -> None:
        lo, hi = self.min, self.max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"`min:` ({_fmt(lo)}) is greater than `max:` ({_fmt(hi)})")
        if self.type == "text":
            if lo is not None and (lo < 0 or not lo.is_integer()):
                raise ValueError("for type text, `min:` is a length: a whole number, 0 or more")
            if hi is not None and (hi < 1 or not hi.is_integer()):
                raise ValueError("for type text, `max:` is a length: a whole number, 1 or more")
        if (
            self.type == "integer"
            and lo is not None
            and hi is not None
            and math.ceil(lo) > math.floor(hi)
        ):
            raise ValueError(
                f"no whole number lies between `min:` ({_fmt(lo)}) and `max:` ({_fmt(hi)})"
            )

    def _compile(self) -> None:
        """Compile the pattern and index the choices once, at load time."""
        if self.pattern is not None:
            self._regex = compile_pattern(self.pattern)
        if self.choices is not None:
            values: list[str] = []
            words: dict[str, str] = {}
            for item in self.choices:
                canonical, synonyms = _choice_words(item)
                values.append(canonical)
                for word in synonyms:
                    words.setdefault(normalize_text(word), canonical)
            self._choice_values = tuple(values)
            self._choice_words = words
            self._choice_by_number = not any(parse_number(w) is not None for w in words)

    @property
    def choice_values(self) -> tuple[str, ...]:
        """The canonical values of a choice slot, in the author's order."""
        return self._choice_values


def _choice_words(item: Choice) -> tuple[str, list[str]]:
    """A choice's canonical value, and every text that chooses it (the value first)."""
    if isinstance(item, str):
        return item, [item]
    canonical, synonyms = next(iter(item.items()))
    return canonical, [canonical, *synonyms]


@dataclass(frozen=True, slots=True)
class Parsed:
    """One answer, parsed: a value (`ok`), or the code of why not (`error`)."""

    ok: bool
    value: str | int | float | None = None
    error: str = ""


def _good(value: str | int | float) -> Parsed:
    return Parsed(True, value)


def _bad(error: str) -> Parsed:
    return Parsed(False, None, error)


def parse_value(
    spec: SlotSpec, text: str, *, today: dt.date, lang: str = "en", region: str | None = None
) -> Parsed:
    """The value of `text` for `spec`, or why it is not one. Never raises.

    `lang` is the conversation's language; recognition does not depend on it today (every
    supported language's words are accepted), it is there so callers need not change when
    it does. `region` (ISO, e.g. "ES") is where a phone number without a country code is
    read, when the slot has no `default_region:`: the region of the customer's number.
    """
    if len(text) > MAX_INPUT:
        return _bad("too_long")
    trimmed = text.strip()
    if not trimmed:
        return _bad("empty")
    if spec.type == "phone":
        return _parse_phone(spec, trimmed, region)
    return _PARSERS[spec.type](spec, trimmed, today)


# --- shared helpers -----------------------------------------------------------------------

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


def _fold(text: str) -> str:
    """NFKC, every decimal digit as ASCII, typographic dashes and apostrophes as ASCII."""
    s = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    if s.isascii():
        return s
    out = []
    for c in s:
        d = unicodedata.decimal(c, None)
        out.append(str(d) if d is not None else c)
    return "".join(out)


def _key(text: str) -> str:
    """How words are compared: folded, case- and accent-free, hyphens as spaces."""
    return " ".join(normalize_text(_fold(text)).replace("-", " ").split())


def _fmt(x: float, lang: str = "en") -> str:
    s = str(int(x)) if x.is_integer() else f"{x:g}"
    return s.replace(".", ",") if lang in ("es", "pt") else s


def _table(groups: Mapping[int, str]) -> dict[str, int]:
    """{value: "word word ..."} -> {key(word): value}; words with spaces use `_`."""
    return {_key(w.replace("_", " ")): n for n, words in groups.items() for w in words.split()}


# --- numbers ------------------------------------------------------------------------------

_NUMBER_WORDS = _table(
    {
        0: "zero cero zéro null",
        1: "one uno una um uma un une eins ein eine",
        2: "two dos dois duas deux zwei",
        3: "three tres três trois drei",
        4: "four cuatro quatro quatre vier",
        5: "five cinco cinq fünf",
        6: "six seis sechs",
        7: "seven siete sete sept sieben",
        8: "eight ocho oito huit acht",
        9: "nine nueve nove neuf neun",
        10: "ten diez dez dix zehn",
        11: "eleven once onze elf",
        12: "twelve doce doze douze zwölf",
        13: "thirteen trece treze treize dreizehn",
        14: "fourteen catorce catorze quatorze vierzehn",
        15: "fifteen quince quinze fünfzehn",
        16: "sixteen dieciséis dezesseis dezasseis seize sechzehn",
        17: "seventeen diecisiete dezessete dezassete dix-sept siebzehn",
        18: "eighteen dieciocho dezoito dix-huit achtzehn",
        19: "nineteen diecinueve dezenove dezanove dix-neuf neunzehn",
        20: "twenty veinte vinte vingt zwanzig",
        30: "thirty treinta trinta trente dreißig",
        40: "forty cuarenta quarenta quarante vierzig",
        50: "fifty cincuenta cinquenta cinquante fünfzig",
        60: "sixty sesenta sessenta soixante sechzig",
        70: "seventy setenta soixante-dix siebzig",
        80: "eighty ochenta oitenta quatre-vingts quatre-vingt achtzig",
        90: "ninety noventa quatre-vingt-dix neunzig",
        100: "hundred one_hundred a_hundred cien cem cent hundert einhundert",
    }
)
_HAN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"\u3007": 0, "两": 2, "兩": 2}
_HAN_NUMBER = re.compile(r"([一二两兩三四五六七八九])?十([一二三四五六七八九])?")
_NUMERIC = re.compile(r"[0-9](?:[0-9., ']*[0-9])?|[.,][0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}(?P<sep>[ ,.'])[0-9]{3}(?:(?P=sep)[0-9]{3})*")
_MAX_DIGITS = 30


def _han_number(s: str) -> int | None:
    """Chinese numerals 0-99: 三, 十, 十五, 二十, 二十五."""
    if len(s) == 1 and s in _HAN_DIGITS:
        return _HAN_DIGITS[s]
    m = _HAN_NUMBER.fullmatch(s)
    if m is None:
        return None
    tens = _HAN_DIGITS[m.group(1)] if m.group(1) else 1
    ones = _HAN_DIGITS[m.group(2)] if m.group(2) else 0
    return tens * 10 + ones


def _decimal(text: str) -> Decimal | None:
    """The number written in `text` (digits or a number word), or None."""
    if len(text) > _SHORT_ANSWER:
        return None
    s = _fold(text).strip()
    sign = ""
    if s[:1] in ("+", "-"):
        sign, s = s[0], s[1:].lstrip()
    if len(s) > 1 and s.endswith(".") and s[-2].isdigit():
        s = s[:-1]  # "5." as in a sentence
    if not _NUMERIC.fullmatch(s):
        word = _NUMBER_WORDS.get(_key(text))
        if word is None:
            word = _han_number(text.strip())
        return None if word is None else Decimal(word)
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
        return _bad("too_small")
    if spec.max is not None and value > spec.max:
        return _bad("too_large")
    return _good(value)


def _parse_integer(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    d = _decimal(text)
    if d is None:
        return _bad("not_a_number")
    if d != d.to_integral_value():
        return _bad("not_a_whole_number")
    return _in_range(spec, int(d))


def _parse_number(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    d = _decimal(text)
    return _bad("not_a_number") if d is None else _in_range(spec, _plain(d))


# --- text, regex, choice, email -----------------------------------------------------------


def _parse_text(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    if spec.min is not None and len(text) < spec.min:
        return _bad("too_short")
    if spec.max is not None and len(text) > spec.max:
        return _bad("too_long")
    return _good(text)


def _parse_regex(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    regex = spec._regex
    match = regex.fullmatch(text) if regex is not None else None
    if match is None:
        return _bad("no_match")
    value = match.named.get("value")
    return _good(text if value is None else value)


def _parse_choice(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    hit = spec._choice_words.get(normalize_text(text))
    if hit is not None:
        return _good(hit)
    if spec._choice_by_number:
        number = parse_number(text)
        if number is not None and 1 <= number <= len(spec._choice_values):
            return _good(spec._choice_values[number - 1])
    return _bad("not_a_choice")


_LOCAL = re.compile(r"[^\s\x00-\x1f\x7f@\"(),:;<>\[\]\\]{1,64}")
_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")
_TLD = re.compile(r"[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59}")


def _parse_email(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    s = text
    if s[:7].lower() == "mailto:":
        s = s[7:]
    if s.startswith("<") and s.endswith(">"):
        s = s[1:-1]
    if len(s) > 254 or s.count("@") != 1:
        return _bad("not_an_email")
    local, domain = s.split("@")
    domain = domain.lower()
    labels = domain.split(".")
    if (
        not _LOCAL.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) and "_" not in label for label in labels)
        or not _TLD.fullmatch(labels[-1])
    ):
        return _bad("not_an_email")
    return _good(f"{local}@{domain}")


# --- phone --------------------------------------------------------------------------------


def _parse_phone(spec: SlotSpec, text: str, region: str | None) -> Parsed:
    """bot.phones.e164, strict (a number in use): the region is `default_region:`, else the
    region of the customer's own number."""
    try:
        return _good(e164(text, region=spec.default_region or region, strict=True))
    except NotAPhoneNumber as e:
        return _bad(e.problem)


# --- dates --------------------------------------------------------------------------------

_RELATIVE = _table(
    {
        -1: "yesterday ayer ontem hier gestern 昨天 昨日",
        0: "today hoy hoje aujourd'hui aujourdhui heute 今天 今日",
        1: "tomorrow mañana amanhã demain morgen 明天 明日",
        2: "day_after_tomorrow the_day_after_tomorrow pasado_mañana depois_de_amanhã "
        "après-demain übermorgen uebermorgen 后天 後天",
    }
)
_HAN_WEEKDAYS = {
    f"{prefix}{day}": n
    for prefix in ("星期", "周", "週", "礼拜", "禮拜")
    for n, days in enumerate(("一", "二", "三", "四", "五", "六", "日天"))
    for day in days
}
_WEEKDAYS = _table(
    {
        0: "monday mon lunes segunda segunda-feira lundi montag",
        1: "tuesday tue tues martes terça terça-feira mardi dienstag",
        2: "wednesday wed miércoles quarta quarta-feira mercredi mittwoch",
        3: "thursday thu thur thurs jueves quinta quinta-feira jeudi donnerstag",
        4: "friday fri viernes sexta sexta-feira vendredi freitag",
        5: "saturday sat sábado samedi samstag sonnabend",
        6: "sunday sun domingo dimanche sonntag",
    }
) | {_key(k): n for k, n in _HAN_WEEKDAYS.items()}
# Words around a weekday that do not change which day it is ("next monday", "el lunes").
_WEEKDAY_FILLERS = frozenset(
    _key(w)
    for w in (
        *("on", "this", "next", "coming"),
        *("el", "este", "próximo", "próxima"),
        *("o", "a", "na", "no", "esta", "este", "próximo", "próxima"),
        *("le", "ce", "prochain"),
        *("am", "diesen", "nächsten", "naechsten", "kommenden"),
    )
)
_MONTHS = _table(
    {
        1: "january jan enero ene janeiro janvier janv januar jänner",
        2: "february feb febrero fevereiro fev février févr februar",
        3: "march mar marzo março mars märz maerz",
        4: "april apr abril abr avril avr",
        5: "may mayo maio mai",
        6: "june jun junio junho juin juni",
        7: "july jul julio julho juillet juil juli",
        8: "august aug agosto ago août",
        9: "september sep sept septiembre setiembre setembro set septembre",
        10: "october oct octubre outubro out octobre oktober okt",
        11: "november nov noviembre novembro novembre",
        12: "december dec diciembre dic dezembro dez décembre dezember",
    }
)
_DATE_FILLERS = frozenset({"de", "del", "of", "the", "le", "den", "am", "el", "on"})
_DATE_SEPARATORS = re.compile(r"[\s,./\-]+")
_NUMERIC_DATE = re.compile(r"([0-9]{1,4})([/.\-])([0-9]{1,2})(?:\2([0-9]{1,4}))?")
_HAN_DATE = re.compile(r"(?:([0-9]{4})年)?([0-9]{1,2})月([0-9]{1,2})[日号號]?")
_ORDINAL = re.compile(r"([0-9]{1,4})(?:st|nd|rd|th|er|re|eme|ro|o|a|°)?")


class _NoSuchDate(Exception):
    """Day and month are in range but no calendar has them (31/02)."""


def _shift(day: dt.date, days: int) -> dt.date | None:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return None


def _calendar(year: int, month: int, day: int) -> dt.date | None:
    """The date, None when month or day are out of range; _NoSuchDate for 31/02."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _NoSuchDate from None


def _year(text: str, today: dt.date) -> int:
    """A written year; two digits are the year within 50 years of today."""
    year = int(text)
    if len(text) > 2:
        return year
    year += today.year // 100 * 100
    if year > today.year + 50:
        return year - 100
    if year < today.year - 50:
        return year + 100
    return year


def _without_year(spec: SlotSpec, month: int, day: int, today: dt.date) -> dt.date | None:
    """Day and month without a year: the next (future), last (past) or this year's."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if spec.future is None:
        return _calendar(today.year, month, day)
    step = 1 if spec.future else -1
    for offset in range(9):  # 29/02 recurs within 8 years
        try:
            candidate = dt.date(today.year + step * offset, month, day)
        except ValueError:
            continue
        if (candidate >= today) if spec.future else (candidate < today):
            return candidate
    raise _NoSuchDate


def _day_month(spec: SlotSpec, a: int, b: int) -> tuple[int, int]:
    """(day, month) of two numbers written in the spec's order."""
    return (a, b) if spec.date_order == "DMY" else (b, a)


def _weekday(spec: SlotSpec, weekday: int, today: dt.date) -> dt.date | None:
    if spec.future is False:
        return _shift(today, -((today.weekday() - weekday - 1) % 7 + 1))
    return _shift(today, (weekday - today.weekday() - 1) % 7 + 1)


def _numeric_date(spec: SlotSpec, s: str, today: dt.date) -> dt.date | None:
    m = _NUMERIC_DATE.fullmatch(s)
    if m is None:
        return None
    first, second, third = m.group(1), m.group(3), m.group(4)
    if len(first) == 4:
        if third is None or len(third) > 2:
            return None
        return _calendar(int(first), int(second), int(third))
    if len(first) > 2:
        return None
    if third is None:
        day, month = _day_month(spec, int(first), int(second))
        return _without_year(spec, month, day, today)
    if len(third) not in (2, 4):
        return None
    if spec.date_order == "YMD" and len(third) == 2:
        return _calendar(_year(first, today), int(second), int(third))
    day, month = (
        (int(second), int(first)) if spec.date_order == "MDY" else (int(first), int(second))
    )
    return _calendar(_year(third, today), month, day)


def _worded_date(spec: SlotSpec, s: str, today: dt.date) -> dt.date | None:
    """Dates with a month name: "30 Nov", "November 30th, 2026", "sábado 30 de noviembre"."""
    tokens = [t for t in _DATE_SEPARATORS.split(s) if t and t not in _DATE_FILLERS]
    weekday = None
    for size in (2, 1):
        if len(tokens) > size and " ".join(tokens[:size]) in _WEEKDAYS:
            weekday = _WEEKDAYS[" ".join(tokens[:size])]
            tokens = tokens[size:]
            break
    months = [i for i, t in enumerate(tokens) if t in _MONTHS]
    if len(months) != 1 or len(tokens) not in (2, 3):
        return None
    at = months[0]
    month = _MONTHS[tokens[at]]
    numbers = []
    for t in tokens[:at] + tokens[at + 1 :]:
        m = _ORDINAL.fullmatch(t)
        if m is None:
            return None
        numbers.append(m.group(1))
    if at == 2 or len(numbers[0]) > 2:  # the day comes first of the numbers
        return None
    day = int(numbers[0])
    if len(numbers) == 1:
        date = _without_year(spec, month, day, today)
    elif len(numbers[1]) in (2, 4):
        date = _calendar(_year(numbers[1], today), month, day)
    else:
        return None
    if date is not None and weekday is not None and date.weekday() != weekday:
        return None
    return date


def _han_date(spec: SlotSpec, s: str, today: dt.date) -> dt.date | None:
    m = _HAN_DATE.fullmatch(s)
    if m is None:
        return None
    month, day = int(m.group(2)), int(m.group(3))
    if m.group(1) is None:
        return _without_year(spec, month, day, today)
    return _calendar(int(m.group(1)), month, day)


def _find_date(spec: SlotSpec, text: str, today: dt.date) -> dt.date | None:
    if len(text) > _SHORT_ANSWER:
        return None
    key = _key(text)
    if key in _RELATIVE:
        return _shift(today, _RELATIVE[key])
    weekday = _WEEKDAYS.get(" ".join(w for w in key.split() if w not in _WEEKDAY_FILLERS))
    if weekday is not None:
        return _weekday(spec, weekday, today)
    s = normalize_text(_fold(text))
    for parse in (_numeric_date, _han_date, _worded_date):
        date = parse(spec, s, today)
        if date is not None:
            return date
    return None


def _parse_date(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    try:
        date = _find_date(spec, text, today)
    except _NoSuchDate:
        return _bad("no_such_date")
    if date is None:
        return _bad("not_a_date")
    if spec.future is True and date < today:
        return _bad("in_the_past")
    if spec.future is False and date >= today:
        return _bad("in_the_future")
    return _good(date.isoformat())


# --- times --------------------------------------------------------------------------------

_TIME_WORDS = {
    _key(w.replace("_", " ")): t
    for t, words in (
        ("12:00", "noon midday mediodía meio-dia meio_dia midi mittag 中午 正午"),
        ("00:00", "midnight medianoche meia-noite meia_noite minuit mitternacht 午夜 半夜"),
    )
    for w in words.split()
}
_TIME_PREFIX = re.compile(r"^(?:at|a las|a la|as|um|vers|a)\s+")
# Searched, so each starts only where a run of spaces starts (`(?<!\s)`): started inside the
# run too, `\s*` would rescan it from every position, quadratic in the run's length.
_TIME_SUFFIX = re.compile(r"(?<!\s)\s*(?:uhr|horas|hrs|hr|hs|heures|heure)$")
_MERIDIEM = re.compile(r"(?<!\s)\s*([ap])\.?\s*m\.?$")
_CLOCK = re.compile(r"([0-9]{1,2})(?:[:.h]([0-9]{2})(?::([0-9]{2}))?)?h?")
_HAN_TIME = re.compile(
    r"(上午|早上|中午|下午|晚上)?([0-9]{1,2})[点點时時](?:([0-9]{1,2})分?|(半))?"
)


def _hhmm(hour: int, minute: int) -> Parsed:
    if 0 <= hour <= 23 and 0 <= minute <= 59:
        return _good(f"{hour:02d}:{minute:02d}")
    return _bad("not_a_time")


def _parse_time(spec: SlotSpec, text: str, today: dt.date) -> Parsed:
    if len(text) > _SHORT_ANSWER:
        return _bad("not_a_time")
    key = _key(text)
    if key in _TIME_WORDS:
        return _good(_TIME_WORDS[key])
    s = normalize_text(_fold(text))
    han = _HAN_TIME.fullmatch(s)
    if han is not None:
        hour = int(han.group(2))
        minute = 30 if han.group(4) else int(han.group(3) or 0)
        if han.group(1) in ("下午", "晚上") and 1 <= hour < 12:
            hour += 12
        return _hhmm(hour, minute)
    s = _TIME_SUFFIX.sub("", _TIME_PREFIX.sub("", s))
    meridiem = _MERIDIEM.search(s)
    if meridiem is not None:
        s = s[: meridiem.start()]
    clock = _CLOCK.fullmatch(s.replace(" ", ""))
    if clock is None:
        return _bad("not_a_time")
    hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
    if clock.group(3) is not None and int(clock.group(3)) > 59:
        return _bad("not_a_time")
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return _bad("not_a_time")
        hour = hour % 12 + (12 if meridiem.group(1) == "p" else 0)
    return _hhmm(hour, minute)


_PARSERS: dict[str, Callable[[SlotSpec, str, dt.date], Parsed]] = {
    "text": _parse_text,
    "integer": _parse_integer,
    "number": _parse_number,
    "date": _parse_date,
    "time": _parse_time,
    "email": _parse_email,
    "choice": _parse_choice,
    "regex": _parse_regex,
}


# --- default re-prompts -------------------------------------------------------------------

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "send": "Please send {what}.",
        "no_such_date": "That date does not exist. Please send {what}.",
        "in_the_past": "Please send a date from today on.",
        "in_the_future": "Please send a date before today.",
        "between": "between {lo} and {hi}",
        "at_least": "of at least {lo}",
        "at_most": "of at most {hi}",
        "chars": "{range} characters",
        "chars_between": "of {lo} to {hi} characters",
        "text": "a reply",
        "integer": "a whole number",
        "number": "a number",
        "date": "a date, for example {example}",
        "time": "a time, for example 14:30",
        "phone": "a phone number, for example +44 20 7946 0958",
        "email": "an email address, for example name@example.com",
        "choice": "one of: {choices}",
        "regex": "a reply in the expected format",
    },
    "es": {
        "send": "Por favor, envía {what}.",
        "no_such_date": "Esa fecha no existe. Por favor, envía {what}.",
        "in_the_past": "Por favor, envía una fecha de hoy en adelante.",
        "in_the_future": "Por favor, envía una fecha anterior a hoy.",
        "between": "entre {lo} y {hi}",
        "at_least": "de al menos {lo}",
        "at_most": "de como máximo {hi}",
        "chars": "{range} caracteres",
        "chars_between": "de {lo} a {hi} caracteres",
        "text": "una respuesta",
        "integer": "un número entero",
        "number": "un número",
        "date": "una fecha, por ejemplo {example}",
        "time": "una hora, por ejemplo 14:30",
        "phone": "un número de teléfono, por ejemplo +34 612 345 678",
        "email": "un correo electrónico, por ejemplo nombre@ejemplo.com",
        "choice": "una de estas opciones: {choices}",
        "regex": "una respuesta con el formato esperado",
    },
    "pt": {
        "send": "Por favor, envie {what}.",
        "no_such_date": "Essa data não existe. Por favor, envie {what}.",
        "in_the_past": "Por favor, envie uma data a partir de hoje.",
        "in_the_future": "Por favor, envie uma data anterior a hoje.",
        "between": "entre {lo} e {hi}",
        "at_least": "de pelo menos {lo}",
        "at_most": "de no máximo {hi}",
        "chars": "{range} caracteres",
        "chars_between": "de {lo} a {hi} caracteres",
        "text": "uma resposta",
        "integer": "um número inteiro",
        "number": "um número",
        "date": "uma data, por exemplo {example}",
        "time": "um horário, por exemplo 14:30",
        "phone": "um número de telefone, por exemplo +55 11 91234 5678",
        "email": "um e-mail, por exemplo nome@exemplo.com",
        "choice": "uma destas opções: {choices}",
        "regex": "uma resposta no formato esperado",
    },
}
_DATE_EXAMPLES = {"DMY": "30/11", "MDY": "11/30", "YMD": "11/30"}


def _language(lang: str) -> str:
    primary = lang.replace("_", "-").split("-")[0].lower()
    return primary if primary in _WORDS else "en"


def _range(words: Mapping[str, str], lo: str | None, hi: str | None) -> str:
    if lo is not None and hi is not None:
        return words["between"].format(lo=lo, hi=hi)
    if lo is not None:
        return words["at_least"].format(lo=lo)
    if hi is not None:
        return words["at_most"].format(hi=hi)
    return ""


def _what(spec: SlotSpec, lang: str) -> str:
    """What the slot expects, as the object of "Please send ..."."""
    words = _WORDS[lang]
    kind = spec.type
    lo, hi = spec.min, spec.max
    if kind == "integer":
        lo = None if lo is None else math.ceil(lo)
        hi = None if hi is None else math.floor(hi)
    bounds = _range(
        words,
        None if lo is None else _fmt(float(lo), lang),
        None if hi is None else _fmt(float(hi), lang),
    )
    what = words[kind].format(
        example=_DATE_EXAMPLES[spec.date_order], choices=", ".join(spec.choice_values)
    )
    if kind == "text" and bounds:
        if lo is not None and hi is not None:
            bounds = words["chars_between"].format(lo=_fmt(lo), hi=_fmt(hi))
        else:
            bounds = words["chars"].format(range=bounds)
    return f"{what} {bounds}" if bounds else what


def describe_error(error: str, spec: SlotSpec, lang: str = "en") -> str:
    """A short default re-prompt for `error` (English, Spanish or Portuguese)."""
    words = _WORDS[_language(lang)]
    if error in ("no_such_date", "in_the_past", "in_the_future") and spec.type == "date":
        return words[error].format(what=_what(spec, _language(lang)))
    return words["send"].format(what=_what(spec, _language(lang)))
