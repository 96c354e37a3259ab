"""`bot campaign`: campaigns through a running server's API (docs/campaigns.md): `start`
uploads a CSV of recipients and follows the campaign with a progress bar; `status`, `list`,
`pause`, `resume`, `cancel`. The key is the first of BOT_API_KEYS (`--api-key` otherwise);
the server's address as `bot say` finds it (`--url`)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from bot.campaign import turns_ended
from bot.cli.player import server_url, unreachable
from bot.cli.sources import load_settings
from bot.errors import ConfigError, ServerRefused

POLL = 0.5  # seconds between two reads of a campaign's counts
DONE = ("done", "cancelled")
OPTIONS = ("rate", "start_at", "end_by", "quiet_hours", "timezone", "mid_flow", "category",
           "skip_if_messaged_within_hours", "name", "business", "channel")  # fmt: skip


def cmd_campaign(args: argparse.Namespace) -> int:
    return asyncio.run(campaign_command(args, out=sys.stdout))


async def campaign_command(args: argparse.Namespace, *, out: TextIO) -> int:
    import aiohttp

    url = server_url(args)
    key = args.api_key or _api_key()
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with aiohttp.ClientSession(
            base_url=url, headers=headers, timeout=aiohttp.ClientTimeout(total=60)
        ) as http:
            return await _run(http, args, out)
    except (aiohttp.ClientConnectionError, TimeoutError) as e:
        raise unreachable(url, e) from None


def _api_key() -> str:
    keys = load_settings().api_key_values()
    if not keys:
        raise ConfigError("no API key: set BOT_API_KEYS (its first key is used) or give --api-key")
    return keys[0]


async def _call(http: Any, method: str, path: str, **kwargs: Any) -> Any:
    async with http.request(method, path, **kwargs) as r:
        body = await r.json(content_type=None) if r.content_length != 0 else {}
        if r.status >= 400:
            reason = body.get("msg", "") if isinstance(body, dict) else ""
            raise ServerRefused(f"{r.status}: {reason or r.reason}")
        return body


async def _run(http: Any, args: argparse.Namespace, out: TextIO) -> int:
    try:
        if args.action == "start":
            return await _start(http, args, out)
        if args.action == "list":
            listed = await _call(http, "GET", "/v1/campaigns", params={"limit": "50"})
            return _print_list(listed["campaigns"], as_json=args.json, out=out)
        if args.action == "status":
            found = await _call(http, "GET", f"/v1/campaigns/{args.id}")
            print(json.dumps(found, indent=2) if args.json else _summary(found), file=out)
            return 0
        moved = await _call(http, "POST", f"/v1/campaigns/{args.id}/{args.action}", json={})
        extra = f" ({moved['cancelled']} pending cancelled)" if "cancelled" in moved else ""
        print(f"campaign {args.id}: {moved['status']}{extra}", file=out)
        return 0
    except ServerRefused as e:
        print(f"bot campaign {args.action}: refused: {e}", file=sys.stderr)
        return 1


def _start_params(args: argparse.Namespace) -> dict[str, str]:
    params = {"intent": args.intent}
    for name in OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            params[name] = str(value)
    return params


async def _start(http: Any, args: argparse.Namespace, out: TextIO) -> int:
    body = await asyncio.to_thread(Path(args.file).read_bytes)
    params = _start_params(args)
    # The same file and options make the same key: a start repeated after a failure (or
    # by mistake) finds the campaign it made instead of making another.
    key = (
        args.key
        or "cli:"
        + hashlib.sha256(body + json.dumps(params, sort_keys=True).encode()).hexdigest()[:40]
    )
    made = await _call(
        http, "POST", "/v1/campaigns", params=params, data=body,
        headers={"Content-Type": "text/csv", "Idempotency-Key": key},
    )  # fmt: skip
    campaign = made["campaign"]
    again = " (made before: the same file and options)" if made.get("repeat") else ""
    print(f"campaign {campaign}: {made['recipients']} recipients, {made['status']}{again}",
          file=out)  # fmt: skip
    if args.no_wait:
        return 0
    return await follow(http, campaign, out)


async def follow(http: Any, campaign: str, out: TextIO) -> int:
    """Show the campaign's progress until it is done or cancelled (Ctrl-C stops following,
    not the campaign)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=out)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
               TimeRemainingColumn())  # fmt: skip
    found = await _call(http, "GET", f"/v1/campaigns/{campaign}")
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(campaign, total=found["recipients"], detail="")
            while True:
                progress.update(task, completed=turns_ended(found["counts"]),
                                detail=_detail(found))  # fmt: skip
                if found["status"] in DONE:
                    break
                await asyncio.sleep(POLL)
                found = await _call(http, "GET", f"/v1/campaigns/{campaign}")
    except KeyboardInterrupt:  # a person at a terminal stops following
        print(f"\nstill {found['status']}: `bot campaign status {campaign}`", file=out)
    print(_summary(found), file=out)
    return 0


def _detail(found: dict[str, Any]) -> str:
    counts = found["counts"]
    skipped = sum((counts.get("skipped") or {}).values())
    return f"{found['status']}: {counts.get('started', 0)} started, {skipped} skipped"


def _summary(found: dict[str, Any]) -> str:
    counts = found["counts"]
    skipped = counts.get("skipped") or {}
    why = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())) or "none"
    failed = ", ".join(f"{code} {n}" for code, n in sorted((counts.get("failed") or {}).items()))
    failed = failed or "none"
    lines = [
        f"campaign {found['id']} ({found.get('name') or found['intent']}): {found['status']}",
        f"  recipients {found['recipients']}: pending {counts.get('pending', 0)}, "
        f"started {counts.get('started', 0)}, cancelled {counts.get('cancelled', 0)}",
        f"  skipped: {why}",
        f"  first messages: sent {counts.get('sent', 0)}, delivered "
        f"{counts.get('delivered', 0)}, read {counts.get('read', 0)}, failed {failed}",
        f"  since: replied {counts.get('replied', 0)}, opted out "
        f"{counts.get('opted_out', 0)}, of marketing {counts.get('opted_out_marketing', 0)}",
    ]
    return "\n".join(lines)


def _print_list(campaigns: list[dict[str, Any]], *, as_json: bool, out: TextIO) -> int:
    if as_json:
        print(json.dumps(campaigns, indent=2), file=out)
        return 0
    if not campaigns:
        print("no campaigns", file=out)
    for c in campaigns:
        ended = turns_ended(c["counts"])
        print(f"{c['id']}  {c['status']:<9}  {c['intent']:<24}  "
              f"{ended}/{c['recipients']}  {c.get('name') or ''}", file=out)  # fmt: skip
    return 0


def add_parser(sub: Any) -> None:
    """`bot campaign ...` on the command line."""
    c = sub.add_parser("campaign", help="start and follow campaigns on a running server")
    actions = c.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="the server's base URL (default: BOT_HOST and BOT_PORT)")
        p.add_argument("--api-key", help="an API key (default: the first of BOT_API_KEYS)")
        p.set_defaults(func=cmd_campaign)

    s = actions.add_parser("start", help="upload a CSV of recipients and follow the campaign")
    s.add_argument("file", help="CSV: a `customer` column, an optional `tz`, data columns")
    s.add_argument("--intent", required=True, help="the intent each recipient gets")
    s.add_argument("--rate", type=float, help="first messages per second (default 10)")
    s.add_argument("--start-at", dest="start_at", help="ISO 8601 time of the first")
    s.add_argument("--end-by", dest="end_by", help="ISO 8601 time after which none is sent")
    s.add_argument("--quiet-hours", dest="quiet_hours", help="local hours, e.g. 21:00-08:00")
    s.add_argument("--timezone", help="zone of recipients whose number tells none")
    s.add_argument("--mid-flow", dest="mid_flow", choices=("skip", "queue"))
    s.add_argument("--category", choices=("marketing", "utility", "authentication"),
                   help="its template's kind (default: its catalogue's)")  # fmt: skip
    s.add_argument("--skip-recent", dest="skip_if_messaged_within_hours", type=float,
                   metavar="HOURS", help="skip customers messaged within HOURS")  # fmt: skip
    s.add_argument("--name", help="a name for the list")
    s.add_argument("--business", help="the business number to send from")
    s.add_argument("--key", help="Idempotency-Key (default: made from the file and options)")
    s.add_argument("--no-wait", action="store_true", help="do not follow its progress")
    common(s)
    lst = actions.add_parser("list", help="the latest campaigns")
    lst.add_argument("--json", action="store_true")
    common(lst)
    st = actions.add_parser("status", help="one campaign's counts")
    st.add_argument("id")
    st.add_argument("--json", action="store_true")
    common(st)
    for action, what in (("pause", "stop starting recipients"), ("resume", "go on"),
                         ("cancel", "count everyone pending cancelled")):  # fmt: skip
        a = actions.add_parser(action, help=what)
        a.add_argument("id")
        common(a)
