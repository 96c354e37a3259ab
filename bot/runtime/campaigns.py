"""The campaign pump of one partition: each running campaign's recipients of the partition,
as their time comes, at the campaign's rate.

A campaign's rate holds across partitions and processes: every pump asks the campaign's own
permit log (bot/store/permits.py, the send rate limit's script) for the recipients it is
about to start. A recipient whose time falls in its quiet hours (in its own time zone) is
moved to when they end; one whose time comes after the campaign's end-by is skipped as
expired; the others get their turn in one script (`Store.release_recipient`): opt-out, the
mid-flow policy and the recent-message rule are decided there, against what the last step
stored, and a recipient started goes into the inbox as any trigger does, once.

WhatsApp's rules: a recipient whose conversation stepped less than `min_gap` seconds ago is
put off until the gap is over (its pair rate); with a `daily_cap`, a business number's
campaigns message at most that many unique recipients in any 24 hours, and the rest are
carried over to when a place frees (counted `carried_over`). Partition 0's pump marks the
running campaigns nobody is pending in any more done.

A pump looks only at the campaigns its partition's index of due campaigns names (one read a
turn, however many campaigns run): a store of recipients lowers a campaign's place there,
and the pump moves it to the next recipient's time when it finds none due, or takes it
out when none is queued."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from bot.campaign import CampaignSpec, Category, MidFlow, Skip, Status, zone_of
from bot.errors import LeaseLost
from bot.model import ConversationRef, IntentStart
from bot.runtime.drain import Consumer
from bot.store import Due, PermitLog, Store, event_to_json, recipient_from_json
from bot.store.campaigns import campaign_message_id

log = logging.getLogger("bot.campaigns")

BATCH = 100  # recipients of one campaign looked at per turn
ACTIVE_FOR = 1.0  # seconds the list of active campaigns is kept before it is read again
# Seconds between two puttings right of every active campaign's place in the index: what
# went wrong with it (a stale owner's pump, a Redis that lost it) holds up a campaign in a
# partition this long at most.
RESETTLE = 30.0
SMOOTH = 0.1  # seconds: a campaign's starts are spread over windows this short


def permits_of(rate: float) -> tuple[int, int]:
    """(permits, window in microseconds) of a rate in messages per second, in windows of
    a tenth of a second where the rate allows: starts go out evenly, not in a burst at the
    top of each second (a burst would queue customers' messages behind it in the inboxes).
    200/s is 20 in 0.1 s; 5/s is 1 in 0.2 s; 0.5/s is 1 in two seconds."""
    permits = max(1, math.floor(rate * SMOOTH))
    return permits, round(permits / rate * 1_000_000)


class CampaignPump(Consumer):
    def __init__(
        self,
        store: Store,
        permits: PermitLog,
        partition: int,
        token: str,
        *,
        clock_ms: Callable[[], int],
        interval: float = 0.2,
        daily_cap: int = 0,
        min_gap: float = 0.0,
    ) -> None:
        """`daily_cap`: unique recipients a business number's campaigns message in any 24
        hours (0: no cap); `min_gap`: seconds a recipient's conversation must have been
        quiet (since its last step) before a campaign messages it."""
        self.daily_cap = daily_cap
        self.gap_ms = round(min_gap * 1000)
        self.store = store
        self.permits = permits
        self.partition = partition
        self.token = token
        self.clock_ms = clock_ms
        self.interval = interval
        self._active: dict[str, tuple[Status, CampaignSpec]] = {}
        self._read_at = -math.inf
        self._unsettled: set[str] = set()  # active campaigns whose place is to put right
        self._settled_at = -math.inf

    async def run(self) -> None:
        while not self.stopping:
            worked, wait = 0, self.interval
            active = await self._campaigns()
            # One read a turn, however many campaigns run: those the partition's index says
            # may have recipients due. What no longer runs leaves the index.
            # Reads alone: a stop may cancel the pump there (idle), as in its sleep.
            due = await self.waiting(self.store.due_campaigns(self.partition, self.clock_ms()))
            await self.store.drop_due(self.partition, [c for c in due if c not in active])
            for campaign in due:
                status, spec = active.get(campaign, (None, None))
                if status is Status.RUNNING and spec is not None:
                    done, until_permits = await self._turn(campaign, spec)
                    worked += done
                    if until_permits is not None:
                        wait = min(wait, until_permits)
            if not worked:
                await self.waiting(asyncio.sleep(wait))

    async def _campaigns(self) -> dict[str, tuple[Status, CampaignSpec]]:
        """The running and paused campaigns, read again once a second. One seen for the
        first time gets its place in the partition's index of due campaigns put right: the
        index holds only what was stored since this pump last saw it run (a campaign
        stored before it ran is out of it)."""
        if time.monotonic() - self._read_at > ACTIVE_FOR:
            found = await self.waiting(self.store.active_campaigns())
            self._read_at = time.monotonic()
            seen = self._active
            self._active = {c: (status, spec) for c, status, spec in found}
            self._unsettled |= self._active.keys() - seen.keys()
            if time.monotonic() - self._settled_at > RESETTLE:
                self._unsettled |= self._active.keys()
                self._settled_at = time.monotonic()
            self._unsettled &= self._active.keys()
            # One at a time, each off the list once done: a failure (Redis away) leaves
            # the rest for the next time round, not forgotten.
            for campaign in sorted(self._unsettled):
                await self.store.settle_due(self.partition, campaign)
                self._unsettled.discard(campaign)
            if self.partition == 0:  # one pump (partition 0 always has an owner) says so
                await self._finish([(c, st) for c, st, _ in found])
        return self._active

    async def _finish(self, active: list[tuple[str, Status]]) -> None:
        """The running campaigns nobody is pending in any more are done; those still
        running or paused keep their data BOT_CAMPAIGN_TTL longer (renewed when half of it
        is left), however long they take."""
        now = self.clock_ms()
        ttl_ms = self.store.campaign_ttl * 1000
        status_of = dict(active)
        for record in await self.store.campaigns_of(list(status_of)):
            if status_of[record.id] is Status.RUNNING and record.counts.get("pending", 0) == 0:
                await self.store.move_campaign(record.id, Status.DONE)
                log.info("campaign %s done: %s", record.id, record.counts)
            elif record.expires_ms and record.expires_ms - now < ttl_ms // 2:
                await self.store.keep_campaign(record.id, now + ttl_ms)

    async def _turn(self, campaign: str, spec: CampaignSpec) -> tuple[int, float | None]:
        """Work the recipients of `campaign` due now, as many as its rate allows: how many
        were worked (started, skipped or moved past quiet hours), and, when its rate held
        some back, the seconds until it lets the next one go."""
        now = self.clock_ms()
        due = await self.store.due_recipients(self.partition, campaign, now, BATCH)
        if not due:  # its place in the index was early: put it at its next recipient
            await self.store.settle_due(self.partition, campaign)
            return 0, None
        worked = 0
        ready: list[tuple[Due, dict[str, object]]] = []  # read once: data for the start
        for d in due:
            data, zone = recipient_from_json(d.recipient) if d.recipient else ({}, "")
            if spec.end_ms and now > spec.end_ms:
                await self._release(campaign, spec, d, data, forced=Skip.EXPIRED)
                worked += 1
                continue
            if spec.quiet is not None:
                customer = ConversationRef.parse(d.conv_id).customer
                allowed = spec.quiet.next_allowed(now, zone_of(customer, zone, spec.zone))
                if allowed > now:
                    await self.store.reschedule(self.partition, campaign, d.conv_id, allowed)
                    worked += 1
                    continue
            ready.append((d, data))
        if not ready:
            return worked, None
        limit, window_us = permits_of(spec.rate)
        granted = await self.permits.ask(
            f"campaign:{campaign}", [1] * len(ready), limit=limit, window_us=window_us
        )
        admitted = ready[: granted.admitted]
        if self.daily_cap and admitted:
            places = await self.store.claim_recipients(
                spec.business, [d.conv_id for d, _ in admitted], now_ms=now, cap=self.daily_cap
            )
            for (d, _), free_at in zip(admitted, places, strict=True):
                if free_at:  # the number's cap is reached: the next free place is its turn
                    await self.store.carry_over(self.partition, campaign, d.conv_id, free_at)
            admitted = [a for a, free_at in zip(admitted, places, strict=True) if not free_at]
        unused: list[str] = []
        for d, data in admitted:
            status = await self._release(campaign, spec, d, data)
            if status not in ("started", "later"):
                unused.append(d.conv_id)
        if self.daily_cap and unused:  # skipped or gone: their places go to others
            await self.store.unclaim_recipients(spec.business, unused)
        wait = granted.wait_us / 1_000_000 if granted.wait_us is not None else None
        return worked + granted.admitted, wait

    async def _release(
        self, campaign: str, spec: CampaignSpec, due: Due, data: dict[str, object],
        forced: str = "",
    ) -> str:  # fmt: skip
        """The recipient's turn; what became of it (`started`, `later`, `skipped:...`,
        `gone`)."""
        now = self.clock_ms()
        event = IntentStart(
            message_id=campaign_message_id(campaign, due.conv_id), at_ms=now, code=spec.intent,
            data=dict(data), space=spec.space, campaign=campaign,
            marketing=spec.category is Category.MARKETING,
            policy="queue" if spec.mid_flow is MidFlow.QUEUE else "reject",
        )  # fmt: skip
        cutoff = now - int(spec.recent_hours * 3_600_000) if spec.recent_hours else 0
        status = await self.store.release_recipient(
            self.partition, self.token, campaign, due, event_json=event_to_json(event),
            mid_flow=spec.mid_flow, recent_cutoff_ms=cutoff, forced=str(forced), now_ms=now,
            gap_ms=self.gap_ms, category=spec.category,
        )  # fmt: skip
        if status == "lease":
            raise LeaseLost(self.partition)
        log.debug("campaign %s: recipient %s", campaign, status)
        return status
