"""Contacts in answers: phone and email slots.

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
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.errors import NotAPhoneNumber
from bot.flows.answers.parsed import Parsed, bad, good
from bot.phones import e164

if TYPE_CHECKING:
    from bot.flows.answers.spec import SlotSpec

_LOCAL = re.compile(r"[^\s\x00-\x1f\x7f@\"(),:;<>\[\]\\]{1,64}")
_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")
_TLD = re.compile(r"[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59}")


def email_answer(text: str) -> Parsed:
    """An email slot's value: the address with its domain lower-cased."""
    s = text
    if s[:7].lower() == "mailto:":
        s = s[7:]
    if s.startswith("<") and s.endswith(">"):
        s = s[1:-1]
    if len(s) > 254 or s.count("@") != 1:
        return bad("not_an_email")
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
        return bad("not_an_email")
    return good(f"{local}@{domain}")


def phone_answer(spec: SlotSpec, text: str, region: str | None) -> Parsed:
    """A phone slot's value: bot.phones.e164, strict (a number in use); the region is
    `default_region:`, else the region of the customer's own number."""
    try:
        return good(e164(text, region=spec.default_region or region, strict=True))
    except NotAPhoneNumber as e:
        return bad(e.problem)
