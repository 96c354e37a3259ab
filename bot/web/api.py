"""The business's own API: start intents for customers, resume handoffs, answer as an agent,
restart a conversation's flow.

Every call needs `Authorization: Bearer KEY` with a key of BOT_API_KEYS. Triggers are
answered 202 once stored; the work happens in the partition workers like any message.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import BadRequest, Conflict, NotFound, Unauthorized
from bot.log import shown
from bot.model import (
    MAX_SPACE,
    AgentReply,
    ConversationRef,
    Event,
    IntentStart,
    Restart,
    Resume,
    is_valid_id,
)
from bot.platforms.auth import matches_any
from bot.store import Accepted, event_to_json
from bot.web.body import SMALL_BODY, expect_body, read_json
from bot.web.deadline import redis_bound
from bot.web.keys import CATALOG, CLOCK, METRICS, SETTINGS, STORE
from bot.web.numbers import identity, sending_number
from bot.wire import is_text

log = logging.getLogger("bot.web.api")


MAX_AGENT_TEXT = 4096  # characters of an agent's answer


class IntentRequest(BaseModel):
    """Start an intent for a customer."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=64, description="Phone number or account id.")
    data: dict[str, Any] = Field(default_factory=dict, description="Merged over default data.")
    policy: Literal["queue", "replace", "reject"] | None = Field(
        None, description="When the customer is mid-flow; default: the intent's `policy`."
    )
    channel: str | None = Field(
        None,
        max_length=64,
        description="Default: the business number's (`numbers:`), else BOT_CAMS_CHANNEL.",
    )
    business: str | None = Field(
        None,
        max_length=64,
        description="Business number, or its name in `numbers:`; default: the intent's "
        "`number:`, else BOT_CAMS_FROM, else the first of `numbers:`.",
    )
    platform: Literal["cams"] = "cams"
    space: str = Field(
        "",
        max_length=MAX_SPACE,
        description="CAMS CustSpaceId of the channel, when you have several.",
    )


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    go: str | None = Field(None, description="State to continue at; default: the flow's own.")


class RestartRequest(BaseModel):
    """Nothing to say: the flow starts again as it is written."""

    model_config = ConfigDict(extra="forbid")


class AgentMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_AGENT_TEXT)


def authorize(request: web.Request) -> None:
    """The request carries a key of BOT_API_KEYS (`Authorization: Bearer KEY`), or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("missing API key: send `Authorization: Bearer KEY`", category="missing")
    key = key.strip()
    if not is_text(key) or not matches_any(key, request.app[SETTINGS].api_key_values()):
        raise Unauthorized("wrong API key", category="wrong")


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    """The JSON body (at most SMALL_BODY bytes; empty means `{}`) as `model`."""
    data = await read_json(
        request, limit=SMALL_BODY, within=request.app[SETTINGS].body_timeout, empty={}
    )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        # A field's name as sent: an unknown one is the caller's text.
        where = shown(".".join(str(p) for p in first["loc"]), quote=False) or "body"
        raise BadRequest(f"{where}: {first['msg']}") from e


def is_conversation_id(text: str) -> bool:
    """Whether `text` is a well-formed conversation id: four safe parts."""
    try:
        ref = ConversationRef.parse(text)
    except ValueError:
        return False
    return all(is_valid_id(p) for p in (ref.platform, ref.channel, ref.business, ref.customer))


def conversation_id(request: web.Request) -> str:
    """The path's `{conversation}`, a well-formed conversation id, or 404."""
    conv_id = request.match_info["conversation"]
    if not is_conversation_id(conv_id):
        raise NotFound("no such conversation: ids look like cams:whatsapp:BUSINESS:CUSTOMER")
    return conv_id


async def start_intent(request: web.Request) -> web.Response:
    """`POST /v1/intents/{code}`: start an intent; idempotent with `Idempotency-Key`."""
    authorize(request)
    code = request.match_info["code"]
    intent = request.app[CATALOG].current.intents.get(code)
    if intent is None:
        known = ", ".join(sorted(request.app[CATALOG].current.intents)) or "none"
        raise NotFound(f"unknown intent code {shown(code)}; known: {known}")
    body: IntentRequest = await _body(request, IntentRequest)
    sender = sending_number(
        request.app[CATALOG].current,
        request.app[SETTINGS],
        business=body.business,
        channel=body.channel,
        default=intent.number,
    )
    customer = identity("customer", body.customer, sender.channel)
    conv = ConversationRef(body.platform, sender.channel, sender.business, customer)
    key = idempotency_key(request)
    message_id = f"api:{key}" if key else f"api:{uuid.uuid4().hex}"
    policy = body.policy or intent.policy
    event = IntentStart(
        message_id=message_id,
        at_ms=int(request.app[CLOCK]() * 1000),
        code=code,
        data=body.data,
        space=body.space or sender.space,
        policy=policy,
    )
    async with redis_bound(request):
        outcome = await request.app[STORE].accept_intent(
            Accepted(conv.id, message_id, event_to_json(event)), policy
        )
    request.app[METRICS].duplicate("api", int(outcome == "repeat"))
    log.debug("intent %s via API: %s", code, outcome)
    if outcome == "opted_out":
        raise Conflict("the customer opted out (STOP): nothing will be sent")
    if outcome == "busy":
        raise Conflict("the customer is in a flow and the policy is `reject`")
    return web.json_response(
        {"conversation": conv.id, "status": "accepted", "repeat": outcome == "repeat"},
        status=202,
    )


async def enqueue(request: web.Request, conv_id: str, event: Event) -> bool:
    """Put an operator's `event` in the conversation's inbox (404 when there is no such
    conversation); False when it was there already (the same message id)."""
    async with redis_bound(request):
        conv = await request.app[STORE].load(conv_id)
        if conv.version == 0:
            raise NotFound("no such conversation")
        accepted = Accepted(conv_id, event.message_id, event_to_json(event))
        [new] = await request.app[STORE].accept([accepted])
    request.app[METRICS].duplicate("api", int(not new))
    return new


async def _enqueue(request: web.Request, conv_id: str, event: Event) -> web.Response:
    new = await enqueue(request, conv_id, event)
    return web.json_response(
        {"conversation": conv_id, "status": "accepted", "repeat": not new}, status=202
    )


def idempotency_key(request: web.Request) -> str:
    """The `Idempotency-Key` header, stripped ("" when absent); 400 when it is longer than
    200 characters or not text."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200:
        raise BadRequest("Idempotency-Key: at most 200 characters")
    if not is_text(key):
        raise BadRequest("Idempotency-Key: not UTF-8 text")
    return key


def _message_id(request: web.Request, kind: str) -> str:
    key = idempotency_key(request)
    return f"api-{kind}:{key or uuid.uuid4().hex}"


async def resume(request: web.Request) -> web.Response:
    """`POST /v1/conversations/{conversation}/resume`: end a human handoff."""
    authorize(request)
    conv_id = conversation_id(request)
    body: ResumeRequest = await _body(request, ResumeRequest)
    now = int(request.app[CLOCK]() * 1000)
    return await _enqueue(request, conv_id, Resume(_message_id(request, "resume"), now, body.go))


async def restart(request: web.Request) -> web.Response:
    """`POST /v1/conversations/{conversation}/restart`: start the conversation's flow again
    at its start state (a conversation in no flow is left as it is)."""
    authorize(request)
    conv_id = conversation_id(request)
    await _body(request, RestartRequest)
    now = int(request.app[CLOCK]() * 1000)
    return await _enqueue(request, conv_id, Restart(_message_id(request, "restart"), now))


async def agent_message(request: web.Request) -> web.Response:
    """`POST /v1/conversations/{conversation}/messages`: an agent answers the customer."""
    authorize(request)
    conv_id = conversation_id(request)
    body: AgentMessage = await _body(request, AgentMessage)
    now = int(request.app[CLOCK]() * 1000)
    event = AgentReply(_message_id(request, "agent"), now, body.text)
    return await _enqueue(request, conv_id, event)


async def conversation(request: web.Request) -> web.Response:
    """`GET /v1/conversations/{conversation}`: where a conversation stands."""
    authorize(request)
    conv_id = conversation_id(request)
    async with redis_bound(request):
        conv = await request.app[STORE].load(conv_id)
    if conv.version == 0:
        raise NotFound("no such conversation")
    return web.json_response(
        {
            "conversation": conv_id,
            "flow": conv.flow,
            "state": conv.state,
            "version": conv.version,
            "data": conv.data,
            "opted_out": conv.opted_out,
            "marketing_opted_out": conv.marketing_opted_out,
            "handoff": conv.handoff or None,
            "queued": [q["code"] for q in conv.queue],
            "last_inbound_ms": conv.last_inbound_ms or None,
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/intents/{code}", start_intent, expect_handler=expect_body),
        web.get("/v1/conversations/{conversation}", conversation),
        web.post("/v1/conversations/{conversation}/resume", resume, expect_handler=expect_body),
        web.post("/v1/conversations/{conversation}/restart", restart, expect_handler=expect_body),
        web.post(
            "/v1/conversations/{conversation}/messages", agent_message, expect_handler=expect_body
        ),
    ]
