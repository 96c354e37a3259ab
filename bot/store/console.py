"""The web console's sessions and its sign-in guard: a session is a hash named by a SHA-256
of its cookie (a copy of Redis holds no live cookie), kept while used; failed sign-ins are
counted per client for a window. Each key is used alone (one key per command or MULTI)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.store.codec import text
from bot.store.core import StoreCore
from bot.store.keys import console_failures_key, console_key, console_session_key


class ConsoleSessions(StoreCore):
    async def console_key(self, new: str) -> str:
        """The console's key for its links (every process's the same): the one stored, else
        `new`, stored now."""
        key = console_key(self.prefix)
        await self.redis.set(key, new, nx=True)
        stored = await self.redis.get(key)
        return text(stored) if stored is not None else new

    async def open_session(self, name: str, fields: Mapping[str, str], ttl: int) -> None:
        """Store a new session `name` (a digest of its cookie) for `ttl` seconds."""
        key = console_session_key(name, self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=dict(fields.items()))
            pipe.expire(key, ttl)
            await pipe.execute()

    async def use_session(self, name: str, ttl: int) -> dict[str, str] | None:
        """The session `name`'s fields, its life extended to `ttl` seconds from now; None
        when there is no such session (never opened, closed or expired)."""
        key = console_session_key(name, self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, ttl)  # no key, nothing extended
            raw, _ = await pipe.execute()
        return {text(k): text(v) for k, v in raw.items()} or None

    async def close_session(self, name: str) -> None:
        await self.redis.delete(console_session_key(name, self.prefix))

    async def sign_in_failures(self, client: str) -> int:
        """Failed sign-ins of `client` (a digest of its address) in its current window."""
        raw = await self.redis.get(console_failures_key(client, self.prefix))
        return int(raw) if raw is not None else 0

    async def count_sign_in_failure(self, client: str, window: int) -> int:
        """Count a failed sign-in of `client`; the window of `window` seconds starts at the
        first failure. The failures counted so far in it."""
        key = console_failures_key(client, self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
        if ttl < 0:  # the first failure of a window (EXPIRE NX needs Redis 7)
            await self.redis.expire(key, window)
        return int(count)

    async def forget_sign_in_failures(self, client: str) -> None:
        await self.redis.delete(console_failures_key(client, self.prefix))
