"""The Redis client: of a single Redis, or of a Redis Cluster (`RedisClient` is either),
chosen by BOT_REDIS_CLUSTER or by asking the server. The cluster client is redis-py's, made
to fail the way the single-Redis one does (a RedisError), with room for every connection a
process needs, and scripts are queued in pipelines the same way on both (bot/store/lua.py).

On a cluster, each command goes to the node of its keys' slot: scripts and MULTI touch the
keys of one slot (bot/store/keys.py); pipelines without MULTI may span slots (the client sends
each node its part, all at once); SCRIPT LOAD and FLUSHALL go to every primary.

The single-Redis client draws its connections from a blocking pool: when every connection is
in use, a command waits for one (up to POOL_TIMEOUT seconds) rather than failing, so a burst
of steps, sends and callbacks queues for Redis instead of being retried.

The errors a caller may meet are redis-py's, named here (`RedisError` and its kinds), so that
nothing outside bot/store/ imports redis.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    CrossSlotTransactionError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
)

__all__ = [
    "POOL_CONNECTIONS",
    "POOL_TIMEOUT",
    "REDIS_TIMEOUTS",
    "AnyPipeline",
    "NoScriptError",
    "RedisClient",
    "RedisConnectionError",
    "RedisError",
    "ResponseError",
    "check_server",
    "cluster_enabled",
    "connect",
    "redis_client",
    "server_problem",
]

# A client of a single Redis (or one reached through a proxy), or of a Redis Cluster.
RedisClient: TypeAlias = Redis | RedisCluster
AnyPipeline: TypeAlias = Pipeline | ClusterPipeline


async def cluster_enabled(url: str, **options: Any) -> bool:
    """Whether the Redis at `url` is a cluster node (`INFO cluster`). Raises RedisError and
    OSError when it does not answer."""
    probe = Redis.from_url(url, **options)
    try:
        info: Any = await probe.info("cluster")
    finally:
        await probe.aclose()
    return bool(int(info.get("cluster_enabled", 0)))


def _torn_down(e: Exception) -> bool:
    """An AttributeError or TypeError raised inside a connection's stream: the connection
    was closed under the command (by the peer, or by the cluster client closing every
    connection on CLUSTERDOWN while other tasks use them). redis-py 8.1 lets these out
    instead of a ConnectionError (redis-py issues 3546, 4287)."""
    tb, last = e.__traceback__, None
    while tb is not None:
        tb, last = tb.tb_next, tb
    if last is None:
        return False
    where = Path(last.tb_frame.f_code.co_filename)  # asyncio's streams, or redis-py's connection
    if where.parent.name != "asyncio":
        return False
    return where.parent.parent.name != "redis" or where.name == "connection.py"


def _unavailable(e: Exception) -> RedisConnectionError:
    return RedisConnectionError(f"Redis Cluster unavailable: {type(e).__name__}: {e}")


@contextlib.contextmanager
def _as_connection_errors() -> Iterator[None]:
    """Cluster outages (and a connection torn down under a command) as ConnectionErrors."""
    try:
        yield
    except CrossSlotTransactionError:
        raise  # a bug, not an outage
    except RedisClusterException as e:
        raise _unavailable(e) from e
    except (AttributeError, TypeError) as e:
        if _torn_down(e):
            raise _unavailable(e) from e
        raise


class _ClusterPipeline(ClusterPipeline):
    """The cluster pipeline, failing as the single-Redis one does (see `_Cluster`)."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        with _as_connection_errors():
            return await super().execute(raise_on_error, allow_redirections)


class _Cluster(RedisCluster):
    """The cluster client, failing as the single-Redis one does: with a RedisError. When no
    node answers, or the slots are not all served, redis-py raises RedisClusterException,
    which is no RedisError, and a connection closed under a command may fail with an
    AttributeError: either would pass by every handler that answers 503 or waits for Redis
    to come back (and end the task that keeps the leases). Here they are ConnectionErrors."""

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except RedisClusterException as e:
            raise _unavailable(e) from e

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        with _as_connection_errors():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        # redis-py's types leave an attribute of the pipeline abstract; its own
        # `pipeline()` makes one the same way.
        return _ClusterPipeline(self, transaction)  # type: ignore[abstract]


# Connections per cluster node. The cluster client refuses a command outright when a node's
# pool is full (redis-py's default: 100), where the single-Redis client opens one more; and a
# process holds 3 blocking stream reads per partition it works on, on top of its callbacks.
CLUSTER_NODE_CONNECTIONS = 10_000

# The single-Redis client's pool: at most this many connections (`max_connections` in the
# URL's query wins), and how long a command waits for one when all are in use before it
# fails with a ConnectionError (a 503 for a callback; a retry for a step or a send).
POOL_CONNECTIONS = 256
POOL_TIMEOUT = 3.0


def connect(url: str, *, cluster: bool, **options: Any) -> RedisClient:
    """A client of the Redis at `url`: a cluster client when `cluster`. `options` go to
    the client (timeouts, retry, max_connections, and `timeout`: how long a command waits
    for a free connection of a single Redis's pool); nothing is sent until the first
    command. The URL's query (`?max_connections=N`) wins over `options`."""
    if cluster:
        options.pop("timeout", None)  # the cluster client's node pools never wait
        options.setdefault("max_connections", CLUSTER_NODE_CONNECTIONS)
        return _Cluster.from_url(url, **options)
    options.setdefault("max_connections", POOL_CONNECTIONS)
    options.setdefault("timeout", POOL_TIMEOUT)
    return Redis.from_pool(BlockingConnectionPool.from_url(url, **options))


# The Redis client's own bounds, made for the workers, which wait an outage out; a request
# waits for Redis at most BOT_REDIS_TIMEOUT on top of them (bot/web/deadline.py).
REDIS_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 5.0}


def redis_client(url: str, *, cluster: bool = False, partitions: int = 16) -> RedisClient:
    """A client that fails fast while Redis is away, so callbacks get a quick 503; of a
    Redis Cluster when `cluster`. A single Redis's pool makes callers wait for a free
    connection (a few seconds at most) rather than fail: room for the 3 blocking stream
    reads of each of `partitions` a process may hold, and as many more for everything else
    (at least POOL_CONNECTIONS; `?max_connections=N` in the URL wins)."""
    options: dict[str, Any] = {}
    if not cluster:
        options["max_connections"] = max(POOL_CONNECTIONS, 6 * partitions)
    return connect(
        url,
        cluster=cluster,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
        health_check_interval=10,
        **REDIS_TIMEOUTS,
        **options,
    )


async def server_problem(client: RedisClient) -> str | None:
    """Why the Redis of `client` cannot take work, or None: a single Redis answers PING; a
    cluster node says that every slot is served (`cluster_state:ok`): otherwise the
    conversations of some partitions are stuck. Raises RedisError and OSError when it does
    not answer."""
    if not isinstance(client, RedisCluster):
        await client.ping()
        return None
    info = await client.cluster_info()
    state = info.get("cluster_state")
    return None if state == "ok" else f"redis: cluster_state {state}"


async def check_server(client: RedisClient, *, data_dir: str | None) -> bool:
    """Whether the server answers as the one wanted: with `data_dir`, the redis-server
    started in that folder (it reports the real path it was started in as `dir`: a port
    file outlives a killed server, and its port may be reused since); without, any that
    answers PING. Raises RedisError and OSError when it does not answer."""
    if data_dir is None:
        await client.ping()
        return True
    raw: Any = await client.config_get("dir")
    return {_text(k): _text(v) for k, v in raw.items()}.get("dir") == data_dir


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
