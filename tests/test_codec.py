"""The stored forms (bot/store/codec.py): each value comes back as it went in, the forms are
byte for byte what the release before wrote, and what that release stored is still read."""

from __future__ import annotations

from typing import get_args

import pytest

from bot.errors import CallRefused
from bot.model import (
    Address,
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
    Media,
    PartKind,
    Reply,
    Restart,
    Resume,
    SendFailed,
    Template,
    Timer,
    TimerFired,
)
from bot.store import (
    address_from_entry,
    call_from_json,
    call_to_json,
    conversation_fields,
    conversation_from_hash,
    event_from_json,
    event_to_json,
    parse_timer_member,
    reply_from_json,
    reply_to_json,
    timer_member,
)

EVENTS: list[Event] = [
    Inbound("m1", 1, "reply", text="Oui ✓", payload="yes", raw_type="REPLY", space="sp"),
    IntentStart("api:k", 2, "promo", {"n": 1, "who": "Zoë"}, policy="reject"),
    IntentStart("chat", 3, "", flow="menu"),
    TimerFired("timer:4:remind", 4, "remind", 4),
    CallResult("call:5", 5, 5, "success", 200, {"eta": [1, 2]}),
    Resume("resume:1", 6, go="done"),
    AgentReply("agent:1", 7, "Hello"),
    Restart("api-restart:k", 9, space="sp"),
    SendFailed("send:t.1.0", 8, "t.1.0", "131026: undeliverable", 3),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_every_event_comes_back_as_it_went_in(event: Event) -> None:
    """An event read back from its stored form equals the event stored."""
    assert event_from_json(event_to_json(event)) == event


def test_every_kind_of_event_is_stored_and_tested() -> None:
    """Each event type of the `Event` union has a stored form, tested above."""
    assert {type(e) for e in EVENTS} == set(get_args(Event))
    assert event_to_json(Restart("r", 1)) == '{"t":"restart","message_id":"r","at_ms":1}'


def test_event_forms_are_compact_and_leave_defaults_out() -> None:
    """An event is stored as compact JSON, text unescaped, fields at their default left out."""
    ev = Inbound("m1", 1700000000123, "text", text="Zoë")
    assert event_to_json(ev) == (
        '{"t":"in","message_id":"m1","at_ms":1700000000123,"kind":"text","text":"Zoë"}'
    )


def test_a_send_failed_event_made_by_the_release_before_is_read() -> None:
    """The SendFailed the previous status script encoded in Lua (every field, in any
    order) reads as the one made in Python now."""
    stored = (
        '{"visit":3,"error":"131026","at_ms":1700000000123,"task_id":"t.1.0",'
        '"message_id":"status:t.1.0","t":"failed"}'
    )
    made = SendFailed("status:t.1.0", 1700000000123, "t.1.0", "131026", 3)
    assert event_from_json(stored) == made
    assert event_from_json(event_to_json(made)) == made
    at_defaults = (
        '{"t":"failed","message_id":"status:t","at_ms":5,"task_id":"t","error":"","visit":-1}'
    )
    assert event_from_json(at_defaults) == SendFailed("status:t", 5, "t", "")


def test_replies_come_back_and_keep_their_stored_form() -> None:
    """A reply comes back equal, stored as the worker stored it before (same keys, order)."""
    replies = [
        Reply(text="hi", state="tell", visit=3),
        Reply(text="Pick", buttons=(Button("Red", "r"), Button("Blue", "b"))),
        Reply(template=Template("remind", "en", {"date": "Mon"}), fallback=Fallback("f", "x", 60)),
        Reply(text="Bye", system=True),
        Reply(),
    ]
    for reply in replies:
        assert reply_from_json(reply_to_json(reply)) == reply
    assert reply_to_json(replies[0]) == '{"state":"tell","visit":3,"text":"hi"}'
    assert reply_to_json(replies[2]) == (
        '{"fallback":["f","x",60],"template":{"code":"remind","language":"en",'
        '"params":{"date":"Mon"}}}'
    )
    assert reply_to_json(Reply()) == "{}"
    assert reply_from_json('{"text":"old"}') == Reply(text="old")


def test_a_templates_header_is_stored_with_it_and_old_templates_read_without() -> None:
    """A template's media header and the variable its URL goes as are kept in its stored
    form; a template stored before headers reads as one without a header."""
    header = Media("document", "https://cdn.example.com/i/A%2F1.pdf", "A/1.pdf")
    reply = Reply(template=Template("invoice", "es", {"n": "1"}, header, "file"))
    assert reply_from_json(reply_to_json(reply)) == reply
    assert reply_to_json(reply) == (
        '{"template":{"code":"invoice","language":"es","params":{"n":"1"},"header":'
        '["document","https://cdn.example.com/i/A%2F1.pdf","A/1.pdf"],"header_param":"file"}}'
    )
    old = reply_from_json('{"template":{"code":"remind","language":"en","params":{"d":"M"}}}')
    assert old.template == Template("remind", "en", {"d": "M"})
    assert (old.template.header, old.template.header_param) == (None, "link")


def test_calls_come_back_and_legacy_ones_are_read_or_refused() -> None:
    """A call comes back equal; one stored with plain-string URL and headers is read, and
    refused, with its kind, method and visit, when it holds a secret marker."""
    call = CallRequest(
        "http", "POST", ((PartKind.TEXT, "https://a/"), (PartKind.DATA, "x y")),
        {"Authorization": ((PartKind.TEXT, "Bearer "), (PartKind.SECRET, "TOKEN"))},
        {"n": 1}, 5.0, 2,
    )  # fmt: skip
    assert call_from_json(call_to_json(call)) == call
    assert call_to_json(call).startswith('{"kind":"http","method":"POST","url":[["t","https://a/"]')
    legacy = (
        '{"kind":"http","method":"GET","url":"https://a/1","headers":{"X":"1"},'
        '"body":null,"timeout_s":1.0,"visit":4}'
    )
    read = call_from_json(legacy)
    assert (read.url, read.headers) == (
        ((PartKind.TEXT, "https://a/1"),),
        {"X": ((PartKind.TEXT, "1"),)},
    )
    with pytest.raises(CallRefused, match="secret marker") as refused:
        call_from_json(legacy.replace("https://a/1", "https://a/${secret:KEY}"))
    assert (refused.value.kind, refused.value.method, refused.value.visit) == ("http", "GET", 4)


def test_conversations_come_back_and_old_hashes_are_read() -> None:
    """A conversation comes back from its hash; a hash without the fields added later
    (written by an earlier release) reads them as their defaults."""
    conv = Conversation(
        flow="f", state="s", version=7, flow_version="fv", data={"a": "Zoë"},
        last_inbound_ms=9, visit=3, attempts=1, opted_out=True, handoff="agent",
        resume_to="s2", queue=({"code": "x"},), timers=(Timer("t", 99),),
        otp={"hash": "h"},
        space="space",
    )  # fmt: skip
    fields = conversation_fields(conv, active=True)
    raw = {k.encode(): v.encode() for k, v in zip(fields[::2], fields[1::2], strict=True)}
    raw[b"v"] = b"7"
    assert conversation_from_hash(raw) == conv
    old = {b"v": b"2", b"f": b"f", b"s": b"s", b"d": b"{}", b"li": b"1", b"sp": b""}
    assert conversation_from_hash(old) == Conversation(
        flow="f", state="s", version=2, last_inbound_ms=1
    )
    assert conversation_from_hash({}) == Conversation()


def test_an_outbox_entrys_conversation_and_space_are_its_address() -> None:
    """An entry's `c` and `s` are where its reply goes; the space is not the conversation's
    id, and a conversation id may hold `:` in its last part."""
    assert address_from_entry("cams:whatsapp:861:8613900000001", "cams-sp") == Address(
        ConversationRef("cams", "whatsapp", "861", "8613900000001"), "cams-sp"
    )
    to = address_from_entry("tencent:1400:bot:a:b", "")
    assert (to.ref.id, to.ref.customer, to.space) == ("tencent:1400:bot:a:b", "a:b", "")


def test_timer_members_come_back() -> None:
    """A timer's member names its visit, its name and its conversation (which may hold |)."""
    member = timer_member("cams:w:1:2|x", 4, "remind")
    assert member == "4|remind|cams:w:1:2|x"
    assert parse_timer_member(member.encode()) == ("cams:w:1:2|x", 4, "remind")
