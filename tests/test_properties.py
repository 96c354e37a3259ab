"""Properties of the payload parsers and signature checks: for any input they return, or
raise one of our own errors (bot.errors), never anything else; and what they should accept
they do accept (round trips)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import BadRequest, BotError, Forbidden, SignatureMismatch, Unauthorized
from bot.platforms.cams.business import (
    BusinessCall,
    check_signature,
    parse_business_call,
    read_fields,
)
from bot.platforms.cams.receipts import (
    AuditItem,
    BadItem,
    InboundItem,
    StatusItem,
    parse_item,
    parse_receipts,
)
from bot.platforms.cams.signing import sign_request, verify_request
from bot.platforms.tencent.auth import sign, verify_callback
from bot.platforms.tencent.callbacks import (
    AFTER_SEND,
    BEFORE_SEND,
    BeforeSend,
    Ignored,
    TencentMessage,
    parse_callback,
)
from bot.wire import MAX_DEPTH, decode_json

T = TypeVar("T")

PROPERTY = settings(
    max_examples=max(200, settings.default.max_examples),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- strategies ----------------------------------------------------------------------------------

# Text as a request can carry it: any code point, and now and then a lone surrogate (what
# aiohttp makes of undecodable header bytes).
texts = st.text(max_size=24) | st.builds(
    lambda a, s, b: a + s + b,
    st.text(max_size=8),
    st.sampled_from(["\udcff", "\ud800", "\udc80"]),
    st.text(max_size=8),
)
numbers = st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | numbers
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=16,
)


def fields_of(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects over likely field names (and some others) with any JSON values."""
    keys = st.sampled_from(names) | st.text(max_size=10)
    values = json_values | numbers | st.sampled_from(names) | json_values.map(json.dumps)
    return st.dictionaries(keys, values, max_size=8)


RECEIPT_FIELDS = ["MessageId", "From", "To", "Type", "Message", "Timestamp", "Timestamp ", "Status",
                  "AuditStatus", "TemplateCode", "TaskId", "ErrorCode", "CustSpaceId"]  # fmt: skip
MESSAGE_FIELDS = ["text", "Text", "body", "payload", "id", "title", "caption"]
BUSINESS_FIELDS = ["intentCode", "intent", "code", "intentData", "data", "phone", "customer",
                   "From", "To", "from", "to", "channel", "custSpaceId", "requestId", "id",
                   "signature", "sign", "token", "business", "message", "payload"]  # fmt: skip
TENCENT_FIELDS = ["CallbackCommand", "From_Account", "To_Account", "MsgSeq", "MsgRandom", "MsgTime",
                  "MsgKey", "MsgId", "EventTime", "SendMsgResult", "MsgBody"]  # fmt: skip

receipt_items = fields_of(RECEIPT_FIELDS) | st.builds(
    lambda item, message: {**item, "Message": message},
    fields_of(RECEIPT_FIELDS),
    fields_of(MESSAGE_FIELDS) | fields_of(MESSAGE_FIELDS).map(json.dumps),
)
tencent_elements = st.fixed_dictionaries(
    {},
    optional={
        "MsgType": st.sampled_from(["TIMTextElem", "TIMCustomElem", "TIMImageElem"]) | scalars,
        "MsgContent": fields_of(["Text", "Data", "Desc"]) | scalars,
    },
)
tencent_bodies = st.builds(
    lambda body, elements: {**body, "MsgBody": elements},
    fields_of(TENCENT_FIELDS),
    st.lists(tencent_elements, max_size=3) | scalars,
)


def mutated(payloads: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Encoded payloads, some with a byte replaced or cut short."""

    def mutate(raw: bytes, data: st.DataObject) -> bytes:
        if not raw or data.draw(st.booleans()):
            return raw
        at = data.draw(st.integers(0, len(raw) - 1))
        if data.draw(st.booleans()):
            return raw[:at]
        return raw[:at] + bytes([data.draw(st.integers(0, 255))]) + raw[at + 1 :]

    encoded = payloads.map(lambda p: json.dumps(p).encode())
    return st.builds(mutate, encoded, st.data())


def ours(call: Callable[[], T]) -> T | BotError:
    """The call's value, or the BotError it raised; any other exception fails the test."""
    try:
        return call()
    except BotError as e:
        return e


# -- the strict decoder ---------------------------------------------------------------------------


@PROPERTY
@given(st.binary(max_size=256) | mutated(json_values))
def test_decode_json_takes_any_bytes(raw: bytes) -> None:
    result = ours(lambda: decode_json(raw, trailing_commas=True))
    if isinstance(result, BotError):
        assert isinstance(result, BadRequest)
        assert result.reason


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@PROPERTY
@given(json_values)
def test_decode_json_round_trips_what_it_should_take(value: Any) -> None:
    """Finite numbers, unique keys, shallow nesting: decoded back to the same value."""
    assert _depth(value) <= MAX_DEPTH
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert decode_json(raw) == value
    assert decode_json(json.dumps(value)) == value


@PROPERTY
@given(json_values, st.integers(1, 3))
def test_trailing_commas_are_tolerated_only_when_asked(value: Any, commas: int) -> None:
    raw = json.dumps([value]).encode()
    sloppy = raw[:-1] + b"," * 1 + b" " * commas + b"]"
    assert decode_json(sloppy, trailing_commas=True) == [value]
    with pytest.raises(BadRequest, match="not JSON"):
        decode_json(sloppy)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": 1, "a": 1}', "duplicate key"),
        (b"[NaN]", "NaN"),
        (b"[Infinity]", "Infinity"),
        (b"[1e400]", "out of range"),
        (b'["\\udfff"]', "surrogate"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "deeper"),
        (b"\xc3\x28", "UTF-8"),
        (b"  ", "empty"),
    ],
)
def test_decode_json_refusals_name_the_problem(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        decode_json(raw, trailing_commas=True)


def test_a_string_with_a_trailing_comma_inside_is_left_alone() -> None:
    assert decode_json(b'{"a": "x,]", "b": [1,],}', trailing_commas=True) == {"a": "x,]", "b": [1]}


# -- CAMS receipts ---------------------------------------------------------------------------------


@PROPERTY
@given(
    st.binary(max_size=256) | mutated(st.lists(receipt_items, max_size=4)) | mutated(receipt_items)
)
def test_parse_receipts_takes_any_bytes(raw: bytes) -> None:
    result = ours(lambda: parse_receipts(raw, channel="whatsapp", now_ms=1))
    if isinstance(result, BotError):
        assert isinstance(result, BadRequest)
    else:
        assert all(isinstance(i, InboundItem | StatusItem | AuditItem | BadItem) for i in result)


@PROPERTY
@given(receipt_items | json_values)
def test_parse_item_never_raises(raw: Any) -> None:
    """One item is always an item: a bad one becomes a BadItem with a reason."""
    item = parse_item(0, raw, channel="whatsapp", now_ms=1)
    if isinstance(item, BadItem):
        assert item.reason
    if isinstance(item, InboundItem | StatusItem):
        assert json.dumps(item.conv.id).isascii()
        assert all(1 <= len(p) <= 64 for p in (item.conv.business, item.conv.customer))


# -- CAMS business calls ---------------------------------------------------------------------------

content_types = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "", "multipart/x"]
) | texts.map(str)


@PROPERTY
@given(
    content_types,
    st.binary(max_size=128) | mutated(fields_of(BUSINESS_FIELDS)),
    st.dictionaries(texts, texts, max_size=3),
)
def test_read_fields_takes_any_body(content_type: str, raw: bytes, query: dict[str, str]) -> None:
    result = ours(lambda: read_fields(content_type, raw, query))
    if isinstance(result, BotError):
        assert isinstance(result, BadRequest)
    else:
        assert isinstance(result, dict)


@PROPERTY
@given(
    fields_of(BUSINESS_FIELDS), st.dictionaries(st.sampled_from(["Idempotency-Key", "X"]), texts)
)
def test_parse_business_call_takes_any_fields(
    fields: dict[str, Any], headers: dict[str, str]
) -> None:
    result = ours(lambda: parse_business_call(fields, headers, default_business="8613800000000"))
    if isinstance(result, BotError):
        assert isinstance(result, BadRequest)
        assert result.reason
    else:
        assert isinstance(result, BusinessCall)
        assert result.code
        assert result.customer
        assert len(result.message_key) <= 200
        result.message_key.encode()  # storable


signature_headers = st.dictionaries(
    st.sampled_from(["Signature", "X-Signature", "Authorization", "Token", "Other"]),
    texts | st.sampled_from(["Bearer right", "Token right", "right"]),
    max_size=3,
)


@PROPERTY
@given(
    signature_headers,
    fields_of(["signature", "sign", "token", "phone"]),
    st.lists(texts | st.just("right"), max_size=3),
)
def test_check_signature_passes_or_is_unauthorized(
    headers: dict[str, str], fields: dict[str, Any], secrets: list[str]
) -> None:
    result = ours(lambda: check_signature(headers, fields, secrets))
    if isinstance(result, BotError):
        assert isinstance(result, Unauthorized)
    else:
        assert any(s for s in secrets)  # nothing passes without a configured secret


# -- Tencent Chat --------------------------------------------------------------------------------


@PROPERTY
@given(
    st.sampled_from([AFTER_SEND, BEFORE_SEND, "Group.CallbackAfterSendMsg", ""]) | texts,
    st.binary(max_size=128) | mutated(tencent_bodies),
    st.sampled_from(["Web", "RESTAPI", ""]),
)
def test_parse_callback_takes_any_body(command: str, raw: bytes, platform: str) -> None:
    result = ours(
        lambda: parse_callback(
            command, raw, identifier="bot", sdkappid="1400000000", opt_platform=platform
        )
    )
    if isinstance(result, BotError):
        assert isinstance(result, BadRequest)
    else:
        assert isinstance(result, TencentMessage | BeforeSend | Ignored)


tencent_queries = st.fixed_dictionaries(
    {},
    optional={
        "SdkAppid": st.sampled_from(["1400000000"]) | texts,
        "Sign": st.from_regex(r"[0-9a-f]{64}", fullmatch=True) | texts,
        "RequestTime": st.from_regex(r"[0-9]{10}", fullmatch=True) | texts,
    },
)


@PROPERTY
@given(tencent_queries, st.lists(texts, max_size=2), st.floats(0, 4e9), st.floats(1, 120))
def test_verify_callback_passes_or_refuses(
    query: dict[str, str], tokens: list[str], now: float, skew: float
) -> None:
    result = ours(
        lambda: verify_callback(query, sdkappid="1400000000", tokens=tokens, now=now, max_skew=skew)
    )
    assert isinstance(result, str | Unauthorized | Forbidden)


@PROPERTY
@given(st.text(min_size=1, max_size=32), st.integers(10**9, 9_999_999_999), st.floats(-50, 50))
def test_a_signed_callback_verifies(token: str, at: int, offset: float) -> None:
    when = str(at)
    query = {"SdkAppid": "1400000000", "RequestTime": when, "Sign": sign(token, when)}
    got = verify_callback(query, sdkappid="1400000000", tokens=["other", token], now=at + offset)
    assert got == sign(token, when)


# -- CAMS request signing (the fake CAMS's verifier) ----------------------------------------------

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Authorization",
                "host",
                "x-acs-date",
                "x-acs-content-sha256",
                "x-acs-action",
                "x-acs-version",
                "x-acs-signature-nonce",
                "content-type",
                "Other",
            ]
        ),
        texts | st.just("ACS3-HMAC-SHA256 Credential=key,SignedHeaders=host,Signature=ab"),
        max_size=8,
    ),
    texts,
    st.binary(max_size=64),
    texts,
)
def test_verify_request_passes_or_is_a_signature_mismatch(
    headers: dict[str, str], query: str, body: bytes, path: str
) -> None:
    result = ours(
        lambda: verify_request(
            {"key": "secret"},
            method="POST",
            path=path,
            raw_query_string=query,
            headers=headers,
            body=body,
            now=NOW,
        )
    )
    assert isinstance(result, SignatureMismatch), result


@PROPERTY
@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=16), max_size=4),
    st.binary(max_size=64),
    st.integers(-800, 800),
)
def test_a_signed_request_verifies(query: dict[str, str], body: bytes, skew: int) -> None:
    query_string, headers = sign_request(
        "key",
        "secret",
        method="POST",
        host="cams.example",
        path="/",
        query=query,
        body=body,
        action="SendChatappMessage",
        version="2020-06-06",
        content_type="application/x-www-form-urlencoded" if body else None,
        now=NOW + timedelta(seconds=skew),
        nonce="n-1",
    )
    got = verify_request(
        {"key": "secret"},
        method="POST",
        path="/",
        raw_query_string=query_string,
        headers=headers,
        body=body,
        now=NOW,
    )
    assert got == "key"
    encoded = urlencode(query)  # the SDK's own encoding ('+' for spaces) verifies too
    assert (
        verify_request(
            {"key": "secret"},
            method="POST",
            path="/",
            raw_query_string=encoded,
            headers=headers,
            body=body,
            now=NOW,
        )
        == "key"
    )
