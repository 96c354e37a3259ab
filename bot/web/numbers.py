"""Which business number a call is for: a name or number of `numbers:` in flows.yaml, else
BOT_CAMS_FROM. With `numbers:`, a number that is not listed is refused."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BadRequest
from bot.flows.compiler import CompiledCatalog
from bot.log import shown
from bot.model import is_valid_id
from bot.phones import customer_id
from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class From:
    """The number a message of the business goes from: its channel, the number in its
    stored form, and the channel space (CustSpaceId) `numbers:` gives it ("" for none)."""

    channel: str
    business: str
    space: str = ""


def identity(field: str, value: str, channel: str) -> str:
    """A customer or business number of `channel` as stored; 400 naming `field` otherwise."""
    try:
        found = customer_id(value, channel)
    except ValueError as e:
        raise BadRequest(f"{field}: not a phone number or account id ({e})") from None
    if not is_valid_id(found):
        raise BadRequest(f"{field}: not a phone number or account id")
    return found


def sending_number(
    catalog: CompiledCatalog,
    settings: Settings,
    *,
    business: str | None,
    channel: str | None,
    default: str | None = None,
) -> From:
    """The number a message the business starts goes from: `business` (a name of
    `numbers:` or a number), else `default` (an intent's `number:`), else BOT_CAMS_FROM,
    else the first of `numbers:`. 400 when there is none, when `numbers:` does not list
    the one named, or when it is on another channel than `channel`."""
    if channel is not None:
        channel = channel.strip().lower()
        if not is_valid_id(channel):
            raise BadRequest("channel: not a channel name such as whatsapp or viber")
    if not catalog.numbers:
        on = channel or settings.cams_channel
        number = business or settings.business_number()
        if not number:
            raise BadRequest("business: missing (set BOT_CAMS_FROM or send `business`)")
        return From(on, identity("business", number, on))
    given = business or default or settings.cams_from
    if not given:
        found = next(iter(catalog.numbers.values()))
    else:
        named = catalog.number_named(given, channel)
        if named is None:
            names = ", ".join(catalog.numbers)
            raise BadRequest(
                f"business: {shown(given)} is none of `numbers:` ({names}): name one, or "
                "give its number"
            )
        found = named
    if channel is not None and channel != found.channel:
        raise BadRequest(
            f"channel: number `{found.name}` is on {found.channel}, not {shown(channel)}"
        )
    return From(found.channel, found.business, found.space)


def is_served(catalog: CompiledCatalog, channel: str, business: str) -> bool:
    """Whether customers writing to `business` on `channel` are served: every number is
    when there is no `numbers:`, else only those it lists."""
    return not catalog.by_address or (channel, business) in catalog.by_address
