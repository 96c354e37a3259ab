"""The conversations, found: each partition keeps an index of its conversations by when
each last stepped (written by the commit script), read newest first across partitions and
filtered, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.model import Conversation
from bot.store.codec import conversation_from_hash, text
from bot.store.core import StoreCore

BATCH = 200  # index entries read per partition and round
EXAMINED = 5_000  # index entries a search looks at, at most, before it answers a page


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """What a conversation must be to be found: its `customer` (the last part of its id),
    its `flow` and `state`, in a handoff or not (`handoff`), stepped `since_ms` or later.
    Empty (None for `handoff`): anything."""

    customer: str = ""
    flow: str = ""
    state: str = ""
    handoff: bool | None = None
    since_ms: int = 0

    @property
    def reads_conversations(self) -> bool:
        return bool(self.flow or self.state or self.handoff is not None)


@dataclass(frozen=True, slots=True)
class Found:
    """A conversation found: its id, when it last stepped, and where it stands."""

    conv_id: str
    stepped_ms: int
    conversation: Conversation


Cursor = tuple[int, str]  # (stepped_ms, conv_id) of the last conversation a page looked at


class Directory(StoreCore):
    async def find_conversations(
        self, query: ConversationQuery, *, after: Cursor | None = None, limit: int = 50
    ) -> tuple[list[Found], Cursor | None]:
        """Conversations as `query` says, the most recently stepped first (then by id),
        after the cursor `after`: at most `limit`, and the cursor of the next page (None
        when there is none). A search that looks at EXAMINED conversations without
        filling its page answers what it found, with a cursor to go on from."""
        found: list[Found] = []
        examined = 0
        cursor = after
        while len(found) < limit and examined < EXAMINED:
            batch = await self._next_batch(cursor, query.since_ms)
            if not batch:
                return found, None
            matching = [(at, c) for at, c in batch if _customer_of(c, query.customer)]
            convs = await self._load_many([c for _, c in matching])
            for at, conv_id in batch:
                examined += 1
                cursor = (at, conv_id)
                conv = convs.get(conv_id)
                if conv is not None and _matches(conv, query):
                    found.append(Found(conv_id, at, conv))
                    if len(found) == limit:
                        break
        return found, cursor

    async def _next_batch(self, after: Cursor | None, since_ms: int) -> list[tuple[int, str]]:
        """The next BATCH index entries of all partitions, in the order of a search."""
        floor = since_ms if since_ms > 0 else "-inf"
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                key = self.keys(p).conversations
                if after is None:
                    pipe.zrevrangebyscore(key, "+inf", floor, start=0, num=BATCH, withscores=True)
                else:
                    at, _ = after
                    pipe.zrangebyscore(key, at, at, withscores=True)  # the ties of the cursor
                    pipe.zrevrangebyscore(key, f"({at}", floor, start=0, num=BATCH, withscores=True)
            replies: list[Any] = await pipe.execute()
        entries = {(int(score), text(member)) for reply in replies for member, score in reply}
        if after is not None:
            entries = {e for e in entries if _older(e, after)}
        if since_ms > 0:
            entries = {e for e in entries if e[0] >= since_ms}
        return sorted(entries, key=lambda e: (-e[0], e[1]))[:BATCH]

    async def _load_many(self, conv_ids: list[str]) -> dict[str, Conversation]:
        """The conversations of `conv_ids` that are still stored, in one round trip."""
        if not conv_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for conv_id in conv_ids:
                pipe.hgetall(self.keys_for(conv_id).conv(conv_id))
            raws: list[Any] = await pipe.execute()
        return {
            c: conversation_from_hash(raw) for c, raw in zip(conv_ids, raws, strict=True) if raw
        }


def _older(entry: tuple[int, str], after: Cursor) -> bool:
    """Whether `entry` comes after the cursor in a search's order (newest first, then id)."""
    return entry[0] < after[0] or (entry[0] == after[0] and entry[1] > after[1])


def _customer_of(conv_id: str, customer: str) -> bool:
    return not customer or conv_id.rsplit(":", 1)[-1] == customer


def _matches(conv: Conversation, query: ConversationQuery) -> bool:
    return (
        (not query.flow or conv.flow == query.flow)
        and (not query.state or conv.state == query.state)
        and (query.handoff is None or bool(conv.handoff) == query.handoff)
    )
