"""The console added to the app: its routes, its error pages, its headers."""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.errors import BadRequest, StoreUnavailable, TooManyRequests
from bot.store import RedisError
from bot.web.console import campaigns, guard, pages
from bot.web.console.render import render, templates
from bot.web.console.state import Console
from bot.web.keys import CONSOLE

log = logging.getLogger("bot.web.console")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ours(request: web.Request) -> bool:
    return request.path == guard.PREFIX or request.path.startswith(guard.PREFIX + "/")


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /console, a refusal is a page that says why (the API's are JSON)."""
    if not _ours(request):
        return await handler(request)
    try:
        return await handler(request)
    except TooManyRequests as e:
        log.warning("%s %s -> 429", request.method, guard.SIGN_IN_PATH)
        response = render(request, "error.html", status=429, reason=e.reason)
        response.headers["Retry-After"] = str(e.retry_after)
        return response
    except BadRequest as e:
        log.warning("console -> %d: %s", e.status, e.reason)
        return render(request, "error.html", status=e.status, reason=e.reason)
    except (StoreUnavailable, RedisError) as e:
        log.error("console -> 503: storage unavailable: %r", e)
        response = render(request, "error.html", status=503,
                          reason="Redis is not answering: try again in a moment.")  # fmt: skip
        response.headers["Retry-After"] = "5"
        return response


def setup_console(app: web.Application) -> None:
    """Add the console to `app`: its routes, its error pages, its headers."""
    app[CONSOLE] = Console(templates())
    app.middlewares.append(html_errors)
    app.on_response_prepare.append(guard.security_headers)
    static = importlib.resources.files("bot.web.console") / "static"
    p = guard.PREFIX
    app.add_routes([
        web.get(p, pages.overview),
        web.get(f"{p}/live", pages.live),
        web.get(guard.SIGN_IN_PATH, guard.sign_in_page),
        web.post(guard.SIGN_IN_PATH, guard.sign_in),
        web.post(f"{p}/sign-out", guard.sign_out),
        web.get(f"{p}/flows", pages.flows),
        web.get(f"{p}/flows/{{name}}", pages.flow),
        web.get(f"{p}/conversations", pages.conversations),
        web.get(f"{p}/c/{{ref}}", pages.conversation),
        web.post(f"{p}/c/{{ref}}/resume", pages.resume),
        web.post(f"{p}/c/{{ref}}/answer", pages.answer),
        web.post(f"{p}/c/{{ref}}/restart", pages.restart),
        web.get(f"{p}/c/{{ref}}/erase", pages.erase_page),
        web.post(f"{p}/c/{{ref}}/erase", pages.erase),
        web.get(f"{p}/dead-letters", pages.dead_letters),
        web.get(f"{p}/dead-letters/{{id}}", pages.dead_letter),
        web.post(f"{p}/dead-letters/{{id}}/retry", pages.retry_dead),
        web.post(f"{p}/dead-letters/{{id}}/drop", pages.drop_dead),
        *campaigns.routes(),
        web.static(f"{p}/static", str(static)),
    ])  # fmt: skip
