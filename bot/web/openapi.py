"""`GET /openapi.json`: an OpenAPI 3.1 description of every endpoint of this server.

Schemas are generated from the pydantic models (bot.web.schemas, and the request models of
bot.web.api), so the description follows the code; tests/test_openapi.py checks that it
names exactly the routes the app serves, and tests/test_fuzz.py sends what it describes to
a running server. The sandbox routes are described only in sandbox mode, where they exist.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot import __version__
from bot.campaign import MAX_RATE, MAX_RECIPIENTS
from bot.platforms.cams.receipts import items_cap
from bot.settings import Settings
from bot.web import schemas
from bot.web.api import AgentMessage, IntentRequest, RestartRequest, ResumeRequest
from bot.web.body import SMALL_BODY
from bot.web.campaigns import (
    MAX_NAME,
    MAX_PAGE,
    MAX_RECENT_HOURS,
    MAX_RECIPIENTS_PAGE,
    PAGE,
    RECIPIENTS_PAGE,
    STATUSES,
    CampaignAction,
    CampaignRequest,
)
from bot.web.flows import MAX_WINDOW_HOURS, WINDOW_HOURS
from bot.web.keys import SETTINGS
from bot.web.operators import (
    CONVERSATIONS_PAGE,
    DEAD_PAGE,
    HISTORY_PAGE,
    MAX_CONVERSATIONS_PAGE,
    MAX_DEAD_PAGE,
    MAX_HISTORY_PAGE,
)
from bot.wire import MAX_DEPTH

REF = "#/components/schemas/{model}"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    IntentRequest,
    ResumeRequest,
    RestartRequest,
    AgentMessage,
    CampaignRequest,
    CampaignAction,
)

_STATUS_TEXT = {
    400: "Refused: the reason says why (e.g. invalid JSON, a missing field)",
    401: "Missing or wrong credentials",
    403: "Not this app's (Tencent SdkAppid)",
    404: "No such thing",
    408: "The body did not arrive within BOT_BODY_TIMEOUT seconds",
    409: "Conflict with what is stored (the conversation's or the campaign's state)",
    413: "The body is larger than this endpoint takes (as sent, or inflated)",
    415: "A Content-Type or Content-Encoding this endpoint does not take",
    503: "Redis is unavailable or did not answer within BOT_REDIS_TIMEOUT: retry later",
}


def _ref(model: type[BaseModel] | str) -> dict[str, str]:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF.format(model=name)}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _json(_STATUS_TEXT[c], _ref(schemas.Error)) for c in codes}


def _param(
    name: str, where: str, description: str, schema: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "description": description,
        "schema": schema or {"type": "string"},
        **extra,
    }


def _paging(what: str, default: int, most: int) -> list[dict[str, Any]]:
    """The `cursor` and `limit` parameters of a list read a page at a time."""
    return [
        _param("cursor", "query", "The `next` of the page before."),
        _param(
            "limit",
            "query",
            f"{what} at most (default {default}).",
            {"type": "integer", "minimum": 1, "maximum": most},
        ),
    ]


def _body(schema: dict[str, Any], description: str, *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "content": {JSON: {"schema": schema}}}


def component_schemas() -> dict[str, Any]:
    """Every model's JSON Schema, by model name, with references between them."""
    mode: JsonSchemaMode = "validation"
    models = [(m, mode) for m in (*schemas.MODELS, *REQUEST_MODELS)]
    _keys, top = models_json_schema(models, ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def _limits(limit: int, *, compressed: bool = False) -> str:
    encoding = (
        "as sent or compressed (Content-Encoding gzip or deflate), and at most as much "
        "once inflated"
        if compressed
        else "not compressed (415 for a Content-Encoding)"
    )
    return (
        f" The body is at most {limit} bytes (413 beyond), {encoding}; JSON in UTF-8 without "
        f"duplicate keys, NaN or Infinity, nested at most {MAX_DEPTH} deep (400 otherwise)."
    )


def _cams_paths(settings: Settings) -> dict[str, Any]:
    item = {"anyOf": [_ref(schemas.CamsInbound), _ref(schemas.CamsStatus), _ref(schemas.CamsAudit)]}
    business_query = [
        _param("intentCode", "query", "The intent's code (when not in the body)."),
        _param("phone", "query", "The customer's number (when not in the body)."),
        _param("requestId", "query", "Names the call: a repeated id starts once."),
    ]
    business_call = {
        "tags": ["CAMS"],
        "security": [{"businessSignature": []}],
        "responses": {
            "200": _json("Stored; the intent runs shortly", _ref(schemas.CamsBusinessAck)),
            **_errors(400, 401, 408, 413, 415, 503),
        },
    }
    return {
        "/cams/receipts": {
            "post": {
                "operationId": "camsReceipts",
                "tags": ["CAMS"],
                "summary": "CAMS receipt push: customer messages, delivery reports, reviews",
                "description": "A JSON array of ChatAppInbound, ChatAppStatus and ChatAppAudit "
                "items (a single item is taken too). Each item is read on its own: one the "
                "reader cannot use is logged and skipped, and the push is still acknowledged. "
                "Answered once stored in Redis; 503 (CAMS pushes again) when Redis is away, "
                "or, with BOT_SHED_BACKLOG_AGE set, while the inbox backlog is older than that "
                "(checked after the token; until it is under half of it). "
                "The Content-Type is not checked beyond refusing multipart (CAMS does not "
                "document the one it sends): the body must be JSON; trailing commas are "
                "tolerated. At most one item per 100 bytes of BOT_MAX_BODY "
                f"({items_cap(settings.max_body)}; 413 beyond)."
                + _limits(settings.max_body, compressed=True),
                "security": [{"receiptToken": []}],
                "parameters": [
                    _param(
                        "channel",
                        "query",
                        "The channel of this receipt URL; default BOT_CAMS_CHANNEL.",
                        {"type": "string", "pattern": schemas.ID_PATTERN},
                    )
                ],
                "requestBody": _body(
                    {
                        "oneOf": [
                            {
                                "type": "array",
                                "items": item,
                                "maxItems": items_cap(settings.max_body),
                            },
                            item,
                        ]
                    },
                    "A batch of receipts.",
                ),
                "responses": {
                    "200": _json("Stored (or skipped item by item)", _ref(schemas.CamsAck)),
                    **_errors(400, 401, 408, 413, 415),
                    "503": {
                        **_json(
                            "Redis is unavailable, or the intake sheds load "
                            "(BOT_SHED_BACKLOG_AGE): push again later",
                            _ref(schemas.Error),
                        ),
                        "headers": {
                            "Retry-After": {
                                "description": "Seconds to wait before pushing again.",
                                "schema": {"type": "integer", "minimum": 0},
                            }
                        },
                    },
                },
            }
        },
        "/cams/business": {
            "post": {
                **business_call,
                "operationId": "camsBusinessCall",
                "summary": "CAMS's business-system call: start an intent for a customer",
                "description": "The fields may come as a JSON object, a form or query "
                "parameters (see the CamsBusinessCall schema for the names looked for). The "
                "Signature may also come as X-Signature, Sign, Token or Authorization (Bearer) "
                "header, or a `signature` field." + _limits(SMALL_BODY),
                "parameters": business_query,
                "requestBody": {
                    "required": False,
                    "content": {
                        JSON: {"schema": _ref(schemas.CamsBusinessCall)},
                        FORM: {"schema": _ref(schemas.CamsBusinessCall)},
                    },
                },
            },
            "get": {
                **business_call,
                "operationId": "camsBusinessCallGet",
                "summary": "The business-system call with its fields in the query",
                "parameters": [
                    *business_query,
                    _param("intentData", "query", "Data for the flow: a JSON object."),
                    _param(
                        "channel",
                        "query",
                        "whatsapp, viber, ...",
                        {"type": "string", "pattern": schemas.ID_PATTERN},
                    ),
                ],
            },
        },
    }


def _tencent_paths() -> dict[str, Any]:
    return {
        "/tencent/callback": {
            "post": {
                "operationId": "tencentCallback",
                "tags": ["Tencent Chat"],
                "summary": "Tencent Cloud Chat third-party callback",
                "description": "C2C.CallbackAfterSendMsg of a customer's message to the bot is "
                "stored and answered; C2C.CallbackBeforeSendMsg is decided (allow, reject or "
                "drop, per BOT_TENCENT_OPTED_OUT); other commands are acknowledged. "
                "`Sign = sha256(token + RequestTime)`; RequestTime within "
                "BOT_TENCENT_MAX_SKEW of now; a callback is taken once (a replay is 401). "
                "The body's format is given by `contenttype=json` in the URL, not by a "
                "header; multipart is refused." + _limits(SMALL_BODY),
                "security": [{"tencentSign": []}],
                "parameters": [
                    _param("SdkAppid", "query", "The app's SdkAppid.", required=True),
                    _param(
                        "CallbackCommand",
                        "query",
                        "The callback's command.",
                        {"type": "string", "examples": ["C2C.CallbackAfterSendMsg"]},
                        required=True,
                    ),
                    _param(
                        "RequestTime",
                        "query",
                        "Unix seconds when the callback was made.",
                        {"type": "string", "pattern": "^[0-9]{10}$"},
                        required=True,
                    ),
                    _param("contenttype", "query", "Always json.", {"enum": ["json"]}),
                    _param("ClientIP", "query", "The sender's client IP."),
                    _param("OptPlatform", "query", "RESTAPI, Web, Android, iOS, ..."),
                ],
                "requestBody": _body(_ref(schemas.TencentCallback), "One callback."),
                "responses": {
                    "200": _json("Acknowledged or decided", _ref(schemas.TencentAnswer)),
                    **_errors(400, 401, 403, 408, 413, 415, 503),
                    "404": {"description": "Tencent Chat is not configured (no SdkAppid)"},
                },
            }
        }
    }


def _api_paths() -> dict[str, Any]:
    conversation = _param(
        "conversation",
        "path",
        "platform:channel:business:customer, e.g. cams:whatsapp:8613800000000:8613900000001",
        required=True,
    )
    idempotency = _param(
        "Idempotency-Key",
        "header",
        "Names the request: a repeat with the same key is recognised (at most 200 characters).",
        {"type": "string", "maxLength": 200},
    )
    hours = _param(
        "hours",
        "query",
        f"The window, hours up to now (default {WINDOW_HOURS}).",
        {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_HOURS},
    )
    dead = _param(
        "id", "path", "A dead letter's `PARTITION-STREAMID`, e.g. 3-1700000000000-0", required=True
    )
    api = {"tags": ["API"], "security": [{"apiKey": []}]}
    accepted = _json("Stored; the work happens shortly", _ref(schemas.Accepted))
    body_note = " An empty body is `{}`." + _limits(SMALL_BODY)
    return {
        "/v1/intents/{code}": {
            "post": {
                **api,
                "operationId": "startIntent",
                "summary": "Start an intent for a customer",
                "description": "Content-Type application/json." + _limits(SMALL_BODY),
                "parameters": [
                    _param("code", "path", "The intent's code.", required=True),
                    idempotency,
                ],
                "requestBody": _body(_ref(IntentRequest), "The customer and data."),
                "responses": {
                    "202": accepted,
                    **_errors(400, 401, 404, 408, 409, 413, 415, 503),
                },
            }
        },
        "/v1/conversations": {
            "get": {
                **api,
                "operationId": "findConversations",
                "summary": "Find conversations",
                "description": (
                    "The conversations stepped within BOT_CONVERSATION_TTL, the last stepped "
                    "first, as the filters say, a page at a time. A page may hold fewer than "
                    "`limit` (a search looks at a few thousand conversations at most per "
                    "page) while `next` says there is more."
                ),
                "parameters": [
                    _param(
                        "customer",
                        "query",
                        "The customer: a number (E.164, + optional) or an account.",
                    ),
                    _param("flow", "query", "In this flow."),
                    _param("state", "query", "In this state."),
                    _param(
                        "handoff",
                        "query",
                        "In a human handoff (true) or not (false).",
                        {"type": "boolean"},
                    ),
                    _param("since", "query", "Stepped since: ms since the epoch, or ISO 8601."),
                    *_paging("Conversations", CONVERSATIONS_PAGE, MAX_CONVERSATIONS_PAGE),
                ],
                "responses": {
                    "200": _json("A page of conversations", _ref(schemas.Conversations)),
                    **_errors(400, 401, 503),
                },
            }
        },
        "/v1/conversations/{conversation}": {
            "get": {
                **api,
                "operationId": "getConversation",
                "summary": "Where a conversation stands",
                "parameters": [conversation],
                "responses": {
                    "200": _json("The conversation", _ref(schemas.ConversationState)),
                    **_errors(401, 404, 503),
                },
            },
            "delete": {
                **api,
                "operationId": "eraseConversation",
                "summary": "Erase a customer's conversation",
                "description": (
                    "Its state, history, timers, events and replies waiting, dead letters and "
                    "delivery records, at once; an opt-out is kept, under a one-way hash. "
                    "Idempotent: erasing again erases nothing."
                ),
                "parameters": [conversation],
                "responses": {
                    "200": _json("What was erased", _ref(schemas.Erasure)),
                    **_errors(401, 404, 503),
                },
            },
        },
        "/v1/conversations/{conversation}/history": {
            "get": {
                **api,
                "operationId": "getConversationHistory",
                "summary": "What was said and done in a conversation",
                "description": (
                    "Its messages in, its replies out and their delivery statuses, and every "
                    "step, oldest first, a page at a time. Kept as BOT_HISTORY_LENGTH and "
                    "BOT_HISTORY_TTL say; what was written only with BOT_HISTORY_TEXT."
                ),
                "parameters": [
                    conversation,
                    *_paging("Entries", HISTORY_PAGE, MAX_HISTORY_PAGE),
                ],
                "responses": {
                    "200": _json("A page of history", _ref(schemas.ConversationHistory)),
                    **_errors(400, 401, 404, 503),
                },
            }
        },
        "/v1/messages/{task}": {
            "get": {
                **api,
                "operationId": "getMessage",
                "summary": "One reply, by its TaskId, and its delivery statuses",
                "parameters": [
                    _param(
                        "task",
                        "path",
                        "The reply's TaskId, e.g. 0123456789abcdef.3.0",
                        required=True,
                    ),
                ],
                "responses": {
                    "200": _json("The reply", _ref(schemas.MessageState)),
                    **_errors(401, 404, 503),
                },
            }
        },
        "/v1/flows": {
            "get": {
                **api,
                "operationId": "listFlows",
                "summary": "The flows, with their totals",
                "description": (
                    "Each flow with the conversations standing in it now and, over the window, "
                    "the states entered, the moves of its machine and the exits."
                ),
                "parameters": [hours],
                "responses": {
                    "200": _json("The flows", _ref(schemas.FlowList)),
                    **_errors(400, 401, 503),
                },
            }
        },
        "/v1/flows/{name}": {
            "get": {
                **api,
                "operationId": "getFlow",
                "summary": "One flow's machine with its counts",
                "description": (
                    "Its states (conversations standing in each now; entries and exits over "
                    "the window) and its transitions as the compiled machine has them (moves "
                    "over the window). Counted in Redis by every process's steps."
                ),
                "parameters": [
                    _param("name", "path", "The flow's name.", required=True),
                    hours,
                ],
                "responses": {
                    "200": _json("The flow", _ref(schemas.FlowDetail)),
                    **_errors(400, 401, 404, 503),
                },
            }
        },
        "/v1/dead-letters": {
            "get": {
                **api,
                "operationId": "listDeadLetters",
                "summary": "The dead letters, oldest first",
                "description": (
                    "Events no step could handle and replies given up, of every partition, "
                    "a page at a time."
                ),
                "parameters": [
                    *_paging("Dead letters", DEAD_PAGE, MAX_DEAD_PAGE),
                    _param(
                        "account",
                        "query",
                        "Only those of the conversations of this platform account (`default`, "
                        "or an `account:` of `numbers:`). A request reads at most 10,000 dead "
                        "letters: a page may then be short, its `next` goes on.",
                    ),
                ],
                "responses": {
                    "200": _json("A page of dead letters", _ref(schemas.DeadLetters)),
                    **_errors(400, 401, 503),
                },
            }
        },
        "/v1/dead-letters/{id}/retry": {
            "post": {
                **api,
                "operationId": "retryDeadLetter",
                "summary": "Put a dead letter back where it came from",
                "description": "No body (an empty one, or `{}`)." + _limits(SMALL_BODY),
                "parameters": [dead],
                "responses": {
                    "200": _json("Back in its inbox or outbox", _ref(schemas.DeadLetterRetried)),
                    **_errors(400, 401, 404, 408, 409, 413, 415, 503),
                },
            }
        },
        "/v1/dead-letters/{id}": {
            "delete": {
                **api,
                "operationId": "dropDeadLetter",
                "summary": "Forget a dead letter",
                "parameters": [dead],
                "responses": {
                    "200": _json("Dropped", _ref(schemas.DeadLetterDropped)),
                    **_errors(401, 404, 503),
                },
            }
        },
        "/v1/conversations/{conversation}/resume": {
            "post": {
                **api,
                "operationId": "resumeConversation",
                "summary": "End a human handoff",
                "description": "Content-Type application/json." + body_note,
                "parameters": [conversation, idempotency],
                "requestBody": _body(_ref(ResumeRequest), "Where to go on.", required=False),
                "responses": {"202": accepted, **_errors(400, 401, 404, 408, 413, 415, 503)},
            }
        },
        "/v1/conversations/{conversation}/restart": {
            "post": {
                **api,
                "operationId": "restartConversation",
                "summary": "Start the conversation's flow again",
                "description": (
                    "The flow under way starts again at its start state: its data back to the "
                    "flow's defaults, timers, code and handoff ended, queued intents kept; the "
                    "start state's message is sent. A conversation in no flow, or of a "
                    "customer who opted out, is left as it is. Content-Type application/json."
                    + body_note
                ),
                "parameters": [conversation, idempotency],
                "requestBody": _body(_ref(RestartRequest), "Nothing: `{}`.", required=False),
                "responses": {"202": accepted, **_errors(400, 401, 404, 408, 413, 415, 503)},
            }
        },
        "/v1/conversations/{conversation}/messages": {
            "post": {
                **api,
                "operationId": "sendAgentMessage",
                "summary": "An agent answers the customer",
                "description": "Content-Type application/json." + _limits(SMALL_BODY),
                "parameters": [conversation, idempotency],
                "requestBody": _body(_ref(AgentMessage), "The agent's text."),
                "responses": {"202": accepted, **_errors(400, 401, 404, 408, 413, 415, 503)},
            }
        },
    }


def _campaign_paths(settings: Settings) -> dict[str, Any]:
    api = {"tags": ["Campaigns"], "security": [{"apiKey": []}]}
    campaign = _param("campaign", "path", "The campaign's id, e.g. 0123456789abcdef", required=True)
    idempotency = _param(
        "Idempotency-Key",
        "header",
        "Names the campaign: a create repeated with the same key answers the same campaign "
        "(`repeat`: true), and stores what a create cut short left out (at most 200 "
        "characters).",
        {"type": "string", "maxLength": 200},
    )
    text = {"type": "string"}
    csv_options = [
        _param("intent", "query", "CSV only, and then required: the intent to start."),
        _param("name", "query", "CSV only: a name for people.", {**text, "maxLength": MAX_NAME}),
        _param(
            "rate",
            "query",
            "CSV only: first messages per second (default 10).",
            {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RATE},
        ),
        _param("start_at", "query", "CSV only: when the first may go (ms or ISO 8601)."),
        _param("end_by", "query", "CSV only: after this, none goes (ms or ISO 8601)."),
        _param(
            "quiet_hours",
            "query",
            "CSV only: local hours when nobody is messaged, e.g. 21:00-08:00.",
            {**text, "maxLength": 16},
        ),
        _param("timezone", "query", "CSV only: the time zone of numbers that tell none."),
        _param("mid_flow", "query", "CSV only: default skip.", {"enum": ["skip", "queue"]}),
        _param(
            "skip_if_messaged_within_hours",
            "query",
            "CSV only: skip customers whose conversation stepped within this many hours.",
            {"type": "number", "minimum": 0, "maximum": MAX_RECENT_HOURS},
        ),
        _param("business", "query", "CSV only: the business number; default BOT_CAMS_FROM."),
        _param("channel", "query", "CSV only: default BOT_CAMS_CHANNEL."),
        _param("space", "query", "CSV only: the CAMS CustSpaceId of the channel."),
    ]
    limit = settings.campaign_max_body
    moved = _json("Where the campaign is now", _ref(schemas.CampaignMoved))
    no_body = "No body (an empty one, or `{}`)." + _limits(SMALL_BODY)
    move_errors = _errors(400, 401, 404, 408, 409, 413, 415, 503)
    return {
        "/v1/campaigns": {
            "post": {
                **api,
                "operationId": "createCampaign",
                "summary": "Start an intent for many customers, paced and scheduled",
                "description": (
                    "The recipients come as JSON (`application/json`: the options and a list "
                    "of recipients) or as a CSV file (`text/csv`, the options in the query): "
                    "its first line names the columns, `customer` among them, `tz` "
                    "optionally (a recipient's time zone); every other column is a data field "
                    "of each recipient, its values strings. RFC 4180 quoting, UTF-8, a "
                    "byte-order mark tolerated, blank lines skipped; a header without "
                    "`customer` or with an empty or repeated name, a line with another number "
                    "of fields, bad quoting: 400 naming the line. Each customer is read as "
                    "`POST /v1/intents` reads one (400 naming the first that is none, by its "
                    f"place); a customer listed twice is messaged once. At most {MAX_RECIPIENTS}"
                    " recipients (413 beyond). Answered 202 once every recipient is stored; the "
                    "campaign then starts each as its time comes (`start_at`, quiet hours in "
                    "the recipient's time zone: `tz`, else the number's country's, else "
                    "`timezone`), at `rate` across every process. A request cut short leaves "
                    "the campaign `creating`, where nobody is messaged: send it again with its "
                    "Idempotency-Key. A key used before for other options or another number "
                    f"of recipients is 409. The body is at most {limit} bytes "
                    "(BOT_CAMPAIGN_MAX_BODY; 413 beyond), not compressed (415 for a "
                    "Content-Encoding); JSON in UTF-8 without duplicate keys, NaN or Infinity,"
                    f" nested at most {MAX_DEPTH} deep (400 otherwise)."
                ),
                "parameters": [idempotency, *csv_options],
                "requestBody": {
                    "description": "The campaign and its recipients, or a CSV of recipients.",
                    "required": True,
                    "content": {
                        JSON: {"schema": _ref(CampaignRequest)},
                        "text/csv": {
                            "schema": {
                                "type": "string",
                                "examples": [
                                    "customer,name,tz\n+8613900000001,Ana,Asia/Shanghai\n"
                                ],
                            }
                        },
                    },
                },
                "responses": {
                    "202": _json("Every recipient is stored", _ref(schemas.CampaignCreated)),
                    **_errors(400, 401, 404, 408, 409, 413, 415, 503),
                },
            },
            "get": {
                **api,
                "operationId": "listCampaigns",
                "summary": "The campaigns, the newest first",
                "parameters": _paging("Campaigns", PAGE, MAX_PAGE),
                "responses": {
                    "200": _json("A page of campaigns", _ref(schemas.CampaignList)),
                    **_errors(400, 401, 503),
                },
            },
        },
        "/v1/campaigns/{campaign}": {
            "get": {
                **api,
                "operationId": "getCampaign",
                "summary": "A campaign, its options and counts",
                "parameters": [campaign],
                "responses": {
                    "200": _json("The campaign", _ref(schemas.Campaign)),
                    **_errors(401, 404, 503),
                },
            }
        },
        "/v1/campaigns/{campaign}/recipients": {
            "get": {
                **api,
                "operationId": "listCampaignRecipients",
                "summary": "A campaign's recipients and where each stands",
                "description": (
                    "A page at a time, in no order (a page per partition's scan: `limit` is "
                    "how many are looked at, about). With `status`, only the recipients of "
                    "that status are kept, so a page may hold few or none while `next` says "
                    "there is more: follow `next` until it is null."
                ),
                "parameters": [
                    campaign,
                    _param("status", "query", "Only these.", {"enum": list(STATUSES)}),
                    *_paging("Recipients looked at", RECIPIENTS_PAGE, MAX_RECIPIENTS_PAGE),
                ],
                "responses": {
                    "200": _json("A page of recipients", _ref(schemas.CampaignRecipients)),
                    **_errors(400, 401, 404, 503),
                },
            }
        },
        "/v1/campaigns/{campaign}/pause": {
            "post": {
                **api,
                "operationId": "pauseCampaign",
                "summary": "Pause a running campaign: nobody more is messaged until resumed",
                "description": "409 unless it is running (or paused already). " + no_body,
                "parameters": [campaign],
                "requestBody": _body(_ref(CampaignAction), "Nothing: `{}`.", required=False),
                "responses": {"200": moved, **move_errors},
            }
        },
        "/v1/campaigns/{campaign}/resume": {
            "post": {
                **api,
                "operationId": "resumeCampaign",
                "summary": "Resume a paused campaign",
                "description": "409 unless it is paused (or running already). " + no_body,
                "parameters": [campaign],
                "requestBody": _body(_ref(CampaignAction), "Nothing: `{}`.", required=False),
                "responses": {"200": moved, **move_errors},
            }
        },
        "/v1/campaigns/{campaign}/cancel": {
            "post": {
                **api,
                "operationId": "cancelCampaign",
                "summary": "Cancel a campaign: nobody more is messaged, ever",
                "description": (
                    "The recipients still pending are counted cancelled (`cancelled`: how "
                    "many). 409 for a campaign that is done. " + no_body
                ),
                "parameters": [campaign],
                "requestBody": _body(_ref(CampaignAction), "Nothing: `{}`.", required=False),
                "responses": {"200": moved, **move_errors},
            }
        },
    }


def _operations_paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["Operations"],
                "summary": "Liveness: the process answers",
                "responses": {"200": _json("Up", _ref(schemas.Health))},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["Operations"],
                "summary": "Readiness: Redis answers and flows are loaded",
                "responses": {
                    "200": _json("Ready", _ref(schemas.Ready)),
                    "503": _json("Not ready", _ref(schemas.NotReady)),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["Operations"],
                "summary": "Prometheus metrics (text exposition format)",
                "description": "Needs `Authorization: Bearer TOKEN` when BOT_METRICS_TOKEN is set.",
                "security": [{}, {"metricsToken": []}],
                "responses": {
                    "200": {
                        "description": "The metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(401),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["Operations"],
                "summary": "This description",
                "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
            }
        },
    }


def _sandbox_paths() -> dict[str, Any]:
    to = _param("to", "query", "Only what was sent to this number or account.")
    listing = {"type": "array", "items": {"type": "object"}}
    tags = ["Sandbox"]
    return {
        "/sandbox/messages": {
            "get": {
                "operationId": "sandboxMessages",
                "tags": tags,
                "summary": "What the fake CAMS received (replies), oldest first",
                "parameters": [to],
                "responses": {"200": _json("Sent messages", listing)},
            }
        },
        "/sandbox/tencent/messages": {
            "get": {
                "operationId": "sandboxTencentMessages",
                "tags": tags,
                "summary": "What the fake Tencent Chat received",
                "parameters": [to],
                "responses": {"200": _json("Sent messages", listing)},
            }
        },
        "/sandbox/orders/{order}": {
            "get": {
                "operationId": "sandboxOrder",
                "tags": tags,
                "summary": "A stand-in order API for the example flows",
                "description": "Orders starting with A are found, with S answer after 10 s, "
                "others are unknown. Needs `Authorization: Bearer sandbox`.",
                "security": [{"apiKey": []}],
                "parameters": [_param("order", "path", "The order number.", required=True)],
                "responses": {
                    "200": _json("The order", {"type": "object"}),
                    "401": _json("Wrong token", _ref(schemas.SandboxError)),
                    "404": _json("No such order", _ref(schemas.SandboxError)),
                },
            }
        },
        "/sandbox/agent": {
            "post": {
                "operationId": "sandboxAgentPost",
                "tags": tags,
                "summary": "A stand-in agent desk: prints what customers write",
                "description": "Content-Type application/json." + _limits(SMALL_BODY),
                "requestBody": _body(_ref(schemas.SandboxAgentMessage), "A forwarded message."),
                "responses": {
                    "200": _json("Printed", _ref(schemas.SandboxOk)),
                    **_errors(400, 408, 413, 415),
                },
            },
            "get": {
                "operationId": "sandboxAgentGet",
                "tags": tags,
                "summary": "What the sandbox agent desk received",
                "responses": {"200": _json("Received messages", listing)},
            },
        },
    }


SECURITY_SCHEMES: dict[str, Any] = {
    "receiptToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "BOT_CAMS_RECEIPT_TOKEN, in the receipt URL set in the CAMS console.",
    },
    "businessSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Signature",
        "description": "The business system's Signature of the CAMS console (BOT_CAMS_SIGNATURE).",
    },
    "tencentSign": {
        "type": "apiKey",
        "in": "query",
        "name": "Sign",
        "description": "Hex sha256 of the callback token (BOT_TENCENT_CALLBACK_TOKEN) followed "
        "by RequestTime; SdkAppid must be BOT_TENCENT_SDKAPPID.",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A key of BOT_API_KEYS (sandbox: `sandbox`).",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token of BOT_METRICS_TOKEN, when set.",
    },
}


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 description of a server run with `settings`."""
    paths = {
        **_cams_paths(settings),
        **_tencent_paths(),
        **_api_paths(),
        **_campaign_paths(settings),
        **_operations_paths(),
    }
    if settings.sandbox_mode:
        paths.update(_sandbox_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bot",
            "version": __version__,
            "summary": "Conversation server for business messaging (CAMS, Tencent Chat)",
            "description": "Callbacks of CAMS and Tencent Cloud Chat, the business API and "
            "the operational endpoints. Every refusal is a 4xx with a JSON body "
            "`{code, msg}` whose `msg` says why.",
        },
        "paths": paths,
        "components": {"schemas": component_schemas(), "securitySchemes": SECURITY_SCHEMES},
    }


def routes() -> list[web.RouteDef]:
    """`GET /openapi.json`, made on the first request and kept for the app's life (the
    settings do not change; making it takes milliseconds of CPU a caller should not get
    for free)."""
    made: list[str] = []

    async def openapi(request: web.Request) -> web.Response:
        if not made:
            made.append(json.dumps(document(request.app[SETTINGS])))
        return web.Response(text=made[0], content_type="application/json")

    return [web.get("/openapi.json", openapi)]
