"""The operators' view of a running deployment, over its Store: backlogs, ages and counters
(`bot stats`), and the dead letters (`bot dlq list|retry|drop`).

Reads are pipelined; every change is one small script in the slot of the partition it
touches (bot/store/). Phone numbers are masked in everything shown. A dead letter's id is
`PARTITION-STREAMID`, e.g. `3-1700000000000-0`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.errors import ConfigError
from bot.log import escape, mask_conv, mask_text
from bot.metrics import Backlog
from bot.redis_server import recorded_port
from bot.settings import Settings
from bot.store import (
    INBOX_GROUP,
    PARTITION_COUNTERS,
    RedisClient,
    RedisError,
    ResponseError,
    Store,
    check_server,
    cluster_enabled,
    connect,
    parse_counters,
)

PAGE = 100  # dead letters read per round trip by --all

# Every counter `bot stats` shows, also when it never counted: the partitions', then those
# of no partition (the send rate limiter's, in `Store.stats_key`).
COUNTERS: dict[str, float] = {
    **dict.fromkeys(PARTITION_COUNTERS, 0),
    "rate_limit_waits": 0,
    "rate_limit_wait_seconds": 0.0,
}

_DEAD_ID = re.compile(r"(\d+)-(\d+-\d+)")


# -- connecting ------------------------------------------------------------------------------


def locate_redis(settings: Settings) -> tuple[str, str, str | None]:
    """(url, how to name it in messages, the `dir` the server must report or None): the
    Redis of BOT_REDIS_URL or, when unset, the embedded one a `bot serve` started under
    BOT_DATA_DIR, as its port file says. ConfigError when there is no port file."""
    if settings.redis_url is not None:
        return settings.redis_url, "BOT_REDIS_URL", None
    folder = (settings.data_dir / "redis").resolve()
    port = recorded_port(folder)
    if port is None:
        raise ConfigError(
            f"no Redis to read: BOT_REDIS_URL is unset and no embedded Redis runs under "
            f"{folder} (is `bot serve` running with this BOT_DATA_DIR?)"
        )
    return f"redis://127.0.0.1:{port}/0", f"the embedded Redis of {folder}", str(folder)


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The store of `locate_redis`, once it answers (a Redis Cluster's when
    BOT_REDIS_CLUSTER says so, or the server does). ConfigError when it does not."""
    url, where, folder = locate_redis(settings)
    options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 10.0}
    cluster = False if folder is not None else settings.redis_cluster
    if cluster is None:
        try:
            cluster = await cluster_enabled(url, **options)
        except (RedisError, OSError) as e:
            raise ConfigError(f"{where} does not answer: {e}") from e
    client: RedisClient = connect(url, cluster=cluster, **options)
    try:
        try:
            # The port file outlives a killed server, and its port may be reused since:
            # make sure this is the server of that folder.
            answered = await check_server(client, data_dir=folder)
        except (RedisError, OSError) as e:
            raise ConfigError(f"{where} does not answer: {e}") from e
        if not answered:
            raise ConfigError(
                f"no embedded Redis runs under {folder}: its port file is stale "
                "(is `bot serve` running with this BOT_DATA_DIR?)"
            )
        yield Store(
            client,
            partitions=settings.partitions,
            conversation_ttl=settings.conversation_ttl,
            dedup_ttl=settings.dedup_ttl,
        )
    finally:
        await client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_ms(entry_id: bytes | str) -> int:
    return int(_text(entry_id).split("-", 1)[0])


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- stats -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartitionStats:
    """One partition's backlog. Ages are in seconds (Redis's clock), None when empty."""

    partition: int
    inbox: int  # events not committed yet
    inbox_pending: int  # of those, read by a worker that has not committed them (yet)
    inbox_oldest: float | None
    outbox: int  # replies not sent (nor given up) yet
    outbox_oldest: float | None
    calls: int  # business-system calls and agent forwards not made yet
    timers: int
    timers_due: int  # timers past their time: the timer pump is behind or away
    dead: int
    leased: bool  # a process holds the partition
    counters: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "inbox": self.inbox,
            "inbox_pending": self.inbox_pending,
            "inbox_oldest_seconds": self.inbox_oldest,
            "outbox": self.outbox,
            "outbox_oldest_seconds": self.outbox_oldest,
            "calls": self.calls,
            "timers": self.timers,
            "timers_due": self.timers_due,
            "dead_letters": self.dead,
            "leased": self.leased,
            "counters": dict(self.counters),
        }


@dataclass(frozen=True, slots=True)
class Stats:
    at_ms: int  # Redis's time when read
    partitions: tuple[PartitionStats, ...]
    counters: Mapping[str, float]  # the partitions' summed, and those of no partition

    def total(self) -> dict[str, Any]:
        parts = self.partitions
        return {
            "inbox": sum(p.inbox for p in parts),
            "inbox_pending": sum(p.inbox_pending for p in parts),
            "inbox_oldest_seconds": _oldest(p.inbox_oldest for p in parts),
            "outbox": sum(p.outbox for p in parts),
            "outbox_oldest_seconds": _oldest(p.outbox_oldest for p in parts),
            "calls": sum(p.calls for p in parts),
            "timers": sum(p.timers for p in parts),
            "timers_due": sum(p.timers_due for p in parts),
            "dead_letters": sum(p.dead for p in parts),
            "leased": sum(p.leased for p in parts),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at_ms),
            "partitions": [p.to_dict() for p in self.partitions],
            "total": self.total(),
            "counters": dict(self.counters),
        }


def _oldest(ages: Any) -> float | None:
    known = [a for a in ages if a is not None]
    return max(known) if known else None


_PER_PARTITION = 11  # commands per partition in collect_stats' pipeline


async def collect_stats(store: Store) -> Stats:
    """Every partition's backlog and the counters, in two round trips."""
    seconds, micros = await store.redis.time()
    now_ms = seconds * 1000 + micros // 1000
    async with store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(store.stats_key)
        for p in range(store.partitions):
            k = store.keys(p)
            pipe.xlen(k.inbox)
            pipe.xpending(k.inbox, INBOX_GROUP)
            pipe.xrange(k.inbox, count=1)  # committed entries are deleted: the first waits
            pipe.xlen(k.outbox)
            pipe.xrange(k.outbox, count=1)
            pipe.xlen(k.calls)
            pipe.zcard(k.timers)
            pipe.zcount(k.timers, "-inf", now_ms)
            pipe.xlen(k.dead)
            pipe.exists(k.lease)
            pipe.hgetall(k.stats)
        res: list[Any] = await pipe.execute(raise_on_error=False)
    for r in res:
        # No consumer group yet: no process ever took the partition; nothing is pending.
        if isinstance(r, Exception) and not (isinstance(r, ResponseError) and "NOGROUP" in str(r)):
            raise r

    def age(first: Any) -> float | None:
        return max(0, now_ms - _entry_ms(first[0][0])) / 1000 if first else None

    parts = []
    totals = dict(COUNTERS)
    for p in range(store.partitions):
        (inbox, pending, first_in, outbox, first_out, calls, timers, due, dead, lease,
         counters_raw) = res[1 + p * _PER_PARTITION : 1 + (p + 1) * _PER_PARTITION]  # fmt: skip
        counters = parse_counters(counters_raw)
        for name, value in counters.items():
            totals[name] = totals.get(name, 0) + value
        parts.append(
            PartitionStats(
                partition=p,
                inbox=int(inbox),
                inbox_pending=0 if isinstance(pending, Exception) else int(pending["pending"]),
                inbox_oldest=age(first_in),
                outbox=int(outbox),
                outbox_oldest=age(first_out),
                calls=int(calls),
                timers=int(timers),
                timers_due=int(due),
                dead=int(dead),
                leased=bool(lease),
                counters=counters,
            )
        )
    for name, value in parse_counters(res[0]).items():
        totals[name] = totals.get(name, 0) + value
    return Stats(now_ms, tuple(parts), totals)


async def read_backlog(store: Store) -> Backlog:
    """For `/metrics`: the age of the oldest entry of the inboxes, the outboxes and the call
    queues over all partitions (Redis's clock; 0 when empty), and the dead letters, in two
    round trips."""
    seconds, micros = await store.redis.time()
    now_ms = seconds * 1000 + micros // 1000
    async with store.redis.pipeline(transaction=False) as pipe:
        for p in range(store.partitions):
            k = store.keys(p)
            # Finished entries are deleted from their stream: the first one waits.
            pipe.xrange(k.inbox, count=1)
            pipe.xrange(k.outbox, count=1)
            pipe.xrange(k.calls, count=1)
            pipe.xlen(k.dead)
        res: list[Any] = await pipe.execute()
    oldest = [now_ms, now_ms, now_ms]
    dead = 0
    for p in range(store.partitions):
        *firsts, dead_count = res[p * 4 : (p + 1) * 4]
        for q, first in enumerate(firsts):
            if first:
                oldest[q] = min(oldest[q], _entry_ms(first[0][0]))
        dead += int(dead_count)
    inbox, outbox, calls = (max(0, now_ms - ms) / 1000 for ms in oldest)
    return Backlog(inbox_age=inbox, outbox_age=outbox, calls_age=calls, dead_letters=dead)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 2 * 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _number(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(rows: Sequence[Sequence[str]], left: int = 0) -> list[str]:
    """Columns padded to their widest cell; the first `left` left-aligned, the rest right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def format_stats(stats: Stats) -> str:
    """The human table of `bot stats`."""
    head = ["partition", "inbox", "pending", "oldest", "outbox", "oldest", "calls", "timers",
            "due", "dead", "lease"]  # fmt: skip
    rows = [head]
    for p in stats.partitions:
        rows.append(
            [str(p.partition), str(p.inbox), str(p.inbox_pending), format_age(p.inbox_oldest),
             str(p.outbox), format_age(p.outbox_oldest), str(p.calls), str(p.timers),
             str(p.timers_due), str(p.dead), "held" if p.leased else "free"]
        )  # fmt: skip
    t = stats.total()
    rows.append(
        ["total", str(t["inbox"]), str(t["inbox_pending"]), format_age(t["inbox_oldest_seconds"]),
         str(t["outbox"]), format_age(t["outbox_oldest_seconds"]), str(t["calls"]),
         str(t["timers"]), str(t["timers_due"]), str(t["dead_letters"]),
         f"{t['leased']}/{len(stats.partitions)}"]
    )  # fmt: skip
    lines = [f"bot stats at {_iso(stats.at_ms)} (Redis time)", *_table(rows)]
    lines.append("counters (since the data began, all processes)")
    named = [*COUNTERS, *sorted(set(stats.counters) - set(COUNTERS))]
    lines += _table([["  " + n, _number(stats.counters.get(n, 0))] for n in named], left=1)
    return "\n".join(lines)


# -- dead letters ----------------------------------------------------------------------------


def dead_letter_id(text: str) -> str:
    """An id as `bot dlq` takes it (argparse type): `PARTITION-MS-SEQ`."""
    if not _DEAD_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a dead letter id (PARTITION-STREAMID, e.g. 3-1700000000000-0)"
        )
    return text


def split_dead_id(text: str) -> tuple[int, str]:
    match = _DEAD_ID.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    entry_id: str
    kind: str  # "in": an inbox event a step could not handle; "out": a reply not sent
    why: str
    conversation: str  # phone numbers masked
    task: str  # the reply's task id (out)

    @property
    def id(self) -> str:
        return f"{self.partition}-{self.entry_id}"

    @property
    def at_ms(self) -> int:
        return _entry_ms(self.entry_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partition": self.partition,
            "kind": self.kind,
            "why": self.why,
            "conversation": self.conversation,
            "task": self.task,
            "at": _iso(self.at_ms),
        }


def _dead(partition: int, entry_id: str, fields: Mapping[str, str]) -> DeadLetter:
    return DeadLetter(
        partition,
        entry_id,
        fields.get("kind", "?"),
        mask_text(fields.get("why", "")),  # a platform's error may quote the recipient
        mask_conv(fields.get("c", "")),
        fields.get("t", ""),
    )


def _order(d: DeadLetter) -> tuple[int, int, int]:
    ms, seq = d.entry_id.split("-")
    return int(ms), int(seq), d.partition


async def count_dead(store: Store) -> int:
    async with store.redis.pipeline(transaction=False) as pipe:
        for p in range(store.partitions):
            pipe.xlen(store.keys(p).dead)
        return sum(int(n) for n in await pipe.execute())


async def list_dead(store: Store, limit: int) -> tuple[list[DeadLetter], int]:
    """The oldest `limit` dead letters of all partitions, oldest first, and how many there
    are in all."""
    total = await count_dead(store)
    if limit <= 0 or not total:
        return [], total
    pages = await asyncio.gather(
        *(store.dead_letters(p, count=limit) for p in range(store.partitions))
    )
    letters = [_dead(p, i, f) for p, page in enumerate(pages) for i, f in page]
    return sorted(letters, key=_order)[:limit], total


async def find_dead(store: Store, ids: Sequence[str]) -> dict[str, DeadLetter | None]:
    """The dead letters of the given ids; None for those that do not exist."""
    found: dict[str, DeadLetter | None] = {}
    for text in ids:
        p, entry_id = split_dead_id(text)
        page = (
            await store.dead_letters(p, start=entry_id, end=entry_id, count=1)
            if p < store.partitions
            else []
        )
        found[text] = _dead(p, *page[0]) if page else None
    return found


def format_dead(letters: Sequence[DeadLetter]) -> list[str]:
    if not letters:
        return []
    rows = [["id", "kind", "when", "conversation", "why"]]
    for d in letters:
        # A platform's or an exception's text: escaped, so that it cannot move the cursor
        # or write to the operator's terminal (no control character reaches it).
        why = escape(d.why if len(d.why) <= 60 else d.why[:59] + "…")
        rows.append([d.id, d.kind, _iso(d.at_ms), d.conversation, why])
    return _table(rows, left=5)


async def _all_dead(store: Store) -> AsyncIterator[tuple[int, list[str]]]:
    """Pages of (partition, dead letter ids) that existed when the walk reached the
    partition: letters that die again meanwhile (a retried event that fails once more) are
    not walked into."""
    for p in range(store.partitions):
        last: Any = await store.redis.xrevrange(store.keys(p).dead, count=1)
        if not last:
            continue
        end, start = _text(last[0][0]), "-"
        while page := await store.dead_letters(p, start=start, end=end, count=PAGE):
            ids = [i for i, _ in page]
            yield p, ids
            start = f"({ids[-1]}"


async def retry_dead(store: Store, ids: Sequence[str] | None) -> list[tuple[str, str | None]]:
    """Put dead letters back where they came from (`ids`, or all when None), each
    atomically: (id, kind `out`/`in`, None when not found, `bad` when not retriable)."""
    done: list[tuple[str, str | None]] = []
    if ids is None:
        async for p, page in _all_dead(store):
            for entry_id in page:
                done.append((f"{p}-{entry_id}", await store.retry_dead(p, entry_id)))
        return done
    for text in ids:
        p, entry_id = split_dead_id(text)
        kind = await store.retry_dead(p, entry_id) if p < store.partitions else None
        done.append((text, kind))
    return done


async def drop_dead(store: Store, ids: Sequence[str] | None) -> int:
    """Delete dead letters (`ids`, or all when None); return how many were deleted."""
    dropped = 0
    if ids is None:
        async for p, page in _all_dead(store):
            dropped += await store.drop_dead(p, page)
        return dropped
    by_partition: dict[int, list[str]] = {}
    for text in ids:
        p, entry_id = split_dead_id(text)
        if p < store.partitions:
            by_partition.setdefault(p, []).append(entry_id)
    for p, entry_ids in by_partition.items():
        dropped += await store.drop_dead(p, entry_ids)
    return dropped


def dead_json(letters: Sequence[DeadLetter], total: int) -> str:
    return json.dumps({"total": total, "dead_letters": [d.to_dict() for d in letters]}, indent=2)


# -- the commands ----------------------------------------------------------------------------


async def stats_command(store: Store, *, as_json: bool, out: TextIO) -> int:
    """`bot stats [--json]`."""
    stats = await collect_stats(store)
    print(json.dumps(stats.to_dict(), indent=2) if as_json else format_stats(stats), file=out)
    return 0


async def dlq_command(
    store: Store,
    action: str,
    *,
    ids: Sequence[str] | None,
    limit: int = 50,
    as_json: bool = False,
    yes: bool = False,
    out: TextIO,
) -> int:
    """`bot dlq list|retry|drop`; `ids` None means --all. Exit 1 when an id named is not
    there (or cannot be retried), or a drop was not confirmed with --yes."""
    if action == "list":
        letters, total = await list_dead(store, limit)
        if as_json:
            print(dead_json(letters, total), file=out)
            return 0
        for line in format_dead(letters):
            print(line, file=out)
        print(f"{len(letters)} of {total} dead letters shown, oldest first", file=out)
        return 0
    if action == "retry":
        results = await retry_dead(store, ids)
        for text, kind in results:
            print(f"{text}: {_RETRIED.get(kind, f'unknown kind {kind!r}')}", file=out)
        retried = sum(kind in ("in", "out") for _, kind in results)
        print(f"{retried} of {len(results)} dead letters retried", file=out)
        return 0 if retried == len(results) else 1
    if not yes:
        if ids is None:
            total = await count_dead(store)
            print(f"would drop all {total} dead letters: add --yes to delete them", file=out)
            return 1
        found = await find_dead(store, ids)
        for line in format_dead([d for d in found.values() if d is not None]):
            print(line, file=out)
        for text in (t for t, d in found.items() if d is None):
            print(f"{text}: no such dead letter", file=out)
        print("nothing dropped: add --yes to delete them", file=out)
        return 1
    dropped = await drop_dead(store, ids)
    print(f"{dropped} dead letters dropped", file=out)
    return 0 if ids is None or dropped == len(set(ids)) else 1


_RETRIED: dict[str | None, str] = {
    "out": "the reply is back in its partition's outbox (same task id)",
    "in": "the event is back in its partition's inbox",
    None: "no such dead letter",
    "bad": "cannot be retried: no conversation recorded with it (drop it)",
}
