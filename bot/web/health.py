"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.asyncio import RedisCluster
from redis.exceptions import RedisError

from bot.redis_client import RedisClient
from bot.web.keys import CATALOG, REDIS


async def healthz(request: web.Request) -> web.Response:
    """The process is up and answering."""
    return web.json_response({"status": "ok"})


async def _redis_problem(client: RedisClient) -> str | None:
    """A single Redis answers PING; a cluster node says that every slot is served
    (`cluster_state:ok`): otherwise the conversations of some partitions are stuck."""
    if not isinstance(client, RedisCluster):
        await client.ping()
        return None
    info = await client.cluster_info()
    state = info.get("cluster_state")
    return None if state == "ok" else f"redis: cluster_state {state}"


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the flows are loaded: send traffic here."""
    problems = []
    try:
        problem = await asyncio.wait_for(_redis_problem(request.app[REDIS]), timeout=1.0)
    except (RedisError, OSError, TimeoutError) as e:
        problem = f"redis: {type(e).__name__}"
    if problem:
        problems.append(problem)
    if not request.app[CATALOG].current.flows:
        problems.append("flows: none loaded")
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ready", "flows": len(request.app[CATALOG].current.flows)})


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
