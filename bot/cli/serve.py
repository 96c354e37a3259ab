"""`bot serve`: one serving process (its TLS, its event loop, its garbage collector), or,
with BOT_WORKERS > 1, the parent of N of them (bot/local/supervisor.py)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os

from bot.cli.sources import compiled_catalog, load_settings
from bot.flows.compiler import CompiledCatalog
from bot.settings import SANDBOX_SECRET, Settings, call_secrets, cams_accounts

log = logging.getLogger("bot.serve")


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app
    from bot.local import supervisor
    from bot.local.tls import server_ssl_context
    from bot.log import setup as setup_logging

    settings = load_settings(host=args.host, port=args.port, workers=args.workers)
    settings.check()
    ssl_context = server_ssl_context(settings)
    setup_logging(settings.log_level, settings.log_format)
    catalog = compiled_catalog(settings.flows, settings.intents)
    worker = supervisor.worker_number()  # None unless this is one of `--workers N`
    if worker is None:
        _serve_banner(settings, catalog, https=ssl_context is not None)
        if settings.workers > 1:
            return supervisor.supervise(settings)
    else:
        log.info("worker %d serving (pid %d)", worker, os.getpid())
    app = create_app(
        settings,
        catalog,
        secrets=call_secrets(os.environ),
        accounts=cams_accounts(os.environ, settings.cams_endpoint),
        reload=lambda: compiled_catalog(settings.flows, settings.intents),
    )
    app.on_startup.append(settle_gc)  # after the app's own start-up: its resources
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context,
        reuse_port=worker is not None or None,  # the workers share the port
        print=None,
        access_log=None,
        shutdown_timeout=settings.drain_seconds,
        loop=_event_loop(),
    )
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (Linux, macOS), asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _serve_banner(settings: Settings, catalog: CompiledCatalog, *, https: bool) -> None:
    mode = "sandbox" if settings.sandbox_mode else "live"
    print(
        f"bot: {len(catalog.flows)} flows, {len(catalog.intents)} intents from {settings.flows} "
        f"and {settings.intents}; {mode} mode; listening on "
        f"{'https' if https else 'http'}://{settings.host}:{settings.port}",
        flush=True,
    )
    if settings.sandbox_mode:
        print(
            "bot: SANDBOX MODE (BOT_SANDBOX=true): not for real customers. Replies go to a "
            "fake CAMS and are printed;\n"
            f"bot: the published value {SANDBOX_SECRET!r} is taken as the receipt token, the "
            "business Signature and the API key where those are unset.\n"
            "bot: play the customer with `bot say TEXT` in another terminal",
            flush=True,
        )


# The cyclic garbage collector of a serving process. With Python's defaults (700, 10, 10)
# the bench's server spent about 10% of its CPU collecting, and every few seconds a full
# pass over every live object (the cached conversations among them) stopped it for 120 to
# 135 ms, the worst of its acknowledgement delays. What exists once the app is up lives as
# long as the process and is frozen out of the passes; the youngest generation is collected
# every 5,000 allocations rather than 700. Measured in three pairs of bench runs
# (docs/performance.md): about 15% less CPU per message, the longest pause 40 to 50 ms, ack
# p99 at an open-loop 1,000/s 21 to 70 ms against 102 to 249. Cycles are still collected,
# a little later.
GC_THRESHOLDS = (5_000, 10, 10)


async def settle_gc(app: object) -> None:
    """An `on_startup` hook, once the app's resources are up: what exists now (modules,
    flows, settings, connections) lives as long as the process, so it is frozen out of
    every later collection, and the thresholds are raised."""
    del app
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
