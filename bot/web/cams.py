"""CAMS's calls to us: receipt pushes and the business-system (intent) call.

Both answer only after what they accepted is stored in Redis; a 503 otherwise, so CAMS
pushes again. Processing happens later, in the partition workers. With BOT_SHED_BACKLOG_AGE
set, receipt pushes (and only they: CAMS is known to push them again) are also answered 503
while the inbox backlog is too old (bot.web.shedding).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from aiohttp import hdrs, web

from bot.errors import BadRequest, Unauthorized
from bot.log import mask_id, shown, shown_name
from bot.model import MAX_SPACE, ConversationRef, IntentStart, is_valid_id
from bot.platforms.auth import matches_any
from bot.platforms.cams.business import check_signature, parse_business_call, read_fields
from bot.platforms.cams.receipts import (
    AuditItem,
    BadItem,
    InboundItem,
    Item,
    StatusItem,
    items_cap,
    parse_item,
    read_receipts,
)
from bot.store import Accepted, event_to_json
from bot.web.body import COMPRESSED, SMALL_BODY, expect_body, read_body
from bot.web.deadline import redis_bound
from bot.web.keys import CATALOG, CLOCK, METRICS, SETTINGS, SHEDDER, STORE
from bot.web.numbers import is_served, sending_number
from bot.wire import Accept, body_kind

log = logging.getLogger("bot.web.cams")

SUCCESS = {"code": 0, "msg": "success"}
# The items of a push are read this many at a time, the event loop answering other requests
# between two slices: a 1 MiB push holds up to 10,485 items, some 25 ms of reading on one
# core, and a slice about half a millisecond (bench: a push's items ~2.2 µs each).
PARSE_SLICE = 256  # items
SHOWN = 3  # reasons (rejected items) or reviews (audit items) the log line of a push names


def rejected_summary(bad: list[BadItem], total: int) -> str:
    """One line for the rejected items of a push: how many, and why, by reason (the most
    frequent first, with their count and first item), at most SHOWN of them."""
    counts = Counter(b.reason for b in bad)
    first: dict[str, int] = {}
    for b in bad:
        first.setdefault(b.reason, b.index)
    named = [
        f"{reason} (x{n}, first item {first[reason]})" for reason, n in counts.most_common(SHOWN)
    ]
    if len(counts) > SHOWN:
        named.append(f"and {len(counts) - SHOWN} other reasons")
    return f"{len(bad)} of {total} receipt items rejected: {'; '.join(named)}"


def reviews_summary(audits: list[AuditItem]) -> str:
    """One line for the template reviews (ChatAppAudit items) of a push: the first SHOWN,
    each value as the push has it, cut, masked and escaped (bot.log.shown)."""
    named = [f"{shown(a.template_code)} {shown_name(a.status)}" for a in audits[:SHOWN]]
    if len(audits) > SHOWN:
        named.append(f"and {len(audits) - SHOWN} more")
    return f"template review status: {', '.join(named)}"


def _most_common(values: list[str], show: Callable[[str], str], other: str) -> str:
    """The SHOWN most frequent of `values`, each shown by `show` with its count, then how
    many `other` values there are besides."""
    counts = Counter(values)
    named = [f"{show(v)} (x{n})" for v, n in counts.most_common(SHOWN)]
    if len(counts) > SHOWN:
        named.append(f"and {len(counts) - SHOWN} other {other}")
    return ", ".join(named)


def unknown_types_summary(types: list[str]) -> str:
    """One line for the messages of a push whose `Type` is unknown (kept, matched as no
    answer): how many, and the SHOWN most frequent types with their counts."""
    return f"{len(types)} messages of an unknown Type kept, matched as no answer: " + (
        _most_common(types, shown_name, "types")
    )


def refused_summary(refused: list[str]) -> str:
    """One line for the messages of a push to business numbers `numbers:` does not list
    (refused: no conversation starts): how many, and the SHOWN most frequent numbers."""
    return (
        f"{len(refused)} messages to business numbers not in `numbers:` of flows.yaml refused: "
        + _most_common(refused, lambda number: shown(number, quote=False), "numbers")
    )


async def parse_push(body: bytes, *, channel: str, now_ms: int, max_body: int) -> list[Item]:
    """The items of a push (`parse_receipts`), read PARSE_SLICE at a time with a turn of the
    event loop between two slices, so that the largest push does not hold it for long."""
    data = read_receipts(body, max_items=items_cap(max_body))
    items: list[Item] = []
    for start in range(0, len(data), PARSE_SLICE):
        if start:
            await asyncio.sleep(0)
        items.extend(
            parse_item(index, raw, channel=channel, now_ms=now_ms)
            for index, raw in enumerate(data[start : start + PARSE_SLICE], start)
        )
    return items


async def receipts(request: web.Request) -> web.Response:
    """`POST /cams/receipts?token=...`: a batch of ChatAppInbound / ChatAppStatus items, at
    most BOT_MAX_BODY bytes of JSON (whatever its Content-Type says: see body.Accept), as
    sent or compressed (gzip, deflate: inflated once the token is checked, and no further
    than BOT_MAX_BODY). CAMS does not say whether its HTTP client compresses; a refusal would
    lose every message of the push, and inflating after the token costs no more than
    reading a push of the same size."""
    settings = request.app[SETTINGS]
    if not matches_any(request.query.get("token"), settings.receipt_tokens()):
        raise Unauthorized(
            "missing or wrong token"
            if request.query.get("token") is not None
            else "missing token: the receipt URL needs ?token=...",
            category="wrong" if request.query.get("token") else "missing",
        )
    # Refused unread while the backlog is too old (BOT_SHED_BACKLOG_AGE): CAMS pushes again.
    request.app[SHEDDER].check()
    channel = request.query.get("channel", settings.cams_channel).strip().lower()
    if not is_valid_id(channel):
        raise BadRequest("`channel` must be a channel name such as whatsapp or viber")
    body_kind(request.headers.get(hdrs.CONTENT_TYPE), Accept.JSON_ANY_LABEL)
    body = await read_body(
        request, limit=settings.max_body, within=settings.body_timeout, encodings=COMPRESSED
    )
    now_ms = int(request.app[CLOCK]() * 1000)
    items = await parse_push(body, channel=channel, now_ms=now_ms, max_body=settings.max_body)
    events: list[Accepted] = []
    statuses = []
    rejected: list[BadItem] = []
    audits: list[AuditItem] = []
    unknown: list[str] = []
    catalog = request.app[CATALOG].current
    refused: list[str] = []
    for item in items:
        if isinstance(item, InboundItem):
            if not is_served(catalog, item.conv.channel, item.conv.business):
                refused.append(f"{item.conv.channel} {mask_id(item.conv.business)}")
                continue
            events.append(
                Accepted(item.conv.id, f"cams:{item.event.message_id}", event_to_json(item.event))
            )
            if item.event.kind == "other":
                unknown.append(item.event.raw_type)
        elif isinstance(item, StatusItem):
            statuses.append((item.conv.id, item.status))
        elif isinstance(item, AuditItem):
            audits.append(item)
        elif isinstance(item, BadItem):
            rejected.append(item)
    if audits:
        log.info("%s", reviews_summary(audits))
    if rejected:
        log.warning("%s", rejected_summary(rejected, len(items)))
    if unknown:
        log.warning("%s", unknown_types_summary(unknown))
    if refused:
        log.warning("%s", refused_summary(refused))
        request.app[METRICS].unknown_number("cams", len(refused))
    async with redis_bound(request):
        new = await request.app[STORE].accept(events, statuses)
    request.app[METRICS].duplicate("cams", len(new) - sum(new))
    log.debug(
        "receipts: %d messages (%d new, %d repeated), %d statuses, %d audits, %d rejected",
        len(events), sum(new), len(new) - sum(new), len(statuses), len(audits), len(rejected),
    )  # fmt: skip
    return web.json_response(SUCCESS)


async def business(request: web.Request) -> web.Response:
    """`POST /cams/business` (or GET with a query): CAMS triggers an intent of ours for a
    customer. The body, at most SMALL_BODY bytes, is a JSON object or a form."""
    settings = request.app[SETTINGS]
    content_type = request.headers.get(hdrs.CONTENT_TYPE)
    body_kind(content_type, Accept.JSON_OR_FORM)
    body = await read_body(request, limit=SMALL_BODY, within=settings.body_timeout)
    fields = read_fields(content_type, body, request.query)
    check_signature(request.headers, fields, settings.business_signatures())
    call = parse_business_call(
        fields,
        request.headers,
        default_business=settings.business_number(),
        default_channel=settings.cams_channel,
        businesses=[n.business for n in request.app[CATALOG].current.numbers.values()],
    )
    if len(call.space) > MAX_SPACE:
        raise BadRequest(f"custSpaceId is over {MAX_SPACE} characters")
    catalog = request.app[CATALOG].current
    if call.code not in catalog.intents:
        known = ", ".join(sorted(catalog.intents)) or "none"
        raise BadRequest(f"unknown intent code {shown(call.code)}; known: {known}")
    try:
        sender = sending_number(
            catalog,
            settings,
            business=call.business,
            channel=call.channel,
            default=catalog.intents[call.code].number,
        )
    except BadRequest:
        if call.business is not None and catalog.numbers:
            request.app[METRICS].unknown_number("cams")
        raise
    conv = ConversationRef("cams", sender.channel, sender.business, call.customer)
    event = IntentStart(
        message_id=call.message_key,
        at_ms=int(request.app[CLOCK]() * 1000),
        code=call.code,
        data=call.data,
        space=call.space or sender.space,
    )
    async with redis_bound(request):
        [new] = await request.app[STORE].accept(
            [Accepted(conv.id, f"cams-intent:{call.message_key}", event_to_json(event))]
        )
    request.app[METRICS].duplicate("cams", int(not new))
    log.debug("intent %s accepted (%s)", shown(call.code), "new" if new else "repeated")
    return web.json_response({**SUCCESS, "success": True})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/cams/receipts", receipts, expect_handler=expect_body),
        web.post("/cams/business", business, expect_handler=expect_body),
        web.get("/cams/business", business, expect_handler=expect_body),
    ]
