"""Constants and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.platforms.cams.fake import FakeCams
from bot.store import RedisClient, Store

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

ACCESS_KEY_ID = "test-key-id"
ACCESS_KEY_SECRET = "test-key-secret"
RECEIPT_TOKEN = "receipt-token-1"
SIGNATURES = ("business-sig-old", "business-sig-new")
BUSINESS = "8613800000000"
# The example flows' order API: its secrets (BOT_SECRET_ORDERS_*) must be set for the app to
# start outside sandbox mode. Nothing listens on port 9: a lookup fails at once.
EXAMPLE_SECRETS = {
    "ORDERS_API": "http://127.0.0.1:9/orders",
    "ORDERS_TOKEN": "test-orders-token",
    "AGENT_DESK": "http://127.0.0.1:9/desk",
}
EXAMPLE_SECRETS_ENV = {f"BOT_SECRET_{name}": value for name, value in EXAMPLE_SECRETS.items()}


def catalog_of(
    folder: Path, flows: str, intents: Mapping[str, str] | None = None
) -> CompiledCatalog:
    """The compiled catalog of `flows` (flows.yaml's text) and `intents` (intents/ file name
    -> text), both dedented, written under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flows.yaml").write_text(textwrap.dedent(flows))
    (folder / "intents").mkdir(exist_ok=True)
    for name, text in (intents or {}).items():
        (folder / "intents" / name).write_text(textwrap.dedent(text))
    return compile_catalog(load_catalog(folder / "flows.yaml", folder / "intents"))


PARTITIONS = 4  # as the tests' make_settings sets BOT_PARTITIONS


def new_store(
    client: RedisClient,
    partitions: int = PARTITIONS,
    *,
    conversation_ttl: int = 3600,
    dedup_ttl: int = 600,
) -> Store:
    """A Store on `client`, as a process of `partitions` partitions makes it."""
    return Store(
        client, partitions=partitions, conversation_ttl=conversation_ttl, dedup_ttl=dedup_ttl
    )


async def owning_store(
    client: RedisClient, partitions: int, owned: Iterable[int], token: str, lease_ms: int
) -> Store:
    """A Store whose scripts are loaded and that holds the leases of the partitions `owned`
    (their stream groups made), under `token`: a worker's view of them."""
    store = new_store(client, partitions)
    await store.load_scripts()
    for p in owned:
        await store.ensure_groups(p)
        assert await store.acquire(p, token, lease_ms)
    return store


@dataclass
class CamsServer:
    """The fake CAMS send API on a loopback port, and its recorder."""

    recorder: FakeCams
    endpoint: str


def inbound(
    text: str,
    *,
    customer: str = "8613900000001",
    message_id: str | None = None,
    payload: str | None = None,
    business: str = BUSINESS,
) -> dict[str, Any]:
    """A ChatAppInbound item as CAMS pushes it."""
    item: dict[str, Any] = {
        "MessageId": message_id or f"mid-{time.monotonic_ns()}",
        "From": customer,
        "To": business,
        "Timestamp": int(time.time() * 1000),
        "DisplayName": "Test",
        "Name": "Test",
        "Type": "TEXT",
        "Message": text,
    }
    if payload is not None:
        item["Type"] = "REPLY"
        item["Message"] = json.dumps({"text": text, "payload": payload})
    return item


def load_data(name: str) -> Any:
    return json.loads((DATA / name).read_text())


T = TypeVar("T")


async def with_loop_turns(work: Awaitable[T]) -> tuple[T, int]:
    """`work`'s result, and how many turns the event loop took meanwhile (a ticker that
    yields each turn counts them): CPU work done in slices lets it turn between them."""
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    ticking = asyncio.ensure_future(ticker())
    try:
        return await work, turns
    finally:
        ticking.cancel()


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    within: float = 5.0,
    *,
    step: float = 0.02,
    what: str = "condition",
    detail: Callable[[], str] | None = None,
) -> float:
    """Wait until `check()` is true; return the seconds it took. Fail the test after
    `within` seconds, naming `what`, with `detail()` (a log's tail, say) when given."""
    started = time.monotonic()
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(
                f"{what} not met in {within}s" + (f"\n{detail()}" if detail else "")
            )
        await asyncio.sleep(step)
