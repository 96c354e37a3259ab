"""The baseline of the bench: a bare aiohttp server on uvloop that reads the receipt push,
parses its JSON and answers 200 with what CAMS expects, nothing more (no token check, no
Redis, no reply). `python bench/baseline.py --port P`; `GET /_bench/count` tells how many
pushes it answered."""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Final

import uvloop
from aiohttp import web
from common import serve

SUCCESS: Final = b'{"code": 0, "msg": "success"}'


class Counter:
    def __init__(self) -> None:
        self.pushes = 0


COUNTER: Final = web.AppKey("counter", Counter)


async def receipts(request: web.Request) -> web.Response:
    json.loads(await request.read())
    request.app[COUNTER].pushes += 1
    return web.Response(body=SUCCESS, content_type="application/json")


async def count(request: web.Request) -> web.Response:
    return web.json_response({"pushes": request.app[COUNTER].pushes})


def create_app() -> web.Application:
    app = web.Application()
    app[COUNTER] = Counter()
    app.router.add_post("/cams/receipts", receipts)
    app.router.add_get("/_bench/count", count)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(create_app(), args.port, "baseline"))


if __name__ == "__main__":
    main()
