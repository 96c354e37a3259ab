"""A campaign's recipients as a business sends them (a JSON list, or a CSV file), read,
checked and made into what the store keeps: one row per customer (conversation id,
recipient as stored, when it is first due).

Reading 100,000 numbers with libphonenumber takes seconds of CPU. It is done on the event
loop, a slice of SLICE recipients at a time with the loop turning between (as the receipt
intake reads a large push), not in a thread: the thread would hold the GIL in bursts and the
loop would wait for it, 50 to 200 ms at a time. Every refusal is a BadRequest naming the
recipient by its place (`recipients[3]`, `line 4`), never showing more of a customer than a
masked, clipped form of it.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.campaign import MAX_RECIPIENTS, CampaignSpec, first_due, zone_of
from bot.errors import BadRequest, PayloadTooLarge
from bot.log import mask_id, shown
from bot.model import ConversationRef
from bot.store import recipient_to_json
from bot.web.numbers import identity

CUSTOMER = "customer"  # the CSV's column of customers
TZ = "tz"  # the CSV's optional column of time zones
MAX_ZONE = 64  # characters of a time zone's name
SLICE = 128  # recipients read between two turns of the event loop (10 to 20 ms)
_UTC = ZoneInfo("UTC")

Row = tuple[str, str, int]  # conversation id, recipient as stored, first due ms
MAX_COLUMNS = 64  # of a CSV: `customer`, `tz` and data fields
MAX_RECIPIENT = 4096  # bytes of a recipient as stored: its data and time zone
MAX_STORED = 64 * 2**20  # bytes of a campaign's recipients as stored


@dataclass(frozen=True, slots=True)
class Entry:
    """One recipient as sent: where it was (`recipients[3]`, `line 4`), the customer as
    written, its data, its time zone ("" for none)."""

    where: str
    customer: str
    data: dict[str, Any] = field(default_factory=dict)
    tz: str = ""


def too_many(count: int | None = None) -> PayloadTooLarge:
    """413 for `count` recipients (None: more than MAX_RECIPIENTS, not all counted)."""
    return PayloadTooLarge(
        f"{count if count is not None else f'over {MAX_RECIPIENTS}'} recipients: a campaign "
        f"takes at most {MAX_RECIPIENTS}; split the list into several campaigns"
    )


def time_zone(what: str, name: str) -> ZoneInfo:
    """The IANA time zone `name`; 400 naming `what` when it is none."""
    if len(name) <= MAX_ZONE:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise BadRequest(
        f"{what}: {shown(name, 40)} is not a time zone: give an IANA name such as Europe/Madrid"
    )


# -- CSV -------------------------------------------------------------------------------------


def csv_entries(body: bytes) -> list[Entry]:
    """The recipients of a CSV file (RFC 4180; UTF-8, a byte-order mark tolerated): its
    first line names the columns, `customer` among them, `tz` optionally; each other column
    becomes a data field of every recipient, its values strings. Blank lines are skipped.
    400 naming the line for a header without `customer`, with an empty or repeated column
    name, a line with another number of fields than the header, or quoting that is not
    CSV's; 413 past MAX_RECIPIENTS lines of recipients."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(f"the CSV is not UTF-8 (at byte {e.start})") from None
    lines = _Lines(text.removeprefix("\ufeff"))
    header = next(lines, None)
    if header is None:
        raise BadRequest(
            "the CSV is empty: its first line names the columns, `customer` among them"
        )
    names = _columns(header[1])
    width = len(names)
    at = names.index(CUSTOMER)
    tz_at = names.index(TZ) if TZ in names else -1
    data_columns = [(i, n) for i, n in enumerate(names) if i not in (at, tz_at)]
    entries: list[Entry] = []
    for line, row in lines:
        if len(row) != width:
            raise BadRequest(
                f"line {line}: {len(row)} field{'s' * (len(row) != 1)} where the header "
                f"names {width} columns"
            )
        if len(entries) == MAX_RECIPIENTS:
            raise too_many()
        customer = row[at].strip()
        if not customer:
            raise BadRequest(f"line {line}: no customer")
        tz = row[tz_at].strip() if tz_at >= 0 else ""
        entries.append(Entry(f"line {line}", customer, {n: row[i] for i, n in data_columns}, tz))
    if not entries:
        raise BadRequest("the CSV names no recipient: a line per customer after the header")
    return entries


class _Lines(Iterator[tuple[int, list[str]]]):
    """The records of a CSV text with the line each starts on (a quoted field may span
    lines), blank lines left out; a BadRequest naming the line for what is not CSV."""

    def __init__(self, text: str) -> None:
        self._reader = csv.reader(io.StringIO(text, newline=""), strict=True)

    def __next__(self) -> tuple[int, list[str]]:
        while True:
            line = self._reader.line_num + 1
            try:
                row = next(self._reader)
            except csv.Error as e:
                raise BadRequest(f"line {line}: not CSV: {shown(e, quote=False)}") from None
            if row:
                return line, row


def _columns(header: list[str]) -> list[str]:
    """The header's column names, stripped, `customer` and `tz` in lower case; 400 for an
    empty or repeated one, or no `customer`."""
    names = []
    for n, raw in enumerate(header, 1):
        name = raw.strip()
        if name.lower() in (CUSTOMER, TZ):
            name = name.lower()
        if not name:
            raise BadRequest(f"line 1: column {n} has no name: every column needs one")
        if name in names:
            raise BadRequest(f"line 1: the column {shown(name, 32)} is named twice")
        names.append(name)
    if len(names) > MAX_COLUMNS:
        raise BadRequest(
            f"line 1: {len(names)} columns: a campaign's CSV has at most {MAX_COLUMNS} "
            "(`customer`, `tz` and the data its intent uses)"
        )
    if CUSTOMER not in names:
        raise BadRequest(
            "line 1: the header has no `customer` column (the first line names the columns, "
            "separated by commas)"
        )
    return names


# -- rows to store ---------------------------------------------------------------------------


async def campaign_rows(entries: Iterable[Entry], spec: CampaignSpec, now_ms: int) -> list[Row]:
    """The rows the store keeps for `entries`: each customer read as `POST /v1/intents`
    reads it (libphonenumber on phone channels), once (the first entry of a customer is
    kept), with its data and time zone, first due as `spec`'s start and quiet hours say.
    400 naming the first entry whose customer or time zone is no such thing."""
    rows: list[Row] = []
    seen: set[str] = set()
    zones: dict[str, ZoneInfo] = {}
    stored = 0
    for n, entry in enumerate(entries, 1):
        if n % SLICE == 0:
            await asyncio.sleep(0)
        customer = _customer(entry, spec.channel)
        if entry.tz and entry.tz not in zones:
            zones[entry.tz] = time_zone(f"{entry.where}: tz", entry.tz)
        if customer in seen:
            continue
        seen.add(customer)
        conv = ConversationRef(spec.platform, spec.channel, spec.business, customer)
        # The time zone matters only for quiet hours: libphonenumber is asked only then.
        zone = zone_of(customer, entry.tz, spec.zone) if spec.quiet is not None else _UTC
        due = first_due(spec, now_ms, zone)
        recipient = recipient_to_json(entry.data, entry.tz)
        if len(recipient) > MAX_RECIPIENT:
            raise PayloadTooLarge(
                f"{entry.where}: its data is {len(recipient)} bytes as stored: a recipient's "
                f"data is at most {MAX_RECIPIENT} (what its intent's flow uses)"
            )
        stored += len(recipient)
        if stored > MAX_STORED:
            raise PayloadTooLarge(
                f"{entry.where}: the recipients' data is over {MAX_STORED // 2**20} MiB as "
                "stored: split the list into several campaigns"
            )
        rows.append((conv.id, recipient, due))
    return rows


def _customer(entry: Entry, channel: str) -> str:
    raw = entry.customer
    masked = shown(mask_id(raw.strip()), 24)
    return identity(f"{entry.where}: customer {masked}", raw, channel)
