"""Compile validated specs into what the engine runs: one `transitions` machine per flow,
built once at start-up, plus per-state option indexes, parsed expressions and texts.

A conversation is attached to its flow's machine for one event and detached after it;
machines are never built per message. Guards (`when:`) are conditions of the machine's
transitions; the first route whose guard holds is the one the machine takes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from transitions import EventData, Machine, State

from bot.errors import ExprError
from bot.flows.answers.reading import normalize_text
from bot.flows.calls import CallText
from bot.flows.expr import Expr, truthy
from bot.flows.expr import Template as TextTemplate
from bot.flows.loader import Catalog
from bot.flows.matching import OptionIndex, OptionWords, flatten_words
from bot.flows.spec import (
    MEDIA_HEADERS,
    AgentSpec,
    CallSpec,
    CollectSpec,
    FlowCommands,
    FlowSpec,
    HandoffSpec,
    IntentSpec,
    Localized,
    OptionSpec,
    OtpSpec,
    StateSpec,
    TemplateEntry,
    TemplateSpec,
    TimeoutSpec,
)
from bot.flows.triggers import START, CallOutcome, OtpOutcome, Trigger
from bot.model import DEFAULT_ACCOUNT, ConversationRef
from bot.phones import customer_id

log = logging.getLogger("bot.flows")

IDLE = "__idle__"  # where a conversation stands before the flow's first state

Assignments = tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class LocalText:
    """A text per language; the key "*" holds a text written without languages."""

    by_lang: Mapping[str, TextTemplate]

    @classmethod
    def compile(cls, value: Localized) -> LocalText:
        if isinstance(value, str):
            return cls({"*": TextTemplate.parse(value)})
        return cls({lang: TextTemplate.parse(text) for lang, text in value.items()})

    def pick(self, lang: str, default: str) -> TextTemplate:
        return self.pick_key(lang, default)[0]

    def pick_key(self, lang: str, default: str) -> tuple[TextTemplate, str]:
        """The text for `lang` (or its primary language), else `default`'s, else the one
        written without languages, else the first; and the key it was found under."""
        by = self.by_lang
        for key in (lang, lang.split("_")[0].split("-")[0], default, "*"):
            if key in by:
                return by[key], key
        key = next(iter(by))
        return by[key], key


def option_words(option: OptionSpec, payload: str) -> OptionWords:
    """What chooses an option besides its number: its labels, keywords and synonyms in
    every language, and its patterns."""
    return OptionWords(
        payload=payload,
        words=flatten_words(option.label, option.keywords, option.synonyms),
        patterns=list(option.patterns),
    )


@dataclass(frozen=True, slots=True)
class CompiledOption:
    label: LocalText
    go: str
    payload: str
    when: Expr | None
    set: Assignments
    description: LocalText | None = None
    section: LocalText | None = None


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    when: Expr | None
    go: str
    set: Assignments


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A template as a state sends it, with what `templates:` says of it: the kind of its
    media header (`header_kind`, "" for none) and the variable its URL goes as, and its
    URL buttons' variables (`segments`: each value sent as one path segment)."""

    code: str
    language: str | None
    params: Mapping[str, TextTemplate]
    header: TextTemplate | None = None
    header_kind: str = ""
    header_param: str = "link"
    segments: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CompiledReminder:
    after: float
    say: LocalText | None
    template: CompiledTemplate | None


@dataclass(frozen=True, slots=True)
class CompiledMedia:
    kind: str
    url: TextTemplate
    filename: TextTemplate | None


@dataclass(frozen=True, slots=True)
class CompiledLink:
    label: LocalText
    url: TextTemplate


@dataclass(frozen=True, slots=True)
class CompiledLocation:
    latitude: TextTemplate
    longitude: TextTemplate
    name: TextTemplate | None
    address: TextTemplate | None


@dataclass(frozen=True, slots=True)
class CompiledFallback:
    id: str
    content: LocalText | None
    duration: int | None


@dataclass(frozen=True, slots=True)
class CompiledCall:
    method: str
    url: CallText
    headers: Mapping[str, CallText]
    body: Any  # the `json:` structure with TextTemplate leaves
    timeout: float
    save: Mapping[str, tuple[str, ...]]
    success: str
    failure: str
    on_timeout: str


@dataclass(frozen=True, slots=True)
class CompiledOtp:
    spec: OtpSpec
    template: CompiledTemplate
    resend_words: frozenset[str]


@dataclass(frozen=True, slots=True)
class CompiledState:
    name: str
    say: LocalText | None
    template: CompiledTemplate | None
    buttons: bool
    options: tuple[CompiledOption, ...]
    index: OptionIndex
    reprompt: LocalText | None
    attempts: int | None
    escalate: str | None
    collect: CollectSpec | None
    collect_invalid: LocalText | None
    routes: tuple[CompiledRoute, ...]
    call: CompiledCall | None
    otp: CompiledOtp | None
    handoff: HandoffSpec | None
    handoff_webhook: CallText | None
    timeout: TimeoutSpec | None
    remind: tuple[CompiledReminder, ...]
    set: Assignments
    on: Mapping[str, str]
    on_failed: str | None
    fallback: CompiledFallback | None
    media: CompiledMedia | None = None
    location: CompiledLocation | None = None
    link: CompiledLink | None = None

    @property
    def waits(self) -> bool:
        """The conversation stays here until the customer (or an event) moves it on."""
        return bool(self.options or self.collect or self.otp or self.handoff or self.on)

    @property
    def final(self) -> bool:
        """Nothing can follow: the conversation ends after this state's message."""
        return not (self.waits or self.routes or self.call or self.timeout)


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    name: str
    version: str
    start: str
    data: Mapping[str, Any]
    states: Mapping[str, CompiledState]
    machine: Machine
    commands: FlowCommands
    migrations: Mapping[str, str]


def flow_version(spec: FlowSpec) -> str:
    """A short digest of the flow as written: conversations record which version they run."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:12]


def _assignments(values: Mapping[str, str]) -> Assignments:
    return tuple((slot, Expr.parse(source)) for slot, source in values.items())


Catalogue = Mapping[str, TemplateEntry]  # `templates:`, by code


def _template(t: TemplateSpec, templates: Catalogue) -> CompiledTemplate:
    params = {k: TextTemplate.parse(v) for k, v in t.params.items()}
    entry = templates.get(t.code)
    if entry is None:
        return CompiledTemplate(t.code, t.language, params)
    kind = entry.header if entry.header in MEDIA_HEADERS and t.header is not None else ""
    return CompiledTemplate(
        t.code, t.language, params,
        header=TextTemplate.parse(t.header) if kind and t.header is not None else None,
        header_kind=kind, header_param=entry.header_param,
        segments=frozenset(entry.button_params),
    )  # fmt: skip


def compile_body(value: Any) -> Any:
    """A `json:` body: strings become templates, containers are walked."""
    if isinstance(value, str):
        return TextTemplate.parse(value)
    if isinstance(value, dict):
        return {k: compile_body(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_body(v) for v in value]
    return value


def _call(spec: CallSpec) -> CompiledCall:
    return CompiledCall(
        method=spec.method,
        url=CallText.parse(spec.url),
        headers={k: CallText.parse(v) for k, v in spec.headers.items()},
        body=compile_body(spec.json_body),
        timeout=spec.timeout,
        save={slot: tuple(path.split(".")) for slot, path in spec.save.items()},
        success=spec.success,
        failure=spec.failure,
        on_timeout=spec.on_timeout or spec.failure,
    )


def _compile_state(
    flow: str, name: str, spec: StateSpec, lang: str, templates: Catalogue
) -> CompiledState:
    options = []
    words = []
    for i, opt in enumerate(spec.options):
        payload = opt.payload or f"{flow}.{name}.{i + 1}"
        options.append(
            CompiledOption(
                LocalText.compile(opt.label),
                opt.go,
                payload,
                Expr.parse(opt.when) if opt.when else None,
                _assignments(opt.set),
                LocalText.compile(opt.description) if opt.description is not None else None,
                LocalText.compile(opt.section) if opt.section is not None else None,
            )
        )
        words.append(option_words(opt, payload))
    otp = None
    if spec.otp is not None:
        otp = CompiledOtp(
            spec.otp,
            _template(spec.otp.template, templates),
            frozenset(normalize_text(w) for w in spec.otp.resend_words),
        )
    fallback = None
    if spec.fallback is not None:
        f = spec.fallback
        fallback = CompiledFallback(
            f.id, LocalText.compile(f.content) if f.content else None, f.duration
        )
    return CompiledState(
        name=name,
        say=LocalText.compile(spec.say) if spec.say is not None else None,
        template=_template(spec.template, templates) if spec.template is not None else None,
        buttons=spec.buttons,
        options=tuple(options),
        index=OptionIndex.build(words, flow_lang=lang),
        reprompt=LocalText.compile(spec.reprompt) if spec.reprompt is not None else None,
        attempts=spec.attempts,
        escalate=spec.escalate,
        collect=spec.collect,
        collect_invalid=(
            LocalText.compile(spec.collect.invalid)
            if spec.collect is not None and spec.collect.invalid is not None
            else None
        ),
        routes=tuple(
            CompiledRoute(Expr.parse(r.when) if r.when else None, r.go, _assignments(r.set))
            for r in spec.routes
        ),
        call=_call(spec.call) if spec.call is not None else None,
        otp=otp,
        handoff=spec.handoff,
        handoff_webhook=(
            CallText.parse(spec.handoff.webhook)
            if spec.handoff is not None and spec.handoff.webhook
            else None
        ),
        timeout=spec.timeout,
        remind=tuple(
            CompiledReminder(
                r.after,
                LocalText.compile(r.say) if r.say is not None else None,
                _template(r.template, templates) if r.template is not None else None,
            )
            for r in spec.remind
        ),
        set=_assignments(spec.set),
        on=dict(spec.on),
        on_failed=spec.on_failed,
        fallback=fallback,
        media=CompiledMedia(
            spec.media.type, TextTemplate.parse(spec.media.url),
            TextTemplate.parse(spec.media.filename) if spec.media.filename else None,
        ) if spec.media is not None else None,
        location=CompiledLocation(
            TextTemplate.parse(spec.location.latitude),
            TextTemplate.parse(spec.location.longitude),
            TextTemplate.parse(spec.location.name) if spec.location.name else None,
            TextTemplate.parse(spec.location.address) if spec.location.address else None,
        ) if spec.location is not None else None,
        link=CompiledLink(
            LocalText.compile(spec.link.label), TextTemplate.parse(spec.link.url),
        ) if spec.link is not None else None,
    )  # fmt: skip


def holds(expr: Expr, env: Mapping[str, Any]) -> bool:
    """A condition over the step's variables; one that cannot be evaluated is false."""
    try:
        return truthy(expr.evaluate(env))
    except ExprError:
        # The reason may quote a customer's value: never logged.
        log.warning("condition %r could not be evaluated; taken as false", expr.source)
        return False


def guard(expr: Expr) -> Callable[[EventData], bool]:
    """A transition condition: `holds` over the `env` the engine passes with the trigger."""
    return lambda event: holds(expr, event.kwargs["env"])


def took_route(index: int) -> Callable[[EventData], None]:
    """A route's transition callback: tells the engine (through the `taken` list it passes)
    which route the machine took, so that the engine applies that route's `set:`."""

    def record(event: EventData) -> None:
        event.kwargs["taken"].append(index)

    return record


def _transitions(spec: FlowSpec) -> list[dict[str, Any]]:
    """Every move of the flow as a transitions-library transition, guards included."""
    ts: list[dict[str, Any]] = [{"trigger": START, "source": "*", "dest": spec.start}]

    def add(
        trigger: Trigger, source: str, dest: str, when: str | None = None, route: int | None = None
    ) -> None:
        t: dict[str, Any] = {"trigger": str(trigger), "source": source, "dest": dest}
        if when:
            t["conditions"] = [guard(Expr.parse(when))]
        if route is not None:
            t["before"] = [took_route(route)]
        ts.append(t)

    for s, st in spec.states.items():
        for i, opt in enumerate(st.options):
            add(Trigger.option(s, i), s, opt.go, opt.when)
        for i, route in enumerate(st.routes):
            add(Trigger.route(s), s, route.go, route.when, route=i)
        for event, target in st.on.items():
            add(Trigger.event(event), s, target)
        if st.escalate:
            add(Trigger.escalate(s), s, st.escalate)
        if st.collect is not None:
            if st.collect.go:
                add(Trigger.collect(s), s, st.collect.go)
            if st.collect.escalate:
                add(Trigger.escalate(s), s, st.collect.escalate)
        if st.call is not None:
            add(Trigger.call(s, CallOutcome.SUCCESS), s, st.call.success)
            add(Trigger.call(s, CallOutcome.FAILURE), s, st.call.failure)
            add(Trigger.call(s, CallOutcome.TIMEOUT), s, st.call.on_timeout or st.call.failure)
        if st.otp is not None:
            for outcome in OtpOutcome:
                add(Trigger.otp(s, outcome), s, getattr(st.otp, outcome.value))
        if st.handoff is not None:
            add(Trigger.resume(s), s, st.handoff.resume)
            add(Trigger.handoff_timeout(s), s, st.handoff.on_timeout or st.handoff.resume)
        if st.timeout is not None:
            add(Trigger.timeout(s), s, st.timeout.go)
        if st.on_failed:
            add(Trigger.failed(s), s, st.on_failed)
    return ts


def _build_machine(name: str, spec: FlowSpec) -> Machine:
    states = [State(IDLE)] + [State(s, on_enter="entered") for s in spec.states]
    return Machine(
        model=None,
        states=states,
        transitions=_transitions(spec),
        initial=None,
        auto_transitions=False,
        send_event=True,
        name=name,
    )


def compile_flow(
    name: str, spec: FlowSpec, lang: str = "en", templates: Catalogue | None = None
) -> CompiledFlow:
    """One flow; `templates` (`templates:`) says which of its templates' variables are
    URL buttons' and what their headers are."""
    catalogue = templates or {}
    return CompiledFlow(
        name=name,
        version=flow_version(spec),
        start=spec.start,
        data=dict(spec.data),
        states={s: _compile_state(name, s, st, lang, catalogue) for s, st in spec.states.items()},
        machine=_build_machine(name, spec),
        commands=spec.commands,
        migrations=dict(spec.migrations),
    )


@dataclass(frozen=True, slots=True)
class CompiledTexts:
    stopped: LocalText
    started: LocalText
    stopped_marketing: LocalText
    started_marketing: LocalText
    list_button: LocalText
    list_title: LocalText
    agent: LocalText
    agent_resumed: LocalText
    otp_wrong: LocalText
    otp_resend_wait: LocalText


@dataclass(frozen=True, slots=True)
class CompiledNumber:
    """A business number of `numbers:`, as conversations use it. `business` is the number
    in its stored form (bot.phones), as in conversation ids."""

    name: str
    channel: str
    business: str
    inbound_flow: str | None
    language: str
    zone: ZoneInfo
    account: str
    space: str


@dataclass(frozen=True)
class CompiledCatalog:
    flows: Mapping[str, CompiledFlow]
    intents: Mapping[str, IntentSpec]
    language: str
    reprompt: LocalText
    attempts: int
    inbound_flow: str | None
    # normalized word -> stop | start | stop_marketing | start_marketing | agent | restart
    commands: Mapping[str, str]
    texts: CompiledTexts
    agent: AgentSpec
    agent_webhook: CallText | None
    agent_headers: Mapping[str, CallText]
    secrets: frozenset[str]  # NAMEs of the {{ secret.NAME }} in call urls and headers
    templates: Mapping[str, TemplateEntry] = field(default_factory=dict)  # `templates:`
    numbers: Mapping[str, CompiledNumber] = field(default_factory=dict)  # `numbers:`, by name
    # (channel, business) -> its number: what a conversation's id names
    by_address: Mapping[tuple[str, str], CompiledNumber] = field(default_factory=dict)

    def number_of(self, platform: str, channel: str, business: str) -> CompiledNumber | None:
        """The business number of `numbers:` a CAMS conversation is with; None for one of
        another platform, or when it is not listed (or there is no `numbers:`)."""
        if platform != "cams":
            return None
        return self.by_address.get((channel, business))

    def accounts(self) -> set[str]:
        """The names of the accounts `numbers:` send with."""
        return {n.account for n in self.numbers.values()}

    def account_of(self, conv_id: str) -> str:
        """The name of the platform account a conversation's replies are sent with: its
        number's `account:` (`numbers:`), else `default`."""
        if not conv_id or not self.by_address:
            return DEFAULT_ACCOUNT
        try:
            ref = ConversationRef.parse(conv_id)
        except ValueError:
            return DEFAULT_ACCOUNT
        number = self.number_of(ref.platform, ref.channel, ref.business)
        return number.account if number is not None else DEFAULT_ACCOUNT

    def number_named(self, name_or_number: str, channel: str | None) -> CompiledNumber | None:
        """The number of `numbers:` called `name_or_number`, or whose number it is (on
        `channel`, when given); None when none is."""
        found = self.numbers.get(name_or_number)
        if found is not None:
            return found
        for number in self.numbers.values():
            if channel is not None and number.channel != channel:
                continue
            try:
                if customer_id(name_or_number, number.channel) == number.business:
                    return number
            except ValueError:
                continue
        return None


def _secret_names(flows: Mapping[str, CompiledFlow], agent: Iterable[CallText]) -> frozenset[str]:
    texts = list(agent)
    for flow in flows.values():
        for state in flow.states.values():
            if state.call is not None:
                texts += [state.call.url, *state.call.headers.values()]
            if state.handoff_webhook is not None:
                texts.append(state.handoff_webhook)
    return frozenset().union(*(t.secrets for t in texts))


def compile_catalog(catalog: Catalog) -> CompiledCatalog:
    spec = catalog.flows
    d = spec.defaults
    commands: dict[str, str] = {}
    for command in ("stop", "start", "stop_marketing", "start_marketing", "agent", "restart"):
        for word in flatten_words(getattr(d.commands, command)):
            commands.setdefault(normalize_text(word), command)
    t = d.texts
    flows = {name: compile_flow(name, flow, d.language, spec.templates)
             for name, flow in spec.flows.items()}  # fmt: skip
    agent_headers = {k: CallText.parse(v) for k, v in d.agent.headers.items()}
    agent_webhook = CallText.parse(d.agent.webhook) if d.agent.webhook else None
    numbers = {
        name: CompiledNumber(
            name=name,
            channel=n.channel,
            business=customer_id(n.number, n.channel),
            inbound_flow=n.inbound_flow or d.inbound_flow,
            language=n.language or d.language,
            zone=ZoneInfo(n.time_zone),
            account=n.account,
            space=n.space or "",
        )
        for name, n in spec.numbers.items()
    }
    return CompiledCatalog(
        flows=flows,
        intents=dict(catalog.intents),
        language=d.language,
        reprompt=LocalText.compile(d.reprompt),
        attempts=d.attempts,
        inbound_flow=d.inbound_flow,
        commands=commands,
        texts=CompiledTexts(
            *(LocalText.compile(getattr(t, k)) for k in CompiledTexts.__dataclass_fields__)
        ),
        agent=d.agent,
        agent_webhook=agent_webhook,
        agent_headers=agent_headers,
        secrets=_secret_names(
            flows, [*agent_headers.values(), *([agent_webhook] if agent_webhook else [])]
        ),
        templates=dict(spec.templates),
        numbers=numbers,
        by_address={(n.channel, n.business): n for n in numbers.values()},
    )
