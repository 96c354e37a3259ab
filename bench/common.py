"""What the bench's processes share: the credentials the server and the fake CAMS agree on,
percentiles, and serving an aiohttp app on loopback until interrupted."""

from __future__ import annotations

import asyncio
import math
from typing import Final

from aiohttp import web

ACCESS_KEY_ID: Final = "bench-key-id"
ACCESS_KEY_SECRET: Final = "bench-key-secret"  # noqa: S105 - a loopback fake's made-up key
RECEIPT_TOKEN: Final = "bench-receipt-token"  # noqa: S105 - the same
SIGNATURE: Final = "bench-signature"
BUSINESS: Final = "8613800000000"


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, by nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = math.ceil(q / 100 * len(sorted_values))  # 1-based
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


async def serve(app: web.Application, port: int, name: str) -> None:
    """Serve `app` on 127.0.0.1:`port` (no access log, a deep backlog) until cancelled;
    say so on stdout, which the bench waits for."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    print(f"{name} on http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
