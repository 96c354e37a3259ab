"""The runtime's features against a real redis-server and the fake CAMS.

First the store: intake of business triggers, timers, calls and failed sends. Then the real
app end to end, with a clock the tests move and a fake business server: timeouts and
reminders, HTTP calls, a human handoff, opt-out, and moving on after a message failed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.app import create_app
from bot.errors import ConfigError
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.model import (
    CallRequest,
    CallResult,
    Conversation,
    Event,
    Inbound,
    IntentStart,
    PartKind,
    SendFailed,
    StatusReceipt,
    Timer,
    TimerFired,
)
from bot.runtime.worker import task_id
from bot.store import (
    CALLS_GROUP,
    Accepted,
    Store,
    call_from_json,
    call_to_json,
    event_from_json,
    event_to_json,
    partition_of,
    timer_member,
)
from bot.web.keys import STORE
from tests.conftest import make_settings
from tests.support import BUSINESS, RECEIPT_TOKEN, CamsServer, eventually, inbound, owning_store
from tests.test_erasure import keyspace

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

PARTITIONS = 4  # as make_settings sets it
CONV = f"cams:whatsapp:{BUSINESS}:8613900000001"
P = partition_of(CONV, PARTITIONS)
TOKEN = "token-1"
API_KEY = "test-api-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- the store -------------------------------------------------------------------------------


@pytest.fixture
async def store(redis: Redis) -> Store:
    return await owning_store(redis, PARTITIONS, [P], TOKEN, 10_000)


def intent(key: str, policy: str = "replace") -> Accepted:
    ev = IntentStart(message_id=f"api:{key}", at_ms=1, code="promo", policy=policy)
    return Accepted(CONV, f"api:{key}", event_to_json(ev))


async def inbox(store: Store) -> list[Event]:
    return [event_from_json(f[b"e"]) for _, f in await store.redis.xrange(store.keys(P).inbox)]


async def timers(store: Store) -> list[tuple[str, float]]:
    raw = await store.redis.zrange(store.keys(P).timers, 0, -1, withscores=True)
    return [(m.decode(), score) for m, score in raw]


async def step(
    store: Store,
    conversation: Conversation,
    *,
    active: bool = False,
    replies: Sequence[tuple[str, str]] = (),
    calls: Sequence[CallRequest] = (),
) -> int:
    """Commit one step for CONV as the worker does: an inbox entry applied to the stored
    version, replacing the timers of the stored visit."""
    mid = f"step-{time.monotonic_ns()}"
    ev = Inbound(message_id=mid, at_ms=1, kind="text", text="x")
    assert await store.accept([Accepted(CONV, mid, event_to_json(ev))]) == [True]
    entries = await store.read_inbox(P, pending=False, count=100, block_ms=None)
    [entry_id] = [i for i, _, e in entries if json.loads(e)["message_id"] == mid]
    stored = await store.load(CONV)
    res = await store.commit(
        partition=P,
        token=TOKEN,
        conv_id=CONV,
        expected_version=stored.version,
        entry_id=entry_id,
        conversation=conversation,
        replies=replies,
        active=active,
        previous_timers=[(stored.visit, t.name) for t in stored.timers],
        calls=[call_to_json(c) for c in calls],
    )
    assert res.ok
    return res.version


async def test_accept_intent_answers_new_repeat_busy_and_opted_out(store: Store) -> None:
    """A trigger is enqueued once; `reject` is busy mid-flow, every policy refused after STOP."""
    assert await store.accept_intent(intent("k1", "reject"), "reject") == "new"
    assert await store.accept_intent(intent("k1", "reject"), "reject") == "repeat"
    answers = await asyncio.gather(
        *(store.accept_intent(intent("k2"), "replace") for _ in range(10))
    )
    assert sorted(answers) == ["new"] + ["repeat"] * 9

    await step(store, Conversation(flow="promo", state="offer", visit=1), active=True)
    queued = len(await inbox(store))
    assert await store.accept_intent(intent("k3", "reject"), "reject") == "busy"
    assert await store.accept_intent(intent("k1", "reject"), "reject") == "repeat"  # a retry
    assert len(await inbox(store)) == queued
    assert await store.accept_intent(intent("k4", "queue"), "queue") == "new"
    assert await store.accept_intent(intent("k5", "replace"), "replace") == "new"

    # The flow ended: the refused trigger was not remembered, and now goes through.
    await step(store, Conversation(flow="promo", state="done", visit=2), active=False)
    assert await store.accept_intent(intent("k3", "reject"), "reject") == "new"

    await step(store, Conversation(opted_out=True))
    queued = len(await inbox(store))
    for policy in ("reject", "queue", "replace"):
        assert await store.accept_intent(intent(f"k6-{policy}", policy), policy) == "opted_out"
        assert not await store.redis.exists(store.keys(P).seen(f"api:k6-{policy}"))
    assert len(await inbox(store)) == queued


async def test_commit_replaces_the_visits_timers_and_appends_calls(store: Store) -> None:
    """A commit swaps the old visit's timers for the new visit's and appends its calls."""
    k = store.keys(P)
    other = timer_member(f"cams:whatsapp:{BUSINESS}:8613900000002", 1, "timeout")
    await store.redis.zadd(k.timers, {other: 7000})
    text = PartKind.TEXT
    call = CallRequest(
        "http", "GET", ((text, "http://business/orders/1"),), {"X": ((text, "1"),)}, None, 5.0, 1
    )
    first = Conversation(
        flow="f", state="a", visit=1, timers=(Timer("timeout", 5000), Timer("remind0", 2000))
    )
    await step(store, first, calls=[call])
    assert await timers(store) == [
        (f"1|remind0|{CONV}", 2000),
        (f"1|timeout|{CONV}", 5000),
        (other, 7000),
    ]
    [entry] = await store.read_calls(P, pending=False, count=10, block_ms=None)
    assert entry.conv_id == CONV
    assert call_from_json(entry.call_json) == call

    await step(store, Conversation(flow="f", state="b", visit=2, timers=(Timer("timeout", 9000),)))
    assert await timers(store) == [(other, 7000), (f"2|timeout|{CONV}", 9000)]
    await step(store, Conversation(flow="f", state="c", visit=3))
    assert await timers(store) == [(other, 7000)]
    assert await store.redis.xlen(k.calls) == 1  # steps without calls append none


async def test_due_timers_fire_once_from_concurrent_pumps_and_not_before_due(
    store: Store,
) -> None:
    """Each due timer becomes exactly one event even with pumps racing; later ones wait."""
    k = store.keys(P)
    due = {timer_member(CONV, v, "timeout"): 1000 + v for v in range(30)}
    await store.redis.zadd(k.timers, {**due, timer_member(CONV, 99, "remind0"): 5000})
    assert await store.fire_due_timers(P, 999) == 0
    assert await inbox(store) == []

    fired = await asyncio.gather(*(store.fire_due_timers(P, 2000) for _ in range(4)))
    assert sum(fired) == 30
    events = await inbox(store)
    assert all(isinstance(e, TimerFired) for e in events)
    assert sorted((e.visit, e.name) for e in events if isinstance(e, TimerFired)) == [
        (v, "timeout") for v in range(30)
    ]
    assert await timers(store) == [(timer_member(CONV, 99, "remind0"), 5000)]
    assert await store.fire_due_timers(P, 4999) == 0
    assert await store.fire_due_timers(P, 5000) == 1
    assert len(await inbox(store)) == 31


async def test_failed_status_of_a_known_message_enqueues_send_failed_once(store: Store) -> None:
    """A Failed receipt of a recorded message enqueues one SendFailed, repeats none."""
    reply = _json({"state": "tell", "visit": 3, "text": "hi"})
    await step(store, Conversation(flow="f", state="tell", visit=3), replies=[(reply, "t.1.0")])
    [out] = await store.read_outbox(P, pending=False, count=10, block_ms=None)
    await store.finish_send(P, out, message_id="mid-1", visit=3)

    failed = StatusReceipt("mid-1", "t.1.0", "Failed", 1_700_000_000_123, error_code="131026")
    for receipt in (failed, failed, replace(failed, status="Read")):
        assert await store.accept([], [(CONV, receipt)]) == []
    assert await inbox(store) == [
        SendFailed("status:t.1.0", 1_700_000_000_123, "t.1.0", "131026", 3)
    ]
    record = await store.redis.hgetall(store.keys(P).message("t.1.0"))
    assert {k.decode(): v.decode() for k, v in record.items()} == {
        "conv": CONV,
        "mid": "mid-1",
        "err": "",
        "visit": "3",
        "rank": "4",
        "status": "Failed",
        "status_err": "131026",
        "at": "1700000000123",
    }

    unknown = StatusReceipt("mid-2", "other.1.0", "Failed", 5, error_code="131026")
    await store.accept([], [(CONV, unknown)])
    assert len(await inbox(store)) == 1


async def test_finish_call_acks_and_enqueues_in_one_script(store: Store) -> None:
    """finish_call acks and enqueues together, even after Redis lost its scripts."""
    k = store.keys(P)
    calls = [CallRequest("http", "GET", f"http://b/{i}", {}, None, 5.0, 1) for i in (1, 2)]
    await step(store, Conversation(flow="f", state="a", visit=1), calls=calls)
    first, second = await store.read_calls(P, pending=False, count=10, block_ms=None)
    outcome = CallResult("call:1", 5, 1, "success", 200, {"status": "shipped"})
    await store.redis.script_flush()
    await store.finish_call(P, first, Accepted(CONV, f"call:{CONV}:1", event_to_json(outcome)))
    assert await inbox(store) == [outcome]
    assert [e for e, _ in await store.redis.xrange(k.calls)] == [second.entry_id.encode()]
    pending: Any = await store.redis.xpending(k.calls, CALLS_GROUP)
    assert pending["pending"] == 1


async def test_a_repeated_call_outcome_is_enqueued_once(store: Store) -> None:
    """Outcomes with one `call:CONV:VISIT` key enqueue one event; every call is acked."""
    k = store.keys(P)
    http = CallRequest("http", "GET", "http://b/1", {}, None, 5.0, 1)
    forward = replace(http, kind="forward", method="POST")
    await step(store, Conversation(flow="f", state="a", visit=1), calls=[http, http, forward])
    a, b, c = await store.read_calls(P, pending=False, count=10, block_ms=None)
    success = CallResult("call:1", 5, 1, "success", 200, {"ok": True})
    again = replace(success, at_ms=9, outcome="failure", status=500)
    await store.finish_call(P, a, Accepted(CONV, f"call:{CONV}:1", event_to_json(success)))
    await store.finish_call(P, b, Accepted(CONV, f"call:{CONV}:1", event_to_json(again)))
    await store.finish_call(P, c, None)
    assert await inbox(store) == [success]
    assert await store.redis.xlen(k.calls) == 0
    pending: Any = await store.redis.xpending(k.calls, CALLS_GROUP)
    assert pending["pending"] == 0


# -- the app end to end ------------------------------------------------------------------------


class FakeClock:
    """Epoch seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_catalog(folder: Path, flows: str, intents: Mapping[str, str]) -> CompiledCatalog:
    """A catalog of the test's own: flows.yaml and intents/*.yaml under `folder`."""
    (folder / "intents").mkdir(parents=True)
    (folder / "flows.yaml").write_text(flows)
    for code, flow in intents.items():
        (folder / "intents" / f"{code}.yaml").write_text(
            f"code: {code}\nname: {code}\nstart: {flow}\n"
        )
    return compile_catalog(load_catalog(folder / "flows.yaml", folder / "intents"))


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Business:
    """A fake business system: order lookups and an agent webhook, recording each request."""

    url: str
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
async def business(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> AsyncIterator[Business]:
    seen: list[Seen] = []
    release = asyncio.Event()

    async def record(request: web.Request) -> None:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        seen.append(Seen(request.method, request.path, dict(request.headers), body))

    async def order(request: web.Request) -> web.StreamResponse:
        await record(request)
        number = request.match_info["order"]
        if number == "missing":
            return web.json_response({"error": "no such order"}, status=404)
        if number == "slow":  # longer than the call's timeout; released at teardown
            await asyncio.wait_for(release.wait(), timeout=5.0)
        if number == "pieces":  # one answer arriving in two pieces
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            await resp.write(b'{"status": "packed", ')
            await asyncio.sleep(0.05)
            await resp.write(b'"eta": "Monday"}')
            await resp.write_eof()
            return resp
        return web.json_response({"status": "shipped", "eta": "Friday"})

    async def agent(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/orders/{order}", order)
    app.router.add_post("/agent", agent)
    app.router.add_post("/claims", agent)
    server = await aiohttp_server(app)
    yield Business(str(server.make_url("")).rstrip("/"), seen)
    release.set()


AppStarter = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def start_app(
    fake_cams: CamsServer,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_url: str,
    redis: Redis,
) -> AppStarter:
    """The real app factory with a catalog, clock and call secrets of the test's choosing."""
    del redis  # requested for the flush before the test

    async def start(
        catalog: CompiledCatalog,
        *,
        clock: Callable[[], float] = time.time,
        secrets: Mapping[str, str] | None = None,
    ) -> TestClient[Any, Any]:
        settings = make_settings(redis_url, fake_cams.endpoint, api_keys=API_KEY)
        return await aiohttp_client(create_app(settings, catalog, clock=clock, secrets=secrets))

    return start


def conv_of(customer: str) -> str:
    return f"cams:whatsapp:{BUSINESS}:{customer}"


async def trigger(
    client: TestClient[Any, Any], code: str, customer: str, data: Mapping[str, Any] | None = None
) -> TestClient[Any, Any]:
    resp = await client.post(
        f"/v1/intents/{code}", json={"customer": customer, "data": dict(data or {})}, headers=AUTH
    )
    assert resp.status == 202, await resp.text()
    return client


async def write(client: TestClient[Any, Any], customer: str, *texts: str) -> None:
    """The customer sends `texts`, in one push."""
    resp = await client.post(RECEIPTS, json=[inbound(t, customer=customer) for t in texts])
    assert resp.status == 200, await resp.text()


def said(fake_cams: CamsServer) -> list[str]:
    """What the customers were sent, in order: texts, and templates by code."""
    out = []
    for m in fake_cams.recorder.messages:
        if m.get("Type") == "template":
            out.append(f"template:{m['TemplateCode']}")
            continue
        content = json.loads(m["Content"])
        out.append(content["text"] if "text" in content else content["body"]["text"])
    return out


async def conversation(client: TestClient[Any, Any], customer: str) -> Conversation:
    return await client.app[STORE].load(conv_of(customer))


async def quiet(fake_cams: CamsServer, count: int, seconds: float = 0.5) -> None:
    """Nothing beyond `count` messages is sent within `seconds` (several pump ticks)."""
    await asyncio.sleep(seconds)
    assert len(fake_cams.recorder.messages) == count, said(fake_cams)


# -- timers ----------------------------------------------------------------------------------

SURVEY = """
flows:
  survey:
    start: ask
    states:
      ask:
        say: "Did your parcel arrive? Reply yes or no."
        options:
          - {label: "yes", go: glad}
          - {label: "no", go: sorry}
        remind:
          - {after: 10m, say: "Still there? Reply yes or no."}
          - {after: 30m, say: "Last reminder: yes or no?"}
        timeout: {after: 1h, go: closed}
      glad: {say: "Glad to hear it."}
      sorry: {say: "Sorry about that."}
      closed: {say: "We closed this survey."}
"""
ASK, STILL, LAST = (
    "Did your parcel arrive? Reply yes or no.",
    "Still there? Reply yes or no.",
    "Last reminder: yes or no?",
)


@pytest.fixture
def survey(tmp_path: Path) -> CompiledCatalog:
    return write_catalog(tmp_path, SURVEY, {"survey": "survey"})


async def test_reminders_fire_once_each_then_the_timeout_moves_on(
    start_app: AppStarter, survey: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """Reminders are sent once each when due; the timeout then moves to its state."""
    clock, customer = FakeClock(), "8613900000101"
    client = await trigger(await start_app(survey, clock=clock), "survey", customer)
    await fake_cams.recorder.wait_for(1)
    await quiet(fake_cams, 1, seconds=0.3)  # nothing is due yet
    clock.advance(11 * 60)
    await fake_cams.recorder.wait_for(2)
    clock.advance(20 * 60)
    await fake_cams.recorder.wait_for(3)
    await quiet(fake_cams, 3, seconds=0.3)
    clock.advance(30 * 60)
    await fake_cams.recorder.wait_for(4)
    clock.advance(48 * 3600)
    await quiet(fake_cams, 4)
    assert said(fake_cams) == [ASK, STILL, LAST, "We closed this survey."]
    conv = await conversation(client, customer)
    assert (conv.state, conv.timers) == ("closed", ())
    store = client.app[STORE]
    assert await store.redis.zcard(store.keys_for(conv_of(customer)).timers) == 0


async def test_a_reply_before_the_timeout_cancels_its_timers(
    start_app: AppStarter, survey: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """An answer before the timeout moves on once; the left visit's timers are ignored."""
    clock, customer = FakeClock(), "8613900000102"
    client = await trigger(await start_app(survey, clock=clock), "survey", customer)
    await fake_cams.recorder.wait_for(1)
    await write(client, customer, "yes")
    await fake_cams.recorder.wait_for(2)
    store = client.app[STORE]
    assert await store.redis.zcard(store.keys_for(conv_of(customer)).timers) == 0

    # A timer of the visit the customer left, fired just before the answer was stored.
    stale = TimerFired("timer:1:timeout", int(clock() * 1000), "timeout", 1)
    await store.accept([Accepted(conv_of(customer), "stale", event_to_json(stale))])
    clock.advance(2 * 3600)

    async def version_3() -> bool:
        return (await conversation(client, customer)).version == 3

    await eventually(version_3, within=3.0)
    await quiet(fake_cams, 2)
    assert said(fake_cams) == [ASK, "Glad to hear it."]
    assert (await conversation(client, customer)).state == "glad"


async def test_a_reply_racing_the_timeout_makes_exactly_one_move(
    start_app: AppStarter, survey: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """A timeout racing the customer's answer: exactly one of them moves the conversation."""
    clock, customer = FakeClock(), "8613900000103"
    client = await trigger(await start_app(survey, clock=clock), "survey", customer)
    await fake_cams.recorder.wait_for(1)
    clock.advance(3600 + 1)
    await write(client, customer, "no")
    outcomes = {"closed": "We closed this survey.", "sorry": "Sorry about that."}

    async def moved() -> bool:
        return any(t in outcomes.values() for t in said(fake_cams))

    await eventually(moved, within=3.0)
    await quiet(fake_cams, len(fake_cams.recorder.messages))
    state = (await conversation(client, customer)).state
    assert state in outcomes
    assert [t for t in said(fake_cams) if t in outcomes.values()] == [outcomes[state]]
    assert said(fake_cams)[-1] == outcomes[state]


# -- calls -----------------------------------------------------------------------------------

LOOKUP = """
flows:
  lookup:
    start: fetch
    data: {order: ""}
    states:
      fetch:
        call:
          method: GET
          url: "{{ secret.ORDERS }}/orders/{{ order }}"
          headers:
            Authorization: "Bearer {{ secret.TOKEN }}"
          timeout: 0.3
          save: {order_status: body.status, eta: body.eta, code: status}
          success: found
          failure: unknown
          on_timeout: slow
      found: {say: "Order {{ order }} is {{ order_status }}, arriving {{ eta }}."}
      unknown: {say: "No order {{ order }}."}
      slow: {say: "The order system is slow."}
"""


@pytest.fixture
def lookup(tmp_path: Path) -> CompiledCatalog:
    return write_catalog(tmp_path, LOOKUP, {"lookup": "lookup"})


@pytest.mark.parametrize(
    ("order", "state", "text", "saved"),
    [
        ("A1", "found", "Order A1 is shipped, arriving Friday.", {"code": 200, "eta": "Friday"}),
        ("pieces", "found", "Order pieces is packed, arriving Monday.", {"eta": "Monday"}),
        ("missing", "unknown", "No order missing.", {}),
        ("slow", "slow", "The order system is slow.", {}),
    ],
)
async def test_a_call_state_branches_on_the_answer(
    start_app: AppStarter,
    lookup: CompiledCatalog,
    business: Business,
    fake_cams: CamsServer,
    order: str,
    state: str,
    text: str,
    saved: dict[str, Any],
) -> None:
    """A call goes to success (slots saved), failure or on_timeout, secret and key sent."""
    customer = "8613900000201"
    client = await start_app(lookup, secrets={"TOKEN": "s3cret", "ORDERS": business.url})
    await trigger(client, "lookup", customer, {"order": order})
    await fake_cams.recorder.wait_for(1)
    assert said(fake_cams) == [text]
    conv = await conversation(client, customer)
    assert conv.state == state
    assert saved.items() <= conv.data.items()
    if state != "found":
        assert "order_status" not in conv.data
    [request] = business.seen
    assert (request.method, request.path) == ("GET", f"/orders/{order}")
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["Idempotency-Key"] == f"{conv_of(customer)}:1:http"


async def test_a_customer_erased_after_a_call_leaves_no_key_naming_them(
    start_app: AppStarter,
    lookup: CompiledCatalog,
    business: Business,
    fake_cams: CamsServer,
    redis: Redis,
) -> None:
    """The call's outcome is deduplicated under a key naming the conversation by a digest:
    once the customer is erased, no key of Redis holds their number."""
    customer = "8613900000202"
    client = await start_app(lookup, secrets={"TOKEN": "s3cret", "ORDERS": business.url})
    await trigger(client, "lookup", customer, {"order": "A1"})
    await fake_cams.recorder.wait_for(1)
    assert customer.encode() in await keyspace(redis)
    resp = await client.delete(f"/v1/conversations/{conv_of(customer)}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert customer.encode() not in await keyspace(redis)


async def test_a_customer_who_comes_back_after_their_erasure_gets_the_calls_answer(
    start_app: AppStarter,
    lookup: CompiledCatalog,
    business: Business,
    fake_cams: CamsServer,
) -> None:
    """Erased, then back within the day at the same call state (the same visit of a new
    conversation): the second call's outcome is not taken for a repeat of the first."""
    customer = "8613900000203"
    client = await start_app(lookup, secrets={"TOKEN": "s3cret", "ORDERS": business.url})
    await trigger(client, "lookup", customer, {"order": "A1"})
    await fake_cams.recorder.wait_for(1)
    resp = await client.delete(f"/v1/conversations/{conv_of(customer)}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    await trigger(client, "lookup", customer, {"order": "A1"})
    await fake_cams.recorder.wait_for(2)
    assert len(business.seen) == 2
    assert said(fake_cams) == ["Order A1 is shipped, arriving Friday."] * 2


async def test_flows_naming_a_secret_that_is_not_set_do_not_start(
    start_app: AppStarter, lookup: CompiledCatalog, business: Business
) -> None:
    """An app whose flows name a secret that is not set refuses to start, naming its
    variable, rather than fail the call on every conversation that reaches it."""
    with pytest.raises(ConfigError, match="not set: BOT_SECRET_TOKEN") as e:
        await start_app(lookup, secrets={"ORDERS": business.url})
    assert "BOT_SECRET_ORDERS" not in str(e.value)


CLAIM = """
flows:
  claim:
    start: photo
    states:
      photo:
        say: "Please send a photo of the damaged parcel."
        collect: {slot: parcel, type: image, go: where}
      where:
        say: "Where is it? Share your location."
        collect: {slot: place, type: location, go: report}
      report:
        call:
          url: "{{ secret.CLAIMS }}/claims"
          json:
            photo: "{{ parcel.url }}"
            media_id: "{{ parcel.id }}"
            caption: "{{ parcel.caption }}"
            latitude: "{{ place.latitude }}"
          success: thanks
          failure: thanks
      thanks: {say: "Thank you, we are on it."}
"""


def media_item(customer: str, kind: str, message: dict[str, Any]) -> dict[str, Any]:
    """A CAMS push of a photo, location...: `Message` JSON-encoded, as CAMS sends it."""
    item = inbound("", customer=customer)
    return {**item, "Type": kind, "Message": json.dumps(message)}


async def test_a_photo_and_a_location_are_collected_and_passed_to_a_call(
    start_app: AppStarter, tmp_path: Path, business: Business, fake_cams: CamsServer
) -> None:
    """A text where a photo is asked for is asked again for a photo; the photo is kept in
    its slot (URL, media id, caption) and so is a shared location, and the call takes
    them to the business system. The server fetches nothing of the photo."""
    catalog = write_catalog(tmp_path, CLAIM, {"claim": "claim"})
    client = await start_app(catalog, secrets={"CLAIMS": business.url})
    customer = "8613900000241"
    await trigger(client, "claim", customer)
    await fake_cams.recorder.wait_for(1)
    await write(client, customer, "it is broken")
    await fake_cams.recorder.wait_for(2)
    assert said(fake_cams)[-1] == "Please send a photo."
    photo = {"id": "media-77", "mimeType": "image/jpeg", "caption": "the box",
             "url": "https://cams.example/media/77.jpg"}  # fmt: skip
    push = [media_item(customer, "IMAGE", photo)]
    assert (await client.post(RECEIPTS, json=push)).status == 200
    await fake_cams.recorder.wait_for(3)
    assert said(fake_cams)[-1] == "Where is it? Share your location."
    place = {"latitude": 31.2304, "longitude": 121.4737, "name": "Home"}
    push = [media_item(customer, "LOCATION", place)]
    assert (await client.post(RECEIPTS, json=push)).status == 200
    await fake_cams.recorder.wait_for(4)
    assert said(fake_cams)[-1] == "Thank you, we are on it."
    [claim] = [r for r in business.seen if r.path == "/claims"]
    assert claim.body == {"photo": photo["url"], "media_id": "media-77", "caption": "the box",
                          "latitude": 31.2304}  # fmt: skip
    conv = await conversation(client, customer)
    assert conv.data["parcel"] == {"kind": "image", "id": "media-77", "url": photo["url"],
                                   "mime_type": "image/jpeg", "caption": "the box"}  # fmt: skip
    assert conv.data["place"] == {"kind": "location", "latitude": 31.2304,
                                  "longitude": 121.4737, "name": "Home"}  # fmt: skip


# -- handoff ---------------------------------------------------------------------------------

MENU = """
defaults:
  inbound_flow: menu
  agent: {webhook: "%s/agent"}
flows:
  menu:
    start: choose
    states:
      choose:
        say: "Reply 1 for news or 2 for help."
        options:
          - {label: News, go: news}
          - {label: Help, go: help}
      news: {say: "No news today."}
      help: {say: "See our website."}
  promo:
    start: offer
    states:
      offer: {say: "Deal of the day: socks."}
"""
CHOOSE = "Reply 1 for news or 2 for help."


@pytest.fixture
def menu(tmp_path: Path, business: Business) -> CompiledCatalog:
    return write_catalog(tmp_path, MENU % business.url, {"promo": "promo"})


async def test_agent_handoff_forwards_messages_until_resumed(
    start_app: AppStarter, menu: CompiledCatalog, business: Business, fake_cams: CamsServer
) -> None:
    """After "agent" messages go to the webhook and the agent answers, until resume."""
    customer = "8613900000301"
    conv = conv_of(customer)
    client = await start_app(menu)
    await write(client, customer, "hi")
    await fake_cams.recorder.wait_for(1)
    await write(client, customer, "agent")
    await fake_cams.recorder.wait_for(2)
    await write(client, customer, "Where is my parcel?", "It is late.")
    await eventually(lambda: len(business.seen) == 2, within=3.0)
    assert [(s.method, s.path) for s in business.seen] == [("POST", "/agent")] * 2
    assert [(s.body["conversation"], s.body["text"]) for s in business.seen] == [
        (conv, "Where is my parcel?"),
        (conv, "It is late."),
    ]
    keys = {s.headers["Idempotency-Key"] for s in business.seen}
    assert len(keys) == 2

    resp = await client.post(
        f"/v1/conversations/{conv}/messages", json={"text": "Hi, Ana here."}, headers=AUTH
    )
    assert resp.status == 202
    await fake_cams.recorder.wait_for(3)
    resp = await client.post(f"/v1/conversations/{conv}/resume", json={}, headers=AUTH)
    assert resp.status == 202
    await fake_cams.recorder.wait_for(5)
    await write(client, customer, "1")
    await fake_cams.recorder.wait_for(6)
    assert said(fake_cams) == [
        CHOOSE,
        "Connecting you with a colleague. Please wait.",
        "Hi, Ana here.",
        "Thanks for waiting. Let's continue.",
        CHOOSE,
        "No news today.",
    ]
    assert len(business.seen) == 2  # after resume nothing is forwarded
    assert (await conversation(client, customer)).handoff == ""


# -- opt-out ---------------------------------------------------------------------------------

STOPPED = "You will not receive more messages from us. Reply START to opt back in."


async def test_after_stop_triggers_are_refused_and_nothing_is_sent(
    start_app: AppStarter, menu: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """After STOP's confirmation triggers answer 409 and nothing more is sent."""
    customer = "8613900000401"
    client = await start_app(menu)
    await write(client, customer, "hi")
    await fake_cams.recorder.wait_for(1)
    await write(client, customer, "STOP")
    await fake_cams.recorder.wait_for(2)
    resp = await client.post("/v1/intents/promo", json={"customer": customer}, headers=AUTH)
    assert resp.status == 409
    assert "opted out" in (await resp.json())["msg"]
    await write(client, customer, "hi")

    async def version_3() -> bool:
        return (await conversation(client, customer)).version == 3

    await eventually(version_3, within=3.0)
    await quiet(fake_cams, 2)
    assert said(fake_cams) == [CHOOSE, STOPPED]
    assert (await conversation(client, customer)).opted_out


async def test_replies_committed_before_stop_but_unsent_are_dropped(
    start_app: AppStarter, menu: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """Replies not yet sent when STOP is stored are dropped; its confirmation is sent."""
    customer = "8613900000402"
    conv = conv_of(customer)
    client = await start_app(menu)
    fake_cams.recorder.delay_next(1.0)  # the first send is answered 1 s late
    await write(client, customer, "hi")
    await fake_cams.recorder.wait_for(1)
    await write(client, customer, "what?", "STOP")  # a re-prompt, then STOP

    async def stopped() -> bool:
        conv = await conversation(client, customer)
        return conv.version == 3 and conv.opted_out

    await eventually(stopped, within=0.8)  # while the first send is still held
    await fake_cams.recorder.wait_for(2, timeout=3.0)
    await quiet(fake_cams, 2)
    assert said(fake_cams) == [CHOOSE, STOPPED]
    store = client.app[STORE]
    record = await store.redis.hgetall(store.keys_for(conv).message(task_id(conv, 2, 0)))
    assert record[b"err"] == b"customer opted out"
    assert record[b"mid"] == b""


async def test_a_reply_waiting_out_a_throttle_when_stop_comes_is_dropped(
    start_app: AppStarter, menu: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """A send throttled by CAMS waits out its Retry-After; a STOP stored meanwhile is
    honoured by the retry, as by a first attempt: the reply is dropped, not sent late."""
    customer = "8613900000403"
    conv = conv_of(customer)
    client = await start_app(menu)
    await write(client, customer, "hi")
    await fake_cams.recorder.wait_for(1)
    fake_cams.recorder.fail_next(429, "Throttling.User", retry_after=1.5)
    await write(client, customer, "what?")  # a re-prompt, throttled once
    store = client.app[STORE]
    held = store.keys_for(conv).message(task_id(conv, 2, 0))
    await eventually(lambda: "Throttling.User" in fake_cams.recorder.errors, within=3.0)
    await write(client, customer, "STOP")

    async def stopped() -> bool:
        return (await conversation(client, customer)).opted_out

    await eventually(stopped, within=1.0)  # while the re-prompt still waits
    await fake_cams.recorder.wait_for(2, timeout=4.0)
    await quiet(fake_cams, 2)
    assert said(fake_cams) == [CHOOSE, STOPPED]
    await eventually(lambda: store.redis.hget(held, "err"), within=3.0)
    assert await store.redis.hget(held, "err") == b"customer opted out"


# -- failed sends ----------------------------------------------------------------------------

NOTIFY = """
flows:
  notify:
    start: tell
    states:
      tell:
        say: "Your parcel is at the door."
        options: [{label: Thanks, go: done}]
        on_failed: by_sms
      done: {say: "You are welcome."}
      by_sms: {say: "We will text you instead."}
"""


@pytest.fixture
def notify(tmp_path: Path) -> CompiledCatalog:
    return write_catalog(tmp_path, NOTIFY, {"notify": "notify"})


async def test_a_permanent_send_error_takes_on_failed(
    start_app: AppStarter, notify: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """A message refused for good moves its state along `on_failed:`."""
    customer = "8613900000501"
    fake_cams.recorder.fail_next(200, "Invalid.To")
    client = await trigger(await start_app(notify), "notify", customer)
    await fake_cams.recorder.wait_for(1)
    await quiet(fake_cams, 1)
    assert fake_cams.recorder.errors == ["Invalid.To"]
    assert said(fake_cams) == ["We will text you instead."]
    assert (await conversation(client, customer)).state == "by_sms"


async def test_a_failed_status_receipt_takes_on_failed_once(
    start_app: AppStarter, notify: CompiledCatalog, fake_cams: CamsServer
) -> None:
    """A Failed delivery report moves the state along `on_failed:`; a repeat does nothing."""
    customer = "8613900000502"
    conv = conv_of(customer)
    client = await trigger(await start_app(notify), "notify", customer)
    [sent] = await fake_cams.recorder.wait_for(1)
    store = client.app[STORE]
    record = store.keys_for(conv).message(sent["TaskId"])

    async def recorded() -> bool:
        return await store.redis.hget(record, "mid") == sent["MessageId"].encode()

    await eventually(recorded, within=3.0)
    status = {
        "MessageId": sent["MessageId"],
        "From": BUSINESS,
        "To": customer,
        "Timestamp": int(time.time() * 1000),
        "Status": "Failed",
        "TaskId": sent["TaskId"],
        "ErrorCode": "131026",
    }
    for _ in range(2):
        resp = await client.post(RECEIPTS, json=[status])
        assert resp.status == 200
    await fake_cams.recorder.wait_for(2)
    await quiet(fake_cams, 2)
    assert said(fake_cams) == ["Your parcel is at the door.", "We will text you instead."]
    assert (await conversation(client, customer)).state == "by_sms"


SHOW = """
defaults:
  inbound_flow: show
flows:
  show:
    start: photo
    data: {item: "A-1", lat: "31.2304", lon: "121.4737"}
    states:
      photo:
        say: "Your parcel {{ item }}, as packed."
        media: {type: image, url: "https://cdn.example.com/parcels/{{ item }}.jpg"}
        routes: [{go: invoice}]
      invoice:
        say: "Your invoice."
        media: {type: document, url: "https://cdn.example.com/invoices/{{ item }}.pdf?v=2"}
        routes: [{go: pickup}]
      pickup:
        say: "Pick it up here:"
        location: {latitude: "{{ lat }}", longitude: "{{ lon }}", name: "Depot 4"}
"""


async def test_a_photo_a_document_and_a_location_go_out_as_cams_takes_them(
    start_app: AppStarter, tmp_path: Path, fake_cams: CamsServer
) -> None:
    """Inside the window a state's `media:` goes as an image or document message with the
    text as its caption (the document named by its URL), and `location:` as the text then
    a location message: the fake CAMS validates each as SendChatappMessage does."""
    client = await start_app(write_catalog(tmp_path, SHOW, {}))
    customer = "8613900000251"
    await write(client, customer, "hi")
    messages = await fake_cams.recorder.wait_for(4)
    kinds = [(m["MessageType"], json.loads(m["Content"])) for m in messages]
    assert kinds == [
        ("image", {"link": "https://cdn.example.com/parcels/A-1.jpg",
                   "caption": "Your parcel A-1, as packed."}),
        ("document", {"link": "https://cdn.example.com/invoices/A-1.pdf?v=2",
                      "caption": "Your invoice.", "fileName": "A-1.pdf"}),
        ("text", {"text": "Pick it up here:"}),
        ("location", {"latitude": 31.2304, "longitude": 121.4737, "name": "Depot 4"}),
    ]  # fmt: skip
    assert fake_cams.recorder.errors == []
