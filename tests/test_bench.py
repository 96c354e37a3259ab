"""The benchmark (bench/run.py) in its tiny mode: it runs end to end and reports every column
with plausible values; and the pieces it counts with (the Redis round-trip proxy's parser and
its reading of the store's key names)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.store import Keys
from tests.support import ROOT

BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One `bench/run.py --quick` (about 12 s): its stdout and its --json results."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


@pytest.fixture
def bench_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import a module of bench/ (they import each other by plain name)."""
    monkeypatch.syspath_prepend(str(BENCH))

    def load(name: str) -> ModuleType:
        return __import__(name)

    return load


def test_quick_run_prints_every_column(quick_run: tuple[str, dict[str, Any]]) -> None:
    """The closed-loop table has every column, a row for the baseline and one for the server."""
    stdout, _results = quick_run
    header = next(line for line in stdout.splitlines() if line.startswith("| server |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns == [
        "server",
        "messages/s",
        "ack p50 ms",
        "ack p99 ms",
        "e2e p50 ms",
        "e2e p99 ms",
        "CPU µs/message",
        "Redis commands/message",
        "Redis round trips/message",
        "vs baseline",
    ]
    rows = [line for line in stdout.splitlines() if line.startswith(("| baseline", "| bot serve"))]
    assert len(rows) == 3  # the baseline, and bot serve with its history kept and without
    assert all(len(r.strip("|").split("|")) == len(columns) for r in rows)
    titles = ("### Open loop", "### Redis per inbound message", "### Redis memory", "### Budget")
    for title in titles:
        assert title in stdout


def test_quick_run_values_are_plausible(quick_run: tuple[str, dict[str, Any]]) -> None:
    """Rates, latencies, CPU and Redis figures are positive, ordered and within sane bounds."""
    _stdout, r = quick_run
    baseline, bot, without = r["closed"]
    assert baseline["server"] == "baseline"
    assert bot["server"] == "bot"
    assert bot["history"]
    assert without["server"] == "bot"
    assert not without["history"]
    assert without["label"].endswith(", history off")
    assert without["messages"] >= without["acked"] > 50
    assert baseline["rate"] > 500
    assert 5 < baseline["cpu_us_per_message"] < 5000
    # Every acknowledged push got its reply; a few pushes may be refused (503) when the
    # server's Redis pool runs short, which CAMS would push again.
    assert bot["messages"] >= bot["acked"] > 50
    assert bot["failed"] <= bot["acked"] // 10
    assert 0 < bot["rate"] < baseline["rate"]
    assert 0 < bot["ratio"] < 1
    assert 0 < bot["ack_ms"]["p50"] <= bot["ack_ms"]["p99"] <= bot["ack_ms"]["max"]
    assert 0 < bot["e2e_ms"]["p50"] <= bot["e2e_ms"]["p99"]
    assert bot["cpu_us_per_message"] > baseline["cpu_us_per_message"]
    assert 3 < bot["redis_commands_per_message"] < 100
    assert bot["backlog_at_end"] >= 0
    assert bot["conversations"] >= 50

    [opened] = r["open"]
    assert opened["failed"] == 0
    assert opened["acked"] == opened["sent"] == 50
    assert opened["replies"] == opened["acked"]
    assert 0 < opened["ack_ms"]["p50"] <= opened["ack_ms"]["p99"] <= opened["ack_ms"]["max"]

    acct = r["accounting"]
    per = acct["round_trips_per_message"]
    # At most one round trip per push of one message (fewer when the server sends several
    # tasks' calls in one pipeline); a round trip serving both counts once in the sum.
    assert 0 < per["intake"] <= 1.05
    assert per["step"] > 0
    assert per["send"] > 0
    assert max(per["intake"], per["step"]) <= acct["intake_and_step"]
    assert acct["intake_and_step"] <= per["intake"] + per["step"] + 1e-9
    assert acct["intake_and_step"] <= per["all"]
    assert acct["commands_per_message_total"] > acct["commands_per_message_top_level"] > 3
    new = r["accounting_first_messages"]
    # A customer new to the server: its conversation is read (and found empty) first.
    assert new["top_level"]["step"] / new["messages"] > acct["top_level"]["step"] / acct["messages"]

    mem = r["memory"]
    assert mem["conversations"] == 200
    assert mem["counts"]["hash"] == 200
    assert 100 < mem["hash_mean"] < 2000
    assert 100 < mem["per_conversation"] < 10_000
    assert mem["parts"]["history (a step and a send, BOT_HISTORY_TTL)"] > 100
    assert [b["met"] for b in r["budget"]][:4] != [None] * 4
    assert len(r["budget"]) == 7
    [cost] = [b for b in r["budget"] if b["item"].startswith("CPU per message with the history")]
    assert 0.5 < cost["measured"] < 2


def test_proxy_parses_commands_split_anywhere(bench_module: Any) -> None:
    """The round-trip proxy reads RESP requests however the bytes arrive."""
    redisproxy = bench_module("redisproxy")
    wire = (
        b"*3\r\n$7\r\nEVALSHA\r\n$40\r\n" + b"a" * 40 + b"\r\n$1\r\n3\r\n"
        b"*2\r\n$7\r\nHGETALL\r\n$12\r\nbot:{bot:p1}\r\n"
        b"PING\r\n"
    )
    for cut in range(1, len(wire)):
        parser = redisproxy.RespCommands()
        got = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
        assert [args[0] for args in got] == [b"EVALSHA", b"HGETALL", b"PING"]
        assert parser.buf == bytearray()


def test_proxy_files_commands_under_their_path(bench_module: Any) -> None:
    """Commands on the store's keys are filed under intake, step, send or background."""
    redisproxy = bench_module("redisproxy")
    k = Keys.of(3)
    conv = k.conv("cams:whatsapp:8613800000000:8613900000001").encode()

    def path(*args: str | bytes) -> str:
        raw = [a.encode() if isinstance(a, str) else a for a in args]
        return str(redisproxy.classify(raw[0], redisproxy.first_key(raw)))

    assert path("EVALSHA", "sha", "3", k.seen("cams:m-1"), k.inbox, k.stats) == "intake"
    assert path("EVALSHA", "sha", "8", conv, k.inbox, k.outbox) == "step"
    assert path("HGETALL", conv) == "step"
    assert path("XREADGROUP", "GROUP", "w", "owner", "COUNT", "100", "STREAMS", k.inbox, ">") == (
        "step"
    )
    assert path("XPENDING", k.inbox, "w") == "step"
    assert path("XREADGROUP", "GROUP", "s", "owner", "STREAMS", k.outbox, ">") == "send"
    assert path("HGET", conv, "o") == "send"
    assert path("XACK", k.outbox, "s", "1-1") == "send"
    assert path("EVALSHA", "sha", "1", "bot:{bot:rl:cams:abc}") == "send"
    assert path("EVALSHA", "sha", "5", k.outbox, k.stats, k.dead, k.inbox) == "send"
    assert path("EVALSHA", "sha", "1", k.lease, "token") == "background"
    assert path("ZRANGEBYSCORE", k.timers, "-inf", "1") == "background"


def test_percentile_is_nearest_rank(bench_module: Any) -> None:
    """Percentiles of the bench are by nearest rank: p50 of 1..100 is 50, p99 is 99."""
    common = bench_module("common")
    values = [float(v) for v in range(1, 101)]
    assert common.percentile(values, 50) == 50.0
    assert common.percentile(values, 99) == 99.0
    assert common.percentile(values, 100) == 100.0
    assert common.percentile([7.0], 99) == 7.0


def test_profile_summary_attributes_samples_to_jobs(bench_module: Any, tmp_path: Path) -> None:
    """A py-spy raw profile is summed per job (intake, step, send) and kind of work."""
    profiles = bench_module("profiles")
    raw = tmp_path / "p.txt"
    raw.write_text(
        'process 1:"bot";run (aiohttp/web.py:1);RequestHandler._handle_request '
        "(aiohttp/web_protocol.py:5);receipts (bot/web/cams.py:9);Logger.info "
        "(logging/__init__.py:3) 3\n"
        'process 1:"bot";InboxWorker._apply (bot/runtime/worker.py:1);Engine.step '
        "(bot/flows/engine.py:2) 1\n"
    )
    text = profiles.summarize(raw)
    assert "4 samples" in text
    assert "75.0%  intake (HTTP callback)" in text
    assert "75.0%  logging" in text
    assert "25.0%  step (inbox worker)" in text
    assert "25.0%  flow engine" in text


def test_proxy_counts_a_shared_round_trip_once_per_path(bench_module: Any) -> None:
    """A pipeline carrying several paths' commands is one round trip for each, one in all."""
    redisproxy = bench_module("redisproxy")
    k = Keys.of(2)
    conv = k.conv("cams:whatsapp:8613800000000:8613900000002")

    def resp(*args: str) -> bytes:
        out = f"*{len(args)}\r\n"
        for a in args:
            out += f"${len(a.encode())}\r\n{a}\r\n"
        return out.encode()

    proxy = redisproxy.CountingProxy("127.0.0.1", 1)
    client = redisproxy._Client(proxy)
    client.data_received(
        resp("EVALSHA", "sha", "3", k.seen("cams:m-2"), k.inbox, k.stats, "c", "e", "60")
        + resp("EVALSHA", "sha", "8", conv, k.inbox, k.outbox)
        + resp("MULTI")
        + resp("XACK", k.outbox, "s", "1-1")
        + resp("HSET", k.message("t"), "mid", "x")
        + resp("EXEC")
    )
    client.from_server(b"+OK\r\n")
    client.data_received(resp("HGETALL", conv))
    counts = proxy.counts
    assert dict(counts.turns) == {
        "all": 2, "intake": 1, "step": 2, "send": 1, "intake or step": 2,
    }  # fmt: skip
    assert dict(counts.commands) == {"intake": 1, "step": 2, "send": 4}
    assert counts.kinds["send MULTI"] == 1
