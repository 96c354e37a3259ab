"""Every Redis key and script of the project, in one place.

Layout: conversations are spread over `partitions` inbox partitions by a stable hash of the
conversation id. Every key of a partition, and so every key of each of its conversations,
carries the partition's hash tag `{bot:pN}`: one conversation's keys always share a cluster
slot, and each script below touches one slot only, so the same code runs on Redis Cluster.

    bot:{pN}:in            stream  inbox: events accepted from callbacks and APIs
    bot:{pN}:out           stream  outbox: replies committed by steps, drained by the sender
    bot:{pN}:dead          stream  dead letters: inbox events a step could not handle,
                                   replies that could not be sent
    bot:{pN}:lease         string  owner token of the partition's worker (fencing)
    bot:{pN}:c:CONV        hash    a conversation: flow, state, version, data, ...
    bot:{pN}:seen:ID       string  an accepted message id (drops repeated pushes)
    bot:{pN}:m:TASK        hash    a sent message: message id (mid), send error (err),
                                   delivery status (status, status_err, at)
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from bot.flows.engine import Conversation
from bot.model import StatusReceipt

INBOX_GROUP = "w"
OUTBOX_GROUP = "s"
CONSUMER = "owner"  # one consumer per group: the partition's lease holder

# Intake: enqueue an event unless its id was seen. XADD before SET: if anything failed
# between the two, a repeat would be processed twice rather than an event lost.
_INTAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'e', ARGV[2])
redis.call('SET', KEYS[1], id, 'EX', ARGV[3])
return id
"""

# Commit one step: fencing token, version check, ack of the inbox entry, new state and
# the replies to send, all or nothing.
# KEYS: conv, inbox, outbox, lease, dead
# ARGV: token, expected version, entry id, ttl, n fields, fields..., n replies, (conv, reply,
#       task, space) x n, dead-letter reason ('' for none), event
_COMMIT = """
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {-1} end
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[2]) then return {-2, v} end
if redis.call('XACK', KEYS[2], 'w', ARGV[3]) == 0 then return {-3} end
redis.call('XDEL', KEYS[2], ARGV[3])
local i = 5
local nf = tonumber(ARGV[i])
local fields = {'v', v + 1}
for j = 1, nf do fields[#fields + 1] = ARGV[i + j] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[4])
i = i + nf + 1
local nr = tonumber(ARGV[i])
for j = 0, nr - 1 do
  local b = i + 1 + j * 4
  redis.call('XADD', KEYS[3], '*',
    'c', ARGV[b], 'r', ARGV[b + 1], 't', ARGV[b + 2], 's', ARGV[b + 3])
end
i = i + 1 + nr * 4
if ARGV[i] ~= '' then
  redis.call('XADD', KEYS[5], '*', 'kind', 'in', 'why', ARGV[i], 'e', ARGV[i + 1])
end
return {v + 1}
"""

# Delivery status of a sent message, never going back: a late Delivered never
# overwrites Read; Failed is final.
_STATUS = """
local rank = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0')
if rank <= cur then return 0 end
redis.call('HSET', KEYS[1], 'rank', rank, 'status', ARGV[2], 'at', ARGV[3], 'mid', ARGV[4],
  'status_err', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


def partition_of(conv_id: str, partitions: int) -> int:
    """Stable partition of a conversation: the same in every process and release."""
    return zlib.crc32(conv_id.encode()) % partitions


@dataclass(frozen=True)
class Keys:
    """Key names of one partition."""

    tag: str

    @classmethod
    def of(cls, partition: int, prefix: str = "bot") -> Keys:
        return cls(f"{prefix}:{{{prefix}:p{partition}}}")

    @property
    def inbox(self) -> str:
        return f"{self.tag}:in"

    @property
    def outbox(self) -> str:
        return f"{self.tag}:out"

    @property
    def dead(self) -> str:
        return f"{self.tag}:dead"

    @property
    def lease(self) -> str:
        return f"{self.tag}:lease"

    def conv(self, conv_id: str) -> str:
        return f"{self.tag}:c:{conv_id}"

    def seen(self, message_key: str) -> str:
        return f"{self.tag}:seen:{message_key}"

    def message(self, task_id: str) -> str:
        return f"{self.tag}:m:{task_id}"


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event for a conversation, ready to enqueue; `dedup_key` identifies repeats."""

    conv_id: str
    dedup_key: str
    event_json: str


@dataclass(frozen=True, slots=True)
class CommitResult:
    ok: bool
    version: int = 0
    lost_lease: bool = False
    stale: bool = False
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    entry_id: str
    conv_id: str
    reply_json: str
    task_id: str
    space: str


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def conversation_from_hash(raw: dict[bytes, bytes]) -> tuple[Conversation, str]:
    """A stored conversation hash -> (Conversation, CustSpaceId)."""
    if not raw:
        return Conversation(), ""
    get = {k.decode(): v.decode() for k, v in raw.items()}
    return (
        Conversation(
            flow=get.get("f") or None,
            state=get.get("s") or None,
            version=int(get.get("v", "0")),
            flow_version=get.get("fv", ""),
            data=json.loads(get["d"]) if get.get("d") else {},
            last_inbound_ms=int(get.get("li", "0")),
        ),
        get.get("sp", ""),
    )


def conversation_fields(conv: Conversation, space: str) -> list[str]:
    return [
        "f",
        conv.flow or "",
        "s",
        conv.state or "",
        "fv",
        conv.flow_version,
        "d",
        json.dumps(conv.data, separators=(",", ":"), ensure_ascii=False),
        "li",
        str(conv.last_inbound_ms),
        "sp",
        space,
    ]


class Store:
    """The project's Redis operations. Holds a client and the registered scripts."""

    def __init__(
        self,
        redis: Redis,
        *,
        partitions: int,
        conversation_ttl: int,
        dedup_ttl: int,
        prefix: str = "bot",
    ) -> None:
        self.redis = redis
        self.partitions = partitions
        self.conversation_ttl = conversation_ttl
        self.dedup_ttl = dedup_ttl
        self.prefix = prefix
        self._intake: AsyncScript = redis.register_script(_INTAKE)
        self._commit: AsyncScript = redis.register_script(_COMMIT)
        self._status: AsyncScript = redis.register_script(_STATUS)
        self._renew: AsyncScript = redis.register_script(_RENEW)
        self._release: AsyncScript = redis.register_script(_RELEASE)

    def keys(self, partition: int) -> Keys:
        return Keys.of(partition, self.prefix)

    def keys_for(self, conv_id: str) -> Keys:
        return self.keys(partition_of(conv_id, self.partitions))

    # -- intake -----------------------------------------------------------------------------

    async def accept(
        self, events: Sequence[Accepted], statuses: Sequence[tuple[str, StatusReceipt]] = ()
    ) -> list[bool]:
        """Store events (True: new, False: a repeat) and status receipts in one round trip.
        Raises redis errors: then nothing may be acknowledged."""
        if not events and not statuses:
            return []
        for attempt in (1, 2):
            try:
                results = await self._accept(events, statuses)
                break
            except NoScriptError:
                # Redis restarted without our scripts: load them and run the batch again
                # (intake is idempotent, statuses never regress).
                if attempt == 2:
                    raise
                await self.load_scripts()
        return [r is not None for r in results[: len(events)]]

    async def _accept(
        self, events: Sequence[Accepted], statuses: Sequence[tuple[str, StatusReceipt]]
    ) -> list[Any]:
        # EVALSHA straight into the pipeline: redis-py would otherwise ask SCRIPT EXISTS
        # before every pipeline, a second round trip per callback.
        async with self.redis.pipeline(transaction=False) as pipe:
            for ev in events:
                k = self.keys_for(ev.conv_id)
                pipe.evalsha(
                    self._intake.sha, 2, k.seen(ev.dedup_key), k.inbox,
                    ev.conv_id, ev.event_json, self.dedup_ttl,
                )  # fmt: skip
            for conv_id, st in statuses:
                k = self.keys_for(conv_id)
                pipe.evalsha(
                    self._status.sha, 1, k.message(st.task_id),
                    STATUS_RANK.get(st.status.lower(), 0), st.status, st.at_ms,
                    st.message_id, st.error_code, self.conversation_ttl,
                )  # fmt: skip
            results: list[Any] = await pipe.execute()
        return results

    async def load_scripts(self) -> None:
        """Load every script into Redis (after start-up or a Redis restart)."""
        for script in (self._intake, self._commit, self._status, self._renew, self._release):
            script.sha = await self.redis.script_load(script.script)

    # -- conversations ----------------------------------------------------------------------

    async def load(self, conv_id: str) -> tuple[Conversation, str]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(  # type: ignore[assignment]
            self.keys_for(conv_id).conv(conv_id)
        )
        return conversation_from_hash(raw)

    async def commit(
        self,
        *,
        partition: int,
        token: str,
        conv_id: str,
        expected_version: int,
        entry_id: str,
        conversation: Conversation,
        space: str,
        replies: Iterable[tuple[str, str]],
        dead_reason: str = "",
        event_json: str = "",
    ) -> CommitResult:
        """Atomically apply one step. `replies` are (reply json, task id) pairs."""
        k = self.keys(partition)
        fields = conversation_fields(conversation, space)
        reply_args: list[Any] = []
        n = 0
        for reply_json, task_id in replies:
            reply_args += [conv_id, reply_json, task_id, space]
            n += 1
        res = await self._commit(
            keys=[k.conv(conv_id), k.inbox, k.outbox, k.lease, k.dead],
            args=[
                token,
                expected_version,
                entry_id,
                self.conversation_ttl,
                len(fields),
                *fields,
                n,
                *reply_args,
                dead_reason,
                event_json,
            ],
        )
        code = int(res[0])
        if code == -1:
            return CommitResult(False, lost_lease=True)
        if code == -2:
            return CommitResult(False, version=int(res[1]), stale=True)
        if code == -3:
            return CommitResult(False, duplicate=True)
        return CommitResult(True, version=code)

    # -- partitions and leases --------------------------------------------------------------

    async def ensure_groups(self, partition: int) -> None:
        k = self.keys(partition)
        for stream, group in ((k.inbox, INBOX_GROUP), (k.outbox, OUTBOX_GROUP)):
            try:
                await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except Exception as e:
                if "BUSYGROUP" not in str(e):
                    raise

    async def acquire(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(self.keys(partition).lease, token, nx=True, px=ttl_ms))

    async def renew(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(await self._renew(keys=[self.keys(partition).lease], args=[token, ttl_ms]))

    async def release(self, partition: int, token: str) -> None:
        await self._release(keys=[self.keys(partition).lease], args=[token])

    async def read_inbox(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None
    ) -> list[tuple[str, str, str]]:
        """(entry id, conv id, event json) from the partition's inbox; `pending` re-reads
        entries delivered before but never committed (after a crash or a takeover)."""
        k = self.keys(partition)
        resp: Any = await self.redis.xreadgroup(
            INBOX_GROUP,
            CONSUMER,
            {k.inbox: "0" if pending else ">"},
            count=count,
            block=None if pending else block_ms,
        )
        out = []
        for _stream, entries in resp or ():
            for entry_id, fields in entries:
                if not fields:  # deleted while pending
                    continue
                out.append((_s(entry_id), _s(fields[b"c"]), _s(fields[b"e"])))
        return out

    async def read_outbox(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None
    ) -> list[OutboxEntry]:
        k = self.keys(partition)
        resp: Any = await self.redis.xreadgroup(
            OUTBOX_GROUP,
            CONSUMER,
            {k.outbox: "0" if pending else ">"},
            count=count,
            block=None if pending else block_ms,
        )
        out = []
        for _stream, entries in resp or ():
            for entry_id, f in entries:
                if not f:
                    continue
                out.append(
                    OutboxEntry(
                        _s(entry_id), _s(f[b"c"]), _s(f[b"r"]), _s(f[b"t"]), _s(f.get(b"s", b""))
                    )
                )
        return out

    async def finish_send(
        self,
        partition: int,
        entry: OutboxEntry,
        *,
        message_id: str = "",
        error: str = "",
        dead: bool = False,
    ) -> None:
        """Ack a drained outbox entry and record what became of it, in one transaction."""
        k = self.keys(partition)
        record = k.message(entry.task_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(k.outbox, OUTBOX_GROUP, entry.entry_id)
            pipe.xdel(k.outbox, entry.entry_id)
            mapping: Any = {"conv": entry.conv_id, "mid": message_id, "err": error}
            if dead:
                pipe.xadd(
                    k.dead,
                    {
                        "kind": "out",
                        "why": error,
                        "c": entry.conv_id,
                        "r": entry.reply_json,
                        "t": entry.task_id,
                        "s": entry.space,
                    },
                )
            pipe.hset(record, mapping=mapping)
            pipe.expire(record, self.conversation_ttl)
            await pipe.execute()

    async def heartbeat(self, token: str, ttl_ms: int, now_ms: int) -> int:
        """Register this process as alive; return how many processes are."""
        key = f"{self.prefix}:members"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {token: now_ms + ttl_ms})
            pipe.zremrangebyscore(key, "-inf", now_ms)
            pipe.zcard(key)
            pipe.pexpire(key, ttl_ms * 2)
            res = await pipe.execute()
        return max(1, int(res[2]))

    async def leave(self, token: str) -> None:
        await self.redis.zrem(f"{self.prefix}:members", token)
