"""The campaign API: one intent started for many customers, paced and scheduled (issue 14).

`POST /v1/campaigns` takes the recipients as JSON or as a CSV file (text/csv, the options
then in the query) and answers 202 once every recipient is stored; the campaign pumps of the
runtime (bot/runtime/campaigns.py) then start each as its time comes, at the campaign's
rate. Then the campaigns are listed, read with their counts, their recipients listed, and
paused, resumed or cancelled. Same credentials as `/v1/intents` (BOT_API_KEYS).

A campaign is made in steps, each within BOT_REDIS_TIMEOUT: the campaign (status
`creating`), its recipients a batch at a time, then `running`. A request cut short leaves it
`creating`, where no recipient is messaged; the same request again with its
`Idempotency-Key` stores what is missing and starts it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import hdrs, web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from bot.campaign import (
    MAX_RATE,
    MAX_RECIPIENTS,
    CampaignSpec,
    Category,
    MidFlow,
    QuietHours,
    Status,
)
from bot.errors import BadRequest, Conflict, NotFound, UnsupportedMediaType
from bot.flows.compiler import CompiledCatalog
from bot.log import shown
from bot.model import MAX_SPACE, ConversationRef
from bot.settings import Settings
from bot.store import CampaignRecord, Store, campaign_to_json
from bot.store.campaigns import MOVES
from bot.web.api import authorize, idempotency_key
from bot.web.body import SMALL_BODY, expect_body, read_body, read_json
from bot.web.deadline import redis_bound
from bot.web.keys import CATALOG, CLOCK, SETTINGS, STORE
from bot.web.numbers import sending_number
from bot.web.recipients import (
    MAX_ZONE,
    Entry,
    Row,
    campaign_rows,
    csv_entries,
    time_zone,
    too_many,
)
from bot.wire import Accept, body_kind, decode_json, is_json_type, is_text, media_type

log = logging.getLogger("bot.web.campaigns")

CSV = "text/csv"
DEFAULT_RATE = 10.0  # first messages per second
MAX_NAME = 200  # characters of a campaign's name
MAX_RECENT_HOURS = 24 * 365
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
STORE_BATCH = 5_000  # recipients stored within one BOT_REDIS_TIMEOUT
PAGE, MAX_PAGE = 50, 200  # campaigns in a page of the list
RECIPIENTS_PAGE, MAX_RECIPIENTS_PAGE = 100, 1000  # recipients looked at for a page
STATUSES = ("pending", "started", "skipped", "cancelled")  # a recipient's, as listed


class CampaignRecipient(BaseModel):
    """One customer of a campaign."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=64, description="Phone number or account id.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Merged over the intent's default data."
    )
    tz: str | None = Field(
        None,
        max_length=MAX_ZONE,
        description="The customer's IANA time zone, for quiet hours; default: the number's "
        "country's, else `timezone`.",
        examples=["Europe/Madrid"],
    )


class CampaignOptions(BaseModel):
    """What a campaign does, but its recipients: the JSON body's fields, or a CSV upload's
    query parameters."""

    model_config = ConfigDict(extra="forbid")

    intent: str = Field(
        min_length=1, max_length=128, description="The intent started for each recipient."
    )
    name: str = Field("", max_length=MAX_NAME, description="For people: shown in lists.")
    rate: float = Field(
        DEFAULT_RATE,
        gt=0,
        le=MAX_RATE,
        allow_inf_nan=False,
        description="First messages per second, across every process.",
    )
    start_at: StrictInt | StrictStr | None = Field(
        None,
        description="When the first may go: ms since the epoch, or ISO 8601 (without an "
        "offset: in `timezone`). Default: at once.",
        examples=["2026-12-01T09:00:00+01:00"],
    )
    end_by: StrictInt | StrictStr | None = Field(
        None,
        description="After this, none goes (those left are skipped as `expired`): ms or ISO "
        "8601, after `start_at` and now. Default: no end.",
    )
    quiet_hours: str | None = Field(
        None,
        max_length=16,
        description="Local hours when nobody is messaged, in each recipient's time zone: "
        "`HH:MM-HH:MM`, over midnight when the end comes first.",
        examples=["21:00-08:00"],
    )
    timezone: str | None = Field(
        None,
        max_length=MAX_ZONE,
        description="IANA time zone of recipients whose number tells none (and of a "
        "`start_at` or `end_by` without an offset). Default: the business number's "
        "`time_zone` (`numbers:`), else UTC.",
        examples=["Asia/Shanghai"],
    )
    category: Literal["marketing", "utility", "authentication"] | None = Field(
        None,
        description="What the campaign's template is, as WhatsApp tells them apart: a "
        "`marketing` campaign skips customers who opted out of marketing alone (STOP "
        "MARKETING; `skipped: opted_out_marketing`); `utility` (reminders, notices about "
        "what the customer has) and `authentication` reach them. STOP stops all three. "
        "Default: the category flows.yaml's `templates:` gives the template the intent's "
        "flow starts with, else `marketing`; another than that one is refused.",
    )
    mid_flow: Literal["skip", "queue"] = Field(
        "skip",
        description="A recipient in a flow when their turn comes: `skip` them, or `queue` "
        "the campaign's intent after the flow ends.",
    )
    skip_if_messaged_within_hours: float = Field(
        0,
        ge=0,
        le=MAX_RECENT_HOURS,
        allow_inf_nan=False,
        description="Skip (`recent`) a recipient whose conversation stepped within this "
        "many hours. 0: nobody is skipped for it.",
    )
    business: str | None = Field(
        None,
        max_length=64,
        description="Business number, or its name in `numbers:`; default: the intent's "
        "`number:`, else BOT_CAMS_FROM, else the first of `numbers:`.",
    )
    channel: str | None = Field(
        None,
        max_length=64,
        description="Default: the business number's (`numbers:`), else BOT_CAMS_CHANNEL.",
    )
    space: str = Field(
        "",
        max_length=MAX_SPACE,
        description="CAMS CustSpaceId of the channel, when you have several.",
    )


class CampaignRequest(CampaignOptions):
    """A campaign with its recipients, as JSON."""

    recipients: list[CampaignRecipient] = Field(
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description="The customers (a customer listed twice is messaged once).",
    )


_RECIPIENTS = TypeAdapter(list[CampaignRecipient])
SLICE = 1_000  # recipients validated at a time (a few ms)


class CampaignAction(BaseModel):
    """Nothing to say: pause, resume and cancel take an empty body or `{}`."""

    model_config = ConfigDict(extra="forbid")


# -- reading a request -----------------------------------------------------------------------


def _invalid(e: ValidationError) -> BadRequest:
    first = e.errors()[0]
    # A field's name as sent: an unknown one is the caller's text.
    where = shown(".".join(str(p) for p in first["loc"]), quote=False) or "body"
    return BadRequest(f"{where}: {first['msg']}")


def _when(what: str, value: int | str, zone: str) -> int:
    """`start_at` or `end_by` as ms since the epoch: given so, or as ISO 8601 (in `zone`,
    a valid one, when it names no offset); 400 otherwise."""
    if isinstance(value, int):
        ms = value
    elif value.isascii() and value.isdigit() and len(value) <= 15:
        ms = int(value)
    else:
        try:
            if len(value) > 64:
                raise ValueError(value)
            when = dt.datetime.fromisoformat(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=ZoneInfo(zone))
            ms = int(when.timestamp() * 1000)
        except (ValueError, OverflowError):
            raise BadRequest(
                f"{what}: milliseconds since the epoch, or an ISO 8601 time such as "
                "2026-12-01T09:00:00+01:00"
            ) from None
    if not 0 <= ms <= MAX_MS:
        raise BadRequest(f"{what}: a time from 1970 to 9999")
    return ms


def _quiet_hours(text: str) -> QuietHours:
    """`HH:MM-HH:MM`, local times without an offset; 400 otherwise."""
    parts = [p.strip() for p in text.split("-")]
    if len(parts) != 2 or not all(len(p) == 5 and p[2] == ":" for p in parts):
        raise BadRequest("quiet_hours: local hours such as 21:00-08:00")
    try:
        return QuietHours.parse(text)
    except ValueError as e:
        raise BadRequest(f"quiet_hours: {e}") from None


def first_template(catalog: CompiledCatalog, intent: str) -> tuple[str, str] | None:
    """The template the intent's flow starts with (its start state's) and its category,
    when `templates:` has it."""
    spec = catalog.intents.get(intent)
    flow = catalog.flows.get(spec.start or "") if spec is not None else None
    state = flow.states.get(flow.start) if flow is not None else None
    template = state.template if state is not None else None
    entry = catalog.templates.get(template.code) if template is not None else None
    return (template.code, entry.category) if template is not None and entry else None


def _category(options: CampaignOptions, catalog: CompiledCatalog) -> Category:
    known = first_template(catalog, options.intent)
    if options.category is None:
        return Category(known[1] if known else "marketing")
    if known is not None and options.category != known[1]:
        raise BadRequest(
            f"category: the intent's flow starts with template `{known[0]}`, which is "
            f"{known[1]} (flows.yaml `templates:`), not {options.category}"
        )
    return Category(options.category)


def spec_of(
    options: CampaignOptions, settings: Settings, now_ms: int, catalog: CompiledCatalog
) -> CampaignSpec:
    """The campaign `options` ask for, its business and channel as `POST /v1/intents`
    reads them, its category as flows.yaml's templates say; 400 naming the first option
    that cannot be."""
    intent = catalog.intents.get(options.intent)
    sender = sending_number(
        catalog,
        settings,
        business=options.business,
        channel=options.channel,
        default=intent.number if intent is not None else None,
    )
    channel, business = sender.channel, sender.business
    number = catalog.by_address.get((channel, business))
    zone = options.timezone or (number.zone.key if number is not None else "UTC")
    time_zone("timezone", zone)
    quiet = _quiet_hours(options.quiet_hours) if options.quiet_hours is not None else None
    start_ms = _when("start_at", options.start_at, zone) if options.start_at is not None else 0
    end_ms = _when("end_by", options.end_by, zone) if options.end_by is not None else 0
    if end_ms and end_ms <= max(start_ms, now_ms):
        raise BadRequest("end_by: must come after start_at and after now")
    if not (is_text(options.name) and is_text(options.space)):
        raise BadRequest("name and space: text only")
    return CampaignSpec(
        intent=options.intent,
        business=business,
        channel=channel,
        platform="cams",
        space=options.space or sender.space,
        rate=float(options.rate),
        start_ms=start_ms,
        end_ms=end_ms,
        quiet=quiet,
        zone=zone,
        mid_flow=MidFlow(options.mid_flow),
        recent_hours=float(options.skip_if_messaged_within_hours),
        name=options.name,
        category=_category(options, catalog),
    )


def _known(intents: Mapping[str, object], code: str) -> None:
    """404, as `POST /v1/intents/{code}` answers, for an intent code of none."""
    if code not in intents:
        known = ", ".join(sorted(intents)) or "none"
        raise NotFound(f"unknown intent code {shown(code)}; known: {known}")


def _query_options(query: Mapping[str, str]) -> CampaignOptions:
    """A CSV upload's options, from the query; 400 for a parameter given twice, that is
    not text, or that is not one."""
    values: dict[str, str] = {}
    for name, value in query.items():
        if name in values:
            raise BadRequest(f"{shown(name, 40)}: given twice")
        if not is_text(value):
            raise BadRequest(f"{shown(name, 40)}: not text")
        values[name] = value
    try:
        return CampaignOptions.model_validate(values)
    except ValidationError as e:
        raise _invalid(e) from None


def _json_campaign(
    body: bytes, catalog: CompiledCatalog, settings: Settings, now_ms: int
) -> tuple[CampaignSpec, list[Any]]:
    """A JSON body's campaign and its recipients as sent. Run in a thread: decoding 16 MiB
    of JSON takes a third of a second (C code that lets go of the GIL often: the event loop
    goes on)."""
    data = decode_json(body)
    if not isinstance(data, dict):
        raise BadRequest("body: a JSON object of the options and `recipients`")
    if isinstance(data.get("intent"), str):
        _known(catalog.intents, data["intent"])
    listed = data.get("recipients")
    if not isinstance(listed, list) or not listed:
        raise BadRequest("recipients: a list of at least one {customer, data, tz}")
    if len(listed) > MAX_RECIPIENTS:
        raise too_many(len(listed))
    try:
        options = CampaignOptions.model_validate(
            {k: v for k, v in data.items() if k != "recipients"}
        )
    except ValidationError as e:
        raise _invalid(e) from None
    return spec_of(options, settings, now_ms, catalog), listed


def _entries(listed: list[Any]) -> Iterator[Entry]:
    """A JSON body's recipients, each checked as CampaignRecipient, a slice at a time (as
    they are read: pydantic would take 0.6 s for 100,000 at once)."""
    for start in range(0, len(listed), SLICE):
        try:
            part = _RECIPIENTS.validate_python(listed[start : start + SLICE])
        except ValidationError as e:
            first = e.errors()[0]
            index, *rest = first["loc"]
            where = f"recipients[{start + int(index)}]"
            where += "".join(f".{shown(p, 32, quote=False)}" for p in rest)
            raise BadRequest(f"{where}: {first['msg']}") from None
        for i, r in enumerate(part, start):
            yield Entry(f"recipients[{i}]", r.customer, r.data, r.tz or "")


async def _request_campaign(request: web.Request, now_ms: int) -> tuple[CampaignSpec, list[Row]]:
    """The campaign a create request asks for, and its recipients' rows: a JSON body, or a
    CSV body with the options in the query. The intent is checked (404) before a CSV is
    read."""
    settings = request.app[SETTINGS]
    limit, within = settings.campaign_max_body, settings.body_timeout
    mime, params = media_type(request.headers.get(hdrs.CONTENT_TYPE))
    if mime == CSV:
        if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType("a CSV is taken in UTF-8 only")
        options = _query_options(request.query)
        catalog = request.app[CATALOG].current
        _known(catalog.intents, options.intent)
        spec = spec_of(options, settings, now_ms, catalog)
        body = await read_body(request, limit=limit, within=within)
        entries = await asyncio.to_thread(csv_entries, body)
        return spec, await campaign_rows(entries, spec, now_ms)
    if mime and not is_json_type(mime):
        raise UnsupportedMediaType(
            f"Content-Type {shown(mime, 40)} is not taken here: send application/json, or "
            "text/csv with the options in the query"
        )
    if request.query:
        raise BadRequest(
            "query parameters go with a CSV body (Content-Type: text/csv): with JSON, send "
            "the options in the body"
        )
    kind = body_kind(request.headers.get(hdrs.CONTENT_TYPE), Accept.JSON)  # its charset
    body = await read_body(request, limit=limit, within=within)
    if kind == "none" and body:
        raise UnsupportedMediaType("a body needs Content-Type: application/json or text/csv")
    catalog = request.app[CATALOG].current
    spec, listed = await asyncio.to_thread(_json_campaign, body, catalog, settings, now_ms)
    return spec, await campaign_rows(_entries(listed), spec, now_ms)


# -- making a campaign -----------------------------------------------------------------------


async def create(request: web.Request) -> web.Response:
    """`POST /v1/campaigns`: make a campaign and store every recipient, then start it;
    202 once stored. Idempotent with `Idempotency-Key`."""
    authorize(request)
    key = idempotency_key(request)
    now_ms = int(request.app[CLOCK]() * 1000)
    spec, rows = await _request_campaign(request, now_ms)
    store = request.app[STORE]
    spec_json = campaign_to_json(spec)
    made = uuid.uuid4().hex[:16]
    async with redis_bound(request):
        campaign = await store.new_campaign(
            made, spec_json, created_ms=now_ms, total=len(rows), key=key
        )
    if campaign != made:
        async with redis_bound(request):
            record = _repeat_of(await store.campaign(campaign), spec_json, len(rows))
        if record.status is not Status.CREATING:
            return _created(campaign, record.status, record.total, repeat=True)
    for i in range(0, len(rows), STORE_BATCH):
        async with redis_bound(request):
            await store.add_recipients(campaign, rows[i : i + STORE_BATCH])
    async with redis_bound(request):
        was = await store.move_campaign(campaign, Status.RUNNING, only_from=(Status.CREATING,))
        if was is Status.CANCELLED:  # cancelled while it was made: none stays queued
            await store.cancel_queued(campaign)
    if was is None:
        raise NotFound("the campaign was removed while it was made")
    status = Status.RUNNING if was is Status.CREATING else was
    log.info(
        "campaign %s %s: %d recipients, intent %s",
        campaign,
        "made" if campaign == made else "made on a repeat",
        len(rows),
        spec.intent,
    )
    return _created(campaign, status, len(rows), repeat=campaign != made)


def _repeat_of(record: CampaignRecord | None, spec_json: str, total: int) -> CampaignRecord:
    """The campaign an Idempotency-Key made, when a create repeated with it asks for that
    campaign: the same options and as many recipients; 409 otherwise."""
    if record is None:
        raise Conflict(
            "Idempotency-Key: the campaign of this key is not there yet (another request "
            "is making it, or its making was cut short): retry in a moment, or use a new key"
        )
    if campaign_to_json(record.spec) != spec_json or record.total != total:
        raise Conflict(
            f"Idempotency-Key: used already for another campaign ({record.id}), with other "
            "options or recipients: use a new key"
        )
    return record


def _created(campaign: str, status: Status, total: int, *, repeat: bool) -> web.Response:
    return web.json_response(
        {"campaign": campaign, "status": str(status), "recipients": total, "repeat": repeat},
        status=202,
    )


# -- reading campaigns -----------------------------------------------------------------------


def campaign_id(request: web.Request) -> str:
    """The path's `{campaign}` when it is an id as campaigns get them, else 404."""
    campaign = request.match_info["campaign"]
    if len(campaign) != 16 or any(c not in "0123456789abcdef" for c in campaign):
        raise NotFound("no such campaign: ids look like 0123456789abcdef")
    return campaign


async def _record(request: web.Request, campaign: str) -> CampaignRecord:
    record = await request.app[STORE].campaign(campaign)
    if record is None:
        raise NotFound("no such campaign")
    return record


async def settled(store: Store, record: CampaignRecord) -> Status:
    """The campaign's status: `done` once it runs with nobody left pending (stored so, so
    that the pumps stop looking at it)."""
    if record.status is Status.RUNNING and record.counts.get("pending", 0) <= 0:
        was = await store.move_campaign(record.id, Status.DONE)
        return Status.DONE if was is Status.RUNNING else was or record.status
    return record.status


def campaign_item(record: CampaignRecord, status: Status) -> dict[str, Any]:
    spec, counts = record.spec, record.counts
    return {
        "id": record.id,
        "name": spec.name,
        "intent": spec.intent,
        "status": str(status),
        "created_ms": record.created_ms,
        "rate": spec.rate,
        "start_ms": spec.start_ms or None,
        "end_ms": spec.end_ms or None,
        "quiet_hours": str(spec.quiet) if spec.quiet is not None else None,
        "timezone": spec.zone,
        "mid_flow": str(spec.mid_flow),
        "category": str(spec.category),
        "skip_if_messaged_within_hours": spec.recent_hours,
        "business": spec.business,
        "channel": spec.channel,
        "recipients": record.total,
        "counts": {
            "pending": counts.get("pending", 0),
            "started": counts.get("started", 0),
            "skipped": {
                k.removeprefix("skipped:"): n
                for k, n in sorted(counts.items())
                if k.startswith("skipped:") and n
            },
            "cancelled": counts.get("cancelled", 0),
            "erased": counts.get("erased", 0),
            "carried_over": counts.get("carried_over", 0),
            "sent": counts.get("sent", 0),
            "delivered": counts.get("delivered", 0),
            "read": counts.get("read", 0),
            "replied": counts.get("replied", 0),
            "opted_out": counts.get("opted_out", 0),
            "opted_out_marketing": counts.get("opted_out_marketing", 0),
            "failed": {
                k.removeprefix("failed:"): n
                for k, n in sorted(counts.items())
                if k.startswith("failed:") and n
            },
        },
    }


async def get_campaign(request: web.Request) -> web.Response:
    """`GET /v1/campaigns/{campaign}`: the campaign, its options and counts."""
    authorize(request)
    found = campaign_id(request)
    async with redis_bound(request):
        record = await _record(request, found)
        status = await settled(request.app[STORE], record)
    return web.json_response(campaign_item(record, status))


def _limit(request: web.Request, default: int, most: int) -> int:
    raw = request.query.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise BadRequest(f"`limit`: a whole number from 1 to {most}")
    return int(raw)


def _list_cursor(text: str) -> tuple[int, str]:
    """(created ms, id) of a list's cursor `MS-ID`; 400 when it is not one."""
    at, _, campaign = text.partition("-")
    if not (at.isascii() and at.isdigit() and len(at) <= 15) or not (
        len(campaign) == 16 and all(c in "0123456789abcdef" for c in campaign)
    ):
        raise BadRequest("`cursor`: give the `next` of the page before")
    return int(at), campaign


async def newest(store: Store, after: tuple[int, str] | None, want: int) -> list[CampaignRecord]:
    """`want` campaigns at most, the newest first, made after the cursor's (created ms, id):
    campaigns made in the same millisecond are told apart by id, as the index orders them."""
    fetch = want
    while True:
        before = after[0] + 1 if after is not None else None
        ids = await store.campaign_ids(before_ms=before, limit=fetch)
        records = await store.campaigns_of(ids)
        if after is not None:
            records = [r for r in records if (r.created_ms, r.id) < after]
        if len(records) >= want or len(ids) < fetch:
            return records[:want]
        fetch *= 2


async def list_campaigns(request: web.Request) -> web.Response:
    """`GET /v1/campaigns`: the campaigns, the newest first, a page at a time."""
    authorize(request)
    limit = _limit(request, PAGE, MAX_PAGE)
    cursor = request.query.get("cursor", "")
    after = _list_cursor(cursor) if cursor else None
    store = request.app[STORE]
    async with redis_bound(request):
        records = await newest(store, after, limit + 1)
        page = records[:limit]
        items = [campaign_item(r, await settled(store, r)) for r in page]
    more = len(records) > limit
    return web.json_response(
        {
            "campaigns": items,
            "next": f"{page[-1].created_ms}-{page[-1].id}" if more else None,
        }
    )


def _recipients_cursor(text: str, partitions: int) -> tuple[int, int]:
    """(partition, scan cursor) of a recipients page's cursor `P-C`; 400 otherwise."""
    p, dash, c = text.partition("-")
    if not (
        dash
        and p.isascii()
        and p.isdigit()
        and len(p) <= 6
        and c.isascii()
        and c.isdigit()
        and len(c) <= 20
        and int(p) < partitions
        and int(c) < 2**64
    ):
        raise BadRequest("`cursor`: give the `next` of the page before")
    return int(p), int(c)


def recipient_item(conv_id: str, stored: str, campaign_status: Status) -> dict[str, Any]:
    """A recipient as listed: its status from the one stored ("" while pending; pending
    ones of a cancelled campaign are cancelled), a skipped one's reason."""
    item: dict[str, Any] = {
        "customer": ConversationRef.parse(conv_id).customer,
        "conversation": conv_id,
    }
    if not stored:
        item["status"] = "cancelled" if campaign_status is Status.CANCELLED else "pending"
    elif stored.startswith("skipped:"):
        item["status"] = "skipped"
        item["reason"] = stored.removeprefix("skipped:")
    else:
        item["status"] = stored
    return item


async def recipients(request: web.Request) -> web.Response:
    """`GET /v1/campaigns/{campaign}/recipients`: its recipients a page at a time, in no
    order, each with its status; `status` keeps those of one status."""
    authorize(request)
    found = campaign_id(request)
    wanted = request.query.get("status")
    if wanted is not None and wanted not in STATUSES:
        raise BadRequest(f"`status`: one of {', '.join(STATUSES)}")
    limit = _limit(request, RECIPIENTS_PAGE, MAX_RECIPIENTS_PAGE)
    store = request.app[STORE]
    cursor = request.query.get("cursor", "")
    partition, scan = _recipients_cursor(cursor, store.partitions) if cursor else (0, 0)
    async with redis_bound(request):
        record = await _record(request, found)
        rows, partition, scan = await store.campaign_recipients(
            found, partition=partition, cursor=scan, count=limit
        )
    items = [recipient_item(conv, status, record.status) for conv, _, status in rows]
    if wanted is not None:
        items = [i for i in items if i["status"] == wanted]
    return web.json_response(
        {
            "campaign": found,
            "recipients": items,
            "next": f"{partition}-{scan}" if partition < store.partitions else None,
        }
    )


# -- pause, resume, cancel -------------------------------------------------------------------

_VERBS = {Status.PAUSED: "paused", Status.RUNNING: "resumed", Status.CANCELLED: "cancelled"}


async def _move(request: web.Request, to: Status) -> web.Response:
    """Move the campaign to `to`: 200 when it is there (already or now), 404 for none, 409
    when it cannot go there from where it is."""
    authorize(request)
    found = campaign_id(request)
    data = await read_json(
        request, limit=SMALL_BODY, within=request.app[SETTINGS].body_timeout, empty={}
    )
    try:
        CampaignAction.model_validate(data)
    except ValidationError as e:
        raise _invalid(e) from None
    answer: dict[str, Any] = {"campaign": found, "status": str(to)}
    cancelled = await move(request, found, to)
    if cancelled is not None:
        answer["cancelled"] = cancelled
    return web.json_response(answer)


async def move(request: web.Request, campaign: str, to: Status) -> int | None:
    """Pause, resume or cancel `campaign` (the API's and the console's): 404 for none, 409
    when it cannot go to `to` from where it is; when cancelled, how many pending were."""
    store = request.app[STORE]
    # Resumed only from paused: a campaign still being made starts once it is stored.
    allowed = (Status.PAUSED,) if to is Status.RUNNING else MOVES[to]
    cancelled = None
    async with redis_bound(request):
        was = await store.move_campaign(campaign, to, only_from=allowed)
        if was is None:
            raise NotFound("no such campaign")
        if was is Status.CREATING and to is Status.RUNNING:
            raise Conflict("the campaign is still being made: it starts once it is stored")
        if was is not to and was not in allowed:
            raise Conflict(f"the campaign is {was}: it cannot be {_VERBS[to]}")
        if to is Status.CANCELLED:
            cancelled = await store.cancel_queued(campaign)
    if was is not to:
        log.info("campaign %s %s (was %s)", campaign, _VERBS[to], was)
    return cancelled


async def pause(request: web.Request) -> web.Response:
    """`POST /v1/campaigns/{campaign}/pause`: nobody more is messaged until it resumes."""
    return await _move(request, Status.PAUSED)


async def resume(request: web.Request) -> web.Response:
    """`POST /v1/campaigns/{campaign}/resume`: go on where it paused."""
    return await _move(request, Status.RUNNING)


async def cancel(request: web.Request) -> web.Response:
    """`POST /v1/campaigns/{campaign}/cancel`: nobody more is messaged, ever; those still
    pending are counted cancelled."""
    return await _move(request, Status.CANCELLED)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/campaigns", create, expect_handler=expect_body),
        web.get("/v1/campaigns", list_campaigns),
        web.get("/v1/campaigns/{campaign}", get_campaign),
        web.get("/v1/campaigns/{campaign}/recipients", recipients),
        web.post("/v1/campaigns/{campaign}/pause", pause, expect_handler=expect_body),
        web.post("/v1/campaigns/{campaign}/resume", resume, expect_handler=expect_body),
        web.post("/v1/campaigns/{campaign}/cancel", cancel, expect_handler=expect_body),
    ]
