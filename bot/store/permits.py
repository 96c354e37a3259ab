"""The Redis side of the send rate limit (bot/runtime/ratelimit.py queues and waits): each
platform account's sliding-window log, one sorted set of admitted permits scored by Redis
server time in microseconds, kept by one script (scripts/acquire_permits.lua). Redis's clock
is the only clock, so processes whose clocks disagree still agree on the window; the key has
a hash tag of its own, so the script runs on Redis Cluster too.

An ask goes out with the other Redis calls of its event-loop iteration (coalesce.py): with a
store's, when given that store's coalescer. The waits it reports are added to the counters of
no partition (`bot:stats`) in the same round trip.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from bot.store import lua
from bot.store.client import RedisClient
from bot.store.coalesce import Coalescer
from bot.store.keys import PREFIX, account_key, stats_key


@dataclass(frozen=True, slots=True)
class Granted:
    """The answer to one ask: how many of its asks were admitted (in order), Redis's time,
    and when not all were, the microseconds until the next would fit."""

    admitted: int
    now_us: int
    wait_us: int | None = None


class PermitLog:
    """The permit logs of the platform accounts, in the Redis of `redis`."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str = PREFIX,
        coalescer: Callable[[], Coalescer] | None = None,
    ) -> None:
        """`coalescer`, when given, is the coalescer the asks share (a store's
        `Store.coalescer`); otherwise the log has one of its own."""
        self.redis = redis
        self.prefix = prefix
        self.stats_key = stats_key(prefix)
        self._script = lua.register(redis, "acquire_permits")
        self._shared = coalescer
        self._own: Coalescer | None = None

    def key(self, account: str) -> str:
        return account_key(account, self.prefix)

    def _coalescer(self) -> Coalescer:
        if self._shared is not None:
            return self._shared()
        loop = asyncio.get_running_loop()
        if self._own is None or self._own.loop is not loop:
            self._own = Coalescer(self.redis, self._load_script)
        return self._own

    async def _load_script(self) -> None:
        await lua.load(self.redis, [self._script])

    async def ask(
        self,
        account: str,
        asks: Sequence[int],
        *,
        limit: int,
        window_us: int,
        burst: tuple[int, int] | None = None,
        new_waits: int = 0,
        seconds: float = 0.0,
    ) -> Granted:
        """Run the script once for `asks` (each a number of permits, in order) against at
        most `limit` permits in any `window_us`, and when `burst` (a limit, a window in
        microseconds) is given, at most its limit in any of its windows. In the same round
        trip, add `new_waits` waits and `seconds` waited to the counters. Raises Redis
        errors: then nothing was granted."""
        keys = [self.key(account)]
        burst_limit, burst_us = burst if burst is not None else (limit, window_us)
        args: list[int | str] = [
            limit, window_us, burst_limit, burst_us, uuid.uuid4().hex, *asks
        ]  # fmt: skip
        # EVALSHA straight into the pipeline: redis-py would otherwise ask SCRIPT EXISTS
        # first, a second round trip.
        commands: list[tuple[Any, ...]] = [lua.evalsha(self._script, keys, *args)]
        if new_waits:
            commands.append(("HINCRBY", self.stats_key, "rate_limit_waits", new_waits))
        if seconds:
            commands.append(("HINCRBYFLOAT", self.stats_key, "rate_limit_wait_seconds", seconds))
        results = await self._coalescer().submit(commands)
        res: Any = results[0]
        if isinstance(res, NoScriptError):
            # Redis lost its scripts (a restart) and a shared coalescer loaded only its
            # owner's: the counters went in all the same.
            res = await self._script(keys=keys, args=args)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, NoScriptError):
                raise result
        return Granted(int(res[0]), int(res[1]), int(res[2]) if len(res) > 2 else None)
