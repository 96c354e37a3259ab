"""Request bodies, read in one place, the same strict way for every endpoint.

Reading (`read_body`): the declared Content-Length is checked before a byte is read, and a
streamed (chunked) body is counted as it arrives and refused as soon as it passes the
endpoint's limit (413), so an oversized body is never held in memory; the whole body must
arrive within BOT_BODY_TIMEOUT seconds (408), so a slow client cannot hold a request open.
Labels and decoding are bot.wire's (`body_kind`, `decode_json`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientError, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from bot.wire import Accept, body_kind, decode_json

SMALL_BODY = 64 * 1024  # bytes: every body but a CAMS receipt batch (BOT_MAX_BODY)


class RequestTimeout(BadRequest):
    """The body did not arrive within BOT_BODY_TIMEOUT seconds."""

    status = 408


async def read_body(request: web.Request, *, limit: int, within: float) -> bytes:
    """The request body, at most `limit` bytes, arrived within `within` seconds.

    Raises PayloadTooLarge (413) when Content-Length says more than `limit` (nothing is
    read) or when more than `limit` bytes arrive; RequestTimeout (408) when the body takes
    longer than `within` seconds; BadRequest when the body cannot be read (a broken chunked
    encoding or compression, a connection lost mid-body)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes: this endpoint takes at most {limit}")
    received = bytearray()
    try:
        async with asyncio.timeout(within):
            while chunk := await request.content.readany():
                received += chunk
                if len(received) > limit:
                    raise PayloadTooLarge(f"body over {limit} bytes: the limit of this endpoint")
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {within:g} s") from None
    except (web.RequestPayloadError, HttpProcessingError, ClientError, ConnectionError) as e:
        raise BadRequest(f"the body could not be read: {type(e).__name__}") from None
    return bytes(received)


async def read_json(
    request: web.Request,
    *,
    limit: int,
    within: float,
    accept: Accept = Accept.JSON,
    trailing_commas: bool = False,
    empty: Any = None,
) -> Any:
    """Check the label, read and decode a JSON body. A JSON-only endpoint may take an empty
    body when `empty` is not None: `empty` is then the value, whatever the label (clients
    label empty bodies as they please)."""
    if empty is not None and (not request.body_exists or request.content_length == 0):
        return empty
    kind = body_kind(request.headers.get(hdrs.CONTENT_TYPE), accept)
    body = await read_body(request, limit=limit, within=within)
    if not body and empty is not None:
        return empty
    if kind == "none":
        raise UnsupportedMediaType("a body needs Content-Type: application/json")
    return decode_json(body, trailing_commas=trailing_commas)
