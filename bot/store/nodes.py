"""Commands to the redis-server processes the project starts itself on 127.0.0.1
(bot/local/redis_server.py starts and stops them): join cluster-enabled ones into a
cluster, tell when it is formed, empty them. Blocking calls, for start-up and tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

import redis
from redis.exceptions import RedisError, ResponseError

CLUSTER_SLOTS = 16384


@contextlib.contextmanager
def _clients(ports: Sequence[int]) -> Iterator[list[redis.Redis]]:
    clients = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=5.0) for p in ports]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def form_cluster(ports: Sequence[int], slots: Sequence[tuple[int, int]], deadline: float) -> bool:
    """Give the node of each port its range of slots (first, last), join them, and wait
    until each knows every node and sees every slot served: False when that is not so by
    `deadline` (time.monotonic())."""
    with _clients(ports) as clients:
        for epoch, (client, (first, last)) in enumerate(zip(clients, slots, strict=True), start=1):
            # Distinct config epochs, as redis-cli gives them: no epoch collisions
            # to settle, so the nodes agree on who serves which slots at once.
            client.cluster("SET-CONFIG-EPOCH", epoch)
            try:
                client.cluster("ADDSLOTSRANGE", first, last)
            except ResponseError:  # before Redis 7.0: one slot per argument
                client.cluster("ADDSLOTS", *range(first, last + 1))
        for port in ports[1:]:
            clients[0].cluster("MEET", "127.0.0.1", port)
        while not all(_formed(c, len(ports)) for c in clients):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    return True


def _formed(client: redis.Redis, nodes: int) -> bool:
    """The node knows every node and sees every slot served."""
    try:
        info = client.cluster("INFO")
    except RedisError:
        return False
    return (
        info.get("cluster_state") == "ok"
        and int(info.get("cluster_known_nodes", 0)) == nodes
        and int(info.get("cluster_slots_ok", 0)) == CLUSTER_SLOTS
    )


def flush(ports: Sequence[int]) -> None:
    """Empty the node of each port."""
    with _clients(ports) as clients:
        for client in clients:
            client.flushall()
