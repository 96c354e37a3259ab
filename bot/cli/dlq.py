"""`bot dlq list|retry|drop`: the dead letters of every partition, listed, put back or
deleted through the store (bot/store/dead.py), phone numbers masked in all that is shown;
each named by its id (bot/cli/dead_ids.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from bot.cli.dead_ids import dead_id, split_dead_id
from bot.cli.text import iso, table
from bot.log import escape, mask_conv, mask_text
from bot.store import DeadEntry, Store

SCAN = 10_000  # dead letters read at most to list those of one account


async def dlq_command(
    store: Store,
    action: str,
    *,
    ids: Sequence[str] | None,
    limit: int = 50,
    as_json: bool = False,
    yes: bool = False,
    out: TextIO,
    account: tuple[str, Callable[[str], str]] | None = None,
) -> int:
    """`bot dlq list|retry|drop`; `ids` None means --all. Exit 1 when an id named is not
    there (or cannot be retried), or a drop was not confirmed with --yes. `account`: list
    only the dead letters of that account's conversations (its name, and what names the
    account of a conversation id)."""
    if action == "list":
        letters, total = await list_dead(store, limit, account=account)
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
            total = await store.count_dead()
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
        return dead_id(self.partition, self.entry_id)

    @property
    def at_ms(self) -> int:
        return int(self.entry_id.split("-", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partition": self.partition,
            "kind": self.kind,
            "why": self.why,
            "conversation": self.conversation,
            "task": self.task,
            "at": iso(self.at_ms),
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


async def list_dead(
    store: Store, limit: int, *, account: tuple[str, Callable[[str], str]] | None = None
) -> tuple[list[DeadLetter], int]:
    """The oldest `limit` dead letters of all partitions (of one account's conversations
    only, with `account`: of the first SCAN), oldest first, and how many there are in all."""
    total = await store.count_dead()
    if limit <= 0 or not total:
        return [], total
    if account is None:
        return [_dead(d) for d in await store.oldest_dead(limit)], total
    name, account_of = account
    found = [d for d in await store.oldest_dead(SCAN) if account_of(d.conv_id) == name]
    return [_dead(d) for d in found[:limit]], total


async def find_dead(store: Store, ids: Sequence[str]) -> dict[str, DeadLetter | None]:
    """The dead letters of the given ids; None for those that do not exist."""
    found: dict[str, DeadLetter | None] = {}
    for text in ids:
        letter = await store.find_dead(*split_dead_id(text))
        found[text] = _dead(letter) if letter is not None else None
    return found


def format_dead(letters: Sequence[DeadLetter]) -> list[str]:
    if not letters:
        return []
    rows = [["id", "kind", "when", "conversation", "why"]]
    for d in letters:
        # A platform's or an exception's text: escaped, so that it cannot move the cursor
        # or write to the operator's terminal (no control character reaches it).
        why = escape(d.why if len(d.why) <= 60 else d.why[:59] + "…")
        rows.append([d.id, d.kind, iso(d.at_ms), d.conversation, why])
    return table(rows, left=5)


def dead_json(letters: Sequence[DeadLetter], total: int) -> str:
    return json.dumps({"total": total, "dead_letters": [d.to_dict() for d in letters]}, indent=2)


async def retry_dead(store: Store, ids: Sequence[str] | None) -> list[tuple[str, str | None]]:
    """Put dead letters back where they came from (`ids`, or all when None), each
    atomically: (id, kind `out`/`in`, None when not found, `bad` when not retriable)."""
    done: list[tuple[str, str | None]] = []
    if ids is None:
        async for p, page in store.dead_letter_pages():
            for entry_id in page:
                done.append((dead_id(p, entry_id), await store.retry_dead(p, entry_id)))
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
