"""What operators read: every partition's backlog and the counters (`bot stats`), the ages
of the queues for `/metrics` and for shedding, each in two round trips whatever the number of
partitions (a pipeline: on a cluster, every node at once). Plain values; showing them is the
caller's business."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from bot.store.codec import parse_counters, text
from bot.store.core import StoreCore
from bot.store.streams import INBOX_GROUP

# Counters of a partition, in the order `bot stats` shows them. Each is incremented where
# the thing it counts happens, in the same script or MULTI (so in the partition's slot).
PARTITION_COUNTERS = (
    "steps",  # inbox entries committed (dead-lettered ones included)
    "sends",  # replies the platform accepted
    "send_retries",  # send attempts that were tried again
    "send_failures_permanent",  # replies the platform refused for good
    "dead_letters_in",  # inbox events a step could not handle
    "dead_letters_out",  # replies given up after every attempt
    "dead_letters_retried",  # dead letters put back by `bot dlq retry`
    "dead_letters_dropped",  # dead letters deleted by `bot dlq drop`
    "duplicates_dropped",  # repeated pushes and triggers answered as repeats
)

# Counters of no partition (in `Store.stats_key`): the send rate limiter's.
GLOBAL_COUNTERS: dict[str, float] = {"rate_limit_waits": 0, "rate_limit_wait_seconds": 0.0}


@dataclass(frozen=True, slots=True)
class PartitionStats:
    """One partition's backlog. Ages are in seconds (Redis's clock), None when empty."""

    partition: int
    inbox: int  # events not committed yet
    inbox_pending: int  # of those, read by a worker that has not committed them (yet)
    inbox_oldest: float | None
    outbox: int  # replies not sent (nor given up) yet
    outbox_oldest: float | None
    calls: int  # business-system calls and agent forwards not made yet
    timers: int
    timers_due: int  # timers past their time: the timer pump is behind or away
    dead: int
    leased: bool  # a process holds the partition
    counters: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Stats:
    at_ms: int  # Redis's time when read
    partitions: tuple[PartitionStats, ...]
    # The partitions' summed, and those of no partition; every one named, also when it
    # never counted.
    counters: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in Redis: the age in seconds of the oldest entry of each queue over all
    partitions (0 when empty), and the dead letters."""

    inbox_age: float
    outbox_age: float
    calls_age: float
    dead_letters: int


_PER_PARTITION = 13  # commands per partition in stats' pipeline


def _entry_ms(entry_id: bytes | str) -> int:
    return int(text(entry_id).split("-", 1)[0])


class Reads(StoreCore):
    async def _now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def counters(self) -> dict[str, float]:
        """Every counter, summed over the partitions and `stats_key`; absent ones are 0."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.stats_key)
            for p in range(self.partitions):
                pipe.hgetall(self.keys(p).stats)
            hashes: list[dict[bytes, bytes]] = await pipe.execute()
        total: dict[str, float] = dict.fromkeys(PARTITION_COUNTERS, 0)
        for h in hashes:
            for name, value in parse_counters(h).items():
                total[name] = total.get(name, 0) + value
        return total

    async def stats(self) -> Stats:
        """Every partition's backlog and the counters, in two round trips."""
        now_ms = await self._now_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.stats_key)
            for p in range(self.partitions):
                k = self.keys(p)
                pipe.xlen(k.inbox)
                pipe.xpending(k.inbox, INBOX_GROUP)
                pipe.xrange(k.inbox, count=1)  # committed entries are deleted: the first waits
                pipe.xlen(k.outbox)
                pipe.xrange(k.outbox, count=1)
                pipe.xlen(k.campaign_outbox)
                pipe.xrange(k.campaign_outbox, count=1)
                pipe.xlen(k.calls)
                pipe.zcard(k.timers)
                pipe.zcount(k.timers, "-inf", now_ms)
                pipe.xlen(k.dead)
                pipe.exists(k.lease)
                pipe.hgetall(k.stats)
            res: list[Any] = await pipe.execute(raise_on_error=False)
        for r in res:
            # No consumer group yet: no process ever took the partition; nothing is pending.
            if isinstance(r, Exception) and not (
                isinstance(r, ResponseError) and "NOGROUP" in str(r)
            ):
                raise r

        def age(first: Any) -> float | None:
            return max(0, now_ms - _entry_ms(first[0][0])) / 1000 if first else None

        parts = []
        totals: dict[str, float] = {**dict.fromkeys(PARTITION_COUNTERS, 0), **GLOBAL_COUNTERS}
        for p in range(self.partitions):
            (inbox, pending, first_in, outbox, first_out, c_outbox, c_first_out, calls, timers,
             due, dead, lease, counters_raw
             ) = res[1 + p * _PER_PARTITION : 1 + (p + 1) * _PER_PARTITION]  # fmt: skip
            ages = [a for a in (age(first_out), age(c_first_out)) if a is not None]
            counters = parse_counters(counters_raw)
            for name, value in counters.items():
                totals[name] = totals.get(name, 0) + value
            parts.append(
                PartitionStats(
                    partition=p,
                    inbox=int(inbox),
                    inbox_pending=0 if isinstance(pending, Exception) else int(pending["pending"]),
                    inbox_oldest=age(first_in),
                    outbox=int(outbox) + int(c_outbox),  # the campaigns' outbox included
                    outbox_oldest=max(ages) if ages else None,
                    calls=int(calls),
                    timers=int(timers),
                    timers_due=int(due),
                    dead=int(dead),
                    leased=bool(lease),
                    counters=counters,
                )
            )
        for name, value in parse_counters(res[0]).items():
            totals[name] = totals.get(name, 0) + value
        return Stats(now_ms, tuple(parts), totals)

    async def backlog(self) -> Backlog:
        """The age of the oldest entry of the inboxes, the outboxes and the call queues over
        all partitions (Redis's clock; 0 when empty), and the dead letters, in two round
        trips."""
        now_ms = await self._now_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                k = self.keys(p)
                # Finished entries are deleted from their stream: the first one waits.
                pipe.xrange(k.inbox, count=1)
                pipe.xrange(k.outbox, count=1)
                pipe.xrange(k.calls, count=1)
                pipe.xrange(k.campaign_outbox, count=1)  # counts as the outbox's
                pipe.xlen(k.dead)
            res: list[Any] = await pipe.execute()
        oldest = [now_ms, now_ms, now_ms]
        dead = 0
        for p in range(self.partitions):
            first_in, first_out, first_call, first_campaign, dead_count = res[p * 5 : (p + 1) * 5]
            # The campaigns' outbox is an outbox: its oldest entry ages the outboxes.
            queues = (first_in, first_out, first_call, first_campaign)
            for q, first in zip((0, 1, 2, 1), queues, strict=True):
                if first:
                    oldest[q] = min(oldest[q], _entry_ms(first[0][0]))
            dead += int(dead_count)
        inbox, outbox, calls = (max(0, now_ms - ms) / 1000 for ms in oldest)
        return Backlog(inbox_age=inbox, outbox_age=outbox, calls_age=calls, dead_letters=dead)
