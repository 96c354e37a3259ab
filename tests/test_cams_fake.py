"""The fake CAMS send API: authentication, throttling, parameter validation, recording."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from yarl import URL

from bot.errors import RateLimitedError
from bot.model import Address, ConversationRef, Outgoing, Reply
from bot.platforms.cams.client import ACTION, API_VERSION, CamsClient
from bot.platforms.cams.fake import FAKE_CAMS, FakeCams, create_fake_cams
from bot.platforms.cams.signing import sign_request

AK = "LTAI5tFakeKeyId"
SECRET = "fake-secret-xyz"
FORM = "application/x-www-form-urlencoded"
START = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

Client = TestClient[web.Request, web.Application]


class FakeClock:
    """A settable clock for the fake and the signer alike."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _text_params(**overrides: str) -> dict[str, str]:
    params = {
        "ChannelType": "whatsapp",
        "Type": "message",
        "MessageType": "text",
        "From": "8613800000001",
        "To": "8613900000002",
        "Content": '{"text":"hello"}',
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != "<absent>"}


class Answer(NamedTuple):
    status: int
    data: dict[str, Any]
    headers: Mapping[str, str]


async def _post(
    client: Client,
    body_params: Mapping[str, str] | None = None,
    *,
    query: Mapping[str, str] | None = None,
    action: str = ACTION,
    version: str = API_VERSION,
    secret: str = SECRET,
    nonce: str | None = None,
    now: datetime | None = None,
    path: str = "/",
    raw_body: bytes | None = None,
    content_type: str = FORM,
) -> Answer:
    """POST a V3-signed request to the fake: params in a form body and/or the query."""
    body = urlencode(dict(body_params or {})).encode() if raw_body is None else raw_body
    query_string, headers = sign_request(
        AK,
        secret,
        method="POST",
        host=f"{client.host}:{client.port}",
        path=path,
        query=query or {},
        body=body,
        action=action,
        version=version,
        content_type=content_type if body else None,
        now=now or datetime.now(UTC),
        nonce=nonce or uuid.uuid4().hex,
    )
    url = client.make_url(path)
    if query_string:
        url = URL(f"{url}?{query_string}", encoded=True)
    async with client.session.post(url, data=body, headers=headers) as resp:
        return Answer(resp.status, await resp.json(), resp.headers)


@pytest.fixture
async def fake_client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_fake_cams({AK: SECRET}))


def _fake(client: Client) -> FakeCams:
    return client.app[FAKE_CAMS]


async def test_accepts_a_signed_text_message_and_records_it(fake_client: Client) -> None:
    """A valid signed send answers 200 Code OK with a MessageId and is recorded with it."""
    status, data, _ = await _post(fake_client, _text_params())
    assert status == 200
    assert data["Code"] == "OK"
    assert data["RequestId"]
    [recorded] = _fake(fake_client).messages
    assert recorded == {**_text_params(), "MessageId": data["MessageId"]}


async def test_reads_params_from_query_and_body_together(fake_client: Client) -> None:
    """Parameters may be split between the query and the form body, as POP accepts."""
    params = _text_params()
    query = {k: params.pop(k) for k in ("Content", "Type")}
    status, data, _ = await _post(fake_client, params, query=query)
    assert (status, data["Code"]) == (200, "OK")
    assert _fake(fake_client).messages[0]["Content"] == '{"text":"hello"}'


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        (_text_params(To="<absent>"), 400, "MissingTo"),
        (_text_params(From="<absent>"), 400, "MissingFrom"),
        (_text_params(ChannelType="<absent>"), 400, "MissingChannelType"),
        (_text_params(Type="broadcast"), 200, "Invalid.Type"),
        (_text_params(ChannelType="sms"), 200, "Invalid.ChannelType"),
        (_text_params(Content="{not json"), 200, "Invalid.Content"),
        (_text_params(Content='["text"]'), 200, "Invalid.Content"),
        (_text_params(Content='{"text":""}'), 200, "Invalid.Content"),
        (_text_params(Content="<absent>"), 200, "Invalid.Parameter"),
        (_text_params(MessageType="<absent>"), 200, "Invalid.Parameter"),
        (_text_params(MessageType="hologram"), 200, "Invalid.MessageType"),
        (_text_params(To="john@example.com"), 200, "Invalid.To"),
        (_text_params(ChannelType="viber", To="abc"), 200, "Invalid.To"),
        (
            _text_params(
                MessageType="interactive",
                Content=json.dumps(
                    {
                        "type": "button",
                        "body": {"text": "x"},
                        "action": {
                            "buttons": [
                                {"type": "reply", "reply": {"id": f"b{i}", "title": "t"}}
                                for i in range(4)
                            ]
                        },
                    }
                ),
            ),
            200,
            "Invalid.Content",
        ),
        (
            _text_params(
                MessageType="interactive",
                Content='{"type":"button","body":{"text":"x"},"action":{"buttons":'
                '[{"type":"reply","reply":{"id":"a","title":"a title longer than twenty"}}]}}',
            ),
            200,
            "Invalid.Content",
        ),
        (
            {
                "ChannelType": "whatsapp",
                "Type": "template",
                "From": "1",
                "To": "8613900000002",
                "Language": "en",
            },
            200,
            "Invalid.Parameter",
        ),
        (
            {
                "ChannelType": "whatsapp",
                "Type": "template",
                "From": "1",
                "To": "8613900000002",
                "TemplateCode": "t1",
                "Language": "en",
                "TemplateParams": '{"a": 1}',
            },
            200,
            "Invalid.TemplateParams",
        ),
        (
            {
                "ChannelType": "whatsapp",
                "Type": "template",
                "From": "1",
                "To": "8613900000002",
                "TemplateCode": "t1",
                "Language": "en",
                "Payload": '{"a": "b"}',
            },
            200,
            "Invalid.Payload",
        ),
    ],
)
async def test_rejects_bad_params_with_the_right_code(
    fake_client: Client, params: dict[str, str], status: int, code: str
) -> None:
    """Missing required params are gateway 400s; invalid values are 200 with an error Code."""
    answer_status, data, _ = await _post(fake_client, params)
    assert (answer_status, data["Code"]) == (status, code)
    assert data["RequestId"]
    assert _fake(fake_client).messages == []
    assert _fake(fake_client).errors == [code]


async def test_accepts_interactive_list_and_template_shapes(fake_client: Client) -> None:
    """Our client's list Content and a template with params and payload are accepted."""
    rows = [{"id": f"r{i}", "title": f"Row {i}"} for i in range(10)]
    content = {
        "type": "list",
        "body": {"text": "Pick"},
        "action": {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]},
    }
    interactive = _text_params(MessageType="interactive", Content=json.dumps(content))
    template = {
        "ChannelType": "whatsapp",
        "Type": "template",
        "From": "8613800000001",
        "To": "+8613900000002",
        "TemplateCode": "t1",
        "Language": "en",
        "TemplateParams": '{"name":"Ana"}',
        "Payload": '["p1","p2"]',
    }
    for params in (interactive, template):
        status, data, _ = await _post(fake_client, params)
        assert (status, data["Code"]) == (200, "OK")


@pytest.mark.parametrize(
    ("action", "version", "code"),
    [
        ("SendChatappMassMessage", API_VERSION, "InvalidAction.NotFound"),
        ("", API_VERSION, "InvalidAction.NotFound"),
        (ACTION, "2017-05-25", "InvalidVersion"),
    ],
)
async def test_rejects_a_wrong_action_or_version(
    fake_client: Client, action: str, version: str, code: str
) -> None:
    """Only SendChatappMessage (and the template reads) of 2020-06-06 are served; anything
    else is a 400."""
    status, data, _ = await _post(fake_client, _text_params(), action=action, version=version)
    assert (status, data["Code"]) == (400, code)
    assert _fake(fake_client).messages == []


async def test_rejects_a_wrong_secret_and_an_unknown_key(fake_client: Client) -> None:
    """A wrong secret is 400 SignatureDoesNotMatch; a key the fake does not know is 404."""
    status, data, _ = await _post(fake_client, _text_params(), secret="wrong")
    assert (status, data["Code"]) == (400, "SignatureDoesNotMatch")
    assert "wrong" not in data["Message"]
    _fake(fake_client).credentials = {"another-key": SECRET}
    status, data, _ = await _post(fake_client, _text_params())
    assert (status, data["Code"]) == (404, "InvalidAccessKeyId.NotFound")
    assert _fake(fake_client).messages == []


async def test_rejects_an_unsigned_request(fake_client: Client) -> None:
    """No Authorization header at all is refused before anything else is looked at."""
    async with fake_client.post(
        "/",
        data=urlencode(_text_params()),
        headers={
            "x-acs-action": ACTION,
            "x-acs-version": API_VERSION,
            "content-type": FORM,
        },
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["Code"] == "MissingAuthorization"


async def test_rejects_a_replayed_nonce_and_a_stale_date(fake_client: Client) -> None:
    """A nonce is accepted once; a request dated 16 minutes ago is expired."""
    status, _, _ = await _post(fake_client, _text_params(), nonce="same-nonce")
    assert status == 200
    status, data, _ = await _post(fake_client, _text_params(), nonce="same-nonce")
    assert (status, data["Code"]) == (400, "SignatureNonceUsed")
    stale = datetime.now(UTC) - timedelta(minutes=16)
    status, data, _ = await _post(fake_client, _text_params(), now=stale)
    assert (status, data["Code"]) == (400, "InvalidTimeStamp.Expired")
    assert len(_fake(fake_client).messages) == 1


async def test_throttles_above_the_rate_limit_in_a_sliding_second(
    aiohttp_client: AiohttpClient,
) -> None:
    """With rate_limit=5, a sixth request within one second is 429 Throttling.User with a
    retry-after; once the window slides past the first request, sends pass again."""
    clock = FakeClock()
    client = await aiohttp_client(create_fake_cams({AK: SECRET}, rate_limit=5, clock=clock))
    statuses = []
    for _ in range(5):
        statuses.append((await _post(client, _text_params(), now=clock()))[0])
        clock.advance(0.1)
    assert statuses == [200] * 5

    answer = await _post(client, _text_params(), now=clock())
    assert (answer.status, answer.data["Code"]) == (429, "Throttling.User")
    # The window's oldest entry leaves at START + 1 s, 0.5 s from now.
    assert answer.headers["x-acs-retry-after"] == "500"
    assert answer.headers["Retry-After"] == "1"

    clock.advance(0.5)  # now START + 1.0: the first request has left the window
    assert (await _post(client, _text_params(), now=clock()))[0] == 200
    assert (await _post(client, _text_params(), now=clock()))[0] == 429
    assert len(_fake(client).messages) == 6


async def test_throttle_surfaces_as_rate_limited_error_in_our_client(
    aiohttp_client: AiohttpClient,
) -> None:
    """Through CamsClient the fake's 429 is a RateLimitedError with its retry-after."""
    clock = FakeClock()
    client = await aiohttp_client(create_fake_cams({AK: SECRET}, rate_limit=2, clock=clock))
    cams = CamsClient(
        client.session,
        endpoint=str(client.make_url("/")),
        access_key_id=AK,
        access_key_secret=SECRET,
        clock=clock,
    )
    msg = Outgoing(
        Address(ConversationRef("cams", "whatsapp", "1", "8613900000002")), Reply("hi"), "t"
    )
    await cams.send(msg)
    clock.advance(0.75)
    await cams.send(msg)
    with pytest.raises(RateLimitedError) as info:
        await cams.send(msg)
    assert info.value.retry_after == pytest.approx(0.25)


async def test_fail_next_and_delay_next_are_consumed_in_order(fake_client: Client) -> None:
    """Queued faults apply to the next authenticated sends, one each, then sends succeed."""
    fake = _fake(fake_client)
    fake.fail_next(503, "ServiceUnavailable", times=2)
    fake.fail_next(429, "Throttling.User", retry_after=1.5)
    fake.delay_next(0.05)
    assert (await _post(fake_client, _text_params(), secret="wrong"))[0] == 400  # no fault used
    answers = [await _post(fake_client, _text_params()) for _ in range(5)]
    assert [(s, d["Code"]) for s, d, _ in answers] == [
        (503, "ServiceUnavailable"),
        (503, "ServiceUnavailable"),
        (429, "Throttling.User"),
        (200, "OK"),
        (200, "OK"),
    ]
    assert len(fake.messages) == 2


async def test_injected_retry_after_is_sent_in_both_headers(fake_client: Client) -> None:
    """A fault with retry_after answers x-acs-retry-after in ms and Retry-After in seconds."""
    _fake(fake_client).fail_next(429, "Throttling.User", retry_after=1.5)
    answer = await _post(fake_client, _text_params())
    assert answer.status == 429
    assert answer.headers["x-acs-retry-after"] == "1500"
    assert answer.headers["Retry-After"] == "2"


async def test_messages_endpoint_lists_and_filters_by_recipient(fake_client: Client) -> None:
    """GET /_fake/messages returns every accepted message, or those to one number."""
    await _post(fake_client, _text_params(To="8613900000002"))
    await _post(fake_client, _text_params(To="+4915100000000"))
    async with fake_client.get("/_fake/messages") as resp:
        assert resp.status == 200
        assert [m["To"] for m in await resp.json()] == ["8613900000002", "+4915100000000"]
    async with fake_client.get("/_fake/messages", params={"to": "4915100000000"}) as resp:
        assert [m["To"] for m in await resp.json()] == ["+4915100000000"]


async def test_wait_for_returns_when_enough_messages_arrived(fake_client: Client) -> None:
    """wait_for wakes on the n-th accepted message and times out when it never comes."""
    fake = _fake(fake_client)
    waiter = asyncio.create_task(fake.wait_for(2, timeout=5))
    await _post(fake_client, _text_params())
    assert not waiter.done()
    await _post(fake_client, _text_params())
    assert len(await waiter) == 2
    with pytest.raises(TimeoutError):
        await fake.wait_for(3, timeout=0.05)


async def test_on_message_is_called_for_each_accepted_message(
    aiohttp_client: AiohttpClient,
) -> None:
    """The sandbox's print hook sees each recorded message, not the rejected ones."""
    seen: list[Mapping[str, str]] = []
    client = await aiohttp_client(create_fake_cams({AK: SECRET}, on_message=seen.append))
    await _post(client, _text_params())
    await _post(client, _text_params(Type="nope"))
    assert [m["Content"] for m in seen] == ['{"text":"hello"}']
    assert "MessageId" in seen[0]


async def test_works_mounted_as_a_sub_app(aiohttp_client: AiohttpClient) -> None:
    """Mounted under a prefix, the send API and /_fake/messages live below that prefix."""
    app = web.Application()
    fake_app = create_fake_cams({AK: SECRET})
    app.add_subapp("/fake-cams", fake_app)
    client = await aiohttp_client(app)
    status, data, _ = await _post(client, _text_params(), path="/fake-cams/")
    assert (status, data["Code"]) == (200, "OK")
    async with client.get("/fake-cams/_fake/messages") as resp:
        assert len(await resp.json()) == 1
    assert len(fake_app[FAKE_CAMS].messages) == 1


async def test_non_form_bodies_are_not_read_as_params(fake_client: Client) -> None:
    """A JSON body is covered by the signature but gives no parameters (RPC uses forms)."""
    body = json.dumps(_text_params()).encode()
    answer = await _post(fake_client, raw_body=body, content_type="application/json")
    assert (answer.status, answer.data["Code"]) == (400, "MissingChannelType")


async def test_a_list_rows_description_and_sections_title_are_bounded(
    fake_client: Client,
) -> None:
    """A row's description of up to 72 characters is taken; 73, or a section title over
    24, is refused as Meta refuses it."""

    def content(description: str, title: str = "Options") -> str:
        rows = [{"id": f"r{i}", "title": f"Row {i}", "description": description}
                for i in range(4)]  # fmt: skip
        return json.dumps({"type": "list", "body": {"text": "Pick"},
                           "action": {"button": "Choose",
                                      "sections": [{"title": title, "rows": rows}]}})  # fmt: skip

    cases = [(content("d" * 72), "OK"), (content("d" * 73), "Invalid.Content"),
             (content("d", "t" * 25), "Invalid.Content")]  # fmt: skip
    for body, code in cases:
        status, data, _ = await _post(
            fake_client, _text_params(MessageType="interactive", Content=body)
        )
        assert (status, data["Code"]) == (200, code)


async def test_a_list_of_several_sections_titles_each(fake_client: Client) -> None:
    """Several sections each need a title (one alone may go without); at most 10."""

    def content(*titles: str | None) -> str:
        sections = [{"rows": [{"id": f"r{i}", "title": f"Row {i}"}],
                     **({"title": t} if t is not None else {})}
                    for i, t in enumerate(titles)]  # fmt: skip
        return json.dumps({"type": "list", "body": {"text": "Pick"},
                           "action": {"button": "Choose", "sections": sections}})  # fmt: skip

    cases = [(content(None), "OK"), (content("This week", "Next week"), "OK"),
             (content("This week", None), "Invalid.Content"),
             (content(*(f"S{i}" for i in range(11))), "Invalid.Content")]  # fmt: skip
    for body, code in cases:
        status, data, _ = await _post(
            fake_client, _text_params(MessageType="interactive", Content=body)
        )
        assert (status, data["Code"]) == (200, code)


def _detail(code: str, header: dict[str, str], body: str, url: str = "") -> dict[str, Any]:
    """A template as GetChatappTemplateDetail's Data gives it."""
    components: list[dict[str, Any]] = [header, {"Type": "BODY", "Text": body}]
    if url:
        button = {"Type": "URL", "Text": "Track", "Url": url}
        components.append({"Type": "BUTTONS", "Buttons": [button]})
    return {"TemplateCode": code, "Language": "en", "AuditStatus": "pass",
            "Category": "UTILITY", "Components": components}  # fmt: skip


PARCEL = _detail(
    "parcel", {"Type": "HEADER", "Format": "IMAGE"}, "Hi {{name}}, it is on its way.",
    "https://track.example.com/p/{{parcel_id}}",
)  # fmt: skip
INVOICE = _detail(
    "invoice", {"Type": "HEADER", "Format": "DOCUMENT", "Url": "{{ file }}"}, "Yours."
)
TEMPLATES = [PARCEL, INVOICE]


@pytest.mark.parametrize(
    ("code", "variables", "answer"),
    [
        ("parcel", {"name": "Ana", "parcel_id": "A-1", "link": "https://c.example.com/a.jpg"},
         "OK"),
        ("parcel", {"name": "Ana", "link": "https://c.example.com/a.jpg"},
         "Invalid.TemplateParams"),  # the URL button's variable is missing
        ("parcel", {"name": "Ana", "parcel_id": "A-1"}, "Invalid.TemplateParams"),  # no header
        ("parcel", {"name": "Ana", "parcel_id": "A-1", "link": "http://c.example.com/a.jpg"},
         "Invalid.TemplateParams"),  # a header's URL is https
        ("invoice", {"file": "https://c.example.com/i.pdf"}, "OK"),
        ("invoice", {"link": "https://c.example.com/i.pdf"}, "Invalid.TemplateParams"),
        ("unknown", {}, "OK"),  # a template the fake is not given is not checked
    ],
)  # fmt: skip
async def test_a_template_send_is_checked_against_the_template_it_knows(
    aiohttp_client: AiohttpClient, code: str, variables: dict[str, str], answer: str
) -> None:
    """Given the account's templates, the fake refuses a send of one of them whose
    TemplateParams lacks a variable of its texts or URLs, or an https URL for its media
    header, under `link` or the variable its header names."""
    client = await aiohttp_client(create_fake_cams({AK: SECRET}, templates=TEMPLATES))
    params = {"ChannelType": "whatsapp", "Type": "template", "From": "8613800000001",
              "To": "8613900000002", "TemplateCode": code, "Language": "en",
              "TemplateParams": json.dumps(variables)}  # fmt: skip
    status, data, _ = await _post(client, params)
    assert (status, data["Code"]) == (200, answer), data
    assert len(_fake(client).messages) == (answer == "OK")


def _cta(display_text: str = "Track parcel", url: str = "https://t.example.com/p/1",
         name: str = "cta_url", body: str = "On its way.") -> str:  # fmt: skip
    return json.dumps({"type": "cta_url", "body": {"text": body}, "action": {
        "name": name, "parameters": {"display_text": display_text, "url": url}}})  # fmt: skip


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (_cta(), "OK"),
        (_cta(display_text="t" * 20), "OK"),
        (_cta(display_text="t" * 21), "Invalid.Content"),
        (_cta(display_text=""), "Invalid.Content"),
        (_cta(url="http://t.example.com/p/1"), "Invalid.Content"),
        (_cta(url="javascript:alert(1)"), "Invalid.Content"),
        (_cta(name="cta"), "Invalid.Content"),
        (_cta(body=""), "Invalid.Content"),
    ],
)
async def test_a_cta_url_message_is_checked_as_meta_takes_it(
    fake_client: Client, content: str, code: str
) -> None:
    """A call-to-action URL button needs its body's text, action.name cta_url, a
    display_text of 1 to 20 characters and an https url."""
    params = _text_params(MessageType="interactive", Content=content)
    status, data, _ = await _post(fake_client, params)
    assert (status, data["Code"]) == (200, code)
