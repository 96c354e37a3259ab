"""`bot serve --workers N`: real processes on one port, against the tests' Redis. Requests
reach every worker; /metrics shows the totals of all of them whichever answers; a killed
worker is replaced and its counts kept; SIGTERM drains them all and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.cli.serve import GC_THRESHOLDS
from bot.local.redis_server import RedisServer
from bot.local.supervisor import restart_delay, worker_number
from tests.processes import BotServe, bot_env
from tests.support import ROOT, eventually, inbound
from tests.test_metrics import Samples, parse, value

SANDBOX_RECEIPTS = "/cams/receipts?token=sandbox"


def children(pid: int) -> set[int]:
    """The live (not zombie) child processes of `pid`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_for(check: Any, within: float, what: str, server: BotServe | None = None) -> None:
    await eventually(check, within, step=0.1, what=what, detail=server.log_tail if server else None)


@pytest.fixture
def server(redis_server: RedisServer, redis: Redis, tmp_path: Path) -> Iterator[BotServe]:
    env = bot_env(
        drop=("PROMETHEUS_",),
        BOT_SANDBOX="true",
        BOT_REDIS_URL=redis_server.url,
        BOT_DATA_DIR=str(tmp_path / "data"),
        BOT_FLOWS=str(ROOT / "flows.yaml"),
        BOT_INTENTS=str(ROOT / "intents"),
        BOT_PARTITIONS="4",
        BOT_LEASE_SECONDS="2",
        BOT_DRAIN_SECONDS="2",
        BOT_LOG_FORMAT="json",
        TMPDIR=str(tmp_path),  # where the parent makes its metrics folder
    )
    s = BotServe(env, tmp_path, args=("--workers", "2")).start()
    try:
        yield s
    finally:
        workers = children(s.pid)
        s.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def get(url: str) -> tuple[int, str]:
    # A connection per request: SO_REUSEPORT spreads connections, not requests.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http, http.get(url) as resp:
        return resp.status, await resp.text()


async def post(url: str, body: Any) -> int:
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(url, json=body) as resp,
    ):
        return resp.status


async def scrape(s: BotServe) -> Samples:
    status, text = await get(f"{s.url}/metrics")
    assert status == 200
    return parse(text)


def per_process(samples: Samples) -> dict[int, float]:
    return {
        int(dict(labels)["pid"]): v
        for (name, labels), v in samples.items()
        if name == "bot_process_requests"
    }


async def ready(s: BotServe, workers: int = 2) -> set[int]:
    """Wait until `workers` workers have each answered a request; their pids."""

    async def started() -> bool:
        try:
            status, _ = await get(f"{s.url}/healthz")
        except aiohttp.ClientError:
            return False
        return status == 200 and len(children(s.pid)) == workers

    await wait_for(started, 40, "the workers start", s)
    pids = children(s.pid)

    async def all_answer() -> bool:
        await get(f"{s.url}/healthz")
        answered = {pid for pid, n in per_process(await scrape(s)).items() if n > 0}
        return answered == pids

    await wait_for(all_answer, 30, "every worker answers", s)
    return pids


async def stop(s: BotServe) -> int:
    s.signal(signal.SIGTERM)
    return await asyncio.to_thread(s.wait, 30)


def test_worker_numbers_and_backoff() -> None:
    assert worker_number({}) is None
    assert worker_number({"BOT_SERVE_WORKER": "2"}) == 2
    assert [restart_delay(n) for n in (0, 1, 2, 3, 10)] == [0.5, 0.5, 1.0, 2.0, 30.0]


async def test_workers_share_the_port_and_their_metrics(server: BotServe) -> None:
    pids = await ready(server)
    assert len(pids) == 2
    customers = [f"86139000007{i:02d}" for i in range(30)]
    for customer in customers:
        status = await post(f"{server.url}{SANDBOX_RECEIPTS}", [inbound("hi", customer=customer)])
        assert status == 200
    # Both workers answered requests: one series per worker process.
    requests = per_process(await scrape(server))
    assert set(requests) == pids, server.log_tail()
    assert all(n > 0 for n in requests.values()), requests

    async def all_sent() -> bool:
        s = await scrape(server)
        return value(
            s, "bot_sends_total", platform="cams", account="default", result="sent"
        ) == len(customers)

    await wait_for(all_sent, 20, "every reply sent", server)
    # Whichever worker answers the scrape, the totals are those of both. (A scrape counts
    # in its worker's series after it is made: the next scrape shows who answered it.)
    answered: set[int] = set()
    previous: dict[int, float] | None = None
    ok = {"platform": "cams", "kind": "receipts", "outcome": "ok"}
    for _ in range(40):
        s = await scrape(server)
        assert value(s, "bot_callbacks_total", **ok) == len(customers)
        assert value(s, "bot_callback_seconds_count", platform="cams", kind="receipts") == 30
        assert value(s, "bot_flow_steps_total", flow="menu", state="choose",
                     outcome="entered") == len(customers)  # fmt: skip
        assert value(
            s, "bot_sends_total", platform="cams", account="default", result="sent"
        ) == len(customers)
        assert value(s, "bot_backlog_age_seconds", queue="inbox") == 0
        now = per_process(s)
        if previous is not None:
            answered |= {pid for pid, n in now.items() if n > previous.get(pid, 0)}
        previous = now
        if answered == pids:
            break
    assert answered == pids

    assert await stop(server) == 0, server.log_tail()
    assert not any(alive(pid) for pid in pids)
    assert not list(server.log_path.parent.glob("bot-metrics-*"))  # the metrics folder is removed
    assert '"worker 1 (pid' in server.log_tail()


async def test_a_killed_worker_is_replaced(server: BotServe) -> None:
    pids = await ready(server)
    for i in range(6):
        item = inbound("hi", customer=f"86139000008{i:02d}")
        assert await post(f"{server.url}{SANDBOX_RECEIPTS}", [item]) == 200
    ok = {"platform": "cams", "kind": "receipts", "outcome": "ok"}
    assert value(await scrape(server), "bot_callbacks_total", **ok) == 6
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        now = children(server.pid)
        return len(now) == 2 and victim not in now

    await wait_for(replaced, 20, "a new worker", server)
    new = children(server.pid)
    assert pids - {victim} < new
    [replacement] = new - pids

    async def serving() -> bool:
        await get(f"{server.url}/healthz")
        return per_process(await scrape(server)).get(replacement, 0) > 0

    await wait_for(serving, 20, "the new worker answers", server)
    # The dead worker's counts stay in the totals; its per-process series is gone.
    for _ in range(6):
        s = await scrape(server)
        assert value(s, "bot_callbacks_total", **ok) == 6
        assert victim not in per_process(s)
    assert await stop(server) == 0, server.log_tail()
    assert not any(alive(pid) for pid in new)


def test_a_serving_process_freezes_what_it_started_with_and_collects_less_often() -> None:
    """After start-up (`settle_gc`, run by `bot serve` once the app is up) the collector
    leaves what exists alone and runs on the raised thresholds; in a process of its own,
    not to change this one's."""
    script = (
        "import asyncio, gc\n"
        "from bot.cli.serve import GC_THRESHOLDS, settle_gc\n"
        "assert gc.get_freeze_count() == 0\n"
        "asyncio.run(settle_gc(None))\n"
        "assert gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert GC_THRESHOLDS[0] > 700  # Python's own: (700, 10, 10)
