"""The flows as operators see them (`GET /v1/flows`, `GET /v1/flows/{name}`): each flow's
compiled machine, its states and transitions, with counts kept in Redis by the steps of every
process: how many conversations stand in each state now, and how many took each transition,
entered each state and left it by an exit (no match, timeout, error) over a window of hours.
Same credentials as the business's API (BOT_API_KEYS)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from bot.errors import BadRequest, NotFound
from bot.flows.compiler import CompiledFlow
from bot.flows.tools.graph import edges
from bot.store import FlowCount
from bot.web.api import authorize
from bot.web.deadline import redis_bound
from bot.web.keys import CATALOG, CLOCK, STORE

WINDOW_HOURS = 24
MAX_WINDOW_HOURS = 7 * 24  # the counts are kept 8 days
EXITS = ("no_match", "timeout", "error")


def window(request: web.Request) -> tuple[int, int, int]:
    """(hours, since_ms, until_ms) of the `hours` asked for, ending now."""
    raw = request.query.get("hours", str(WINDOW_HOURS))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_WINDOW_HOURS:
        raise BadRequest(f"`hours`: a whole number from 1 to {MAX_WINDOW_HOURS}")
    hours = int(raw)
    until_ms = int(request.app[CLOCK]() * 1000)
    return hours, until_ms - hours * 3_600_000 + 1, until_ms


def flow_figures(
    flow: CompiledFlow, counts: Counter[FlowCount], now: Counter[tuple[str, str]]
) -> dict[str, Any]:
    """One flow's machine with its counts: what `GET /v1/flows/{name}` answers (beside the
    window) and what the console's diagram draws. A state is a `dropoff` when it is not
    final and conversations left it by a timeout or an error in the window: where
    conversations end without finishing."""
    name = flow.name
    states = []
    for state, compiled in flow.states.items():
        exits = {exit_: counts[("x", name, state, exit_)] for exit_ in EXITS}
        states.append({
            "name": state,
            "now": now[(name, state)],
            "entered": counts[("e", name, state)],
            "exits": exits,
            "start": state == flow.start,
            "final": compiled.final,
            "dropoff": not compiled.final and exits["timeout"] + exits["error"] > 0,
        })  # fmt: skip
    transitions = [
        {
            "from": e.source,
            "to": e.dest,
            "trigger": e.trigger,
            "kind": e.kind,
            "label": e.label,
            "count": counts[("m", name, e.source, e.trigger, e.dest)],
        }
        for e in edges(flow)
    ]
    return {"name": name, "version": flow.version, "start": flow.start,
            "states": states, "transitions": transitions}  # fmt: skip


async def counts_of(
    request: web.Request, since_ms: int, until_ms: int
) -> tuple[Counter[FlowCount], Counter[tuple[str, str]], bool]:
    store = request.app[STORE]
    async with redis_bound(request):
        counts = await store.flow_counts(since_ms, until_ms)
        now, complete = await store.states_now()
    return counts, now, complete


async def flows(request: web.Request) -> web.Response:
    """`GET /v1/flows`: every flow, with its totals over the window (`hours`)."""
    authorize(request)
    hours, since_ms, until_ms = window(request)
    counts, now, complete = await counts_of(request, since_ms, until_ms)
    listed = []
    for flow in request.app[CATALOG].current.flows.values():
        one = flow_figures(flow, counts, now)
        listed.append({
            "name": flow.name, "version": flow.version, "start": flow.start,
            "states": len(one["states"]), "transitions": len(one["transitions"]),
            "now": sum(s["now"] for s in one["states"]),
            "entered": sum(s["entered"] for s in one["states"]),
            "moves": sum(t["count"] for t in one["transitions"]),
            "exits": {x: sum(s["exits"][x] for s in one["states"]) for x in EXITS},
        })  # fmt: skip
    return web.json_response(
        {
            "hours": hours,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "now_complete": complete,
            "flows": listed,
        }
    )


async def flow(request: web.Request) -> web.Response:
    """`GET /v1/flows/{name}`: one flow's states and transitions with their counts."""
    authorize(request)
    found = request.app[CATALOG].current.flows.get(request.match_info["name"])
    if found is None:
        raise NotFound("no such flow")
    hours, since_ms, until_ms = window(request)
    counts, now, complete = await counts_of(request, since_ms, until_ms)
    return web.json_response(
        {
            "hours": hours,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "now_complete": complete,
            **flow_figures(found, counts, now),
        }
    )


def routes() -> list[web.RouteDef]:
    return [web.get("/v1/flows", flows), web.get("/v1/flows/{name}", flow)]
