"""Campaigns: a campaign's own hash (its spec and status), the index of campaigns, and its
recipients, spread over the partitions like their conversations: in each partition a queue
of those still to message (by when each may be), their data, their statuses once their turn
came, and the counts. A recipient's turn is one script in its partition's slot
(`campaign_release`), fenced by the partition's lease like a step's commit."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.campaign import CampaignSpec, Category, MidFlow, Status
from bot.store.codec import campaign_from_json, parse_counters, text
from bot.store.core import StoreCore
from bot.store.keys import (
    active_campaigns_key,
    campaign_idempotency_key,
    campaign_key,
    campaigns_key,
    partition_of,
    recipient_cap_key,
    task_prefix,
)
from bot.store.lua import evalsha

ADD_BATCH = 500  # recipients stored per script run
FORGET_BATCH = 20  # campaigns looked at for expiry each time one is made
DAY_MS = 24 * 3600 * 1000
# What a campaign's status may change to, from what.
MOVES = {
    Status.RUNNING: (Status.CREATING, Status.PAUSED),
    Status.PAUSED: (Status.RUNNING,),
    Status.CANCELLED: (Status.CREATING, Status.RUNNING, Status.PAUSED),
    Status.DONE: (Status.RUNNING,),
}
ACTIVE = frozenset({Status.RUNNING, Status.PAUSED})


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A campaign as stored: its spec, status, when it was made, how many recipients it has,
    and its counts summed over the partitions (pending, started, skipped:REASON, cancelled)."""

    id: str
    spec: CampaignSpec
    status: Status
    created_ms: int
    total: int
    counts: dict[str, int]
    expires_ms: int = 0  # when its data goes (kept on while it runs or is paused)


@dataclass(frozen=True, slots=True)
class Due:
    """A recipient whose time has come: its conversation, when it was due, and what was
    stored of it (data and time zone, as the codec has them)."""

    conv_id: str
    due_ms: int
    recipient: str


def campaign_message_id(campaign: str, conv_id: str) -> str:
    """The message id of a recipient's start: the campaign and a one-way hash of the
    conversation (a key named by it holds no customer's number)."""
    return f"campaign:{campaign}:{task_prefix(conv_id)}"


class Campaigns(StoreCore):
    async def new_campaign(
        self, campaign: str, spec_json: str, *, created_ms: int, total: int, key: str = ""
    ) -> str:
        """Make campaign `campaign` (status `creating`), or, when `key` (an Idempotency-Key)
        made one already, answer that one's id. Its data is kept `campaign_ttl` seconds
        after its end-by time (or its start, or now, the latest), then goes. The campaign
        is written before the key: a crash between the two leaves a campaign that never
        ran (and goes with its time), never a key that names nothing."""
        spec = campaign_from_json(spec_json)
        expires = max(created_ms, spec.start_ms, spec.end_ms) + self.campaign_ttl * 1000
        meta, index = campaign_key(campaign, self.prefix), campaigns_key(self.prefix)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(meta, mapping={
                "id": campaign, "spec": spec_json, "status": str(Status.CREATING),
                "created": created_ms, "total": total, "expires": expires,
            })  # fmt: skip
            pipe.pexpireat(meta, expires)
            pipe.zadd(index, {campaign: created_ms})
            await pipe.execute()
        if key:
            idem = campaign_idempotency_key(key, self.prefix)
            if not await self.redis.set(idem, campaign, nx=True, pxat=expires):
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.delete(meta)
                    pipe.zrem(index, campaign)
                    await pipe.execute()
                return text(await self.redis.get(idem) or b"")
        await self._forget_expired()
        return campaign

    async def _forget_expired(self) -> None:
        """Take the oldest campaigns whose data has expired out of the index."""
        index = campaigns_key(self.prefix)
        raw: list[Any] = await self.redis.zrange(index, 0, FORGET_BATCH - 1)
        oldest = [text(c) for c in raw]
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in oldest:
                pipe.exists(campaign_key(c, self.prefix))
            kept: list[Any] = await pipe.execute()
        gone = [c for c, there in zip(oldest, kept, strict=True) if not there]
        if gone:
            await self.redis.zrem(index, *gone)
            await self.redis.srem(active_campaigns_key(self.prefix), *gone)

    async def add_recipients(
        self, campaign: str, recipients: Sequence[tuple[str, str, int]]
    ) -> int:
        """Store `recipients` (conversation id, recipient as stored, due ms), each in its
        conversation's partition; storing one again changes nothing. How many were new."""
        by_partition: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for r in recipients:
            by_partition[partition_of(r[0], self.partitions)].append(r)
        script = self.script("campaign_add")
        expires = await self.redis.hget(campaign_key(campaign, self.prefix), "expires")
        if expires is None:
            raise KeyError(f"no campaign {campaign}")
        added = 0
        for p, rows in by_partition.items():
            k = self.keys(p)
            keys = [k.campaign_recipients(campaign), k.campaign_queue(campaign),
                    k.campaign_counts(campaign), k.campaigns_due]  # fmt: skip
            for i in range(0, len(rows), ADD_BATCH):
                batch = rows[i : i + ADD_BATCH]
                args: list[Any] = [text(expires), len(batch)]
                for conv_id, recipient, due in batch:
                    args += [conv_id, recipient, due]
                args.append(campaign)
                added += int(await script(keys=keys, args=args))
        return added

    async def move_campaign(
        self, campaign: str, status: Status, *, only_from: Sequence[Status] | None = None
    ) -> Status | None:
        """Change the campaign's status to `status` when it stands where MOVES (or
        `only_from`, narrower) allows it from; where it was (None: no such campaign):
        unchanged when that is not one of those."""
        allowed = MOVES[status] if only_from is None else only_from
        was = text(await self.script("campaign_status")(
            keys=[campaign_key(campaign, self.prefix), active_campaigns_key(self.prefix)],
            args=[str(status), "1" if status in ACTIVE else "0", *map(str, allowed)],
        ))  # fmt: skip
        return Status(was) if was else None

    async def cancel_queued(self, campaign: str) -> int:
        """Count the recipients still queued cancelled, in every partition (one round
        trip); how many."""
        script = self.script("campaign_cancel")
        queues = ([k.campaign_queue(campaign), k.campaign_counts(campaign), k.campaigns_due]
                  for k in map(self.keys, range(self.partitions)))  # fmt: skip
        return sum(map(int, await self.run_all(
            [evalsha(script, keys, campaign) for keys in queues]
        )))  # fmt: skip

    async def campaign(self, campaign: str) -> CampaignRecord | None:
        found = await self.campaigns_of([campaign])
        return found[0] if found else None

    async def campaigns_of(self, ids: Sequence[str]) -> list[CampaignRecord]:
        """The campaigns `ids` that exist, with their counts, in two round trips."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for campaign in ids:
                pipe.hgetall(campaign_key(campaign, self.prefix))
            metas: list[Any] = await pipe.execute()
        found = [(c, m) for c, m in zip(ids, metas, strict=True) if m]
        async with self.redis.pipeline(transaction=False) as pipe:
            for campaign, _ in found:
                for p in range(self.partitions):
                    pipe.hgetall(self.keys(p).campaign_counts(campaign))
            raw: list[Any] = await pipe.execute()
        records = []
        for n, (campaign, meta) in enumerate(found):
            counts: Counter[str] = Counter()
            for h in raw[n * self.partitions : (n + 1) * self.partitions]:
                counts.update({k: int(v) for k, v in parse_counters(h).items()})
            fields = {text(k): text(v) for k, v in meta.items()}
            records.append(CampaignRecord(
                campaign, campaign_from_json(fields["spec"]), Status(fields["status"]),
                int(fields.get("created", 0)), int(fields.get("total", 0)), dict(counts),
                int(fields.get("expires", 0)),
            ))  # fmt: skip
        return records

    async def campaign_ids(self, *, before_ms: int | None = None, limit: int = 50) -> list[str]:
        """Campaign ids, the newest first, made before `before_ms` when given."""
        top = f"({before_ms}" if before_ms is not None else "+inf"
        raw: list[Any] = await self.redis.zrevrangebyscore(
            campaigns_key(self.prefix), top, "-inf", start=0, num=limit
        )
        return [text(r) for r in raw]

    async def active_campaigns(self) -> list[tuple[str, Status, CampaignSpec]]:
        """The campaigns running or paused, with their status and spec: what pumps work."""
        ids = [text(i) for i in await self.redis.smembers(active_campaigns_key(self.prefix))]
        async with self.redis.pipeline(transaction=False) as pipe:
            for campaign in ids:
                pipe.hmget(campaign_key(campaign, self.prefix), ["status", "spec"])
            found: list[Any] = await pipe.execute()
        return [(c, Status(text(status)), campaign_from_json(spec))
                for c, (status, spec) in zip(ids, found, strict=True)
                if status is not None and spec is not None]  # fmt: skip

    async def due_campaigns(self, partition: int, now_ms: int) -> list[str]:
        """The campaigns that may have recipients of the partition due by `now_ms`: the
        partition's index, one read however many campaigns there are. It is never later
        than a campaign's queue; `settle_due` puts it right when it is earlier."""
        raw: list[Any] = await self.redis.zrangebyscore(
            self.keys(partition).campaigns_due, "-inf", now_ms
        )
        return [text(c) for c in raw]

    async def settle_due(self, partition: int, campaign: str) -> int | None:
        """Put the campaign's place in the partition's index of due campaigns right: when its
        first queued recipient is due (ms), None (out of the index) when none is queued."""
        k = self.keys(partition)
        at = int(await self.script("campaign_due")(
            keys=[k.campaign_queue(campaign), k.campaigns_due], args=[campaign]
        ))  # fmt: skip
        return None if at < 0 else at

    async def drop_due(self, partition: int, campaigns: Sequence[str]) -> None:
        """Take campaigns that run no more (done, cancelled, forgotten) out of the
        partition's index of due campaigns."""
        if campaigns:
            await self.redis.zrem(self.keys(partition).campaigns_due, *campaigns)

    async def due_recipients(
        self, partition: int, campaign: str, now_ms: int, limit: int
    ) -> list[Due]:
        """At most `limit` recipients of the partition due by `now_ms`, the earliest first."""
        k = self.keys(partition)
        raw: list[Any] = await self.redis.zrangebyscore(
            k.campaign_queue(campaign), "-inf", now_ms, start=0, num=limit, withscores=True
        )
        if not raw:
            return []
        convs = [text(member) for member, _ in raw]
        stored: list[Any] = await self.redis.hmget(k.campaign_recipients(campaign), convs)
        return [Due(conv, int(score), text(r) if r is not None else "")
                for conv, (_, score), r in zip(convs, raw, stored, strict=True)]  # fmt: skip

    async def release_recipient(
        self, partition: int, token: str, campaign: str, due: Due, *, event_json: str,
        mid_flow: MidFlow, recent_cutoff_ms: int, forced: str = "", now_ms: int = 0,
        gap_ms: int = 0, category: Category = Category.MARKETING,
    ) -> str:  # fmt: skip
        """A recipient's turn (`campaign_release.lua`) at `now_ms` (a start is counted in
        its minute): its status (`started`, `skipped:REASON`), `later` when its conversation
        stepped less than `gap_ms` ago (queued again for when the gap is over), `gone` when
        it was not queued any more, `lease` when this process does not own the partition.
        A `category` of marketing skips customers who opted out of marketing."""
        k = self.keys(partition)
        conv_id = due.conv_id
        keys = [k.lease, k.campaign_queue(campaign), k.campaign_statuses(campaign),
                k.campaign_counts(campaign), k.conv(conv_id), k.opt_out(conv_id),
                k.seen(campaign_message_id(campaign, conv_id)), k.inbox,
                k.conversations, k.campaign_timeline(campaign)]  # fmt: skip
        args: list[str | int] = [token, conv_id, event_json, self.dedup_ttl, str(mid_flow),
                                 recent_cutoff_ms, forced,
                                 (now_ms or due.due_ms) // 60_000, gap_ms,
                                 now_ms or due.due_ms, str(category)]  # fmt: skip
        return text(await self.script("campaign_release")(keys=keys, args=args))

    async def claim_recipients(
        self, business: str, conv_ids: Sequence[str], *, now_ms: int, cap: int,
        window_ms: int = DAY_MS,
    ) -> list[int]:  # fmt: skip
        """Places under a business number's cap of unique recipients in `window_ms` for
        `conv_ids`, in order: 0 for each that may be messaged, else when a place frees."""
        raw = await self.script("campaign_cap")(
            keys=[recipient_cap_key(business, self.prefix)],
            args=[now_ms, window_ms, cap, *(task_prefix(c) for c in conv_ids)],
        )
        return [int(r) for r in raw]

    async def keep_campaign(self, campaign: str, expires_ms: int) -> None:
        """A campaign still running (or paused) keeps its data until `expires_ms`: its own
        hash and every partition's keys of it."""
        meta = campaign_key(campaign, self.prefix)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(meta, "expires", expires_ms)
            pipe.pexpireat(meta, expires_ms)
            for p in range(self.partitions):
                k = self.keys(p)
                for key in (k.campaign_queue(campaign), k.campaign_recipients(campaign),
                            k.campaign_statuses(campaign), k.campaign_counts(campaign),
                            k.campaign_timeline(campaign)):  # fmt: skip
                    pipe.pexpireat(key, expires_ms)
            await pipe.execute()

    async def unclaim_recipients(self, business: str, conv_ids: Sequence[str]) -> None:
        """Give back the places of recipients claimed but not messaged (skipped, gone)."""
        if conv_ids:
            await self.redis.zrem(
                recipient_cap_key(business, self.prefix), *(task_prefix(c) for c in conv_ids)
            )

    async def carry_over(self, partition: int, campaign: str, conv_id: str, due_ms: int) -> None:
        """A recipient put off to `due_ms` by its number's daily cap, counted so."""
        k = self.keys(partition)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(k.campaign_queue(campaign), {conv_id: due_ms}, xx=True)
            pipe.hincrby(k.campaign_counts(campaign), "carried_over", 1)
            await pipe.execute()

    async def campaign_timeline(self, campaign: str) -> dict[int, int]:
        """Recipients started in each minute (ms since the epoch // 60,000), summed over
        the partitions."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(self.partitions):
                pipe.hgetall(self.keys(p).campaign_timeline(campaign))
            raw: list[Any] = await pipe.execute()
        minutes: Counter[int] = Counter()
        for h in raw:
            minutes.update({int(text(k)): int(v) for k, v in h.items()})
        return dict(sorted(minutes.items()))

    async def reschedule(self, partition: int, campaign: str, conv_id: str, due_ms: int) -> None:
        """A queued recipient's turn moved to `due_ms` (quiet hours)."""
        await self.redis.zadd(
            self.keys(partition).campaign_queue(campaign), {conv_id: due_ms}, xx=True
        )

    async def campaign_recipients(
        self, campaign: str, *, partition: int = 0, cursor: int = 0, count: int = 100
    ) -> tuple[list[tuple[str, str, str]], int, int]:
        """A page of a campaign's recipients: (conversation id, recipient as stored, status:
        "" while pending), and where the next page starts (partition, cursor; partition
        `partitions` when there is none)."""
        while partition < self.partitions:
            k = self.keys(partition)
            cursor, raw = await self.redis.hscan(
                k.campaign_recipients(campaign), cursor=cursor, count=count
            )
            page: dict[Any, Any] = raw  # type: ignore[assignment]  # HSCAN: field -> value
            found = [(text(c), text(r)) for c, r in page.items()]
            convs = [c for c, _ in found]
            statuses: list[Any] = (
                await self.redis.hmget(k.campaign_statuses(campaign), convs) if convs else []
            )
            rows = [(c, r, text(s) if s is not None else "")
                    for (c, r), s in zip(found, statuses, strict=True)]  # fmt: skip
            if cursor == 0:
                partition, cursor = partition + 1, 0
            if rows:
                return rows, partition, cursor
        return [], partition, 0
