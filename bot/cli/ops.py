"""The operators' commands, `bot stats` (bot/cli/stats.py) and `bot dlq` (bot/cli/dlq.py),
run over the Store of a running deployment: the Redis of BOT_REDIS_URL or, when unset, the
embedded Redis a `bot serve` started under BOT_DATA_DIR. Each imports its module when it
runs, as every command does with what only it needs: `bot dlq` masks with bot.log, which
loads aiohttp, and no other command should wait for that."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from bot.cli.sources import compiled_catalog, load_settings
from bot.errors import ConfigError
from bot.local.embedded import EmbeddedRedis
from bot.model import DEFAULT_ACCOUNT
from bot.settings import Settings
from bot.store import RedisClient, RedisError, Store, check_server, cluster_enabled, connect


def cmd_stats(args: argparse.Namespace) -> int:
    from bot.cli.stats import stats_command

    settings = load_settings()

    async def run() -> int:
        async with open_store(settings) as store:
            return await stats_command(store, as_json=args.json, out=sys.stdout)

    return asyncio.run(run())


def cmd_dlq(args: argparse.Namespace) -> int:
    from bot.cli.dlq import dlq_command

    settings = load_settings()
    ids = getattr(args, "ids", None)
    if args.action != "list" and bool(ids) == args.all:
        print(f"bot dlq {args.action}: name dead letter ids, or --all", file=sys.stderr)
        return 2

    account = None
    if getattr(args, "account", None):
        catalog = compiled_catalog(settings.flows, settings.intents)
        name = args.account.strip().lower()  # as BOT_CAMS_ACCOUNT_<NAME>_* is spelled, too
        known = sorted({DEFAULT_ACCOUNT, *catalog.accounts()})
        if name not in known:
            print(f"bot dlq list: no account {name!r} sends for numbers: of the flows; "
                  f"accounts: {', '.join(known)}", file=sys.stderr)  # fmt: skip
            return 2
        account = (name, catalog.account_of)

    async def run() -> int:
        async with open_store(settings) as store:
            return await dlq_command(
                store,
                args.action,
                ids=None if getattr(args, "all", False) else ids,
                limit=getattr(args, "limit", 50),
                as_json=getattr(args, "json", False),
                yes=getattr(args, "yes", False),
                out=sys.stdout,
                account=account,
            )

    return asyncio.run(run())


def locate_redis(settings: Settings) -> tuple[str, str, str | None]:
    """(url, how to name it in messages, the `dir` the server must report or None): the
    Redis of BOT_REDIS_URL or, when unset, the embedded one a `bot serve` started under
    BOT_DATA_DIR, as its port file says. ConfigError when there is no port file."""
    if settings.redis_url is not None:
        return settings.redis_url, "BOT_REDIS_URL", None
    embedded = EmbeddedRedis(settings.data_dir)
    folder = embedded.folder.resolve()
    url = embedded.running_url()
    if url is None:
        raise ConfigError(
            f"no Redis to read: BOT_REDIS_URL is unset and no embedded Redis runs under "
            f"{folder} (is `bot serve` running with this BOT_DATA_DIR?)"
        )
    return url, f"the embedded Redis of {folder}", str(folder)


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The store of `locate_redis`, once it answers (a Redis Cluster's when
    BOT_REDIS_CLUSTER says so, or the server does). ConfigError when it does not."""
    url, where, folder = locate_redis(settings)
    options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 10.0}
    cluster = False if folder is not None else settings.redis_cluster
    if cluster is None:
        try:
            cluster = await cluster_enabled(url, **options)
        except (RedisError, OSError) as e:
            raise ConfigError(f"{where} does not answer: {e}") from e
    client: RedisClient = connect(url, cluster=cluster, **options)
    try:
        try:
            # The port file outlives a killed server, and its port may be reused since:
            # make sure this is the server of that folder.
            answered = await check_server(client, data_dir=folder)
        except (RedisError, OSError) as e:
            raise ConfigError(f"{where} does not answer: {e}") from e
        if not answered:
            raise ConfigError(
                f"no embedded Redis runs under {folder}: its port file is stale "
                "(is `bot serve` running with this BOT_DATA_DIR?)"
            )
        yield Store(
            client,
            partitions=settings.partitions,
            conversation_ttl=settings.conversation_ttl,
            dedup_ttl=settings.dedup_ttl,
            opt_out_ttl=settings.opt_out_ttl,
        )
    finally:
        await client.aclose()
