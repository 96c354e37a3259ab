"""CAMS receipt pushes (`POST /cams/receipts`): a JSON array of ChatAppInbound (customer
messages), ChatAppStatus (delivery reports) and ChatAppAudit (template reviews) items,
told apart by their fields. Each item is parsed on its own: one bad item never fails the
batch. The body is decoded by the one strict decoder (bot.wire), with one tolerance:
trailing commas, which CAMS's published samples have. Items are read defensively (numbers
as strings or numbers, `Message` as text, object or JSON-encoded object); the wire models
of bot.web.schemas describe what is accepted.

Caps: a push holds at most `max_items` items (a PayloadTooLarge otherwise: see
`items_cap`); an item whose MessageId or TaskId is over MAX_MESSAGE_ID characters, or whose
CustSpaceId is over MAX_SPACE, is a bad item (they become Redis keys and stored fields);
error texts of delivery reports are cut to MAX_ERROR_TEXT characters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import BadRequest, PayloadTooLarge
from bot.model import (
    MAX_MESSAGE_ID,
    MAX_SPACE,
    ConversationRef,
    Inbound,
    StatusReceipt,
    is_valid_id,
)
from bot.phones import customer_id
from bot.platforms.media import MAX_MEDIA_TEXT, MAX_MEDIA_URL, cut, location
from bot.wire import decode_json

_MEDIA = {"IMAGE", "VIDEO", "AUDIO", "DOCUMENT"}

MAX_ERROR_TEXT = 512  # characters of a delivery report's ErrorCode or ErrorDescription kept
MAX_CONTACTS = 10  # contacts of one CONTACTS message kept, each with at most 5 phones
# What a media message's `Message` object gives, by CAMS's field names (any case): kept under
# these names in `Inbound.media`, strings only, cut to MAX_MEDIA_TEXT.
MEDIA_FIELDS = {
    "id": ("id",),
    "url": ("url", "link"),
    "mime_type": ("mimeType", "mime_type"),
    "filename": ("filename", "fileName", "name"),
    "caption": ("caption",),
}
# A receipt item takes over 100 bytes: its field names alone take about 60, and real ids,
# numbers and timestamps the rest.
MIN_ITEM_BYTES = 100


def items_cap(max_body: int) -> int:
    """Items a push of at most `max_body` bytes may hold: one per MIN_ITEM_BYTES. A push
    within the size limit that holds more is not made of real items, so the cap refuses
    nothing real that the size limit lets through (10,485 items for the default 1 MiB)."""
    return max(1, max_body // MIN_ITEM_BYTES)


@dataclass(frozen=True, slots=True)
class InboundItem:
    conv: ConversationRef
    event: Inbound


@dataclass(frozen=True, slots=True)
class StatusItem:
    conv: ConversationRef
    status: StatusReceipt


@dataclass(frozen=True, slots=True)
class AuditItem:
    template_code: str
    status: str


@dataclass(frozen=True, slots=True)
class BadItem:
    index: int
    reason: str


Item = InboundItem | StatusItem | AuditItem | BadItem


def _clean_keys(item: dict[str, Any]) -> dict[str, Any]:
    # A published sample has the key "Timestamp " with a trailing space.
    return {str(k).strip(): v for k, v in item.items()}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected a string")


def _required(item: dict[str, Any], name: str) -> str:
    value = _text(item.get(name)).strip()
    if not value:
        raise ValueError(f"missing {name}")
    return value


def _id(item: dict[str, Any], name: str, limit: int = MAX_MESSAGE_ID) -> str:
    value = _required(item, name)
    if len(value) > limit:
        raise ValueError(f"{name} is over {limit} characters")
    return value


def _optional_id(item: dict[str, Any], name: str, limit: int) -> str:
    value = _text(item.get(name)).strip()
    if len(value) > limit:
        raise ValueError(f"{name} is over {limit} characters")
    return value


def _number(item: dict[str, Any], name: str, channel: str) -> str:
    """A customer's or the business's number (an account id on channels without numbers),
    in the one stored form (bot.phones)."""
    written = _required(item, name)
    try:
        value = customer_id(written, channel)
    except ValueError as e:
        raise ValueError(f"{name} is not a phone number or account id: {e}") from None
    if not is_valid_id(value):
        raise ValueError(f"{name} is not a phone number or account id")
    return value


def _timestamp(item: dict[str, Any], now_ms: int) -> int:
    raw = item.get("Timestamp")
    if raw is None or raw == "":
        return now_ms
    if isinstance(raw, bool):
        raise ValueError("Timestamp is not a number")
    try:
        value = int(raw)
    except (TypeError, ValueError) as e:
        raise ValueError("Timestamp is not a number") from e
    return value * 1000 if value < 10**11 else value  # seconds -> milliseconds


def _message_object(message: Any) -> dict[str, Any]:
    """`Message` as an object: it may be an object or a JSON-encoded string."""
    if isinstance(message, dict):
        return message
    if isinstance(message, str) and message.lstrip().startswith("{"):
        try:
            decoded = decode_json(message, what="Message")
        except BadRequest:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _get_ci(obj: dict[str, Any], *names: str) -> Any:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    for name in names:
        if name.lower() in lowered and lowered[name.lower()] is not None:
            return lowered[name.lower()]
    return None


def _typed_text(message: Any) -> str:
    """A TEXT item's text: the Message itself, or the `text` (or `body`) of an object, given
    as such or JSON-encoded as REPLY items are. A string that is not a JSON object with a
    text or body (what a customer typed, braces included) is taken as it is."""
    if isinstance(message, dict):
        return _text(_get_ci(message, "text", "body"))
    if isinstance(message, str) and message.lstrip().startswith("{"):
        inner = _get_ci(_message_object(message), "text", "body")
        if isinstance(inner, str | int | float) and not isinstance(inner, bool):
            return _text(inner)
    return _text(message)


def _inbound(item: dict[str, Any], channel: str, now_ms: int) -> InboundItem:
    message_id = _id(item, "MessageId")
    customer = _number(item, "From", channel)
    business = _number(item, "To", channel)
    space = _optional_id(item, "CustSpaceId", MAX_SPACE)
    raw_type = _text(item.get("Type")).strip().upper()
    message = item.get("Message")
    text, payload = "", None
    media: dict[str, Any] | None = None
    if raw_type == "TEXT":
        text = _typed_text(message)
        kind = "text"
    elif raw_type in ("REPLY", "INTERACTIVE", "BUTTON"):
        obj = _message_object(message)
        if obj:
            text = _text(_get_ci(obj, "text", "title"))
            raw_payload = _get_ci(obj, "payload", "id")
            payload = _text(raw_payload) if raw_payload is not None else None
        else:
            text = _text(message) if isinstance(message, str) else ""
        kind = "reply"
    elif raw_type in _MEDIA:
        obj = _message_object(message)
        text = cut(_get_ci(obj, "caption"))
        kind = raw_type.lower()
        media = _media(obj, kind)
    elif raw_type == "LOCATION":
        kind = "location"
        media = _location(_message_object(message))
    elif raw_type == "CONTACTS":
        kind = "contacts"
        media = _contacts(message)
    elif raw_type == "SYSTEM":
        kind = "system"
    else:
        kind = "other"
    event = Inbound(
        message_id=message_id,
        at_ms=_timestamp(item, now_ms),
        kind=kind,
        text=text,
        payload=payload,
        raw_type=raw_type,
        space=space,
        media=media,
    )
    return InboundItem(ConversationRef("cams", channel, business, customer), event)


def _media(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """A photo, video, voice note or file as CAMS described it: its media id, its URL
    (valid for 7 days, never fetched here), type, file name and caption, those given."""
    media: dict[str, Any] = {"kind": kind}
    for name, keys in MEDIA_FIELDS.items():
        value = cut(_get_ci(obj, *keys), MAX_MEDIA_URL if name == "url" else MAX_MEDIA_TEXT)
        if value:
            media[name] = value
    return media


def _location(obj: dict[str, Any]) -> dict[str, Any]:
    return location(
        _get_ci(obj, "latitude"), _get_ci(obj, "longitude"),
        name=_get_ci(obj, "name"), address=_get_ci(obj, "address"),
    )  # fmt: skip


def _contacts(message: Any) -> dict[str, Any]:
    """Shared contacts, as WhatsApp gives them (a list of `{name: {formatted_name}, phones:
    [{phone}]}`, or one such object): each one's name and phone numbers, as written."""
    raw = message
    if isinstance(message, str) and message.lstrip()[:1] in ("[", "{"):
        try:
            raw = decode_json(message, what="Message")
        except BadRequest:
            raw = None
    if isinstance(raw, dict):
        inner = _get_ci(raw, "contacts")
        raw = inner if isinstance(inner, list) else [raw]
    contacts: list[dict[str, Any]] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict) or len(contacts) == MAX_CONTACTS:
            continue
        name = _get_ci(entry, "name")
        if isinstance(name, dict):
            name = _get_ci(name, "formatted_name", "formattedName", "first_name")
        phones = _get_ci(entry, "phones")
        numbers = [cut(_get_ci(p, "phone", "wa_id")) if isinstance(p, dict) else cut(p)
                   for p in (phones if isinstance(phones, list) else [])[:5]]  # fmt: skip
        contacts.append({"name": cut(name), "phones": [n for n in numbers if n]})
    return {"kind": "contact", "contacts": contacts}


def _status(item: dict[str, Any], channel: str, now_ms: int) -> StatusItem:
    message_id = _id(item, "MessageId")
    business = _number(item, "From", channel)
    customer = _number(item, "To", channel)
    status = _required(item, "Status")
    receipt = StatusReceipt(
        message_id=message_id,
        task_id=_optional_id(item, "TaskId", MAX_MESSAGE_ID) or message_id,
        status=status,
        at_ms=_timestamp(item, now_ms),
        error_code=_text(item.get("ErrorCode"))[:MAX_ERROR_TEXT],
        error_description=_text(item.get("ErrorDescription"))[:MAX_ERROR_TEXT],
    )
    return StatusItem(ConversationRef("cams", channel, business, customer), receipt)


def parse_item(index: int, raw: Any, *, channel: str, now_ms: int) -> Item:
    if not isinstance(raw, dict):
        return BadItem(index, "item is not a JSON object")
    item = _clean_keys(raw)
    try:
        if "Status" in item:
            return _status(item, channel, now_ms)
        if "AuditStatus" in item:
            return AuditItem(_text(item.get("TemplateCode")), _text(item.get("AuditStatus")))
        if "Type" in item or "Message" in item:
            return _inbound(item, channel, now_ms)
    except ValueError as e:
        return BadItem(index, str(e))
    return BadItem(index, "neither a message (Type, Message) nor a status (Status)")


def read_receipts(body: bytes, *, max_items: int | None = None) -> list[Any]:
    """The items of a push as decoded JSON, not yet read one by one (`parse_item` does).
    Raises BadRequest when the body as a whole is unusable, PayloadTooLarge when it holds
    more than `max_items` items (see `items_cap`)."""
    data = decode_json(body, trailing_commas=True)
    if isinstance(data, dict):
        data = [data]  # tolerate a single item sent bare
    if not isinstance(data, list):
        raise BadRequest("body must be a JSON array of receipt items")
    if max_items is not None and len(data) > max_items:
        raise PayloadTooLarge(
            f"a push of {len(data)} items: this endpoint takes at most {max_items} "
            "(one per 100 bytes of BOT_MAX_BODY)"
        )
    return data


def parse_receipts(
    body: bytes, *, channel: str, now_ms: int, max_items: int | None = None
) -> list[Item]:
    """Parse a push whole: `read_receipts`, then `parse_item` for each item."""
    data = read_receipts(body, max_items=max_items)
    return [parse_item(i, raw, channel=channel, now_ms=now_ms) for i, raw in enumerate(data)]
