"""Coalescing of the store's per-message Redis calls (bot/store/coalesce.py), against a single
Redis and a Redis Cluster: the calls of one loop iteration go out as one pipeline, each caller
gets its own result or error, lost scripts are loaded and their calls sent again, a
connection error reaches every caller; and the send-recording script does what its MULTI
did."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.model import Conversation, Inbound, SendFailed
from bot.runtime.ratelimit import RateLimiter
from bot.store import (
    OUTBOX_GROUP,
    Accepted,
    CommitResult,
    OutboxEntry,
    Store,
    connect,
    event_to_json,
    partition_of,
)
from bot.store.codec import failure_counter
from tests.support import BUSINESS, owning_store

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

PARTITIONS = 16
TOKEN = "token-1"
CONVS = [f"cams:whatsapp:{BUSINESS}:86139{i:08d}" for i in range(40)]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.fixture
async def store(redis: Redis) -> Store:
    return await owning_store(redis, PARTITIONS, range(PARTITIONS), TOKEN, 30_000)


async def enqueue(store: Store, convs: list[str]) -> dict[str, str]:
    """One inbound message per conversation: conversation -> its inbox entry id."""
    events = []
    for conv in convs:
        ev = Inbound(message_id=f"m-{conv}", at_ms=1, kind="text", text="hi")
        events.append(Accepted(conv, f"m-{conv}", event_to_json(ev)))
    assert await store.accept(events) == [True] * len(convs)
    entries: dict[str, str] = {}
    for p in {partition_of(c, PARTITIONS) for c in convs}:
        for entry_id, conv, _ in await store.read_inbox(p, pending=False, count=100, block_ms=None):
            entries[conv] = entry_id
    return entries


async def commit(
    store: Store, conv: str, entry_id: str, expected: int = 0, replies: int = 1
) -> CommitResult:
    return await store.commit(
        partition=partition_of(conv, PARTITIONS),
        token=TOKEN,
        conv_id=conv,
        expected_version=expected,
        entry_id=entry_id,
        conversation=Conversation(flow="f", state="s", visit=1, space="sp"),
        replies=[(_json({"text": f"hi {i}", "visit": 1}), f"{conv}.1.{i}") for i in range(replies)],
    )


async def test_concurrent_commits_go_out_in_one_round_trip_each_with_its_own_result(
    store: Store,
) -> None:
    """40 conversations of 16 partitions commit at once: one pipeline; the stale ones (a
    wrong expected version) are refused, alone, and the others applied."""
    entries = await enqueue(store, CONVS)
    before = store.round_trips
    stale = set(CONVS[::5])
    results = await asyncio.gather(
        *(commit(store, c, entries[c], expected=7 if c in stale else 0) for c in CONVS)
    )
    assert store.round_trips - before == 1
    for conv, res in zip(CONVS, results, strict=True):
        if conv in stale:
            assert res == CommitResult(False, version=0, stale=True)
        else:
            assert res == CommitResult(True, version=1)
        stored = await store.load(conv)
        assert stored.version == (0 if conv in stale else 1)
    outboxes = [await store.redis.xlen(store.keys(p).outbox) for p in range(PARTITIONS)]
    assert sum(outboxes) == len(CONVS) - len(stale)


async def read_flag(store: Store, conv: str) -> bool:
    """One coalesced read of a field of a conversation (HGET): the cheapest call there is."""
    flag: Any = await store.coalescer().execute("HGET", store.keys_for(conv).conv(conv), "o")
    return bool(flag == b"1")


async def test_calls_of_different_kinds_share_the_round_trip_and_a_flush_is_capped(
    store: Store,
) -> None:
    entries = await enqueue(store, CONVS[:10])
    before = store.round_trips
    commits = [commit(store, c, entries[c]) for c in CONVS[:10]]
    opted = [read_flag(store, c) for c in CONVS[10:]]
    results = await asyncio.gather(*commits, *opted)
    assert results == [CommitResult(True, version=1)] * 10 + [False] * 30
    assert store.round_trips - before == 1

    store.coalescer().max_commands = 8  # 30 calls: pipelines of 8, 8, 8 and 6, side by side
    before = store.round_trips
    assert await asyncio.gather(*(read_flag(store, c) for c in CONVS[10:])) == [False] * 30
    assert store.round_trips - before == 4


async def test_lost_scripts_are_loaded_and_only_their_calls_sent_again(store: Store) -> None:
    """After every node forgot its scripts, the scripts of a flush are run once each, the
    HGETs alongside them answered the first time: two round trips in all."""
    entries = await enqueue(store, CONVS)
    await store.redis.script_flush()
    before = store.round_trips
    results = await asyncio.gather(
        *(commit(store, c, entries[c]) for c in CONVS[:20]),
        *(read_flag(store, c) for c in CONVS[20:]),
    )
    assert results == [CommitResult(True, version=1)] * 20 + [False] * 20
    assert store.round_trips - before == 2
    # Once each: a second commit of the same entries is a duplicate.
    again = await asyncio.gather(*(commit(store, c, entries[c], expected=1) for c in CONVS[:20]))
    assert again == [CommitResult(False, duplicate=True)] * 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_a_connection_error_reaches_every_caller_of_the_flush(redis_kind: str) -> None:
    client = connect(
        f"redis://127.0.0.1:{_free_port()}", cluster=redis_kind == "cluster", socket_timeout=1
    )
    store = Store(client, partitions=PARTITIONS, conversation_ttl=60, dedup_ttl=60)
    out = OutboxEntry("1-1", CONVS[0], "{}", "t.1.0", "")
    try:
        results = await asyncio.gather(
            read_flag(store, CONVS[0]),
            read_flag(store, CONVS[1]),
            commit(store, CONVS[2], "1-1"),
            store.finish_send(0, out, message_id="mid"),
            store.accept([Accepted(CONVS[3], "k", "{}")]),
            return_exceptions=True,
        )
    finally:
        await client.aclose()
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    assert store.round_trips == 1


async def committed_reply(store: Store, conv: str) -> OutboxEntry:
    entries = await enqueue(store, [conv])
    assert (await commit(store, conv, entries[conv])).ok
    [out] = await store.read_outbox(
        partition_of(conv, PARTITIONS), pending=False, count=10, block_ms=None
    )
    return out


async def record_of(store: Store, conv: str, task: str) -> dict[str, str]:
    raw: Any = await store.redis.hgetall(store.keys_for(conv).message(task))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def stats_of(store: Store, conv: str) -> dict[str, str]:
    raw: Any = await store.redis.hgetall(store.keys_for(conv).stats)
    return {k.decode(): v.decode() for k, v in raw.items() if k != b"steps"}


async def test_finish_send_records_a_send_a_permanent_failure_and_a_dead_letter(
    store: Store,
) -> None:
    sent, permanent, dead = CONVS[:3]
    outs = {c: await committed_reply(store, c) for c in (sent, permanent, dead)}
    failed = event_to_json(SendFailed("send:t", 5, "t", "E: no", 1))
    await asyncio.gather(
        store.finish_send(partition_of(sent, PARTITIONS), outs[sent], message_id="mid-1",
                          visit=1, retries=2),
        store.finish_send(partition_of(permanent, PARTITIONS), outs[permanent], error="E: no",
                          visit=1, failed=failed, retries=1, permanent=True),
        store.finish_send(partition_of(dead, PARTITIONS), outs[dead], error="E: busy",
                          dead=True, visit=1, retries=2),
    )  # fmt: skip
    for conv, out in outs.items():
        k = store.keys_for(conv)
        assert await store.redis.xlen(k.outbox) == 0  # deleted
        pending: Any = await store.redis.xpending(k.outbox, OUTBOX_GROUP)
        assert pending["pending"] == 0  # and acked
        assert 3500 < await store.redis.ttl(k.message(out.task_id)) <= 3600

    assert await record_of(store, sent, outs[sent].task_id) == {
        "conv": sent, "mid": "mid-1", "err": "", "visit": "1",
    }  # fmt: skip
    assert await stats_of(store, sent) == {"sends": "1", "send_retries": "2"}

    assert await record_of(store, permanent, outs[permanent].task_id) == {
        "conv": permanent, "mid": "", "err": "E: no", "visit": "1",
    }  # fmt: skip
    assert await stats_of(store, permanent) == {
        "send_failures_permanent": "1", "send_retries": "1", "failed:E": "1",
    }  # fmt: skip
    inbox: Any = await store.redis.xrange(store.keys_for(permanent).inbox)
    assert [f for _, f in inbox] == [{b"c": permanent.encode(), b"e": failed.encode()}]

    k = store.keys_for(dead)
    assert await record_of(store, dead, outs[dead].task_id) == {
        "conv": dead, "mid": "", "err": "E: busy", "visit": "1",
    }  # fmt: skip
    assert await stats_of(store, dead) == {
        "dead_letters_out": "1", "send_retries": "2", "failed:E": "1",
    }  # fmt: skip
    [(_, fields)] = await store.redis.xrange(k.dead)
    assert {a.decode(): b.decode() for a, b in fields.items()} == {
        "kind": "out", "why": "E: busy", "c": dead, "r": outs[dead].reply_json,
        "t": outs[dead].task_id, "s": "sp",
    }  # fmt: skip
    assert not await store.redis.exists(store.keys_for(sent).dead)


async def test_a_dropped_send_counts_nothing_and_records_the_reason(store: Store) -> None:
    out = await committed_reply(store, CONVS[0])
    await store.finish_send(partition_of(CONVS[0], PARTITIONS), out, error="customer opted out")
    assert await record_of(store, CONVS[0], out.task_id) == {
        "conv": CONVS[0], "mid": "", "err": "customer opted out", "visit": "-1",
    }  # fmt: skip
    assert await stats_of(store, CONVS[0]) == {}


def test_a_failures_counter_is_named_by_the_platforms_code_never_by_other_text() -> None:
    """A send failure is counted under its platform code, or `other` when it has none."""
    assert failure_counter("Throttling.User: too many") == "failed:Throttling.User"
    assert failure_counter("HTTP-500: boom") == "failed:HTTP-500"
    assert failure_counter("no sender for platform x") == "failed:other"
    assert failure_counter("<script>: x") == "failed:other"
    assert failure_counter("A" * 49 + ": long") == "failed:other"
    assert failure_counter("") == "failed:other"


async def test_the_rate_limiter_shares_the_stores_round_trip_and_survives_lost_scripts(
    store: Store,
) -> None:
    limiter = RateLimiter(store.redis, limit=100, coalescer=store.coalescer)
    assert (await limiter.try_acquire("cams:a", 3)).admitted  # the first loads its script
    before = store.round_trips
    attempt, opted = await asyncio.gather(
        limiter.try_acquire("cams:a", 3), read_flag(store, CONVS[0])
    )
    assert attempt.admitted
    assert opted is False
    assert abs(attempt.at - time.time()) < 5
    assert store.round_trips - before == 1
    await store.redis.script_flush()  # the store's coalescer reloads only the store's
    assert (await limiter.try_acquire("cams:a", 3)).admitted
    assert await store.redis.zcard(limiter.key("cams:a")) == 9


async def test_a_caller_that_gives_up_before_the_flush_sends_nothing(store: Store) -> None:
    task = asyncio.ensure_future(read_flag(store, CONVS[0]))
    await asyncio.sleep(0)  # queued
    task.cancel()
    before = store.round_trips
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert store.round_trips == before
    assert await read_flag(store, CONVS[0]) is False
    assert store.round_trips == before + 1


async def test_a_send_finished_twice_is_counted_and_recorded_once(store: Store) -> None:
    """The recording of a send asked again (its answer lost to a Redis restart) finds the
    entry finished: the counters and the record stay as the first left them."""
    conv = CONVS[0]
    out = await committed_reply(store, conv)
    p = partition_of(conv, PARTITIONS)
    await store.finish_send(p, out, message_id="mid-1")
    await store.finish_send(p, out, message_id="mid-2")
    assert await stats_of(store, conv) == {"sends": "1"}
    assert (await record_of(store, conv, out.task_id))["mid"] == "mid-1"
