"""One customer, one conversation: every number that enters is read by libphonenumber into one
stored form (bot.phones), and what is not a number is refused where it enters."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import NotAPhoneNumber
from bot.flows.compiler import compile_catalog
from bot.flows.engine import Engine
from bot.flows.loader import load_catalog
from bot.model import Conversation, Inbound, IntentStart, StepContext
from bot.phones import customer_id, e164, region_code
from bot.web.keys import STORE
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, SIGNATURES, eventually, inbound

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API_KEY = "phones-api-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.mark.parametrize(
    "written",
    [
        "+8613900000001",
        "008613900000001",
        "8613900000001",
        "+86 139-0000-0001",
        "+86 (139) 0000 0001",
        "\uff0b\uff18\uff16\uff11\uff13\uff19\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff11",
        " tel:+8613900000001 ",
    ],
)
def test_every_international_form_is_one_number(written: str) -> None:
    """With "+", with "00", as CAMS writes it, spaced, fullwidth: one stored form."""
    assert e164(written) == "8613900000001"


@pytest.mark.parametrize(
    "value", ["abc", "0", True, 7.6e262, "7.6e262", None, "", "+", "1" * 65, {"n": 1}, "12"]
)
def test_what_is_not_a_number_is_refused(value: Any) -> None:
    """Words, booleans, floats, blanks, a lone "+", absurd lengths: NotAPhoneNumber."""
    with pytest.raises(NotAPhoneNumber):
        e164(value)


@pytest.mark.parametrize(
    ("written", "region", "stored"),
    [
        ("13900000001", "CN", "8613900000001"),
        ("(415) 555-2671", "US", "14155552671"),
        ("020 7946 0958", "GB", "442079460958"),
        ("+34 612 345 678", "US", "34612345678"),
    ],
)
def test_a_national_number_takes_its_region(written: str, region: str, stored: str) -> None:
    """With a region, a national number gets the region's country code."""
    assert e164(written, region=region, strict=True) == stored


@pytest.mark.parametrize(("value", "region"), [("US", "US"), ("gb", "GB"), ("86", "CN"),
                                               ("+44", "GB"), (1, "US")])  # fmt: skip
def test_regions_are_iso_codes_or_calling_codes(value: Any, region: str) -> None:
    """`default_region:` takes an ISO code, or a calling code for its main region."""
    assert region_code(value) == region


@pytest.mark.parametrize("value", ["XX", "999", "0", "abc", ""])
def test_unknown_regions_are_refused(value: str) -> None:
    """A region libphonenumber does not know is refused."""
    with pytest.raises(ValueError, match="is not"):
        region_code(value)


def test_account_channels_keep_their_ids() -> None:
    """Messenger, Instagram and Telegram name accounts: their ids stay as given."""
    assert customer_id(" 1234567890123456 ", "messenger") == "1234567890123456"
    assert customer_id("alice", "telegram") == "alice"
    with pytest.raises(NotAPhoneNumber):
        customer_id("alice", "whatsapp")


REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(r))


@settings(max_examples=200, deadline=None)
@given(region=st.sampled_from(REGIONS), style=st.sampled_from(["e164", "intl", "00", "digits"]))
def test_any_number_in_any_international_form_is_stored_alike(region: str, style: str) -> None:
    """An example number of every region, written in any international form, is stored as
    its E.164 digits."""
    number = phonenumbers.example_number(region)
    assert number is not None
    plus = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    written = {
        "e164": plus,
        "intl": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        "00": "00" + plus[1:],
        "digits": plus[1:],
    }[style]
    assert e164(written) == plus[1:]


# -- where numbers enter -------------------------------------------------------------------------


async def _conversation_version(client: TestClient[Any, Any], customer: str) -> int:
    conv = await client.server.app[STORE].load(f"cams:whatsapp:{BUSINESS}:{customer}")
    return conv.version


async def test_two_forms_of_one_number_are_one_conversation(make_client: AppFactory) -> None:
    """`008613900000001` and `+8613900000001` (and CAMS's `8613900000001`) from one customer
    are one conversation: the second message answers the first's menu."""
    client = await make_client()
    for i, form in enumerate(["008613900000001", "+8613900000001", "86 139 0000 0001"]):
        item = inbound("hi" if i == 0 else "9", customer=form)
        assert (await client.post(RECEIPTS, json=[item])).status == 200
        await eventually(lambda i=i: _at_least(client, i + 1), what=f"message {i + 1} stepped")


async def _at_least(client: TestClient[Any, Any], version: int) -> bool:
    return await _conversation_version(client, "8613900000001") >= version


@pytest.mark.parametrize("customer", ["abc", "0", "7.6e262", "+0086 1", "1" * 80])
async def test_a_receipt_from_what_is_no_number_is_skipped(
    make_client: AppFactory, customer: str
) -> None:
    """A receipt item whose From is no phone number is skipped (the batch is still stored),
    and no conversation is made for it."""
    client = await make_client()
    good = inbound("hi", customer="8613900000009")
    bad = inbound("hi", customer=customer)
    assert (await client.post(RECEIPTS, json=[bad, good])).status == 200
    await eventually(lambda: _version_of(client, "8613900000009"), what="the good one stepped")
    store = client.server.app[STORE]
    conv = await store.load(f"cams:whatsapp:{BUSINESS}:{customer.strip()}")
    assert conv.version == 0


async def _version_of(client: TestClient[Any, Any], customer: str) -> bool:
    return await _conversation_version(client, customer) > 0


@pytest.mark.parametrize(
    ("customer", "field"),
    [("abc", "customer"), ("0", "customer"), ("7.6e262", "customer"), ("", "customer")],
)
async def test_the_api_refuses_what_is_no_number_naming_the_field(
    make_client: AppFactory, customer: str, field: str
) -> None:
    """POST /v1/intents answers 400 naming `customer` for a number that is not one."""
    client = await make_client(api_keys=API_KEY)
    resp = await client.post(
        "/v1/intents/appointment_reminder", json={"customer": customer}, headers=AUTH
    )
    assert resp.status == 400
    assert (await resp.json())["msg"].startswith(f"{field}")


async def test_the_api_stores_the_number_in_its_one_form(make_client: AppFactory) -> None:
    """POST /v1/intents with `+86 139-0000-0003` starts the conversation of 8613900000003."""
    client = await make_client(api_keys=API_KEY)
    resp = await client.post(
        "/v1/intents/appointment_reminder",
        json={"customer": "+86 139-0000-0003", "data": {"name": "Ana"}},
        headers=AUTH,
    )
    assert resp.status == 202
    assert (await resp.json())["conversation"] == f"cams:whatsapp:{BUSINESS}:8613900000003"


@pytest.mark.parametrize("phone", [True, 7.6e262, "abc", "0"])
async def test_the_business_call_refuses_what_is_no_number(
    make_client: AppFactory, phone: Any
) -> None:
    """CAMS's business call with `{"phone": true}` (or a float, a word, "0") is a 400 naming
    the customer, not a conversation keyed `True`."""
    client = await make_client()
    resp = await client.post(
        "/cams/business",
        json={"intentCode": "appointment_reminder", "phone": phone},
        headers={"Signature": SIGNATURES[0]},
    )
    assert resp.status == 400
    assert "customer" in (await resp.json())["msg"]


# -- collect: phone ----------------------------------------------------------------------------

ASK_PHONE = """\
    flows:
      f:
        start: ask
        states:
          ask:
            say: "Your number?"
            collect: {slot: phone, type: phone, %s go: done}
          done: {say: "Thanks, {{ phone }}."}
    """


def _collected(tmp_path: Path, region: str, answer: str, customer: str) -> object:
    folder = tmp_path / f"r{abs(hash((region, answer, customer)))}"
    folder.mkdir()
    (folder / "intents").mkdir()
    (folder / "flows.yaml").write_text(textwrap.dedent(ASK_PHONE % region))
    engine = Engine(compile_catalog(load_catalog(folder / "flows.yaml", folder / "intents")))
    ctx = StepContext(conv_id=f"cams:whatsapp:{BUSINESS}:{customer}", customer=customer,
                      channel="whatsapp")  # fmt: skip
    first = engine.step(Conversation(), IntentStart("i", 1, "", flow="f"), 1, ctx)
    result = engine.step(first.conversation, Inbound("m", 2, "text", answer), 2, ctx)
    return result.conversation.data.get("phone")


@pytest.mark.parametrize(
    ("region", "answer", "customer", "stored"),
    [
        ("default_region: 86,", "13900000001", "8613900000001", "8613900000001"),
        ("default_region: CN,", "139 0000 0001", "14155552671", "8613900000001"),
        ("default_region: US,", "(415) 555-2671", "8613900000001", "14155552671"),
        ("", "612 345 678", "34612345678", "34612345678"),  # the customer's own region
        ("", "+44 20 7946 0958", "34612345678", "442079460958"),
        ("", "abc", "34612345678", None),
        ("", "12", "34612345678", None),
    ],
)
def test_collect_phone_keeps_the_country_code(
    tmp_path: Path, region: str, answer: str, customer: str, stored: str | None
) -> None:
    """`collect: phone` stores E.164 digits: a national answer takes `default_region:` (ISO,
    or a calling code), else the region of the customer's own number; no number, no value."""
    assert _collected(tmp_path, region, answer, customer) == stored
