"""Run one conversation against the real engine, offline, on a fake clock.

The `Simulator` plays the parts the runtime plays around `Engine.step`: it stores the
conversation (bumping its version per step), fires due timers when the clock is moved on
(`wait`), answers `call:` steps from canned HTTP answers at once, records messages
forwarded to the agent webhook, and drops replies to a customer who opted out unless they
are `system` replies, as the sender does. No Redis, no HTTP, no wall clock: `bot test` and
the tests of flows run on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bot.errors import BotError, CallTextError
from bot.flows.calls import HttpCall, resolve, text_of
from bot.flows.compiler import CompiledCatalog
from bot.flows.engine import Engine
from bot.flows.moves import Move, step_moves
from bot.model import (
    AgentReply,
    CallRequest,
    CallResult,
    Conversation,
    ConversationRef,
    Event,
    Inbound,
    IntentStart,
    Reply,
    Restart,
    Resume,
    SendFailed,
    StepContext,
    StepResult,
    Timer,
    TimerFired,
)
from bot.phones import customer_id

# Monday 2026-01-05 09:00 UTC: a fixed "now", so dates in tests never drift.
START_MS = int(datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp() * 1000)
SIM_BUSINESS = "8613800000000"
MAX_CHAINED = 100  # events one step may cause through answered calls


def counting_digits() -> Callable[[int], str]:
    """Deterministic one-time codes: the k-th code (from 1) of n digits counts up from k,
    so 6-digit codes are 123456, 234567, 345678, ..."""
    issued = 0

    def digits(n: int) -> str:
        nonlocal issued
        issued += 1
        return "".join(str((issued + i) % 10) for i in range(n))

    return digits


@dataclass(frozen=True, slots=True)
class CannedHttp:
    """A canned answer to the flow's `call:` steps: matched by method and URL (exact, or a
    regular expression searched in the URL when written `~regex`)."""

    method: str
    url: str
    status: int = 200
    body: Any = None
    timeout: bool = False

    def matches(self, call: HttpCall) -> bool:
        if self.method.upper() != call.method.upper():
            return False
        if self.url.startswith("~"):
            return re.search(self.url[1:], call.url) is not None
        return self.url == call.url

    def result(self, call: HttpCall, at_ms: int) -> CallResult:
        """The CallResult the call worker would enqueue for this answer."""
        if self.timeout:
            return CallResult(f"call:{call.visit}", at_ms, call.visit, "timeout")
        outcome = "success" if 200 <= self.status < 300 else "failure"
        return CallResult(f"call:{call.visit}", at_ms, call.visit, outcome, self.status, self.body)

    def describe(self) -> str:
        if self.timeout:
            return f"{self.method} {self.url} -> timeout"
        return f"{self.method} {self.url} -> {self.status}"


class UnansweredCall(BotError):
    """The flow made an HTTP call that no canned answer matches."""

    def __init__(self, call: HttpCall, canned: tuple[CannedHttp, ...]) -> None:
        self.call = call
        self.canned = canned
        known = "; ".join(c.describe() for c in canned) or "none"
        super().__init__(
            f"the flow called {call.method} {call.url} and no canned `http:` answer matches "
            f"it (canned: {known}); add one, e.g. "
            f'{{method: {call.method}, url: "{call.url}", status: 200, json: {{...}}}}'
        )


class UnmadeCall(BotError):
    """The flow made an HTTP call that the server would not make (see bot.flows.calls): a
    secret the test does not give, data where the URL's host stands."""

    def __init__(self, call: CallRequest, error: CallTextError) -> None:
        self.call = call
        self.reason = error.reason
        if error.missing is not None:
            why = f"it needs the secret {error.missing}: give it a value under `secrets:`"
        else:
            why = error.reason
        super().__init__(f"the flow's call to {text_of(call.url)} would not be made: {why}")


@dataclass(frozen=True, slots=True)
class Sent:
    """A reply the customer received, with when and by which step."""

    reply: Reply
    at_ms: int
    task_id: str


@dataclass
class Simulator:
    """One customer's conversation with the catalog's flows, on a fake clock."""

    catalog: CompiledCatalog
    customer: str = "8613900000001"
    channel: str = "whatsapp"
    # The business number the customer writes to; "": the first of `numbers:` on the
    # channel, else SIM_BUSINESS.
    business: str = ""
    start_ms: int = START_MS
    random_digits: Callable[[int], str] = field(default_factory=counting_digits)
    http: tuple[CannedHttp, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    # Values of {{ secret.NAME }} (the runtime reads them from BOT_SECRET_NAME).
    secrets: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.customer = customer_id(self.customer, self.channel)
        self.engine = Engine(self.catalog)
        if not self.business:
            first = (n for n in self.catalog.numbers.values() if n.channel == self.channel)
            self.business = next((n.business for n in first), SIM_BUSINESS)
        self.ref = ConversationRef("cams", self.channel, self.business, self.customer)
        self.ctx = StepContext(
            conv_id=self.ref.id,
            customer=self.customer,
            channel=self.channel,
            random_digits=self.random_digits,
        )
        self.conv = Conversation(data=dict(self.data))
        self.now_ms = self.start_ms
        self.outbox: list[Sent] = []  # what the customer received, in order
        self.dropped: list[Reply] = []  # not sent: the customer had opted out
        self.forwarded: list[HttpCall] = []  # customer messages posted to the agent
        self.calls: list[HttpCall] = []  # `call:` requests made (and answered)
        self.results: list[StepResult] = []
        self.moves: set[Move] = set()
        self.entered: set[tuple[str, str]] = set()
        self._ids = 0

    # -- the customer, the business, people ------------------------------------------------

    def say(self, text: str, *, kind: str = "text") -> list[Reply]:
        """The customer writes `text`."""
        return self.step(Inbound(self._id("in"), self.now_ms, kind, text))

    def tap(self, payload: str, text: str = "") -> list[Reply]:
        """The customer taps a quick-reply button; `text` defaults to the button's title."""
        title = text or self.button_title(payload) or payload
        return self.step(Inbound(self._id("in"), self.now_ms, "reply", title, payload))

    def trigger(
        self, code: str, data: Mapping[str, Any] | None = None, policy: str | None = None
    ) -> list[Reply]:
        """The business triggers intent `code` (which starts a flow or sends an event)."""
        event = IntentStart(self._id("intent"), self.now_ms, code, dict(data or {}), policy=policy)
        return self.step(event)

    def start_flow(self, flow: str, data: Mapping[str, Any] | None = None) -> list[Reply]:
        """Start `flow` directly, without an intent."""
        return self.step(
            IntentStart(self._id("intent"), self.now_ms, "", dict(data or {}), flow=flow)
        )

    def resume(self, go: str | None = None) -> list[Reply]:
        """An operator ends the handoff (continuing at `go`, when given)."""
        return self.step(Resume(self._id("resume"), self.now_ms, go))

    def restart(self) -> list[Reply]:
        """An operator starts the flow under way again at its start state."""
        return self.step(Restart(self._id("restart"), self.now_ms))

    def agent(self, text: str) -> list[Reply]:
        """An agent answers the customer during a handoff."""
        return self.step(AgentReply(self._id("agent"), self.now_ms, text))

    def fail_last(self, error: str = "permanent send error (simulated)") -> list[Reply]:
        """The last message sent failed for good. Like the sender, only a reply said in a
        state yields a SendFailed event."""
        if not self.outbox or not self.outbox[-1].reply.state:
            return []
        last = self.outbox[-1]
        return self.step(
            SendFailed(self._id("failed"), self.now_ms, last.task_id, error, last.reply.visit)
        )

    def wait(self, seconds: float) -> list[Reply]:
        """Move the clock on by `seconds`, firing the timers that come due on the way, in
        due order, each at its due time (timers they set fire too, when due in time)."""
        until = self.now_ms + int(seconds * 1000)
        replies: list[Reply] = []
        fired: set[tuple[int, Timer]] = set()
        while True:
            due = [t for t in self.conv.timers if t.due_ms <= until]
            if not due:
                break
            timer = min(due, key=lambda t: t.due_ms)
            if (self.conv.visit, timer) in fired:
                # The runtime would store it again after firing it: it would fire forever.
                raise RuntimeError(f"timer {timer.name!r} fired and was kept by the engine")
            fired.add((self.conv.visit, timer))
            self.now_ms = max(self.now_ms, timer.due_ms)
            event = TimerFired(self._id("timer"), self.now_ms, timer.name, self.conv.visit)
            replies += self.step(event)
        self.now_ms = until
        return replies

    # -- the runtime's part ----------------------------------------------------------------

    def step(self, event: Event) -> list[Reply]:
        """Apply one event as the inbox worker does, then answer the HTTP calls it made
        (each answer is the next event). Returns the replies the customer received."""
        sent: list[Reply] = []
        queue: list[Event] = [event]
        applied = 0
        while queue:
            applied += 1
            if applied > MAX_CHAINED:
                raise RuntimeError(f"more than {MAX_CHAINED} calls answered in a row: a loop?")
            result = self._apply(queue.pop(0))
            sent += self._deliver(result)
            for made in result.calls:
                try:
                    call = resolve(made, self.secrets)
                except CallTextError as e:
                    raise UnmadeCall(made, e) from None
                if call.kind == "forward":
                    self.forwarded.append(call)
                    continue
                self.calls.append(call)
                canned = next((c for c in self.http if c.matches(call)), None)
                if canned is None:
                    raise UnansweredCall(call, self.http)
                queue.append(canned.result(call, self.now_ms))
        return sent

    def _apply(self, event: Event) -> StepResult:
        before = self.conv
        result = self.engine.step(before, event, self.now_ms, self.ctx)
        self.conv = replace(result.conversation, version=before.version + 1)
        self.results.append(result)
        self._record(before, result, event)
        return result

    def _deliver(self, result: StepResult) -> list[Reply]:
        sent = []
        version = self.conv.version
        for i, reply in enumerate(result.replies):
            if self.conv.opted_out and not reply.system:
                self.dropped.append(reply)
                continue
            self.outbox.append(Sent(reply, self.now_ms, f"sim.{version}.{i}"))
            sent.append(reply)
        return sent

    # -- coverage ---------------------------------------------------------------------------

    def _record(self, before: Conversation, result: StepResult, event: Event) -> None:
        """The step's moves and entered states, for coverage (bot.flows.moves)."""
        done = step_moves(self.catalog, before, result, event)
        self.moves.update(done.moves)
        self.entered.update(done.entered)

    # -- reading ----------------------------------------------------------------------------

    def button_title(self, payload: str) -> str | None:
        """The title of the latest button sent with `payload`."""
        for sent in reversed(self.outbox):
            for button in sent.reply.buttons:
                if button.payload == payload:
                    return button.title
        return None

    def offered_payloads(self) -> list[str]:
        return list(dict.fromkeys(b.payload for s in self.outbox for b in s.reply.buttons))

    @property
    def last(self) -> StepResult | None:
        return self.results[-1] if self.results else None

    def _id(self, kind: str) -> str:
        self._ids += 1
        return f"sim-{kind}-{self._ids}"
