"""What operators read: the counters, summed over the partitions and the processes."""

from __future__ import annotations

from bot.store.codec import parse_counters
from bot.store.core import StoreCore

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


class Reads(StoreCore):
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
