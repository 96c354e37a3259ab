"""What the HTTP server itself says and logs, below the app's middlewares: no versions in
any response, aiohttp's own 400s included, and a malformed request as one log line."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support import RECEIPT_TOKEN

MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header MARKER-7f3a\r\n\r\n",  # a header without a colon
    b"GET /\x01MARKER-7f3a HTTP/1.1\r\nHost: x\r\n\r\n",  # a control byte in the target
    b"POST /cams/receipts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"MARKER-7f3a\r\n",  # not a chunk size
]


async def raw(client: TestClient[Any, Any], request: bytes) -> bytes:
    """Send bytes over a new connection; everything the server answers before it closes."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def headers_of(answer: bytes) -> dict[str, str]:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}


async def test_no_response_names_the_servers_software_or_versions(
    client: TestClient[Any, Any],
) -> None:
    """Every response says `Server: bot`: routed ones (200, 401, 404) and aiohttp's own
    answers to requests its parser refuses; none names aiohttp or Python."""
    answers = [
        await client.get("/healthz"),
        await client.post("/cams/receipts?token=wrong", json=[]),
        await client.get("/no/such/path"),
        await client.post(f"/cams/receipts?token={RECEIPT_TOKEN}", json=[]),
    ]
    seen = [dict(resp.headers) for resp in answers]
    for request in MALFORMED:
        answer = await raw(client, request)
        assert answer.split(b"\r\n")[0].split(b" ")[1] == b"400", answer
        seen.append(headers_of(answer))
    for headers in seen:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["server"] == "bot", headers
        assert not any("aiohttp" in v.lower() or "python" in v.lower() for v in lowered.values())


async def test_a_malformed_request_is_one_log_line_without_its_bytes(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A request the HTTP parser refuses is logged once, as a WARNING naming the kind of
    error, with no traceback and none of the request's bytes."""
    caplog.set_level(logging.DEBUG)
    for request in MALFORMED:
        caplog.clear()
        await raw(client, request)
        await asyncio.sleep(0)
        lines = [r for r in caplog.records if r.name.startswith(("aiohttp", "bot.web"))]
        lines = [r for r in lines if r.name != "aiohttp.access"]
        assert [(r.levelname, r.exc_info) for r in lines] == [("WARNING", None)], lines
        assert ": malformed request refused with 400: " in lines[0].getMessage()
        assert "MARKER" not in caplog.text


async def test_what_is_not_http_at_all_is_logged_at_debug(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not HTTP (a scanner, TLS to the plain port) are one DEBUG line."""
    caplog.set_level(logging.DEBUG)
    await raw(client, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03MARKER-7f3a\r\n\r\n")
    lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelname, r.exc_info) for r in lines] == [("DEBUG", None)], lines
    assert "MARKER" not in caplog.text
