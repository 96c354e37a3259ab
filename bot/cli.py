"""The `bot` command: serve, check flows, and play the customer against a running server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot import __version__
from bot.errors import ConfigError, SpecError
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.phones import lookup_form
from bot.settings import (
    SANDBOX_BUSINESS,
    SANDBOX_SECRET,
    SANDBOX_TENCENT_APP,
    Settings,
    call_secrets,
    settings_problems,
)
from bot.store import RedisError

DEMO_CUSTOMER = "+8613900000001"


def load_env_file() -> None:
    """The variables of BOT_ENV_FILE (default `.env` in the current folder, when there is
    one) into the environment; a variable the environment already has keeps its value."""
    path = os.environ.get("BOT_ENV_FILE", ".env")
    if not path:
        return
    if not Path(path).is_file():
        if "BOT_ENV_FILE" in os.environ:
            raise ConfigError(f"BOT_ENV_FILE={path}: no such file")
        return
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(settings_problems(e)) from None


def _sources(args: argparse.Namespace) -> tuple[Path, Path]:
    """The flows file (a positional path, --flows, else BOT_FLOWS) and the intents folder
    (--intents, else BOT_INTENTS, else the `intents/` beside a flows file named here)."""
    settings = _settings()
    named = getattr(args, "path", None) or args.flows
    flows = Path(named) if named else settings.flows
    if args.intents:
        intents = Path(args.intents)
    elif named and "intents" not in settings.model_fields_set:
        intents = flows.parent / "intents"
    else:
        intents = settings.intents
    return flows, intents


def _server_url(args: argparse.Namespace) -> str:
    """Where the players (`bot say`, `bot trigger`) find the server: --url, else the address
    `bot serve` listens on by the same settings (BOT_HOST, BOT_PORT, BOT_TLS_CERT)."""
    if args.url:
        return str(args.url).rstrip("/")
    settings = _settings()
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # every address: this machine's own is one of them
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.tls_cert is not None else "http"
    return f"{scheme}://{host}:{settings.port}"


def _catalog(flows: Path, intents: Path) -> CompiledCatalog:
    return compile_catalog(load_catalog(flows, intents))


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot import log
    from bot.app import create_app
    from bot.local import supervisor
    from bot.local.tls import server_ssl_context

    settings = _settings(host=args.host, port=args.port, workers=args.workers)
    settings.check()
    ssl_context = server_ssl_context(settings)
    log.setup(settings.log_level, settings.log_format)
    catalog = _catalog(settings.flows, settings.intents)
    worker = supervisor.worker_number()  # None unless this is one of `--workers N`
    if worker is None:
        _serve_banner(settings, catalog, https=ssl_context is not None)
        if settings.workers > 1:
            return supervisor.supervise(settings)
    else:
        supervisor.log.info("worker %d serving (pid %d)", worker, os.getpid())
    app = create_app(
        settings,
        catalog,
        secrets=call_secrets(os.environ),
        reload=lambda: _catalog(settings.flows, settings.intents),
    )
    app.on_startup.append(supervisor.settle_gc)  # after the app's own start-up: its resources
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context,
        reuse_port=worker is not None or None,  # the workers share the port
        print=None,
        access_log=None,
        shutdown_timeout=settings.drain_seconds,
        loop=_event_loop(),
    )
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (Linux, macOS), asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _serve_banner(settings: Settings, catalog: CompiledCatalog, *, https: bool) -> None:
    mode = "sandbox" if settings.sandbox_mode else "live"
    print(
        f"bot: {len(catalog.flows)} flows, {len(catalog.intents)} intents from {settings.flows} "
        f"and {settings.intents}; {mode} mode; listening on "
        f"{'https' if https else 'http'}://{settings.host}:{settings.port}",
        flush=True,
    )
    if settings.sandbox_mode:
        print(
            "bot: SANDBOX MODE (BOT_SANDBOX=true): not for real customers. Replies go to a "
            "fake CAMS and are printed;\n"
            f"bot: the published value {SANDBOX_SECRET!r} is taken as the receipt token, the "
            "business Signature and the API key where those are unset.\n"
            "bot: play the customer with `bot say TEXT` in another terminal",
            flush=True,
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cmd_check(args: argparse.Namespace) -> int:
    from bot.flows.loader import Catalog, load_flows
    from bot.flows.tools.lint import lint, lint_against

    flows, intents = _sources(args)
    source = load_catalog(flows, intents)
    catalog = compile_catalog(source)
    findings = lint(source)
    if args.against:
        old, root, problems = load_flows(Path(args.against))
        if problems or old is None:
            raise SpecError(problems)
        findings += lint_against(Catalog(old, {}, args.against, flows_root=root), source)
    for finding in findings:
        print(finding)
    unset = _list_secrets(flows, catalog)
    states = sum(len(f.states) for f in catalog.flows.values())
    counts = f"{len(catalog.flows)} flows, {states} states; {len(catalog.intents)} intents"
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if errors or (args.strict and (warnings or unset)):
        print(f"{flows}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}: {counts}")
        return 1
    print(f"{flows}: ok: {counts}" + (f"; {_plural(warnings, 'warning')}" if warnings else ""))
    return 0


def _list_secrets(flows: Path, catalog: CompiledCatalog) -> int:
    """Print the secrets the flows name and whether each is set here; the number unset.
    `bot serve` refuses to start while one is unset; here it fails only `--strict`."""
    if not catalog.secrets:
        return 0
    known = call_secrets(os.environ)
    shown = [
        f"BOT_SECRET_{name} ({'set' if name in known else 'not set'})"
        for name in sorted(catalog.secrets)
    ]
    print(f"{flows}: secrets the flows name: {', '.join(shown)}")
    return sum(name not in known for name in catalog.secrets)


def cmd_graph(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    from bot.flows.tools.graph import dot, mermaid, mermaid_markdown

    flows, intents = _sources(args)
    source = load_catalog(flows, intents)
    catalog = compile_catalog(source)
    if args.flow is not None and args.flow not in catalog.flows:
        print(
            f"bot graph: {flows} has no flow `{args.flow}`; its flows: " + ", ".join(catalog.flows),
            file=sys.stderr,
        )
        return 2
    chosen = [catalog.flows[args.flow]] if args.flow else list(catalog.flows.values())
    if args.format == "mermaid":
        about = {name: f.description for name, f in source.flows.flows.items()}
        text = mermaid(chosen[0]) if len(chosen) == 1 else mermaid_markdown(chosen, about)
        data = text.encode()
    elif args.format == "dot":
        data = dot(chosen).encode()
    else:
        exe = shutil.which("dot")
        if exe is None:
            print(
                f"bot graph: --format {args.format} needs Graphviz's `dot` command, which is not "
                "installed (e.g. `apt-get install graphviz`); --format mermaid or dot needs "
                "nothing",
                file=sys.stderr,
            )
            return 2
        # S603: the argument list is fixed and the DOT text is passed on stdin, not a shell.
        done = subprocess.run(  # noqa: S603
            [exe, f"-T{args.format}"], input=dot(chosen).encode(), capture_output=True, check=False
        )
        if done.returncode != 0:
            print(f"bot graph: dot failed: {done.stderr.decode().strip()}", file=sys.stderr)
            return 2
        data = done.stdout
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


# What `bot init` writes: the starter project of bot/starter, as (where in the package, where
# in the new project). `env.example` is `.env.example` there (a package keeps no dot files).
STARTER = (
    ("flows.yaml", "flows.yaml"),
    ("intents/order_shipped.yaml", "intents/order_shipped.yaml"),
    ("flow_tests/welcome.yaml", "flow_tests/welcome.yaml"),
    ("env.example", ".env.example"),
)


def cmd_init(args: argparse.Namespace) -> int:
    """Write the starter project into DIR (made if need be); never overwrite a file."""
    from importlib.resources import files

    root = Path(args.dir)
    taken = [target for _source, target in STARTER if (root / target).exists()]
    if taken:
        print(
            f"bot init: {root} already has {', '.join(taken)}: nothing written (choose an "
            "empty folder, or move them away)",
            file=sys.stderr,
        )
        return 1
    starter = files("bot") / "starter"
    for source, target in STARTER:
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter.joinpath(source).read_text(encoding="utf-8"), encoding="utf-8")
        print(f"wrote {path}")
    where = "" if root.resolve() == Path.cwd().resolve() else f"cd {args.dir} && "
    print(
        f"next: {where}bot check && bot test; then `BOT_SANDBOX=true bot serve` and, in "
        "another terminal, `bot say hi`"
    )
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from bot.settings import settings_table

    sys.stdout.write(settings_table())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from bot.flows.tools.schema import schema_text

    sys.stdout.write(schema_text())
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot import log
    from bot.chat import run_chat

    log.setup("ERROR")  # the chat prints the conversation; only failures besides it
    flows, intents = _sources(args)
    catalog = _catalog(flows, intents)

    def read_line() -> str | None:
        try:
            return input()
        except EOFError:
            return None

    return asyncio.run(
        run_chat(
            catalog,
            args.flow,
            customer=args.customer.lstrip("+"),
            secrets=call_secrets(os.environ),
            read_line=read_line,
        )
    )


def cmd_test(args: argparse.Namespace) -> int:
    from bot.flows.tools.flowtest import run_cli

    flows, intents = _sources(args)
    return run_cli(
        [Path(p) for p in args.paths or ["flow_tests"]],
        _catalog(flows, intents),
        sys.stdout,
        coverage=args.coverage,
        min_coverage=args.min_coverage,
        name=args.k,
        all_flows=not args.paths and not args.k,
    )


async def _play(args: argparse.Namespace, path: str, body: Any, headers: dict[str, str]) -> int:
    import aiohttp

    url = _server_url(args)
    try:
        return await _play_at(url, args, path, body, headers)
    except (aiohttp.ClientConnectionError, TimeoutError) as e:
        reason = "no answer in time" if isinstance(e, TimeoutError) else type(e).__name__
        raise Unreachable(
            f"cannot reach the server at {url} ({reason}): is `bot serve` running there? "
            "Give its address with --url, or BOT_HOST and BOT_PORT"
        ) from None


class Unreachable(Exception):
    """The server a player talks to did not answer: one line for the user, exit 1."""


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


def _tencent_say(args: argparse.Namespace) -> int:
    """Play a Tencent Chat user writing to the bot: a signed C2C.CallbackAfterSendMsg."""
    from urllib.parse import urlencode

    from bot.platforms.tencent.auth import sign

    settings = _settings()
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


def cmd_stats(args: argparse.Namespace) -> int:
    from bot import ops

    settings = _settings()

    async def run() -> int:
        async with ops.open_store(settings) as store:
            return await ops.stats_command(store, as_json=args.json, out=sys.stdout)

    return asyncio.run(run())


def _dead_letter_id(text: str) -> str:
    from bot.ops import dead_letter_id

    return dead_letter_id(text)


def cmd_dlq(args: argparse.Namespace) -> int:
    from bot import ops

    settings = _settings()
    ids = getattr(args, "ids", None)
    if args.action != "list" and bool(ids) == args.all:
        print(f"bot dlq {args.action}: name dead letter ids, or --all", file=sys.stderr)
        return 2

    async def run() -> int:
        async with ops.open_store(settings) as store:
            return await ops.dlq_command(
                store,
                args.action,
                ids=None if getattr(args, "all", False) else ids,
                limit=getattr(args, "limit", 50),
                as_json=getattr(args, "json", False),
                yes=getattr(args, "yes", False),
                out=sys.stdout,
            )

    return asyncio.run(run())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bot",
        description="Conversation server for business messaging (CAMS, Tencent Chat). Settings "
        "come from BOT_* environment variables (and a .env file); see README.md.",
    )
    p.add_argument("--version", action="version", version=f"bot {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the server (sandbox mode without CAMS credentials)")
    s.add_argument("--host", help="address to listen on (BOT_HOST)")
    s.add_argument("--port", type=int, help="port to listen on (BOT_PORT)")
    s.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes sharing the port (BOT_WORKERS, default 1)",
    )
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("check", help="validate flows.yaml and intents/; exit 1 on problems")
    c.add_argument(
        "path", nargs="?", metavar="FLOWS", help="flows file (default BOT_FLOWS or flows.yaml)"
    )
    c.add_argument("--flows", help="the same, as an option")
    c.add_argument("--intents", help="intents folder (default BOT_INTENTS or intents/)")
    c.add_argument(
        "--against",
        metavar="OLD_FLOWS_FILE",
        help="the flows file now live: report states whose conversations a change would end",
    )
    c.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on warnings too, and on a {{ secret.NAME }} whose BOT_SECRET_NAME is unset",
    )
    c.set_defaults(func=cmd_check)

    g = sub.add_parser("graph", help="draw flows as Mermaid state diagrams (or SVG/PNG via dot)")
    g.add_argument("flow", nargs="?", help="one flow (default: all, as Markdown for Mermaid)")
    g.add_argument("--flows", help="flows file (default BOT_FLOWS or flows.yaml)")
    g.add_argument("--intents", help="intents folder (default BOT_INTENTS or intents/)")
    g.add_argument(
        "--format",
        choices=("mermaid", "dot", "svg", "png"),
        default="mermaid",
        help="mermaid (default) or dot text; svg or png need Graphviz's `dot`",
    )
    g.add_argument("--output", metavar="FILE", help="write here instead of to stdout")
    g.set_defaults(func=cmd_graph)

    i = sub.add_parser(
        "init", help="write a starter project (flows, an intent, flow tests, .env.example)"
    )
    i.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where (default: here)")
    i.set_defaults(func=cmd_init)

    st_ = sub.add_parser(
        "settings", help="print the table of every BOT_* setting, its default and meaning"
    )
    st_.set_defaults(func=cmd_settings)

    m = sub.add_parser("schema", help="print the JSON Schema of flows.yaml (flows.schema.json)")
    m.set_defaults(func=cmd_schema)

    e = sub.add_parser("test", help="run conversation tests offline; exit 1 when one fails")
    e.add_argument("paths", nargs="*", help="test files or folders (default flow_tests/)")
    e.add_argument("--flows", help="flows file (default BOT_FLOWS or flows.yaml)")
    e.add_argument("--intents", help="intents folder (default BOT_INTENTS or intents/)")
    e.add_argument(
        "--coverage",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print the flow coverage table (default on)",
    )
    e.add_argument(
        "--min-coverage", type=float, metavar="PCT", help="fail below PCT%% states or transitions"
    )
    e.add_argument("-k", metavar="TEXT", help="run only tests whose name contains TEXT")
    e.set_defaults(func=cmd_test)

    h = sub.add_parser(
        "chat",
        help="play the customer in the terminal against the real engine (private Redis, "
        "fake clock)",
    )
    h.add_argument("flow", help="the flow to start")
    h.add_argument("--customer", default=DEMO_CUSTOMER, help="the customer's phone number")
    h.add_argument("--flows", help="flows file (default BOT_FLOWS or flows.yaml)")
    h.add_argument("--intents", help="intents folder (default BOT_INTENTS or intents/)")
    h.set_defaults(func=cmd_chat)

    def player(name: str, help_: str) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help_)
        q.add_argument(
            "--url",
            help="the server's base URL (default: where `bot serve` listens by BOT_HOST and "
            "BOT_PORT, http://127.0.0.1:8080 unless they are set)",
        )
        q.add_argument("--customer", default=DEMO_CUSTOMER, help="the customer's phone number")
        q.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies")
        return q

    y = player("say", "play the customer: send TEXT to the server and print the replies")
    y.add_argument("text", help="what the customer writes, e.g. 1")
    y.add_argument("--payload", help="send as a tapped button with this payload")
    y.add_argument(
        "--platform",
        choices=("cams", "tencent"),
        default="cams",
        help="play a CAMS (WhatsApp) customer, or a Tencent Chat user (--customer is then "
        "the user's account)",
    )
    y.add_argument(
        "--tencent-token", help="the Tencent callback token (default BOT_TENCENT_CALLBACK_TOKEN)"
    )
    y.add_argument("--business", default=SANDBOX_BUSINESS, help="the business number written to")
    y.add_argument(
        "--token", default=SANDBOX_SECRET, help="the receipt token (BOT_CAMS_RECEIPT_TOKEN)"
    )
    y.set_defaults(func=cmd_say)

    t = player("trigger", "play CAMS calling the business system: start an intent")
    t.add_argument("code", help="intent code, e.g. appointment_reminder")
    t.add_argument("--data", action="append", metavar="KEY=VALUE", help="intent data")
    t.add_argument("--signature", default=SANDBOX_SECRET, help="the business-system Signature")
    t.set_defaults(func=cmd_trigger)

    where = "(Redis of BOT_REDIS_URL, else the embedded Redis of a running `bot serve`)"
    st = sub.add_parser("stats", help=f"backlogs, their ages and the counters {where}")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.set_defaults(func=cmd_stats)

    d = sub.add_parser("dlq", help=f"list, retry or drop dead letters {where}")
    dsub = d.add_subparsers(dest="action", required=True)
    dl = dsub.add_parser("list", help="dead letters of every partition, oldest first")
    dl.add_argument("--limit", type=int, default=50, metavar="N", help="show N (default 50)")
    dl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dr = dsub.add_parser(
        "retry",
        help="put dead letters back: replies into the outbox (same task id), events into "
        "the inbox; exit 1 when one is not there",
    )
    dd = dsub.add_parser(
        "drop", help="delete dead letters; without --yes only show what would be deleted"
    )
    dd.add_argument("--yes", action="store_true", help="really delete them")
    for q in (dr, dd):
        q.add_argument(
            "ids", nargs="*", type=_dead_letter_id, metavar="ID", help="e.g. 3-1700000000000-0"
        )
        q.add_argument("--all", action="store_true", help="every dead letter")
    d.set_defaults(func=cmd_dlq)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever goes wrong that is not a bug of ours ends in one line on
    stderr and a non-zero exit, never a traceback: problems in the flows (1), settings (2),
    a server or Redis that does not answer (1), output closed early (`| head`: 1)."""
    args = parser().parse_args(argv)
    try:
        load_env_file()
        code: int = args.func(args)
    except SpecError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"{len(e.problems)} problem(s) found", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"bot: {e}", file=sys.stderr)
        return 2
    except Unreachable as e:
        print(f"bot {args.command}: {e}", file=sys.stderr)
        return 1
    except RedisError as e:
        print(f"bot {args.command}: Redis did not answer: {type(e).__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of our output went away (`bot stats --json | head`): say so once, and
        # let nothing more be written to the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"bot {args.command}: output closed before it was all written", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
