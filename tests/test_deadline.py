"""Every request that needs Redis is answered within BOT_REDIS_TIMEOUT, 503 with
Retry-After past it, whether its redis-server is frozen (SIGSTOP) or dead (SIGKILL); after a
freeze, every connection answers its own commands and the workers go on. Each test has a
redis-server of its own: stopping the session's would stall the other tests."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.local.redis_server import RedisServer
from bot.platforms.tencent.auth import sign
from bot.store import Keys, partition_of
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, SIGNATURES, CamsServer, eventually, inbound

BOUND = 0.5  # BOT_REDIS_TIMEOUT of these tests
API_KEY = "deadline-api-key"
APP = "1400000004"
TOKEN = "deadline-callback-token"
BOT = "shopbot"
RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for this test alone, resumed and stopped at the end."""
    server = RedisServer(tmp_path / "redis", appendonly=False)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop(kill=True)


@contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    """The server stopped (SIGSTOP) for the block: it accepts connections, answers nothing."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


async def app_on(make_client: AppFactory, server: RedisServer, query: str = "") -> Any:
    return await make_client(
        redis_url=server.url + query,
        redis_timeout=BOUND,
        api_keys=API_KEY,
        tencent_sdkappid=APP,
        tencent_callback_token=TOKEN,
        tencent_secret_key="deadline-secret-key",
        tencent_identifier=BOT,
        tencent_opted_out="reject",
        drain_seconds=1.0,  # at teardown, nothing waits: Redis may have been frozen
    )


def tencent_url(command: str) -> str:
    when = str(int(time.time()))
    query = {"SdkAppid": APP, "CallbackCommand": command, "contenttype": "json",
             "RequestTime": when, "Sign": sign(TOKEN, when)}  # fmt: skip
    return f"/tencent/callback?{urlencode(query)}"


def tencent_message(command: str, customer: str) -> dict[str, Any]:
    return {
        "CallbackCommand": command,
        "From_Account": customer,
        "To_Account": BOT,
        "MsgSeq": 1,
        "MsgRandom": int(time.monotonic_ns() % 2**31),
        "MsgTime": int(time.time()),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
    }


def conversation(customer: str) -> str:
    return f"cams:whatsapp:{BUSINESS}:{customer}"


def every_request(n: int) -> list[tuple[str, Callable[[TestClient[Any, Any]], Awaitable[Any]]]]:
    """One request of each kind that needs Redis (n: for distinct ids)."""
    conv = conversation("8613900000901")
    after, before = "C2C.CallbackAfterSendMsg", "C2C.CallbackBeforeSendMsg"
    return [
        ("receipts", lambda c: c.post(RECEIPTS, json=[inbound("hi", customer=f"86139009{n:05d}")])),
        (
            "business",
            lambda c: c.post(
                "/cams/business",
                headers={"Signature": SIGNATURES[0]},
                json={"intentCode": "csat_survey", "phone": f"86139008{n:05d}"},
            ),
        ),
        ("tencent", lambda c: c.post(tencent_url(after), json=tencent_message(after, f"u{n}"))),
        (
            "before-send",
            lambda c: c.post(tencent_url(before), json=tencent_message(before, f"u{n}")),
        ),
        (
            "intent",
            lambda c: c.post(
                "/v1/intents/csat_survey", headers=API, json={"customer": f"86139007{n:05d}"}
            ),
        ),
        ("conversation", lambda c: c.get(f"/v1/conversations/{conv}", headers=API)),
        ("resume", lambda c: c.post(f"/v1/conversations/{conv}/resume", headers=API)),
        ("restart", lambda c: c.post(f"/v1/conversations/{conv}/restart", headers=API)),
        (
            "message",
            lambda c: c.post(
                f"/v1/conversations/{conv}/messages", headers=API, json={"text": "hello"}
            ),
        ),
    ]


async def timed(call: Awaitable[Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    resp = await call
    await resp.read()
    return resp, time.perf_counter() - started


async def test_every_request_is_503_within_the_bound_while_redis_is_frozen(
    make_client: AppFactory, own_redis: RedisServer
) -> None:
    """With the redis-server stopped, each kind of request that needs Redis (a receipt
    push, a business call, Tencent callbacks, every API call) is answered 503 with
    Retry-After within BOT_REDIS_TIMEOUT (well under the 15 s and more that the client's
    own timeouts and retries add up to), and /readyz 503 within its 1 s; resumed, each is
    answered as before."""
    client = await app_on(make_client, own_redis)
    assert (await client.post(RECEIPTS, json=[inbound("warm up")])).status == 200
    with frozen(own_redis):
        requests = every_request(1)
        answers = await asyncio.gather(*(timed(call(client)) for _name, call in requests))
        ready, ready_took = await timed(client.get("/readyz"))
    for (name, _call), (resp, took) in zip(requests, answers, strict=True):
        assert resp.status == 503, (name, resp.status, await resp.text())
        assert resp.headers["Retry-After"] == "5", name
        assert (await resp.json())["code"] == 503
        assert took / BOUND < 3, (name, took)
    assert ready.status == 503
    assert ready_took < 3 * 1.0
    expected = {"receipts": 200, "business": 200, "tencent": 200, "before-send": 200,
                "intent": 202, "conversation": 404, "resume": 404, "restart": 404,
                "message": 404}  # fmt: skip
    for name, call in every_request(2):
        resp = await call(client)
        assert resp.status == expected[name], (name, resp.status, await resp.text())


async def test_after_a_freeze_every_connection_answers_its_own_commands(
    make_client: AppFactory, own_redis: RedisServer, fake_cams: CamsServer
) -> None:
    """Reads and writes cut short by the bound leave no connection behind with a reply
    still to come, and none checked out: once Redis is resumed, reads of two conversations
    asked at once each get their own (on a pool of 24 connections, fewer than the requests
    that were cut short), and a customer's message is answered by the workers."""
    client = await app_on(make_client, own_redis, "?max_connections=24")
    direct = Redis.from_url(own_redis.url)
    try:
        for name, customer in (("a", "8613900000911"), ("b", "8613900000912")):
            conv = conversation(customer)
            key = Keys.of(partition_of(conv, 4)).conv(conv)
            await direct.hset(key, mapping={"f": "csat_survey", "s": f"state_{name}", "v": "7"})
    finally:
        await direct.aclose()
    assert (await client.post(RECEIPTS, json=[inbound("warm up")])).status == 200

    async def state(customer: str) -> tuple[int, str | None]:
        resp = await client.get(f"/v1/conversations/{conversation(customer)}", headers=API)
        return resp.status, (await resp.json()).get("state")

    with frozen(own_redis):
        cut = await asyncio.gather(*(state(c) for c in ["8613900000911", "8613900000912"] * 20))
        pushes = await asyncio.gather(*(call(client) for _, call in every_request(3)[:4]))
    assert {s for s, _ in cut} == {503}
    assert {r.status for r in pushes} == {503}
    # No read ever gets another's reply. A busy machine may still answer a round's first
    # reads 503 (the bound), never with a wrong state; three whole rounds then come back 200.
    whole = 0
    for _ in range(20):
        got = await asyncio.gather(*(state(c) for c in ["8613900000911", "8613900000912"] * 20))
        assert [g[1] for g in got if g[0] == 200] == [
            s for g, s in zip(got, ["state_a", "state_b"] * 20, strict=True) if g[0] == 200
        ]
        assert {g[0] for g in got} <= {200, 503}
        whole += got == [(200, "state_a"), (200, "state_b")] * 20
        if whole == 3:
            break
    assert whole == 3, got
    resp = await client.post(RECEIPTS, json=[inbound("hi", customer="8613900000913")])
    assert resp.status == 200
    await eventually(
        lambda: any(m["To"] == "8613900000913" for m in fake_cams.recorder.messages),
        within=15,
        what="a reply to the message pushed after the freeze",
    )


async def test_a_dead_redis_is_503_within_the_bound(
    make_client: AppFactory, own_redis: RedisServer
) -> None:
    """With the redis-server killed, each kind of request is answered 503 with
    Retry-After, within the bound."""
    client = await app_on(make_client, own_redis)
    assert (await client.post(RECEIPTS, json=[inbound("warm up")])).status == 200
    own_redis.stop(kill=True)
    requests = every_request(4)
    answers = await asyncio.gather(*(timed(call(client)) for _name, call in requests))
    for (name, _call), (resp, took) in zip(requests, answers, strict=True):
        assert resp.status == 503, (name, resp.status, await resp.text())
        assert resp.headers["Retry-After"] == "5", name
        assert took / BOUND < 3, (name, took)
