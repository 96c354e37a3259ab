"""Which platform account sends a reply: Tencent Chat's one, or the CAMS account of the
business number the conversation is with (`numbers:` of flows.yaml: its `account:`), the
default one (BOT_CAMS_ACCESS_KEY_ID) when it names none, or when there is no `numbers:`.
A number `numbers:` does not list sends nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from bot.flows.compiler import CompiledCatalog, CompiledNumber
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

    def _number(self, ref: ConversationRef) -> tuple[CompiledNumber | None, bool]:
        """The number of `numbers:` a conversation is with, and whether its replies may go:
        not a CAMS one's whose number `numbers:` (there are some) does not list (any more):
        its account is unknown, and the default one is not the number's."""
        if self.catalog is None:
            return None, True
        catalog = self.catalog()
        number = catalog.number_of(ref.platform, ref.channel, ref.business)
        return number, number is not None or ref.platform != "cams" or not catalog.by_address

    def refusal(self, ref: ConversationRef) -> str:
        """Why a reply of a conversation has no route (`route` gave None)."""
        number, listed = self._number(ref)
        if not listed:
            return f"business number {ref.business} is not in numbers: of the flows"
        account = number.account if number is not None else DEFAULT_ACCOUNT
        return f"no sender for platform {ref.platform}, account {account}"

    def route(self, to: Address) -> Route | None:
        """How a reply to `to` goes; None when no sender has its platform or account, or
        when its number is not in `numbers:` (any more): sent with another account's key
        it would be refused, or worse."""
        number, listed = self._number(to.ref)
        if not listed:
            return None
        account = number.account if number is not None else DEFAULT_ACCOUNT
        sender = (
            self.senders.get(to.ref.platform)
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


def as_routes(senders: Mapping[str, Sender] | Routes) -> Routes:
    """Routes as given, or the routes of one sender per platform (no named accounts)."""
    return senders if isinstance(senders, Routes) else Routes(senders)
