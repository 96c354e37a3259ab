"""Lease renewals in one round trip: every partition a process holds, whichever node of a
cluster its lease is on; a lease another process holds is reported lost, not touched."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bot.store import Store

pytestmark = pytest.mark.both_redis

PARTITIONS = 8


async def test_renew_all_renews_what_is_held_and_reports_the_rest(redis: Redis) -> None:
    store = Store(redis, partitions=PARTITIONS, conversation_ttl=3600, dedup_ttl=3600)
    for p in range(PARTITIONS):
        assert await store.acquire(p, "mine" if p != 3 else "theirs", 1_000)
    assert await store.renew_all([], "mine", 60_000) == []
    renewed = await store.renew_all(list(range(PARTITIONS)), "mine", 60_000)
    assert renewed == [p != 3 for p in range(PARTITIONS)]
    for p in range(PARTITIONS):
        ttl = await redis.pttl(store.keys(p).lease)
        assert (ttl > 30_000) == (p != 3)
        assert await redis.get(store.keys(p).lease) == (b"theirs" if p == 3 else b"mine")


async def test_renew_all_loads_the_script_again_when_redis_lost_it(redis: Redis) -> None:
    store = Store(redis, partitions=PARTITIONS, conversation_ttl=3600, dedup_ttl=3600)
    assert await store.acquire(0, "mine", 1_000)
    await redis.script_flush()  # a restart without the scripts (every primary of a cluster)
    assert await store.renew_all([0], "mine", 60_000) == [True]
    assert await redis.pttl(store.keys(0).lease) > 30_000
