"""The dead letters: each partition's stream of inbox events a step could not handle and
replies given up, read page by page, put back where they came from, or dropped; every
change is one script in the partition's slot, counted there."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.codec import text
from bot.store.core import StoreCore

DROP_BATCH = 100  # dead letters dropped per script run at most
PAGE = 100  # dead letters read per round trip by a walk


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """A dead letter as stored: `kind` is `in` (an inbox event a step could not handle) or
    `out` (a reply not sent); `why` the error; `task_id` the reply's task id (`out`)."""

    partition: int
    entry_id: str
    kind: str
    why: str
    conv_id: str
    task_id: str


def _entry(partition: int, entry_id: bytes | str, raw: dict[bytes, bytes]) -> DeadEntry:
    fields = {text(k): text(v) for k, v in raw.items()}
    return DeadEntry(
        partition,
        text(entry_id),
        fields.get("kind", "?"),
        fields.get("why", ""),
        fields.get("c", ""),
        fields.get("t", ""),
    )


def _order(d: DeadEntry) -> tuple[int, int, int]:
    ms, _, seq = d.entry_id.partition("-")
    return int(ms), int(seq or 0), d.partition


class DeadLetters(StoreCore):
    async def dead_letters(
        self, partition: int, *, start: str = "-", end: str = "+", count: int = 100
    ) -> list[DeadEntry]:
        """Up to `count` of a partition's dead letters from `start` to `end` (stream ids as
        XRANGE takes them: `(ID` excludes), oldest first."""
        raw: Any = await self.redis.xrange(self.keys(partition).dead, start, end, count=count)
        return [_entry(partition, entry_id, fields) for entry_id, fields in raw]

    async def oldest_dead(
        self, limit: int, *, after: tuple[int, str] | None = None
    ) -> list[DeadEntry]:
        """The `limit` oldest dead letters of every partition, oldest first (by entry id,
        then partition), after the letter `after` ((partition, entry id): a cursor)."""
        if limit <= 0:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                start = "-"
                if after is not None:
                    partition, entry_id = after
                    start = f"({entry_id}" if p <= partition else entry_id
                pipe.xrange(self.keys(p).dead, start, "+", count=limit)
            pages: list[Any] = await pipe.execute()
        letters = [
            _entry(p, entry_id, fields) for p, page in enumerate(pages) for entry_id, fields in page
        ]
        return sorted(letters, key=_order)[:limit]

    async def find_dead(self, partition: int, entry_id: str) -> DeadEntry | None:
        """A partition's dead letter, None when there is none of that id."""
        if not 0 <= partition < self.partitions:
            return None
        found = await self.dead_letters(partition, start=entry_id, end=entry_id, count=1)
        return found[0] if found else None

    async def count_dead(self) -> int:
        """The dead letters of every partition, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.xlen(self.keys(p).dead)
            return sum(int(n) for n in await pipe.execute())

    async def dead_letter_pages(self, page: int = PAGE) -> AsyncIterator[tuple[int, list[str]]]:
        """Pages of (partition, dead letter ids) that existed when the walk reached the
        partition: letters that die again meanwhile (a retried event that fails once more)
        are not walked into."""
        for p in range(self.partitions):
            last: Any = await self.redis.xrevrange(self.keys(p).dead, count=1)
            if not last:
                continue
            end, start = text(last[0][0]), "-"
            while letters := await self.dead_letters(p, start=start, end=end, count=page):
                ids = [d.entry_id for d in letters]
                yield p, ids
                start = f"({ids[-1]}"

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
