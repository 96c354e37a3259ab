"""Helpers of the reliability tests (tests/test_reliability.py): `bot serve` processes, the
fake CAMS on a loopback port with random faults, a load driver that plays CAMS pushing
receipts, and the check of the invariants (one transition and one reply per distinct
message, replies in order per conversation, nothing dead-lettered)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot.local.redis_server import RedisServer
from bot.platforms.cams.fake import FAKE_CAMS, FakeCams, create_fake_cams
from bot.store import INBOX_GROUP, OUTBOX_GROUP, Store, redis_client
from tests import support
from tests.processes import BotServe, bot_env
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    RECEIPT_TOKEN,
    SIGNATURES,
    eventually,
)

T = TypeVar("T")

PARTITIONS = 8
LEASE_SECONDS = 2.0

# Every customer message gets exactly one reply that names it: the first starts the flow
# (entering `listen` says "got <text>"), every later one is collected and re-enters it.
FLOWS = """
defaults:
  inbound_flow: echo
flows:
  echo:
    start: listen
    states:
      listen:
        say: "got {{ message }}"
        collect: {slot: last, type: text, go: listen}
  # What a campaign starts (intent `notice`): one template, outside the 24-hour window.
  notice:
    start: told
    data: {name: ""}
    states:
      told:
        template: {code: notice, params: {name: "{{ name }}"}}
"""
NOTICE = "code: notice\nname: Notice\nstart: notice\n"


def write_flows(folder: Path) -> tuple[Path, Path]:
    """The echo flow (and the notice flow campaigns start) as files, for BOT_FLOWS and
    BOT_INTENTS."""
    folder.mkdir(parents=True, exist_ok=True)
    flows = folder / "flows.yaml"
    flows.write_text(FLOWS)
    intents = folder / "intents"
    intents.mkdir(exist_ok=True)
    (intents / "notice.yaml").write_text(NOTICE)
    return flows, intents


def conv_id(customer: str) -> str:
    return f"cams:whatsapp:{BUSINESS}:{customer}"


def new_store(client: Redis) -> Store:
    return support.new_store(client, PARTITIONS, dedup_ttl=3600)


# -- processes -------------------------------------------------------------------------------


def serve_env(
    *, redis_url: str, cams_endpoint: str, flows: Path, intents: Path, **overrides: str
) -> dict[str, str]:
    """The environment of a live-mode `bot serve` (no sandbox) against the fake CAMS."""
    env = bot_env(
        BOT_REDIS_URL=redis_url,
        BOT_SANDBOX="false",
        BOT_CAMS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        BOT_CAMS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
        BOT_CAMS_RECEIPT_TOKEN=RECEIPT_TOKEN,
        BOT_CAMS_SIGNATURE=",".join(SIGNATURES),
        BOT_CAMS_ENDPOINT=cams_endpoint,
        BOT_CAMS_FROM=BUSINESS,
        BOT_FLOWS=str(flows),
        BOT_INTENTS=str(intents),
        BOT_PARTITIONS=str(PARTITIONS),
        BOT_LEASE_SECONDS=str(LEASE_SECONDS),
        BOT_SEND_ATTEMPTS="50",
        BOT_SEND_TIMEOUT="2",
        BOT_LOG_LEVEL="INFO",
    )
    return {**env, **overrides}


# -- the fake CAMS with faults ---------------------------------------------------------------


@dataclass
class Faults:
    """Fractions of sends answered with an injected fault instead of normally: 429 with a
    retry-after, 503, or processed (and recorded) but answered `delay` seconds late."""

    throttle: float = 0.0
    unavailable: float = 0.0
    late: float = 0.0
    delay: float = 0.0
    retry_after: float = 0.2


@dataclass
class CamsEndpoint:
    """The fake CAMS on a loopback port, with what its middleware counted."""

    fake: FakeCams
    url: str
    faults: Faults
    rng: random.Random
    injected: Counter[str] = field(default_factory=Counter)
    answered: Counter[int] = field(default_factory=Counter)  # status of every normal answer
    accepted: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, TaskId)
    arrived_at: list[float] = field(default_factory=list)  # monotonic, per send request
    late_recorded: int = 0  # sends recorded, then answered late

    @property
    def accepted_at(self) -> list[float]:
        return [t for t, _task in self.accepted]

    def first_sent(self) -> dict[str, float]:
        """When each TaskId was first accepted."""
        first: dict[str, float] = {}
        for t, task in self.accepted:
            first.setdefault(task, t)
        return first

    def repeated(self) -> dict[str, float]:
        """TaskIds accepted more than once, with when they were first accepted."""
        counts = Counter(task for _t, task in self.accepted)
        first = self.first_sent()
        return {task: first[task] for task, n in counts.items() if n > 1}

    @property
    def rate_limited(self) -> int:
        """429s the fake itself answered: its rate limit, not an injected fault."""
        return self.answered[429]


def max_per_second(times: Sequence[float]) -> int:
    """The most events in any sliding one-second window."""
    best, lo = 0, 0
    ordered = sorted(times)
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _injected(status: int, code: str, retry_after: float | None = None) -> web.Response:
    headers = {"x-acs-request-id": str(uuid.uuid4())}
    if retry_after is not None:
        headers["x-acs-retry-after"] = str(int(retry_after * 1000))
        headers["Retry-After"] = "1"
    body = {"RequestId": headers["x-acs-request-id"], "Code": code, "Message": "injected"}
    return web.json_response(body, status=status, headers=headers)


def _code(response: web.Response) -> str:
    body = response.body
    return str(json.loads(body).get("Code", "")) if isinstance(body, bytes) else ""


def _fault_middleware(cams: CamsEndpoint) -> Any:
    @web.middleware
    async def faults(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/" or request.method != "POST":
            return await handler(request)  # type: ignore[no-any-return]
        cams.arrived_at.append(time.monotonic())
        f = cams.faults
        roll = cams.rng.random()
        if roll < f.throttle:
            cams.injected["429"] += 1
            return _injected(429, "Throttling.User", f.retry_after)
        roll -= f.throttle
        if roll < f.unavailable:
            cams.injected["503"] += 1
            return _injected(503, "ServiceUnavailable")
        roll -= f.unavailable
        response: web.Response = await handler(request)
        cams.answered[response.status] += 1
        accepted = response.status == 200 and _code(response) == "OK"
        if accepted:
            params = dict(parse_qsl((await request.read()).decode()))
            cams.accepted.append((time.monotonic(), params.get("TaskId", "")))
        if roll < f.late:
            # Processed first, answered late: the client times out on a send CAMS accepted.
            cams.injected["late"] += 1
            cams.late_recorded += accepted
            await asyncio.sleep(f.delay)
        return response

    return faults


@contextlib.asynccontextmanager
async def cams_endpoint(
    faults: Faults | None = None, *, rate_limit: int = 250, seed: int = 7
) -> AsyncIterator[CamsEndpoint]:
    """Run the fake CAMS send API on 127.0.0.1 in a thread of this process with an event
    loop of its own: what the test does meanwhile in its loop (the load driver, the checks
    it polls) never holds the fake's requests back to be read, and timed, in a bunch. The
    fake's clock is what its rate limit counts, as CAMS's is; the test reads what it
    recorded (lists and counters, appended to by that thread alone)."""
    app = create_fake_cams({ACCESS_KEY_ID: ACCESS_KEY_SECRET}, rate_limit=rate_limit)
    cams = CamsEndpoint(app[FAKE_CAMS], "", faults or Faults(), random.Random(seed))
    app.middlewares.append(_fault_middleware(cams))
    runner = web.AppRunner(app, access_log=None)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-cams", daemon=True)
    thread.start()

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    def in_fake(work: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))

    try:
        cams.url = await in_fake(start())
        yield cams
    finally:
        await in_fake(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()


# -- the load driver -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    customer: str
    index: int  # the customer's number in the run
    seq: int  # the message's place in the customer's sequence

    @property
    def message_id(self) -> str:
        return f"rel-{self.index}-{self.seq}"

    @property
    def text(self) -> str:
        return f"note {self.index}/{self.seq}"

    @property
    def reply(self) -> str:
        return f"got {self.text}"

    def item(self) -> dict[str, Any]:
        """The ChatAppInbound item CAMS pushes for it."""
        return {
            "MessageId": self.message_id,
            "From": self.customer,
            "To": BUSINESS,
            "Timestamp": int(time.time() * 1000),
            "DisplayName": "Load",
            "Name": "Load",
            "Type": "TEXT",
            "Message": self.text,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """One push attempt: when it started and ended (monotonic), and its HTTP status
    (0: no answer: connection refused or reset, or timed out)."""

    start: float
    end: float
    status: int
    url: str


class LoadDriver:
    """Plays CAMS: pushes signed receipt batches to the servers and pushes again on 503s,
    connection errors and timeouts, until each batch is acknowledged (2xx).

    Sequential customers have one push in flight at a time, so their messages' arrival
    order is defined; concurrent customers push groups of three messages at once. Some
    pushes carry several of a customer's messages, some a repeat of an earlier message
    (of any customer), and some batches are pushed again after their acknowledgement."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        customers: int = 100,
        messages: int = 10,
        concurrent_share: float = 0.2,
        batch_share: float = 0.15,
        repeat_share: float = 0.15,
        repush_share: float = 0.15,
        pause: float = 0.05,
        seed: int = 1,
    ) -> None:
        self.urls = list(urls)
        self.rng = random.Random(seed)
        self.batch_share = batch_share
        self.repeat_share = repeat_share
        self.repush_share = repush_share
        self.pause = pause
        n_concurrent = int(customers * concurrent_share)
        numbers = [f"86139{i:08d}" for i in range(1, customers + 1)]
        self.messages = {
            c: [Message(c, i, s) for s in range(1, messages + 1)] for i, c in enumerate(numbers)
        }
        self.concurrent = set(numbers[:n_concurrent])
        self.by_reply = {m.reply: m for ms in self.messages.values() for m in ms}
        self.messages_by_id = {m.message_id: m for m in self.by_reply.values()}
        self.acked: set[str] = set()
        self.answers: list[Answer] = []
        self.items_pushed = 0
        self.repeats_pushed = 0  # items whose message had been pushed before
        self._pushed: set[str] = set()
        self._pool: list[dict[str, Any]] = []  # acknowledged items, for repeats
        self._session: aiohttp.ClientSession | None = None

    @property
    def distinct(self) -> int:
        return sum(len(ms) for ms in self.messages.values())

    async def run(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        await asyncio.gather(*(self._customer(c) for c in self.messages))

    async def wait_acked(self, count: int, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} of {count} acknowledged"
            await asyncio.sleep(0.01)

    async def _customer(self, customer: str) -> None:
        msgs = self.messages[customer]
        await asyncio.sleep(self.rng.uniform(0, self.pause * 4))  # staggered start
        if customer in self.concurrent:
            for i in range(0, len(msgs), 3):
                await asyncio.gather(*(self._push_messages([m]) for m in msgs[i : i + 3]))
                await asyncio.sleep(self.rng.uniform(0, self.pause))
            return
        i = 0
        while i < len(msgs):
            k = self.rng.randint(2, 3) if self.rng.random() < self.batch_share else 1
            await self._push_messages(msgs[i : i + k])
            i += k
            await asyncio.sleep(self.rng.uniform(0, self.pause))

    async def _push_messages(self, msgs: Sequence[Message]) -> None:
        items = [m.item() for m in msgs]
        if self._pool and self.rng.random() < self.repeat_share:
            items.insert(self.rng.randint(0, len(items)), self.rng.choice(self._pool))
        await self.push(items)
        self._pool.extend(items[: len(msgs)])
        if self.rng.random() < self.repush_share:
            await self.push(items)  # CAMS did not see our answer and pushes again

    async def push(self, items: Sequence[dict[str, Any]]) -> None:
        """Push one batch until it is acknowledged."""
        assert self._session is not None
        for item in items:
            self.items_pushed += 1
            if item["MessageId"] in self._pushed:
                self.repeats_pushed += 1
            self._pushed.add(item["MessageId"])
        body = json.dumps(list(items)).encode()
        loop = asyncio.get_running_loop()
        while True:
            url = self.rng.choice(self.urls)
            start = loop.time()
            try:
                async with self._session.post(
                    f"{url}/cams/receipts",
                    params={"token": RECEIPT_TOKEN},
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as r:
                    await r.read()
                    status = r.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.answers.append(Answer(start, loop.time(), status, url))
            if 200 <= status < 300:
                self.acked.update(item["MessageId"] for item in items)
                return
            await asyncio.sleep(self.rng.uniform(0.05, 0.15))

    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)


# -- invariants ------------------------------------------------------------------------------


@dataclass
class Delivery:
    """What the fake CAMS recorded, read per distinct reply."""

    task_ids: dict[str, set[str]]  # reply text -> TaskIds it was sent with
    sends: int  # accepted sends, repeats included
    distinct_tasks: int

    @property
    def duplicates(self) -> int:
        """Sends beyond the first of their TaskId: repeats CAMS accepted."""
        return self.sends - self.distinct_tasks


def reply_text(params: Mapping[str, str]) -> str:
    return str(json.loads(params["Content"])["text"])


def task_version(task: str) -> int:
    """`digest.version.index` -> version (see bot.runtime.worker.task_id)."""
    return int(task.split(".")[1])


def delivery(fake: FakeCams) -> Delivery:
    """The replies (texts: a campaign's templates are not among them) the fake received."""
    texts = [m for m in fake.messages if "Content" in m]
    task_ids: dict[str, set[str]] = {}
    for m in texts:
        task_ids.setdefault(reply_text(m), set()).add(m["TaskId"])
    return Delivery(task_ids, len(texts), len({m["TaskId"] for m in texts}))


async def streams_empty(redis: Redis) -> bool:
    """Every inbox event committed and every outbox reply finished, in every partition."""
    store = new_store(redis)
    for p in range(PARTITIONS):
        k = store.keys(p)
        if await redis.xlen(k.inbox) or await redis.xlen(k.outbox):
            return False
    return True


async def settle(driver: LoadDriver, cams: CamsEndpoint, redis: Redis, within: float) -> float:
    """Wait until every acknowledged message has its reply at the fake and every stream
    is drained; returns the seconds it took."""
    started = time.monotonic()
    deadline = started + within
    while True:
        got = delivery(cams.fake).task_ids
        done = all(driver.messages_by_id[mid].reply in got for mid in driver.acked)
        if done and await streams_empty(redis):
            return time.monotonic() - started
        if time.monotonic() > deadline:
            missing = sum(driver.messages_by_id[m].reply not in got for m in driver.acked)
            raise AssertionError(f"not settled in {within}s: {missing} replies missing")
        await asyncio.sleep(0.1)


async def assert_exactly_once(driver: LoadDriver, cams: CamsEndpoint, redis: Redis) -> Delivery:
    """The invariant: every distinct message was acknowledged and got exactly one reply
    (a send CAMS accepted twice carries the same TaskId both times), its conversation moved
    exactly once per message (version == messages), replies went out in commit order, and
    in the customer's order where that order is defined; nothing is dead-lettered."""
    all_ids = {m.message_id for ms in driver.messages.values() for m in ms}
    assert driver.acked == all_ids, f"{len(all_ids - driver.acked)} never acknowledged"
    d = delivery(cams.fake)
    assert set(d.task_ids) == set(driver.by_reply), "replies that no message asked for"
    several = {text: ids for text, ids in d.task_ids.items() if len(ids) != 1}
    assert not several, f"one message, several replies: {list(several.items())[:3]}"
    store = new_store(redis)
    sent_to: dict[str, list[dict[str, str]]] = {}
    for m in cams.fake.messages:
        sent_to.setdefault(m["To"], []).append(m)
    for customer, msgs in driver.messages.items():
        conv = await store.load(conv_id(customer))
        assert conv.version == len(msgs), f"{customer}: version {conv.version}, {len(msgs)} msgs"
        first: list[dict[str, str]] = []
        seen: set[str] = set()
        for m in sent_to.get(customer, []):
            if m["TaskId"] not in seen:
                seen.add(m["TaskId"])
                first.append(m)
        versions = [task_version(m["TaskId"]) for m in first]
        assert versions == list(range(1, len(msgs) + 1)), f"{customer}: sent {versions}"
        if customer not in driver.concurrent:
            got = [reply_text(m) for m in first]
            assert got == [m.reply for m in msgs], f"{customer}: replies in the order {got}"
    for p in range(PARTITIONS):
        k = store.keys(p)
        assert await redis.xlen(k.dead) == 0, f"dead letters in partition {p}"
        for stream, group in ((k.inbox, INBOX_GROUP), (k.outbox, OUTBOX_GROUP)):
            info: Any = await redis.xpending(stream, group)
            assert int(info["pending"]) == 0, f"{stream} has pending entries"
    return d


async def outbox_in_flight(redis: Redis) -> dict[int, set[str]]:
    """Per partition, the conversations with outbox entries read but not finished: at most
    one send each can be under way (a conversation's replies are sent one after another)."""
    store = new_store(redis)
    out: dict[int, set[str]] = {}
    for p in range(PARTITIONS):
        k = store.keys(p)
        pending: Any = await redis.xpending_range(k.outbox, OUTBOX_GROUP, "-", "+", 10_000)
        ids = [e["message_id"] for e in pending]
        convs: set[str] = set()
        for entry_id in ids:
            entries: Any = await redis.xrange(k.outbox, entry_id, entry_id)
            convs.update(fields[b"c"].decode() for _id, fields in entries)
        out[p] = convs
    return out


async def pending_entries(redis: Redis, partitions: Sequence[int]) -> set[tuple[str, str]]:
    """(stream, entry id) of every inbox and outbox entry read and not yet finished."""
    store = new_store(redis)
    out: set[tuple[str, str]] = set()
    for p in partitions:
        k = store.keys(p)
        for stream, group in ((k.inbox, INBOX_GROUP), (k.outbox, OUTBOX_GROUP)):
            pending: Any = await redis.xpending_range(stream, group, "-", "+", 10_000)
            out.update((stream, e["message_id"].decode()) for e in pending)
    return out


async def lease_holders(redis: Redis) -> list[str | None]:
    store = new_store(redis)
    raw: list[Any] = [await redis.get(store.keys(p).lease) for p in range(PARTITIONS)]
    return [r.decode() if r is not None else None for r in raw]


# -- the set-up of a test --------------------------------------------------------------------


@dataclass
class Rig:
    """One test's world: its own Redis (append-only), the fake CAMS, two `bot serve`."""

    redis_server: RedisServer
    redis: Redis
    cams: CamsEndpoint
    servers: list[BotServe]
    session: aiohttp.ClientSession

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    async def balanced(self) -> bool:
        """Both servers hold half the partitions each."""
        holders = await lease_holders(self.redis)
        counts = Counter(holders)
        return None not in counts and sorted(counts.values()) == [PARTITIONS // 2] * 2


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    faults: Faults | None = None,
    rate_limit: int = 250,
    servers: int = 2,
    **env: str,
) -> AsyncIterator[Rig]:
    redis_server = RedisServer(tmp_path / "redis", appendonly=True)
    redis_server.start()
    flows, intents = write_flows(tmp_path / "flows")
    started: list[BotServe] = []
    try:
        async with (
            cams_endpoint(faults, rate_limit=rate_limit) as cams,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session,
        ):
            base = serve_env(
                redis_url=redis_server.url,
                cams_endpoint=cams.url,
                flows=flows,
                intents=intents,
                **env,
            )
            for n in range(servers):
                started.append(BotServe(base, tmp_path, name=f"serve-{n}"))
                started[-1].start()
            redis = redis_client(redis_server.url)  # the servers' client: retries
            try:
                await asyncio.gather(*(s.ready(session) for s in started))
                world = Rig(redis_server, redis, cams, started, session)
                if servers == 2:
                    await eventually(world.balanced, within=10.0)
                yield world
                codes = await asyncio.gather(*(s.stop() for s in started))
                # A graceful stop, and nothing unforeseen on the way: no traceback logged.
                assert codes == [0] * servers, codes
                for s in started:
                    assert "Traceback" not in s.log_path.read_text(errors="replace"), s.name
            finally:
                await asyncio.gather(*(s.stop() for s in started))
                await redis.aclose()
    finally:
        redis_server.stop()
