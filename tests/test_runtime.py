"""The runtime against a real redis-server and the fake CAMS: partitions shared among
processes, takeover after a crash, fencing of stalled workers, the sender's retries and
dead letters, and a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.errors import LeaseLost
from bot.flows.compiler import CompiledCatalog
from bot.flows.engine import Engine
from bot.model import Conversation, Inbound
from bot.platforms.base import Sender
from bot.runtime.drain import Consumer
from bot.runtime.partitions import Runtime
from bot.runtime.worker import InboxWorker, task_id
from bot.store import INBOX_GROUP, Accepted, CommitResult, Store, event_to_json, partition_of
from tests.support import BUSINESS, CamsServer, catalog_of, eventually, new_store

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

PARTITIONS = 4
LEASE = 0.6  # seconds: short, so that takeovers happen within a test's few seconds

# The tests' own flows, independent of the example flows.yaml: a customer who writes in
# gets the reminder; "1" confirms; anything else re-prompts with one message.
FLOWS = """
defaults:
  inbound_flow: appointment
flows:
  appointment:
    start: remind
    states:
      remind:
        say: "Hi there, this is a reminder of your appointment. Reply 1 to confirm, 2 to move it."
        options:
          - {label: Confirm, go: confirmed}
          - {label: Move it, go: moved}
      confirmed:
        say: "Your appointment is confirmed."
      moved:
        say: "We will call you to find a new time."
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> CompiledCatalog:
    return catalog_of(tmp_path_factory.mktemp("runtime-flows"), FLOWS)


def conv_id(n: int) -> str:
    return f"cams:whatsapp:{BUSINESS}:86139000000{n:02d}"


def customer(conv: str) -> str:
    return conv.rsplit(":", 1)[1]


def make_event(conv: str, seq: int, text: str = "zzz") -> Accepted:
    """The seq-th message of a customer. The first starts the appointment flow and every
    later "zzz" re-prompts: exactly one reply per event."""
    mid = f"{customer(conv)}-{seq}"
    ev = Inbound(message_id=mid, at_ms=int(time.time() * 1000), kind="text", text=text)
    return Accepted(conv, f"cams:{mid}", event_to_json(ev))


def events_for(convs: Iterable[str], seqs: Iterable[int]) -> list[Accepted]:
    """Events interleaved across conversations, each conversation's in seq order."""
    convs = list(convs)
    return [make_event(c, s) for s in seqs for c in convs]


class GatedStore(Store):
    """The real store, with commits held while `gate` is clear: a worker caught between
    reading its batch and committing it, for as long as a test needs."""

    def __init__(self, client: Redis) -> None:
        super().__init__(client, partitions=PARTITIONS, conversation_ttl=3600, dedup_ttl=600)
        self.gate = asyncio.Event()
        self.gate.set()

    async def commit(self, **kwargs: Any) -> CommitResult:  # type: ignore[override]
        await self.gate.wait()
        return await super().commit(**kwargs)


class CountingStore(Store):
    """The real store, counting the conversations it reads."""

    def __init__(self, client: Redis) -> None:
        super().__init__(client, partitions=PARTITIONS, conversation_ttl=3600, dedup_ttl=600)
        self.loads: list[str] = []

    async def load(self, conv_id: str) -> Conversation:
        self.loads.append(conv_id)
        return await super().load(conv_id)


StoreFactory = Callable[[Redis], Store]
RuntimeFactory = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def start_runtime(
    new_redis: Callable[[], Redis],
    redis: Redis,
    catalog: CompiledCatalog,
    senders: Mapping[str, Sender],
) -> AsyncIterator[RuntimeFactory]:
    """Start a runtime as another process would: its own Redis client, same Redis."""
    del redis  # requested for the flush before the test
    started: list[tuple[Runtime, Redis]] = []

    async def start(
        *,
        store: StoreFactory = new_store,
        lease_seconds: float = LEASE,
        send_attempts: int = 5,
    ) -> Runtime:
        client = new_redis()
        runtime = Runtime(
            store(client),
            Engine(catalog),
            senders,
            lease_seconds=lease_seconds,
            send_attempts=send_attempts,
            send_backoff_base=0.01,
            send_backoff_cap=0.05,
        )
        started.append((runtime, client))
        await runtime.start()
        return runtime

    yield start
    for runtime, _ in started:
        if isinstance(runtime.store, GatedStore):
            runtime.store.gate.set()
    await asyncio.gather(*(runtime.stop(drain_seconds=2.0) for runtime, _ in started))
    for _, client in started:
        await client.aclose()


# -- helpers ---------------------------------------------------------------------------------


async def inbox_pending(redis: Redis, partition: int) -> int:
    info: Any = await redis.xpending(new_store(redis).keys(partition).inbox, INBOX_GROUP)
    return int(info["pending"])


async def drained(redis: Redis) -> bool:
    """Every inbox event committed and every outbox reply finished, in every partition."""
    store = new_store(redis)
    for p in range(PARTITIONS):
        k = store.keys(p)
        if await redis.xlen(k.inbox) or await redis.xlen(k.outbox):
            return False
    return True


async def version(redis: Redis, conv: str) -> int:
    raw = await redis.hget(new_store(redis).keys_for(conv).conv(conv), "v")
    return int(raw or 0)


def task_ids_by_customer(fake_cams: CamsServer) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in fake_cams.recorder.messages:
        out.setdefault(m["To"], []).append(m["TaskId"])
    return out


async def assert_exactly_once_in_order(
    redis: Redis, fake_cams: CamsServer, counts: Mapping[str, int]
) -> None:
    """Each conversation got one reply per event, in event order (TaskId versions 1..n),
    its version is its event count, and nothing else was sent or dead-lettered."""
    sent = task_ids_by_customer(fake_cams)
    assert set(sent) == {customer(c) for c in counts}
    for conv, n in counts.items():
        assert sent[customer(conv)] == [task_id(conv, v, 0) for v in range(1, n + 1)], conv
        assert await version(redis, conv) == n, conv
    assert len(fake_cams.recorder.messages) == sum(counts.values())
    store = new_store(redis)
    for p in range(PARTITIONS):
        assert await redis.xlen(store.keys(p).dead) == 0
        assert await inbox_pending(redis, p) == 0


async def lease_holders(redis: Redis) -> list[str | None]:
    store = new_store(redis)
    raw = [await redis.get(store.keys(p).lease) for p in range(PARTITIONS)]
    return [r.decode() if r is not None else None for r in raw]


async def message_record(redis: Redis, conv: str, task: str) -> dict[str, str]:
    raw = await redis.hgetall(new_store(redis).keys_for(conv).message(task))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def dead_letters(redis: Redis, conv: str) -> list[dict[str, str]]:
    entries = await redis.xrange(new_store(redis).keys_for(conv).dead)
    return [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]


# -- sharing and takeover --------------------------------------------------------------------


async def test_two_runtimes_share_partitions_and_process_every_event_once(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """Two processes split the partitions evenly and together send exactly one reply per
    event, each conversation's replies in its event order."""
    convs = [conv_id(n) for n in range(40)]
    events = events_for(convs, range(1, 6))
    a = await start_runtime()
    await eventually(lambda: len(a.owned) == PARTITIONS, within=5.0)
    # Half the events are under way, their sends answered late, when a second process
    # joins: A hands two partitions over with sends in flight (once, those were re-sent).
    fake_cams.recorder.delay_next(0.2, times=100)
    assert all(await new_store(redis).accept(events[:100]))
    b = await start_runtime()

    async def balanced() -> bool:
        holders = await lease_holders(redis)
        return (
            len(a.owned) == len(b.owned) == PARTITIONS // 2
            and sorted(a.owned) == sorted(p for p, t in enumerate(holders) if t == a.token)
            and sorted(b.owned) == sorted(p for p, t in enumerate(holders) if t == b.token)
        )

    await eventually(balanced, within=5.0)
    assert all(await new_store(redis).accept(events[100:]))
    await eventually(lambda: drained(redis), within=10.0)
    await assert_exactly_once_in_order(redis, fake_cams, dict.fromkeys(convs, 5))


async def test_takeover_after_a_crash_processes_everything_exactly_once(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """A process that dies holding its leases and a read batch is replaced once its leases
    expire: the new owner processes what it had read and the rest, each event once."""
    convs = [conv_id(n) for n in range(10)]
    a = await start_runtime(store=GatedStore)
    assert isinstance(a.store, GatedStore)
    await eventually(lambda: len(a.owned) == PARTITIONS, within=5.0)
    intake = new_store(redis)
    assert all(await intake.accept(events_for(convs, (1, 2))))
    await eventually(lambda: drained(redis), within=5.0)
    assert len(fake_cams.recorder.messages) == 20

    # A reads its next batches but hangs before committing them.
    a.store.gate.clear()
    assert all(await intake.accept(events_for(convs, (3, 4))))
    busy = {partition_of(c, PARTITIONS) for c in convs}

    async def all_read() -> bool:
        return all([await inbox_pending(redis, p) > 0 for p in busy])

    await eventually(all_read, within=5.0)
    assert all(await intake.accept(events_for(convs, (5,))))

    # Crash: the tasks die, the leases stay behind in Redis until they expire.
    assert a._manager is not None
    tasks = [a._manager, *(t for o in a.owned.values() for t in o.tasks)]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert await lease_holders(redis) == [a.token] * PARTITIONS
    read_by_a = sum([await inbox_pending(redis, p) for p in range(PARTITIONS)])
    assert read_by_a >= len(busy)

    b = await start_runtime()
    await eventually(lambda: len(b.owned) == PARTITIONS, within=5.0)
    assert await lease_holders(redis) == [b.token] * PARTITIONS
    await eventually(lambda: drained(redis), within=5.0)
    await assert_exactly_once_in_order(redis, fake_cams, dict.fromkeys(convs, 5))


async def test_a_redis_that_comes_back_empty_is_worked_again(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """Redis loses everything (restarted without persistence): leases, streams and their
    consumer groups are gone. The runtime takes its partitions again, makes the groups
    anew, and what is accepted afterwards is processed; nothing loops on NOGROUP."""
    convs = [conv_id(n) for n in range(8)]
    rt = await start_runtime(lease_seconds=0.6)
    await eventually(lambda: len(rt.owned) == PARTITIONS, within=5.0)
    intake = new_store(redis)
    assert all(await intake.accept(events_for(convs, (1,))))
    await eventually(lambda: drained(redis), within=5.0)
    assert len(fake_cams.recorder.messages) == 8

    await redis.flushall()
    assert all(await intake.accept(events_for(convs, (2,))))
    await eventually(lambda: drained(redis), within=10.0)
    await eventually(lambda: len(fake_cams.recorder.messages) == 16, within=5.0)
    assert await lease_holders(redis) == [rt.token] * PARTITIONS


async def test_a_worker_starts_from_its_own_commit_and_rereads_a_stale_copy(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """The lease holder reads a conversation once and then steps from what it committed;
    when the stored conversation changed behind it (here: expired), the commit is refused,
    the conversation is read again and the step runs on what is stored."""
    conv = conv_id(1)
    rt = await start_runtime(store=CountingStore)
    assert isinstance(rt.store, CountingStore)
    await eventually(lambda: len(rt.owned) == PARTITIONS, within=5.0)
    intake = new_store(redis)
    for seq in (1, 2, 3):
        assert all(await intake.accept([make_event(conv, seq)]))
        await eventually(lambda: drained(redis), within=5.0)
    assert rt.store.loads == [conv]
    assert await version(redis, conv) == 3

    await redis.delete(intake.keys_for(conv).conv(conv))  # expired while idle
    assert all(await intake.accept([make_event(conv, 4, text="hi")]))
    await eventually(lambda: drained(redis), within=5.0)
    assert rt.store.loads == [conv, conv]
    assert await version(redis, conv) == 1  # a new conversation, not version 4
    await eventually(lambda: len(fake_cams.recorder.messages) == 4, within=5.0)


async def test_a_stalled_worker_cannot_commit_after_losing_its_lease(
    redis: Redis, catalog: CompiledCatalog
) -> None:
    """A worker whose lease lapsed and was taken over is fenced off: its commit is refused
    and changes nothing; the new owner then processes the entry."""
    store = new_store(redis)
    conv = conv_id(1)
    p = partition_of(conv, PARTITIONS)
    k = store.keys(p)
    await store.ensure_groups(p)
    assert await store.acquire(p, "T1", 200)
    await store.accept([make_event(conv, 1)])
    [(entry_id, _, event_json)] = await store.read_inbox(p, pending=False, count=10, block_ms=None)
    # T1 stalls; its lease expires and T2 takes the partition.
    await eventually(lambda: store.acquire(p, "T2", 10_000), within=3.0)

    res = await store.commit(
        partition=p,
        token="T1",
        conv_id=conv,
        expected_version=0,
        entry_id=entry_id,
        conversation=Conversation(flow="appointment", state="remind"),
        replies=[("{}", task_id(conv, 1, 0))],
    )
    assert res == CommitResult(False, lost_lease=True)
    stalled = InboxWorker(store, Engine(catalog), p, "T1", clock_ms=lambda: 0)
    with pytest.raises(LeaseLost):
        await stalled._apply(conv, Conversation(), entry_id, event_json)
    assert await redis.exists(k.conv(conv)) == 0
    assert await redis.xlen(k.outbox) == 0
    assert await inbox_pending(redis, p) == 1

    # The new owner's worker starts with the pending entry and commits it.
    owner = InboxWorker(
        store, Engine(catalog), p, "T2", clock_ms=lambda: int(time.time() * 1000), block_ms=50
    )
    run = asyncio.create_task(owner.run())
    try:
        await eventually(lambda: version(redis, conv), within=3.0)
    finally:
        owner.stopping = True
        await asyncio.wait_for(run, timeout=2.0)
    assert await version(redis, conv) == 1
    assert await inbox_pending(redis, p) == 0
    assert await redis.xlen(k.outbox) == 1


async def test_a_worker_with_a_stale_version_reloads_and_applies_once(
    redis: Redis, catalog: CompiledCatalog
) -> None:
    """A step computed from an outdated conversation is refused as stale; the worker
    reloads and applies the event to the fresh state, advancing it exactly once."""
    store = new_store(redis)
    conv = conv_id(2)
    p = partition_of(conv, PARTITIONS)
    k = store.keys(p)
    await store.ensure_groups(p)
    assert await store.acquire(p, "T", 10_000)
    now = int(time.time() * 1000)
    worker = InboxWorker(store, Engine(catalog), p, "T", clock_ms=lambda: now)

    await store.accept([make_event(conv, 1, "hello"), make_event(conv, 2, "1")])
    [(e1, _, ev1), (e2, _, ev2)] = await store.read_inbox(p, pending=False, count=10, block_ms=None)
    fresh = await worker._apply(conv, Conversation(), e1, ev1)
    assert (fresh.version, fresh.flow, fresh.state) == (1, "appointment", "remind")

    # The worker still holds version 0 (loaded before e1 was committed) when e2 comes.
    applied = await worker._apply(conv, Conversation(), e2, ev2)
    assert (applied.version, applied.state) == (2, "confirmed")
    stored = await store.load(conv)
    assert (stored.version, stored.state) == (2, "confirmed")
    outbox = await store.read_outbox(p, pending=False, count=10, block_ms=None)
    assert [o.task_id for o in outbox] == [task_id(conv, 1, 0), task_id(conv, 2, 0)]
    assert "confirmed" in json.loads(outbox[1].reply_json)["text"]
    assert await inbox_pending(redis, p) == 0

    # Applying the already committed e2 again (a redelivery) changes nothing.
    again = await worker._apply(conv, Conversation(), e2, ev2)
    assert (again.version, again.state) == (2, "confirmed")
    assert await redis.xlen(k.outbox) == 2


# -- sending ---------------------------------------------------------------------------------


async def test_sender_retries_throttling_and_unavailability_then_sends_once_in_order(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """429 and 503 answers are retried with backoff (a 429's retry-after is honoured); each
    reply is then delivered once, in the conversation's order, with its MessageId recorded."""
    fake = fake_cams.recorder
    fake.fail_next(429, "Throttling.User", retry_after=0.3)
    fake.fail_next(429, "Throttling.User")
    fake.fail_next(503, "ServiceUnavailable")
    conv = conv_id(3)
    await start_runtime()
    started = time.monotonic()
    assert all(await new_store(redis).accept(events_for([conv], (1, 2, 3))))
    await fake.wait_for(1, timeout=5.0)
    assert time.monotonic() - started >= 0.3  # waited as long as the 429 asked, at least
    await eventually(lambda: drained(redis), within=5.0)
    assert fake.errors == ["Throttling.User", "Throttling.User", "ServiceUnavailable"]
    await assert_exactly_once_in_order(redis, fake_cams, {conv: 3})
    for m in fake.messages:
        record = await message_record(redis, conv, m["TaskId"])
        assert (record["mid"], record["err"]) == (m["MessageId"], "")


async def test_a_permanent_send_error_is_recorded_not_retried(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """A permanent error is not retried, is recorded on the message, and the next reply of
    the same conversation still goes out; a bad recipient fails the same way."""
    fake = fake_cams.recorder
    fake.fail_next(200, "Invalid.To")
    conv = conv_id(4)
    await start_runtime()
    intake = new_store(redis)
    assert all(await intake.accept(events_for([conv], (1, 2))))
    await eventually(lambda: drained(redis), within=5.0)
    assert fake.errors == ["Invalid.To"]
    assert [m["TaskId"] for m in fake.messages] == [task_id(conv, 2, 0)]
    failed = await message_record(redis, conv, task_id(conv, 1, 0))
    assert failed["err"].startswith("Invalid.To")
    assert failed["mid"] == ""
    assert await dead_letters(redis, conv) == []

    bad = f"cams:whatsapp:{BUSINESS}:not-a-number"
    assert all(await intake.accept([make_event(bad, 1)]))
    await eventually(lambda: drained(redis), within=5.0)
    assert fake.errors == ["Invalid.To", "Invalid.To"]
    assert len(fake.messages) == 1
    assert (await message_record(redis, bad, task_id(bad, 1, 0)))["err"].startswith("Invalid.To")


async def test_a_reply_that_keeps_failing_goes_to_dead_letters(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """After `send_attempts` retryable failures a reply is dead-lettered (kind "out") and
    the conversation's next reply is sent."""
    fake = fake_cams.recorder
    fake.fail_next(503, "ServiceUnavailable", times=3)
    conv = conv_id(5)
    await start_runtime(send_attempts=3)
    intake = new_store(redis)
    assert all(await intake.accept([make_event(conv, 1)]))
    await eventually(lambda: drained(redis), within=5.0)
    assert fake.errors == ["ServiceUnavailable"] * 3
    assert fake.messages == []
    [dead] = await dead_letters(redis, conv)
    first = task_id(conv, 1, 0)
    assert (dead["kind"], dead["c"], dead["t"]) == ("out", conv, first)
    assert dead["why"].startswith("ServiceUnavailable")
    assert json.loads(dead["r"])["text"].startswith("Hi there")
    assert (await message_record(redis, conv, first))["err"] == dead["why"]

    assert all(await intake.accept([make_event(conv, 2)]))
    await eventually(lambda: drained(redis), within=5.0)
    assert [m["TaskId"] for m in fake.messages] == [task_id(conv, 2, 0)]


# -- the space ---------------------------------------------------------------------------------


def spaced_event(conv: str, seq: int, space: str, text: str = "zzz") -> Accepted:
    """make_event's message, brought with the CAMS channel `space` ("" for none)."""
    mid = f"{customer(conv)}-{seq}"
    at = int(time.time() * 1000)
    ev = Inbound(message_id=mid, at_ms=at, kind="text", text=text, space=space)
    return Accepted(conv, f"cams:{mid}", event_to_json(ev))


async def test_the_space_an_event_brings_stays_the_conversations_until_another_comes(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """Each reply is sent with the space of the latest event that brought one, whether the
    worker read the conversation or kept it from its last commit; the conversation stores it."""
    conv = conv_id(7)
    await start_runtime()
    intake = new_store(redis)
    spaces = ["cams-sp-1", "", "cams-sp-2", ""]
    assert all(await intake.accept([spaced_event(conv, i, sp) for i, sp in enumerate(spaces)]))
    await eventually(lambda: drained(redis), within=5.0)
    assert all(await intake.accept([spaced_event(conv, 9, "")]))  # the worker's copy
    await eventually(lambda: drained(redis), within=5.0)
    await assert_exactly_once_in_order(redis, fake_cams, {conv: 5})
    sent = [m.get("CustSpaceId") for m in fake_cams.recorder.messages]
    assert sent == ["cams-sp-1", "cams-sp-1", "cams-sp-2", "cams-sp-2", "cams-sp-2"]
    assert (await intake.load(conv)).space == "cams-sp-2"


async def test_a_conversation_and_a_reply_stored_by_an_earlier_release_keep_their_space(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """A conversation hash and outbox entries written as earlier releases wrote them (the
    space in the hash's `sp` and the entry's `s`; no `s` before it was added) are read and
    sent with their space; the next reply is sent with the stored conversation's."""
    store = new_store(redis)
    conv = conv_id(8)
    p = partition_of(conv, PARTITIONS)
    k = store.keys(p)
    old = {"v": "1", "f": "appointment", "s": "remind", "d": "{}", "li": "1", "sp": "cams-old"}
    await redis.hset(k.conv(conv), mapping=old)
    assert await store.load(conv) == Conversation(
        flow="appointment", state="remind", version=1, last_inbound_ms=1, space="cams-old"
    )
    await redis.xadd(k.outbox, {"c": conv, "r": '{"text":"one"}', "t": "old.1.0", "s": "cams-old"})
    await redis.xadd(k.outbox, {"c": conv, "r": '{"text":"two"}', "t": "old.1.1"})
    await start_runtime()
    assert all(await store.accept([spaced_event(conv, 1, "", text="1")]))
    await eventually(lambda: drained(redis), within=5.0)
    sent = [(m["TaskId"], m.get("CustSpaceId")) for m in fake_cams.recorder.messages]
    assert sent == [("old.1.0", "cams-old"), ("old.1.1", None), (task_id(conv, 2, 0), "cams-old")]
    assert "confirmed" in json.loads(fake_cams.recorder.messages[2]["Content"])["text"]


# -- stopping --------------------------------------------------------------------------------


async def test_a_cancellation_swallowed_by_what_a_task_waits_on_still_stands() -> None:
    """redis-py's blocking reads can swallow a cancellation that comes as their reply does
    (redis/redis-py#2028): `Consumer.waiting` raises it all the same, so a stop that
    cancels an idle reader ends it rather than leave it to go round again."""

    async def swallowing() -> str:
        with contextlib.suppress(asyncio.CancelledError):  # as the library did
            await asyncio.sleep(10)
        return "read"

    consumer = Consumer()
    went_on: list[str] = []

    async def reader() -> None:
        went_on.append(await consumer.waiting(swallowing()))

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.01)
    assert consumer.idle
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert went_on == []
    assert not consumer.idle


async def test_stop_ends_idle_tasks_at_once_and_what_follows_is_worked_by_the_next(
    start_runtime: RuntimeFactory, redis: Redis
) -> None:
    """A task waiting in a blocking read (or for its next turn) holds nothing: stop()
    cancels it there rather than wait out the read, and an event accepted meanwhile is
    worked by the next runtime."""
    runtime = await start_runtime()
    await eventually(lambda: len(runtime.owned) == PARTITIONS, within=5.0)
    owned = list(runtime.owned.values())
    parts = [part for o in owned for part in (o.worker, o.sender, o.timers, o.calls,
                                              o.campaigns, o.campaign_sender)]  # fmt: skip
    await eventually(lambda: all(part.idle for part in parts), within=5.0)
    await runtime.stop()
    # The blocking readers (inbox, both outboxes, calls) are cancelled in their reads; the
    # timer and campaign pumps may have woken for their next turn meanwhile (a few ms of
    # work each): they end after it, asked to stop. None is left running, none failed.
    for o in owned:
        worker, sender, _timers, calls, _campaigns, campaign_sender = o.tasks
        assert all(t.cancelled() for t in (worker, sender, calls, campaign_sender))
        assert all(t.done() and (t.cancelled() or t.exception() is None) for t in o.tasks)
    assert await lease_holders(redis) == [None] * PARTITIONS

    conv = conv_id(1)
    assert all(await new_store(redis).accept(events_for([conv], (1,))))
    await start_runtime()
    await eventually(lambda: version(redis, conv), within=5.0)
    assert await version(redis, conv) == 1


async def test_stop_finishes_the_in_flight_batch_and_releases_the_leases(
    start_runtime: RuntimeFactory, redis: Redis
) -> None:
    """stop() lets a batch that was read finish committing, then releases every lease so
    that another process can take the partitions at once."""
    # A long lease: only a release can let another token in quickly.
    runtime = await start_runtime(store=GatedStore, lease_seconds=10.0)
    assert isinstance(runtime.store, GatedStore)
    await eventually(lambda: len(runtime.owned) == PARTITIONS, within=5.0)
    convs = [conv_id(n) for n in range(6, 10)]
    runtime.store.gate.clear()
    assert all(await new_store(redis).accept(events_for(convs, (1,))))
    busy = {partition_of(c, PARTITIONS) for c in convs}

    async def all_read() -> bool:
        return all([await inbox_pending(redis, p) == 1 for p in busy])

    await eventually(all_read, within=5.0)
    owned = list(runtime.owned.values())
    stopping = asyncio.create_task(runtime.stop())
    await eventually(lambda: all(o.worker.stopping and o.sender.stopping for o in owned), 2.0)
    # The batch is still held at its commit: stop() waits and keeps the leases meanwhile.
    assert not stopping.done()
    assert await lease_holders(redis) == [runtime.token] * PARTITIONS
    runtime.store.gate.set()
    await asyncio.wait_for(stopping, timeout=5.0)

    for c in convs:
        assert await version(redis, c) == 1
    for p in range(PARTITIONS):
        assert await inbox_pending(redis, p) == 0
    assert await lease_holders(redis) == [None] * PARTITIONS
    other = new_store(redis)
    for p in range(PARTITIONS):
        assert await other.acquire(p, "next-process", 10_000)
    assert await redis.zscore("bot:members", runtime.token) is None


async def test_stop_waits_for_a_send_in_flight(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """A reply being sent when stop() is called is finished and recorded, not left behind."""
    fake = fake_cams.recorder
    conv = conv_id(11)
    runtime = await start_runtime(lease_seconds=10.0)
    await eventually(lambda: len(runtime.owned) == PARTITIONS, within=5.0)
    fake.delay_next(0.5)
    assert all(await new_store(redis).accept([make_event(conv, 1)]))
    [sent] = await fake.wait_for(1, timeout=5.0)  # recorded; its answer is 0.5 s late
    await asyncio.wait_for(runtime.stop(), timeout=5.0)
    record = await message_record(redis, conv, task_id(conv, 1, 0))
    assert record["mid"] == sent["MessageId"]
    assert await drained(redis)
    assert await lease_holders(redis) == [None] * PARTITIONS
