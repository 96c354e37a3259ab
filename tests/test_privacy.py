"""Privacy: a representative workload through the whole app (real Redis, the fake CAMS and
Tencent send APIs, a stand-in business system), with every log line of every logger captured
at DEBUG in JSON and in text, and every /metrics line. No raw customer id anywhere (phone
numbers, accounts, e-mail addresses), no message text at any level, no secret value
anywhere, not even from malformed requests that carry one; each record one line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot import log
from bot.app import create_app
from bot.flows.compiler import compile_catalog
from bot.flows.loader import load_catalog
from bot.local.redis_server import RedisServer
from bot.platforms.tencent.auth import sign
from bot.platforms.tencent.fake import FAKE_TENCENT, FakeTencent, create_fake_tencent
from tests.conftest import make_settings
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    RECEIPT_TOKEN,
    ROOT,
    SIGNATURES,
    CamsServer,
    eventually,
    inbound,
)

API_KEY = "api-key-privacy-5c1d"
METRICS_TOKEN = "scrape-token-77aa"
TENCENT_APP = "1400000042"
TENCENT_KEY = "tencent-app-key-0b9e"
TENCENT_TOKEN = "tencent-callback-token-31f2"
ORDERS_TOKEN = "orders-token-9f8e7d"
BOT_ACCOUNT = "shopbot"

# Customers: CAMS numbers (one written with +), and a Tencent account that is a number too.
ALICE, BOB, CARMEN, DIEGO, ERIN, GINA = (
    "8613911112222", "8613933334444", "8613955556666", "8613977778888", "8613922223333",
    "8613966667777",
)  # fmt: skip
TENCENT_USER = "8613944445555"
NUMBERS = (ALICE, BOB, CARMEN, DIEGO, ERIN, GINA, TENCENT_USER, BUSINESS)
# Customers whose ids are not phone numbers: a Messenger user, a Tencent account. Neither
# they nor a part of them may show.
MESSENGER_USER, TENCENT_ACCOUNT = "frida.kahlo@example.com", "henri.matisse@example.org"
ACCOUNT_PARTS = ("frida", "kahlo", "henri", "matisse", "example.com", "example.org")

# What customers and agents write, and data the business sends: never at INFO or above.
TEXTS = (
    "hello zebra crossing",
    "purple elephant question",
    "tencent hello walrus",
    "agent says bonjour kiwi",
    "Anastasia-Quokka",
    "gibberish pangolin",
)
# What the bot answers (from flows.yaml): message texts too.
REPLY_TEXTS = ("What can I do for you?", "Which order? Send its number", "Your number is verified")


class Records(logging.Handler):
    """Every record as logged, before any formatting: level, message and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.seen.append((record.levelno, text))


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, io.StringIO, Records]]:
    """Logging as `bot serve` sets it up at DEBUG (JSON), plus a text handler and the raw
    records; restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    as_json, as_text, records = io.StringIO(), io.StringIO(), Records()
    log.setup("DEBUG", "json", stream=as_json)
    root.addHandler(log.handler(as_text, "text"))
    root.addHandler(records)
    yield as_json, as_text, records
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
async def business_system(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[str, list[Any]]:
    """A stand-in order API (needs the ORDERS_TOKEN) and agent desk."""
    forwarded: list[Any] = []

    async def order(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {ORDERS_TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"status": "on its way", "eta": "tomorrow"})

    async def agent(request: web.Request) -> web.Response:
        forwarded.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.add_routes([web.get("/orders/{order}", order), web.post("/agent", agent)])
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/"), forwarded


@pytest.fixture
async def tencent(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[FakeTencent, str]:
    server = await aiohttp_server(create_fake_tencent(int(TENCENT_APP), TENCENT_KEY, BOT_ACCOUNT))
    return server.app[FAKE_TENCENT], str(server.make_url("")).rstrip("/")


def tencent_query(token: str = TENCENT_TOKEN, at: int | None = None) -> str:
    when = str(at if at is not None else int(time.time()))
    return urlencode(
        {
            "SdkAppid": TENCENT_APP,
            "CallbackCommand": "C2C.CallbackAfterSendMsg",
            "contenttype": "json",
            "ClientIP": "203.0.113.9",
            "OptPlatform": "Android",
            "RequestTime": when,
            "Sign": sign(token, when),
        }
    )


def tencent_message(text: str, sender: str = TENCENT_USER) -> dict[str, Any]:
    now = int(time.time())
    return {
        "CallbackCommand": "C2C.CallbackAfterSendMsg",
        "From_Account": sender,
        "To_Account": BOT_ACCOUNT,
        "MsgSeq": 7,
        "MsgRandom": 8,
        "MsgTime": now,
        "MsgKey": f"{time.monotonic_ns()}_8_{now}",
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
        "SendMsgResult": 0,
        "EventTime": now * 1000,
    }


async def test_nothing_private_reaches_logs_or_metrics(
    capture: tuple[io.StringIO, io.StringIO, Records],
    fake_cams: CamsServer,
    tencent: tuple[FakeTencent, str],
    business_system: tuple[str, list[Any]],
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: RedisServer,
    redis: Any,
    tmp_path: Path,
) -> None:
    as_json, as_text, records = capture
    fake_tencent, tencent_api = tencent
    standin, forwarded = business_system
    catalog = compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents"))
    settings = make_settings(
        redis_server.url,
        fake_cams.endpoint,
        api_keys=API_KEY,
        metrics_token=METRICS_TOKEN,
        tencent_sdkappid=TENCENT_APP,
        tencent_callback_token=TENCENT_TOKEN,
        tencent_secret_key=TENCENT_KEY,
        tencent_identifier=BOT_ACCOUNT,
        tencent_api=tencent_api,
    )
    secrets = {"ORDERS_API": f"{standin}/orders", "ORDERS_TOKEN": ORDERS_TOKEN,
               "AGENT_DESK": standin}  # fmt: skip
    client = await aiohttp_client(create_app(settings, catalog, secrets=secrets))
    cams = fake_cams.recorder
    receipts = f"/cams/receipts?token={RECEIPT_TOKEN}"
    api = {"Authorization": f"Bearer {API_KEY}"}
    metrics_text: list[str] = []

    async def say(customer: str, text: str, replies: int, *, plus: bool = False) -> None:
        item = inbound(text, customer=("+" if plus else "") + customer)
        assert (await client.post(receipts, json=[item])).status == 200
        await eventually(lambda: len(cams.sent_to(customer)) >= replies)

    # Inbound messages through the menu flow: no match, an option, a collected value, a
    # business-system call with a secret header, the answer.
    await say(ALICE, "hello zebra crossing", 1, plus=True)
    await say(ALICE, "purple elephant question", 2)
    await say(ALICE, "1", 3)
    await say(ALICE, "A-100", 4)
    # A one-time code: sent in a template, typed back.
    await say(BOB, "hi", 1)
    await say(BOB, "2", 2)
    code = json.loads(cams.sent_to(BOB)[-1]["TemplateParams"])["code"]
    await say(BOB, code, 3)
    # A handoff: what the customer writes is forwarded to the agent desk.
    await say(ERIN, "hi", 1)
    await say(ERIN, "3", 2)
    item = inbound("gibberish pangolin", customer=ERIN)
    assert (await client.post(receipts, json=[item])).status == 200
    await eventually(lambda: len(forwarded) >= 1)

    # The business system's intent call, then the customer's answer.
    call = {
        "intentCode": "appointment_reminder",
        "phoneNumber": f"+{CARMEN}",
        "intentData": {"name": "Anastasia-Quokka"},
        "messageId": "biz-1",
    }
    headers = {"Signature": SIGNATURES[1]}
    assert (await client.post("/cams/business", json=call, headers=headers)).status == 200
    assert (await client.post("/cams/business", json=call, headers=headers)).status == 200
    await eventually(lambda: len(cams.sent_to(CARMEN)) >= 1)
    await say(CARMEN, "1", 2)
    # Delivery reports of what was sent, and items that cannot be used.
    sent = cams.sent_to(ALICE)[0]
    status = {"MessageId": sent["MessageId"], "TaskId": sent.get("TaskId", ""), "From": BUSINESS,
              "To": ALICE, "Status": "Delivered", "Timestamp": int(time.time() * 1000)}  # fmt: skip
    bad = {"Type": "TEXT", "Message": "gibberish pangolin", "To": BUSINESS}
    odd = {**inbound("gibberish pangolin", customer=ALICE), "Type": "HOLOGRAM"}
    assert (await client.post(receipts, json=[status, bad, odd])).status == 200

    # A Tencent Chat user, a replayed callback, a wrong Sign.
    at = int(time.time())
    body = tencent_message("tencent hello walrus")
    path = f"/tencent/callback?{tencent_query(at=at)}"
    assert (await client.post(path, json=body)).status == 200
    assert (await client.post(path, json=body)).status == 401
    bad_sign = f"/tencent/callback?{tencent_query(token='nope')}"
    assert (await client.post(bad_sign, json=tencent_message("x"))).status == 401
    await eventually(lambda: len(fake_tencent.sent_to(TENCENT_USER)) >= 1)
    body = tencent_message("tencent hello walrus", sender=TENCENT_ACCOUNT)
    path = f"/tencent/callback?{tencent_query()}"
    assert (await client.post(path, json=body)).status == 200
    await eventually(lambda: len(fake_tencent.sent_to(TENCENT_ACCOUNT)) >= 1)

    # A Messenger user whose id is an e-mail address; an unknown Type that is one too.
    item = inbound("hello zebra crossing", customer=MESSENGER_USER)
    assert (await client.post(f"{receipts}&channel=messenger", json=[item])).status == 200
    await eventually(lambda: len(cams.sent_to(MESSENGER_USER)) >= 1)
    odd = {**inbound("x", customer=MESSENGER_USER), "Type": MESSENGER_USER}
    assert (await client.post(f"{receipts}&channel=messenger", json=[odd])).status == 200

    # The business API: an intent (repeated), a conversation read, an agent's message, and
    # requests that name customers in their paths.
    intent = {"customer": f"+{DIEGO}", "data": {"order": "A-7"}}
    for _ in range(2):
        resp = await client.post(
            "/v1/intents/csat_survey", json=intent, headers={**api, "Idempotency-Key": "ord-7"}
        )
        assert resp.status == 202
    alice_conv = f"cams:whatsapp:{BUSINESS}:{ALICE}"
    assert (await client.get(f"/v1/conversations/{alice_conv}", headers=api)).status == 200
    resp = await client.post(
        f"/v1/conversations/{alice_conv}/messages",
        json={"text": "agent says bonjour kiwi"},
        headers=api,
    )
    assert resp.status == 202
    await eventually(lambda: len(cams.sent_to(ALICE)) >= 5)
    unknown = f"cams:whatsapp:{BUSINESS}:{DIEGO}9"
    assert (await client.get(f"/v1/conversations/{unknown}", headers=api)).status == 404
    assert (await client.get(f"/v1/no/such/{DIEGO}", headers=api)).status == 404

    # Secrets typed where they do not belong: in a path, in a request the parser refuses.
    assert (await client.post(f"/cams/receipts/{RECEIPT_TOKEN}", json=[])).status == 404
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET /cams/receipts?token={RECEIPT_TOKEN}&\x01 HTTP/1.1\r\n\r\n".encode())
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.0 400 ")
    writer.close()
    await writer.wait_closed()

    # Refused credentials of every kind.
    assert (await client.post("/cams/receipts?token=wrong", json=[])).status == 401
    wrong_sig = {"Signature": "not-the-signature"}
    assert (await client.post("/cams/business", json=call, headers=wrong_sig)).status == 401
    wrong_key = {"Authorization": "Bearer not-a-key"}
    resp = await client.post("/v1/intents/csat_survey", json=intent, headers=wrong_key)
    assert resp.status == 401
    assert (await client.get("/metrics", headers=wrong_key)).status == 401

    # A send refused for good, and one that fails every attempt: a dead letter.
    scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}

    def scraped(line: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            resp = await client.get("/metrics", headers=scrape)
            metrics_text.append(await resp.text())
            return line in metrics_text[-1].splitlines()

        return check

    # (Sends to GINA alone: a reply to someone else still on its way keeps its own fate.)
    cams.fail_next(200, "Invalid.To", to=GINA)
    item = inbound("hello zebra crossing", customer=GINA)
    assert (await client.post(receipts, json=[item])).status == 200
    await eventually(
        scraped('bot_sends_total{account="default",platform="cams",result="failed"} 1.0')
    )
    cams.fail_next(503, "ServiceUnavailable", times=3, to=GINA)
    item = inbound("purple elephant question", customer=GINA)
    assert (await client.post(receipts, json=[item])).status == 200
    await eventually(scraped("bot_dead_letters 1.0"), within=10)
    assert cams.sent_to(GINA) == []
    await client.close()  # drains: its lines are checked too

    # -- what was written --------------------------------------------------------------------
    json_lines = as_json.getvalue().splitlines()
    text_lines = as_text.getvalue().splitlines()
    assert len(json_lines) > 50
    starts = [line for line in text_lines if not line.startswith(log.CONTINUATION)]
    assert len(starts) == len(json_lines)
    assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in starts)
    parsed = [json.loads(line) for line in json_lines]
    assert {line["logger"] for line in parsed} >= {"bot.web", "bot.worker", "bot.sender"}
    assert any(line["level"] == "DEBUG" for line in parsed)

    secrets_ = (
        RECEIPT_TOKEN, *SIGNATURES, ACCESS_KEY_ID, ACCESS_KEY_SECRET, API_KEY, METRICS_TOKEN,
        TENCENT_KEY, TENCENT_TOKEN, ORDERS_TOKEN, code,
    )  # fmt: skip
    everything = [
        *(("json", line) for line in json_lines),
        *(("text", line) for line in text_lines),
        *(("record", text) for _, text in records.seen),
        *(("metrics", line) for text in metrics_text for line in text.splitlines()),
    ]
    for where, line in everything:
        for number in NUMBERS:
            assert number not in line, (where, line)
        for part in ACCOUNT_PARTS:
            assert part not in line.lower(), (where, line)
        for secret in secrets_:
            assert secret not in line, (where, line)

    # Texts at no level at all, DEBUG included.
    every_line = [
        *(line["msg"] + line.get("exc", "") for line in parsed),
        *text_lines,
        *(text for _level, text in records.seen),
    ]
    for line in every_line:
        for text in (*TEXTS, *REPLY_TEXTS):
            assert text not in line, line
    for text in metrics_text:
        for t in (*TEXTS, *REPLY_TEXTS):
            assert t not in text
    # Masked numbers do show, so lines can still be told apart.
    assert any("861*********2" in line for line in json_lines)
