"""The application factory: wires routes, middlewares and resources; does no I/O itself.

Each resource lives in one cleanup context, started in order and closed in reverse:
Redis (embedded when no BOT_REDIS_URL), the one outbound HTTP session, the sandbox's
fake CAMS (sandbox mode only), the runtime (partition workers and senders), which
drains in-flight work before the others close, and the receipt intake's backlog sampler
(BOT_SHED_BACKLOG_AGE; it samples only when set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from bot.errors import ConfigError, SpecError
from bot.flows.compiler import CompiledCatalog
from bot.flows.engine import Engine
from bot.local.embedded import EmbeddedRedis
from bot.metrics import Metrics
from bot.model import DEFAULT_ACCOUNT
from bot.platforms.base import Sender
from bot.platforms.cams.client import CamsClient
from bot.platforms.cams.fake import FAKE_CAMS, create_fake_cams
from bot.platforms.tencent.client import TencentClient
from bot.platforms.tencent.fake import FAKE_TENCENT, create_fake_tencent
from bot.runtime.partitions import Runtime
from bot.runtime.routes import Routes
from bot.settings import SANDBOX_SECRET, CamsAccount, Settings
from bot.store import (
    NO_HISTORY,
    REDIS_TIMEOUTS,
    HistoryPolicy,
    RedisError,
    Store,
    cluster_enabled,
    redis_client,
)
from bot.web import api, campaigns, cams, flows, health, openapi, operators, sandbox, tencent
from bot.web import metrics as metrics_route
from bot.web.console.site import setup_console
from bot.web.keys import (
    ACCOUNTS,
    CAMS_ENDPOINT,
    CATALOG,
    CLOCK,
    HTTP,
    METRICS,
    REDIS,
    RUNTIME,
    SANDBOX_AGENT,
    SANDBOX_MESSAGES,
    SANDBOX_TENCENT_MESSAGES,
    SECRETS,
    SETTINGS,
    SHEDDER,
    STORE,
    TENCENT_API,
    CatalogRef,
)
from bot.web.middleware import echo_request_id, errors, observe
from bot.web.server import HANDLER_ARGS, quiet_server
from bot.web.shedding import SAMPLE_INTERVAL, Shedder

log = logging.getLogger("bot.app")


async def _is_cluster(settings: Settings, url: str) -> bool:
    """BOT_REDIS_CLUSTER, else what the server says (`INFO cluster`). A server that does
    not answer is taken as a single Redis: the app starts anyway and answers 503 until
    Redis is back, as it does for a single Redis."""
    if settings.redis_cluster is not None:
        return settings.redis_cluster
    try:
        return await cluster_enabled(url, **REDIS_TIMEOUTS)
    except (RedisError, OSError) as e:
        log.warning(
            "BOT_REDIS_URL did not say whether it is a Redis Cluster (%s): taken as a single "
            "Redis; set BOT_REDIS_CLUSTER to decide without asking",
            type(e).__name__,
        )
        return False


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with contextlib.AsyncExitStack() as stack:
        url = settings.redis_url
        if url is None:
            url = await stack.enter_async_context(EmbeddedRedis(settings.data_dir))
            cluster = False
        else:
            cluster = await _is_cluster(settings, url)
            log.info("Redis: %s", "a Redis Cluster" if cluster else "a single Redis")
        client = redis_client(url, cluster=cluster, partitions=settings.partitions)
        stack.push_async_callback(client.aclose)
        app[REDIS] = client
        app[STORE] = Store(
            client,
            partitions=settings.partitions,
            conversation_ttl=settings.conversation_ttl,
            dedup_ttl=settings.dedup_ttl,
            campaign_ttl=settings.campaign_ttl,
            opt_out_ttl=settings.opt_out_ttl,
            history=(
                HistoryPolicy(settings.history_length, settings.history_ttl, settings.history_text)
                if settings.history
                else NO_HISTORY
            ),
        )
        yield


async def _http(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


async def _serve_fake(fake: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(fake, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _sandbox(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.sandbox_mode:
        app[CAMS_ENDPOINT] = settings.cams_endpoint
        app[TENCENT_API] = settings.tencent_api
        yield
        return
    cams = create_fake_cams({SANDBOX_SECRET: SANDBOX_SECRET}, on_message=sandbox.print_message)
    app[SANDBOX_MESSAGES] = cams[FAKE_CAMS].messages
    sdkappid, key, _tokens = settings.tencent_app()
    tencent = create_fake_tencent(
        int(sdkappid), key, settings.tencent_identifier, on_message=sandbox.print_tencent
    )
    app[SANDBOX_TENCENT_MESSAGES] = tencent[FAKE_TENCENT].messages
    cams_runner, app[CAMS_ENDPOINT] = await _serve_fake(cams)
    tencent_runner, app[TENCENT_API] = await _serve_fake(tencent)
    log.warning(
        "sandbox mode: replies go to a fake CAMS (%s) and a fake Tencent Chat (%s) and are "
        "printed; the published secret %r is accepted where no secret is set: never expose it",
        app[CAMS_ENDPOINT],
        app[TENCENT_API],
        SANDBOX_SECRET,
    )
    try:
        yield
    finally:
        await cams_runner.cleanup()
        await tencent_runner.cleanup()


def _cams_accounts(app: web.Application) -> dict[str, CamsClient]:
    """A sender for each named CAMS account (in sandbox mode, to the sandbox's fake CAMS)."""
    return {
        name: _cams_client(
            app,
            account.access_key_id,
            account.access_key_secret,
            app[CAMS_ENDPOINT] if app[SETTINGS].sandbox_mode else account.endpoint,
        )
        for name, account in app[ACCOUNTS].items()
    }


def _cams_client(app: web.Application, key_id: str, secret: str, endpoint: str) -> CamsClient:
    settings = app[SETTINGS]
    return CamsClient(
        app[HTTP],
        endpoint=endpoint,
        access_key_id=key_id,
        access_key_secret=secret,
        timeout=settings.send_timeout,
        channel_default=settings.cams_channel,
    )


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    key_id, secret = settings.cams_credentials()
    senders: dict[str, Sender] = {"cams": _cams_client(app, key_id, secret, app[CAMS_ENDPOINT])}
    accounts = _cams_accounts(app)
    limits = {
        f"{accounts[name].platform}:{accounts[name].account}": account.send_rate_limit
        for name, account in app[ACCOUNTS].items()
        if account.send_rate_limit is not None
    }
    if settings.tencent_enabled:
        sdkappid, key, _tokens = settings.tencent_app()
        senders["tencent"] = TencentClient(
            app[HTTP],
            sdkappid=int(sdkappid),
            admin_identifier=settings.tencent_identifier,
            secret_key=key,
            api=app[TENCENT_API],
            timeout=settings.send_timeout,
        )
    catalog = app[CATALOG]
    runtime = Runtime(
        app[STORE],
        Engine(catalog.current),
        Routes(
            senders,
            accounts,
            lambda: catalog.current,
            # Sandbox mode: a named account without keys sends with the published ones.
            _cams_client(app, SANDBOX_SECRET, SANDBOX_SECRET, app[CAMS_ENDPOINT])
            if settings.sandbox_mode
            else None,
        ),
        lease_seconds=settings.lease_seconds,
        send_attempts=settings.send_attempts,
        clock=app[CLOCK],
        http=app[HTTP],
        secrets=app[SECRETS],
        send_rate_limit=settings.send_rate_limit,
        send_rate_limits=limits,
        campaign_reserve=settings.campaign_reserve,
        campaign_daily_cap=settings.campaign_daily_cap,
        campaign_min_gap=settings.campaign_min_gap,
        metrics=app[METRICS],
    )
    app[RUNTIME] = runtime
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop(drain_seconds=settings.drain_seconds)


def _shedding(interval: float) -> Callable[[web.Application], AsyncIterator[None]]:
    async def shedding(app: web.Application) -> AsyncIterator[None]:
        shedder = Shedder(app[STORE], limit=app[SETTINGS].shed_backlog_age, interval=interval)
        app[SHEDDER] = shedder
        await shedder.start()
        try:
            yield
        finally:
            await shedder.stop()

    return shedding


async def _close_metrics(app: web.Application) -> None:
    app[METRICS].close()


async def reload_flows(app: web.Application, load: Callable[[], CompiledCatalog]) -> bool:
    """Load the flows again and run them from the next step on; on any problem keep the
    flows in force and log why. Live conversations follow `migrations:` on their next step."""
    try:
        catalog = await asyncio.to_thread(load)
        known: dict[str, str] = app[SECRETS]
        check_secrets(catalog, known)
        accounts: dict[str, CamsAccount] = app[ACCOUNTS]
        check_accounts(catalog, accounts, sandbox=app[SETTINGS].sandbox_mode)
        check_from(catalog, app[SETTINGS])
    except SpecError as e:
        for problem in e.problems:
            log.error("reload refused: %s", problem)
        return False
    except ConfigError as e:
        log.error("reload refused: %s", e)
        return False
    app[CATALOG].current = catalog
    app[RUNTIME].reload(Engine(catalog))
    log.info("flows reloaded: %d flows, %d intents", len(catalog.flows), len(catalog.intents))
    return True


def _reload_on_sighup(load: Callable[[], CompiledCatalog]) -> Callable[[web.Application], Any]:
    async def install(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[bool]] = set()

        def on_hup() -> None:
            task = asyncio.ensure_future(reload_flows(app, load))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hup)

    return install


def create_app(
    settings: Settings,
    catalog: CompiledCatalog,
    *,
    clock: Callable[[], float] = time.time,
    secrets: Mapping[str, str] | None = None,
    reload: Callable[[], CompiledCatalog] | None = None,
    shed_interval: float = SAMPLE_INTERVAL,
    accounts: Mapping[str, CamsAccount] | None = None,
) -> web.Application:
    """`secrets` are the values of {{ secret.NAME }} in calls (BOT_SECRET_NAME); `accounts`
    the named CAMS accounts (BOT_CAMS_ACCOUNT_<NAME>_*, bot.settings.cams_accounts); `reload`,
    when given, loads the flows again on SIGHUP; `shed_interval` is the seconds between two
    reads of the backlog when BOT_SHED_BACKLOG_AGE is set."""
    quiet_server()
    app = web.Application(
        middlewares=[observe, errors],
        client_max_size=settings.max_body,
        handler_args=HANDLER_ARGS,
    )
    app[ACCOUNTS] = dict(accounts or {})
    app[METRICS] = Metrics(
        accounts=[*app[ACCOUNTS], *(n.account for n in catalog.numbers.values())]
    )
    app.on_response_prepare.append(echo_request_id)
    app.on_cleanup.append(_close_metrics)
    app[SETTINGS] = settings
    app[CATALOG] = CatalogRef(catalog)
    app[CLOCK] = clock
    app[SECRETS] = dict(secrets or {})
    app.cleanup_ctx.extend([_redis, _http, _sandbox, _runtime, _shedding(shed_interval)])
    if reload is not None:
        app.on_startup.append(_reload_on_sighup(reload))
    app.add_routes(health.routes())
    app.add_routes(cams.routes())
    app.add_routes(api.routes())
    app.add_routes(operators.routes())
    app.add_routes(campaigns.routes())
    app.add_routes(flows.routes())
    app.add_routes(tencent.routes())
    app.add_routes(openapi.routes())
    app.add_routes(metrics_route.routes())
    if settings.console_token_values():
        setup_console(app)
    if settings.sandbox_mode:
        app[SANDBOX_AGENT] = []
        app.add_routes(sandbox.routes())
        # The example flows' order API wants a token: the sandbox's stand-in has one.
        app[SECRETS].setdefault("ORDERS_TOKEN", sandbox.SANDBOX_ORDERS_TOKEN)
        app[SECRETS].setdefault("ORDERS_API", f"http://127.0.0.1:{settings.port}/sandbox/orders")
        # The example flows' agent desk: the sandbox's stand-in, on the server's own port.
        app[SECRETS].setdefault("AGENT_DESK", f"http://127.0.0.1:{settings.port}/sandbox")
    known: dict[str, str] = app[SECRETS]
    check_secrets(catalog, known)
    named: dict[str, CamsAccount] = app[ACCOUNTS]
    check_accounts(catalog, named, sandbox=settings.sandbox_mode)
    check_from(catalog, settings)
    return app


def check_from(catalog: CompiledCatalog, settings: Settings) -> None:
    """Refuse flows whose `numbers:` do not list BOT_CAMS_FROM: every intent, campaign and
    business call naming no number would be refused."""
    listed = not settings.cams_from or catalog.number_named(settings.cams_from, None) is not None
    if catalog.numbers and not listed:
        raise ConfigError(
            "BOT_CAMS_FROM is none of `numbers:` of the flows: list it there, or unset it "
            "(the business then sends from the first of `numbers:`)"
        )


def check_accounts(
    catalog: CompiledCatalog, accounts: Mapping[str, CamsAccount], *, sandbox: bool
) -> None:
    """Refuse flows whose `numbers:` name a CAMS account that has no keys (in sandbox mode,
    such an account sends with the published ones): its messages could never go out."""
    missing = sorted(
        {n.account for n in catalog.numbers.values()} - accounts.keys() - {DEFAULT_ACCOUNT}
    )
    if missing and not sandbox:
        names = ", ".join(
            f"{n} (BOT_CAMS_ACCOUNT_{n.upper()}_ACCESS_KEY_ID and _ACCESS_KEY_SECRET)"
            for n in missing
        )
        raise ConfigError(
            f"numbers: of the flows send with CAMS accounts that have no keys: {names}. Set "
            "them (or their _FILE variants), or send those numbers with another account."
        )


def check_secrets(catalog: CompiledCatalog, secrets: Mapping[str, str]) -> None:
    """Refuse flows that name a `{{ secret.NAME }}` whose BOT_SECRET_NAME is not set: a
    call would otherwise fail on every conversation that reaches it."""
    missing = sorted(catalog.secrets - secrets.keys())
    if missing:
        names = ", ".join(f"BOT_SECRET_{name}" for name in missing)
        raise ConfigError(
            f"the flows name secret(s) that are not set: {names}. Set each (or its _FILE "
            "variant), or remove the {{ secret.NAME }} from the flows."
        )
