"""Processes of a bench run: starting them pinned to CPUs, waiting for them, and the CPU time
they used, read from /proc (utime + stime of every process of a tree)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def available_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the server under test gets, and which everything else (the load generator,
    Redis, the fake CAMS, the bench itself). Empty sets: not pinned."""

    server: frozenset[int]
    rest: frozenset[int]

    @classmethod
    def plan(cls, cpus: list[int], *, enabled: bool, server_processes: int) -> Pinning:
        """`cpus`: those the bench may use, read before it pins itself."""
        if not enabled or len(cpus) < 2:
            return cls(frozenset(), frozenset())
        rest = frozenset(cpus[1:2])
        if server_processes == 1:
            return cls(frozenset(cpus[:1]), rest)
        # Several server processes: they get as many CPUs as there are, the load side's too
        # when there are no more (then nothing is isolated, and the output says so).
        return cls(frozenset(cpus[: max(server_processes, 1)]), rest)

    def server_cpus(self) -> str:
        return ",".join(map(str, sorted(self.server))) or "any"

    @property
    def pinned(self) -> bool:
        return bool(self.server)

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (fewer than 2 CPUs, or --no-pin)"
        server = ",".join(map(str, sorted(self.server)))
        rest = ",".join(map(str, sorted(self.rest)))
        shared = " (shared with the load side)" if self.server & self.rest else ""
        return (
            f"server on CPU {server}{shared}; load generator, Redis, fake CAMS and the bench "
            f"on CPU {rest}; a server of several processes on the first CPUs, as many as it "
            "has processes"
        )


def _child_setup(cpus: frozenset[int]) -> Callable[[], None]:
    def setup() -> None:  # pragma: no cover - runs in the child between fork and exec
        if cpus:
            os.sched_setaffinity(0, cpus)
        if sys.platform.startswith("linux"):
            # Dies with the bench, even when the bench is killed.
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)

    return setup


def spawn(
    args: Sequence[str],
    *,
    cpus: frozenset[int] = frozenset(),
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
    stdout: int | IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a process pinned to `cpus` (its threads and children inherit the pinning),
    output to `log` (or `stdout`)."""
    out: int | IO[bytes] | None = stdout
    if log is not None:
        out = log.open("ab")
    try:
        return subprocess.Popen(
            list(args),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            preexec_fn=_child_setup(cpus),
        )
    finally:
        if log is not None and out is not None and not isinstance(out, int):
            out.close()


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> int | None:
    """SIGTERM, then SIGKILL after `timeout` seconds; the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """`root` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: Iterable[int], *, waited_for: int | None = None) -> float:
    """CPU time (user + system) used so far by `pids`; with `waited_for`, also what that
    process's exited and reaped children used."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
        ticks += int(fields[11]) + int(fields[12])
        if pid == waited_for:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU seconds a process tree used between `start()` and `read()`."""

    root: int
    _pids: list[int] | None = None
    _start: float = 0.0

    def start(self) -> None:
        self._pids = descendants(self.root)
        self._start = cpu_seconds(self._pids, waited_for=self.root)

    def read(self) -> float:
        assert self._pids is not None, "start() first"
        pids = sorted(set(self._pids) | set(descendants(self.root)))
        return cpu_seconds(pids, waited_for=self.root) - self._start

    @property
    def processes(self) -> int:
        return len(descendants(self.root))


def uses_uvloop(pid: int) -> bool | None:
    """Whether a process has uvloop loaded (its shared object is mapped); None if unknown."""
    with contextlib.suppress(OSError):
        return "uvloop" in Path(f"/proc/{pid}/maps").read_text()
    return None


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"
