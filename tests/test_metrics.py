"""Prometheus metrics: what each thing counts, with which labels, as `/metrics` shows it, against
the real app, a real Redis and the fake CAMS. (Several processes: tests/test_workers.py.)"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from bot.flows.compiler import CompiledCatalog
from bot.flows.engine import Engine
from bot.metrics import Backlog, Metrics, one_of, outcome_of
from bot.model import Conversation, Inbound, IntentStart, TimerFired
from bot.runtime.worker import funnel
from bot.store import Accepted, Store
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, SIGNATURES, CamsServer, eventually, inbound

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when absent (a series never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: Any, **headers: str) -> Samples:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    return parse(await resp.text())


def conv_id(customer: str) -> str:
    return f"cams:whatsapp:{BUSINESS}:{customer}"


# -- the Metrics object ------------------------------------------------------------------------


def test_outcomes_and_unknown_labels_are_bounded() -> None:
    statuses = (200, 202, 400, 401, 403, 404, 408, 409, 413, 415, 503, 500)
    assert [outcome_of(s) for s in statuses] == [
        "ok", "ok", "bad_request", "unauthorized", "unauthorized", "bad_request", "timeout",
        "bad_request", "too_large", "unsupported_media", "unavailable", "error",
    ]  # fmt: skip
    assert one_of("cams", ("cams", "api")) == "cams"
    assert one_of("+8613900000001", ("cams", "api")) == "other"


async def test_recorded_values_show_with_their_labels() -> None:
    metrics = Metrics()
    metrics.callback("cams", "receipts", 200, 0.004)
    metrics.callback("cams", "receipts", 503, 0.2)
    metrics.callback("evil", "8613900000001", 401, 0.001)
    metrics.auth_rejected("api", "wrong")
    metrics.duplicate("tencent", 2)
    metrics.step("menu", "choose", "matched")
    metrics.send("cams", "sent")
    metrics.send_latency("cams", 0.03)
    metrics.rate_limit_wait("cams", waits=1, seconds=0.25)
    metrics.rate_limit_wait("cams", waits=0, seconds=0.5)
    s = parse((await metrics.exposition(Backlog(1.5, 0.0, 2.0, 3))).decode())

    assert value(s, "bot_callbacks_total", platform="cams", kind="receipts", outcome="ok") == 1
    assert value(s, "bot_callbacks_total", platform="cams", kind="receipts",
                 outcome="unavailable") == 1  # fmt: skip
    # Values from outside the fixed sets are counted, as `other`.
    assert value(s, "bot_callbacks_total", platform="other", kind="other",
                 outcome="unauthorized") == 1  # fmt: skip
    assert value(s, "bot_callback_seconds_count", platform="cams", kind="receipts") == 2
    assert value(s, "bot_callback_seconds_bucket", platform="cams", kind="receipts",
                 le="0.005") == 1  # fmt: skip
    assert value(s, "bot_auth_rejections_total", platform="api", reason="wrong") == 1
    assert value(s, "bot_duplicates_total", platform="tencent") == 2
    assert value(s, "bot_flow_steps_total", flow="menu", state="choose", outcome="matched") == 1
    assert value(s, "bot_sends_total", platform="cams", account="default", result="sent") == 1
    assert value(s, "bot_send_seconds_sum", platform="cams", account="default") == 0.03
    assert value(s, "bot_rate_limit_waits_total", platform="cams", account="default") == 1
    assert value(s, "bot_rate_limit_wait_seconds_total", platform="cams", account="default") == 0.75
    assert value(s, "bot_backlog_age_seconds", queue="inbox") == 1.5
    assert value(s, "bot_backlog_age_seconds", queue="calls") == 2.0
    assert value(s, "bot_dead_letters") == 3
    # Zero series exist before anything happened, for rate() and alerts.
    assert ("bot_sends_total", frozenset({("platform", "tencent"), ("account", "default"),
                                          ("result", "dead")})) in s  # fmt: skip
    assert ("bot_auth_rejections_total",
            frozenset({("platform", "cams"), ("reason", "replay")})) in s  # fmt: skip


async def test_two_metrics_objects_do_not_share_values() -> None:
    """Each app owns its registry: nothing global, nothing counted twice."""
    a, b = Metrics(), Metrics()
    a.send("cams", "sent")
    sa = parse((await a.exposition()).decode())
    sb = parse((await b.exposition()).decode())
    assert value(sa, "bot_sends_total", platform="cams", account="default", result="sent") == 1
    assert value(sb, "bot_sends_total", platform="cams", account="default", result="sent") == 0
    assert not any(name == "bot_dead_letters" for name, _ in sa)  # no backlog read


# -- the flow funnel ---------------------------------------------------------------------------


def test_funnel_of_steps(catalog: CompiledCatalog) -> None:
    engine = Engine(catalog)
    now = int(time.time() * 1000)

    def step(conv: Conversation, event: Any) -> tuple[Conversation, Any]:
        result = engine.step(conv, event, now)
        return result.conversation, funnel(catalog, conv, event, result)

    conv, f = step(Conversation(), Inbound("m1", now, "text", "hi"))
    assert f == (("menu", "choose", "entered"),)
    conv, f = step(conv, Inbound("m2", now, "text", "what?"))
    assert f == (("menu", "choose", "no_match"),)
    conv, f = step(conv, Inbound("m3", now, "text", "1"))
    assert f == (("menu", "choose", "matched"), ("menu", "ask_order", "entered"))
    conv, f = step(Conversation(), IntentStart("i1", now, "csat_survey", {"order": "A-1"}))
    assert f == (("csat", "rate", "entered"),)
    conv, f = step(conv, TimerFired("t1", now, "timeout", conv.visit))
    assert f == (("csat", "rate", "timeout"), ("csat", "closed", "entered"))


# -- the app -----------------------------------------------------------------------------------


async def test_callbacks_auth_rejections_and_duplicates(make_client: AppFactory) -> None:
    client = await make_client()
    item = inbound("hi", customer="8613900000011", message_id="dup-1")
    url = f"/cams/receipts?token={RECEIPT_TOKEN}"
    assert (await client.post(url, json=[item])).status == 200
    assert (await client.post(url, json=[item])).status == 200  # a repeated push
    assert (await client.post("/cams/receipts?token=nope", json=[item])).status == 401
    assert (await client.post("/cams/receipts", json=[item])).status == 401
    assert (await client.post(url, data=b"{not json")).status in (400, 415)
    business = {"intentCode": "csat_survey", "phoneNumber": "+8613900000012", "messageId": "b1"}
    resp = await client.post("/cams/business", json=business, headers={"Signature": "wrong"})
    assert resp.status == 401
    resp = await client.post("/cams/business", json=business, headers={"Signature": SIGNATURES[0]})
    assert resp.status == 200
    assert (await client.post("/v1/intents/csat_survey", json={"customer": "1"})).status == 401
    resp = await client.get("/v1/conversations/cams:whatsapp:1:2",
                            headers={"Authorization": "Bearer sandbox"})  # fmt: skip
    assert resp.status == 401
    assert (await client.get("/healthz")).status == 200

    s = await scrape(client)
    ok = {"platform": "cams", "kind": "receipts"}
    assert value(s, "bot_callbacks_total", **ok, outcome="ok") == 2
    assert value(s, "bot_callbacks_total", **ok, outcome="unauthorized") == 2
    assert (
        value(s, "bot_callbacks_total", **ok, outcome="bad_request")
        + value(s, "bot_callbacks_total", **ok, outcome="unsupported_media")
    ) == 1
    assert value(s, "bot_callback_seconds_count", **ok) == 5
    assert value(s, "bot_callbacks_total", platform="cams", kind="business", outcome="ok") == 1
    assert value(s, "bot_callbacks_total", platform="api", kind="intent",
                 outcome="unauthorized") == 1  # fmt: skip
    assert value(s, "bot_callbacks_total", platform="api", kind="other",
                 outcome="unauthorized") == 1  # fmt: skip
    assert value(s, "bot_auth_rejections_total", platform="cams", reason="wrong") == 2
    assert value(s, "bot_auth_rejections_total", platform="cams", reason="missing") == 1
    assert value(s, "bot_auth_rejections_total", platform="api", reason="missing") == 1
    assert value(s, "bot_auth_rejections_total", platform="api", reason="wrong") == 1
    assert value(s, "bot_duplicates_total", platform="cams") == 1
    # 9 callbacks and API calls; the health check and the scrape are neither.
    assert sum(v for (name, _), v in s.items() if name == "bot_callbacks_total") == 9


async def test_steps_and_sends(make_client: AppFactory, fake_cams: CamsServer) -> None:
    client = await make_client()
    url = f"/cams/receipts?token={RECEIPT_TOKEN}"
    customer = "8613900000021"
    for n, text in enumerate(("hi", "what?", "1"), start=1):
        assert (await client.post(url, json=[inbound(text, customer=customer)])).status == 200
        await fake_cams.recorder.wait_for(n)
    s = await scrape(client)
    assert value(s, "bot_flow_steps_total", flow="menu", state="choose", outcome="entered") == 1
    assert value(s, "bot_flow_steps_total", flow="menu", state="choose", outcome="no_match") == 1
    assert value(s, "bot_flow_steps_total", flow="menu", state="choose", outcome="matched") == 1
    assert value(s, "bot_flow_steps_total", flow="menu", state="ask_order",
                 outcome="entered") == 1  # fmt: skip
    assert value(s, "bot_sends_total", platform="cams", account="default", result="sent") == 3
    assert value(s, "bot_send_seconds_count", platform="cams", account="default") == 3


async def test_failed_sends_and_dead_letters(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """A reply refused for good; a reply failing every attempt (3 in the tests' settings)
    becomes a dead letter, which /metrics reads from Redis."""
    client = await make_client()
    url = f"/cams/receipts?token={RECEIPT_TOKEN}"
    fake_cams.recorder.fail_next(200, "Invalid.To")
    assert (await client.post(url, json=[inbound("hi", customer="8613900000031")])).status == 200

    async def failed() -> bool:
        return (
            value(
                await scrape(client),
                "bot_sends_total",
                platform="cams",
                account="default",
                result="failed",
            )
            == 1
        )

    await eventually(failed)
    fake_cams.recorder.fail_next(503, "ServiceUnavailable", times=3)
    assert (await client.post(url, json=[inbound("hi", customer="8613900000032")])).status == 200

    async def dead() -> bool:
        return value(await scrape(client), "bot_dead_letters") == 1

    await eventually(dead, within=10)
    s = await scrape(client)
    assert value(s, "bot_sends_total", platform="cams", account="default", result="dead") == 1
    assert value(s, "bot_sends_total", platform="cams", account="default", result="retried") == 2
    assert value(s, "bot_sends_total", platform="cams", account="default", result="sent") == 0
    assert value(s, "bot_send_seconds_count", platform="cams", account="default") == 4


async def test_a_failed_step_counts_as_error(make_client: AppFactory, redis: Redis) -> None:
    """An event no step can handle: an `error` of the state the conversation was in (none
    here), and a dead letter."""
    client = await make_client()
    store = Store(redis, partitions=4, conversation_ttl=3600, dedup_ttl=3600)
    await store.accept([Accepted(conv_id("8613900000041"), "bad-1", '{"t": "nonsense"}')])

    async def errored() -> bool:
        s = await scrape(client)
        return value(s, "bot_flow_steps_total", flow="none", state="none", outcome="error") == 1

    await eventually(errored)
    assert value(await scrape(client), "bot_dead_letters") == 1


async def test_rate_limit_waits(make_client: AppFactory, fake_cams: CamsServer) -> None:
    client = await make_client(send_rate_limit=1)
    url = f"/cams/receipts?token={RECEIPT_TOKEN}"
    items = [inbound("hi", customer=f"86139000000{50 + i}") for i in range(3)]
    assert (await client.post(url, json=items)).status == 200
    await fake_cams.recorder.wait_for(3, timeout=10)
    s = await scrape(client)
    assert value(s, "bot_rate_limit_waits_total", platform="cams", account="default") >= 1
    assert value(s, "bot_rate_limit_wait_seconds_total", platform="cams", account="default") > 0.5


async def test_backlog_ages_are_read_from_redis(redis: Redis) -> None:
    store = Store(redis, partitions=4, conversation_ttl=3600, dedup_ttl=3600)
    seconds, _ = await redis.time()
    now_ms = seconds * 1000
    empty = await store.backlog()
    assert empty == Backlog(0.0, 0.0, 0.0, 0)
    k1, k3 = store.keys(1), store.keys(3)
    await redis.xadd(k1.inbox, {"c": "x", "e": "{}"}, id=f"{now_ms - 30_000}-0")
    await redis.xadd(k3.inbox, {"c": "x", "e": "{}"}, id=f"{now_ms - 5_000}-0")
    await redis.xadd(k3.outbox, {"c": "x", "r": "{}", "t": "t"}, id=f"{now_ms - 7_000}-0")
    await redis.xadd(k1.calls, {"c": "x", "r": "{}"}, id=f"{now_ms - 2_000}-0")
    await redis.xadd(k1.dead, {"kind": "in", "why": "x"})
    await redis.xadd(k3.dead, {"kind": "out", "why": "x"})
    backlog = await store.backlog()
    assert 30 <= backlog.inbox_age < 32  # the oldest over all partitions
    assert 7 <= backlog.outbox_age < 9
    assert 2 <= backlog.calls_age < 4
    assert backlog.dead_letters == 2


async def test_metrics_token(make_client: AppFactory) -> None:
    client = await make_client(metrics_token="old-scrape-token,scrape-token")
    assert (await client.get("/metrics")).status == 401
    resp = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    s = parse(await resp.text())
    assert value(s, "bot_dead_letters") == 0
    assert value(s, "bot_backlog_age_seconds", queue="outbox") == 0


async def test_label_values_come_from_fixed_sets_and_the_flows(
    make_client: AppFactory, fake_cams: CamsServer, catalog: CompiledCatalog
) -> None:
    client = await make_client()
    url = f"/cams/receipts?token={RECEIPT_TOKEN}"
    for i in range(3):
        item = inbound("hi", customer=f"86139000000{60 + i}")
        assert (await client.post(url, json=[item])).status == 200
    await fake_cams.recorder.wait_for(3)
    s = await scrape(client)
    flows = set(catalog.flows) | {"none", "other"}
    states = {st for f in catalog.flows.values() for st in f.states} | {"none", "other"}
    for (name, labels), _ in s.items():
        d = dict(labels)
        if "flow" in d:
            assert d["flow"] in flows, (name, d)
            assert d["state"] in states, (name, d)
        for label_value in d.values():
            assert "86139" not in label_value, (name, d)
