"""The inbox worker of one partition: applies its events to conversations, one at a time per
conversation and in arrival order, each as one atomic, version-checked commit."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace

from bot.flows.engine import Conversation, Engine, StepContext, StepResult
from bot.log import mask_conv
from bot.model import ConversationRef, event_from_json
from bot.runtime.drain import LeaseLost, drain
from bot.store import Store

log = logging.getLogger("bot.worker")


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def task_id(conv_id: str, version: int, index: int) -> str:
    """Deterministic id of the index-th reply of the step that made `version`: a send repeated
    after a crash carries the same TaskId, and shows as such in status receipts."""
    digest = hashlib.sha256(conv_id.encode()).hexdigest()[:16]
    return f"{digest}.{version}.{index}"


class InboxWorker:
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
    ) -> None:
        self.store = store
        self.engine = engine
        self.partition = partition
        self.token = token
        self.clock_ms = clock_ms
        self.batch = batch
        self.block_ms = block_ms
        self.max_retries = max_retries
        self.stopping = False

    async def run(self) -> None:
        await drain(
            lambda pending: self.store.read_inbox(
                self.partition, pending=pending, count=self.batch, block_ms=self.block_ms
            ),
            lambda entry: entry[1],
            self._conversation,
            stopping=lambda: self.stopping,
            log=log,
            what=f"partition {self.partition}: a step",
        )

    async def _conversation(self, entries: list[tuple[str, str, str]]) -> None:
        conv_id = entries[0][1]
        conv, space = await self.store.load(conv_id)
        for entry_id, _conv_id, event_json in entries:
            conv, space = await self._apply(conv_id, conv, space, entry_id, event_json)

    def _step(
        self, conv_id: str, conv: Conversation, event_json: str
    ) -> tuple[StepResult, str, str, str]:
        """Run the engine; an event it cannot handle becomes a dead letter, never a loop."""
        try:
            event = event_from_json(event_json)
            ref = ConversationRef.parse(conv_id)
            ctx = StepContext(conv_id=conv_id, customer=ref.customer, channel=ref.channel)
            result = self.engine.step(conv, event, self.clock_ms(), ctx)
            return result, event.message_id, event.space, ""
        except Exception as e:
            log.exception("partition %d: step failed; event moved to dead letters", self.partition)
            return StepResult(conv, (), "error"), "", "", f"{type(e).__name__}: {e}"

    async def _apply(
        self, conv_id: str, conv: Conversation, space: str, entry_id: str, event_json: str
    ) -> tuple[Conversation, str]:
        for _ in range(self.max_retries):
            result, message_id, event_space, dead = self._step(conv_id, conv, event_json)
            new_space = event_space or space
            version = conv.version + 1
            replies = [
                (_json(r.to_dict()), task_id(conv_id, version, i))
                for i, r in enumerate(result.replies)
            ]
            res = await self.store.commit(
                partition=self.partition,
                token=self.token,
                conv_id=conv_id,
                expected_version=conv.version,
                entry_id=entry_id,
                conversation=result.conversation,
                space=new_space,
                replies=replies,
                dead_reason=dead,
                event_json=event_json if dead else "",
                active=self.engine.is_active(result.conversation),
                previous_timers=[(conv.visit, t.name) for t in conv.timers],
                calls=[_json(c.to_dict()) for c in result.calls],
            )
            if res.ok:
                new = result.conversation
                log.info(
                    "step conv=%s msg=%s flow=%s state=%s->%s outcome=%s replies=%d%s",
                    mask_conv(conv_id),
                    message_id,
                    new.flow,
                    conv.state,
                    new.state,
                    result.outcome,
                    len(replies),
                    f" ({result.detail})" if result.detail else "",
                )
                return replace(new, version=res.version), new_space
            if res.lost_lease:
                raise LeaseLost(self.partition)
            # Stale or already applied (another worker got there first): start from the
            # stored state. A duplicate then commits nothing, and the next entry follows it.
            conv, space = await self.store.load(conv_id)
            if res.duplicate:
                return conv, space
        raise RuntimeError(f"conversation kept changing under a step ({self.max_retries} tries)")
