"""The seam between the runtime and a platform's send API."""

from __future__ import annotations

from typing import Protocol

from bot.model import Outgoing, SendReceipt


class Sender(Protocol):
    """Sends one reply through a platform. Raises `RetryableSendError` (incl.
    `RateLimitedError`) or `PermanentSendError` from bot.errors; nothing else."""

    platform: str

    async def send(self, msg: Outgoing) -> SendReceipt: ...
