"""`bot stats [--json]`: every partition's backlog, its ages and the counters, as the store
reads them (`Store.stats`), shown as a table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from bot.cli.text import format_age, iso, table
from bot.store import GLOBAL_COUNTERS, PARTITION_COUNTERS, PartitionStats, Stats, Store

# Every counter `bot stats` shows, also when it never counted: the partitions', then those
# of no partition (the send rate limiter's, in `Store.stats_key`).
COUNTERS: dict[str, float] = {**dict.fromkeys(PARTITION_COUNTERS, 0), **GLOBAL_COUNTERS}


async def stats_command(store: Store, *, as_json: bool, out: TextIO) -> int:
    """`bot stats [--json]`."""
    stats = await store.stats()
    print(json.dumps(stats_dict(stats), indent=2) if as_json else format_stats(stats), file=out)
    return 0


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
        "at": iso(stats.at_ms),
        "partitions": [partition_dict(p) for p in stats.partitions],
        "total": stats_total(stats),
        "counters": dict(stats.counters),
    }


def _oldest(ages: Iterable[float | None]) -> float | None:
    known = [a for a in ages if a is not None]
    return max(known) if known else None


def _number(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


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
    lines = [f"bot stats at {iso(stats.at_ms)} (Redis time)", *table(rows)]
    lines.append("counters (since the data began, all processes)")
    named = [*COUNTERS, *sorted(set(stats.counters) - set(COUNTERS))]
    lines += table([["  " + n, _number(stats.counters.get(n, 0))] for n in named], left=1)
    return "\n".join(lines)
