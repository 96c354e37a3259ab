"""Errors become HTTP answers here, and only here: 4xx with a reason for bad input, 503 when
Redis is unreachable (so the platform retries), never a traceback to the caller."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from bot.errors import BadRequest, StoreUnavailable

log = logging.getLogger("bot.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status >= 400:
            log.warning("%s %s -> %d %s", request.method, request.path, e.status, e.reason)
        raise
    except BadRequest as e:
        log.warning("%s %s -> %d: %s", request.method, request.path, e.status, e.reason)
        return web.json_response({"code": e.status, "msg": e.reason}, status=e.status)
    except (StoreUnavailable, RedisError) as e:
        log.error("%s %s -> 503: storage unavailable: %r", request.method, request.path, e)
        return web.json_response(
            {"code": 503, "msg": "storage unavailable, retry later"},
            status=503,
            headers={"Retry-After": "5"},
        )
    except Exception:
        log.exception("%s %s -> 500", request.method, request.path)
        return web.json_response({"code": 500, "msg": "internal error"}, status=500)
