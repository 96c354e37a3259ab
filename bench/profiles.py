"""Summarize a py-spy profile (`py-spy record --format raw`, as `bench/run.py --profile DIR`
writes it): the share of samples spent in each function (inclusive: anywhere on the stack;
self: at the top) and in each group of the server's work.

    python bench/profiles.py DIR/m1x1000.txt [--top 30]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")

# What a sample was doing: the innermost frame of a known kind.
KINDS: tuple[tuple[str, str], ...] = (
    ("logging", "logging/"),
    ("JSON", "json/"),
    ("metrics", "prometheus_client/"),
    ("Redis client", "redis/"),
    ("CAMS signing", "bot/platforms/cams/signing.py"),
    ("HTTP client", "aiohttp/client"),
    ("flow engine", "bot/flows/"),
    ("flow engine", "transitions/"),
    ("HTTP server", "aiohttp/"),
    ("event loop", "asyncio/"),
    ("event loop", "uvloop/"),
    ("event loop", "selectors.py"),
)

# Which of the server's jobs a sample belongs to: the outermost frame that tells.
PATHS: tuple[tuple[str, str], ...] = (
    ("intake (HTTP callback)", "RequestHandler."),
    ("step (inbox worker)", "InboxWorker."),
    ("send (outbox sender)", "OutboxSender."),
    ("background", "Runtime._manage"),
    ("background", "TimerPump."),
    ("background", "CallWorker."),
)


def frames(stack: str) -> list[tuple[str, str]]:
    """(function, file) of each frame, outermost first."""
    out = []
    for part in stack.split(";"):
        m = FRAME.match(part)
        if m:
            out.append((m.group("func"), m.group("file")))
    return out


def read(path: Path) -> Iterable[tuple[list[tuple[str, str]], int]]:
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield frames(stack), int(count)


def kind_of(stack: list[tuple[str, str]]) -> str:
    for func, file in reversed(stack):
        for name, marker in KINDS:
            if marker in file:
                return name
        if file.startswith("bot/"):
            return "bot code" if "frozen" not in func else "other"
    return "other"


# Work the event loop runs outside any job's coroutine: redis-py sends each command in a task
# of its own when the client has a socket timeout (asyncio.wait_for makes one on Python
# 3.11), aiohttp writes from its protocol callbacks, and the loop waits in epoll.
DETACHED: tuple[tuple[str, str], ...] = (
    ("Redis command writes (a task per command)", "AbstractConnection._send_packed_command"),
    ("HTTP writes", "StreamWriter."),
    ("waiting for I/O (epoll_wait)", "EpollSelector.select"),
    ("socket reads", "_read_ready"),
)


def path_of(stack: list[tuple[str, str]]) -> str:
    for func, _file in stack:
        for name, marker in PATHS:
            if func.startswith(marker):
                return name
    for func, _file in stack:
        for name, marker in DETACHED:
            if func.startswith(marker):
                return f"event loop: {name}"
    return "event loop: other"


# Library calls worth seeing by name inside a job, besides the project's own functions.
ENTRY_POINTS = (
    "Logger.info",
    "Pipeline.execute",
    "Redis.execute_command",
    "AsyncScript.__call__",
    "ClientSession._request",
    "Machine.add_model",
)


def summarize(path: Path, top: int = 30) -> str:
    inclusive: Counter[str] = Counter()
    within: dict[str, Counter[str]] = {}  # per job: the project's functions, inclusive
    self_time: Counter[str] = Counter()
    paths: Counter[str] = Counter()
    cells: Counter[tuple[str, str]] = Counter()
    total = 0
    for stack, count in read(path):
        total += count
        seen: set[str] = set()
        for func, file in stack:
            name = f"{func} ({file})"
            if name not in seen:
                inclusive[name] += count
                seen.add(name)
        if stack:
            func, file = stack[-1]
            self_time[f"{func} ({file})"] += count
        job, kind = path_of(stack), kind_of(stack)
        paths[job] += count
        cells[(job, kind)] += count
        mine = within.setdefault(job, Counter())
        for name in {
            f"{func} ({file})"
            for func, file in stack
            if (file.startswith("bot/") and not func.startswith("<module>")) or func in ENTRY_POINTS
        }:
            mine[name] += count
    if not total:
        return f"{path}: no samples"

    def lines(counter: Counter[str]) -> list[str]:
        return [f"  {n / total:6.1%}  {name}" for name, n in counter.most_common(top)]

    by_path = []
    functions = []
    for job, n in paths.most_common():
        by_path.append(f"  {n / total:6.1%}  {job}")
        kinds = Counter({k: c for (p, k), c in cells.items() if p == job})
        by_path += [f"           {c / total:6.1%}  {k}" for k, c in kinds.most_common()]
        if job.startswith(("intake", "step", "send")):
            functions.append(f"  {n / total:6.1%}  {job}")
            functions += [
                f"           {c / total:6.1%}  {name}"
                for name, c in within[job].most_common(top)
                if not name.startswith(("main ", "cmd_serve "))
            ]
    return "\n".join(
        [
            f"{path}: {total} samples",
            "By job, then by kind of work (the innermost frame of a known kind):",
            *by_path,
            "By job, then the project's functions and a few library calls (inclusive):",
            *functions,
            "Inclusive (on the stack):",
            *lines(inclusive),
            "Self (on top of the stack):",
            *lines(self_time),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print(summarize(args.path, args.top))


if __name__ == "__main__":
    main()
