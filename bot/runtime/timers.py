"""The timer pump of one partition: moves due timers into the inbox as events.

Each timer fires once (removed and enqueued in one script) and races safely with the
customer: both go through the inbox, and a timer of an earlier state visit is ignored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.runtime.drain import Consumer
from bot.store import Store


class TimerPump(Consumer):
    def __init__(
        self,
        store: Store,
        partition: int,
        *,
        clock_ms: Callable[[], int],
        interval: float = 0.2,
    ) -> None:
        self.store = store
        self.partition = partition
        self.clock_ms = clock_ms
        self.interval = interval

    async def run(self) -> None:
        while not self.stopping:
            fired = await self.store.fire_due_timers(self.partition, self.clock_ms())
            if not fired:
                await self.waiting(asyncio.sleep(self.interval))
