"""The console's Campaigns pages: the list with each one's progress, a campaign with its
counts, its starts over time (an SVG made here) and the moves (pause, resume, cancel), as
the campaign API reads and makes them (bot/web/campaigns.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from bot.campaign import Status, turns_ended
from bot.errors import NotFound
from bot.web import campaigns as api
from bot.web.console.guard import PREFIX, changed, signed_in
from bot.web.console.render import render
from bot.web.deadline import redis_bound
from bot.web.keys import STORE

LISTED = 50
ACTIONS = {"pause": Status.PAUSED, "resume": Status.RUNNING, "cancel": Status.CANCELLED}
DONE = {
    "pause": "Paused: nobody more is messaged until you resume it.",
    "resume": "Resumed.",
    "cancel": "Cancelled: those still pending never will be.",
}
CHART_W, CHART_H, MOST_BARS = 720, 160, 120
MIN_SPAN = 30  # minutes a chart spans at least


def _item(record: Any, status: Status) -> dict[str, Any]:
    item = api.campaign_item(record, status)
    counts = item["counts"]
    item["ended"] = turns_ended(counts)
    item["skipped_total"] = sum(counts["skipped"].values())
    return item


async def campaigns(request: web.Request) -> web.Response:
    session = await signed_in(request)
    store = request.app[STORE]
    async with redis_bound(request):
        records = await api.newest(store, None, LISTED)
        items = [_item(r, await api.settled(store, r)) for r in records]
    return render(request, "campaigns.html", session=session, page="campaigns", items=items)


async def _found(request: web.Request) -> Any:
    campaign = api.campaign_id(request)
    async with redis_bound(request):
        record = await request.app[STORE].campaign(campaign)
        if record is None:
            raise NotFound("no such campaign")
        status = await api.settled(request.app[STORE], record)
        timeline = await request.app[STORE].campaign_timeline(campaign)
    return _item(record, status), timeline


async def campaign(request: web.Request) -> web.Response:
    session = await signed_in(request)
    item, timeline = await _found(request)
    done = DONE.get(request.query.get("done", ""), "")
    return render(request, "campaign.html", session=session, page="campaigns", c=item,
                  chart=chart(timeline), done=done)  # fmt: skip


async def campaign_live(request: web.Request) -> web.Response:
    """A campaign's figures alone, for its page to refresh itself."""
    session = await signed_in(request, extend=False)
    item, timeline = await _found(request)
    return render(request, "_campaign_live.html", session=session, c=item, chart=chart(timeline))


async def act(request: web.Request) -> web.Response:
    await changed(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise NotFound("no such action")
    campaign = api.campaign_id(request)
    await api.move(request, campaign, ACTIONS[action])
    raise web.HTTPSeeOther(f"{PREFIX}/campaigns/{campaign}?done={action}")


def chart(timeline: dict[int, int]) -> dict[str, Any]:
    """Starts per minute as bars (the last MOST_BARS minutes that had any), for an SVG the
    template draws: each bar's x, y, width, height, count and time; nothing from the
    caller is text in it but numbers."""
    minutes = sorted(timeline)[-MOST_BARS:]
    if not minutes:
        return {"bars": [], "width": CHART_W, "height": CHART_H, "most": 0}
    first, last = minutes[0], minutes[-1]
    span = max(last - first + 1, MIN_SPAN)  # a short campaign's few bars stay bars
    most = max(timeline[m] for m in minutes)
    step = CHART_W / span
    bars = []
    for m in minutes:
        h = max(1.0, timeline[m] / most * (CHART_H - 20))
        when = dt.datetime.fromtimestamp(m * 60, dt.UTC).strftime("%H:%M")
        bars.append({"x": round((m - first) * step, 1), "w": round(max(1.0, step * 0.7), 1),
                     "y": round(CHART_H - h, 1), "h": round(h, 1), "n": timeline[m],
                     "at": when})  # fmt: skip
    return {"bars": bars, "width": CHART_W, "height": CHART_H, "most": most,
            "first": bars[0]["at"], "last": bars[-1]["at"]}  # fmt: skip


def routes() -> list[web.RouteDef]:
    p = f"{PREFIX}/campaigns"
    return [
        web.get(p, campaigns),
        web.get(f"{p}/{{campaign}}", campaign),
        web.get(f"{p}/{{campaign}}/live", campaign_live),
        web.post(f"{p}/{{campaign}}/{{action}}", act),
    ]
