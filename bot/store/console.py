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

    async def use_session(self, name: str, ttl: int | None) -> dict[str, str] | None:
        """The session `name`'s fields, its life extended to `ttl` seconds from now (None:
        not extended); None when there is no such session (never opened, closed or
        expired)."""
        key = console_session_key(name, self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            if ttl is not None:
                pipe.expire(key, ttl)  # no key, nothing extended
            raw = (await pipe.execute())[0]
        return {text(k): text(v) for k, v in raw.items()} or None

    async def close_session(self, name: str) -> None:
        await self.redis.delete(console_session_key(name, self.prefix))

    async def count_sign_in(self, client: str, window: int) -> tuple[int, int]:
        """Count a sign-in of `client` (before its token is checked: parallel tries count
        too), in a window of `window` seconds that starts at the first; the sign-ins counted
        in the window so far, and the seconds left in it. One MULTI: the counter never
        outlives its window."""
        key = console_failures_key(client, self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = await pipe.execute()
        return int(count), max(1, int(ttl))

    async def forget_sign_ins(self, client: str) -> None:
        await self.redis.delete(console_failures_key(client, self.prefix))
