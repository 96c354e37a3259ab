"""Pydantic models of what travels on the wire, for the API description (/openapi.json).

The platform payloads (CAMS receipts and business calls, Tencent Chat callbacks) are read
by tolerant hand-written parsers (bot.platforms), which accept more than these models say:
numbers with spaces, keys with stray blanks, unknown message types. The models are the
documented subset, and every payload they accept the parsers accept too (tests/
test_openapi.py generates payloads from the published schemas and parses them). Our own
API's request models live with their handlers (bot.web.api) and validate its requests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from bot.model import MAX_MESSAGE_ID, MAX_SPACE

ID_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
MAX_INT64 = 2**63 - 1

# A phone number as CAMS sends it (with or without "+"), or an account id on channels of
# accounts. On WhatsApp and Viber it must be a number libphonenumber reads (bot.phones).
Number = Annotated[
    StrictStr,
    Field(
        pattern=r"^\+?[A-Za-z0-9_.@][A-Za-z0-9_.@-]*$",
        max_length=64,
        description="On WhatsApp and Viber a phone number in international form, country "
        "code first, with or without a leading + (refused when it is no number); on "
        "Messenger, Instagram and Telegram the account id.",
        examples=["+8613900000001"],
    ),
]
# What the CAMS parser reads as text: a string or a number (never true/false, a list, ...).
Scalar = StrictStr | StrictInt | StrictFloat
# Not blank as the parsers judge it (str.strip): JSON Schema's \s (ECMA-262) leaves out the
# separators \x1c-\x1f and \x85 that Python strips, so they are named here too.
NonBlank = Annotated[StrictStr, Field(pattern=r"[^\s\x1c-\x1f\x85]")]
DigitString = Annotated[StrictStr, Field(pattern=r"^[0-9]{1,18}$")]
AccountId = Annotated[StrictStr, Field(pattern=ID_PATTERN, examples=["user1"])]
Uint64 = Annotated[StrictInt, Field(ge=0, le=MAX_INT64)]
UintField = Uint64 | DigitString
# A message id (MessageId, TaskId, MsgKey, ...) and a CAMS channel (CustSpaceId): the
# parsers refuse longer ones.
MessageIdText = Annotated[StrictStr, Field(max_length=MAX_MESSAGE_ID)]
MessageIdField = Annotated[NonBlank, Field(max_length=MAX_MESSAGE_ID)] | Uint64
SpaceField = Annotated[StrictStr, Field(max_length=MAX_SPACE)] | Uint64


def _any_case(*names: str) -> str:
    """A pattern matching each name in any letter case: ^[Tt][Ee][Xx][Tt]$|..."""
    return "|".join(
        "^" + "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in n) + "$"
        for n in names
    )


class Error(BaseModel):
    """Every refusal (4xx) and 503: the status again and a reason safe to show."""

    code: int = Field(description="The HTTP status.", examples=[400])
    msg: str = Field(min_length=1, description="Why, in words.", examples=["body is not JSON"])


# -- CAMS receipts ---------------------------------------------------------------------------


class CamsMessageContent(BaseModel):
    """`Message` of a non-TEXT ChatAppInbound: an object (often sent JSON-encoded in a
    string). The reader looks up these keys in any letter case; other keys are kept."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "patternProperties": {
                _any_case("text", "body", "title", "payload", "id", "caption"): {
                    "type": ["string", "number", "null"]
                }
            }
        },
    )

    text: Scalar | None = Field(None, description="REPLY: the tapped button's label; TEXT: text.")
    payload: Scalar | None = Field(None, description="REPLY: the button's payload.")
    caption: Scalar | None = Field(None, description="IMAGE, VIDEO, DOCUMENT: the caption.")


class CamsInbound(BaseModel):
    """ChatAppInbound: a customer's message (`From` the customer, `To` our number)."""

    model_config = ConfigDict(extra="allow")

    MessageId: MessageIdField = Field(description="Unique message id (dedupe key).")
    From: Number = Field(description="The customer's number.")
    To: Number = Field(description="The business number.")
    Type: Scalar = Field(
        description="TEXT, REPLY, IMAGE, VIDEO, AUDIO, DOCUMENT, LOCATION, CONTACTS, SYSTEM; "
        "others are kept and match no answer.",
        examples=["TEXT"],
    )
    Message: Scalar | CamsMessageContent | None = Field(
        None, description="TEXT: the text; other types: an object, or it JSON-encoded."
    )
    Timestamp: StrictInt | DigitString | None = Field(
        None, description="Unix time in milliseconds (seconds are understood too)."
    )
    CustSpaceId: SpaceField | None = Field(None, description="The CAMS channel (space) id.")
    WabaId: Scalar | None = None
    DisplayName: Scalar | None = None
    Name: Scalar | None = None
    NoticeType: Scalar | None = None


class CamsStatus(BaseModel):
    """ChatAppStatus: a delivery report of a message we sent (`From` our number)."""

    model_config = ConfigDict(extra="allow")

    MessageId: MessageIdField
    From: Number = Field(description="The business number.")
    To: Number = Field(description="The customer's number.")
    Status: NonBlank | StrictInt = Field(
        description="Sent, Delivered, Read, Failed, ...", examples=["Delivered"]
    )
    Timestamp: StrictInt | DigitString | None = None
    TaskId: MessageIdText | Uint64 | None = Field(
        None, description="Our TaskId; defaults to MessageId."
    )
    ErrorCode: Scalar | None = None
    ErrorDescription: Scalar | None = None
    ConversationType: Scalar | None = None
    MsgFrameType: Scalar | None = None


class CamsAudit(BaseModel):
    """ChatAppAudit: a template review result (logged, not acted on)."""

    model_config = ConfigDict(extra="allow")

    AuditStatus: Scalar | None = Field(description="pass, fail, auditing, ...")
    TemplateCode: Scalar | None = None
    WabaId: Scalar | None = None
    Language: Scalar | None = None
    Reason: Scalar | None = None


CamsReceiptItem = CamsInbound | CamsStatus | CamsAudit


class CamsAck(BaseModel):
    """CAMS's expected answer: HTTP 200 and code 0."""

    code: Literal[0] = 0
    msg: str = "success"


# -- CAMS business-system call -----------------------------------------------------------------


class CamsBusinessCall(BaseModel):
    """CAMS calls the business system to start an intent for a customer. CAMS does not
    publish this call's format, so the reader looks for each field under several names
    (intentCode/intent/code, intentData/data/params, phone/phoneNumber/customer/To, ...),
    at the top level or one level down, in a JSON object, a form or the query. These are
    the canonical names."""

    model_config = ConfigDict(extra="allow")

    intentCode: NonBlank = Field(description="The intent's code.", examples=["csat_survey"])
    phone: Number = Field(description="The customer's number.")
    intentData: dict[str, Any] | None = Field(
        None, description="Data for the flow (a string holding a JSON object is read too)."
    )
    channel: Annotated[StrictStr, Field(pattern=ID_PATTERN)] | None = Field(
        None, description="whatsapp, viber, ...; default BOT_CAMS_CHANNEL."
    )
    custSpaceId: SpaceField | None = None
    requestId: NonBlank | None = Field(
        None, description="Names the call: a repeated call with the same id starts once."
    )
    signature: StrictStr | None = Field(
        None, description="The console's Signature, when not sent in a header."
    )


class CamsBusinessAck(BaseModel):
    code: Literal[0] = 0
    msg: str = "success"
    success: Literal[True] = True


# -- Tencent Chat callbacks --------------------------------------------------------------------


class TencentMsgContent(BaseModel):
    """MsgContent of one element; which keys it has depends on MsgType."""

    model_config = ConfigDict(extra="allow")

    Text: StrictStr | StrictInt | None = Field(None, description="TIMTextElem: the text.")
    Data: StrictStr | StrictInt | None = Field(
        None, description="TIMCustomElem: the payload, or a JSON object with `payload`."
    )
    Desc: StrictStr | StrictInt | None = Field(None, description="TIMCustomElem: the label.")


class TencentMsgElement(BaseModel):
    model_config = ConfigDict(extra="allow")

    MsgType: StrictStr | StrictInt | None = Field(
        None, description="TIMTextElem, TIMCustomElem, TIMImageElem, ...", examples=["TIMTextElem"]
    )
    MsgContent: TencentMsgContent | None = None


class TencentCallback(BaseModel):
    """The body of C2C.CallbackAfterSendMsg and C2C.CallbackBeforeSendMsg (other commands
    are acknowledged and ignored)."""

    model_config = ConfigDict(extra="allow")

    CallbackCommand: StrictStr | None = Field(
        None, description="When present, must equal the query's CallbackCommand."
    )
    From_Account: AccountId
    To_Account: AccountId
    MsgSeq: UintField
    MsgRandom: UintField
    MsgTime: UintField = Field(description="Unix seconds.")
    MsgKey: MessageIdText | StrictInt | None = None
    MsgId: MessageIdText | StrictInt | None = None
    EventTime: UintField | None = Field(None, description="Unix milliseconds.")
    SendMsgResult: UintField | None = Field(None, description="0: delivered.")
    OnlineOnlyFlag: StrictInt | None = None
    CloudCustomData: StrictStr | None = None
    MsgBody: list[TencentMsgElement]


class TencentAnswer(BaseModel):
    """ErrorCode of a before-send callback: 0 allow, 1 reject, 2 drop silently."""

    ActionStatus: Literal["OK"] = "OK"
    ErrorInfo: str = ""
    ErrorCode: int = 0


# -- our own API's answers and the operational endpoints ----------------------------------------


class Accepted(BaseModel):
    conversation: str = Field(examples=["cams:whatsapp:8613800000000:8613900000001"])
    status: Literal["accepted"] = "accepted"
    repeat: bool = Field(description="True when this Idempotency-Key was seen before.")


class ConversationState(BaseModel):
    conversation: str
    flow: str | None
    state: str | None
    version: int
    data: dict[str, Any]
    opted_out: bool
    handoff: dict[str, Any] | None
    queued: list[str]
    last_inbound_ms: int | None


class HistoryItem(BaseModel):
    """One entry of a conversation's history. Every entry has `id`, `at_ms` and `kind`; a
    `step` has the rest but `task`, `status`, `error` and `message_id`, which the others
    have as they apply."""

    id: str = Field(description="The entry's id: entries are in its order, and a page's `next`.")
    at_ms: int = Field(description="When it was written (ms since the epoch).")
    kind: Literal["step", "sent", "failed", "status"] = Field(
        description=(
            "`step`: an event moved the conversation; `sent`: a reply went out; `failed`: a "
            "reply failed for good; `status`: a delivery report."
        )
    )
    event: dict[str, Any] | None = Field(
        None,
        description=(
            "The step's event (`t`: in, intent, timer, call, resume, agent, restart, failed); "
            "without what was written when BOT_HISTORY_TEXT=false."
        ),
    )
    from_state: str | None = Field(None, description="`flow/state` before the step.")
    to_state: str | None = Field(None, description="`flow/state` after the step.")
    outcome: str | None = Field(None, description="The step's outcome (matched, reprompted, ...).")
    replies: list[dict[str, Any]] | None = Field(None, description="The step's replies.")
    tasks: list[str] | None = Field(None, description="The TaskId of each reply, in order.")
    missing_language: str | None = Field(
        None,
        description="A step whose flow had no text in the customer's language (`lang`) for "
        "something it said: this language; the text went in the default one.",
    )
    task: str | None = Field(None, description="The reply's TaskId (sent, failed, status).")
    status: str | None = Field(None, description="Sent, Delivered, Read or Failed.")
    error: str | None = Field(None, description="Why the reply failed (failed, status).")
    message_id: str | None = Field(None, description="The platform's message id (sent).")


class ConversationHistory(BaseModel):
    conversation: str
    entries: list[HistoryItem] = Field(description="Oldest first.")
    next: str | None = Field(description="The `cursor` of the next page; null on the last page.")


class ConversationFound(BaseModel):
    conversation: str
    customer: str
    flow: str | None
    state: str | None
    handoff: str | None = Field(description="`state` or `agent` while in a handoff.")
    opted_out: bool
    stepped_ms: int = Field(description="When it last stepped (ms since the epoch).")
    last_inbound_ms: int | None = Field(description="The customer's last message.")


class Conversations(BaseModel):
    conversations: list[ConversationFound] = Field(description="The last stepped first.")
    next: str | None = Field(description="The `cursor` of the next page; null on the last.")


class FlowExits(BaseModel):
    no_match: int = Field(description="Answers that matched nothing (a re-prompt, an escalation).")
    timeout: int = Field(description="Timeouts that fired.")
    error: int = Field(description="Steps that failed (their event went to the dead letters).")


class FlowStateCounts(BaseModel):
    name: str
    start: bool
    now: int = Field(description="Conversations standing in it now.")
    entered: int = Field(description="Entries in the window.")
    exits: FlowExits
    final: bool = Field(description="Nothing can follow it: a conversation ends after its message.")
    dropoff: bool = Field(
        description="Not final, and conversations left it by a timeout or an error in the "
        "window: where conversations end without finishing."
    )


class FlowTransition(BaseModel):
    from_: str = Field(alias="from")
    to: str
    trigger: str
    kind: str
    label: str
    count: int = Field(description="Moves along it in the window.")


class FlowWindow(BaseModel):
    hours: int
    since_ms: int
    until_ms: int
    now_complete: bool = Field(
        description="`now` counted every conversation (false: the 50,000 last stepped)."
    )


class FlowDetail(FlowWindow):
    name: str
    version: str
    start: str
    states: list[FlowStateCounts]
    transitions: list[FlowTransition]


class FlowSummary(BaseModel):
    name: str
    version: str
    start: str
    states: int
    transitions: int
    now: int
    entered: int
    moves: int
    exits: FlowExits


class FlowList(FlowWindow):
    flows: list[FlowSummary]


class MessageState(BaseModel):
    task: str
    conversation: str | None
    message_id: str | None = Field(description="The platform's id, once sent.")
    status: str | None = Field(description="The latest delivery report: Sent ... Read, Failed.")
    error: str | None = Field(description="Why it failed, if it did.")
    history: list[HistoryItem] = Field(
        description="What its conversation's history holds of it, oldest first."
    )


class ErasedCounts(BaseModel):
    conversation: int = Field(description="1 when there was a conversation to erase.")
    history: int = Field(description="Entries of its history.")
    timers: int
    inbox: int = Field(description="Its events not yet stepped.")
    outbox: int = Field(description="Its replies not yet sent.")
    calls: int = Field(description="Its business calls not yet made.")
    dead_letters: int
    message_records: int = Field(description="Its sent messages' delivery records.")
    opt_out_kept: bool = Field(
        description=(
            "The customer had opted out (STOP): that stands, kept under a one-way hash of "
            "the id, nothing else (BOT_OPT_OUT_TTL)."
        )
    )
    campaign_recipients: int = Field(
        description="Campaigns it was a recipient of: its data and status there erased."
    )


class Erasure(BaseModel):
    conversation: str
    erased: ErasedCounts


class DeadLetter(BaseModel):
    id: str = Field(description="`PARTITION-STREAMID`: what retry and drop take.")
    at_ms: int = Field(description="When it died (ms since the epoch).")
    kind: Literal["in", "out"] = Field(
        description="`in`: an event no step could handle; `out`: a reply given up."
    )
    why: str = Field(description="The error.")
    conversation: str | None
    task: str | None = Field(description="The reply's TaskId (`out`).")
    account: str = Field(
        description="The platform account of its conversation: `default`, or the `account:` "
        "of its business number in `numbers:`."
    )


class DeadLetters(BaseModel):
    total: int = Field(description="Dead letters in all partitions.")
    dead_letters: list[DeadLetter] = Field(description="Oldest first.")
    next: str | None = Field(description="The `cursor` of the next page; null on the last.")


class DeadLetterRetried(BaseModel):
    id: str
    retried: Literal["in", "out"] = Field(
        description="Back in its partition's inbox (`in`) or outbox (`out`, same TaskId)."
    )


class DeadLetterDropped(BaseModel):
    id: str
    dropped: Literal[True] = True


# -- campaigns -------------------------------------------------------------------------------

CampaignStatus = Literal["creating", "running", "paused", "cancelled", "done"]


class CampaignCreated(BaseModel):
    campaign: str = Field(description="The campaign's id.", examples=["0123456789abcdef"])
    status: CampaignStatus = Field(
        description="`running` once made; a repeat says where the campaign is now."
    )
    recipients: int = Field(description="Recipients stored: each customer once.")
    repeat: bool = Field(description="True when the Idempotency-Key made the campaign before.")


class CampaignCounts(BaseModel):
    pending: int = Field(description="Waiting for their turn.")
    started: int = Field(description="Their intent went into their conversation's inbox.")
    skipped: dict[str, int] = Field(
        description="Not messaged, by reason: `opted_out`, `mid_flow`, `recent`, `expired`."
    )
    cancelled: int = Field(description="Still pending when the campaign was cancelled.")
    erased: int = Field(
        description="Erased on request (`DELETE /v1/conversations/{id}`) before their turn."
    )
    sent: int = Field(description="First messages the platform accepted.")
    failed: dict[str, int] = Field(
        description="First messages that failed for good, by the platform's error code."
    )
    carried_over: int = Field(
        description="Turns put off by the number's daily cap (BOT_CAMPAIGN_DAILY_CAP) until a "
        "place freed: a recipient may count more than once; they are pending meanwhile."
    )


class Campaign(BaseModel):
    id: str
    name: str
    intent: str
    status: CampaignStatus = Field(
        description="`creating` while its recipients are stored, then `running` (`paused`), "
        "`cancelled`, or `done` once nobody is pending."
    )
    created_ms: int
    rate: float = Field(description="First messages per second.")
    start_ms: int | None = Field(description="When the first may go; null: when it was made.")
    end_ms: int | None = Field(description="After this, none goes; null: no end.")
    quiet_hours: str | None = Field(description="`HH:MM-HH:MM`, each recipient's local time.")
    timezone: str = Field(description="The time zone of numbers that tell none.")
    mid_flow: Literal["skip", "queue"]
    skip_if_messaged_within_hours: float
    business: str
    channel: str
    recipients: int = Field(description="Recipients stored: each customer once.")
    counts: CampaignCounts


class CampaignList(BaseModel):
    campaigns: list[Campaign] = Field(description="The newest first.")
    next: str | None = Field(description="The `cursor` of the next page; null on the last.")


class CampaignRecipientState(BaseModel):
    customer: str
    conversation: str
    status: Literal["pending", "started", "skipped", "cancelled"]
    reason: str | None = Field(
        None, description="Why it was skipped: `opted_out`, `mid_flow`, `recent`, `expired`."
    )


class CampaignRecipients(BaseModel):
    campaign: str
    recipients: list[CampaignRecipientState] = Field(
        description="In no order; with `status`, only those of that status (a page may then "
        "hold few or none while `next` says there is more)."
    )
    next: str | None = Field(description="The `cursor` of the next page; null on the last.")


class CampaignMoved(BaseModel):
    campaign: str
    status: CampaignStatus
    cancelled: int | None = Field(
        None, description="Cancel only: how many still pending were counted cancelled."
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    flows: int


class NotReady(BaseModel):
    status: Literal["unavailable"] = "unavailable"
    problems: list[str]


class SandboxAgentMessage(BaseModel):
    """What the flows' agent webhook posts (the sandbox agent desk prints it)."""

    model_config = ConfigDict(extra="allow")

    customer: StrictStr | None = None
    text: StrictStr | None = None


class SandboxOk(BaseModel):
    ok: Literal[True] = True


class SandboxError(BaseModel):
    """The stand-in order API's refusals, shaped like a business's own API."""

    error: str = Field(min_length=1)


MODELS: tuple[type[BaseModel], ...] = (
    Error,
    CamsInbound,
    CamsStatus,
    CamsAudit,
    CamsMessageContent,
    CamsAck,
    CamsBusinessCall,
    CamsBusinessAck,
    TencentCallback,
    TencentMsgElement,
    TencentMsgContent,
    TencentAnswer,
    Accepted,
    ConversationState,
    HistoryItem,
    ConversationHistory,
    ConversationFound,
    Conversations,
    ErasedCounts,
    Erasure,
    MessageState,
    FlowExits,
    FlowStateCounts,
    FlowTransition,
    FlowDetail,
    FlowSummary,
    FlowList,
    DeadLetter,
    DeadLetters,
    DeadLetterRetried,
    DeadLetterDropped,
    CampaignCreated,
    CampaignCounts,
    Campaign,
    CampaignList,
    CampaignRecipientState,
    CampaignRecipients,
    CampaignMoved,
    Health,
    Ready,
    NotReady,
    SandboxAgentMessage,
    SandboxOk,
    SandboxError,
)
