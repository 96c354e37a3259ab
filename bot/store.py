"""Every Redis key and script of the project, in one place.

Layout: conversations are spread over `partitions` inbox partitions by a stable hash of the
conversation id. Every key of a partition, and so every key of each of its conversations,
carries the partition's hash tag `{bot:pN}`: one conversation's keys always share a cluster
slot, and each script below touches one slot only, so the same code runs on Redis Cluster.

    bot:{pN}:in            stream  inbox: events accepted from callbacks and APIs
    bot:{pN}:out           stream  outbox: replies committed by steps, drained by the sender
    bot:{pN}:dead          stream  dead letters: inbox events a step could not handle,
                                   replies that could not be sent
    bot:{pN}:calls         stream  business-system calls and agent forwards committed by steps
    bot:{pN}:timers        zset    timers of state visits (`visit|name|conv`), by due time
    bot:{pN}:lease         string  owner token of the partition's worker (fencing)
    bot:{pN}:c:CONV        hash    a conversation: flow, state, version, data, ...
    bot:{pN}:seen:ID       string  an accepted message id (drops repeated pushes)
    bot:{pN}:m:TASK        hash    a sent message: message id (mid), send error (err),
                                   delivery status (status, status_err, at)
    bot:{pN}:stats         hash    the partition's counters (PARTITION_COUNTERS), each
                                   incremented by the script or transaction that does what
                                   it counts: no round trip of its own, exact, one slot

Keys of no partition, each only ever used alone (one key per command, script or MULTI), so
wherever its slot is nothing spans slots (the rate limit's script is in
bot/runtime/ratelimit.py):

    bot:{bot:rl:ACCOUNT}   zset    the send rate limit's log of a platform account
                                   (`cams:` + a hash of the access key id): permits granted
                                   in the last second, scored by Redis time in µs
    bot:stats              hash    counters summed over every process: rate_limit_waits,
                                   rate_limit_wait_seconds
    bot:members            zset    the live processes (heartbeats)
    bot:replay:NAME        string  a callback signature already seen (Tencent's replay cache)

On Redis Cluster (bot/redis_client.py): pipelines without MULTI may span slots (the client
sends each node its part); a script missing on a node (NOSCRIPT: a restart, a failover, a
node added) is loaded on every primary and the work run again; stream reads name one stream
each and go straight to the node of its slot.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError, SlotNotCoveredError

from bot.coalesce import Coalescer, evalsha
from bot.flows.engine import Conversation
from bot.model import StatusReceipt, Timer, TimerFired, event_to_json
from bot.redis_client import RedisClient, queue_script

INBOX_GROUP = "w"
OUTBOX_GROUP = "s"
CALLS_GROUP = "c"
CONSUMER = "owner"  # one consumer per group: the partition's lease holder

# Counters of a partition, in the order `bot stats` shows them. Each is incremented where
# the thing it counts happens, in the same script or MULTI (so in the partition's slot).
PARTITION_COUNTERS = (
    "steps",  # inbox entries committed (dead-lettered ones included)
    "sends",  # replies the platform accepted
    "send_retries",  # send attempts that were tried again
    "send_failures_permanent",  # replies the platform refused for good
    "dead_letters_in",  # inbox events a step could not handle
    "dead_letters_out",  # replies given up after every attempt
    "dead_letters_retried",  # dead letters put back by `bot dlq retry`
    "dead_letters_dropped",  # dead letters deleted by `bot dlq drop`
    "duplicates_dropped",  # repeated pushes and triggers answered as repeats
)

# Intake: enqueue an event unless its id was seen. XADD before SET: if anything failed
# between the two, a repeat would be processed twice rather than an event lost.
# KEYS: seen, inbox, stats.
_INTAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'duplicates_dropped', 1)
  return false
end
local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'e', ARGV[2])
redis.call('SET', KEYS[1], id, 'EX', ARGV[3])
return id
"""

# A business trigger is enqueued unless the customer opted out, or (policy `reject`) is in a
# flow: checked atomically with the enqueueing, against what the last commit stored. A repeat
# is answered as such first: a retried trigger that was accepted (and started the flow that
# now makes the customer busy) must not look refused. KEYS: seen, inbox, conv, stats.
_INTAKE_INTENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[4], 'duplicates_dropped', 1)
  return 'repeat'
end
if redis.call('HGET', KEYS[3], 'o') == '1' then return 'opted_out' end
if ARGV[4] == 'reject' and redis.call('HGET', KEYS[3], 'a') == '1' then return 'busy' end
local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'e', ARGV[2])
redis.call('SET', KEYS[1], id, 'EX', ARGV[3])
return 'new'
"""

# Commit one step: fencing token, version check, ack of the inbox entry, then the new state,
# the replies to send, the timers to keep and the calls to make, all or nothing.
# KEYS: conv, inbox, outbox, lease, dead, timers, calls, stats
# ARGV: token, expected version, entry id, ttl,
#       n fields, fields...,
#       n replies, (conv, reply, task, space) x n,
#       dead-letter reason ('' for none), event, conv,
#       n timers to drop, members...,
#       n timers to set, (due, member) x n,
#       n calls, (conv, call, space) x n
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
redis.call('HINCRBY', KEYS[8], 'steps', 1)
if ARGV[i] ~= '' then
  redis.call('XADD', KEYS[5], '*', 'kind', 'in', 'why', ARGV[i], 'c', ARGV[i + 2],
    'e', ARGV[i + 1])
  redis.call('HINCRBY', KEYS[8], 'dead_letters_in', 1)
end
i = i + 3
local nd = tonumber(ARGV[i])
for j = 1, nd do redis.call('ZREM', KEYS[6], ARGV[i + j]) end
i = i + nd + 1
local nt = tonumber(ARGV[i])
for j = 0, nt - 1 do
  redis.call('ZADD', KEYS[6], ARGV[i + 1 + j * 2], ARGV[i + 2 + j * 2])
end
i = i + 1 + nt * 2
local nc = tonumber(ARGV[i])
for j = 0, nc - 1 do
  local b = i + 1 + j * 3
  redis.call('XADD', KEYS[7], '*', 'c', ARGV[b], 'r', ARGV[b + 1], 's', ARGV[b + 2])
end
return {v + 1}
"""

# A due timer fires once: removed from the set and enqueued as an event, atomically.
_FIRE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[2], '*', 'c', ARGV[2], 'e', ARGV[3])
end
return false
"""

# A call is done: enqueue its outcome (unless its dedup key was seen) and ack it, at once.
# One script rather than MULTI: inside MULTI a NOSCRIPT error (Redis restarted) fails the
# enqueueing alone while the ack goes through, and the outcome would be lost.
# KEYS: calls, inbox[, seen]. ARGV: entry id[, conv, event, dedup ttl]
_FINISH_CALL = """
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 0 then
  local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[2], 'e', ARGV[3])
  redis.call('SET', KEYS[3], id, 'EX', ARGV[4])
end
redis.call('XACK', KEYS[1], 'c', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
"""

# Delivery status of a sent message, never going back: a late Delivered never
# overwrites Read; Failed is final. A Failed message of a known conversation also becomes
# an event in its inbox, so a flow can move on (`on_failed:`).
# KEYS: message record, inbox. ARGV: rank, status, at, mid, error, ttl, task id
_STATUS = """
local rank = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0')
if rank <= cur then return 0 end
redis.call('HSET', KEYS[1], 'rank', rank, 'status', ARGV[2], 'at', ARGV[3], 'mid', ARGV[4],
  'status_err', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if rank == 4 then
  local conv = redis.call('HGET', KEYS[1], 'conv')
  local visit = redis.call('HGET', KEYS[1], 'visit')
  if conv and visit then
    local event = cjson.encode({t = 'failed', message_id = 'status:' .. ARGV[7],
      at_ms = tonumber(ARGV[3]), task_id = ARGV[7], error = ARGV[5], visit = tonumber(visit)})
    redis.call('XADD', KEYS[2], '*', 'c', conv, 'e', event)
  end
end
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

# Put a dead letter back where it came from, atomically: a reply into the outbox (same
# task id, so a repeated send shows as such in status receipts), an event into the inbox.
# KEYS: dead, outbox, inbox, stats. ARGV: dead letter id.
# Returns its kind ('out' or 'in'), false when there is no such entry, 'bad' when the entry
# lacks what a retry needs (an `in` entry from before conversations were recorded).
_RETRY_DEAD = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local f, raw = {}, found[1][2]
for j = 1, #raw, 2 do f[raw[j]] = raw[j + 1] end
if f.kind == 'out' and f.c and f.r and f.t then
  redis.call('XADD', KEYS[2], '*', 'c', f.c, 'r', f.r, 't', f.t, 's', f.s or '')
elseif f.kind == 'in' and f.c and f.e then
  redis.call('XADD', KEYS[3], '*', 'c', f.c, 'e', f.e)
else
  return 'bad'
end
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'dead_letters_retried', 1)
return f.kind
"""

# KEYS: dead, stats. ARGV: dead letter ids (at most DROP_BATCH).
_DROP_DEAD = """
local n = redis.call('XDEL', KEYS[1], unpack(ARGV))
if n > 0 then redis.call('HINCRBY', KEYS[2], 'dead_letters_dropped', n) end
return n
"""
DROP_BATCH = 100

# A drained outbox entry is done: ack it and record what became of it (the message record,
# the partition's counters, a dead letter, a SendFailed event), all at once. A script rather
# than MULTI so that it can share a pipeline with other commands (bot/coalesce.py).
# KEYS: outbox, stats, dead, inbox, message record.
# ARGV: entry id, retries, outcome ('dead', 'sent', 'permanent' or ''), error, conv, reply,
#       task, space, failed event ('' for none), message id, visit, ttl
_FINISH_SEND = """
redis.call('XACK', KEYS[1], 's', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if ARGV[2] ~= '0' then redis.call('HINCRBY', KEYS[2], 'send_retries', ARGV[2]) end
if ARGV[3] == 'dead' then
  redis.call('HINCRBY', KEYS[2], 'dead_letters_out', 1)
  redis.call('XADD', KEYS[3], '*', 'kind', 'out', 'why', ARGV[4], 'c', ARGV[5], 'r', ARGV[6],
    't', ARGV[7], 's', ARGV[8])
elseif ARGV[3] == 'sent' then
  redis.call('HINCRBY', KEYS[2], 'sends', 1)
elseif ARGV[3] == 'permanent' then
  redis.call('HINCRBY', KEYS[2], 'send_failures_permanent', 1)
end
if ARGV[9] ~= '' then redis.call('XADD', KEYS[4], '*', 'c', ARGV[5], 'e', ARGV[9]) end
redis.call('HSET', KEYS[5], 'conv', ARGV[5], 'mid', ARGV[10], 'err', ARGV[4], 'visit', ARGV[11])
redis.call('EXPIRE', KEYS[5], ARGV[12])
return 1
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

    @property
    def timers(self) -> str:
        return f"{self.tag}:timers"

    @property
    def calls(self) -> str:
        return f"{self.tag}:calls"

    @property
    def stats(self) -> str:
        return f"{self.tag}:stats"

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
class CallEntry:
    entry_id: str
    conv_id: str
    call_json: str
    space: str


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    entry_id: str
    conv_id: str
    reply_json: str
    task_id: str
    space: str


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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
            visit=int(get.get("vi", "0")),
            attempts=int(get.get("at", "0")),
            opted_out=get.get("o") == "1",
            handoff=get.get("h", ""),
            resume_to=get.get("rt", ""),
            queue=tuple(json.loads(get["q"])) if get.get("q") else (),
            timers=tuple(Timer(n, d) for n, d in json.loads(get["tm"])) if get.get("tm") else (),
            otp=json.loads(get["otp"]) if get.get("otp") else None,
        ),
        get.get("sp", ""),
    )


def conversation_fields(conv: Conversation, space: str, *, active: bool) -> list[str]:
    """The hash fields of a conversation. `a` (in a flow) and `o` (opted out) are read by
    the intake of business triggers, atomically with their enqueueing."""
    return [
        "f", conv.flow or "",
        "s", conv.state or "",
        "fv", conv.flow_version,
        "d", _dumps(conv.data),
        "li", str(conv.last_inbound_ms),
        "sp", space,
        "vi", str(conv.visit),
        "at", str(conv.attempts),
        "o", "1" if conv.opted_out else "",
        "a", "1" if active or conv.handoff else "",
        "h", conv.handoff,
        "rt", conv.resume_to,
        "q", _dumps(list(conv.queue)) if conv.queue else "",
        "tm", _dumps([[t.name, t.due_ms] for t in conv.timers]) if conv.timers else "",
        "otp", _dumps(conv.otp) if conv.otp else "",
    ]  # fmt: skip


def parse_counters(raw: dict[bytes, bytes]) -> dict[str, float]:
    """A counters hash: HINCRBY values as int, HINCRBYFLOAT ones as float."""
    out: dict[str, float] = {}
    for name, value in raw.items():
        text = _s(value)
        out[_s(name)] = float(text) if any(c in text for c in ".eE") else int(text)
    return out


def timer_member(conv_id: str, visit: int, name: str) -> str:
    """A timer in the partition's sorted set: `visit|name|conv`, scored by its due time."""
    return f"{visit}|{name}|{conv_id}"


def parse_timer_member(member: str) -> tuple[str, int, str]:
    visit, name, conv_id = member.split("|", 2)
    return conv_id, int(visit), name


class Store:
    """The project's Redis operations. Holds a client and the registered scripts."""

    def __init__(
        self,
        redis: RedisClient,
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
        self._intake_intent: AsyncScript = redis.register_script(_INTAKE_INTENT)
        self._commit: AsyncScript = redis.register_script(_COMMIT)
        self._fire: AsyncScript = redis.register_script(_FIRE)
        self._finish_call: AsyncScript = redis.register_script(_FINISH_CALL)
        self._status: AsyncScript = redis.register_script(_STATUS)
        self._renew: AsyncScript = redis.register_script(_RENEW)
        self._release: AsyncScript = redis.register_script(_RELEASE)
        self._retry_dead: AsyncScript = redis.register_script(_RETRY_DEAD)
        self._drop_dead: AsyncScript = redis.register_script(_DROP_DEAD)
        self._finish_send: AsyncScript = redis.register_script(_FINISH_SEND)
        self._coalescer: Coalescer | None = None

    @property
    def stats_key(self) -> str:
        """Counters of no partition (the send rate limiter's), summed over processes."""
        return f"{self.prefix}:stats"

    def keys(self, partition: int) -> Keys:
        return Keys.of(partition, self.prefix)

    def keys_for(self, conv_id: str) -> Keys:
        return self.keys(partition_of(conv_id, self.partitions))

    async def load_scripts(self) -> None:
        """Load every script into Redis (after start-up or a Redis restart)."""
        for script in (
            self._intake,
            self._intake_intent,
            self._commit,
            self._fire,
            self._finish_call,
            self._status,
            self._renew,
            self._release,
            self._retry_dead,
            self._drop_dead,
            self._finish_send,
        ):
            script.sha = await self.redis.script_load(script.script)

    def coalescer(self) -> Coalescer:
        """The coalescer of this store's per-message calls (bot/coalesce.py), made on first
        use in the running event loop."""
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
        # One batch of EVALSHAs, sent with the other calls of this loop iteration (no
        # SCRIPT EXISTS first, as redis-py's script call in a pipeline would ask). On a
        # cluster the pipeline sends each node its commands, all nodes at once.
        commands = []
        for ev in events:
            k = self.keys_for(ev.conv_id)
            commands.append(evalsha(
                self._intake, [k.seen(ev.dedup_key), k.inbox, k.stats],
                ev.conv_id, ev.event_json, self.dedup_ttl,
            ))  # fmt: skip
        for conv_id, st in statuses:
            k = self.keys_for(conv_id)
            commands.append(evalsha(
                self._status, [k.message(st.task_id), k.inbox],
                STATUS_RANK.get(st.status.lower(), 0), st.status, st.at_ms,
                st.message_id, st.error_code or st.error_description,
                self.conversation_ttl, st.task_id,
            ))  # fmt: skip
        results = await self.coalescer().submit(commands)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def accept_intent(self, event: Accepted, policy: str) -> str:
        """Enqueue a business trigger: `new`, `repeat`, `opted_out` or `busy` (policy
        `reject` while the customer is in a flow)."""
        k = self.keys_for(event.conv_id)
        res = await self._intake_intent(
            keys=[k.seen(event.dedup_key), k.inbox, k.conv(event.conv_id), k.stats],
            args=[event.conv_id, event.event_json, self.dedup_ttl, policy],
        )
        return _s(res)

    # -- conversations ----------------------------------------------------------------------

    async def load(self, conv_id: str) -> tuple[Conversation, str]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(  # type: ignore[assignment]
            self.keys_for(conv_id).conv(conv_id)
        )
        return conversation_from_hash(raw)

    async def first_sight(self, name: str, ttl_ms: int) -> bool:
        """True the first time `name` is seen within `ttl_ms` (a replay cache)."""
        return bool(await self.redis.set(f"{self.prefix}:replay:{name}", "1", nx=True, px=ttl_ms))

    async def opted_out(self, conv_id: str) -> bool:
        key = self.keys_for(conv_id).conv(conv_id)
        flag: Any = await self.coalescer().execute("HGET", key, "o")
        return bool(flag == b"1")

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
        active: bool = False,
        previous_timers: Iterable[tuple[int, str]] = (),
        calls: Iterable[str] = (),
    ) -> CommitResult:
        """Atomically apply one step: `replies` are (reply json, task id) pairs, `calls`
        call requests as JSON; the conversation's timers replace `previous_timers`
        ((visit, name) pairs of the state as loaded)."""
        k = self.keys(partition)
        fields = conversation_fields(conversation, space, active=active)
        reply_args: list[Any] = []
        for reply_json, task_id in replies:
            reply_args += [conv_id, reply_json, task_id, space]
        drop = [timer_member(conv_id, visit, name) for visit, name in previous_timers]
        keep: list[Any] = []
        for t in conversation.timers:
            keep += [t.due_ms, timer_member(conv_id, conversation.visit, t.name)]
        call_args: list[Any] = []
        for call_json in calls:
            call_args += [conv_id, call_json, space]
        res = await self.coalescer().execute(
            *evalsha(
                self._commit,
                [k.conv(conv_id), k.inbox, k.outbox, k.lease, k.dead, k.timers, k.calls, k.stats],
                token, expected_version, entry_id, self.conversation_ttl,
                len(fields), *fields,
                len(reply_args) // 4, *reply_args,
                dead_reason, event_json, conv_id,
                len(drop), *drop,
                len(keep) // 2, *keep,
                len(call_args) // 3, *call_args,
            )
        )  # fmt: skip
        code = int(res[0])
        if code == -1:
            return CommitResult(False, lost_lease=True)
        if code == -2:
            return CommitResult(False, version=int(res[1]), stale=True)
        if code == -3:
            return CommitResult(False, duplicate=True)
        return CommitResult(True, version=code)

    # -- timers -----------------------------------------------------------------------------

    async def fire_due_timers(self, partition: int, now_ms: int, limit: int = 100) -> int:
        """Move timers due by `now_ms` into the inbox as events; each fires once."""
        k = self.keys(partition)
        due: list[bytes] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            k.timers, "-inf", now_ms, start=0, num=limit
        )
        if not due:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for raw in due:
                member = _s(raw)
                conv_id, visit, name = parse_timer_member(member)
                event = TimerFired(f"timer:{visit}:{name}", now_ms, name, visit)
                queue_script(
                    pipe, self._fire, [k.timers, k.inbox], member, conv_id, event_to_json(event)
                )
            try:
                fired = await pipe.execute()
            except NoScriptError:
                await self.load_scripts()
                return 0
        return sum(1 for f in fired if f is not None)

    # -- partitions and leases --------------------------------------------------------------

    async def ensure_groups(self, partition: int) -> None:
        k = self.keys(partition)
        for stream, group in (
            (k.inbox, INBOX_GROUP),
            (k.outbox, OUTBOX_GROUP),
            (k.calls, CALLS_GROUP),
        ):
            await self._create_group(stream, group)

    async def _create_group(self, stream: str, group: str) -> None:
        try:
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def acquire(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(self.keys(partition).lease, token, nx=True, px=ttl_ms))

    async def renew(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(await self._renew(keys=[self.keys(partition).lease], args=[token, ttl_ms]))

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
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in partitions:
                queue_script(pipe, self._renew, [self.keys(p).lease], token, ttl_ms)
            return [bool(r) for r in await pipe.execute()]

    async def release(self, partition: int, token: str) -> None:
        await self._release(keys=[self.keys(partition).lease], args=[token])

    async def _read(
        self, stream: str, group: str, *, pending: bool, count: int, block_ms: int | None
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        start = "0" if pending else ">"
        check = not pending
        try:
            resp, listed = await self._xreadgroup(
                stream, group, start, count, None if pending else block_ms, check=check
            )
        except ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            # Redis came back without its data (no AOF, or a replica promoted before it had
            # the group): the group goes again from the stream's start; what the stream holds
            # now was accepted after the loss and not yet processed.
            await self._create_group(stream, group)
            resp, listed = await self._xreadgroup(stream, group, start, count, None, check=check)
        read = [(_s(i), fields) for _stream, entries in resp or () for i, fields in entries]
        # Reads are not fenced: a former owner that has not yet noticed it lost the lease may
        # have read entries, which now wait in the pending list, older than these and never
        # to be finished by it. Then read from the pending list's start: all of them, in
        # order. (Otherwise the list holds just what was read here.) This is checked after
        # every read of new entries, not once per lease taken: a former owner can take
        # entries at any time until it notices (a blocking read it sent before its lease
        # lapsed is served after; a stalled process resumes with a read), so a check made
        # once would leave them pending until the next failure, and one made only when a
        # read finds nothing new would step later entries of their conversations first.
        # What makes it cheap: the XPENDING goes in the read's round trip (see _xreadgroup).
        if listed is not None and listed > len(read):
            return await self._read(stream, group, pending=True, count=count, block_ms=None)
        gone = [i for i, fields in read if not fields]
        if gone:
            # Deleted while pending: nothing left to do with them, so off the pending list.
            await self.redis.xack(stream, group, *gone)
        return [(i, fields) for i, fields in read if fields]

    async def _xreadgroup(
        self, stream: str, group: str, start: str, count: int, block_ms: int | None, *, check: bool
    ) -> tuple[Any, int | None]:
        """XREADGROUP's reply and, when `check`, the length of the group's pending list
        right after it (XPENDING); None when not `check`."""
        if not isinstance(self.redis, RedisCluster):
            if not check:
                resp = await self.redis.xreadgroup(
                    group, CONSUMER, {stream: start}, count=count, block=block_ms
                )
                return resp, None
            # One round trip: Redis runs the XPENDING as soon as the (blocking) read is
            # answered, on the same connection.
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xreadgroup(group, CONSUMER, {stream: start}, count=count, block=block_ms)
                pipe.xpending(stream, group)
                resp, info = await pipe.execute()
            return resp, int(info["pending"])
        # XREADGROUP's keys are "movable": the cluster client would ask a node which key
        # it names (COMMAND GETKEYS) before each read, twice, in a pipeline too. The
        # stream's node is known: the read goes there, then the XPENDING, apart.
        args: list[Any] = ["XREADGROUP", "GROUP", group, CONSUMER, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        args += ["STREAMS", stream, start]
        try:
            node = self.redis.get_node_from_key(stream)
        except SlotNotCoveredError:  # the client has not learnt the slots yet
            resp = await self.redis.execute_command(*args)
        else:
            resp = await self.redis.execute_command(*args, target_nodes=node)
        if not check:
            return resp, None
        summary: Any = await self.redis.xpending(stream, group)
        return resp, int(summary["pending"])

    async def read_inbox(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None
    ) -> list[tuple[str, str, str]]:
        """(entry id, conv id, event json) from the partition's inbox; `pending` re-reads
        entries delivered before but never committed (after a crash or a takeover)."""
        entries = await self._read(
            self.keys(partition).inbox, INBOX_GROUP, pending=pending, count=count,
            block_ms=block_ms,
        )  # fmt: skip
        return [(i, _s(f[b"c"]), _s(f[b"e"])) for i, f in entries]

    async def read_outbox(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None
    ) -> list[OutboxEntry]:
        entries = await self._read(
            self.keys(partition).outbox, OUTBOX_GROUP, pending=pending, count=count,
            block_ms=block_ms,
        )  # fmt: skip
        return [
            OutboxEntry(i, _s(f[b"c"]), _s(f[b"r"]), _s(f[b"t"]), _s(f.get(b"s", b"")))
            for i, f in entries
        ]

    async def read_calls(
        self, partition: int, *, pending: bool, count: int, block_ms: int | None
    ) -> list[CallEntry]:
        entries = await self._read(
            self.keys(partition).calls, CALLS_GROUP, pending=pending, count=count,
            block_ms=block_ms,
        )  # fmt: skip
        return [CallEntry(i, _s(f[b"c"]), _s(f[b"r"]), _s(f.get(b"s", b""))) for i, f in entries]

    async def finish_call(self, partition: int, entry: CallEntry, result: Accepted | None) -> None:
        """Ack a call and enqueue its outcome event (dropped when its dedup key was seen),
        atomically."""
        k = self.keys(partition)
        keys = [k.calls, k.inbox]
        args: list[Any] = [entry.entry_id]
        if result is not None:
            keys.append(k.seen(result.dedup_key))
            args += [result.conv_id, result.event_json, self.dedup_ttl]
        await self._finish_call(keys=keys, args=args)

    async def finish_send(
        self,
        partition: int,
        entry: OutboxEntry,
        *,
        message_id: str = "",
        error: str = "",
        dead: bool = False,
        visit: int = -1,
        failed: str = "",
        retries: int = 0,
        permanent: bool = False,
    ) -> None:
        """Ack a drained outbox entry and record what became of it, in one script.
        `failed` (an event, as JSON) tells the conversation its message failed for good.
        The partition's counters count the send (a `message_id`), a `permanent` failure or
        a `dead` letter, and the `retries` it took, in the same script."""
        k = self.keys(partition)
        outcome = (
            "dead" if dead else "sent" if message_id else "permanent" if permanent else ""
        )  # fmt: skip
        await self.coalescer().execute(
            *evalsha(
                self._finish_send,
                [k.outbox, k.stats, k.dead, k.inbox, k.message(entry.task_id)],
                entry.entry_id, retries, outcome, error, entry.conv_id, entry.reply_json,
                entry.task_id, entry.space, failed, message_id, visit, self.conversation_ttl,
            )
        )  # fmt: skip

    # -- dead letters and counters ----------------------------------------------------------

    async def dead_letters(
        self, partition: int, *, start: str = "-", end: str = "+", count: int = 100
    ) -> list[tuple[str, dict[str, str]]]:
        """Up to `count` of a partition's dead letters from `start` to `end` (stream ids as
        XRANGE takes them: `(ID` excludes), oldest first, as (stream id, fields)."""
        raw: Any = await self.redis.xrange(self.keys(partition).dead, start, end, count=count)
        return [(_s(i), {_s(k): _s(v) for k, v in f.items()}) for i, f in raw]

    async def retry_dead(self, partition: int, entry_id: str) -> str | None:
        """Put a dead letter back where it came from: its kind (`out`, `in`), None when there
        is no such entry, `bad` when it cannot be retried."""
        k = self.keys(partition)
        res = await self._retry_dead(keys=[k.dead, k.outbox, k.inbox, k.stats], args=[entry_id])
        return None if res is None else _s(res)

    async def drop_dead(self, partition: int, entry_ids: Sequence[str]) -> int:
        """Delete dead letters of a partition; return how many there were."""
        k = self.keys(partition)
        dropped = 0
        for i in range(0, len(entry_ids), DROP_BATCH):
            batch = entry_ids[i : i + DROP_BATCH]
            dropped += int(await self._drop_dead(keys=[k.dead, k.stats], args=list(batch)))
        return dropped

    async def counters(self) -> dict[str, float]:
        """Every counter, summed over the partitions and `stats_key`; absent ones are 0."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.stats_key)
            for p in range(self.partitions):
                pipe.hgetall(self.keys(p).stats)
            hashes: list[dict[bytes, bytes]] = await pipe.execute()
        total: dict[str, float] = dict.fromkeys(PARTITION_COUNTERS, 0)
        for h in hashes:
            for name, value in parse_counters(h).items():
                total[name] = total.get(name, 0) + value
        return total

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
