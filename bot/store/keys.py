"""Every Redis key of the project, and the hash tags that place them: nothing outside this
module builds a key (tests/test_layout.py checks it).

Conversations are spread over `partitions` inbox partitions by a stable hash of the
conversation id. Every key of a partition, and so every key of each of its conversations,
carries the partition's hash tag `{bot:pN}`: one conversation's keys always share a cluster
slot, and each script touches one slot only, so the same code runs on Redis Cluster.

    bot:{pN}:in            stream  inbox: events accepted from callbacks and APIs
    bot:{pN}:out           stream  outbox: replies committed by steps, drained by the sender
    bot:{pN}:cout          stream  the campaigns' outbox: a campaign's first messages (its
                                   start's replies), drained by a sender of their own
    bot:{pN}:dead          stream  dead letters: inbox events a step could not handle,
                                   replies that could not be sent
    bot:{pN}:calls         stream  business-system calls and agent forwards committed by steps
    bot:{pN}:timers        zset    timers of state visits (`visit|name|conv`), by due time
    bot:{pN}:lease         string  owner token of the partition's worker (fencing)
    bot:{pN}:c:CONV        hash    a conversation: flow, state, version, data, ...
    bot:{pN}:flows:HOUR    hash    the flows' counts of the partition's steps in an hour (ms
                                   since the epoch // 3,600,000): moves, states entered,
                                   exits (codec: flow_count_field), kept FLOW_COUNTS_DAYS
    bot:{pN}:convs         zset    the partition's conversations (ids), scored by when each
                                   last stepped (ms); none idle longer than
                                   BOT_CONVERSATION_TTL
    bot:{pN}:h:CONV        list    a conversation's history (bot.model.HistoryEntry): its
                                   steps, sends and delivery statuses, at most
                                   BOT_HISTORY_LENGTH entries, none older than
                                   BOT_HISTORY_TTL
    bot:{pN}:seen:ID       string  an accepted message id (drops repeated pushes)
    bot:{pN}:optout:HASH   string  a customer's opt-out (`1` STOP, `m` STOP MARKETING,
                                   `1m`), named by a SHA-256 of the conversation id and
                                   holding nothing else: written as it changes, kept
                                   BOT_OPT_OUT_TTL, it stands for a conversation forgotten
                                   or erased
    bot:{pN}:m:TASKPREFIX.VERSION.INDEX  (a sent message's record, below: TASKPREFIX is
                                   `task_prefix(CONV)`, so a conversation's records are found)
    bot:{pN}:m:TASK        hash    a sent message: message id (mid), send error (err),
                                   delivery status (status, status_err, at)
    bot:{pN}:cq:CAMPAIGN   zset    a campaign's recipients of the partition still to message
                                   (conversation ids), by when each may be
    bot:{pN}:cr:CAMPAIGN   hash    ... each recipient's data and time zone (codec), by
                                   conversation id
    bot:{pN}:cs:CAMPAIGN   hash    ... each recipient's status once its turn came (`started`,
                                   `skipped:REASON`)
    bot:{pN}:cn:CAMPAIGN   hash    ... the counts: pending, started, skipped:REASON, cancelled
    bot:{pN}:ct:CAMPAIGN   hash    ... the recipients started in each minute (ms // 60,000)
    bot:{pN}:cdue          zset    the campaigns with recipients queued in the partition, by
                                   the earliest time one may be due: never later than the
                                   queue's first (a store lowers it, the pump raises it
                                   when it finds none due), so a pump reads only this
    bot:{pN}:stats         hash    the partition's counters (PARTITION_COUNTERS), each
                                   incremented by the script or transaction that does what
                                   it counts: no round trip of its own, exact, one slot

Keys of no partition, each only ever used alone (one key per command, script or MULTI), so
wherever its slot is nothing spans slots:

    bot:{bot:rl:ACCOUNT}   zset    the send rate limit's log of a platform account
                                   (`cams:` + a hash of the access key id): permits granted
                                   in the last second, scored by Redis time in µs
    bot:stats              hash    counters summed over every process: rate_limit_waits,
                                   rate_limit_wait_seconds
    bot:members            zset    the live processes (heartbeats)
    bot:optouts-kept       string  set once the conversations stored before steps wrote
                                   their opt-out key have had theirs written
    bot:replay:NAME        string  a callback signature already seen (Tencent's replay cache:
                                   NAME is `tencent:SIGN:DIGEST`)
    bot:console:s:HASH     hash    a web console session, named by a SHA-256 of its cookie:
                                   the token's digest, the CSRF token, when it was opened;
                                   expires BOT_CONSOLE_SESSION_TTL after its last use
    bot:{bot:cap:NUMBER}   zset    the recipients a business number's campaigns messaged in the
                                   last 24 hours (one-way hashes of their conversations, by
                                   when): WhatsApp's daily cap of unique recipients
    bot:{bot:camps}:c:CAMPAIGN  hash  a campaign: its id, spec (codec), status, when it was
                                   made, how many recipients it has
    bot:{bot:camps}:index  zset    every campaign's id, by when it was made
    bot:{bot:camps}:active set     the campaigns running or paused: what the pumps look at
    bot:{bot:camps}:key:HASH string  the campaign made for an Idempotency-Key (a SHA-256)
    (The campaigns' own keys share one slot: a change of status updates the set too.)
    bot:console:key        string  the console's key for its links to conversations (Fernet)
    bot:console:f:HASH     string  console sign-ins of a client (a SHA-256 of its address,
                                   of its /64 for IPv6) in the current window

(`bot` is the store's prefix, its default.) What the values hold is in bot/store/codec.py.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

PREFIX = "bot"


def task_prefix(conv_id: str) -> str:
    """What the task ids of a conversation's replies start with (`PREFIX.VERSION.INDEX`):
    16 hex digits of a SHA-256 of its id, the same in every process and release."""
    return hashlib.sha256(conv_id.encode()).hexdigest()[:16]


def partition_of(conv_id: str, partitions: int) -> int:
    """Stable partition of a conversation: the same in every process and release."""
    return zlib.crc32(conv_id.encode()) % partitions


@dataclass(frozen=True)
class Keys:
    """Key names of one partition."""

    tag: str

    @classmethod
    def of(cls, partition: int, prefix: str = PREFIX) -> Keys:
        return cls(f"{prefix}:{{{prefix}:p{partition}}}")

    @property
    def inbox(self) -> str:
        return f"{self.tag}:in"

    @property
    def outbox(self) -> str:
        return f"{self.tag}:out"

    @property
    def campaign_outbox(self) -> str:
        return f"{self.tag}:cout"

    def outbox_of(self, lane: str) -> str:
        """The outbox of a lane (bot.store.streams.Lane)."""
        return self.campaign_outbox if lane == "campaigns" else self.outbox

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

    @property
    def conversations(self) -> str:
        return f"{self.tag}:convs"

    def flow_counts(self, hour: int) -> str:
        return f"{self.tag}:flows:{hour}"

    def campaign_queue(self, campaign: str) -> str:
        return f"{self.tag}:cq:{campaign}"

    def campaign_recipients(self, campaign: str) -> str:
        return f"{self.tag}:cr:{campaign}"

    def campaign_statuses(self, campaign: str) -> str:
        return f"{self.tag}:cs:{campaign}"

    def campaign_counts(self, campaign: str) -> str:
        return f"{self.tag}:cn:{campaign}"

    def campaign_timeline(self, campaign: str) -> str:
        return f"{self.tag}:ct:{campaign}"

    @property
    def campaigns_due(self) -> str:
        return f"{self.tag}:cdue"

    def conv(self, conv_id: str) -> str:
        return f"{self.tag}:c:{conv_id}"

    def history(self, conv_id: str) -> str:
        return f"{self.tag}:h:{conv_id}"

    def seen(self, message_key: str) -> str:
        return f"{self.tag}:seen:{message_key}"

    def message(self, task_id: str) -> str:
        return f"{self.tag}:m:{task_id}"

    def messages_of(self, conv_id: str) -> str:
        """The pattern of the keys of a conversation's sent messages' records (SCAN)."""
        return f"{self.tag}:m:{task_prefix(conv_id)}.*"

    def opt_out(self, conv_id: str) -> str:
        return f"{self.tag}:optout:{hashlib.sha256(conv_id.encode()).hexdigest()}"


HEX = "0123456789abcdef"


def opt_out_keys(prefix: str = PREFIX) -> str:
    """A pattern (SCAN) of every partition's conversation hashes and opt-out keys, among
    others: `opt_outs_of_key` tells them apart."""
    return f"{prefix}:{{{prefix}:p*}}:[co]*"


def opt_outs_of_key(key: str, prefix: str = PREFIX) -> tuple[str, ...]:
    """For a conversation's hash, it and its opt-out key; for an opt-out key, it alone;
    for any other key, nothing."""
    head = f"{prefix}:{{{prefix}:p"
    number, found, rest = key.removeprefix(head).partition("}:")
    if not (key.startswith(head) and found and number.isascii() and number.isdigit()):
        return ()
    if rest.startswith("c:") and len(rest) > 2:
        return key, Keys(f"{head}{number}}}").opt_out(rest[2:])
    digest = rest.removeprefix("optout:")
    if rest.startswith("optout:") and len(digest) == 64 and set(digest) <= set(HEX):
        return (key,)
    return ()


def opt_outs_kept_key(prefix: str = PREFIX) -> str:
    """Set once every conversation stored before steps wrote their opt-out key has had its
    written (Steps.keep_opt_outs)."""
    return f"{prefix}:optouts-kept"


def stats_key(prefix: str = PREFIX) -> str:
    """Counters of no partition (the send rate limiter's), summed over processes."""
    return f"{prefix}:stats"


def members_key(prefix: str = PREFIX) -> str:
    """The live processes, each scored by when its heartbeat lapses."""
    return f"{prefix}:members"


def replay_key(parts: tuple[str, ...], prefix: str = PREFIX) -> str:
    """A request seen once (a replay cache), named by its parts: `bot:replay:A:B:...`."""
    return f"{prefix}:replay:{':'.join(parts)}"


def account_key(account: str, prefix: str = PREFIX) -> str:
    """The Redis key of an account's rate-limit log, `bot:{bot:rl:ACCOUNT}`: a slot of its
    own."""
    return f"{prefix}:{{{prefix}:rl:{account}}}"


def console_session_key(name: str, prefix: str = PREFIX) -> str:
    """A console session, named by a digest of its cookie: `bot:console:s:NAME`."""
    return f"{prefix}:console:s:{name}"


def console_failures_key(client: str, prefix: str = PREFIX) -> str:
    """A client's failed console sign-ins: `bot:console:f:CLIENT`."""
    return f"{prefix}:console:f:{client}"


def console_key(prefix: str = PREFIX) -> str:
    """The console's key for the links it makes: `bot:console:key`."""
    return f"{prefix}:console:key"


def _campaigns(prefix: str) -> str:
    return f"{prefix}:{{{prefix}:camps}}"


def campaign_key(campaign: str, prefix: str = PREFIX) -> str:
    """A campaign's own hash: `bot:{bot:camps}:c:ID`."""
    return f"{_campaigns(prefix)}:c:{campaign}"


def campaigns_key(prefix: str = PREFIX) -> str:
    """Every campaign, by when it was made: `bot:{bot:camps}:index`."""
    return f"{_campaigns(prefix)}:index"


def active_campaigns_key(prefix: str = PREFIX) -> str:
    """The campaigns running or paused: `bot:{bot:camps}:active`."""
    return f"{_campaigns(prefix)}:active"


def campaign_idempotency_key(key: str, prefix: str = PREFIX) -> str:
    """The campaign made for an Idempotency-Key: `bot:{bot:camps}:key:SHA256`."""
    return f"{_campaigns(prefix)}:key:{hashlib.sha256(key.encode()).hexdigest()}"


def recipient_cap_key(business: str, prefix: str = PREFIX) -> str:
    """A business number's log of recipients messaged in the last 24 hours: a slot of its
    own, `bot:{bot:cap:NUMBER}`."""
    return f"{prefix}:{{{prefix}:cap:{business}}}"
