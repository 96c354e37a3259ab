"""Which process works on which partition: leases in Redis, renewed while held, shared
fairly among the live processes. Holding a partition's lease means running its inbox worker
and its outbox sender; the lease token also fences their commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from redis.exceptions import RedisError

from bot.flows.engine import Engine
from bot.platforms.base import Sender
from bot.runtime.sender import OutboxSender
from bot.runtime.worker import InboxWorker, LeaseLost
from bot.store import Store

log = logging.getLogger("bot.partitions")


@dataclass
class _Owned:
    worker: InboxWorker
    sender: OutboxSender
    tasks: tuple[asyncio.Task[None], ...]


class Runtime:
    """Runs the workers and senders of the partitions this process holds."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        senders: Mapping[str, Sender],
        *,
        lease_seconds: float,
        send_attempts: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.engine = engine
        self.senders = senders
        self.lease_ms = int(lease_seconds * 1000)
        self.send_attempts = send_attempts
        self.clock = clock
        self.token = uuid.uuid4().hex
        self.owned: dict[int, _Owned] = {}
        self._manager: asyncio.Task[None] | None = None
        self._stopping = False

    def clock_ms(self) -> int:
        return int(self.clock() * 1000)

    async def start(self) -> None:
        self._manager = asyncio.create_task(self._manage(), name="partitions")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking work, let in-flight batches finish within `drain_seconds`, release leases."""
        self._stopping = True
        if self._manager is not None:
            self._manager.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._manager
        for owned in self.owned.values():
            owned.worker.stopping = owned.sender.stopping = True
        tasks = [t for o in self.owned.values() for t in o.tasks]
        if tasks:
            _done, still = await asyncio.wait(tasks, timeout=drain_seconds)
            for t in still:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            for p in list(self.owned):
                await self.store.release(p, self.token)
            await self.store.leave(self.token)
        self.owned.clear()

    async def _manage(self) -> None:
        interval = self.lease_ms / 3000
        while not self._stopping:
            try:
                await self._rebalance()
            except (RedisError, OSError) as e:
                log.warning("lease upkeep failed: %r", e)
            await asyncio.sleep(interval)

    async def _rebalance(self) -> None:
        live = await self.store.heartbeat(self.token, self.lease_ms, self.clock_ms())
        share = math.ceil(self.store.partitions / live)
        for p in list(self.owned):
            if self.owned[p].tasks[0].done() or self.owned[p].tasks[1].done():
                await self._drop(p, "its worker stopped")
            elif not await self.store.renew(p, self.token, self.lease_ms):
                await self._drop(p, "lease lost")
        for p in list(self.owned)[share:]:
            await self._drop(p, "rebalancing")
        if len(self.owned) >= share:
            return
        for p in range(self.store.partitions):
            if len(self.owned) >= share:
                break
            if p not in self.owned and await self.store.acquire(p, self.token, self.lease_ms):
                await self._take(p)

    async def _take(self, p: int) -> None:
        await self.store.ensure_groups(p)
        worker = InboxWorker(self.store, self.engine, p, self.token, clock_ms=self.clock_ms)
        sender = OutboxSender(self.store, self.senders, p, attempts=self.send_attempts)
        tasks = (
            asyncio.create_task(self._guard(p, "worker", worker.run), name=f"worker-{p}"),
            asyncio.create_task(self._guard(p, "sender", sender.run), name=f"sender-{p}"),
        )
        self.owned[p] = _Owned(worker, sender, tasks)
        log.debug("partition %d taken", p)

    async def _guard(self, p: int, what: str, run: Callable[[], object]) -> None:
        """Keep a partition task alive through Redis outages; end it when the lease is lost."""
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

    async def _drop(self, p: int, why: str) -> None:
        owned = self.owned.pop(p)
        owned.worker.stopping = owned.sender.stopping = True
        for t in owned.tasks:
            t.cancel()
        await asyncio.gather(*owned.tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.store.release(p, self.token)
        log.info("partition %d released: %s", p, why)
