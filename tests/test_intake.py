"""Acknowledging callbacks: only what is stored, and fast whatever happens downstream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support import RECEIPT_TOKEN, CamsServer, inbound

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"


async def test_acks_stay_fast_while_the_send_api_is_slow(
    client: Any, fake_cams: CamsServer
) -> None:
    """With every send taking 3 s, 60 concurrent pushes are each answered within 1 s."""
    fake_cams.recorder.delay_next(3.0, times=1000)

    async def push(i: int) -> float:
        started = time.monotonic()
        resp = await client.post(RECEIPTS, json=[inbound("hi", customer=f"86139000{i:05d}")])
        assert resp.status == 200
        return time.monotonic() - started

    took = await asyncio.gather(*(push(i) for i in range(60)))
    assert max(took) < 1.0, f"slowest ack took {max(took):.2f}s"
