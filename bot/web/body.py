"""Request bodies, read in one place, the same strict way for every endpoint.

Reading (`read_body`): the declared Content-Length is checked before a byte is read, and a
streamed (chunked) body is counted as it arrives and refused as soon as it passes the
endpoint's limit (413), so an oversized body is never held in memory; the whole body must
arrive within BOT_BODY_TIMEOUT seconds (408), so a slow client cannot hold a request open.
Labels and decoding are bot.wire's (`body_kind`, `decode_json`).

Compression. The HTTP server hands bodies over as they came (the app turns aiohttp's
`auto_decompress` off): aiohttp would otherwise inflate a compressed body as its bytes
arrive, before any handler has looked at the request, and again while it drains the body
of a request refused unread. So a body is inflated here or nowhere, only where the endpoint
takes its `Content-Encoding` (`encodings`; 415 elsewhere), only once the endpoint has
authenticated the request (it calls `read_body` after its checks), and only up to the
endpoint's limit: what it inflates to counts against the limit as the compressed bytes do
(413), streamed, so a small body that expands a thousandfold costs the inflation of
`limit` bytes at most.

`Expect: 100-continue`: the routes that take a body answer it with `expect_body`, which
sends nothing: `read_body` sends the `100 Continue`, after the encoding and the declared
length have passed, and the endpoint has authenticated the request. A client told 401, 413
or 415 instead never sends its body.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from typing import Any

from aiohttp import ClientError, hdrs, web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError

from bot.errors import (
    BadRequest,
    ExpectationFailed,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from bot.wire import Accept, body_kind, decode_json

SMALL_BODY = 64 * 1024  # bytes: every body but a CAMS receipt batch (BOT_MAX_BODY)

# Content-Encodings: none (every endpoint but the receipt intake), or gzip and deflate.
IDENTITY: frozenset[str] = frozenset()
COMPRESSED = frozenset({"gzip", "x-gzip", "deflate"})

_CODING = re.compile(r"[a-z0-9._+-]{1,24}")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


async def expect_body(request: web.Request) -> None:
    """The `expect_handler` of every route that takes a body: answers nothing, so that no
    `100 Continue` goes out before the endpoint has decided to read (see `read_body`)."""
    del request


def content_encoding(request: web.Request, accepted: frozenset[str]) -> str | None:
    """The body's Content-Encoding, lower-cased (None: not encoded, or `identity`).
    Raises UnsupportedMediaType (415) for one the endpoint does not take, or several."""
    codings = [
        coding.strip().lower()
        for value in request.headers.getall(hdrs.CONTENT_ENCODING, ())
        for coding in value.split(",")
    ]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in accepted:
        return codings[0]
    named = ", ".join(c if _CODING.fullmatch(c) else "?" for c in codings[:3])
    if not accepted:
        raise UnsupportedMediaType(
            f"Content-Encoding {named}: this endpoint takes uncompressed bodies only"
        )
    raise UnsupportedMediaType(
        f"Content-Encoding {named}: this endpoint takes one of {', '.join(sorted(accepted))}"
    )


class _Inflater:
    """Streamed inflation of a gzip or deflate body, refused past `limit` bytes inflated."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.size = 0
        self._head = b""
        self._zlib: Any = None
        if coding != "deflate":
            self._zlib = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip only

    def feed(self, chunk: bytes) -> bytes:
        if self._zlib is None:
            # "deflate" is zlib's format (RFC 9110); some clients send raw deflate: the
            # first byte tells them apart (a zlib stream says method 8 in its low bits).
            self._head += chunk
            if len(self._head) < 2:
                return b""
            chunk, self._head = self._head, b""
            raw = chunk[0] & 0x0F != 8 or (chunk[0] << 8 | chunk[1]) % 31 != 0
            self._zlib = zlib.decompressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        if self._zlib.eof:
            raise BadRequest(f"the body has data after the end of its {self.coding} stream")
        try:
            out: bytes = self._zlib.decompress(chunk, self.limit - self.size + 1)
        except zlib.error:
            raise BadRequest(f"the body is not valid {self.coding}") from None
        self.size += len(out)
        if self.size > self.limit:
            raise PayloadTooLarge(
                f"body inflates to over {self.limit} bytes: the limit of this endpoint"
            )
        if self._zlib.unused_data:
            raise BadRequest(f"the body has data after the end of its {self.coding} stream")
        return out

    def end(self) -> None:
        if self._zlib is None or not self._zlib.eof:
            raise BadRequest(f"the {self.coding} body is cut short")


async def _send_continue(request: web.Request) -> None:
    """`100 Continue` when the client waits for it (HTTP/1.1 `Expect: 100-continue`);
    ExpectationFailed (417) for any other expectation."""
    expect = request.headers.get(hdrs.EXPECT)
    if expect is None or request.version != HttpVersion11:
        return
    if expect.strip().lower() != "100-continue":
        raise ExpectationFailed("Expect: only 100-continue is understood")
    await request.writer.write(_CONTINUE)
    request.writer.output_size = 0  # the response proper has not started


async def read_body(
    request: web.Request,
    *,
    limit: int,
    within: float,
    encodings: frozenset[str] = IDENTITY,
) -> bytes:
    """The request body, at most `limit` bytes, arrived within `within` seconds, inflated
    when its Content-Encoding is one of `encodings` (see the module's docstring).

    Raises UnsupportedMediaType (415) for a Content-Encoding not in `encodings`;
    PayloadTooLarge (413) when Content-Length says more than `limit` (nothing is read), or
    when more than `limit` bytes arrive or are inflated; RequestTimeout (408) when the body
    takes longer than `within` seconds; BadRequest when the body cannot be read (a broken
    chunked encoding or compression, a connection lost mid-body)."""
    coding = content_encoding(request, encodings)
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes: this endpoint takes at most {limit}")
    await _send_continue(request)
    inflater = _Inflater(coding, limit) if coding is not None else None
    received = bytearray()
    size = 0
    try:
        async with asyncio.timeout(within):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body over {limit} bytes: the limit of this endpoint")
                received += inflater.feed(chunk) if inflater is not None else chunk
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {within:g} s") from None
    except (web.RequestPayloadError, HttpProcessingError, ClientError, ConnectionError) as e:
        raise BadRequest(f"the body could not be read: {type(e).__name__}") from None
    if inflater is not None and size:
        inflater.end()
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
