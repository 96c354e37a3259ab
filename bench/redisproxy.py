"""A TCP proxy between the server and Redis that counts round trips, for the bench's
accounting run (it adds latency, so the timed runs go to Redis directly).

A round trip is a request turn of one connection: the client writes one or more commands
(a pipeline, a MULTI ... EXEC) and waits for the answers before its next write. The proxy
parses the client's RESP commands and files each under the path it serves, told by the
command and its first key (bot/store/keys.py names every key; a MULTI ... EXEC goes under its
first command's path); a round trip counts once for each path it serves (a client that
coalesces the calls of several tasks into one pipeline serves several at once), and once in
all:

    intake      EVALSHA of the intake script (first key `...:seen:ID`) or of a delivery status
    step        the inbox worker: XREADGROUP / XPENDING / XACK on `...:in`, HGETALL of a
                conversation (`...:c:CONV`), EVALSHA of the commit script (first key `...:c:`)
    send        the outbox sender: XREADGROUP / XPENDING / XACK on `...:out`, HGET of a
                conversation (the opt-out check), the rate limit's script (`...:rl:...`),
                what records a send (a script or a MULTI whose first key is `...:out`)
    background  leases, heartbeats, timer pumps, call workers, start-up (SCRIPT LOAD, ...)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

PATHS = ("intake", "step", "send", "background")
ALL = "all"  # round trips of any path, each counted once
INTAKE_AND_STEP = frozenset({"intake", "step"})
INTAKE_OR_STEP = "intake or step"  # round trips that serve the intake, the step or both


def classify(name: bytes, key: bytes) -> str:
    """The path a top-level command serves."""
    if name in (b"EVALSHA", b"EVAL"):
        if b":seen:" in key or b":m:" in key:
            return "intake"
        if b":c:" in key:
            return "step"
        if b":rl:" in key or key.endswith(b":out"):
            return "send"
        if key.endswith(b":in"):
            return "step"
        return "background"
    if key.endswith(b":in"):
        return "step"
    if key.endswith(b":out"):
        return "send"
    if b":c:" in key:
        return "step" if name == b"HGETALL" else "send"
    return "background"


def first_key(args: list[bytes]) -> bytes:
    name = args[0].upper()
    if name in (b"EVALSHA", b"EVAL"):
        return args[3] if len(args) > 3 and args[2] != b"0" else b""
    if name in (b"XREADGROUP", b"XREAD"):
        upper = [a.upper() for a in args]
        if b"STREAMS" in upper:
            i = upper.index(b"STREAMS")
            return args[i + 1] if i + 1 < len(args) else b""
        return b""
    return args[1] if len(args) > 1 else b""


class RespCommands:
    """Incremental parser of a client's RESP requests: arrays of bulk strings (and inline
    commands). Only the first args of each command are kept: enough to classify it."""

    KEEP = 12

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[list[bytes]]:
        self.buf += data
        out: list[list[bytes]] = []
        pos = 0
        buf = self.buf
        while pos < len(buf):
            parsed = self._one(buf, pos)
            if parsed is None:
                break
            args, pos = parsed
            if args:
                out.append(args)
        del buf[:pos]
        return out

    def _one(self, buf: bytearray, pos: int) -> tuple[list[bytes], int] | None:
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        if buf[pos] != ord("*"):  # an inline command
            return bytes(buf[pos:end]).split(), end + 2
        n = int(buf[pos + 1 : end])
        pos = end + 2
        args: list[bytes] = []
        for _ in range(n):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            size = int(buf[pos + 1 : end])
            start = end + 2
            if start + size + 2 > len(buf):
                return None
            if len(args) < self.KEEP:
                args.append(bytes(buf[start : start + size]))
            pos = start + size + 2
        return args, pos


@dataclass
class Counts:
    # Round trips per path (one serving several paths counts for each), ALL, INTAKE_OR_STEP.
    turns: Counter[str] = field(default_factory=Counter)
    # Round trips by path and first command, e.g. "step HGETALL": what each path is made of.
    kinds: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)  # top-level commands per path
    names: Counter[str] = field(default_factory=Counter)  # top-level commands by name
    connections: int = 0

    def reset(self) -> None:
        self.turns.clear()
        self.kinds.clear()
        self.commands.clear()
        self.names.clear()

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {
            "turns": dict(self.turns),
            "kinds": dict(self.kinds),
            "commands": dict(self.commands),
            "names": dict(self.names),
        }


class _Upstream(asyncio.Protocol):
    def __init__(self, client: _Client) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.from_server(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _Client(asyncio.Protocol):
    def __init__(self, proxy: CountingProxy) -> None:
        self.proxy = proxy
        self.parser = RespCommands()
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.waiting = False  # a request was written and its answer has not begun
        self.paths: set[str] = set()  # the paths this round trip serves so far
        self.in_multi = False
        self.multi_path: str | None = None  # a transaction goes under its first command's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.proxy.counts.connections += 1
        task = asyncio.get_running_loop().create_task(self._connect())
        self.proxy.tasks.add(task)
        task.add_done_callback(self.proxy.tasks.discard)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await loop.create_connection(
                lambda: _Upstream(self), self.proxy.host, self.proxy.port
            )
        except OSError:
            self.close()
            return
        self.upstream = upstream
        for chunk in self.pending:
            self.upstream.write(chunk)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        counts = self.proxy.counts
        if not self.waiting:
            self.waiting = True
            self.paths = set()
            counts.turns[ALL] += 1
        for args in self.parser.feed(data):
            name = args[0].upper()
            counts.names[name.decode(errors="replace")] += 1
            first = name.decode(errors="replace")
            if name == b"MULTI":
                self.in_multi, self.multi_path = True, None
                continue
            if self.in_multi:
                if self.multi_path is None:
                    self.multi_path = classify(name, first_key(args))
                    counts.commands[self.multi_path] += 1  # the MULTI
                path, first = self.multi_path, "MULTI"
                if name in (b"EXEC", b"DISCARD"):
                    self.in_multi = False
            else:
                path = classify(name, first_key(args))
            counts.commands[path] += 1
            self.file(path, first)
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.write(data)

    def file(self, path: str, first: str) -> None:
        """Count this round trip once for each path it serves (one that carries several
        paths' commands, as a coalescing client sends, counts for each, and once in ALL)."""
        if path in self.paths:
            return
        counts = self.proxy.counts
        if path in INTAKE_AND_STEP and not self.paths & INTAKE_AND_STEP:
            counts.turns[INTAKE_OR_STEP] += 1
        self.paths.add(path)
        counts.turns[path] += 1
        counts.kinds[f"{path} {first}"] += 1

    def from_server(self, data: bytes) -> None:
        self.waiting = False
        if self.transport is not None:
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class CountingProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to Redis at host:port."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.counts = Counts()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None
        self.listen_port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Client(self), "127.0.0.1", 0)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.listen_port}/0"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
