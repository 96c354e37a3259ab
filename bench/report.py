"""The bench's results: what each run measured, the budget of the performance issue checked
against them, and the markdown tables `bench/run.py` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redisproxy import ALL, PATHS

BUDGET_RATIO, BUDGET_ACK_P99_MS, BUDGET_ROUND_TRIPS, BUDGET_BYTES = 0.12, 50.0, 3.0, 1024
BUDGET_HISTORY = 1.15  # CPU per message with history kept, over without
BUDGET_HISTORY_BYTES = 1024  # a history of one step and one send, and an index entry
FLAT_WITHIN = 0.10  # CPU per message "flat": within 10% from the fewest to the most live
NONE = "-"  # what a table shows where a run measured nothing


# -- results -----------------------------------------------------------------------------------


@dataclass
class ClosedRun:
    """One closed-loop run against one server."""

    server: str  # "baseline" or "bot"
    label: str
    workers: int = 1
    live: int | None = None
    conversations: int | None = None  # conversation hashes in Redis when it began
    acked: int = 0  # pushes answered 200 (the load generator's count)
    failed: int = 0
    messages: int = 0  # pushes the baseline answered / replies the fake CAMS recorded
    seconds: float = 0.0  # first push to last reply (baseline: the run's length)
    rate: float = 0.0
    ack_ms: dict[str, float | None] = field(default_factory=dict)
    e2e_ms: dict[str, float | None] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    cpu_us_per_message: float = 0.0
    redis_cpu_us_per_message: float = 0.0  # the redis-server process's
    processes: int = 1
    cpus: str = "any"  # the CPUs the server was pinned to
    redis_commands: int | None = None  # INFO commandstats calls, inside scripts included
    redis_commands_per_message: float | None = None
    redis_top_commands: dict[str, int] = field(default_factory=dict)
    backlog_at_end: int | None = None  # inbox + outbox entries when the load stopped
    drain_seconds: float | None = None
    ratio: float | None = None
    history: bool = True  # BOT_HISTORY: the conversations' histories kept
    event_loop: str = "?"


@dataclass
class OpenRun:
    """One open-loop run against `bot serve` (latencies from when each push was due)."""

    workers: int
    rate: float
    seconds: float
    sent: int = 0
    acked: int = 0
    failed: int = 0
    answered_rate: float = 0.0  # acked ÷ the time from the first push to the last answer
    ack_ms: dict[str, float | None] = field(default_factory=dict)
    e2e_ms: dict[str, float | None] = field(default_factory=dict)
    replies: int = 0
    max_in_flight: int = 0


@dataclass
class Accounting:
    """The accounting run: round trips and commands per path, from the counting proxy."""

    messages: int
    rate: float
    customers: str  # whose messages: what the server had seen of them
    round_trips: dict[str, int]
    kinds: dict[str, int]  # round trips by path and first command
    top_level: dict[str, int]
    by_name: dict[str, int]
    commandstats_total: int
    round_trips_per_message: dict[str, float] = field(default_factory=dict)
    top_level_per_message: dict[str, float] = field(default_factory=dict)
    intake_and_step: float = 0.0
    commands_per_message_total: float = 0.0
    commands_per_message_top_level: float = 0.0


@dataclass
class Memory:
    """Redis memory over `conversations` idle conversations."""

    conversations: int
    used_memory_delta: int
    per_conversation: float
    hash_mean: float
    parts: dict[str, float]  # bytes per conversation by what holds them
    counts: dict[str, int]


def ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NONE
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def budget(
    closed: list[ClosedRun],
    opened: list[OpenRun],
    memory: Memory | None,
    accounting: Accounting | None,
    first_messages: Accounting | None = None,
) -> list[dict[str, Any]]:
    """The budget's items: target, measured, met (None: not measured by this run)."""
    ones = [r for r in closed if r.server == "bot" and r.workers == 1 and r.history]
    first = min(ones, key=lambda r: r.live or 0) if ones else None
    without = next(
        (r for r in closed if r.server == "bot" and r.workers == 1 and not r.history), None
    )
    items: list[dict[str, Any]] = []
    ratio = first.ratio if first else None
    baseline = next((r for r in closed if r.server == "baseline"), None)
    by_cpu = (
        baseline.cpu_us_per_message / first.cpu_us_per_message
        if baseline and first and first.cpu_us_per_message
        else None
    )
    items.append({
        "item": "messages/s of the full job, 1 process, vs the baseline",
        "target": f">= {BUDGET_RATIO}",
        "measured": None if ratio is None else round(ratio, 3),
        # What the ratio would be if each had a whole core: immune to other load.
        "detail": None if by_cpu is None else f"{by_cpu:.3f} by CPU per message",
        "met": None if ratio is None else ratio >= BUDGET_RATIO,
    })  # fmt: skip
    cost = (
        first.cpu_us_per_message / without.cpu_us_per_message
        if first and without and without.cpu_us_per_message
        else None
    )
    items.append({
        "item": "CPU per message with the history kept, vs BOT_HISTORY=false (same run)",
        "target": f"<= {BUDGET_HISTORY:.2f}",
        "measured": None if cost is None else round(cost, 3),
        "detail": None if cost is None else (
            f"{first.cpu_us_per_message:,.0f} vs {without.cpu_us_per_message:,.0f} µs"
            if first and without else None
        ),
        "met": None if cost is None else cost <= BUDGET_HISTORY,
    })  # fmt: skip
    at = next((o for o in opened if o.rate == 1000 and o.workers == 1), None)
    p99 = at.ack_ms.get("p99") if at else None
    items.append({
        "item": "ack p99 at an open-loop 1,000 callbacks/s",
        "target": f"<= {BUDGET_ACK_P99_MS:.0f} ms",
        "measured": None if p99 is None else round(p99, 1),
        "met": None if p99 is None else p99 <= BUDGET_ACK_P99_MS,
    })  # fmt: skip
    trips = accounting.intake_and_step if accounting and accounting.messages else None
    new = first_messages.intake_and_step if first_messages and first_messages.messages else None
    items.append({
        "item": "Redis round trips per inbound message, intake and step",
        "target": f"<= {BUDGET_ROUND_TRIPS:.0f}",
        "measured": None if trips is None else round(trips, 2),
        "detail": None if new is None else f"{new:.2f} for customers new to the server",
        "met": None if trips is None else trips <= BUDGET_ROUND_TRIPS,
    })  # fmt: skip
    # The conversation's own keys; its history and its place in the index of conversations
    # (what the operators' API reads) apart, in an item of their own.
    history = (
        sum(v for k, v in memory.parts.items() if k.startswith(("history", "index")))
        if memory
        else 0.0
    )
    per = memory.per_conversation - history if memory else None
    items.append({
        "item": "Redis memory per idle conversation (used_memory delta), history and index aside",
        "target": f"<= {BUDGET_BYTES} bytes",
        "measured": None if per is None else round(per),
        "met": None if per is None else per <= BUDGET_BYTES,
    })  # fmt: skip
    items.append({
        "item": "Redis memory of its history (a step and a send) and its place in the index",
        "target": f"<= {BUDGET_HISTORY_BYTES} bytes",
        "measured": round(history) if memory else None,
        "met": None if not memory else history <= BUDGET_HISTORY_BYTES,
    })  # fmt: skip
    if len(ones) >= 2:
        lo = min(ones, key=lambda r: r.live or 0)
        hi = max(ones, key=lambda r: r.live or 0)
        change = hi.cpu_us_per_message / lo.cpu_us_per_message - 1 if lo.cpu_us_per_message else 0
        items.append({
            "item": f"CPU per message from {lo.live:,} to {hi.live:,} live conversations",
            "target": f"flat (within {FLAT_WITHIN:.0%})",
            "measured": f"{change:+.1%}",
            "met": abs(change) <= FLAT_WITHIN,
        })  # fmt: skip
    else:
        items.append({
            "item": "CPU per message from 1,000 to 100,000 live conversations",
            "target": f"flat (within {FLAT_WITHIN:.0%})",
            "measured": None,
            "met": None,
        })  # fmt: skip
    return items


# -- output -------------------------------------------------------------------------------------

CLOSED_COLUMNS = (
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
)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render(result: dict[str, Any]) -> str:
    out: list[str] = []
    m = result["machine"]
    out.append(
        f"Run {result['when']}: {m['cpu']}, {m['cpus']} CPUs, load average before "
        f"{m['loadavg_before']}, after {m['loadavg_after']}; Redis {m['redis']}, Python "
        f"{m['python']}."
    )
    out.append(f"Pinning: {result['pinning']}.")
    s = result["settings"]
    out.append(
        f"Load: {result['generator']}, {s['connections']} connections, closed loop, "
        f"{s['duration']:g} s per run, {s['customers']:,} customers; server log level "
        f"{s['log_level']}, {s['partitions']} partitions, Redis append-only (everysec)."
    )
    acct = result["accounting"]
    trips = fmt(acct["intake_and_step"], 2) if acct and acct["messages"] else NONE
    rows = []
    for r in result["closed"]:
        bot = r["server"] == "bot"
        cmds = r["redis_commands_per_message"]
        rows.append([
            r["label"] + (f" [{r['event_loop']}]" if r["event_loop"] != "?" else ""),
            fmt(r["rate"], 0),
            fmt(r["ack_ms"].get("p50"), 2),
            fmt(r["ack_ms"].get("p99"), 2),
            fmt(r["e2e_ms"].get("p50"), 1) if bot else NONE,
            fmt(r["e2e_ms"].get("p99"), 1) if bot else NONE,
            fmt(r["cpu_us_per_message"], 0),
            fmt(cmds, 1) if bot else NONE,
            trips if bot else NONE,
            fmt(r["ratio"], 3) if r["ratio"] is not None else NONE,
        ])  # fmt: skip
    out += ["", "### Closed loop", "", table(CLOSED_COLUMNS, rows)]
    bots = [r for r in result["closed"] if r["server"] == "bot"]
    if bots:
        out.append("")
        for r in bots:
            out.append(
                f"- {r['label']}: {r['messages']:,} messages in {r['seconds']:.1f} s "
                f"({r['acked']:,} pushes acknowledged, {r['failed']} failed); "
                f"{r['conversations']:,} conversations in Redis at the start; backlog "
                f"{r['backlog_at_end']:,} when the load stopped, drained "
                f"{r['drain_seconds']:.1f} s later; {r['processes']} server process(es) on "
                f"CPU {r['cpus']}; Redis used {r['redis_cpu_us_per_message']:.0f} µs CPU per "
                "message; Redis commands: "
                + ", ".join(f"{k} {v / max(1, r['messages']):.2f}"
                            for k, v in r["redis_top_commands"].items())
            )  # fmt: skip
    if result["open"]:
        rows = [
            [
                f"{o['workers']}",
                fmt(o["rate"], 0),
                fmt(o["answered_rate"], 0),
                f"{o['acked']:,}",
                str(o["failed"]),
                fmt(o["ack_ms"].get("p50"), 2),
                fmt(o["ack_ms"].get("p99"), 2),
                fmt(o["ack_ms"].get("max"), 1),
                fmt(o["e2e_ms"].get("p50"), 1),
                fmt(o["e2e_ms"].get("p99"), 1),
            ]
            for o in result["open"]
        ]
        header = ("processes", "rate/s", "answered/s", "acked", "failed", "ack p50 ms",
                  "ack p99 ms", "ack max ms", "e2e p50 ms", "e2e p99 ms")  # fmt: skip
        out += ["", "### Open loop (bot serve)", "", table(header, rows)]
    if acct and acct["messages"]:
        rows = [
            [
                p,
                fmt(acct["round_trips_per_message"][p], 2),
                fmt(acct["top_level_per_message"][p], 2),
            ]
            for p in PATHS
        ]
        rows.append([
            "all (a round trip serving several paths counted once)",
            fmt(acct["round_trips_per_message"][ALL], 2),
            fmt(acct["commands_per_message_top_level"], 2),
        ])  # fmt: skip
        out += [
            "",
            f"### Redis per inbound message (accounting run through a counting proxy: "
            f"{acct['messages']:,} messages at {acct['rate']:,.0f}/s; {acct['customers']})",
            "",
            table(("path", "round trips", "top-level commands"), rows),
            "",
            "Round trips per message by path and first command: "
            + ", ".join(
                f"{k} {v / acct['messages']:.2f}"
                for k, v in sorted(acct["kinds"].items(), key=lambda kv: -kv[1])
            )
            + ".",
            "",
            f"Intake and step: {acct['intake_and_step']:.2f} round trips per message. Commands "
            f"Redis ran per message: {acct['commands_per_message_total']:.1f} in all "
            f"(INFO commandstats, inside scripts included), "
            f"{acct['commands_per_message_top_level']:.1f} sent by the server. Top-level "
            "commands: "
            + ", ".join(f"{k} {v / acct['messages']:.2f}" for k, v in acct["by_name"].items()),
        ]
    new = result.get("accounting_first_messages")
    if new and new["messages"]:
        out += [
            "",
            f"Customers new to the server ({new['messages']:,} messages at {new['rate']:,.0f}/s): "
            f"intake and step {new['intake_and_step']:.2f} round trips per message, all paths "
            f"{new['round_trips_per_message'][ALL]:.2f}; "
            + ", ".join(
                f"{k} {v / new['messages']:.2f}"
                for k, v in sorted(new["kinds"].items(), key=lambda kv: -kv[1])
                if k.startswith(("intake", "step"))
            )
            + ".",
        ]
    mem = result["memory"]
    if mem:
        rows = [[name, fmt(v, 0)] for name, v in mem["parts"].items()]
        rows.append(["**all (used_memory delta)**", fmt(mem["per_conversation"], 0)])
        out += [
            "",
            f"### Redis memory per idle conversation ({mem['conversations']:,} conversations "
            "after their first message, waiting in the flow's first state)",
            "",
            table(("what", "bytes per conversation"), rows),
            "",
            f"MEMORY USAGE of a conversation hash: {mem['hash_mean']:.0f} bytes (mean).",
        ]
    rows = [
        [b["item"], b["target"],
         (NONE if b["measured"] is None else str(b["measured"]))
         + (f" ({b['detail']})" if b.get("detail") else ""),
         {True: "met", False: "NOT met", None: "not measured"}[b["met"]]]
        for b in result["budget"]
    ]  # fmt: skip
    out += ["", "### Budget", "", table(("item", "target", "measured", ""), rows)]
    if result["notes"]:
        out += ["", *(f"Note: {n}" for n in result["notes"])]
    return "\n".join(out)
