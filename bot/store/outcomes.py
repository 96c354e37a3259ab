"""What became of a drained entry, recorded as it is acked, in one script each: a call's
outcome enqueued as an event; a send's message record, counters, dead letter and SendFailed
event."""

from __future__ import annotations

from typing import Any

from bot.store.codec import failure_counter, history_send
from bot.store.core import StoreCore
from bot.store.intake import Accepted
from bot.store.lua import evalsha
from bot.store.streams import CallEntry, OutboxEntry


class Outcomes(StoreCore):
    async def finish_call(self, partition: int, entry: CallEntry, result: Accepted | None) -> None:
        """Ack a call and enqueue its outcome event (dropped when its dedup key was seen),
        atomically."""
        k = self.keys(partition)
        keys = [k.calls, k.inbox]
        args: list[Any] = [entry.entry_id]
        if result is not None:
            keys.append(k.seen(result.dedup_key))
            args += [result.conv_id, result.event_json, self.dedup_ttl]
        await self.script("finish_call")(keys=keys, args=args)

    async def finish_send(
        self,
        partition: int,
        entry: OutboxEntry,
        *,
        message_id: str = "",
        error: str = "",
        dead: bool = False,
        visit: int = -1,
        failed: str = "",
        retries: int = 0,
        permanent: bool = False,
    ) -> None:
        """Ack a drained outbox entry and record what became of it (in its conversation's
        history too: sent, or failed with its `error`), in one script.
        `failed` (an event, as JSON) tells the conversation its message failed for good.
        The partition's counters count the send (a `message_id`), a `permanent` failure or
        a `dead` letter (and either by its reason, `failure_counter`), and the `retries` it
        took, in the same script."""
        k = self.keys(partition)
        outcome = (
            "dead" if dead else "sent" if message_id else "permanent" if permanent else ""
        )  # fmt: skip
        history = self.history_policy
        await self.coalescer().execute(
            *evalsha(
                self.script("finish_send"),
                [k.outbox_of(entry.lane), k.stats, k.dead, k.inbox, k.message(entry.task_id),
                 k.history(entry.conv_id), k.campaign_counts(entry.campaign),
                 k.conv(entry.conv_id), k.campaign_outbox],
                entry.entry_id, retries, outcome, error, entry.conv_id, entry.reply_json,
                entry.task_id, entry.space, failed, message_id, visit, self.conversation_ttl,
                history.length, history.ttl,
                history_send(entry.task_id, message_id=message_id, error=error)
                if history.length and (message_id or error) else "",
                failure_counter(error) if outcome in ("dead", "permanent") else "",
                entry.campaign,
            )
        )  # fmt: skip
