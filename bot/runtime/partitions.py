"""Which process works on which partition: leases in Redis, renewed while held, shared
fairly among the live processes. Holding a partition's lease means running its inbox worker
and its outbox sender; the lease token also fences their commits."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from bot.errors import LeaseLost
from bot.flows.engine import Engine
from bot.log import context
from bot.metrics import Metrics
from bot.platforms.base import Sender
from bot.runtime.calls import CallWorker
from bot.runtime.campaigns import CampaignPump
from bot.runtime.ratelimit import Counters, RateLimiter
from bot.runtime.routes import Routes, as_routes
from bot.runtime.sender import OutboxSender
from bot.runtime.timers import TimerPump
from bot.runtime.worker import InboxWorker
from bot.store import Lane, PermitLog, RedisError, Store

log = logging.getLogger("bot.partitions")

HANDOFF_SECONDS = 5.0  # how long a partition given up for rebalancing may finish its batch
# Conversations stepped at once by all the inbox workers of a process: a burst of steps
# (up to a batch per partition) must not keep callbacks waiting behind it.
MAX_STEPS = 64
CAMPAIGN_RESERVE = 0.2  # of the send rate limit, kept for replies when campaigns send


@dataclass
class _Owned:
    worker: InboxWorker
    sender: OutboxSender
    timers: TimerPump
    calls: CallWorker
    campaigns: CampaignPump
    campaign_sender: OutboxSender
    tasks: tuple[asyncio.Task[None], ...]

    def stop(self) -> None:
        """Ask every task to stop after what it is doing, and end at once those that are
        doing nothing (waiting in a blocking read, or for their next turn)."""
        for part, task in zip(
            (
                self.worker,
                self.sender,
                self.timers,
                self.calls,
                self.campaigns,
                self.campaign_sender,
            ),
            self.tasks,
            strict=True,
        ):
            part.stopping = True
            if part.idle:
                task.cancel()


class Runtime:
    """Runs the workers and senders of the partitions this process holds."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        senders: Mapping[str, Sender] | Routes,
        *,
        lease_seconds: float,
        send_attempts: int,
        clock: Callable[[], float] = time.time,
        send_backoff_base: float = 0.5,
        send_backoff_cap: float = 30.0,
        http: aiohttp.ClientSession | None = None,
        secrets: Mapping[str, str] | None = None,
        send_rate_limit: int | None = None,
        send_rate_limits: Mapping[str, int] | None = None,
        metrics: Metrics | None = None,
        max_steps: int = MAX_STEPS,
        campaign_reserve: float = CAMPAIGN_RESERVE,
        campaign_daily_cap: int = 0,
        campaign_min_gap: float = 0.0,
    ) -> None:
        """`send_rate_limit`: sends per second per platform account, shared with every
        process on the same Redis (`send_rate_limits`: accounts with another, by the
        rate limit's key of their sender); None sends as fast as the platform answers; of it,
        campaigns' first messages never take the share `campaign_reserve`. `metrics`
        records steps, sends and rate-limit waits. `max_steps`: conversations stepped at
        once, over every partition this process works on."""
        self.metrics = metrics if metrics is not None else Metrics()
        self.http = http
        self.secrets = dict(secrets or {})
        self.store = store
        self.engine = engine
        self.routes = as_routes(senders)
        self.lease_ms = int(lease_seconds * 1000)
        self.send_attempts = send_attempts
        self.send_backoff_base = send_backoff_base
        self.send_backoff_cap = send_backoff_cap
        self.clock = clock
        self.counters = Counters()  # this process's: rate_limit_waits, rate_limit_wait_seconds
        self.limiter = (
            RateLimiter(
                store.redis,
                limit=send_rate_limit,
                prefix=store.prefix,
                coalescer=store.coalescer,
                counters=self.counters,
                metrics=self.metrics,
                reserve=campaign_reserve,
                limits=send_rate_limits,
                names=self.routes.names(),
            )
            if send_rate_limit is not None
            else None
        )
        self.campaign_daily_cap = campaign_daily_cap
        self.campaign_min_gap = campaign_min_gap
        # The campaigns' rates: permit logs like the send rate limit's, one per campaign.
        self.campaign_permits = PermitLog(store.redis, prefix=store.prefix,
                                          coalescer=store.coalescer)  # fmt: skip
        self.token = uuid.uuid4().hex
        self.steps = asyncio.Semaphore(max_steps)  # shared by the inbox workers
        self.owned: dict[int, _Owned] = {}
        # Per partition held: until when (event loop time) the lease surely holds, counted
        # from before the acquire or renew that set it: sends stop beyond it.
        self._lease_until: dict[int, float] = {}
        self._manager: asyncio.Task[None] | None = None
        self._chores: asyncio.Task[None] | None = None
        self._stopping = False
        self._handoffs: set[asyncio.Task[None]] = set()
        self._own_http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.http is None:
            # One session for the life of the runtime, closed by stop().
            self.http = self._own_http = aiohttp.ClientSession()
        return self.http

    def reload(self, engine: Engine) -> None:
        """Run new flows from the next step on (after SIGHUP)."""
        self.engine = engine
        for owned in self.owned.values():
            owned.worker.engine = engine

    def clock_ms(self) -> int:
        return int(self.clock() * 1000)

    async def start(self) -> None:
        self._manager = asyncio.create_task(self._manage(), name="partitions")
        self._chores = asyncio.create_task(self._keep_opt_outs(), name="opt-outs")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking work, let in-flight batches finish within `drain_seconds`, release leases."""
        self._stopping = True
        for task in (self._manager, self._chores):
            if task is not None:
                task.cancel()
                await asyncio.wait({task})  # a cancellation of stop() itself goes on
        owned, self.owned = self.owned, {}
        await asyncio.gather(
            *(self._drain(p, o, drain_seconds) for p, o in owned.items()),
            *self._handoffs,
            return_exceptions=True,
        )
        with contextlib.suppress(RedisError, OSError):
            await self.store.leave(self.token)
        if self._own_http is not None:
            await self._own_http.close()
            self._own_http = self.http = None

    async def _keep_opt_outs(self) -> None:
        """Once per deployment, in the background: the opt-outs of conversations stored
        before steps wrote them apart are written apart (Store.keep_opt_outs)."""
        delay = 1.0
        while not self._stopping:
            try:
                written = await self.store.keep_opt_outs()
            except (RedisError, OSError) as e:
                log.warning("opt-outs not yet kept apart, trying again: %r", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            if written:
                log.info("opt-outs kept apart from their conversations: %d", written)
            return

    async def _manage(self) -> None:
        interval = self.lease_ms / 3000
        while not self._stopping:
            try:
                await self._rebalance()
            except (RedisError, OSError) as e:
                log.warning("lease upkeep failed: %r", e)
            except Exception:
                # A bug must not end lease upkeep for good: the partitions would stall.
                log.exception("lease upkeep failed unexpectedly; trying again")
            await asyncio.sleep(interval)

    async def _rebalance(self) -> None:
        live = await self.store.heartbeat(self.token, self.lease_ms, self.clock_ms())
        share = math.ceil(self.store.partitions / live)
        for p in list(self.owned):
            if any(t.done() for t in self.owned[p].tasks):
                await self._drop(p, "its worker stopped")
        # Every lease in one round trip: one after another, they could lapse while the
        # event loop is busy.
        held = list(self.owned)
        for p, renewed in zip(held, await self._renew_all(held), strict=True):
            if not renewed:
                if await self._acquire(p):
                    # It lapsed (Redis was away longer than a lease, or this process
                    # stalled) and no one took it since: keep working, rather than cut
                    # the sends under way, which the next owner would send again.
                    log.warning("partition %d: lease had lapsed, taken again", p)
                else:
                    await self._drop(p, "lease lost")
        for p in list(self.owned)[share:]:
            # A planned handoff: let the in-flight batch finish (a send cancelled midway
            # would be sent again by the next owner), in the background, then release.
            owned = self.owned.pop(p)
            handoff = asyncio.create_task(self._drain(p, owned, HANDOFF_SECONDS))
            self._handoffs.add(handoff)
            handoff.add_done_callback(self._handoffs.discard)
            log.info("partition %d handed off: rebalancing", p)
        if len(self.owned) >= share:
            return
        for p in range(self.store.partitions):
            if len(self.owned) >= share:
                break
            if p not in self.owned and await self._acquire(p):
                await self._take(p)

    async def _acquire(self, p: int) -> bool:
        started = asyncio.get_running_loop().time()
        if not await self.store.acquire(p, self.token, self.lease_ms):
            return False
        self._lease_until[p] = started + self.lease_ms / 1000
        return True

    async def _renew(self, p: int) -> bool:
        started = asyncio.get_running_loop().time()
        if not await self.store.renew(p, self.token, self.lease_ms):
            return False
        self._lease_until[p] = started + self.lease_ms / 1000
        return True

    async def _renew_all(self, partitions: list[int]) -> list[bool]:
        started = asyncio.get_running_loop().time()
        renewed = await self.store.renew_all(partitions, self.token, self.lease_ms)
        for p, held in zip(partitions, renewed, strict=True):
            if held:
                self._lease_until[p] = started + self.lease_ms / 1000
        return renewed

    def lease_held(self, p: int) -> bool:
        """Whether this process surely still holds partition `p`'s lease: renewed less than
        a lease ago (by the clock of this process, started before Redis's)."""
        return asyncio.get_running_loop().time() < self._lease_until.get(p, 0.0)

    async def _take(self, p: int) -> None:
        await self.store.ensure_groups(p)
        worker = InboxWorker(
            self.store,
            self.engine,
            p,
            self.token,
            clock_ms=self.clock_ms,
            metrics=self.metrics,
            steps=self.steps,
        )
        sender, campaign_sender = (
            OutboxSender(
                self.store,
                self.routes,
                p,
                attempts=self.send_attempts,
                backoff_base=self.send_backoff_base,
                backoff_cap=self.send_backoff_cap,
                limiter=self.limiter,
                lease_held=functools.partial(self.lease_held, p),
                metrics=self.metrics,
                lane=lane,
            )
            for lane in (Lane.REPLIES, Lane.CAMPAIGNS)
        )
        timers = TimerPump(self.store, p, clock_ms=self.clock_ms)
        calls = CallWorker(
            self.store,
            self._session(),
            p,
            secrets=self.secrets,
            clock_ms=self.clock_ms,
            lease_held=functools.partial(self.lease_held, p),
        )
        campaigns = CampaignPump(
            self.store, self.campaign_permits, p, self.token, clock_ms=self.clock_ms,
            daily_cap=self.campaign_daily_cap, min_gap=self.campaign_min_gap,
        )  # fmt: skip
        tasks = (
            asyncio.create_task(self._guard(p, "worker", worker.run), name=f"worker-{p}"),
            asyncio.create_task(self._guard(p, "sender", sender.run), name=f"sender-{p}"),
            asyncio.create_task(self._guard(p, "timers", timers.run), name=f"timers-{p}"),
            asyncio.create_task(self._guard(p, "calls", calls.run), name=f"calls-{p}"),
            asyncio.create_task(self._guard(p, "campaigns", campaigns.run), name=f"campaigns-{p}"),
            asyncio.create_task(
                self._guard(p, "campaign sender", campaign_sender.run),
                name=f"campaign-sender-{p}",
            ),
        )
        self.owned[p] = _Owned(worker, sender, timers, calls, campaigns, campaign_sender, tasks)
        log.debug("partition %d taken", p)

    async def _guard(self, p: int, what: str, run: Callable[[], object]) -> None:
        """Keep a partition task alive through Redis outages; end it when the lease is lost."""
        with context(partition=p):
            await self._keep(p, what, run)

    async def _keep(self, p: int, what: str, run: Callable[[], object]) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                await run()  # type: ignore[misc]
                return
            except LeaseLost:
                log.warning("partition %d: lease lost; %s stops", p, what)
                return
            except (RedisError, OSError) as e:
                log.warning("partition %d: %s waiting for Redis: %r", p, what, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _drain(self, p: int, owned: _Owned, seconds: float) -> None:
        """Let a partition's worker and sender finish their current batch within `seconds`,
        renewing the lease meanwhile so that no other process starts on the partition
        before they are done, then release it."""
        owned.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        still: set[asyncio.Task[None]] = set(owned.tasks)
        while still and (left := deadline - loop.time()) > 0:
            _done, still = await asyncio.wait(still, timeout=min(left, self.lease_ms / 3000))
            try:
                if still and not await self._renew(p):
                    break  # someone else holds it now: stop at once
            except (RedisError, OSError) as e:
                log.warning("partition %d: lease upkeep failed while draining: %r", p, e)
        for t in still:
            t.cancel()
        await asyncio.gather(*owned.tasks, return_exceptions=True)
        self._lease_until.pop(p, None)
        with contextlib.suppress(RedisError, OSError):
            await self.store.release(p, self.token)

    async def _drop(self, p: int, why: str) -> None:
        owned = self.owned.pop(p)
        owned.stop()
        for t in owned.tasks:
            t.cancel()
        await asyncio.gather(*owned.tasks, return_exceptions=True)
        self._lease_until.pop(p, None)
        with contextlib.suppress(RedisError, OSError):
            await self.store.release(p, self.token)
        log.info("partition %d released: %s", p, why)
