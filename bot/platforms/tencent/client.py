"""The Tencent Cloud Chat send client: an `Outgoing` reply becomes one admin
`v4/openim/sendmsg` call (cams-protocol.md §7; https://trtc.io/document/34919).

Three pieces, as for CAMS: `build_body` (pure mapping to the request JSON),
`classify_tencent` (the one place an answer becomes a receipt or a typed error) and
`TencentClient` (UserSig and transport on a shared `aiohttp.ClientSession`).

Error codes. Tencent answers HTTP 200 with `ActionStatus` "FAIL" and a numeric `ErrorCode`.
Sources: REST API common codes on the IM error-code page
(https://cloud.tencent.com/document/product/269/1671; the same 60xxx/70xxx table is
published for Tencent's other IM-based products, e.g. product/679/131708) and the
`sendmsg` page's own table (product/269/2282, intl https://trtc.io/document/34919).
Codes marked [memory] are from that table as we remember it; check them against the page.

* Rate limited (`RateLimitedError`, retry after 1 s: the limits are per second):
  60007 REST call frequency over the limit, 60011 SDKAppID request frequency over the
  limit, 60018/60019 "requests too frequent, retry later"; also HTTP 429.
  70050 (UserSig check failed *and* too many attempts: "retry after 1 minute") is rate
  limited with retry_after 60, since the doc itself prescribes the wait.
* Retryable (`RetryableSendError`): HTTP 5xx, a non-JSON answer with a 5xx, 60008 service
  timeout, 60014 account swap timeout, 70169 internal timeout [memory], and the sendmsg
  codes 20004 network error, 20005 internal error, 90992/90994/90995/91000 internal
  errors "please retry" [memory]. Network errors and timeouts raise it too.
* 70001 UserSig expired: `send` regenerates the admin UserSig once and retries at once; a
  second 70001 is permanent (our clock is off or the key wrong: config, not transient).
* Everything else is permanent (`PermanentSendError`), notably 20003 sender or recipient
  UserID invalid or not imported [memory], 70107 account not imported, 20006 rejected by
  the before-send callback, 20007 blocked by the recipient [memory], 70009/70013/70014/
  70016/70020 UserSig or SDKAppID mismatches, 60006/60016/60020 app invalid, disabled or
  expired, 90001/90005/900xx malformed request.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import zlib
from collections.abc import Callable
from typing import Any, Final

import aiohttp
from yarl import URL

from bot.errors import PermanentSendError, RateLimitedError, RetryableSendError
from bot.model import Media, Outgoing, Reply, SendReceipt, Template
from bot.platforms.base import account_id
from bot.platforms.tencent.usersig import UserSigCache

DEFAULT_API: Final = "https://adminapisgp.im.qcloud.com"
SENDMSG_PATH: Final = "/v4/openim/sendmsg"
SYNC_OTHER_MACHINE_NO: Final = 2  # do not sync the message to the sender's other devices

USERSIG_EXPIRED: Final = 70001
RATE_LIMIT_CODES: Final = frozenset({60007, 60011, 60018, 60019})
SLOW_DOWN_CODES: Final = {70050: 60.0}  # code -> the wait the doc prescribes, in seconds
RETRYABLE_CODES: Final = frozenset({60008, 60014, 70169, 20004, 20005, 90992, 90994, 90995, 91000})
DEFAULT_RETRY_AFTER: Final = 1.0

Clock = Callable[[], float]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def msg_random(task_id: str) -> int:
    """`MsgRandom` for a task: CRC-32 of its id, so a repeat of the same task after a crash
    carries the same uint32 and Tencent's own duplicate check can recognise it."""
    return zlib.crc32(task_id.encode()) & 0xFFFFFFFF


def render_template(template: Template) -> str:
    """A template as plain text: `CODE: k=v, ...` (Tencent has no templates)."""
    if not template.params:
        return template.code
    return f"{template.code}: " + ", ".join(f"{k}={v}" for k, v in template.params.items())


def build_elements(reply: Reply) -> list[dict[str, Any]]:
    """`MsgBody` of one reply: a template's media header, a TIMTextElem (a link's label and
    URL after the text), a photo or the like, a location, then buttons as one
    TIMCustomElem."""
    text = reply.text
    elements: list[dict[str, Any]] = []
    if reply.template is not None:
        if not text:
            # The flow chose a template because WhatsApp's 24-hour window was closed; Tencent
            # has no such window, so the template's own text (or a rendering of it) goes out.
            text = render_template(reply.template)
        if reply.template.header is not None:
            # A message holds several elements: the header's image (video, file) first.
            elements.append(_media_element(reply.template.header))
    if reply.link is not None:
        # Tencent Cloud Chat has no link buttons: the label and the URL go as text.
        shown = f"{reply.link.label}: {reply.link.url}"
        text = f"{text}\n{shown}" if text else shown
    if text:
        elements.append({"MsgType": "TIMTextElem", "MsgContent": {"Text": text}})
    if reply.media is not None:
        elements.append(_media_element(reply.media))
    if reply.location is not None:
        where = reply.location
        desc = " ".join(p for p in (where.name, where.address) if p)
        elements.append({"MsgType": "TIMLocationElem", "MsgContent": {
            "Desc": desc, "Latitude": where.latitude, "Longitude": where.longitude,
        }})  # fmt: skip
    if reply.buttons:
        data = {
            "type": "buttons",
            "buttons": [{"title": b.title, "payload": b.payload} for b in reply.buttons],
        }
        elements.append(
            {
                "MsgType": "TIMCustomElem",
                "MsgContent": {
                    "Data": _json(data),
                    "Desc": " / ".join(b.title for b in reply.buttons),
                },
            }
        )
    return elements


def _media_element(media: Media) -> dict[str, Any]:
    """A photo, file, video or voice note by its URL (Tencent Cloud Chat takes media hosted
    elsewhere by URL; sizes it does not need are 0), the text before it its caption."""
    uuid_ = hashlib.sha256(media.url.encode()).hexdigest()[:32]
    if media.kind == "image":
        infos = [{"Type": t, "Size": 0, "Width": 0, "Height": 0, "URL": media.url}
                 for t in (1, 2, 3)]  # fmt: skip
        return {"MsgType": "TIMImageElem", "MsgContent": {
            "UUID": uuid_, "ImageFormat": 255, "ImageInfoArray": infos}}  # fmt: skip
    if media.kind == "document":
        return {"MsgType": "TIMFileElem", "MsgContent": {
            "Url": media.url, "UUID": uuid_, "FileSize": 0, "FileName": media.filename,
            "Download_Flag": 2}}  # fmt: skip
    if media.kind == "audio":
        return {"MsgType": "TIMSoundElem", "MsgContent": {
            "Url": media.url, "UUID": uuid_, "Size": 0, "Second": 0,
            "Download_Flag": 2}}  # fmt: skip
    return {"MsgType": "TIMVideoFileElem", "MsgContent": {
        "VideoUrl": media.url, "VideoUUID": uuid_, "VideoSize": 0, "VideoSecond": 0,
        "VideoFormat": media.url.rsplit(".", 1)[-1][:8] or "mp4", "VideoDownloadFlag": 2,
        "ThumbUrl": "", "ThumbUUID": "", "ThumbSize": 0, "ThumbWidth": 0, "ThumbHeight": 0,
        "ThumbFormat": "jpg", "ThumbDownloadFlag": 2}}  # fmt: skip


def build_body(msg: Outgoing, *, random_u32: Callable[[], int]) -> dict[str, Any]:
    """The sendmsg request body. `random_u32` gives MsgRandom only when there is no task id."""
    elements = build_elements(msg.reply)
    if not elements:
        raise PermanentSendError(code="EmptyMessage", message="the reply has nothing to send")
    return {
        "SyncOtherMachine": SYNC_OTHER_MACHINE_NO,
        "From_Account": msg.to.ref.business,
        "To_Account": msg.to.ref.customer,
        "MsgRandom": msg_random(msg.task_id) if msg.task_id else random_u32(),
        "MsgBody": elements,
        "CloudCustomData": _json({"task": msg.task_id}),
    }


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def classify_tencent(status: int, body: bytes) -> SendReceipt:
    """Map a sendmsg answer to a receipt, or raise the typed send error (see the module
    docstring for the codes and why). `code` of the error is the ErrorCode as a string."""
    data = _parse(body)
    fields = data or {}
    raw_code = fields.get("ErrorCode")
    error_code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else -1
    info = str(fields.get("ErrorInfo") or f"HTTP {status}")
    if status == 200 and fields.get("ActionStatus") == "OK" and error_code == 0:
        message_id = fields.get("MsgKey") or fields.get("MsgId") or ""
        return SendReceipt(message_id=str(message_id))

    detail: dict[str, object] = {}
    if "MsgTime" in fields:
        detail["msg_time"] = fields["MsgTime"]
    code = str(error_code) if error_code >= 0 else f"HTTP{status}"
    if status == 429 or error_code in RATE_LIMIT_CODES or error_code in SLOW_DOWN_CODES:
        raise RateLimitedError(
            code=code,
            message=info,
            status=status,
            detail=detail,
            retry_after=SLOW_DOWN_CODES.get(error_code, DEFAULT_RETRY_AFTER),
        )
    if status >= 500 or error_code in RETRYABLE_CODES:
        raise RetryableSendError(code=code, message=info, status=status, detail=detail)
    if data is None:
        raise PermanentSendError(
            code="InvalidResponse",
            message=f"HTTP {status} with a body that is not a JSON object",
            status=status,
        )
    raise PermanentSendError(code=code, message=info, status=status, detail=detail)


class TencentClient:
    """Sends replies through Tencent Cloud Chat (`Sender` for platform "tencent") as the
    app administrator, on a shared session. `api` is the data centre's base URL (default
    Singapore) or a fake's loopback URL."""

    platform = "tencent"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        sdkappid: int,
        admin_identifier: str,
        secret_key: str,
        api: str = DEFAULT_API,
        timeout: float = 10.0,
        rng: random.Random | None = None,
        clock: Clock = time.time,
        usersig_ttl: int = 86400 * 7,
    ) -> None:
        base = URL(api)
        if not base.scheme or not base.host:
            raise ValueError(f"Tencent API must be an absolute URL, got {api!r}")
        self._session = session
        self._url = base.with_path(base.path.rstrip("/") + SENDMSG_PATH)
        self._sdkappid = sdkappid
        self._admin = admin_identifier
        self._sigs = UserSigCache(sdkappid, secret_key, admin_identifier, usersig_ttl, clock=clock)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._rng = rng if rng is not None else random.SystemRandom()
        self.account = account_id(str(sdkappid))  # the rate limit's key; no credential

    def __repr__(self) -> str:
        return (
            f"TencentClient(api={str(self._url.origin())!r}, sdkappid={self._sdkappid}, "
            f"admin={self._admin!r})"
        )

    def _random_u32(self) -> int:
        return self._rng.getrandbits(32)

    async def send(self, msg: Outgoing) -> SendReceipt:
        """Send one reply. Raises only `RetryableSendError` (incl. `RateLimitedError`) and
        `PermanentSendError`. An expired UserSig (70001) is renewed and retried once."""
        payload = _json(build_body(msg, random_u32=self._random_u32)).encode()
        try:
            return await self._post(payload, self._sigs.get())
        except PermanentSendError as e:
            if e.code != str(USERSIG_EXPIRED):
                raise
        return await self._post(payload, self._sigs.refresh())

    async def _post(self, payload: bytes, usersig: str) -> SendReceipt:
        query = {
            "sdkappid": str(self._sdkappid),
            "identifier": self._admin,
            "usersig": usersig,
            "random": str(self._random_u32()),
            "contenttype": "json",
        }
        try:
            async with self._session.post(
                self._url.with_query(query),
                data=payload,
                headers={"content-type": "application/json", "accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                return classify_tencent(resp.status, await resp.read())
        except TimeoutError as e:  # also asyncio.TimeoutError and aiohttp's timeouts
            raise RetryableSendError(
                code="Timeout", message="Tencent IM did not answer in time"
            ) from e
        except aiohttp.ClientError as e:
            raise RetryableSendError(
                code="ConnectionError", message=str(e) or type(e).__name__
            ) from e
