"""How aiohttp's HTTP server runs under the app, for what no middleware reaches.

- Bodies are handed over as they came (`auto_decompress` off): aiohttp would otherwise
  inflate a compressed body as its bytes arrive, before any handler has authenticated the
  request, and again while it drains the body of a request refused unread. bot/web/body.py
  inflates, where an endpoint takes compressed bodies, after the endpoint's checks.
- A request the HTTP parser refuses (a malformed request line, header or chunk) is answered
  400 by aiohttp itself and logged by it at ERROR with a traceback whose message quotes up
  to a whole line of the request: here it is one line at WARNING (at DEBUG when aiohttp has
  it there: bytes that are not HTTP at all), naming the peer and the error's kind and
  leading phrase (bot.log.refusal), never the request's bytes.
- The Server header says `bot`: aiohttp's own names the aiohttp and Python versions, on
  every response, its own 400s above included, which no hook of the app reaches. aiohttp
  reads it from `aiohttp.web_response` as it prepares each response, so `quiet_server`
  sets it there, for every aiohttp server of the process.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from aiohttp import web_response
from aiohttp.http_exceptions import HttpProcessingError

from bot.log import clip, refusal

SERVER = "bot"


class ParserLog(logging.LoggerAdapter[logging.Logger]):
    """The HTTP server's logger: a request its parser refused is one line without a
    traceback or the request's bytes; everything else, aiohttp's own failures (a handler
    that raised), as aiohttp logs it, traceback included."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            level = min(level, logging.WARNING)
            if self.logger.isEnabledFor(level):
                peer = clip(str(args[0]), 64) if args else "?"
                self.logger.log(
                    level,
                    "%s: malformed request refused with %d: %s",
                    peer,
                    exc.code or 400,
                    refusal(exc),
                )
            return
        self.logger.log(level, msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self.log(logging.ERROR, msg, *args, **kwargs)


# The keyword arguments of the HTTP server's connection handler (web.Application's
# `handler_args`).
HANDLER_ARGS: dict[str, Any] = {
    "auto_decompress": False,
    "logger": ParserLog(logging.getLogger("aiohttp.server")),
}


def quiet_server() -> None:
    """Every response of this process's aiohttp servers says `Server: bot`."""
    web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined]
