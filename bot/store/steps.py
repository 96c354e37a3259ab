"""The steps: a conversation loaded, its opt-out read, a step committed (one fenced and
version-checked script), and the timers of state visits fired into the inbox."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from bot.model import Conversation, TimerFired
from bot.store.codec import (
    conversation_fields,
    conversation_from_hash,
    event_to_json,
    parse_timer_member,
    timer_member,
)
from bot.store.core import StoreCore
from bot.store.lua import evalsha, queue_script


@dataclass(frozen=True, slots=True)
class CommitResult:
    ok: bool
    version: int = 0
    lost_lease: bool = False
    stale: bool = False
    duplicate: bool = False


class Steps(StoreCore):
    async def load(self, conv_id: str) -> Conversation:
        raw: dict[bytes, bytes] = await self.redis.hgetall(  # type: ignore[assignment]
            self.keys_for(conv_id).conv(conv_id)
        )
        return conversation_from_hash(raw)

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
        replies: Iterable[tuple[str, str]],
        dead_reason: str = "",
        event_json: str = "",
        active: bool = False,
        previous_timers: Iterable[tuple[int, str]] = (),
        calls: Iterable[str] = (),
    ) -> CommitResult:
        """Atomically apply one step: `replies` are (reply json, task id) pairs, `calls`
        call requests as JSON (bot/store/codec.py), each sent or made with the
        conversation's space; the conversation's timers replace `previous_timers`
        ((visit, name) pairs of the state as loaded)."""
        k = self.keys(partition)
        space = conversation.space
        fields = conversation_fields(conversation, active=active)
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
                self.script("commit"),
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

    async def fire_due_timers(self, partition: int, now_ms: int, limit: int = 100) -> int:
        """Move timers due by `now_ms` into the inbox as events; each fires once."""
        k = self.keys(partition)
        due: list[bytes] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            k.timers, "-inf", now_ms, start=0, num=limit
        )
        if not due:
            return 0
        fire = self.script("fire")
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in due:
                conv_id, visit, name = parse_timer_member(member)
                event = TimerFired(f"timer:{visit}:{name}", now_ms, name, visit)
                queue_script(pipe, fire, [k.timers, k.inbox], member, conv_id, event_to_json(event))
            try:
                fired = await pipe.execute()
            except NoScriptError:
                await self.load_scripts()
                return 0
        return sum(1 for f in fired if f is not None)
