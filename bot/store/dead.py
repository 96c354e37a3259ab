"""The dead letters: each partition's stream of inbox events a step could not handle and
replies given up, read, put back where they came from, or dropped; every change is one
script in the partition's slot, counted there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.store.codec import text
from bot.store.core import StoreCore

DROP_BATCH = 100  # dead letters dropped per script run at most


class DeadLetters(StoreCore):
    async def dead_letters(
        self, partition: int, *, start: str = "-", end: str = "+", count: int = 100
    ) -> list[tuple[str, dict[str, str]]]:
        """Up to `count` of a partition's dead letters from `start` to `end` (stream ids as
        XRANGE takes them: `(ID` excludes), oldest first, as (stream id, fields)."""
        raw: Any = await self.redis.xrange(self.keys(partition).dead, start, end, count=count)
        return [(text(i), {text(k): text(v) for k, v in f.items()}) for i, f in raw]

    async def retry_dead(self, partition: int, entry_id: str) -> str | None:
        """Put a dead letter back where it came from: its kind (`out`, `in`), None when there
        is no such entry, `bad` when it cannot be retried."""
        k = self.keys(partition)
        res = await self.script("retry_dead")(
            keys=[k.dead, k.outbox, k.inbox, k.stats], args=[entry_id]
        )
        return None if res is None else text(res)

    async def drop_dead(self, partition: int, entry_ids: Sequence[str]) -> int:
        """Delete dead letters of a partition; return how many there were."""
        k = self.keys(partition)
        drop = self.script("drop_dead")
        dropped = 0
        for i in range(0, len(entry_ids), DROP_BATCH):
            batch = entry_ids[i : i + DROP_BATCH]
            dropped += int(await drop(keys=[k.dead, k.stats], args=list(batch)))
        return dropped
