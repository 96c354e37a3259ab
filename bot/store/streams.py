"""The partition's streams as their owner reads them: the inbox (events), the outboxes
(replies, and campaigns' first messages: `Lane`) and the calls, each through its consumer
group, with the pending entries of a former owner read first; on a cluster, each read goes
straight to its stream's node."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import RedisCluster
from redis.exceptions import ResponseError, SlotNotCoveredError

from bot.store.codec import text
from bot.store.core import StoreCore

INBOX_GROUP = "w"
OUTBOX_GROUP = "s"
CALLS_GROUP = "c"
CONSUMER = "owner"  # one consumer per group: the partition's lease holder


@dataclass(frozen=True, slots=True)
class CallEntry:
    entry_id: str
    conv_id: str
    call_json: str
    space: str


class Lane(StrEnum):
    """The two outboxes of a partition, each drained by a sender of its own: replies (every
    step's), and campaigns (a campaign's start: its recipient's first message). Both share
    the account's send rate limit; campaigns get at most what BOT_CAMPAIGN_RESERVE leaves."""

    REPLIES = "replies"
    CAMPAIGNS = "campaigns"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    entry_id: str
    conv_id: str
    reply_json: str
    task_id: str
    space: str
    lane: Lane = Lane.REPLIES  # the outbox it was read from
    campaign: str = ""  # the campaign it is the first message of, if one


class Streams(StoreCore):
    async def ensure_groups(self, partition: int) -> None:
        k = self.keys(partition)
        for stream, group in (
            (k.inbox, INBOX_GROUP),
            (k.outbox, OUTBOX_GROUP),
            (k.campaign_outbox, OUTBOX_GROUP),
            (k.calls, CALLS_GROUP),
        ):
            await self._create_group(stream, group)

    async def _create_group(self, stream: str, group: str) -> None:
        try:
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def read_inbox(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None
    ) -> list[tuple[str, str, str]]:
        """(entry id, conv id, event json) from the partition's inbox; `pending` re-reads
        entries delivered before but never committed (after a crash or a takeover)."""
        entries = await self._read(
            self.keys(partition).inbox, INBOX_GROUP, pending=pending, count=count,
            block_ms=block_ms,
        )  # fmt: skip
        return [(i, text(f[b"c"]), text(f[b"e"])) for i, f in entries]

    async def read_outbox(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None,
        lane: Lane = Lane.REPLIES,
    ) -> list[OutboxEntry]:  # fmt: skip
        """Replies to send from the partition's outbox of `lane`."""
        entries = await self._read(
            self.keys(partition).outbox_of(lane), OUTBOX_GROUP, pending=pending, count=count,
            block_ms=block_ms,
        )  # fmt: skip
        return [
            OutboxEntry(
                i,
                text(f[b"c"]),
                text(f[b"r"]),
                text(f[b"t"]),
                text(f.get(b"s", b"")),
                lane,
                text(f.get(b"k", b"")),
            )
            for i, f in entries
        ]

    async def still_queued(self, partition: int, entry: OutboxEntry) -> bool:
        """Whether `entry` is still in its outbox: an erasure takes its conversation's
        entries out, read or not."""
        key = self.keys(partition).outbox_of(entry.lane)
        found: Any = await self.coalescer().execute("XRANGE", key, entry.entry_id, entry.entry_id)
        return bool(found)

    async def read_calls(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None
    ) -> list[CallEntry]:
        entries = await self._read(
            self.keys(partition).calls, CALLS_GROUP, pending=pending, count=count,
            block_ms=block_ms,
        )  # fmt: skip
        return [
            CallEntry(i, text(f[b"c"]), text(f[b"r"]), text(f.get(b"s", b""))) for i, f in entries
        ]

    async def _read(
        self, stream: str, group: str, *, pending: bool, count: int, block_ms: int | None
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        start = "0" if pending else ">"
        check = not pending
        try:
            resp, listed = await self._xreadgroup(
                stream, group, start, count, None if pending else block_ms, check=check
            )
        except ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            # Redis came back without its data (no AOF, or a replica promoted before it had
            # the group): the group goes again from the stream's start; what the stream holds
            # now was accepted after the loss and not yet processed.
            await self._create_group(stream, group)
            resp, listed = await self._xreadgroup(stream, group, start, count, None, check=check)
        read = [(text(i), fields) for _stream, entries in resp or () for i, fields in entries]
        # Reads are not fenced: a former owner that has not yet noticed it lost the lease may
        # have read entries, which now wait in the pending list, older than these and never
        # to be finished by it. Then read from the pending list's start: all of them, in
        # order. (Otherwise the list holds just what was read here.) This is checked after
        # every read of new entries, not once per lease taken: a former owner can take
        # entries at any time until it notices (a blocking read it sent before its lease
        # lapsed is served after; a stalled process resumes with a read), so a check made
        # once would leave them pending until the next failure, and one made only when a
        # read finds nothing new would step later entries of their conversations first.
        # What makes it cheap: the XPENDING goes in the read's round trip (see _xreadgroup).
        if listed is not None and listed > len(read):
            return await self._read(stream, group, pending=True, count=count, block_ms=None)
        gone = [i for i, fields in read if not fields]
        if gone:
            # Deleted while pending: nothing left to do with them, so off the pending list.
            await self.redis.xack(stream, group, *gone)
        return [(i, fields) for i, fields in read if fields]

    async def _xreadgroup(
        self, stream: str, group: str, start: str, count: int, block_ms: int | None, *, check: bool
    ) -> tuple[Any, int | None]:
        """XREADGROUP's reply and, when `check`, the length of the group's pending list
        right after it (XPENDING); None when not `check`."""
        if not isinstance(self.redis, RedisCluster):
            if not check:
                resp = await self.redis.xreadgroup(
                    group, CONSUMER, {stream: start}, count=count, block=block_ms
                )
                return resp, None
            # One round trip: Redis runs the XPENDING as soon as the (blocking) read is
            # answered, on the same connection.
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xreadgroup(group, CONSUMER, {stream: start}, count=count, block=block_ms)
                pipe.xpending(stream, group)
                resp, info = await pipe.execute()
            return resp, int(info["pending"])
        # XREADGROUP's keys are "movable": the cluster client would ask a node which key
        # it names (COMMAND GETKEYS) before each read, twice, in a pipeline too. The
        # stream's node is known: the read goes there, then the XPENDING, apart.
        args: list[Any] = ["XREADGROUP", "GROUP", group, CONSUMER, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        args += ["STREAMS", stream, start]
        try:
            node = self.redis.get_node_from_key(stream)
        except SlotNotCoveredError:  # the client has not learnt the slots yet
            resp = await self.redis.execute_command(*args)
        else:
            resp = await self.redis.execute_command(*args, target_nodes=node)
        if not check:
            return resp, None
        summary: Any = await self.redis.xpending(stream, group)
        return resp, int(summary["pending"])
