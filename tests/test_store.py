"""The Redis store against a real redis-server: intake and dedup, the fenced and
version-checked commit, redelivery of uncommitted entries, delivery status, leases, keys."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from bot.model import Conversation, Inbound, StatusReceipt
from bot.store import (
    CALLS_GROUP,
    INBOX_GROUP,
    OUTBOX_GROUP,
    Accepted,
    CommitResult,
    Store,
    event_to_json,
    partition_of,
)
from tests.support import BUSINESS, eventually, new_store

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

PARTITIONS = 4
CONV_TTL = 3600
DEDUP_TTL = 600
CONV = f"cams:whatsapp:{BUSINESS}:8613900000001"
TOKEN = "token-1"


@pytest.fixture
async def store(redis: Redis) -> Store:
    s = new_store(redis, PARTITIONS, conversation_ttl=CONV_TTL, dedup_ttl=DEDUP_TTL)
    await s.ensure_groups(partition_of(CONV, PARTITIONS))
    return s


def event(message_id: str, text: str = "hello", conv: str = CONV) -> Accepted:
    ev = Inbound(message_id=message_id, at_ms=int(time.time() * 1000), kind="text", text=text)
    return Accepted(conv, f"cams:{message_id}", event_to_json(ev))


def decoded(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


async def conv_hash(store: Store, conv: str = CONV) -> dict[str, str]:
    return decoded(await store.redis.hgetall(store.keys_for(conv).conv(conv)))


async def inbox_pending(store: Store, partition: int) -> int:
    info: Any = await store.redis.xpending(store.keys(partition).inbox, INBOX_GROUP)
    return int(info["pending"])


async def snapshot(store: Store, partition: int, conv: str = CONV) -> tuple[Any, ...]:
    """Everything a commit may change, to prove that a refused commit changed nothing."""
    k = store.keys(partition)
    return (
        await conv_hash(store, conv),
        await store.redis.xlen(k.outbox),
        await store.redis.xlen(k.dead),
        await store.redis.xlen(k.inbox),
        await inbox_pending(store, partition),
    )


async def read_new(store: Store, partition: int) -> list[tuple[str, str, str]]:
    return await store.read_inbox(partition, pending=False, count=100, block_ms=None)


async def commit(
    store: Store,
    entry_id: str,
    *,
    expected: int,
    token: str = TOKEN,
    conversation: Conversation | None = None,
    replies: tuple[tuple[str, str], ...] = (),
    dead_reason: str = "",
    event_json: str = "",
) -> CommitResult:
    return await store.commit(
        partition=partition_of(CONV, PARTITIONS),
        token=token,
        conv_id=CONV,
        expected_version=expected,
        entry_id=entry_id,
        conversation=replace(
            conversation or Conversation(flow="appointment", state="remind"), space="space-1"
        ),
        replies=replies,
        dead_reason=dead_reason,
        event_json=event_json,
    )


# -- intake ------------------------------------------------------------------------------


async def test_accept_enqueues_new_events_and_drops_repeats(store: Store) -> None:
    """A new dedup key is enqueued (True); a repeat, in the same call or later, is dropped."""
    first, second = event("m1"), event("m2")
    assert await store.accept([first, second, first]) == [True, True, False]
    assert await store.accept([second, event("m3"), first]) == [False, True, False]
    k = store.keys_for(CONV)
    entries = await store.redis.xrange(k.inbox)
    stored = [json.loads(f[b"e"]) for _, f in entries]
    assert [(e["t"], e["message_id"]) for e in stored] == [("in", "m1"), ("in", "m2"), ("in", "m3")]


async def test_seen_marker_has_the_dedup_ttl(store: Store) -> None:
    """The seen marker of an accepted event expires after the dedup TTL, not before."""
    await store.accept([event("m1")])
    ttl = await store.redis.ttl(store.keys_for(CONV).seen("cams:m1"))
    assert DEDUP_TTL - 5 <= ttl <= DEDUP_TTL


async def test_accept_puts_one_conversations_events_in_its_partition_in_order(
    store: Store,
) -> None:
    """Every event of a conversation lands in its own partition's inbox, in accept order."""
    other = f"cams:whatsapp:{BUSINESS}:8613900000002"
    mine = [event(f"m{i}") for i in range(10)]
    theirs = [event(f"o{i}", conv=other) for i in range(10)]
    interleaved = [e for pair in zip(mine, theirs, strict=True) for e in pair]
    assert await store.accept(interleaved) == [True] * 20
    for conv, sent in ((CONV, mine), (other, theirs)):
        p = partition_of(conv, PARTITIONS)
        entries = await store.redis.xrange(store.keys(p).inbox)
        ours = [
            (f[b"c"].decode(), f[b"e"].decode()) for _, f in entries if f[b"c"] == conv.encode()
        ]
        assert ours == [(conv, e.event_json) for e in sent]
        for q in range(PARTITIONS):
            if q != p:
                stray = await store.redis.xrange(store.keys(q).inbox)
                assert all(f[b"c"] != conv.encode() for _, f in stray)


# -- commit --------------------------------------------------------------------------------


async def test_concurrent_commits_from_one_version_let_exactly_one_through(store: Store) -> None:
    """Two steps computed from the same version race: one commits, the other is stale."""
    p = partition_of(CONV, PARTITIONS)
    assert await store.acquire(p, TOKEN, 10_000)
    await store.accept([event("m1"), event("m2")])
    (e1, _, _), (e2, _, _) = await read_new(store, p)
    a, b = await asyncio.gather(
        commit(store, e1, expected=0, replies=(('{"text":"a"}', "t.1.0"),)),
        commit(store, e2, expected=0, replies=(('{"text":"b"}', "t.1.0"),)),
    )
    assert sorted([a.ok, b.ok]) == [False, True]
    loser = b if a.ok else a
    assert loser.stale
    assert loser.version == 1
    assert (await conv_hash(store))["v"] == "1"
    assert await store.redis.xlen(store.keys(p).outbox) == 1
    assert await inbox_pending(store, p) == 1  # the loser's entry waits for a retry


async def test_commit_of_an_acked_entry_is_a_duplicate_and_changes_nothing(store: Store) -> None:
    """Committing an entry a second time, even from the right version, changes nothing."""
    p = partition_of(CONV, PARTITIONS)
    assert await store.acquire(p, TOKEN, 10_000)
    await store.accept([event("m1")])
    [(e1, _, _)] = await read_new(store, p)
    assert (await commit(store, e1, expected=0, replies=(("{}", "t.1.0"),))).ok
    before = await snapshot(store, p)
    again = await commit(
        store,
        e1,
        expected=1,
        conversation=Conversation(flow="csat", state="ask"),
        replies=(("{}", "t.2.0"),),
        dead_reason="boom",
        event_json="{}",
    )
    assert again == CommitResult(False, duplicate=True)
    assert await snapshot(store, p) == before


async def test_commit_with_a_wrong_lease_token_is_refused_and_changes_nothing(
    store: Store,
) -> None:
    """A worker whose token is not the lease's cannot write anything."""
    p = partition_of(CONV, PARTITIONS)
    assert await store.acquire(p, TOKEN, 10_000)
    await store.accept([event("m1")])
    [(e1, _, _)] = await read_new(store, p)
    before = await snapshot(store, p)
    res = await commit(
        store,
        e1,
        expected=0,
        token="someone-else",
        replies=(("{}", "t.1.0"),),
        dead_reason="boom",
        event_json="{}",
    )
    assert res == CommitResult(False, lost_lease=True)
    assert await snapshot(store, p) == before
    assert before[0] == {}
    assert before[1:] == (0, 0, 1, 1)


async def test_successful_commit_applies_the_whole_step(store: Store) -> None:
    """A commit bumps v, writes the fields with the TTL, acks and deletes the entry and
    appends every reply to the outbox with its task id."""
    p = partition_of(CONV, PARTITIONS)
    k = store.keys(p)
    assert await store.acquire(p, TOKEN, 10_000)
    await store.accept([event("m1"), event("m2")])
    (e1, _, _), (e2, _, _) = await read_new(store, p)
    conv = Conversation(
        flow="appointment",
        state="remind",
        flow_version="fv1",
        data={"name": "Zoë", "n": 1},
        last_inbound_ms=1234,
    )
    replies = (('{"text":"one"}', "t.1.0"), ('{"text":"two"}', "t.1.1"))
    assert await commit(store, e1, expected=0, conversation=conv, replies=replies) == CommitResult(
        True, version=1
    )
    stored = await conv_hash(store)
    assert stored == {
        "v": "1",
        "f": "appointment",
        "s": "remind",
        "fv": "fv1",
        "d": '{"name":"Zoë","n":1}',
        "li": "1234",
        "sp": "space-1",
        "vi": "0",
        "at": "0",
        "o": "",
        "a": "",
        "h": "",
        "rt": "",
        "q": "",
        "tm": "",
        "otp": "",
        "cp": "",
    }
    assert CONV_TTL - 5 <= await store.redis.ttl(k.conv(CONV)) <= CONV_TTL
    assert [e[0] for e in await store.redis.xrange(k.inbox)] == [e2.encode()]  # e1 deleted
    assert await inbox_pending(store, p) == 1  # only e2 is still pending
    outbox = await store.read_outbox(p, pending=False, count=10, block_ms=None)
    assert [(o.conv_id, o.reply_json, o.task_id, o.space) for o in outbox] == [
        (CONV, '{"text":"one"}', "t.1.0", "space-1"),
        (CONV, '{"text":"two"}', "t.1.1", "space-1"),
    ]
    assert await store.redis.xlen(k.dead) == 0

    # The next step starts from version 1 and bumps it to 2.
    assert (await commit(store, e2, expected=1, conversation=conv)).version == 2
    assert (await conv_hash(store))["v"] == "2"
    assert await store.redis.xlen(k.inbox) == 0
    assert await store.redis.xlen(k.outbox) == 2


async def test_commit_with_a_dead_letter_reason_writes_a_dead_entry(store: Store) -> None:
    """A step that could not handle its event records it, with its conversation, in the
    dead stream, and is acked."""
    p = partition_of(CONV, PARTITIONS)
    k = store.keys(p)
    assert await store.acquire(p, TOKEN, 10_000)
    ev = event("m1")
    await store.accept([ev])
    [(e1, _, _)] = await read_new(store, p)
    res = await commit(
        store,
        e1,
        expected=0,
        conversation=Conversation(),
        dead_reason="KeyError: 'x'",
        event_json=ev.event_json,
    )
    assert res.ok
    [(_, fields)] = await store.redis.xrange(k.dead)
    assert decoded(fields) == {"kind": "in", "why": "KeyError: 'x'", "c": CONV, "e": ev.event_json}
    assert await inbox_pending(store, p) == 0
    assert await store.redis.xlen(k.outbox) == 0


async def test_read_inbox_pending_redelivers_uncommitted_entries_in_order(store: Store) -> None:
    """Entries read but never committed (a crash) come back from a pending read, in order;
    a new read gives them first too (their reader may have lost its lease unawares), before
    what is new."""
    p = partition_of(CONV, PARTITIONS)
    assert await store.acquire(p, TOKEN, 10_000)
    events = [event(f"m{i}") for i in range(5)]
    await store.accept(events)
    first = await read_new(store, p)
    assert [e for _, _, e in first] == [ev.event_json for ev in events]

    # A restarted owner re-reads everything it had not committed, oldest first.
    assert await store.read_inbox(p, pending=True, count=100, block_ms=None) == first
    assert (await commit(store, first[0][0], expected=0)).ok
    assert await store.read_inbox(p, pending=True, count=100, block_ms=None) == first[1:]
    assert await store.read_inbox(p, pending=True, count=2, block_ms=None) == first[1:3]

    # So does a new read, and what is new comes after them.
    assert await read_new(store, p) == first[1:]
    late = event("m5")
    await store.accept([late])
    again = await read_new(store, p)
    assert again[:-1] == first[1:]
    assert again[-1][2] == late.event_json


# -- delivery status -------------------------------------------------------------------------


async def record_status(store: Store, task: str, status: str, at_ms: int, error: str = "") -> None:
    receipt = StatusReceipt(
        message_id="mid-1", task_id=task, status=status, at_ms=at_ms, error_code=error
    )
    assert await store.accept([], [(CONV, receipt)]) == []


async def message_record(store: Store, task: str) -> dict[str, str]:
    return decoded(await store.redis.hgetall(store.keys_for(CONV).message(task)))


async def test_delivery_status_moves_forward_only(store: Store) -> None:
    """Sent, Delivered, Read are recorded in turn; a late Delivered does not undo Read."""
    task = "abc.1.0"
    await record_status(store, task, "Sent", 1)
    assert (await message_record(store, task))["status"] == "Sent"
    await record_status(store, task, "Delivered", 2)
    assert (await message_record(store, task))["status"] == "Delivered"
    await record_status(store, task, "Read", 3)
    read = await message_record(store, task)
    assert (read["status"], read["at"], read["mid"]) == ("Read", "3", "mid-1")
    await record_status(store, task, "Delivered", 4)  # late
    await record_status(store, task, "Sent", 5)
    assert await message_record(store, task) == read
    ttl = await store.redis.ttl(store.keys_for(CONV).message(task))
    assert CONV_TTL - 5 <= ttl <= CONV_TTL


async def test_failed_status_is_final_and_repeats_are_no_ops(store: Store) -> None:
    """A repeated status changes nothing; after Failed no other status is recorded."""
    task = "abc.2.0"
    await record_status(store, task, "Delivered", 10)
    delivered = await message_record(store, task)
    await record_status(store, task, "Delivered", 11)
    assert await message_record(store, task) == delivered
    await record_status(store, task, "Failed", 12, error="131026")
    failed = await message_record(store, task)
    assert (failed["status"], failed["status_err"], failed["at"]) == ("Failed", "131026", "12")
    for status in ("Read", "Delivered", "Failed", "Sent"):
        await record_status(store, task, status, 13)
    assert await message_record(store, task) == failed


# -- leases ----------------------------------------------------------------------------------


async def test_lease_is_exclusive_and_only_its_holder_renews_or_releases(store: Store) -> None:
    """Acquire is exclusive; renew and release work for the holder only."""
    key = store.keys(2).lease
    assert await store.acquire(2, "a", 10_000)
    assert not await store.acquire(2, "b", 10_000)
    assert not await store.acquire(2, "a", 10_000)  # not re-entrant either

    assert not await store.renew(2, "b", 60_000)
    assert await store.redis.pttl(key) <= 10_000
    assert await store.renew(2, "a", 60_000)
    assert await store.redis.pttl(key) > 10_000

    await store.release(2, "b")
    assert await store.redis.get(key) == b"a"
    await store.release(2, "a")
    assert await store.redis.exists(key) == 0
    assert not await store.renew(2, "a", 60_000)  # a released lease is not revived
    assert await store.acquire(2, "b", 10_000)
    assert await store.redis.get(key) == b"b"


async def test_lease_expires_after_its_ttl(store: Store) -> None:
    """An unrenewed lease lapses after its TTL; then another token can take it."""
    assert await store.acquire(1, "a", 200)
    assert not await store.acquire(1, "b", 200)
    started = time.monotonic()
    await eventually(lambda: store.acquire(1, "b", 10_000), within=3.0)
    assert time.monotonic() - started >= 0.1
    assert await store.redis.get(store.keys(1).lease) == b"b"
    assert not await store.renew(1, "a", 10_000)


async def test_groups_are_created_once(store: Store) -> None:
    """ensure_groups is idempotent and creates the inbox, outbox and calls groups."""
    for _ in range(2):
        await store.ensure_groups(3)
    k = store.keys(3)
    for stream, group in ((k.inbox, INBOX_GROUP), (k.outbox, OUTBOX_GROUP), (k.calls, CALLS_GROUP)):
        groups = await store.redis.xinfo_groups(stream)
        assert [g["name"] for g in groups] == [group.encode()]


# -- keys ------------------------------------------------------------------------------------


def test_partition_of_is_stable() -> None:
    """The partition of an id is fixed forever: it decides where stored data lives."""
    assert partition_of(CONV, 1) == 0
    assert partition_of(CONV, 4) == 1
    assert partition_of(CONV, 16) == 13
    assert partition_of(CONV, 1024) == 45
    assert partition_of(f"cams:whatsapp:{BUSINESS}:8613900000007", 4) == 0


async def test_all_keys_of_a_conversation_share_one_cluster_slot(store: Store) -> None:
    """Every key a script touches for one conversation hashes to the same cluster slot."""
    for customer in ("8613900000001", "8613900000002", "x{y}z"):
        conv = f"cams:whatsapp:{BUSINESS}:{customer}"
        keys = store.keys_for(conv)
        names = [
            keys.conv(conv),
            keys.inbox,
            keys.outbox,
            keys.dead,
            keys.lease,
            keys.timers,
            keys.calls,
            keys.seen("cams:{mid}"),
            keys.message("abc.1.0"),
            keys.stats,
        ]
        slots = {key_slot(n.encode()) for n in names}
        assert len(slots) == 1, names
    # ... and the partitions are spread over different slots.
    assert len({key_slot(store.keys(p).inbox.encode()) for p in range(PARTITIONS)}) == PARTITIONS
