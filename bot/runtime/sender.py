"""The outbox sender of one partition: sends committed replies through their platform,
in order per conversation, retrying what may succeed later with capped, jittered backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping

from bot.errors import PermanentSendError, RateLimitedError, RetryableSendError
from bot.log import mask_conv
from bot.model import ConversationRef, Outgoing, Reply, SendFailed, event_to_json
from bot.platforms.base import Sender
from bot.store import OutboxEntry, Store

log = logging.getLogger("bot.sender")


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2**attempt))


class OutboxSender:
    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        partition: int,
        *,
        attempts: int,
        batch: int = 100,
        block_ms: int = 1000,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.store = store
        self.senders = senders
        self.partition = partition
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.batch = batch
        self.block_ms = block_ms
        self.stopping = False

    async def run(self) -> None:
        pending = True
        while not self.stopping:
            entries = await self.store.read_outbox(
                self.partition, pending=pending, count=self.batch, block_ms=self.block_ms
            )
            if not entries:
                pending = False
                continue
            by_conv: dict[str, list[OutboxEntry]] = {}
            for e in entries:
                by_conv.setdefault(e.conv_id, []).append(e)
            done = await asyncio.gather(
                *(self._conversation(es) for es in by_conv.values()), return_exceptions=True
            )
            for outcome in done:
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, Exception):
                        raise outcome
                    log.warning(
                        "partition %d: send bookkeeping failed: %r", self.partition, outcome
                    )
                    pending = True
            if pending:
                await asyncio.sleep(0.2)

    @staticmethod
    def _now_ms() -> int:
        return int(time.time() * 1000)

    async def _conversation(self, entries: list[OutboxEntry]) -> None:
        for entry in entries:  # in order: the next reply waits for this one
            await self._send(entry)

    async def _send(self, entry: OutboxEntry) -> None:
        conv = ConversationRef.parse(entry.conv_id)
        sender = self.senders.get(conv.platform)
        if sender is None:
            await self.store.finish_send(
                self.partition, entry, error=f"no sender for platform {conv.platform}", dead=True
            )
            return
        reply = Reply.from_dict(json.loads(entry.reply_json))
        if not reply.system and await self.store.opted_out(entry.conv_id):
            # STOP is honoured by everything: what was committed before it is not sent.
            log.info("send task=%s dropped: the customer opted out", entry.task_id)
            await self.store.finish_send(
                self.partition, entry, error="customer opted out", visit=reply.visit
            )
            return
        msg = Outgoing(conv, reply, entry.task_id, entry.space)
        error = ""
        for attempt in range(self.attempts):
            try:
                receipt = await sender.send(msg)
            except PermanentSendError as e:
                log.warning(
                    "send task=%s conv=%s failed for good: %s",
                    entry.task_id,
                    mask_conv(entry.conv_id),
                    e.code,
                )
                error = f"{e.code}: {e.message}"
                failed = SendFailed(f"send:{entry.task_id}", self._now_ms(), entry.task_id, error,
                                    reply.visit)  # fmt: skip
                await self.store.finish_send(
                    self.partition, entry, error=error, visit=reply.visit,
                    failed=event_to_json(failed) if reply.state else "",
                )  # fmt: skip
                return
            except RateLimitedError as e:
                error = f"{e.code}: {e.message}"
                delay = (
                    e.retry_after
                    if e.retry_after is not None
                    else backoff(attempt, base=self.backoff_base, cap=self.backoff_cap)
                )
            except RetryableSendError as e:
                error = f"{e.code}: {e.message}"
                delay = backoff(attempt, base=self.backoff_base, cap=self.backoff_cap)
            else:
                log.info(
                    "sent task=%s conv=%s message_id=%s",
                    entry.task_id,
                    mask_conv(entry.conv_id),
                    receipt.message_id,
                )
                await self.store.finish_send(
                    self.partition, entry, message_id=receipt.message_id, visit=reply.visit
                )
                return
            if attempt + 1 < self.attempts:
                log.info(
                    "send task=%s retry %d in %.2fs: %s", entry.task_id, attempt + 1, delay, error
                )
                await asyncio.sleep(delay)
        log.error(
            "send task=%s conv=%s gave up after %d attempts: %s",
            entry.task_id,
            mask_conv(entry.conv_id),
            self.attempts,
            error,
        )
        await self.store.finish_send(
            self.partition, entry, error=error, dead=True, visit=reply.visit
        )
