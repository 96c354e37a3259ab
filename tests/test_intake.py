"""Acknowledging callbacks: only what is stored, and fast whatever happens downstream."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from bot.platforms.cams.receipts import items_cap, parse_receipts
from bot.web.cams import PARSE_SLICE, parse_push
from tests.support import RECEIPT_TOKEN, CamsServer, inbound, with_loop_turns

pytestmark = pytest.mark.alone  # rates and latencies: run by themselves (conftest)

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"


async def test_acks_stay_fast_while_the_send_api_is_slow(
    make_client: Any, fake_cams: CamsServer
) -> None:
    """With every send taking 3 s, 60 concurrent pushes are each answered within 1 s."""
    client = await make_client(drain_seconds=1.0)  # the slow sends are not waited for at the end
    fake_cams.recorder.delay_next(3.0, times=1000)

    async def push(i: int) -> float:
        started = time.monotonic()
        resp = await client.post(RECEIPTS, json=[inbound("hi", customer=f"86139000{i:05d}")])
        assert resp.status == 200
        return time.monotonic() - started

    took = await asyncio.gather(*(push(i) for i in range(60)))
    assert max(took) < 1.0, f"slowest ack took {max(took):.2f}s"


def largest_push(max_body: int = 1024 * 1024) -> tuple[bytes, int]:
    """A push of `max_body` bytes holding as many items as it may (one per 100 bytes), each
    of them rejected (no From): the most reading a push can ask for."""
    item = json.dumps(
        {"MessageId": "m", "To": "8613800000000", "Type": "TEXT", "Message": "x" * 20},
        separators=(",", ":"),
    ).encode()
    count = items_cap(max_body)
    body = b"[" + b",".join([item] * count) + b"]"
    assert len(body) <= max_body
    return body, count


async def test_a_largest_push_is_read_in_slices_with_the_event_loop_turning_between() -> None:
    """The 10,485 items of a 1 MiB push are read PARSE_SLICE at a time, and the event loop
    takes a turn between two slices (a ticker counts them): the same items as read whole."""
    body, count = largest_push()
    items, turns = await with_loop_turns(
        parse_push(body, channel="whatsapp", now_ms=0, max_body=1024 * 1024)
    )
    slices = -(-count // PARSE_SLICE)
    assert slices > 10
    assert turns >= slices - 1
    assert items == parse_receipts(body, channel="whatsapp", now_ms=0, max_items=count)


async def test_healthz_is_answered_while_a_largest_push_is_taken(make_client: Any) -> None:
    """While a push of BOT_MAX_BODY (1 MiB, 10,485 items, each rejected) is read and
    answered, /healthz asked meanwhile is answered (before the push is)."""
    client = await make_client(max_body=1024 * 1024)
    body, _ = largest_push()
    for _ in range(2):
        push = asyncio.ensure_future(client.post(RECEIPTS, data=body))
        answered = 0
        while not push.done():
            resp = await client.get("/healthz")
            assert resp.status == 200
            answered += not push.done()
        assert (await push).status == 200
        assert answered >= 1
