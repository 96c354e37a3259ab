"""The CAMS send client: an `Outgoing` reply becomes one signed `SendChatappMessage` call.

Three pieces, each testable alone: `build_params` (pure mapping to API parameters),
`classify_response` (the one place an HTTP answer becomes a receipt or a typed error) and
`CamsClient` (signing and transport on a shared `aiohttp.ClientSession`). We do not use the
official SDK at run time: its async path opens a new session per request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from bot.errors import CamsCallError, PermanentSendError, RateLimitedError, RetryableSendError
from bot.model import Button, Outgoing, Reply, SendReceipt
from bot.platforms.base import account_id
from bot.platforms.cams.signing import percent_encode, sign_request

ACTION = "SendChatappMessage"
API_VERSION = "2020-06-06"
TEMPLATE_PAGE = 50  # templates asked for per ListChatappTemplate page
MAX_TEMPLATE_PAGES = 40  # an account's list is read up to 2,000 templates


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# Meta's limits for interactive session messages (cams-protocol.md §3.3).
MAX_REPLY_BUTTONS = 3
MAX_LIST_ROWS = 10
BUTTON_TITLE_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
SECTION_TITLE_MAX = 24
MAX_SECTIONS = 10  # of a list message (it has at most 10 rows too)
# A list's button and heading when the reply names none (flows.yaml's defaults.texts do).
LIST_BUTTON_LABEL = "Choose"
LIST_SECTION_TITLE = "Options"

RETRYABLE_CODE_PREFIXES = (
    "ServiceUnavailable",
    "SerivceUnavailable",  # sic: the spelling in Alibaba's public error table
    "InternalError",
    "InternalFailure",
)

Clock = Callable[[], datetime]
NonceFactory = Callable[[], str]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# The media other channels than WhatsApp take by link, as SendChatappMessage documents
# their Content (`link`; a Viber document also its `fileName` and `fileType`; a Viber video
# needs its thumbnail, size and duration, which a flow does not have). These channels get
# no interactive messages, captions or pins here: what they cannot show goes as text.
CHANNEL_MEDIA: dict[str, frozenset[str]] = {
    "viber": frozenset({"image", "document"}),
    "messenger": frozenset({"image", "video", "audio", "document"}),
    "instagram": frozenset({"image", "video", "audio"}),
    "telegram": frozenset({"image", "video", "audio", "document"}),
}


def _plain_content(reply: Reply, channel: str) -> tuple[str, dict[str, Any]]:
    """(MessageType, Content) on a channel of CHANNEL_MEDIA: a photo or file by its link
    when it goes alone (a Viber photo with its text), else text: the text, then what the
    channel cannot show (a link's label and URL, a file's URL, a place, the options a
    text does not name)."""
    media = reply.media
    if media is not None and media.kind in CHANNEL_MEDIA[channel]:
        if not reply.text:
            content: dict[str, Any] = {"link": media.url}
            if channel == "viber" and media.kind == "document":
                name = media.filename or "file"
                content |= {"fileName": name, "fileType": name.rpartition(".")[2].lower()}
            return media.kind, content
        if channel == "viber" and media.kind == "image":
            return "text_image", {"text": reply.text, "link": media.url}
    if reply.location is not None and channel == "telegram":
        where = reply.location
        return "location", {"latitude": where.latitude, "longitude": where.longitude}
    return "text", {"text": plain_text(reply)}


def plain_text(reply: Reply) -> str:
    """A reply as one text, for a channel with no buttons, links or captions: its text, a
    link's label and URL, a file's URL, a place, and the options the text does not name
    already (under their sections' headings, with their descriptions)."""
    lines = [reply.text] if reply.text else []
    if reply.link is not None:
        lines.append(f"{reply.link.label}: {reply.link.url}")
    if reply.media is not None:
        lines.append(reply.media.url)
    if reply.location is not None:
        where = reply.location
        named = ", ".join(p for p in (where.name, where.address) if p)
        lines.append(f"{named} ({where.latitude}, {where.longitude})".strip())
    said = reply.text.casefold()
    if reply.buttons and not any(b.title.casefold() in said for b in reply.buttons):
        heading = ""
        for b in reply.buttons:
            if b.section and b.section != heading:
                heading = b.section
                lines.append(f"{heading}:")
            lines.append(f"- {b.title}" + (f" ({b.description})" if b.description else ""))
    return "\n".join(lines)


def _session_content(reply: Reply, channel: str = "whatsapp") -> tuple[str, dict[str, Any]]:
    """(MessageType, Content) of a free-form message: a photo, document, video or audio
    (the text its caption), a location, a link button (`cta_url`), text, reply buttons or
    a list, as WhatsApp takes them; on the other channels of CHANNEL_MEDIA, `_plain_content`."""
    if channel in CHANNEL_MEDIA:
        return _plain_content(reply, channel)
    if reply.media is not None:
        media = reply.media
        content: dict[str, Any] = {"link": media.url}
        if reply.text and media.kind != "audio":
            content["caption"] = reply.text
        if media.kind == "document":
            content["fileName"] = media.filename
        return media.kind, content
    if reply.location is not None:
        where = reply.location
        pin: dict[str, Any] = {"latitude": where.latitude, "longitude": where.longitude}
        pin.update({k: v for k, v in (("name", where.name), ("address", where.address)) if v})
        return "location", pin
    if reply.link is not None:
        # WhatsApp's call-to-action URL button; the text is its body (the label, without one).
        return "interactive", {
            "type": "cta_url",
            "body": {"text": reply.text or reply.link.label},
            "action": {
                "name": "cta_url",
                "parameters": {
                    "display_text": reply.link.label[:BUTTON_TITLE_MAX],
                    "url": reply.link.url,
                },
            },
        }
    buttons = reply.buttons
    if not buttons or len(buttons) > MAX_LIST_ROWS:
        # More options than a list can hold: the text itself lists them.
        return "text", {"text": reply.text}
    if len(buttons) <= MAX_REPLY_BUTTONS:
        return "interactive", {
            "type": "button",
            "body": {"text": reply.text},
            "action": {"buttons": [_reply_button(b) for b in buttons]},
        }
    return "interactive", {
        "type": "list",
        "body": {"text": reply.text},
        "action": {
            "button": (reply.list_button or LIST_BUTTON_LABEL)[:LIST_BUTTON_MAX],
            "sections": _sections(buttons, reply.list_title or LIST_SECTION_TITLE),
        },
    }


def _sections(buttons: Sequence[Button], title: str) -> list[dict[str, Any]]:
    """The rows under their sections' headings, each section where its first row is; rows
    without a heading under `title` (the list's)."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for b in buttons:
        sections.setdefault(b.section or title, []).append(_row(b))
    return [
        {"title": heading[:SECTION_TITLE_MAX], "rows": rows}
        for heading, rows in list(sections.items())[:MAX_SECTIONS]
    ]


def _row(button: Button) -> dict[str, Any]:
    row = {"id": button.payload, "title": button.title[:ROW_TITLE_MAX]}
    if button.description:
        row["description"] = button.description[:ROW_DESCRIPTION_MAX]
    return row


def _reply_button(button: Button) -> dict[str, Any]:
    return {
        "type": "reply",
        "reply": {"id": button.payload, "title": button.title[:BUTTON_TITLE_MAX]},
    }


def build_params(msg: Outgoing, *, channel_default: str) -> dict[str, str]:
    """SendChatappMessage parameters for one reply; JSON-typed values already serialised."""
    conv = msg.to.ref
    params = {
        "ChannelType": conv.channel or channel_default,
        "From": conv.business,
        "To": conv.customer,
    }
    if msg.task_id:
        params["TaskId"] = msg.task_id
    if msg.to.space:
        params["CustSpaceId"] = msg.to.space
    reply = msg.reply
    if reply.fallback is not None:
        # SMS fallback (WhatsApp and Viber): the console's policy, optional text and wait.
        params["FallBackId"] = reply.fallback.id
        if reply.fallback.content:
            params["FallBackContent"] = reply.fallback.content
        if reply.fallback.duration is not None:
            params["FallBackDuration"] = str(reply.fallback.duration)
    if reply.template is not None:
        template = reply.template
        params["Type"] = "template"
        params["TemplateCode"] = template.code
        params["Language"] = template.language
        variables = dict(template.params)
        if template.header is not None:
            # TemplateParams is the template's variables alone: its media header's URL is one.
            variables[template.header_param] = template.header.url
        if variables:
            params["TemplateParams"] = _json(variables)
        if reply.buttons:
            params["Payload"] = _json([b.payload for b in reply.buttons])
        return params
    message_type, content = _session_content(reply, params["ChannelType"])
    params["Type"] = "message"
    params["MessageType"] = message_type
    params["Content"] = _json(content)
    return params


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive lookup that works for plain dicts as well as multidicts."""
    for key, value in headers.items():
        if key.lower() == name:
            return value.strip()
    return ""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from `x-acs-retry-after` (milliseconds: the official SDK feeds it
    straight into its millisecond backoff) or else `Retry-After` (seconds, RFC 9110; an
    HTTP-date form gives None)."""
    acs = _number(_header(headers, "x-acs-retry-after") or "x")
    if acs is not None:
        return acs / 1000
    return _number(_header(headers, "retry-after") or "x")


def _parse_body(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def classify_response(status: int, body: bytes, headers: Mapping[str, str]) -> SendReceipt:
    """Map a SendChatappMessage answer to a receipt, or raise the typed send error.

    Success is HTTP 200 with `Code == "OK"` (a missing MessageId gives an empty id: the send
    was accepted, and ChatAppStatus still echoes our TaskId). Throttling (429, a `Throttling*`
    code, or a retry-after header) raises `RateLimitedError`; 5xx and service-side codes
    raise `RetryableSendError`; everything else raises `PermanentSendError`.
    """
    data = _parse_body(body)
    fields = data or {}
    code = str(fields.get("Code") or "")
    message = str(fields.get("Message") or "")
    request_id = str(fields.get("RequestId") or _header(headers, "x-acs-request-id"))
    if status == 200 and code == "OK":
        return SendReceipt(message_id=str(fields.get("MessageId") or ""), request_id=request_id)

    detail: dict[str, object] = {"request_id": request_id} if request_id else {}
    if "AccessDeniedDetail" in fields:
        detail["access_denied_detail"] = fields["AccessDeniedDetail"]
    throttle_header = _header(headers, "x-acs-retry-after") or _header(headers, "retry-after")
    if status == 429 or "Throttling" in code or throttle_header:
        raise RateLimitedError(
            code=code or "Throttling",
            message=message or f"HTTP {status}",
            status=status,
            detail=detail,
            retry_after=retry_after_seconds(headers),
        )
    if status >= 500 or code.startswith(RETRYABLE_CODE_PREFIXES):
        raise RetryableSendError(
            code=code or f"HTTP{status}",
            message=message or f"HTTP {status}",
            status=status,
            detail=detail,
        )
    if data is None:
        raise PermanentSendError(
            code="InvalidResponse",
            message=f"HTTP {status} with a body that is not a JSON object",
            status=status,
            detail=detail,
        )
    raise PermanentSendError(
        code=code or f"HTTP{status}",
        message=message or f"HTTP {status}",
        status=status,
        detail=detail,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_nonce() -> str:
    return uuid.uuid4().hex


class CamsClient:
    """Sends replies through CAMS (`Sender` for platform "cams") on a shared session.

    `endpoint` is a base URL; the API lives at its path with a trailing slash ("/" for the
    real `https://cams.ap-southeast-1.aliyuncs.com`, "/prefix/" for a fake mounted under
    "/prefix"). Parameters go in a form body, so long Content never hits URL limits.
    """

    platform = "cams"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        timeout: float = 10.0,
        channel_default: str = "whatsapp",
        clock: Clock = utc_now,
        nonce: NonceFactory = new_nonce,
    ) -> None:
        base = URL(endpoint)
        if not base.scheme or not base.host:
            raise ValueError(f"CAMS endpoint must be an absolute URL, got {endpoint!r}")
        path = base.raw_path or "/"
        if not path.endswith("/"):
            path += "/"
        self._session = session
        self._host = base.host_port_subcomponent or base.host
        self._path = path
        self._url = URL.build(
            scheme=base.scheme, authority=base.raw_authority, path=path, encoded=True
        )
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._channel_default = channel_default
        self._clock = clock
        self._nonce = nonce
        self.account = account_id(access_key_id)  # the rate limit's key; no credential

    def __repr__(self) -> str:
        # The account's digest, never its credentials: a repr ends up in logs and tracebacks.
        return f"CamsClient(endpoint={str(self._url)!r}, account={self.account!r})"

    async def call(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One signed call of another action of the API (ListChatappTemplate,
        GetChatappTemplateDetail): its JSON answer, or CamsCallError."""
        body = "&".join(
            f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
        ).encode("ascii")
        _, headers = sign_request(
            self._access_key_id, self._access_key_secret, method="POST", host=self._host,
            path=self._path, query={}, body=body, action=action, version=API_VERSION,
            content_type=FORM_CONTENT_TYPE, now=self._clock(), nonce=self._nonce(),
        )  # fmt: skip
        headers["accept"] = "application/json"
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout,
                allow_redirects=False,
            ) as resp:  # fmt: skip
                status, payload = resp.status, await resp.read()
        except TimeoutError as e:
            raise CamsCallError("Timeout", "CAMS did not answer in time") from e
        except aiohttp.ClientError as e:
            raise CamsCallError("ConnectionError", str(e) or type(e).__name__) from e
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CamsCallError(f"HTTP{status}", "the answer is not a JSON object")
        if status != 200 or data.get("Code", "OK") != "OK":
            raise CamsCallError(str(data.get("Code") or f"HTTP{status}"),
                                str(data.get("Message") or ""))  # fmt: skip
        return data

    async def templates(self) -> list[dict[str, Any]]:
        """Every template of the account (ListChatappTemplate, page by page): one entry per
        code and language, with its TemplateCode, Language, AuditStatus and Category."""
        found: list[dict[str, Any]] = []
        for index in range(1, MAX_TEMPLATE_PAGES + 1):
            page = json.dumps({"Index": index, "Size": TEMPLATE_PAGE})
            listed = (await self.call("ListChatappTemplate", {"Page": page})).get("ListTemplate")
            if not isinstance(listed, list):
                raise CamsCallError("Invalid", "ListTemplate is not a list")
            found += [t for t in listed if isinstance(t, dict)]
            if len(listed) < TEMPLATE_PAGE:
                break
        return found

    async def template_detail(self, code: str, language: str) -> dict[str, Any]:
        """One template in one language (GetChatappTemplateDetail): its Data (Components,
        Category, AuditStatus...)."""
        data = await self.call(
            "GetChatappTemplateDetail", {"TemplateCode": code, "Language": language}
        )
        detail = data.get("Data")
        return detail if isinstance(detail, dict) else {}

    async def send(self, msg: Outgoing) -> SendReceipt:
        """Send one reply. Raises only `RetryableSendError` (incl. `RateLimitedError`) and
        `PermanentSendError`."""
        params = build_params(msg, channel_default=self._channel_default)
        body = "&".join(
            f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
        ).encode("ascii")
        _, headers = sign_request(
            self._access_key_id,
            self._access_key_secret,
            method="POST",
            host=self._host,
            path=self._path,
            query={},
            body=body,
            action=ACTION,
            version=API_VERSION,
            content_type=FORM_CONTENT_TYPE,
            now=self._clock(),
            nonce=self._nonce(),
        )
        headers["accept"] = "application/json"
        try:
            # No redirects: a signed send must reach the endpoint it was signed for, once.
            async with self._session.post(
                self._url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                payload = await resp.read()
                return classify_response(resp.status, payload, resp.headers)
        except TimeoutError as e:  # also asyncio.TimeoutError and aiohttp's timeouts
            raise RetryableSendError(code="Timeout", message="CAMS did not answer in time") from e
        except aiohttp.ClientError as e:
            raise RetryableSendError(
                code="ConnectionError", message=str(e) or type(e).__name__
            ) from e
