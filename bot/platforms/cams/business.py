"""CAMS's call to the business system's "API Request URL" (`POST /cams/business`).

Its format is not public (see the protocol notes, §1.2 and §8), so this reads it the safe
way: JSON, form or query fields; names matched case- and separator-insensitively; the
intent, its data and the customer looked for under the likely names, at the top level or
one level down; the console's Signature looked for in a header, the query or the body.
Whatever cannot be understood is refused with a reason that names fields, never values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from bot.errors import BadRequest, Unauthorized
from bot.log import shown
from bot.model import is_valid_id
from bot.phones import customer_id
from bot.platforms.auth import matches_any
from bot.wire import Accept, body_kind, decode_json, is_text

SIGNATURE_HEADERS = (
    "Signature",
    "X-Signature",
    "X-Cams-Signature",
    "Sign",
    "X-Sign",
    "Token",
    "X-Token",
    "Authorization",
)
SIGNATURE_FIELDS = ("signature", "sign", "token")
CODE_FIELDS = ("intentcode", "intent", "code", "intentid", "intentname")
DATA_FIELDS = ("intentdata", "data", "params", "parameters", "variables", "defaultintentdata")
CUSTOMER_FIELDS = (
    "customer",
    "customerphone",
    "customernumber",
    "phone",
    "phonenumber",
    "mobile",
    "recipient",
    "userphone",
    "enduser",
)
ID_FIELDS = ("messageid", "requestid", "eventid", "uuid", "id", "taskid")
NESTS = ("intent", "data", "message", "payload", "body", "event")
MAX_ID = 200  # characters of a message key; a longer id is named by its digest


def _norm(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _flat(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {_norm(str(k)): v for k, v in obj.items()}


@dataclass(frozen=True, slots=True)
class BusinessCall:
    code: str
    data: dict[str, Any]
    customer: str
    business: str | None
    channel: str | None
    space: str
    message_key: str


def read_fields(content_type: str | None, body: bytes, query: Mapping[str, str]) -> dict[str, Any]:
    """Query parameters, overridden by the body's fields: a JSON object, or a form when so
    labelled and not a JSON object (see bot.wire.Accept.JSON_OR_FORM; multipart: 415)."""
    fields: dict[str, Any] = dict(query)
    kind = body_kind(content_type, Accept.JSON_OR_FORM)
    if not body.strip():
        return fields
    if kind == "form" and not body.lstrip().startswith(b"{"):
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as e:
            raise BadRequest("form body cannot be parsed") from e
        fields.update(form)
        return fields
    data = decode_json(body, trailing_commas=True)
    if not isinstance(data, dict):
        raise BadRequest("JSON body must be an object")
    fields.update(data)
    return fields


def check_signature(
    headers: Mapping[str, str], fields: Mapping[str, Any], secrets: Iterable[str]
) -> None:
    """Accept when any presented value equals any configured Signature (constant time)."""
    presented: list[str] = []
    for name in SIGNATURE_HEADERS:
        value = headers.get(name)
        if value and is_text(value):
            scheme, _, rest = value.partition(" ")
            presented.append(
                rest.strip() if scheme.lower() in ("bearer", "token") and rest else value
            )
    flat = _flat(fields)
    presented += [str(flat[n]) for n in SIGNATURE_FIELDS if isinstance(flat.get(n), str | int)]
    if not presented:
        raise Unauthorized(
            "no signature: expected it in a Signature header, or a `signature` field",
            category="missing",
        )
    configured = list(secrets)
    ok = False
    for value in presented:
        ok |= matches_any(value.strip(), configured)
    if not ok:
        raise Unauthorized("signature does not match", category="wrong")


def _find(fields: Mapping[str, Any], names: Iterable[str]) -> Any:
    flat = _flat(fields)
    for name in names:
        if name in flat and flat[name] not in (None, ""):
            return flat[name]
    for nest in NESTS:
        inner = flat.get(nest)
        if isinstance(inner, str) and inner.strip().startswith("{"):
            try:
                inner = decode_json(inner, what=nest)
            except BadRequest:
                inner = None
        if isinstance(inner, dict):
            found = _find_shallow(inner, names)
            if found is not None:
                return found
    return None


def _find_shallow(obj: Mapping[str, Any], names: Iterable[str]) -> Any:
    flat = _flat(obj)
    for name in names:
        if name in flat and flat[name] not in (None, ""):
            return flat[name]
    return None


def _data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = decode_json(value, what="intent data") if value.strip() else {}
        except BadRequest as e:
            raise BadRequest(f"intent data is a string but not a JSON object: {e.reason}") from e
    if not isinstance(value, dict):
        raise BadRequest("intent data must be a JSON object")
    return value


def _identity(what: str, value: Any, channel: str) -> str:
    """A customer or business of `channel` as stored (E.164 digits on a phone channel);
    BadRequest naming `what` otherwise. A number sent as a JSON number is read as its
    digits; a boolean, a float or an object is no number."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        found = customer_id(value, channel)
    except ValueError as e:
        raise BadRequest(f"the {what} is not a phone number or account id: {e}") from None
    if not is_valid_id(found):
        raise BadRequest(f"the {what} is not a phone number or account id")
    return found


def _same_number(a: str, b: str, channel: str) -> bool:
    try:
        return customer_id(a, channel) == customer_id(b, channel)
    except ValueError:
        return False


def _field_names(fields: Mapping[str, Any]) -> str:
    """The names of the fields a call sent, for a reason (which is logged): the caller's
    text, so cut short (bot.log.shown)."""
    return shown(", ".join(sorted(map(str, fields))), 120, quote=False) or "none"


def parse_business_call(
    fields: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    default_business: str | None,
    default_channel: str = "whatsapp",
    businesses: Collection[str] = (),
) -> BusinessCall:
    """The call's intent, customer, business number, channel, space and idempotency key.
    With From and To and nothing else naming the customer, From is the customer unless it
    is `default_business` or one of `businesses` (the numbers of `numbers:`)."""
    code = _find(fields, CODE_FIELDS)
    if isinstance(code, dict):
        code = _find_shallow(code, ("code", "intentcode"))
    if not isinstance(code, str | int) or not str(code).strip():
        raise BadRequest(
            "no intent code found: expected a field such as intentCode or code; "
            f"got fields: {_field_names(fields)}"
        )
    flat = _flat(fields)
    customer = _find(fields, CUSTOMER_FIELDS)
    if isinstance(customer, dict):
        customer = _find_shallow(customer, ("phone", "phonenumber", "number", "mobile", "id"))
    business = _find(fields, ("business", "businessnumber", "businessphone", "sender"))
    frm, to = flat.get("from"), flat.get("to")
    channel = _find(fields, ("channeltype", "channel"))
    channel = channel.strip() if isinstance(channel, str) else channel
    if channel is not None and not (isinstance(channel, str) and is_valid_id(channel)):
        raise BadRequest("the channel is not a channel name")
    on = str(channel or default_channel).lower()
    if customer is None and isinstance(frm, str) and isinstance(to, str):
        # Inbound convention (From = customer) unless From is our business number.
        ours = [b for b in (default_business, *businesses) if b]
        if any(_same_number(frm, b, on) for b in ours):
            customer, business = to, business or frm
        else:
            customer, business = frm, business or to
    elif customer is None:
        customer = to if isinstance(to, str) else frm
    if customer is None:
        raise BadRequest(
            "no customer found: expected a field such as phone, phoneNumber, customer or To; "
            f"got fields: {_field_names(fields)}"
        )
    customer = _identity("customer", customer, on)
    business = business if business is not None else default_business
    business = _identity("business number", business, on) if business else None
    space = _find(fields, ("custspaceid", "spaceid"))
    header_id = headers.get("Idempotency-Key")
    if header_id is not None and not is_text(header_id):
        raise BadRequest("the Idempotency-Key header is not UTF-8 text")
    explicit_id = header_id or _find(fields, ID_FIELDS)
    data = _data(_find(fields, DATA_FIELDS))
    if explicit_id is not None and not isinstance(explicit_id, dict | list):
        key = f"id:{explicit_id}"
        if len(key) > MAX_ID:
            key = "id-sha256:" + hashlib.sha256(key.encode()).hexdigest()
    else:
        canonical = json.dumps(
            {k: v for k, v in fields.items() if _norm(str(k)) not in SIGNATURE_FIELDS},
            sort_keys=True,
            default=str,
        )
        key = "body:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return BusinessCall(
        code=str(code).strip(),
        data=data,
        customer=customer,
        business=business,
        channel=str(channel).strip().lower() if isinstance(channel, str) and channel else None,
        space=str(space) if isinstance(space, str | int) else "",
        message_key=key,
    )
