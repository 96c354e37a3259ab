"""The store: the only code that names a Redis key or talks to Redis. Callers import from
here.

    keys.py      every key and hash tag, in one table
    scripts/     the Lua scripts, one file each (lua.py reads and registers them)
    codec.py     the stored form of each value (events, replies, calls, conversations,
                 timers, counters) and the way back
    client.py    the client of a single Redis or a Redis Cluster, failing the same way;
                 the errors callers catch
    coalesce.py  the per-message calls of one loop iteration in one pipeline
    store.py     the Store, made of core.py and its parts: intake.py, steps.py, streams.py,
                 outcomes.py, leases.py, dead.py, reads.py, history.py, directory.py,
                 erase.py, counts.py, console.py, campaigns.py
    permits.py   the send rate limit's logs
    nodes.py     commands to the local redis-server processes (forming a cluster)
"""

from bot.store.campaigns import CampaignRecord, Due
from bot.store.client import (
    POOL_CONNECTIONS,
    POOL_TIMEOUT,
    REDIS_TIMEOUTS,
    NoScriptError,
    RedisClient,
    RedisConnectionError,
    RedisError,
    ResponseError,
    check_server,
    cluster_enabled,
    connect,
    redis_client,
    server_problem,
)
from bot.store.codec import (
    FlowCount,
    address_from_entry,
    call_from_json,
    call_to_json,
    campaign_from_json,
    campaign_to_json,
    conversation_fields,
    conversation_from_hash,
    event_from_json,
    event_to_json,
    parse_counters,
    parse_timer_member,
    recipient_from_json,
    recipient_to_json,
    reply_from_json,
    reply_to_json,
    timer_member,
)
from bot.store.core import NO_HISTORY, HistoryPolicy
from bot.store.dead import DeadEntry
from bot.store.directory import ConversationQuery, Found
from bot.store.erase import Erased
from bot.store.intake import STATUS_RANK, Accepted
from bot.store.keys import Keys, account_key, partition_of, task_prefix
from bot.store.permits import Granted, PermitLog
from bot.store.reads import GLOBAL_COUNTERS, PARTITION_COUNTERS, Backlog, PartitionStats, Stats
from bot.store.steps import CommitResult, StepTrace
from bot.store.store import Store
from bot.store.streams import (
    CALLS_GROUP,
    INBOX_GROUP,
    OUTBOX_GROUP,
    CallEntry,
    Lane,
    OutboxEntry,
)

__all__ = [
    "CALLS_GROUP",
    "GLOBAL_COUNTERS",
    "INBOX_GROUP",
    "NO_HISTORY",
    "OUTBOX_GROUP",
    "PARTITION_COUNTERS",
    "POOL_CONNECTIONS",
    "POOL_TIMEOUT",
    "REDIS_TIMEOUTS",
    "STATUS_RANK",
    "Accepted",
    "Backlog",
    "CallEntry",
    "CampaignRecord",
    "CommitResult",
    "ConversationQuery",
    "DeadEntry",
    "Due",
    "Erased",
    "FlowCount",
    "Found",
    "Granted",
    "HistoryPolicy",
    "Keys",
    "Lane",
    "NoScriptError",
    "OutboxEntry",
    "PartitionStats",
    "PermitLog",
    "RedisClient",
    "RedisConnectionError",
    "RedisError",
    "ResponseError",
    "Stats",
    "StepTrace",
    "Store",
    "account_key",
    "address_from_entry",
    "call_from_json",
    "call_to_json",
    "campaign_from_json",
    "campaign_to_json",
    "check_server",
    "cluster_enabled",
    "connect",
    "conversation_fields",
    "conversation_from_hash",
    "event_from_json",
    "event_to_json",
    "parse_counters",
    "parse_timer_member",
    "partition_of",
    "recipient_from_json",
    "recipient_to_json",
    "redis_client",
    "reply_from_json",
    "reply_to_json",
    "server_problem",
    "task_prefix",
    "timer_member",
]
