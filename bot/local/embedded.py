"""The embedded Redis of a data folder: the redis-server that `bot serve` starts under
BOT_DATA_DIR when no BOT_REDIS_URL is set (once, in the parent of `--workers N`), that
`bot chat` starts in a folder of its own, and that the operator commands (`bot stats`,
`bot dlq`) find there through the port file it keeps while it runs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.local.redis_server import RedisServer, recorded_port, url_of

log = logging.getLogger("bot.redis")

FOLDER = "redis"  # under the data folder: the server's files and its port file


class EmbeddedRedis:
    """The embedded Redis of `data_dir`, its files in `data_dir/redis`. Started as a context
    manager (`with`, or `async with`, which starts and stops it in a thread), whose value
    is its URL; or found (`running_url`), when a `bot serve` started it."""

    def __init__(self, data_dir: Path, *, appendonly: bool = True) -> None:
        self.folder = Path(data_dir) / FOLDER
        self.appendonly = appendonly
        self._server: RedisServer | None = None

    def running_url(self) -> str | None:
        """The URL of the server started here, as its port file says; None when there is
        none. The file outlives a killed server: whoever connects checks that the server's
        `dir` is this folder."""
        port = recorded_port(self.folder)
        return None if port is None else url_of(port)

    def __enter__(self) -> str:
        server = RedisServer(self.folder, appendonly=self.appendonly)
        server.start()
        self._server = server
        log.info("embedded redis-server on 127.0.0.1:%d, data in %s", server.port, server.data_dir)
        return server.url

    def __exit__(self, *exc: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    async def __aenter__(self) -> str:
        return await asyncio.to_thread(self.__enter__)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.__exit__, *exc)
