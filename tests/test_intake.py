"""Acknowledging callbacks: only what is stored, and fast whatever happens downstream."""

from __future__ import annotations

import asyncio
import json
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


async def test_healthz_is_answered_while_a_largest_push_is_parsed(make_client: Any) -> None:
    """A push of BOT_MAX_BODY (1 MiB) holding as many items as it may (10,485), each of
    them rejected, does not hold the event loop while it is parsed: the slowest /healthz
    asked meanwhile takes a small part of the push's time (the best of three pushes: a
    loaded machine can slow one)."""
    client = await make_client(max_body=1024 * 1024)
    item = json.dumps(
        {"MessageId": "m", "To": "8613800000000", "Type": "TEXT", "Message": "x" * 20},
        separators=(",", ":"),
    ).encode()
    count = 1024 * 1024 // 100  # the items cap: one per 100 bytes of BOT_MAX_BODY
    body = b"[" + b",".join([item] * count) + b"]"
    assert len(body) <= 1024 * 1024

    async def ratio() -> float:
        started = time.perf_counter()
        push = asyncio.ensure_future(client.post(RECEIPTS, data=body))
        slowest = 0.0
        while not push.done():
            asked = time.perf_counter()
            resp = await client.get("/healthz")
            assert resp.status == 200
            slowest = max(slowest, time.perf_counter() - asked)
        assert (await push).status == 200
        return slowest / (time.perf_counter() - started)

    await ratio()  # the first push starts the parsing thread
    assert min([await ratio() for _ in range(3)]) < 0.5
