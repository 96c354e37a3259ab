"""The conversations' histories, read: written by the scripts that change what they record
(a step's commit, a send's outcome, a delivery status), each in the same script."""

from __future__ import annotations

from typing import Any

from bot.model import HistoryEntry
from bot.store.codec import history_from_entry
from bot.store.core import StoreCore


class Histories(StoreCore):
    async def history(
        self, conv_id: str, *, after: str = "", limit: int = 50
    ) -> tuple[list[HistoryEntry], str]:
        """A conversation's history, oldest first: at most `limit` entries after the entry
        `after` (a cursor: an entry's id; "" from the first), and the cursor of the next
        page ("" when there is none)."""
        key = self.keys_for(conv_id).history(conv_id)
        raw: list[Any] = await self.redis.xrange(  # type: ignore[assignment]
            key, min=f"({after}" if after else "-", max="+", count=limit + 1
        )
        entries = [history_from_entry(entry_id, fields) for entry_id, fields in raw[:limit]]
        return entries, entries[-1].id if len(raw) > limit else ""

    async def has_history(self, conv_id: str) -> bool:
        """Whether the conversation has a history stored."""
        return bool(await self.redis.exists(self.keys_for(conv_id).history(conv_id)))
