"""The Python load generator of the bench: the same pushes as bench/inbound.lua, for
machines without wrk (closed loop), and for the open-loop mode (a fixed arrival rate,
which wrk cannot do).

    python bench/loadgen.py closed URL --connections 64 --duration 10 [--count N] [--procs P]
    python bench/loadgen.py open URL --rate 1000 --duration 10

URL is the receipt URL with its token. The last line printed is `BENCH {json}`: counts and
the ack latency percentiles in µs. In the open loop each push's latency is counted from when
it was due, not from when it went out, so a server that falls behind is not flattered
(no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import uvloop
from common import BUSINESS, percentile


@dataclass(frozen=True)
class Pushes:
    """What message i is: customer i % customers (PREFIX + 8 digits), id TAG-i, a tapped
    button whose text carries the mark #TAG.CUSTOMER.i@SENT_US."""

    customers: int
    tag: str
    business: str
    prefix: str

    def body(self, i: int) -> bytes:
        c = i % self.customers
        sent_us = time.time_ns() // 1000
        text = f"Yes #{self.tag}.{c}.{i}@{sent_us}"
        item = {
            "MessageId": f"{self.tag}-{i}",
            "From": f"{self.prefix}{c:08d}",
            "To": self.business,
            "Timestamp": sent_us // 1000,
            "DisplayName": "Load",
            "Name": "Load",
            "Type": "REPLY",
            "Message": json.dumps({"text": text, "payload": "YES"}),
        }
        return json.dumps([item]).encode()


@dataclass
class Tally:
    latencies: list[float]
    ok: int = 0
    failed: int = 0
    started: float = 0.0
    ended: float = 0.0
    max_in_flight: int = 0


HEADERS = {"Content-Type": "application/json"}


async def _post(session: aiohttp.ClientSession, url: str, body: bytes) -> bool:
    try:
        async with session.post(url, data=body, headers=HEADERS) as r:
            await r.read()
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def closed_loop(
    url: str,
    pushes: Pushes,
    *,
    connections: int,
    duration: float,
    count: int | None,
    start: int = 0,
    step: int = 1,
    retry: bool = False,
) -> Tally:
    """`connections` pushers, each sending its next push as soon as the last is answered,
    for `duration` seconds or until message `count` (exclusive) is sent. With `retry`, a
    push not answered 200 is pushed again (the same message) after a pause, as CAMS does,
    until it is."""
    tally = Tally([])
    next_i = start
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tally.started = loop.time()
        deadline = tally.started + duration

        async def pusher() -> None:
            nonlocal next_i
            while loop.time() < deadline and (count is None or next_i < count):
                i, next_i = next_i, next_i + step
                body = pushes.body(i)
                while True:
                    t = loop.time()
                    if await _post(session, url, body):
                        tally.ok += 1
                        tally.latencies.append(loop.time() - t)
                        break
                    tally.failed += 1
                    if not retry:
                        break
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(pusher() for _ in range(connections)))
        tally.ended = loop.time()
    return tally


async def open_loop(url: str, pushes: Pushes, *, rate: float, duration: float) -> Tally:
    """Push `rate` times a second for `duration` seconds, whatever the answers."""
    tally = Tally([])
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    in_flight = 0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int, due: float) -> None:
            nonlocal in_flight
            in_flight += 1
            tally.max_in_flight = max(tally.max_in_flight, in_flight)
            ok = await _post(session, url, pushes.body(i))
            in_flight -= 1
            if ok:
                tally.ok += 1
                tally.latencies.append(loop.time() - due)
            else:
                tally.failed += 1

        tasks: list[asyncio.Task[None]] = []
        tally.started = loop.time()
        total = int(rate * duration)
        for i in range(total):
            due = tally.started + i / rate
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        tally.ended = loop.time()
    return tally


def summarize(tallies: list[Tally]) -> dict[str, Any]:
    lat = sorted(x for t in tallies for x in t.latencies)
    started = min(t.started for t in tallies)
    ended = max(t.ended for t in tallies)
    ok = sum(t.ok for t in tallies)
    return {
        "requests": ok,
        "failed": sum(t.failed for t in tallies),
        "duration_s": ended - started,
        "rate": ok / (ended - started) if ended > started else 0.0,
        "p50_us": percentile(lat, 50) * 1e6 if lat else None,
        "p90_us": percentile(lat, 90) * 1e6 if lat else None,
        "p99_us": percentile(lat, 99) * 1e6 if lat else None,
        "max_us": lat[-1] * 1e6 if lat else None,
        "max_in_flight": max(t.max_in_flight for t in tallies),
    }


def _closed_process(args: dict[str, Any]) -> Tally:
    pushes = Pushes(**args.pop("pushes"))
    return uvloop.run(closed_loop(args.pop("url"), pushes, **args))


def run_closed(args: argparse.Namespace, pushes: Pushes) -> dict[str, Any]:
    procs = max(1, args.procs)
    if procs == 1:
        tallies = [
            uvloop.run(
                closed_loop(
                    args.url,
                    pushes,
                    connections=args.connections,
                    duration=args.duration,
                    count=args.count,
                    retry=args.retry,
                )
            )
        ]
    else:
        jobs = [
            {
                "url": args.url,
                "pushes": pushes.__dict__,
                "connections": max(1, args.connections // procs),
                "duration": args.duration,
                "count": args.count,
                "start": k,
                "step": procs,
                "retry": args.retry,
            }
            for k in range(procs)
        ]
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            tallies = pool.map(_closed_process, jobs)
    return summarize(tallies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["closed", "open"])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=None, help="closed loop: stop after N")
    parser.add_argument("--rate", type=float, default=1000.0, help="open loop: pushes/s")
    parser.add_argument("--procs", type=int, default=1, help="closed loop: processes")
    parser.add_argument(
        "--retry", action="store_true", help="closed loop: push a failed message again"
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--tag", default="run")
    parser.add_argument("--business", default=BUSINESS)
    parser.add_argument("--prefix", default="86139")
    args = parser.parse_args()
    pushes = Pushes(args.customers, args.tag, args.business, args.prefix)
    if args.mode == "closed":
        result = run_closed(args, pushes)
    else:
        result = summarize(
            [uvloop.run(open_loop(args.url, pushes, rate=args.rate, duration=args.duration))]
        )
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
