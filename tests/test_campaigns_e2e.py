"""A campaign through the real app, a real redis-server and the fake CAMS: its recipients
get their first message at the campaign's rate, each once, with their own data; a customer
who opted out or is in a flow is skipped; pausing stops it within a second and resuming
goes on; cancelling counts the rest cancelled."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.campaign import CampaignSpec, Category, MidFlow, Status
from bot.store import Store, campaign_to_json, recipient_to_json
from bot.web.keys import STORE
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, CamsServer, eventually, inbound
from tests.test_metrics import scrape, value

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"


def customer(n: int) -> str:
    return f"86139{n:08d}"


async def campaign_of(
    client: TestClient[Any, Any], n: int, *, rate: float, mid_flow: MidFlow = MidFlow.SKIP,
    category: Category = Category.MARKETING, first: int = 0,
) -> tuple[Store, str]:  # fmt: skip
    """A running campaign of the appointment reminder to customers first..first+n-1, each
    with the clinic of its own number as data."""
    store: Store = client.app[STORE]
    spec = CampaignSpec(intent="appointment_reminder", business=BUSINESS, rate=rate,
                        mid_flow=mid_flow, category=category)  # fmt: skip
    now = int(time.time() * 1000)
    campaign = await store.new_campaign(
        uuid.uuid4().hex[:16], campaign_to_json(spec), created_ms=now, total=n
    )
    rows = [
        (f"cams:whatsapp:{BUSINESS}:{customer(i)}", recipient_to_json({"clinic": f"C{i}"}, ""),
         now)
        for i in range(first, first + n)
    ]  # fmt: skip
    await store.add_recipients(campaign, rows)
    await store.move_campaign(campaign, Status.RUNNING)
    return store, campaign


async def counted(store: Store, campaign: str, name: str, n: int) -> bool:
    record = await store.campaign(campaign)
    return record is not None and record.counts.get(name) == n


async def test_every_recipient_gets_one_first_message_at_the_rate(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """24 recipients at 8/s: each gets the reminder once, with its own data, the starts
    spread over at least two seconds; the counts say 24 started, and so does /metrics.
    (The rate paces the starts; BOT_SEND_RATE_LIMIT bounds the sends in any second.)"""
    client = await make_client()
    store, campaign = await campaign_of(client, 24, rate=8)
    await fake_cams.recorder.wait_for(24, timeout=15)
    messages = fake_cams.recorder.messages
    assert sorted(m["To"] for m in messages) == sorted(customer(i) for i in range(24))
    for i in range(24):
        [sent] = fake_cams.recorder.sent_to(customer(i))
        assert f"C{i}" in str(sent)  # a template outside the 24-hour window
    arrivals = sorted(fake_cams.recorder.arrivals)
    assert arrivals[-1] - arrivals[0] > 1.8  # 8 at once, then 8 a second
    await eventually(lambda: counted(store, campaign, "sent", 24))
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 24, "sent": 24}

    async def done() -> bool:
        found = await store.campaign(campaign)
        return found is not None and found.status is Status.DONE

    await eventually(done)  # said by partition 0's pump
    samples = await scrape(client)
    for status, n in (("started", 24), ("pending", 0)):
        assert value(samples, "bot_campaign_recipients", campaign=campaign, status=status) == n


async def test_opted_out_and_busy_customers_are_skipped(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """A customer who wrote STOP, and one in the middle of a flow, are skipped with their
    reasons; the rest get the reminder."""
    client = await make_client()
    for text, who in (("STOP", customer(0)), ("hi", customer(1))):
        assert (await client.post(RECEIPTS, json=[inbound(text, customer=who)])).status == 200
    await fake_cams.recorder.wait_for(2)
    before = len(fake_cams.recorder.messages)
    store, campaign = await campaign_of(client, 4, rate=50)

    async def done() -> bool:
        record = await store.campaign(campaign)
        return record is not None and record.counts.get("pending") == 0

    await eventually(done)
    await fake_cams.recorder.wait_for(before + 2)
    await eventually(lambda: counted(store, campaign, "sent", 2))
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 2, "skipped:opted_out": 1,
                             "skipped:mid_flow": 1, "sent": 2}  # fmt: skip
    assert not any("C0" in str(m) or "C1" in str(m) for m in fake_cams.recorder.messages)


async def test_pause_stops_within_a_second_and_resume_goes_on(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """Paused mid-way, no further recipient starts (after at most a second); resumed, the
    rest do; cancelled later, nothing is left pending."""
    client = await make_client()
    store, campaign = await campaign_of(client, 30, rate=5)
    await fake_cams.recorder.wait_for(5)
    await store.move_campaign(campaign, Status.PAUSED)
    paused_at = time.monotonic()
    await asyncio.sleep(2.0)
    late = [t for t in fake_cams.recorder.arrivals if t > paused_at + 1.2]
    assert late == []
    held = len(fake_cams.recorder.messages)
    assert held < 30
    await store.move_campaign(campaign, Status.RUNNING)
    await fake_cams.recorder.wait_for(held + 2, timeout=5)
    await store.move_campaign(campaign, Status.CANCELLED)
    cancelled = await store.cancel_queued(campaign)
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts["pending"] == 0
    assert record.counts["started"] + record.counts.get("cancelled", 0) == 30
    assert record.counts.get("cancelled", 0) == cancelled


@pytest.mark.alone  # a latency: measured by itself (conftest)
async def test_a_reply_never_waits_behind_a_campaign(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """With 100 first messages queued behind an account limit of 20/s (campaigns may use
    15 of them), a customer who writes gets the answer within a second, long before the
    campaign is through; no second sees more than the limit."""
    client = await make_client(send_rate_limit=20, campaign_reserve=0.25)
    store, campaign = await campaign_of(client, 100, rate=100)
    await fake_cams.recorder.wait_for(20, timeout=10)  # the campaign is sending
    writer = customer(500)
    asked = time.monotonic()
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=writer)])).status == 200
    await eventually(lambda: bool(fake_cams.recorder.sent_to(writer)), within=5, step=0.005)
    [reply] = fake_cams.recorder.sent_to(writer)
    waited = fake_cams.recorder.arrivals[fake_cams.recorder.messages.index(reply)] - asked
    campaign_sent = sum(1 for m in fake_cams.recorder.messages if m["To"] != writer)
    print(f"\n[reply behind a campaign] waited {waited:.3f} s")
    assert waited < 1.0, waited
    assert campaign_sent < 100  # the reply did not wait for the campaign to finish
    await fake_cams.recorder.wait_for(101, timeout=15)
    arrivals = sorted(fake_cams.recorder.arrivals)
    most = max(sum(1 for u in arrivals[i:] if u - t < 1.0) for i, t in enumerate(arrivals))
    assert most <= 22  # 20/s, and the bunching of requests granted within one second
    await eventually(lambda: counted(store, campaign, "sent", 100))
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 100, "sent": 100}


async def test_a_recipients_messages_go_out_in_order_across_the_outboxes(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """A recipient who writes while their campaign message still waits in the campaigns'
    outbox gets that message first, then the answer: a conversation's replies queue behind
    its own unsent campaign message."""
    client = await make_client(send_rate_limit=20, campaign_reserve=0.25)
    store, campaign = await campaign_of(client, 100, rate=100)
    await eventually(lambda: counted(store, campaign, "started", 100), within=5)
    who = customer(90)
    assert not fake_cams.recorder.sent_to(who)  # its reminder waits behind the limit
    assert (await client.post(RECEIPTS, json=[inbound("hi", customer=who)])).status == 200
    await fake_cams.recorder.wait_for(101, timeout=20)
    await eventually(lambda: len(fake_cams.recorder.sent_to(who)) == 2)
    first, second = fake_cams.recorder.sent_to(who)
    # TaskIds are PREFIX.VERSION.INDEX: the campaign's step (version 1), then the answer's.
    assert [m["TaskId"].split(".")[1] for m in (first, second)] == ["1", "2"]
    assert "TemplateCode" in first  # the reminder, outside the 24-hour window
    await eventually(lambda: counted(store, campaign, "sent", 100))


def status_item(message: dict[str, str], status: str, **more: str) -> dict[str, Any]:
    """A delivery status CAMS pushes for a message it was sent."""
    return {"MessageId": f"wamid-{message['TaskId']}", "TaskId": message["TaskId"],
            "From": BUSINESS, "To": message["To"], "Status": status,
            "Timestamp": int(time.time() * 1000), **more}  # fmt: skip


async def test_a_campaigns_later_outcomes_count_in_it(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """A marketing campaign skips the customer who wrote STOP MARKETING; of its first
    messages, the delivery statuses count (delivered, Read without Delivered included,
    read, failed by code), and so do what the recipients write afterwards: the first
    message of each (replied), a STOP (opted_out), a STOP MARKETING (opted_out_marketing);
    each once, however often they write or a status repeats. A utility campaign then
    reaches the customer who opted out of marketing alone."""
    client = await make_client(campaign_min_gap=0)
    no_marketing = customer(3)
    push = [inbound("STOP MARKETING", customer=no_marketing)]
    assert (await client.post(RECEIPTS, json=push)).status == 200
    [ack] = await fake_cams.recorder.wait_for(1)
    assert "offers and promotions" in str(ack)
    store, campaign = await campaign_of(client, 4, rate=50)
    await fake_cams.recorder.wait_for(4)
    await eventually(lambda: counted(store, campaign, "sent", 3))
    a, b, c = (fake_cams.recorder.sent_to(customer(i))[0] for i in range(3))
    statuses = [
        status_item(a, "Delivered"), status_item(a, "Read"), status_item(a, "Delivered"),
        status_item(b, "Read"), status_item(b, "Read"),
        status_item(c, "Failed", ErrorCode="131049", ErrorDescription="ecosystem"),
    ]  # fmt: skip
    assert (await client.post(RECEIPTS, json=statuses)).status == 200
    writes = [("hello", 0), ("more", 0), ("STOP", 1), ("STOP MARKETING", 2), ("again", 1)]
    for text, who in writes:
        push = [inbound(text, customer=customer(who))]
        assert (await client.post(RECEIPTS, json=push)).status == 200
    expected = {
        "pending": 0, "started": 3, "skipped:opted_out_marketing": 1, "sent": 3,
        "delivered": 2, "read": 2, "failed:131049": 1,
        "replied": 3, "opted_out": 1, "opted_out_marketing": 1,
    }  # fmt: skip

    async def all_counted() -> bool:
        record = await store.campaign(campaign)
        return record is not None and record.counts == expected

    await eventually(all_counted, within=10)
    conv = await store.load(f"cams:whatsapp:{BUSINESS}:{customer(2)}")
    assert conv.marketing_opted_out
    assert not conv.opted_out

    before = len(fake_cams.recorder.sent_to(no_marketing))
    store, utility = await campaign_of(
        client, 1, rate=50, category=Category.UTILITY, first=3
    )  # fmt: skip
    await eventually(lambda: counted(store, utility, "sent", 1))
    assert len(fake_cams.recorder.sent_to(no_marketing)) == before + 1
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == expected  # nothing counted in the first campaign since


async def test_a_recipient_queued_behind_its_flow_counts_once_started(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """Recipients in a flow, with the campaign's mid-flow policy `queue`, start the
    campaign's flow when theirs ends: that step's answer goes first, the campaign's message
    after it, counted `sent` (that one alone), and the customer's next message `replied`.
    One who wrote STOP MARKETING meanwhile gets nothing of a marketing campaign."""
    client = await make_client(api_keys="queue-key", campaign_min_gap=0)
    busy, dropped = customer(0), customer(1)
    for who in (busy, dropped):  # the appointment flow: waits for 1 or 2
        resp = await client.post(
            "/v1/intents/appointment_reminder", json={"customer": f"+{who}"},
            headers={"Authorization": "Bearer queue-key"},
        )  # fmt: skip
        assert resp.status == 202, await resp.text()
    await fake_cams.recorder.wait_for(2)
    store, campaign = await campaign_of(client, 2, rate=50, mid_flow=MidFlow.QUEUE)
    await eventually(lambda: counted(store, campaign, "started", 2))
    push = [inbound("STOP MARKETING", customer=dropped)]
    assert (await client.post(RECEIPTS, json=push)).status == 200
    await eventually(lambda: len(fake_cams.recorder.sent_to(dropped)) == 2)
    for who in (busy, dropped):
        assert (await client.post(RECEIPTS, json=[inbound("1", customer=who)])).status == 200
    await eventually(lambda: len(fake_cams.recorder.sent_to(busy)) == 3)
    await eventually(lambda: len(fake_cams.recorder.sent_to(dropped)) == 3)
    _, confirmed, reminder = fake_cams.recorder.sent_to(busy)
    assert "confirmed" in str(confirmed)
    assert "C0" in str(reminder)  # the campaign's reminder, with the recipient's data
    assert "confirmed" in str(fake_cams.recorder.sent_to(dropped)[2])
    await eventually(lambda: counted(store, campaign, "sent", 1))
    assert (await client.post(RECEIPTS, json=[inbound("1", customer=busy)])).status == 200
    await eventually(lambda: counted(store, campaign, "replied", 1))
    await asyncio.sleep(0.3)  # nothing else comes
    assert len(fake_cams.recorder.sent_to(dropped)) == 3
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts == {"pending": 0, "started": 2, "sent": 1, "replied": 1}


async def test_an_offer_still_waiting_to_go_is_dropped_by_stop_marketing(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """A recipient who writes STOP MARKETING while their marketing campaign's first
    message still waits in the campaigns' outbox never gets it: only the confirmation."""
    client = await make_client(send_rate_limit=20, campaign_reserve=0.25)
    store, campaign = await campaign_of(client, 100, rate=100)
    await eventually(lambda: counted(store, campaign, "started", 100), within=5)
    who = customer(95)
    assert not fake_cams.recorder.sent_to(who)  # its offer waits behind the limit
    push = [inbound("STOP MARKETING", customer=who)]
    assert (await client.post(RECEIPTS, json=push)).status == 200
    await eventually(lambda: counted(store, campaign, "sent", 99), within=20)
    await eventually(lambda: len(fake_cams.recorder.sent_to(who)) == 1)
    [only] = fake_cams.recorder.sent_to(who)
    assert "offers and promotions" in str(only)
    record = await store.campaign(campaign)
    assert record is not None
    assert record.counts.get("sent") == 99
    assert record.counts.get("opted_out_marketing") == 1
