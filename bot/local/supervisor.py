"""`bot serve --workers N`: N server processes on one port, and the parent that keeps them.

Each worker is a whole `bot serve` (`python -m bot serve`, started with BOT_SERVE_WORKER set
to its number): its own intake, partition workers and sender, listening with SO_REUSEPORT,
so the kernel spreads connections over the workers. The partitions are shared between them
through the leases in Redis, as between machines.

The parent serves nothing itself. It
- starts the embedded redis-server once (when BOT_REDIS_URL is unset) and gives the workers
  its URL;
- holds the port (bound with SO_REUSEPORT, never listening: it gets no connections) so that
  it stays ours across worker restarts, and so that port 0 names one port for all workers;
- makes a fresh PROMETHEUS_MULTIPROC_DIR, where every worker keeps its metrics (so that any
  worker answers /metrics with the totals of all), and removes it at exit;
- passes SIGTERM, SIGINT (as SIGTERM) and SIGHUP on to the workers;
- starts again a worker that dies unexpectedly, after a backoff; gives up (stopping the
  others, exit 1) when one dies within seconds of starting, again and again;
- exits 0 once every worker has drained and exited 0 after SIGTERM.

Workers get SIGTERM should the parent die (PR_SET_PDEATHSIG), and run in their own process
group: a Ctrl-C at the terminal reaches the parent only, which stops them once, in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from bot.errors import ConfigError
from bot.local.embedded import EmbeddedRedis
from bot.settings import Settings

log = logging.getLogger("bot.serve")

WORKER_ENV = "BOT_SERVE_WORKER"  # set in a worker's environment: its number, from 1
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

POLL = 0.1  # seconds between looks at the workers
QUICK_EXIT = 5.0  # seconds: a worker dying sooner after its start counts as a failed start
MAX_QUICK_EXITS = 5  # failed starts in a row, of one worker, before the parent gives up
BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0  # seconds before a worker is started again


def worker_number(environ: Mapping[str, str] | None = None) -> int | None:
    """This process's worker number under `bot serve --workers N`, None when it is not one."""
    value = (os.environ if environ is None else environ).get(WORKER_ENV, "")
    return int(value) if value.isdigit() else None


def restart_delay(quick_exits: int) -> float:
    """Seconds before starting again a worker that died after `quick_exits` failed starts
    in a row (0 when it had been running a while)."""
    return float(min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** max(0, quick_exits - 1)))


def reserve_port(host: str, port: int) -> tuple[int, list[socket.socket]]:
    """Bind (without listening) every address of `host` at `port` with SO_REUSEPORT: the
    workers can then bind the same, nobody else can. Port 0 picks a free one. Returns the
    port and the sockets, to close at exit; ConfigError when the port is taken."""
    sockets: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _name, address in infos:
            s = socket.socket(family, kind, proto)
            sockets.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((address[0], port, *address[2:]))
            port = s.getsockname()[1]
    except OSError as e:
        for s in sockets:
            s.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    return port, sockets


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None


class Supervisor:
    """Starts `count` workers running `command` with `env`, and keeps them until stopped."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        count: int,
        *,
        metrics_dir: str | None = None,
        stop_timeout: float = 30.0,
    ) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.workers = [_Worker(n) for n in range(1, count + 1)]
        self.metrics_dir = metrics_dir
        self.stop_timeout = stop_timeout
        self._signals: list[int] = []
        self._stopping_since: float | None = None
        self._failed = False
        self._stop_codes: list[int] = []  # of the workers that were running at the stop

    # -- workers ----------------------------------------------------------------------------

    def _start(self, w: _Worker) -> None:
        env = {**self.env, WORKER_ENV: str(w.number)}
        w.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self.command, env=env, process_group=0, preexec_fn=_die_with_parent
        )
        w.started, w.restart_at = time.monotonic(), None
        log.info("worker %d started (pid %d)", w.number, w.proc.pid)

    def _exited(self, w: _Worker, code: int) -> None:
        """A worker's process ended: forget its per-process gauges; plan a restart unless
        stopping."""
        assert w.proc is not None
        pid, w.proc = w.proc.pid, None
        if self.metrics_dir is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]
        if self._stopping_since is not None:
            log.info("worker %d (pid %d) exited with %d", w.number, pid, code)
            self._stop_codes.append(code)
            return
        quick = time.monotonic() - w.started < QUICK_EXIT
        w.quick_exits = w.quick_exits + 1 if quick else 0
        if w.quick_exits >= MAX_QUICK_EXITS:
            log.error(
                "worker %d (pid %d) exited with %d, %d times in a row within %gs of its start: "
                "giving up",
                w.number, pid, code, w.quick_exits, QUICK_EXIT,
            )  # fmt: skip
            self._failed = True
            self._stop()
            return
        delay = restart_delay(w.quick_exits)
        log.warning(
            "worker %d (pid %d) exited with %d; starting it again in %.1fs",
            w.number, pid, code, delay,
        )  # fmt: skip
        w.restart_at = time.monotonic() + delay

    def _live(self) -> Iterator[_Worker]:
        return (w for w in self.workers if w.proc is not None)

    # -- signals ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)  # handled by the loop, outside the signal handler

    def _stop(self) -> None:
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        for w in self._live():
            assert w.proc is not None
            with contextlib.suppress(ProcessLookupError):
                w.proc.send_signal(signal.SIGTERM)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum == signal.SIGHUP:
                log.info("SIGHUP: the workers load the flows again")
                for w in self._live():
                    assert w.proc is not None
                    with contextlib.suppress(ProcessLookupError):
                        w.proc.send_signal(signal.SIGHUP)
            else:
                log.info("%s: stopping the workers", signal.Signals(signum).name)
                self._stop()

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; 0 when every worker exited 0 after the stop."""
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {s: signal.signal(s, self._on_signal) for s in handled}
        try:
            for w in self.workers:
                self._start(w)
            self._loop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            for w in self._live():  # only after an error in the loop itself
                assert w.proc is not None
                w.proc.kill()
                w.proc.wait()
        # A worker ended by SIGTERM itself had not yet started serving (from then on SIGTERM
        # makes it drain and exit 0): it had nothing to drain.
        clean = (0, -signal.SIGTERM)
        return 0 if not self._failed and all(c in clean for c in self._stop_codes) else 1

    def _loop(self) -> None:
        while True:
            self._handle_signals()
            for w in self.workers:
                if w.proc is not None and (code := w.proc.poll()) is not None:
                    self._exited(w, code)
            now = time.monotonic()
            if self._stopping_since is None:
                for w in self.workers:
                    if w.proc is None and w.restart_at is not None and now >= w.restart_at:
                        self._start(w)
            elif not any(True for _ in self._live()):
                return
            elif now - self._stopping_since > self.stop_timeout:
                for w in self._live():
                    assert w.proc is not None
                    log.error("worker %d (pid %d) did not stop: killed", w.number, w.proc.pid)
                    w.proc.kill()
                    w.proc.wait()
                    self._exited(w, -signal.SIGKILL)
                return
            time.sleep(POLL)


def supervise(settings: Settings) -> int:
    """`bot serve` with BOT_WORKERS > 1: the parent of the workers (see the module's doc)."""
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        port, sockets = reserve_port(settings.host, settings.port)
        for s in sockets:
            stack.callback(s.close)
        env["BOT_HOST"], env["BOT_PORT"] = settings.host, str(port)
        if settings.redis_url is None:
            env["BOT_REDIS_URL"] = stack.enter_context(EmbeddedRedis(settings.data_dir))
        metrics_dir = tempfile.mkdtemp(prefix="bot-metrics-")
        stack.callback(shutil.rmtree, metrics_dir, ignore_errors=True)
        env[MULTIPROC_ENV] = metrics_dir
        log.info("%d workers on %s:%d", settings.workers, settings.host, port)
        supervisor = Supervisor(
            [sys.executable, "-m", "bot", "serve"],
            env,
            settings.workers,
            metrics_dir=metrics_dir,
            # The workers drain requests, then steps and sends, each within the drain time.
            stop_timeout=2 * settings.drain_seconds + 15,
        )
        code = supervisor.run()
        log.info("all workers stopped")
        return code
