"""The Redis client's connection pool: more commands at once than it has connections wait
for one instead of failing, and `max_connections` in BOT_REDIS_URL's query sets its size."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.local.redis_server import LocalCluster, RedisServer
from bot.store import POOL_CONNECTIONS, POOL_TIMEOUT, RedisClient, connect, redis_client


async def _many_at_once(client: RedisClient, n: int) -> list[object]:
    """`n` blocking commands at once: each holds its connection for 50 ms."""
    await client.set("{pool}:k", "v")
    replies = await asyncio.gather(
        *(client.execute_command("BLPOP", f"{{pool}}:empty{i}", 0.05) for i in range(n)),
        client.execute_command("DEL", "{pool}:k"),
    )
    return [r for r in replies if r is not None]


async def test_more_commands_than_connections_wait_for_one(redis_server: RedisServer) -> None:
    url = f"{redis_server.url}?max_connections=4&client_name=pooltest"
    client = redis_client(url)
    try:
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert pool.max_connections == 4  # the URL's query wins
        assert pool.timeout == POOL_TIMEOUT
        # 40 commands that each hold a connection for 50 ms, on 4 connections: all succeed.
        assert await _many_at_once(client, 40) == [1]
        clients: list[dict[str, str]] = await client.client_list()
        assert 1 <= len([c for c in clients if c["name"] == "pooltest"]) <= 4
    finally:
        await client.aclose()


async def test_a_cluster_client_keeps_room_for_many_commands_at_once(
    redis_cluster: LocalCluster,
) -> None:
    """The cluster client's node pools never wait; they have room for every connection."""
    client = redis_client(redis_cluster.url, cluster=True)
    try:
        assert await _many_at_once(client, 200) == [1]
    finally:
        await client.aclose()


async def test_the_pool_is_sized_for_the_partitions(redis_server: RedisServer) -> None:
    small, large = redis_client(redis_server.url), redis_client(redis_server.url, partitions=256)
    try:
        for client, size in ((small, POOL_CONNECTIONS), (large, 6 * 256)):
            assert isinstance(client, Redis)
            assert client.connection_pool.max_connections == size
        assert await small.ping()
    finally:
        await small.aclose()
        await large.aclose()


async def test_a_pool_that_stays_full_fails_after_its_timeout(redis_server: RedisServer) -> None:
    """A command that finds no free connection in time fails as an outage does (a
    ConnectionError: a 503, or a retry), rather than waiting forever."""
    client = connect(f"{redis_server.url}?max_connections=1&timeout=0.2", cluster=False)
    try:
        held = asyncio.create_task(client.execute_command("BLPOP", "{pool}:none", 1))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError):
            await client.ping()
        assert await held is None
    finally:
        await client.aclose()


async def test_answers_are_parsed_by_hiredis(redis_server: RedisServer) -> None:
    """redis-py parses Redis's answers with hiredis (a dependency): its pure-Python parser
    cost a quarter more CPU per message."""
    client = redis_client(redis_server.url)
    try:
        connection = await client.connection_pool.get_connection()
        try:
            assert type(connection._parser).__name__ == "_AsyncHiredisParser"
        finally:
            await client.connection_pool.release(connection)
        assert await client.ping()
    finally:
        await client.aclose()
