"""What every part of the Store shares: the client, the settings that name and age keys,
the registered scripts and the coalescer of per-message calls.

The Store (bot/store/store.py) is this core with its parts mixed in, one module each: the
intake, the steps, the stream reads, the outcomes of drained entries, the leases, the dead
letters and the operators' reads. Each part uses only what is here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.commands.core import AsyncScript

from bot.model import OPT_OUT_TTL, Conversation
from bot.store import lua
from bot.store.client import RedisClient
from bot.store.coalesce import Coalescer, Command
from bot.store.codec import conversation_from_hash, opt_outs_of_value
from bot.store.keys import PREFIX, Keys, partition_of, stats_key

# Scripts of the store itself (the rate limit's log has its own: bot/store/permits.py).
STORE_SCRIPTS = tuple(name for name in lua.SCRIPTS if name != "acquire_permits")


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    """What the conversations' histories keep (BOT_HISTORY_*): at most `length` entries,
    none older than `ttl` seconds; what was written too, or not (`text`)."""

    length: int = 200
    ttl: int = 30 * 24 * 3600
    text: bool = True


NO_HISTORY = HistoryPolicy(length=0)
CAMPAIGN_TTL = 30 * 24 * 3600  # seconds


class StoreCore:
    """The project's Redis operations. Holds a client and the registered scripts."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        partitions: int,
        conversation_ttl: int,
        dedup_ttl: int,
        prefix: str = PREFIX,
        history: HistoryPolicy = NO_HISTORY,
        campaign_ttl: int = CAMPAIGN_TTL,
        opt_out_ttl: int = OPT_OUT_TTL,
    ) -> None:
        """`history`: what the conversations' histories keep; none by default.
        `campaign_ttl`: seconds a campaign's data is kept after its end (or its start).
        `opt_out_ttl`: seconds a customer's opt-out is kept after they made it."""
        self.redis = redis
        self.history_policy = history
        self.partitions = partitions
        self.conversation_ttl = conversation_ttl
        self.dedup_ttl = dedup_ttl
        self.campaign_ttl = campaign_ttl
        self.opt_out_ttl = opt_out_ttl
        self.prefix = prefix
        self._keys = [Keys.of(p, prefix) for p in range(partitions)]
        self._scripts = {name: lua.register(redis, name) for name in STORE_SCRIPTS}
        self._coalescer: Coalescer | None = None

    async def load(self, conv_id: str) -> Conversation:
        """The stored conversation; a new one if there is none, opted out (of everything or
        of marketing) when the customer was: the opt-out key outlives the conversation."""
        k = self.keys_for(conv_id)
        raw: dict[bytes, bytes] = await self.redis.hgetall(k.conv(conv_id))  # type: ignore[assignment]
        if not raw:
            kept: Any = await self.redis.get(k.opt_out(conv_id))
            if kept is not None:
                everything, marketing = opt_outs_of_value(kept)
                return Conversation(opted_out=everything, marketing_opted_out=marketing)
        return conversation_from_hash(raw)

    def script(self, name: str) -> AsyncScript:
        return self._scripts[name]

    @property
    def stats_key(self) -> str:
        """Counters of no partition (the send rate limiter's), summed over processes."""
        return stats_key(self.prefix)

    def keys(self, partition: int) -> Keys:
        if 0 <= partition < len(self._keys):
            return self._keys[partition]
        return Keys.of(partition, self.prefix)

    def keys_for(self, conv_id: str) -> Keys:
        return self.keys(partition_of(conv_id, self.partitions))

    async def load_scripts(self) -> None:
        """Load every script into Redis (after start-up or a Redis restart)."""
        await lua.load(self.redis, list(self._scripts.values()))

    async def run_all(self, commands: Sequence[Command]) -> list[Any]:
        """Commands (scripts' EVALSHAs among them) in one round trip, through the
        coalescer (which loads lost scripts); their results, or the first error met."""
        if not commands:
            return []
        results = await self.coalescer().submit(commands)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def coalescer(self) -> Coalescer:
        """The coalescer of this store's per-message calls (bot/store/coalesce.py), made on
        first use in the running event loop."""
        loop = asyncio.get_running_loop()
        current = self._coalescer
        if current is None or current.loop is not loop:
            count = current.round_trips if current is not None else 0
            current = Coalescer(self.redis, self.load_scripts, round_trips=count)
            self._coalescer = current
        return current

    @property
    def round_trips(self) -> int:
        """Pipelines sent for the coalesced calls (intake, commit, opt-out check, recording
        of sends): each one round trip however many calls it carried."""
        return self._coalescer.round_trips if self._coalescer is not None else 0
