"""Platform-neutral values that cross module boundaries: who a conversation is with,
what happened (events), and what the bot says (replies).

Platforms parse their payloads into these; the flow engine reads and returns only these;
the runtime stores them. Plain frozen dataclasses: they sit on the per-message hot path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Platform = Literal["cams", "tencent"]


_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")

# Caps on what callers name things with, where it becomes part of a Redis key or is stored.
# A platform's message id (CAMS MessageId and TaskId, Tencent MsgKey and MsgId): real ones
# are 20 to 100 characters; a longer one is refused, not cut (a cut id could name another).
MAX_MESSAGE_ID = 256
# A CAMS channel (CustSpaceId), e.g. `cams-83m8j9xxxxadc`.
MAX_SPACE = 64


def is_valid_id(value: str) -> bool:
    """A normalized phone number, account or channel name we accept in a conversation id."""
    return _ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """Identifies one conversation: a customer talking to one business number on one channel."""

    platform: str
    channel: str
    business: str
    customer: str

    @property
    def id(self) -> str:
        return f"{self.platform}:{self.channel}:{self.business}:{self.customer}"

    @classmethod
    def parse(cls, conv_id: str) -> ConversationRef:
        platform, channel, business, customer = conv_id.split(":", 3)
        return cls(platform, channel, business, customer)


InboundKind = Literal[
    "text",
    "reply",
    "image",
    "video",
    "audio",
    "document",
    "location",
    "contacts",
    "system",
    "other",
]


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message from the customer. `text` is the text, a tapped button's label or a caption;
    `payload` is the tapped button's payload, when there is one."""

    message_id: str
    at_ms: int
    kind: str
    text: str = ""
    payload: str | None = None
    raw_type: str = ""
    space: str = ""

    type: Literal["in"] = "in"


@dataclass(frozen=True, slots=True)
class IntentStart:
    """The business triggered an intent for the customer, with its data merged over the
    intent's default data. `policy` overrides the intent's own (queue, replace, reject)."""

    message_id: str
    at_ms: int
    code: str
    data: dict[str, Any] = field(default_factory=dict)
    space: str = ""
    policy: str | None = None
    # Start this flow directly, without an intent (`bot chat`, `bot test`); `code` is then "".
    flow: str | None = None

    type: Literal["intent"] = "intent"


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer set when the conversation entered a state (its `visit`) came due."""

    message_id: str
    at_ms: int
    name: str
    visit: int
    space: str = ""

    type: Literal["timer"] = "timer"


@dataclass(frozen=True, slots=True)
class CallResult:
    """The outcome of a business-system call made for the state visit `visit`."""

    message_id: str
    at_ms: int
    visit: int
    outcome: str  # success | failure | timeout
    status: int = 0
    body: Any = None
    space: str = ""

    type: Literal["call"] = "call"


@dataclass(frozen=True, slots=True)
class Resume:
    """An operator ends a human handoff: automation continues (at `go`, if given)."""

    message_id: str
    at_ms: int
    go: str | None = None
    space: str = ""

    type: Literal["resume"] = "resume"


@dataclass(frozen=True, slots=True)
class AgentReply:
    """An agent answers the customer through the bot during a handoff."""

    message_id: str
    at_ms: int
    text: str
    space: str = ""

    type: Literal["agent"] = "agent"


@dataclass(frozen=True, slots=True)
class SendFailed:
    """A message the bot sent failed for good (a permanent send error or a Failed status)."""

    message_id: str
    at_ms: int
    task_id: str
    error: str
    visit: int = -1
    space: str = ""

    type: Literal["failed"] = "failed"


Event = Inbound | IntentStart | TimerFired | CallResult | Resume | AgentReply | SendFailed

_EVENT_TYPES: dict[str, type[Any]] = {
    "in": Inbound,
    "intent": IntentStart,
    "timer": TimerFired,
    "call": CallResult,
    "resume": Resume,
    "agent": AgentReply,
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
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def event_from_json(raw: str | bytes) -> Event:
    d = json.loads(raw)
    cls = _EVENT_TYPES[d.pop("t")]
    event: Event = cls(**d)
    return event


@dataclass(frozen=True, slots=True)
class StatusReceipt:
    """A delivery report for a message we sent (CAMS ChatAppStatus)."""

    message_id: str
    task_id: str
    status: str
    at_ms: int
    error_code: str = ""
    error_description: str = ""


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Template:
    """An approved template: what must be sent outside the 24-hour customer-service window."""

    code: str
    language: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fallback:
    """SMS fallback of a message (CAMS FallBackId, FallBackContent, FallBackDuration)."""

    id: str
    content: str = ""
    duration: int | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message the bot sends. Exactly one of `text` and `template` decides its kind:
    a session message (text, optionally with quick-reply buttons) or a template (whose
    quick-reply buttons carry `buttons`' payloads)."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    template: Template | None = None
    fallback: Fallback | None = None
    # Where it was said: a permanent failure can move the conversation on (`on_failed`).
    state: str = ""
    visit: int = -1
    # Sent even to a customer who opted out: the confirmation of STOP itself.
    system: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.system:
            d["system"] = True
        if self.fallback is not None:
            d["fallback"] = [self.fallback.id, self.fallback.content, self.fallback.duration]
        if self.state:
            d["state"], d["visit"] = self.state, self.visit
        if self.text:
            d["text"] = self.text
        if self.buttons:
            d["buttons"] = [[b.title, b.payload] for b in self.buttons]
        if self.template is not None:
            d["template"] = {
                "code": self.template.code,
                "language": self.template.language,
                "params": self.template.params,
            }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reply:
        t = d.get("template")
        fb = d.get("fallback")
        return cls(
            text=d.get("text", ""),
            buttons=tuple(Button(title, payload) for title, payload in d.get("buttons", ())),
            template=Template(t["code"], t["language"], dict(t.get("params", {}))) if t else None,
            fallback=Fallback(fb[0], fb[1], fb[2]) if fb else None,
            state=d.get("state", ""),
            visit=d.get("visit", -1),
            system=d.get("system", False),
        )


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer of the current state visit: `name` comes due at `due_ms`."""

    name: str
    due_ms: int


# A call's URL or header value as a step rendered it: (kind, text) parts. TEXT is the flow
# author's text, SECRET the name of an operator's secret (BOT_SECRET_NAME: its value is put
# in only by the process making the call, bot.flows.calls), DATA a value from the
# conversation's data, encoded for where it lands when the request is made.
class PartKind(StrEnum):
    TEXT = "t"
    SECRET = "s"  # noqa: S105 - a kind of part, not a secret
    DATA = "d"


Part = tuple[str, str]
Parts = tuple[Part, ...]


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


@dataclass(frozen=True, slots=True)
class CallRequest:
    """An HTTP call the runtime makes after the step commits: `http` calls feed their
    outcome back as a CallResult; `forward` posts a customer's message to an agent.
    `url` and each header value are parts (TEXT, SECRET, DATA): secrets as names only."""

    kind: Literal["http", "forward"]
    method: str
    url: Parts
    headers: dict[str, Parts]
    body: Any
    timeout_s: float
    visit: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "url": [list(p) for p in self.url],
            "headers": {k: [list(p) for p in v] for k, v in self.headers.items()},
            "body": self.body,
            "timeout_s": self.timeout_s,
            "visit": self.visit,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CallRequest:
        """Raises ValueError for a call that must not be made as stored."""
        return cls(
            kind=d["kind"],
            method=d["method"],
            url=_legacy_parts(d["url"]),
            headers={str(k): _legacy_parts(v) for k, v in d["headers"].items()},
            body=d["body"],
            timeout_s=d["timeout_s"],
            visit=d["visit"],
        )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply addressed and ready for a platform's sender. `task_id` is deterministic
    (conversation, version, index) so a duplicate send after a crash is recognisable."""

    conv: ConversationRef
    reply: Reply
    task_id: str
    space: str = ""


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What the platform answered to an accepted send."""

    message_id: str
    request_id: str = ""
