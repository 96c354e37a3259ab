"""`bot` run as a user runs it, in a process of its own: the environment it gets (this
process's, without any BOT_ setting), `bot ARGS` run to its end, and `bot serve` in the
background with one readiness wait, one stop and its log."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import aiohttp

from bot.local.redis_server import free_port
from tests.support import ROOT


def bot_env(*, drop: Sequence[str] = (), **settings: str) -> dict[str, str]:
    """This process's environment without its BOT_ variables (nor those starting with a
    prefix in `drop`), with `settings` added."""
    prefixes = ("BOT_", *drop)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefixes)}
    env.update(settings)
    return env


def run_bot(
    *args: str,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 50,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` run to its end in `cwd`, with `env` (default: `bot_env()`)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=dict(env) if env is not None else bot_env(),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A server left behind by a crashed test run gets SIGKILL with its parent."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def wait_ready(
    url: str,
    running: Callable[[], bool],
    exited: Callable[[], str],
    *,
    within: float = 30.0,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Wait, blocking, until `url` (http or https) answers 200. Fails the test with
    `exited()` once `running()` is false, or when `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert running(), exited()
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=1, context=tls) as r,  # noqa: S310
        ):
            if r.status == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer 200 in {within}s: {exited()}")


class BotServe:
    """`python -m bot serve ARGS` on its own loopback port (BOT_PORT and BOT_HOST are set
    here), its output in `log_dir/NAME.log`; restarts keep port and environment.
    `session=True` starts it in a process group of its own, as a terminal's job is."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        name: str = "serve",
        args: Sequence[str] = (),
        session: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, "BOT_HOST": "127.0.0.1", "BOT_PORT": str(self.port)}
        self.args = list(args)
        self.session = session
        self.tls = tls
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> BotServe:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", *self.args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=self.session,
            preexec_fn=_die_with_parent,
        )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _exited(self) -> str:
        return f"{self.name} exited: {self.log_tail()}"

    def wait_ready(self, path: str = "/readyz", within: float = 30.0) -> None:
        """Wait, blocking, until `path` answers 200 (/readyz: Redis reachable, flows
        loaded). Fails the test, with the log's tail, if the server exits or `within`
        seconds pass."""
        wait_ready(f"{self.url}{path}", self.running, self._exited, within=within, tls=self.tls)

    async def ready(
        self, session: aiohttp.ClientSession, path: str = "/readyz", within: float = 30.0
    ) -> None:
        """`wait_ready`, without blocking the event loop."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.running(), self._exited()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(
                    f"{self.url}{path}",
                    timeout=aiohttp.ClientTimeout(total=1),
                    ssl=self.tls or True,
                ) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} not ready in {within}s: {self.log_tail()}")

    def signal(self, signum: int) -> None:
        """Send `signum` to the server (to its whole group when it has one of its own)."""
        assert self.proc is not None
        if self.session:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def kill(self) -> None:
        """kill -9: no drain, no lease release, sends and steps cut wherever they were."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)
        self._close_log()

    def wait(self, within: float = 30.0) -> int:
        """The exit code, once the server has exited by itself (within `within` s)."""
        assert self.proc is not None
        return self.proc.wait(within)

    def stop_now(self, within: float = 20.0) -> int | None:
        """SIGTERM, the graceful stop; SIGKILL after `within` seconds. Returns the exit
        code (None when never started); stopping again returns it again."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(within)
            if proc.poll() is None:
                proc.kill()
        code = proc.wait(5)
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    async def stop(self, within: float = 20.0) -> int | None:
        """`stop_now`, without blocking the event loop."""
        return await asyncio.to_thread(self.stop_now, within)

    def log_text(self) -> str:
        if self._log is not None:
            self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_text()[-chars:]
