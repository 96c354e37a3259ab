"""The bound on a request's wait for Redis: BOT_REDIS_TIMEOUT seconds, then a 503.

Below it the Redis client has bounds of its own, made for the workers, which wait out an
outage: a free connection within 3 s, a connection within 1 s, a reply within 5 s, and
three tries (bot/store/client.py `redis_client`), and a PING first on a connection idle for 10 s.
Stacked, a request could wait 20 s and more for a Redis that is frozen (a stopped process,
a network that drops packets), far past what the platforms wait for an answer (CAMS 3 s,
Tencent 2 s). So every request's Redis work runs within `redis_bound`: past the bound it is
cancelled and the request answered 503 with Retry-After (bot.web.middleware), and the
platform pushes again.

A command cut short this way leaves nothing behind: redis-py closes a connection whose
command was interrupted before its reply was read, so no later command reads that reply.
The coalesced pipelines (bot/store/coalesce.py) are not cancelled with a request: they carry
other callers' commands too (the workers'), and run to their own end, a reply or the client's
timeout. What they store after their request was answered 503 is found again as a repeat
when the platform pushes again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot.errors import StoreUnavailable
from bot.web.keys import SETTINGS


@asynccontextmanager
async def redis_bound(request: web.Request) -> AsyncIterator[None]:
    """Run the block within BOT_REDIS_TIMEOUT seconds; StoreUnavailable (a 503 with
    Retry-After) when it takes longer."""
    limit = request.app[SETTINGS].redis_timeout
    try:
        async with asyncio.timeout(limit):
            yield
    except TimeoutError:
        raise StoreUnavailable(f"Redis did not answer within {limit:g} s") from None
