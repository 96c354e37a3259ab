"""A conversation's history, against a real redis-server: each step, send and delivery
status written by the script that does it (so never one without the other), bounded in
length and age, without what was written when BOT_HISTORY_TEXT=false, and read a page at a
time through `GET /v1/conversations/{id}/history`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.model import Conversation, HistoryKind, Inbound, Outcome, Reply
from bot.store import (
    Accepted,
    HistoryPolicy,
    StepTrace,
    Store,
    event_to_json,
    partition_of,
    reply_to_json,
)
from bot.web.operators import MAX_HISTORY_PAGE
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, CamsServer, eventually, inbound, owning_store

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

CUSTOMER = "8613900000001"
CONV = f"cams:whatsapp:{BUSINESS}:{CUSTOMER}"
RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API_KEY = "history-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PARTITIONS = 4
TOKEN = "token-1"
PARTITION = partition_of(CONV, PARTITIONS)


async def history_store(redis: Redis, **policy: Any) -> Store:
    store = await owning_store(redis, PARTITIONS, range(PARTITIONS), TOKEN, 30_000)
    store.history_policy = HistoryPolicy(**policy)
    return store


async def step(
    store: Store,
    text: str,
    *,
    conv: Conversation,
    message_id: str = "m-1",
    replies: tuple[Reply, ...] = (),
    expected_version: int | None = None,
) -> bool:
    """Accept `text` from the customer and commit a step of it to `conv` (flow `f`, state
    `b`), with `replies`; whether it committed."""
    event = Inbound(message_id, 1_000, "text", text)
    event_json = event_to_json(event)
    await store.accept([Accepted(CONV, f"cams:{message_id}", event_json)])
    entries = await store.read_inbox(PARTITION, pending=False, count=10, block_ms=None)
    entry_id = next(e[0] for e in entries if e[2] == event_json)
    reply_jsons = [reply_to_json(r) for r in replies]
    result = await store.commit(
        partition=PARTITION,
        token=TOKEN,
        conv_id=CONV,
        expected_version=conv.version if expected_version is None else expected_version,
        entry_id=entry_id,
        conversation=Conversation(flow="f", state="b", version=conv.version + 1),
        replies=[(j, f"task-{message_id}-{i}") for i, j in enumerate(reply_jsons)],
        trace=StepTrace(event, event_json, conv, Outcome.ADVANCED, replies, reply_jsons),
    )
    return result.ok


# -- the store -------------------------------------------------------------------------------


async def test_a_step_writes_its_entry_with_the_step_and_only_then(redis: Redis) -> None:
    """The step's entry (event, from, to, outcome, replies, their tasks) is written by the
    commit; a commit refused (a stale version) writes none."""
    store = await history_store(redis)
    start = Conversation(flow="f", state="a", version=0)
    assert await step(store, "hello <b>", conv=start, replies=(Reply(text="Hi!"),))
    [entry], after = await store.history(CONV)
    assert after == ""
    assert entry.kind is HistoryKind.STEP
    assert entry.event == {"t": "in", "message_id": "m-1", "at_ms": 1000, "kind": "text",
                           "text": "hello <b>"}  # fmt: skip
    assert (entry.from_state, entry.to_state, entry.outcome) == ("f/a", "f/b", "advanced")
    assert entry.replies == ({"text": "Hi!"},)
    assert entry.tasks == ("task-m-1-0",)
    assert abs(entry.at_ms - time.time() * 1000) < 60_000

    assert not await step(store, "late", conv=start, message_id="m-2", expected_version=0)
    assert len((await store.history(CONV))[0]) == 1


async def test_without_texts_the_history_keeps_what_happened_not_what_was_written(
    redis: Redis,
) -> None:
    """BOT_HISTORY_TEXT=false: the event's kind and ids, the moves and the replies' kinds
    stay; the customer's text and the replies' texts are not stored anywhere in it."""
    store = await history_store(redis, text=False)
    reply = Reply(text="Your code is 4321")
    await step(store, "my secret answer", conv=Conversation(flow="f", state="a"), replies=(reply,))
    [entry], _ = await store.history(CONV)
    assert entry.event == {"t": "in", "message_id": "m-1", "at_ms": 1000, "kind": "text"}
    assert entry.replies == ({"text": ""},)
    stored = b"".join(await redis.lrange(store.keys_for(CONV).history(CONV), 0, -1)).decode()
    assert "my secret answer" not in stored
    assert "4321" not in stored


async def test_the_history_keeps_its_length_and_expires(redis: Redis) -> None:
    """At most BOT_HISTORY_LENGTH entries, the newest; the list expires BOT_HISTORY_TTL
    seconds after its last entry."""
    store = await history_store(redis, length=3, ttl=120)
    conv = Conversation(flow="f", state="a")
    for n in range(5):
        assert await step(store, f"answer {n}", conv=conv, message_id=f"m-{n}")
        conv = Conversation(flow="f", state="b", version=conv.version + 1)
    entries, _ = await store.history(CONV)
    assert [e.event["text"] for e in entries if e.event] == ["answer 2", "answer 3", "answer 4"]
    assert 110 <= await redis.ttl(store.keys_for(CONV).history(CONV)) <= 120


async def test_entries_older_than_the_ttl_are_dropped_at_the_next_write(redis: Redis) -> None:
    """An entry older than BOT_HISTORY_TTL goes when the next one is written, whatever the
    length allows."""
    store = await history_store(redis, length=100, ttl=1)
    await step(store, "old", conv=Conversation(flow="f", state="a"))
    await asyncio.sleep(1.2)
    await step(store, "new", conv=Conversation(flow="f", state="b", version=1), message_id="m-2")
    entries, _ = await store.history(CONV)
    assert [e.event["text"] for e in entries if e.event] == ["new"]


async def test_no_history_policy_writes_no_history(redis: Redis) -> None:
    """A store made without a history policy (or BOT_HISTORY=false) writes none."""
    store = await owning_store(redis, PARTITIONS, range(PARTITIONS), TOKEN, 30_000)
    assert await step(store, "hi", conv=Conversation(flow="f", state="a"))
    assert not await store.has_history(CONV)


async def test_pages_follow_each_other_without_gap_or_repeat(redis: Redis) -> None:
    store = await history_store(redis)
    conv = Conversation(flow="f", state="a")
    for n in range(7):
        await step(store, f"answer {n}", conv=conv, message_id=f"m-{n}")
        conv = Conversation(flow="f", state="b", version=conv.version + 1)
    seen, cursor = [], ""
    while True:
        page, cursor = await store.history(CONV, after=cursor, limit=3)
        seen += [e.event["text"] for e in page if e.event]
        if not cursor:
            break
    assert seen == [f"answer {n}" for n in range(7)]


# -- the app ---------------------------------------------------------------------------------


async def history_of(client: TestClient[Any, Any], conv: str = CONV, **query: str) -> Any:
    resp = await client.get(f"/v1/conversations/{conv}/history", params=query, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_conversation_through_the_callbacks_has_its_whole_history(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """A message pushed to /cams/receipts, the bot's answer sent, its Delivered and Read
    reports: the history shows the step with the customer's text and the reply's, the
    send with the platform's message id, and each status, in that order."""
    client = await make_client(api_keys=API_KEY)
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=CUSTOMER)])).status == 200
    [sent] = await fake_cams.recorder.wait_for(1)

    await eventually(lambda: _count(client, "sent", 1))
    for status in ("Delivered", "Read"):
        receipt = {
            "MessageId": sent["MessageId"], "TaskId": sent["TaskId"], "From": BUSINESS,
            "To": CUSTOMER, "Status": status, "Timestamp": int(time.time() * 1000),
        }  # fmt: skip
        assert (await client.post(RECEIPTS, json=[receipt])).status == 200
    await eventually(lambda: _count(client, "status", 2))
    body = await history_of(client)
    kinds = [e["kind"] for e in body["entries"]]
    assert kinds == ["step", "sent", "status", "status"], body
    first, out, delivered, read = body["entries"]
    assert first["event"]["text"] == "hi"
    assert first["from_state"] is None
    assert first["to_state"] == "menu/choose"
    assert first["replies"][0]["text"] == json.loads(sent["Content"])["text"]
    assert first["tasks"] == [sent["TaskId"]]
    assert out["task"] == sent["TaskId"]
    assert out["message_id"] == sent["MessageId"]
    assert (delivered["status"], read["status"]) == ("Delivered", "Read")
    assert body["next"] is None


async def _count(client: TestClient[Any, Any], kind: str, n: int) -> bool:
    """Whether the history holds `n` entries of `kind` (none yet: the conversation is not
    there before its first step)."""
    path = f"/v1/conversations/{CONV}/history"
    resp = await client.get(path, params={"limit": str(MAX_HISTORY_PAGE)}, headers=AUTH)
    if resp.status == 404:
        return False
    body = await resp.json()
    return sum(e["kind"] == kind for e in body["entries"]) >= n


async def test_the_history_endpoint_refuses_what_it_cannot_answer(
    make_client: AppFactory,
) -> None:
    """No key: 401; an unknown conversation: 404; a cursor or limit it never gave: 400."""
    client = await make_client(api_keys=API_KEY)
    path = f"/v1/conversations/{CONV}/history"
    assert (await client.get(path)).status == 401
    assert (await client.get(path, headers={"Authorization": "Bearer nope"})).status == 401
    assert (await client.get(path, headers=AUTH)).status == 404
    refused = (
        {"cursor": "x"}, {"cursor": "1-1;DEL"}, {"limit": "0"},
        {"limit": str(MAX_HISTORY_PAGE + 1)}, {"limit": "-1"}, {"limit": "1e3"},
    )  # fmt: skip
    for query in refused:
        resp = await client.get(path, params=query, headers=AUTH)
        assert resp.status == 400, query
    resp = await client.get("/v1/conversations/a:b:c:d!/history", headers=AUTH)
    assert resp.status == 404


async def test_the_history_endpoint_pages_by_cursor(make_client: AppFactory) -> None:
    client = await make_client(api_keys=API_KEY)
    for n in range(4):
        item = inbound(f"x{n}", customer=CUSTOMER, message_id=f"p-{n}")
        assert (await client.post(RECEIPTS, json=[item])).status == 200

    await eventually(lambda: _count(client, "step", 4))
    first = await history_of(client, limit="2")
    assert len(first["entries"]) == 2
    assert first["next"]
    rest = await history_of(client, cursor=first["next"], limit=str(MAX_HISTORY_PAGE))
    ids = [e["id"] for e in first["entries"] + rest["entries"]]
    assert len(ids) == len(set(ids)) >= 4
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))


async def test_one_reply_is_found_by_its_task_id_with_its_statuses(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """GET /v1/messages/{task}: the conversation, the platform's id, the latest status and
    what the history holds of the reply, in order; 404 for a TaskId of nothing."""
    client = await make_client(api_keys=API_KEY)
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=CUSTOMER)])).status == 200
    [sent] = await fake_cams.recorder.wait_for(1)
    await eventually(lambda: _count(client, "sent", 1))
    receipt = {
        "MessageId": sent["MessageId"], "TaskId": sent["TaskId"], "From": BUSINESS,
        "To": CUSTOMER, "Status": "Read", "Timestamp": int(time.time() * 1000),
    }  # fmt: skip
    assert (await client.post(RECEIPTS, json=[receipt])).status == 200
    await eventually(lambda: _count(client, "status", 1))
    resp = await client.get(f"/v1/messages/{sent['TaskId']}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["conversation"] == CONV
    assert (body["message_id"], body["status"], body["error"]) == (sent["MessageId"], "Read", None)
    assert [e["kind"] for e in body["history"]] == ["step", "sent", "status"]

    assert (await client.get(f"/v1/messages/{sent['TaskId']}")).status == 401
    for task in ("0123456789abcdef.1.0", "nope", "0123456789ABCDEF.1.0", "x" * 300):
        assert (await client.get(f"/v1/messages/{task}", headers=AUTH)).status == 404, task
