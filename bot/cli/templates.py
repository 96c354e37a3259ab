"""`bot templates sync`: flows.yaml's catalogue of the account's templates (`templates:`)
beside the templates CAMS has (ListChatappTemplate, then GetChatappTemplateDetail for each
one the catalogue names): for each code and language, whether CAMS has it, approved, of the
same category, with the same parameters and header. Nothing is changed at CAMS or here."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from bot.cli.sources import compiled_catalog, flow_sources, load_settings
from bot.flows.spec import MEDIA_HEADERS, TemplateEntry
from bot.log import escape
from bot.model import DEFAULT_ACCOUNT
from bot.platforms.cams.templates import button_variables, header_of, header_variable, variables
from bot.settings import cams_accounts

# What the audit statuses of CAMS mean, for people.
STATUSES = {"pass": "approved", "auditing": "in review", "fail": "rejected",
            "unaudit": "review paused"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Line:
    """One template in one language: `ok` when CAMS has it approved as written here;
    `says` what differs, or what it is."""

    code: str
    language: str
    ok: bool
    says: str
    here: bool = True  # in the catalogue (else at CAMS alone)


def _said(value: object) -> str:
    """A value CAMS answered, for a terminal: control characters escaped, cut to 64."""
    return escape(str(value)[:64])


def compare(
    catalogue: Mapping[str, TemplateEntry],
    listed: Sequence[Mapping[str, Any]],
    details: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Line]:
    """Each code and language of the catalogue against CAMS's `listed` templates and the
    `details` read of those the catalogue names; then those CAMS has that it does not."""
    # What CAMS says reaches a terminal: its control characters escaped, each value cut.
    at_cams = {(_said(t.get("TemplateCode", "")), _said(t.get("Language", ""))): t
               for t in listed}  # fmt: skip
    lines = []
    for code, entry in sorted(catalogue.items()):
        for language in entry.languages:
            remote = at_cams.get((code, language))
            if remote is None:
                lines.append(Line(code, language, False, "not at CAMS"))
                continue
            detail = {**remote, **details.get((code, language), {})}
            problems = []
            status = _said(detail.get("AuditStatus", "")).lower()
            if status != "pass":
                problems.append(f"{STATUSES.get(status, status or 'no status')} at CAMS, "
                                "not approved")  # fmt: skip
            category = _said(detail.get("Category", "")).lower()
            if category and category != entry.category:
                problems.append(f"{category} at CAMS, {entry.category} here")
            if "Components" in detail:
                problems += _differences(entry, detail)
            said = "; ".join(problems) or (
                f"approved, {entry.category}, parameters {', '.join(entry.params) or 'none'}"
            )
            lines.append(Line(code, language, not problems, said))
    for (code, language), remote in sorted(at_cams.items()):
        if code not in catalogue or language not in catalogue[code].languages:
            status = _said(remote.get("AuditStatus", "")).lower()
            lines.append(Line(code, language, True, f"at CAMS ({STATUSES.get(status, status)}, "
                              f"{_said(remote.get('Category', '?')).lower()}), not in "
                              "templates:", here=False))  # fmt: skip
    return lines


def _differences(entry: TemplateEntry, detail: Mapping[str, Any]) -> list[str]:
    """What a template's components at CAMS say otherwise than its catalogue entry: its
    variables (its URL buttons' apart), its header, the variable of a media header's URL."""
    problems = []
    buttons = [_said(v) for v in button_variables(detail)]
    theirs = [_said(v) for v in variables(detail) if _said(v) not in buttons]
    if sorted(theirs) != sorted(entry.params):
        problems.append(f"parameters at CAMS {', '.join(theirs) or 'none'}; here "
                        f"{', '.join(entry.params) or 'none'}")  # fmt: skip
    if sorted(buttons) != sorted(entry.button_params):
        here = ", ".join(entry.button_params) or "none"
        problems.append(f"URL button parameters at CAMS {', '.join(buttons) or 'none'}; here "
                        f"{here} (`button_params:`)")  # fmt: skip
    header = _said(header_of(detail))
    if header != entry.header:
        problems.append(f"header at CAMS {header}, here {entry.header}")
    named = header_variable(detail)
    if named is not None and entry.header in MEDIA_HEADERS and _said(named) != entry.header_param:
        problems.append(f"header URL at CAMS as {_said(named)}, here as {entry.header_param} "
                        "(`header_param:`)")  # fmt: skip
    return problems


async def read_cams(
    catalogue: Mapping[str, TemplateEntry], client: Any
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """The account's list, and the details of the templates the catalogue names."""
    listed = await client.templates()
    have = {(str(t.get("TemplateCode")), str(t.get("Language"))) for t in listed}
    details = {}
    for code, entry in catalogue.items():
        for language in entry.languages:
            if (code, language) in have:
                details[(code, language)] = await client.template_detail(code, language)
    return listed, details


def cmd_templates(args: argparse.Namespace) -> int:
    return asyncio.run(sync(args, out=sys.stdout))


async def sync(args: argparse.Namespace, *, out: TextIO) -> int:
    import aiohttp

    from bot.errors import CamsCallError
    from bot.platforms.cams.client import CamsClient

    settings = load_settings()
    catalog = compiled_catalog(*flow_sources(args))
    if not catalog.templates:
        print("flows.yaml has no `templates:`: nothing to compare (docs/flows.md)", file=out)
        return 1
    endpoint = settings.cams_endpoint
    name = (args.account or DEFAULT_ACCOUNT).strip().lower()  # BRAND_B is brand_b
    if name != DEFAULT_ACCOUNT:
        account = cams_accounts(os.environ, settings.cams_endpoint).get(name)
        if account is None:
            print(f"no CAMS account {name}: set BOT_CAMS_ACCOUNT_"
                  f"{name.upper()}_ACCESS_KEY_ID and _ACCESS_KEY_SECRET",
                  file=out)  # fmt: skip
            return 2
        key_id, secret, endpoint = (
            account.access_key_id,
            account.access_key_secret,
            account.endpoint,
        )
    elif settings.cams_access_key_id is None and not settings.sandbox_mode:
        print("no CAMS account: set BOT_CAMS_ACCESS_KEY_ID and BOT_CAMS_ACCESS_KEY_SECRET",
              file=out)  # fmt: skip
        return 2
    else:
        key_id, secret = settings.cams_credentials()
    async with aiohttp.ClientSession() as session:
        client = CamsClient(session, endpoint=args.endpoint or endpoint,
                            access_key_id=key_id, access_key_secret=secret)  # fmt: skip
        try:
            listed, details = await read_cams(catalog.templates, client)
        except CamsCallError as e:
            print(f"CAMS refused: {e}", file=out)
            return 2
    lines = compare(catalog.templates, listed, details)
    if args.json:
        print(json.dumps([asdict(line) for line in lines], indent=2), file=out)
    else:
        for line in lines:
            mark = "ok  " if line.ok and line.here else "note" if not line.here else "DIFF"
            print(f"{mark}  {line.code} {line.language}: {line.says}", file=out)
        mine = [line for line in lines if line.here]
        good = sum(line.ok for line in mine)
        print(f"{good} of {len(mine)} templates of flows.yaml are at CAMS, approved, as "
              "written", file=out)  # fmt: skip
    return 0 if all(line.ok for line in lines) else 1


def add_parser(sub: Any) -> None:
    t = sub.add_parser("templates", help="the account's templates at CAMS beside flows.yaml's")
    actions = t.add_subparsers(dest="action", required=True)
    s = actions.add_parser(
        "sync", help="compare flows.yaml's `templates:` with CAMS's; exit 1 on a difference"
    )
    s.add_argument("--flows", help="flows file (default BOT_FLOWS or flows.yaml)")
    s.add_argument("--intents", help="intents folder (default BOT_INTENTS or intents/)")
    s.add_argument("--endpoint", help="the CAMS API's base URL (default BOT_CAMS_ENDPOINT)")
    s.add_argument(
        "--account",
        metavar="NAME",
        help="the CAMS account to ask (a NAME of BOT_CAMS_ACCOUNT_<NAME>_*; default: the "
        "account of BOT_CAMS_ACCESS_KEY_ID)",
    )
    s.add_argument("--json", action="store_true", help="print the comparison as JSON")
    s.set_defaults(func=cmd_templates)
