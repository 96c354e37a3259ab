"""The stored form of each value the store keeps, and the way back: one encoder and one
decoder each. Everything else (the Lua scripts included) moves these forms as opaque strings.

    event         JSON `{"t": TYPE, ...}` with the fields not at their defaults: an inbox
                  entry's `e`, a dead letter's `e`
    reply         JSON of the fields set (`text`, `buttons`, `list`, `media`, `location`,
                  `link`, `template` with its `header` and `header_param`, `fallback`,
                  `state` and `visit`, `system`, `marketing`): an outbox entry's `r`, a
                  dead letter's `r`
    call          JSON of every field, URL and header values as [kind, text] parts: a call
                  entry's `r`
    conversation  the hash fields `f s fv d li sp vi at o a h rt q tm otp` (and `v`, which the
                  commit script keeps); `sp` is its `space`
    address       an outbox entry's `c` (the conversation id) and `s` (the conversation's
                  space when the step committed); a call entry's `c` and `s` likewise
    timer         a member `visit|name|conv` of the partition's timers, scored by its due time
    history       an element `ID|JSON` of a conversation's history list, ID `MS-SEQ` (when
                  it was written, by Redis's clock, which the script adds), JSON with `k`
                  (its HistoryKind); a step's `e` (event), `f` and `s` (from and to
                  `flow/state`), `o` (outcome), `r` (its replies) and `t` (their task ids);
                  the others' `tk` (task id), `st` (status), `err`, `mid`
    counters      a hash of counters, HINCRBY integers and HINCRBYFLOAT decimals
    campaign      JSON of a CampaignSpec's fields (quiet hours as `21:00-08:00`): its hash's
                  `spec`; a recipient, JSON `{"d": data, "z": time zone}`

Every form is read as the current release writes it and as every earlier one wrote it: a
field added later is optional (absent means its default), a call stored with plain-string
URL and headers is read (and refused when it holds a secret marker).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.campaign import CampaignSpec, Category, MidFlow, QuietHours
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
    HistoryEntry,
    HistoryKind,
    Inbound,
    IntentStart,
    Link,
    Location,
    Media,
    Part,
    PartKind,
    Parts,
    Reply,
    Restart,
    Resume,
    SendFailed,
    Template,
    Timer,
    TimerFired,
)


def dumps(value: Any) -> str:
    """Compact JSON, text as it is (not \\u-escaped)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text(value: bytes | str) -> str:
    """A string Redis answered, as text."""
    return value.decode() if isinstance(value, bytes) else value


# -- events ----------------------------------------------------------------------------------

_EVENT_TYPES: dict[str, type[Any]] = {
    "in": Inbound,
    "intent": IntentStart,
    "timer": TimerFired,
    "call": CallResult,
    "resume": Resume,
    "agent": AgentReply,
    "restart": Restart,
    "failed": SendFailed,
}


def event_to_json(event: Event) -> str:
    """Compact JSON of an event: fields at their defaults are left out."""
    d: dict[str, Any] = {"t": event.type}
    for name in event.__dataclass_fields__:
        if name == "type":
            continue
        value = getattr(event, name)
        default = event.__dataclass_fields__[name].default
        if value == default or (value == {} and name == "data"):
            continue
        d[name] = value
    return dumps(d)


def event_from_json(raw: str | bytes) -> Event:
    d = json.loads(raw)
    cls = _EVENT_TYPES[d.pop("t")]
    event: Event = cls(**d)
    return event


# -- replies ---------------------------------------------------------------------------------


def _button(b: Button) -> list[str]:
    """A button as stored: [title, payload], then its description and section if any."""
    if b.section:
        return [b.title, b.payload, b.description, b.section]
    return [b.title, b.payload, b.description] if b.description else [b.title, b.payload]


def reply_to_json(reply: Reply) -> str:
    d: dict[str, Any] = {}
    if reply.system:
        d["system"] = True
    if reply.marketing:
        d["marketing"] = True
    if reply.fallback is not None:
        d["fallback"] = [reply.fallback.id, reply.fallback.content, reply.fallback.duration]
    if reply.state:
        d["state"], d["visit"] = reply.state, reply.visit
    if reply.text:
        d["text"] = reply.text
    if reply.buttons:
        d["buttons"] = [_button(b) for b in reply.buttons]
    if reply.list_button or reply.list_title:
        d["list"] = [reply.list_button, reply.list_title]
    if reply.media is not None:
        d["media"] = [reply.media.kind, reply.media.url, reply.media.filename]
    if reply.location is not None:
        loc = reply.location
        d["location"] = [loc.latitude, loc.longitude, loc.name, loc.address]
    if reply.link is not None:
        d["link"] = [reply.link.label, reply.link.url]
    if reply.template is not None:
        t = reply.template
        d["template"] = {"code": t.code, "language": t.language, "params": t.params}
        if t.header is not None:
            d["template"]["header"] = [t.header.kind, t.header.url, t.header.filename]
            d["template"]["header_param"] = t.header_param
    return dumps(d)


def _template_from(t: dict[str, Any]) -> Template:
    header = t.get("header")
    return Template(
        t["code"], t["language"], dict(t.get("params", {})),
        header=Media(*header) if header else None,
        header_param=t.get("header_param", "link"),
    )  # fmt: skip


def reply_from_json(raw: str | bytes) -> Reply:
    d = json.loads(raw)
    t = d.get("template")
    fb = d.get("fallback")
    return Reply(
        text=d.get("text", ""),
        buttons=tuple(Button(*b) for b in d.get("buttons", ())),
        list_button=d.get("list", ("", ""))[0],
        list_title=d.get("list", ("", ""))[1],
        media=Media(*d["media"]) if d.get("media") else None,
        location=Location(*d["location"]) if d.get("location") else None,
        link=Link(*d["link"]) if d.get("link") else None,
        template=_template_from(t) if t else None,
        fallback=Fallback(fb[0], fb[1], fb[2]) if fb else None,
        state=d.get("state", ""),
        visit=d.get("visit", -1),
        system=d.get("system", False),
        marketing=d.get("marketing", False),
    )


# -- calls -----------------------------------------------------------------------------------


def call_to_json(call: CallRequest) -> str:
    return dumps(
        {
            "kind": call.kind,
            "method": call.method,
            "url": [list(p) for p in call.url],
            "headers": {k: [list(p) for p in v] for k, v in call.headers.items()},
            "body": call.body,
            "timeout_s": call.timeout_s,
            "visit": call.visit,
        }
    )


def call_from_json(raw: str | bytes) -> CallRequest:
    """Raises CallRefused for a call that must not be made as stored."""
    d = json.loads(raw)
    try:
        url = _legacy_parts(d["url"])
        headers = {str(k): _legacy_parts(v) for k, v in d["headers"].items()}
    except ValueError as e:
        raise CallRefused(str(e), kind=d["kind"], method=d["method"], visit=int(d["visit"])) from e
    return CallRequest(
        kind=d["kind"],
        method=d["method"],
        url=url,
        headers=headers,
        body=d["body"],
        timeout_s=d["timeout_s"],
        visit=d["visit"],
    )


def _parts(value: Any) -> Parts:
    """Parts from their stored form, a list of [kind, text] pairs; ValueError otherwise."""
    if not isinstance(value, list | tuple):
        raise ValueError("call text: expected a list of [kind, text] parts")
    parts: list[Part] = []
    for item in value:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or item[0] not in PartKind.__members__.values()
            or not isinstance(item[1], str)
        ):
            raise ValueError("call text: a part is not [kind, text]")
        parts.append((item[0], item[1]))
    return tuple(parts)


def _legacy_parts(value: Any) -> Parts:
    """A URL or header value stored as one string (before calls were stored as parts):
    its secrets were `${secret:NAME}` markers mixed with data, which can no longer be told
    apart from a customer's text. Such a value is refused, never filled in."""
    if not isinstance(value, str):
        return _parts(value)
    if "${secret:" in value:
        raise ValueError("a call stored before this version holds a secret marker: not made")
    return ((PartKind.TEXT, value),)


# -- conversations ---------------------------------------------------------------------------


def conversation_fields(conv: Conversation, *, active: bool) -> list[str]:
    """The hash fields of a conversation. `a` (in a flow) and `o` (opted out) are read by
    the intake of business triggers, atomically with their enqueueing; `o`, `cp` (its
    flags: opted out of marketing) and `a` by a campaign recipient's start."""
    return [
        "f", conv.flow or "",
        "s", conv.state or "",
        "fv", conv.flow_version,
        "d", dumps(conv.data),
        "li", str(conv.last_inbound_ms),
        "sp", conv.space,
        "vi", str(conv.visit),
        "at", str(conv.attempts),
        "o", "1" if conv.opted_out else "",
        "a", "1" if active or conv.handoff else "",
        "h", conv.handoff,
        "rt", conv.resume_to,
        "q", dumps(list(conv.queue)) if conv.queue else "",
        "tm", dumps([[t.name, t.due_ms] for t in conv.timers]) if conv.timers else "",
        "otp", dumps(conv.otp) if conv.otp else "",
        "cp", campaign_field(conv),
    ]  # fmt: skip


def campaign_field(conv: Conversation) -> str:
    """A conversation's marketing and campaign state in one field (`cp`), empty for most:
    `FLAGS|CAMPAIGN|COUNTED`, FLAGS `m` (opted out of marketing) and `f` (in a marketing
    campaign's flow), CAMPAIGN the last that messaged it, COUNTED its letters. One field
    rather than four: a conversation hash's every field costs memory, set or not."""
    flags = ("m" if conv.marketing_opted_out else "") + ("f" if conv.marketing_flow else "")
    if not (flags or conv.campaign or conv.campaign_counted):
        return ""
    return f"{flags}|{conv.campaign}|{conv.campaign_counted}"


def opt_out_value(conv: Conversation) -> str:
    """A customer's opt-outs as their opt-out key holds them: `1` (STOP), `m` (STOP
    MARKETING), `1m` (both), "" (none: no key)."""
    return ("1" if conv.opted_out else "") + ("m" if conv.marketing_opted_out else "")


def opt_outs_of_value(value: bytes | str) -> tuple[bool, bool]:
    """(opted out of everything, of marketing) of an opt-out key's value (opt_out_value)."""
    kept = text(value)
    return kept.startswith("1"), kept.endswith("m")


def campaign_state(field: str) -> dict[str, Any]:
    """The Conversation fields of a `cp` field (campaign_field)."""
    flags, _, rest = field.partition("|")
    campaign, _, counted = rest.partition("|")
    return {"marketing_opted_out": "m" in flags, "marketing_flow": "f" in flags,
            "campaign": campaign, "campaign_counted": counted}  # fmt: skip


def conversation_from_hash(raw: dict[bytes, bytes]) -> Conversation:
    """A stored conversation hash -> Conversation (its CustSpaceId in `space`)."""
    if not raw:
        return Conversation()
    get = {k.decode(): v.decode() for k, v in raw.items()}
    return Conversation(
        flow=get.get("f") or None,
        state=get.get("s") or None,
        version=int(get.get("v", "0")),
        flow_version=get.get("fv", ""),
        data=json.loads(get["d"]) if get.get("d") else {},
        last_inbound_ms=int(get.get("li", "0")),
        visit=int(get.get("vi", "0")),
        attempts=int(get.get("at", "0")),
        opted_out=get.get("o") == "1",
        handoff=get.get("h", ""),
        resume_to=get.get("rt", ""),
        queue=tuple(json.loads(get["q"])) if get.get("q") else (),
        timers=tuple(Timer(n, d) for n, d in json.loads(get["tm"])) if get.get("tm") else (),
        otp=json.loads(get["otp"]) if get.get("otp") else None,
        space=get.get("sp", ""),
        **campaign_state(get.get("cp", "")),
    )


# -- addresses -------------------------------------------------------------------------------


def address_from_entry(conv_id: str, space: str) -> Address:
    """Where an outbox entry's reply goes: its conversation id and space, as stored."""
    return Address(ConversationRef.parse(conv_id), space)


# -- timers ----------------------------------------------------------------------------------


def timer_member(conv_id: str, visit: int, name: str) -> str:
    """A timer in the partition's sorted set: `visit|name|conv`, scored by its due time."""
    return f"{visit}|{name}|{conv_id}"


def parse_timer_member(member: str | bytes) -> tuple[str, int, str]:
    """(conv id, visit, name) of a timer's member."""
    visit, name, conv_id = text(member).split("|", 2)
    return conv_id, int(visit), name


# -- history ---------------------------------------------------------------------------------

# The fields of events that hold what a customer, an agent or the business wrote: left out of
# the history when its texts are not kept (BOT_HISTORY_TEXT=false).
_WRITTEN = frozenset({"text", "payload", "data", "body", "space", "media"})


def history_event(event: Event, event_json: str, *, text: bool) -> str:
    """A step's event as its history keeps it: as the inbox kept it (`event_json`, no
    second encoding), or without what was written."""
    if text:
        return event_json
    d: dict[str, Any] = {"t": event.type}
    for name, spec in event.__dataclass_fields__.items():
        value = getattr(event, name)
        if name != "type" and name not in _WRITTEN and value != spec.default:
            d[name] = value
    return dumps(d)


def history_replies(replies: Sequence[Reply], reply_jsons: Sequence[str], *, text: bool) -> str:
    """A step's replies as its history keeps them, a JSON array: as the outbox keeps them
    (`reply_jsons`, joined), or what each was (a text, buttons, a template) without what
    it said."""
    if text:
        return "[" + ",".join(reply_jsons) + "]"
    kept = []
    for reply in replies:
        d: dict[str, Any] = {}
        if reply.text:
            d["text"] = ""
        if reply.buttons:
            d["buttons"] = len(reply.buttons)
        if reply.link is not None:
            d["link"] = ""
        if reply.template is not None:
            d["template"] = {"code": reply.template.code, "language": reply.template.language}
            if reply.template.header is not None:
                d["template"]["header"] = reply.template.header.kind
        kept.append(d)
    return dumps(kept)


def history_step(
    event: str, from_state: str, to_state: str, outcome: str, replies: str, tasks: Sequence[str],
    *, missing_language: str = "",
) -> str:  # fmt: skip
    """A step's history entry: its event and replies as `history_event` and
    `history_replies` made them (joined as they are, not encoded again); `ml`, the
    customer's language when a text had none in it."""
    d: dict[str, Any] = {"k": "step", "f": from_state, "s": to_state, "o": outcome,
                         "t": list(tasks)}  # fmt: skip
    if missing_language:
        d["ml"] = missing_language
    head = dumps(d)
    return f'{head[:-1]},"e":{event},"r":{replies}}}'


def history_send(task: str, *, message_id: str = "", error: str = "") -> str:
    """A reply's history entry once its send is done: sent (the platform's `message_id`)
    or failed for good (`error`)."""
    if message_id:
        return dumps({"k": "sent", "tk": task, "mid": message_id})
    return dumps({"k": "failed", "tk": task, "err": error})


FAILURE_PREFIX = "failed:"
_REASON_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def failure_counter(error: str) -> str:
    """The counter of a send that failed for good, by its reason: `failed:CODE`, CODE the
    platform's error code (what comes before `: ` in `error`) when it is 1-48 characters
    of [A-Za-z0-9._-], else `failed:other`: a counter's name is never a caller's text."""
    code = error.partition(": ")[0]
    ok = 0 < len(code) <= 48 and all(c in _REASON_CHARS for c in code)
    return FAILURE_PREFIX + (code if ok else "other")


def history_status(task: str, status: str, error: str) -> str:
    """A delivery report's history entry."""
    return dumps({"k": "status", "tk": task, "st": status, "err": error})


def history_from_element(element: bytes | str) -> HistoryEntry:
    """An element of a history list, `ID|entry`, as the scripts wrote it."""
    entry_id, _, payload = text(element).partition("|")
    d = json.loads(payload)
    kind = HistoryKind(d["k"])
    at_ms = int(entry_id.partition("-")[0])
    if kind is HistoryKind.STEP:
        return HistoryEntry(
            entry_id,
            at_ms,
            kind,
            event=d.get("e"),
            from_state=d.get("f", ""),
            to_state=d.get("s", ""),
            outcome=d.get("o", ""),
            replies=tuple(d.get("r", ())),
            tasks=tuple(d.get("t", ())),
            missing_language=d.get("ml", ""),
        )
    return HistoryEntry(
        entry_id,
        at_ms,
        kind,
        task=d.get("tk", ""),
        status=d.get("st", ""),
        error=d.get("err", ""),
        message_id=d.get("mid", ""),
    )


# -- flows' counts --------------------------------------------------------------------------

# What the counts of a step name: a move of a flow's machine (flow, from, trigger, to), a
# state entered (flow, state), an exit from a state (flow, state, no_match|timeout|error).
FlowCount = tuple[str, ...]


def flow_count_field(count: FlowCount) -> str:
    """A field of a partition's hourly hash of flows' counts: the count's parts as a JSON
    array (flow and state names may hold any character)."""
    return dumps(list(count))


def flow_count_from_field(field: bytes | str) -> FlowCount:
    return tuple(str(part) for part in json.loads(field))


# -- counters --------------------------------------------------------------------------------


def parse_counters(raw: dict[bytes, bytes]) -> dict[str, float]:
    """A counters hash: HINCRBY values as int, HINCRBYFLOAT ones as float."""
    out: dict[str, float] = {}
    for name, value in raw.items():
        number = text(value)
        out[text(name)] = float(number) if any(c in number for c in ".eE") else int(number)
    return out


# -- campaigns -------------------------------------------------------------------------------


def campaign_to_json(spec: CampaignSpec) -> str:
    """A campaign's spec as stored (what was asked for; its status is a field of its own)."""
    return dumps({
        "intent": spec.intent, "business": spec.business, "channel": spec.channel,
        "platform": spec.platform, "space": spec.space, "rate": spec.rate,
        "start_ms": spec.start_ms, "end_ms": spec.end_ms,
        "quiet": str(spec.quiet) if spec.quiet is not None else "", "zone": spec.zone,
        "mid_flow": str(spec.mid_flow), "recent_hours": spec.recent_hours, "name": spec.name,
        "category": str(spec.category),
    })  # fmt: skip


def campaign_from_json(raw: str | bytes) -> CampaignSpec:
    d = json.loads(raw)
    quiet = d.pop("quiet", "")
    return CampaignSpec(
        **{
            **d,
            "mid_flow": MidFlow(d.get("mid_flow", "skip")),
            "category": Category(d.get("category", "marketing")),
        },
        quiet=QuietHours.parse(quiet) if quiet else None,
    )


def recipient_to_json(data: dict[str, Any], zone: str) -> str:
    """A campaign recipient as stored: the data its intent starts with, its time zone."""
    return dumps({"d": data, "z": zone})


def recipient_from_json(raw: str | bytes) -> tuple[dict[str, Any], str]:
    d = json.loads(raw)
    return d.get("d", {}), d.get("z", "UTC")
