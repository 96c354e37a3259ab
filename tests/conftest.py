"""Shared fixtures: a real redis-server per test session (never port 6379), flushed per
test; the fake CAMS on a loopback port; the real app factory wired to both.

A test module marked `pytest.mark.both_redis` runs each test that uses Redis (`redis`,
`redis_url`, `new_redis`, `make_client`...) twice: against the single redis-server
(`[single]`) and against a local 3-primary Redis Cluster that the session starts on first
use (`[cluster]`), flushed the same way (every primary)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import settings

from bot.app import create_app
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.local.redis_server import LocalCluster, RedisServer
from bot.platforms.base import Sender
from bot.platforms.cams.client import CamsClient
from bot.platforms.cams.fake import FAKE_CAMS, create_fake_cams
from bot.settings import Settings
from bot.store import RedisClient, connect
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    EXAMPLE_SECRETS,
    RECEIPT_TOKEN,
    ROOT,
    SIGNATURES,
    CamsServer,
)

# Property tests draw the same cases on every run of `make test`, so a red run is reproducible
# and a green one is not luck; HYPOTHESIS_PROFILE=explore draws fresh, and many more, cases.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=3000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=False)
    assert server.port != 6379
    server.start()
    yield server
    server.stop()


@pytest.fixture
def no_bot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BOT_ variable of this process (a developer's own, or another test's) reaches
    what the test reads: the settings it builds start from the defaults."""
    for name in list(os.environ):
        if name.upper().startswith("BOT_"):
            monkeypatch.delenv(name)


REDIS_KINDS = ("single", "cluster")


def pytest_configure(config: pytest.Config) -> None:
    # A developer's own .env (BOT_ENV_FILE) must not reach what the tests run in this process.
    os.environ["BOT_ENV_FILE"] = ""
    config.addinivalue_line(
        "markers", "both_redis: run the tests that use Redis against a single Redis and a cluster"
    )
    config.addinivalue_line(
        "markers",
        "alone: measures rates or latencies under a load of its own: `make test` runs these "
        "after the rest, by themselves, not beside other tests",
    )
    config.addinivalue_line(
        "markers",
        "browser: drives the web console in headless Chromium (tests/browser.py finds it; "
        "`make test BROWSER=no` leaves these out)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_kind" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_redis"
    ):
        metafunc.parametrize("redis_kind", REDIS_KINDS, indirect=True)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three cluster-enabled redis-servers, slots split evenly, no replicas."""
    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"), primaries=3)
    cluster.start()
    assert 6379 not in cluster.ports
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_kind(request: pytest.FixtureRequest) -> str:
    """`single`, or `cluster` in the second run of a `both_redis` module's tests."""
    kind: str = getattr(request, "param", "single")
    return kind


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_kind: str) -> str:
    """The URL of the Redis under test (a cluster's: one of its nodes)."""
    server = request.getfixturevalue("redis_cluster" if redis_kind == "cluster" else "redis_server")
    url: str = server.url
    return url


@pytest.fixture
async def redis(redis_kind: str, redis_url: str) -> AsyncIterator[RedisClient]:
    """A client of the Redis under test, emptied first (every primary of a cluster)."""
    client = connect(redis_url, cluster=redis_kind == "cluster")
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def new_redis(redis_kind: str, redis_url: str) -> AsyncIterator[Callable[[], RedisClient]]:
    """More clients of the Redis under test, as other processes have (closed at the end)."""
    made: list[RedisClient] = []

    def make() -> RedisClient:
        made.append(connect(redis_url, cluster=redis_kind == "cluster"))
        return made[-1]

    yield make
    for client in made:
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
    redis_url: str,
    redis: RedisClient,
    catalog: CompiledCatalog,
) -> AppFactory:
    """Start the real app (routes, Redis, runtime) against the test Redis and fake CAMS.
    `fake_cams` comes first so that it is torn down last, after the app has drained. The
    app finds out by itself whether the Redis is a cluster (BOT_REDIS_CLUSTER unset)."""
    del redis  # requested for the flush before the test

    async def make(*, catalog_: CompiledCatalog | None = None, **overrides: Any) -> Any:
        url = overrides.pop("redis_url", redis_url)
        secrets = overrides.pop("secrets", EXAMPLE_SECRETS)
        settings = make_settings(url, fake_cams.endpoint, **overrides)
        return await aiohttp_client(create_app(settings, catalog_ or catalog, secrets=secrets))

    return make


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client()


@pytest.fixture
async def senders(fake_cams: CamsServer) -> AsyncIterator[Mapping[str, Sender]]:
    """The platforms' senders a runtime is built with: CAMS, at the fake."""
    async with aiohttp.ClientSession() as session:
        yield {
            "cams": CamsClient(
                session,
                endpoint=fake_cams.endpoint,
                access_key_id=ACCESS_KEY_ID,
                access_key_secret=ACCESS_KEY_SECRET,
                timeout=2.0,
            )
        }
