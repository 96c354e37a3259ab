"""Compile validated specs into what the engine runs: one `transitions` machine per flow,
built once at start-up, plus per-state option indexes and pre-parsed texts.

A conversation is attached to its flow's machine for one event and detached after it;
machines are never built per message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transitions import Machine, State

from bot.flows.loader import Catalog
from bot.flows.matching import OptionIndex, normalize_text
from bot.flows.render import Text
from bot.flows.spec import FlowSpec, IntentSpec, Localized, StateSpec

IDLE = "__idle__"  # where a conversation stands before the flow's first state
START = "__start__"  # trigger: from anywhere to the flow's start state


@dataclass(frozen=True, slots=True)
class LocalText:
    """A text per language; the key "*" holds a text written without languages."""

    by_lang: Mapping[str, Text]

    @classmethod
    def compile(cls, value: Localized) -> LocalText:
        if isinstance(value, str):
            return cls({"*": Text.compile(value)})
        return cls({lang: Text.compile(text) for lang, text in value.items()})

    def pick(self, lang: str, default: str) -> Text:
        by = self.by_lang
        for key in (lang, lang.split("_")[0].split("-")[0], default, "*"):
            if key in by:
                return by[key]
        return next(iter(by.values()))


@dataclass(frozen=True, slots=True)
class CompiledOption:
    label: LocalText
    go: str
    payload: str


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    code: str
    language: str | None
    params: Mapping[str, Text]


@dataclass(frozen=True, slots=True)
class CompiledState:
    name: str
    say: LocalText | None
    template: CompiledTemplate | None
    options: tuple[CompiledOption, ...]
    index: OptionIndex
    buttons: bool
    reprompt: LocalText | None
    on: Mapping[str, str]

    @property
    def final(self) -> bool:
        """Nothing can follow: the conversation ends after this state's message."""
        return not self.options and not self.on


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    name: str
    version: str
    start: str
    data: Mapping[str, Any]
    states: Mapping[str, CompiledState]
    machine: Machine


def option_trigger(state: str, index: int) -> str:
    return f"opt:{state}:{index}"


def event_trigger(event: str) -> str:
    return f"ev:{event}"


def flow_version(spec: FlowSpec) -> str:
    """A short digest of the flow as written: conversations record which version they run."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:12]


def _compile_state(flow: str, name: str, spec: StateSpec) -> CompiledState:
    options = []
    by_payload: dict[str, int] = {}
    by_word: dict[str, int] = {}
    for i, opt in enumerate(spec.options):
        payload = opt.payload or f"{flow}.{name}.{i + 1}"
        options.append(CompiledOption(LocalText.compile(opt.label), opt.go, payload))
        by_payload[payload] = i
        labels = [opt.label] if isinstance(opt.label, str) else list(opt.label.values())
        for word in (*labels, *opt.keywords):
            if normalized := normalize_text(word):  # a blank label matches no answer
                by_word.setdefault(normalized, i)
    template = None
    if spec.template is not None:
        t = spec.template
        template = CompiledTemplate(
            t.code, t.language, {k: Text.compile(v) for k, v in t.params.items()}
        )
    return CompiledState(
        name=name,
        say=LocalText.compile(spec.say) if spec.say is not None else None,
        template=template,
        options=tuple(options),
        index=OptionIndex(len(options), by_payload, by_word),
        buttons=spec.buttons,
        reprompt=LocalText.compile(spec.reprompt) if spec.reprompt is not None else None,
        on=dict(spec.on),
    )


def _build_machine(name: str, spec: FlowSpec) -> Machine:
    states = [State(IDLE)] + [State(s, on_enter="entered") for s in spec.states]
    transitions: list[dict[str, Any]] = [{"trigger": START, "source": "*", "dest": spec.start}]
    for sname, state in spec.states.items():
        for i, opt in enumerate(state.options):
            transitions.append(
                {"trigger": option_trigger(sname, i), "source": sname, "dest": opt.go}
            )
        for event, target in state.on.items():
            transitions.append({"trigger": event_trigger(event), "source": sname, "dest": target})
    return Machine(
        model=None,
        states=states,
        transitions=transitions,
        initial=None,
        auto_transitions=False,
        send_event=True,
        name=name,
    )


def compile_flow(name: str, spec: FlowSpec) -> CompiledFlow:
    return CompiledFlow(
        name=name,
        version=flow_version(spec),
        start=spec.start,
        data=dict(spec.data),
        states={s: _compile_state(name, s, st) for s, st in spec.states.items()},
        machine=_build_machine(name, spec),
    )


@dataclass(frozen=True)
class CompiledCatalog:
    flows: Mapping[str, CompiledFlow]
    intents: Mapping[str, IntentSpec]
    language: str
    reprompt: LocalText
    inbound_flow: str | None


def compile_catalog(catalog: Catalog) -> CompiledCatalog:
    spec = catalog.flows
    return CompiledCatalog(
        flows={name: compile_flow(name, flow) for name, flow in spec.flows.items()},
        intents=dict(catalog.intents),
        language=spec.defaults.language,
        reprompt=LocalText.compile(spec.defaults.reprompt),
        inbound_flow=spec.defaults.inbound_flow,
    )
