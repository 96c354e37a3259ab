"""Phone numbers: one customer, one conversation, whatever form their number arrives in.

Every number that enters (a receipt's From and To, the business call's and the API's
customer and business, `collect: phone`, `bot say`) goes through `e164`, which reads it with
libphonenumber (the `phonenumbers` package) and gives the one stored form: the E.164 number's
digits, country code first, without the "+" (the form CAMS writes: `8613900000001`). So
`+8613900000001`, `008613900000001`, `8613900000001` and `+86 139-0000-0001` are one
customer, and `abc`, `0`, `True` or `7.6e262` are refused with a reason where they enter,
not at CAMS later.

Numbers from the platforms and from the business are international: with a "+", with "00",
or as CAMS writes them, digits with the country code first. A number a customer types may
also be national when a region is known (`collect: phone`'s `default_region:`, or the
region of the customer's own number): `(415) 555-2671` in the US is `14155552671`.

Channels whose customers are accounts, not numbers (Messenger, Instagram, Telegram; Tencent
Chat accounts) keep their ids as given (`bot.model.is_valid_id`).
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from bot.errors import NotAPhoneNumber

# CAMS channels whose customers are phone numbers; other channels name accounts.
PHONE_CHANNELS = frozenset({"whatsapp", "viber", "sms"})

MAX_INPUT = 64  # characters: a number written out, with spaces and a "tel:", fits in far less
_PUNCTUATION = frozenset(" -.()\u00a0")


def is_phone_channel(channel: str) -> bool:
    return channel.lower() in PHONE_CHANNELS


def region_of(number: str) -> str | None:
    """The ISO region of a stored number (`8613900000001` -> `CN`), None when unknown."""
    try:
        parsed = phonenumbers.parse("+" + number, None)
    except NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    return region if region and region != "ZZ" else None


def region_code(value: str | int) -> str:
    """An ISO 3166 region (`US`, `gb`) as phonenumbers knows it, or a country calling code
    (`44`, `+86`) as the region it is the main code of. Raises ValueError."""
    text = str(value).strip()
    if text.lstrip("+").isdigit() and 1 <= len(text.lstrip("+")) <= 3:
        region = phonenumbers.region_code_for_country_code(int(text.lstrip("+")))
        if region in ("ZZ", "001"):
            raise ValueError(f"`{text}` is not a country calling code")
        return str(region)
    region = text.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"`{text}` is not an ISO region code such as US, GB, CN or ES")
    return region


def _written(raw: Any) -> str:
    """The text of a number as written, checked to be only a number's characters."""
    if not isinstance(raw, str):  # True, 7.6e262, an object: never a number of ours
        raise NotAPhoneNumber("not_a_phone")
    if len(raw) > MAX_INPUT:
        raise NotAPhoneNumber("too_long")
    text = unicodedata.normalize("NFKC", raw).strip()
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    body = text[1:] if text.startswith("+") else text
    if not body or not all(c.isdigit() or c in _PUNCTUATION for c in body):
        raise NotAPhoneNumber("not_a_phone")
    if not any(c.isdigit() for c in body):
        raise NotAPhoneNumber("not_a_phone")
    return text


def e164(raw: Any, *, region: str | None = None, strict: bool = False) -> str:
    """The stored form of a number: E.164 digits, country code first, without "+".

    International forms are read always ("+86 139 ...", "0086 139 ...", and, without
    `region`, "86139...": digits with the country code first, as CAMS writes them). With
    `region` (an ISO code), a national number of that region is read too, and "00" or the
    region's own international prefix. `strict` (a number a customer typed) also wants a
    number libphonenumber knows to be in use; otherwise a number of a possible length for
    its country is enough, so that a platform's number is never refused for metadata that
    is older than the number. Raises NotAPhoneNumber."""
    return _read(_written(raw), region, strict)


# Reading a number with libphonenumber costs about 25 µs, and every receipt names two
# (the customer and the business): the numbers read last are remembered, as `re` remembers
# the patterns it compiled. A pure function of its arguments, so nothing is shared but
# time; refusals are not remembered.
@functools.lru_cache(maxsize=1 << 14)
def _read(text: str, region: str | None, strict: bool) -> str:
    if text.startswith("+"):
        # "+44 (0)20 ...": the trunk 0 some write after the country code.
        text = text.replace("(0)", "", 1)
    elif text.startswith("00") and region is None:
        text = "+" + text[2:]
    elif region is None:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as e:
        too_long = e.error_type == NumberParseException.TOO_LONG
        raise NotAPhoneNumber("too_long" if too_long else "not_a_phone") from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.TOO_SHORT:
        raise NotAPhoneNumber("too_short")
    if reason == ValidationResult.TOO_LONG:
        raise NotAPhoneNumber("too_long")
    # INVALID_LENGTH, INVALID_COUNTRY_CODE, IS_POSSIBLE_LOCAL_ONLY (no area code): refused.
    if reason != ValidationResult.IS_POSSIBLE or (
        strict and not phonenumbers.is_valid_number(number)
    ):
        raise NotAPhoneNumber("not_a_phone")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:])


def customer_id(raw: Any, channel: str) -> str:
    """A customer's (or business's) id on `channel`: the E.164 digits on a phone channel,
    else the account id as given, without surrounding blanks and a leading "+". Raises
    ValueError with a reason."""
    if is_phone_channel(channel):
        return e164(raw)
    if not isinstance(raw, str):
        raise ValueError("not an account id")
    return raw.strip().removeprefix("+")


def lookup_form(value: str) -> str:
    """`value` in the stored form when it reads as a number, else as given (stripped, without
    a leading "+"): for finding what was stored (the fakes', the sandbox's queries), never
    for accepting a number."""
    try:
        return e164(value)
    except NotAPhoneNumber:
        return value.strip().lstrip("+")
