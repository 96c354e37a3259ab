"""Platform-neutral values that cross module boundaries: who a conversation is with,
what happened (events), and what the bot says (replies).

Platforms parse their payloads into these; the flow engine reads and returns only these;
the runtime stores them. Plain frozen dataclasses: they sit on the per-message hot path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Platform = Literal["cams", "tencent"]


_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def is_valid_id(value: str) -> bool:
    """A normalized phone number, account or channel name we accept in a conversation id."""
    return _ID.fullmatch(value) is not None


def normalize_number(value: str) -> str:
    """A phone number as digits only: CAMS sends numbers with and without a leading '+'."""
    value = value.strip()
    if value.startswith("+"):
        value = value[1:]
    return value.replace(" ", "").replace("-", "")


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
    intent's default data."""

    message_id: str
    at_ms: int
    code: str
    data: dict[str, Any] = field(default_factory=dict)
    space: str = ""

    type: Literal["intent"] = "intent"


Event = Inbound | IntentStart


def event_to_json(event: Event) -> str:
    if isinstance(event, Inbound):
        d: dict[str, Any] = {"t": "in", "id": event.message_id, "at": event.at_ms, "k": event.kind}
        if event.text:
            d["x"] = event.text
        if event.payload is not None:
            d["p"] = event.payload
        if event.raw_type:
            d["r"] = event.raw_type
    else:
        d = {"t": "intent", "id": event.message_id, "at": event.at_ms, "c": event.code}
        if event.data:
            d["d"] = event.data
    if event.space:
        d["s"] = event.space
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def event_from_json(raw: str | bytes) -> Event:
    d = json.loads(raw)
    if d["t"] == "in":
        return Inbound(
            message_id=d["id"],
            at_ms=d["at"],
            kind=d["k"],
            text=d.get("x", ""),
            payload=d.get("p"),
            raw_type=d.get("r", ""),
            space=d.get("s", ""),
        )
    return IntentStart(
        message_id=d["id"], at_ms=d["at"], code=d["c"], data=d.get("d", {}), space=d.get("s", "")
    )


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
class Reply:
    """One message the bot sends. Exactly one of `text` and `template` decides its kind:
    a session message (text, optionally with quick-reply buttons) or a template (whose
    quick-reply buttons carry `buttons`' payloads)."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    template: Template | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
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
        return cls(
            text=d.get("text", ""),
            buttons=tuple(Button(title, payload) for title, payload in d.get("buttons", ())),
            template=Template(t["code"], t["language"], dict(t.get("params", {}))) if t else None,
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
