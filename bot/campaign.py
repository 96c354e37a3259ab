"""Campaigns as values: what a business asks to send to many customers, and the rules of
when each recipient may be messaged (start, end-by, quiet hours in the recipient's local
time). Pure: the store keeps them (bot/store/campaigns.py), the runtime paces them
(bot/runtime/campaigns.py), the API takes them (bot/web/campaigns.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from bot.model import Conversation

MAX_RECIPIENTS = 100_000  # recipients of one campaign
MAX_RATE = 1000.0  # messages per second


class Status(StrEnum):
    """Where a campaign stands."""

    CREATING = "creating"  # its recipients are being stored
    RUNNING = "running"  # recipients are messaged as their time comes
    PAUSED = "paused"  # none is messaged until it is resumed
    CANCELLED = "cancelled"  # none will be: the pending ones are counted cancelled
    DONE = "done"  # every recipient is started or skipped


class MidFlow(StrEnum):
    """What becomes of a recipient who is in a flow when their turn comes."""

    SKIP = "skip"  # not messaged (skipped: mid_flow)
    QUEUE = "queue"  # the campaign's flow starts when the current one ends


class Category(StrEnum):
    """The kind of message a campaign sends, as WhatsApp tells its templates apart: a
    customer who opted out of marketing alone (STOP MARKETING) still gets the others."""

    MARKETING = "marketing"  # offers, promotions: only to customers not opted out of them
    UTILITY = "utility"  # about something the customer has: reminders, notices, receipts
    AUTHENTICATION = "authentication"  # one-time codes


class Skip(StrEnum):
    """Why a recipient was not messaged."""

    OPTED_OUT = "opted_out"
    OPTED_OUT_MARKETING = "opted_out_marketing"  # STOP MARKETING, and the campaign's is
    MID_FLOW = "mid_flow"
    RECENT = "recent"  # stepped within the campaign's `recent_hours`
    EXPIRED = "expired"  # their time came after the campaign's end-by time


def _is_hh_mm(text: str) -> bool:
    """`HH:MM`, and nothing else (no seconds, no offset)."""
    return len(text) == 5 and text[2] == ":" and (text[:2] + text[3:]).isdigit()


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours when no recipient is messaged, `start` to `end` (over midnight when
    `end` is earlier than `start`: 21:00 to 08:00)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """`21:00-08:00`; ValueError with a reason otherwise."""
        first, dash, second = (part.strip() for part in text.partition("-"))
        if not (dash and _is_hh_mm(first) and _is_hh_mm(second)):
            raise ValueError("quiet hours look like 21:00-08:00")
        try:
            start, end = dt.time.fromisoformat(first), dt.time.fromisoformat(second)
        except ValueError:
            raise ValueError("quiet hours look like 21:00-08:00") from None
        if start == end:
            raise ValueError("quiet hours start and end at the same time")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def quiet(self, local: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at_ms: int, zone: ZoneInfo) -> int:
        """`at_ms` when it is outside the quiet hours in `zone`, else when they end."""
        local = dt.datetime.fromtimestamp(at_ms / 1000, zone)
        if not self.quiet(local.time()):
            return at_ms
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += dt.timedelta(days=1)
        # Wall-clock arithmetic: a day that changes its UTC offset keeps the local hour.
        return int(end.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A campaign as asked for. `rate` is first messages per second; `start_ms` when the
    first may go, `end_ms` after which none does (0: no end); `recent_hours` skips customers
    whose conversation stepped within that many hours (0: none skipped); `zone` is the time
    zone of recipients whose number does not tell one."""

    intent: str
    business: str
    channel: str = "whatsapp"
    platform: str = "cams"
    space: str = ""
    rate: float = 10.0
    start_ms: int = 0
    end_ms: int = 0
    quiet: QuietHours | None = None
    zone: str = "UTC"
    mid_flow: MidFlow = MidFlow.SKIP
    recent_hours: float = 0.0
    name: str = ""
    category: Category = Category.MARKETING


def zone_of(customer: str, given: str, default: str) -> ZoneInfo:
    """The recipient's time zone: `given` (a `tz` column) when it names one, else the first
    of the number's country (libphonenumber), else `default`."""
    for name in (given, _number_zone(customer), default):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _number_zone(customer: str) -> str:
    if not customer.isdigit():
        return ""
    try:
        number = phonenumbers.parse("+" + customer)
    except phonenumbers.NumberParseException:
        return ""
    zones = number_zones.time_zones_for_number(number)
    return zones[0] if zones and zones[0] != "Etc/Unknown" else ""


def first_due(spec: CampaignSpec, now_ms: int, zone: ZoneInfo) -> int:
    """When a recipient of `spec` in `zone` may first be messaged."""
    at = max(now_ms, spec.start_ms)
    return spec.quiet.next_allowed(at, zone) if spec.quiet is not None else at


def counted_since(
    before: Conversation, after: Conversation, *, customer_wrote: bool
) -> tuple[list[str], str]:
    """What a step adds to the counts of the campaign that last messaged the customer
    (`before.campaign`), and the letters of `campaign_counted` after it: `replied` for
    the first message they wrote since (STOP included), `opted_out` for a STOP,
    `opted_out_marketing` for a STOP MARKETING; each once per campaign and customer, however
    often they opt in and out again. A step that starts another campaign's flow (`after`
    names it) counts in the one before and starts the new one's letters afresh."""
    counted = before.campaign_counted
    names = []
    if before.campaign:
        if customer_wrote and "r" not in counted:
            names.append("replied")
            counted += "r"
        if after.opted_out and not before.opted_out and "o" not in counted:
            names.append("opted_out")
            counted += "o"
        elif (after.marketing_opted_out and not before.marketing_opted_out
              and "m" not in counted):  # fmt: skip
            names.append("opted_out_marketing")
            counted += "m"
    if after.campaign != before.campaign:
        counted = ""
    return names, counted


def turns_ended(counts: Mapping[str, Any]) -> int:
    """Recipients whose turn has come and gone, of a campaign's counts as the API gives
    them (`skipped` by reason): started, skipped, cancelled, erased."""
    skipped: Mapping[str, int] = counts.get("skipped") or {}
    ended = (int(counts.get(name, 0)) for name in ("started", "cancelled", "erased"))
    return sum(ended) + sum(int(n) for n in skipped.values())
