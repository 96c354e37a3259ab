"""The operators' API: conversations found, a conversation's history, and the dead letters
(listed, retried, dropped). Same credentials as the business's API (BOT_API_KEYS); every
list a page at a time, by cursor."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.errors import BadRequest, Conflict, NotFound
from bot.log import shown
from bot.model import (
    DEFAULT_ACCOUNT,
    Conversation,
    ConversationRef,
    HistoryEntry,
    HistoryKind,
    StepContext,
)
from bot.store import ConversationQuery, DeadEntry, Found, event_from_json
from bot.store.directory import Cursor
from bot.store.erase import Settle
from bot.web.api import authorize, conversation_id, is_conversation_id
from bot.web.body import expect_body
from bot.web.deadline import redis_bound
from bot.web.keys import ACCOUNTS, CATALOG, CLOCK, RUNTIME, STORE
from bot.wire import is_text

log = logging.getLogger("bot.web.operators")

# A page of history: `limit` entries at most (default HISTORY_PAGE); a cursor is an entry's id.
HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 500


def _history_item(entry: HistoryEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.id, "at_ms": entry.at_ms, "kind": str(entry.kind)}
    if entry.kind is HistoryKind.STEP:
        item.update(
            event=entry.event,
            from_state=entry.from_state or None,
            to_state=entry.to_state or None,
            outcome=entry.outcome,
            replies=list(entry.replies),
            tasks=list(entry.tasks),
        )
        if entry.missing_language:
            item["missing_language"] = entry.missing_language
    else:
        item["task"] = entry.task
        for name in ("status", "error", "message_id"):
            if value := getattr(entry, name):
                item[name] = value
    return item


def _is_cursor(text: str) -> bool:
    """An entry's id, as a page's `next` gives it: `MILLISECONDS-SEQUENCE`."""
    ms, dash, seq = text.partition("-")
    return bool(dash) and all(p.isascii() and p.isdigit() and len(p) <= 20 for p in (ms, seq))


def _page(request: web.Request, default: int, most: int) -> tuple[str, int]:
    """The `cursor` (as given: checked by the caller) and `limit` of a paged read."""
    raw = request.query.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise BadRequest(f"`limit`: a whole number from 1 to {most}")
    return request.query.get("cursor", ""), int(raw)


async def history(request: web.Request) -> web.Response:
    """`GET /v1/conversations/{conversation}/history`: what was said and done, a page at a
    time (`cursor`, `limit`)."""
    authorize(request)
    conv_id = conversation_id(request)
    cursor, limit = _page(request, HISTORY_PAGE, MAX_HISTORY_PAGE)
    if cursor and not _is_cursor(cursor):
        raise BadRequest("`cursor`: give the `next` of the page before")
    store = request.app[STORE]
    async with redis_bound(request):
        entries, after = await store.history(conv_id, after=cursor, limit=limit)
        if not entries and not cursor and (await store.load(conv_id)).version == 0:
            raise NotFound("no such conversation")
    return web.json_response(
        {
            "conversation": conv_id,
            "entries": [_history_item(e) for e in entries],
            "next": after or None,
        }
    )


# -- conversations found ---------------------------------------------------------------------

CONVERSATIONS_PAGE = 50
MAX_CONVERSATIONS_PAGE = 200
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def conversation_cursor(text: str) -> Cursor | None:
    """(stepped_ms, conversation id) of a cursor `MS-ID`, None when it is not one."""
    at, dash, conv_id = text.partition("-")
    if not (dash and at.isascii() and at.isdigit() and len(at) <= 20):
        return None
    return (int(at), conv_id) if is_conversation_id(conv_id) else None


def _since(text: str) -> int:
    """`since` as milliseconds since the epoch: given so, or as an ISO 8601 time."""
    if text.isascii() and text.isdigit() and len(text) <= 15:
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            "`since`: milliseconds since the epoch, or an ISO 8601 time such as "
            "2026-12-01T09:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def conversation_query(q: Mapping[str, str]) -> ConversationQuery:
    """A search's parameters (`customer`, `flow`, `state`, `handoff`, `since`) as a query;
    400 naming the first that is not one."""
    handoff = q.get("handoff")
    if handoff is not None and handoff.lower() not in _BOOLEANS:
        raise BadRequest("`handoff`: true or false")
    for name in ("customer", "flow", "state"):
        value = q.get(name, "")
        if len(value) > 128 or not is_text(value):
            raise BadRequest(f"`{name}`: at most 128 characters of text")
    return ConversationQuery(
        customer=q.get("customer", "").strip().removeprefix("+"),
        flow=q.get("flow", ""),
        state=q.get("state", ""),
        handoff=None if handoff is None else _BOOLEANS[handoff.lower()],
        since_ms=_since(q["since"]) if q.get("since") else 0,
    )


def _found_item(found: Found) -> dict[str, Any]:
    conv = found.conversation
    return {
        "conversation": found.conv_id,
        "customer": ConversationRef.parse(found.conv_id).customer,
        "flow": conv.flow,
        "state": conv.state,
        "handoff": conv.handoff or None,
        "opted_out": conv.opted_out,
        "stepped_ms": found.stepped_ms,
        "last_inbound_ms": conv.last_inbound_ms or None,
    }


async def conversations(request: web.Request) -> web.Response:
    """`GET /v1/conversations`: find conversations (`customer`, `flow`, `state`, `handoff`,
    `since`), the most recently stepped first, a page at a time (`cursor`, `limit`)."""
    authorize(request)
    cursor, limit = _page(request, CONVERSATIONS_PAGE, MAX_CONVERSATIONS_PAGE)
    after = conversation_cursor(cursor) if cursor else None
    if cursor and after is None:
        raise BadRequest("`cursor`: give the `next` of the page before")
    query = conversation_query(request.query)
    async with redis_bound(request):
        found, last = await request.app[STORE].find_conversations(query, after=after, limit=limit)
    return web.json_response(
        {
            "conversations": [_found_item(f) for f in found],
            "next": f"{last[0]}-{last[1]}" if last is not None else None,
        }
    )


# -- one reply -------------------------------------------------------------------------------


def _is_task_id(text: str) -> bool:
    """A reply's TaskId as the bot makes them: `PREFIX.VERSION.INDEX`, 16 hex digits first."""
    parts = text.split(".")
    return (
        len(parts) == 3
        and len(parts[0]) == 16
        and all(c in "0123456789abcdef" for c in parts[0])
        and all(p.isascii() and p.isdigit() and len(p) <= 20 for p in parts[1:])
    )


async def message(request: web.Request) -> web.Response:
    """`GET /v1/messages/{task}`: one reply, by its TaskId: the conversation it was for,
    the platform's message id, its latest status, and what its conversation's history
    holds of it (the step that made it, its send, each delivery status)."""
    authorize(request)
    task = request.match_info["task"]
    if not _is_task_id(task):
        raise NotFound("no such message: TaskIds look like 0123456789abcdef.3.0")
    store = request.app[STORE]
    async with redis_bound(request):
        found = await store.message_record(task)
        if found is None:
            raise NotFound("no such message (never sent, or forgotten after BOT_CONVERSATION_TTL)")
        conv_id, record = found
        entries, _ = await store.history(conv_id, limit=MAX_HISTORY_PAGE) if conv_id else ([], "")
    mine = [e for e in entries if e.task == task or task in e.tasks]
    return web.json_response(
        {
            "task": task,
            "conversation": conv_id or None,
            "message_id": record.get("mid") or None,
            "status": record.get("status") or None,
            "error": record.get("status_err") or record.get("err") or None,
            "history": [_history_item(e) for e in mine],
        }
    )


# -- erasure ---------------------------------------------------------------------------------


def settle_waiting(app: web.Application, conv_id: str) -> Settle:
    """The conversation after the events still waiting for it in the inbox, as the flows
    would take them: what an erasure keeps of the customer's opt-outs (a STOP written just
    before the erasure holds). An event the engine cannot take changes nothing."""
    engine = app[RUNTIME].engine  # the flows in force; its steps never await
    ref = ConversationRef.parse(conv_id)
    ctx = StepContext(conv_id=conv_id, customer=ref.customer, channel=ref.channel)
    now_ms = int(app[CLOCK]() * 1000)

    def step(conv: Conversation, raw: str) -> Conversation:
        try:
            return engine.step(conv, event_from_json(raw), now_ms, ctx).conversation
        except Exception:  # a dead letter to be: the erasure takes it, as the others
            log.warning("an event waiting for an erased conversation could not be read")
            return conv

    def settle(conv: Conversation, events: Sequence[str]) -> Conversation:
        for raw in events:
            conv = step(conv, raw)
        return conv

    return settle


async def erase(request: web.Request) -> web.Response:
    """`DELETE /v1/conversations/{conversation}`: erase a customer's conversation, as they
    may ask; what was erased. Idempotent."""
    authorize(request)
    conv_id = conversation_id(request)
    async with redis_bound(request):
        erased = await request.app[STORE].erase(conv_id, settle_waiting(request.app, conv_id))
    log.info("conversation erased on request (%d history entries)", erased.history)
    return web.json_response({"conversation": conv_id, "erased": asdict(erased)})


# -- dead letters ----------------------------------------------------------------------------

DEAD_PAGE = 100
MAX_DEAD_PAGE = 1000
DEAD_SCAN = 10_000  # dead letters read at most by one request for one account's


def dead_id(letter: DeadEntry) -> str:
    """How the API (and `bot dlq`) names a dead letter: `PARTITION-STREAMID`."""
    return f"{letter.partition}-{letter.entry_id}"


def split_dead_id(text: str) -> tuple[int, str] | None:
    """(partition, entry id) of a `PARTITION-MS-SEQ` id; None when it is not one."""
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 20 for p in parts):
        return None
    return int(parts[0]), f"{parts[1]}-{parts[2]}"


def _dead_item(letter: DeadEntry, account: str) -> dict[str, Any]:
    return {
        "id": dead_id(letter),
        "at_ms": int(letter.entry_id.partition("-")[0]),
        "kind": letter.kind,
        "why": letter.why,
        "conversation": letter.conv_id or None,
        "task": letter.task_id or None,
        "account": account,
    }


async def dead_letters(request: web.Request) -> web.Response:
    """`GET /v1/dead-letters`: the oldest first, a page at a time (`cursor`, `limit`);
    only those of one platform account's conversations with `account`."""
    authorize(request)
    cursor, limit = _page(request, DEAD_PAGE, MAX_DEAD_PAGE)
    catalog = request.app[CATALOG].current
    account = request.query.get("account")
    if account is not None:
        known = sorted({DEFAULT_ACCOUNT, *request.app[ACCOUNTS], *catalog.accounts()})
        if account not in known:
            raise BadRequest(f"`account`: {shown(account)} is none of {', '.join(known)}")
    if account is None:
        total, letters = await dead_page(request, cursor, limit)
        page = letters[:limit]
        after = dead_id(page[-1]) if len(letters) > limit else None
    else:
        total, page, after = await account_dead_page(request, account, cursor, limit)
    return web.json_response(
        {
            "total": total,
            "dead_letters": [_dead_item(d, catalog.account_of(d.conv_id)) for d in page],
            "next": after,
        }
    )


async def account_dead_page(
    request: web.Request, account: str, cursor: str, limit: int
) -> tuple[int, list[DeadEntry], str | None]:
    """How many dead letters there are (of every account), up to `limit` of those of
    `account`'s conversations after `cursor`, and the cursor of the next page (None at the
    end). Reads at most DEAD_SCAN dead letters a request: a page cut short by it is shorter,
    and its cursor goes on from where the reading stopped."""
    catalog = request.app[CATALOG].current
    found: list[DeadEntry] = []
    scanned = 0
    total, letters = await dead_page(request, cursor, MAX_DEAD_PAGE)
    while True:
        batch = letters[:MAX_DEAD_PAGE]
        for letter in batch:
            if catalog.account_of(letter.conv_id) != account:
                continue
            if len(found) == limit:  # one more than a page: a next page there is
                return total, found, dead_id(found[-1])
            found.append(letter)
        scanned += len(batch)
        if len(letters) <= MAX_DEAD_PAGE:
            return total, found, None
        after = (batch[-1].partition, batch[-1].entry_id)
        if scanned >= DEAD_SCAN:
            return total, found, dead_id(batch[-1])
        async with redis_bound(request):
            letters = await request.app[STORE].oldest_dead(MAX_DEAD_PAGE + 1, after=after)


async def dead_page(request: web.Request, cursor: str, limit: int) -> tuple[int, list[DeadEntry]]:
    """How many dead letters there are, and up to `limit` + 1 of them after `cursor` (a
    dead letter's id, "" from the oldest): one more than a page tells whether more follow.
    400 for a cursor that is not an id."""
    after = split_dead_id(cursor) if cursor else None
    if cursor and after is None:
        raise BadRequest("`cursor`: give the `next` of the page before")
    store = request.app[STORE]
    async with redis_bound(request):
        return await store.count_dead(), await store.oldest_dead(limit + 1, after=after)


async def dead_letter_of(request: web.Request) -> DeadEntry:
    """The dead letter the path's `{id}` names, or 404."""
    where = split_dead_id(request.match_info["id"])
    letter = None
    if where is not None:
        async with redis_bound(request):
            letter = await request.app[STORE].find_dead(*where)
    if letter is None:
        raise NotFound("no such dead letter: ids look like 3-1700000000000-0")
    return letter


async def retry_dead_letter(request: web.Request) -> web.Response:
    """`POST /v1/dead-letters/{id}/retry`: put it back where it came from (an event in its
    partition's inbox, a reply in its outbox, with its task id)."""
    authorize(request)
    letter = await dead_letter_of(request)
    return web.json_response({"id": dead_id(letter), "retried": await retry(request, letter)})


async def retry(request: web.Request, letter: DeadEntry) -> str:
    """Put `letter` back where it came from; what it was (`in`, `out`). 404 when it is gone
    meanwhile, 409 when it names no conversation."""
    async with redis_bound(request):
        kind = await request.app[STORE].retry_dead(letter.partition, letter.entry_id)
    if kind is None:
        raise NotFound("no such dead letter (retried or dropped meanwhile)")
    if kind == "bad":
        raise Conflict("this dead letter names no conversation: it cannot be retried, drop it")
    return kind


async def drop_dead_letter(request: web.Request) -> web.Response:
    """`DELETE /v1/dead-letters/{id}`: forget it."""
    authorize(request)
    letter = await dead_letter_of(request)
    async with redis_bound(request):
        dropped = await request.app[STORE].drop_dead(letter.partition, [letter.entry_id])
    if not dropped:
        raise NotFound("no such dead letter (retried or dropped meanwhile)")
    return web.json_response({"id": dead_id(letter), "dropped": True})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/conversations", conversations),
        web.get("/v1/conversations/{conversation}/history", history),
        web.delete("/v1/conversations/{conversation}", erase),
        web.get("/v1/messages/{task}", message),
        web.get("/v1/dead-letters", dead_letters),
        web.post("/v1/dead-letters/{id}/retry", retry_dead_letter, expect_handler=expect_body),
        web.delete("/v1/dead-letters/{id}", drop_dead_letter),
    ]
