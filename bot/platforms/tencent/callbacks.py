"""Tencent Cloud Chat third-party callbacks (`POST ...?CallbackCommand=...`): the JSON body
of a one-to-one message callback, parsed into what the runtime needs.

* `C2C.CallbackAfterSendMsg` of a delivered message from a customer to our bot account
  becomes a `TencentMessage` (conversation + Inbound event).
* `C2C.CallbackBeforeSendMsg` to or from the bot becomes `BeforeSend`; the caller answers
  allow (0), reject (1) or drop (2) with `answer()`.
* Everything else is `Ignored(reason)` and should be acknowledged with `answer()`: the
  bot's own messages coming back (loop prevention: our REST `sendmsg` replies fire these
  callbacks too), messages between other accounts, undelivered messages and unknown
  commands.

A callback carries exactly one message, so unlike CAMS receipt batches there is no
"bad item" to skip: a body that is not a JSON object, a missing or mistyped required
field (From_Account, To_Account, MsgBody as a list of objects, a message id of at most
MAX_MESSAGE_ID characters, a time), or an account id of a conversation with the bot that
fails `is_valid_id` raises `BadRequest` with a reason that names the field (HTTP 400;
Tencent does not retry, and for before-send callbacks falls back to its default policy,
deliver). Account ids of messages that do not involve the bot are not validated: those
are ignored anyway.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bot.errors import BadRequest, ConfigError
from bot.log import mask_id, shown
from bot.model import MAX_MESSAGE_ID, ConversationRef, Inbound, is_valid_id
from bot.platforms.media import MAX_MEDIA_TEXT, MAX_MEDIA_URL, cut, location
from bot.wire import decode_json

AFTER_SEND = "C2C.CallbackAfterSendMsg"
BEFORE_SEND = "C2C.CallbackBeforeSendMsg"

PLATFORM = "tencent"

_KINDS = {
    "TIMTextElem": "text",
    "TIMCustomElem": "reply",
    "TIMImageElem": "image",
    "TIMFaceElem": "other",
    "TIMSoundElem": "audio",
    "TIMFileElem": "document",
    "TIMVideoFileElem": "video",
    "TIMLocationElem": "location",
}
_DIGITS = re.compile(r"[0-9]{1,19}")
_MAX_INT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TencentMessage:
    """A customer's message to the bot, delivered (C2C.CallbackAfterSendMsg)."""

    conv: ConversationRef
    event: Inbound


@dataclass(frozen=True, slots=True)
class BeforeSend:
    """A one-to-one message about to be delivered, to the bot or (`from_bot`) from it."""

    conv: ConversationRef
    from_bot: bool


@dataclass(frozen=True, slots=True)
class Ignored:
    """A callback to acknowledge and otherwise leave alone; `reason` is for the log."""

    reason: str


Parsed = TencentMessage | BeforeSend | Ignored


def answer(error_code: int = 0, info: str = "") -> dict[str, Any]:
    """The callback response body. For before-send callbacks `error_code` decides:
    0 allow, 1 reject, 2 drop silently, 120001..130000 reject with `info` shown to the
    sender. ActionStatus is "OK" in every case, as Tencent's samples show."""
    return {"ActionStatus": "OK", "ErrorInfo": info, "ErrorCode": error_code}


def _shown(value: str, limit: int = 64) -> str:
    """An untrusted value for a reason (which is logged): see bot.log.shown."""
    return shown(value, limit)


def _load_object(body: bytes) -> dict[str, Any]:
    data = decode_json(body)
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def _string(value: Any, name: str) -> str:
    """A string field; Tencent ids and keys sometimes arrive as numbers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise BadRequest(f"{name} is not a string")


def _account(body: dict[str, Any], name: str) -> str:
    value = _string(body.get(name), name).strip()
    if not value:
        raise BadRequest(f"missing {name}")
    return value


def _valid(value: str, name: str) -> str:
    if not is_valid_id(value):
        raise BadRequest(f"{name} {_shown(mask_id(value))} is not a valid account id")
    return value


def _int(value: Any, name: str) -> int | None:
    """A non-negative integer given as a number or a digit string; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequest(f"{name} is not a number")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        result = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        result = int(value.strip())
    else:
        raise BadRequest(f"{name} is not a number")
    if result < 0:
        raise BadRequest(f"{name} is negative")
    if result > _MAX_INT:
        raise BadRequest(f"{name} is out of range")
    return result


def _message_id(body: dict[str, Any]) -> str:
    for name in ("MsgKey", "MsgId"):
        value = _string(body.get(name), name).strip()
        if len(value) > MAX_MESSAGE_ID:
            raise BadRequest(f"{name} is over {MAX_MESSAGE_ID} characters")
        if value:
            return value
    parts = [body.get(name) for name in ("MsgSeq", "MsgRandom", "MsgTime")]
    numbers = [_int(p, n) for p, n in zip(parts, ("MsgSeq", "MsgRandom", "MsgTime"), strict=True)]
    if any(n is None for n in numbers):
        raise BadRequest("no message id: MsgKey, MsgId or MsgSeq+MsgRandom+MsgTime")
    return "_".join(str(n) for n in numbers)


def _at_ms(body: dict[str, Any]) -> int:
    event_time = _int(body.get("EventTime"), "EventTime")
    if event_time:
        return event_time
    msg_time = _int(body.get("MsgTime"), "MsgTime")
    if msg_time is None:
        raise BadRequest("missing EventTime and MsgTime")
    return msg_time * 1000


def _elements(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """MsgBody as (MsgType, MsgContent) pairs."""
    if "MsgBody" not in body:
        raise BadRequest("missing MsgBody")
    raw = body["MsgBody"]
    if not isinstance(raw, list):
        raise BadRequest("MsgBody is not a list")
    elements = []
    for i, element in enumerate(raw):
        if not isinstance(element, dict):
            raise BadRequest(f"MsgBody[{i}] is not an object")
        msg_type = _string(element.get("MsgType"), f"MsgBody[{i}].MsgType").strip()
        content = element.get("MsgContent")
        if content is None:
            content = {}
        if not isinstance(content, dict):
            raise BadRequest(f"MsgBody[{i}].MsgContent is not an object")
        elements.append((msg_type, content))
    return elements


def _custom(content: dict[str, Any], where: str) -> tuple[str, str | None]:
    """A TIMCustomElem as (label, payload). Data is the payload itself or a JSON object
    string whose `payload` (or `id`) is; Desc is the label."""
    data = _string(content.get("Data"), f"{where}.Data")
    label = _string(content.get("Desc"), f"{where}.Desc")
    payload: str | None = data or None
    try:
        decoded = decode_json(data, what="Data") if data.lstrip().startswith("{") else None
    except BadRequest:
        decoded = None
    if isinstance(decoded, dict):
        for key in ("payload", "id"):
            value = decoded.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                payload = str(value)
                break
        if not label:
            for key in ("text", "title"):
                value = decoded.get(key)
                if isinstance(value, str) and value:
                    label = value
                    break
    return label, payload


def _inbound(body: dict[str, Any], elements: list[tuple[str, dict[str, Any]]]) -> Inbound:
    texts: list[str] = []
    payload: str | None = None
    for i, (msg_type, content) in enumerate(elements):
        where = f"MsgBody[{i}].MsgContent"
        if msg_type == "TIMTextElem":
            text = _string(content.get("Text"), f"{where}.Text")
        elif msg_type == "TIMCustomElem":
            text, custom_payload = _custom(content, where)
            if payload is None:
                payload = custom_payload
        else:
            continue
        if text:
            texts.append(text)
    # A photo, file... with words is that media, the words its caption, as on WhatsApp.
    first_media = next((i for i, (t, _) in enumerate(elements)
                        if _KINDS.get(t) in _MEDIA_KINDS), None)  # fmt: skip
    if payload is not None:
        kind = "reply"
    elif first_media is not None:
        kind = _KINDS[elements[first_media][0]]
    elif texts:
        kind = "text"
    elif elements:
        kind = _KINDS.get(elements[0][0], "other")
        kind = "other" if kind in ("text", "reply") else kind
    else:
        kind = "other"
    return Inbound(
        message_id=_message_id(body),
        at_ms=_at_ms(body),
        kind=kind,
        text=" ".join(texts),
        payload=payload,
        raw_type=",".join(msg_type for msg_type, _ in elements),
        media=_media(kind, elements[first_media][1])
        if first_media is not None and kind in _MEDIA_KINDS
        else None,
    )


_MEDIA_KINDS = frozenset({"image", "audio", "document", "video", "location"})


def _media(kind: str, content: dict[str, Any]) -> dict[str, Any]:
    """What Tencent Cloud Chat says of a photo (TIMImageElem: its UUID, the original
    image's URL), a voice note (TIMSoundElem), a file (TIMFileElem), a video
    (TIMVideoFileElem) or a location (TIMLocationElem), under the names CAMS's have."""
    if kind == "location":
        return location(content.get("Latitude"), content.get("Longitude"),
                        name=content.get("Desc"))  # fmt: skip
    url: Any = content.get("Url")
    ident: Any = content.get("UUID")
    if kind == "image":
        infos = content.get("ImageInfoArray")
        images = [i for i in infos if isinstance(i, dict)] if isinstance(infos, list) else []
        original = [i for i in images if i.get("Type") == 1] or images
        url = original[0].get("URL") if original else None
    elif kind == "video":
        url, ident = content.get("VideoUrl"), content.get("VideoUUID")
    media: dict[str, Any] = {"kind": kind}
    for name, value, limit in (("id", ident, MAX_MEDIA_TEXT), ("url", url, MAX_MEDIA_URL),
                               ("filename", content.get("FileName"), MAX_MEDIA_TEXT)):  # fmt: skip
        if kept := cut(value, limit):
            media[name] = kept
    return media


def _after_send(
    body: dict[str, Any], *, identifier: str, sdkappid: str, opt_platform: str
) -> Parsed:
    sender = _account(body, "From_Account")
    recipient = _account(body, "To_Account")
    elements = _elements(body)
    if sender == identifier:
        via = " via RESTAPI" if opt_platform == "RESTAPI" else ""
        return Ignored(f"the bot's own message{via}")
    if recipient != identifier:
        return Ignored("a message not addressed to the bot")
    result = _int(body.get("SendMsgResult"), "SendMsgResult")
    if result:
        return Ignored(f"not delivered (SendMsgResult {result})")
    customer = _valid(sender, "From_Account")
    conv = ConversationRef(PLATFORM, sdkappid, identifier, customer)
    return TencentMessage(conv, _inbound(body, elements))


def _before_send(body: dict[str, Any], *, identifier: str, sdkappid: str) -> Parsed:
    sender = _account(body, "From_Account")
    recipient = _account(body, "To_Account")
    _elements(body)
    if sender == identifier and recipient == identifier:
        return Ignored("the bot's message to itself")
    if sender == identifier:
        customer, from_bot = _valid(recipient, "To_Account"), True
    elif recipient == identifier:
        customer, from_bot = _valid(sender, "From_Account"), False
    else:
        return Ignored("a message neither from nor to the bot")
    return BeforeSend(ConversationRef(PLATFORM, sdkappid, identifier, customer), from_bot)


def parse_callback(
    command: str, body: bytes, *, identifier: str, sdkappid: str, opt_platform: str
) -> Parsed:
    """Parse one callback. `command`, `opt_platform` come from the query (`CallbackCommand`,
    `OptPlatform`); `identifier` is the bot's account, `sdkappid` the (verified) app id.
    Raises BadRequest for an unusable body (see the module docstring), ConfigError when
    `identifier` or `sdkappid` is empty."""
    if not identifier or not sdkappid:
        raise ConfigError("the Tencent bot identifier and SdkAppid must be configured")
    data = _load_object(body)
    if not command:
        raise BadRequest("missing CallbackCommand")
    in_body = data.get("CallbackCommand")
    if in_body is not None and in_body != command:
        raise BadRequest("CallbackCommand in the body differs from the query's")
    if command == AFTER_SEND:
        return _after_send(
            data, identifier=identifier, sdkappid=sdkappid, opt_platform=opt_platform
        )
    if command == BEFORE_SEND:
        return _before_send(data, identifier=identifier, sdkappid=sdkappid)
    return Ignored(f"unknown command {_shown(command)}")
