"""`GET /metrics`: the Prometheus metrics of this server (of all its worker processes with
`--workers`), and the backlog and the running campaigns' counts read from Redis for the
scrape. With BOT_METRICS_TOKEN set it
needs `Authorization: Bearer TOKEN`."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.errors import Unauthorized
from bot.platforms.auth import matches_any
from bot.store import Backlog, RedisError
from bot.web.keys import METRICS, SETTINGS, STORE
from bot.wire import is_text

log = logging.getLogger("bot.web.metrics")

BACKLOG_TIMEOUT = 2.0  # seconds: past this a scrape goes on without the backlog
CAMPAIGNS_SHOWN = 20  # the latest campaigns in a scrape, besides those running or paused


def _authorize(request: web.Request) -> None:
    tokens = [s.get_secret_value() for s in request.app[SETTINGS].metrics_token]
    if not tokens:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing token: send `Authorization: Bearer TOKEN`", category="missing")
    if not is_text(token) or not matches_any(token.strip(), tokens):
        raise Unauthorized("wrong token", category="wrong")


async def metrics(request: web.Request) -> web.Response:
    _authorize(request)
    backlog: Backlog | None = None
    campaigns: dict[str, dict[str, int]] | None = None
    store = request.app[STORE]
    try:
        async with asyncio.timeout(BACKLOG_TIMEOUT):
            backlog = await store.backlog()
            # The running and paused, and the latest (their final counts stay in view).
            shown = {c for c, _, _ in await store.active_campaigns()}
            shown.update(await store.campaign_ids(limit=CAMPAIGNS_SHOWN))
            campaigns = {r.id: r.counts for r in await store.campaigns_of(sorted(shown))}
    except (RedisError, OSError, TimeoutError) as e:
        # The process's own metrics are still worth a scrape; the Redis gauges are absent.
        log.warning("metrics without the backlog: Redis did not answer (%r)", e)
    body = await request.app[METRICS].exposition(backlog, campaigns)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def routes() -> list[web.RouteDef]:
    return [web.get("/metrics", metrics)]
