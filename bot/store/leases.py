"""Who works on which partition: each partition's lease (a token with a TTL, renewed and
released by its holder only), and the live processes that share the partitions
(heartbeats)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.exceptions import NoScriptError

from bot.store.core import StoreCore
from bot.store.keys import members_key
from bot.store.lua import queue_script


class Leases(StoreCore):
    async def acquire(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(self.keys(partition).lease, token, nx=True, px=ttl_ms))

    async def renew(self, partition: int, token: str, ttl_ms: int) -> bool:
        renewed = await self.script("renew")(
            keys=[self.keys(partition).lease], args=[token, ttl_ms]
        )
        return bool(renewed)

    async def renew_all(self, partitions: Sequence[int], token: str, ttl_ms: int) -> list[bool]:
        """Renew several leases in one round trip (one pipeline: on a cluster, each node
        gets its partitions' renewals at once): whether each is still held."""
        if not partitions:
            return []
        try:
            return await self._renew_all(partitions, token, ttl_ms)
        except NoScriptError:
            # Redis restarted without our scripts: load them, renew again.
            await self.load_scripts()
            return await self._renew_all(partitions, token, ttl_ms)

    async def _renew_all(self, partitions: Sequence[int], token: str, ttl_ms: int) -> list[bool]:
        renew = self.script("renew")
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in partitions:
                queue_script(pipe, renew, [self.keys(p).lease], token, ttl_ms)
            return [bool(r) for r in await pipe.execute()]

    async def release(self, partition: int, token: str) -> None:
        await self.script("release")(keys=[self.keys(partition).lease], args=[token])

    async def heartbeat(self, token: str, ttl_ms: int, now_ms: int) -> int:
        """Register this process as alive; return how many processes are."""
        key = members_key(self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {token: now_ms + ttl_ms})
            pipe.zremrangebyscore(key, "-inf", now_ms)
            pipe.zcard(key)
            pipe.pexpire(key, ttl_ms * 2)
            res = await pipe.execute()
        return max(1, int(res[2]))

    async def leave(self, token: str) -> None:
        await self.redis.zrem(members_key(self.prefix), token)
