"""CAMS callbacks end to end: real app factory, real Redis, the fake CAMS send API."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.engine import Engine
from bot.flows.loader import load_catalog
from bot.model import Conversation, Inbound
from bot.store import partition_of
from tests.support import (
    BUSINESS,
    RECEIPT_TOKEN,
    SIGNATURES,
    CamsServer,
    eventually,
    inbound,
    load_data,
)

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"


def conv_key(customer: str, partitions: int = 4) -> str:
    conv_id = f"cams:whatsapp:{BUSINESS}:{customer}"
    p = partition_of(conv_id, partitions)
    return f"bot:{{bot:p{p}}}:c:{conv_id}"


async def conversation(redis: Redis, customer: str) -> dict[str, str]:
    raw = await redis.hgetall(conv_key(customer))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def stored_events(redis: Redis) -> int:
    """How many events were ever accepted: seen markers plus conversations."""
    seen = [k async for k in redis.scan_iter(match="*:seen:*")]
    convs = [k async for k in redis.scan_iter(match="*:c:*")]
    return len(seen) + len(convs)


def content_text(message: dict[str, str]) -> str:
    content = json.loads(message["Content"])
    if "text" in content:
        return str(content["text"])
    return str(content["body"]["text"])


async def test_appointment_conversation_end_to_end(
    client: Any, fake_cams: CamsServer, redis: Redis
) -> None:
    """The business starts the reminder (a template), the customer reschedules in two replies."""
    fake = fake_cams.recorder
    customer = "8613900000001"
    resp = await client.post(
        "/cams/business",
        json={"intentCode": "appointment_reminder", "phoneNumber": f"+{customer}",
              "intentData": {"name": "Ana", "date": "Friday 9:30"}, "messageId": "trigger-1"},
        headers={"Signature": SIGNATURES[0]},
    )  # fmt: skip
    assert resp.status == 200
    assert await resp.json() == {"code": 0, "msg": "success", "success": True}
    [first] = await fake.wait_for(1)
    assert first["Type"] == "template"
    assert first["TemplateCode"] == "appointment_reminder"
    assert json.loads(first["TemplateParams"]) == {
        "name": "Ana", "clinic": "City Clinic", "date": "Friday 9:30"
    }  # fmt: skip
    assert json.loads(first["Payload"]) == ["CONFIRM", "RESCHEDULE"]
    assert first["To"] == customer
    assert first["From"] == BUSINESS
    assert first["ChannelType"] == "whatsapp"

    resp = await client.post(RECEIPTS, json=[inbound("2", customer=customer)])
    assert resp.status == 200
    assert await resp.json() == {"code": 0, "msg": "success"}
    second = (await fake.wait_for(2))[1]
    assert second["Type"] == "message"
    assert second["MessageType"] == "text"
    assert content_text(second).startswith("Which day suits you better?")

    await client.post(RECEIPTS, json=[inbound("next tuesday", customer=customer)])
    third = (await fake.wait_for(3))[2]
    assert "we will call you to fix the time" in content_text(third)

    conv = await conversation(redis, customer)
    assert conv["f"] == "appointment"
    assert conv["s"] == "rescheduled"
    assert conv["v"] == "3"
    assert json.loads(conv["d"])["name"] == "Ana"
    assert json.loads(conv["d"])["new_day"] in content_text(third)
    assert int(conv["li"]) > 0
    ttl = await redis.ttl(conv_key(customer))
    assert 0 < ttl <= 7 * 24 * 3600
    task_ids = [m["TaskId"] for m in fake.messages]
    assert len(set(task_ids)) == 3
    assert [t.split(".")[1:] for t in task_ids] == [["1", "0"], ["2", "0"], ["3", "0"]]


async def test_button_tap_chooses_by_payload(client: Any, fake_cams: CamsServer) -> None:
    """A REPLY item's payload chooses the option, whatever its text says."""
    fake = fake_cams.recorder
    customer = "8613900000002"
    await client.post(
        "/cams/business",
        json={"intentCode": "appointment_reminder", "phone": customer},
        headers={"Signature": SIGNATURES[0]},
    )
    await fake.wait_for(1)
    await client.post(RECEIPTS, json=[inbound("Something", customer=customer, payload="CONFIRM")])
    messages = await fake.wait_for(2)
    assert "is confirmed" in content_text(messages[1])


async def test_batch_with_good_and_bad_items(
    client: Any, fake_cams: CamsServer, redis: Redis
) -> None:
    """One bad item never fails the batch: good messages run, statuses are recorded."""
    resp = await client.post(RECEIPTS, json=load_data("cams_mixed_batch.json"))
    assert resp.status == 200
    messages = await fake_cams.recorder.wait_for(3)
    await asyncio.sleep(0.2)
    assert sorted(m["To"] for m in messages) == ["8613900000011", "8613900000012", "8613900000014"]
    assert (await conversation(redis, "8613900000013")) == {}
    conv = await conversation(redis, "8613900000011")
    assert conv["sp"] == "cams-83m8j9xxxxadc"
    spaces = {m["To"]: m.get("CustSpaceId") for m in messages}
    assert spaces["8613900000011"] == "cams-83m8j9xxxxadc"
    conv_id = f"cams:whatsapp:{BUSINESS}:8613900000011"
    status_key = f"bot:{{bot:p{partition_of(conv_id, 4)}}}:m:task-1"
    status = await redis.hgetall(status_key)
    assert status[b"status"] == b"Delivered"
    assert status[b"mid"] == b"sent-1"


async def test_doc_sample_with_loose_json_is_accepted(client: Any, fake_cams: CamsServer) -> None:
    """The published sample (trailing comma, a key with a trailing space) is understood."""
    resp = await client.post(RECEIPTS, data=(
        __import__("pathlib").Path(__file__).parent / "data" / "cams_doc_sample.json"
    ).read_bytes(), headers={"Content-Type": "application/json"})  # fmt: skip
    assert resp.status == 200
    [reply] = await fake_cams.recorder.wait_for(1)
    assert reply["To"] == "8613900000009"


async def test_repeated_push_is_a_no_op(client: Any, fake_cams: CamsServer, redis: Redis) -> None:
    """A MessageId pushed again, in later or concurrent pushes, advances and replies once."""
    item = inbound("hi", customer="8613900000003", message_id="dup-1")
    for resp in await asyncio.gather(*(client.post(RECEIPTS, json=[item]) for _ in range(5))):
        assert resp.status == 200
    resp = await client.post(RECEIPTS, json=[item, item])
    assert resp.status == 200
    await fake_cams.recorder.wait_for(1)
    await asyncio.sleep(0.5)
    assert len(fake_cams.recorder.messages) == 1
    assert (await conversation(redis, "8613900000003"))["v"] == "1"


def _replay(
    catalog: CompiledCatalog, texts: list[str], replies: list[str], start: Conversation
) -> bool:
    """Is there an order of `texts` whose sequential steps give exactly `replies`?"""
    engine = Engine(catalog)

    def search(conv: Conversation, left: list[str], i: int) -> bool:
        if i == len(replies):
            return not left
        for j, text in enumerate(left):
            result = engine.step(conv, Inbound(f"r{i}", 0, "text", text), 0)
            [reply] = result.replies
            if reply.text == replies[i] and search(
                result.conversation, left[:j] + left[j + 1 :], i + 1
            ):
                return True
        return False

    return search(start, texts, 0)


# Every answer in this flow gets exactly one reply, so the replies tell the order of steps.
MENU = """\
defaults: {inbound_flow: remind}
flows:
  remind:
    start: remind
    states:
      remind:
        say: "Reply 1 to confirm, 2 to reschedule."
        options:
          - {label: Confirm, go: confirmed}
          - {label: Reschedule, go: ask_day}
        reprompt: "Please reply 1 or 2."
      ask_day:
        say: "Which day? 1. Monday 2. Tuesday 3. Wednesday"
        options:
          - {label: Monday, go: rescheduled}
          - {label: Tuesday, keywords: [tue], go: rescheduled}
          - {label: Wednesday, go: rescheduled}
      confirmed: {say: "Confirmed."}
      rescheduled: {say: "Rescheduled."}
"""


async def test_concurrent_replies_from_one_customer(
    make_client: Any, fake_cams: CamsServer, redis: Redis, tmp_path: Path
) -> None:
    """20 concurrent replies (each also pushed twice): one step each, applied one at a time."""
    (tmp_path / "flows.yaml").write_text(MENU)
    (tmp_path / "intents").mkdir()
    catalog = compile_catalog(load_catalog(tmp_path / "flows.yaml", tmp_path / "intents"))
    client = await make_client(catalog_=catalog)
    fake = fake_cams.recorder
    customer = "8613900000004"
    await client.post(RECEIPTS, json=[inbound("hi", customer=customer)])
    await fake.wait_for(1)
    rng = random.Random(7)
    texts = [rng.choice(["1", "2", "3", "tue", "what?"]) for _ in range(20)]
    items = [inbound(t, customer=customer, message_id=f"c-{i}") for i, t in enumerate(texts)]
    posts = [client.post(RECEIPTS, json=[item]) for item in items + items]
    rng.shuffle(posts)
    for resp in await asyncio.gather(*posts):
        assert resp.status == 200
    messages = await fake.wait_for(21, timeout=10)
    await asyncio.sleep(0.3)
    assert len(fake.messages) == 21
    conv = await conversation(redis, customer)
    assert conv["v"] == "21"
    by_version = sorted(messages[1:], key=lambda m: int(m["TaskId"].split(".")[1]))
    assert [int(m["TaskId"].split(".")[1]) for m in by_version] == list(range(2, 22))
    engine = Engine(catalog)
    start = engine.step(Conversation(), Inbound("s", 0, "text", "hi"), 0).conversation
    assert _replay(catalog, texts, [content_text(m) for m in by_version], start)


async def test_missing_or_wrong_token_is_refused(client: Any, redis: Redis) -> None:
    """401 without the right token, and nothing is stored."""
    item = [inbound("hi")]
    for url in ("/cams/receipts", "/cams/receipts?token=", "/cams/receipts?token=nope"):
        resp = await client.post(url, json=item)
        assert resp.status == 401
        assert (await resp.json())["code"] == 401
    assert await stored_events(redis) == 0


async def test_malformed_bodies_are_refused(client: Any, redis: Redis) -> None:
    """Bodies that are not a JSON array of items get 400 with a reason; nothing is stored."""
    for body in (b"", b"{not json", b"42", b'"text"', b"\xff\xfe[]", b"null"):
        resp = await client.post(RECEIPTS, data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 400, body
        assert (await resp.json())["msg"]
    assert await stored_events(redis) == 0


async def test_business_call_shapes_and_signatures(
    client: Any, fake_cams: CamsServer, redis: Redis
) -> None:
    """The intent call is understood as JSON, form or query, with the signature anywhere."""
    fake = fake_cams.recorder
    calls: list[dict[str, Any]] = [
        {"json": {"intentCode": "csat_survey", "phone": "8613900000021", "intentData":
                  json.dumps({"order": "A-1"})}, "headers": {"X-Signature": SIGNATURES[1]}},
        {"data": {"code": "csat_survey", "to": "+8613900000022", "signature": SIGNATURES[0]}},
        {"json": {"intent": {"code": "csat_survey", "data": {"order": "B-2"}},
                  "customer": {"phone": "8613900000023"}},
         "params": {"sign": SIGNATURES[0]}},
        {"json": {"IntentCode": "csat_survey", "PhoneNumber": "8613900000024"},
         "headers": {"Authorization": f"Bearer {SIGNATURES[1]}"}},
    ]  # fmt: skip
    for call in calls:
        resp = await client.post("/cams/business", **call)
        assert resp.status == 200, await resp.text()
    messages = await fake.wait_for(4)
    assert sorted(m["To"] for m in messages) == [f"861390000002{i}" for i in range(1, 5)]
    orders = {m["To"]: json.loads(m["TemplateParams"]).get("order") for m in messages}
    assert orders["8613900000021"] == "A-1"


async def test_business_call_refusals(client: Any, redis: Redis) -> None:
    """Wrong or missing signature: 401; unknown intent or shape: 400 naming the problem."""
    body = {"intentCode": "csat_survey", "phone": "8613900000031"}
    resp = await client.post("/cams/business", json=body)
    assert resp.status == 401
    resp = await client.post("/cams/business", json=body, headers={"Signature": "wrong"})
    assert resp.status == 401
    resp = await client.post(
        "/cams/business", json={**body, "intentCode": "nope"}, headers={"Signature": SIGNATURES[0]}
    )
    assert resp.status == 400
    assert "unknown intent code 'nope'" in (await resp.json())["msg"]
    resp = await client.post(
        "/cams/business", json={"hello": "x"}, headers={"Signature": SIGNATURES[0]}
    )
    assert resp.status == 400
    assert "no intent code" in (await resp.json())["msg"]
    resp = await client.post(
        "/cams/business", json={"intentCode": "csat_survey"}, headers={"Signature": SIGNATURES[0]}
    )
    assert resp.status == 400
    assert "no customer" in (await resp.json())["msg"]
    assert await stored_events(redis) == 0


async def test_repeated_business_call_starts_once(client: Any, fake_cams: CamsServer) -> None:
    """A retried intent call with the same id messages the customer once."""
    body = {"intentCode": "csat_survey", "phone": "8613900000041", "requestId": "r-1"}
    for _ in range(3):
        resp = await client.post("/cams/business", json=body, headers={"Signature": SIGNATURES[0]})
        assert resp.status == 200
    await fake_cams.recorder.wait_for(1)
    await asyncio.sleep(0.4)
    assert len(fake_cams.recorder.messages) == 1


async def test_health_and_readiness(client: Any) -> None:
    """/healthz says the process is up; /readyz that Redis answers and flows are loaded."""
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready", "flows": 4}


async def test_redis_unreachable_gives_503(make_client: Any) -> None:
    """With Redis away a push is answered 503 (CAMS pushes again), never 200 or 500."""
    from bot.local.redis_server import free_port

    client = await make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    resp = await client.post(RECEIPTS, json=[inbound("hi")])
    assert resp.status == 503
    assert (await resp.json())["code"] == 503
    resp = await client.get("/readyz")
    assert resp.status == 503


async def test_eventually_helper_times_out() -> None:
    """The polling helper fails instead of hanging."""
    try:
        await eventually(lambda: False, within=0.05)
    except AssertionError:
        return
    raise AssertionError("eventually() did not time out")


async def test_push_after_redis_lost_its_scripts(
    client: Any, fake_cams: CamsServer, redis: Redis
) -> None:
    """After Redis forgets the scripts (a restart, SCRIPT FLUSH), pushes still work."""
    await redis.script_flush()
    resp = await client.post(RECEIPTS, json=[inbound("hi", customer="8613900000051")])
    assert resp.status == 200
    await fake_cams.recorder.wait_for(1)
    await redis.script_flush()
    await client.post(RECEIPTS, json=[inbound("1", customer="8613900000051")])
    messages = await fake_cams.recorder.wait_for(2)
    assert "Which order?" in content_text(messages[1])
