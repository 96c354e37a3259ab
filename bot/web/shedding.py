"""Back-pressure at the CAMS receipt intake (BOT_SHED_BACKLOG_AGE, off by default).

While the oldest inbox entry is older than the limit, `/cams/receipts` answers 503 with
`Retry-After` rather than acknowledge what would only wait longer; CAMS pushes the batch again
later. A sampler reads the backlog (`Store.backlog`: one pipelined read of every partition)
about once a second, so a push decides on the last value read and costs no Redis call.

Hysteresis keeps it from flapping: shedding starts when the age is over the limit and stops
when it is under half of it; in between the current mode holds. A backlog that cannot be read
never sheds: with Redis away the intake answers 503 on its own.
"""

from __future__ import annotations

import asyncio
import logging

from bot.errors import Overloaded
from bot.store import RedisError, Store

log = logging.getLogger("bot.web.shedding")

SAMPLE_INTERVAL = 1.0  # seconds between two reads of the backlog
READ_TIMEOUT = 2.0  # seconds: a read that takes longer counts as unreadable
RETRY_AFTER = 60  # seconds: when CAMS is expected to push a refused batch again first


class Shedder:
    """Whether receipt pushes are refused now, from the inbox age sampled in the background.
    With `limit` 0 it never samples and never sheds."""

    def __init__(self, store: Store, *, limit: float, interval: float = SAMPLE_INTERVAL) -> None:
        self.store = store
        self.limit = limit
        self.interval = interval
        self.age: float | None = None  # the last inbox age read; None when it could not be
        self.shedding = False
        self._unreadable = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def check(self) -> None:
        """Raise Overloaded while shedding."""
        if self.shedding:
            raise Overloaded(self.age or 0.0, RETRY_AFTER)

    def update(self, age: float | None) -> None:
        """Take a new sample (None: the backlog could not be read) and switch modes when it
        crosses the limit (start) or half of it (stop)."""
        self.age = age
        if age is None:
            shed = False
        elif self.shedding:
            shed = age >= self.limit / 2
        else:
            shed = age > self.limit
        if shed == self.shedding:
            return
        self.shedding = shed
        if shed:
            log.warning(
                "shedding CAMS receipt pushes (503): the oldest inbox entry is %.0f s old, over "
                "BOT_SHED_BACKLOG_AGE=%g s; until it is under %g s",
                age, self.limit, self.limit / 2,
            )  # fmt: skip
        elif age is None:
            log.warning("shedding stopped: the inbox backlog cannot be read")
        else:
            log.warning(
                "shedding stopped: the oldest inbox entry is %.0f s old, under %g s",
                age, self.limit / 2,
            )  # fmt: skip

    async def start(self) -> None:
        if self.limit > 0:
            self._task = asyncio.create_task(self._run(), name="shedding")

    async def stop(self) -> None:
        if self._task is not None:
            # Asked twice: by the flag, should the read under way swallow the cancellation
            # (redis-py's can, when it comes as the reply does), and by the cancellation.
            self._stopping = True
            self._task.cancel()
            # Not `await task` under suppress(CancelledError): that would swallow a
            # cancellation of stop() itself.
            await asyncio.wait({self._task})
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            await self.sample()
            if not self._stopping:
                await asyncio.sleep(self.interval)

    async def sample(self) -> None:
        """Read the backlog once and take it; any failure counts as unreadable, logged once
        per outage, and never ends the sampler."""
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                backlog = await self.store.backlog()
        except Exception as e:  # an outage, a slow Redis, or a bug: never shed on a stale value
            if not self._unreadable:
                outage = isinstance(e, RedisError | OSError | TimeoutError)
                log.warning(
                    "cannot read the inbox backlog, not shedding until it can: %r",
                    e,
                    exc_info=not outage,
                )
            self._unreadable = True
            self.update(None)
            return
        if self._unreadable:
            log.info("the inbox backlog can be read again")
            self._unreadable = False
        self.update(backlog.inbox_age)
