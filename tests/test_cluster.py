"""Redis Cluster: the app finds out it talks to one, every key of a conversation (and of its
partition) shares one slot, the whole job runs across the nodes of a local 3-primary
cluster (round trip, dedup, timers, lost scripts), stream reads go straight to the stream's
node, no key the server writes lacks a hash tag unless it is single-key by design, and a
cluster that goes away gives 503s, then the app carries on when it is back."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio import RedisCluster

from bot.app import create_app
from bot.flows.compiler import CompiledCatalog
from bot.local.redis_server import CLUSTER_SLOTS, LocalCluster, RedisServer, slot_ranges
from bot.model import Conversation, Inbound, Timer
from bot.store import (
    INBOX_GROUP,
    Accepted,
    Keys,
    Store,
    account_key,
    event_from_json,
    event_to_json,
    partition_of,
)
from bot.web.keys import REDIS
from tests.conftest import AppFactory, make_settings
from tests.support import (
    BUSINESS,
    EXAMPLE_SECRETS,
    RECEIPT_TOKEN,
    SIGNATURES,
    CamsServer,
    eventually,
    inbound,
    new_store,
)

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
PARTITIONS = 4  # as make_settings sets it

# Keys written without a hash tag, each only ever named alone (one key per command, script
# or MULTI), so wherever its slot is, nothing spans slots.
SINGLE_KEY_BY_DESIGN = re.compile(r"bot:(members|stats|optouts-kept|replay:.+)")


@pytest.fixture
def redis_kind() -> str:
    """Every test here runs against the session's local cluster."""
    return "cluster"


def conv_of(customer: str) -> str:
    return f"cams:whatsapp:{BUSINESS}:{customer}"


def customers_over_every_partition(partitions: int = PARTITIONS) -> list[str]:
    """One customer number per partition."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        customer = f"86139{n:08d}"
        found.setdefault(partition_of(conv_of(customer), partitions), customer)
        n += 1
    return [found[p] for p in range(partitions)]


def node_of(redis: RedisCluster, key: str) -> str:
    node = redis.get_node_from_key(key)
    assert node is not None
    return str(node.name)


# -- the cluster and the client ---------------------------------------------------------------


async def test_the_session_cluster_has_three_primaries_sharing_every_slot(
    redis_cluster: LocalCluster, redis: RedisCluster
) -> None:
    """Three cluster-enabled servers on free ports (never 6379), a third of the slots each."""
    assert len(set(redis_cluster.ports)) == 3
    assert 6379 not in redis_cluster.ports
    assert slot_ranges(3) == [(0, 5460), (5461, 10921), (10922, 16383)]
    for port in redis_cluster.ports:
        with sync_redis.Redis(port=port) as node:
            info = node.cluster("INFO")
            assert info["cluster_state"] == "ok"
            assert int(info["cluster_known_nodes"]) == 3
            assert int(info["cluster_size"]) == 3
            assert int(info["cluster_slots_ok"]) == CLUSTER_SLOTS
    assert len(redis.get_primaries()) == 3


async def test_the_app_finds_out_whether_it_talks_to_a_cluster(
    make_client: AppFactory, redis_server: RedisServer
) -> None:
    """BOT_REDIS_CLUSTER unset: the server's `INFO cluster` decides; set, it decides."""
    on_cluster = await make_client()
    assert isinstance(on_cluster.server.app[REDIS], RedisCluster)
    resp = await on_cluster.get("/readyz")
    assert resp.status == 200, await resp.text()
    on_single = await make_client(redis_url=redis_server.url)
    assert not isinstance(on_single.server.app[REDIS], RedisCluster)
    said = await make_client(redis_cluster=True)
    assert isinstance(said.server.app[REDIS], RedisCluster)


async def test_every_key_of_a_conversation_is_in_its_partitions_slot(
    redis: RedisCluster,
) -> None:
    """The server's CLUSTER KEYSLOT of every key of a conversation and of its partition is
    one slot; partitions spread over the nodes; a rate-limit log has a slot of its own."""
    store = new_store(redis, partitions=8)
    for customer in customers_over_every_partition(8):
        conv = conv_of(customer)
        k = store.keys_for(conv)
        keys = [k.conv(conv), k.seen("cams:m-1"), k.message("t.1.0"), k.inbox, k.outbox,
                k.dead, k.calls, k.timers, k.lease, k.stats]  # fmt: skip
        slots = {await redis.cluster_keyslot(key) for key in keys}
        assert slots == {redis.keyslot(k.inbox)}
    assert len({node_of(redis, Keys.of(p).inbox) for p in range(64)}) == 3
    assert len({node_of(redis, Keys.of(p).inbox) for p in range(PARTITIONS)}) > 1
    key = account_key("cams:abc")
    assert await redis.cluster_keyslot(key) == redis.keyslot("bot:rl:cams:abc")


# -- the whole job on the cluster -------------------------------------------------------------


async def test_messages_of_every_partition_get_their_replies(
    client: Any, fake_cams: CamsServer, redis: RedisCluster
) -> None:
    """A push per partition (their slots on different nodes), then a business trigger and
    two answers: every step is committed and every reply sent, through the app."""
    customers = customers_over_every_partition()
    resp = await client.post(RECEIPTS, json=[inbound("hi", customer=c) for c in customers])
    assert resp.status == 200
    sent = await fake_cams.recorder.wait_for(len(customers))
    assert {m["To"] for m in sent} == set(customers)

    customer = customers[0]
    resp = await client.post(
        "/cams/business",
        json={"intentCode": "appointment_reminder", "phoneNumber": f"+{customer}",
              "intentData": {"name": "Ana", "date": "Friday 9:30"}, "messageId": "trigger-1"},
        headers={"Signature": SIGNATURES[0]},
    )  # fmt: skip
    assert resp.status == 200
    await fake_cams.recorder.wait_for(len(customers) + 1)
    await client.post(RECEIPTS, json=[inbound("2", customer=customer)])
    await client.post(RECEIPTS, json=[inbound("next tuesday", customer=customer)])
    last = (await fake_cams.recorder.wait_for(len(customers) + 3))[-1]
    assert "we will call you to fix the time" in json.loads(last["Content"])["text"]
    store = new_store(redis)
    raw = await redis.hgetall(store.keys_for(conv_of(customer)).conv(conv_of(customer)))
    assert (raw[b"f"], raw[b"s"]) == (b"appointment", b"rescheduled")
    counters = await store.counters()
    assert counters["steps"] == len(customers) + 3
    assert counters["sends"] == len(customers) + 3


async def test_repeated_pushes_and_triggers_are_dropped_on_the_cluster(
    client: Any, fake_cams: CamsServer, redis: RedisCluster
) -> None:
    """Concurrent and later repeats of a MessageId or a trigger's messageId step once."""
    customers = customers_over_every_partition()
    items = [inbound("hi", customer=c, message_id=f"dup-{c}") for c in customers]
    pushes = await asyncio.gather(*(client.post(RECEIPTS, json=items) for _ in range(3)))
    assert [r.status for r in pushes] == [200] * 3
    trigger = {"intentCode": "appointment_reminder", "phone": "8613999999999", "messageId": "t-1"}
    for _ in range(2):
        resp = await client.post(
            "/cams/business", json=trigger, headers={"Signature": SIGNATURES[0]}
        )
        assert resp.status == 200
    await fake_cams.recorder.wait_for(len(customers) + 1)
    await asyncio.sleep(0.3)
    assert len(fake_cams.recorder.messages) == len(customers) + 1
    counters = await new_store(redis).counters()
    assert counters["duplicates_dropped"] == 2 * len(customers) + 1


async def test_timers_fire_once_on_every_node_even_after_scripts_are_lost(
    redis: RedisCluster,
) -> None:
    """A due timer of each partition is moved into its inbox once; after SCRIPT FLUSH on
    every primary the pump loads the scripts again and goes on."""
    store = new_store(redis)
    now = int(time.time() * 1000)
    customers = customers_over_every_partition()
    for i, customer in enumerate(customers):
        conv, p = conv_of(customer), partition_of(conv_of(customer), PARTITIONS)
        await store.ensure_groups(p)
        assert await store.acquire(p, "owner-1", 10_000)
        event = Inbound(f"m-{i}", now, "text", "hi")
        assert await store.accept([Accepted(conv, f"cams:m-{i}", event_to_json(event))]) == [True]
        [(entry_id, _, _)] = await store.read_inbox(p, pending=False, count=10, block_ms=None)
        due = now - 1 if i % 2 == 0 else now + 60_000  # half of them due
        res = await store.commit(
            partition=p, token="owner-1", conv_id=conv, expected_version=0,
            entry_id=entry_id, conversation=Conversation(
                flow="menu", state="choose", visit=1, timers=(Timer("remind", due),)),
            replies=(), active=True,
        )  # fmt: skip
        assert res.ok
    await redis.script_flush()  # every primary forgets every script
    fired: dict[int, int] = {}
    for p in range(PARTITIONS):
        fired[p] = await store.fire_due_timers(p, now)
        if fired[p] == 0:
            fired[p] = await store.fire_due_timers(p, now)  # the first found no script
    expected = {
        partition_of(conv_of(c), PARTITIONS): int(i % 2 == 0) for i, c in enumerate(customers)
    }
    assert fired == expected
    assert [await store.fire_due_timers(p, now) for p in range(PARTITIONS)] == [0] * PARTITIONS
    for p, n in expected.items():
        entries = await store.read_inbox(p, pending=False, count=10, block_ms=None)
        events = [event_from_json(e) for _, _, e in entries]
        assert [type(e).__name__ for e in events] == ["TimerFired"] * n


async def test_stream_reads_go_straight_to_the_streams_node(
    redis: RedisCluster, redis_cluster: LocalCluster
) -> None:
    """XREADGROUP names its stream in a "movable" position: the plain cluster client would
    ask a node (COMMAND GETKEYS) before each read. The store sends it to the stream's node."""
    store = new_store(redis)
    conv = conv_of(customers_over_every_partition()[2])
    p = partition_of(conv, PARTITIONS)
    await store.ensure_groups(p)
    event = Inbound("m-1", int(time.time() * 1000), "text", "hi")
    await store.accept([Accepted(conv, "cams:m-1", event_to_json(event))])
    await redis.config_resetstat(target_nodes=RedisCluster.ALL_NODES)
    assert len(await store.read_inbox(p, pending=False, count=10, block_ms=50)) == 1
    assert await store.read_inbox(p, pending=True, count=10, block_ms=None) != []
    stats = await redis.info("commandstats", target_nodes=RedisCluster.ALL_NODES)
    calls = {
        name: st["calls"]
        for per_node in stats.values()
        for name, st in per_node.items()
        if isinstance(st, dict)
    }
    assert "cmdstat_command|getkeys" not in calls
    assert calls["cmdstat_xreadgroup"] == 2
    info: Any = await redis.xpending(store.keys(p).inbox, INBOX_GROUP)
    assert info["pending"] == 1


async def test_many_blocking_reads_at_once_on_one_node(redis: RedisCluster) -> None:
    """A process may wait on many streams of one node at once (3 per partition it holds)
    while it takes callbacks: the cluster client opens what it needs, as the single-Redis one
    does, instead of failing past 100 connections per node."""
    store = new_store(redis)
    await store.ensure_groups(0)
    reads = [store.read_inbox(0, pending=False, count=1, block_ms=100) for _ in range(150)]
    assert await asyncio.gather(*reads) == [[]] * 150


async def test_no_key_the_server_writes_lacks_a_hash_tag_unless_single_key(
    make_client: AppFactory, fake_cams: CamsServer, redis: RedisCluster
) -> None:
    """After pushes, a trigger, a status receipt, rate-limited sends, a send given up (dead
    letter) and heartbeats: every key carries a hash tag, or is one of the few keys only
    ever used alone."""
    client = await make_client(send_rate_limit=50, send_attempts=1)
    customers = customers_over_every_partition()
    fake_cams.recorder.fail_next(503, "ServiceUnavailable", times=1)
    await client.post(RECEIPTS, json=[inbound("hi", customer=c) for c in customers])
    await client.post(
        "/cams/business",
        json={"intentCode": "appointment_reminder", "phone": customers[1], "messageId": "t-1"},
        headers={"Signature": SIGNATURES[0]},
    )
    sent = await fake_cams.recorder.wait_for(len(customers))
    receipt = {
        "MessageId": sent[0]["MessageId"], "TaskId": sent[0]["TaskId"],
        "From": BUSINESS, "To": sent[0]["To"], "Status": "Delivered",
        "Timestamp": int(time.time() * 1000),
    }  # fmt: skip
    await client.post(RECEIPTS, json=[receipt])
    store = new_store(redis)
    await eventually(lambda: _settled(store), within=5.0)
    keys = sorted({k.decode() async for k in redis.scan_iter(count=1000)})
    untagged = [k for k in keys if not re.search(r"\{[^}]+\}", k)]
    assert all(SINGLE_KEY_BY_DESIGN.fullmatch(k) for k in untagged), untagged
    assert "bot:members" in untagged
    for part in ("bot:{bot:rl:", ":dead", ":seen:", ":m:", ":c:", ":stats"):
        assert any(part in k for k in keys), part


async def _settled(store: Store) -> bool:
    counters = await store.counters()
    return counters["sends"] + counters["dead_letters_out"] >= PARTITIONS + 1


# -- a cluster that goes away -----------------------------------------------------------------


async def test_while_the_cluster_is_away_callbacks_get_503_then_all_goes_on(
    tmp_path: Path,
    fake_cams: CamsServer,
    aiohttp_client: Callable[..., Any],
    catalog: CompiledCatalog,
) -> None:
    """With its only node down the cluster client fails as a single Redis does (503, not
    500, and workers that wait); when the node is back the app answers and replies again."""
    cluster = LocalCluster(tmp_path / "cluster", primaries=1, appendonly=True)
    await asyncio.to_thread(cluster.start)
    client = None
    try:
        settings = make_settings(cluster.url, fake_cams.endpoint, lease_seconds=1.0)
        client = await aiohttp_client(create_app(settings, catalog, secrets=EXAMPLE_SECRETS))
        assert isinstance(client.server.app[REDIS], RedisCluster)
        await client.post(RECEIPTS, json=[inbound("hi", customer="8613900000001")])
        await fake_cams.recorder.wait_for(1)

        [node] = cluster.nodes
        await asyncio.to_thread(node.stop)  # its data stays in its append-only file
        for _ in range(2):
            resp = await client.post(RECEIPTS, json=[inbound("hi", customer="8613900000002")])
            assert resp.status == 503
            assert (await client.get("/readyz")).status == 503

        await asyncio.to_thread(node.start)  # same port, same cluster config file

        async def ready() -> bool:
            return bool((await client.get("/readyz")).status == 200)

        await eventually(ready, within=15.0)
        resp = await client.post(RECEIPTS, json=[inbound("hi", customer="8613900000002")])
        assert resp.status == 200
        [_, second] = await fake_cams.recorder.wait_for(2, timeout=10.0)
        assert second["To"] == "8613900000002"
    finally:
        if client is not None:
            await client.close()  # the app drains while its Redis is still there
        await asyncio.to_thread(cluster.stop)
