"""Contacts in answers: phone and email slots."""

from __future__ import annotations

import pytest

from tests.answers_support import accepts, rejects, slot_spec

# --- phone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "text", "value"),
    [
        (None, "+86 138 0013 8000", "8613800138000"),
        (None, "+1 (202) 555-0143", "12025550143"),
        (None, "+44 (0)20 7946 0958", "442079460958"),
        (None, "0044 20 7946 0958", "442079460958"),
        (None, "+34.612.345.678", "34612345678"),
        (None, "8613800138000", "8613800138000"),
        (
            None,
            "\uff0b\uff18\uff16 \uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10",
            "8613800138000",
        ),
        (None, "tel:+34612345678", "34612345678"),
        ("86", "0138 0013 8000", "8613800138000"),
        ("86", "(010) 1234 5678", "861012345678"),
        ("86", "138 0013 8000", "8613800138000"),
        ("CN", "138 0013 8000", "8613800138000"),
        ("86", "+44 20 7946 0958", "442079460958"),
        ("86", "0044 20 7946 0958", "442079460958"),
        ("44", "07946 095 800", "447946095800"),
        ("US", "(415) 555-2671", "14155552671"),
    ],
)
def test_phone_normalises_to_digits_with_country_code(
    region: str | None, text: str, value: str
) -> None:
    """ "+" or "00" gives the country code; a national number takes `default_region`'s (an
    ISO code, or a calling code for its main region); the value keeps the country code."""
    accepts(slot_spec("phone", default_region=region), text, value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("12345", "too_short"),
        ("123456", "too_short"),
        ("+44 123", "too_short"),
        ("+123456789012345", "too_long"),
        ("13800138000", "not_a_phone"),  # national, and no region to read it in
        ("020 7946 0958", "not_a_phone"),
        ("1234567890123456", "too_long"),
        ("+1 234 567 890 123 456", "too_long"),
        ("call me", "not_a_phone"),
        ("138-0013-8000 ext 5", "not_a_phone"),
        ("138+0013", "not_a_phone"),
        ("++86 138 0013 8000", "not_a_phone"),
        ("+0086 138 0013 8000", "not_a_phone"),
        ("000 1234 5678", "not_a_phone"),
        ("+", "not_a_phone"),
        ("()-.", "not_a_phone"),
        ("138/0013/8000", "not_a_phone"),
    ],
)
def test_phone_rejects_wrong_characters_and_lengths(text: str, error: str) -> None:
    """Only digits and phone punctuation, a number libphonenumber knows to be in use, with a
    country code (there is no region to read a national number in)."""
    rejects(slot_spec("phone"), text, error)


# --- email ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ana@example.com", "ana@example.com"),
        ("John.Doe@Example.COM", "John.Doe@example.com"),
        ("  x+tag@mail.example.co.uk ", "x+tag@mail.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("a_b-c@sub-domain.example.org", "a_b-c@sub-domain.example.org"),
        ("mailto:ana@example.com", "ana@example.com"),
        ("<ana@example.com>", "ana@example.com"),
        ("josé@correo.es", "josé@correo.es"),
        ("x@MÜNCHEN.de", "x@münchen.de"),
        ("x@xn--80ak6aa92e.xn--p1ai", "x@xn--80ak6aa92e.xn--p1ai"),
        ("x@1.example.com", "x@1.example.com"),
    ],
)
def test_email_accepts_pragmatic_addresses_and_lowercases_the_domain(text: str, value: str) -> None:
    """A local part, one "@" and a dotted domain with a real TLD; the domain is lower-cased."""
    accepts(slot_spec("email"), text, value)


@pytest.mark.parametrize(
    "text",
    [
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "ana@@example.com",
        "a@b@example.com",
        "ana @example.com",
        "ana@exa mple.com",
        "ana@example.c",
        "ana@example.123",
        "ana@-example.com",
        "ana@example-.com",
        "ana@exa_mple.com",
        "ana@example..com",
        "ana@.example.com",
        "ana@example.com.",
        ".ana@example.com",
        "ana.@example.com",
        "a..na@example.com",
        "an(a)@example.com",
        "ana\x00@example.com",
        "x" * 65 + "@example.com",
        "ana@" + "a" * 64 + ".com",
    ],
)
def test_email_rejects_malformed_addresses(text: str) -> None:
    """Addresses without exactly one "@", with spaces or with a bad domain are refused."""
    rejects(slot_spec("email"), text, "not_an_email")
