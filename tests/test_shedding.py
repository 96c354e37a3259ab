"""Back-pressure at the CAMS receipt intake (BOT_SHED_BACKLOG_AGE): receipt pushes are answered
503 while the sampled inbox backlog is too old, and only they; with hysteresis; never when the
backlog cannot be read. Against the real app, a real Redis and the fake CAMS.

The backlog is made by hand: another "process" holds partition HELD's lease, so what is put in
that partition's inbox (with a stream id as old as wanted) waits there until it lets go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.app import create_app
from bot.flows.compiler import CompiledCatalog
from bot.local.redis_server import RedisServer
from bot.model import Inbound
from bot.platforms.tencent.fake import create_fake_tencent
from bot.store import Keys, RedisClient, Store, connect, event_to_json, partition_of
from bot.web.keys import SHEDDER
from bot.web.shedding import RETRY_AFTER, Shedder
from tests.conftest import make_settings
from tests.support import (
    BUSINESS,
    EXAMPLE_SECRETS,
    RECEIPT_TOKEN,
    SIGNATURES,
    CamsServer,
    eventually,
    inbound,
    new_store,
)
from tests.test_metrics import scrape, value
from tests.test_tencent_e2e import APP, BOT, KEY, TOKEN, message, query

PARTITIONS = 4  # as make_settings has it
HELD = 0
LIMIT = 100.0  # seconds: the ages the tests make are far from it and from its half
INTERVAL = 0.02  # seconds between two samples of the backlog
SHEDDING_LOG = "bot.web.shedding"

Client = TestClient[Any, Any]


def conv_id(customer: str) -> str:
    return f"cams:whatsapp:{BUSINESS}:{customer}"


def customer_in(partition: int) -> str:
    """A customer number whose conversation lives in `partition`."""
    for n in range(10_000):
        customer = f"86139{n:08d}"
        if partition_of(conv_id(customer), PARTITIONS) == partition:
            return customer
    raise AssertionError("no such customer")


WAITING = customer_in(HELD)  # whose old message makes the backlog
PUSHER = customer_in(1)  # who writes while the tests push (never into the held partition)


async def hold(redis: Redis) -> None:
    """Another process holds partition HELD: the app does not work it."""
    await redis.set(Keys.of(HELD).lease, "another-process", px=60_000)


async def let_go(redis: Redis) -> None:
    await redis.delete(Keys.of(HELD).lease)


async def set_backlog(redis: Redis, age: float) -> None:
    """Partition HELD's inbox holds one customer message, `age` seconds old (Redis's clock),
    and nothing else."""
    inbox = Keys.of(HELD).inbox
    seconds, micros = await redis.time()
    ms = seconds * 1000 + micros // 1000 - int(age * 1000)
    event = Inbound(f"waiting-{ms}", ms, "text", "hi")
    async with redis.pipeline(transaction=True) as pipe:  # no sample sees it empty between
        pipe.delete(inbox)
        pipe.xadd(inbox, {"c": conv_id(WAITING), "e": event_to_json(event)}, id=f"{ms}-0")
        await pipe.execute()


def shedder_of(client: Client) -> Shedder:
    return client.app[SHEDDER]


async def sampled(client: Client, low: float, high: float) -> None:
    """Wait until the sampler has read an inbox age between `low` and `high`."""
    shedder = shedder_of(client)
    await eventually(lambda: shedder.age is not None and low <= shedder.age <= high)


async def push(client: Client, *items: dict[str, Any], token: str = RECEIPT_TOKEN) -> Any:
    return await client.post(f"/cams/receipts?token={token}", json=list(items))


AppMaker = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_app(
    fake_cams: CamsServer,
    aiohttp_client: Callable[..., Awaitable[Client]],
    redis_url: str,
    redis: Redis,
    catalog: CompiledCatalog,
) -> AppMaker:
    """The real app, its backlog sampled every INTERVAL; partition HELD held by another."""

    async def make(**overrides: Any) -> Client:
        url = overrides.pop("redis_url", redis_url)
        held = connect(url, cluster=False)
        try:
            await hold(held)
        finally:
            await held.aclose()
        settings = make_settings(url, fake_cams.endpoint, **overrides)
        return await aiohttp_client(
            create_app(settings, catalog, secrets=EXAMPLE_SECRETS, shed_interval=INTERVAL)
        )

    del redis  # requested for the flush before the test
    return make


def shedding_lines(caplog: pytest.LogCaptureFixture, start: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == SHEDDING_LOG and r.getMessage().startswith(start)
    ]


# -- the decision ------------------------------------------------------------------------------


async def test_shedding_starts_over_the_limit_and_stops_under_half(redis: Redis) -> None:
    """Over the limit starts shedding, under half of it stops; in between (both ends
    included) the current mode holds; an unreadable backlog (None) never sheds."""
    shedder = Shedder(
        Store(redis, partitions=PARTITIONS, conversation_ttl=60, dedup_ttl=60), limit=10
    )
    modes = []
    for age in (0, 10, 10.1, 5, 9, 4.9, 5, 10, 10.1, None, 10):
        shedder.update(age)
        modes.append(shedder.shedding)
    assert modes == [False, False, True, True, True, False, False, False, True, False, False]


# -- the app -----------------------------------------------------------------------------------


async def test_off_by_default_an_old_backlog_is_still_acknowledged(
    make_app: AppMaker, redis: Redis
) -> None:
    """Without BOT_SHED_BACKLOG_AGE pushes are acknowledged whatever waits, and nothing
    samples the backlog."""
    client = await make_app()
    await set_backlog(redis, 10 * LIMIT)
    for n in range(3):
        resp = await push(client, inbound("hi", customer=PUSHER, message_id=f"off-{n}"))
        assert resp.status == 200, await resp.text()
        await asyncio.sleep(5 * INTERVAL)
    shedder = shedder_of(client)
    assert (shedder.limit, shedder.age, shedder.shedding) == (0, None, False)


async def test_an_old_backlog_sheds_receipt_pushes_once_the_token_is_checked(
    make_app: AppMaker, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the limit a push with the right token gets 503, Retry-After and a JSON reason,
    and nothing of it is stored; a wrong or missing token is still 401. Each shed push is
    counted as `shed` (not `unavailable`: Redis is fine) and logged by no line of its own."""
    caplog.set_level(logging.INFO)
    client = await make_app(shed_backlog_age=LIMIT)
    await set_backlog(redis, 1.5 * LIMIT)
    await eventually(lambda: shedder_of(client).shedding)

    for n in range(3):
        resp = await push(client, inbound("hi", customer=PUSHER, message_id=f"shed-{n}"))
        assert resp.status == 503
        assert resp.headers["Retry-After"] == str(RETRY_AFTER)
        assert resp.content_type == "application/json"
        body = await resp.json()
        assert body["code"] == 503
        assert body["msg"].startswith("overloaded: messages wait 150 s")
    seen = Keys.of(partition_of(conv_id(PUSHER), PARTITIONS)).seen("cams:shed-0")
    assert not await redis.exists(seen)
    item = inbound("hi", customer=PUSHER)
    assert (await push(client, item, token="wrong")).status == 401
    assert (await client.post("/cams/receipts", json=[item])).status == 401

    s = await scrape(client)
    receipts = {"platform": "cams", "kind": "receipts"}
    assert value(s, "bot_callbacks_total", **receipts, outcome="shed") == 3
    assert value(s, "bot_callbacks_total", **receipts, outcome="unavailable") == 0
    assert value(s, "bot_callbacks_total", **receipts, outcome="unauthorized") == 2
    assert value(s, "bot_auth_rejections_total", platform="cams", reason="wrong") == 1
    assert [r.levelname for r in shedding_lines(caplog, "shedding CAMS receipt")] == ["WARNING"]
    assert "150 s old" in shedding_lines(caplog, "shedding CAMS receipt")[0].getMessage()
    assert not [r for r in caplog.records if "-> 503" in r.getMessage()]


async def test_business_calls_and_tencent_callbacks_are_never_shed(
    make_app: AppMaker,
    redis: Redis,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    """Under the same backlog, CAMS's business calls (their retries are unknown) and Tencent
    callbacks (never delivered again) are still taken; receipt pushes are shed."""
    tencent = await aiohttp_server(create_fake_tencent(int(APP), KEY, BOT))
    client = await make_app(
        shed_backlog_age=LIMIT,
        tencent_sdkappid=APP,
        tencent_callback_token=TOKEN,
        tencent_secret_key=KEY,
        tencent_identifier=BOT,
        tencent_api=str(tencent.make_url("")).rstrip("/"),
    )
    await set_backlog(redis, 1.5 * LIMIT)
    await eventually(lambda: shedder_of(client).shedding)

    assert (await push(client, inbound("hi", customer=PUSHER))).status == 503
    business = {"intentCode": "csat_survey", "phoneNumber": f"+{PUSHER}", "messageId": "b-1"}
    resp = await client.post("/cams/business", json=business, headers={"Signature": SIGNATURES[0]})
    assert resp.status == 200, await resp.text()
    resp = await client.post(f"/tencent/callback?{query()}", json=message("hi", sender="alice"))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["ActionStatus"] == "OK"
    assert shedder_of(client).shedding


async def test_a_shed_push_is_taken_once_after_the_backlog_is_worked_off(
    make_app: AppMaker,
    redis: Redis,
    fake_cams: CamsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once the backlog is worked off (under half the limit) pushes are taken again: the
    push shed before, pushed again by CAMS, is stored once and answered once, and a further
    repeat is dropped as such. Starting and stopping are logged once each."""
    caplog.set_level(logging.INFO)
    client = await make_app(shed_backlog_age=LIMIT)
    await set_backlog(redis, 1.5 * LIMIT)
    await eventually(lambda: shedder_of(client).shedding)
    item = inbound("hi", customer=PUSHER, message_id="pushed-again")
    for _ in range(3):
        assert (await push(client, item)).status == 503

    await let_go(redis)  # the app takes the partition and steps what waited there
    await eventually(lambda: not shedder_of(client).shedding, within=10)
    # The step that emptied the inbox committed its reply; the send follows.
    await eventually(lambda: len(fake_cams.recorder.sent_to(WAITING)) == 1)
    assert (await push(client, item)).status == 200
    assert (await push(client, item)).status == 200
    await eventually(lambda: len(fake_cams.recorder.sent_to(PUSHER)) >= 1)

    s = await scrape(client)
    receipts = {"platform": "cams", "kind": "receipts"}
    assert value(s, "bot_callbacks_total", **receipts, outcome="shed") == 3
    assert value(s, "bot_callbacks_total", **receipts, outcome="ok") == 2
    assert value(s, "bot_duplicates_total", platform="cams") == 1
    assert len(fake_cams.recorder.sent_to(PUSHER)) == 1
    assert len(shedding_lines(caplog, "shedding CAMS receipt")) == 1
    [stopped] = shedding_lines(caplog, "shedding stopped")
    assert stopped.getMessage() == "shedding stopped: the oldest inbox entry is 0 s old, under 50 s"


async def test_between_half_the_limit_and_the_limit_the_mode_holds(
    make_app: AppMaker, redis: Redis
) -> None:
    """An age between half the limit and the limit neither starts nor stops shedding."""
    client = await make_app(shed_backlog_age=LIMIT)
    shedder = shedder_of(client)
    item = inbound("hi", customer=PUSHER)

    await set_backlog(redis, 0.7 * LIMIT)
    await sampled(client, 0.6 * LIMIT, 0.8 * LIMIT)
    assert not shedder.shedding
    assert (await push(client, item)).status == 200

    await set_backlog(redis, 1.5 * LIMIT)
    await eventually(lambda: shedder.shedding)
    await set_backlog(redis, 0.7 * LIMIT)
    await sampled(client, 0.6 * LIMIT, 0.8 * LIMIT)
    assert shedder.shedding
    assert (await push(client, inbound("hi", customer=PUSHER))).status == 503

    await set_backlog(redis, 0.3 * LIMIT)
    await sampled(client, 0.2 * LIMIT, 0.4 * LIMIT)
    assert not shedder.shedding
    assert (await push(client, inbound("hi", customer=PUSHER))).status == 200


async def test_an_unreadable_backlog_never_sheds_and_the_app_keeps_answering(
    make_app: AppMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis is away the sampler sheds nothing (pushes get the 503 of an unreachable
    Redis, and the app answers its health check), says so once for the whole outage, and
    sheds again once Redis is back with the backlog still there."""
    caplog.set_level(logging.INFO)
    server = RedisServer(tmp_path / "redis", appendonly=True)
    await asyncio.to_thread(server.start)
    own: RedisClient | None = None
    try:
        client = await make_app(shed_backlog_age=LIMIT, redis_url=server.url)
        shedder = shedder_of(client)
        own = connect(server.url, cluster=False)
        await set_backlog(own, 1.5 * LIMIT)
        await eventually(lambda: shedder.shedding)

        await asyncio.to_thread(server.stop)  # its data stays in its append-only file
        await eventually(lambda: shedder.age is None and not shedder.shedding)
        await asyncio.sleep(10 * INTERVAL)  # more samples fail: still one line
        resp = await push(client, inbound("hi", customer=PUSHER))
        assert resp.status == 503
        assert (await resp.json())["msg"] == "storage unavailable, retry later"
        assert (await client.get("/healthz")).status == 200
        assert len(shedding_lines(caplog, "cannot read the inbox backlog")) == 1
        [stopped] = shedding_lines(caplog, "shedding stopped")
        assert stopped.getMessage() == "shedding stopped: the inbox backlog cannot be read"

        await asyncio.to_thread(server.start)  # same port, same data
        await eventually(lambda: shedder.shedding, within=10)
        assert len(shedding_lines(caplog, "the inbox backlog can be read again")) == 1
        assert (await push(client, inbound("hi", customer=PUSHER))).status == 503
    finally:
        if own is not None:
            await own.aclose()
        await asyncio.to_thread(server.stop)


async def test_the_sampler_stops_even_when_a_read_swallows_its_cancellation(
    redis: Redis,
) -> None:
    """A backlog read that swallows the cancellation of stop() (as redis-py's reads can)
    does not keep the sampler going round: stop() returns."""
    store = new_store(redis)
    reads = 0

    async def swallowing() -> Any:
        nonlocal reads
        reads += 1
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        raise RedisConnectionError("gone")

    store.backlog = swallowing  # type: ignore[method-assign]
    shedder = Shedder(store, limit=LIMIT, interval=0.01)
    await shedder.start()
    await eventually(lambda: reads >= 1)
    await asyncio.wait_for(shedder.stop(), timeout=5)
    assert reads == 1
