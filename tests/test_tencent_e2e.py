"""Tencent Cloud Chat end to end: signed callbacks in, the same flows, replies through the fake
Tencent REST API, with a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.platforms.tencent.auth import sign
from bot.platforms.tencent.fake import FAKE_TENCENT, FakeTencent, create_fake_tencent
from tests.support import ROOT, catalog_of, eventually

APP = "1400000001"
KEY = "tencent-secret-key"
TOKEN = "callback-token"
BOT = "shopbot"


@pytest.fixture
async def tencent(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[FakeTencent, str]:
    server = await aiohttp_server(create_fake_tencent(int(APP), KEY, BOT))
    return server.app[FAKE_TENCENT], str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(make_client: Any, tencent: tuple[FakeTencent, str]) -> Any:
    catalog = compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents"))
    return await make_client(
        catalog_=catalog,
        tencent_sdkappid=APP,
        tencent_callback_token=f"old-token,{TOKEN}",
        tencent_secret_key=KEY,
        tencent_identifier=BOT,
        tencent_api=tencent[1],
        tencent_opted_out="drop",
    )


def query(
    command: str = "C2C.CallbackAfterSendMsg",
    *,
    at: int | None = None,
    app: str = APP,
    token: str = TOKEN,
    platform: str = "Android",
) -> str:
    when = str(at if at is not None else int(time.time()))
    return urlencode(
        {
            "SdkAppid": app,
            "CallbackCommand": command,
            "contenttype": "json",
            "ClientIP": "203.0.113.7",
            "OptPlatform": platform,
            "RequestTime": when,
            "Sign": sign(token, when),
        }
    )


def message(
    text: str,
    *,
    sender: str = "alice",
    to: str = BOT,
    key: str | None = None,
    payload: str | None = None,
) -> dict[str, Any]:
    now = int(time.time())
    element: dict[str, Any] = {"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}
    if payload is not None:
        element = {"MsgType": "TIMCustomElem", "MsgContent": {"Data": payload, "Desc": text}}
    return {
        "CallbackCommand": "C2C.CallbackAfterSendMsg",
        "From_Account": sender,
        "To_Account": to,
        "MsgSeq": 1,
        "MsgRandom": 2,
        "MsgTime": now,
        "MsgKey": key or f"{time.monotonic_ns()}_2_{now}",
        "MsgBody": [element],
        "SendMsgResult": 0,
        "EventTime": now * 1000,
    }


async def post(client: Any, body: dict[str, Any], **q: Any) -> Any:
    return await client.post(f"/tencent/callback?{query(**q)}", json=body)


def texts(fake: FakeTencent, account: str) -> list[str]:
    return [
        " ".join(
            str(e["MsgContent"].get("Text", ""))
            for e in m["MsgBody"]
            if e["MsgType"] == "TIMTextElem"
        )
        for m in fake.sent_to(account)
    ]


async def test_the_example_flows_run_over_tencent(
    client: Any, tencent: tuple[FakeTencent, str]
) -> None:
    """The menu flow, written for CAMS, runs unchanged over Tencent Chat."""
    fake, _ = tencent
    for count, text in enumerate(("hi", "3"), start=1):
        resp = await post(client, message(text))
        assert resp.status == 200
        assert await resp.json() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
        await eventually(lambda n=count: len(fake.sent_to("alice")) >= n)
    got = texts(fake, "alice")
    assert got[0].startswith("Hi! What can I do for you?")
    assert got[1].startswith("Connecting you with a colleague")
    sent = fake.sent_to("alice")[0]
    assert sent["From_Account"] == BOT


async def test_a_button_payload_chooses_the_option(
    client: Any, tencent: tuple[FakeTencent, str]
) -> None:
    """A TIMCustomElem's Data is a button payload, matched like a CAMS REPLY."""
    fake, _ = tencent
    await post(client, message("hi", sender="bob"))
    await eventually(lambda: len(fake.sent_to("bob")) >= 1)
    await post(client, message("Talk", sender="bob", payload="menu.choose.3"))
    await eventually(lambda: len(fake.sent_to("bob")) >= 2)
    assert texts(fake, "bob")[1].startswith("Connecting you with a colleague")


@pytest.mark.parametrize(
    ("q", "status"),
    [
        ({"app": "1400000009"}, 403),
        ({"token": "wrong"}, 401),
        ({"at": int(time.time()) - 3600}, 401),
        ({"at": int(time.time()) + 3600}, 401),
    ],
)
async def test_refused_callbacks_store_nothing(
    client: Any, redis: Redis, q: dict[str, Any], status: int
) -> None:
    """Another app's id, a wrong Sign, a stale or future time: refused, nothing stored."""
    resp = await post(client, message("hi", sender="carol"), **q)
    assert resp.status == status
    assert [k async for k in redis.scan_iter(match="*:c:*")] == []


async def test_a_replayed_request_is_refused(client: Any) -> None:
    """A request (Sign and body) is accepted once; other callbacks of the same second, which
    carry the same Sign, still get in."""
    at = int(time.time())
    body = message("hi", sender="dave")
    assert (await post(client, body, at=at)).status == 200
    assert (await post(client, body, at=at)).status == 401
    assert (await post(client, message("hi", sender="dora"), at=at)).status == 200


async def test_a_repeated_msgkey_replies_once(
    client: Any, tencent: tuple[FakeTencent, str]
) -> None:
    """The same MsgKey in two (differently signed) callbacks is one message."""
    fake, _ = tencent
    body = message("hi", sender="erin", key="k-1")
    # One clock reading: read twice across a second's turn, `now - 1` would sign the second
    # exactly as the first, and the replay cache would rightly refuse it.
    now = int(time.time())
    assert (await post(client, body, at=now)).status == 200
    assert (await post(client, body, at=now - 1)).status == 200
    await eventually(lambda: len(fake.sent_to("erin")) >= 1)
    await asyncio.sleep(0.5)
    assert len(fake.sent_to("erin")) == 1


async def test_the_bots_own_messages_never_start_a_flow(
    client: Any, tencent: tuple[FakeTencent, str], redis: Redis
) -> None:
    """Replies coming back through callbacks (RESTAPI, from the bot) are acknowledged only."""
    fake, _ = tencent
    body = message("Hi! What can I do for you?", sender=BOT, to="frank")
    resp = await post(client, body, platform="RESTAPI")
    assert resp.status == 200
    assert (await resp.json())["ErrorCode"] == 0
    assert [k async for k in redis.scan_iter(match="*:c:*")] == []
    assert fake.messages == []


async def test_before_send_drops_messages_to_opted_out_customers(
    client: Any, tencent: tuple[FakeTencent, str]
) -> None:
    """Before-send is allowed at once, and dropped (2) by the rule once the customer wrote STOP."""
    fake, _ = tencent
    before = message("hello", sender=BOT, to="gina")
    before["CallbackCommand"] = "C2C.CallbackBeforeSendMsg"
    first = int(time.time())
    resp = await post(
        client, before, command="C2C.CallbackBeforeSendMsg", platform="RESTAPI", at=first
    )
    assert (await resp.json())["ErrorCode"] == 0
    await post(client, message("STOP", sender="gina"))
    await eventually(lambda: len(fake.sent_to("gina")) >= 1)
    resp = await post(
        client,
        before,
        command="C2C.CallbackBeforeSendMsg",
        platform="RESTAPI",
        at=first - 1,  # another second than the first call's: another Sign, not a replay
    )
    assert (await resp.json())["ErrorCode"] == 2


async def test_unknown_commands_are_acknowledged(client: Any) -> None:
    """A command we do not handle gets the OK answer, so Tencent does not fail the event."""
    resp = await post(
        client, {"CallbackCommand": "Group.CallbackAfterNewMemberJoin"},
        command="Group.CallbackAfterNewMemberJoin",
    )  # fmt: skip
    assert resp.status == 200
    assert (await resp.json())["ErrorCode"] == 0


def test_tencent_sends_are_limited_per_sdkappid(tmp_path: Path) -> None:
    """The send rate limit of Tencent replies is keyed by the SdkAppid, apart from CAMS's."""
    import aiohttp

    from bot.platforms.base import account_id
    from bot.platforms.tencent.client import TencentClient

    async def make() -> str:
        async with aiohttp.ClientSession() as session:
            client = TencentClient(session, sdkappid=int(APP), admin_identifier=BOT, secret_key=KEY)
            return client.account

    assert asyncio.run(make()) == account_id(APP)


async def tencent_app(make_client: Any, url: str, catalog: CompiledCatalog) -> Any:
    """The app over `catalog`, Tencent Chat on at the fake `url`."""
    return await make_client(
        catalog_=catalog, tencent_sdkappid=APP, tencent_callback_token=TOKEN,
        tencent_secret_key=KEY, tencent_identifier=BOT, tencent_api=url,
    )  # fmt: skip


PHOTO_FLOW = """
defaults:
  inbound_flow: claim
flows:
  claim:
    start: photo
    states:
      photo:
        say: "Please send a photo of the parcel."
        collect: {slot: parcel, type: image, go: done}
      done: {say: "Got photo {{ parcel.id }}."}
"""


async def test_a_photo_over_tencent_answers_an_image_slot(
    make_client: Any, tencent: tuple[FakeTencent, str], tmp_path: Path
) -> None:
    """The same `collect: {type: image}` over Tencent Chat: a text is asked again for a
    photo; a TIMImageElem is kept (its UUID, the original image's URL)."""
    fake, url = tencent
    client = await tencent_app(make_client, url, catalog_of(tmp_path, PHOTO_FLOW))
    for count, text in enumerate(("hi", "it is here"), start=1):
        assert (await post(client, message(text, sender="carol"))).status == 200
        await eventually(lambda n=count: len(fake.sent_to("carol")) >= n)
    assert texts(fake, "carol")[1] == "Please send a photo."
    image = message("", sender="carol")
    image["MsgBody"] = [{"MsgType": "TIMImageElem", "MsgContent": {
        "UUID": "img-9", "ImageFormat": 1,
        "ImageInfoArray": [{"Type": 1, "URL": "https://im.example/img-9"}],
    }}]  # fmt: skip
    assert (await post(client, image)).status == 200
    await eventually(lambda: len(fake.sent_to("carol")) >= 3)
    assert texts(fake, "carol")[2] == "Got photo img-9."


async def test_a_photo_and_a_location_go_out_over_tencent(
    make_client: Any, tencent: tuple[FakeTencent, str], tmp_path: Path
) -> None:
    """The same `media:` and `location:` over Tencent Chat: the caption as a TIMTextElem,
    then a TIMImageElem by URL, in one message; the text, then a TIMLocationElem alone
    (the fake validates each)."""
    flows = """
    defaults:
      inbound_flow: show
    flows:
      show:
        start: photo
        states:
          photo:
            say: "As packed."
            media: {type: image, url: "https://cdn.example.com/p.jpg"}
            routes: [{go: pickup}]
          pickup:
            say: "Pick it up here:"
            location: {latitude: 39.9, longitude: 116.4, name: "Depot"}
    """
    fake, url = tencent
    client = await tencent_app(make_client, url, catalog_of(tmp_path, flows))
    assert (await post(client, message("hi", sender="dave"))).status == 200
    await eventually(lambda: len(fake.sent_to("dave")) >= 3)
    photo, text, pin = fake.sent_to("dave")
    assert text["MsgBody"] == [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "Pick it up here:"}}
    ]
    assert [e["MsgType"] for e in photo["MsgBody"]] == ["TIMTextElem", "TIMImageElem"]
    assert photo["MsgBody"][1]["MsgContent"]["ImageInfoArray"][0]["URL"] == (
        "https://cdn.example.com/p.jpg"
    )
    assert pin["MsgBody"] == [{"MsgType": "TIMLocationElem", "MsgContent": {
        "Desc": "Depot", "Latitude": 39.9, "Longitude": 116.4}}]  # fmt: skip


async def test_a_templates_image_header_goes_out_over_tencent(
    make_client: Any, tencent: tuple[FakeTencent, str], tmp_path: Path
) -> None:
    """A state that sends a template with an image header sends, over Tencent Chat, the
    image (a TIMImageElem by its URL, data in it percent-encoded) and then the template's
    text, in one message the fake validates."""
    flows = """
    templates:
      parcel_shipped: {languages: [en], category: utility, params: [name], header: image}
    defaults:
      inbound_flow: shipped
    flows:
      shipped:
        start: notify
        data: {name: "Ana", parcel_id: "A/1"}
        states:
          notify:
            template:
              code: parcel_shipped
              header: "https://cdn.example.com/parcels/{{ parcel_id }}.jpg"
              params: {name: "{{ name }}"}
    """
    fake, url = tencent
    client = await make_client(
        catalog_=catalog_of(tmp_path, flows),
        tencent_sdkappid=APP, tencent_callback_token=TOKEN, tencent_secret_key=KEY,
        tencent_identifier=BOT, tencent_api=url,
    )  # fmt: skip
    assert (await post(client, message("hi", sender="erin"))).status == 200
    await eventually(lambda: len(fake.sent_to("erin")) >= 1)
    [sent] = fake.sent_to("erin")
    image, text = sent["MsgBody"]
    assert image["MsgType"] == "TIMImageElem"
    assert {i["URL"] for i in image["MsgContent"]["ImageInfoArray"]} == {
        "https://cdn.example.com/parcels/A%2F1.jpg"
    }
    assert text == {"MsgType": "TIMTextElem", "MsgContent": {"Text": "parcel_shipped: name=Ana"}}
    assert fake.errors == []


async def test_a_link_goes_out_as_text_over_tencent(
    make_client: Any, tencent: tuple[FakeTencent, str], tmp_path: Path
) -> None:
    """Tencent Chat has no link buttons: a state's `link:` goes as its text, then the
    label and the URL (what the customer typed one path segment of it), as one text."""
    flows = """
    defaults:
      inbound_flow: track
    flows:
      track:
        start: ask
        states:
          ask:
            say: "Your parcel number?"
            collect: {slot: parcel_id, type: text, go: show}
          show:
            say: "Your parcel is on its way."
            link: {label: Track parcel, url: "https://track.example.com/p/{{ parcel_id }}"}
    """
    fake, url = tencent
    client = await make_client(
        catalog_=catalog_of(tmp_path, flows),
        tencent_sdkappid=APP, tencent_callback_token=TOKEN, tencent_secret_key=KEY,
        tencent_identifier=BOT, tencent_api=url,
    )  # fmt: skip
    assert (await post(client, message("hi", sender="frank"))).status == 200
    await eventually(lambda: len(fake.sent_to("frank")) >= 1)
    assert (await post(client, message("A-1/../x", sender="frank"))).status == 200
    await eventually(lambda: len(fake.sent_to("frank")) >= 2)
    assert texts(fake, "frank")[1] == (
        "Your parcel is on its way.\nTrack parcel: https://track.example.com/p/A-1%2F..%2Fx"
    )
    assert fake.errors == []
