"""CAMS receipt pushes (`POST /cams/receipts`): a JSON array of ChatAppInbound (customer
messages), ChatAppStatus (delivery reports) and ChatAppAudit (template reviews) items,
told apart by their fields. Each item is parsed on its own: one bad item never fails the
batch. The body is decoded by the one strict decoder (bot.wire), with one tolerance:
trailing commas, which CAMS's published samples have. Items are read defensively (numbers
as strings or numbers, `Message` as text, object or JSON-encoded object); the wire models
of bot.web.schemas describe what is accepted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import BadRequest
from bot.model import ConversationRef, Inbound, StatusReceipt, is_valid_id
from bot.phones import customer_id
from bot.wire import decode_json

_MEDIA = {"IMAGE", "VIDEO", "AUDIO", "DOCUMENT"}


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


def _number(item: dict[str, Any], name: str, channel: str) -> str:
    """A customer's or the business's number (an account id on channels without numbers),
    in the one stored form (bot.phones)."""
    try:
        value = customer_id(_required(item, name), channel)
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


def _inbound(item: dict[str, Any], channel: str, now_ms: int) -> InboundItem:
    message_id = _required(item, "MessageId")
    customer = _number(item, "From", channel)
    business = _number(item, "To", channel)
    raw_type = _text(item.get("Type")).strip().upper()
    message = item.get("Message")
    text, payload = "", None
    if raw_type == "TEXT":
        if isinstance(message, dict):
            text = _text(_get_ci(message, "text", "body"))
        else:
            text = _text(message)
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
        text = _text(_get_ci(_message_object(message), "caption"))
        kind = raw_type.lower()
    elif raw_type in ("LOCATION", "CONTACTS", "SYSTEM"):
        kind = raw_type.lower()
    else:
        kind = "other"
    event = Inbound(
        message_id=message_id,
        at_ms=_timestamp(item, now_ms),
        kind=kind,
        text=text,
        payload=payload,
        raw_type=raw_type,
        space=_text(item.get("CustSpaceId")).strip(),
    )
    return InboundItem(ConversationRef("cams", channel, business, customer), event)


def _status(item: dict[str, Any], channel: str, now_ms: int) -> StatusItem:
    message_id = _required(item, "MessageId")
    business = _number(item, "From", channel)
    customer = _number(item, "To", channel)
    status = _required(item, "Status")
    receipt = StatusReceipt(
        message_id=message_id,
        task_id=_text(item.get("TaskId")).strip() or message_id,
        status=status,
        at_ms=_timestamp(item, now_ms),
        error_code=_text(item.get("ErrorCode")),
        error_description=_text(item.get("ErrorDescription")),
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


def parse_receipts(body: bytes, *, channel: str, now_ms: int) -> list[Item]:
    """Parse a push. Raises BadRequest when the body as a whole is unusable."""
    data = decode_json(body, trailing_commas=True)
    if isinstance(data, dict):
        data = [data]  # tolerate a single item sent bare
    if not isinstance(data, list):
        raise BadRequest("body must be a JSON array of receipt items")
    return [parse_item(i, raw, channel=channel, now_ms=now_ms) for i, raw in enumerate(data)]
