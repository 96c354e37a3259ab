"""Sandbox mode: the send API is a built-in fake CAMS on loopback that prints each reply,
and `GET /sandbox/messages` shows what it received (the `bot say` command reads it)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

from aiohttp import web

from bot.log import mask_number
from bot.web.keys import SANDBOX_MESSAGES


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
    titles = [b["reply"]["title"] for b in action.get("buttons", ())]
    titles += [r["title"] for s in action.get("sections", ()) for r in s.get("rows", ())]
    return str(body) + "".join(f" [{t}]" for t in titles)


def print_message(message: Mapping[str, str]) -> None:
    to = mask_number(message.get("To", ""))
    for i, line in enumerate(describe(message).splitlines() or [""]):
        prefix = f"[sandbox] to {to}: " if i == 0 else " " * (len(to) + 15)
        print(prefix + line, file=sys.stdout, flush=True)


async def messages(request: web.Request) -> web.Response:
    """`GET /sandbox/messages[?to=NUMBER]`: every reply the sandbox received, oldest first."""
    recorded: list[dict[str, str]] = request.app[SANDBOX_MESSAGES]
    to = request.query.get("to", "").lstrip("+")
    return web.json_response([m for m in recorded if not to or m.get("To", "").lstrip("+") == to])
