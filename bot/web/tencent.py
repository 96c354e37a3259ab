"""Tencent Cloud Chat's third-party callbacks (`POST /tencent/callback`).

The URL's `Sign = sha256(Token + RequestTime)` covers neither the body nor anything but the
second it was made in: every callback of one second carries the same Sign. So the replay
cache (in Redis, for twice the allowed clock skew) is keyed on the Sign and a digest of the
body: a request is accepted once, and the callbacks of one second all get in (Tencent does
not retry after-callbacks: refusing one would lose a message). Messages to the bot's account
are stored like CAMS receipts and answered at once; before-send callbacks are decided
within a deadline, and allowed when the decision cannot be made in time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from aiohttp import hdrs, web

from bot.errors import Unauthorized, UnsupportedMediaType
from bot.log import shown, shown_name
from bot.platforms.tencent.auth import verify_callback
from bot.platforms.tencent.callbacks import (
    BeforeSend,
    Ignored,
    TencentMessage,
    answer,
    parse_callback,
)
from bot.store import Accepted, RedisError, event_to_json
from bot.web.body import SMALL_BODY, expect_body, read_body
from bot.web.deadline import redis_bound
from bot.web.keys import CLOCK, METRICS, SETTINGS, STORE
from bot.wire import Accept, body_kind

log = logging.getLogger("bot.web.tencent")

BEFORE_SEND_DEADLINE = 0.5  # seconds; Tencent waits 2 s, then applies its own default
DECISIONS = {"allow": 0, "reject": 1, "drop": 2}


async def callback(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not settings.tencent_enabled:
        raise web.HTTPNotFound()
    sdkappid, _key, tokens = settings.tencent_app()
    query = request.query
    sign = verify_callback(
        query,
        sdkappid=sdkappid,
        tokens=tokens,
        now=request.app[CLOCK](),
        max_skew=settings.tencent_max_skew,
    )
    # Tencent names the body's format in the URL (`contenttype=json`), not in a header.
    if query.get("contenttype", "json").lower() != "json":
        raise UnsupportedMediaType("contenttype: only json callbacks are taken")
    body_kind(request.headers.get(hdrs.CONTENT_TYPE), Accept.JSON_ANY_LABEL)
    body = await read_body(request, limit=SMALL_BODY, within=settings.body_timeout)
    # One bound for all this callback's Redis work: the replay check, then the storing or
    # the opt-out check.
    async with redis_bound(request):
        return await _handle(request, body, sign=sign, sdkappid=sdkappid)


async def _handle(request: web.Request, body: bytes, *, sign: str, sdkappid: str) -> web.Response:
    """Check for a replay, parse, and store or decide: the callback's Redis work."""
    settings = request.app[SETTINGS]
    store = request.app[STORE]
    query = request.query
    digest = hashlib.sha256(body).hexdigest()[:32]
    ttl_ms = int(settings.tencent_max_skew * 2000)
    if not await store.first_sight("tencent", sign, digest, ttl_ms=ttl_ms):
        raise Unauthorized("this request was seen before: a replayed callback", category="replay")
    command = query.get("CallbackCommand", "")
    parsed = parse_callback(
        command,
        body,
        identifier=settings.tencent_identifier,
        sdkappid=sdkappid,
        opt_platform=query.get("OptPlatform", ""),
    )
    if isinstance(parsed, TencentMessage):
        event = parsed.event
        [new] = await store.accept(
            [Accepted(parsed.conv.id, f"tencent:{event.message_id}", event_to_json(event))]
        )
        request.app[METRICS].duplicate("tencent", int(not new))
        log.debug(
            "tencent message %s accepted (%s)",
            shown(event.message_id),
            "new" if new else "repeated",
        )
        return web.json_response(answer())
    if isinstance(parsed, BeforeSend):
        return web.json_response(answer(await _before_send(request, parsed)))
    if isinstance(parsed, Ignored):
        log.debug(
            "tencent %s acknowledged, not acted on: %s", shown_name(command, 64), parsed.reason
        )
    return web.json_response(answer())


async def _before_send(request: web.Request, parsed: BeforeSend) -> int:
    """0 allow, 1 reject, 2 drop: the rule for opted-out customers, decided in time."""
    rule = request.app[SETTINGS].tencent_opted_out
    if rule == "allow":
        return 0
    try:
        async with asyncio.timeout(BEFORE_SEND_DEADLINE):
            opted_out = await request.app[STORE].opted_out(parsed.conv.id)
    except (TimeoutError, RedisError, OSError) as e:
        log.warning("before-send allowed: the opt-out check did not answer in time (%r)", e)
        return 0
    return DECISIONS[rule] if opted_out else 0


def routes() -> list[web.RouteDef]:
    return [web.post("/tencent/callback", callback, expect_handler=expect_body)]
