"""How aiohttp's HTTP server runs under the app, for what no middleware reaches.

- Bodies are handed over as they came (`auto_decompress` off): aiohttp would otherwise
  inflate a compressed body as its bytes arrive, before any handler has authenticated the
  request, and again while it drains the body of a request refused unread. bot/web/body.py
  inflates, where an endpoint takes compressed bodies, after the endpoint's checks.
"""

from __future__ import annotations

from typing import Any

# The keyword arguments of the HTTP server's connection handler (web.Application's
# `handler_args`).
HANDLER_ARGS: dict[str, Any] = {"auto_decompress": False}
