"""Input limits through the full app, endpoint by endpoint: body size (413, also before a
byte of an oversized body is sent, and for streamed bodies), Content-Type (415), strict JSON
(400), slow bodies (408), unreadable bodies (400). Nothing refused is stored."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.model import MAX_MESSAGE_ID, MAX_SPACE
from bot.platforms.cams.receipts import items_cap
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
        "restart",
        lambda: f"/v1/conversations/{CONV}/restart",
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
    """At the receipt intake a small gzip body that expands past the limit is a 413, and
    one that fits is read: gzip, zlib-wrapped or raw deflate, up to the limit exactly."""
    endpoint = BY_NAME["receipts"]
    bomb = gzip.compress(b"[" + b" " * (MAX_BODY * 100) + b"]")
    assert len(bomb) < MAX_BODY
    headers = {**JSON_TYPE, "Content-Encoding": "gzip"}
    resp = await client.post(endpoint.url(), data=bomb, headers=headers)
    await refused(resp, 413, str(MAX_BODY), "inflates")
    fits = gzip.compress(json.dumps([inbound("hi", customer="8613900000704")]).encode())
    resp = await client.post(endpoint.url(), data=fits, headers=headers)
    assert resp.status == 200, await resp.text()
    exact = padded(MAX_BODY)
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for coding, body in (
        ("x-gzip", gzip.compress(exact)),
        ("deflate", zlib.compress(exact)),
        ("Deflate", raw_deflate.compress(exact) + raw_deflate.flush()),
    ):
        resp = await client.post(
            endpoint.url(), data=body, headers={**JSON_TYPE, "Content-Encoding": coding}
        )
        assert resp.status == 200, (coding, await resp.text())
    resp = await client.post(
        endpoint.url(),
        data=gzip.compress(exact + b" "),
        headers={**JSON_TYPE, "Content-Encoding": "gzip"},
    )
    await refused(resp, 413, "inflates")


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body about a thousandth of `inflated` bytes, of blanks once inflated."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    return b"".join([*(deflate.compress(block) for _ in range(inflated >> 20)), deflate.flush()])


async def test_a_refused_compressed_body_is_never_inflated(client: TestClient[Any, Any]) -> None:
    """A gzip bomb (about 128 KiB, 128 MiB inflated) refused for its token (401), or for
    its declared size once the token is right (413), costs what a refused plain body of
    the same size costs: the server inflates nothing before the token is checked, and
    nothing of a body it refuses (it drains it as it came)."""
    bomb = gzip_bomb(128 << 20)
    plain = b"[" + b" " * (len(bomb) - 2) + b"]"
    assert len(bomb) > MAX_BODY
    started = time.process_time()
    assert len(zlib.decompress(bomb, wbits=16 + zlib.MAX_WBITS)) == 128 << 20
    inflating_one = time.process_time() - started  # what the server must not spend

    async def cpu(url: str, body: bytes, headers: dict[str, str], status: int) -> float:
        """CPU seconds of this process (client and server) for 8 such requests over one
        connection; the last request waits for the server to drain the one before."""
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(str(client.make_url("/")), connector=connector) as s:
            started = time.process_time()
            for _ in range(8):
                async with s.post(url, data=body, headers=headers) as resp:
                    assert resp.status == status, await resp.text()
            async with s.get("/healthz") as resp:
                assert resp.status == 200
            return time.process_time() - started

    gzipped = {**JSON_TYPE, "Content-Encoding": "gzip"}
    for url, status in (("/cams/receipts?token=wrong", 401), (BY_NAME["receipts"].url(), 413)):
        plain_cpu = await cpu(url, plain, JSON_TYPE, status)
        bomb_cpu = await cpu(url, bomb, gzipped, status)
        # Eight bombs cost less more than eight plain bodies than inflating one would.
        assert bomb_cpu - plain_cpu < inflating_one, (url, bomb_cpu, plain_cpu, inflating_one)


async def test_compressed_bodies_are_refused_where_no_platform_sends_them(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """Only the receipt intake takes a Content-Encoding (gzip or deflate, one of them):
    elsewhere a compressed body, any other coding or several are a 415 naming it, before
    a byte is read; `identity` is no coding. Nothing refused is stored."""
    before = await stored(redis)
    body = gzip.compress(json.dumps({"customer": "8613900000705"}).encode())
    for endpoint in ENDPOINTS[1:]:
        resp = await client.post(
            endpoint.url(),
            data=body,
            headers={**endpoint.headers, **JSON_TYPE, "Content-Encoding": "gzip"},
        )
        await refused(resp, 415, "Content-Encoding gzip", "uncompressed")
    receipts = BY_NAME["receipts"]
    for coding, word in (("br", "br"), ("gzip, gzip", "gzip, gzip"), ("zstd", "zstd")):
        resp = await client.post(
            receipts.url(), data=body, headers={**JSON_TYPE, "Content-Encoding": coding}
        )
        await refused(resp, 415, f"Content-Encoding {word}", "deflate, gzip")
    assert await stored(redis) == before
    plain = json.dumps([inbound("hi", customer="8613900000706")]).encode()
    resp = await client.post(
        receipts.url(), data=plain, headers={**JSON_TYPE, "Content-Encoding": "identity"}
    )
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


# -- Expect: 100-continue ---------------------------------------------------------------------


async def first_line(client: TestClient[Any, Any], head: bytes) -> tuple[bytes, Any]:
    """Send a request's head alone: the first line the server answers, and the open
    connection (reader, writer)."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(head)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 5)
    return line, (reader, writer)


def post_head(url: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {url} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_100_continue_comes_only_once_the_request_passes_its_checks(
    client: TestClient[Any, Any],
) -> None:
    """With `Expect: 100-continue` a client refused for its size (413), its token (401) or
    its Content-Encoding (415) gets the refusal instead of `100 Continue`, and never sends
    its body; one that passes gets `100 Continue`, sends its body, and is answered."""
    expect = {"Expect": "100-continue"}
    cases = [
        (BY_NAME["receipts"].url(), {"Content-Length": str(100 << 20)}, b"413"),
        ("/cams/receipts?token=wrong", {"Content-Length": "10"}, b"401"),
        ("/cams/receipts", {"Content-Length": "10"}, b"401"),
        (BY_NAME["tencent"].url(), {"Content-Length": "10", "Content-Encoding": "gzip"}, b"415"),
        (BY_NAME["intent"].url(), {"Content-Length": "10"}, b"401"),
    ]
    for url, headers, status in cases:
        line, (_reader, writer) = await first_line(client, post_head(url, {**expect, **headers}))
        writer.close()
        assert line.split(b" ")[1] == status, (url, line)
    body = json.dumps([inbound("hi", customer="8613900000751")]).encode()
    head = post_head(BY_NAME["receipts"].url(), {**expect, "Content-Length": str(len(body))})
    line, (reader, writer) = await first_line(client, head)
    try:
        assert line == b"HTTP/1.1 100 Continue\r\n"
        assert await reader.readline() == b"\r\n"
        writer.write(body)
        answer = await asyncio.wait_for(reader.readline(), 5)
        assert answer.split(b" ")[1] == b"200", answer
    finally:
        writer.close()


async def test_an_unknown_expectation_is_417(client: TestClient[Any, Any]) -> None:
    """`Expect` other than 100-continue is refused with 417, as JSON naming what is
    understood."""
    endpoint = BY_NAME["message"]
    resp = await client.post(
        endpoint.url(),
        json={"text": "hi"},
        headers={**endpoint.headers, "Expect": "something-else"},
    )
    await refused(resp, 417, "100-continue")


# -- caps on what becomes a Redis key, and on a push's items ----------------------------------


async def test_ids_over_their_caps_are_refused_at_every_endpoint(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """A Tencent MsgKey or MsgId over MAX_MESSAGE_ID characters, a business call's
    custSpaceId or the API's `space` over MAX_SPACE: 400 naming the field; a receipt item
    with too long a MessageId is skipped. None of them reaches Redis."""
    before = await stored(redis)
    long_id = "k" * (MAX_MESSAGE_ID + 1)
    for ids in ({"MsgKey": long_id}, {"MsgId": long_id}):
        message = {
            "CallbackCommand": "C2C.CallbackAfterSendMsg",
            "From_Account": "user_7",
            "To_Account": BOT,
            "MsgSeq": 1,
            "MsgRandom": 2,
            "MsgTime": int(time.time()),
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
            **ids,
        }
        resp = await client.post(f"/tencent/callback?{tencent_query()}", json=message)
        await refused(resp, 400, f"{next(iter(ids))} is over {MAX_MESSAGE_ID} characters")
    business = BY_NAME["business"]
    call = {"intentCode": "csat_survey", "phone": "8613900000761", "custSpaceId": "s" * 65}
    resp = await client.post(business.url(), json=call, headers=business.headers)
    await refused(resp, 400, f"custSpaceId is over {MAX_SPACE} characters")
    intent = BY_NAME["intent"]
    resp = await client.post(
        intent.url(),
        json={"customer": "8613900000762", "space": "s" * (MAX_SPACE + 1)},
        headers=intent.headers,
    )
    await refused(resp, 400, "space")
    over = inbound("hi", customer="8613900000764", message_id="m" * (MAX_MESSAGE_ID + 1))
    resp = await client.post(BY_NAME["receipts"].url(), json=[over])
    assert resp.status == 200
    assert await stored(redis) == before


async def test_a_push_over_the_items_cap_is_413_and_nothing_is_stored(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    """More items than one per 100 bytes of BOT_MAX_BODY (81 here) is a 413 naming the
    cap, whatever the items; the cap itself is read."""
    before = await stored(redis)
    cap = items_cap(MAX_BODY)
    resp = await client.post(BY_NAME["receipts"].url(), data=b"[" + b",".join([b"{}"] * cap) + b"]")
    assert resp.status == 200, await resp.text()
    good = inbound("hi", customer="8613900000771")
    body = json.dumps([good] + [{}] * cap).encode()
    assert len(body) <= MAX_BODY
    resp = await client.post(BY_NAME["receipts"].url(), data=body, headers=JSON_TYPE)
    await refused(resp, 413, f"{cap + 1} items", f"at most {cap}")
    assert await stored(redis) == before


async def test_the_rejected_items_of_a_push_are_one_log_line(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """However many items of a push are rejected, one WARNING line says how many, and the
    most frequent reasons with their count and first item; the good items are taken.
    Template reviews are one INFO line too, their values quoted; messages of unknown Types
    (kept) one WARNING line."""
    caplog.set_level(logging.INFO)
    no_from = {"MessageId": "m", "To": BUSINESS, "Type": "TEXT", "Message": "x"}
    items: list[Any] = [{}] * 40 + [[1]] * 20 + [inbound("hi", customer="8613900000781")]
    items += [no_from] * 5 + [1, "x"]
    items += [{"TemplateCode": "t\nforged line", "AuditStatus": "pass"}] * 5
    hologram = {**inbound("x", customer="8613900000782"), "Type": "HOLOGRAM"}
    unknown = [{**hologram, "MessageId": f"h-{i}"} for i in range(8)]
    resp = await client.post(BY_NAME["receipts"].url(), json=items + unknown)
    assert resp.status == 200, await resp.text()
    lines = [r for r in caplog.records if r.name == "bot.web.cams"]
    assert [r.levelname for r in lines] == ["INFO", "WARNING", "WARNING"]
    assert lines[2].getMessage() == (
        "8 messages of an unknown Type kept, matched as no answer: 'HOLOGRAM' (x8)"
    )
    assert lines[0].getMessage() == (
        "template review status: 't\\nforged line' 'pass', 't\\nforged line' 'pass', "
        "'t\\nforged line' 'pass', and 2 more"
    )
    assert lines[1].getMessage() == (
        "67 of 81 receipt items rejected: "
        "neither a message (Type, Message) nor a status (Status) (x40, first item 0); "
        "item is not a JSON object (x22, first item 40); missing From (x5, first item 61)"
    )
