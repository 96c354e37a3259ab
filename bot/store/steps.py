"""The steps: a conversation loaded, its opt-out read, a step committed (one fenced and
version-checked script), and the timers of state visits fired into the inbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from bot.model import Conversation, Event, Reply, TimerFired
from bot.store.codec import (
    FlowCount,
    campaign_state,
    conversation_fields,
    event_to_json,
    flow_count_field,
    history_event,
    history_replies,
    history_step,
    opt_out_value,
    opt_outs_of_value,
    parse_timer_member,
    text,
    timer_member,
)
from bot.store.core import StoreCore
from bot.store.keys import opt_out_keys, opt_outs_kept_key, opt_outs_of_key
from bot.store.lua import evalsha, queue_script
from bot.store.streams import Lane


@dataclass(frozen=True, slots=True)
class CommitResult:
    ok: bool
    version: int = 0
    lost_lease: bool = False
    stale: bool = False
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class StepTrace:
    """What a step's entry in its conversation's history is made of: the event (None when
    it could not be read) as the inbox kept it, the conversation before the step, the
    step's outcome and its replies, each with its stored form."""

    event: Event | None
    event_json: str
    before: Conversation
    outcome: str
    replies: Sequence[Reply]
    reply_jsons: Sequence[str]
    missing_language: str = ""


def _place(conv: Conversation) -> str:
    return f"{conv.flow}/{conv.state or ''}" if conv.flow is not None else ""


HOUR_MS = 3_600_000
KEEP_BATCH = 500  # conversations' opt-outs kept in one round trip (keep_opt_outs)
FLOW_COUNTS_DAYS = 8  # the flows' counts are kept: a window of up to 7 days, and the hour over


@dataclass(frozen=True, slots=True)
class OptOuts:
    everything: bool
    marketing: bool


class Steps(StoreCore):
    async def opted_out(self, conv_id: str) -> bool:
        return (await self.opt_outs(conv_id)).everything

    async def opt_outs(self, conv_id: str) -> OptOuts:
        """Whether the customer opted out of everything (STOP), of marketing (STOP
        MARKETING), as their conversation stands (every conversation has a version, `v`):
        one read, with the loop's others; as their opt-out key says when it is gone."""
        k = self.keys_for(conv_id)
        flags: Any = await self.coalescer().execute("HMGET", k.conv(conv_id), "o", "cp", "v")
        if flags[2] is None:
            kept: Any = await self.coalescer().execute("GET", k.opt_out(conv_id))
            everything, marketing = opt_outs_of_value(kept or b"")
            return OptOuts(everything=everything, marketing=marketing)
        marketing = campaign_state(text(flags[1] or b""))["marketing_opted_out"]
        return OptOuts(everything=flags[0] == b"1", marketing=marketing)

    async def keep_opt_outs(self) -> int:
        """Once per deployment (a key says it was done), for what an earlier version stored:
        each conversation's opt-out key is set to what its hash says (steps keep the two
        equal from then on), and an opt-out key standing alone (an erasure's) is kept
        `opt_out_ttl` from now. Reads the keyspace once (SCAN); how many conversations'
        keys it set."""
        done = opt_outs_kept_key(self.prefix)
        if await self.redis.exists(done):
            return 0
        await self.load_scripts()  # not the coalescer's: a pass of its own, not per message
        written, batch = 0, []
        async for raw in self.redis.scan_iter(match=opt_out_keys(self.prefix), count=1000):
            if keys := opt_outs_of_key(text(raw), self.prefix):
                batch.append(keys)
            if len(batch) == KEEP_BATCH:
                written, batch = written + await self._keep_opt_outs(batch), []
        written += await self._keep_opt_outs(batch)
        await self.redis.set(done, "1")
        return written

    async def _keep_opt_outs(self, batch: list[tuple[str, ...]]) -> int:
        if not batch:
            return 0
        script = self.script("keep_opt_out")
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys in batch:
                queue_script(pipe, script, list(keys), self.opt_out_ttl)
            return sum(map(int, await pipe.execute()))

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
        trace: StepTrace | None = None,
        now_ms: int = 0,
        counts: Sequence[FlowCount] = (),
        lane: Lane = Lane.REPLIES,
        reply_campaigns: Sequence[str] = (),
        counted: tuple[str, Sequence[str]] = ("", ()),
    ) -> CommitResult:
        """Atomically apply one step: `replies` are (reply json, task id) pairs, `calls`
        call requests as JSON (bot/store/codec.py), each sent or made with the
        conversation's space; the conversation's timers replace `previous_timers`
        ((visit, name) pairs of the state as loaded); the step's entry in the
        conversation's history is made of `trace`, as the store's history policy says;
        `now_ms` is when, for the partition's index of conversations and the hour whose
        flows' `counts` (moves, states entered, exits) the step adds to. The replies go to
        the outbox of `lane`, each naming the campaign `reply_campaigns` says it is a first
        message of (none when empty). `counted` is a campaign and what the step adds to its
        counts (`replied`, `opted_out`...)."""
        k = self.keys(partition)
        space = conversation.space
        fields = conversation_fields(conversation, active=active)
        kept = opt_out_value(conversation)
        reply_args: list[Any] = []
        for i, (reply_json, task_id) in enumerate(replies):
            campaign = reply_campaigns[i] if i < len(reply_campaigns) else ""
            reply_args += [conv_id, reply_json, task_id, space, campaign]
        drop = [timer_member(conv_id, visit, name) for visit, name in previous_timers]
        keep: list[Any] = []
        for t in conversation.timers:
            keep += [t.due_ms, timer_member(conv_id, conversation.visit, t.name)]
        call_args: list[Any] = []
        for call_json in calls:
            call_args += [conv_id, call_json, space]
        policy = self.history_policy
        entry = ""
        if policy.length and trace is not None:
            event = (
                history_event(trace.event, trace.event_json, text=policy.text)
                if trace.event is not None
                else trace.event_json if policy.text else '{"t":"?"}'
            )  # fmt: skip
            entry = history_step(
                event, _place(trace.before), _place(conversation), trace.outcome,
                history_replies(trace.replies, trace.reply_jsons, text=policy.text),
                reply_args[2::5], missing_language=trace.missing_language,
            )  # fmt: skip
        res = await self.coalescer().execute(
            *evalsha(
                self.script("commit"),
                [k.conv(conv_id), k.inbox, k.outbox_of(lane), k.lease, k.dead, k.timers, k.calls,
                 k.stats, k.history(conv_id), k.conversations, k.flow_counts(now_ms // HOUR_MS),
                 k.campaign_outbox, k.campaign_counts(counted[0]), k.opt_out(conv_id)],
                token, expected_version, entry_id, self.conversation_ttl,
                len(fields), *fields,
                len(reply_args) // 5, *reply_args,
                dead_reason, event_json, conv_id,
                len(drop), *drop,
                len(keep) // 2, *keep,
                len(call_args) // 3, *call_args,
                policy.length, policy.ttl, entry,
                conv_id, now_ms, FLOW_COUNTS_DAYS * 86400,
                len(counts), *map(flow_count_field, counts),
                len(counted[1]) if counted[0] else 0, *(counted[1] if counted[0] else ()),
                kept if trace is None or opt_out_value(trace.before) != kept else "=",
                self.opt_out_ttl,
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
