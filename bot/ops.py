"""The operators' view of a running deployment, over its Store: backlogs, ages and counters
(`bot stats`), and the dead letters (`bot dlq list|retry|drop`).

What is read and changed is the store's (bot/store/reads.py, bot/store/dead.py): here it is
shown. Phone numbers are masked in everything shown. A dead letter's id is
`PARTITION-STREAMID`, e.g. `3-1700000000000-0`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.errors import ConfigError
from bot.local.redis_server import recorded_port
from bot.log import escape, mask_conv, mask_text
from bot.settings import Settings
from bot.store import (
    GLOBAL_COUNTERS,
    PARTITION_COUNTERS,
    Backlog,
    DeadEntry,
    PartitionStats,
    RedisClient,
    RedisError,
    Stats,
    Store,
    check_server,
    cluster_enabled,
    connect,
)

# Every counter `bot stats` shows, also when it never counted: the partitions', then those
# of no partition (the send rate limiter's, in `Store.stats_key`).
COUNTERS: dict[str, float] = {**dict.fromkeys(PARTITION_COUNTERS, 0), **GLOBAL_COUNTERS}

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


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- stats -----------------------------------------------------------------------------------


def partition_dict(p: PartitionStats) -> dict[str, Any]:
    return {
        "partition": p.partition,
        "inbox": p.inbox,
        "inbox_pending": p.inbox_pending,
        "inbox_oldest_seconds": p.inbox_oldest,
        "outbox": p.outbox,
        "outbox_oldest_seconds": p.outbox_oldest,
        "calls": p.calls,
        "timers": p.timers,
        "timers_due": p.timers_due,
        "dead_letters": p.dead,
        "leased": p.leased,
        "counters": dict(p.counters),
    }


def stats_total(stats: Stats) -> dict[str, Any]:
    parts = stats.partitions
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


def stats_dict(stats: Stats) -> dict[str, Any]:
    """`bot stats --json`."""
    return {
        "at": _iso(stats.at_ms),
        "partitions": [partition_dict(p) for p in stats.partitions],
        "total": stats_total(stats),
        "counters": dict(stats.counters),
    }


def _oldest(ages: Any) -> float | None:
    known = [a for a in ages if a is not None]
    return max(known) if known else None


async def collect_stats(store: Store) -> Stats:
    """Every partition's backlog and the counters, in two round trips."""
    return await store.stats()


async def read_backlog(store: Store) -> Backlog:
    """The age of the oldest entry of the inboxes, the outboxes and the call queues, and the
    dead letters (`Store.backlog`)."""
    return await store.backlog()


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
    t = stats_total(stats)
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


def _dead(d: DeadEntry) -> DeadLetter:
    return DeadLetter(
        d.partition,
        d.entry_id,
        d.kind,
        mask_text(d.why),  # a platform's error may quote the recipient
        mask_conv(d.conv_id),
        d.task_id,
    )


def _order(d: DeadLetter) -> tuple[int, int, int]:
    ms, seq = d.entry_id.split("-")
    return int(ms), int(seq), d.partition


async def count_dead(store: Store) -> int:
    return await store.count_dead()


async def list_dead(store: Store, limit: int) -> tuple[list[DeadLetter], int]:
    """The oldest `limit` dead letters of all partitions, oldest first, and how many there
    are in all."""
    total = await count_dead(store)
    if limit <= 0 or not total:
        return [], total
    pages = await asyncio.gather(
        *(store.dead_letters(p, count=limit) for p in range(store.partitions))
    )
    letters = [_dead(d) for page in pages for d in page]
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
        found[text] = _dead(page[0]) if page else None
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


async def retry_dead(store: Store, ids: Sequence[str] | None) -> list[tuple[str, str | None]]:
    """Put dead letters back where they came from (`ids`, or all when None), each
    atomically: (id, kind `out`/`in`, None when not found, `bad` when not retriable)."""
    done: list[tuple[str, str | None]] = []
    if ids is None:
        async for p, page in store.dead_letter_pages():
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
        async for p, page in store.dead_letter_pages():
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
    print(json.dumps(stats_dict(stats), indent=2) if as_json else format_stats(stats), file=out)
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
