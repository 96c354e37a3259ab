"""Back-pressure: a process steps at most `max_steps` conversations at once over all its
partitions (so callbacks are not kept waiting behind bursts of steps), each conversation's
events still in order and each once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.engine import Engine
from bot.flows.loader import load_catalog
from bot.platforms.base import Sender
from bot.runtime.drain import Consumer, drain
from bot.runtime.partitions import Runtime
from bot.store import CommitResult, Store
from tests.support import CamsServer, eventually
from tests.test_runtime import (
    FLOWS,
    assert_exactly_once_in_order,
    conv_id,
    drained,
    events_for,
)

PARTITIONS = 4


async def test_drains_sharing_a_gate_handle_at_most_its_size_at_once_in_order() -> None:
    gate = asyncio.Semaphore(3)
    running = peak = 0
    handled: dict[str, list[int]] = {}

    def drain_of(name: str) -> Any:
        batches = [[(f"{name}{c}", n) for n in range(3) for c in range(10)]]
        consumer = Consumer()

        async def read(pending: bool) -> list[tuple[str, int]]:
            del pending
            if batches:
                return batches.pop()
            consumer.stopping = True
            return []

        async def handle(entries: list[tuple[str, int]]) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            for conv, n in entries:
                await asyncio.sleep(0.005)
                handled.setdefault(conv, []).append(n)
            running -= 1

        return drain(
            read,
            lambda entry: entry[0],
            handle,
            consumer=consumer,
            log=logging.getLogger("test"),
            what="a step",
            gate=gate,
        )

    await asyncio.gather(drain_of("a"), drain_of("b"))
    assert peak == 3
    assert len(handled) == 20
    assert all(ns == [0, 1, 2] for ns in handled.values())


class PeakStore(Store):
    """The real store, noting how many commits are under way at once."""

    def __init__(self, client: Redis) -> None:
        super().__init__(client, partitions=PARTITIONS, conversation_ttl=3600, dedup_ttl=600)
        self.running = self.peak = 0

    async def commit(self, **kwargs: Any) -> CommitResult:  # type: ignore[override]
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(0.01)
            return await super().commit(**kwargs)
        finally:
            self.running -= 1


async def test_a_runtime_steps_at_most_max_steps_conversations_at_once(
    redis: Redis,
    new_redis: Callable[[], Redis],
    senders: Mapping[str, Sender],
    tmp_path: Path,
    fake_cams: CamsServer,
) -> None:
    (tmp_path / "flows.yaml").write_text(FLOWS)
    (tmp_path / "intents").mkdir()
    catalog: CompiledCatalog = compile_catalog(
        load_catalog(tmp_path / "flows.yaml", tmp_path / "intents")
    )
    client = new_redis()
    store = PeakStore(client)
    runtime = Runtime(
        store, Engine(catalog), senders, lease_seconds=2.0, send_attempts=3, max_steps=3
    )
    convs = [conv_id(n) for n in range(30)]
    assert all(await store.accept(events_for(convs, range(1, 3))))
    await runtime.start()
    try:
        await eventually(lambda: drained(redis), within=15.0)
    finally:
        await runtime.stop(drain_seconds=2.0)
        await client.aclose()
    assert store.peak == 3  # 30 conversations over 4 partitions, 3 at a time
    await assert_exactly_once_in_order(redis, fake_cams, dict.fromkeys(convs, 2))
