"""A send rate limit shared by every process: at most `limit` sends per platform account in
any one-second window, however many processes send for that account.

Each account has a sliding-window log in Redis, kept by one script (bot/store/permits.py):
drop the permits older than the window, admit when there is room, else answer how long until
there will be. Redis's clock is the only clock, so processes whose clocks disagree still
agree on the window.

Within a process the tasks that want a permit for one account queue first come, first
served, and the one at their head asks Redis for the permits of as many of them as the limit
allows, in one round trip: a burst of sends costs one ask, not one each; when the limit is
reached, only the head polls, however many tasks are waiting. Waits are counted in the round
trips that ask for permits anyway, and the asks go out with the other Redis calls of their
event-loop iteration (bot/store/coalesce.py): with the store's, when the limiter is given its
coalescer.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.metrics import Metrics
from bot.model import DEFAULT_ACCOUNT
from bot.store import Lane, PermitLog, RedisClient
from bot.store.coalesce import Coalescer

WINDOW = 1.0  # seconds: the platforms count their limits per second
# Seconds each permit is held beyond the window: the spread of delays between a permit
# being granted here and its request arriving at the platform, whose own count is the one
# that must never see more than `limit` in a second. It costs ~5% of the top rate.
GUARD = 0.05
MAX_SLEEP = 1.0  # seconds: a waiter asks again at least this often
# At most this share of the limit in any tenth of the window: the permits of a second are
# spread over at least 0.8 s of it. Granted all at once (after a wait, say, or a Redis
# restart), a second's sends reach the platform in one bunch that its own count, later by
# the time they take to arrive and be read, can see overlap the next second's; spread
# evenly, a delay of D seconds adds at most D's share of the limit to any second there
# (a quarter, the first value, let 0.4 s bursts a second apart overlap more: a fresh-clone
# run saw 14 of 1,000 sends throttled at a limit of 200 against 250).
BURST = 0.125

MAX_BATCH = 256  # waiters served by one ask at most


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
class _Waiter:
    """A task waiting for `permits` permits: since `started`; `sleeps` is how many sleeps
    for want of room its queue had made when it came (a sleep under way counts as made), so
    a later count means the limit held it back. Its wait is counted up to `counted_to`."""

    future: asyncio.Future[float]
    permits: int
    started: float
    sleeps: int
    counted_to: float
    counted: bool = False


@dataclass(slots=True)
class _Queue:
    """The tasks of this process waiting for one account's permits, in order of arrival;
    the lock is held by the one asking (or sleeping) for them all. `sleeps`: how often the
    asker has slept for want of room; `not_before`: no ask before then (loop time): a
    partly served ask told when the next waiter's permits will fit."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiters: deque[_Waiter] = field(default_factory=deque)
    sleeps: int = 0
    sleeping: bool = False
    not_before: float = 0.0


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
        reserve: float = 0.0,
        burst: float = BURST,
        limits: Mapping[str, int] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """`coalescer`, when given, is the coalescer the asks share (a store's
        `Store.coalescer`); otherwise the limiter has one of its own. `reserve`: the share
        of `limit` the campaigns' lane leaves to replies (it is admitted only while the
        log holds fewer than `limit * (1 - reserve)` permits: replies always find room).
        `burst`: the share of a lane's limit granted in any tenth of `window` at most (1
        for no such bound). `limits`: accounts whose limit is another than `limit`, by
        account; `names`: the name of an account for the metrics' `account` label."""
        if limit < 1:
            raise ValueError(f"a rate limit must be at least 1, got {limit}")
        if not 0 <= reserve < 1:
            raise ValueError(f"a reserve is a share from 0 to under 1, got {reserve}")
        if not 0 < burst <= 1:
            raise ValueError(f"a burst is a share over 0 up to 1, got {burst}")
        if any(other < 1 for other in (limits or {}).values()):
            raise ValueError("a rate limit must be at least 1")
        self.log = PermitLog(redis, prefix=prefix, coalescer=coalescer)
        self.limit = limit
        self.reserve, self.burst, self.window = reserve, burst, window
        self.others = dict(limits or {})
        self.names = dict(names or {})
        self.limits, self.bursts = self._lanes(limit)
        self._by_account: dict[str, tuple[dict[Lane, int], dict[Lane, tuple[int, int]]]] = {}
        self.window_us = round((window + guard) * 1_000_000)
        self.max_sleep = max_sleep
        self.counters = counters if counters is not None else Counters()
        self.metrics = metrics if metrics is not None else Metrics()
        self._queues: dict[tuple[str, Lane], _Queue] = {}
        self.asks = 0  # scripts run: one round trip each

    def _lanes(self, limit: int) -> tuple[dict[Lane, int], dict[Lane, tuple[int, int]]]:
        """Each lane's limit, and its burst bound (permits, tenth of the window in µs)."""
        limits = {Lane.REPLIES: limit,
                  Lane.CAMPAIGNS: max(1, math.floor(limit * (1 - self.reserve)))}  # fmt: skip
        bursts = {
            lane: (math.ceil(lane_limit * self.burst), round(self.window * 100_000))
            for lane, lane_limit in limits.items()
            if self.burst < 1
        }
        return limits, bursts

    def lanes_of(self, account: str) -> tuple[dict[Lane, int], dict[Lane, tuple[int, int]]]:
        """An account's lane limits and burst bounds: its own limit's, or the default's."""
        if account not in self.others:
            return self.limits, self.bursts
        found = self._by_account.get(account)
        if found is None:
            found = self._by_account[account] = self._lanes(self.others[account])
        return found

    def key(self, account: str) -> str:
        """The Redis key of an account's log."""
        return self.log.key(account)

    async def try_acquire(
        self, account: str, permits: int = 1, lane: Lane = Lane.REPLIES
    ) -> Attempt:
        """Ask once (one round trip) for `permits` permits, granted only if all fit now."""
        self._check(permits)
        admitted, at, wait = await self._ask(account, [permits], lane)
        return Attempt(admitted == 1, at, wait)

    async def acquire(self, account: str, permits: int = 1, lane: Lane = Lane.REPLIES) -> float:
        """Wait until `permits` permits are granted; return the seconds waited for the limit
        (0.0 when there was room at once). Raises Redis errors: then nothing was granted.
        Each lane queues apart in this process: a reply never waits behind a campaign."""
        self._check(permits)
        queue = self._queues.setdefault((account, lane), _Queue())
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiter = _Waiter(loop.create_future(), permits, now, queue.sleeps - queue.sleeping, now)
        queue.waiters.append(waiter)
        try:
            async with queue.lock:  # first come, first served within this process
                while not waiter.future.done():
                    await self._serve(account, queue, lane)
            return waiter.future.result()
        finally:
            if not waiter.future.done():
                waiter.future.cancel()  # its place goes to the next
            elif not waiter.future.cancelled():
                waiter.future.exception()  # retrieved, whatever became of this task

    async def _serve(self, account: str, queue: _Queue, lane: Lane) -> None:
        """Ask for the permits of the waiters at the head of the queue (the caller first),
        as many as the limit allows; settle those admitted (or failed, with the error), and
        when the caller's did not fit, sleep until they would."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # the tasks that want permits in this loop turn join the ask
        if queue.not_before > loop.time():
            await self._sleep(queue, queue.not_before - loop.time())
        batch: list[_Waiter] = []
        total = 0
        limit = self.lanes_of(account)[0][lane]
        for waiter in queue.waiters:
            if waiter.future.done():
                continue
            if len(batch) == MAX_BATCH or total + waiter.permits > limit:
                break
            batch.append(waiter)
            total += waiter.permits
        # Waiting for room (their own sleeps, or those of the waiters ahead) is counted as
        # it happens, by the next ask: no round trip of its own.
        now = loop.time()
        held_back = [w for w in batch if w.sleeps != queue.sleeps]
        new_waits = sum(not w.counted for w in held_back)
        seconds = sum(now - w.counted_to for w in held_back)
        try:
            admitted, _, wait = await self._ask(
                account, [w.permits for w in batch], lane, new_waits=new_waits, seconds=seconds
            )
        except Exception as e:  # nothing was granted: each of the batch gets the error
            for waiter in batch:
                if not waiter.future.done():
                    waiter.future.set_exception(e)
            return
        for waiter in held_back:
            waiter.counted, waiter.counted_to = True, now
        for waiter in batch[:admitted]:
            if not waiter.future.done():  # one cancelled meanwhile leaves its permits unused
                waiter.future.set_result(
                    waiter.counted_to - waiter.started if waiter.counted else 0.0
                )
        while queue.waiters and queue.waiters[0].future.done():
            queue.waiters.popleft()
        if admitted < len(batch):
            if admitted == 0:
                await self._sleep(queue, wait)
            else:  # the caller is served: the next asker starts by sleeping
                queue.not_before = loop.time() + wait

    async def _sleep(self, queue: _Queue, seconds: float) -> None:
        queue.sleeps += 1
        queue.sleeping = True
        try:
            await asyncio.sleep(min(seconds, self.max_sleep))
        finally:
            queue.sleeping = False

    def _check(self, permits: int) -> None:
        if not 1 <= permits <= self.limit:
            raise ValueError(f"permits must be within 1..{self.limit}, got {permits}")

    async def _ask(
        self, account: str, asks: list[int], lane: Lane, *, new_waits: int = 0,
        seconds: float = 0.0,
    ) -> tuple[int, float, float]:  # fmt: skip
        """Ask once for `asks` (each a number of permits, in order): how many were
        admitted, Redis's time, and the seconds until the next would fit. In the same round
        trip, add `new_waits` waits and `seconds` waited to the counters."""
        self.asks += 1
        limits, bursts = self.lanes_of(account)
        granted = await self.log.ask(
            account, asks, limit=limits[lane], window_us=self.window_us,
            burst=bursts.get(lane), new_waits=new_waits, seconds=seconds,
        )  # fmt: skip
        if new_waits:
            self.counters.add("rate_limit_waits", new_waits)
        if seconds:
            self.counters.add("rate_limit_wait_seconds", seconds)
        if new_waits or seconds:
            platform = account.partition(":")[0]
            self.metrics.rate_limit_wait(
                platform, waits=new_waits, seconds=seconds,
                account=self.names.get(account, DEFAULT_ACCOUNT),
            )  # fmt: skip
        wait = granted.wait_us / 1_000_000 if granted.wait_us is not None else 0.0
        return granted.admitted, granted.now_us / 1_000_000, wait
