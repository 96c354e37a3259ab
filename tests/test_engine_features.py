"""The flow engine's features, pure (no Redis, no HTTP): guards, routes and `set:`, expressions in
texts, `collect:`, timers, calls, one-time codes, global commands, handoffs, intent policies,
flow versions, failed sends, languages and the trace, on the example catalog and on small
catalogs written here."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from bot.campaign import counted_since
from bot.flows.answers.reading import MAX_ANSWER
from bot.flows.compiler import IDLE, START, compile_catalog
from bot.flows.engine import MAX_MOVES, Engine
from bot.flows.loader import load_catalog
from bot.flows.moves import StepMoves, step_moves
from bot.model import (
    AgentReply,
    Button,
    CallRequest,
    CallResult,
    Conversation,
    Event,
    Inbound,
    IntentStart,
    Link,
    Location,
    Media,
    Outcome,
    PartKind,
    Reply,
    Restart,
    Resume,
    SendFailed,
    StepContext,
    StepResult,
    Template,
    Timer,
    TimerFired,
)
from bot.store.codec import history_from_element, history_step, reply_from_json, reply_to_json
from tests.support import ROOT

EXAMPLE = Engine(compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents")))

TEXT, SECRET, DATA = PartKind.TEXT, PartKind.SECRET, PartKind.DATA
NOW = 1_760_000_000_000  # Thursday 2025-10-09 08:53:20 UTC
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
CONV_ID = "cams:WHATSAPP:8613800000000:8613900000001"
CTX = StepContext(conv_id=CONV_ID, customer="8613900000001", channel="WHATSAPP")
AGENT_URL = ((SECRET, "AGENT_DESK"), (TEXT, "/agent"))  # the example's webhook

STOPPED = "You will not receive more messages from us. Reply START to opt back in."
REMIND_EN = (
    "Hi Ana, this is a reminder of your appointment at City Clinic on Monday 10:00. "
    "Reply 1 to confirm, 2 to reschedule."
)
MENU = "Hi! What can I do for you?\n1. Where is my order?\n2. Verify my number\n3. Talk to a person"


def _engine(folder: Path, flows: str, intents: Mapping[str, str] | None = None) -> Engine:
    """An engine over `flows` (YAML) and `intents` (YAML by code), written under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flows.yaml").write_text(textwrap.dedent(flows), encoding="utf-8")
    (folder / "intents").mkdir(exist_ok=True)
    for code, text in (intents or {}).items():
        (folder / "intents" / f"{code}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return Engine(compile_catalog(load_catalog(folder / "flows.yaml", folder / "intents")))


# -- events -------------------------------------------------------------------------------


def _msg(text: str, *, at: int = NOW, payload: str | None = None) -> Inbound:
    return Inbound(message_id=f"m-{at}", at_ms=at, kind="text", text=text, payload=payload)


def _intent(code: str, *, at: int = NOW, policy: str | None = None, **data: object) -> IntentStart:
    return IntentStart(message_id=f"i-{at}", at_ms=at, code=code, data=dict(data), policy=policy)


def _flow(flow: str, *, at: int = NOW, **data: object) -> IntentStart:
    """Start `flow` directly, as `bot chat` and `bot test` do."""
    return IntentStart(message_id=f"f-{at}", at_ms=at, code="", data=dict(data), flow=flow)


def _timer(name: str, visit: int, *, at: int = NOW) -> TimerFired:
    return TimerFired(message_id=f"t-{name}-{visit}", at_ms=at, name=name, visit=visit)


def _answer(visit: int, outcome: str, status: int = 200, body: object = None) -> CallResult:
    return CallResult(
        message_id=f"call:{visit}",
        at_ms=NOW,
        visit=visit,
        outcome=outcome,
        status=status,
        body=body,
    )


@dataclass
class Chat:
    """One conversation driven through an engine: each step starts from the last result."""

    engine: Engine
    conv: Conversation = field(default_factory=Conversation)
    ctx: StepContext = CTX
    results: list[StepResult] = field(default_factory=list)

    def step(self, event: Event, now: int | None = None) -> StepResult:
        result = self.engine.step(self.conv, event, event.at_ms if now is None else now, self.ctx)
        self.conv = result.conversation
        self.results.append(result)
        return result

    def say(self, text: str, *, at: int = NOW, payload: str | None = None) -> StepResult:
        return self.step(_msg(text, at=at, payload=payload))


def _texts(result: StepResult) -> list[str]:
    return [r.text for r in result.replies]


def _where(conv: Conversation) -> tuple[str | None, str | None]:
    return conv.flow, conv.state


def _appointment(lang: str | None = None, *, wrote_ago: int | None = MINUTE) -> Chat:
    """The example's appointment reminder started for Ana; the customer wrote `wrote_ago`
    before NOW (None: never, so the 24-hour window is closed)."""
    last = 0 if wrote_ago is None else NOW - wrote_ago
    chat = Chat(EXAMPLE, Conversation(last_inbound_ms=last))
    event = _intent("appointment_reminder", name="Ana")
    if lang is not None:
        event = replace(event, data={**event.data, "lang": lang})
    chat.step(event)
    assert _where(chat.conv) == ("appointment", "remind")
    return chat


# -- guards, routes and set: -----------------------------------------------------------------

GUARDS = """\
    flows:
      shop:
        start: menu
        data: {vip: false, n: 0}
        states:
          menu:
            say: "Pick ({{ n }})"
            buttons: true
            options:
              - {label: Basic, go: basic, set: {picked: "'basic'"}}
              - {label: Gold, go: gold, when: vip, set: {picked: "'gold'"}}
              - {label: Again, go: menu, set: {n: "n + 1"}}
          basic: {say: "Basic {{ picked }}"}
          gold: {say: "Gold {{ picked }}"}
      score:
        start: decide
        data: {score: 0, entries: 0}
        states:
          decide:
            set: {entries: "entries + 1"}
            routes:
              - {when: "score >= 10", go: high, set: {band: "'high'"}}
              - {when: "score >= 5", go: mid, set: {band: "'mid'"}}
              - {when: "score >= 0", go: low, set: {band: "'low'"}}
          high: {say: "High {{ band }} ({{ entries }})"}
          mid: {say: "Mid {{ band }} ({{ entries }})"}
          low: {say: "Low {{ band }} ({{ entries }})"}
      counter:
        start: count
        data: {n: 0}
        states:
          count:
            set: {n: "n + 1"}
            routes:
              - {when: "n < 3", go: count}
              - {go: done}
          done: {say: "Counted {{ n }}"}
      forever:
        start: spin
        states:
          spin:
            routes: [{go: spin}]
    """


@pytest.fixture(scope="module")
def guards(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _engine(tmp_path_factory.mktemp("guards"), GUARDS)


def test_option_whose_guard_is_false_is_not_offered_as_a_button(guards: Engine) -> None:
    """An option with a false `when:` is left out of the buttons; a true one is offered."""
    plain = Chat(guards).step(_flow("shop"))
    assert plain.replies[0].buttons == (
        Button("Basic", "shop.menu.1"),
        Button("Again", "shop.menu.3"),
    )
    vip = Chat(guards).step(_flow("shop", vip=True))
    assert [b.title for b in vip.replies[0].buttons] == ["Basic", "Gold", "Again"]


@pytest.mark.parametrize("text", ["gold", "2"])
def test_option_whose_guard_is_false_is_no_match(guards: Engine, text: str) -> None:
    """Choosing an option whose guard is false re-prompts, counts an attempt, sets nothing."""
    chat = Chat(guards)
    chat.step(_flow("shop"))
    result = chat.say(text)
    assert result.outcome == "reprompted"
    assert chat.conv.state == "menu"
    assert chat.conv.attempts == 1
    assert "picked" not in chat.conv.data
    assert _texts(result) == ["Sorry, I didn't understand that.\nPick (0)"]


def test_option_whose_guard_holds_is_taken_and_sets_its_slots(guards: Engine) -> None:
    """With the guard true the option is taken and its `set:` applied before entering."""
    chat = Chat(guards)
    chat.step(_flow("shop", vip=True))
    result = chat.say("gold")
    assert result.outcome == "ended"
    assert chat.conv.state == "gold"
    assert chat.conv.data["picked"] == "gold"
    assert _texts(result) == ["Gold gold"]


def test_option_set_is_an_expression_over_data(guards: Engine) -> None:
    """An option's `set: {n: "n + 1"}` counts each time it is chosen."""
    chat = Chat(guards)
    chat.step(_flow("shop"))
    chat.say("again")
    result = chat.say("3")
    assert chat.conv.data["n"] == 2
    assert _texts(result) == ["Pick (2)"]
    assert result.trace == (("menu", "opt:menu:2", "menu"),)


@pytest.mark.parametrize(
    ("score", "state", "text"),
    [
        pytest.param(12, "high", "High high (1)", id="first-of-two-holding"),
        pytest.param(7, "mid", "Mid mid (1)", id="second"),
        pytest.param(0, "low", "Low low (1)", id="last"),
    ],
)
def test_first_holding_route_is_taken_at_once(
    guards: Engine, score: int, state: str, text: str
) -> None:
    """A route-only state moves on in the same step, by the first route whose `when` holds,
    applying the state's entry `set:` and the route's `set:`."""
    result = Chat(guards).step(_flow("score", score=score))
    assert result.outcome == "ended"
    assert result.conversation.state == state
    assert result.conversation.data["band"] == state
    assert _texts(result) == [text]
    assert result.trace == (
        (IDLE, START, "decide"),
        ("decide", "route:decide", state),
    )


def test_no_holding_route_leaves_the_conversation_there_with_a_detail(guards: Engine) -> None:
    """When no route holds, the conversation stays in the decision state, and says why."""
    result = Chat(guards).step(_flow("score", score=-1))
    assert result.conversation.state == "decide"
    assert result.replies == ()
    assert "no route of state 'decide' holds" in result.detail
    assert "band" not in result.conversation.data


def test_routes_can_loop_with_a_counter(guards: Engine) -> None:
    """Entry `set:` runs on every entry: a route back to the same state counts to 3."""
    result = Chat(guards).step(_flow("counter"))
    assert _texts(result) == ["Counted 3"]
    assert result.conversation.data["n"] == 3
    assert result.trace == (
        (IDLE, START, "count"),
        ("count", "route:count", "count"),
        ("count", "route:count", "count"),
        ("count", "route:count", "done"),
    )


def test_a_loop_of_routes_without_end_is_stopped(guards: Engine) -> None:
    """Routes that never reach a waiting or final state raise after MAX_MOVES entries."""
    with pytest.raises(RuntimeError, match=f"more than {MAX_MOVES} automatic moves"):
        Chat(guards).step(_flow("forever"))


# -- texts with expressions ---------------------------------------------------------------------

TEXTS = """\
    flows:
      hello:
        start: greet
        states:
          greet:
            say: >-
              Hi {{ name or 'there' }}{{ '!' if vip else '.' }}
              [{{ missing }}] [{{ order.id }}]
      broken:
        start: total
        data: {price: 5}
        states:
          total:
            say: "Total {{ price + extra }}"
            options: [{label: Fine, go: done}]
          done: {say: Done}
    """


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _engine(tmp_path_factory.mktemp("texts"), TEXTS)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param({}, "Hi there. [] []", id="defaults"),
        pytest.param({"name": "Ana", "vip": True}, "Hi Ana! [] []", id="values"),
        pytest.param({"name": "", "order": {"id": 7}}, "Hi there. [] [7]", id="empty-name"),
    ],
)
def test_texts_render_expressions_and_missing_names_as_empty(
    texts: Engine, data: dict[str, object], text: str
) -> None:
    """`{{ name or 'there' }}` and conditionals are evaluated; missing values show as ""."""
    result = Chat(texts).step(replace(_flow("hello"), data=data))
    assert _texts(result) == [text]


def test_expression_error_while_rendering_does_not_break_the_step(texts: Engine) -> None:
    """A text whose expression fails (adding a missing value) is logged in `detail`; the
    conversation still enters the state and goes on."""
    chat = Chat(texts)
    result = chat.step(_flow("broken"))
    assert result.outcome == "started"
    assert chat.conv.state == "total"
    assert "render error" in result.detail
    assert "Total" not in "".join(_texts(result))
    assert _texts(chat.say("fine")) == ["Done"]


# -- collect: ----------------------------------------------------------------------------------

COLLECT = """\
    flows:
      integer:
        start: ask
        states:
          ask:
            say: "Number?"
            collect: {slot: v, type: integer, min: 1, max: 10, go: done}
          done: {say: "Got {{ v }}"}
      date:
        start: ask
        states:
          ask:
            say: "Day?"
            collect: {slot: v, type: date, future: true, go: done}
          done: {say: "Got {{ v }}"}
      choice:
        start: ask
        states:
          ask:
            say: "Size?"
            collect:
              slot: v
              type: choice
              choices: [Small, {Large: [big, XL]}]
              go: done
          done: {say: "Got {{ v }}"}
      regex:
        start: ask
        states:
          ask:
            say: "Order?"
            collect: {slot: v, type: regex, pattern: '[A-Z]-\\d{1,4}', go: done}
          done: {say: "Got {{ v }}"}
      email:
        start: ask
        states:
          ask:
            say: "Email?"
            collect: {slot: v, type: email, go: done}
          done: {say: "Got {{ v }}"}
      phone:
        start: ask
        states:
          ask:
            say: "Phone?"
            collect: {slot: v, type: phone, default_region: "44", go: done}
          done: {say: "Got {{ v }}"}
      strict:
        start: ask
        states:
          ask:
            say: "Number?"
            collect:
              slot: v
              type: integer
              min: 1
              max: 10
              invalid: "From 1 to 10, please ({{ error }})."
              attempts: 2
              escalate: human
              go: done
          done: {say: "Got {{ v }}"}
          human: {say: "A colleague will call you."}
    """


@pytest.fixture(scope="module")
def collect(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _engine(tmp_path_factory.mktemp("collect"), COLLECT)


@pytest.mark.parametrize(
    ("flow", "answer", "value"),
    [
        pytest.param("integer", "7", 7, id="integer"),
        pytest.param("integer", "seven", 7, id="integer-word"),
        pytest.param("date", "28/11", "2025-11-28", id="date"),
        pytest.param("date", "1/10", "2026-10-01", id="date-future-next-year"),
        pytest.param("date", "tomorrow", "2025-10-10", id="date-relative"),
        pytest.param("choice", "big", "Large", id="choice-synonym"),
        pytest.param("choice", "1", "Small", id="choice-number"),
        pytest.param("regex", "A-100", "A-100", id="regex"),
        pytest.param("email", "Ana@Example.COM", "Ana@example.com", id="email"),
        pytest.param("phone", "020 7946 0958", "442079460958", id="phone"),
    ],
)
def test_collect_stores_the_parsed_value_in_the_slot(
    collect: Engine, flow: str, answer: str, value: object
) -> None:
    """A valid answer is parsed by the slot's type, stored, and the flow goes on."""
    chat = Chat(collect)
    chat.step(_flow(flow))
    result = chat.say(answer)
    assert result.outcome == "collected"
    assert chat.conv.data["v"] == value
    assert chat.conv.state == "done"
    assert _texts(result) == [f"Got {value}"]
    assert result.trace == (("ask", "collect:ask", "done"),)


@pytest.mark.parametrize(
    ("flow", "answer", "text"),
    [
        pytest.param("integer", "abc", "Please send a whole number between 1 and 10.", id="nan"),
        pytest.param("integer", "11", "Please send a whole number between 1 and 10.", id="max"),
        pytest.param("date", "1/1/2020", "Please send a date from today on.", id="past"),
        pytest.param(
            "email",
            "ana@",
            "Please send an email address, for example name@example.com.",
            id="email",
        ),
    ],
)
def test_invalid_value_gets_the_default_text(
    collect: Engine, flow: str, answer: str, text: str
) -> None:
    """Without `invalid:`, an invalid answer gets the type's default text and stays."""
    chat = Chat(collect)
    chat.step(_flow(flow))
    result = chat.say(answer)
    assert result.outcome == "invalid"
    assert chat.conv.state == "ask"
    assert chat.conv.attempts == 1
    assert "v" not in chat.conv.data
    assert result.replies == (Reply(text=text, state="ask", visit=1),)


def test_invalid_value_gets_the_authors_text_then_escalates(collect: Engine) -> None:
    """`invalid:` (which can read `error`) answers an invalid value; after `attempts`
    invalid answers the conversation goes to `escalate:`."""
    chat = Chat(collect)
    chat.step(_flow("strict"))
    first = chat.say("12")
    assert first.outcome == "invalid"
    assert _texts(first) == ["From 1 to 10, please (too_large)."]
    second = chat.say("lots")
    assert second.outcome == "escalated"
    assert chat.conv.state == "human"
    assert _texts(second) == ["A colleague will call you."]
    assert second.trace == (("ask", "escalate:ask", "human"),)


@pytest.mark.parametrize(
    ("rating", "state", "text"),
    [
        pytest.param("2", "what_went_wrong", "Sorry to hear that. What went wrong?", id="low"),
        pytest.param("five", "thanks", "Thank you for your feedback!", id="high"),
    ],
)
def test_csat_routes_after_collect(rating: str, state: str, text: str) -> None:
    """The example's csat collects a rating, then routes: 2 or less asks what went wrong."""
    chat = Chat(EXAMPLE, Conversation(last_inbound_ms=NOW - MINUTE))
    chat.step(_intent("csat_survey", order="A-17"))
    result = chat.say(rating)
    assert result.outcome == "collected"
    assert chat.conv.state == state
    assert _texts(result) == [text]
    assert result.trace == (("rate", "route:rate", state),)


def test_csat_low_rating_then_comment_thanks_with_regret() -> None:
    """After a low rating and a comment, the thanks text reads the collected rating."""
    chat = Chat(EXAMPLE, Conversation(last_inbound_ms=NOW - MINUTE))
    chat.step(_intent("csat_survey", order="A-17"))
    chat.say("1")
    result = chat.say("It came late")
    assert chat.conv.data["comment"] == "It came late"
    assert _texts(result) == ["Thank you for your feedback, we will do better!"]


def test_csat_escalates_after_two_invalid_ratings() -> None:
    """Two answers that are no rating from 1 to 5 end the survey with thanks."""
    chat = Chat(EXAMPLE, Conversation(last_inbound_ms=NOW - MINUTE))
    chat.step(_intent("csat_survey"))
    assert _texts(chat.say("great")) == ["Please send a whole number from 1 to 5."]
    result = chat.say("9")
    assert chat.conv.state == "thanks"
    assert _texts(result) == ["Thank you for your feedback!"]


# -- timers ---------------------------------------------------------------------------------


def test_entering_a_waiting_state_sets_its_timers_relative_to_now() -> None:
    """`timeout:` and `remind:` become Timer entries due `after` from the step's time."""
    chat = _appointment()
    assert chat.conv.timers == (
        Timer("timeout", NOW + 24 * HOUR),
        Timer("remind0", NOW + 2 * HOUR),
    )
    later = NOW + 5 * MINUTE
    chat.step(_intent("appointment_reminder", at=later))
    assert chat.conv.timers == (
        Timer("timeout", later + 24 * HOUR),
        Timer("remind0", later + 2 * HOUR),
    )


def test_reminder_inside_the_window_sends_its_say() -> None:
    """A reminder due while the 24-hour window is open sends its `say:` text; the state
    and its other timers stay."""
    chat = _appointment()
    visit = chat.conv.visit
    at = NOW + 2 * HOUR
    result = chat.step(_timer("remind0", visit, at=at))
    assert result.outcome == "reminded"
    assert _texts(result) == [
        "Just checking: reply 1 to confirm your appointment on Monday 10:00, 2 to reschedule."
    ]
    assert result.replies[0].state == "remind"
    assert result.replies[0].visit == visit
    assert chat.conv.state == "remind"
    assert chat.conv.visit == visit
    assert chat.conv.timers == (Timer("timeout", NOW + 24 * HOUR),)


def test_reminder_outside_the_window_sends_its_template() -> None:
    """A reminder due after the window closed sends its `template:` instead."""
    chat = _appointment(wrote_ago=None)
    result = chat.step(_timer("remind0", chat.conv.visit, at=NOW + 2 * HOUR))
    assert [r.template for r in result.replies] == [
        Template("appointment_nudge", "en", {"date": "Monday 10:00"})
    ]


def test_timeout_moves_to_its_go_state() -> None:
    """The `timeout` timer moves the conversation to `timeout.go` and runs its entry."""
    chat = _appointment(wrote_ago=None)
    result = chat.step(_timer("timeout", chat.conv.visit, at=NOW + 24 * HOUR))
    assert chat.conv.state == "no_answer"
    assert chat.conv.data["status"] == "no answer"
    assert chat.conv.timers == ()
    assert [r.template for r in result.replies] == [
        Template("appointment_missed", "en", {"clinic": "City Clinic"})
    ]
    assert result.trace == (("remind", "timeout:remind", "no_answer"),)


@pytest.mark.parametrize("name", ["timeout", "remind0"])
def test_timer_of_an_earlier_visit_is_ignored(name: str) -> None:
    """The customer answered before the timer fired: the timer, of the visit before, is
    stale and changes nothing (the race between a reply and a timer)."""
    chat = _appointment()
    old_visit = chat.conv.visit
    chat.say("2")
    assert chat.conv.state == "ask_day"
    assert chat.conv.timers == ()  # cleared when the state changed
    before = chat.conv
    result = chat.step(_timer(name, old_visit, at=NOW + 24 * HOUR))
    assert result.outcome == "ignored"
    assert "earlier" in result.detail
    assert result.replies == ()
    assert result.conversation == before


def test_reentering_a_state_makes_its_old_timers_stale() -> None:
    """Each entry is a new visit: timers of the previous entry of the same state no longer
    fire."""
    chat = _appointment()
    first = chat.conv.visit
    chat.say("restart")
    assert chat.conv.state == "remind"
    assert chat.conv.visit > first
    result = chat.step(_timer("timeout", first, at=NOW + 24 * HOUR))
    assert result.outcome == "ignored"
    assert chat.conv.state == "remind"


def test_timer_the_state_no_longer_has_is_ignored() -> None:
    """A timer set under an older version of the flow, for a state that no longer has it,
    changes nothing (it does not crash the step)."""
    conv = Conversation(flow="appointment", state="confirmed", flow_version="old", visit=3)
    for name in ("timeout", "remind0", "handoff"):
        result = EXAMPLE.step(conv, _timer(name, 3), NOW, CTX)
        assert result.outcome == "ignored"
        assert result.conversation.state == "confirmed"


# -- calls -----------------------------------------------------------------------------------

CALLS = """\
    flows:
      api:
        start: fetch
        data:
          qty: 3
          tags: [a, b]
        states:
          fetch:
            say: "One moment..."
            call:
              method: POST
              url: "https://api.example.com/orders/{{ upper(order) }}"
              headers:
                Authorization: "Bearer {{ secret.API_TOKEN }}"
                X-Order: "{{ order }}"
              json:
                qty: "{{ qty }}"
                note: "qty {{ qty }}"
                tags: "{{ tags }}"
                fixed: 5
                items: ["{{ order }}", "{{ nothing }}"]
              timeout: 5s
              save: {status_text: body.status, code: status, first: body.items.0}
              success: ok
              failure: failed
          ok: {say: "Status {{ status_text }} ({{ code }}, {{ first }})"}
          failed: {say: "Failed {{ status_text }}"}
    """


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _engine(tmp_path_factory.mktemp("calls"), CALLS)


def _calling(engine: Engine) -> Chat:
    chat = Chat(engine, Conversation(last_inbound_ms=NOW - MINUTE))
    chat.step(_flow("api", order="a-1"))
    assert chat.conv.state == "fetch"
    return chat


def test_entering_a_call_state_emits_the_rendered_request(calls: Engine) -> None:
    """The request carries the rendered url, headers and body; a body value that is exactly
    "{{ x }}" keeps x's type; the url and headers are parts that keep the author's text, data
    and secrets apart, secrets by name only, never values."""
    chat = _calling(calls)
    (result,) = chat.results
    assert _texts(result) == ["One moment..."]
    assert result.calls == (
        CallRequest(
            kind="http",
            method="POST",
            url=((TEXT, "https://api.example.com/orders/"), (DATA, "A-1")),
            headers={
                "Authorization": ((TEXT, "Bearer "), (SECRET, "API_TOKEN")),
                "X-Order": ((DATA, "a-1"),),
            },
            body={
                "qty": 3,
                "note": "qty 3",
                "tags": ["a", "b"],
                "fixed": 5,
                "items": ["a-1", None],
            },
            timeout_s=5.0,
            visit=chat.conv.visit,
        ),
    )


def test_call_success_saves_the_paths_and_goes_to_success(calls: Engine) -> None:
    """A successful answer stores each `save:` path (status, body.x, list items) and moves
    to `success:`."""
    chat = _calling(calls)
    body = {"status": "shipped", "items": ["book", "pen"]}
    result = chat.step(_answer(chat.conv.visit, "success", 200, body))
    assert result.outcome == "call_success"
    assert chat.conv.state == "ok"
    assert chat.conv.data["status_text"] == "shipped"
    assert chat.conv.data["code"] == 200
    assert chat.conv.data["first"] == "book"
    assert _texts(result) == ["Status shipped (200, book)"]
    assert result.trace == (("fetch", "call:fetch:success", "ok"),)


@pytest.mark.parametrize("outcome", ["failure", "timeout"])
def test_call_failure_and_timeout_go_to_failure_by_default(calls: Engine, outcome: str) -> None:
    """A failed or timed-out call goes to `failure:` (`on_timeout` defaults to it) and saves
    nothing."""
    chat = _calling(calls)
    result = chat.step(_answer(chat.conv.visit, outcome, 500, {"status": "boom"}))
    assert result.outcome == f"call_{outcome}"
    assert chat.conv.state == "failed"
    assert "status_text" not in chat.conv.data
    assert result.trace == (("fetch", f"call:fetch:{outcome}", "failed"),)


@pytest.mark.parametrize(
    ("outcome", "state"),
    [("success", "order_found"), ("failure", "order_unknown"), ("timeout", "order_slow")],
)
def test_call_outcomes_of_the_example_lookup(outcome: str, state: str) -> None:
    """The example's order lookup: success, failure and its own `on_timeout:` state."""
    chat = Chat(EXAMPLE)
    chat.say("hi")
    chat.say("1")
    result = chat.say("b-7")
    (call,) = result.calls
    assert call.method == "GET"
    assert call.url == (
        (SECRET, "ORDERS_API"),
        (TEXT, "/"),
        (DATA, "B-7"),
    )
    assert call.headers == {"Authorization": ((TEXT, "Bearer "), (SECRET, "ORDERS_TOKEN"))}
    result = chat.step(_answer(call.visit, outcome, 200, {"status": "on its way", "eta": "Friday"}))
    assert chat.conv.state == state
    if outcome == "success":
        assert _texts(result) == ["Order B-7 is on its way, arriving Friday."]


def test_stale_call_result_is_ignored(calls: Engine) -> None:
    """An answer for another visit of the state is ignored."""
    chat = _calling(calls)
    before = chat.conv
    result = chat.step(_answer(chat.conv.visit - 1, "success", 200, {"status": "old"}))
    assert result.outcome == "ignored"
    assert result.conversation == before
    assert result.replies == ()


def test_customer_message_while_waiting_for_a_call_is_ignored(calls: Engine) -> None:
    """While the call is out, what the customer writes does not move the conversation."""
    chat = _calling(calls)
    result = chat.say("hello?")
    assert result.outcome == "ignored"
    assert "call" in result.detail
    assert result.replies == ()
    assert result.calls == ()
    assert chat.conv.state == "fetch"


# -- one-time codes ----------------------------------------------------------------------------


def _codes(*codes: str) -> StepContext:
    """A context whose one-time codes are `codes`, in turn (the last one repeats)."""
    it: Iterator[str] = iter(codes)
    last = [codes[-1]]

    def digits(n: int) -> str:
        code = next(it, last[0])
        assert len(code) == n
        return code

    return StepContext(conv_id=CONV_ID, random_digits=digits)


def _verifying(ctx: StepContext) -> Chat:
    chat = Chat(EXAMPLE, ctx=ctx)
    chat.say("hi")
    chat.say("2")
    assert chat.conv.state == "verify"
    return chat


def test_otp_sends_the_code_by_template_and_keeps_only_a_hash() -> None:
    """Entering an `otp:` state sends its template with the code as a parameter; the stored
    conversation holds a hash of it, never the code."""
    chat = _verifying(_codes("123456"))
    result = chat.results[-1]
    assert result.replies == (
        Reply(
            template=Template("verification_code", "en", {"code": "123456"}),
            state="verify",
            visit=chat.conv.visit,
        ),
    )
    assert chat.conv.otp is not None
    assert set(chat.conv.otp) == {"h", "exp", "tries", "sent"}
    assert chat.conv.otp["exp"] == NOW + 5 * MINUTE
    assert "123456" not in repr(chat.conv)


@pytest.mark.parametrize("answer", ["123456", "123 456", "My code is 123456"])
def test_otp_right_code_verifies(answer: str) -> None:
    """The right code (spaces and words around it ignored) goes to `verified:`."""
    chat = _verifying(_codes("123456"))
    result = chat.say(answer)
    assert result.outcome == "code_verified"
    assert chat.conv.state == "verified"
    assert chat.conv.otp is None
    assert _texts(result) == ["Your number is verified. Thank you!"]
    assert result.trace == (("verify", "otp:verify:verified", "verified"),)


def test_otp_wrong_codes_retry_then_go_to_wrong() -> None:
    """A wrong code gets the retry text; the third wrong code goes to `wrong:`."""
    chat = _verifying(_codes("123456"))
    for _ in range(2):
        result = chat.say("654321")
        assert result.outcome == "code_retry"
        assert _texts(result) == ["That code is not right. Please try again."]
    result = chat.say("111111")
    assert chat.conv.state == "not_verified"
    assert _texts(result) == ["Too many wrong codes. Please try again later."]


def test_otp_right_code_after_the_ttl_is_expired() -> None:
    """Once `ttl` has passed, even the right code goes to `expired:`."""
    chat = _verifying(_codes("123456"))
    result = chat.say("123456", at=NOW + 5 * MINUTE)
    assert chat.conv.state == "code_expired"
    assert _texts(result) == ["That code has expired. Write to us again for a new one."]


def test_otp_resend_waits_for_the_cool_down_then_sends_a_new_code() -> None:
    """`resend` within `resend_after` gets the wait text; after it, a new code (a new hash)
    is sent and the old code no longer verifies."""
    chat = _verifying(_codes("123456", "987654"))
    assert chat.conv.otp is not None
    first_hash = chat.conv.otp["h"]
    early = chat.say("resend", at=NOW + 10 * SECOND)
    assert early.outcome == "code_resend_too_soon"
    assert _texts(early) == ["Please wait a moment before asking for a new code."]
    later = NOW + 30 * SECOND
    again = chat.say("Resend", at=later)
    assert again.outcome == "code_resent"
    assert [r.template for r in again.replies] == [
        Template("verification_code", "en", {"code": "987654"})
    ]
    assert chat.conv.otp is not None
    assert chat.conv.otp["h"] != first_hash
    assert chat.conv.otp["exp"] == later + 5 * MINUTE
    assert chat.say("123456", at=later).outcome == "code_retry"
    assert chat.say("987654", at=later).outcome == "code_verified"
    assert chat.conv.state == "verified"


def test_otp_answer_longer_than_max_answer_is_a_wrong_code() -> None:
    """A code or `resend` is short: past MAX_ANSWER characters the answer is a wrong try,
    not scanned for the digits it may hold."""
    chat = _verifying(_codes("123456"))
    assert chat.say("123456" + " " * MAX_ANSWER).outcome == "code_retry"
    assert chat.say("resend" + "." * MAX_ANSWER, at=NOW + MINUTE).outcome == "code_retry"
    assert chat.say("123456" + " " * (MAX_ANSWER - 6)).outcome == "code_verified"


# -- global commands -----------------------------------------------------------------------------

NO_AGENT = """\
    flows:
      ask:
        start: q
        commands: {restart: false}
        states:
          q:
            say: "Yes or no?"
            options: [{label: "Yes", go: done}, {label: "No", go: done}]
          done: {say: Done}
    """


@pytest.fixture(scope="module")
def no_agent(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _engine(tmp_path_factory.mktemp("no_agent"), NO_AGENT)


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "opt out", "parar", "baja"])
def test_stop_ends_the_flow_and_opts_out(word: str) -> None:
    """STOP (in any configured language) ends the flow, clears timers and the queue, sets
    `opted_out` and confirms with a `system` reply (sent even to opted-out customers)."""
    chat = _appointment()
    chat.step(_intent("csat_survey"))
    assert chat.conv.queue
    result = chat.say(word)
    assert result.outcome == "stopped"
    assert chat.conv.opted_out
    assert (chat.conv.flow, chat.conv.state, chat.conv.timers, chat.conv.queue) == (
        None,
        None,
        (),
        (),
    )
    assert result.replies == (Reply(text=STOPPED, system=True),)


def test_a_text_longer_than_max_answer_is_no_command() -> None:
    """A command is a word or two: STOP padded past MAX_ANSWER characters is an answer like
    any other (here, no option), and the customer stays in the flow."""
    chat = _appointment()
    result = chat.say("STOP" + " " * MAX_ANSWER)
    assert result.outcome == "reprompted"
    assert not chat.conv.opted_out
    assert chat.say("STOP" + " " * (MAX_ANSWER - 4)).outcome == "stopped"


def test_opted_out_customer_gets_nothing_until_start() -> None:
    """While opted out, messages, intents and timers produce nothing; START opts back in."""
    chat = _appointment()
    visit = chat.conv.visit
    chat.say("stop")
    for event in (
        _msg("1"),
        _msg("agent"),
        _intent("appointment_reminder"),
        _intent("order_shipped"),
        _timer("timeout", visit),
        _timer("remind0", chat.conv.visit),
    ):
        result = chat.step(event)
        assert (result.replies, result.calls) == ((), ()), event
        assert chat.conv.opted_out
        assert chat.conv.flow is None
    assert chat.results[-4].outcome == "rejected"  # the intent: the API answers 409
    result = chat.say("START")
    assert result.outcome == "opted_in"
    assert not chat.conv.opted_out
    assert _texts(result) == ["Welcome back! You will receive our messages again."]
    assert chat.say("hello").outcome == "started"


def _campaign(code: str, campaign: str, *, marketing: bool, at: int = NOW) -> IntentStart:
    return IntentStart(message_id=f"c-{campaign}-{at}", at_ms=at, code=code, campaign=campaign,
                       marketing=marketing, policy="queue")  # fmt: skip


@pytest.mark.parametrize("word", ["STOP MARKETING", "stop promotions", "Baja publicidad"])
def test_stop_marketing_opts_out_of_marketing_alone_and_the_flow_goes_on(word: str) -> None:
    """STOP MARKETING (its words per language) sets `marketing_opted_out`, confirms with a
    `system` reply and leaves the flow where it was; marketing intents are refused, queued
    ones dropped, utility ones start; START MARKETING takes it back."""
    chat = _appointment()
    chat.step(_campaign("csat_survey", "promo1", marketing=True))
    chat.step(_campaign("csat_survey", "notice1", marketing=False))
    assert [q.get("marketing", False) for q in chat.conv.queue] == [True, False]
    result = chat.say(word)
    assert result.outcome == "marketing_stopped"
    assert chat.conv.marketing_opted_out
    assert not chat.conv.opted_out
    assert _where(chat.conv) == ("appointment", "remind")
    assert [q["campaign"] for q in chat.conv.queue] == ["notice1"]
    assert result.replies == (
        Reply(
            text="You will not receive offers and promotions from us any more. Reply START "
            "MARKETING to get them again.",
            system=True,
        ),
    )
    refused = chat.step(_campaign("csat_survey", "promo2", marketing=True, at=NOW + 1))
    assert (refused.outcome, refused.detail) == ("rejected", "customer opted out of marketing")
    chat.say("1")  # the appointment ends: the utility campaign's flow starts
    assert chat.conv.flow == "csat"
    assert chat.conv.campaign == "notice1"
    result = chat.say("start marketing")
    assert result.outcome == "marketing_started"
    assert not chat.conv.marketing_opted_out
    assert chat.conv.flow == "csat"


def test_start_marketing_after_stop_opts_back_into_everything() -> None:
    """A customer who wrote STOP then START MARKETING gets everything again; one who wrote
    STOP MARKETING, STOP, START is still opted out of marketing."""
    chat = _appointment()
    chat.say("stop")
    assert chat.say("start marketing").outcome == "opted_in"
    assert not chat.conv.opted_out
    assert not chat.conv.marketing_opted_out
    chat.say("stop marketing")
    chat.say("stop")
    assert chat.say("start").outcome == "opted_in"
    assert chat.conv.marketing_opted_out
    assert not chat.conv.opted_out


def test_a_campaigns_start_is_remembered_and_its_replies_named() -> None:
    """A campaign's flow started (at once, or queued behind the customer's flow) names the
    campaign on each reply its start makes; the conversation remembers the campaign."""
    chat = Chat(EXAMPLE, Conversation())
    result = chat.step(_campaign("appointment_reminder", "c1", marketing=False))
    assert result.reply_campaigns == ("c1",)
    assert not result.replies[0].marketing
    assert chat.conv.campaign == "c1"
    queued = chat.step(_campaign("csat_survey", "c2", marketing=True, at=NOW + 1))
    assert queued.outcome == "queued"
    assert queued.reply_campaigns == ()
    result = chat.say("1")  # confirmed: the appointment ends, the queued survey starts
    assert result.reply_campaigns == ("", "c2")  # the confirmation, then the survey's question
    assert [r.marketing for r in result.replies] == [False, True]
    assert chat.conv.campaign == "c2"
    assert chat.conv.marketing_flow


def test_queued_campaigns_started_in_turn_each_name_their_own_replies(
    tmp_path: Path,
) -> None:
    """A queued campaign whose flow ends at once starts the next queued one within the same
    step: each reply names the campaign whose start made it, and the conversation the last."""
    flows = """
    flows:
      ask:
        start: q
        states:
          q: {say: "Which?", options: [{label: One, go: done}]}
          done: {say: "Done."}
      notice:
        start: n
        states:
          n: {say: "Notice."}
      offer:
        start: o
        states:
          o: {say: "Offer!", options: [{label: Yes, go: ok}]}
          ok: {say: "Booked."}
    """
    intents = {
        code: f"code: {code}\nname: {code}\nstart: {code}" for code in ("ask", "notice", "offer")
    }
    engine = _engine(tmp_path, flows, intents)
    conv = engine.step(Conversation(), _intent("ask"), NOW).conversation
    for code, campaign, marketing in (("notice", "A", False), ("offer", "B", True)):
        step = _campaign(code, campaign, marketing=marketing)
        conv = engine.step(conv, step, NOW).conversation
    assert [q["campaign"] for q in conv.queue] == ["A", "B"]
    result = engine.step(conv, _msg("1"), NOW)
    assert [r.text for r in result.replies] == ["Done.", "Notice.", "Offer!"]
    assert result.reply_campaigns == ("", "A", "B")
    assert [r.marketing for r in result.replies] == [False, False, True]
    assert (result.conversation.campaign, result.conversation.flow) == ("B", "offer")


def test_stop_marketing_ends_a_marketing_campaigns_flow_under_way() -> None:
    """STOP MARKETING in the middle of a marketing campaign's flow ends it (its reminders
    and timeout never come) and starts what was queued behind it; while opted out of
    everything, it is kept quietly, for after START."""
    chat = Chat(EXAMPLE, Conversation(last_inbound_ms=NOW - MINUTE))
    chat.step(_campaign("appointment_reminder", "promo", marketing=True))
    chat.step(_campaign("csat_survey", "notice", marketing=False, at=NOW + 1))
    assert chat.conv.marketing_flow
    assert chat.conv.timers
    result = chat.say("stop marketing")
    assert result.outcome == "marketing_stopped"
    assert chat.conv.flow == "csat"  # the queued utility campaign's flow
    assert not chat.conv.marketing_flow
    assert result.reply_campaigns[1:] == ("notice",)
    quiet = Chat(EXAMPLE, Conversation())
    quiet.say("stop")
    result = quiet.say("stop marketing")
    assert (result.outcome, result.replies) == ("marketing_stopped", ())
    quiet.say("start")
    assert quiet.conv.marketing_opted_out
    assert not quiet.conv.opted_out


def test_what_a_step_counts_in_the_campaign_that_last_messaged_the_customer() -> None:
    """Replied once (a customer's message, the first since), opted out once each (STOP,
    STOP MARKETING) however often they opt back in; nothing without a campaign; a step that
    starts another campaign's flow starts its letters afresh."""
    base = Conversation(campaign="c1")
    assert counted_since(base, base, customer_wrote=True) == (["replied"], "r")
    replied = replace(base, campaign_counted="r")
    assert counted_since(replied, replied, customer_wrote=True) == ([], "r")
    assert counted_since(base, base, customer_wrote=False) == ([], "")
    stopped = replace(replied, opted_out=True)
    assert counted_since(replied, stopped, customer_wrote=True) == (["opted_out"], "ro")
    again = replace(replied, campaign_counted="ro")  # START, then STOP once more
    assert counted_since(again, replace(again, opted_out=True), customer_wrote=True) == (
        [], "ro"
    )  # fmt: skip
    no_offers = replace(base, marketing_opted_out=True)
    assert counted_since(base, no_offers, customer_wrote=True) == (
        ["replied", "opted_out_marketing"], "rm"
    )  # fmt: skip
    assert counted_since(Conversation(), stopped, customer_wrote=True) == ([], "")
    other = replace(base, campaign="c2")
    assert counted_since(base, other, customer_wrote=True) == (["replied"], "")


def test_restart_starts_the_current_flow_again() -> None:
    """`restart` re-enters the current flow's start state, a new visit, its message again."""
    chat = _appointment()
    chat.say("2")
    assert chat.conv.state == "ask_day"
    result = chat.say("restart")
    assert result.outcome == "restarted"
    assert chat.conv.state == "remind"
    assert result.trace == ((IDLE, START, "remind"),)
    assert len(result.replies) == 1


def test_restart_outside_a_flow_starts_the_inbound_flow() -> None:
    """With no flow under way `restart` starts `inbound_flow`."""
    result = Chat(EXAMPLE).say("start over")
    assert result.outcome == "restarted"
    assert _where(result.conversation) == ("menu", "choose")


def test_restart_can_be_switched_off_per_flow(no_agent: Engine) -> None:
    """With `commands: {restart: false}`, "restart" is an answer like any other."""
    chat = Chat(no_agent)
    chat.step(_flow("ask"))
    result = chat.say("restart")
    assert result.outcome == "reprompted"
    assert chat.conv.visit == 1


def test_agent_hands_off_and_forwards_later_messages() -> None:
    """`agent` (with defaults.agent.webhook set) hands off: a text, an agent timer; later
    messages are forwarded to the webhook, not answered."""
    chat = _appointment()
    result = chat.say("agent")
    assert result.outcome == "handed_off"
    assert _texts(result) == ["Connecting you with a colleague. Please wait."]
    assert result.calls == ()
    assert chat.conv.handoff == "agent"
    assert chat.conv.resume_to == "remind"
    assert chat.conv.timers == (Timer("agent", NOW + 2 * HOUR),)
    forwarded = chat.say("1")
    assert forwarded.outcome == "forwarded"
    assert forwarded.replies == ()
    (call,) = forwarded.calls
    assert (call.kind, call.method, call.url) == ("forward", "POST", AGENT_URL)
    assert call.body["text"] == "1"
    assert call.body["conversation"] == CONV_ID
    assert chat.conv.state == "remind"


def test_agent_is_an_answer_when_no_webhook_is_set(no_agent: Engine) -> None:
    """Without defaults.agent.webhook, "agent" is no command: it is answered as any reply."""
    chat = Chat(no_agent)
    chat.step(_flow("ask"))
    result = chat.say("agent")
    assert result.outcome == "reprompted"
    assert chat.conv.handoff == ""
    assert chat.say("human").calls == ()


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(Resume("r1", NOW + HOUR), id="resume"),
        pytest.param(_timer("agent", 0, at=NOW + 2 * HOUR), id="agent-timeout"),
    ],
)
def test_agent_handoff_ends_back_in_the_state_it_left(event: Event) -> None:
    """Resume, or the agent timeout, returns to the state the customer left and sends its
    message again, with its timers set anew."""
    chat = _appointment()
    chat.say("agent")
    if isinstance(event, TimerFired):
        event = _timer("agent", chat.conv.visit, at=event.at_ms)
    result = chat.step(event)
    assert result.outcome == "resumed"
    assert chat.conv.handoff == ""
    assert chat.conv.state == "remind"
    assert _texts(result) == ["Thanks for waiting. Let's continue.", REMIND_EN]
    assert chat.conv.timers == (
        Timer("timeout", event.at_ms + 24 * HOUR),
        Timer("remind0", event.at_ms + 2 * HOUR),
    )


def test_agent_timeout_outside_a_flow_ends_the_handoff() -> None:
    """The agent command outside any flow hands off too; its timeout resumes automation."""
    chat = Chat(EXAMPLE)
    chat.say("human")
    assert chat.conv.handoff == "agent"
    result = chat.step(_timer("agent", chat.conv.visit, at=NOW + 2 * HOUR))
    assert result.outcome == "resumed"
    assert chat.conv.handoff == ""
    assert _texts(result) == ["Thanks for waiting. Let's continue."]
    assert chat.say("hi").outcome == "started"


def test_agent_after_a_flow_ended_does_not_resend_its_end() -> None:
    """Resuming after a handoff asked for once the flow had ended sends no final text again."""
    chat = _appointment()
    chat.say("1")
    assert chat.conv.state == "confirmed"
    chat.say("agent")
    result = chat.step(Resume("r1", NOW))
    assert _texts(result) == ["Thanks for waiting. Let's continue."]


# -- handoff states -----------------------------------------------------------------------------

HANDOFF = """\
    defaults:
      agent:
        webhook: https://agents.example.com/in
        headers: {Authorization: "Bearer {{ secret.AGENT_TOKEN }}"}
    flows:
      help:
        start: human
        states:
          human:
            say: "A colleague will answer here."
            handoff: {resume: back, timeout: 30m, on_timeout: gave_up}
          back:
            say: "Back to the bot."
            options: [{label: Bye, go: bye}]
          other:
            say: "Elsewhere."
            options: [{label: Bye, go: bye}]
          gave_up: {say: "Nobody was free; we will write to you."}
          bye: {say: Bye}
    """


@pytest.fixture(scope="module")
def handoff(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _engine(tmp_path_factory.mktemp("handoff"), HANDOFF)


def _handed_off(engine: Engine) -> Chat:
    chat = Chat(engine, Conversation(last_inbound_ms=NOW - MINUTE))
    chat.step(_flow("help"))
    assert chat.conv.handoff == "state"
    return chat


def test_handoff_state_forwards_messages_to_the_agent_webhook(handoff: Engine) -> None:
    """In a handoff state the customer's messages become `forward` requests with the text
    and the conversation id, and agent headers with their secrets by name."""
    chat = _handed_off(handoff)
    assert chat.conv.timers == (Timer("handoff", NOW + 30 * MINUTE),)
    result = chat.say("My parcel is late", at=NOW + MINUTE)
    assert result.outcome == "forwarded"
    assert result.replies == ()
    (call,) = result.calls
    assert call.kind == "forward"
    assert call.url == ((TEXT, "https://agents.example.com/in"),)
    assert call.headers == {"Authorization": ((TEXT, "Bearer "), (SECRET, "AGENT_TOKEN"))}
    assert call.body["text"] == "My parcel is late"
    assert call.body["conversation"] == CONV_ID
    assert (call.body["flow"], call.body["state"]) == ("help", "human")
    assert chat.conv.state == "human"
    assert call.body["media"] is None
    photo = {"kind": "image", "id": "m-9", "url": "https://cams.example/m-9.jpg"}
    (call,) = chat.step(_media("image", photo, caption="this one")).calls
    assert (call.body["kind"], call.body["text"], call.body["media"]) == (
        "image", "this one", photo
    )  # fmt: skip


@pytest.mark.parametrize("text", ["restart", "agent", "1"])
def test_handoff_state_forwards_commands_and_answers_too(handoff: Engine, text: str) -> None:
    """During a handoff, `restart`, `agent` and would-be answers go to the agent as well."""
    chat = _handed_off(handoff)
    result = chat.say(text)
    assert result.outcome == "forwarded"
    assert chat.conv.state == "human"


def test_stop_works_during_a_handoff(handoff: Engine) -> None:
    """STOP is never forwarded: it ends the handoff and opts the customer out."""
    chat = _handed_off(handoff)
    result = chat.say("stop")
    assert result.outcome == "stopped"
    assert result.calls == ()
    assert (chat.conv.handoff, chat.conv.opted_out, chat.conv.timers) == ("", True, ())


@pytest.mark.parametrize(
    ("go", "state"),
    [
        pytest.param(None, "back", id="resume-state"),
        pytest.param("other", "other", id="go"),
        pytest.param("nowhere", "back", id="invalid-go"),
    ],
)
def test_resume_leaves_the_handoff_state(handoff: Engine, go: str | None, state: str) -> None:
    """Resume goes to `resume:`, or to `go` when it names a state of the flow."""
    chat = _handed_off(handoff)
    result = chat.step(Resume("r1", NOW, go=go))
    assert result.outcome == "resumed"
    assert chat.conv.state == state
    assert chat.conv.handoff == ""
    assert chat.conv.timers == ()
    assert len(result.replies) == 1
    assert chat.say("bye").outcome == "ended"


def test_handoff_timeout_goes_to_on_timeout(handoff: Engine) -> None:
    """The handoff's timeout moves to `on_timeout:`."""
    chat = _handed_off(handoff)
    result = chat.step(_timer("handoff", chat.conv.visit, at=NOW + 30 * MINUTE))
    assert chat.conv.state == "gave_up"
    assert chat.conv.handoff == ""
    assert _texts(result) == ["Nobody was free; we will write to you."]
    assert result.trace == (("human", "handoff_timeout:human", "gave_up"),)


def test_example_support_handoff_times_out_to_its_resume_state() -> None:
    """Without `on_timeout:`, the handoff timeout goes to `resume:`."""
    chat = Chat(EXAMPLE)
    chat.say("hi")
    chat.say("3")
    assert (chat.conv.state, chat.conv.handoff) == ("support", "state")
    chat.step(_timer("handoff", chat.conv.visit, at=NOW + HOUR))
    assert chat.conv.state == "bye"


def test_resume_of_an_agent_handoff_goes_to_a_valid_go() -> None:
    """Resume(go=STATE) ends an agent handoff at STATE; an unknown `go` returns to the state
    the customer left."""
    chat = _appointment()
    chat.say("agent")
    assert chat.step(Resume("r1", NOW, go="call_us")).conversation.state == "call_us"
    chat = _appointment()
    chat.say("agent")
    assert chat.step(Resume("r1", NOW, go="nowhere")).conversation.state == "remind"


def test_resume_outside_a_handoff_changes_nothing() -> None:
    """A Resume for a conversation not handed off is ignored."""
    chat = _appointment()
    before = chat.conv
    result = chat.step(Resume("r1", NOW))
    assert result.outcome == "ignored"
    assert result.conversation == before


# -- an operator's restart ----------------------------------------------------------------------

REMIND_NAMELESS = (
    "Hi, this is a reminder of your appointment at City Clinic on Monday 10:00. "
    "Reply 1 to confirm, 2 to reschedule."
)
APPOINTMENT_DATA = {"name": "", "clinic": "City Clinic", "date": "Monday 10:00"}


def _restart(at: int = NOW) -> Restart:
    return Restart(message_id=f"x-{at}", at_ms=at)


def test_restart_enters_the_start_state_anew_with_the_flows_own_data() -> None:
    """Restart mid-flow enters the flow's start state as a new visit: no attempts, the
    flow's `data:` (not the intent's, nor what was collected), its message and timers anew;
    the trace shows the restart, which counts as an entry of the start state and as no move
    of the machine."""
    chat = _appointment()
    chat.say("2")
    chat.say("someday")
    before = chat.conv
    assert (before.state, before.attempts) == ("ask_day", 1)
    event = _restart(NOW + MINUTE)
    result = chat.step(event)
    assert result.outcome == "restarted"
    assert _where(chat.conv) == ("appointment", "remind")
    assert (chat.conv.visit, chat.conv.attempts) == (before.visit + 1, 0)
    assert chat.conv.data == APPOINTMENT_DATA
    assert _texts(result) == [REMIND_NAMELESS]
    assert chat.conv.timers == (
        Timer("timeout", NOW + MINUTE + 24 * HOUR),
        Timer("remind0", NOW + MINUTE + 2 * HOUR),
    )
    assert result.trace == (("ask_day", "restart", "remind"),)
    assert step_moves(EXAMPLE.catalog, before, result, event) == StepMoves(
        moves=(), entered=(("appointment", "remind"),)
    )
    assert chat.say("1").outcome == "ended"


def test_restart_keeps_the_customers_language() -> None:
    """The customer's `lang` is no slot of the flow: a restart keeps it, as a start does."""
    chat = _appointment("es")
    result = chat.step(_restart())
    assert chat.conv.data == {**APPOINTMENT_DATA, "lang": "es"}
    assert _texts(result)[0].startswith("Hola, le recordamos su cita")


def test_restart_outside_the_window_sends_the_start_states_template() -> None:
    """Outside the 24-hour window the start state's template goes out, as when it started."""
    chat = _appointment(wrote_ago=None)
    result = chat.step(_restart())
    assert [r.template for r in result.replies] == [
        Template("appointment_reminder", "en", APPOINTMENT_DATA)
    ]


def test_restart_ends_a_handoff_state_its_timer_and_a_code() -> None:
    """From a handoff state, or one waiting for a one-time code: back at the start, the
    handoff and its timer ended, the code forgotten."""
    chat = Chat(EXAMPLE)
    chat.say("hi")
    chat.say("3")
    assert (chat.conv.state, chat.conv.handoff) == ("support", "state")
    assert chat.conv.timers
    result = chat.step(_restart())
    assert _where(chat.conv) == ("menu", "choose")
    assert (chat.conv.handoff, chat.conv.timers) == ("", ())
    assert _texts(result) == [MENU]
    assert chat.say("hello").outcome == "reprompted"  # answered, not forwarded
    chat.say("2")
    assert (chat.conv.state, chat.conv.otp is not None) == ("verify", True)
    chat.step(_restart())
    assert (chat.conv.state, chat.conv.otp) == ("choose", None)


def test_restart_ends_an_agent_handoff() -> None:
    """An agent handoff in a flow ends: its timer goes, automation starts the flow again
    (no "let's continue" text, no state to resume to)."""
    chat = _appointment()
    chat.say("agent")
    assert chat.conv.handoff == "agent"
    result = chat.step(_restart(NOW + MINUTE))
    assert (chat.conv.handoff, chat.conv.resume_to) == ("", "")
    assert [t.name for t in chat.conv.timers] == ["timeout", "remind0"]
    assert _texts(result) == [REMIND_NAMELESS]
    assert chat.say("1").outcome == "ended"


def test_restart_keeps_the_queued_intents() -> None:
    """Intents queued behind the flow stay queued, and start when the restarted flow ends."""
    chat = _appointment()
    chat.step(_intent("csat_survey", order="A-17"))
    queue = chat.conv.queue
    assert [q["code"] for q in queue] == ["csat_survey"]
    chat.step(_restart())
    assert chat.conv.queue == queue
    assert chat.say("1").outcome == "started"
    assert _where(chat.conv) == ("csat", "rate")


@pytest.mark.parametrize("then", [None, "1", "human"], ids=["never", "ended", "agent"])
def test_restart_outside_a_flow_changes_nothing(then: str | None) -> None:
    """With no flow under way (none ever, one ended, an agent handoff outside flows) a
    restart is ignored: nothing sent, the conversation as it was."""
    chat = _appointment() if then == "1" else Chat(EXAMPLE)
    if then is not None:
        chat.say(then)
    before = chat.conv
    result = chat.step(_restart())
    assert (result.outcome, result.detail) == ("ignored", "not in a flow")
    assert (result.replies, result.calls, result.trace) == ((), (), ())
    assert result.conversation == before


def test_restart_sends_nothing_to_an_opted_out_customer() -> None:
    """An opted-out customer gets nothing: after STOP (no flow any more), or with a flow
    still under way, the restart is rejected and the conversation left as it was."""
    chat = _appointment()
    chat.say("stop")
    assert chat.step(_restart()).replies == ()
    chat = _appointment()
    chat.conv = before = replace(chat.conv, opted_out=True)
    result = chat.step(_restart())
    assert (result.outcome, result.detail) == ("rejected", "customer opted out")
    assert (result.replies, result.calls) == ((), ())
    assert result.conversation == before


# -- intents ------------------------------------------------------------------------------------


def test_intent_policy_replace_restarts() -> None:
    """A `start:` intent (policy replace by default) replaces the flow under way."""
    chat = _appointment()
    chat.say("2")
    result = chat.step(_intent("delivery_started", address="1 Main St", order="A-1"))
    assert result.outcome == "started"
    assert _where(chat.conv) == ("delivery", "confirm_address")
    assert chat.conv.data == {"address": "1 Main St", "order": "A-1"}


def test_intent_policy_queue_waits_for_the_flow_to_end() -> None:
    """A queued intent waits; when the current flow ends, it starts in the same step, after
    the final message."""
    chat = _appointment()
    queued = chat.step(_intent("csat_survey", order="A-17"))
    assert queued.outcome == "queued"
    assert queued.replies == ()
    assert chat.conv.state == "remind"
    assert [q["code"] for q in chat.conv.queue] == ["csat_survey"]
    result = chat.say("1")
    assert result.outcome == "started"
    assert _texts(result) == [
        "Thank you, Ana! Your appointment on Monday 10:00 is confirmed. See you then.",
        "How would you rate your order A-17 from 1 (bad) to 5 (great)?",
    ]
    assert _where(chat.conv) == ("csat", "rate")
    assert chat.conv.queue == ()
    assert chat.conv.data["order"] == "A-17"
    assert "name" not in chat.conv.data


def test_intent_queued_outside_a_flow_starts_at_once() -> None:
    """A queue-policy intent for a customer in no flow starts right away."""
    result = Chat(EXAMPLE).step(_intent("csat_survey"))
    assert result.outcome == "started"
    assert result.conversation.queue == ()


def test_intent_policy_reject_leaves_the_flow() -> None:
    """With policy reject, a customer in a flow keeps it and the intent is rejected."""
    chat = _appointment()
    before = chat.conv
    result = chat.step(_intent("delivery_started", policy="reject"))
    assert result.outcome == "rejected"
    assert result.conversation == before


def test_event_intent_moves_the_waiting_state() -> None:
    """An `event:` intent follows `on:` of the current state, with its data."""
    chat = Chat(EXAMPLE, Conversation(last_inbound_ms=NOW - MINUTE))
    chat.step(_intent("delivery_started", address="1 Main St", order="A-1"))
    chat.say("yes")
    assert chat.conv.state == "waiting"
    result = chat.step(_intent("order_shipped"))
    assert result.outcome == "ended"
    assert [r.template for r in result.replies] == [
        Template("order_shipped", "en", {"order": "A-1", "eta": "in 2 days"})
    ]
    assert result.trace == (("waiting", "ev:order_shipped", "shipped"),)


def test_intent_start_with_flow_starts_it_directly() -> None:
    """IntentStart(flow=...) starts that flow with the data given, whatever the intents."""
    result = Chat(EXAMPLE).step(_flow("csat", order="Z-9"))
    assert result.outcome == "started"
    assert _where(result.conversation) == ("csat", "rate")
    assert result.conversation.data == {"order": "Z-9"}
    unknown = Chat(EXAMPLE).step(_flow("nope"))
    assert unknown.outcome == "ignored"
    assert "nope" in unknown.detail


# -- flow versions --------------------------------------------------------------------------------

VERSION_1 = """\
    flows:
      f:
        start: ask
        states:
          ask:
            say: "Ask?"
            options: [{label: Next, go: kept}]
          kept:
            say: "Kept?"
            options: [{label: Next, go: end}]
          dropped:
            say: "Dropped?"
            options: [{label: Next, go: end}]
          end: {say: "End"}
    """
VERSION_2 = """\
    flows:
      f:
        start: question
        migrations: {ask: question}
        states:
          question:
            say: "Question?"
            options: [{label: Next, go: kept}]
          kept:
            say: "Still kept?"
            options: [{label: Next, go: end}]
          end: {say: "The end"}
    """


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Engine]:
    folder = tmp_path_factory.mktemp("versions")
    return _engine(folder / "v1", VERSION_1), _engine(folder / "v2", VERSION_2)


def _on_v1(engines: tuple[Engine, Engine], state: str) -> Conversation:
    v1, v2 = engines
    version = v1.catalog.flows["f"].version
    assert version != v2.catalog.flows["f"].version
    return Conversation(flow="f", state=state, flow_version=version, visit=2)


def test_old_version_conversation_keeps_a_state_that_still_exists(
    versions: tuple[Engine, Engine],
) -> None:
    """On a new version of its flow, a conversation stays in its state when it still exists."""
    _, v2 = versions
    result = v2.step(_on_v1(versions, "kept"), _msg("next"), NOW, CTX)
    assert result.outcome == "ended"
    assert result.conversation.flow_version == v2.catalog.flows["f"].version
    assert _texts(result) == ["The end"]


def test_old_version_conversation_follows_a_migration(versions: tuple[Engine, Engine]) -> None:
    """A renamed state is followed through `migrations:`; the trace records it."""
    _, v2 = versions
    result = v2.step(_on_v1(versions, "ask"), _msg("next"), NOW, CTX)
    assert result.trace[0] == ("ask", "migration", "question")
    assert result.trace[1] == ("question", "opt:question:0", "kept")
    assert result.conversation.state == "kept"
    assert _texts(result) == ["Still kept?"]


def test_old_version_conversation_in_a_removed_state_ends(versions: tuple[Engine, Engine]) -> None:
    """A state removed without a migration ends the conversation."""
    _, v2 = versions
    result = v2.step(_on_v1(versions, "dropped"), _timer("timeout", 2), NOW, CTX)
    assert result.outcome == "ignored"
    assert result.conversation.flow is None
    assert result.conversation.state is None
    assert result.replies == ()
    assert result.trace == ()


def test_resume_of_a_state_that_is_no_longer_a_handoff_is_ignored(
    versions: tuple[Engine, Engine],
) -> None:
    """A conversation handed off in a state that a new version made an ordinary one is not
    in a handoff any more: Resume changes nothing (no crash), messages are answered."""
    _, v2 = versions
    conv = replace(_on_v1(versions, "kept"), handoff="state")
    result = v2.step(conv, Resume("r1", NOW), NOW, CTX)
    assert result.outcome == "ignored"
    assert result.conversation.state == "kept"
    assert result.conversation.handoff == ""
    answered = v2.step(conv, _msg("next"), NOW, CTX)
    assert answered.calls == ()
    assert _texts(answered) == ["The end"]


# -- failed sends -----------------------------------------------------------------------------


def test_send_failed_of_the_current_visit_goes_to_on_failed() -> None:
    """A permanent send failure of this visit's message follows `on_failed:` (then routes)."""
    chat = _appointment(wrote_ago=None)
    visit = chat.results[-1].replies[0].visit
    result = chat.step(SendFailed("s1", NOW, task_id="t1", error="undeliverable", visit=visit))
    assert result.outcome == "send_failed"
    assert chat.conv.state == "no_answer"
    assert chat.conv.data["status"] == "no answer"
    assert result.trace == (
        ("remind", "failed:remind", "undeliverable"),
        ("undeliverable", "route:undeliverable", "no_answer"),
    )


def test_send_failed_of_another_visit_is_ignored() -> None:
    """A failure reported for an earlier visit's message changes nothing."""
    chat = _appointment()
    before = chat.conv
    result = chat.step(SendFailed("s1", NOW, "t1", "undeliverable", visit=before.visit - 1))
    assert result.outcome == "ignored"
    assert result.conversation == before
    assert "send failed" in result.detail


# -- languages ------------------------------------------------------------------------------------


def test_lang_picks_the_say_labels_and_reprompt() -> None:
    """`data.lang` picks the per-language `say:`, button labels and re-prompt."""
    chat = _appointment("es")
    (reply,) = chat.results[-1].replies
    assert reply.text.startswith("Hola Ana, le recordamos su cita en City Clinic")
    assert [b.title for b in reply.buttons] == ["Confirmar", "Cambiar"]
    result = chat.say("quizás")
    assert _texts(result)[0].startswith("Responda 1 para confirmar o 2 para cambiarla.\nHola")


@pytest.mark.parametrize(("text", "state"), [("si", "confirmed"), ("sí", "confirmed")])
def test_spanish_synonym_chooses_the_option(text: str, state: str) -> None:
    """A Spanish synonym ("si") chooses Confirm for a conversation in Spanish."""
    chat = _appointment("es")
    chat.say(text)
    assert chat.conv.state == state


# -- trace and machines ---------------------------------------------------------------------------


def test_trace_lists_every_move_of_a_step() -> None:
    """The trace is (source, trigger, dest) per move: start, option, route, timer."""
    chat = _appointment()
    assert chat.results[-1].trace == ((IDLE, START, "remind"),)
    assert chat.say("2").trace == (("remind", "opt:remind:1", "ask_day"),)
    assert chat.say("maybe").trace == ()
    other = _appointment()
    timed = other.step(_timer("timeout", other.conv.visit, at=NOW + 24 * HOUR))
    assert timed.trace == (("remind", "timeout:remind", "no_answer"),)


def test_replies_carry_their_state_and_visit() -> None:
    """Every reply of a state names it and the visit it was sent in (for `on_failed:`)."""
    chat = _appointment()
    result = chat.say("2")
    assert [(r.state, r.visit) for r in result.replies] == [("ask_day", chat.conv.visit)]
    stop = chat.say("stop")
    assert [(r.state, r.visit, r.system) for r in stop.replies] == [("", -1, True)]


def test_no_machine_keeps_a_model_after_steps(
    guards: Engine, calls: Engine, handoff: Engine, collect: Engine
) -> None:
    """After many steps of every kind (one raising mid-move), no flow machine holds more
    than its engine's one model, nor any conversation's data."""
    engines = (EXAMPLE, guards, calls, handoff, collect)
    chat = _appointment()
    for text in ("maybe", "agent", "hi", "stop", "start", "hi", "2", "restart", "1"):
        chat.say(text)
    chat.step(_timer("timeout", chat.conv.visit))
    verify = _verifying(_codes("123456"))
    verify.say("000000")
    verify.say("123456")
    scored = Chat(guards).step(_flow("score", score=3))
    Chat(guards).step(_flow("counter"))
    with pytest.raises(RuntimeError):
        Chat(guards).step(_flow("forever"))
    assert Chat(guards).step(_flow("score", score=3)) == scored  # moves on as before
    _calling(calls).step(_answer(1, "success", 200, {}))
    _handed_off(handoff).step(Resume("r", NOW))
    Chat(collect).step(_flow("integer"))
    for engine in engines:
        for flow in engine.catalog.flows.values():
            assert len(flow.machine.models) <= 1, flow.name
            for model in flow.machine.models:
                assert not {"conv", "data", "slots", "customer"} & set(vars(model)), flow.name


# -- the space ------------------------------------------------------------------------------------

SPACE = "cams-83m8j9xxxxadc"


def _spaced(engine: Engine, ctx: StepContext = CTX, *, last_inbound_ms: int = NOW - MINUTE) -> Chat:
    return Chat(engine, Conversation(last_inbound_ms=last_inbound_ms, space=SPACE), ctx)


def test_the_space_survives_every_kind_of_step(
    calls: Engine, handoff: Engine, versions: tuple[Engine, Engine]
) -> None:
    """The engine never reads the conversation's space and never drops it: whatever a step
    does (start a flow, move on, switch flows, restart, end, migrate to a new version, hand
    off and resume, opt out and in, time out, answer a call, verify a code, fail a send),
    the conversation it returns has the space it was given."""
    chats: list[Chat] = []

    def spaced(engine: Engine, ctx: StepContext = CTX, **kwargs: int) -> Chat:
        chat = _spaced(engine, ctx, **kwargs)
        chats.append(chat)
        return chat

    # Started by an intent, moved on, reprompted, switched to another flow, restarted,
    # stopped and started again.
    chat = spaced(EXAMPLE)
    chat.step(_intent("appointment_reminder", name="Ana"))
    chat.say("maybe")
    chat.say("2")
    chat.say("someday")
    chat.step(_intent("delivery_started", address="1 Main St", order="A-1"))
    chat.say("restart")
    chat.say("stop")
    chat.say("start")
    # A queued intent started as the flow ends; a value collected, one invalid, escalated.
    chat = spaced(EXAMPLE)
    chat.step(_intent("appointment_reminder", name="Ana"))
    chat.step(_intent("csat_survey", order="A-17"))
    chat.say("1")
    chat.say("nine")
    chat.say("nine")
    chat.step(_flow("csat"))
    chat.say("1")
    # The agent command: an agent's reply, a forwarded message, resumed; its timeout.
    chat = spaced(EXAMPLE)
    chat.step(_intent("appointment_reminder", name="Ana"))
    chat.say("agent")
    chat.step(AgentReply("a1", NOW, "Hello, Ana"))
    chat.say("thanks")
    chat.step(Resume("r1", NOW))
    chat.say("agent")
    chat.step(_timer("agent", chat.conv.visit, at=NOW + 2 * HOUR))
    # Timers: a reminder, then the timeout.
    chat = spaced(EXAMPLE)
    chat.step(_intent("appointment_reminder", name="Ana"))
    chat.step(_timer("remind0", chat.conv.visit, at=NOW + 2 * HOUR))
    chat.step(_timer("timeout", chat.conv.visit, at=NOW + 24 * HOUR))
    # A business-system call and its answer.
    chat = spaced(calls)
    chat.step(_flow("api", order="a-1"))
    chat.step(_answer(chat.conv.visit, "success", 200, {"status": "sent"}))
    # A one-time code: a wrong one, a resend asked too soon, one resent, the right one.
    chat = spaced(EXAMPLE, _codes("123456", "987654"))
    chat.say("hi")
    chat.say("2")
    chat.say("000000")
    chat.say("resend", at=NOW + 10 * SECOND)
    chat.say("resend", at=NOW + 30 * SECOND)
    chat.say("987654", at=NOW + 30 * SECOND)
    # A handoff state: a message forwarded, resumed; another one timed out.
    chat = spaced(handoff)
    chat.step(_flow("help"))
    chat.say("hello")
    chat.step(Resume("r1", NOW))
    chat = spaced(handoff)
    chat.step(_flow("help"))
    chat.step(_timer("handoff", chat.conv.visit, at=NOW + HOUR))
    # A send that failed for good.
    chat = spaced(EXAMPLE, last_inbound_ms=0)
    chat.step(_intent("appointment_reminder", name="Ana"))
    chat.step(SendFailed("s1", NOW, "t1", "undeliverable", visit=chat.conv.visit))
    # A new version of the flow: a state kept, one migrated, one removed; a flow removed.
    _, v2 = versions
    for state in ("kept", "ask", "dropped"):
        chats.append(Chat(v2, replace(_on_v1(versions, state), space=SPACE)))
        chats[-1].say("next")
    chats.append(Chat(v2, Conversation(flow="gone", state="somewhere", space=SPACE)))
    chats[-1].say("hi")
    assert [chat.conv.flow for chat in chats[-4:]] == ["f", "f", None, None]  # two ended

    results = [result for chat in chats for result in chat.results]
    assert {result.conversation.space for result in results} == {SPACE}
    # Every kind of step was taken.
    assert {result.outcome for result in results} >= {
        Outcome.STARTED, Outcome.ADVANCED, Outcome.ENDED, Outcome.REPROMPTED,
        Outcome.COLLECTED, Outcome.INVALID, Outcome.ESCALATED, Outcome.STOPPED,
        Outcome.OPTED_IN, Outcome.RESTARTED, Outcome.QUEUED, Outcome.TIMED_OUT,
        Outcome.REMINDED, Outcome.CALL_SUCCESS, Outcome.CODE_RETRY,
        Outcome.CODE_RESEND_TOO_SOON, Outcome.CODE_RESENT, Outcome.CODE_VERIFIED, Outcome.FORWARDED,
        Outcome.HANDED_OFF, Outcome.RESUMED, Outcome.AGENT_REPLIED, Outcome.SEND_FAILED,
    }  # fmt: skip
    assert any(move[1] == "migration" for result in results for move in result.trace)


def test_the_engine_never_builds_a_conversation_of_its_own() -> None:
    """No module of the engine (bot/flows/ but its tools) calls `Conversation(...)`: each
    conversation a step returns is the one it was given with some fields replaced, so the
    fields the engine knows nothing of (the space) are kept by construction."""
    engine = ROOT / "bot" / "flows"
    built = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted(engine.rglob("*.py"))
        if not path.is_relative_to(engine / "tools")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "Conversation"
    ]
    assert built == []


# -- answers that are not written ------------------------------------------------------------

MEDIA_FLOWS = """
defaults:
  inbound_flow: claim
flows:
  claim:
    start: photo
    states:
      photo:
        say: "A photo of the parcel, please."
        collect: {slot: parcel, type: image, go: anything}
      anything:
        say: "Anything else to show us?"
        collect: {slot: extra, type: media, go: words}
      words:
        say: "What happened?"
        collect: {slot: story, type: text, go: pick}
      pick:
        say: "1 to send, 2 to cancel."
        options:
          - {label: Send, go: sent}
          - {label: Cancel, go: sent}
      sent: {say: "Sent."}
"""
PHOTO = {"kind": "image", "id": "m-1", "url": "https://cams.example/m-1.jpg", "caption": "1"}


def _media(kind: str, media: dict[str, object], caption: str = "") -> Inbound:
    return Inbound(message_id=f"m-{kind}", at_ms=NOW, kind=kind, text=caption, media=media)


def test_a_photo_answers_an_image_slot_and_anything_else_is_asked_again(
    tmp_path: Path,
) -> None:
    """An image slot keeps the photo's details; a text or a document there gets "Please send
    a photo." (in the conversation's language); a `media` slot takes a location; a text slot
    asks for words when a photo comes, caption or not; a photo captioned "1" chooses no
    option."""
    engine = _engine(tmp_path, MEDIA_FLOWS)
    conv = engine.step(Conversation(), _msg("hi"), NOW).conversation
    for wrong in (_msg("here"), _media("document", {"kind": "document", "id": "d"})):
        result = engine.step(conv, wrong, NOW)
        assert (result.outcome, _texts(result)) == ("invalid", ["Please send a photo."])
        conv = result.conversation
    spanish = replace(conv, data={**conv.data, "lang": "es"})
    assert _texts(engine.step(spanish, _msg("aquí"), NOW)) == ["Por favor, envía una foto."]
    result = engine.step(conv, _media("image", PHOTO, caption="1"), NOW)
    assert result.outcome == "collected"
    assert result.conversation.data["parcel"] == PHOTO
    place = {"kind": "location", "latitude": 1.5, "longitude": 2.5}
    result = engine.step(result.conversation, _media("location", place), NOW)
    assert result.conversation.data["extra"] == place
    assert result.conversation.state == "words"
    result = engine.step(result.conversation, _media("image", PHOTO, caption="it broke"), NOW)
    assert _texts(result) == ["Please send your reply as a text."]
    result = engine.step(result.conversation, _msg("it broke"), NOW)
    assert result.conversation.state == "pick"
    result = engine.step(result.conversation, _media("image", PHOTO, caption="1"), NOW)
    assert result.outcome == "reprompted"
    assert engine.step(result.conversation, _msg("1"), NOW).conversation.state == "sent"


def test_a_text_without_the_customers_language_says_so_in_the_step(tmp_path: Path) -> None:
    """A Spanish customer reaching a state written in English alone gets it in English, and
    the step says `es` was missing (the history keeps it); an English customer's step, or a
    Spanish customer's where the text has Spanish, says nothing."""
    flows = """
    flows:
      f:
        start: ask
        states:
          ask:
            say: {en: "1 or 2?", es: "¿1 o 2?"}
            options: [{label: {en: One, es: Uno}, go: done}]
          done: {say: "Done."}
    """
    engine = _engine(tmp_path, flows, {"f": "code: f\nname: f\nstart: f"})
    spanish = engine.step(Conversation(), _flow("f", lang="es"), NOW)
    assert (_texts(spanish), spanish.missing_language) == (["¿1 o 2?"], "")
    done = engine.step(spanish.conversation, _msg("1"), NOW)
    assert (_texts(done), done.missing_language) == (["Done."], "es")
    english = engine.step(Conversation(), _flow("f"), NOW)
    assert engine.step(english.conversation, _msg("1"), NOW).missing_language == ""
    entry = history_step('{"t":"in"}', "f/ask", "f/done", "ended", "[]", ["t.1.0"],
                         missing_language="es")  # fmt: skip
    assert history_from_element(f"1-0|{entry}").missing_language == "es"


def test_the_bots_own_texts_speak_six_languages_and_say_when_they_do_not(
    tmp_path: Path,
) -> None:
    """A French customer's unknown reply and invalid number get the built-in re-prompts in
    French, and STOP its confirmation; an Italian customer gets the built-in re-prompt of a
    collect in English, and the step says `it` was missing."""
    flows = """
    flows:
      f:
        start: ask
        states:
          ask:
            say: {en: "1 or 2?", fr: "1 ou 2 ?", it: "1 o 2?"}
            options: [{label: {en: One, fr: Un, it: Uno}, go: count}]
          count:
            say: {en: "How many?", fr: "Combien ?", it: "Quanti?"}
            collect: {slot: n, type: integer, min: 1, max: 5, go: done}
          done: {say: {en: "Done.", fr: "Fini.", it: "Fatto."}}
    """
    engine = _engine(tmp_path, flows, {"f": "code: f\nname: f\nstart: f"})
    french = engine.step(Conversation(), _flow("f", lang="fr_BE"), NOW).conversation
    result = engine.step(french, _msg("quoi ?"), NOW)
    assert _texts(result) == ["Désolé, je n'ai pas compris.\n1 ou 2 ?"]
    assert result.missing_language == ""
    result = engine.step(engine.step(french, _msg("1"), NOW).conversation, _msg("9"), NOW)
    assert _texts(result) == ["Veuillez envoyer un nombre entier entre 1 et 5."]
    assert result.missing_language == ""
    stopped = engine.step(french, _msg("arrêt"), NOW)
    assert _texts(stopped) == [
        "Vous ne recevrez plus de messages de notre part. Répondez DÉMARRER pour les "
        "recevoir à nouveau."
    ]
    italian = engine.step(Conversation(), _flow("f", lang="it"), NOW).conversation
    result = engine.step(engine.step(italian, _msg("1"), NOW).conversation, _msg("9"), NOW)
    assert _texts(result) == ["Please send a whole number between 1 and 5."]
    assert result.missing_language == "it"


def test_an_empty_media_message_answers_nothing_and_a_regional_default_notes_nothing(
    tmp_path: Path,
) -> None:
    """A location without coordinates, or a photo with neither id nor URL, is asked again;
    with `defaults.language: en-US` and texts written without languages, a customer of no
    `lang` (or `EN_gb`) is noted as missing nothing, a Spanish one `es`."""
    engine = _engine(tmp_path / "media", MEDIA_FLOWS)
    conv = engine.step(Conversation(), _msg("hi"), NOW).conversation
    assert engine.step(conv, _media("image", {"kind": "image"}), NOW).outcome == "invalid"
    conv = engine.step(conv, _media("image", PHOTO), NOW).conversation
    nowhere = _media("location", {"kind": "location", "name": "Home"})
    assert engine.step(conv, nowhere, NOW).outcome == "invalid"
    regional = MEDIA_FLOWS.replace("defaults:\n", "defaults:\n  language: en-US\n", 1)
    engine = _engine(tmp_path / "regional", regional)
    for lang, noted in ((None, ""), ("EN_gb", ""), ("es", "es")):
        data = {"lang": lang} if lang else {}
        result = engine.step(Conversation(data=data), _msg("hi"), NOW)
        assert result.missing_language == noted, lang


def test_a_list_of_options_speaks_the_customers_language(tmp_path: Path) -> None:
    """Four options as buttons go as a list: its button and heading from defaults.texts in
    the conversation's language (Spanish here, English by default), each row with its
    description; three go as buttons, without list words."""
    flows = """
    flows:
      f:
        start: pick
        states:
          pick:
            say: {en: "Which day?", es: "¿Qué día?"}
            buttons: true
            options:
              - {label: {en: Monday, es: Lunes}, description: {en: "9-12", es: "9-12 h"}, go: ok}
              - {label: {en: Tuesday, es: Martes}, go: ok}
              - {label: {en: Wednesday, es: Miércoles}, go: ok}
              - {label: {en: Thursday, es: Jueves}, go: ok}
          ok: {say: {en: "Done.", es: "Hecho."}}
    """
    engine = _engine(tmp_path, flows, {"f": "code: f\nname: f\nstart: f"})
    [spanish] = engine.step(Conversation(), _flow("f", lang="es"), NOW).replies
    assert (spanish.list_button, spanish.list_title) == ("Elegir", "Opciones")
    assert spanish.buttons[0] == Button("Lunes", spanish.buttons[0].payload, "9-12 h")
    assert spanish.buttons[1].description == ""
    [english] = engine.step(Conversation(), _flow("f"), NOW).replies
    assert (english.list_button, english.list_title) == ("Choose", "Options")
    three = flows.replace("              - {label: {en: Thursday, es: Jueves}, go: ok}\n", "")
    engine = _engine(tmp_path / "three", three, {"f": "code: f\nname: f\nstart: f"})
    [short] = engine.step(Conversation(), _flow("f"), NOW).replies
    assert (len(short.buttons), short.list_button) == (3, "")


def test_audio_goes_after_its_text_and_a_pin_off_the_globe_is_not_sent(tmp_path: Path) -> None:
    """Audio has no caption: the text goes first, then the audio. A location whose data
    does not make a place on the globe sends the text alone. Both replies keep what they
    send through the outbox's stored form."""
    flows = """
    defaults:
      inbound_flow: f
    flows:
      f:
        start: voice
        data: {lat: "north", lon: "2"}
        states:
          voice:
            say: "Listen:"
            media: {type: audio, url: "https://cdn.example.com/a/{{ customer }}.ogg"}
            routes: [{go: pin}]
          pin:
            say: "Here:"
            location: {latitude: "{{ lat }}", longitude: "{{ lon }}"}
    """
    engine = _engine(tmp_path, flows)
    result = engine.step(Conversation(), _msg("hi"), NOW)
    texts = [(r.text, r.media, r.location) for r in result.replies]
    assert texts == [
        ("Listen:", None, None),
        ("", Media("audio", "https://cdn.example.com/a/.ogg"), None),
        ("Here:", None, None),
    ]
    for reply in result.replies:
        assert reply_from_json(reply_to_json(reply)) == reply
    pin = Reply(location=Location(1.5, -2.25, "Depot", "Main St"))
    assert reply_from_json(reply_to_json(pin)) == pin


HOSTILE = "../x?y#z"  # what a customer might give to change a URL's structure
RICH = """
templates:
  parcel:
    languages: [en]
    category: utility
    params: [name]
    header: image
    header_param: photo
    buttons: [url]
    button_params: [parcel_id]
  invoice: {languages: [en], category: utility, header: document}
flows:
  rich:
    start: notify
    data: {name: "", id: ""}
    states:
      notify:
        template:
          code: parcel
          header: "https://cdn.example.com/p/{{ id }}.jpg?size=l"
          params: {name: "{{ name }}", parcel_id: "{{ id }}"}
        routes: [{go: bill}]
      bill:
        template: {code: invoice, header: "https://cdn.example.com/i/{{ id }}/final bill.pdf"}
"""


def test_a_templates_header_and_url_button_values_keep_the_urls_shape(tmp_path: Path) -> None:
    """Outside the window a template goes with its media header's URL (data in it
    percent-encoded, as in a media URL) under the catalogue's `header_param`, and a URL
    button's variable as one path segment; other variables as they are. A document header
    is named by its URL's last part. Both keep it all through the outbox's stored form."""
    engine = _engine(tmp_path, RICH)
    result = engine.step(Conversation(), _flow("rich", name="Ana/B?", id=HOSTILE), NOW)
    notify, bill = (r.template for r in result.replies)
    assert notify == Template(
        "parcel", "en", {"name": "Ana/B?", "parcel_id": "..%2Fx%3Fy%23z"},
        Media("image", "https://cdn.example.com/p/..%2Fx%3Fy%23z.jpg?size=l"), "photo",
    )  # fmt: skip
    assert bill == Template("invoice", "en", {}, Media(
        "document", "https://cdn.example.com/i/..%2Fx%3Fy%23z/final%20bill.pdf",
        "final bill.pdf"))  # fmt: skip
    for reply in result.replies:
        assert reply_from_json(reply_to_json(reply)) == reply


def test_a_media_url_encodes_the_data_it_holds(tmp_path: Path) -> None:
    """A photo's URL has its data percent-encoded: a customer's `../x?y#z` stays one path
    segment and adds no query."""
    flows = """
    flows:
      f:
        start: photo
        data: {item: ""}
        states:
          photo:
            say: "As packed."
            media: {type: image, url: "https://cdn.example.com/parcels/{{ item }}.jpg"}
    """
    engine = _engine(tmp_path, flows)
    conv = Conversation(last_inbound_ms=NOW - MINUTE)
    [reply] = engine.step(conv, _flow("f", item=HOSTILE), NOW).replies
    assert reply.media == Media("image", "https://cdn.example.com/parcels/..%2Fx%3Fy%23z.jpg")


TRACK = """
flows:
  track:
    start: show
    data: {parcel_id: ""}
    states:
      show:
        say: {en: "Your parcel is on its way.", es: "Su paquete está en camino."}
        link:
          label: {en: "Track parcel", es: "Seguir envío"}
          url: "https://track.example.com/p/{{ parcel_id }}?from=bot"
"""


def test_a_link_goes_with_the_text_in_the_customers_language(tmp_path: Path) -> None:
    """A state's `link:` is one reply: the text, and the button's label in the customer's
    language and its URL, data in it percent-encoded (`../x?y#z` one path segment); it
    keeps them through the outbox's stored form."""
    engine = _engine(tmp_path, TRACK)
    conv = Conversation(last_inbound_ms=NOW - MINUTE)
    [reply] = engine.step(conv, _flow("track", parcel_id=HOSTILE, lang="es"), NOW).replies
    assert (reply.text, reply.link) == ("Su paquete está en camino.", Link(
        "Seguir envío", "https://track.example.com/p/..%2Fx%3Fy%23z?from=bot"))  # fmt: skip
    assert reply_from_json(reply_to_json(reply)) == reply
    [english] = engine.step(conv, _flow("track", parcel_id="A-1", lang="pt"), NOW).replies
    assert english.link == Link("Track parcel", "https://track.example.com/p/A-1?from=bot")
