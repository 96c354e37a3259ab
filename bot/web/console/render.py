"""The console's pages from its templates (Jinja2, autoescaped: whatever a customer wrote
is shown as text, never as markup)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jinja2
from aiohttp import web

from bot.log import mask_id
from bot.web.keys import CLOCK, CONSOLE


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(masked=mask_id, when=when, pretty=pretty, count=count)
    return env


def when(ms: int | None) -> str:
    """Milliseconds since the epoch as `2026-12-06 20:17:30 UTC`."""
    if not ms:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty(value: Any) -> str:
    """A slot's value as JSON text (shown escaped)."""
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


def count(value: float | None) -> str:
    """A counter or a rate for the eye: `12`, `3.5`, `—` when unknown."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}"
    return f"{int(value):,}"


def render(request: web.Request, name: str, *, status: int = 200, **context: Any) -> web.Response:
    """The page `name` with `context`; `session`, `page` and `now_ms` are always defined."""
    context.setdefault("session", None)
    context.setdefault("page", "")
    context["now_ms"] = int(request.app[CLOCK]() * 1000)
    html = request.app[CONSOLE].templates.get_template(name).render(context)
    return web.Response(text=html, content_type="text/html", status=status)
