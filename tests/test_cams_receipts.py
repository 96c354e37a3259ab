"""Parsing CAMS receipt pushes and business-system calls, item by item."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.errors import BadRequest, PayloadTooLarge, Unauthorized
from bot.model import MAX_MESSAGE_ID, MAX_SPACE
from bot.platforms.cams.business import check_signature, parse_business_call, read_fields
from bot.platforms.cams.receipts import (
    MAX_ERROR_TEXT,
    AuditItem,
    BadItem,
    InboundItem,
    StatusItem,
    items_cap,
    parse_item,
    parse_receipts,
)

NOW = 1_700_000_000_000


def one(raw: Any) -> Any:
    return parse_item(0, raw, channel="whatsapp", now_ms=NOW)


BASE = {"MessageId": "m1", "From": "+8613900000001", "To": "8613800000000", "Timestamp": NOW}


@pytest.mark.parametrize(
    ("message", "kind", "text", "payload"),
    [
        ("hello", "text", "hello", None),
        ({"text": "hello"}, "text", "hello", None),
        ('{"looks": "like json"}', "text", '{"looks": "like json"}', None),
        (json.dumps({"text": "1"}), "text", "1", None),
        (json.dumps({"Body": "hello"}), "text", "hello", None),
        ('{"text": ["a"]}', "text", '{"text": ["a"]}', None),
        ("{not json, text: 1}", "text", "{not json, text: 1}", None),
    ],
)
def test_text_message_forms(message: Any, kind: str, text: str, payload: str | None) -> None:
    """TEXT's Message is the text itself, or the `text` (or `body`) of an object, given as
    such or JSON-encoded as REPLY items are; any other string stays as the customer typed
    it, braces and all."""
    item = one({**BASE, "Type": "TEXT", "Message": message})
    assert isinstance(item, InboundItem)
    assert (item.event.kind, item.event.text, item.event.payload) == (kind, text, payload)


@pytest.mark.parametrize(
    "message",
    [
        {"text": "Confirm", "payload": "CONFIRM"},
        json.dumps({"text": "Confirm", "payload": "CONFIRM"}),
        json.dumps({"Text": "Confirm", "Payload": "CONFIRM"}),
    ],
)
def test_reply_message_as_object_or_json_string(message: Any) -> None:
    """REPLY's Message may be an object or a JSON-encoded string; keys in any case."""
    item = one({**BASE, "Type": "REPLY", "Message": message})
    assert isinstance(item, InboundItem)
    assert (item.event.kind, item.event.text, item.event.payload) == ("reply", "Confirm", "CONFIRM")


def test_numbers_with_or_without_plus_name_one_conversation() -> None:
    """`+8613...` and `8613...` are the same customer and business."""
    a = one({**BASE, "Type": "TEXT", "Message": "x"})
    b = one(
        {**BASE, "From": "8613900000001", "To": "+8613800000000", "Type": "TEXT", "Message": "x"}
    )
    assert isinstance(a, InboundItem)
    assert isinstance(b, InboundItem)
    assert a.conv == b.conv
    assert a.conv.id == "cams:whatsapp:8613800000000:8613900000001"


def test_media_keeps_caption_and_unknown_types_are_kept() -> None:
    """Media carries its caption; an unknown Type is kept as kind `other`, never dropped."""
    image = one({**BASE, "Type": "IMAGE", "Message": json.dumps({"caption": "receipt", "id": "1"})})
    assert isinstance(image, InboundItem)
    assert (image.event.kind, image.event.text) == ("image", "receipt")
    odd = one({**BASE, "Type": "STICKER_V2", "Message": {"x": 1}})
    assert isinstance(odd, InboundItem)
    assert (odd.event.kind, odd.event.raw_type) == ("other", "STICKER_V2")


def test_timestamp_in_seconds_or_missing() -> None:
    """Seconds become milliseconds; a missing Timestamp is the time of arrival."""
    s = one({**BASE, "Timestamp": 1_700_000_000, "Type": "TEXT", "Message": "x"})
    m = one({k: v for k, v in BASE.items() if k != "Timestamp"} | {"Type": "TEXT", "Message": "x"})
    assert isinstance(s, InboundItem)
    assert isinstance(m, InboundItem)
    assert s.event.at_ms == 1_700_000_000_000
    assert m.event.at_ms == NOW


def test_status_and_audit_items() -> None:
    """Status items are told apart by `Status`; TaskId defaults to the MessageId."""
    st = one({"MessageId": "s1", "From": "8613800000000", "To": "8613900000001",
              "Status": "Failed", "ErrorCode": "131026", "Timestamp": NOW})  # fmt: skip
    assert isinstance(st, StatusItem)
    assert st.status.task_id == "s1"
    assert st.status.error_code == "131026"
    assert st.conv.customer == "8613900000001"
    audit = one({"TemplateCode": "t", "AuditStatus": "pass"})
    assert isinstance(audit, AuditItem)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({**BASE, "MessageId": "", "Type": "TEXT", "Message": "x"}, "missing MessageId"),
        ({"MessageId": "m", "To": "1", "Type": "TEXT", "Message": "x"}, "missing From"),
        ({**BASE, "Timestamp": "soon", "Type": "TEXT", "Message": "x"}, "Timestamp"),
        ({**BASE, "Type": "TEXT", "Message": ["a"]}, "expected a string"),
        ({"hello": 1}, "neither a message"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_bad_items_are_reported_one_by_one(raw: Any, reason: str) -> None:
    """A bad item becomes a BadItem with a reason; it never raises."""
    item = one(raw)
    assert isinstance(item, BadItem)
    assert reason in item.reason


def test_ids_are_taken_up_to_their_caps_and_refused_beyond() -> None:
    """MessageId and TaskId (Redis keys) up to MAX_MESSAGE_ID characters, CustSpaceId (a
    stored field) up to MAX_SPACE are taken; one more character makes a bad item naming the
    field. Error texts of a status are cut, not refused."""
    text = {**BASE, "Type": "TEXT", "Message": "x"}
    status = {"MessageId": "s1", "From": "8613800000000", "To": "8613900000001",
              "Status": "Read"}  # fmt: skip
    fits = [
        {**text, "MessageId": "m" * MAX_MESSAGE_ID},
        {**text, "CustSpaceId": "s" * MAX_SPACE},
        {**status, "MessageId": "m" * MAX_MESSAGE_ID, "TaskId": "t" * MAX_MESSAGE_ID},
    ]
    for raw in fits:
        assert isinstance(one(raw), InboundItem | StatusItem), raw
    over = [
        ({**text, "MessageId": "m" * (MAX_MESSAGE_ID + 1)}, "MessageId"),
        ({**text, "CustSpaceId": "s" * (MAX_SPACE + 1)}, "CustSpaceId"),
        ({**status, "MessageId": "m" * 900_000}, "MessageId"),
        ({**status, "TaskId": "t" * (MAX_MESSAGE_ID + 1)}, "TaskId"),
    ]
    for raw, field in over:
        item = one(raw)
        assert isinstance(item, BadItem)
        assert item.reason.startswith(f"{field} is over"), item.reason
    long_error = one({**status, "ErrorDescription": "e" * 10_000, "ErrorCode": "c" * 10_000})
    assert isinstance(long_error, StatusItem)
    assert len(long_error.status.error_description) == len(long_error.status.error_code)
    assert len(long_error.status.error_code) == MAX_ERROR_TEXT


def test_a_push_over_the_items_cap_is_refused_whole() -> None:
    """A push holds at most one item per 100 bytes of the size limit: 10,485 for 1 MiB;
    one more is a PayloadTooLarge (413) naming the cap, before any item is read."""
    assert items_cap(1024 * 1024) == 10_485
    cap = items_cap(8192)
    assert len(parse_receipts(b"[" + b",".join([b"{}"] * cap) + b"]", channel="w", now_ms=0,
                              max_items=cap)) == cap  # fmt: skip
    with pytest.raises(PayloadTooLarge, match=f"at most {cap}"):
        parse_receipts(b"[" + b",".join([b"{}"] * (cap + 1)) + b"]", channel="w", now_ms=0,
                       max_items=cap)  # fmt: skip


@pytest.mark.parametrize("body", [b"", b"{", b"1", b"\xff", b'"x"', b"true"])
def test_unusable_bodies_raise_bad_request(body: bytes) -> None:
    """A body that is not a JSON array (or one item) is refused as a whole."""
    with pytest.raises(BadRequest):
        parse_receipts(body, channel="whatsapp", now_ms=NOW)


def test_signature_locations_and_rotation() -> None:
    """The Signature is accepted from headers, Bearer auth or fields; any listed value works."""
    secrets = ["old", "new"]
    check_signature({"Signature": "old"}, {}, secrets)
    check_signature({"Authorization": "Bearer new"}, {}, secrets)
    check_signature({}, {"sign": "new"}, secrets)
    check_signature({}, {"Token": "old"}, secrets)
    with pytest.raises(Unauthorized, match="does not match"):
        check_signature({"Signature": "older"}, {}, secrets)
    with pytest.raises(Unauthorized, match="no signature"):
        check_signature({}, {"phone": "1"}, secrets)
    with pytest.raises(Unauthorized):
        check_signature({"Signature": ""}, {}, [""])


def test_business_call_field_names() -> None:
    """Intent code, data (object or JSON string), customer and ids under their likely names."""
    fields = read_fields(
        "application/json",
        json.dumps({"IntentCode": "x", "IntentData": '{"a": 1}', "PhoneNumber": "+8613900000001",
                    "CustSpaceId": "cams-1", "ChannelType": "WhatsApp"}).encode(),
        {},
    )  # fmt: skip
    call = parse_business_call(fields, {}, default_business="8613800000000")
    assert (call.code, call.data, call.customer, call.space) == (
        "x",
        {"a": 1},
        "8613900000001",
        "cams-1",
    )
    assert call.channel == "whatsapp"
    assert call.message_key.startswith("body:")
    form = read_fields(
        "application/x-www-form-urlencoded", b"code=y&to=%2B8613900000002&requestId=r9", {}
    )
    call = parse_business_call(form, {}, default_business=None)
    assert (call.code, call.customer, call.message_key) == ("y", "8613900000002", "id:r9")


def test_business_call_from_and_to() -> None:
    """With From and To, the one that is not our business number is the customer."""
    ours = "8613800000000"
    call = parse_business_call({"code": "x", "From": ours, "To": "8613900000001"}, {},
                               default_business=ours)  # fmt: skip
    assert call.customer == "8613900000001"
    call = parse_business_call({"code": "x", "From": "8613900000001", "To": ours}, {},
                               default_business=ours)  # fmt: skip
    assert call.customer == "8613900000001"
    # Any number of `numbers:` is ours too.
    support = "34600000001"
    call = parse_business_call({"code": "x", "From": "+34 600 000 001", "To": "8613900000001"},
                               {}, default_business=ours, businesses=[support])  # fmt: skip
    assert (call.customer, call.business) == ("8613900000001", support)


def test_business_call_idempotency_key_header() -> None:
    """An Idempotency-Key header names the call, so a retry is recognised."""
    call = parse_business_call({"code": "x", "phone": "8613900000001"}, {"Idempotency-Key": "k1"},
                               default_business=None)  # fmt: skip
    assert call.message_key == "id:k1"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"[1]"),
        ("application/json", b"{"),
        ("application/x-www-form-urlencoded", b"%zz=1&&"),
    ],
)
def test_business_call_unreadable_bodies(content_type: str, body: bytes) -> None:
    """A body that is neither a JSON object nor a form is a 400 with a reason."""
    with pytest.raises(BadRequest):
        read_fields(content_type, body, {})


@pytest.mark.parametrize("number", ["86:139", "86\t139", "x" * 65, "<script>"])
def test_numbers_that_cannot_name_a_conversation_are_refused(number: str) -> None:
    """From/To must be a phone number or an account id: nothing that could forge a key."""
    item = one({**BASE, "From": number, "Type": "TEXT", "Message": "x"})
    assert isinstance(item, BadItem)


def test_media_messages_keep_what_cams_said_of_them() -> None:
    """A photo, a document, a location and shared contacts keep their media id, URL, type,
    file name and caption; coordinates on the globe; contacts' names and phones. What is
    not a string or a number is left out, long texts are cut, URLs kept to 2,048."""
    photo = {"id": "m-1", "mimeType": "image/jpeg", "url": "https://x/" + "a" * 5000,
             "caption": "the box", "sha256": "x"}  # fmt: skip
    item = one({**BASE, "Type": "IMAGE", "Message": json.dumps(photo)})
    media = item.event.media
    assert (item.event.kind, item.event.text) == ("image", "the box")
    assert media == {"kind": "image", "id": "m-1", "url": photo["url"][:2048],
                     "mime_type": "image/jpeg", "caption": "the box"}  # fmt: skip
    doc = {"id": "d-1", "filename": "invoice.pdf", "mimeType": "application/pdf",
           "url": "https://x/d", "name": {"not": "a string"}}  # fmt: skip
    assert one({**BASE, "Type": "DOCUMENT", "Message": doc}).event.media == {
        "kind": "document", "id": "d-1", "url": "https://x/d", "mime_type": "application/pdf",
        "filename": "invoice.pdf",
    }  # fmt: skip
    place = {"latitude": "-33.86", "longitude": 151.21, "name": "Quay", "address": "x" * 2000}
    assert one({**BASE, "Type": "LOCATION", "Message": json.dumps(place)}).event.media == {
        "kind": "location", "latitude": -33.86, "longitude": 151.21, "name": "Quay",
        "address": "x" * 1024,
    }  # fmt: skip
    off = {"latitude": 120, "longitude": 0, "name": "Off the globe"}
    assert one({**BASE, "Type": "LOCATION", "Message": off}).event.media == {
        "kind": "location", "name": "Off the globe",
    }  # fmt: skip
    ana = {"name": {"formatted_name": "Ana Lima"}, "phones": [{"phone": "+55 11 91234 5678"}]}
    contacts = [ana, "junk"] + [{"name": f"n{i}"} for i in range(20)]
    shared = one({**BASE, "Type": "CONTACTS", "Message": json.dumps(contacts)}).event
    assert shared.kind == "contacts"
    assert shared.media is not None
    assert shared.media["contacts"][0] == {"name": "Ana Lima", "phones": ["+55 11 91234 5678"]}
    assert len(shared.media["contacts"]) == 10
    assert one({**BASE, "Type": "TEXT", "Message": "hi"}).event.media is None


def test_a_coordinate_too_large_for_a_float_is_none_not_a_crash() -> None:
    """A latitude of 10**400 (valid JSON) is no coordinate: the item is kept without it."""
    place = '{"latitude": 1' + "0" * 400 + ', "longitude": 2, "name": "Far"}'
    media = one({**BASE, "Type": "LOCATION", "Message": place}).event.media
    assert media == {"kind": "location", "name": "Far"}
