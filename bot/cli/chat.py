"""`bot chat FLOW`: play the customer in a terminal against the real engine and runtime.

Everything production runs runs here — a private embedded redis-server, the partition
worker, the timer pump, the call worker — except that replies are printed instead of sent,
and the clock is a fake one the author moves with `/wait`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.cli.sources import compiled_catalog, flow_sources
from bot.flows.compiler import CompiledCatalog
from bot.flows.spec import parse_duration
from bot.local.embedded import EmbeddedRedis
from bot.model import (
    ConversationRef,
    Event,
    Inbound,
    IntentStart,
    Outgoing,
    Restart,
    Resume,
    SendReceipt,
)
from bot.settings import call_secrets
from bot.store import Accepted, Store, event_to_json, redis_client

HELP = """Type what the customer writes. Commands:
  /tap PAYLOAD [TEXT]    tap a button
  /wait DURATION         move the clock on (30s, 5m, 2h, 1d): timers fire
  /trigger CODE [K=V..]  the business triggers an intent
  /resume [STATE]        an operator ends a handoff
  /restart               an operator starts the flow again
  /state                 where the conversation stands
  /slots                 the conversation's data
  /help, /quit"""


def cmd_chat(args: argparse.Namespace) -> int:
    from bot import log

    log.setup("ERROR")  # the chat prints the conversation; only failures besides it
    flows, intents = flow_sources(args)
    catalog = compiled_catalog(flows, intents)

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
            number=args.number,
        )
    )


class FakeClock:
    """Real time plus an offset the author adds to."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def describe(msg: Outgoing) -> str:
    """A reply as the customer would see it."""
    reply = msg.reply
    buttons = "".join(f" [{b.title}]" for b in reply.buttons)
    if reply.template is not None:
        params = ", ".join(f"{k}={v}" for k, v in reply.template.params.items())
        header = reply.template.header
        shown = f" [{header.kind} {header.url}]" if header is not None else ""
        return f"[template {reply.template.code}]{shown} {params}{buttons}"
    if reply.link is not None:
        return f"{reply.text}\n[{reply.link.label}: {reply.link.url}]"
    return reply.text + buttons


class PrintingSender:
    """The chat's send API: prints each reply and counts them."""

    platform = "cams"
    account = "chat"

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.sent = 0

    async def send(self, msg: Outgoing) -> SendReceipt:
        lines = describe(msg).splitlines() or [""]
        print("bot  > " + "\n       ".join(lines), file=self.out, flush=True)
        self.sent += 1
        return SendReceipt(uuid.uuid4().hex)


class Chat:
    def __init__(self, store: Store, conv: ConversationRef, clock: FakeClock, out: TextIO) -> None:
        self.store = store
        self.conv = conv
        self.clock = clock
        self.out = out

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def send(self, event: Event) -> None:
        await self.store.accept([Accepted(self.conv.id, event.message_id, event_to_json(event))])

    async def show(self, what: str) -> None:
        conv = await self.store.load(self.conv.id)
        if what == "slots":
            print(json.dumps(conv.data, indent=2, ensure_ascii=False), file=self.out)
            return
        timers = ", ".join(
            f"{t.name} in {max(0, t.due_ms - self.now_ms()) // 1000}s" for t in conv.timers
        )
        print(
            f"flow={conv.flow} state={conv.state} visit={conv.visit} attempts={conv.attempts}"
            f"{' opted-out' if conv.opted_out else ''}"
            f"{' handoff=' + conv.handoff if conv.handoff else ''}"
            f"{' timers: ' + timers if timers else ''}",
            file=self.out,
        )

    async def command(self, line: str) -> bool:
        """Run one line; False to quit."""
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        mid = uuid.uuid4().hex
        if not line.startswith("/"):
            await self.send(Inbound(mid, self.now_ms(), "text", line))
        elif word == "/tap" and rest:
            payload, _, text = rest.partition(" ")
            await self.send(Inbound(mid, self.now_ms(), "reply", text, payload, "REPLY"))
        elif word == "/wait" and rest:
            try:
                self.clock.offset += parse_duration(rest)
            except ValueError as e:
                print(str(e), file=self.out)
        elif word == "/trigger" and rest:
            code, *pairs = rest.split()
            data = dict(p.split("=", 1) for p in pairs if "=" in p)
            await self.send(IntentStart(mid, self.now_ms(), code, data))
        elif word == "/resume":
            await self.send(Resume(mid, self.now_ms(), rest or None))
        elif word == "/restart":
            await self.send(Restart(mid, self.now_ms()))
        elif word in ("/state", "/slots"):
            await self.show(word[1:])
        elif word in ("/quit", "/exit"):
            return False
        else:
            print(HELP, file=self.out)
        return True


async def _quiet(sender: PrintingSender, seconds: float = 0.4, limit: float = 5.0) -> None:
    """Wait until replies stop coming."""
    deadline = time.monotonic() + limit
    seen, calm = sender.sent, time.monotonic() + seconds
    while time.monotonic() < min(deadline, calm + 2.0):
        await asyncio.sleep(0.05)
        if sender.sent != seen:
            seen, calm = sender.sent, time.monotonic() + seconds
        elif time.monotonic() >= calm:
            return


async def run_chat(
    catalog: CompiledCatalog,
    flow: str,
    *,
    customer: str,
    secrets: dict[str, str],
    read_line: Callable[[], str | None],
    out: TextIO = sys.stdout,
    number: str | None = None,
) -> int:
    """`number`: the name in `numbers:` of the business number the customer writes to (its
    language and time zone); default: the first of them."""
    # What only a chat runs, imported when one starts.
    import aiohttp

    from bot.flows.engine import Engine
    from bot.runtime.partitions import Runtime

    if flow not in catalog.flows:
        print(f"no flow {flow!r}; flows: {', '.join(catalog.flows)}", file=sys.stderr)
        return 2
    if number is not None and number not in catalog.numbers:
        known = ", ".join(catalog.numbers) or "none"
        print(f"no number {number!r} in numbers:; numbers: {known}", file=sys.stderr)
        return 2
    chosen = catalog.numbers.get(number or "") or next(iter(catalog.numbers.values()), None)
    channel, business = (chosen.channel, chosen.business) if chosen else ("whatsapp", "chat")
    folder = Path(tempfile.mkdtemp(prefix="bot-chat-"))
    try:
        async with (
            EmbeddedRedis(folder, appendonly=False) as url,
            aiohttp.ClientSession() as http,
        ):
            client = redis_client(url)
            clock = FakeClock()
            sender = PrintingSender(out)
            store = Store(client, partitions=1, conversation_ttl=30 * 86400, dedup_ttl=86400)
            runtime = Runtime(
                store,
                Engine(catalog),
                {"cams": sender},
                lease_seconds=5,
                send_attempts=1,
                clock=clock,
                http=http,
                secrets=secrets,
            )
            await runtime.start()
            try:
                conv = ConversationRef("cams", channel, business, customer)
                await _converse(Chat(store, conv, clock, out), sender, flow, read_line)
            finally:
                await runtime.stop()
                await client.aclose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


async def _converse(
    chat: Chat, sender: PrintingSender, flow: str, read_line: Callable[[], str | None]
) -> None:
    """Start the flow, then run each line the author types until /quit or the input ends."""
    print(f"chatting with flow {flow!r}; /help lists the commands", file=chat.out)
    await chat.send(IntentStart(uuid.uuid4().hex, chat.now_ms(), "", flow=flow))
    await _quiet(sender)
    while True:
        line = await asyncio.to_thread(read_line)
        if line is None:
            return
        line = line.strip()
        if not line:
            continue
        if not await chat.command(line):
            return
        await _quiet(sender)
