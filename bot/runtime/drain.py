"""What every partition stream consumer (inbox worker, outbox sender, call worker) shares:
drain the stream in batches, one conversation's entries in order, conversations side by
side; re-read, in order, whatever a failure left unfinished."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.errors import LeaseLost

Entry = TypeVar("Entry")
T = TypeVar("T")

RETRY_PAUSE = 0.2  # seconds before re-reading what a failure left unfinished


class Consumer:
    """A partition's task as its runtime steers it. `stopping` asks it to end after what
    it is doing; `idle` says that it holds nothing now (it waits for entries, or for its
    next turn), so that a stop may cancel it at once rather than wait out a blocking read:
    what a cancelled read had taken stays pending in its stream for the next owner."""

    stopping = False
    idle = False

    async def waiting(self, awaitable: Awaitable[T]) -> T:
        """`await awaitable`, idle meanwhile. A cancellation that came meanwhile stands
        even if the awaitable swallowed it: redis-py's blocking reads can, when it comes as
        the reply does (redis/redis-py#2028), and the task would go on as if never asked."""
        self.idle = True
        try:
            result = await awaitable
        finally:
            self.idle = False
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return result


async def drain(
    read: Callable[[bool], Awaitable[list[Entry]]],
    conversation_of: Callable[[Entry], str],
    handle: Callable[[list[Entry]], Awaitable[None]],
    *,
    consumer: Consumer,
    log: logging.Logger,
    what: str,
    gate: asyncio.Semaphore | None = None,
) -> None:
    """`read(pending)` returns a batch (`pending`: entries read before but never finished,
    from the first); `handle` gets one conversation's entries of the batch, in order.
    `gate`, when given, bounds how many conversations are handled at once (it may be
    shared with other drains): each waits for a place before its `handle`, all of its
    entries in one go, so their order holds."""
    if gate is not None:
        handle = functools.partial(_gated, gate, handle)
    pending = True  # first what an earlier owner, or an earlier failure, left unfinished
    while not consumer.stopping:
        entries = await consumer.waiting(read(pending))
        if not entries:
            pending = False
            continue
        by_conv: dict[str, list[Entry]] = {}
        for entry in entries:
            by_conv.setdefault(conversation_of(entry), []).append(entry)
        done = await asyncio.gather(*map(handle, by_conv.values()), return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, LeaseLost) or (
                isinstance(outcome, BaseException) and not isinstance(outcome, Exception)
            ):
                raise outcome
            if isinstance(outcome, Exception):
                log.warning("%s failed, will retry: %r", what, outcome)
                pending = True  # what failed is still pending: read it again, in order
        if pending:
            await asyncio.sleep(RETRY_PAUSE)


async def _gated(
    gate: asyncio.Semaphore, handle: Callable[[list[Entry]], Awaitable[None]], entries: list[Entry]
) -> None:
    async with gate:
        await handle(entries)


async def while_lease_in_doubt(lease_held: Callable[[], bool] | None) -> None:
    """Redis fences commits, not HTTP calls: a task whose lease may have lapsed (Redis away
    longer than a lease, this process stalled) could repeat what the partition's next owner
    does. So wait until the runtime has renewed the lease, or has stopped this task because
    another process holds it now."""
    # ASYNC110: what ends the wait is a renewal, or time passing; no event says so.
    while lease_held is not None and not lease_held():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
