"""Which platform account sends a reply: Tencent Chat's one, or the CAMS account of the
business number the conversation is with (`numbers:` of flows.yaml: its `account:`), the
default one (BOT_CAMS_ACCESS_KEY_ID) when the number names none or is not listed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from bot.flows.compiler import CompiledCatalog
from bot.model import DEFAULT_ACCOUNT, Address, ConversationRef
from bot.platforms.base import Sender


@dataclass(frozen=True, slots=True)
class Route:
    """How one reply goes: its sender, its address (with the number's channel space when
    the conversation brought none), the account's name (`default` or one of
    BOT_CAMS_ACCOUNT_<NAME>_*: the metrics' label) and the key of its send rate limit."""

    sender: Sender
    to: Address
    account: str
    key: str


class Routes:
    """`senders`: each platform's sender of its default account, by platform; `accounts`:
    the named CAMS accounts' senders, by name; `catalog`: the flows in force (their
    `numbers:` say which account a number sends with; a reload takes effect at once)."""

    def __init__(
        self,
        senders: Mapping[str, Sender],
        accounts: Mapping[str, Sender] | None = None,
        catalog: Callable[[], CompiledCatalog] | None = None,
        fallback: Sender | None = None,
    ) -> None:
        """`fallback`: the sender of a named account that has none (sandbox mode's, for an
        account a reload named; elsewhere such flows are refused)."""
        self.senders = dict(senders)
        self.accounts = dict(accounts or {})
        self.catalog = catalog
        self.fallback = fallback

    def refusal(self, ref: ConversationRef) -> str:
        """Why a reply of a conversation has no route (`route` gave None)."""
        if self._unlisted(ref):
            return f"business number {ref.business} is not in numbers: of the flows"
        number = self.catalog().number_of(*_address(ref)) if self.catalog else None
        account = number.account if number is not None else DEFAULT_ACCOUNT
        return f"no sender for platform {ref.platform}, account {account}"

    def _unlisted(self, ref: ConversationRef) -> bool:
        """A CAMS conversation with a number that `numbers:` (there are some) no longer
        lists: its account is unknown, and the default one is not the number's."""
        if self.catalog is None or ref.platform != "cams":
            return False
        catalog = self.catalog()
        return bool(catalog.by_address) and catalog.number_of(*_address(ref)) is None

    def route(self, to: Address) -> Route | None:
        """How a reply to `to` goes; None when no sender has its platform or account, or
        when its number is not in `numbers:` (any more): sent with another account's key
        it would be refused, or worse."""
        ref = to.ref
        if self._unlisted(ref):
            return None
        number = self.catalog().number_of(*_address(ref)) if self.catalog is not None else None
        account = number.account if number is not None else DEFAULT_ACCOUNT
        sender = (
            self.senders.get(ref.platform)
            if account == DEFAULT_ACCOUNT
            else self.accounts.get(account, self.fallback)
        )
        if sender is None:
            return None
        if number is not None and number.space and not to.space:
            to = replace(to, space=number.space)
        return Route(sender, to, account, f"{sender.platform}:{sender.account}")

    def names(self) -> dict[str, str]:
        """Each rate limit's key -> its account's name, for the metrics' label."""
        found = {f"{s.platform}:{s.account}": DEFAULT_ACCOUNT for s in self.senders.values()}
        found |= {f"{s.platform}:{s.account}": name for name, s in self.accounts.items()}
        return found


def _address(ref: ConversationRef) -> tuple[str, str, str]:
    return ref.platform, ref.channel, ref.business


def as_routes(senders: Mapping[str, Sender] | Routes) -> Routes:
    """Routes as given, or the routes of one sender per platform (no named accounts)."""
    return senders if isinstance(senders, Routes) else Routes(senders)
