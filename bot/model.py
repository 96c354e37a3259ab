"""Platform-neutral values that cross module boundaries: who a conversation is with,
what happened (events), and what the bot says (replies).

Platforms parse their payloads into these; the flow engine reads and returns only these
(a Conversation and an Event in, a StepResult out); the runtime stores them (in the stored
forms of bot/store/codec.py). Plain frozen dataclasses: they sit on the per-message hot path.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")

# Caps on what callers name things with, where it becomes part of a Redis key or is stored.
# A platform's message id (CAMS MessageId and TaskId, Tencent MsgKey and MsgId): real ones
# are 20 to 100 characters; a longer one is refused, not cut (a cut id could name another).
MAX_MESSAGE_ID = 256
# A CAMS channel (CustSpaceId), e.g. `cams-83m8j9xxxxadc`.
MAX_SPACE = 64
# The name of the platform account of BOT_CAMS_ACCESS_KEY_ID (and of Tencent Chat's one);
# other CAMS accounts are named by BOT_CAMS_ACCOUNT_<NAME>_ACCESS_KEY_ID.
DEFAULT_ACCOUNT = "default"
# How long a customer's opt-out is kept after they made it (BOT_OPT_OUT_TTL): 2 years.
OPT_OUT_TTL = 2 * 365 * 24 * 3600


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


@dataclass(frozen=True, slots=True)
class Address:
    """Where a reply goes: the conversation, and the CAMS channel (CustSpaceId) it is sent
    back through ("" when the platform gives none). The space is not part of the
    conversation's identity: it comes with the conversation's latest event that brought
    one, and each reply carries the one its step was taken with."""

    ref: ConversationRef
    space: str = ""


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message from the customer. `text` is the text, a tapped button's label or a caption;
    `payload` is the tapped button's payload, when there is one. `kind` is `text`, `reply`,
    `image`, `video`, `audio`, `document`, `location`, `contacts`, `system` or `other`;
    `media` what the platform said of a photo, file, voice note, video, location or contact
    (bot.platforms.cams.receipts: MEDIA_FIELDS), never fetched by the server."""

    message_id: str
    at_ms: int
    kind: str
    text: str = ""
    payload: str | None = None
    raw_type: str = ""
    space: str = ""
    media: dict[str, Any] | None = None

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
    campaign: str = ""  # the campaign that started it, if one did
    marketing: bool = False  # a marketing campaign's: not for a customer who opted out of it

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
class Restart:
    """An operator starts the conversation's flow again from its start state, its data back
    to the flow's defaults."""

    message_id: str
    at_ms: int
    space: str = ""

    type: Literal["restart"] = "restart"


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


Event = Inbound | IntentStart | TimerFired | CallResult | Resume | AgentReply | Restart | SendFailed


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
    description: str = ""  # a list row's second line (WhatsApp lists: 72 characters)
    section: str = ""  # the heading of the list section its row is in ("": the list's title)


@dataclass(frozen=True, slots=True)
class Template:
    """An approved template: what must be sent outside the 24-hour customer-service window.
    `params` are its variables (a URL button's value already one path segment); `header`
    the image, video or document of its header, whose URL goes as the variable
    `header_param`."""

    code: str
    language: str
    params: dict[str, str] = field(default_factory=dict)
    header: Media | None = None
    header_param: str = "link"


@dataclass(frozen=True, slots=True)
class Fallback:
    """SMS fallback of a message (CAMS FallBackId, FallBackContent, FallBackDuration)."""

    id: str
    content: str = ""
    duration: int | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message the bot sends. Exactly one of `text` and `template` decides its kind:
    a session message (text, optionally with quick-reply buttons, a photo or the like, a
    location, or a `link` button) or a template (whose quick-reply buttons carry
    `buttons`' payloads)."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    template: Template | None = None
    fallback: Fallback | None = None
    # Where it was said: a permanent failure can move the conversation on (`on_failed`).
    state: str = ""
    visit: int = -1
    # Sent even to a customer who opted out: the confirmation of STOP itself.
    system: bool = False
    # A marketing campaign's first message: not sent once the customer opted out of
    # marketing, should they have meanwhile.
    marketing: bool = False
    # The label of the button that opens a list of the buttons, and the list's heading, in
    # the conversation's language ("" for the platform client's own).
    list_button: str = ""
    list_title: str = ""
    media: Media | None = None
    location: Location | None = None
    link: Link | None = None


def coordinate(value: Any, bound: float) -> float | None:
    """A latitude (`bound` 90) or longitude (180) given as a number or a numeral, or None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # 10**400 is no float
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None


@dataclass(frozen=True, slots=True)
class Media:
    """A photo, document, video or audio a reply sends (its text is the caption)."""

    kind: str  # image | document | video | audio
    url: str
    filename: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    """A button a reply's text carries that opens a web page (its text is the message)."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Location:
    """A location pin a reply sends."""

    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply addressed and ready for a platform's sender. `task_id` is deterministic
    (conversation, version, index) so a duplicate send after a crash is recognisable."""

    to: Address
    reply: Reply
    task_id: str


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What the platform answered to an accepted send."""

    message_id: str
    request_id: str = ""


# -- the engine's protocol: a conversation and one event in, the next state and effects out --


class Outcome(StrEnum):
    """What one step did, for logs, metrics and flow tests."""

    IGNORED = "ignored"  # nothing to do (`detail` says why)
    STARTED = "started"  # a flow started
    ADVANCED = "advanced"  # an option was chosen, or an event moved the flow on
    ENDED = "ended"  # the flow reached a state where it ends
    REPROMPTED = "reprompted"  # an answer that chose nothing: asked again
    COLLECTED = "collected"  # a valid value was collected
    INVALID = "invalid"  # a value that is not one: asked again
    ESCALATED = "escalated"  # too many unknown or invalid answers
    STOPPED = "stopped"  # the customer wrote STOP
    OPTED_IN = "opted_in"  # the customer wrote START after STOP
    MARKETING_STOPPED = "marketing_stopped"  # the customer wrote STOP MARKETING
    MARKETING_STARTED = "marketing_started"  # ... START MARKETING after it
    RESTARTED = "restarted"  # the restart command, or an operator's Restart
    QUEUED = "queued"  # an intent waits for the current flow to end
    REJECTED = "rejected"  # an intent or agent message refused (`detail` says why)
    TIMED_OUT = "timed_out"  # a state's timeout came due
    REMINDED = "reminded"  # a reminder was sent
    CALL_SUCCESS = "call_success"  # a business call answered 2xx
    CALL_FAILURE = "call_failure"  # ... answered otherwise, or could not be made
    CALL_TIMEOUT = "call_timeout"  # ... did not answer in time
    CODE_RESENT = "code_resent"
    CODE_RESEND_TOO_SOON = "code_resend_too_soon"
    CODE_EXPIRED = "code_expired"
    CODE_VERIFIED = "code_verified"
    CODE_WRONG = "code_wrong"  # too many wrong codes
    CODE_RETRY = "code_retry"  # a wrong code, tries left
    FORWARDED = "forwarded"  # a message sent on to the agent desk
    HANDED_OFF = "handed_off"  # the agent command
    RESUMED = "resumed"  # a handoff ended
    AGENT_REPLIED = "agent_replied"
    SEND_FAILED = "send_failed"  # a message failed for good and the flow moved on
    ERROR = "error"  # the step raised: the event went to the dead letters

    @classmethod
    def of_call(cls, outcome: str) -> Outcome:
        """The step's outcome for a business call's (success, failure, timeout)."""
        return cls(f"call_{outcome}")


def _random_digits(n: int) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(n))


@dataclass(frozen=True, slots=True)
class StepContext:
    """Who the conversation is with, and where one-time codes come from."""

    conv_id: str = ""
    customer: str = ""
    channel: str = ""
    random_digits: Callable[[int], str] = _random_digits


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation as stored: where it stands and what it has collected, and the CAMS
    channel (CustSpaceId) its replies are sent through (`space`: the runtime sets it from
    the latest event that brought one; the engine carries it along untouched)."""

    flow: str | None = None
    state: str | None = None
    version: int = 0
    flow_version: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    last_inbound_ms: int = 0
    visit: int = 0  # counts state entries: timers and call results name the visit they are for
    attempts: int = 0  # unknown or invalid answers in this visit
    opted_out: bool = False
    handoff: str = ""  # "" | "state" (a handoff state) | "agent" (the agent command)
    resume_to: str = ""  # where the agent command's handoff returns
    queue: tuple[dict[str, Any], ...] = ()  # intents waiting for the current flow to end
    timers: tuple[Timer, ...] = ()
    otp: dict[str, Any] | None = None  # hash, expiry, tries, sent-at of a one-time code
    space: str = ""
    marketing_opted_out: bool = False  # the customer wrote STOP MARKETING (or its like)
    marketing_flow: bool = False  # the flow under way was started by a marketing campaign
    # The last campaign that messaged the customer, and what of theirs since is counted in
    # it already (letters: `r` replied, `o` opted out, `m` opted out of marketing).
    campaign: str = ""
    campaign_counted: str = ""


@dataclass(frozen=True, slots=True)
class StepResult:
    """The outcome of one event: `conversation` is what to store (same `version`: the store
    bumps it); `replies`, `calls` the effects; `outcome` what the step did;
    `trace` the moves made, as (from, trigger, to), for coverage; `entered` the states
    entered, as (flow, state), in order."""

    conversation: Conversation
    replies: tuple[Reply, ...]
    outcome: Outcome
    detail: str = ""
    calls: tuple[CallRequest, ...] = ()
    trace: tuple[tuple[str, str, str], ...] = ()
    entered: tuple[tuple[str, str], ...] = ()
    # For each of `replies`, the campaign whose start made it ("" for none): a campaign's
    # first messages, however many campaigns' flows one step starts (queued ones in turn).
    reply_campaigns: tuple[str, ...] = ()
    # The customer's language when a text of the step had none in it (another was sent).
    missing_language: str = ""


class HistoryKind(StrEnum):
    """What an entry of a conversation's history records."""

    STEP = "step"  # an event stepped the conversation: the event, the move, the replies
    SENT = "sent"  # a reply went out: the platform's message id
    FAILED = "failed"  # a reply failed for good, or went to the dead letters
    STATUS = "status"  # a delivery report: Sent, Delivered, Read, Failed (with its code)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One entry of a conversation's history, as stored. `id` orders the entries and is
    the cursor of a read; `at_ms` is when it was written. A step has its `event` and
    `replies` as stored (without what customers or agents wrote when texts are not kept),
    the states it moved `from_state` and `to_state` (`flow/state`, "" outside a flow) and
    its `outcome`, and the `tasks` of its replies; the other kinds name their `task`, and
    a `status`, an `error` or a platform `message_id`."""

    id: str
    at_ms: int
    kind: HistoryKind
    event: dict[str, Any] | None = None
    from_state: str = ""
    to_state: str = ""
    outcome: str = ""
    replies: tuple[dict[str, Any], ...] = ()
    tasks: tuple[str, ...] = ()
    missing_language: str = ""  # a step: the customer's language some text had not
    task: str = ""
    status: str = ""
    error: str = ""
    message_id: str = ""
