"""The intake: events enqueued in their partition's inbox unless seen before, delivery
statuses recorded, business triggers checked against the stored conversation, and the
replay cache of callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from bot.model import SendFailed, StatusReceipt
from bot.store.codec import event_to_json, failure_counter, history_status, text
from bot.store.core import StoreCore
from bot.store.keys import replay_key
from bot.store.lua import evalsha

STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}

# Calls of the status script for one Failed receipt at most: the record's conversation and
# visit are written once per message, so the second call always finds the ones it was made for.
STATUS_TRIES = 3


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event for a conversation, ready to enqueue; `dedup_key` identifies repeats."""

    conv_id: str
    dedup_key: str
    event_json: str


class Intake(StoreCore):
    async def accept(
        self, events: Sequence[Accepted], statuses: Sequence[tuple[str, StatusReceipt]] = ()
    ) -> list[bool]:
        """Store events (True: new, False: a repeat) and status receipts in one round trip
        (two for a Failed status of a recorded message: its SendFailed is made in between).
        Raises redis errors: then nothing may be acknowledged."""
        if not events and not statuses:
            return []
        for attempt in (1, 2):
            try:
                results = await self._accept(events, statuses)
                break
            except NoScriptError:
                # Redis restarted without our scripts: load them and run the batch again
                # (intake is idempotent, statuses never regress).
                if attempt == 2:
                    raise
                await self.load_scripts()
        return [r is not None for r in results[: len(events)]]

    async def _accept(
        self, events: Sequence[Accepted], statuses: Sequence[tuple[str, StatusReceipt]]
    ) -> list[Any]:
        # One batch of EVALSHAs, sent with the other calls of this loop iteration (no
        # SCRIPT EXISTS first, as redis-py's script call in a pipeline would ask). On a
        # cluster the pipeline sends each node its commands, all nodes at once.
        commands = []
        for ev in events:
            k = self.keys_for(ev.conv_id)
            commands.append(evalsha(
                self.script("intake"), [k.seen(ev.dedup_key), k.inbox, k.stats],
                ev.conv_id, ev.event_json, self.dedup_ttl,
            ))  # fmt: skip
        commands += [self._status(conv_id, st) for conv_id, st in statuses]
        results = await self._submit(commands)
        for _ in range(STATUS_TRIES):
            # A Failed status of a recorded message: the script answered the conversation
            # and visit of the record, for the SendFailed to enqueue with the status.
            asked = [
                (i, conv_id, st, result)
                for i, ((conv_id, st), result) in enumerate(
                    zip(statuses, results[len(events) :], strict=True), start=len(events)
                )
                if isinstance(result, list)
            ]
            if not asked:
                return results
            again = await self._submit(
                [self._status(conv_id, st, record) for _, conv_id, st, record in asked]
            )
            for (i, *_), result in zip(asked, again, strict=True):
                results[i] = result
        raise RuntimeError("a message's delivery record kept changing under its status")

    def _status(
        self, conv_id: str, st: StatusReceipt, record: Sequence[bytes | str] | None = None
    ) -> tuple[Any, ...]:
        """The status script's call for a receipt; with `record` (the conversation and
        visit the message was sent for, and the campaign it was the first message of), the
        SendFailed of a Failed status too, and the campaign's counts."""
        k = self.keys_for(conv_id)
        error = st.error_code or st.error_description
        conv, visit, failed, campaign = "", "", "", ""
        if record is not None:
            conv, visit, campaign = text(record[0]), text(record[1]), text(record[2])
            try:
                number = int(visit)
            except ValueError:  # never written so; read as the release before read it
                number = -1
            failed = event_to_json(
                SendFailed(f"status:{st.task_id}", st.at_ms, st.task_id, error, number)
            )
        history = self.history_policy
        return evalsha(
            self.script("status"),
            [k.message(st.task_id), k.inbox, k.history(conv_id), k.campaign_counts(campaign)],
            STATUS_RANK.get(st.status.lower(), 0), st.status, st.at_ms, st.message_id,
            error, self.conversation_ttl, conv, visit, failed,
            history.length, history.ttl,
            history_status(st.task_id, st.status, error) if history.length else "", conv_id,
            campaign, failure_counter(error) if campaign else "",
        )  # fmt: skip

    async def _submit(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        results = await self.coalescer().submit(commands)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def accept_intent(self, event: Accepted, policy: str) -> str:
        """Enqueue a business trigger: `new`, `repeat`, `opted_out` or `busy` (policy
        `reject` while the customer is in a flow)."""
        k = self.keys_for(event.conv_id)
        res = await self.script("intake_intent")(
            keys=[
                k.seen(event.dedup_key),
                k.inbox,
                k.conv(event.conv_id),
                k.stats,
                k.opt_out(event.conv_id),
            ],
            args=[event.conv_id, event.event_json, self.dedup_ttl, policy],
        )
        return text(res)

    async def first_sight(self, *parts: str, ttl_ms: int) -> bool:
        """True the first time the request named by `parts` is seen within `ttl_ms` (a
        replay cache)."""
        key = replay_key(parts, self.prefix)
        return bool(await self.redis.set(key, "1", nx=True, px=ttl_ms))
