"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.store import RedisError, server_problem
from bot.web.keys import CATALOG, REDIS


async def healthz(request: web.Request) -> web.Response:
    """The process is up and answering."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the flows are loaded: send traffic here."""
    problems = []
    try:
        async with asyncio.timeout(1.0):
            problem = await server_problem(request.app[REDIS])
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
