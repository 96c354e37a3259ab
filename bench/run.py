"""The benchmark: `python bench/run.py` (or `make bench`). See docs/performance.md.

In one run it starts a fresh redis-server, the fake CAMS send API and, one after the other,
(a) the baseline, a bare aiohttp + uvloop server that parses the JSON and answers 200, and
(b) `bot serve` in live mode against both, and drives each with the same load: signed CAMS
receipt pushes from 10,000 customers answering the two-state flow of bench/flows.yaml, 64
connections, closed loop (wrk with bench/inbound.lua when installed, else bench/loadgen.py).
The server runs pinned to one CPU, everything else to another, where there are two.

Then, against `bot serve`: an open-loop run at a fixed arrival rate (--rate), a memory
measurement over idle conversations (--memory) and an accounting run through a proxy that
counts Redis round trips. It prints markdown tables (and writes --json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    import aiohttp
    import uvloop
    from redis.asyncio import Redis

    from bot.local.redis_server import RedisServer, free_port
    from bot.model import ConversationRef
    from bot.runtime.worker import task_id
    from bot.store import Keys, partition_of
except ImportError as e:  # pragma: no cover - the wrong interpreter
    sys.exit(f"bench: {e}; run it with the project's virtualenv: .venv/bin/python bench/run.py")

import procs
import profiles
from common import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    RECEIPT_TOKEN,
    SIGNATURE,
)
from procs import CpuMeter, Pinning
from redisproxy import ALL, INTAKE_OR_STEP, PATHS, CountingProxy
from report import Accounting, ClosedRun, Memory, OpenRun, budget, fmt, ms, render

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PARTITIONS = 16  # the server's default, set explicitly so the bench knows the key names
LOAD_PREFIX, LIVE_PREFIX, MEMORY_PREFIX = "86139", "86137", "86136"


# -- small helpers -------------------------------------------------------------------------


def failures(load: dict[str, Any]) -> int:
    """Pushes not answered 200: wrk's errors of every kind, or the Python generator's."""
    if "failed" in load:
        return int(load["failed"])
    kinds = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    return sum(int(load.get(k, 0)) for k in kinds)


def log_problems(path: Path, top: int = 3) -> list[tuple[int, str]]:
    """The commonest WARNING and ERROR messages of a server log (JSON lines or text),
    with numbers blanked so that repeats count together."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("level") not in ("WARNING", "ERROR", "CRITICAL"):
                    continue
                text = f"{record.get('level')} {record.get('logger')}: {record.get('msg')}"
            elif " WARNING " in line or " ERROR " in line or "Traceback" in line:
                text = line
            else:
                continue
            found[re.sub(r"\d+", "N", text)[:160]] += 1
    return [(n, text) for text, n in found.most_common(top)]


def parse_bench_line(out: str) -> dict[str, Any]:
    for line in reversed(out.splitlines()):
        if line.startswith("BENCH "):
            parsed: dict[str, Any] = json.loads(line[len("BENCH ") :])
            return parsed
    raise RuntimeError(f"the load generator printed no result:\n{out[-2000:]}")


def serve_supports_workers() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    return "--workers" in done.stdout


class Stalled(Exception):
    """The server stopped working through its backlog."""


# -- the world of a run ----------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.cpus = procs.available_cpus()  # before the bench pins itself
        self.pinning = self.plan(1)
        self.redis_server: RedisServer | None = None
        self.redis: Redis | None = None
        self.fake: subprocess.Popen[bytes] | None = None
        self.fake_url = ""
        self.http: aiohttp.ClientSession | None = None
        self.wrk = shutil.which("wrk") if args.generator in ("auto", "wrk") else None
        if args.generator == "wrk" and self.wrk is None:
            raise SystemExit("bench: --generator wrk, but wrk is not installed")
        self.notes: list[str] = []
        self.began = time.monotonic()
        self.bench_commands: Counter[str] = Counter()  # what the bench itself ran in Redis

    def plan(self, server_processes: int) -> Pinning:
        return Pinning.plan(
            self.cpus, enabled=not self.args.no_pin, server_processes=server_processes
        )

    @property
    def generator(self) -> str:
        return "wrk + bench/inbound.lua" if self.wrk else "bench/loadgen.py (Python)"

    def log(self, message: str) -> None:
        print(
            f"bench: [{time.monotonic() - self.began:5.1f}s] {message}", file=sys.stderr, flush=True
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        if self.pinning.pinned:
            os.sched_setaffinity(0, self.pinning.rest)  # children inherit it
        self.log(f"work folder {self.work}; {self.pinning.describe()}")
        self.redis_server = RedisServer(self.work / "redis", appendonly=True)
        await asyncio.to_thread(self.redis_server.start)
        assert self.redis_server.port != 6379
        self.redis = Redis.from_url(self.redis_server.url)
        port = free_port()
        self.fake = procs.spawn(
            [sys.executable, str(BENCH / "fakecams.py"), "--port", str(port),
             "--key-id", ACCESS_KEY_ID, "--key-secret", ACCESS_KEY_SECRET],
            log=self.work / "fakecams.log", cwd=ROOT,
        )  # fmt: skip
        self.fake_url = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            await self.wait_http(f"{self.fake_url}/_bench/replies", self.fake, "fake CAMS")
            yield
        finally:
            await self.http.close()
            procs.stop(self.fake)
            await self.redis.aclose()
            await asyncio.to_thread(self.redis_server.stop)

    async def wait_http(
        self, url: str, proc: subprocess.Popen[bytes], what: str, within: float = 60.0
    ) -> None:
        assert self.http is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited at start-up (see {self.work})")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{what} not ready in {within}s (see {self.work})")

    # -- load ----------------------------------------------------------------------------

    async def closed_load(
        self, url: str, *, seconds: float, tag: str, prefix: str = LOAD_PREFIX,
        customers: int | None = None, count: int | None = None, force_python: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """A closed-loop run; its `BENCH` result (latencies in µs)."""
        customers = customers or self.args.customers
        # wrk runs for whole seconds only.
        if self.wrk and not force_python and count is None and seconds >= 1:
            cmd = [
                self.wrk, "-t1", f"-c{self.args.connections}", f"-d{max(1, round(seconds))}s",
                "--timeout", "30s", "-s", str(BENCH / "inbound.lua"), url,
                "--", str(customers), tag, BUSINESS, prefix,
            ]  # fmt: skip
        else:
            cmd = [
                sys.executable, str(BENCH / "loadgen.py"), "closed", url,
                "--connections", str(self.args.connections),
                "--duration", str(seconds if count is None else 3600),
                "--customers", str(customers), "--tag", tag, "--prefix", prefix,
                "--procs", str(self.args.gen_procs if count is None else 1),
            ]  # fmt: skip
            if count is not None:
                cmd += ["--count", str(count), "--retry"]
        return await self.run_load(cmd)

    async def open_load(self, url: str, *, rate: float, seconds: float, tag: str) -> dict[str, Any]:
        cmd = [
            sys.executable, str(BENCH / "loadgen.py"), "open", url, "--rate", str(rate),
            "--duration", str(seconds), "--customers", str(self.args.customers), "--tag", tag,
            "--prefix", LOAD_PREFIX,
        ]  # fmt: skip
        return await self.run_load(cmd)

    async def run_load(self, cmd: Sequence[str]) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{text[-2000:]}")
        return parse_bench_line(text)

    # -- Redis -----------------------------------------------------------------------------

    async def backlog(self) -> int:
        """Inbox and outbox entries not yet finished, over every partition."""
        assert self.redis is not None
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(PARTITIONS):
                k = Keys.of(p)
                pipe.xlen(k.inbox)
                pipe.xlen(k.outbox)
            lengths: list[int] = await pipe.execute()
        self.bench_commands["xlen"] += 2 * PARTITIONS
        return sum(lengths)

    async def drained(self, stalled: float = 60.0) -> float:
        """Wait until every accepted message was stepped and its reply sent; the seconds.
        Raises Stalled when the backlog did not shrink for `stalled` seconds."""
        started = last_progress = time.monotonic()
        await asyncio.sleep(0.1)
        zero = 0
        least = -1
        while zero < 2:
            left = await self.backlog()
            if least < 0 or left < least:
                least, last_progress = left, time.monotonic()
            elif time.monotonic() - last_progress > stalled:
                raise Stalled(f"the server's backlog stayed at {left:,} for {stalled:.0f} s")
            zero = zero + 1 if left == 0 else 0
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def reset_commandstats(self) -> None:
        assert self.redis is not None
        await self.redis.config_resetstat()
        self.bench_commands.clear()
        self.bench_commands["config|resetstat"] += 1

    async def commandstats(self) -> dict[str, int]:
        """Calls per command since the reset, the bench's own taken out."""
        assert self.redis is not None
        raw: dict[str, Any] = await self.redis.info("commandstats")
        calls = {
            name.removeprefix("cmdstat_"): int(v["calls"])
            for name, v in raw.items()
            if isinstance(v, dict)
        }
        calls["info"] = calls.get("info", 0) - 1
        for name, n in self.bench_commands.items():
            calls[name] = calls.get(name, 0) - n
        return {k: v for k, v in calls.items() if v > 0}

    async def conversations(self) -> int:
        assert self.redis is not None
        n = 0
        async for _ in self.redis.scan_iter(match="bot:*:c:*", count=5000):
            n += 1
        return n

    async def fake_replies(self, tag: str) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.get(f"{self.fake_url}/_bench/replies", params={"tag": tag}) as r:
            summary: dict[str, Any] = await r.json()
            return summary

    async def fake_forget(self) -> None:
        assert self.http is not None
        async with self.http.post(f"{self.fake_url}/_bench/forget") as r:
            await r.read()

    # -- the servers -------------------------------------------------------------------------

    def server_env(self, port: int, redis_url: str, *, history: bool = True) -> dict[str, str]:
        if self.args.redis_pool:
            redis_url += f"?max_connections={self.args.redis_pool}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BOT_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(
            BOT_HOST="127.0.0.1",
            BOT_PORT=str(port),
            BOT_REDIS_URL=redis_url,
            BOT_DATA_DIR=str(self.work / "data"),
            BOT_SANDBOX="false",
            BOT_CAMS_ACCESS_KEY_ID=ACCESS_KEY_ID,
            BOT_CAMS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
            BOT_CAMS_RECEIPT_TOKEN=RECEIPT_TOKEN,
            BOT_CAMS_SIGNATURE=SIGNATURE,
            BOT_CAMS_ENDPOINT=self.fake_url,
            BOT_CAMS_FROM=BUSINESS,
            BOT_FLOWS=str(BENCH / "flows.yaml"),
            BOT_INTENTS=str(BENCH / "intents"),
            BOT_PARTITIONS=str(PARTITIONS),
            # CAMS allows 250 sends/s per account; lifted so the server, not the limit,
            # is measured (the limiter still runs: one round trip per ask).
            BOT_SEND_RATE_LIMIT="1000000",
            BOT_LOG_LEVEL=self.args.log_level,
            BOT_DRAIN_SECONDS="5",
            BOT_HISTORY="true" if history else "false",
        )
        return env

    @contextlib.asynccontextmanager
    async def bot_serve(
        self, workers: int, redis_url: str, name: str, *, history: bool = True
    ) -> AsyncIterator[Server]:
        port = free_port()
        cmd = [sys.executable, "-m", "bot", "serve"]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        pinning = self.plan(workers)
        proc = procs.spawn(
            cmd, cpus=pinning.server, env=self.server_env(port, redis_url, history=history),
            log=self.work / f"{name}.log", cwd=ROOT,
        )  # fmt: skip
        server = Server(f"http://127.0.0.1:{port}", proc, pinning, history)
        try:
            await self.wait_http(f"{server.url}/readyz", proc, "bot serve")
            await self.wait_leases(workers)
            yield server
        finally:
            code = await asyncio.to_thread(procs.stop, proc, 30.0)
            if code not in (0, None):
                self.notes.append(f"`bot serve` ({name}) exited with {code}")
            for n, text in log_problems(self.work / f"{name}.log"):
                self.notes.append(f"`bot serve` ({name}) logged {n:,} times: {text}")

    async def wait_leases(self, workers: int, within: float = 60.0) -> None:
        """Until every partition is held, shared fairly by the server's processes: before,
        pushes would wait for a worker, or move between processes during the run."""
        assert self.redis is not None
        share = -(-PARTITIONS // workers)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            holders: list[Any] = await self.redis.mget(
                [Keys.of(p).lease for p in range(PARTITIONS)]
            )
            counts = Counter(holders)
            if None not in counts and len(counts) == workers and max(counts.values()) <= share:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the server's {workers} process(es) did not share the partitions")

    @contextlib.asynccontextmanager
    async def baseline_server(self) -> AsyncIterator[Server]:
        port = free_port()
        pinning = self.plan(1)
        proc = procs.spawn(
            [sys.executable, str(BENCH / "baseline.py"), "--port", str(port)],
            cpus=pinning.server, log=self.work / "baseline.log", cwd=ROOT,
        )  # fmt: skip
        server = Server(f"http://127.0.0.1:{port}", proc, pinning)
        try:
            await self.wait_http(f"{server.url}/_bench/count", proc, "the baseline")
            yield server
        finally:
            procs.stop(proc)

    # -- phases ----------------------------------------------------------------------------

    async def run_baseline(self) -> ClosedRun:
        assert self.http is not None
        async with self.baseline_server() as server:
            url = f"{server.url}/cams/receipts?token={RECEIPT_TOKEN}"
            if self.args.warmup > 0:
                await self.closed_load(url, seconds=self.args.warmup, tag="bw", force_python=True)
            async with self.http.get(f"{server.url}/_bench/count") as r:
                before = (await r.json())["pushes"]
            meter = CpuMeter(server.proc.pid)
            meter.start()
            load = await self.closed_load(url, seconds=self.args.duration, tag="b")
            cpu = meter.read()
            async with self.http.get(f"{server.url}/_bench/count") as r:
                pushes = (await r.json())["pushes"] - before
            seconds = load.get("duration_us", 0) / 1e6 or load.get("duration_s", 0.0)
            run = ClosedRun(
                server="baseline",
                label="baseline: aiohttp + uvloop, parse JSON, 200",
                acked=int(load["requests"]),
                failed=failures(load),
                messages=pushes,
                seconds=seconds,
                rate=pushes / seconds if seconds else 0.0,
                ack_ms={"p50": ms(load["p50_us"]), "p99": ms(load["p99_us"]),
                        "max": ms(load["max_us"])},
                cpu_seconds=cpu,
                cpu_us_per_message=cpu / pushes * 1e6 if pushes else 0.0,
                ratio=1.0,
                cpus=server.pinning.server_cpus(),
                event_loop=loop_name(server.proc.pid),
            )  # fmt: skip
        self.log(f"baseline: {run.rate:,.0f} pushes/s, {run.cpu_us_per_message:.0f} µs CPU each")
        return run

    async def run_bot_closed(
        self, server: Server, workers: int, live: int, tag: str, *, profile: bool = False
    ) -> ClosedRun:
        """A closed-loop run; with `profile`, under py-spy (which costs the server CPU: such
        a run is reported apart from the others)."""
        url = f"{server.url}/cams/receipts?token={RECEIPT_TOKEN}"
        conversations = await self.conversations()
        profiler = self.start_profiler(server, tag) if profile else None
        await self.reset_commandstats()
        meter = CpuMeter(server.proc.pid)
        assert self.redis_server is not None
        assert self.redis_server.process is not None
        redis_meter = CpuMeter(self.redis_server.process.pid)
        meter.start()
        redis_meter.start()
        started = time.time()
        load = await self.closed_load(url, seconds=self.args.duration, tag=tag)
        stopped = time.time()
        backlog = await self.backlog()
        await self.drained()
        cpu = meter.read()
        redis_cpu = redis_meter.read()
        processes = meter.processes
        stats = await self.commandstats()
        if profiler is not None:
            await self.finish_profiler(profiler)
        replies = await self.fake_replies(tag)
        messages = int(replies["count"])
        last = replies["last"] or time.time()
        seconds = last - started
        total = sum(stats.values())
        top = dict(Counter(stats).most_common(12))
        run = ClosedRun(
            server="bot",
            label=f"bot serve, {workers} process{'es' if workers > 1 else ''}, "
            f"{live:,} live conversations" + ("" if server.history else ", history off"),
            history=server.history,
            workers=workers,
            live=live,
            conversations=conversations,
            acked=int(load["requests"]),
            failed=failures(load),
            messages=messages,
            seconds=seconds,
            rate=messages / seconds if seconds > 0 else 0.0,
            ack_ms={"p50": ms(load["p50_us"]), "p99": ms(load["p99_us"]),
                    "max": ms(load["max_us"])},
            e2e_ms=replies["e2e_ms"],
            cpu_seconds=cpu,
            cpu_us_per_message=cpu / messages * 1e6 if messages else 0.0,
            redis_cpu_us_per_message=redis_cpu / messages * 1e6 if messages else 0.0,
            processes=processes,
            cpus=server.pinning.server_cpus(),
            redis_commands=total,
            redis_commands_per_message=total / messages if messages else None,
            redis_top_commands=top,
            backlog_at_end=backlog,
            drain_seconds=max(0.0, last - stopped),
            event_loop=loop_name(server.proc.pid),
        )  # fmt: skip
        self.log(
            f"bot serve ({workers} proc., {live:,} live): {run.rate:,.0f} messages/s, "
            f"{run.cpu_us_per_message:.0f} µs CPU each, "
            f"{run.redis_commands_per_message or 0:.1f} Redis commands each; backlog {backlog} "
            f"when the load stopped, drained {last - stopped:.1f}s later"
        )
        return run

    async def run_open(self, server: Server, workers: int, rate: float) -> OpenRun:
        url = f"{server.url}/cams/receipts?token={RECEIPT_TOKEN}"
        tag = f"o{workers}r{round(rate)}"
        load = await self.open_load(url, rate=rate, seconds=self.args.open_duration, tag=tag)
        await self.drained()
        replies = await self.fake_replies(tag)
        run = OpenRun(
            workers=workers,
            rate=rate,
            seconds=self.args.open_duration,
            sent=int(load["requests"]) + int(load["failed"]),
            acked=int(load["requests"]),
            failed=int(load["failed"]),
            answered_rate=float(load["rate"]),
            ack_ms={"p50": ms(load["p50_us"]), "p99": ms(load["p99_us"]),
                    "max": ms(load["max_us"])},
            e2e_ms=replies["e2e_ms"],
            replies=int(replies["count"]),
            max_in_flight=int(load["max_in_flight"]),
        )  # fmt: skip
        self.log(
            f"open loop at {rate:,.0f}/s: ack p50 {fmt(run.ack_ms['p50'])} ms, "
            f"p99 {fmt(run.ack_ms['p99'])} ms, max {fmt(run.ack_ms['max'])} ms"
        )
        return run

    async def warm_up(self, server: Server, tag: str) -> None:
        if self.args.warmup <= 0:
            return
        url = f"{server.url}/cams/receipts?token={RECEIPT_TOKEN}"
        await self.closed_load(url, seconds=self.args.warmup, tag=tag, force_python=True)
        await self.drained()

    async def push_one(self, server: Server, customer: str, tag: str) -> None:
        """One message of `customer` (its first: it starts the flow), until replied to."""
        assert self.http is not None
        sent_us = time.time_ns() // 1000
        item = {
            "MessageId": f"{tag}-0", "From": customer, "To": BUSINESS,
            "Timestamp": sent_us // 1000, "Type": "REPLY",
            "Message": json.dumps({"text": f"Yes #{tag}.0.0@{sent_us}", "payload": "YES"}),
        }  # fmt: skip
        url = f"{server.url}/cams/receipts?token={RECEIPT_TOKEN}"
        async with self.http.post(url, json=[item]) as r:
            assert r.status == 200, await r.text()
        await self.drained()

    async def add_live(self, server: Server, live: int) -> None:
        """Make `live` idle conversations waiting in the flow's first state (with its timer,
        dedup key and sent-message record), as many customers' first message would leave
        them: the first one for real, the others copied from it."""
        assert self.redis is not None
        template = ConversationRef("cams", "whatsapp", BUSINESS, f"{LIVE_PREFIX}{0:08d}").id
        await self.push_one(server, f"{LIVE_PREFIX}{0:08d}", "live")
        k0 = Keys.of(partition_of(template, PARTITIONS))
        fields: Any = await self.redis.hgetall(k0.conv(template))
        conv_ttl = await self.redis.ttl(k0.conv(template))
        timers: Any = await self.redis.zrange(k0.timers, 0, -1, withscores=True)
        timer = next((m.decode(), s) for m, s in timers if template.encode() in m)
        seen_ttl = await self.redis.ttl(k0.seen("cams:live-0"))
        record: Any = await self.redis.hgetall(k0.message(task_id(template, 1, 0)))
        batch = 2000
        for start in range(1, live, batch):
            async with self.redis.pipeline(transaction=False) as pipe:
                for j in range(start, min(live, start + batch)):
                    conv = ConversationRef("cams", "whatsapp", BUSINESS, f"{LIVE_PREFIX}{j:08d}").id
                    k = Keys.of(partition_of(conv, PARTITIONS))
                    pipe.hset(k.conv(conv), mapping=fields)
                    pipe.expire(k.conv(conv), conv_ttl)
                    pipe.zadd(k.timers, {timer[0].replace(template, conv): timer[1]})
                    pipe.set(k.seen(f"cams:live-{j}"), b"0-0", ex=seen_ttl)
                    message = k.message(task_id(conv, 1, 0))
                    pipe.hset(message, mapping={**record, b"conv": conv.encode()})
                    pipe.expire(message, conv_ttl)
                await pipe.execute()

    async def run_memory(self, server: Server) -> Memory:
        """`--memory` customers each send their first message: then they are idle
        conversations waiting in the flow's first state. What did they cost Redis?"""
        assert self.redis is not None
        n = self.args.memory
        groups = {
            "timers": [Keys.of(p).timers for p in range(PARTITIONS)],
            "index": [Keys.of(p).conversations for p in range(PARTITIONS)],
            "streams": [k for p in range(PARTITIONS)
                        for k in (Keys.of(p).inbox, Keys.of(p).outbox, Keys.of(p).calls)],
        }  # fmt: skip

        async def sizes() -> dict[str, int]:
            assert self.redis is not None
            out: dict[str, int] = {}
            for name, keys in groups.items():
                out[name] = sum([await self.redis.memory_usage(k, samples=0) or 0 for k in keys])
            return out

        async def used() -> int:
            """used_memory less what is no one conversation's: client buffers, the
            append-only file's buffer, and the send rate limit's log of the last second."""
            assert self.redis is not None
            info: dict[str, Any] = await self.redis.info("memory")
            rate_log = 0
            async for key in self.redis.scan_iter(match="bot:{bot:rl:*", count=1000):
                rate_log += await self.redis.memory_usage(key, samples=0) or 0
            return (
                int(info["used_memory"])
                - int(info.get("mem_clients_normal", 0))
                - int(info.get("mem_aof_buffer", 0))
                - rate_log
            )

        async def settled() -> int:
            """used(), once it stops moving: Redis frees some memory a while after
            start-up and after a burst (up to a few MB here), which would swamp the
            figure."""
            last = await used()
            for _ in range(40):
                await asyncio.sleep(0.25)
                now = await used()
                if abs(now - last) < 4096:
                    return now
                last = now
            return last

        before_sizes, before = await sizes(), await settled()
        url = f"{server.url}/cams/receipts?token={RECEIPT_TOKEN}"
        await self.closed_load(
            url, seconds=0, tag="mem", prefix=MEMORY_PREFIX, customers=n, count=n
        )
        await self.drained()
        after, after_sizes = await settled(), await sizes()
        per_key: dict[str, list[int]] = {"hash": [], "dedup": [], "record": [], "history": []}
        for name, pattern in (
            ("hash", f"bot:*:c:*:{MEMORY_PREFIX}*"),
            ("dedup", "bot:*:seen:cams:mem-*"),
            ("record", "bot:*:m:*"),
            ("history", f"bot:*:h:*:{MEMORY_PREFIX}*"),
        ):
            keys = [k async for k in self.redis.scan_iter(match=pattern, count=5000)]
            for i in range(0, len(keys), 1000):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in keys[i : i + 1000]:
                        pipe.memory_usage(key, samples=0)
                    per_key[name] += [x or 0 for x in await pipe.execute()]
        delta = after - before
        n = max(1, len(per_key["hash"]))  # conversations there are (all, as pushes are retried)
        parts = {
            "conversation hash": sum(per_key["hash"]) / n,
            "dedup key (1 per message, BOT_DEDUP_TTL)": sum(per_key["dedup"]) / n,
            "sent-message record (1 per reply, BOT_CONVERSATION_TTL)": sum(per_key["record"]) / n,
            "history (a step and a send, BOT_HISTORY_TTL)": sum(per_key["history"]) / n,
            "timer (sorted set member)": (after_sizes["timers"] - before_sizes["timers"]) / n,
            "index of conversations (sorted set member)": (
                after_sizes["index"] - before_sizes["index"]
            )
            / n,
            "streams (entries deleted when done)": (
                after_sizes["streams"] - before_sizes["streams"]
            )
            / n,
        }
        parts["other (key table, expiry table, allocator)"] = delta / n - sum(parts.values())
        memory = Memory(
            conversations=n,
            used_memory_delta=delta,
            per_conversation=delta / n,
            hash_mean=sum(per_key["hash"]) / max(1, len(per_key["hash"])),
            parts=parts,
            counts={name: len(v) for name, v in per_key.items()},
        )
        self.log(
            f"memory: {memory.per_conversation:.0f} bytes per idle conversation "
            f"(hash {memory.hash_mean:.0f})"
        )
        return memory

    async def run_accounting(
        self, server: Server, proxy: CountingProxy, *, known: bool
    ) -> Accounting:
        """Round trips and commands per message, through the counting proxy. `known`: the
        messages come from the memory measurement's customers, whose conversations this
        server process has just committed (a server that has seen its customers before);
        else from customers new to it, whose first message also reads a conversation that
        does not exist yet."""
        url = f"{server.url}/cams/receipts?token={RECEIPT_TOKEN}"
        if known:
            prefix, customers = MEMORY_PREFIX, self.args.memory
            whose = f"the {customers:,} customers of the memory measurement, known to the server"
        else:
            # More customers than messages: every message is its customer's first.
            prefix, customers = LOAD_PREFIX, 1_000_000
            whose = "customers new to the server, one message each"
        tag = "acctk" if known else "acctn"
        await self.reset_commandstats()
        proxy.counts.reset()
        started = time.time()
        await self.closed_load(
            url, seconds=self.args.accounting_duration, tag=tag, prefix=prefix,
            customers=customers,
        )  # fmt: skip
        await self.drained()
        counts = proxy.counts.snapshot()
        stats = await self.commandstats()
        replies = await self.fake_replies(tag)
        messages = int(replies["count"])
        seconds = (replies["last"] or time.time()) - started
        acct = Accounting(
            messages=messages,
            rate=messages / seconds if seconds > 0 else 0.0,
            customers=whose,
            round_trips=counts["turns"],
            kinds=counts["kinds"],
            top_level=counts["commands"],
            by_name=dict(Counter(counts["names"]).most_common(15)),
            commandstats_total=sum(stats.values()),
        )
        if messages:
            acct.round_trips_per_message = {
                p: acct.round_trips.get(p, 0) / messages for p in (*PATHS, ALL, INTAKE_OR_STEP)
            }
            acct.top_level_per_message = {p: acct.top_level.get(p, 0) / messages for p in PATHS}
            acct.intake_and_step = acct.round_trips.get(INTAKE_OR_STEP, 0) / messages
            acct.commands_per_message_total = acct.commandstats_total / messages
            acct.commands_per_message_top_level = sum(acct.top_level.values()) / messages
        self.log(
            f"accounting: {acct.intake_and_step:.2f} round trips per message on the "
            f"intake-and-step path ({messages} messages at {acct.rate:,.0f}/s)"
        )
        return acct

    # -- profiling -------------------------------------------------------------------------

    def start_profiler(self, server: Server, tag: str) -> Profiler | None:
        """py-spy on the server's processes from now until `finish_profiler`."""
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            self.notes.append("--profile: py-spy is not installed (pip install py-spy)")
            return None
        folder = Path(self.args.profile)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"{tag}.txt"
        proc = procs.spawn(
            [exe, "record", "--pid", str(server.proc.pid), "--rate", "250", "--format", "raw",
             "--subprocesses", "--output", str(out)],
            log=self.work / "py-spy.log",
        )  # fmt: skip
        return Profiler(proc, out)

    async def finish_profiler(self, profiler: Profiler) -> None:
        """Stop py-spy (it writes its file on SIGINT) and summarize what it recorded."""
        profiler.proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(profiler.proc.wait, 60)
        if not profiler.path.exists():
            self.notes.append(f"--profile: py-spy wrote nothing (see {self.work}/py-spy.log)")
            return
        summary = profiler.path.with_name(profiler.path.stem + "-summary.txt")
        summary.write_text(profiles.summarize(profiler.path) + "\n")
        self.notes.append(f"profile of the server from the first push until drained: {summary}")


@dataclass
class Profiler:
    proc: subprocess.Popen[bytes]
    path: Path


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    pinning: Pinning
    history: bool = True  # BOT_HISTORY


def loop_name(pid: int) -> str:
    """The event loop a server runs on: uvloop when any of its processes loaded it."""
    found = [procs.uses_uvloop(p) for p in procs.descendants(pid)]
    if any(found):
        return "uvloop"
    return "?" if None in found else "asyncio"


# -- the whole run -----------------------------------------------------------------------------


async def timed_runs(
    bench: Bench,
    workers: int,
    live: int | None,
    closed: list[ClosedRun],
    opened: list[OpenRun],
    *,
    history: bool = True,
) -> None:
    """One `bot serve` on a flushed Redis: warm up, `live` idle conversations and a
    closed-loop run (when `live` is given), then the open-loop runs (when asked to, here,
    and with the history kept: a run without it is only the closed loop's other half)."""
    args = bench.args
    assert bench.redis is not None
    assert bench.redis_server is not None
    await bench.redis.flushall()
    await bench.fake_forget()
    name = f"serve-{workers}" + (f"-{live}" if live is not None else "")
    name += "" if history else "-nohistory"
    bench.log(
        f"bot serve, {workers} process(es), {live or 0:,} live conversations"
        f"{'' if history else ', history off'} ..."
    )
    try:
        async with bench.bot_serve(workers, bench.redis_server.url, name, history=history) as s:
            await bench.warm_up(s, f"w{workers}")
            if live is not None:
                await bench.add_live(s, live)
                closed.append(await bench.run_bot_closed(s, workers, live, f"m{workers}x{live}"))
            if (live is not None and live != min(args.live)) or not history:
                return
            if live is not None and args.profile:
                # One more run, under py-spy: its figures stay out of the tables.
                profiled = await bench.run_bot_closed(
                    s, workers, live, f"p{workers}x{live}", profile=True
                )
                cpu = profiled.cpu_us_per_message
                bench.notes.append(
                    f"the profiled run ({workers} process(es)) took {cpu:,.0f} µs CPU per "
                    "message (py-spy's sampling included)"
                )
            mine = [r for r in closed if r.server == "bot" and r.workers == workers]
            for rate in args.rate:
                if rate == "half":
                    if not mine:
                        bench.notes.append("--rate half: no closed-loop run to halve")
                        continue
                    rate = round(mine[0].rate / 2)
                opened.append(await bench.run_open(s, workers, float(rate)))
    except Stalled as e:
        bench.notes.append(f"`bot serve` ({name}): {e}; its other runs were skipped")
        bench.log(f"{e}: skipping the other runs of this server")


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    bench = Bench(args, work)
    closed: list[ClosedRun] = []
    opened: list[OpenRun] = []
    memory: Memory | None = None
    accounting: Accounting | None = None  # known customers when --memory, else new ones
    first_messages: Accounting | None = None  # new customers, when also known ones
    started = time.time()
    load_before = procs.loadavg()
    async with bench.running():
        assert bench.redis is not None
        assert bench.redis_server is not None
        if not args.skip_baseline:
            bench.log("baseline ...")
            closed.append(await bench.run_baseline())
        # Each closed-loop run on a server of its own and a flushed Redis, so that no run
        # starts with what an earlier one left (conversations in Redis and in the server's
        # cache); the open-loop runs on the server of the fewest live conversations.
        lives: list[int | None] = [*sorted(args.live)] if args.duration > 0 else [None]
        for workers in args.workers if args.duration > 0 or args.rate else ():
            for live in lives:
                await timed_runs(bench, workers, live, closed, opened)
                # History's cost: the same run without it, right after (BOT_HISTORY=false).
                if args.history_ab and live == lives[0] and workers == args.workers[0]:
                    await timed_runs(bench, workers, live, closed, opened, history=False)
        bench.log("done with the timed runs")
        if args.memory > 0 or args.accounting_duration > 0:
            await bench.redis.flushall()
            await bench.fake_forget()
            proxy = CountingProxy("127.0.0.1", bench.redis_server.port)
            await proxy.start()
            bench.log("memory and Redis round trips (through a counting proxy) ...")
            try:
                async with bench.bot_serve(args.workers[0], proxy.url, "serve-accounting") as s:
                    if args.memory > 0:
                        memory = await bench.run_memory(s)
                    if args.accounting_duration > 0:
                        known = args.memory > 0
                        accounting = await bench.run_accounting(s, proxy, known=known)
                        if known:
                            first_messages = await bench.run_accounting(s, proxy, known=False)
            except Stalled as e:
                bench.notes.append(f"`bot serve` (serve-accounting): {e}")
                bench.log(f"{e}: no memory or accounting figures")
            finally:
                await proxy.stop()
        redis_version = (await bench.redis.info("server"))["redis_version"]
        bench.log("done")
    baseline = next((r for r in closed if r.server == "baseline"), None)
    for r in closed:
        if baseline is not None and baseline.rate and r.server == "bot":
            r.ratio = r.rate / baseline.rate
    return {
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started)),
        "machine": {
            "cpu": procs.cpu_model(),
            "cpus": len(bench.cpus),
            "loadavg_before": load_before,
            "loadavg_after": procs.loadavg(),
            "redis": redis_version,
            "python": sys.version.split()[0],
        },
        "pinning": bench.pinning.describe(),
        "generator": bench.generator,
        "settings": {
            "customers": args.customers,
            "connections": args.connections,
            "duration": args.duration,
            "warmup": args.warmup,
            "log_level": args.log_level,
            "partitions": PARTITIONS,
            "redis_appendonly": "everysec",
        },
        "closed": [asdict(r) for r in closed],
        "open": [asdict(r) for r in opened],
        "memory": asdict(memory) if memory else None,
        "accounting": asdict(accounting) if accounting else None,
        "accounting_first_messages": asdict(first_messages) if first_messages else None,
        "budget": budget(closed, opened, memory, accounting, first_messages),
        "notes": bench.notes,
    }


# -- the command ------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers separated by commas: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive numbers")
    return values


def rate_list(text: str) -> list[float | str]:
    rates: list[float | str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "half":
            rates.append(part)
            continue
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a rate: {part!r}") from None
        if value > 0:
            rates.append(value)
    return rates


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark `bot serve` against a bare aiohttp + uvloop server.",
    )
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per closed-loop run (0: none)")  # fmt: skip
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--rate", type=rate_list, default=[1000, "half"],
                        help="open-loop runs, pushes/s: numbers, or `half` (half the "
                        "closed-loop messages/s), comma-separated; 0: none")  # fmt: skip
    parser.add_argument("--open-duration", type=float, default=10.0)
    parser.add_argument("--live", type=int_list, default=[1000],
                        help="live conversations before the run; several: 1000,100000")  # fmt: skip
    parser.add_argument("--workers", type=int_list, default=[1],
                        help="`bot serve --workers N`; several: 1,2")  # fmt: skip
    parser.add_argument("--memory", type=int, default=10_000,
                        help="idle conversations to measure memory over (0: none)")  # fmt: skip
    parser.add_argument("--accounting-duration", type=float, default=3.0,
                        help="seconds of the round-trip accounting run (0: none)")  # fmt: skip
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--gen-procs", type=int, default=1,
                        help="processes of the Python generator (closed loop)")  # fmt: skip
    parser.add_argument("--log-level", default="INFO", help="the server's BOT_LOG_LEVEL")
    parser.add_argument("--redis-pool", type=int, default=0, metavar="N",
                        help="the server's Redis connection pool size (max_connections in "
                        "BOT_REDIS_URL; 0: the client's default)")  # fmt: skip
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--no-history-ab", dest="history_ab", action="store_false",
                        help="skip the closed-loop run with BOT_HISTORY=false")  # fmt: skip
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--profile", metavar="DIR",
                        help="record the server with py-spy during the first run")  # fmt: skip
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of a few seconds (the test suite's)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.connections = 1.0, 0.0, 8
        args.customers, args.rate, args.open_duration = 200, [100], 0.5
        args.live, args.memory, args.accounting_duration = [50], 200, 0.5
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if max(args.workers) > 1 and not serve_supports_workers():
        print(
            "bench: this `bot serve` has no --workers option yet; run with --workers 1",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="bot-bench-"))
    failed = True
    try:
        result = uvloop.run(run(args, work))
        failed = False
    finally:
        if args.keep or failed:
            print(f"bench: logs in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
