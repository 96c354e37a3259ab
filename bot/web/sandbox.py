"""Sandbox mode: the send API is a built-in fake CAMS on loopback that prints each reply,
and `GET /sandbox/messages` shows what it received (the `bot say` command reads it). The
example flows' order API and agent desk have stand-ins here too."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.errors import BadRequest
from bot.log import mask_id
from bot.phones import lookup_form
from bot.platforms.auth import matches_any
from bot.web.body import SMALL_BODY, expect_body, read_json
from bot.web.keys import SANDBOX_AGENT, SANDBOX_MESSAGES, SANDBOX_TENCENT_MESSAGES, SETTINGS

SANDBOX_ORDERS_TOKEN = "sandbox"  # noqa: S105 - the sandbox order API's published token


def describe(message: Mapping[str, str]) -> str:
    """One sent message as a person would read it."""
    if message.get("Type") == "template":
        params = json.loads(message.get("TemplateParams") or "{}")
        text = f"[template {message.get('TemplateCode')}] " + ", ".join(
            f"{k}={v}" for k, v in params.items()
        )
        buttons = json.loads(message.get("Payload") or "[]")
        return text + "".join(f" [{p}]" for p in buttons)
    content = json.loads(message.get("Content") or "{}")
    if "text" in content and isinstance(content["text"], str):
        return str(content["text"])
    body = content.get("body", {}).get("text", "")
    action = content.get("action", {})
    if content.get("type") == "cta_url":
        link = action.get("parameters", {})
        return f"{body}\n[{link.get('display_text')}: {link.get('url')}]"
    titles = [b["reply"]["title"] for b in action.get("buttons", ())]
    titles += [r["title"] for s in action.get("sections", ()) for r in s.get("rows", ())]
    return str(body) + "".join(f" [{t}]" for t in titles)


def print_message(message: Mapping[str, str]) -> None:
    to = mask_id(message.get("To", ""))
    for i, line in enumerate(describe(message).splitlines() or [""]):
        prefix = f"[sandbox] to {to}: " if i == 0 else " " * (len(to) + 15)
        print(prefix + line, file=sys.stdout, flush=True)


def describe_tencent(message: Mapping[str, Any]) -> str:
    """A sendmsg body as a person would read it."""
    parts = []
    for element in message.get("MsgBody", ()):
        content = element.get("MsgContent", {})
        if element.get("MsgType") == "TIMTextElem":
            parts.append(str(content.get("Text", "")))
        elif element.get("MsgType") == "TIMCustomElem":
            try:
                data = json.loads(content.get("Data") or "{}")
            except ValueError:
                data = {}
            parts.append("".join(f" [{b.get('title')}]" for b in data.get("buttons", ())))
    return "".join(parts)


def print_tencent(message: Mapping[str, Any]) -> None:
    to = mask_id(str(message.get("To_Account", "")))
    for i, line in enumerate(describe_tencent(message).splitlines() or [""]):
        prefix = f"[sandbox] tencent to {to}: " if i == 0 else " " * (len(to) + 23)
        print(prefix + line, file=sys.stdout, flush=True)


async def tencent_messages(request: web.Request) -> web.Response:
    """`GET /sandbox/tencent/messages[?to=ACCOUNT]`: what the fake Tencent Chat received."""
    recorded = request.app[SANDBOX_TENCENT_MESSAGES]
    to = request.query.get("to", "")
    return web.json_response([m for m in recorded if not to or m.get("To_Account") == to])


async def messages(request: web.Request) -> web.Response:
    """`GET /sandbox/messages[?to=NUMBER]`: every reply the sandbox received, oldest first."""
    recorded: list[dict[str, str]] = request.app[SANDBOX_MESSAGES]
    to = lookup_form(request.query["to"]) if request.query.get("to") else ""
    return web.json_response([m for m in recorded if not to or lookup_form(m.get("To", "")) == to])


async def order(request: web.Request) -> web.Response:
    """`GET /sandbox/orders/{order}`: a stand-in for a business's order API, for the example
    flows' `call:` step. Orders starting with A are found, with S are slow (10 s), others
    are unknown (404). Like a real API it wants its bearer token (BOT_SECRET_ORDERS_TOKEN)."""
    if not matches_any(request.headers.get("Authorization"), [f"Bearer {SANDBOX_ORDERS_TOKEN}"]):
        return web.json_response({"error": "unauthorized"}, status=401)
    number = request.match_info["order"].upper()
    if number.startswith("S"):
        await asyncio.sleep(10)
    if not number.startswith("A"):
        return web.json_response({"error": f"no order {number}"}, status=404)
    return web.json_response({"order": number, "status": "on its way", "eta": "tomorrow"})


async def agent(request: web.Request) -> web.Response:
    """`POST /sandbox/agent`: a stand-in agent desk that prints what customers write."""
    body = await read_json(request, limit=SMALL_BODY, within=request.app[SETTINGS].body_timeout)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    customer = mask_id(str(body.get("customer", "")))
    print(f"[sandbox] agent desk: {customer} wrote: {body.get('text', '')}", flush=True)
    request.app[SANDBOX_AGENT].append(body)
    return web.json_response({"ok": True})


async def agent_inbox(request: web.Request) -> web.Response:
    """`GET /sandbox/agent`: what the sandbox agent desk received."""
    return web.json_response(request.app[SANDBOX_AGENT])


def routes() -> list[web.RouteDef]:
    return [
        web.get("/sandbox/messages", messages),
        web.get("/sandbox/tencent/messages", tencent_messages),
        web.get("/sandbox/orders/{order}", order),
        web.post("/sandbox/agent", agent, expect_handler=expect_body),
        web.get("/sandbox/agent", agent_inbox),
    ]
