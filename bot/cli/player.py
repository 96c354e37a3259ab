"""The customer player: `bot say` plays a customer writing in (a CAMS receipt push, or a
signed Tencent Chat callback), `bot trigger` plays CAMS calling the business system; both
against a running server, printing the replies its sandbox received."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

from bot.cli.sources import load_settings
from bot.errors import Unreachable
from bot.phones import lookup_form
from bot.settings import SANDBOX_SECRET, SANDBOX_TENCENT_APP


def cmd_say(args: argparse.Namespace) -> int:
    if args.platform == "tencent":
        return _tencent_say(args)
    business = args.business.lstrip("+")
    item: dict[str, Any] = {
        "MessageId": uuid.uuid4().hex,
        "From": args.customer,
        "To": business,
        "Timestamp": int(time.time() * 1000),
        "DisplayName": "Sandbox customer",
    }
    if args.payload is not None:
        item.update(Type="REPLY", Message=json.dumps({"text": args.text, "payload": args.payload}))
    else:
        item.update(Type="TEXT", Message=args.text)
    print(f"you  > {args.text}")
    path = f"/cams/receipts?token={args.token}"
    return asyncio.run(_play(args, path, [item], {}))


def _tencent_say(args: argparse.Namespace) -> int:
    """Play a Tencent Chat user writing to the bot: a signed C2C.CallbackAfterSendMsg."""
    from urllib.parse import urlencode

    from bot.platforms.tencent.auth import sign

    settings = load_settings()
    # The configured app and token, else the sandbox's published ones (`bot say` plays
    # against a sandbox unless told otherwise, as --token does for CAMS).
    tokens = [s.get_secret_value() for s in settings.tencent_callback_token]
    sdkappid = settings.tencent_sdkappid or SANDBOX_TENCENT_APP
    token = args.tencent_token or (tokens[0] if tokens else SANDBOX_SECRET)
    now = int(time.time())
    seq, rnd = now % 100000, uuid.uuid4().int % 2**32
    element: dict[str, Any] = {"MsgType": "TIMTextElem", "MsgContent": {"Text": args.text}}
    if args.payload is not None:
        element = {
            "MsgType": "TIMCustomElem",
            "MsgContent": {"Data": args.payload, "Desc": args.text, "Ext": ""},
        }
    body = {
        "CallbackCommand": "C2C.CallbackAfterSendMsg",
        "From_Account": args.customer,
        "To_Account": settings.tencent_identifier,
        "MsgSeq": seq,
        "MsgRandom": rnd,
        "MsgTime": now,
        "MsgKey": f"{seq}_{rnd}_{now}",
        "OnlineOnlyFlag": 0,
        "MsgBody": [element],
        "SendMsgResult": 0,
        "EventTime": now * 1000,
    }
    query = urlencode(
        {
            "SdkAppid": sdkappid,
            "CallbackCommand": "C2C.CallbackAfterSendMsg",
            "contenttype": "json",
            "ClientIP": "127.0.0.1",
            "OptPlatform": "Android",
            "RequestTime": str(now),
            "Sign": sign(token, str(now)),
        }
    )
    print(f"you  > {args.text}")
    return asyncio.run(_play(args, f"/tencent/callback?{query}", body, {}))


def cmd_trigger(args: argparse.Namespace) -> int:
    data: dict[str, str] = {}
    for pair in args.data or ():
        key, sep, value = pair.partition("=")
        if not sep:
            print(f"--data expects KEY=VALUE, got {pair!r}", file=sys.stderr)
            return 2
        data[key] = value
    body = {
        "intentCode": args.code,
        "phoneNumber": args.customer,
        "intentData": data,
        "messageId": uuid.uuid4().hex,
    }
    print(f"(the business triggers {args.code} for {args.customer})")
    return asyncio.run(_play(args, "/cams/business", body, {"Signature": args.signature}))


def server_url(args: argparse.Namespace) -> str:
    """Where the players find the server: --url, else the address `bot serve` listens on by
    the same settings (BOT_HOST, BOT_PORT, BOT_TLS_CERT)."""
    if args.url:
        return str(args.url).rstrip("/")
    settings = load_settings()
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # every address: this machine's own is one of them
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.tls_cert is not None else "http"
    return f"{scheme}://{host}:{settings.port}"


async def _play(args: argparse.Namespace, path: str, body: Any, headers: dict[str, str]) -> int:
    import aiohttp

    url = server_url(args)
    try:
        return await _play_at(url, args, path, body, headers)
    except (aiohttp.ClientConnectionError, TimeoutError) as e:
        raise unreachable(url, e) from None


def unreachable(url: str, e: Exception) -> Unreachable:
    """What a command says when the server at `url` did not answer (`e`)."""
    reason = "no answer in time" if isinstance(e, TimeoutError) else type(e).__name__
    return Unreachable(
        f"cannot reach the server at {url} ({reason}): is `bot serve` running there? "
        "Give its address with --url, or BOT_HOST and BOT_PORT"
    )


async def _play_at(
    url: str, args: argparse.Namespace, path: str, body: Any, headers: dict[str, str]
) -> int:
    import aiohttp

    from bot.web.sandbox import describe, describe_tencent

    tencent = getattr(args, "platform", "cams") == "tencent"
    customer = args.customer if tencent else lookup_form(args.customer)
    show = describe_tencent if tencent else describe
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        seen_url = f"{url}/sandbox/{'tencent/' if tencent else ''}messages"
        async with http.get(seen_url, params={"to": customer}) as r:
            if r.status == 404:
                print(
                    "this server is not in sandbox mode: replies cannot be shown", file=sys.stderr
                )
                before = None
            else:
                before = len(await r.json())
        async with http.post(f"{url}{path}", json=body, headers=headers) as r:
            answer = await r.text()
            if r.status != 200:
                print(f"server answered {r.status}: {answer}", file=sys.stderr)
                return 1
        if before is None:
            return 0
        deadline = time.monotonic() + args.wait
        quiet_until = None
        got: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            async with http.get(seen_url, params={"to": customer}) as r:
                now = (await r.json())[before:]
            if len(now) > len(got):
                got, quiet_until = now, time.monotonic() + 0.4
            elif quiet_until is not None and time.monotonic() >= quiet_until:
                break
            await asyncio.sleep(0.05)
    if not got:
        print("bot  > (no reply)")
    for message in got:
        lines = show(message).splitlines() or [""]
        print("bot  > " + "\n       ".join(lines))
    return 0
