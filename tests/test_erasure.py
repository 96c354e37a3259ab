"""Erasing a customer's conversation on request, against a real redis-server: afterwards no
key of Redis holds the customer's number or what they wrote (the whole keyspace is read);
an opt-out survives under a one-way hash and is honoured; erasing again erases nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.model import Inbound
from bot.store import Accepted, event_to_json
from bot.store.keys import opt_outs_kept_key
from bot.store.steps import OptOuts
from bot.web.keys import CATALOG, RUNTIME, STORE
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, CamsServer, eventually, inbound, owning_store

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API_KEY = "operator-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CUSTOMER = "8613900000077"
CONV = f"cams:whatsapp:{BUSINESS}:{CUSTOMER}"
WORDS = "hello zebracorn"


async def keyspace(redis: Redis) -> bytes:
    """Every key of Redis and everything it holds, as one string of bytes."""
    out: list[bytes] = []
    async for key in redis.scan_iter(count=1000):
        out.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "string":
            out.append(await redis.get(key) or b"")
        elif kind == "hash":
            out += [b for kv in (await redis.hgetall(key)).items() for b in kv]
        elif kind == "list":
            out += await redis.lrange(key, 0, -1)
        elif kind == "zset":
            out += await redis.zrange(key, 0, -1)
        elif kind == "stream":
            out += [b for _, f in await redis.xrange(key) for kv in f.items() for b in kv]
    return b"\n".join(out)


async def erase(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.delete(f"/v1/conversations/{CONV}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert body["conversation"] == CONV
    erased: dict[str, Any] = body["erased"]
    return erased


async def survey(
    client: TestClient[Any, Any], headers: dict[str, str] | None = None
) -> ClientResponse:
    """The business triggers the survey for the customer (202, or 409 when opted out)."""
    return await client.post(
        "/v1/intents/csat_survey", json={"customer": f"+{CUSTOMER}"},
        headers={**AUTH, **(headers or {})},
    )  # fmt: skip


async def test_after_an_erasure_nothing_in_redis_holds_the_number_or_the_words(
    make_client: AppFactory, fake_cams: CamsServer, redis: Redis
) -> None:
    client = await make_client(api_keys=API_KEY)
    assert (await client.post(RECEIPTS, json=[inbound(WORDS, customer=CUSTOMER)])).status == 200
    [sent] = await fake_cams.recorder.wait_for(1)
    receipt = {
        "MessageId": sent["MessageId"], "TaskId": sent["TaskId"], "From": BUSINESS,
        "To": CUSTOMER, "Status": "Delivered", "Timestamp": int(time.time() * 1000),
    }  # fmt: skip
    assert (await client.post(RECEIPTS, json=[receipt])).status == 200

    async def delivered() -> bool:
        resp = await client.get(f"/v1/conversations/{CONV}/history", headers=AUTH)
        return resp.status == 200 and any(
            e.get("status") == "Delivered" for e in (await resp.json())["entries"]
        )

    await eventually(delivered)
    before = await keyspace(redis)
    assert CUSTOMER.encode() in before
    assert WORDS.encode() in before

    erased = await erase(client)
    assert erased["conversation"] == 1
    assert erased["history"] >= 3  # the step, the send, the status
    assert erased["message_records"] == 1
    assert erased["opt_out_kept"] is False
    after = await keyspace(redis)
    assert CUSTOMER.encode() not in after
    assert WORDS.encode() not in after
    assert (await client.get(f"/v1/conversations/{CONV}", headers=AUTH)).status == 404
    assert (await client.get(f"/v1/conversations/{CONV}/history", headers=AUTH)).status == 404
    listed = await client.get("/v1/conversations", params={"customer": CUSTOMER}, headers=AUTH)
    assert (await listed.json())["conversations"] == []

    again = await erase(client)
    assert again == dict.fromkeys(again, 0) | {"opt_out_kept": False}


async def test_an_opt_out_survives_its_erasure_as_a_hash_and_is_honoured(
    make_client: AppFactory, fake_cams: CamsServer, redis: Redis
) -> None:
    client = await make_client(api_keys=API_KEY)
    assert (await client.post(RECEIPTS, json=[inbound("STOP", customer=CUSTOMER)])).status == 200
    await fake_cams.recorder.wait_for(1)  # the opt-out's confirmation

    async def opted_out() -> bool:
        resp = await client.get(f"/v1/conversations/{CONV}", headers=AUTH)
        return resp.status == 200 and bool((await resp.json())["opted_out"])

    await eventually(opted_out)
    erased = await erase(client)
    assert erased["opt_out_kept"] is True
    assert CUSTOMER.encode() not in await keyspace(redis)
    resp = await survey(client)
    assert resp.status == 409, await resp.text()
    assert "opted out" in (await resp.json())["msg"]
    # The customer writes again: the new conversation starts opted out, as the old one was.
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=CUSTOMER)])).status == 200
    await eventually(opted_out)
    await eventually(lambda: len(fake_cams.recorder.messages) >= 1)
    assert len(fake_cams.recorder.messages) == 1  # nothing more was sent
    # START opts them back in: the kept opt-out no longer stands for their conversation.
    assert (await client.post(RECEIPTS, json=[inbound("START", customer=CUSTOMER)])).status == 200
    await fake_cams.recorder.wait_for(2)
    resp = await survey(client)
    assert resp.status == 202, await resp.text()


async def test_an_opt_out_of_marketing_survives_its_erasure_too(
    make_client: AppFactory, fake_cams: CamsServer, redis: Redis
) -> None:
    """STOP MARKETING is kept the same way (`m` rather than `1`): the customer's next
    conversation starts opted out of marketing alone, and utility intents still reach them."""
    client = await make_client(api_keys=API_KEY)
    push = [inbound("STOP MARKETING", customer=CUSTOMER)]
    assert (await client.post(RECEIPTS, json=push)).status == 200
    await fake_cams.recorder.wait_for(1)

    async def marketing_out() -> bool:
        resp = await client.get(f"/v1/conversations/{CONV}", headers=AUTH)
        found = await resp.json() if resp.status == 200 else {}
        return bool(found.get("marketing_opted_out")) and not found["opted_out"]

    await eventually(marketing_out)
    erased = await erase(client)
    assert erased["opt_out_kept"] is False  # not of everything
    assert CUSTOMER.encode() not in await keyspace(redis)
    resp = await survey(client)
    assert resp.status == 202, await resp.text()
    await eventually(marketing_out)


async def test_events_and_replies_waiting_are_erased_too(redis: Redis) -> None:
    """What waits in the inbox for the conversation is acked and deleted; another
    conversation's entries stay."""
    store = await owning_store(redis, 4, range(4), "token-1", 30_000)
    other = f"cams:whatsapp:{BUSINESS}:8613900000078"
    events = [
        Accepted(conv, f"cams:m-{i}-{n}", event_to_json(Inbound(f"m-{i}-{n}", 1, "text", WORDS)))
        for i, conv in enumerate((CONV, other))
        for n in range(2)
    ]
    assert all(await store.accept(events))
    p = store.keys_for(CONV)
    erased = await store.erase(CONV)
    assert erased.inbox == 2
    left = [f[b"c"].decode() for _, f in await redis.xrange(p.inbox)]
    assert CONV not in left
    if store.keys_for(other) == p:
        assert left == [other, other]
    assert CUSTOMER.encode() not in await keyspace(redis)


async def test_erasure_needs_the_api_key_and_a_conversation_id(make_client: AppFactory) -> None:
    client = await make_client(api_keys=API_KEY)
    assert (await client.delete(f"/v1/conversations/{CONV}")).status == 401
    assert (await client.delete("/v1/conversations/nonsense", headers=AUTH)).status == 404


async def test_both_opt_outs_survive_an_erasure_together(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """STOP MARKETING then STOP, erased: both are kept (`1m`); after START, the customer is
    still opted out of marketing, as without the erasure."""
    client = await make_client(api_keys=API_KEY)
    for text in ("STOP MARKETING", "STOP"):
        assert (await client.post(RECEIPTS, json=[inbound(text, customer=CUSTOMER)])).status == 200
        await fake_cams.recorder.wait_for(1 if text != "STOP" else 2)

    async def state() -> dict[str, Any]:
        resp = await client.get(f"/v1/conversations/{CONV}", headers=AUTH)
        return await resp.json() if resp.status == 200 else {}

    async def both() -> bool:
        found = await state()
        return bool(found.get("opted_out")) and bool(found.get("marketing_opted_out"))

    await eventually(both)
    assert (await erase(client))["opt_out_kept"] is True
    assert (await client.post(RECEIPTS, json=[inbound("START", customer=CUSTOMER)])).status == 200

    async def back_in() -> bool:
        found = await state()
        return found.get("opted_out") is False and found.get("marketing_opted_out") is True

    await eventually(back_in)


# -- opt-outs outlive their conversation -----------------------------------------------------


async def test_an_opt_out_outlives_its_forgotten_conversation(
    make_client: AppFactory, fake_cams: CamsServer, redis: Redis
) -> None:
    """STOP writes the opt-out key (kept BOT_OPT_OUT_TTL, holding `1` alone). When the
    idle conversation is forgotten (its hash expires), intents are still refused, an
    erasure says the opt-out is kept, and the customer's next message starts opted out, as
    STOP left them; START deletes the key."""
    client = await make_client(api_keys=API_KEY, opt_out_ttl=400 * 86400)
    store = client.app[STORE]
    conv_key, kept = store.keys_for(CONV).conv(CONV), store.keys_for(CONV).opt_out(CONV)
    assert (await client.post(RECEIPTS, json=[inbound("STOP", customer=CUSTOMER)])).status == 200
    await fake_cams.recorder.wait_for(1)
    await eventually(lambda: redis.exists(kept))
    assert await redis.get(kept) == b"1"
    assert 399 * 86400 < await redis.ttl(kept) <= 400 * 86400
    await redis.pexpire(conv_key, 1)  # forgotten, as BOT_CONVERSATION_TTL would
    await eventually(lambda: _holds(redis, conv_key, None))

    resp = await survey(client)
    assert resp.status == 409, await resp.text()
    assert await store.opted_out(CONV) is True  # what Tencent's before-send asks
    assert await store.opt_outs(CONV) == OptOuts(everything=True, marketing=False)
    assert (await erase(client))["opt_out_kept"] is True  # nothing else left to erase
    assert await redis.get(kept) == b"1"
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=CUSTOMER)])).status == 200

    async def state() -> dict[str, Any]:
        resp = await client.get(f"/v1/conversations/{CONV}", headers=AUTH)
        return await resp.json() if resp.status == 200 else {}

    await eventually(lambda: state(), within=5)
    assert (await state())["opted_out"] is True
    assert len(fake_cams.recorder.messages) == 1  # nothing answered the "hi"
    assert (await client.post(RECEIPTS, json=[inbound("START", customer=CUSTOMER)])).status == 200
    await fake_cams.recorder.wait_for(2)
    await eventually(lambda: _holds(redis, kept, None))
    resp = await survey(client)
    assert resp.status == 202, await resp.text()


async def test_the_opt_out_key_follows_stop_marketing_stop_and_start(
    make_client: AppFactory, fake_cams: CamsServer, redis: Redis
) -> None:
    """The key holds what the conversation's flags say after each change: `m`, `1m`, then
    `m` after START (marketing stays off), gone after START MARKETING."""
    client = await make_client(api_keys=API_KEY)
    kept = client.app[STORE].keys_for(CONV).opt_out(CONV)
    for n, (words, value) in enumerate(
        [("STOP MARKETING", b"m"), ("STOP", b"1m"), ("START", b"m"), ("START MARKETING", None)]
    ):
        push = [inbound(words, customer=CUSTOMER)]
        assert (await client.post(RECEIPTS, json=push)).status == 200
        await fake_cams.recorder.wait_for(n + 1)
        await eventually(lambda v=value: _holds(redis, kept, v), what=f"{words}: {value!r}")


async def _holds(redis: Redis, key: str, value: bytes | None) -> bool:
    """Whether the string `key` holds `value`; with None, whether `key` is gone."""
    if value is None:
        return not await redis.exists(key)
    return bool(await redis.get(key) == value)


async def test_a_reply_waiting_to_go_when_its_customer_is_erased_is_not_sent(
    make_client: AppFactory, fake_cams: CamsServer, redis: Redis
) -> None:
    """A reply read from the outbox, waiting out a throttle's Retry-After, when its
    conversation is erased: the erasure took its entry out, so the retry sends nothing.
    A forgotten conversation's reply (its hash expired, its entry still there) does go."""
    client = await make_client(api_keys=API_KEY)
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=CUSTOMER)])).status == 200
    await fake_cams.recorder.wait_for(1)
    fake_cams.recorder.fail_next(429, "Throttling.User", retry_after=1.5)
    assert (await client.post(RECEIPTS, json=[inbound("what?", customer=CUSTOMER)])).status == 200
    await eventually(lambda: "Throttling.User" in fake_cams.recorder.errors, within=3.0)
    erased = await erase(client)
    assert erased["conversation"] == 1
    await asyncio.sleep(2.5)  # the retry's time, and more
    assert len(fake_cams.recorder.messages) == 1
    assert CUSTOMER.encode() not in await keyspace(redis)

    other = "8613900000079"
    conv_key = client.app[STORE].keys_for(f"cams:whatsapp:{BUSINESS}:{other}")
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=other)])).status == 200
    await fake_cams.recorder.wait_for(2)
    fake_cams.recorder.fail_next(429, "Throttling.User", retry_after=1.5)
    assert (await client.post(RECEIPTS, json=[inbound("what?", customer=other)])).status == 200
    await eventually(lambda: fake_cams.recorder.errors.count("Throttling.User") == 2, within=3.0)
    await redis.delete(conv_key.conv(f"cams:whatsapp:{BUSINESS}:{other}"))  # forgotten
    await fake_cams.recorder.wait_for(3, timeout=4.0)
    assert fake_cams.recorder.messages[-1]["To"] == other


async def test_opt_outs_stored_before_steps_wrote_them_apart_are_kept_once(
    make_client: AppFactory, redis: Redis
) -> None:
    """Conversations stored opted out with no opt-out key (as before steps wrote it) get
    theirs once the server has started: `1`, `m`, none for one not opted out; a marker says
    it was done, and a second pass writes nothing."""
    client = await make_client(api_keys=API_KEY)
    store = client.app[STORE]
    done = opt_outs_kept_key()
    await eventually(lambda: redis.exists(done))  # the pass at start-up, on an empty Redis
    flags = [("1", ""), ("", "m||"), ("", ""), ("1", "mf|c1|")]
    convs = {f"cams:whatsapp:{BUSINESS}:861390000010{i}": f for i, f in enumerate(flags)}
    for conv, (o, cp) in convs.items():
        await redis.hset(store.keys_for(conv).conv(conv), mapping={"v": "3", "o": o, "cp": cp})
    await redis.delete(done)
    assert await store.keep_opt_outs() == 3
    kept = [await redis.get(store.keys_for(conv).opt_out(conv)) for conv in convs]
    assert kept == [b"1", b"m", None, b"1m"]
    first = next(iter(convs))
    assert await redis.ttl(store.keys_for(first).opt_out(first)) > 0
    assert await redis.get(done) == b"1"
    await redis.delete(store.keys_for(first).opt_out(first))
    assert await store.keep_opt_outs() == 0  # done once: the marker says so


async def test_an_erased_reply_is_not_sent_when_the_customer_writes_again_meanwhile(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """A reply waiting out a Retry-After when its conversation is erased, and the customer
    writes again before the retry: the new conversation is answered, the erased reply
    (the old conversation's version 2) never goes."""
    client = await make_client(api_keys=API_KEY)
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=CUSTOMER)])).status == 200
    await fake_cams.recorder.wait_for(1)
    fake_cams.recorder.fail_next(429, "Throttling.User", retry_after=1.5)
    assert (await client.post(RECEIPTS, json=[inbound("what?", customer=CUSTOMER)])).status == 200
    await eventually(lambda: "Throttling.User" in fake_cams.recorder.errors, within=3.0)
    assert (await erase(client))["outbox"] == 1  # read by the sender, taken out all the same
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=CUSTOMER)])).status == 200
    await fake_cams.recorder.wait_for(2)
    await asyncio.sleep(2.5)  # the erased reply's retry time, and more
    versions = [m["TaskId"].split(".")[1] for m in fake_cams.recorder.messages]
    assert versions == ["1", "1"], versions


async def test_the_upgrade_pass_skips_keys_that_only_look_like_conversations(
    make_client: AppFactory, redis: Redis
) -> None:
    """A caller's Idempotency-Key can make a dedup key whose name holds `}:c:`: the pass
    leaves it alone and keeps the opt-outs all the same."""
    client = await make_client(api_keys=API_KEY)
    store = client.app[STORE]
    done = opt_outs_kept_key()
    await eventually(lambda: redis.exists(done))
    resp = await survey(client, {"Idempotency-Key": "order-1}:c:x"})
    assert resp.status == 202, await resp.text()
    old = f"cams:whatsapp:{BUSINESS}:8613900000101"
    await redis.hset(store.keys_for(old).conv(old), mapping={"v": "3", "o": "1", "cp": ""})
    await redis.delete(done)
    assert await store.keep_opt_outs() == 1
    assert await redis.get(store.keys_for(old).opt_out(old)) == b"1"


async def test_the_upgrade_pass_mends_and_keeps_longer_what_an_earlier_version_kept(
    make_client: AppFactory, redis: Redis
) -> None:
    """An erasure's opt-out key, kept a week by an earlier version, is kept
    BOT_OPT_OUT_TTL; a key the conversation's hash contradicts (`m`, when the customer
    wrote STOP since) is set to what the hash says; one of a customer who opted back in
    is deleted."""
    client = await make_client(api_keys=API_KEY)
    store = client.app[STORE]
    await eventually(lambda: redis.exists(opt_outs_kept_key()))
    week = 7 * 86400
    erased, back, started = (f"cams:whatsapp:{BUSINESS}:861390000020{i}" for i in range(3))
    await redis.set(store.keys_for(erased).opt_out(erased), "1", ex=week)
    for conv, kept, o, cp in ((back, "m", "1", "m||"), (started, "1", "", "")):
        await redis.set(store.keys_for(conv).opt_out(conv), kept, ex=week)
        await redis.hset(store.keys_for(conv).conv(conv), mapping={"v": "2", "o": o, "cp": cp})
    await redis.delete(opt_outs_kept_key())
    assert await store.keep_opt_outs() == 1  # the conversation opted out
    assert await redis.get(store.keys_for(back).opt_out(back)) == b"1m"
    assert await redis.exists(store.keys_for(started).opt_out(started)) == 0
    assert await redis.ttl(store.keys_for(erased).opt_out(erased)) > week
    assert await redis.ttl(store.keys_for(back).opt_out(back)) > week


async def test_a_stop_waiting_in_the_inbox_when_the_conversation_is_erased_still_holds(
    make_client: AppFactory, redis: Redis
) -> None:
    """The customer's STOP is accepted, and the conversation erased before a step took it
    (a backlog): the erasure takes the STOP's text with the rest, and keeps the opt-out it
    made, as the flows would have. A START after it, waiting too, undoes it."""
    client = await make_client(api_keys=API_KEY)
    store = client.app[STORE]
    await client.app[RUNTIME].stop(drain_seconds=0)  # nothing steps: the events wait
    for n, words in enumerate(["hi", "STOP"]):
        event = Inbound(f"m-{n}", n + 1, "text", words)
        assert all(await store.accept([Accepted(CONV, f"cams:m-{n}", event_to_json(event))]))
    erased = await erase(client)
    assert (erased["inbox"], erased["opt_out_kept"]) == (2, True)
    assert await redis.get(store.keys_for(CONV).opt_out(CONV)) == b"1"
    assert CUSTOMER.encode() not in await keyspace(redis)
    resp = await survey(client)
    assert resp.status == 409, await resp.text()
    start = Inbound("m-2", 3, "text", "START")
    assert all(await store.accept([Accepted(CONV, "cams:m-2", event_to_json(start))]))
    erased = await erase(client)
    assert (erased["inbox"], erased["opt_out_kept"]) == (1, False)
    assert await redis.exists(store.keys_for(CONV).opt_out(CONV)) == 0


async def test_an_erasure_outpaced_by_the_customer_is_503_then_done(
    make_client: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The customer writes each time the erasure has read (a backlog: nothing steps): the
    erasure reads again, and after its tries answers 503 with Retry-After, never 500; asked
    again when the customer is quiet, it is done."""
    client = await make_client(api_keys=API_KEY)
    store = client.app[STORE]
    await client.app[RUNTIME].stop(drain_seconds=0)
    script, written = store.script, 0

    def waiting_then_the_customer_writes(name: str) -> Any:
        async def run(**kwargs: Any) -> Any:
            nonlocal written
            found = await script(name)(**kwargs)
            event = Inbound(f"w-{written}", written + 1, "text", "hello?")
            await store.accept([Accepted(CONV, f"cams:w-{written}", event_to_json(event))])
            written += 1
            return found

        return run if name == "waiting" else script(name)

    monkeypatch.setattr(store, "script", waiting_then_the_customer_writes)
    resp = await client.delete(f"/v1/conversations/{CONV}", headers=AUTH)
    assert resp.status == 503, await resp.text()
    assert "Retry-After" in resp.headers
    assert written > 1
    monkeypatch.setattr(store, "script", script)
    assert (await erase(client))["inbox"] == written


async def test_erasures_leave_the_flows_machines_as_they_found_them(
    make_client: AppFactory,
) -> None:
    """Each erasure steps a copy of the conversation through its waiting events with the
    runtime's engine: the flows' shared machines gain no model per erasure."""
    client = await make_client(api_keys=API_KEY)
    store = client.app[STORE]
    await client.app[RUNTIME].stop(drain_seconds=0)
    flows = client.app[CATALOG].current.flows.values()
    counts = []
    for n in range(5):
        event = Inbound(f"m-{n}", n + 1, "text", "hi")
        assert all(await store.accept([Accepted(CONV, f"cams:m-{n}", event_to_json(event))]))
        assert (await erase(client))["inbox"] == 1
        counts.append(sum(len(f.machine.models) for f in flows))
    assert len(set(counts)) == 1, counts
