"""The conversations' histories, read: written by the scripts that change what they record
(a step's commit, a send's outcome, a delivery status), each in the same script. A history
is a list of at most BOT_HISTORY_LENGTH entries: a page reads it whole."""

from __future__ import annotations

from typing import Any

from bot.model import HistoryEntry
from bot.store.codec import history_from_element, text
from bot.store.core import StoreCore


class Histories(StoreCore):
    async def history(
        self, conv_id: str, *, after: str = "", limit: int = 50
    ) -> tuple[list[HistoryEntry], str]:
        """A conversation's history, oldest first: at most `limit` entries after the entry
        `after` (a cursor: an entry's id; "" from the first), and the cursor of the next
        page ("" when there is none)."""
        key = self.keys_for(conv_id).history(conv_id)
        raw: list[Any] = await self.redis.lrange(key, 0, -1)
        start = 0
        if after:
            later = _order(after)
            while start < len(raw) and _order(_id_of(raw[start])) <= later:
                start += 1
        page = raw[start : start + limit + 1]
        entries = [history_from_element(element) for element in page[:limit]]
        return entries, entries[-1].id if len(page) > limit else ""

    async def history_tail(self, conv_id: str, limit: int) -> tuple[list[HistoryEntry], bool]:
        """A conversation's latest `limit` entries of history, oldest first, and whether
        earlier ones are kept too."""
        key = self.keys_for(conv_id).history(conv_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(key, -limit, -1)
            pipe.llen(key)
            raw, length = await pipe.execute()
        return [history_from_element(element) for element in raw], int(length) > len(raw)

    async def message_record(self, task_id: str) -> tuple[str, dict[str, str]] | None:
        """The delivery record of a reply sent (or given up) and the conversation it was
        for, by its task id, whichever partition holds it; None when there is none."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.hgetall(self.keys(p).message(task_id))
            found: list[Any] = await pipe.execute()
        for raw in found:
            if raw:
                fields = {text(k): text(v) for k, v in raw.items()}
                return fields.get("conv", ""), fields
        return None

    async def has_history(self, conv_id: str) -> bool:
        """Whether the conversation has a history stored."""
        return bool(await self.redis.exists(self.keys_for(conv_id).history(conv_id)))


def _id_of(element: bytes | str) -> str:
    return text(element).partition("|")[0]


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
