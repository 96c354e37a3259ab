"""Input limits through the full app, endpoint by endpoint: body size (413, also before a
byte of an oversized body is sent, and for streamed bodies), Content-Type (415), strict JSON
(400), slow bodies (408), unreadable bodies (400). Nothing refused is stored."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.platforms.tencent.auth import sign
from bot.web.body import SMALL_BODY
from bot.wire import MAX_DEPTH
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, SIGNATURES, inbound

MAX_BODY = 8192
TIMEOUT = 0.5
API_KEY = "limits-api-key"
APP = "1400000002"
TOKEN = "limits-callback-token"
BOT = "shopbot"
CONV = f"cams:whatsapp:{BUSINESS}:8613900000701"


def tencent_query(command: str = "C2C.CallbackAfterSendMsg", **extra: str) -> str:
    when = str(int(time.time()))
    return urlencode(
        {
            "SdkAppid": APP,
            "CallbackCommand": command,
            "contenttype": "json",
            "RequestTime": when,
            "Sign": sign(TOKEN, when),
            **extra,
        }
    )


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: Callable[[], str]
    limit: int
    headers: dict[str, str] = field(default_factory=dict)


ENDPOINTS = [
    Endpoint("receipts", lambda: f"/cams/receipts?token={RECEIPT_TOKEN}", MAX_BODY),
    Endpoint("business", lambda: "/cams/business", SMALL_BODY, {"Signature": SIGNATURES[0]}),
    Endpoint("tencent", lambda: f"/tencent/callback?{tencent_query()}", SMALL_BODY),
    Endpoint(
        "intent",
        lambda: "/v1/intents/csat_survey",
        SMALL_BODY,
        {"Authorization": f"Bearer {API_KEY}"},
    ),
    Endpoint(
        "resume",
        lambda: f"/v1/conversations/{CONV}/resume",
        SMALL_BODY,
        {"Authorization": f"Bearer {API_KEY}"},
    ),
    Endpoint(
        "message",
        lambda: f"/v1/conversations/{CONV}/messages",
        SMALL_BODY,
        {"Authorization": f"Bearer {API_KEY}"},
    ),
]
BY_NAME = {e.name: e for e in ENDPOINTS}
JSON_TYPE = {"Content-Type": "application/json"}


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(
        max_body=MAX_BODY,
        body_timeout=TIMEOUT,
        api_keys=API_KEY,
        tencent_sdkappid=APP,
        tencent_callback_token=TOKEN,
        tencent_secret_key="limits-secret-key",
        tencent_identifier=BOT,
    )


async def stored(redis: Redis) -> int:
    """Everything a request could have stored: seen markers and conversations."""
    return len([k async for k in redis.scan_iter(match="*:seen:*")]) + len(
        [k async for k in redis.scan_iter(match="*:c:*")]
    )


async def refused(resp: Any, status: int, *words: str) -> str:
    """Assert a JSON refusal with `status` whose reason holds `words`; return the reason."""
    assert resp.status == status, (resp.status, await resp.text())
    assert resp.content_type == "application/json"
    answer = await resp.json()
    assert answer["code"] == status
    reason = answer["msg"]
    assert isinstance(reason, str)
    for word in words:
        assert word in reason, (word, reason)
    return reason


def padded(limit: int) -> bytes:
    """A JSON array of exactly `limit` bytes of blanks around one valid receipt item."""
    item = json.dumps([inbound("hi", customer="8613900000702")]).encode()
    return item[:-1] + b" " * (limit - len(item)) + b"]"


async def raw_exchange(
    client: TestClient[Any, Any], request: bytes, *, then: bytes = b"", pause: float = 0.0
) -> bytes:
    """Send `request` over a raw socket, optionally more after a pause, and read the answer
    by its Content-Length (without waiting for the connection to close)."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        if pause:
            await asyncio.sleep(pause)
        if then:
            writer.write(then)
            await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return head + await asyncio.wait_for(reader.readexactly(length), 5)
    finally:
        writer.close()


def request_line(endpoint: Endpoint, headers: dict[str, str]) -> bytes:
    lines = [f"POST {endpoint.url()} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in {**endpoint.headers, **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_and_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


# -- size -----------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_at_every_endpoint(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """One byte over the endpoint's limit: 413 naming the limit; nothing stored."""
    before = await stored(redis)
    for endpoint in ENDPOINTS:
        body = b"[" + b" " * endpoint.limit + b"]"
        resp = await client.post(
            endpoint.url(), data=body, headers={**endpoint.headers, **JSON_TYPE}
        )
        await refused(resp, 413, str(endpoint.limit))
    assert await stored(redis) == before


async def test_receipts_take_bot_max_body_and_the_others_64_kib(
    client: TestClient[Any, Any],
) -> None:
    """A receipt batch of exactly BOT_MAX_BODY bytes is taken; the other endpoints take a
    body larger than that, up to 64 KiB (the refusal is then about the content)."""
    resp = await client.post(BY_NAME["receipts"].url(), data=padded(MAX_BODY), headers=JSON_TYPE)
    assert resp.status == 200, await resp.text()
    big_text = json.dumps({"text": "x" * (MAX_BODY * 2)}).encode()
    endpoint = BY_NAME["message"]
    resp = await client.post(
        endpoint.url(), data=big_text, headers={**endpoint.headers, **JSON_TYPE}
    )
    await refused(resp, 400, "text")  # over 4096 characters: the model says so, not the size


async def test_a_streamed_body_over_the_limit_is_413(client: TestClient[Any, Any]) -> None:
    """A chunked body (no Content-Length) is counted as it arrives."""

    for endpoint in ENDPOINTS:

        async def chunks(total: int = endpoint.limit + 1) -> AsyncIterator[bytes]:
            yield b"["
            for _ in range(total // 1024 + 1):
                yield b" " * 1024
            yield b"]"

        resp = await client.post(
            endpoint.url(), data=chunks(), headers={**endpoint.headers, **JSON_TYPE}
        )
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        await refused(resp, 413, str(endpoint.limit))


async def test_a_compressed_body_is_limited_by_what_it_expands_to(
    client: TestClient[Any, Any],
) -> None:
    """A small gzip body that expands past the limit is a 413; one that fits is read."""
    endpoint = BY_NAME["receipts"]
    bomb = gzip.compress(b"[" + b" " * (MAX_BODY * 100) + b"]")
    assert len(bomb) < MAX_BODY
    headers = {**JSON_TYPE, "Content-Encoding": "gzip"}
    resp = await client.post(endpoint.url(), data=bomb, headers=headers)
    await refused(resp, 413, str(MAX_BODY))
    fits = gzip.compress(json.dumps([inbound("hi", customer="8613900000704")]).encode())
    resp = await client.post(endpoint.url(), data=fits, headers=headers)
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("name", ["receipts", "tencent", "intent"])
async def test_an_oversized_declared_length_is_refused_before_the_body(
    client: TestClient[Any, Any], name: str
) -> None:
    """Content-Length of 1 GB and not a byte sent: the 413 comes at once."""
    endpoint = BY_NAME[name]
    head = request_line(endpoint, {**JSON_TYPE, "Content-Length": str(10**9)})
    started = time.monotonic()
    status, body = status_and_body(await raw_exchange(client, head))
    assert (status, body["code"]) == (413, 413)
    assert "1000000000" in body["msg"]
    assert time.monotonic() - started < 2


# -- content types --------------------------------------------------------------------------


async def test_our_api_takes_only_json_labels(client: TestClient[Any, Any], redis: Redis) -> None:
    """/v1: a body needs a JSON Content-Type in UTF-8; a body-less resume needs none."""
    before = await stored(redis)
    endpoint = BY_NAME["intent"]
    body = json.dumps({"customer": "8613900000703"}).encode()
    for content_type, word in (
        ("text/plain", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=x", "multipart"),
        ("application/json; charset=latin-1", "latin-1"),
        ("application/xml", "application/xml"),
    ):
        resp = await client.post(
            endpoint.url(), data=body, headers={**endpoint.headers, "Content-Type": content_type}
        )
        await refused(resp, 415, word)
    resp = await client.post(endpoint.url(), data=body, headers=endpoint.headers)
    # aiohttp labels raw bytes application/octet-stream when no type is given
    await refused(resp, 415)
    assert await stored(redis) == before
    for content_type in ("application/json; charset=UTF-8", "application/merge-patch+json"):
        resp = await client.post(
            endpoint.url(), data=body, headers={**endpoint.headers, "Content-Type": content_type}
        )
        assert resp.status == 202, await resp.text()
    resume = BY_NAME["resume"]
    resp = await client.post(resume.url(), headers=resume.headers)
    await refused(resp, 404, "no such conversation")  # past the body check: no body is fine


async def test_platform_callbacks_judge_the_body_not_its_label(
    client: TestClient[Any, Any],
) -> None:
    """CAMS and Tencent do not document the Content-Type they send: a JSON body is taken
    under any label but multipart, and a non-JSON body is a 400 whatever its label."""
    receipts = BY_NAME["receipts"]
    for i, content_type in enumerate(
        (
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            None,
        )
    ):
        body = json.dumps([inbound("hi", customer=f"861390000071{i}")]).encode()
        headers = {"Content-Type": content_type} if content_type else {}
        resp = await client.post(receipts.url(), data=body, headers=headers)
        assert resp.status == 200, (content_type, await resp.text())
    resp = await client.post(
        receipts.url(),
        data=b"a=1&b=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    await refused(resp, 400, "not JSON")
    for endpoint in (receipts, BY_NAME["tencent"], BY_NAME["business"]):
        resp = await client.post(
            endpoint.url(),
            data=b"--x\r\n\r\n[]\r\n--x--\r\n",
            headers={**endpoint.headers, "Content-Type": "multipart/form-data; boundary=x"},
        )
        await refused(resp, 415, "multipart")


async def test_tencent_callbacks_must_be_json_by_their_url(client: TestClient[Any, Any]) -> None:
    """Tencent names the format in the URL: `contenttype` other than json is a 415."""
    url = f"/tencent/callback?{tencent_query(contenttype='xml')}"
    resp = await client.post(url, data=b"<x/>", headers={"Content-Type": "application/xml"})
    await refused(resp, 415, "contenttype")


async def test_business_calls_take_json_form_or_query(client: TestClient[Any, Any]) -> None:
    """The business call's format is not published: JSON, a form, a JSON body under a form
    label, or the query alone are all read."""
    endpoint = BY_NAME["business"]
    calls: list[dict[str, Any]] = [
        {"json": {"intentCode": "csat_survey", "phone": "8613900000721"}},
        {"data": {"intentCode": "csat_survey", "phone": "8613900000722"}},
        {
            "data": json.dumps({"intentCode": "csat_survey", "phone": "8613900000723"}),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        {"params": {"intentCode": "csat_survey", "phone": "8613900000724"}},
    ]
    for call in calls:
        headers = {**endpoint.headers, **call.pop("headers", {})}
        resp = await client.post(endpoint.url(), headers=headers, **call)
        assert resp.status == 200, (call, await resp.text())


# -- strict JSON ------------------------------------------------------------------------------

BAD_JSON = [
    (b'{"a": "\xff"}', "UTF-8"),
    (b'{"customer": "1", "customer": "2"}', "duplicate key 'customer'"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"deeper than {MAX_DEPTH}"),
    (b"[" * 4000, "deeper than"),
    (b'{"n": NaN}', "NaN"),
    (b'{"n": -Infinity}', "Infinity"),
    (b'{"n": 1e999}', "out of range"),
    (b'{"s": "\\ud800"}', "surrogate"),
    (b'{"n": ' + b"9" * 5000 + b"}", "digits"),
    (b"{", "not JSON"),
]


async def test_strict_json_everywhere(client: TestClient[Any, Any], redis: Redis) -> None:
    """Invalid UTF-8, duplicate keys, deep nesting, NaN/Infinity, lone surrogates and
    endless numbers are a 400 naming the problem, at every endpoint."""
    before = await stored(redis)
    for endpoint in ENDPOINTS:
        for body, word in BAD_JSON:
            resp = await client.post(
                endpoint.url(), data=body, headers={**endpoint.headers, **JSON_TYPE}
            )
            await refused(resp, 400, word)
    assert await stored(redis) == before


async def test_json_inside_fields_is_as_strict(client: TestClient[Any, Any], redis: Redis) -> None:
    """JSON carried in a string (a REPLY's Message, a business call's intentData) is decoded
    as strictly: a deep one makes the item unusable, never a 500."""
    item = inbound("x", customer="8613900000731")
    deep = "[" * 1500 + "]" * 1500  # past Python's own recursion limit, within BOT_MAX_BODY
    item.update(Type="REPLY", Message='{"text": "a", "payload": ' + deep + "}")
    resp = await client.post(BY_NAME["receipts"].url(), json=[item])
    assert resp.status == 200  # the item is read without its payload
    endpoint = BY_NAME["business"]
    resp = await client.post(
        endpoint.url(),
        json={"intentCode": "csat_survey", "phone": "8613900000732", "intentData": deep},
        headers=endpoint.headers,
    )
    await refused(resp, 400, "intent data", "deeper than")


# -- time -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["receipts", "business", "tencent", "message"])
async def test_a_slow_body_is_408(client: TestClient[Any, Any], redis: Redis, name: str) -> None:
    """A client that sends its headers and part of its body, then stalls, gets a 408 once
    BOT_BODY_TIMEOUT has passed; nothing is stored."""
    before = await stored(redis)
    endpoint = BY_NAME[name]
    head = request_line(endpoint, {**JSON_TYPE, "Content-Length": "100"})
    started = time.monotonic()
    status, body = status_and_body(await raw_exchange(client, head + b'[{"MessageId":'))
    elapsed = time.monotonic() - started
    assert (status, body["code"]) == (408, 408)
    assert f"{TIMEOUT:g} s" in body["msg"]
    assert TIMEOUT <= elapsed < TIMEOUT + 2
    assert await stored(redis) == before


async def test_a_body_that_arrives_in_time_is_taken_even_if_slowly(
    client: TestClient[Any, Any],
) -> None:
    """A body sent in two parts, well within the timeout, is read whole."""
    body = json.dumps([inbound("hi", customer="8613900000741")]).encode()
    head = request_line(BY_NAME["receipts"], {**JSON_TYPE, "Content-Length": str(len(body))})
    answer = await raw_exchange(client, head + body[:10], then=body[10:], pause=TIMEOUT / 5)
    status, reply = status_and_body(answer)
    assert (status, reply["code"]) == (200, 0)


# -- unreadable -------------------------------------------------------------------------------


async def test_unreadable_bodies_are_400(client: TestClient[Any, Any]) -> None:
    """A broken chunked encoding (answered by aiohttp's HTTP parser, in text) or a broken
    compression (answered by us) is a 400, not a 500."""
    endpoint = BY_NAME["receipts"]
    broken_chunks = request_line(endpoint, {**JSON_TYPE, "Transfer-Encoding": "chunked"})
    answer = await raw_exchange(client, broken_chunks + b"zz\r\n[]\r\n0\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"400"  # aiohttp's HTTP parser answers this one
    bad_gzip = b"\x1f\x8b not gzip at all"
    head = request_line(
        endpoint,
        {**JSON_TYPE, "Content-Encoding": "gzip", "Content-Length": str(len(bad_gzip))},
    )
    status, body = status_and_body(await raw_exchange(client, head + bad_gzip))
    assert (status, body["code"]) == (400, 400)
    assert body["msg"]
