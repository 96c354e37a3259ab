"""Shared fixtures: a real redis-server per test session (never port 6379), flushed per
test; the fake CAMS on a loopback port; the real app factory wired to both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.app import create_app
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.platforms.cams.fake import FAKE_CAMS, create_fake_cams
from bot.redis_server import RedisServer
from bot.settings import Settings
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    RECEIPT_TOKEN,
    ROOT,
    SIGNATURES,
    CamsServer,
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=False)
    assert server.port != 6379
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def catalog() -> CompiledCatalog:
    return compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents"))


@pytest.fixture
async def fake_cams(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> CamsServer:
    server = await aiohttp_server(create_fake_cams({ACCESS_KEY_ID: ACCESS_KEY_SECRET}))
    return CamsServer(server.app[FAKE_CAMS], str(server.make_url("/")))


def make_settings(redis_url: str, endpoint: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "sandbox": False,
        "cams_receipt_token": RECEIPT_TOKEN,
        "cams_signature": ",".join(SIGNATURES),
        "cams_access_key_id": ACCESS_KEY_ID,
        "cams_access_key_secret": ACCESS_KEY_SECRET,
        "cams_endpoint": endpoint,
        "cams_from": BUSINESS,
        "partitions": 4,
        "lease_seconds": 2.0,
        "send_attempts": 3,
        "send_timeout": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


AppFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(
    fake_cams: CamsServer,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: RedisServer,
    redis: Redis,
    catalog: CompiledCatalog,
) -> AppFactory:
    """Start the real app (routes, Redis, runtime) against the test Redis and fake CAMS.
    `fake_cams` comes first so that it is torn down last, after the app has drained."""

    async def make(*, catalog_: CompiledCatalog | None = None, **overrides: Any) -> Any:
        redis_url = overrides.pop("redis_url", redis_server.url)
        settings = make_settings(redis_url, fake_cams.endpoint, **overrides)
        return await aiohttp_client(create_app(settings, catalog_ or catalog))

    return make


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client()
