"""Reliability with real processes (issue #4): two `bot serve` processes sharing one Redis
(append-only), the fake CAMS in this process, and a load driver playing CAMS. Every test
checks the invariant, not just the absence of errors: each distinct message acknowledged,
exactly one conversation transition and one reply (one TaskId) per distinct message,
replies in order per conversation, nothing dead-lettered.

Numbers observed are printed (`pytest -s`) for the operations docs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.reliability_support import (
    LEASE_SECONDS,
    PARTITIONS,
    Faults,
    LoadDriver,
    assert_exactly_once,
    eventually,
    lease_holders,
    max_per_second,
    outbox_in_flight,
    pending_entries,
    rig,
    settle,
)

pytestmark = pytest.mark.alone  # rates and latencies: run by themselves (conftest)


def report(name: str, **numbers: object) -> None:
    print(f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


async def test_two_servers_reply_once_per_message_in_order(tmp_path: Path) -> None:
    """Two servers sharing one Redis, pushed 1,000 messages with repeats, batches and
    concurrent messages per customer: one transition and one reply per distinct message,
    each customer's replies in the order of its messages."""
    async with asyncio.timeout(50), rig(tmp_path) as world:
        driver = LoadDriver(world.urls, customers=100, messages=10, seed=1)
        started = time.monotonic()
        await driver.run(world.session)
        pushed = time.monotonic() - started
        settled = await settle(driver, world.cams, world.redis, within=40.0)
        d = await assert_exactly_once(driver, world.cams, world.redis)
        statuses = driver.statuses()
        assert set(statuses) == {200}, statuses
        assert d.duplicates == 0
        report(
            "two servers",
            distinct=driver.distinct,
            repeats=driver.repeats_pushed,
            pushes=len(driver.answers),
            sends=d.sends,
            throttled=world.cams.rate_limited,
            push_s=round(pushed, 1),
            settle_s=round(settled, 1),
        )


async def test_kill_9_mid_run_loses_nothing_and_moves_nothing_twice(tmp_path: Path) -> None:
    """`kill -9` of one server with pushes, steps and sends in flight, then its restart:
    the other server takes its partitions over once their leases lapse, and at the end every
    distinct message moved its conversation once and got its reply; a send cut by the kill
    may have been repeated, with the same TaskId, at most once per send that was in flight."""
    # Every send is answered 0.2 s late, so that sends are in flight when the kill comes.
    slow = Faults(late=1.0, delay=0.2)
    async with asyncio.timeout(50), rig(tmp_path, faults=slow) as world:
        driver = LoadDriver(world.urls, customers=100, messages=10, pause=0.4, seed=2)
        run = asyncio.create_task(driver.run(world.session))
        await driver.wait_acked(int(0.4 * driver.distinct))
        before = await lease_holders(world.redis)
        victim = world.servers[0]
        victim.kill()
        killed = time.monotonic()
        # The dead process can change nothing any more: what it had read and not finished
        # stays pending until its leases lapse and the other server takes it over.
        in_flight = await outbox_in_flight(world.redis)
        unfinished = await pending_entries(world.redis, range(PARTITIONS))

        async def one_owner() -> bool:
            holders = await lease_holders(world.redis)
            return None not in holders and len(set(holders)) == 1

        reclaim = await eventually(one_owner, within=LEASE_SECONDS * 3)
        assert reclaim < LEASE_SECONDS * 2  # a lease, and a turn of the survivor's upkeep
        survivor = (await lease_holders(world.redis))[0]
        orphaned = [p for p in range(PARTITIONS) if before[p] != survivor]
        assert len(orphaned) == PARTITIONS // 2
        stuck = sum(len(in_flight[p]) for p in orphaned)
        orphaned_work = {e for e in unfinished if any(f":p{p}}}" in e[0] for p in orphaned)}

        async def taken_over() -> bool:
            return not orphaned_work & await pending_entries(world.redis, orphaned)

        finished = await eventually(taken_over, within=20.0) + reclaim

        victim.start()
        await victim.ready(world.session)
        await asyncio.wait_for(run, timeout=30)
        settled = await settle(driver, world.cams, world.redis, within=30.0)
        d = await assert_exactly_once(driver, world.cams, world.redis)
        # Repeated: only sends under way at the kill (each of them once, same TaskId).
        # (Half a second of slack: the fake timestamps a request when this busy loop gets
        # to it, not when it arrived.)
        repeated = world.cams.repeated()
        assert all(first < killed + 0.5 for first in repeated.values()), (killed, repeated)
        assert len(repeated) == d.duplicates <= stuck
        assert 500 not in driver.statuses()
        report(
            "kill -9",
            distinct=driver.distinct,
            repeats=driver.repeats_pushed,
            acked_at_kill=int(0.4 * driver.distinct),
            sends_in_flight_at_kill=stuck,
            duplicate_sends=d.duplicates,
            reclaim_s=round(reclaim, 2),
            orphaned_entries=len(orphaned_work),
            orphaned_done_s=round(finished, 2),
            refused_pushes=driver.statuses()[0],
            settle_s=round(settled, 1),
        )


async def test_throttling_outages_and_timeouts_of_cams_are_retried_to_one_reply(
    tmp_path: Path,
) -> None:
    """CAMS answering some sends 429 (with a retry-after), 503, or too late for the send
    timeout: every reply still goes out, once per TaskId; only a send that CAMS accepted
    but answered too late is repeated (same TaskId), and nothing is dead-lettered."""
    faults = Faults(throttle=0.05, unavailable=0.05, late=0.03, delay=1.5, retry_after=0.2)
    async with asyncio.timeout(50), rig(tmp_path, faults=faults, BOT_SEND_TIMEOUT="1") as world:
        driver = LoadDriver(world.urls, customers=100, messages=10, seed=3)
        await driver.run(world.session)
        settled = await settle(driver, world.cams, world.redis, within=35.0)
        d = await assert_exactly_once(driver, world.cams, world.redis)
        injected = world.cams.injected
        assert injected["429"] > 0
        assert injected["503"] > 0
        assert injected["late"] > 0
        assert d.duplicates <= world.cams.late_recorded
        assert set(driver.statuses()) == {200}
        report(
            "CAMS faults",
            distinct=driver.distinct,
            send_requests=len(world.cams.arrived_at),
            injected_429=injected["429"],
            injected_503=injected["503"],
            answered_late=injected["late"],
            late_but_recorded=world.cams.late_recorded,
            duplicate_sends=d.duplicates,
            throttled_by_rate=world.cams.rate_limited,
            settle_s=round(settled, 1),
        )


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_redis_restart_mid_run_gives_503s_then_recovers_without_loss(
    tmp_path: Path, how: str
) -> None:
    """Redis stopped under load for 3 s, then started again on the same port and data:
    meanwhile every push is answered 503 (never 2xx, never 500); after its return the
    servers take pushes and send again within seconds, without a restart; at the end every
    message has exactly one reply. SIGTERM flushes the append-only file; after SIGKILL
    what Redis acknowledged is in it too (written before it answers; only the fsync to
    disk lags, which matters to a machine crash, not to a process killed)."""
    async with asyncio.timeout(50), rig(tmp_path) as world:
        driver = LoadDriver(world.urls, customers=100, messages=10, pause=0.4, seed=4)
        run = asyncio.create_task(driver.run(world.session))
        await driver.wait_acked(int(0.4 * driver.distinct))
        # Stopped in a thread, so that this loop (the fake CAMS's) runs on meanwhile.
        await asyncio.to_thread(world.redis_server.stop, kill=how == "SIGKILL")
        down = time.monotonic()
        await asyncio.sleep(3.0)
        world.redis_server.start()  # same port, same data directory (its AOF)
        up = time.monotonic()

        async def pushes_taken() -> bool:
            return any(a.status == 200 and a.start >= up for a in driver.answers)

        async def sends_going() -> bool:
            return any(t >= up for t in world.cams.accepted_at)

        taken, sending = await asyncio.gather(
            eventually(pushes_taken, within=10.0), eventually(sends_going, within=10.0)
        )
        await asyncio.wait_for(run, timeout=30)
        settled = await settle(driver, world.cams, world.redis, within=30.0)
        d = await assert_exactly_once(driver, world.cams, world.redis)

        during = [a.status for a in driver.answers if a.start >= down and a.end <= up]
        assert during
        assert set(during) == {503}, set(during)
        assert 500 not in driver.statuses()
        # No send starts while Redis is away (the opt-out check and the rate limit need
        # it): only one under way when it went may have gone out again, with its TaskId.
        # (Half a second of slack: the fake timestamps a request when this busy loop gets
        # to it, not when it arrived.)
        repeated = world.cams.repeated()
        assert all(first < down + 0.5 for first in repeated.values()), (down, repeated)
        assert len(repeated) == d.duplicates  # each of them at most twice
        report(
            f"Redis {how}",
            distinct=driver.distinct,
            answers_503_while_down=len(during),
            pushes_taken_after_s=round(taken, 2),
            sends_after_s=round(sending, 2),
            duplicate_sends=d.duplicates,
            settle_s=round(settled, 1),
        )


async def test_two_servers_together_stay_under_the_send_rate_limit(tmp_path: Path) -> None:
    """Two servers with replies to send faster than BOT_SEND_RATE_LIMIT allows share the
    limit through Redis: CAMS (limit 250/s) never sees more sends in any second than it
    allows, so never throttles, and every reply still goes out once."""
    limit = 200
    async with (
        asyncio.timeout(50),
        rig(tmp_path, rate_limit=250, BOT_SEND_RATE_LIMIT=str(limit)) as world,
    ):
        driver = LoadDriver(world.urls, customers=100, messages=10, seed=5)
        started = time.monotonic()
        await driver.run(world.session)
        await settle(driver, world.cams, world.redis, within=30.0)
        sending = max(world.cams.arrived_at) - min(world.cams.arrived_at)
        d = await assert_exactly_once(driver, world.cams, world.redis)
        peak = max_per_second(world.cams.arrived_at)
        assert world.cams.rate_limited == 0
        assert peak <= world.cams.fake.rate_limit
        # The load asked for more than the limit: the limit, not the load, set the pace.
        assert peak >= 0.8 * limit
        assert sending >= (d.sends - limit) / limit
        report(
            "rate limit",
            distinct=driver.distinct,
            limit=limit,
            peak_sends_per_s=peak,
            throttled_by_cams=world.cams.rate_limited,
            sending_s=round(sending, 1),
            run_s=round(time.monotonic() - started, 1),
        )
