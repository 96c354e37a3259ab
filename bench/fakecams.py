"""The fake CAMS send API of the bench, in a process of its own:
`python bench/fakecams.py --port P --key-id ID --key-secret S`.

It is the project's fake (bot.platforms.cams.fake: V3 signature check, nonce replay check,
parameter validation, recording) with its rate limit lifted, plus a recorder of when each
reply arrived. Every customer text the bench sends carries a mark, `#TAG.CUSTOMER.N@SENT_US`
(the run, the customer, the message, and when its push was sent, in µs since the epoch), and
the bench's flow repeats the text in its reply: so each reply is matched to its message and
its end-to-end latency is known.

    GET  /_bench/replies?tag=TAG  count, first and last arrival, end-to-end latency summary
    POST /_bench/forget           drop what was recorded (memory), keep counting nothing
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import uvloop
from aiohttp import web
from common import percentile, serve

from bot.platforms.cams.fake import FAKE_CAMS, create_fake_cams

MARK: Final = re.compile(r"#([A-Za-z0-9_]+)\.(\d+)\.(\d+)@(\d+)")
NO_LIMIT: Final = 1_000_000_000


@dataclass
class Arrivals:
    """Per run tag: when each reply arrived (s since the epoch) and its latency (s)."""

    at: dict[str, list[float]] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)
    unmarked: int = 0

    def on_message(self, entry: Mapping[str, str]) -> None:
        now = time.time()
        found = MARK.search(entry.get("Content", "") or entry.get("TemplateParams", ""))
        if found is None:
            self.unmarked += 1
            return
        tag = found.group(1)
        self.at.setdefault(tag, []).append(now)
        self.latency.setdefault(tag, []).append(now - int(found.group(4)) / 1e6)

    def summary(self, tag: str) -> dict[str, Any]:
        at = self.at.get(tag, [])
        lat = sorted(self.latency.get(tag, []))
        return {
            "count": len(at),
            "first": min(at) if at else None,
            "last": max(at) if at else None,
            "e2e_ms": {
                "p50": percentile(lat, 50) * 1000 if lat else None,
                "p99": percentile(lat, 99) * 1000 if lat else None,
                "max": lat[-1] * 1000 if lat else None,
                "mean": sum(lat) / len(lat) * 1000 if lat else None,
            },
            "unmarked": self.unmarked,
        }


ARRIVALS: Final = web.AppKey("arrivals", Arrivals)


async def _replies(request: web.Request) -> web.Response:
    summary = request.app[ARRIVALS].summary(request.query.get("tag", ""))
    fake = request.app[FAKE_CAMS]
    summary["errors"] = len(fake.errors)
    return web.json_response(summary)


async def _forget(request: web.Request) -> web.Response:
    fake = request.app[FAKE_CAMS]
    fake.messages.clear()
    fake.arrivals.clear()
    arrivals = request.app[ARRIVALS]
    arrivals.at.clear()
    arrivals.latency.clear()
    return web.json_response({"ok": True})


def create_app(key_id: str, key_secret: str) -> web.Application:
    arrivals = Arrivals()
    app: web.Application = create_fake_cams(
        {key_id: key_secret}, rate_limit=NO_LIMIT, on_message=arrivals.on_message
    )
    app[ARRIVALS] = arrivals
    app.router.add_get("/_bench/replies", _replies)
    app.router.add_post("/_bench/forget", _forget)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--key-secret", required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(create_app(args.key_id, args.key_secret), args.port, "fake CAMS"))


if __name__ == "__main__":
    main()
