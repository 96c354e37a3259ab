"""The inbox worker of one partition: applies its events to conversations, one at a time per
conversation and in arrival order, each as one atomic, version-checked commit.

The worker keeps the conversations it committed last (`cache_size` per partition): the next
message of a conversation starts from the state it wrote, not from a read of Redis. This is
safe because the commit is the only writer of a conversation and checks its version: when
the copy is stale (another process held the partition in between, the conversation expired,
Redis lost its data), the commit is refused, the conversation is read again and the step
runs again on what is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.campaign import counted_since
from bot.errors import LeaseLost
from bot.flows.compiler import CompiledCatalog
from bot.flows.engine import Engine
from bot.flows.moves import step_moves
from bot.log import context
from bot.metrics import Metrics
from bot.model import (
    Conversation,
    ConversationRef,
    Event,
    Inbound,
    IntentStart,
    Outcome,
    StepContext,
    StepResult,
    TimerFired,
)
from bot.runtime.drain import Consumer, drain
from bot.store import (
    FlowCount,
    Lane,
    StepTrace,
    Store,
    call_to_json,
    event_from_json,
    reply_to_json,
    task_prefix,
)

log = logging.getLogger("bot.worker")

# How a customer's answer to a waiting state went, by the engine's outcome of the step.
MATCHED = frozenset({Outcome.ADVANCED, Outcome.COLLECTED, Outcome.CODE_VERIFIED})
NO_MATCH = frozenset(
    {Outcome.REPROMPTED, Outcome.INVALID, Outcome.ESCALATED, Outcome.CODE_RETRY, Outcome.CODE_WRONG}
)

Funnel = tuple[tuple[str, str, str], ...]  # (flow, state, outcome) for bot_flow_steps_total


def task_id(conv_id: str, version: int, index: int) -> str:
    """Deterministic id of the index-th reply of the step that made `version`: a send repeated
    after a crash carries the same TaskId, and shows as such in status receipts."""
    return f"{task_prefix(conv_id)}.{version}.{index}"


def _labels(catalog: CompiledCatalog, conv: Conversation) -> tuple[str, str]:
    """(flow, state) of a conversation as metric labels: names of the compiled flows only."""
    if conv.flow is None:
        return "none", "none"
    flow = catalog.flows.get(conv.flow)
    if flow is None:
        return "other", "other"
    state = conv.state or ""
    return flow.name, state if state in flow.states else "other"


def funnel(
    catalog: CompiledCatalog, before: Conversation, event: Event, result: StepResult
) -> Funnel:
    """What a step adds to the flow funnel: the states it entered; whether the customer's
    answer to the state they were in matched; a state's timeout firing."""
    steps = [(flow, state, "entered") for flow, state in result.entered]
    outcome = ""
    if isinstance(event, Inbound) and before.flow is not None:
        moved_on = bool(result.trace) and result.trace[0][0] == before.state
        if result.outcome in NO_MATCH:
            outcome = "no_match"
        elif result.outcome in MATCHED or (
            result.outcome in (Outcome.ENDED, Outcome.STARTED) and moved_on
        ):
            outcome = "matched"
    elif isinstance(event, TimerFired) and result.outcome is Outcome.TIMED_OUT:
        outcome = "timeout"
    if outcome:
        steps.insert(0, (*_labels(catalog, before), outcome))
    return tuple(steps)


# The funnel's outcomes that are a conversation's exit from a state, for the flows' counts.
EXITS = frozenset({"no_match", "timeout", "error"})


def flow_counts(
    catalog: CompiledCatalog, before: Conversation, stepped: _Stepped
) -> list[FlowCount]:
    """What a step adds to the flows' counts in Redis (the operators' API): each move of a
    machine, each state entered, each exit from a state (no match, timeout, error)."""
    counts: list[FlowCount] = []
    if stepped.event is not None:
        done = step_moves(catalog, before, stepped.result, stepped.event)
        counts += [("m", *move) for move in done.moves]
        counts += [("e", *state) for state in done.entered]
    counts += [("x", *label) for label in stepped.funnel if label[2] in EXITS]
    return counts


def campaign_of(event: Event | None) -> str:
    """The campaign a step's event starts (its replies are that campaign's first
    messages), "" for any other event."""
    return event.campaign if isinstance(event, IntentStart) else ""


def lane_of(event: Event | None) -> Lane:
    """The outbox a step's replies go to: a campaign's start is sent by the campaigns'
    sender (bot/runtime/campaigns.py), everything else by the replies' own."""
    return Lane.CAMPAIGNS if campaign_of(event) else Lane.REPLIES


@dataclass(frozen=True, slots=True)
class _Stepped:
    result: StepResult
    event: Event | None  # None: the event could not be read
    message_id: str
    dead: str  # why the event goes to the dead letters ("" when it does not)
    funnel: Funnel


class InboxWorker(Consumer):
    def __init__(
        self,
        store: Store,
        engine: Engine,
        partition: int,
        token: str,
        *,
        clock_ms: Callable[[], int],
        batch: int = 100,
        block_ms: int = 1000,
        max_retries: int = 10,
        metrics: Metrics | None = None,
        cache_size: int = 2000,
        steps: asyncio.Semaphore | None = None,
    ) -> None:
        """`steps` bounds the conversations stepped at once, shared with the process's
        other inbox workers; None: a batch's conversations all at once."""
        self.metrics = metrics if metrics is not None else Metrics()
        self.store = store
        self.engine = engine
        self.partition = partition
        self.token = token
        self.clock_ms = clock_ms
        self.batch = batch
        self.block_ms = block_ms
        self.max_retries = max_retries
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Conversation] = OrderedDict()
        self.steps = steps

    async def run(self) -> None:
        await drain(
            lambda pending: self.store.read_inbox(
                self.partition, pending=pending, count=self.batch, block_ms=self.block_ms
            ),
            lambda entry: entry[1],
            self._conversation,
            consumer=self,
            log=log,
            what=f"partition {self.partition}: a step",
            gate=self.steps,
        )

    async def _conversation(self, entries: list[tuple[str, str, str]]) -> None:
        conv_id = entries[0][1]
        with context(conv_id=conv_id):
            # Taken out while in use: a step that fails leaves no copy behind.
            cached = self._cache.pop(conv_id, None)
            conv = cached if cached is not None else await self.store.load(conv_id)
            for entry_id, _conv_id, event_json in entries:
                conv = await self._apply(conv_id, conv, entry_id, event_json)
            self._cache[conv_id] = conv
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _step(self, conv_id: str, conv: Conversation, event_json: str) -> _Stepped:
        """Run the engine; an event it cannot handle becomes a dead letter, never a loop.
        An event that brings a space is stepped with it as the conversation's: the step's
        replies are sent through it, and it stays the conversation's until another event
        brings another one."""
        catalog = self.engine.catalog
        message_id = ""
        event: Event | None = None
        try:
            event = event_from_json(event_json)
            message_id = event.message_id
            ref = ConversationRef.parse(conv_id)
            ctx = StepContext(conv_id=conv_id, customer=ref.customer, channel=ref.channel)
            addressed = (
                replace(conv, space=event.space)
                if event.space and event.space != conv.space
                else conv
            )
            with context(message_id=message_id or None):
                result = self.engine.step(addressed, event, self.clock_ms(), ctx)
            return _Stepped(result, event, message_id, "", funnel(catalog, conv, event, result))
        except Exception as e:
            with context(message_id=message_id or None):
                log.exception("step failed; the event goes to the dead letters")
            error = ((*_labels(catalog, conv), "error"),)
            return _Stepped(
                StepResult(conv, (), Outcome.ERROR),
                event,
                message_id,
                f"{type(e).__name__}: {e}",
                error,
            )

    async def _apply(
        self, conv_id: str, conv: Conversation, entry_id: str, event_json: str
    ) -> Conversation:
        for _ in range(self.max_retries):
            stepped = self._step(conv_id, conv, event_json)
            result, dead = stepped.result, stepped.dead
            version = conv.version + 1
            reply_jsons = [reply_to_json(r) for r in result.replies]
            replies = [
                (reply_json, task_id(conv_id, version, i))
                for i, reply_json in enumerate(reply_jsons)
            ]
            wrote = isinstance(stepped.event, Inbound)
            counted, letters = counted_since(conv, result.conversation, customer_wrote=wrote)
            stored = replace(result.conversation, campaign_counted=letters)
            res = await self.store.commit(
                partition=self.partition,
                token=self.token,
                conv_id=conv_id,
                expected_version=conv.version,
                entry_id=entry_id,
                conversation=stored,
                replies=replies,
                dead_reason=dead,
                event_json=event_json if dead else "",
                active=self.engine.is_active(result.conversation),
                previous_timers=[(conv.visit, t.name) for t in conv.timers],
                calls=[call_to_json(c) for c in result.calls],
                trace=StepTrace(
                    stepped.event,
                    event_json,
                    conv,
                    result.outcome,
                    result.replies,
                    reply_jsons,
                    result.missing_language,
                ),
                now_ms=self.clock_ms(),
                counts=flow_counts(self.engine.catalog, conv, stepped),
                lane=lane_of(stepped.event),
                reply_campaigns=result.reply_campaigns,
                counted=(conv.campaign, counted),
            )
            if res.ok:
                new = stored
                for flow, state, outcome in stepped.funnel:
                    self.metrics.step(flow, state, outcome)
                with context(message_id=stepped.message_id or None):
                    log.info(
                        "step flow=%s state=%s->%s outcome=%s replies=%d",
                        new.flow, conv.state, new.state, result.outcome, len(replies),
                    )  # fmt: skip
                return replace(new, version=res.version)
            if res.lost_lease:
                raise LeaseLost(self.partition)
            # Stale or already applied (another worker got there first): start from the
            # stored state. A duplicate then commits nothing, and the next entry follows it.
            conv = await self.store.load(conv_id)
            if res.duplicate:
                return conv
        raise RuntimeError(f"conversation kept changing under a step ({self.max_retries} tries)")
