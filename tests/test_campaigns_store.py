"""Campaigns in the store and the pump, against a real redis-server: recipients spread over
the partitions and stored once; each recipient's turn taken once (started into the inbox, or
skipped with its reason: opted out, in a flow, messaged recently, expired), fenced by the
partition's lease; the campaign's rate held across pumps; quiet hours in the recipient's own
time zone; pause and cancel."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.campaign import CampaignSpec, MidFlow, QuietHours, Status, first_due, zone_of
from bot.model import Conversation
from bot.runtime.campaigns import CampaignPump, permits_of
from bot.store import (
    INBOX_GROUP,
    PermitLog,
    RedisClient,
    Store,
    campaign_to_json,
    event_from_json,
    partition_of,
    recipient_to_json,
)
from bot.store.campaigns import Due
from tests.support import BUSINESS, eventually, owning_store

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

PARTITIONS = 4
TOKEN = "pump-token"
NOW = int(time.time() * 1000)  # campaigns' data expires after their time: never a fixed date
EVENT = '{"t":"intent","message_id":"m","at_ms":1,"code":"x"}'


def conv(n: int) -> str:
    return f"cams:whatsapp:{BUSINESS}:86139{n:08d}"


@pytest.fixture
async def store(redis: RedisClient) -> Store:
    return await owning_store(redis, PARTITIONS, range(PARTITIONS), TOKEN, 60_000)


async def made(store: Store, spec: CampaignSpec, n: int, *, due: int = NOW) -> str:
    campaign = await store.new_campaign("c1", campaign_to_json(spec), created_ms=NOW, total=n)
    rows = [(conv(i), recipient_to_json({"i": i}, ""), due) for i in range(n)]
    assert await store.add_recipients(campaign, rows) == n
    assert await store.move_campaign(campaign, Status.RUNNING) is Status.CREATING
    return campaign


def pump(store: Store, p: int, clock: list[int], token: str = TOKEN) -> CampaignPump:
    permits = PermitLog(store.redis, prefix=store.prefix)
    return CampaignPump(store, permits, p, token, clock_ms=lambda: clock[0])


async def inbox_events(store: Store) -> list[Any]:
    events = []
    for p in range(PARTITIONS):
        for _, fields in await store.redis.xrange(store.keys(p).inbox):
            events.append(event_from_json(fields[b"e"]))
    return events


async def test_recipients_are_spread_and_stored_once(store: Store) -> None:
    """Each recipient lands in its conversation's partition; storing again adds none."""
    spec = CampaignSpec(intent="appointment_reminder", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 40)
    again = [(conv(i), recipient_to_json({}, ""), NOW) for i in range(40)]
    assert await store.add_recipients(campaign, again) == 0
    record = await store.campaign(campaign)
    assert record is not None
    assert (record.status, record.total, record.counts) == (Status.RUNNING, 40, {"pending": 40})
    for i in range(40):
        k = store.keys(partition_of(conv(i), PARTITIONS))
        assert await store.redis.zscore(k.campaign_queue(campaign), conv(i)) == NOW
    assert record.spec == spec


async def test_a_turn_starts_a_recipient_once(store: Store) -> None:
    """Started: the intent goes into the inbox with the recipient's data; a second turn of
    the same recipient finds it gone; the counts say so."""
    spec = CampaignSpec(intent="appointment_reminder", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 1)
    p = partition_of(conv(0), PARTITIONS)
    [due] = await store.due_recipients(p, campaign, NOW, 10)
    args: dict[str, Any] = {"event_json": EVENT, "mid_flow": MidFlow.SKIP,
                            "recent_cutoff_ms": 0}  # fmt: skip
    assert await store.release_recipient(p, TOKEN, campaign, due, **args) == "started"
    assert await store.release_recipient(p, TOKEN, campaign, due, **args) == "gone"
    assert len(await inbox_events(store)) == 1
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 1}


async def test_a_turn_without_the_lease_changes_nothing(store: Store) -> None:
    """A pump whose process lost the partition's lease takes no turn."""
    spec = CampaignSpec(intent="appointment_reminder", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 1)
    p = partition_of(conv(0), PARTITIONS)
    [due] = await store.due_recipients(p, campaign, NOW, 10)
    status = await store.release_recipient(
        p, "another-token", campaign, due, event_json="{}", mid_flow=MidFlow.SKIP,
        recent_cutoff_ms=0,
    )  # fmt: skip
    assert status == "lease"
    assert await store.due_recipients(p, campaign, NOW, 10) == [due]
    assert await inbox_events(store) == []


async def test_skips_are_decided_against_what_is_stored(store: Store) -> None:
    """Opted out, in a flow (policy skip), stepped since the cut-off, or forced expired:
    skipped with that reason, nothing in the inbox."""
    spec = CampaignSpec(intent="appointment_reminder", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 5)

    async def turn(i: int, **over: Any) -> str:
        p = partition_of(conv(i), PARTITIONS)
        due = Due(conv(i), NOW, "")
        args: dict[str, Any] = {"event_json": EVENT, "mid_flow": MidFlow.SKIP,
                                "recent_cutoff_ms": 0, **over}  # fmt: skip
        return await store.release_recipient(p, TOKEN, campaign, due, **args)

    k0 = store.keys_for(conv(0))
    await store.redis.hset(k0.conv(conv(0)), mapping={"o": "1", "v": "1"})
    k1 = store.keys_for(conv(1))
    await store.redis.hset(k1.conv(conv(1)), mapping={"a": "1", "v": "3"})
    k2 = store.keys_for(conv(2))
    await store.redis.zadd(k2.conversations, {conv(2): NOW - 1000})
    assert await turn(0) == "skipped:opted_out"
    assert await turn(1) == "skipped:mid_flow"
    assert await turn(2, recent_cutoff_ms=NOW - 3_600_000) == "skipped:recent"
    assert await turn(3, forced="expired") == "skipped:expired"
    assert await turn(4, mid_flow=MidFlow.QUEUE) == "started"
    assert len(await inbox_events(store)) == 1
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {
        "pending": 0, "started": 1, "skipped:opted_out": 1, "skipped:mid_flow": 1,
        "skipped:recent": 1, "skipped:expired": 1,
    }  # fmt: skip
    rows, _, _ = await store.campaign_recipients(campaign, partition=partition_of(conv(0), 4))
    assert ("skipped:opted_out" in {s for _, _, s in rows}) is True


async def test_pumps_start_every_recipient_once_at_the_campaigns_rate(store: Store) -> None:
    """Four pumps (one a partition) start 30 recipients, each once, never more than the
    rate in a second, each with its data and the campaign named."""
    spec = CampaignSpec(intent="appointment_reminder", business=BUSINESS, rate=10)
    campaign = await made(store, spec, 30)
    clock = [NOW]
    pumps = [pump(store, p, clock) for p in range(PARTITIONS)]
    tasks = [asyncio.create_task(pm.run()) for pm in pumps]
    try:
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        while len(await inbox_events(store)) < 30:
            assert loop.time() - started_at < 10, "not every recipient started"
            await asyncio.sleep(0.05)
        took = loop.time() - started_at
    finally:
        for pm in pumps:
            pm.stopping = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    events = await inbox_events(store)
    assert sorted(e.data["i"] for e in events) == list(range(30))
    assert {e.campaign for e in events} == {campaign}
    assert {e.code for e in events} == {"appointment_reminder"}
    assert took > 2.5  # 30 at 10/s: one every tenth of a second
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 30}
    timeline = await store.campaign_timeline(campaign)
    assert sum(timeline.values()) == 30
    assert set(timeline) <= {NOW // 60_000}  # the pumps' clock stood still


async def test_a_pump_reads_only_the_campaigns_with_recipients_due(store: Store) -> None:
    """40 running campaigns whose recipients are due in an hour cost a pump no read of
    theirs, turn after turn: it reads its partition's index of due campaigns, and only the
    one campaign due now. When the hour comes, they start. A campaign missing from the index
    (stored before it, or the index lost) is put back in when the pump first sees it run."""
    p = partition_of(conv(0), PARTITIONS)
    spec = campaign_to_json(CampaignSpec(intent="x", business=BUSINESS, rate=100))
    hour = NOW + 3_600_000
    later = []
    for n in range(40):
        campaign = await store.new_campaign(f"later{n}", spec, created_ms=NOW, total=1)
        rows = [(conv(0), recipient_to_json({}, ""), hour)]
        assert await store.add_recipients(campaign, rows) == 1
        assert await store.move_campaign(campaign, Status.RUNNING) is Status.CREATING
        later.append(campaign)
    now = await store.new_campaign("now", spec, created_ms=NOW, total=1)
    assert await store.add_recipients(now, [(conv(0), recipient_to_json({}, ""), NOW)]) == 1
    await store.redis.delete(store.keys(p).campaigns_due)  # as if stored before the index
    assert await store.due_campaigns(p, NOW) == []
    assert await store.move_campaign(now, Status.RUNNING) is Status.CREATING

    read: list[str] = []
    due_recipients = store.due_recipients

    async def counted(partition: int, campaign: str, now_ms: int, limit: int) -> list[Due]:
        read.append(campaign)
        return await due_recipients(partition, campaign, now_ms, limit)

    store.due_recipients = counted  # type: ignore[method-assign]
    clock = [NOW]
    pm = pump(store, p, clock)
    task = asyncio.create_task(pm.run())
    try:
        await asyncio.sleep(1.0)  # five turns
        assert len(await inbox_events(store)) == 1
        assert set(read) == {"now"}  # none of the 40 was read
        assert len(read) <= 2  # its recipient, then its place moved out of the index
        assert await store.due_campaigns(p, hour) == sorted(later)
        clock[0] = hour

        async def all_started() -> bool:
            return len(await inbox_events(store)) == 41

        await eventually(all_started)
        # Nobody left queued: each campaign leaves the index at its next turn.
        await eventually(lambda: no_due(store, p, hour + 1))
    finally:
        pm.stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def no_due(store: Store, p: int, at: int) -> bool:
    return await store.due_campaigns(p, at) == []


async def test_a_place_in_the_index_that_failed_to_be_put_right_is_tried_again(
    store: Store,
) -> None:
    """Redis fails as the pump first puts a campaign's place right (the index lost it): the
    pump's run ends with the error and is run again, as the runtime does, and the campaign
    is not forgotten: its recipient starts."""
    p = partition_of(conv(0), PARTITIONS)
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 1)
    await store.redis.delete(store.keys(p).campaigns_due)
    settle = store.settle_due
    failures = [RedisConnectionError("Redis went away")]

    async def failing_once(partition: int, campaign: str) -> int | None:
        if failures:
            raise failures.pop()
        return await settle(partition, campaign)

    store.settle_due = failing_once  # type: ignore[method-assign]
    pm = pump(store, p, [NOW])
    with pytest.raises(RedisConnectionError):
        await pm.run()
    task = asyncio.create_task(pm.run())
    try:
        await eventually(lambda: started_one(store))
    finally:
        pm.stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 1}


async def started_one(store: Store) -> bool:
    return len(await inbox_events(store)) == 1


async def test_quiet_hours_move_a_recipient_to_when_they_end(store: Store) -> None:
    """A recipient whose turn falls at 23:00 in their zone waits until 08:00 there."""
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100,
                        quiet=QuietHours.parse("21:00-08:00"))  # fmt: skip
    shanghai = ZoneInfo("Asia/Shanghai")  # the recipients' numbers are Chinese
    tomorrow = dt.datetime.now(shanghai).date() + dt.timedelta(days=1)
    late = int(dt.datetime.combine(tomorrow, dt.time(23), shanghai).timestamp() * 1000)
    campaign = await made(store, spec, 1, due=late)
    clock = [late]
    p = partition_of(conv(0), PARTITIONS)
    pm = pump(store, p, clock)
    assert (await pm._turn(campaign, spec))[0] == 1
    after = tomorrow + dt.timedelta(days=1)
    morning = int(dt.datetime.combine(after, dt.time(8), shanghai).timestamp() * 1000)
    assert await store.redis.zscore(store.keys(p).campaign_queue(campaign), conv(0)) == morning
    assert await inbox_events(store) == []
    clock[0] = morning
    assert (await pm._turn(campaign, spec))[0] == 1
    assert len(await inbox_events(store)) == 1


async def test_past_the_end_by_time_recipients_are_skipped_as_expired(store: Store) -> None:
    """A recipient whose turn comes after the campaign's end-by is counted expired."""
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100, end_ms=NOW + 1000)
    campaign = await made(store, spec, 3)
    clock = [NOW + 2000]
    for p in range(PARTITIONS):
        await pump(store, p, clock)._turn(campaign, spec)
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "skipped:expired": 3}
    assert await inbox_events(store) == []


async def test_paused_and_cancelled_campaigns_start_no_one(store: Store) -> None:
    """A paused campaign waits; a cancelled one counts what was queued cancelled."""
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 8)
    assert await store.move_campaign(campaign, Status.PAUSED) is Status.RUNNING
    clock = [NOW]
    pm = pump(store, 0, clock)
    task = asyncio.create_task(pm.run())
    await asyncio.sleep(0.5)
    assert await inbox_events(store) == []
    assert await store.move_campaign(campaign, Status.CANCELLED) is Status.PAUSED
    assert await store.cancel_queued(campaign) == 8
    assert await store.move_campaign(campaign, Status.RUNNING) is Status.CANCELLED  # refused
    pm.stopping = True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    record = await store.campaign(campaign)
    assert record is not None
    assert (record.status, record.counts) == (Status.CANCELLED, {"pending": 0, "cancelled": 8})
    assert await store.active_campaigns() == []


async def test_the_same_key_makes_one_campaign(store: Store) -> None:
    """An Idempotency-Key names the campaign it made: a repeat gets that one's id."""
    spec = campaign_to_json(CampaignSpec(intent="x", business=BUSINESS))
    first = await store.new_campaign("a1", spec, created_ms=NOW, total=1, key="k-1")
    again = await store.new_campaign("b2", spec, created_ms=NOW, total=1, key="k-1")
    assert (first, again) == ("a1", "a1")
    assert await store.campaign_ids() == ["a1"]


def test_quiet_hours_and_zones() -> None:
    """Quiet hours over midnight or within a day; a number's zone from its country, a `tz`
    column first, the campaign's zone for what tells none."""
    night = QuietHours.parse("21:00-08:00")
    assert night.quiet(dt.time(23))
    assert night.quiet(dt.time(7, 59))
    assert not night.quiet(dt.time(8))
    assert not night.quiet(dt.time(20, 59))
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch.quiet(dt.time(12, 30))
    assert not lunch.quiet(dt.time(13, 30))
    for bad in ("21:00", "25:00-08:00", "08:00-08:00", "soon"):
        with pytest.raises(ValueError, match="quiet hours"):
            QuietHours.parse(bad)
    assert str(zone_of("8613900000001", "", "UTC")) == "Asia/Shanghai"
    assert str(zone_of("14155550100", "", "UTC")) == "America/Los_Angeles"
    assert str(zone_of("8613900000001", "Europe/Madrid", "UTC")) == "Europe/Madrid"
    assert str(zone_of("alice", "", "Europe/Paris")) == "Europe/Paris"
    assert str(zone_of("alice", "Not/AZone", "Europe/Paris")) == "Europe/Paris"
    spec = CampaignSpec(intent="x", business="1", start_ms=NOW + 5000)
    assert first_due(spec, NOW, ZoneInfo("UTC")) == NOW + 5000


def test_a_rate_becomes_permits_in_a_window() -> None:
    """Starts are spread over tenths of a second: 200/s is 20 in 0.1 s; 5/s one in 0.2 s;
    0.5/s one in two seconds."""
    assert permits_of(200) == (20, 100_000)
    assert permits_of(50) == (5, 100_000)
    assert permits_of(5) == (1, 200_000)
    assert permits_of(0.5) == (1, 2_000_000)


def test_stored_conversations_are_what_the_release_reads() -> None:
    """The release script reads the conversation hash's `o` (opted out) and `a` (in a
    flow) fields, as the codec writes them."""
    from bot.store import conversation_fields

    fields = conversation_fields(Conversation(flow="f", state="s", opted_out=True), active=True)
    pairs = dict(zip(fields[::2], fields[1::2], strict=True))
    assert (pairs["o"], pairs["a"]) == ("1", "1")
    assert INBOX_GROUP


async def test_an_erased_customer_leaves_no_trace_in_campaigns(store: Store) -> None:
    """Erasing a conversation erases its customer from every campaign: queue, data, status;
    a pending one is counted erased; no key or value holds the number after."""
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 3)
    p = partition_of(conv(0), PARTITIONS)
    [due] = [d for d in await store.due_recipients(p, campaign, NOW, 10) if d.conv_id == conv(0)]
    await store.release_recipient(p, TOKEN, campaign, due, event_json=EVENT,
                                  mid_flow=MidFlow.SKIP, recent_cutoff_ms=0)  # fmt: skip
    await store.redis.delete(store.keys(p).inbox)  # the started event: the engine's business
    for i in (0, 1):
        erased = await store.erase(conv(i))
        assert erased.campaign_recipients == 1
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 1, "started": 1, "erased": 1}  # the third waits
    for i in (0, 1):
        number = conv(i).rsplit(":", 1)[1].encode()
        async for key in store.redis.scan_iter(count=1000):
            assert number not in key
            kind = await store.redis.type(key)
            if kind == b"hash":
                assert not any(number in k or number in v
                               for k, v in (await store.redis.hgetall(key)).items())  # fmt: skip
            elif kind == b"zset":
                assert not any(number in m for m in await store.redis.zrange(key, 0, -1))
    assert (await store.erase(conv(0))).campaign_recipients == 0


async def test_a_recipient_written_to_a_moment_ago_waits_for_the_gap(store: Store) -> None:
    """WhatsApp's pair rate: a conversation that stepped 2 s ago is put off until 6 s after
    that step, not skipped; then it is started."""
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 1)
    p = partition_of(conv(0), PARTITIONS)
    await store.redis.zadd(store.keys(p).conversations, {conv(0): NOW - 2000})
    args: dict[str, Any] = {"event_json": EVENT, "mid_flow": MidFlow.SKIP,
                            "recent_cutoff_ms": 0, "gap_ms": 6000}  # fmt: skip
    due = Due(conv(0), NOW, "")
    assert await store.release_recipient(p, TOKEN, campaign, due, now_ms=NOW, **args) == "later"
    assert await store.redis.zscore(store.keys(p).campaign_queue(campaign), conv(0)) == NOW + 4000
    later = NOW + 4000
    started = await store.release_recipient(p, TOKEN, campaign, due, now_ms=later, **args)
    assert started == "started"
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 1}


async def test_a_numbers_daily_cap_carries_the_rest_over(store: Store) -> None:
    """With a cap of 3 unique recipients a day, a pump starts 3 of 5 and puts the other 2
    off to when the first place frees, 24 hours on, counted carried over; a recipient
    already messaged in the window keeps its place."""
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 5)
    clock = [NOW]
    for p in range(PARTITIONS):
        pm = pump(store, p, clock)
        pm.daily_cap = 3
        await pm._turn(campaign, spec)
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 2, "started": 3, "carried_over": 2}
    waiting = [
        score
        for p in range(PARTITIONS)
        for _, score in await store.redis.zrange(
            store.keys(p).campaign_queue(campaign), 0, -1, withscores=True
        )
    ]
    assert waiting == [NOW + 24 * 3600 * 1000] * 2
    started = [e.message_id for e in await inbox_events(store)]
    assert len(started) == 3
    again = await store.claim_recipients(BUSINESS, [conv(0), conv(1), conv(2), conv(3), conv(4)],
                                         now_ms=NOW + 1000, cap=3)  # fmt: skip
    assert sorted(again)[:3] == [0, 0, 0]
    assert sorted(again)[3:] == [NOW + 24 * 3600 * 1000] * 2


async def test_a_long_campaign_keeps_its_data_while_it_runs(store: Store) -> None:
    """A campaign whose data would go within half its time to live while recipients are
    still pending is kept another BOT_CAMPAIGN_TTL, every key of it (partition 0's pump)."""
    spec = CampaignSpec(intent="x", business=BUSINESS, rate=100)
    campaign = await made(store, spec, 3, due=NOW + 10**12)  # nobody due for decades
    ttl_ms = store.campaign_ttl * 1000
    later = NOW + ttl_ms - 1000  # a second before the data would go
    pm = pump(store, 0, [later])
    await pm._campaigns()
    record = await store.campaign(campaign)
    assert record is not None
    assert record.expires_ms == later + ttl_ms
    for p in range(PARTITIONS):
        k = store.keys(p)
        if await store.redis.exists(k.campaign_queue(campaign)):
            expires = await store.redis.pexpiretime(k.campaign_queue(campaign))
            assert expires == later + ttl_ms
