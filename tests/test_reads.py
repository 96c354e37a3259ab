"""Stream reads after a takeover: entries a former owner read unawares (it had lost its
lease) come first, in order, even from a blocking read of new entries answered late."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from bot.model import Inbound
from bot.store import Accepted, Store, event_to_json, partition_of

pytestmark = pytest.mark.both_redis

CONV = "cams:main:8613800000001"
PARTITIONS = 4


def event(message_id: str) -> Accepted:
    ev = Inbound(message_id=message_id, at_ms=int(time.time() * 1000), kind="text", text="hi")
    return Accepted(CONV, f"cams:{message_id}", event_to_json(ev))


async def test_a_blocking_read_gives_what_a_former_owner_left_first(redis: Redis) -> None:
    store = Store(redis, partitions=PARTITIONS, conversation_ttl=3600, dedup_ttl=3600)
    p = partition_of(CONV, PARTITIONS)
    await store.ensure_groups(p)
    # The new owner starts from the pending list: empty.
    assert await store.read_inbox(p, pending=True, count=10, block_ms=None) == []
    # A blocking read the former owner sent before its lease lapsed waits too, ahead of the
    # new owner's next one: Redis answers the first to wait first.
    former = Store(redis, partitions=PARTITIONS, conversation_ttl=3600, dedup_ttl=3600)
    stealing = asyncio.create_task(former.read_inbox(p, pending=False, count=10, block_ms=5000))
    await asyncio.sleep(0.1)
    waiting = asyncio.create_task(store.read_inbox(p, pending=False, count=10, block_ms=5000))
    await asyncio.sleep(0.1)
    first = [event("m1"), event("m2")]
    await store.accept(first)
    stolen = await asyncio.wait_for(stealing, 5)
    assert stolen
    late = event("m3")
    await store.accept([late])
    # The new owner's read (answered when the former owner's took m1 and m2, or when m3
    # came) gives what the former owner took first, in order, then what is new.
    read = [e for _, _, e in await asyncio.wait_for(waiting, 5)]
    expected = [ev.event_json for ev in (*first, late)]
    assert len(read) >= 2
    assert read == expected[: len(read)]
