"""The operators' view against a real redis-server and the fake CAMS: the counters kept by
intake, steps and sends; `bot stats`; `bot dlq list|retry|drop` over dead letters made by
the real code paths; and `bot serve` stopping gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.cli import main
from bot.flows.compiler import CompiledCatalog
from bot.flows.engine import Engine
from bot.local.redis_server import RedisServer
from bot.model import Inbound, IntentStart
from bot.platforms.cams.client import CamsClient
from bot.runtime.partitions import Runtime
from bot.runtime.worker import task_id
from bot.store import Accepted, event_to_json, partition_of
from tests.processes import BotServe, bot_env
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    EXAMPLE_SECRETS_ENV,
    RECEIPT_TOKEN,
    SIGNATURES,
    CamsServer,
    catalog_of,
    eventually,
    inbound,
    new_store,
)

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

PARTITIONS = 4

# A customer who writes in gets one reply: the reminder, then a re-prompt per message.
FLOWS = """
defaults:
  inbound_flow: appointment
flows:
  appointment:
    start: remind
    states:
      remind:
        say: "Hi there, this is a reminder of your appointment. Reply 1 to confirm."
        options:
          - {label: Confirm, go: confirmed}
      confirmed:
        say: "Your appointment is confirmed."
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> CompiledCatalog:
    return catalog_of(tmp_path_factory.mktemp("ops-flows"), FLOWS)


def conv_id(n: int) -> str:
    return f"cams:whatsapp:{BUSINESS}:86139000000{n:02d}"


def make_event(conv: str, seq: int) -> Accepted:
    mid = f"{conv.rsplit(':', 1)[1]}-{seq}"
    ev = Inbound(message_id=mid, at_ms=int(time.time() * 1000), kind="text", text="zzz")
    return Accepted(conv, f"cams:{mid}", event_to_json(ev))


async def drained(redis: Redis) -> bool:
    store = new_store(redis)
    for p in range(PARTITIONS):
        if await redis.xlen(store.keys(p).inbox) or await redis.xlen(store.keys(p).outbox):
            return False
    return True


async def dead_count(redis: Redis) -> int:
    store = new_store(redis)
    return sum([await redis.xlen(store.keys(p).dead) for p in range(PARTITIONS)])


async def dead_letters_are(redis: Redis, n: int) -> bool:
    return await dead_count(redis) == n


async def redis_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return seconds * 1000 + micros // 1000


RuntimeFactory = Callable[..., Awaitable[Runtime]]
Cli = Callable[..., Awaitable[tuple[int, str]]]


@pytest.fixture
async def start_runtime(
    new_redis: Callable[[], Redis], redis: Redis, catalog: CompiledCatalog, fake_cams: CamsServer
) -> AsyncIterator[RuntimeFactory]:
    """Start a runtime as a server process would: its own Redis client, short backoffs."""
    del redis  # requested for the flush before the test
    started: list[tuple[Runtime, Redis]] = []
    async with aiohttp.ClientSession() as session:
        sender = CamsClient(
            session,
            endpoint=fake_cams.endpoint,
            access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET,
            timeout=2.0,
        )

        async def start(*, send_attempts: int = 3) -> Runtime:
            client = new_redis()
            runtime = Runtime(
                new_store(client),
                Engine(catalog),
                {"cams": sender},
                lease_seconds=2.0,
                send_attempts=send_attempts,
                send_backoff_base=0.01,
                send_backoff_cap=0.05,
            )
            started.append((runtime, client))
            await runtime.start()
            await eventually(lambda: len(runtime.owned) == PARTITIONS, within=5.0)
            return runtime

        yield start
        for runtime, client in started:
            await runtime.stop(drain_seconds=2.0)
            await client.aclose()


@pytest.fixture
def cli(
    no_bot_env: None,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """Run `bot ARGS...` against the test Redis; (exit code, what it printed)."""
    monkeypatch.setenv("BOT_REDIS_URL", redis_url)
    monkeypatch.setenv("BOT_PARTITIONS", str(PARTITIONS))

    async def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))  # the command runs its own loop
        return code, capsys.readouterr().out

    return run


# -- counters --------------------------------------------------------------------------------


async def test_counters_count_steps_sends_retries_and_repeats(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """A reply sent on its third attempt counts one step, one send and two retries; pushes
    and triggers repeated count as duplicates dropped."""
    fake_cams.recorder.fail_next(503, "ServiceUnavailable", times=2)
    await start_runtime(send_attempts=3)
    store = new_store(redis)
    ev = make_event(conv_id(1), 1)
    assert await store.accept([ev, ev]) == [True, False]
    assert await store.accept([ev]) == [False]
    await fake_cams.recorder.wait_for(1)
    await eventually(lambda: drained(redis))
    trigger = IntentStart("api:k1", int(time.time() * 1000), "unknown_intent")
    intent = Accepted(conv_id(2), "api:k1", event_to_json(trigger))
    assert await store.accept_intent(intent, "replace") == "new"
    assert await store.accept_intent(intent, "replace") == "repeat"

    counters = await store.counters()
    assert counters["sends"] == 1
    assert counters["send_retries"] == 2
    assert counters["duplicates_dropped"] == 3
    assert counters["send_failures_permanent"] == counters["dead_letters_out"] == 0
    await eventually(lambda: drained(redis))
    assert (await store.counters())["steps"] == 2  # the message and the trigger


async def test_a_permanent_failure_is_counted_apart_from_sends(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer
) -> None:
    """A reply the platform refuses for good counts as a permanent failure, not a send and
    not a retry."""
    fake_cams.recorder.fail_next(200, "Invalid.To")
    await start_runtime()
    store = new_store(redis)
    assert await store.accept([make_event(conv_id(3), 1)]) == [True]
    await eventually(lambda: drained(redis))
    counters = await store.counters()
    assert counters["send_failures_permanent"] == 1
    assert counters["sends"] == counters["send_retries"] == counters["dead_letters_out"] == 0


# -- dead letters ----------------------------------------------------------------------------


async def test_a_reply_given_up_is_listed_then_retried_and_sent(
    start_runtime: RuntimeFactory, redis: Redis, fake_cams: CamsServer, cli: Cli
) -> None:
    """A reply that failed every attempt is listed (number masked); `dlq retry ID` puts it
    back in the outbox and it is sent with its original task id."""
    fake = fake_cams.recorder
    fake.fail_next(503, "ServiceUnavailable", times=3)
    await start_runtime(send_attempts=3)
    conv = conv_id(4)
    assert await new_store(redis).accept([make_event(conv, 1)]) == [True]
    await eventually(lambda: dead_letters_are(redis, 1))
    await eventually(lambda: drained(redis))

    code, out = await cli("dlq", "list")
    assert code == 0
    head, row, footer = out.splitlines()
    assert head.split() == ["id", "kind", "when", "conversation", "why"]
    assert row.split()[1] == "out"
    assert "cams:whatsapp:861*********0:861*********4" in row
    assert "ServiceUnavailable" in row
    assert "8613900000004" not in out
    assert footer == "1 of 1 dead letters shown, oldest first"

    code, out = await cli("dlq", "list", "--json")
    [letter] = json.loads(out)["dead_letters"]
    p = partition_of(conv, PARTITIONS)
    assert letter["id"].startswith(f"{p}-")
    assert (letter["kind"], letter["task"]) == ("out", task_id(conv, 1, 0))

    code, out = await cli("dlq", "retry", letter["id"])
    assert code == 0, out
    assert "back in its partition's outbox" in out
    [sent] = await fake.wait_for(1)
    assert sent["TaskId"] == task_id(conv, 1, 0)
    await eventually(lambda: drained(redis))
    assert await dead_count(redis) == 0
    record = await redis.hget(new_store(redis).keys(p).message(sent["TaskId"]), "mid")
    assert record == sent["MessageId"].encode()
    counters = await new_store(redis).counters()
    assert (counters["dead_letters_out"], counters["dead_letters_retried"]) == (1, 1)
    assert (counters["sends"], counters["send_retries"]) == (1, 2)

    code, out = await cli("dlq", "retry", letter["id"])
    assert code == 1
    assert f"{letter['id']}: no such dead letter" in out


async def test_an_event_no_step_handles_is_listed_retried_and_dropped(
    start_runtime: RuntimeFactory, redis: Redis, cli: Cli
) -> None:
    """An inbox event the engine cannot handle is dead-lettered with its conversation;
    `dlq retry --all` runs it again (it dies again); `dlq drop` deletes only with --yes."""
    await start_runtime()
    conv = conv_id(5)
    bad = json.dumps({"t": "no-such-event", "message_id": "x1", "at_ms": 1})
    assert await new_store(redis).accept([Accepted(conv, "cams:x1", bad)]) == [True]
    await eventually(lambda: dead_letters_are(redis, 1))

    code, out = await cli("dlq", "list", "--json")
    [first] = json.loads(out)["dead_letters"]
    assert first["kind"] == "in"
    assert first["why"] == "KeyError: 'no-such-event'"
    assert first["conversation"] == "cams:whatsapp:861*********0:861*********5"

    code, out = await cli("dlq", "retry", "--all")
    assert code == 0
    assert out.splitlines()[-1] == "1 of 1 dead letters retried"
    store = new_store(redis)

    async def died_again() -> bool:
        return (await store.counters())["dead_letters_in"] == 2

    await eventually(died_again)
    assert await dead_count(redis) == 1
    code, out = await cli("dlq", "list", "--json")
    [second] = json.loads(out)["dead_letters"]
    assert second["id"] != first["id"]
    assert second["why"] == first["why"]

    code, out = await cli("dlq", "drop", "--all")
    assert code == 1
    assert "would drop all 1 dead letters: add --yes" in out
    code, out = await cli("dlq", "drop", second["id"])
    assert code == 1
    assert second["id"] in out
    assert await dead_count(redis) == 1
    code, out = await cli("dlq", "drop", second["id"], "--yes")
    assert (code, out.strip()) == (0, "1 dead letters dropped")
    assert await dead_count(redis) == 0
    counters = await store.counters()
    assert (counters["dead_letters_retried"], counters["dead_letters_dropped"]) == (1, 1)
    assert counters["steps"] == 2


async def test_dead_letter_ids_are_checked(cli: Cli, redis: Redis) -> None:
    """A malformed id is a usage error (exit 2); one not there, or of no partition, exits 1;
    retry and drop want ids or --all, not both."""
    with pytest.raises(SystemExit) as exc:
        await cli("dlq", "retry", "3-x")
    assert exc.value.code == 2
    assert (await cli("dlq", "retry"))[0] == 2
    assert (await cli("dlq", "drop", "0-1-0", "--all", "--yes"))[0] == 2
    code, out = await cli("dlq", "retry", "0-1-0", f"{PARTITIONS}-1-0")
    assert code == 1
    assert out.splitlines()[-1] == "0 of 2 dead letters retried"
    assert (await cli("dlq", "drop", "0-1-0", "--yes"))[0] == 1
    assert (await cli("dlq", "list"))[1].strip() == "0 of 0 dead letters shown, oldest first"


async def test_a_dead_letters_reason_cannot_write_to_the_terminal(cli: Cli, redis: Redis) -> None:
    """`bot dlq list` shows a reason (a platform's or an exception's text) escaped, with the
    recipient's number in it masked: no escape sequence or line break reaches the terminal."""
    store = new_store(redis)
    conv = conv_id(7)
    p = partition_of(conv, PARTITIONS)
    await store.ensure_groups(p)
    why = "\x1b]0;owned\x07to 8613900000007\nFAKE line"
    await redis.xadd(store.keys(p).dead, {"kind": "in", "why": why, "c": conv, "e": "{}"})
    code, out = await cli("dlq", "list")
    assert code == 0
    assert "\x1b" not in out
    assert "\\x1b]0;owned\\x07to 861*********7\\nFAKE line" in out
    assert "8613900000007" not in out
    assert not any(line.startswith("FAKE") for line in out.splitlines())


# -- stats -----------------------------------------------------------------------------------


async def test_stats_shows_backlogs_ages_and_counters(redis: Redis, cli: Cli) -> None:
    """`bot stats` reports each partition's backlogs with the age of their oldest entry,
    due timers, dead letters and leases, the totals, and every counter (the rate limiter's
    included), as a table and as JSON."""
    store = new_store(redis)
    conv = conv_id(6)
    p = partition_of(conv, PARTITIONS)
    k = store.keys(p)
    await store.ensure_groups(p)
    now = await redis_ms(redis)
    await redis.xadd(k.inbox, {"c": conv, "e": "{}"}, id=f"{now - 60_000}-0")
    assert await store.accept([make_event(conv, 1), make_event(conv, 1)]) == [True, False]
    assert len(await store.read_inbox(p, pending=False, count=1, block_ms=None)) == 1
    await redis.xadd(k.outbox, {"c": conv, "r": "{}", "t": "t.1.0", "s": ""}, id=f"{now - 5_000}-0")
    await redis.xadd(k.calls, {"c": conv, "r": "{}", "s": ""})
    await redis.zadd(
        k.timers, {f"1|timeout|{conv}": now - 1_000, f"1|remind0|{conv}": now + 3_600_000}
    )
    await redis.xadd(k.dead, {"kind": "in", "why": "boom", "c": conv, "e": "{}"})
    assert await store.acquire(p, "T", 10_000)
    await redis.hincrby(store.stats_key, "rate_limit_waits", 3)
    await redis.hincrbyfloat(store.stats_key, "rate_limit_wait_seconds", 1.5)

    code, out = await cli("stats", "--json")
    assert code == 0
    data = json.loads(out)
    mine = data["partitions"][p]
    assert 60 <= mine.pop("inbox_oldest_seconds") < 70
    assert 5 <= mine.pop("outbox_oldest_seconds") < 15
    assert mine == {
        "partition": p,
        "inbox": 2,
        "inbox_pending": 1,
        "outbox": 1,
        "calls": 1,
        "timers": 2,
        "timers_due": 1,
        "dead_letters": 1,
        "leased": True,
        "counters": {"duplicates_dropped": 1},
    }
    for other in data["partitions"]:
        if other["partition"] != p:
            assert other["inbox"] == other["dead_letters"] == 0
            assert other["inbox_oldest_seconds"] is None
            assert other["leased"] is False
    assert data["total"]["inbox"] == 2
    assert data["total"]["leased"] == 1
    assert data["counters"]["duplicates_dropped"] == 1
    assert data["counters"]["sends"] == 0
    assert data["counters"]["rate_limit_waits"] == 3
    assert data["counters"]["rate_limit_wait_seconds"] == 1.5

    code, out = await cli("stats")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["partition", "inbox", "pending", "oldest", "outbox", "oldest",
                                "calls", "timers", "due", "dead", "lease"]  # fmt: skip
    row = lines[2 + p].split()
    assert row[:3] == [str(p), "2", "1"]
    assert re.fullmatch(r"1m0\ds", row[3])
    assert row[4:] == ["1", row[5], "1", "2", "1", "1", "held"]
    assert lines[2 + PARTITIONS].split()[-1] == "1/4"
    counters = dict(line.split() for line in lines[lines.index(
        "counters (since the data began, all processes)") + 1 :])  # fmt: skip
    assert counters["duplicates_dropped"] == "1"
    assert counters["rate_limit_wait_seconds"] == "1.500"


def test_commands_find_the_embedded_redis_or_say_there_is_none(
    no_bot_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without BOT_REDIS_URL the commands use the embedded Redis running under
    BOT_DATA_DIR, found by its port file; with none running (or a stale file) they say so
    and exit 2."""
    folder = tmp_path / "data" / "redis"
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["stats"]) == 2
    assert "no embedded Redis runs under" in capsys.readouterr().err
    folder.mkdir(parents=True)
    (folder / "port").write_text(str(redis_server.port))  # some other Redis's port
    assert main(["dlq", "list"]) == 2
    assert "port file is stale" in capsys.readouterr().err
    with RedisServer(folder, appendonly=False) as server:
        assert (folder / "port").read_text().strip() == str(server.port)
        assert main(["stats", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["total"]["inbox"] == 0
    assert not (folder / "port").exists()
    assert main(["stats"]) == 2


# -- graceful shutdown -----------------------------------------------------------------------


async def test_sigterm_refuses_intake_and_finishes_the_reply_in_flight(
    tmp_path: Path, redis_url: str, redis: Redis, fake_cams: CamsServer
) -> None:
    """On SIGTERM `bot serve` stops taking callbacks at once, still finishes and records
    the reply it was sending (within BOT_DRAIN_SECONDS), releases its partitions and exits
    0; no accepted message is lost."""
    env = bot_env(
        BOT_REDIS_URL=redis_url,
        BOT_DATA_DIR=str(tmp_path / "data"),
        BOT_SANDBOX="false",
        BOT_CAMS_ENDPOINT=fake_cams.endpoint,
        BOT_CAMS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        BOT_CAMS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
        BOT_CAMS_RECEIPT_TOKEN=RECEIPT_TOKEN,
        BOT_CAMS_SIGNATURE=",".join(SIGNATURES),
        BOT_CAMS_FROM=BUSINESS,
        BOT_PARTITIONS=str(PARTITIONS),
        BOT_LEASE_SECONDS="2",
        BOT_DRAIN_SECONDS="8",
        **EXAMPLE_SECRETS_ENV,
    )
    server = BotServe(env, tmp_path).start()
    url = server.url
    store = new_store(redis)
    fake = fake_cams.recorder
    connector = aiohttp.TCPConnector(force_close=True)  # every request on a new connection
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=5)
        ) as http:

            async def all_leased() -> bool:
                return all([await redis.exists(store.keys(p).lease) for p in range(PARTITIONS)])

            async def push(customer: str) -> int:
                receipts = f"{url}/cams/receipts?token={RECEIPT_TOKEN}"
                async with http.post(receipts, json=[inbound("hi", customer=customer)]) as r:
                    return r.status

            await server.ready(http, within=20.0)
            await eventually(all_leased, within=10.0)
            fake.delay_next(2.0)
            assert await push("8613900000040") == 200
            [sent] = await fake.wait_for(1, timeout=10.0)  # sent; its answer comes 2 s late
            record = store.keys_for(conv_id(40)).message(sent["TaskId"])

            server.signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            accepted_after: list[str] = []
            refused = False
            while not refused and time.monotonic() - stopped_at < 1.5:
                customer = f"86139000001{len(accepted_after):02d}"
                try:
                    status = await push(customer)
                except aiohttp.ClientConnectionError:
                    refused = True
                else:
                    assert status in (200, 503)
                    refused = status == 503
                    if status == 200:  # SIGTERM not handled yet: the message must survive
                        accepted_after.append(customer)
                        await asyncio.sleep(0.01)
            assert refused, "intake still open after SIGTERM"
            assert not await redis.hget(record, "mid"), "the send in flight was already done"

            code = await asyncio.to_thread(server.wait, 15.0)
            took = time.monotonic() - stopped_at
    finally:
        server.kill()
    assert code == 0, server.log_text()
    assert took < 8 + 3
    assert await redis.hget(record, "mid") == sent["MessageId"].encode()
    for p in range(PARTITIONS):
        assert await redis.exists(store.keys(p).lease) == 0
    assert len(accepted_after) <= 1
    for customer in accepted_after:  # processed, or still waiting in its inbox
        conv = f"cams:whatsapp:{BUSINESS}:{customer}"
        k = store.keys_for(conv)
        waiting = [e for _, e in await redis.xrange(k.inbox) if e[b"c"] == conv.encode()]
        assert waiting or await redis.hget(k.conv(conv), "v")
    assert (await store.counters())["sends"] == len(fake.messages)
