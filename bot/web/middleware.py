"""What every request goes through.

`observe` (outermost): gives the request its id (the caller's `X-Request-Id` when it is a
sane one, else a new one), names it on every log line written while it is handled, echoes it
in the response (`echo_request_id`, for every response, errors and 404s included), and
counts callbacks by platform, kind and outcome with their latency.

`errors`: errors become HTTP answers here, and only here: 4xx with a reason for bad input
(authentication refusals counted by reason), 503 when Redis is unreachable (so the platform
retries) or when the intake sheds load (counted as `shed`, not logged per request: the
shedder logs when it starts and stops), never a traceback to the caller. A refused request
is one WARNING line, without a traceback. Lines name a request by its route's pattern
(`POST /v1/intents/{code}`), never by its path or query: a receipt URL carries its token in
the query, and a path no route matched may be anything, a token pasted in the wrong place
included (`where`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import log as logs
from bot.errors import BadRequest, Forbidden, Overloaded, StoreUnavailable, Unauthorized
from bot.store import RedisError
from bot.web.keys import METRICS, OUTCOME, REQUEST_ID

log = logging.getLogger("bot.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# The routes that count as callbacks (or API calls), as (platform, kind).
CALLBACK_ROUTES: dict[str, tuple[str, str]] = {
    "/cams/receipts": ("cams", "receipts"),
    "/cams/business": ("cams", "business"),
    "/tencent/callback": ("tencent", "callback"),
    "/v1/intents/{code}": ("api", "intent"),
    "/v1/conversations/{conversation}/resume": ("api", "resume"),
    "/v1/conversations/{conversation}/restart": ("api", "restart"),
    "/v1/conversations/{conversation}/messages": ("api", "message"),
}
_PREFIXES = (("/cams/", "cams"), ("/tencent/", "tencent"), ("/v1/", "api"))


def request_id(presented: str | None) -> str:
    """The caller's id when it is 1-64 characters of [A-Za-z0-9._:-], else a new one."""
    if presented is not None and _SANE_ID.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


def route_of(request: web.Request) -> str | None:
    """The matched route's pattern (`/v1/intents/{code}`), None when no route matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def callback_labels(request: web.Request) -> tuple[str, str] | None:
    """(platform, kind) of a callback or API route; None for other routes (health, ...)."""
    route = route_of(request)
    if route is None:
        return None
    known = CALLBACK_ROUTES.get(route)
    if known is not None:
        return known
    for prefix, platform in _PREFIXES:
        if route.startswith(prefix):
            return platform, "other"
    return None


def where(request: web.Request) -> str:
    """`METHOD /route` for a log line: the matched route's pattern; never the path's
    values nor the query. For a path no route matched, see `unknown_path`."""
    method = logs.clip(request.method, 16)
    return f"{method} {route_of(request) or unknown_path(request)}"


def unknown_path(request: web.Request) -> str:
    """What a log line says of a path no route matched, enough to find a misconfigured URL
    without echoing what may be a secret: the path itself only when it is one of the app's
    own (a method it does not take), else its first segment when that is one of the app's
    (`/cams/...`) and its length: `/cams/... (unknown path, 21 characters)`."""
    path = request.path
    resources = request.app.router.resources()
    if any(r.canonical == path for r in resources):
        return path
    first = path.lstrip("/").split("/", 1)[0]
    ours = {r.canonical.lstrip("/").split("/", 1)[0] for r in resources}
    shown = f"/{first}/..." if first in ours else "/..."
    return f"{shown} (unknown path, {len(path)} characters)"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request[REQUEST_ID] = request_id(request.headers.get(REQUEST_ID_HEADER))
    labels = callback_labels(request)
    metrics = request.app[METRICS]
    started = time.perf_counter()
    status = 500
    try:
        with logs.context(request_id=rid):
            response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        metrics.request_served()
        if labels is not None:
            elapsed = time.perf_counter() - started
            metrics.callback(*labels, status, elapsed, request.get(OUTCOME))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %d", where(request), status, extra={"request_id": rid})


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response names its request's id."""
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers[REQUEST_ID_HEADER] = rid


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status >= 400:
            log.warning("%s -> %d %s", where(request), e.status, e.reason)
        raise
    except BadRequest as e:
        if isinstance(e, Unauthorized | Forbidden):
            labels = callback_labels(request)
            if labels is not None:
                request.app[METRICS].auth_rejected(labels[0], e.category)
        log.warning("%s -> %d: %s", where(request), e.status, e.reason)
        return web.json_response({"code": e.status, "msg": e.reason}, status=e.status)
    except Overloaded as e:
        request[OUTCOME] = "shed"
        return web.json_response(
            {"code": 503, "msg": e.reason},
            status=503,
            headers={"Retry-After": str(e.retry_after)},
        )
    except (StoreUnavailable, RedisError) as e:
        log.error("%s -> 503: storage unavailable: %r", where(request), e)
        return web.json_response(
            {"code": 503, "msg": "storage unavailable, retry later"},
            status=503,
            headers={"Retry-After": "5"},
        )
    except Exception:
        log.exception("%s -> 500", where(request))
        return web.json_response({"code": 500, "msg": "internal error"}, status=500)
