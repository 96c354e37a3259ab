"""The flow engine: one event in, the conversation's next state and its effects out.

Pure: no I/O, no clock (time comes in as `now_ms`), no randomness of its own (one-time codes
come from `StepContext.random_digits`), no knowledge of platforms or Redis. The runtime loads
a `Conversation`, calls `Engine.step`, and commits the result atomically: the new state, the
replies to send, the timers to keep and the HTTP calls to make.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from transitions import EventData, Machine

from bot.errors import ExprError
from bot.flows.answers import MEDIA_TYPES, describe_error, media_answer, parse_value
from bot.flows.answers.messages import LANGUAGES as REPROMPT_LANGUAGES
from bot.flows.answers.parsed import bad
from bot.flows.answers.reading import MAX_ANSWER, normalize_text
from bot.flows.calls import CallText
from bot.flows.compiler import (
    IDLE,
    Assignments,
    CompiledCatalog,
    CompiledFlow,
    CompiledState,
    CompiledTemplate,
    LocalText,
    holds,
)
from bot.flows.expr import Template as TextTemplate
from bot.flows.links import render_url, segment
from bot.flows.triggers import START, CallOutcome, Kind, OtpOutcome, Trigger
from bot.model import (
    AgentReply,
    Button,
    CallRequest,
    CallResult,
    Conversation,
    ConversationRef,
    Event,
    Fallback,
    Inbound,
    IntentStart,
    Link,
    Location,
    Media,
    Outcome,
    Parts,
    Reply,
    Restart,
    Resume,
    SendFailed,
    StepContext,
    StepResult,
    Template,
    Timer,
    TimerFired,
    coordinate,
)
from bot.phones import is_phone_channel, region_of

log = logging.getLogger("bot.flows")

WINDOW_MS = 24 * 3600 * 1000  # WhatsApp's customer-service window
LIST_AFTER = 3  # buttons a message holds; more go as a list (WhatsApp's reply buttons)
MAX_MOVES = 25  # automatic moves (routes, ends starting queued intents) in one step


class _Turn:
    """The model an engine keeps attached to a flow's machine: set to the conversation's
    state before each move (attaching a model costs a pass over every event and state)."""

    # Set by transitions when the turn is attached to a machine.
    state: str
    trigger: Callable[..., bool]

    def entered(self, event: EventData) -> None:
        """The states' on_enter callback: entering is done by the step (`_Step._enter`)."""


def _code_hash(conv_id: str, visit: int, code: str) -> str:
    return hashlib.sha256(f"{conv_id}:{visit}:{code}".encode()).hexdigest()


def _digits(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c.isdigit())


def _lookup(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and re.fullmatch(r"\d+", part) and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _file_name(url: str) -> str:
    """A document's name from its URL: the last part of its path, decoded."""
    return unquote(url.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1]) or "document"


def _primary(lang: str) -> str:
    """A language's primary subtag, lower case: `pt` of `pt_BR`, `en` of `EN-us`."""
    return lang.replace("-", "_").split("_")[0].lower()


class Engine:
    def __init__(self, catalog: CompiledCatalog) -> None:
        self.catalog = catalog
        # One turn per flow's machine, attached on first use. A step never awaits, so
        # steps never interleave on a turn.
        self._turns: dict[Machine, _Turn] = {}

    def step(
        self, conv: Conversation, event: Event, now_ms: int, ctx: StepContext | None = None
    ) -> StepResult:
        return _Step(self.catalog, conv, now_ms, ctx or StepContext(), self._turns).run(event)

    def is_active(self, conv: Conversation) -> bool:
        """In a flow, in a state that waits or moves on (not ended)."""
        flow = self.catalog.flows.get(conv.flow or "")
        state = flow.states.get(conv.state or "") if flow else None
        return state is not None and not state.final


class _Step:
    """One event applied to one conversation: accumulates the new state and the effects."""

    def __init__(
        self,
        catalog: CompiledCatalog,
        conv: Conversation,
        now_ms: int,
        ctx: StepContext,
        turns: dict[Machine, _Turn],
    ) -> None:
        self.catalog = catalog
        self.turns = turns
        self.conv = conv
        self.now = now_ms
        self.ctx = ctx
        # The business number of `numbers:` the conversation is with: its inbound flow,
        # default language and time zone.
        number = None
        if catalog.by_address and ctx.conv_id:
            ref = ConversationRef.parse(ctx.conv_id)
            number = catalog.number_of(ref.platform, ref.channel, ref.business)
        self.language = number.language if number is not None else catalog.language
        self.inbound_flow = number.inbound_flow if number is not None else catalog.inbound_flow
        self.zone = number.zone if number is not None else UTC
        self.today = datetime.fromtimestamp(now_ms / 1000, self.zone).date()
        self.replies: list[Reply] = []
        self.calls: list[CallRequest] = []
        self.trace: list[tuple[str, str, str]] = []
        self.entered: list[tuple[str, str]] = []
        self.outcome = Outcome.IGNORED
        self.detail = ""
        self.message = ""
        # Names every expression of this step can read that do not change during it.
        self._fixed = {
            "customer": ctx.customer,
            "channel": ctx.channel,
            "now": now_ms,
            "today": self.today.isoformat(),
        }
        self.entries = 0  # states entered in this step: bounds loops of routes
        # (index of the first reply, campaign) from which replies are that campaign's
        # first messages: see `_in_campaign`.
        self.missing_language = ""
        self._marks: list[tuple[int, str, bool]] = []
        self._campaign: tuple[str, bool] = ("", False)

    def result(self) -> StepResult:
        campaigns = self._reply_campaigns()
        replies = tuple(
            replace(r, marketing=True) if campaigns and campaigns[i][1] else r
            for i, r in enumerate(self.replies)
        )
        return StepResult(
            self.conv,
            replies,
            self.outcome,
            self.detail,
            tuple(self.calls),
            tuple(self.trace),
            tuple(self.entered),
            tuple(c for c, _ in campaigns),
            self.missing_language,
        )

    def _reply_campaigns(self) -> list[tuple[str, bool]]:
        """For each reply, the campaign it is a first message of and whether a marketing
        one's (none: [])."""
        if not self._marks:
            return []
        out: list[tuple[str, bool]] = []
        marks, current = iter(self._marks), ("", False)
        mark = next(marks, None)
        for _ in range(len(self.replies)):
            while mark is not None and mark[0] <= len(out):
                current = mark[1], mark[2]
                mark = next(marks, None)
            out.append(current)
        return out

    def _in_campaign(self, campaign: tuple[str, bool]) -> tuple[str, bool]:
        """The replies made from now on are first messages of `campaign` (its id, "" for
        none, and whether a marketing one's); returns the one before, to go back to."""
        outer, self._campaign = self._campaign, campaign
        self._marks.append((len(self.replies), *campaign))
        return outer

    # -- dispatch ---------------------------------------------------------------------------

    def run(self, event: Event) -> StepResult:
        self._migrate()
        if isinstance(event, Inbound):
            self.conv = replace(
                self.conv, last_inbound_ms=max(self.conv.last_inbound_ms, event.at_ms)
            )
            self.message = event.text
            self._inbound(event)
        elif isinstance(event, IntentStart):
            self._intent(event)
        elif isinstance(event, TimerFired):
            self._timer(event)
        elif isinstance(event, CallResult):
            self._call_result(event)
        elif isinstance(event, Resume):
            self._resume(event)
        elif isinstance(event, AgentReply):
            self._agent_reply(event)
        elif isinstance(event, Restart):
            self._restart()
        elif isinstance(event, SendFailed):
            self._send_failed(event)
        return self.result()

    # -- where the conversation stands ------------------------------------------------------

    def _flow(self) -> CompiledFlow | None:
        return self.catalog.flows.get(self.conv.flow or "")

    def _current(self) -> tuple[CompiledFlow, CompiledState] | None:
        flow = self._flow()
        state = flow.states.get(self.conv.state or "") if flow is not None else None
        if flow is None or state is None or state.final:
            return None
        return flow, state

    def _migrate(self) -> None:
        """A conversation on an older version of its flow: keep its state if it still
        exists, follow `migrations:` if it was renamed or removed, else end it."""
        conv = self.conv
        flow = self._flow()
        if conv.flow is None:
            return
        if flow is None:
            self.detail = f"flow {conv.flow!r} no longer exists; conversation ended"
            log.warning(self.detail)
            self.conv = replace(conv, flow=None, state=None, timers=(), handoff="")
            return
        if conv.flow_version == flow.version or conv.state in (None, IDLE):
            return
        state = conv.state or ""
        if state not in flow.states:
            target = flow.migrations.get(state)
            if target is None or target not in flow.states:
                self.detail = f"state {state!r} of flow {flow.name!r} was removed; ended"
                log.warning(self.detail)
                self.conv = replace(conv, flow=None, state=None, timers=(), handoff="")
                return
            self.trace.append((state, Kind.MIGRATION.value, target))
            conv = replace(conv, state=target)
        if conv.handoff == "state" and flow.states[conv.state or ""].handoff is None:
            conv = replace(conv, handoff="")  # no longer a handoff state: automation resumes
        self.conv = replace(conv, flow_version=flow.version)

    # -- variables --------------------------------------------------------------------------

    def _lang(self) -> str:
        lang = self.conv.data.get("lang")
        return lang if isinstance(lang, str) and lang else self.language

    def env(self, **extra: Any) -> dict[str, Any]:
        """What expressions and texts can read: the conversation's data and a few names."""
        return {
            **self.conv.data,
            **self._fixed,
            "lang": self._lang(),
            "message": self.message,
            "attempts": self.conv.attempts,
            **extra,
        }

    def _render(self, text: TextTemplate, env: Mapping[str, Any]) -> str:
        try:
            return text.render(env)
        except ExprError as e:
            # The reason may quote a customer's value: it stays in the step's detail, unlogged.
            log.warning("text %r could not be rendered", text.source)
            self.detail = f"render error: {e.message}"
            return ""

    def _render_url(self, url: TextTemplate, env: Mapping[str, Any]) -> str:
        """A URL a message carries: data percent-encoded (bot.flows.links)."""
        try:
            return render_url(url, env)
        except ExprError as e:
            # The reason may quote a customer's value: it stays in the step's detail, unlogged.
            log.warning("url %r could not be rendered", url.source)
            self.detail = f"render error: {e.message}"
            return ""

    def _pick(self, text: LocalText, env: Mapping[str, Any], *, shown: bool = True) -> str:
        """`text` in the conversation's language. One `shown` to the customer in another
        language (none in theirs) is noted: the history says so. A text written without
        languages is in the default one."""
        lang = self._lang()
        template, key = text.pick_key(lang, self.language)
        if shown:
            wanted, used = _primary(lang), _primary(self.language if key == "*" else key)
            if wanted != used:
                self.missing_language = self.missing_language or wanted
        return self._render(template, env)

    def _assign(self, assignments: tuple[tuple[str, Any], ...]) -> None:
        if not assignments:
            return
        for slot, expr in assignments:  # in order: each sees the ones before it
            try:
                value = expr.evaluate(self.env())
            except ExprError:
                log.warning("set %s failed; the slot keeps its value", slot)
                continue
            self.conv = replace(self.conv, data={**self.conv.data, slot: value})

    # -- output -----------------------------------------------------------------------------

    def _in_window(self) -> bool:
        return self.now - self.conv.last_inbound_ms < WINDOW_MS

    def _template(self, t: CompiledTemplate, env: Mapping[str, Any]) -> Template:
        """The template's variables rendered (a URL button's each one path segment) and
        its media header's URL (bot.flows.links)."""
        params = {k: self._render(v, env) for k, v in t.params.items()}
        params = {k: segment(v) if k in t.segments else v for k, v in params.items()}
        header = None
        if t.header is not None:
            url = self._render_url(t.header, env)
            header = Media(
                t.header_kind, url, _file_name(url) if t.header_kind == "document" else ""
            )
        return Template(t.code, t.language or self._lang(), params, header, t.header_param)

    def _buttons(
        self, state: CompiledState, env: Mapping[str, Any], *, shown: bool
    ) -> tuple[Button, ...]:
        """The options as buttons; `shown`: their labels reach the customer (a template's
        buttons have the template's own)."""
        return tuple(
            Button(
                self._pick(o.label, env, shown=shown),
                o.payload,
                self._pick(o.description, env, shown=shown) if o.description else "",
                self._pick(o.section, env, shown=shown) if o.section else "",
            )
            for o in state.options
            if o.when is None or holds(o.when, env)
        )

    def _emit(self, reply: Reply, state: CompiledState) -> None:
        fallback = None
        if state.fallback is not None:
            f = state.fallback
            content = self._pick(f.content, self.env()) if f.content is not None else ""
            fallback = Fallback(f.id, content, f.duration)
        self.replies.append(
            replace(reply, fallback=fallback, state=state.name, visit=self.conv.visit)
        )

    def _say(self, state: CompiledState, prefix: str = "", **extra: Any) -> None:
        """The state's message: `say:` inside the window, `template:` outside it."""
        env = self.env(**extra)
        if state.template is not None and (not self._in_window() or state.say is None):
            buttons = self._buttons(state, env, shown=False)
            reply = Reply(
                template=self._template(state.template, env),
                buttons=buttons if state.buttons else (),
            )
            if prefix:
                self._emit(Reply(text=prefix), state)
            self._emit(reply, state)
            return
        if state.say is None:
            if prefix:
                self._emit(Reply(text=prefix), state)
            return
        if not self._in_window():
            log.warning("state %s has no template; the 24-hour window is closed", state.name)
        text = self._pick(state.say, env)
        if prefix:
            text = f"{prefix}\n{text}"
        if state.media is not None or state.location is not None:
            self._say_with_media(state, text, env)
            return
        if state.link is not None:
            link = Link(self._pick(state.link.label, env), self._render_url(state.link.url, env))
            self._emit(Reply(text=text, link=link), state)
            return
        buttons = self._buttons(state, env, shown=True) if state.buttons else ()
        reply = Reply(text=text, buttons=buttons)
        if len(buttons) > LIST_AFTER:  # more than buttons hold: a list, its labels localized
            texts = self.catalog.texts
            reply = replace(reply, list_button=self._pick(texts.list_button, env),
                            list_title=self._pick(texts.list_title, env))  # fmt: skip
        self._emit(reply, state)

    def _say_with_media(self, state: CompiledState, text: str, env: Mapping[str, Any]) -> None:
        """A photo, document... with the text as its caption (audio has none: the text
        goes first); or the text, then a location pin. A pin whose coordinates do not come
        out as numbers on the globe is not sent (the text is)."""
        media = state.media
        if media is not None:
            url = self._render_url(media.url, env)
            name = self._render(media.filename, env) if media.filename is not None else ""
            if media.kind == "document" and not name:
                name = _file_name(url)
            if media.kind == "audio":
                self._emit(Reply(text=text), state)
                text = ""
            self._emit(Reply(text=text, media=Media(media.kind, url, name)), state)
            return
        where = state.location
        assert where is not None
        self._emit(Reply(text=text), state)
        lat = coordinate(self._render(where.latitude, env), 90)
        lon = coordinate(self._render(where.longitude, env), 180)
        if lat is None or lon is None:
            log.warning("state %s: its location is no place on the globe; not sent", state.name)
            return
        pin = Location(
            lat, lon,
            self._render(where.name, env) if where.name is not None else "",
            self._render(where.address, env) if where.address is not None else "",
        )  # fmt: skip
        self._emit(Reply(location=pin), state)

    def _text(self, text: LocalText, state: CompiledState | None = None) -> None:
        reply = Reply(text=self._pick(text, self.env()))
        if state is not None:
            self._emit(reply, state)
        else:
            self.replies.append(reply)

    # -- moving -----------------------------------------------------------------------------

    def _fire(
        self, flow: CompiledFlow, trigger: Trigger | str, assignments: Assignments = ()
    ) -> bool:
        """Take `trigger` from the current state; apply the `set:` of the option (given) or
        route (as the machine reports) taken; enter where it leads. False when no
        transition's guard holds (the conversation stays, its data untouched)."""
        source = self.conv.state or IDLE
        taken: list[int] = []  # the route the machine took (compiler.took_route)
        turn = self.turns.get(flow.machine)
        if turn is None:
            turn = self.turns[flow.machine] = _Turn()
            flow.machine.add_model(turn, initial=source)
        else:
            flow.machine.set_state(source, model=turn)
        name = str(trigger)
        moved = turn.trigger(name, env=self.env(), taken=taken)
        if not moved:
            return False
        self.trace.append((source, name, turn.state))
        if taken:
            self._assign(flow.states[source].routes[taken[0]].set)
        self._assign(assignments)
        self._enter(flow, turn.state)
        return True

    def _enter(self, flow: CompiledFlow, name: str) -> None:
        self.entries += 1
        if self.entries > MAX_MOVES:
            raise RuntimeError(f"flow {flow.name}: more than {MAX_MOVES} automatic moves")
        state = flow.states[name]
        self.entered.append((flow.name, name))
        self.conv = replace(
            self.conv,
            flow=flow.name,
            flow_version=flow.version,
            state=name,
            visit=self.conv.visit + 1,
            attempts=0,
            timers=(),
            otp=None,
            handoff="state" if state.handoff is not None else "",
            resume_to="",
        )
        self._assign(state.set)
        if state.otp is not None:
            self._send_code(state)
        else:
            self._say(state)
        if state.call is not None:
            self._make_call(state)
        self._set_timers(state)
        if state.routes and state.collect is None:
            if not self._fire(flow, Trigger.route(name)):
                self.detail = f"no route of state {name!r} holds; the conversation waits there"
            return
        if state.final:
            self.outcome = Outcome.ENDED
            self._next_queued()

    def _set_timers(self, state: CompiledState) -> None:
        timers = []
        if state.timeout is not None:
            timers.append(Timer("timeout", self.now + int(state.timeout.after * 1000)))
        for i, r in enumerate(state.remind):
            timers.append(Timer(f"remind{i}", self.now + int(r.after * 1000)))
        if state.handoff is not None and state.handoff.timeout is not None:
            timers.append(Timer("handoff", self.now + int(state.handoff.timeout * 1000)))
        self.conv = replace(self.conv, timers=tuple(timers))

    def _start(
        self, flow: CompiledFlow, data: Mapping[str, Any], *, marketing: bool = False
    ) -> None:
        """Start `flow`; `marketing`: a marketing campaign's (STOP MARKETING ends it)."""
        self.conv = replace(
            self.conv,
            flow=flow.name,
            state=IDLE,
            flow_version=flow.version,
            data=self._fresh_data(flow, data),
            handoff="",
            marketing_flow=marketing,
        )
        self.outcome = Outcome.STARTED
        self._fire(flow, START)

    def _fresh_data(self, flow: CompiledFlow, data: Mapping[str, Any]) -> dict[str, Any]:
        """A flow's data as it starts: its `data:` defaults, the customer's language kept,
        `data` over them."""
        keep = {k: self.conv.data[k] for k in ("lang",) if k in self.conv.data}
        return {**flow.data, **keep, **data}

    def _end(self) -> None:
        self.conv = replace(
            self.conv, flow=None, state=None, timers=(), handoff="", resume_to="", otp=None
        )

    def _next_queued(self) -> None:
        """Start the first queued intent that may start (one whose intent is gone, or a
        marketing campaign's for a customer who opted out of marketing, is dropped)."""
        while self.conv.queue:
            first, rest = self.conv.queue[0], self.conv.queue[1:]
            self.conv = replace(self.conv, queue=rest)
            intent = self.catalog.intents.get(first["code"])
            if intent is None or intent.start is None:
                continue
            if first.get("marketing") and self.conv.marketing_opted_out:
                continue
            data = {**intent.default_data, **first.get("data", {})}
            self._start_intent_flow(
                self.catalog.flows[intent.start], data,
                campaign=first.get("campaign", ""), marketing=bool(first.get("marketing")),
            )  # fmt: skip
            self.outcome = Outcome.STARTED
            return

    def _start_intent_flow(
        self, flow: CompiledFlow, data: dict[str, Any], *, campaign: str, marketing: bool
    ) -> None:
        """Start an intent's flow; when a campaign's, the replies its start makes are that
        campaign's first messages (a queued intent started in turn within it has its own),
        and the conversation remembers the campaign (its replies and opt-outs count there)."""
        outer = self._in_campaign((campaign, marketing and bool(campaign)))
        if campaign:
            self.conv = replace(self.conv, campaign=campaign)
        self._start(flow, data, marketing=marketing)
        self._in_campaign(outer)

    # -- customer messages ------------------------------------------------------------------

    def _command(self, event: Inbound) -> str | None:
        # A command is a word or two: a text longer than MAX_ANSWER is none, and is not folded.
        if event.kind != "text" or len(event.text) > MAX_ANSWER:
            return None
        return self.catalog.commands.get(normalize_text(event.text))

    def _inbound(self, event: Inbound) -> None:
        command = self._command(event)
        if self.conv.opted_out:
            if command == "stop_marketing":  # said quietly: nothing is sent to them now
                self.conv = replace(self.conv, marketing_opted_out=True)
                self.outcome = Outcome.MARKETING_STOPPED
            elif command in ("start", "start_marketing"):
                # START MARKETING after STOP asks for everything again, offers included.
                marketing = self.conv.marketing_opted_out and command == "start"
                self.conv = replace(self.conv, opted_out=False, marketing_opted_out=marketing)
                self._text(self.catalog.texts.started)
                self.outcome = Outcome.OPTED_IN
            else:
                self.outcome, self.detail = Outcome.IGNORED, "customer opted out"
            return
        if command == "stop":
            self._end()
            self.conv = replace(self.conv, opted_out=True, queue=())
            self.replies.append(
                Reply(text=self._pick(self.catalog.texts.stopped, self.env()), system=True)
            )
            self.outcome = Outcome.STOPPED
            return
        if command == "stop_marketing":
            # Offers stop; the conversation goes on where it was, and so do utility messages.
            queue = tuple(q for q in self.conv.queue if not q.get("marketing"))
            self.conv = replace(self.conv, marketing_opted_out=True, queue=queue)
            self.replies.append(
                Reply(
                    text=self._pick(self.catalog.texts.stopped_marketing, self.env()),
                    system=True,
                )
            )
            self.outcome = Outcome.MARKETING_STOPPED
            if self.conv.marketing_flow and self.conv.flow is not None:
                # A marketing campaign's flow under way ends: no reminder of it follows.
                self._end()
                self.conv = replace(self.conv, marketing_flow=False)
                self._next_queued()
                self.outcome = Outcome.MARKETING_STOPPED
            return
        if command == "start_marketing":
            self.conv = replace(self.conv, marketing_opted_out=False)
            self._text(self.catalog.texts.started_marketing)
            self.outcome = Outcome.MARKETING_STARTED
            return
        if self.conv.handoff:
            self._forward(event)
            return
        flow = self._flow()
        allowed = flow.commands if flow is not None else None
        if command == "agent" and self.catalog.agent.webhook and (allowed is None or allowed.agent):
            self._agent_handoff()
            return
        if command == "restart" and (allowed is None or allowed.restart):
            current = self._current()
            target = current[0] if current else self._inbound_flow()
            if target is not None:
                self._start(target, {})
                self.outcome = Outcome.RESTARTED
                return
        current = self._current()
        if current is None:
            start = self._inbound_flow()
            if start is None:
                self.outcome, self.detail = Outcome.IGNORED, "no active flow and no inbound_flow"
                return
            self._start(start, {})
            return
        flow_, state = current
        if state.collect is not None:
            self._collect(flow_, state, event)
        elif state.otp is not None:
            self._check_code(flow_, state, event)
        elif state.options:
            self._choose(flow_, state, event)
        elif state.call is not None:
            self.outcome, self.detail = Outcome.IGNORED, "waiting for a business-system call"
        else:
            self._reprompt(state)

    def _inbound_flow(self) -> CompiledFlow | None:
        name = self.inbound_flow
        return self.catalog.flows[name] if name else None

    def _choose(self, flow: CompiledFlow, state: CompiledState, event: Inbound) -> None:
        # A photo whose caption says "1" chooses nothing: options are answered in words.
        written = event.kind in ("text", "reply")
        chosen = (
            state.index.match(event.text, event.payload, lang=self._lang()) if written else None
        )
        if chosen is not None:
            option = state.options[chosen]
            if self._fire(flow, Trigger.option(state.name, chosen), option.set):
                self.outcome = Outcome.ADVANCED if self.outcome is Outcome.IGNORED else self.outcome
                return
        self._no_match(flow, state)

    def _no_match(self, flow: CompiledFlow, state: CompiledState) -> None:
        attempts = self.conv.attempts + 1
        self.conv = replace(self.conv, attempts=attempts)
        limit = state.attempts or self.catalog.attempts
        if state.escalate and attempts >= limit:
            self._fire(flow, Trigger.escalate(state.name))
            self.outcome = Outcome.ESCALATED
            return
        self._reprompt(state)

    def _reprompt(self, state: CompiledState) -> None:
        prompt = state.reprompt or self.catalog.reprompt
        self._say(state, prefix=self._pick(prompt, self.env()))
        self.outcome = Outcome.REPROMPTED

    def _collect(self, flow: CompiledFlow, state: CompiledState, event: Inbound) -> None:
        spec = state.collect
        assert spec is not None
        today = self.today
        region = None
        if spec.type == "phone" and is_phone_channel(self.ctx.channel):
            region = region_of(self.ctx.customer)  # a national number is the customer's
        if spec.type in MEDIA_TYPES:
            parsed = media_answer(spec.type, event.kind, event.media)
        elif event.kind not in ("text", "reply"):  # a photo's caption is no written answer
            parsed = bad("not_text")
        else:
            parsed = parse_value(spec, event.text, today=today, lang=self._lang(), region=region)
        if parsed.ok:
            self.conv = replace(self.conv, data={**self.conv.data, spec.slot: parsed.value})
            trigger = Trigger.collect(state.name) if spec.go else Trigger.route(state.name)
            if not self._fire(flow, trigger):
                self.detail = f"no route of state {state.name!r} holds after collecting"
            self.outcome = Outcome.COLLECTED
            return
        attempts = self.conv.attempts + 1
        self.conv = replace(self.conv, attempts=attempts)
        if spec.escalate and attempts >= spec.attempts:
            self._fire(flow, Trigger.escalate(state.name))
            self.outcome = Outcome.ESCALATED
            return
        if state.collect_invalid is not None:
            text = self._pick(state.collect_invalid, self.env(error=parsed.error))
        else:
            lang = self._lang()
            text = describe_error(parsed.error, spec, lang)
            if _primary(lang) not in REPROMPT_LANGUAGES:  # said in English: the history says so
                self.missing_language = self.missing_language or _primary(lang)
        self._emit(Reply(text=text), state)
        self.outcome = Outcome.INVALID

    # -- one-time codes ---------------------------------------------------------------------

    def _send_code(self, state: CompiledState) -> None:
        otp = state.otp
        assert otp is not None
        code = self.ctx.random_digits(otp.spec.digits)
        self.conv = replace(
            self.conv,
            otp={
                "h": _code_hash(self.ctx.conv_id, self.conv.visit, code),
                "exp": self.now + int(otp.spec.ttl * 1000),
                "tries": 0,
                "sent": self.now,
            },
        )
        env = self.env(otp=code)
        buttons = ()
        self._emit(Reply(template=self._template(otp.template, env), buttons=buttons), state)

    def _check_code(self, flow: CompiledFlow, state: CompiledState, event: Inbound) -> None:
        otp = state.otp
        assert otp is not None
        held = self.conv.otp or {}
        # A code or a resend word is short: a text longer than MAX_ANSWER is a wrong code, and
        # is not folded nor scanned for digits.
        short = len(event.text) <= MAX_ANSWER
        if short and normalize_text(event.text) in otp.resend_words:
            if self.now - int(held.get("sent", 0)) >= otp.spec.resend_after * 1000:
                self._send_code(state)
                self.outcome = Outcome.CODE_RESENT
            else:
                self._text(self.catalog.texts.otp_resend_wait, state)
                self.outcome = Outcome.CODE_RESEND_TOO_SOON
            return
        if self.now >= int(held.get("exp", 0)):
            self._fire(flow, Trigger.otp(state.name, OtpOutcome.EXPIRED))
            self.outcome = Outcome.CODE_EXPIRED
            return
        given = _code_hash(self.ctx.conv_id, self.conv.visit, _digits(event.text) if short else "")
        if hmac.compare_digest(given, str(held.get("h", ""))):
            self._fire(flow, Trigger.otp(state.name, OtpOutcome.VERIFIED))
            self.outcome = Outcome.CODE_VERIFIED
            return
        tries = int(held.get("tries", 0)) + 1
        self.conv = replace(self.conv, otp={**held, "tries": tries})
        if tries >= otp.spec.attempts:
            self._fire(flow, Trigger.otp(state.name, OtpOutcome.WRONG))
            self.outcome = Outcome.CODE_WRONG
            return
        self._text(self.catalog.texts.otp_wrong, state)
        self.outcome = Outcome.CODE_RETRY

    # -- business events --------------------------------------------------------------------

    def _intent(self, event: IntentStart) -> None:
        if event.campaign:  # what this step sends is the campaign's first messages
            self._in_campaign((event.campaign, event.marketing))
        if self.conv.opted_out:
            self.outcome, self.detail = Outcome.REJECTED, "customer opted out"
            return
        if event.flow is not None:
            flow = self.catalog.flows.get(event.flow)
            if flow is None:
                self.detail = f"unknown flow {event.flow!r}"
                return
            self._start(flow, event.data)
            return
        intent = self.catalog.intents.get(event.code)
        if intent is None:
            self.detail = f"unknown intent {event.code!r}"
            return
        if self.conv.opted_out:
            self.outcome, self.detail = Outcome.REJECTED, "customer opted out"
            return
        if event.marketing and self.conv.marketing_opted_out:
            self.outcome, self.detail = Outcome.REJECTED, "customer opted out of marketing"
            return
        data = {**intent.default_data, **event.data}
        if intent.event is not None:
            current = self._current()
            if current is None or intent.event not in current[1].on:
                self.detail = f"no state waits for event {intent.event!r}"
                return
            self.conv = replace(self.conv, data={**self.conv.data, **data})
            self._fire(current[0], Trigger.event(intent.event))
            # As for a chosen option: a move into a final state stays "ended".
            self.outcome = Outcome.ADVANCED if self.outcome is Outcome.IGNORED else self.outcome
            return
        assert intent.start is not None
        policy = event.policy or intent.policy
        if self._current() is not None or self.conv.handoff:
            if policy == "reject":
                self.outcome, self.detail = Outcome.REJECTED, "customer is in a flow"
                return
            if policy == "queue":
                queued: dict[str, Any] = {
                    "code": event.code, "data": event.data, "id": event.message_id
                }  # fmt: skip
                if event.campaign:
                    queued["campaign"] = event.campaign
                if event.marketing:
                    queued["marketing"] = True
                self.conv = replace(self.conv, queue=(*self.conv.queue, queued))
                self.outcome = Outcome.QUEUED
                return
        self._start_intent_flow(
            self.catalog.flows[intent.start], data, campaign=event.campaign,
            marketing=event.marketing,
        )  # fmt: skip

    def _timer(self, event: TimerFired) -> None:
        if event.visit != self.conv.visit:
            self.detail = "timer of an earlier state visit"
            return
        if event.name == "agent":  # the agent command works outside flows too
            if self.conv.handoff == "agent":
                self.conv = replace(
                    self.conv, timers=tuple(t for t in self.conv.timers if t.name != "agent")
                )
                self._end_agent_handoff()
            return
        if self.conv.flow is None:
            self.detail = "timer of an ended conversation"
            return
        timers = tuple(t for t in self.conv.timers if t.name != event.name)
        self.conv = replace(self.conv, timers=timers)
        flow = self._flow()
        state = flow.states.get(self.conv.state or "") if flow is not None else None
        if flow is None or state is None:
            return
        # A timer set before a new version of the flow: the state may no longer have it.
        remind = event.name[6:] if event.name.startswith("remind") else ""
        if not (
            (event.name == "timeout" and state.timeout is not None)
            or (event.name == "handoff" and state.handoff is not None)
            or (remind.isdecimal() and int(remind) < len(state.remind))
        ):
            self.detail = f"state {state.name!r} has no timer {event.name!r}"
            return
        if event.name == "timeout":
            self._fire(flow, Trigger.timeout(state.name))
            self.outcome = Outcome.TIMED_OUT
        elif event.name == "handoff":
            self._fire(flow, Trigger.handoff_timeout(state.name))
            self.outcome = Outcome.RESUMED
        else:
            reminder = state.remind[int(remind)]
            env = self.env()
            if reminder.template is not None and (not self._in_window() or reminder.say is None):
                self._emit(Reply(template=self._template(reminder.template, env)), state)
            elif reminder.say is not None:
                self._emit(Reply(text=self._pick(reminder.say, env)), state)
            self.outcome = Outcome.REMINDED

    def _make_call(self, state: CompiledState) -> None:
        call = state.call
        assert call is not None
        env = self.env()
        self.calls.append(
            CallRequest(
                kind="http",
                method=call.method,
                url=self._call_text(call.url, env),
                headers={k: self._call_text(v, env) for k, v in call.headers.items()},
                body=self._body(call.body, env),
                timeout_s=call.timeout,
                visit=self.conv.visit,
            )
        )

    def _call_text(self, text: CallText, env: Mapping[str, Any]) -> Parts:
        """A call's URL or header value for this step; no parts (a call that is not made,
        and goes to `failure:`) when a placeholder cannot be rendered."""
        try:
            return text.render(env)
        except ExprError as e:
            # The reason may quote a customer's value: it stays in the step's detail, unlogged.
            log.warning("call text %r could not be rendered", text.source)
            self.detail = f"render error: {e.message}"
            return ()

    def _body(self, value: Any, env: Mapping[str, Any]) -> Any:
        if isinstance(value, TextTemplate):
            single = value.single
            if single is not None:  # "{{ x }}" alone keeps x's type
                try:
                    return single.evaluate(env)
                except ExprError:
                    return None
            return self._render(value, env)
        if isinstance(value, dict):
            return {k: self._body(v, env) for k, v in value.items()}
        if isinstance(value, list):
            return [self._body(v, env) for v in value]
        return value

    def _call_result(self, event: CallResult) -> None:
        current = self._current()
        if event.visit != self.conv.visit or current is None or current[1].call is None:
            self.detail = "answer to a call of an earlier state visit"
            return
        flow, state = current
        call = state.call
        assert call is not None
        answer = {"status": event.status, "body": event.body}
        data = dict(self.conv.data)
        if event.outcome == CallOutcome.SUCCESS:
            for slot, path in call.save.items():
                data[slot] = _lookup(answer, path)
        self.conv = replace(self.conv, data=data)
        known = event.outcome in CallOutcome.__members__.values()
        outcome = CallOutcome(event.outcome) if known else CallOutcome.FAILURE
        self._fire(flow, Trigger.call(state.name, outcome))
        self.outcome = Outcome.of_call(outcome)

    # -- people -----------------------------------------------------------------------------

    def _forward(self, event: Inbound) -> None:
        """During a handoff the customer's messages go to the agent webhook."""
        flow = self._flow()
        state = flow.states.get(self.conv.state or "") if flow is not None else None
        url = self.catalog.agent_webhook
        if self.conv.handoff == "state" and state is not None and state.handoff is not None:
            url = state.handoff_webhook or url
        if url is None:
            self.outcome, self.detail = Outcome.IGNORED, "handoff without an agent webhook"
            return
        env = self.env()
        self.calls.append(
            CallRequest(
                kind="forward",
                method="POST",
                url=url.render(env),  # the author's text and secrets only (the loader's rule)
                headers={k: self._call_text(v, env) for k, v in self.catalog.agent_headers.items()},
                body={
                    "conversation": self.ctx.conv_id,
                    "customer": self.ctx.customer,
                    "channel": self.ctx.channel,
                    "message_id": event.message_id,
                    "at_ms": event.at_ms,
                    "kind": event.kind,
                    "text": event.text,
                    "payload": event.payload,
                    "media": event.media,
                    "flow": self.conv.flow,
                    "state": self.conv.state,
                },
                timeout_s=10.0,
                visit=self.conv.visit,
            )
        )
        self.outcome = Outcome.FORWARDED

    def _agent_handoff(self) -> None:
        timers: tuple[Timer, ...] = ()
        if self.catalog.agent.timeout is not None:
            timers = (Timer("agent", self.now + int(self.catalog.agent.timeout * 1000)),)
        current = self._current()  # an ended flow is not resumed: its end is not re-sent
        self.conv = replace(
            self.conv,
            handoff="agent",
            resume_to=current[1].name if current is not None else "",
            visit=self.conv.visit + 1,
            timers=timers,
        )
        self._text(self.catalog.texts.agent)
        self.outcome = Outcome.HANDED_OFF

    def _end_agent_handoff(self, go: str | None = None) -> None:
        flow = self._flow()
        resume_to = self.conv.resume_to
        if flow is not None and go is not None and go in flow.states:
            resume_to = go
        self.conv = replace(self.conv, handoff="", resume_to="", timers=())
        self._text(self.catalog.texts.agent_resumed)
        self.outcome = Outcome.RESUMED
        if flow is not None and resume_to in flow.states:
            self._enter(flow, resume_to)

    def _resume(self, event: Resume) -> None:
        if self.conv.handoff == "agent":
            self._end_agent_handoff(event.go)
            return
        current = self._current()
        if self.conv.handoff != "state" or current is None or current[1].handoff is None:
            self.detail = "not in a handoff"
            return
        flow, state = current
        self.conv = replace(self.conv, handoff="")
        if event.go is not None and event.go in flow.states:
            self.trace.append((state.name, Kind.RESUME.value, event.go))
            self._enter(flow, event.go)
        else:
            self._fire(flow, Trigger.resume(state.name))
        self.outcome = Outcome.RESUMED

    def _restart(self) -> None:
        """An operator starts the flow under way again: its start state entered anew, as
        when the flow starts (default data, no timers, code or handoff), the queue kept."""
        if self.conv.opted_out:
            self.outcome, self.detail = Outcome.REJECTED, "customer opted out"
            return
        current = self._current()
        if current is None:
            self.detail = "not in a flow"
            return
        flow, state = current
        self.conv = replace(self.conv, data=self._fresh_data(flow, {}), handoff="")
        self.trace.append((state.name, Kind.RESTART.value, flow.start))
        self._enter(flow, flow.start)
        self.outcome = Outcome.RESTARTED

    def _agent_reply(self, event: AgentReply) -> None:
        if not self._in_window():
            self.outcome, self.detail = (
                Outcome.REJECTED,
                "outside the 24-hour window: use a template",
            )
            return
        self.replies.append(Reply(text=event.text))
        self.outcome = Outcome.AGENT_REPLIED

    def _send_failed(self, event: SendFailed) -> None:
        current = self._current()
        if current is None or event.visit != self.conv.visit or not current[1].on_failed:
            self.detail = f"send failed: {event.error}"
            return
        self._fire(current[0], Trigger.failed(current[1].name))
        self.outcome = Outcome.SEND_FAILED
