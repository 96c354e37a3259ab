"""The Tencent Cloud Chat send client: body mapping, response classification, and the
client against the fake sendmsg API (UserSig renewal, throttling, faults, timeouts)."""

from __future__ import annotations

import itertools
import json
import random
import socket
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from bot.errors import PermanentSendError, RateLimitedError, RetryableSendError
from bot.model import (
    Address,
    Button,
    ConversationRef,
    Link,
    Media,
    Outgoing,
    Reply,
    SendReceipt,
    Template,
)
from bot.platforms.base import Sender, account_id
from bot.platforms.tencent.client import (
    TencentClient,
    build_body,
    build_elements,
    classify_tencent,
    msg_random,
    render_template,
)
from bot.platforms.tencent.fake import FAKE_TENCENT, FakeTencent, create_fake_tencent
from bot.platforms.tencent.usersig import gen_usersig, verify_usersig

APP = 1400000001
KEY = "test-secret-key-0123456789abcdef"
ADMIN = "administrator"
BOT = "support_bot"
CUSTOMER = "user_42"
NOW = 1700000000


def _out(reply: Reply, *, task_id: str = "task-1", customer: str = CUSTOMER) -> Outgoing:
    conv = ConversationRef("tencent", "im", BOT, customer)
    return Outgoing(to=Address(conv), reply=reply, task_id=task_id)


def _buttons() -> tuple[Button, ...]:
    return (Button("Yes", "confirm"), Button("No, thanks", "decline"))


def _fixed_random() -> int:
    return 7


# --- pure mapping ---------------------------------------------------------------------------


def test_build_body_text_message() -> None:
    """A text reply is one TIMTextElem from the bot's account, unsynced, tagged with the task."""
    body = build_body(_out(Reply(text="Olá “mundo” 🎉")), random_u32=_fixed_random)
    assert body == {
        "SyncOtherMachine": 2,
        "From_Account": BOT,
        "To_Account": CUSTOMER,
        "MsgRandom": zlib.crc32(b"task-1"),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "Olá “mundo” 🎉"}}],
        "CloudCustomData": '{"task":"task-1"}',
    }


def test_build_elements_buttons_follow_the_text_as_one_custom_element() -> None:
    """Buttons become one TIMCustomElem after the text: Data JSON, Desc the titles."""
    elements = build_elements(Reply(text="Confirm?", buttons=_buttons()))
    assert elements[0] == {"MsgType": "TIMTextElem", "MsgContent": {"Text": "Confirm?"}}
    custom = elements[1]
    assert custom["MsgType"] == "TIMCustomElem"
    assert json.loads(custom["MsgContent"]["Data"]) == {
        "type": "buttons",
        "buttons": [
            {"title": "Yes", "payload": "confirm"},
            {"title": "No, thanks", "payload": "decline"},
        ],
    }
    assert custom["MsgContent"]["Desc"] == "Yes / No, thanks"
    assert len(elements) == 2


def test_template_reply_sends_its_text_when_set() -> None:
    """A template reply with text sends the text: Tencent has no 24-hour window."""
    reply = Reply(text="Your order shipped", template=Template("ORDER_SHIPPED", "en", {"n": "7"}))
    assert build_elements(reply) == [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "Your order shipped"}}
    ]


def test_template_reply_without_text_is_rendered() -> None:
    """Without text, the template is rendered as `CODE: k=v, ...`, its buttons kept."""
    template = Template("ORDER_SHIPPED", "en", {"order": "A-17", "eta": "Friday"})
    elements = build_elements(Reply(template=template, buttons=_buttons()))
    assert elements[0]["MsgContent"] == {"Text": "ORDER_SHIPPED: order=A-17, eta=Friday"}
    assert elements[1]["MsgType"] == "TIMCustomElem"
    assert render_template(Template("HELLO", "en")) == "HELLO"


def test_a_templates_media_header_goes_before_its_text() -> None:
    """A template's image header goes as a TIMImageElem before the template's text in one
    message; a document header as a TIMFileElem named as the reply names it."""
    image = Media("image", "https://cdn.example.com/p/A-1.jpg")
    template = Template("PARCEL", "en", {"order": "A-1"}, image, "photo")
    first, text = build_elements(Reply(template=template))
    assert first["MsgType"] == "TIMImageElem"
    assert first["MsgContent"]["ImageInfoArray"][0]["URL"] == image.url
    assert text == {"MsgType": "TIMTextElem", "MsgContent": {"Text": "PARCEL: order=A-1"}}
    file = Media("document", "https://cdn.example.com/i/bill.pdf", "bill.pdf")
    [header, _] = build_elements(Reply(template=Template("BILL", "en", header=file)))
    assert (header["MsgType"], header["MsgContent"]["FileName"]) == ("TIMFileElem", "bill.pdf")


def test_a_link_goes_as_its_label_and_url_after_the_text() -> None:
    """Tencent Chat has no link buttons: the label and the URL follow the text, as text."""
    reply = Reply(text="On its way.", link=Link("Track parcel", "https://t.example.com/p/1"))
    assert build_elements(reply) == [{"MsgType": "TIMTextElem", "MsgContent": {
        "Text": "On its way.\nTrack parcel: https://t.example.com/p/1"}}]  # fmt: skip


def test_empty_reply_is_permanent_without_a_request() -> None:
    """A reply with nothing to say cannot be sent, ever."""
    with pytest.raises(PermanentSendError) as e:
        build_body(_out(Reply()), random_u32=_fixed_random)
    assert e.value.code == "EmptyMessage"


def test_msg_random_is_a_deterministic_uint32_per_task() -> None:
    """Same task id, same MsgRandom; different ids differ; no task id falls back to random."""
    assert msg_random("conv:3:0") == msg_random("conv:3:0") == zlib.crc32(b"conv:3:0")
    assert msg_random("conv:3:0") != msg_random("conv:3:1")
    assert all(0 <= msg_random(f"t{i}") <= 0xFFFFFFFF for i in range(100))
    body = build_body(_out(Reply(text="x"), task_id=""), random_u32=_fixed_random)
    assert body["MsgRandom"] == 7


# --- classify_tencent -------------------------------------------------------------------------


def _body(code: int, info: str = "err") -> bytes:
    return json.dumps({"ActionStatus": "FAIL", "ErrorInfo": info, "ErrorCode": code}).encode()


def test_classify_success_returns_the_msg_key() -> None:
    """ActionStatus OK with ErrorCode 0 is a receipt carrying MsgKey (or MsgId)."""
    ok = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0, "MsgTime": NOW}
    assert classify_tencent(200, json.dumps({**ok, "MsgKey": "1_2_3"}).encode()) == SendReceipt(
        "1_2_3"
    )
    assert classify_tencent(200, json.dumps({**ok, "MsgId": "m-9"}).encode()).message_id == "m-9"


@pytest.mark.parametrize(("code", "wait"), [(60007, 1.0), (60011, 1.0), (60018, 1.0), (70050, 60)])
def test_classify_frequency_codes_are_rate_limited(code: int, wait: float) -> None:
    """Tencent's frequency-limit codes raise RateLimitedError with a retry-after."""
    with pytest.raises(RateLimitedError) as e:
        classify_tencent(200, _body(code))
    assert (e.value.code, e.value.retry_after, e.value.status) == (str(code), wait, 200)


def test_classify_http_429_is_rate_limited() -> None:
    """A gateway 429 without a Tencent body is rate limited too."""
    with pytest.raises(RateLimitedError) as e:
        classify_tencent(429, b"Too Many Requests")
    assert e.value.code == "HTTP429"


@pytest.mark.parametrize("code", [20004, 20005, 60008, 70169, 90992, 90994, 90995, 91000])
def test_classify_internal_errors_are_retryable(code: int) -> None:
    """Network and internal-error codes raise RetryableSendError (not rate limited)."""
    with pytest.raises(RetryableSendError) as e:
        classify_tencent(200, _body(code, "internal error"))
    assert not isinstance(e.value, RateLimitedError)
    assert (e.value.code, e.value.message) == (str(code), "internal error")


@pytest.mark.parametrize(("status", "body"), [(502, b"<html>bad gateway</html>"), (503, b"")])
def test_classify_5xx_is_retryable(status: int, body: bytes) -> None:
    """HTTP 5xx, whatever the body, is retryable."""
    with pytest.raises(RetryableSendError) as e:
        classify_tencent(status, body)
    assert e.value.code == f"HTTP{status}"


@pytest.mark.parametrize("code", [20003, 20006, 20007, 70001, 70009, 70107, 60006, 90001, 90005])
def test_classify_everything_else_is_permanent(code: int) -> None:
    """Unknown accounts, rejected sends, bad sigs and malformed requests are permanent."""
    with pytest.raises(PermanentSendError) as e:
        classify_tencent(200, _body(code))
    assert e.value.code == str(code)


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"ActionStatus": "OK"}', b'{"ActionStatus":"OK","ErrorCode":1}']
)
def test_classify_odd_bodies_are_permanent(body: bytes) -> None:
    """A 200 that is not a clean OK is a failure, never a receipt."""
    with pytest.raises(PermanentSendError):
        classify_tencent(200, body)


# --- against the fake -----------------------------------------------------------------------


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_fake_tencent(APP, KEY, ADMIN))


def _fake(server: TestServer) -> FakeTencent:
    return server.app[FAKE_TENCENT]


def _client(session: aiohttp.ClientSession, server: TestServer, **overrides: Any) -> TencentClient:
    kwargs: dict[str, Any] = {
        "sdkappid": APP,
        "admin_identifier": ADMIN,
        "secret_key": KEY,
        "api": str(server.make_url("")),
        "rng": random.Random(1),
        **overrides,
    }
    return TencentClient(session, **kwargs)


def _query(**overrides: str) -> dict[str, str]:
    sig = gen_usersig(APP, KEY, ADMIN, 3600, now=NOW)
    query = {
        "sdkappid": str(APP),
        "identifier": ADMIN,
        "usersig": sig,
        "random": "12345",
        "contenttype": "json",
    }
    return {**query, **overrides}


async def _raw(
    session: aiohttp.ClientSession, server: TestServer, query: dict[str, str], body: Any
) -> dict[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = server.make_url("/v4/openim/sendmsg").with_query(query)
    async with session.post(url, data=data) as resp:
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
    return result


def _valid_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "To_Account": CUSTOMER,
        "MsgRandom": 1,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
    }
    return {**body, **overrides}


async def test_client_is_a_sender_keyed_by_its_app(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """platform "tencent", account the hash of the SDKAppID; repr shows no key."""
    client = _client(session, server)
    sender: Sender = client
    assert (sender.platform, sender.account) == ("tencent", account_id(str(APP)))
    assert KEY not in repr(client)
    with pytest.raises(ValueError, match="absolute"):
        TencentClient(session, sdkappid=APP, admin_identifier=ADMIN, secret_key=KEY, api="/x")


async def test_text_send_is_recorded_with_a_valid_admin_usersig(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A text reply reaches the fake with every field; the receipt is Tencent's MsgKey."""
    receipt = await _client(session, server).send(_out(Reply(text="Hello")))
    fake = _fake(server)
    [message] = fake.messages
    assert receipt.message_id == message["MsgKey"]
    assert message["MsgKey"].split("_")[1] == str(zlib.crc32(b"task-1"))
    assert {k: v for k, v in message.items() if k != "MsgKey"} == {
        "SyncOtherMachine": 2,
        "From_Account": BOT,
        "To_Account": CUSTOMER,
        "MsgRandom": zlib.crc32(b"task-1"),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "Hello"}}],
        "CloudCustomData": '{"task":"task-1"}',
    }
    verify_usersig(fake.usersigs[0], sdkappid=APP, key=KEY, identifier=ADMIN, now=int(time.time()))


async def test_buttons_and_template_fallback_are_accepted(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """Buttons (custom element) and a rendered template pass the fake's validation."""
    client = _client(session, server)
    await client.send(_out(Reply(text="Pick", buttons=_buttons()), task_id="a"))
    await client.send(_out(Reply(template=Template("PROMO", "en", {"code": "X1"})), task_id="b"))
    first, second = _fake(server).messages
    assert [e["MsgType"] for e in first["MsgBody"]] == ["TIMTextElem", "TIMCustomElem"]
    assert second["MsgBody"] == [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "PROMO: code=X1"}}
    ]


async def test_a_repeated_task_repeats_its_msg_random(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """Sending a task again (after a crash) carries the same MsgRandom; the URL random differs."""
    client = _client(session, server)
    await client.send(_out(Reply(text="Hi"), task_id="conv:7:0"))
    await client.send(_out(Reply(text="Hi"), task_id="conv:7:0"))
    await client.send(_out(Reply(text="Hi"), task_id="conv:7:1"))
    randoms = [m["MsgRandom"] for m in _fake(server).messages]
    assert randoms[0] == randoms[1] == zlib.crc32(b"conv:7:0")
    assert randoms[2] != randoms[0]


async def test_expired_usersig_is_renewed_and_retried_once(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """On 70001 the client makes a new UserSig and retries at once: one message goes out."""
    ticks = itertools.count(int(time.time()))
    client = _client(session, server, clock=lambda: float(next(ticks)))
    fake = _fake(server)
    fake.fail_next(70001)
    receipt = await client.send(_out(Reply(text="Hello")))
    assert fake.errors == [70001]
    assert [m["MsgKey"] for m in fake.messages] == [receipt.message_id]
    first, second = fake.usersigs
    assert first != second
    # The renewed sig is kept for the next send.
    await client.send(_out(Reply(text="Again"), task_id="task-2"))
    assert fake.usersigs[2] == second


async def test_expired_usersig_twice_is_permanent(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A fresh sig also refused as expired means a clock or key problem: permanent, 2 tries."""
    fake = _fake(server)
    fake.fail_next(70001, times=3)
    with pytest.raises(PermanentSendError) as e:
        await _client(session, server).send(_out(Reply(text="Hello")))
    assert e.value.code == "70001"
    assert fake.errors == [70001, 70001]
    assert fake.messages == []


async def test_throttled_sends_raise_rate_limited(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer
) -> None:
    """Above the fake's per-second limit, 60007 becomes RateLimitedError."""
    server = await aiohttp_server(create_fake_tencent(APP, KEY, ADMIN, rate_limit=2))
    client = _client(session, server)
    await client.send(_out(Reply(text="1"), task_id="1"))
    await client.send(_out(Reply(text="2"), task_id="2"))
    with pytest.raises(RateLimitedError) as e:
        await client.send(_out(Reply(text="3"), task_id="3"))
    assert (e.value.code, e.value.retry_after) == ("60007", 1.0)
    assert len(_fake(server).messages) == 2


@pytest.mark.parametrize(
    ("code", "status", "error", "error_code"),
    [
        (91000, 200, RetryableSendError, "91000"),
        (20005, 200, RetryableSendError, "20005"),
        (0, 502, RetryableSendError, "HTTP502"),
        (60019, 200, RateLimitedError, "60019"),
        (20003, 200, PermanentSendError, "20003"),
        (20006, 200, PermanentSendError, "20006"),
    ],
)
async def test_faults_map_to_typed_errors_without_retry(
    session: aiohttp.ClientSession,
    server: TestServer,
    code: int,
    status: int,
    error: type[Exception],
    error_code: str,
) -> None:
    """Injected server, throttling and permanent faults raise their type; one request only."""
    fake = _fake(server)
    fake.fail_next(code, status=status)
    with pytest.raises(error) as e:
        await _client(session, server).send(_out(Reply(text="Hello")))
    assert getattr(e.value, "code", None) == error_code
    assert len(fake.errors) == 1
    assert fake.messages == []


async def test_timeout_is_retryable_and_the_send_may_still_have_happened(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A late answer raises RetryableSendError(Timeout); the fake did record the message."""
    fake = _fake(server)
    fake.delay_next(1.0)
    with pytest.raises(RetryableSendError) as e:
        await _client(session, server, timeout=0.2).send(_out(Reply(text="Hello")))
    assert e.value.code == "Timeout"
    await fake.wait_for(1)


async def test_connection_refused_is_retryable(session: aiohttp.ClientSession) -> None:
    """Nobody listening raises RetryableSendError(ConnectionError)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = TencentClient(
        session,
        sdkappid=APP,
        admin_identifier=ADMIN,
        secret_key=KEY,
        api=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(RetryableSendError) as e:
        await client.send(_out(Reply(text="Hello")))
    assert e.value.code == "ConnectionError"


async def test_client_with_a_wrong_key_is_refused(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A UserSig signed with another key is 70009, permanent, and nothing is sent."""
    with pytest.raises(PermanentSendError) as e:
        await _client(session, server, secret_key="wrong").send(_out(Reply(text="Hello")))
    assert e.value.code == "70009"
    assert _fake(server).messages == []


async def test_client_with_a_non_admin_identifier_is_refused(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A valid UserSig for an ordinary user may not call sendmsg: 60010, permanent."""
    with pytest.raises(PermanentSendError) as e:
        await _client(session, server, admin_identifier="bob").send(_out(Reply(text="Hello")))
    assert e.value.code == "60010"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (_query(usersig=gen_usersig(APP, KEY, "bob", 3600, now=NOW)), 70013),
        (_query(usersig=gen_usersig(APP + 1, KEY, ADMIN, 3600, now=NOW)), 70014),
        (_query(usersig=gen_usersig(APP, KEY, ADMIN, 60, now=NOW - 3600)), 70001),
        (_query(usersig="garbage"), 70003),
        (_query(sdkappid="1400000002"), 60006),
        (_query(sdkappid=""), 60012),
        (_query(contenttype="xml"), 60002),
        (_query(random="abc"), 60002),
        (_query(random=str(2**32)), 60002),
    ],
)
async def test_fake_rejects_bad_queries(
    session: aiohttp.ClientSession,
    aiohttp_server: AiohttpServer,
    query: dict[str, str],
    code: int,
) -> None:
    """Wrong identifier, app, expiry or shape of the query get Tencent-style FAIL answers."""
    server = await aiohttp_server(create_fake_tencent(APP, KEY, ADMIN, clock=lambda: NOW))
    answer = await _raw(session, server, query, _valid_body())
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", code)
    assert _fake(server).messages == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", 90001),
        ([], 90001),
        (_valid_body(To_Account=""), 90003),
        ({k: v for k, v in _valid_body().items() if k != "To_Account"}, 90003),
        (_valid_body(From_Account=7), 90008),
        (_valid_body(MsgRandom=2**32), 90005),
        (_valid_body(MsgRandom="1"), 90005),
        (_valid_body(SyncOtherMachine=3), 90031),
        (_valid_body(MsgBody=[]), 90007),
        (_valid_body(MsgBody={"MsgType": "TIMTextElem"}), 90007),
        (_valid_body(MsgBody=[{"MsgType": "TIMMagicElem", "MsgContent": {}}]), 90002),
        (_valid_body(MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": ""}}]), 90002),
        (_valid_body(MsgBody=[{"MsgType": "TIMCustomElem", "MsgContent": {"Data": 1}}]), 90002),
        (_valid_body(CloudCustomData={"task": 1}), 90002),
        (
            _valid_body(MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x" * 13000}}]),
            93000,
        ),
    ],
)
async def test_fake_rejects_bad_bodies(
    session: aiohttp.ClientSession,
    aiohttp_server: AiohttpServer,
    body: Any,
    code: int,
) -> None:
    """Missing recipient, a bad MsgRandom, an empty or unknown MsgBody are refused."""
    server = await aiohttp_server(create_fake_tencent(APP, KEY, ADMIN, clock=lambda: NOW))
    answer = await _raw(session, server, _query(), body)
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("FAIL", code)
    assert _fake(server).errors == [code]


async def test_fake_lists_messages_by_recipient(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """GET /_fake/messages?to= filters by To_Account, like the CAMS fake."""
    client = _client(session, server)
    await client.send(_out(Reply(text="a"), task_id="1", customer="alice"))
    await client.send(_out(Reply(text="b"), task_id="2", customer="bob"))
    async with session.get(server.make_url("/_fake/messages").with_query(to="bob")) as resp:
        listed = await resp.json()
    assert [m["MsgBody"][0]["MsgContent"]["Text"] for m in listed] == ["b"]
    async with session.get(server.make_url("/_fake/messages")) as resp:
        assert len(await resp.json()) == 2
    assert _fake(server).sent_to("alice")[0]["To_Account"] == "alice"
