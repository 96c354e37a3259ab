"""Parsing Tencent Cloud Chat one-to-one message callbacks."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bot.errors import BadRequest, ConfigError
from bot.model import MAX_MESSAGE_ID, ConversationRef
from bot.platforms.tencent.callbacks import (
    AFTER_SEND,
    BEFORE_SEND,
    BeforeSend,
    Ignored,
    TencentMessage,
    answer,
    parse_callback,
)

APP = "1400000000"
BOT = "support_bot"
CUSTOMER = "user_42"
CONV = ConversationRef("tencent", APP, BOT, CUSTOMER)


def text(value: Any) -> dict[str, Any]:
    return {"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}


def custom(data: Any, desc: Any = "") -> dict[str, Any]:
    return {"MsgType": "TIMCustomElem", "MsgContent": {"Data": data, "Desc": desc, "Ext": ""}}


def body(**overrides: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "CallbackCommand": AFTER_SEND,
        "From_Account": CUSTOMER,
        "To_Account": BOT,
        "MsgSeq": 48374,
        "MsgRandom": 2837546,
        "MsgTime": 1557481126,
        "MsgKey": "48374_2837546_1557481126",
        "MsgId": "144115233406643804-1557481126-2837546",
        "OnlineOnlyFlag": 0,
        "SendMsgResult": 0,
        "ErrorInfo": "send msg succeed",
        "MsgBody": [text("hello")],
        "CloudCustomData": "",
        "EventTime": 1557481126512,
    }
    b.update(overrides)
    return {k: v for k, v in b.items() if v is not None}


def parse(
    b: Any, command: str = AFTER_SEND, opt_platform: str = "iOS"
) -> TencentMessage | BeforeSend | Ignored:
    raw = b if isinstance(b, bytes) else json.dumps(b).encode()
    return parse_callback(command, raw, identifier=BOT, sdkappid=APP, opt_platform=opt_platform)


def message(b: Any) -> TencentMessage:
    result = parse(b)
    assert isinstance(result, TencentMessage), result
    return result


def test_text_message_to_the_bot() -> None:
    """A delivered text from a customer becomes an Inbound text in the customer's conversation."""
    m = message(body())
    assert m.conv == CONV
    assert m.conv.id == f"tencent:{APP}:{BOT}:{CUSTOMER}"
    e = m.event
    assert (e.message_id, e.at_ms, e.kind, e.text, e.payload) == (
        "48374_2837546_1557481126",
        1557481126512,
        "text",
        "hello",
        None,
    )
    assert e.raw_type == "TIMTextElem"


@pytest.mark.parametrize(
    ("overrides", "message_id"),
    [
        ({"MsgKey": None}, "144115233406643804-1557481126-2837546"),
        ({"MsgKey": "", "MsgId": None}, "48374_2837546_1557481126"),
        ({"MsgKey": None, "MsgId": None, "MsgSeq": "7", "MsgRandom": 8}, "7_8_1557481126"),
    ],
)
def test_message_id_fallbacks(overrides: dict[str, Any], message_id: str) -> None:
    """The message id is MsgKey, else MsgId, else MsgSeq_MsgRandom_MsgTime."""
    assert message(body(**overrides)).event.message_id == message_id


def test_message_ids_are_capped() -> None:
    """A MsgKey or MsgId (a Redis key) of MAX_MESSAGE_ID characters is taken; one more is
    a BadRequest naming the field, not cut (a cut id could name another message)."""
    fits = "k" * MAX_MESSAGE_ID
    assert message(body(MsgKey=fits)).event.message_id == fits
    assert message(body(MsgKey="", MsgId=fits)).event.message_id == fits
    for name, ids in (
        ("MsgKey", {"MsgKey": fits + "k"}),
        ("MsgId", {"MsgKey": "", "MsgId": fits + "k"}),
    ):
        with pytest.raises(BadRequest, match=f"{name} is over {MAX_MESSAGE_ID} characters"):
            parse(body(**ids))


def test_time_falls_back_to_msg_time_in_ms() -> None:
    """Without EventTime the event time is MsgTime (seconds) in milliseconds."""
    assert message(body(EventTime=None)).event.at_ms == 1557481126000


@pytest.mark.parametrize(
    ("data", "payload"),
    [
        ("CONFIRM", "CONFIRM"),
        ('{"payload": "CONFIRM", "text": "ignored"}', "CONFIRM"),
        ('{"id": "CONFIRM"}', "CONFIRM"),
        ('{"id": 7}', "7"),
        ('{"other": 1}', '{"other": 1}'),
        ("[1, 2]", "[1, 2]"),
        ("{not json", "{not json"),
    ],
)
def test_custom_element_is_a_button_reply(data: str, payload: str) -> None:
    """TIMCustomElem is a tapped button: Data (or its JSON payload/id) is the payload."""
    e = message(body(MsgBody=[custom(data, "Confirm")])).event
    assert (e.kind, e.text, e.payload) == ("reply", "Confirm", payload)


def test_custom_element_label_from_json_when_desc_is_empty() -> None:
    """Without Desc the label comes from the JSON Data's text (or title)."""
    e = message(body(MsgBody=[custom('{"payload": "YES", "title": "Yes"}')])).event
    assert (e.kind, e.text, e.payload) == ("reply", "Yes", "YES")


def test_mixed_elements_join_texts_and_first_payload_wins() -> None:
    """Several elements: texts join with a space, the first custom element's payload wins."""
    b = body(MsgBody=[text("I choose"), custom("A", "Option A"), {"MsgType": "TIMImageElem"}])
    b["MsgBody"].append(custom("B", "Option B"))
    e = message(b).event
    assert (e.kind, e.text, e.payload) == ("reply", "I choose Option A Option B", "A")
    assert e.raw_type == "TIMTextElem,TIMCustomElem,TIMImageElem,TIMCustomElem"


def test_an_image_with_text_is_a_captioned_image() -> None:
    """An image next to a text is the image, the text its caption (as a WhatsApp photo's):
    an image slot takes it, and its caption chooses no option."""
    photo = {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "i-2"}}
    e = message(body(MsgBody=[text("see"), photo])).event
    assert (e.kind, e.text, e.media) == ("image", "see", {"kind": "image", "id": "i-2"})


@pytest.mark.parametrize(
    ("msg_type", "kind"),
    [
        ("TIMImageElem", "image"),
        ("TIMFaceElem", "other"),
        ("TIMSoundElem", "audio"),
        ("TIMFileElem", "document"),
        ("TIMVideoFileElem", "video"),
        ("TIMLocationElem", "location"),
        ("TIMRelayElem", "other"),
        ("", "other"),
    ],
)
def test_media_elements(msg_type: str, kind: str) -> None:
    """Non-text elements map to a kind with empty text; unknown types are `other`."""
    e = message(body(MsgBody=[{"MsgType": msg_type, "MsgContent": {"UUID": "x"}}])).event
    assert (e.kind, e.text, e.payload) == (kind, "", None)


def test_empty_msg_body_is_other() -> None:
    """An empty MsgBody list is an `other` message, not an error."""
    assert message(body(MsgBody=[])).event.kind == "other"


@pytest.mark.parametrize("opt_platform", ["RESTAPI", "Android", "Unknown"])
def test_bot_own_message_is_ignored(opt_platform: str) -> None:
    """Our own replies coming back (REST sendmsg or any platform) are ignored: no reply loop."""
    result = parse(body(From_Account=BOT, To_Account=CUSTOMER), AFTER_SEND, opt_platform)
    assert isinstance(result, Ignored)
    assert "own message" in result.reason
    assert ("RESTAPI" in result.reason) == (opt_platform == "RESTAPI")


def test_bot_own_message_is_ignored_even_with_a_bad_recipient() -> None:
    """Loop prevention comes before validating the other account."""
    assert isinstance(parse(body(From_Account=BOT, To_Account="bad id!")), Ignored)


def test_message_to_someone_else_is_ignored() -> None:
    """A message between two other accounts is none of the bot's business."""
    result = parse(body(From_Account="alice", To_Account="bob"))
    assert isinstance(result, Ignored)
    assert "not addressed" in result.reason


@pytest.mark.parametrize("result_code", [1, 20006, "90001"])
def test_undelivered_message_is_ignored(result_code: Any) -> None:
    """SendMsgResult != 0 means the message was not delivered: ignored."""
    result = parse(body(SendMsgResult=result_code))
    assert isinstance(result, Ignored)
    assert "not delivered" in result.reason


def test_before_send_from_the_customer() -> None:
    """Before-send of a customer's message to the bot names the conversation, not from the bot."""
    result = parse(body(CallbackCommand=BEFORE_SEND, SendMsgResult=None), BEFORE_SEND)
    assert result == BeforeSend(CONV, from_bot=False)


def test_before_send_from_the_bot() -> None:
    """Before-send of the bot's own message (e.g. our REST reply) is marked from_bot."""
    b = body(CallbackCommand=BEFORE_SEND, From_Account=BOT, To_Account=CUSTOMER)
    assert parse(b, BEFORE_SEND, "RESTAPI") == BeforeSend(CONV, from_bot=True)


@pytest.mark.parametrize(
    ("sender", "recipient"), [("alice", "bob"), (BOT, BOT)], ids=["others", "self"]
)
def test_before_send_not_between_bot_and_a_customer_is_ignored(sender: str, recipient: str) -> None:
    """Before-send between other accounts, or the bot to itself, is ignored (allow)."""
    b = body(CallbackCommand=BEFORE_SEND, From_Account=sender, To_Account=recipient)
    assert isinstance(parse(b, BEFORE_SEND), Ignored)


@pytest.mark.parametrize("command", ["Group.CallbackAfterSendMsg", "State.StateChange", "x" * 500])
def test_unknown_command_is_ignored(command: str) -> None:
    """Unknown commands are ignored with a short reason naming them."""
    result = parse({"CallbackCommand": command}, command)
    assert isinstance(result, Ignored)
    assert "unknown command" in result.reason
    assert len(result.reason) < 120


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[]", "JSON object"),
        (b"[" * 100_000, "JSON"),
        (b'"text"', "JSON object"),
        (b"1" * 5000, "JSON"),
        (b"null", "JSON object"),
    ],
)
def test_unusable_bodies_are_bad_requests(raw: bytes, reason: str) -> None:
    """A body that is not a JSON object is a BadRequest naming the problem."""
    with pytest.raises(BadRequest, match=reason):
        parse(raw)


def test_utf8_bom_is_tolerated() -> None:
    """A UTF-8 byte-order mark before the JSON does not fail the callback."""
    assert isinstance(parse(b"\xef\xbb\xbf" + json.dumps(body()).encode()), TencentMessage)


@pytest.mark.parametrize("command", [AFTER_SEND, BEFORE_SEND])
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"From_Account": None}, "missing From_Account"),
        ({"From_Account": " "}, "missing From_Account"),
        ({"To_Account": None}, "missing To_Account"),
        ({"To_Account": ["x"]}, "To_Account is not a string"),
        ({"MsgBody": None}, "missing MsgBody"),
        ({"MsgBody": "hello"}, "MsgBody is not a list"),
        ({"MsgBody": {"MsgType": "TIMTextElem"}}, "MsgBody is not a list"),
        ({"MsgBody": ["hello"]}, r"MsgBody\[0\] is not an object"),
        ({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": "x"}]}, "MsgContent"),
        ({"From_Account": "bad id!"}, r"From_Account 'b\*\*\*\*\*!' is not a valid account id"),
        ({"From_Account": "x" * 65}, "not a valid account id"),
    ],
)
def test_malformed_known_commands_are_bad_requests(
    command: str, overrides: dict[str, Any], reason: str
) -> None:
    """A known command missing or mistyping a required field, or with a bad id, is a BadRequest."""
    with pytest.raises(BadRequest, match=reason):
        parse(body(CallbackCommand=command, **overrides), command)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"MsgKey": None, "MsgId": None, "MsgRandom": None}, "no message id"),
        ({"EventTime": None, "MsgTime": None, "MsgKey": "k"}, "missing EventTime and MsgTime"),
        ({"EventTime": "soon"}, "EventTime is not a number"),
        ({"EventTime": True}, "EventTime is not a number"),
        ({"EventTime": -5}, "EventTime is negative"),
        ({"EventTime": 2**64}, "EventTime is out of range"),
        ({"SendMsgResult": "failed"}, "SendMsgResult is not a number"),
        ({"MsgBody": [text(["x"])]}, "Text is not a string"),
        ({"MsgBody": [custom(["x"])]}, "Data is not a string"),
        ({"MsgBody": [custom("P", {"a": 1})]}, "Desc is not a string"),
    ],
)
def test_malformed_message_fields_are_bad_requests(overrides: dict[str, Any], reason: str) -> None:
    """Mistyped message fields of a message to the bot are a BadRequest naming the field."""
    with pytest.raises(BadRequest, match=reason):
        parse(body(**overrides))


@pytest.mark.parametrize("command", [AFTER_SEND, BEFORE_SEND])
def test_body_command_must_match_the_query(command: str) -> None:
    """A body whose CallbackCommand differs from the query's is refused."""
    with pytest.raises(BadRequest, match="differs"):
        parse(body(CallbackCommand="C2C.Other"), command)


def test_numeric_text_is_accepted_as_text() -> None:
    """A number where a string is expected (seen for ids) is read as its decimal text."""
    e = message(body(MsgBody=[text(5)], MsgKey=12345)).event
    assert (e.kind, e.text, e.message_id) == ("text", "5", "12345")


def test_empty_command_is_a_bad_request() -> None:
    """A callback without CallbackCommand is refused."""
    with pytest.raises(BadRequest, match="CallbackCommand"):
        parse(body(CallbackCommand=None), "")


def test_unconfigured_identity_is_a_config_error() -> None:
    """Parsing without a bot identifier or app id is a configuration error, not a 400."""
    with pytest.raises(ConfigError):
        parse_callback(AFTER_SEND, b"{}", identifier="", sdkappid=APP, opt_platform="iOS")


def test_answer() -> None:
    """answer() is Tencent's response body; ActionStatus stays OK, ErrorCode decides."""
    assert answer() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
    assert answer(1, "no") == {"ActionStatus": "OK", "ErrorInfo": "no", "ErrorCode": 1}
    assert answer(2)["ErrorCode"] == 2


_JUNK: list[Any] = [
    None,
    True,
    0,
    -1,
    7,
    1.5,
    float("inf"),
    10**30,
    "",
    " ",
    "x",
    "bad id!",
    BOT,
    CUSTOMER,
    "\uff10",  # a fullwidth zero
    [],
    {},
    [1],
    {"a": 1},
]


def _junk_element(rng: random.Random) -> Any:
    if rng.random() < 0.2:
        return rng.choice(_JUNK)
    element: dict[str, Any] = {
        "MsgType": rng.choice(
            ["TIMTextElem", "TIMCustomElem", "TIMImageElem", "TIMFaceElem", *_JUNK[:12]]
        )
    }
    if rng.random() < 0.9:
        element["MsgContent"] = rng.choice(
            [
                {"Text": rng.choice(_JUNK)},
                {"Data": rng.choice([*_JUNK, '{"payload": 1}', '{"id": null}', "{" * 50])},
                {"Desc": rng.choice(_JUNK), "Data": "P"},
                rng.choice(_JUNK),
            ]
        )
    return element


def test_fuzz_only_our_errors_escape() -> None:
    """Random bodies and commands either parse into a result or raise BadRequest."""
    rng = random.Random(1669872112)
    fields = ["From_Account", "To_Account", "MsgKey", "MsgId", "MsgSeq", "MsgRandom"]
    fields += ["MsgTime", "EventTime", "SendMsgResult", "CallbackCommand"]
    outcomes: dict[str, int] = {}
    for _ in range(3000):
        command = rng.choice([AFTER_SEND, BEFORE_SEND, "Other", ""])
        b = body(CallbackCommand=command)
        for name in fields:
            if rng.random() < 0.25:
                b[name] = rng.choice([*_JUNK, CUSTOMER, BOT])
        if rng.random() < 0.5:
            b["MsgBody"] = [_junk_element(rng) for _ in range(rng.randint(0, 4))]
        elif rng.random() < 0.2:
            b["MsgBody"] = rng.choice(_JUNK)
        raw = json.dumps(b).encode()
        if rng.random() < 0.1:
            cut = rng.randrange(len(raw))
            raw = raw[:cut] + bytes([rng.randrange(256)]) + raw[cut + 1 :]
        try:
            result = parse_callback(command, raw, identifier=BOT, sdkappid=APP, opt_platform="Web")
        except BadRequest:
            outcomes["bad"] = outcomes.get("bad", 0) + 1
            continue
        outcomes[type(result).__name__] = outcomes.get(type(result).__name__, 0) + 1
        if isinstance(result, TencentMessage):
            assert result.conv.business == BOT
            assert result.conv.customer != BOT
            assert isinstance(result.event.text, str)
            assert result.event.at_ms >= 0
    assert set(outcomes) == {"bad", "TencentMessage", "BeforeSend", "Ignored"}, outcomes


def test_what_media_elements_say_is_kept_under_cams_names() -> None:
    """A photo's UUID and original image URL, a file's URL and name, a video's, a voice
    note's and a location's coordinates and description: what a `collect:` of their type
    keeps. Objects where strings belong, and coordinates off the globe, are left out."""
    image = {"UUID": "img-1", "ImageFormat": 1, "ImageInfoArray": [
        {"Type": 3, "URL": "https://im.example/thumb"},
        {"Type": 1, "URL": "https://im.example/original"},
    ]}  # fmt: skip
    cases = [
        ("TIMImageElem", image,
         {"kind": "image", "id": "img-1", "url": "https://im.example/original"}),
        ("TIMFileElem", {"UUID": "f-1", "Url": "https://im.example/f", "FileName": "bill.pdf"},
         {"kind": "document", "id": "f-1", "url": "https://im.example/f",
          "filename": "bill.pdf"}),
        ("TIMSoundElem", {"UUID": "s-1", "Url": {"nested": "no"}}, {"kind": "audio", "id": "s-1"}),
        ("TIMVideoFileElem", {"VideoUUID": "v-1", "VideoUrl": "https://im.example/v"},
         {"kind": "video", "id": "v-1", "url": "https://im.example/v"}),
        ("TIMLocationElem", {"Desc": "Office", "Latitude": 39.9, "Longitude": 116.4},
         {"kind": "location", "latitude": 39.9, "longitude": 116.4, "name": "Office"}),
        ("TIMLocationElem", {"Desc": "Nowhere", "Latitude": 91, "Longitude": 0},
         {"kind": "location", "name": "Nowhere"}),
    ]  # fmt: skip
    for msg_type, content, media in cases:
        e = message(body(MsgBody=[{"MsgType": msg_type, "MsgContent": content}])).event
        assert e.media == media, msg_type
    assert message(body(MsgBody=[text("hi")])).event.media is None
