"""The `bot` command line: every command, its options and their help. What a command does
is in its own module: `serve`, `author` (check, graph, init, settings, schema, test),
`chat`, `player` (say, trigger) and `ops` (stats, dlq)."""

from __future__ import annotations

import argparse

from bot import __version__
from bot.cli import author, campaign, chat, ops, player, serve, templates
from bot.cli.dead_ids import dead_letter_id
from bot.settings import SANDBOX_BUSINESS, SANDBOX_SECRET

DEMO_CUSTOMER = "+8613900000001"


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
    s.set_defaults(func=serve.cmd_serve)

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
    c.set_defaults(func=author.cmd_check)

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
    g.set_defaults(func=author.cmd_graph)

    i = sub.add_parser(
        "init", help="write a starter project (flows, an intent, flow tests, .env.example)"
    )
    i.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where (default: here)")
    i.set_defaults(func=author.cmd_init)

    st_ = sub.add_parser(
        "settings", help="print the table of every BOT_* setting, its default and meaning"
    )
    st_.set_defaults(func=author.cmd_settings)

    m = sub.add_parser("schema", help="print the JSON Schema of flows.yaml (flows.schema.json)")
    m.set_defaults(func=author.cmd_schema)

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
    e.set_defaults(func=author.cmd_test)

    h = sub.add_parser(
        "chat",
        help="play the customer in the terminal against the real engine (private Redis, "
        "fake clock)",
    )
    h.add_argument("flow", help="the flow to start")
    h.add_argument("--customer", default=DEMO_CUSTOMER, help="the customer's phone number")
    h.add_argument(
        "--number",
        metavar="NAME",
        help="the business number of numbers: the customer writes to (default: the first)",
    )
    h.add_argument("--flows", help="flows file (default BOT_FLOWS or flows.yaml)")
    h.add_argument("--intents", help="intents folder (default BOT_INTENTS or intents/)")
    h.set_defaults(func=chat.cmd_chat)

    def add_player(name: str, help_: str) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help_)
        q.add_argument(
            "--url",
            help="the server's base URL (default: where `bot serve` listens by BOT_HOST and "
            "BOT_PORT, http://127.0.0.1:8080 unless they are set)",
        )
        q.add_argument("--customer", default=DEMO_CUSTOMER, help="the customer's phone number")
        q.add_argument("--wait", type=float, default=5.0, help="seconds to wait for replies")
        return q

    y = add_player("say", "play the customer: send TEXT to the server and print the replies")
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
    y.set_defaults(func=player.cmd_say)

    t = add_player("trigger", "play CAMS calling the business system: start an intent")
    t.add_argument("code", help="intent code, e.g. appointment_reminder")
    t.add_argument("--data", action="append", metavar="KEY=VALUE", help="intent data")
    t.add_argument("--signature", default=SANDBOX_SECRET, help="the business-system Signature")
    t.set_defaults(func=player.cmd_trigger)

    where = "(Redis of BOT_REDIS_URL, else the embedded Redis of a running `bot serve`)"
    st = sub.add_parser("stats", help=f"backlogs, their ages and the counters {where}")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.set_defaults(func=ops.cmd_stats)

    d = sub.add_parser("dlq", help=f"list, retry or drop dead letters {where}")
    dsub = d.add_subparsers(dest="action", required=True)
    dl = dsub.add_parser("list", help="dead letters of every partition, oldest first")
    dl.add_argument("--limit", type=int, default=50, metavar="N", help="show N (default 50)")
    dl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dl.add_argument(
        "--account",
        metavar="NAME",
        help="only those of the conversations of one CAMS account (`default`, or a name of "
        "`account:` in numbers: of the flows)",
    )
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
            "ids", nargs="*", type=dead_letter_id, metavar="ID", help="e.g. 3-1700000000000-0"
        )
        q.add_argument("--all", action="store_true", help="every dead letter")
    d.set_defaults(func=ops.cmd_dlq)
    campaign.add_parser(sub)
    templates.add_parser(sub)
    return p
