"""The outbox sender of one partition and lane: sends committed replies through their
platform, in order per conversation, retrying what may succeed later with capped, jittered
backoff. Each partition has two: one for its replies, one for its campaigns' first messages
(`Lane`), which queue for the account's rate limit apart."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping

from bot.errors import PermanentSendError, RateLimitedError, RetryableSendError
from bot.log import context, mask_id, mask_text, shown
from bot.metrics import Metrics
from bot.model import Outgoing, Reply, SendFailed
from bot.platforms.base import Sender
from bot.runtime.drain import Consumer, drain, while_lease_in_doubt
from bot.runtime.ratelimit import RateLimiter
from bot.runtime.routes import Routes, as_routes
from bot.store import (
    Lane,
    OutboxEntry,
    RedisError,
    Store,
    address_from_entry,
    event_to_json,
    reply_from_json,
)

log = logging.getLogger("bot.sender")

STALE_PERMIT = 0.5  # seconds: a permit older than this when the send can go is asked again


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2**attempt))


def shown_error(error: str, customer: str) -> str:
    """A platform's send error for a log line: it may quote the recipient (a Tencent account
    as well as a number), so the customer's id is masked in it, and it is cut short."""
    if customer:
        error = error.replace(customer, mask_id(customer))
    return shown(error, 300, quote=False)


class OutboxSender(Consumer):
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender] | Routes,
        partition: int,
        *,
        attempts: int,
        batch: int = 100,
        block_ms: int = 1000,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        limiter: RateLimiter | None = None,
        lease_held: Callable[[], bool] | None = None,
        metrics: Metrics | None = None,
        lane: Lane = Lane.REPLIES,
    ) -> None:
        """`limiter`, when given, grants every send attempt a permit of its platform
        account's shared rate limit first (as much of it as `lane` may have). `lease_held`,
        when given, tells whether this process surely still holds the partition: sends
        wait while it does not."""
        self.lane = lane
        self.metrics = metrics if metrics is not None else Metrics()
        self.store = store
        self.lease_held = lease_held
        self.limiter = limiter
        self.routes = as_routes(senders)
        self.partition = partition
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.batch = batch
        self.block_ms = block_ms

    async def run(self) -> None:
        await drain(
            lambda pending: self.store.read_outbox(
                self.partition,
                pending=pending,
                count=self.batch,
                block_ms=self.block_ms,
                lane=self.lane,
            ),
            lambda entry: entry.conv_id,
            self._conversation,
            consumer=self,
            log=log,
            what=f"partition {self.partition}: sending",
        )

    @staticmethod
    def _now_ms() -> int:
        return int(time.time() * 1000)

    async def _conversation(self, entries: list[OutboxEntry]) -> None:
        for entry in entries:  # in order: the next reply waits for this one
            with context(conv_id=entry.conv_id, message_id=entry.task_id):
                await self._send(entry)

    async def _record_sent(
        self, entry: OutboxEntry, message_id: str, visit: int, retries: int
    ) -> None:
        """Record a send the platform accepted. While Redis is away, keep trying (until the
        task is cancelled): an entry left pending would be sent again, a repeat the customer
        sees, by this task once Redis is back or by the partition's next owner."""
        delay = 0.05
        while True:
            try:
                await self.store.finish_send(
                    self.partition, entry, message_id=message_id, visit=visit, retries=retries
                )
                return
            except (RedisError, OSError) as e:
                if delay == 0.05:
                    log.warning("sent, not yet recorded: %r", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _permitted(self, account: str) -> None:
        """A permit of the account's rate limit, and the lease surely held, both at once:
        a permit is for the second it was granted in, so one that waited out a lease in
        doubt (Redis away, say) is asked for again, not spent late beside new ones."""
        loop = asyncio.get_running_loop()
        while True:
            if self.limiter is not None:
                await self.limiter.acquire(account, lane=self.lane)
            granted = loop.time()
            # Last, right before the send: waiting for a permit may have taken long.
            await while_lease_in_doubt(self.lease_held)
            if self.limiter is None or loop.time() - granted < STALE_PERMIT:
                return

    async def _opted_out(self, entry: OutboxEntry, reply: Reply) -> str:
        """Why the reply is not to be sent, or "": an erasure by anything, STOP by everything
        but the system's own replies (the confirmation), STOP MARKETING by a marketing
        campaign's first messages. What was committed before any of them is not sent. An
        erasure takes the entry out of the outbox, whatever came after it (the customer
        writing again): both read in one round trip."""
        opted, queued = await asyncio.gather(
            self.store.opt_outs(entry.conv_id), self.store.still_queued(self.partition, entry)
        )
        if not queued:
            return "conversation erased"
        if reply.system:
            return ""
        if opted.everything:
            return "customer opted out"
        if reply.marketing and opted.marketing:
            return "customer opted out of marketing"
        return ""

    async def _send(self, entry: OutboxEntry) -> None:
        to = address_from_entry(entry.conv_id, entry.space)
        conv = to.ref
        route = self.routes.route(to)
        if route is None:
            why = self.routes.refusal(conv)
            log.error("%s: the reply goes to the dead letters", mask_text(why))
            await self.store.finish_send(self.partition, entry, error=why, dead=True)
            self.metrics.send(conv.platform, "dead", "other")
            return
        sender, label = route.sender, route.account
        reply = reply_from_json(entry.reply_json)
        msg = Outgoing(route.to, reply, entry.task_id)
        error = ""
        for attempt in range(self.attempts):
            await self._permitted(route.key)
            # After the permit and before every attempt: waiting for a permit or a retry may
            # take seconds, in which the customer may write STOP.
            if why := await self._opted_out(entry, reply):
                log.info("send dropped: %s", why)
                await self.store.finish_send(self.partition, entry, error=why, visit=reply.visit)
                return
            started = time.perf_counter()
            try:
                receipt = await sender.send(msg)
            except PermanentSendError as e:
                self.metrics.send_latency(sender.platform, time.perf_counter() - started, label)
                log.warning("send failed for good: %s", e.code)
                error = f"{e.code}: {e.message}"
                failed = SendFailed(f"send:{entry.task_id}", self._now_ms(), entry.task_id, error,
                                    reply.visit)  # fmt: skip
                await self.store.finish_send(
                    self.partition, entry, error=error, visit=reply.visit,
                    failed=event_to_json(failed) if reply.state else "",
                    retries=attempt, permanent=True,
                )  # fmt: skip
                self.metrics.send(sender.platform, "failed", label)
                return
            except RateLimitedError as e:
                self.metrics.send_latency(sender.platform, time.perf_counter() - started, label)
                error = f"{e.code}: {e.message}"
                delay = (
                    e.retry_after
                    if e.retry_after is not None
                    else backoff(attempt, base=self.backoff_base, cap=self.backoff_cap)
                )
            except RetryableSendError as e:
                self.metrics.send_latency(sender.platform, time.perf_counter() - started, label)
                error = f"{e.code}: {e.message}"
                delay = backoff(attempt, base=self.backoff_base, cap=self.backoff_cap)
            else:
                self.metrics.send_latency(sender.platform, time.perf_counter() - started, label)
                log.debug("sent: platform message id %s", receipt.message_id)
                await self._record_sent(entry, receipt.message_id, reply.visit, attempt)
                self.metrics.send(sender.platform, "sent", label)
                return
            if attempt + 1 < self.attempts:
                log.info(
                    "send retry %d in %.2fs: %s",
                    attempt + 1,
                    delay,
                    shown_error(error, conv.customer),
                )
                self.metrics.send(sender.platform, "retried", label)
                await asyncio.sleep(delay)
        log.error(
            "send gave up after %d attempts: %s", self.attempts, shown_error(error, conv.customer)
        )
        await self.store.finish_send(
            self.partition, entry, error=error, dead=True, visit=reply.visit,
            retries=self.attempts - 1,
        )  # fmt: skip
        self.metrics.send(sender.platform, "dead", label)
