"""The Store: every Redis operation of the project, on one object. It is the core (client,
keys, scripts, coalescer: bot/store/core.py) with its parts mixed in, one module each, as
redis-py makes its client of command mixins: callers see one flat Store, and no call pays a
hop through a delegate.

On Redis Cluster (bot/store/client.py): pipelines without MULTI may span slots (the client
sends each node its part); a script missing on a node (NOSCRIPT: a restart, a failover, a
node added) is loaded on every primary and the work run again; stream reads name one stream
each and go straight to the node of its slot.
"""

from __future__ import annotations

from bot.store.campaigns import Campaigns
from bot.store.console import ConsoleSessions
from bot.store.counts import FlowCounts
from bot.store.dead import DeadLetters
from bot.store.directory import Directory
from bot.store.erase import Erasure
from bot.store.history import Histories
from bot.store.intake import Intake
from bot.store.leases import Leases
from bot.store.outcomes import Outcomes
from bot.store.reads import Reads
from bot.store.steps import Steps
from bot.store.streams import Streams


class Store(
    Intake,
    Steps,
    Streams,
    Outcomes,
    Leases,
    DeadLetters,
    Reads,
    Histories,
    Directory,
    Erasure,
    FlowCounts,
    ConsoleSessions,
    Campaigns,
):
    """The project's Redis operations. Holds a client and the registered scripts:

    - intake (bot/store/intake.py): `accept`, `accept_intent`, `first_sight`;
    - steps (steps.py): `load`, `opted_out`, `commit`, `fire_due_timers`;
    - streams (streams.py): `ensure_groups`, `read_inbox`, `read_outbox`, `read_calls`;
    - outcomes (outcomes.py): `finish_call`, `finish_send`;
    - leases (leases.py): `acquire`, `renew`, `renew_all`, `release`, `heartbeat`, `leave`;
    - dead letters (dead.py): `dead_letters`, `count_dead`, `dead_letter_pages`,
      `retry_dead`, `drop_dead`;
    - operators' reads (reads.py): `counters`, `stats`, `backlog`;
    - histories (history.py): `history`, `history_tail`, `message_record`, `has_history`;
    - the conversations found (directory.py): `find_conversations`;
    - erasure (erase.py): `erase`;
    - the flows' counts (counts.py): `flow_counts`, `states_now`;
    - the web console (console.py): `open_session`, `use_session`, `close_session`,
      `count_sign_in`, `forget_sign_ins`, `console_key`;
    - campaigns (campaigns.py): `new_campaign`, `add_recipients`, `move_campaign`,
      `cancel_queued`, `campaign`, `campaigns_of`, `campaign_ids`, `active_campaigns`,
      `due_recipients`, `release_recipient`, `reschedule`, `campaign_recipients`.
    """
