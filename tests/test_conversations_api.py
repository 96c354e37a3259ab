"""Finding conversations through the operators' API, against a real redis-server: a
conversation made by a signed callback is found by its customer, flow, state, handoff or
time of its last step, the last stepped first, a page at a time; the partitions' index
forgets conversations idle longer than BOT_CONVERSATION_TTL."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from yarl import URL

from bot.model import Conversation, Inbound
from bot.store import Accepted, ConversationQuery, event_to_json, partition_of
from bot.web.operators import MAX_CONVERSATIONS_PAGE
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, eventually, inbound, owning_store

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API_KEY = "operator-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def found(client: TestClient[Any, Any], **query: str) -> Any:
    resp = await client.get("/v1/conversations", params=query, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def started(client: TestClient[Any, Any], customers: list[str]) -> None:
    items = [inbound("hi", customer=c) for c in customers]
    assert (await client.post(RECEIPTS, json=items)).status == 200

    async def all_there() -> bool:
        page = await found(client, limit=str(MAX_CONVERSATIONS_PAGE))
        return len(page["conversations"]) >= len(customers)

    await eventually(all_there)


async def test_a_conversation_made_by_a_callback_is_found_by_what_it_is(
    make_client: AppFactory,
) -> None:
    client = await make_client(api_keys=API_KEY)
    await started(client, ["8613900000001", "8613900000002"])
    conv = f"cams:whatsapp:{BUSINESS}:8613900000001"
    for customer in ("8613900000001", "+8613900000001"):
        [one] = (await found(client, customer=customer))["conversations"]
        assert one["conversation"] == conv
        assert one["customer"] == "8613900000001"
        assert (one["flow"], one["state"], one["handoff"], one["opted_out"]) == (
            "menu", "choose", None, False,
        )  # fmt: skip
        assert abs(one["stepped_ms"] - time.time() * 1000) < 60_000
    assert len((await found(client, flow="menu", state="choose"))["conversations"]) == 2
    assert (await found(client, flow="csat"))["conversations"] == []
    assert len((await found(client, handoff="false"))["conversations"]) == 2
    assert (await found(client, handoff="true"))["conversations"] == []
    future = str(int(time.time() * 1000) + 3_600_000)
    assert (await found(client, since=future))["conversations"] == []
    assert len((await found(client, since="2020-01-01T00:00:00Z"))["conversations"]) == 2
    assert (await found(client, customer="8613900000009"))["conversations"] == []


async def test_pages_follow_each_other_the_last_stepped_first(make_client: AppFactory) -> None:
    client = await make_client(api_keys=API_KEY)
    customers = [f"86139000001{n:02d}" for n in range(9)]
    await started(client, customers)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await found(client, limit="2", **({"cursor": cursor} if cursor else {}))
        seen += page["conversations"]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(c["customer"] for c in seen) == customers
    order = [(-c["stepped_ms"], c["conversation"]) for c in seen]
    assert order == sorted(order)


async def test_refusals_are_clear(make_client: AppFactory) -> None:
    client = await make_client(api_keys=API_KEY)
    assert (await client.get("/v1/conversations")).status == 401
    refused = (
        {"cursor": "x"}, {"cursor": "12-not:a:conv"}, {"cursor": "1-a:b:c:d!"},
        {"handoff": "maybe"}, {"since": "yesterday"}, {"limit": "0"},
        {"limit": str(MAX_CONVERSATIONS_PAGE + 1)}, {"customer": "x" * 200},
    )  # fmt: skip
    for query in refused:
        resp = await client.get("/v1/conversations", params=query, headers=AUTH)
        assert resp.status == 400, query
    # Bytes that are no UTF-8, and control characters: no 500, nothing found.
    for raw in ("flow=%FF%FE", "state=%00%0A", "customer=%C0%AF"):
        resp = await client.get(URL(f"/v1/conversations?{raw}", encoded=True), headers=AUTH)
        assert resp.status in (200, 400), raw
        if resp.status == 200:
            assert (await resp.json())["conversations"] == []
    assert await found(client) == {"conversations": [], "next": None}


async def test_the_index_forgets_conversations_idle_longer_than_their_ttl(redis: Redis) -> None:
    """A commit drops from its partition's index the conversations that last stepped
    longer than BOT_CONVERSATION_TTL ago (their hashes have expired by then)."""
    store = await owning_store(redis, 1, [0], "token-1", 30_000)
    store.conversation_ttl = 60
    now = int(time.time() * 1000)
    for n, at in ((1, now - 61_000), (2, now)):
        conv = f"cams:whatsapp:{BUSINESS}:861390000000{n}"
        event = event_to_json(Inbound(f"m-{n}", at, "text", "hi"))
        await store.accept([Accepted(conv, f"cams:m-{n}", event)])
        [(entry_id, _, _)] = await store.read_inbox(0, pending=False, count=1, block_ms=None)
        assert partition_of(conv, 1) == 0
        result = await store.commit(
            partition=0, token="token-1", conv_id=conv, expected_version=0, entry_id=entry_id,
            conversation=Conversation(flow="f", state="a", version=1), replies=[], now_ms=at,
        )  # fmt: skip
        assert result.ok
    everyone, _ = await store.find_conversations(ConversationQuery())
    assert [f.conv_id[-1] for f in everyone] == ["2"]
