"""The campaign benchmark: `python bench/campaign.py` (or `make bench-campaign`). See
docs/performance.md, "Campaigns".

In one run it starts a fresh redis-server, the fake CAMS (in this process, recording when
each message arrived and to whom) and `bot serve` in live mode (send rate limit 250/s, as
CAMS allows an account), then:

1. creates a campaign of --recipients (100,000) through `POST /v1/campaigns` with a CSV
   body and pauses it at once: the time until the 202, and Redis's memory per recipient;
2. runs --customers (50) customers holding conversations for --seconds, each writing,
   waiting for the answer, then --think (2) seconds, writing again: the answer's latency
   (push to the fake), p50 and p99, with no campaign sending;
3. resumes the campaign at --rate (200/s) and runs the same customers for the same time
   while it sends: the latency again, the campaign's sends per second at the fake and the
   most in any one-second window (all sends: the account's limit is what counts), then
   cancels the campaign.

It prints a markdown table (and writes --json). Load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

try:
    import aiohttp
    from aiohttp import web
    from redis.asyncio import Redis

    from bot.local.redis_server import RedisServer, free_port
    from bot.platforms.cams.fake import create_fake_cams
except ImportError as e:  # pragma: no cover - the wrong interpreter
    sys.exit(
        f"bench: {e}; run it with the project's virtualenv: .venv/bin/python bench/campaign.py"
    )

import procs
from common import ACCESS_KEY_ID, ACCESS_KEY_SECRET, BUSINESS, RECEIPT_TOKEN, SIGNATURE, percentile

BENCH = Path(__file__).resolve().parent
API_KEY = "bench-api-key"
SEND_LIMIT = 250
NO_LIMIT = 1_000_000_000


class Fake:
    """The fake CAMS's arrivals: when each message came, and to whom."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self.waiting: dict[str, asyncio.Event] = {}

    def on_message(self, entry: dict[str, str]) -> None:
        to = entry.get("To", "")
        self.arrivals.append((time.monotonic(), to))
        event = self.waiting.get(to)
        if event is not None:
            event.set()


@contextlib.asynccontextmanager
async def world(work: Path, args: argparse.Namespace) -> AsyncIterator[tuple[str, Fake, Redis]]:
    redis_server = RedisServer(work / "redis")
    redis_server.start()
    fake = Fake()
    app = create_fake_cams({ACCESS_KEY_ID: ACCESS_KEY_SECRET}, rate_limit=NO_LIMIT,
                           on_message=fake.on_message)  # fmt: skip
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake_url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        BOT_ENV_FILE="", BOT_HOST="127.0.0.1", BOT_PORT=str(port),
        BOT_REDIS_URL=redis_server.url, BOT_SANDBOX="false",
        BOT_CAMS_ACCESS_KEY_ID=ACCESS_KEY_ID, BOT_CAMS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
        BOT_CAMS_RECEIPT_TOKEN=RECEIPT_TOKEN, BOT_CAMS_SIGNATURE=SIGNATURE,
        BOT_CAMS_ENDPOINT=fake_url, BOT_CAMS_FROM=BUSINESS, BOT_API_KEYS=API_KEY,
        BOT_FLOWS=str(BENCH / "flows.yaml"), BOT_INTENTS=str(BENCH / "intents"),
        BOT_SEND_RATE_LIMIT=str(SEND_LIMIT), BOT_LOG_LEVEL="WARNING",
        BOT_CAMPAIGN_MAX_BODY=str(64 * 1024 * 1024),
    )  # fmt: skip
    server = procs.spawn([sys.executable, "-m", "bot", "serve"], env=env, log=work / "serve.log")
    redis = Redis.from_url(redis_server.url)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}/readyz") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(f"bench: bot serve did not get ready; see {work / 'serve.log'}")
        yield url, fake, redis
    finally:
        procs.stop(server)
        await redis.aclose()
        await runner.cleanup()
        redis_server.stop()


async def create(http: aiohttp.ClientSession, url: str, n: int, rate: float) -> tuple[str, float]:
    """A campaign of `n` recipients: its id and the seconds to its 202."""
    body = "customer,name\n" + "".join(f"+8615{i:09d},R{i}\n" for i in range(n))
    params = {"intent": "survey", "rate": str(rate)}
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "text/csv",
               "Idempotency-Key": uuid.uuid4().hex}  # fmt: skip
    began = time.monotonic()
    long = aiohttp.ClientTimeout(total=600)
    async with http.post(f"{url}/v1/campaigns", params=params, data=body.encode(),
                         headers=headers, timeout=long) as r:  # fmt: skip
        answer = await r.json()
        if r.status != 202:
            raise SystemExit(f"bench: the campaign was refused: {r.status} {answer}")
    return answer["campaign"], time.monotonic() - began


async def chat(http: aiohttp.ClientSession, url: str, fake: Fake, customers: int,
               seconds: float, think: float) -> list[float]:  # fmt: skip
    """Customers writing one message at a time for `seconds`: each answer's latency."""
    latencies: list[float] = []
    until = time.monotonic() + seconds

    async def customer(n: int) -> None:
        number = f"86139{n:08d}"
        event = fake.waiting.setdefault(number, asyncio.Event())
        seq = 0
        while time.monotonic() < until:
            seq += 1
            item = {"MessageId": f"bench-{uuid.uuid4().hex}", "From": number, "To": BUSINESS,
                    "Timestamp": int(time.time() * 1000), "Type": "TEXT",
                    "Message": f"message {seq}"}  # fmt: skip
            event.clear()
            sent = time.monotonic()
            async with http.post(f"{url}/cams/receipts?token={RECEIPT_TOKEN}", json=[item]) as r:
                await r.read()
            try:
                async with asyncio.timeout(10):
                    await event.wait()
            except TimeoutError:
                latencies.append(10.0)
                continue
            latencies.append(time.monotonic() - sent)
            await asyncio.sleep(think)  # a person reads before writing again

    await asyncio.gather(*(customer(n) for n in range(customers)))
    return latencies


def most_in_a_second(times: list[float]) -> int:
    times.sort()
    most, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        most = max(most, i - j + 1)
    return most


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bot-campaign-bench-") as tmp:
        async with world(Path(tmp), args) as (url, fake, redis), aiohttp.ClientSession() as http:
            before = int((await redis.info("memory"))["used_memory"])
            campaign, to_202 = await create(http, url, args.recipients, args.rate)
            auth = {"Authorization": f"Bearer {API_KEY}"}
            # Paused at once: the customers first write with no campaign sending.
            async with http.post(f"{url}/v1/campaigns/{campaign}/pause", headers=auth,
                                 json={}) as r:  # fmt: skip
                await r.read()
            after = int((await redis.info("memory"))["used_memory"])
            quiet = await chat(http, url, fake, args.customers, args.seconds, args.think)
            async with http.post(f"{url}/v1/campaigns/{campaign}/resume", headers=auth,
                                 json={}) as r:  # fmt: skip
                await r.read()
            began = time.monotonic()
            busy = await chat(http, url, fake, args.customers, args.seconds, args.think)
            ended = time.monotonic()
            async with http.post(f"{url}/v1/campaigns/{campaign}/cancel", headers=auth,
                                 json={}) as r:  # fmt: skip
                await r.read()
    window = [t for t, to in fake.arrivals if began <= t <= ended]
    campaign_sends = [t for t, to in fake.arrivals if began <= t <= ended and to.startswith("8615")]
    quiet.sort()
    busy.sort()
    return {
        "recipients": args.recipients,
        "seconds_to_202": round(to_202, 2),
        "redis_bytes_per_recipient": round((after - before) / args.recipients, 1),
        "campaign_rate": args.rate,
        "campaign_sends_per_s": round(len(campaign_sends) / (ended - began), 1),
        "most_sends_in_a_second": most_in_a_second(window),
        "send_limit": SEND_LIMIT,
        "reply_p50_ms_without": round(percentile(quiet, 0.5) * 1000, 1),
        "reply_p99_ms_without": round(percentile(quiet, 0.99) * 1000, 1),
        "reply_p50_ms_with": round(percentile(busy, 0.5) * 1000, 1),
        "reply_p99_ms_with": round(percentile(busy, 0.99) * 1000, 1),
        "replies_without": len(quiet),
        "replies_with": len(busy),
    }


def render(r: dict[str, Any]) -> str:
    p50 = r["reply_p50_ms_with"] / r["reply_p50_ms_without"]
    p99 = r["reply_p99_ms_with"] / r["reply_p99_ms_without"]
    without, with_ = "reply_{}_ms_without", "reply_{}_ms_with"
    rows = [
        ("campaign created (recipients)", f"{r['recipients']:,}"),
        ("time to 202", f"{r['seconds_to_202']} s"),
        ("Redis memory per pending recipient", f"{r['redis_bytes_per_recipient']} B"),
        ("campaign sends/s at the fake (asked)",
         f"{r['campaign_sends_per_s']} ({r['campaign_rate']})"),
        ("most sends in any second (limit)",
         f"{r['most_sends_in_a_second']} ({r['send_limit']})"),
    ]  # fmt: skip
    for q, ratio in (("p50", p50), ("p99", p99)):
        shown = f"{r[without.format(q)]} / {r[with_.format(q)]} ms ({ratio:.2f}x)"
        rows.append((f"reply latency {q} without / with", shown))
    rows.append(("replies measured without / with",
                 f"{r['replies_without']} / {r['replies_with']}"))  # fmt: skip
    return "| Measure | Value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--think", type=float, default=2.0, help="seconds a customer waits between messages"
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
