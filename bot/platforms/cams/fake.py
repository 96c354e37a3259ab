"""A fake CAMS send API (`SendChatappMessage`, and ListChatappTemplate and
GetChatappTemplateDetail over the templates it is given) as an aiohttp app, for tests and
sandbox mode.

It behaves like the POP gateway in front of CAMS where that matters to a client: it checks
the action and version headers, verifies the V3 signature with the same `verify_request` the
tests cross-check against the official SDK, rejects replayed nonces, throttles per
sliding second, validates parameters roughly as the real API does, and records every
accepted message. Faults (status codes, delays) can be queued for reliability tests.

Status codes answered (POP conventions; see cams-protocol.md §3 and Alibaba's public error
tables, where signature errors are 400 and an unknown AccessKey is 404):

* 200 `{"Code": "OK", "MessageId": ...}`: accepted and recorded.
* 200 `{"Code": "Invalid.<Param>" | "Invalid.Parameter", ...}`: business validation errors
  (a template send is checked against the template of its code and language, when the fake
  is given it: its variables and its media header's URL in TemplateParams).
* 400 `Missing<Param>`: a required parameter (ChannelType, Type, From, To) is absent.
* 400 `InvalidAction.NotFound` / `InvalidVersion`: wrong `x-acs-action` / `x-acs-version`.
* 400 `SignatureDoesNotMatch`, `IncompleteSignature`, `MissingAuthorization`,
  `InvalidTimeStamp.*`, `ContentSha256Mismatch`, `SignatureNonceUsed`; 404
  `InvalidAccessKeyId.NotFound`.
* 429 `Throttling.User` with `x-acs-retry-after` (ms) and `Retry-After` (s).
* Whatever `fail_next` queued.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from bot.errors import SignatureMismatch
from bot.phones import lookup_form
from bot.platforms.cams.client import ACTION, API_VERSION, FORM_CONTENT_TYPE, Clock, utc_now
from bot.platforms.cams.signing import verify_request
from bot.platforms.cams.templates import header_of, header_variable, variables

KNOWN_CHANNELS: Final = frozenset({"whatsapp", "messenger", "instagram", "telegram", "viber"})
PHONE_CHANNELS: Final = frozenset({"whatsapp", "viber"})
META_PAGE_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "video",
        "document",
        "audio",
        "interactive",
        "couponTemplate",
        "regularTemplate",
        "quickReply",
        "buttonTemplate",
    }
)
MESSAGE_TYPES: Final[Mapping[str, frozenset[str]]] = {
    "whatsapp": frozenset(
        {
            "text",
            "image",
            "video",
            "audio",
            "document",
            "interactive",
            "location",
            "contacts",
            "reaction",
            "sticker",
            "typing_indicator",
            "pin",
            "carousel",
        }
    ),
    "viber": frozenset(
        {
            "text",
            "image",
            "text_image_button",
            "text_button",
            "document",
            "video",
            "text_video",
            "text_video_button",
            "text_image",
        }
    ),
    "messenger": META_PAGE_TYPES,
    "instagram": META_PAGE_TYPES,
    "telegram": frozenset(
        {"text", "image", "video", "audio", "document", "location", "gif", "sticker"}
    ),
}
REQUIRED_PARAMS: Final = ("ChannelType", "Type", "From", "To")
PHONE_RE: Final = re.compile(r"\+?[0-9]{3,20}")
SIGNED_HEADERS_RE: Final = re.compile(r"SignedHeaders=([^,\s]*)")
CREDENTIAL_RE: Final = re.compile(r"Credential=([^,\s]*)")
MAX_REPLY_BUTTONS, BUTTON_TITLE_MAX = 3, 20
MAX_LIST_ROWS, ROW_TITLE_MAX, LIST_BUTTON_MAX, MAX_SECTIONS = 10, 24, 20, 10
ROW_DESCRIPTION_MAX = 72

OnMessage = Callable[[Mapping[str, str]], None]


class ApiError(Exception):
    """An error answer of the fake: HTTP status, POP code, message and, for throttling,
    the seconds until a retry can succeed."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _invalid(code: str, message: str) -> ApiError:
    """A business validation error: CAMS answers these with HTTP 200 and a non-OK Code."""
    return ApiError(200, code, message)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """Where a received send carried its data, for tests that compare transports (the
    official SDK puts every parameter in the query and signs all its headers; we use a form
    body and sign only the required headers)."""

    raw_query: str
    content_type: str
    body_size: int
    signed_headers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fault:
    """One queued misbehaviour: answer `status`/`code` or first sleep `delay` seconds; to
    the next send to `to` only, when set."""

    status: int = 0
    code: str = ""
    retry_after: float | None = None
    delay: float = 0.0
    to: str = ""


class FakeCams:
    """The fake's state and recorder. Tests reach it through `app[FAKE_CAMS]`."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        rate_limit: int = 250,
        clock: Clock = utc_now,
        on_message: OnMessage | None = None,
        max_skew_seconds: int = 900,
        templates: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        # The account's templates, as GetChatappTemplateDetail's Data gives each (one per
        # code and language): ListChatappTemplate lists them, without their Components.
        self.templates: list[dict[str, Any]] = [dict(t) for t in templates]
        self.credentials = dict(credentials)
        self.rate_limit = rate_limit
        self.clock = clock
        self.on_message = on_message
        self.max_skew_seconds = max_skew_seconds
        self.messages: list[dict[str, str]] = []
        self.errors: list[str] = []  # the Code of every non-OK answer, in order
        # When each of `messages` passed the throttle (time.monotonic()), in the same order.
        self.arrivals: list[float] = []
        self.seen: deque[SeenRequest] = deque(maxlen=1000)  # newest last, bounded
        self._changed = asyncio.Condition()
        self._faults: deque[Fault] = deque()
        # Which AccessKey ID signed each of `messages`, in the same order.
        self.signers: list[str] = []
        # Each AccessKey ID's admitted requests of the last second: CAMS's limit is per account.
        self._windows: dict[str, deque[float]] = {}
        self._nonces: dict[str, float] = {}

    def fail_next(
        self,
        status: int,
        code: str,
        times: int = 1,
        retry_after: float | None = None,
        *,
        to: str = "",
    ) -> None:
        """Answer the next `times` authenticated sends (to `to` only, when given) with
        `status` and `code`."""
        fault = Fault(status=status, code=code, retry_after=retry_after, to=lookup_form(to))
        self._faults.extend([fault] * times)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Answer the next `times` sends `seconds` late. They are processed (and, if valid,
        recorded) first, as a real send whose client timed out may still have gone out."""
        self._faults.extend([Fault(delay=seconds)] * times)

    def sent_to(self, to: str) -> list[dict[str, str]]:
        want = lookup_form(to)
        return [m for m in self.messages if lookup_form(m.get("To", "")) == want]

    # ASYNC109: callers asked for `wait_for(count, timeout)`; the default bound keeps a
    # broken test from hanging until the suite's global timeout.
    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:  # noqa: ASYNC109
        """Wait until at least `count` messages were accepted; TimeoutError otherwise."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.messages) >= count)
        return list(self.messages)

    def check_nonce(self, nonce: str, now: float) -> None:
        cutoff = now - self.max_skew_seconds
        while self._nonces and next(iter(self._nonces.values())) < cutoff:
            del self._nonces[next(iter(self._nonces))]
        if nonce in self._nonces:
            raise ApiError(400, "SignatureNonceUsed", "the signature nonce has been used")
        self._nonces[nonce] = now

    def admit(self, now: float, access_key_id: str = "") -> None:
        """Sliding one-second window over an account's admitted requests; raises 429 when
        full."""
        window = self._windows.setdefault(access_key_id, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = max(window[0] + 1.0 - now, 0.001)
            raise ApiError(
                429, "Throttling.User", "Request was denied due to user flow control.", wait
            )
        window.append(now)

    def next_fault(self, to: str = "") -> Fault | None:
        """The first fault queued for a send to `to` (or to anyone), taken off the queue."""
        to = lookup_form(to)
        for i, fault in enumerate(self._faults):
            if not fault.to or fault.to == to:
                del self._faults[i]
                return fault
        return None

    async def record(
        self, params: Mapping[str, str], arrived: float | None = None, access_key_id: str = ""
    ) -> str:
        message_id = uuid.uuid4().hex
        entry = {**params, "MessageId": message_id}
        async with self._changed:
            self.messages.append(entry)
            self.signers.append(access_key_id)
            self.arrivals.append(time.monotonic() if arrived is None else arrived)
            self._changed.notify_all()
        if self.on_message is not None:
            self.on_message(entry)
        return message_id


FAKE_CAMS: Final = web.AppKey("fake_cams", FakeCams)


def _json_value(params: Mapping[str, str], name: str) -> Any:
    try:
        return json.loads(params[name])
    except (ValueError, RecursionError):
        raise _invalid(f"Invalid.{name}", f"{name} must be valid JSON") from None


def _text(value: Any, limit: int | None = None) -> bool:
    return isinstance(value, str) and bool(value) and (limit is None or len(value) <= limit)


def _check_interactive(content: Mapping[str, Any]) -> None:
    kind, action, body = content.get("type"), content.get("action"), content.get("body")
    if not isinstance(kind, str) or not isinstance(action, dict):
        raise _invalid("Invalid.Content", "interactive Content needs type and action")
    if kind not in ("button", "list", "cta_url"):
        return
    if not isinstance(body, dict) or not _text(body.get("text")):
        raise _invalid("Invalid.Content", "interactive Content needs body.text")
    if kind == "cta_url":
        _check_cta_url(action)
        return
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_REPLY_BUTTONS:
            raise _invalid("Invalid.Content", "a button message needs 1-3 buttons")
        ids = [
            _check_item(b.get("reply") if isinstance(b, dict) else None, BUTTON_TITLE_MAX)
            for b in buttons
        ]
    else:
        sections = action.get("sections")
        if not _text(action.get("button"), LIST_BUTTON_MAX) or not isinstance(sections, list):
            raise _invalid("Invalid.Content", "a list message needs action.button and sections")
        row_lists = [s.get("rows") if isinstance(s, dict) else None for s in sections]
        if not all(isinstance(r, list) for r in row_lists):
            raise _invalid("Invalid.Content", "each list section needs rows")
        rows = [row for r in row_lists if isinstance(r, list) for row in r]
        if not 1 <= len(rows) <= MAX_LIST_ROWS:
            raise _invalid("Invalid.Content", "a list message needs 1-10 rows")
        ids = [_check_item(r, ROW_TITLE_MAX) for r in rows]
        if any(isinstance(r, dict) and "description" in r
               and not _text(r["description"], ROW_DESCRIPTION_MAX) for r in rows):  # fmt: skip
            raise _invalid("Invalid.Content", "a row's description: 1-72 characters")
        if any(isinstance(s, dict) and "title" in s and not _text(s["title"], 24)
               for s in sections):  # fmt: skip
            raise _invalid("Invalid.Content", "a section's title: 1-24 characters")
        if len(sections) > MAX_SECTIONS:
            raise _invalid("Invalid.Content", "a list message has at most 10 sections")
        if len(sections) > 1 and any(
            not (isinstance(s, dict) and s.get("title")) for s in sections
        ):
            raise _invalid("Invalid.Content", "each section of a list of several needs a title")
    if len(set(ids)) != len(ids):
        raise _invalid("Invalid.Content", "button and row ids must be unique")


def _https(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("https://") and len(value) > 8


def _check_cta_url(action: Mapping[str, Any]) -> None:
    """A call-to-action URL button: `name` cta_url, a `display_text` of 1-20 characters and
    an https `url`, as Meta takes it."""
    parameters = action.get("parameters")
    if action.get("name") != "cta_url" or not isinstance(parameters, dict):
        raise _invalid("Invalid.Content", "a cta_url message needs action.name cta_url and "
                       "action.parameters")  # fmt: skip
    if not _text(parameters.get("display_text"), BUTTON_TITLE_MAX):
        raise _invalid("Invalid.Content", "a cta_url's display_text: 1-20 characters")
    if not _https(parameters.get("url")):
        raise _invalid("Invalid.Content", "a cta_url needs an https url")


def check_template_send(templates: Sequence[Mapping[str, Any]], params: Mapping[str, str]) -> None:
    """A template send against the account's template of its code and language, when the
    fake knows it: every variable of its components is in TemplateParams, and a media
    header's https URL under `link` (or the variable its header names). Raises `ApiError`."""
    code = params.get("TemplateCode") or params.get("TemplateName")
    language = params.get("Language")
    known = next((t for t in templates if language == t.get("Language")
                  and code in (t.get("TemplateCode"), t.get("TemplateName"))), None)  # fmt: skip
    if known is None:
        return
    given = json.loads(params.get("TemplateParams") or "{}")
    missing = [name for name in variables(known) if name not in given]
    if missing:
        raise _invalid("Invalid.TemplateParams", f"TemplateParams lacks the template's "
                       f"variables {', '.join(missing)}")  # fmt: skip
    header = header_variable(known)
    if header is not None and not _https(given.get(header)):
        raise _invalid("Invalid.TemplateParams", f"the template's {header_of(known)} header "
                       f"needs an https URL as `{header}` in TemplateParams")  # fmt: skip


def _check_media(kind: str, content: Mapping[str, Any]) -> None:
    """A media message needs an https `link`; a document its `fileName`; audio no caption."""
    link = content.get("link", content.get("Link"))
    if not isinstance(link, str) or not link.startswith("https://"):
        raise _invalid("Invalid.Content", f"a {kind} message needs an https link")
    if kind == "document" and not _text(content.get("fileName", content.get("FileName"))):
        raise _invalid("Invalid.Content", "a document message needs a fileName")
    if kind == "audio" and ("caption" in content or "Caption" in content):
        raise _invalid("Invalid.Content", "an audio message has no caption")


def _check_location(content: Mapping[str, Any]) -> None:
    lat, lon = content.get("latitude"), content.get("longitude")
    if not (isinstance(lat, int | float) and isinstance(lon, int | float)
            and -90 <= lat <= 90 and -180 <= lon <= 180):  # fmt: skip
        raise _invalid("Invalid.Content", "a location needs latitude and longitude")


def _check_item(item: Any, title_max: int) -> str:
    if (
        not isinstance(item, dict)
        or not _text(item.get("id"), 256)
        or not _text(item.get("title"), title_max)
    ):
        raise _invalid(
            "Invalid.Content", f"each option needs an id and a title of 1-{title_max} chars"
        )
    return str(item["id"])


def validate_params(params: Mapping[str, str]) -> None:
    """Reject what SendChatappMessage would reject; raises `ApiError`."""
    for name in REQUIRED_PARAMS:
        if not params.get(name):
            raise ApiError(400, f"Missing{name}", f"{name} is mandatory for this action.")
    channel, kind = params["ChannelType"], params["Type"]
    if channel not in KNOWN_CHANNELS:
        raise _invalid("Invalid.ChannelType", f"unknown ChannelType {channel!r}")
    if kind not in ("template", "message"):
        raise _invalid("Invalid.Type", "Type must be template or message")
    if channel in PHONE_CHANNELS and not PHONE_RE.fullmatch(params["To"]):
        raise _invalid("Invalid.To", "To must be a phone number")
    if "TemplateParams" in params:
        tp = _json_value(params, "TemplateParams")
        if not isinstance(tp, dict) or not all(isinstance(v, str) for v in tp.values()):
            raise _invalid("Invalid.TemplateParams", "TemplateParams must map names to strings")
    if "Payload" in params:
        payload = _json_value(params, "Payload")
        if not isinstance(payload, list) or not all(isinstance(p, str) for p in payload):
            raise _invalid("Invalid.Payload", "Payload must be an array of strings")
    if kind == "template":
        if not (params.get("TemplateCode") or params.get("TemplateName")):
            raise _invalid("Invalid.Parameter", "TemplateCode or TemplateName is required")
        if not params.get("Language"):
            raise _invalid("Invalid.Parameter", "Language is required for a template")
        return
    message_type = params.get("MessageType", "")
    if not message_type:
        raise _invalid("Invalid.Parameter", "MessageType is required when Type is message")
    if message_type not in MESSAGE_TYPES[channel]:
        raise _invalid("Invalid.MessageType", f"{message_type!r} is not valid on {channel}")
    if not params.get("Content"):
        raise _invalid("Invalid.Parameter", "Content is required when Type is message")
    content = _json_value(params, "Content")
    if not isinstance(content, dict):
        raise _invalid("Invalid.Content", "Content must be a JSON object")
    if message_type == "text" and not _text(content.get("text", content.get("Text"))):
        raise _invalid("Invalid.Content", "a text message needs a non-empty text")
    if message_type == "interactive":
        _check_interactive(content)
    if message_type in ("image", "video", "audio", "document"):
        _check_media(message_type, content)
        if channel == "viber" and message_type == "document" and not _text(content.get("fileType")):
            raise _invalid("Invalid.Content", "a Viber document needs its fileType")
        if channel == "viber" and message_type == "video":
            for name in ("thumbnail", "fileSize", "duration"):
                if name not in content:
                    raise _invalid("Invalid.Content", f"a Viber video needs its {name}")
    if message_type == "text_image" and not (
        _text(content.get("text")) and str(content.get("link", "")).startswith("https://")
    ):
        raise _invalid("Invalid.Content", "a text_image message needs a text and an https link")
    if message_type == "location":
        _check_location(content)


def _params(request: web.Request, body: bytes) -> dict[str, str]:
    """Query parameters, then form-body parameters over them, as the POP gateway merges."""
    params = dict(request.query)
    if body and request.content_type == FORM_CONTENT_TYPE:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "InvalidParameter", "the form body is not UTF-8") from None
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


TEMPLATE_ACTIONS: Final = ("ListChatappTemplate", "GetChatappTemplateDetail")


def _authenticate(request: web.Request, fake: FakeCams, body: bytes) -> str:
    """The AccessKey ID that signed the request, once its signature is checked."""
    if request.headers.get("x-acs-action") not in (ACTION, *TEMPLATE_ACTIONS):
        raise ApiError(
            400, "InvalidAction.NotFound",
            f"x-acs-action must be one of {', '.join((ACTION, *TEMPLATE_ACTIONS))}",
        )  # fmt: skip
    if request.headers.get("x-acs-version") != API_VERSION:
        raise ApiError(400, "InvalidVersion", f"x-acs-version must be {API_VERSION}")
    now = fake.clock()
    try:
        verify_request(
            fake.credentials,
            method=request.method,
            path=request.rel_url.raw_path,
            raw_query_string=request.rel_url.raw_query_string,
            headers=request.headers,
            body=body,
            now=now,
            max_skew_seconds=fake.max_skew_seconds,
        )
    except SignatureMismatch as e:
        status = 404 if e.code == "InvalidAccessKeyId.NotFound" else 400
        raise ApiError(status, e.code, e.reason) from None
    fake.check_nonce(request.headers["x-acs-signature-nonce"], now.timestamp())
    credential = CREDENTIAL_RE.search(request.headers.get("Authorization", ""))
    return credential.group(1) if credential else ""


def _answer(
    status: int, data: dict[str, Any], headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        data, status=status, headers={"x-acs-request-id": data["RequestId"], **(headers or {})}
    )


def _retry_headers(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {
        "x-acs-retry-after": str(max(1, math.ceil(seconds * 1000))),
        "Retry-After": str(max(1, math.ceil(seconds))),
    }


async def _send(request: web.Request) -> web.Response:
    fake = request.app[FAKE_CAMS]
    request_id = str(uuid.uuid4()).upper()
    body = await request.read()
    signed = SIGNED_HEADERS_RE.search(request.headers.get("Authorization", ""))
    fake.seen.append(
        SeenRequest(
            raw_query=request.rel_url.raw_query_string,
            content_type=request.content_type if body else "",
            body_size=len(body),
            signed_headers=tuple(signed.group(1).split(";")) if signed else (),
        )
    )
    delay = 0.0
    try:
        signer = _authenticate(request, fake, body)
        action = request.headers["x-acs-action"]
        if action != ACTION:
            answer = _template_action(fake, action, _params(request, body))
            return _answer(200, {"RequestId": request_id, "Code": "OK", **answer})
        arrived = time.monotonic()
        fake.admit(fake.clock().timestamp(), signer)
        params = _params(request, body)
        fault = fake.next_fault(params.get("To", ""))
        if fault is not None and not fault.delay:
            raise ApiError(fault.status, fault.code, "injected fault", fault.retry_after)
        delay = fault.delay if fault is not None else 0.0
        validate_params(params)
        if params["Type"] == "template":
            check_template_send(fake.templates, params)
        message_id = await fake.record(params, arrived, signer)
        response = _answer(
            200, {"RequestId": request_id, "Code": "OK", "Message": "OK", "MessageId": message_id}
        )
    except ApiError as e:
        fake.errors.append(e.code)
        error = {"RequestId": request_id, "Code": e.code, "Message": e.message}
        response = _answer(e.status, error, _retry_headers(e.retry_after))
    if delay:
        # Processed first, answered late: like CAMS accepting a send whose client gave up.
        await asyncio.sleep(delay)
    return response


_SUMMARY = ("TemplateCode", "TemplateName", "Language", "AuditStatus", "Category",
            "TemplateType")  # fmt: skip


def _template_action(fake: FakeCams, action: str, params: Mapping[str, str]) -> dict[str, Any]:
    """ListChatappTemplate (a page of summaries) or GetChatappTemplateDetail (one
    template's Data) over `fake.templates`."""
    if action == "ListChatappTemplate":
        try:
            page = json.loads(params.get("Page") or "{}")
        except ValueError:
            raise ApiError(400, "InvalidParameter", "Page is not a JSON object") from None
        lowered = {str(k).lower(): v for k, v in page.items()} if isinstance(page, dict) else {}
        index, size = int(lowered.get("index", 1)), int(lowered.get("size", 10))
        if not (index >= 1 and 1 <= size <= 100):
            raise ApiError(400, "InvalidParameter", "Page: Index from 1, Size from 1 to 100")
        chosen = fake.templates[(index - 1) * size : index * size]
        listed = [{k: t[k] for k in _SUMMARY if k in t} for t in chosen]
        return {"ListTemplate": listed, "Total": len(fake.templates)}
    code, language = params.get("TemplateCode", ""), params.get("Language", "")
    if not code or not language:
        raise ApiError(400, "MissingParameter", "TemplateCode and Language are required")
    for template in fake.templates:
        if template.get("TemplateCode") == code and template.get("Language") == language:
            return {"Data": template}
    raise ApiError(404, "Template.NotFound", f"no template {code} in {language}")


async def _messages(request: web.Request) -> web.Response:
    """GET /_fake/messages[?to=NUMBER]: the accepted messages, oldest first."""
    fake = request.app[FAKE_CAMS]
    to = request.query.get("to")
    return web.json_response(fake.sent_to(to) if to else fake.messages)


def create_fake_cams(
    credentials: Mapping[str, str],
    *,
    rate_limit: int = 250,
    clock: Clock = utc_now,
    on_message: OnMessage | None = None,
    templates: Sequence[Mapping[str, Any]] = (),
) -> web.Application:
    """The fake as an app: run it on a loopback port or mount it with `add_subapp`; the
    send API is then at the mount point's "/" (e.g. endpoint `http://host:port/prefix`)."""
    app = web.Application()
    app[FAKE_CAMS] = FakeCams(
        credentials, rate_limit=rate_limit, clock=clock, on_message=on_message,
        templates=templates,
    )  # fmt: skip
    app.router.add_post("/", _send)
    app.router.add_get("/_fake/messages", _messages)
    return app
