"""Numbers in answers: integer and number slots.

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
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.flows.answers.parsed import Parsed, bad, good
from bot.flows.answers.reading import SHORT_ANSWER, fold, word_key, word_table

if TYPE_CHECKING:
    from bot.flows.answers.spec import SlotSpec

_NUMBER_WORDS = word_table(
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
    if len(text) > SHORT_ANSWER:
        return None
    s = fold(text).strip()
    sign = ""
    if s[:1] in ("+", "-"):
        sign, s = s[0], s[1:].lstrip()
    if len(s) > 1 and s.endswith(".") and s[-2].isdigit():
        s = s[:-1]  # "5." as in a sentence
    if not _NUMERIC.fullmatch(s):
        word = _NUMBER_WORDS.get(word_key(text))
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
        return bad("too_small")
    if spec.max is not None and value > spec.max:
        return bad("too_large")
    return good(value)


def integer_answer(spec: SlotSpec, text: str) -> Parsed:
    """An integer slot's value: a whole number within `min` and `max`."""
    d = _decimal(text)
    if d is None:
        return bad("not_a_number")
    if d != d.to_integral_value():
        return bad("not_a_whole_number")
    return _in_range(spec, int(d))


def number_answer(spec: SlotSpec, text: str) -> Parsed:
    """A number slot's value: a number within `min` and `max`, an int when it is whole."""
    d = _decimal(text)
    return bad("not_a_number") if d is None else _in_range(spec, _plain(d))
