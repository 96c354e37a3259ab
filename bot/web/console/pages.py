"""The console's pages and actions: Overview, Flows, Conversations (and one conversation),
Dead letters. Each page reads what the operators' API reads, through the same store calls;
each action is what the API's call does (bot/web/api.py, bot/web/operators.py), behind a
signed-in session and its CSRF token (bot/web/console/guard.py)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from bot.errors import BadRequest, NotFound
from bot.flows.engine import WINDOW_MS
from bot.model import AgentReply, ConversationRef, Event, Restart, Resume
from bot.store import DeadEntry
from bot.store.codec import FAILURE_PREFIX
from bot.web import flows as flow_api
from bot.web import operators
from bot.web.api import MAX_AGENT_TEXT, enqueue, is_conversation_id
from bot.web.console.diagram import flow_svg
from bot.web.console.guard import PREFIX, changed, signed_in
from bot.web.console.render import render
from bot.web.console.transcript import failures, transcript
from bot.web.deadline import redis_bound
from bot.web.keys import CATALOG, CLOCK, CONSOLE, METRICS, STORE

log = logging.getLogger("bot.web.console")

HISTORY_SHOWN = 1000  # entries of a conversation's history read for its page, at most
LIST_PAGE = 50

# What an action's redirect says it did (`?done=`): the page shows the sentence.
DONE = {
    "resumed": "The handoff was ended: automation continues.",
    "answered": "Your answer is on its way.",
    "restarted": "The conversation starts again from its flow's first state.",
    "erased": "The conversation was erased.",
    "retried": "The dead letter was put back where it came from.",
    "dropped": "The dead letter was dropped.",
}


# -- links to conversations ------------------------------------------------------------------


async def _links(request: web.Request) -> Fernet:
    """The key of the console's links, the same in every process (kept in Redis)."""
    console = request.app[CONSOLE]
    if console.links is None:
        async with redis_bound(request):
            key = await request.app[STORE].console_key(Fernet.generate_key().decode())
        console.links = Fernet(key.encode())
    return console.links


async def link(request: web.Request, conv_id: str) -> str:
    """A conversation's page: its id sealed, so that no customer's number is in a URL (the
    browser's history, a proxy's log)."""
    sealed = (await _links(request)).encrypt(conv_id.encode()).decode()
    return f"{PREFIX}/c/{sealed}"


_SEALED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


async def _conversation(request: web.Request) -> tuple[str, str]:
    """The conversation a page's link names, and the link (rebuilt from its sealed id: never
    from the request's path, which may carry more); 404 for what the console did not seal."""
    sealed = request.match_info["ref"]
    conv_id = ""
    # Base64url only, whole: Fernet's decoder would skip other characters and any tail.
    if len(sealed) % 4 == 0 and len(sealed) <= 512 and set(sealed) <= _SEALED:
        try:
            conv_id = (await _links(request)).decrypt(sealed.encode()).decode()
        except (InvalidToken, UnicodeError, ValueError):
            conv_id = ""
    if not is_conversation_id(conv_id):
        raise NotFound("no such conversation (the link is not the console's)")
    return conv_id, f"{PREFIX}/c/{sealed}"


# -- overview --------------------------------------------------------------------------------


async def _overview(request: web.Request) -> dict[str, Any]:
    async with redis_bound(request):
        stats = await request.app[STORE].stats()
    parts = stats.partitions
    counters = stats.counters
    callbacks = await request.app[METRICS].callbacks_answered()
    totals = {
        "callbacks": callbacks,
        "steps": counters.get("steps", 0),
        "sends": counters.get("sends", 0),
        "failures": counters.get("send_failures_permanent", 0)
        + counters.get("dead_letters_out", 0),
    }
    rates = request.app[CONSOLE].rates.per_minute(totals)
    ages = [a for p in parts for a in (p.inbox_oldest, p.outbox_oldest) if a is not None]
    return {
        "rates": rates,
        "totals": totals,
        "backlog": sum(p.inbox + p.outbox for p in parts),
        "backlog_age": max(ages) if ages else None,
        "dead": sum(p.dead for p in parts),
        "timers": sum(p.timers for p in parts),
        "leased": sum(1 for p in parts if p.leased),
        "partitions": len(parts),
        "failures": failures(counters, FAILURE_PREFIX),
    }


async def overview(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return render(request, "overview.html", session=session, page="overview",
                  **await _overview(request))  # fmt: skip


async def live(request: web.Request) -> web.Response:
    """The overview's figures alone, for the page to refresh itself (which keeps no session
    alive: an open tab is not an operator)."""
    await signed_in(request, extend=False)
    return render(request, "_live.html", **await _overview(request))


# -- flows -----------------------------------------------------------------------------------


async def _figures(request: web.Request) -> tuple[int, Counter[Any], Counter[tuple[str, str]]]:
    hours, since_ms, until_ms = flow_api.window(request)
    counts, now, _ = await flow_api.counts_of(request, since_ms, until_ms)
    return hours, counts, now


async def flows(request: web.Request) -> web.Response:
    session = await signed_in(request)
    hours, counts, now = await _figures(request)
    listed = []
    for flow in request.app[CATALOG].current.flows.values():
        figures = flow_api.flow_figures(flow, counts, now)
        listed.append({
            "name": flow.name,
            "states": len(figures["states"]),
            "now": sum(s["now"] for s in figures["states"]),
            "entered": sum(s["entered"] for s in figures["states"]),
            "dropoffs": [s["name"] for s in figures["states"] if s["dropoff"]],
        })  # fmt: skip
    return render(request, "flows.html", session=session, page="flows", flows=listed,
                  hours=hours)  # fmt: skip


async def flow(request: web.Request) -> web.Response:
    session = await signed_in(request)
    found = request.app[CATALOG].current.flows.get(request.match_info["name"])
    if found is None:
        raise NotFound("no such flow")
    hours, counts, now = await _figures(request)
    figures = flow_api.flow_figures(found, counts, now)
    return render(request, "flow.html", session=session, page="flows", flow=figures,
                  svg=flow_svg(figures), hours=hours)  # fmt: skip


# -- conversations ---------------------------------------------------------------------------


async def conversations(request: web.Request) -> web.Response:
    session = await signed_in(request)
    # A form's empty fields mean "any".
    asked = {k: v for k, v in request.query.items() if v and k != "done"}
    query = operators.conversation_query(asked)
    cursor = request.query.get("cursor", "")
    after = operators.conversation_cursor(cursor) if cursor else None
    if cursor and after is None:
        raise BadRequest("that page is no longer there: search again")
    async with redis_bound(request):
        found, last = await request.app[STORE].find_conversations(
            query, after=after, limit=LIST_PAGE
        )
    rows = [
        {
            "link": await link(request, f.conv_id),
            "customer": ConversationRef.parse(f.conv_id).customer,
            "channel": ConversationRef.parse(f.conv_id).channel,
            "conversation": f.conversation,
            "stepped_ms": f.stepped_ms,
        }
        for f in found
    ]
    more = None
    if last is not None:
        more = "?" + urlencode({**asked, "cursor": f"{last[0]}-{last[1]}"})
    return render(request, "conversations.html", session=session, page="conversations",
                  rows=rows, query=request.query, more=more,
                  flows=sorted(request.app[CATALOG].current.flows))  # fmt: skip


async def conversation(request: web.Request) -> web.Response:
    session = await signed_in(request)
    conv_id, here = await _conversation(request)
    store = request.app[STORE]
    async with redis_bound(request):
        conv = await store.load(conv_id)
        entries, earlier = await store.history_tail(conv_id, HISTORY_SHOWN)
    if conv.version == 0 and not entries:
        raise NotFound("no such conversation (erased, or forgotten after its time)")
    now_ms = int(request.app[CLOCK]() * 1000)
    ref = ConversationRef.parse(conv_id)
    catalog = request.app[CATALOG].current
    number = catalog.number_of(ref.platform, ref.channel, ref.business)
    return render(
        request, "conversation.html", session=session, page="conversations",
        conv=conv, conv_id=conv_id, ref=ref, link=here, number=number,
        chat=transcript(entries), more_history=earlier,
        in_window=bool(conv.last_inbound_ms) and now_ms - conv.last_inbound_ms < WINDOW_MS,
        window_ends_ms=conv.last_inbound_ms + WINDOW_MS if conv.last_inbound_ms else 0,
        max_text=MAX_AGENT_TEXT, done=DONE.get(request.query.get("done", ""), ""),
    )  # fmt: skip


def _message_id(kind: str) -> str:
    return f"console-{kind}:{uuid.uuid4().hex}"


async def _operator_event(request: web.Request, event: Event, done: str) -> web.Response:
    """An operator's event for the page's conversation (the form checked before), then
    back to its page, saying `done`."""
    conv_id, here = await _conversation(request)
    await enqueue(request, conv_id, event)
    raise web.HTTPSeeOther(f"{here}?done={done}")


async def resume(request: web.Request) -> web.Response:
    await changed(request)
    return await _operator_event(
        request, Resume(_message_id("resume"), _now_ms(request)), "resumed"
    )


async def answer(request: web.Request) -> web.Response:
    _, form = await changed(request)
    text = form.get("text", "").strip()
    if not text or len(text) > MAX_AGENT_TEXT:
        raise BadRequest(f"an answer is 1 to {MAX_AGENT_TEXT} characters")
    event = AgentReply(_message_id("agent"), _now_ms(request), text)
    return await _operator_event(request, event, "answered")


async def restart(request: web.Request) -> web.Response:
    await changed(request)
    return await _operator_event(
        request, Restart(_message_id("restart"), _now_ms(request)), "restarted"
    )


async def erase_page(request: web.Request) -> web.Response:
    """The confirmation an erasure asks for."""
    session = await signed_in(request)
    conv_id, back = await _conversation(request)
    return render(request, "erase.html", session=session, page="conversations",
                  ref=ConversationRef.parse(conv_id), back=back)  # fmt: skip


async def erase(request: web.Request) -> web.Response:
    _, form = await changed(request)
    conv_id, _ = await _conversation(request)
    if form.get("confirm") != "erase":
        raise BadRequest("tick the box to confirm the erasure")
    async with redis_bound(request):
        erased = await request.app[STORE].erase(
            conv_id, operators.settle_waiting(request.app, conv_id)
        )
    log.info("conversation erased from the console (%d history entries)", erased.history)
    raise web.HTTPSeeOther(f"{PREFIX}/conversations?done=erased")


def _now_ms(request: web.Request) -> int:
    return int(request.app[CLOCK]() * 1000)


# -- dead letters ----------------------------------------------------------------------------


async def _dead_row(request: web.Request, letter: DeadEntry) -> dict[str, Any]:
    conv = letter.conv_id if is_conversation_id(letter.conv_id) else ""
    return {
        "id": operators.dead_id(letter),
        "at_ms": int(letter.entry_id.partition("-")[0]),
        "kind": letter.kind,
        "why": letter.why,
        "customer": ConversationRef.parse(conv).customer if conv else "",
        "link": await link(request, conv) if conv else "",
        "task": letter.task_id,
        "account": request.app[CATALOG].current.account_of(conv),
    }


async def dead_letters(request: web.Request) -> web.Response:
    session = await signed_in(request)
    total, letters = await operators.dead_page(request, request.query.get("cursor", ""), LIST_PAGE)
    rows = [await _dead_row(request, d) for d in letters[:LIST_PAGE]]
    more = f"?cursor={rows[-1]['id']}" if len(letters) > LIST_PAGE else None
    done = DONE.get(request.query.get("done", ""), "")
    return render(request, "dead_letters.html", session=session, page="dead", rows=rows,
                  total=total, more=more, done=done,
                  accounts=bool(request.app[CATALOG].current.numbers))  # fmt: skip


async def dead_letter(request: web.Request) -> web.Response:
    session = await signed_in(request)
    letter = await operators.dead_letter_of(request)
    return render(request, "dead_letter.html", session=session, page="dead",
                  letter=await _dead_row(request, letter))  # fmt: skip


async def retry_dead(request: web.Request) -> web.Response:
    await changed(request)
    await operators.retry(request, await operators.dead_letter_of(request))
    raise web.HTTPSeeOther(f"{PREFIX}/dead-letters?done=retried")


async def drop_dead(request: web.Request) -> web.Response:
    await changed(request)
    letter = await operators.dead_letter_of(request)
    async with redis_bound(request):
        await request.app[STORE].drop_dead(letter.partition, [letter.entry_id])
    raise web.HTTPSeeOther(f"{PREFIX}/dead-letters?done=dropped")
