"""The pure flow engine: one event and a conversation in, the next conversation and the
replies out, on the example catalog and on small catalogs written here."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.engine import WINDOW_MS, Engine
from bot.flows.loader import load_catalog
from bot.model import (
    Button,
    Conversation,
    Event,
    Fallback,
    Inbound,
    IntentStart,
    Reply,
    Template,
    Timer,
)
from tests.support import ROOT

EXAMPLE = compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents"))
ENGINE = Engine(EXAMPLE)

NOW = 1_760_000_000_000
MINUTE = 60_000
HOUR = 60 * MINUTE
VISIT = 4  # the state visit of conversations made by `_at`

REMIND = (
    "Hi{name}, this is a reminder of your appointment at {clinic} on {date}. "
    "Reply 1 to confirm, 2 to reschedule."
)
ASK_DAY = "Which day suits you better? Send a date, for example 28/11 or next monday."
MENU = "Hi! What can I do for you?\n1. Where is my order?\n2. Verify my number\n3. Talk to a person"
APPOINTMENT_BUTTONS = (Button("Confirm", "CONFIRM"), Button("Reschedule", "RESCHEDULE"))
FLOW_DATA = {"name": "", "clinic": "City Clinic", "date": "Monday 10:00"}
FALLBACK = Fallback("sms-fallback-policy", "Reminder: appointment at City Clinic on Monday 10:00.")


def _remind(name: str = "", clinic: str = "City Clinic", date: str = "Monday 10:00") -> str:
    """The appointment reminder's text: "Hi," alone when there is no name."""
    return REMIND.format(name=f" {name}" if name else "", clinic=clinic, date=date)


def _remind_timers(now: int) -> tuple[Timer, ...]:
    """The timers of the appointment's `remind` state entered at `now`: timeout, reminder."""
    return (Timer("timeout", now + 24 * HOUR), Timer("remind0", now + 2 * HOUR))


# Flow data, intent default data and intent data; events; a state without `on:`.
ORDER_FLOWS = """\
    flows:
      order:
        start: wait
        data:
          a: flow
          b: flow
          c: flow
          order: {id: "0"}
        states:
          wait:
            say: >-
              {{ a }} {{ b }} {{ c }} #{{ order.id }} {{order.total}}
              [{{ missing }}] [{{ order.id.x }}] [{{ a.b }}]
            options:
              - {label: More, go: more}
              - {label: Stop, go: stopped}
            on:
              paid: thanks
          more:
            say: More?
            options: [{label: Back, go: wait}]
          thanks:
            say: "Paid {{ receipt }}"
          stopped:
            say: Stopped
    """
ORDER_INTENTS = {
    "order_update": """\
        code: order_update
        name: Order update
        default_data: {b: default, c: default}
        start: order
        """,
    "order_paid": """\
        code: order_paid
        name: Order paid
        default_data: {receipt: R-0}
        event: paid
        """,
}

# Texts per language, with a default language other than English; a template-only state.
LANG_FLOWS = """\
    defaults:
      language: es
      reprompt: {en: Sorry?, es: ¿Perdón?}
    flows:
      hello:
        start: greet
        states:
          greet:
            say: {en: Hello, es: Hola, pt: Olá}
            buttons: true
            options:
              - {label: {en: Bye, es: Adiós}, go: greet}
      promo:
        start: offer
        states:
          offer:
            template:
              code: promo
              language: pt_BR
              params: {who: "{{ who }}"}
            options:
              - {label: Yes, go: done}
          done:
            say: Done
    """
LANG_INTENTS = {
    "hello": "code: hello\nname: Hello\nstart: hello\n",
    "promo": "code: promo\nname: Promo\nstart: promo\n",
}


def _compile(folder: Path, flows: str, intents: dict[str, str]) -> CompiledCatalog:
    (folder / "flows.yaml").write_text(textwrap.dedent(flows), encoding="utf-8")
    (folder / "intents").mkdir()
    for code, text in intents.items():
        (folder / "intents" / f"{code}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return compile_catalog(load_catalog(folder / "flows.yaml", folder / "intents"))


@pytest.fixture(scope="module")
def order(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(_compile(tmp_path_factory.mktemp("order"), ORDER_FLOWS, ORDER_INTENTS))


@pytest.fixture(scope="module")
def lang(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(_compile(tmp_path_factory.mktemp("lang"), LANG_FLOWS, LANG_INTENTS))


def _msg(text: str = "", *, at: int = NOW, payload: str | None = None) -> Inbound:
    return Inbound(message_id="m1", at_ms=at, kind="text", text=text, payload=payload)


def _intent(code: str, at: int = NOW, **data: object) -> IntentStart:
    return IntentStart(message_id="i1", at_ms=at, code=code, data=dict(data))


def _intent_with(code: str, data: dict[str, str]) -> IntentStart:
    return IntentStart(message_id="i1", at_ms=NOW, code=code, data=dict(data))


def _at(engine: Engine, flow: str, state: str, **data: object) -> Conversation:
    """A conversation waiting in `state` (its visit VISIT), the customer having written a
    minute ago."""
    return Conversation(
        flow=flow,
        state=state,
        version=3,
        flow_version=engine.catalog.flows[flow].version,
        data=dict(data),
        last_inbound_ms=NOW - MINUTE,
        visit=VISIT,
    )


# -- starting a flow ---------------------------------------------------------------------


def test_intent_outside_the_window_sends_the_template() -> None:
    """A business-started flow outside the 24-hour window sends the state's template."""
    result = ENGINE.step(
        Conversation(), _intent("appointment_reminder", name="Ana", date="Friday 9:00"), NOW
    )
    assert result.outcome == "started"
    assert result.conversation == Conversation(
        flow="appointment",
        state="remind",
        flow_version=EXAMPLE.flows["appointment"].version,
        data={"name": "Ana", "clinic": "City Clinic", "date": "Friday 9:00"},
        visit=1,
        timers=_remind_timers(NOW),
    )
    assert result.replies == (
        Reply(
            template=Template(
                "appointment_reminder",
                "en",
                {"name": "Ana", "clinic": "City Clinic", "date": "Friday 9:00"},
            ),
            buttons=APPOINTMENT_BUTTONS,
            fallback=Fallback(
                "sms-fallback-policy", "Reminder: appointment at City Clinic on Friday 9:00."
            ),
            state="remind",
            visit=1,
        ),
    )


def test_template_without_buttons_carries_no_payloads() -> None:
    """A template gets the options' payloads only when the state asks for `buttons:`."""
    result = ENGINE.step(Conversation(), _intent("csat_survey", order="A-17"), NOW)
    (reply,) = result.replies
    assert reply.template == Template("csat_survey", "en", {"order": "A-17"})
    assert reply.text == ""
    assert reply.buttons == ()


@pytest.mark.parametrize(
    ("data", "language"),
    [
        pytest.param({}, "en", id="catalog-default"),
        pytest.param({"lang": "es"}, "es", id="intent-data"),
        pytest.param({"lang": "es_MX"}, "es_MX", id="regional-kept-as-is"),
    ],
)
def test_template_language_defaults_to_the_conversations(
    data: dict[str, str], language: str
) -> None:
    """A template without `language:` goes out in the conversation's language."""
    result = ENGINE.step(Conversation(), _intent_with("appointment_reminder", data), NOW)
    (reply,) = result.replies
    assert reply.template is not None
    assert reply.template.language == language


def test_the_sms_fallback_speaks_the_conversations_language() -> None:
    """`fallback.content` is written per language like `say:`: a Spanish customer's SMS is
    the Spanish one, with its data; an Italian one's the default language's."""
    data = {"lang": "es_MX", "name": "Ana", "date": "viernes 9:00"}
    (reply,) = ENGINE.step(Conversation(), _intent_with("appointment_reminder", data), NOW).replies
    assert reply.fallback == Fallback(
        "sms-fallback-policy", "Recordatorio: cita en City Clinic el viernes 9:00."
    )
    data = {"lang": "it", "name": "Ana", "date": "venerdì"}
    result = ENGINE.step(Conversation(), _intent_with("appointment_reminder", data), NOW)
    assert result.replies[0].fallback == Fallback(
        "sms-fallback-policy", "Reminder: appointment at City Clinic on venerdì."
    )


def test_template_language_written_in_the_flow_wins(lang: Engine) -> None:
    """A template's own `language:` is used whatever the conversation's language."""
    result = lang.step(Conversation(), _intent("promo", lang="en", who="Ana"), NOW)
    assert result.replies == (
        Reply(template=Template("promo", "pt_BR", {"who": "Ana"}), state="offer", visit=1),
    )


@pytest.mark.parametrize(
    ("last_inbound_ms", "in_window"),
    [
        pytest.param(0, False, id="never-wrote"),
        pytest.param(NOW - WINDOW_MS, False, id="exactly-24h-ago"),
        pytest.param(NOW - WINDOW_MS + 1, True, id="just-inside"),
        pytest.param(NOW - MINUTE, True, id="a-minute-ago"),
    ],
)
def test_window_decides_between_template_and_text(last_inbound_ms: int, in_window: bool) -> None:
    """Inside the 24 hours after the customer's last message the `say` text is sent."""
    conv = Conversation(last_inbound_ms=last_inbound_ms)
    (reply,) = ENGINE.step(conv, _intent("appointment_reminder"), NOW).replies
    assert (reply.template is None) == in_window
    assert bool(reply.text) == in_window


def test_customer_message_starts_the_inbound_flow_with_its_text() -> None:
    """A first message starts `inbound_flow` and gets its `say` text (no buttons unasked)."""
    result = ENGINE.step(Conversation(), _msg("hello"), NOW)
    assert result.outcome == "started"
    assert result.conversation == Conversation(
        flow="menu",
        state="choose",
        flow_version=EXAMPLE.flows["menu"].version,
        data=dict(EXAMPLE.flows["menu"].data),
        last_inbound_ms=NOW,
        visit=1,
    )
    assert result.replies == (Reply(text=MENU, state="choose", visit=1),)


def test_buttons_go_with_the_text_when_the_state_asks_for_them() -> None:
    """Inside the window a `buttons: true` state sends its text with its options' buttons."""
    conv = Conversation(last_inbound_ms=NOW - MINUTE)
    result = ENGINE.step(conv, _intent("appointment_reminder"), NOW)
    assert result.replies == (
        Reply(
            text=_remind(),
            buttons=APPOINTMENT_BUTTONS,
            fallback=FALLBACK,
            state="remind",
            visit=1,
        ),
    )


# -- answering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "payload", "state", "outcome"),
    [
        ("2", None, "ask_day", "advanced"),
        ("reschedule", None, "ask_day", "advanced"),
        ("1", "RESCHEDULE", "ask_day", "advanced"),
        ("1", None, "confirmed", "ended"),
        ("", "CONFIRM", "confirmed", "ended"),
    ],
)
def test_a_reply_advances(text: str, payload: str | None, state: str, outcome: str) -> None:
    """A reply that chooses an option moves to its `go:` state and keeps the data."""
    conv = _at(ENGINE, "appointment", "remind", **FLOW_DATA)
    result = ENGINE.step(conv, _msg(text, payload=payload), NOW)
    assert result.outcome == outcome
    assert result.conversation == Conversation(
        flow="appointment",
        state=state,
        version=3,
        flow_version=conv.flow_version,
        data=FLOW_DATA,
        last_inbound_ms=NOW,
        visit=VISIT + 1,
    )


def test_text_has_buttons_only_when_the_state_asks_for_them() -> None:
    """A state without `buttons: true` sends its text alone, though it has options."""
    conv = _at(ENGINE, "appointment", "remind", **FLOW_DATA)
    assert ENGINE.step(conv, _msg("2"), NOW).replies == (
        Reply(text=ASK_DAY, state="ask_day", visit=VISIT + 1),
    )


def test_unknown_reply_reprompts_with_the_states_reprompt_and_keeps_state() -> None:
    """An answer that chooses nothing sends the state's re-prompt before its question."""
    conv = _at(ENGINE, "appointment", "remind", **FLOW_DATA)
    result = ENGINE.step(conv, _msg("maybe"), NOW)
    assert result.outcome == "reprompted"
    assert result.conversation == Conversation(
        flow="appointment",
        state="remind",
        version=3,
        flow_version=conv.flow_version,
        data=FLOW_DATA,
        last_inbound_ms=NOW,
        visit=VISIT,
        attempts=1,
    )
    assert result.replies == (
        Reply(
            text="Please reply 1 to confirm or 2 to reschedule.\n" + _remind(),
            buttons=APPOINTMENT_BUTTONS,
            fallback=FALLBACK,
            state="remind",
            visit=VISIT,
        ),
    )


@pytest.mark.parametrize("text", ["9", "0", "12abc", "", "👍"])
def test_unknown_reply_without_a_state_reprompt_uses_the_default(order: Engine, text: str) -> None:
    """Without a state `reprompt:`, the defaults' re-prompt comes before the question."""
    conv = _at(order, "order", "more")
    result = order.step(conv, _msg(text), NOW)
    assert result.outcome == "reprompted"
    assert result.conversation.state == "more"
    assert result.replies == (
        Reply(text="Sorry, I didn't understand that.\nMore?", state="more", visit=VISIT),
    )


def test_unknown_reply_to_a_template_only_state_sends_the_reprompt(lang: Engine) -> None:
    """A state with only a template re-prompts in text, then repeats its template (the
    question exists only as the template)."""
    conv = _at(lang, "promo", "offer", lang="en")
    result = lang.step(conv, _msg("what?"), NOW)
    assert result.outcome == "reprompted"
    assert result.replies == (
        Reply(text="Sorry?", state="offer", visit=VISIT),
        Reply(template=Template("promo", "pt_BR", {"who": ""}), state="offer", visit=VISIT),
    )


def test_final_state_ends_and_the_next_message_starts_afresh() -> None:
    """A final state ends the flow; the next message, even "1", starts `inbound_flow` anew."""
    started = ENGINE.step(Conversation(), _intent("appointment_reminder", name="Ana"), NOW)
    ended = ENGINE.step(started.conversation, _msg("1", at=NOW + MINUTE), NOW + MINUTE)
    assert ended.outcome == "ended"
    assert ended.conversation.state == "confirmed"
    assert ended.conversation.timers == ()
    assert ended.replies == (
        Reply(
            text="Thank you, Ana! Your appointment on Monday 10:00 is confirmed. See you then.",
            state="confirmed",
            visit=2,
        ),
    )
    again = ENGINE.step(ended.conversation, _msg("1", at=NOW + 2 * MINUTE), NOW + 2 * MINUTE)
    assert again.outcome == "started"
    assert (again.conversation.flow, again.conversation.state) == ("menu", "choose")
    assert again.conversation.data == dict(EXAMPLE.flows["menu"].data)
    assert again.replies == (Reply(text=MENU, state="choose", visit=3),)


@pytest.mark.parametrize(
    ("flow", "state"),
    [
        pytest.param(None, None, id="new"),
        pytest.param("order", "stopped", id="ended"),
    ],
)
def test_message_outside_a_flow_without_inbound_flow_is_ignored(
    order: Engine, flow: str | None, state: str | None
) -> None:
    """With no `inbound_flow`, a message outside any flow only records when it came."""
    version = order.catalog.flows[flow].version if flow else ""
    conv = Conversation(flow=flow, state=state, flow_version=version)
    result = order.step(conv, _msg("hi"), NOW)
    assert result.outcome == "ignored"
    assert result.replies == ()
    assert result.conversation == Conversation(
        flow=flow, state=state, flow_version=version, last_inbound_ms=NOW
    )


def test_message_in_a_flow_no_longer_defined_ends_the_conversation(order: Engine) -> None:
    """A conversation whose flow was removed from the catalog ends; with no
    `inbound_flow` the message is then ignored."""
    result = order.step(Conversation(flow="gone", state="wait", visit=2), _msg("hi"), NOW)
    assert result.outcome == "ignored"
    assert result.replies == ()
    assert result.conversation == Conversation(last_inbound_ms=NOW, visit=2)


# -- data ----------------------------------------------------------------------------------


def test_intent_data_merges_over_default_data_over_flow_data(order: Engine) -> None:
    """Intent data > intent default data > flow data; dotted names nest, missing ones blank."""
    conv = Conversation(last_inbound_ms=NOW - MINUTE)
    event = _intent("order_update", c="event", order={"id": 42, "total": "9.50"})
    result = order.step(conv, event, NOW)
    assert result.conversation.data == {
        "a": "flow",
        "b": "default",
        "c": "event",
        "order": {"id": 42, "total": "9.50"},
    }
    assert result.replies == (
        Reply(text="flow default event #42 9.50 [] [] []", state="wait", visit=1),
    )


def test_a_new_flow_forgets_the_previous_flows_data_but_keeps_the_language(
    order: Engine,
) -> None:
    """Starting a flow drops the data collected before, except `lang`."""
    conv = _at(order, "order", "more", a="old", receipt="R-9", lang="en")
    result = order.step(conv, _intent("order_update"), NOW)
    assert result.conversation.data == {
        "lang": "en",
        "a": "flow",
        "b": "default",
        "c": "default",
        "order": {"id": "0"},
    }


# -- events --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param({}, "Paid R-0", id="default-data"),
        pytest.param({"receipt": "R-7"}, "Paid R-7", id="intent-data"),
    ],
)
def test_event_intent_moves_a_conversation_waiting_for_it(
    order: Engine, data: dict[str, str], text: str
) -> None:
    """An `event:` intent follows the current state's `on:` and merges its data."""
    conv = _at(order, "order", "wait", a="flow")
    result = order.step(conv, _intent_with("order_paid", data), NOW)
    assert result.outcome == "ended"
    assert result.conversation.state == "thanks"
    assert result.conversation.data == {"a": "flow", "receipt": data.get("receipt", "R-0")}
    assert result.replies == (Reply(text=text, state="thanks", visit=VISIT + 1),)


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(None, id="no-flow"),
        pytest.param("more", id="state-without-on"),
        pytest.param("thanks", id="ended"),
    ],
)
def test_event_intent_is_ignored_when_no_state_waits_for_it(
    order: Engine, state: str | None
) -> None:
    """An event nobody waits for changes nothing and sends nothing."""
    conv = _at(order, "order", state) if state else Conversation()
    result = order.step(conv, _intent("order_paid", receipt="R-7"), NOW)
    assert result.outcome == "ignored"
    assert result.conversation == conv
    assert result.replies == ()


def test_unknown_intent_code_is_ignored() -> None:
    """An intent code the catalog does not know changes nothing."""
    conv = _at(ENGINE, "appointment", "remind", **FLOW_DATA)
    result = ENGINE.step(conv, _intent("no_such_intent", name="Ana"), NOW)
    assert result.outcome == "ignored"
    assert "no_such_intent" in result.detail
    assert result.conversation == conv
    assert result.replies == ()


# -- languages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text", "button"),
    [
        pytest.param({}, "Hola", "Adiós", id="no-lang-uses-defaults-language"),
        pytest.param({"lang": ""}, "Hola", "Adiós", id="empty-lang"),
        pytest.param({"lang": "en"}, "Hello", "Bye", id="en"),
        pytest.param({"lang": "es_MX"}, "Hola", "Adiós", id="es_MX-to-es"),
        pytest.param({"lang": "en-GB"}, "Hello", "Bye", id="en-GB-to-en"),
        pytest.param({"lang": "pt_BR"}, "Olá", "Adiós", id="label-falls-back-to-default"),
        pytest.param({"lang": "fr"}, "Hola", "Adiós", id="unknown-to-defaults-language"),
    ],
)
def test_texts_are_picked_by_the_conversations_language(
    lang: Engine, data: dict[str, str], text: str, button: str
) -> None:
    """`data.lang` picks the text, then its base language, then defaults.language."""
    conv = Conversation(last_inbound_ms=NOW - MINUTE)
    result = lang.step(conv, _intent_with("hello", data), NOW)
    assert result.replies == (
        Reply(text=text, buttons=(Button(button, "hello.greet.1"),), state="greet", visit=1),
    )


@pytest.mark.parametrize(("code", "prompt"), [("en_US", "Sorry?"), ("es", "¿Perdón?")])
def test_reprompt_is_picked_by_language(lang: Engine, code: str, prompt: str) -> None:
    """The defaults' re-prompt is localized like any text."""
    conv = _at(lang, "hello", "greet", lang=code)
    (reply,) = lang.step(conv, _msg("?"), NOW).replies
    assert reply.text.splitlines()[0] == prompt


# -- bookkeeping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "event", "after"),
    [
        pytest.param(0, _msg("hi", at=NOW), NOW, id="message"),
        pytest.param(NOW - MINUTE, _msg("hi", at=NOW), NOW, id="later-message"),
        pytest.param(NOW, _msg("hi", at=NOW - MINUTE), NOW, id="late-delivered-message"),
        pytest.param(NOW - MINUTE, _intent("appointment_reminder"), NOW - MINUTE, id="intent"),
        pytest.param(0, _intent("no_such_intent"), 0, id="unknown-intent"),
    ],
)
def test_last_inbound_is_updated_by_customer_messages_only(
    before: int, event: Event, after: int
) -> None:
    """Only the customer's messages open the window; it never moves backwards."""
    result = ENGINE.step(Conversation(last_inbound_ms=before), event, NOW)
    assert result.conversation.last_inbound_ms == after


STEPS: list[tuple[Conversation, Event]] = [
    (Conversation(), _intent("appointment_reminder", name="Ana", extra={"deep": [1]})),
    (Conversation(data={"lang": "es", "nested": {"k": ["v"]}}), _msg("hi")),
    (_at(ENGINE, "appointment", "remind", **FLOW_DATA, nested={"k": [1]}), _msg("2")),
    (_at(ENGINE, "appointment", "remind", **FLOW_DATA), _msg("maybe")),
    (_at(ENGINE, "appointment", "confirmed", **FLOW_DATA), _msg("1")),
    (_at(ENGINE, "csat", "rate", order="A-1"), _intent("csat_survey", order="B-2")),
    (_at(ENGINE, "csat", "rate", order="A-1"), _msg("2")),
    (_at(ENGINE, "menu", "lookup", order="a-1"), _msg("hi")),
]


@pytest.mark.parametrize(("conv", "event"), STEPS)
def test_step_never_mutates_its_inputs(conv: Conversation, event: Event) -> None:
    """The conversation, its data, the event and the catalog's data are left as they were."""
    conv_before, event_before = copy.deepcopy(conv), copy.deepcopy(event)
    flow_data_before = {name: copy.deepcopy(dict(f.data)) for name, f in EXAMPLE.flows.items()}
    intents_before = copy.deepcopy(dict(EXAMPLE.intents))
    ENGINE.step(conv, event, NOW)
    assert conv == conv_before
    assert conv.data == conv_before.data
    assert event == event_before
    assert {name: dict(f.data) for name, f in EXAMPLE.flows.items()} == flow_data_before
    assert dict(EXAMPLE.intents) == intents_before


def test_machines_keep_no_conversation_after_many_steps(order: Engine) -> None:
    """Nothing accumulates on a flow's machine: it holds the one model its engine moves
    conversations with, whatever the number of steps, and no conversation's data."""
    engines = (ENGINE, order)
    conv = Conversation()
    for i in range(300):
        at = NOW + i * MINUTE
        steps: tuple[Event, ...] = (_msg(("hi", "2", "9", "3", "1")[i % 5], at=at), _intent("no"))
        for event in steps:
            conv = ENGINE.step(conv, event, at).conversation
    conv = Conversation()
    for i in range(100):
        events: tuple[Event, ...] = (_intent("order_update"), _intent("order_paid"), _msg("x"))
        for event in events:
            conv = order.step(conv, event, NOW + i).conversation
    for engine in engines:
        for flow in engine.catalog.flows.values():
            assert len(flow.machine.models) <= 1, flow.name
            for model in flow.machine.models:
                assert not {"conv", "data", "slots", "customer"} & set(vars(model)), flow.name
    assert len(ENGINE.catalog.flows["menu"].machine.models) == 1
