"""The CAMS send client: parameter mapping, response classification, transport, and the
cross-check against the official SDK through the fake CAMS."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from alibabacloud_cams20200606 import models as cams_models
from alibabacloud_cams20200606.client import Client as SdkClient
from alibabacloud_tea_openapi import utils_models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.core import DaraCore
from pytest_aiohttp import AiohttpServer

from bot.errors import PermanentSendError, RateLimitedError, RetryableSendError, SendError
from bot.model import (
    Address,
    Button,
    ConversationRef,
    Fallback,
    Link,
    Location,
    Media,
    Outgoing,
    Reply,
    SendReceipt,
    Template,
)
from bot.platforms.cams.client import CamsClient, build_params, classify_response
from bot.platforms.cams.fake import FAKE_CAMS, FakeCams, create_fake_cams, validate_params
from bot.store.codec import reply_from_json, reply_to_json

AK = "LTAI5tTestKeyId"
SECRET = "test-secret-abcdef"
BUSINESS = "8613800000001"
CUSTOMER = "8613900000002"


def _conv(channel: str = "whatsapp", customer: str = CUSTOMER) -> ConversationRef:
    return ConversationRef("cams", channel, BUSINESS, customer)


def _out(reply: Reply, *, task_id: str = "task-1", space: str = "", **conv: str) -> Outgoing:
    return Outgoing(to=Address(_conv(**conv), space), reply=reply, task_id=task_id)


def _buttons(n: int) -> tuple[Button, ...]:
    return tuple(Button(f"Option number {i} with a long title", f"p{i}") for i in range(n))


# --- build_params ---------------------------------------------------------------------------


def test_build_params_text_message() -> None:
    """A plain reply is Type=message, MessageType=text, Content {"text": ...} as compact JSON."""
    params = build_params(_out(Reply(text="Olá, “mundo” 🎉")), channel_default="whatsapp")
    assert params == {
        "ChannelType": "whatsapp",
        "From": BUSINESS,
        "To": CUSTOMER,
        "TaskId": "task-1",
        "Type": "message",
        "MessageType": "text",
        "Content": '{"text":"Olá, “mundo” 🎉"}',
    }


def test_build_params_reply_buttons_are_interactive() -> None:
    """One to three buttons become Meta's reply-button shape, titles cut to 20 characters."""
    params = build_params(_out(Reply(text="Pick", buttons=_buttons(3))), channel_default="x")
    assert params["MessageType"] == "interactive"
    assert json.loads(params["Content"]) == {
        "type": "button",
        "body": {"text": "Pick"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"p{i}", "title": f"Option number {i} with"}}
                for i in range(3)
            ]
        },
    }


@pytest.mark.parametrize("n", [4, 10])
def test_build_params_four_to_ten_options_are_a_list(n: int) -> None:
    """Four to ten buttons become Meta's list shape, row titles cut to 24 characters."""
    params = build_params(_out(Reply(text="Pick", buttons=_buttons(n))), channel_default="x")
    content = json.loads(params["Content"])
    assert params["MessageType"] == "interactive"
    assert content["type"] == "list"
    assert content["body"] == {"text": "Pick"}
    assert content["action"]["button"] == "Choose"
    [section] = content["action"]["sections"]
    assert section["title"] == "Options"
    assert section["rows"] == [
        {"id": f"p{i}", "title": f"Option number {i} with a l"} for i in range(n)
    ]


def test_build_params_more_than_ten_options_fall_back_to_text() -> None:
    """Eleven options do not fit a list: the reply is sent as its text alone."""
    params = build_params(
        _out(Reply(text="1) a ... 11) k", buttons=_buttons(11))), channel_default="x"
    )
    assert params["MessageType"] == "text"
    assert json.loads(params["Content"]) == {"text": "1) a ... 11) k"}


def test_build_params_template_with_params_and_payload() -> None:
    """A template reply carries code, language, TemplateParams and the buttons' payloads."""
    reply = Reply(
        template=Template("order_update", "en_US", {"name": "Ana María", "code": "A&B"}),
        buttons=(Button("Yes", "p:yes"), Button("No", "p:no")),
    )
    params = build_params(_out(reply, space="cams-space-1"), channel_default="whatsapp")
    assert params == {
        "ChannelType": "whatsapp",
        "From": BUSINESS,
        "To": CUSTOMER,
        "TaskId": "task-1",
        "CustSpaceId": "cams-space-1",
        "Type": "template",
        "TemplateCode": "order_update",
        "Language": "en_US",
        "TemplateParams": '{"name":"Ana María","code":"A&B"}',
        "Payload": '["p:yes","p:no"]',
    }


def test_build_params_template_header_goes_as_a_variable() -> None:
    """A template's media header is its URL under the variable the catalogue names for it,
    beside the other variables in TemplateParams (CAMS takes nothing else for a header);
    alone, it is TemplateParams' one variable."""
    header = Media("image", "https://cdn.example.com/p/A%2F1.jpg")
    reply = Reply(template=Template("parcel", "en", {"parcel_id": "A%2F1"}, header, "photo"))
    params = build_params(_out(reply), channel_default="whatsapp")
    assert json.loads(params["TemplateParams"]) == {
        "parcel_id": "A%2F1", "photo": "https://cdn.example.com/p/A%2F1.jpg",
    }  # fmt: skip
    alone = Reply(template=Template("promo", "en", header=header))
    assert build_params(_out(alone), channel_default="x")["TemplateParams"] == (
        '{"link":"https://cdn.example.com/p/A%2F1.jpg"}'
    )


def test_build_params_template_without_params_or_buttons() -> None:
    """TemplateParams and Payload are left out when there is nothing to put in them."""
    params = build_params(_out(Reply(template=Template("hello", "en"))), channel_default="x")
    assert "TemplateParams" not in params
    assert "Payload" not in params
    assert "Content" not in params


def test_build_params_channel_default_and_space() -> None:
    """An empty channel falls back to the default; CustSpaceId only when a space is set."""
    assert (
        build_params(_out(Reply(text="x"), channel=""), channel_default="viber")["ChannelType"]
        == "viber"
    )
    assert "CustSpaceId" not in build_params(_out(Reply(text="x")), channel_default="x")
    params = build_params(_out(Reply(text="x"), space="cams-1"), channel_default="x")
    assert params["CustSpaceId"] == "cams-1"


def test_build_params_sms_fallback() -> None:
    """A reply with an SMS fallback carries FallBackId, FallBackContent and FallBackDuration."""
    reply = Reply(text="x", fallback=Fallback("policy-1", "Your visit is on Monday", 600))
    params = build_params(_out(reply), channel_default="whatsapp")
    assert params["FallBackId"] == "policy-1"
    assert params["FallBackContent"] == "Your visit is on Monday"
    assert params["FallBackDuration"] == "600"
    bare = build_params(_out(Reply(text="x", fallback=Fallback("p2"))), channel_default="x")
    assert bare["FallBackId"] == "p2"
    assert "FallBackContent" not in bare
    assert "FallBackDuration" not in bare
    assert "FallBackId" not in build_params(_out(Reply(text="x")), channel_default="x")


# --- classify_response ----------------------------------------------------------------------


def _body(**fields: Any) -> bytes:
    return json.dumps({"RequestId": "REQ-1", **fields}).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "code", "retry_after"),
    [
        (
            429,
            _body(Code="Throttling.User"),
            {"x-acs-retry-after": "1500"},
            RateLimitedError,
            "Throttling.User",
            1.5,
        ),
        (429, b"", {"Retry-After": "3"}, RateLimitedError, "Throttling", 3.0),
        (429, _body(Code="Throttling"), {}, RateLimitedError, "Throttling", None),
        (400, _body(Code="Throttling.User"), {}, RateLimitedError, "Throttling.User", None),
        (200, _body(Code="Throttling.Api"), {}, RateLimitedError, "Throttling.Api", None),
        (503, _body(Code="X"), {"X-Acs-Retry-After": "250"}, RateLimitedError, "X", 0.25),
        (500, _body(Code="InternalError"), {}, RetryableSendError, "InternalError", None),
        (503, _body(Code="ServiceUnavailable"), {}, RetryableSendError, "ServiceUnavailable", None),
        (502, b"<html>bad gateway</html>", {}, RetryableSendError, "HTTP502", None),
        (200, _body(Code="ServiceUnavailable"), {}, RetryableSendError, "ServiceUnavailable", None),
        (400, _body(Code="InvalidParameter"), {}, PermanentSendError, "InvalidParameter", None),
        (
            400,
            _body(Code="SignatureDoesNotMatch"),
            {},
            PermanentSendError,
            "SignatureDoesNotMatch",
            None,
        ),
        (
            404,
            _body(Code="InvalidAccessKeyId.NotFound"),
            {},
            PermanentSendError,
            "InvalidAccessKeyId.NotFound",
            None,
        ),
        (200, _body(Code="Invalid.To"), {}, PermanentSendError, "Invalid.To", None),
        (200, b"not json at all", {}, PermanentSendError, "InvalidResponse", None),
        (200, b"[1, 2]", {}, PermanentSendError, "InvalidResponse", None),
        (302, b"", {}, PermanentSendError, "InvalidResponse", None),
        (403, _body(Code="Forbidden.RAM"), {}, PermanentSendError, "Forbidden.RAM", None),
    ],
)
def test_classify_response_errors(
    status: int,
    body: bytes,
    headers: dict[str, str],
    kind: type[SendError],
    code: str,
    retry_after: float | None,
) -> None:
    """Each failed answer maps to exactly one typed error with its code and retry hint."""
    with pytest.raises(SendError) as info:
        classify_response(status, body, headers)
    assert type(info.value) is kind
    assert info.value.code == code
    assert info.value.status == status
    if isinstance(info.value, RateLimitedError):
        assert info.value.retry_after == retry_after


def test_classify_response_ok() -> None:
    """HTTP 200 with Code OK is a receipt with MessageId and RequestId."""
    receipt = classify_response(200, _body(Code="OK", Message="OK", MessageId="m-1"), {})
    assert receipt == SendReceipt(message_id="m-1", request_id="REQ-1")


def test_classify_response_ok_without_message_id_is_still_accepted() -> None:
    """An accepted send without a MessageId is not failed (a retry would duplicate it)."""
    receipt = classify_response(200, b'{"Code":"OK"}', {"x-acs-request-id": "R"})
    assert receipt == SendReceipt(message_id="", request_id="R")


def test_classify_response_keeps_request_id_and_access_denied_detail() -> None:
    """Error details carry the RequestId and RAM's AccessDeniedDetail for the logs."""
    with pytest.raises(PermanentSendError) as info:
        classify_response(403, _body(Code="Forbidden.RAM", AccessDeniedDetail={"a": 1}), {})
    assert info.value.detail == {"request_id": "REQ-1", "access_denied_detail": {"a": 1}}


def test_classify_response_never_raises_anything_but_send_errors() -> None:
    """Odd statuses and bodies (binary, nulls, deep nesting) still give a receipt or a SendError."""
    rng = random.Random(7)
    bodies = [b"", b"\xff\xfe", b"null", b'{"Code": 5}', b'{"Code": null}', b"[" * 100_000]
    bodies += [_body(Code=c) for c in ("OK", "", "Throttling", "InternalError")]
    for _ in range(300):
        status = rng.randrange(100, 600)
        body = rng.choice(bodies)
        headers = rng.choice(
            [{}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, {"x-acs-retry-after": "-5"}]
        )
        outcome: SendReceipt | SendError
        try:
            outcome = classify_response(status, body, headers)
        except SendError as e:  # anything else propagates and fails the test
            outcome = e
        assert isinstance(outcome, SendReceipt | SendError)


# --- CamsClient against the fake --------------------------------------------------------------


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_fake_cams({AK: SECRET}))


def _recorder(server: TestServer) -> FakeCams:
    return server.app[FAKE_CAMS]


def _client(
    session: aiohttp.ClientSession,
    server: TestServer,
    *,
    secret: str = SECRET,
    timeout: float = 5.0,
) -> CamsClient:
    return CamsClient(
        session,
        endpoint=str(server.make_url("/")),
        access_key_id=AK,
        access_key_secret=secret,
        timeout=timeout,
    )


async def test_repr_shows_no_credential(session: aiohttp.ClientSession, server: TestServer) -> None:
    """repr and str name the endpoint and the account's digest, never the AccessKey id or
    secret (a repr ends up in logs and tracebacks)."""
    client = _client(session, server)
    for text in (repr(client), str(client)):
        assert AK not in text
        assert SECRET not in text
        assert client.account in text


def _without_id(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in m.items() if k != "MessageId"} for m in messages]


async def test_client_send_returns_the_message_id(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """An accepted send returns the fake's MessageId, and the fake recorded our parameters."""
    msg = _out(Reply(text="Hi there * ~ + & = %20", buttons=_buttons(2)))
    receipt = await _client(session, server).send(msg)
    [recorded] = _recorder(server).messages
    assert receipt.message_id == recorded["MessageId"]
    assert receipt.request_id
    assert _without_id([recorded]) == [build_params(msg, channel_default="whatsapp")]


async def test_client_long_content_goes_in_the_body(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A 20 000-character text is sent (in the form body, not the URL) and recorded intact."""
    text = "é" * 20_000
    await _client(session, server).send(_out(Reply(text=text)))
    [recorded] = _recorder(server).messages
    assert json.loads(recorded["Content"]) == {"text": text}


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "kind", "expected_wait"),
    [
        (429, "Throttling.User", 2.0, RateLimitedError, 2.0),
        (503, "ServiceUnavailable", None, RetryableSendError, None),
        (500, "InternalError", None, RetryableSendError, None),
        (200, "Invalid.TemplateCode", None, PermanentSendError, None),
    ],
)
async def test_client_injected_faults_become_typed_errors(
    session: aiohttp.ClientSession,
    server: TestServer,
    status: int,
    code: str,
    retry_after: float | None,
    kind: type[SendError],
    expected_wait: float | None,
) -> None:
    """Faults queued in the fake surface as the matching error, then sending works again."""
    _recorder(server).fail_next(status, code, retry_after=retry_after)
    client = _client(session, server)
    with pytest.raises(SendError) as info:
        await client.send(_out(Reply(text="hi")))
    assert type(info.value) is kind
    assert info.value.code == code
    if isinstance(info.value, RateLimitedError):
        assert info.value.retry_after == expected_wait
    assert (await client.send(_out(Reply(text="hi")))).message_id
    assert len(_recorder(server).messages) == 1


async def test_client_timeout_is_retryable(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A send slower than the timeout raises RetryableSendError(Timeout); it may still land."""
    _recorder(server).delay_next(0.5)
    with pytest.raises(RetryableSendError) as info:
        await _client(session, server, timeout=0.1).send(_out(Reply(text="slow")))
    assert info.value.code == "Timeout"
    assert not isinstance(info.value, RateLimitedError)
    # The fake still processes the delayed request, as CAMS may after a client timeout.
    assert len(await _recorder(server).wait_for(1, timeout=5)) == 1


async def test_client_connection_error_is_retryable(
    session: aiohttp.ClientSession, unused_tcp_port: int
) -> None:
    """Nothing listening on the endpoint gives RetryableSendError(ConnectionError)."""
    client = CamsClient(
        session,
        endpoint=f"http://127.0.0.1:{unused_tcp_port}",
        access_key_id=AK,
        access_key_secret=SECRET,
        timeout=2,
    )
    with pytest.raises(RetryableSendError) as info:
        await client.send(_out(Reply(text="x")))
    assert info.value.code == "ConnectionError"


async def test_client_bad_recipient_is_permanent(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """A WhatsApp recipient that is not a phone number is a PermanentSendError(Invalid.To)."""
    with pytest.raises(PermanentSendError) as info:
        await _client(session, server).send(_out(Reply(text="x"), customer="not-a-number"))
    assert info.value.code == "Invalid.To"
    assert _recorder(server).messages == []


async def test_client_wrong_secret_is_permanent(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """Bad credentials are permanent: SignatureDoesNotMatch with HTTP 400."""
    with pytest.raises(PermanentSendError) as info:
        await _client(session, server, secret="wrong").send(_out(Reply(text="x")))
    assert (info.value.code, info.value.status) == ("SignatureDoesNotMatch", 400)


async def test_client_reaches_a_fake_mounted_under_a_prefix(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer
) -> None:
    """With the fake mounted as a sub-app, the endpoint's path (and port) are what get signed."""
    app = web.Application()
    fake_app = create_fake_cams({AK: SECRET})
    app.add_subapp("/sandbox/cams", fake_app)
    server = await aiohttp_server(app)
    for endpoint in ("/sandbox/cams", "/sandbox/cams/"):
        client = CamsClient(
            session,
            endpoint=str(server.make_url(endpoint)),
            access_key_id=AK,
            access_key_secret=SECRET,
        )
        assert (await client.send(_out(Reply(text="x")))).message_id
    assert len(fake_app[FAKE_CAMS].messages) == 2


# --- the cross-check with the official SDK --------------------------------------------------


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK routes through HTTP(S)_PROXY from the environment and keeps a global
    keep-alive session per host; clear the one and close the other."""
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    before = set(DaraCore._sessions)
    yield
    for key in set(DaraCore._sessions) - before:
        DaraCore._sessions.pop(key).close()


def _sdk_send(port: int, secret: str, request: cams_models.SendChatappMessageRequest) -> Any:
    config = open_api_models.Config(
        access_key_id=AK,
        access_key_secret=secret,
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
    )
    return SdkClient(config).send_chatapp_message(request)


CROSS_CHECK_CASES = [
    pytest.param(
        _out(Reply(text="Hello *world* ~ 100% + más & émoji 🎉 = ok"), task_id="t-1"),
        cams_models.SendChatappMessageRequest(
            channel_type="whatsapp",
            type="message",
            message_type="text",
            from_=BUSINESS,
            to=CUSTOMER,
            task_id="t-1",
            content=json.dumps(
                {"text": "Hello *world* ~ 100% + más & émoji 🎉 = ok"},
                separators=(",", ":"),
                ensure_ascii=False,
            ),
        ),
        id="text",
    ),
    pytest.param(
        _out(
            Reply(
                template=Template("order_update", "en", {"name": "Ana María", "code": "A&B=1"}),
                buttons=(Button("Yes", "p:yes"), Button("No", "p:no")),
            ),
            task_id="t-2",
            space="cams-space-9",
        ),
        cams_models.SendChatappMessageRequest(
            channel_type="whatsapp",
            type="template",
            from_=BUSINESS,
            to=CUSTOMER,
            task_id="t-2",
            cust_space_id="cams-space-9",
            template_code="order_update",
            language="en",
            template_params={"name": "Ana María", "code": "A&B=1"},
            payload=["p:yes", "p:no"],
        ),
        id="template",
    ),
]


@pytest.mark.usefixtures("sdk_env")
@pytest.mark.parametrize(("outgoing", "sdk_request"), CROSS_CHECK_CASES)
async def test_official_sdk_and_our_client_are_accepted_alike(
    session: aiohttp.ClientSession,
    server: TestServer,
    outgoing: Outgoing,
    sdk_request: cams_models.SendChatappMessageRequest,
) -> None:
    """The official SDK's V3-signed request (all params in the query) and ours (form body)
    both verify in the fake, and the fake records identical parameters for them."""
    assert server.port is not None
    response = await asyncio.to_thread(_sdk_send, server.port, SECRET, sdk_request)
    assert response.body.code == "OK"
    receipt = await _client(session, server).send(outgoing)

    sdk_recorded, ours_recorded = _recorder(server).messages
    assert response.body.message_id == sdk_recorded["MessageId"]
    assert receipt.message_id == ours_recorded["MessageId"]
    expected = build_params(outgoing, channel_default="whatsapp")
    assert _without_id([sdk_recorded, ours_recorded]) == [expected, expected]

    # Two different transports reached the same result.
    sdk_seen, ours_seen = _recorder(server).seen
    assert "To=" in sdk_seen.raw_query
    assert sdk_seen.body_size == 0
    assert {"user-agent", "accept"} <= set(sdk_seen.signed_headers)
    assert ours_seen.raw_query == ""
    assert ours_seen.content_type == "application/x-www-form-urlencoded"
    assert "user-agent" not in ours_seen.signed_headers


@pytest.mark.usefixtures("sdk_env")
@pytest.mark.parametrize(("outgoing", "sdk_request"), CROSS_CHECK_CASES)
async def test_official_sdk_and_our_client_are_rejected_alike_with_a_wrong_secret(
    session: aiohttp.ClientSession,
    server: TestServer,
    outgoing: Outgoing,
    sdk_request: cams_models.SendChatappMessageRequest,
) -> None:
    """Signed with the wrong secret, both are refused with SignatureDoesNotMatch; nothing is
    recorded."""
    assert server.port is not None
    with pytest.raises(ClientException) as sdk_error:
        await asyncio.to_thread(_sdk_send, server.port, "wrong-secret", sdk_request)
    assert sdk_error.value.code == "SignatureDoesNotMatch"
    with pytest.raises(PermanentSendError) as ours:
        await _client(session, server, secret="wrong-secret").send(outgoing)
    assert ours.value.code == "SignatureDoesNotMatch"
    assert _recorder(server).messages == []
    assert _recorder(server).errors == ["SignatureDoesNotMatch", "SignatureDoesNotMatch"]


def test_a_list_says_its_button_heading_and_row_descriptions_in_the_replys_words() -> None:
    """A reply naming its list's button and heading (in the customer's language) sends
    them, cut to 20 and 24 characters; a row's description goes under its title, cut to 72."""
    buttons = tuple(Button(f"Día {i}", f"p{i}", "Por la mañana, " + "x" * 80) for i in range(4))
    reply = Reply(text="¿Cuándo?", buttons=buttons, list_button="Elegir un día de la semana",
                  list_title="Días libres esta semana, elija")  # fmt: skip
    content = json.loads(build_params(_out(reply), channel_default="x")["Content"])
    assert content["action"]["button"] == "Elegir un día de la "
    [section] = content["action"]["sections"]
    assert section["title"] == "Días libres esta semana,"
    assert section["rows"][0] == {"id": "p0", "title": "Día 0",
                                  "description": ("Por la mañana, " + "x" * 80)[:72]}  # fmt: skip
    assert reply_from_json(reply_to_json(reply)) == reply


def test_a_link_is_a_cta_url_interactive_message() -> None:
    """A reply with a link goes as WhatsApp's call-to-action URL button: MessageType
    interactive, Content of type cta_url with the text as its body, the label (cut to 20
    characters) as display_text and the URL."""
    reply = Reply(text="Your parcel is on its way.",
                  link=Link("Track your parcel now", "https://t.example.com/p/A%2F1"))  # fmt: skip
    params = build_params(_out(reply), channel_default="whatsapp")
    assert (params["Type"], params["MessageType"]) == ("message", "interactive")
    assert json.loads(params["Content"]) == {
        "type": "cta_url",
        "body": {"text": "Your parcel is on its way."},
        "action": {"name": "cta_url", "parameters": {
            "display_text": "Track your parcel no", "url": "https://t.example.com/p/A%2F1"}},
    }  # fmt: skip


def test_a_lists_rows_go_under_their_sections_headings() -> None:
    """Rows with the same section are one section, where its first row is; rows without one
    go under the list's heading; headings are cut to 24 characters; the stored reply keeps
    them."""
    buttons = (
        Button("Mon 9-12", "a", "Two left", "This week"),
        Button("Fri 14-18", "b", "", "This week"),
        Button("Mon 9-12", "c", "", "Next week, as early as possible"),
        Button("Any other day", "d"),
        Button("Sat 9-12", "e", "", "This week"),
    )
    reply = Reply(text="When?", buttons=buttons, list_title="More")
    content = json.loads(build_params(_out(reply), channel_default="x")["Content"])
    sections = content["action"]["sections"]
    assert [(s["title"], [r["id"] for r in s["rows"]]) for s in sections] == [
        ("This week", ["a", "b", "e"]),
        ("Next week, as early as p", ["c"]),
        ("More", ["d"]),
    ]
    assert sections[0]["rows"][0] == {"id": "a", "title": "Mon 9-12", "description": "Two left"}
    assert reply_from_json(reply_to_json(reply)) == reply


def _on(channel: str, reply: Reply) -> tuple[str, dict[str, Any]]:
    """(MessageType, Content) of `reply` on `channel`, as the fake CAMS accepts it."""
    customer = CUSTOMER if channel in ("whatsapp", "viber") else "psid-1"
    params = build_params(_out(reply, channel=channel, customer=customer), channel_default="x")
    validate_params(params)  # raises what SendChatappMessage would refuse
    return params["MessageType"], json.loads(params["Content"])


def test_other_channels_get_what_they_can_show_and_the_rest_as_text() -> None:
    """Viber, Messenger, Instagram and Telegram take no WhatsApp interactive message: the
    options, a link, a place or a file they cannot show go as text after the text (options
    the text names already are not listed again); a photo goes as one when it can."""
    week = (Button("Mon 9-12", "a", "Two left", "This week"), Button("Fri 14-18", "b"))
    listed = Reply(text="When shall we come?", buttons=week)
    assert _on("viber", listed) == ("text", {"text": (
        "When shall we come?\nThis week:\n- Mon 9-12 (Two left)\n- Fri 14-18")})  # fmt: skip
    named = Reply(text="1. Confirm 2. Cancel", buttons=(Button("Confirm", "c"),
                                                        Button("Cancel", "x")))  # fmt: skip
    assert _on("messenger", named) == ("text", {"text": "1. Confirm 2. Cancel"})
    link = Reply(text="On its way.", link=Link("Track", "https://t.example.com/p/1"))
    assert _on("viber", link) == ("text", {"text": "On its way.\nTrack: https://t.example.com/p/1"})
    photo = Media("image", "https://cdn.example.com/p.jpg")
    assert _on("viber", Reply(text="Your parcel", media=photo)) == (
        "text_image", {"text": "Your parcel", "link": photo.url})  # fmt: skip
    assert _on("messenger", Reply(media=photo)) == ("image", {"link": photo.url})
    assert _on("messenger", Reply(text="Your parcel", media=photo)) == (
        "text", {"text": f"Your parcel\n{photo.url}"})  # fmt: skip
    invoice = Media("document", "https://cdn.example.com/i.PDF", "invoice-7.PDF")
    assert _on("viber", Reply(media=invoice)) == ("document", {
        "link": invoice.url, "fileName": "invoice-7.PDF", "fileType": "pdf"})  # fmt: skip
    clip = Media("video", "https://cdn.example.com/v.mp4")
    assert _on("viber", Reply(media=clip)) == ("text", {"text": clip.url})
    assert _on("instagram", Reply(media=invoice)) == ("text", {"text": invoice.url})
    shop = Location(40.4, -3.7, "Shop", "Gran Vía 1")
    assert _on("telegram", Reply(location=shop)) == (
        "location", {"latitude": 40.4, "longitude": -3.7})  # fmt: skip
    assert _on("viber", Reply(location=shop)) == (
        "text", {"text": "Shop, Gran Vía 1 (40.4, -3.7)"})  # fmt: skip
    # WhatsApp keeps its interactive messages.
    assert _on("whatsapp", listed)[0] == "interactive"
