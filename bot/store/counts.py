"""The flows' counts, read: what the steps of every partition added, hour by hour (written by
the commit script), and where the conversations stand now (from the partitions' indexes of
conversations)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.store.codec import FlowCount, flow_count_from_field, text
from bot.store.core import StoreCore
from bot.store.steps import HOUR_MS

BATCH = 1000  # conversations read per round trip when counting where they stand


class FlowCounts(StoreCore):
    async def flow_counts(self, since_ms: int, until_ms: int) -> Counter[FlowCount]:
        """The counts the steps of every partition added in the hours from `since_ms` to
        `until_ms` (whole hours: the first and the last are counted whole)."""
        hours = range(since_ms // HOUR_MS, until_ms // HOUR_MS + 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                for hour in hours:
                    pipe.hgetall(self.keys(p).flow_counts(hour))
            pages: list[Any] = await pipe.execute()
        total: Counter[FlowCount] = Counter()
        for page in pages:
            for field, n in page.items():
                total[flow_count_from_field(field)] += int(n)
        return total

    async def states_now(self, limit: int = 50_000) -> tuple[Counter[tuple[str, str]], bool]:
        """How many conversations stand in each (flow, state) now, of the `limit` that
        stepped last; and whether that was all of them."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.zrevrange(self.keys(p).conversations, 0, limit)
            pages: list[Any] = await pipe.execute()
        ids = [text(member) for page in pages for member in page]
        complete = len(ids) <= limit and all(len(page) <= limit for page in pages)
        ids = ids[:limit]
        where: Counter[tuple[str, str]] = Counter()
        for i in range(0, len(ids), BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for conv_id in ids[i : i + BATCH]:
                    pipe.hmget(self.keys_for(conv_id).conv(conv_id), "f", "s")
                rows: list[Any] = await pipe.execute()
            for flow, state in rows:
                if flow and state:
                    where[(text(flow), text(state))] += 1
        return where, complete
