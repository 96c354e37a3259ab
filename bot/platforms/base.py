"""The seam between the runtime and a platform's send API."""

from __future__ import annotations

import hashlib
from typing import Protocol

from bot.model import Outgoing, SendReceipt


class Sender(Protocol):
    """Sends one reply through a platform. Raises `RetryableSendError` (incl.
    `RateLimitedError`) or `PermanentSendError` from bot.errors; nothing else.

    `account` names the platform account the sends count against, the key of the shared
    send rate limit: e.g. for CAMS a hash of the access key id (`account_id`), never a
    secret and never the id itself."""

    platform: str
    account: str

    async def send(self, msg: Outgoing) -> SendReceipt: ...


def account_id(key_id: str) -> str:
    """A stable name for an account that gives its credentials away to no one who reads
    Redis keys or logs: the first 16 hex digits of the SHA-256 of its key id."""
    return hashlib.sha256(key_id.encode()).hexdigest()[:16]
