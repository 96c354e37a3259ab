"""The flow engine: one event in, the conversation's next state and the replies out.

Pure: no I/O, no clock (time comes in as `now_ms`), no knowledge of platforms or Redis.
The runtime loads a `Conversation`, calls `Engine.step`, and commits the result atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from transitions import EventData

from bot.flows.compiler import (
    IDLE,
    START,
    CompiledCatalog,
    CompiledFlow,
    CompiledState,
    event_trigger,
    option_trigger,
)
from bot.model import Button, Event, Inbound, IntentStart, Reply, Template

log = logging.getLogger("bot.flows")

WINDOW_MS = 24 * 3600 * 1000  # WhatsApp's customer-service window


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation as stored: where it stands and what it has collected."""

    flow: str | None = None
    state: str | None = None
    version: int = 0
    flow_version: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    last_inbound_ms: int = 0


@dataclass(frozen=True, slots=True)
class StepResult:
    """The outcome of one event: `conversation` is what to store (same `version`: the store
    bumps it), `replies` what to send, `outcome` a word for logs and metrics."""

    conversation: Conversation
    replies: tuple[Reply, ...]
    outcome: str
    detail: str = ""


class _Turn:
    """The object attached to a flow's machine for one event."""

    # Set by transitions while the turn is attached to a machine.
    state: str
    trigger: Callable[[str], bool]

    def __init__(self) -> None:
        self.entered_states: list[str] = []

    def entered(self, event: EventData) -> None:
        self.entered_states.append(event.state.name)


class Engine:
    def __init__(self, catalog: CompiledCatalog) -> None:
        self.catalog = catalog

    def step(self, conv: Conversation, event: Event, now_ms: int) -> StepResult:
        if isinstance(event, Inbound):
            conv = replace(conv, last_inbound_ms=max(conv.last_inbound_ms, event.at_ms))
            return self._inbound(conv, event, now_ms)
        return self._intent(conv, event, now_ms)

    # -- events ---------------------------------------------------------------------------

    def _active(self, conv: Conversation) -> tuple[CompiledFlow, CompiledState] | None:
        if conv.flow is None or conv.state is None:
            return None
        flow = self.catalog.flows.get(conv.flow)
        state = flow.states.get(conv.state) if flow is not None else None
        if flow is None or state is None or state.final:
            return None
        return flow, state

    def _inbound(self, conv: Conversation, event: Inbound, now_ms: int) -> StepResult:
        active = self._active(conv)
        if active is None:
            inbound = self.catalog.inbound_flow
            if inbound is None:
                return StepResult(conv, (), "ignored", "no active flow and no inbound_flow")
            return self._start(conv, self.catalog.flows[inbound], {}, now_ms)
        flow, state = active
        chosen = state.index.match(event.text, event.payload)
        if chosen is None:
            return StepResult(conv, (self._reprompt(conv, state, now_ms),), "reprompted")
        return self._fire(conv, flow, option_trigger(state.name, chosen), {}, now_ms, "advanced")

    def _intent(self, conv: Conversation, event: IntentStart, now_ms: int) -> StepResult:
        intent = self.catalog.intents.get(event.code)
        if intent is None:
            return StepResult(conv, (), "ignored", f"unknown intent {event.code!r}")
        data = {**intent.default_data, **event.data}
        if intent.start is not None:
            return self._start(conv, self.catalog.flows[intent.start], data, now_ms)
        assert intent.event is not None  # the spec requires start or event
        active = self._active(conv)
        if active is None or intent.event not in active[1].on:
            return StepResult(conv, (), "ignored", f"no state waits for event {intent.event!r}")
        flow, _ = active
        return self._fire(conv, flow, event_trigger(intent.event), data, now_ms, "advanced")

    # -- transitions ------------------------------------------------------------------------

    def _start(
        self, conv: Conversation, flow: CompiledFlow, data: dict[str, Any], now_ms: int
    ) -> StepResult:
        keep = {k: conv.data[k] for k in ("lang",) if k in conv.data}
        fresh = replace(
            conv, flow=flow.name, state=IDLE, flow_version=flow.version, data={**flow.data, **keep}
        )
        return self._fire(fresh, flow, START, data, now_ms, "started")

    def _fire(
        self,
        conv: Conversation,
        flow: CompiledFlow,
        trigger: str,
        data: dict[str, Any],
        now_ms: int,
        outcome: str,
    ) -> StepResult:
        turn = _Turn()
        flow.machine.add_model(turn, initial=conv.state)
        try:
            turn.trigger(trigger)
        finally:
            flow.machine.remove_model(turn)
        new = replace(conv, state=turn.state, data={**conv.data, **data} if data else conv.data)
        replies = tuple(self._say(new, flow.states[s], now_ms) for s in turn.entered_states)
        if flow.states[new.state or ""].final:
            outcome = "ended"
        return StepResult(new, tuple(r for r in replies if r is not None), outcome)

    # -- output ----------------------------------------------------------------------------

    def _lang(self, conv: Conversation) -> str:
        lang = conv.data.get("lang")
        return lang if isinstance(lang, str) and lang else self.catalog.language

    def _say(
        self, conv: Conversation, state: CompiledState, now_ms: int, prefix: str = ""
    ) -> Reply | None:
        lang = self._lang(conv)
        default = self.catalog.language
        in_window = now_ms - conv.last_inbound_ms < WINDOW_MS
        buttons = tuple(
            Button(o.label.pick(lang, default).render(conv.data), o.payload) for o in state.options
        )
        if state.template is not None and (not in_window or state.say is None):
            t = state.template
            params = {k: v.render(conv.data) for k, v in t.params.items()}
            template = Template(t.code, t.language or lang, params)
            # The template's own quick-reply buttons get the options' payloads, in order.
            return Reply(template=template, buttons=buttons if state.buttons else ())
        if state.say is None:
            return None
        if not in_window:
            log.warning(
                "state %s has no template and the 24-hour window is closed; sending text",
                state.name,
            )
        text = state.say.pick(lang, default).render(conv.data)
        if prefix:
            text = f"{prefix}\n{text}"
        return Reply(text=text, buttons=buttons if state.buttons else ())

    def _reprompt(self, conv: Conversation, state: CompiledState, now_ms: int) -> Reply:
        lang, default = self._lang(conv), self.catalog.language
        prompt = state.reprompt or self.catalog.reprompt
        prefix = prompt.pick(lang, default).render(conv.data)
        if state.say is None:
            # Only a template to repeat: the customer just wrote, so send the re-prompt
            # itself rather than the template again without it.
            return Reply(text=prefix)
        reply = self._say(conv, state, now_ms, prefix=prefix)
        return reply if reply is not None else Reply(text=prefix)
