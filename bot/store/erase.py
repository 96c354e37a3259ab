"""A conversation erased, as a customer may ask (bot/store/scripts/erase.lua): everything
of it in one script of its partition's slot; its opt-out kept under a one-way hash, and
honoured wherever the conversation's own flag was."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import StoreUnavailable
from bot.model import Conversation
from bot.store.codec import opt_out_value, text, timer_member
from bot.store.core import StoreCore
from bot.store.keys import campaigns_key
from bot.store.lua import evalsha

TRIES = 5  # reads of the conversation, should steps keep changing it under the erasure
# The conversation after the events still waiting for it (a customer's STOP among them).
Settle = Callable[[Conversation, Sequence[str]], Conversation]
SCAN_COUNT = 1000


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed: the conversation (1 or 0), entries of its history, its
    timers, its events and replies waiting (inbox, outbox, calls), its dead letters and
    its sent messages' records; `opt_out_kept`: it had opted out, and that is kept;
    `campaign_recipients`: the campaigns it was a recipient of (its data there erased)."""

    conversation: int = 0
    history: int = 0
    timers: int = 0
    inbox: int = 0
    outbox: int = 0
    calls: int = 0
    dead_letters: int = 0
    message_records: int = 0
    opt_out_kept: bool = False
    campaign_recipients: int = 0


class Erasure(StoreCore):
    async def erase(self, conv_id: str, settle: Settle | None = None) -> Erased:
        """Erase a conversation: idempotent (erasing nothing answers zeros). The customer's
        opt-out is kept as it stands once the events still waiting for the conversation in
        the inbox are counted: `settle` takes the conversation and those events (as stored)
        and gives the conversation after them (a STOP among them holds); without it, as
        the conversation stands. Reads the partition's inbox for them."""
        k = self.keys_for(conv_id)
        # Off every campaign's queue first: no campaign starts the customer again after.
        campaigns = await self._forget_recipient(conv_id)
        for _ in range(TRIES):
            # The delivery records are named by the conversation's task ids: found by a
            # SCAN, which reads the keyspace (SCAN_COUNT keys a round trip).
            pattern = k.messages_of(conv_id)
            record_keys = [
                key async for key in self.redis.scan_iter(match=pattern, count=SCAN_COUNT)
            ]
            # Last before the script, which refuses if they changed: the conversation and
            # its events waiting in the inbox (walked in Redis: only its own come back).
            conv = await self.load(conv_id)
            found: Any = await self.script("waiting")(keys=[k.inbox], args=[conv_id])
            waiting = [(text(i), text(e)) for i, e in zip(found[::2], found[1::2], strict=True)]
            after = settle(conv, [e for _, e in waiting]) if settle is not None else conv
            members = [timer_member(conv_id, conv.visit, t.name) for t in conv.timers]
            res: Any = await self.coalescer().execute(
                *evalsha(
                    self.script("erase"),
                    [k.conv(conv_id), k.history(conv_id), k.conversations, k.timers, k.inbox,
                     k.outbox, k.calls, k.dead, k.opt_out(conv_id), k.campaign_outbox,
                     *record_keys],
                    conv.version, conv_id, self.opt_out_ttl, opt_out_value(after),
                    len(waiting), *(i for i, _ in waiting), len(members), *members,
                )
            )  # fmt: skip
            if res != -1:
                conversation, history, timers, inbox, outbox, calls, dead, records, kept = map(
                    int, res
                )
                return Erased(
                    conversation, history, timers, inbox, outbox, calls, dead, records,
                    bool(kept), campaigns,
                )  # fmt: skip
        # A customer writing faster than an erasure reads: ask again (503, Retry-After).
        raise StoreUnavailable(f"the conversation kept changing under its erasure ({TRIES} tries)")

    async def _forget_recipient(self, conv_id: str) -> int:
        """The conversation's customer erased from every campaign kept (in its partition's
        slot, a script a campaign, all in one round trip); of how many campaigns it was a
        recipient."""
        k = self.keys_for(conv_id)
        ids: list[Any] = await self.redis.zrange(campaigns_key(self.prefix), 0, -1)
        campaigns = [text(c) for c in ids]
        script = self.script("campaign_forget")
        forgets = [
            evalsha(script, [k.campaign_queue(c), k.campaign_recipients(c),
                             k.campaign_statuses(c), k.campaign_counts(c)], conv_id)
            for c in campaigns
        ]  # fmt: skip
        return sum(map(int, await self.run_all(forgets)))
