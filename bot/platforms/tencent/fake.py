"""A fake Tencent Cloud Chat REST API (`v4/openim/sendmsg`) as an aiohttp app, for tests
and sandbox mode.

It behaves like Tencent where that matters to a client: every answer is HTTP 200 with
`ActionStatus`/`ErrorCode`/`ErrorInfo` (unless a fault queues a gateway 5xx), the query's
UserSig is verified with the same `verify_usersig` the client's sigs are tested against,
only the app administrator may send, the body is validated roughly as the real API does,
and sends are throttled per sliding second. Accepted messages are recorded.

Error codes answered (REST API common codes from the IM error-code page,
https://cloud.tencent.com/document/product/269/1671; sendmsg codes from its page,
product/269/2282 — those marked [memory] as we remember them):

* 60002 malformed query (contenttype not json, random not a uint32), 60012 no sdkappid,
  60006 another sdkappid, 60010 identifier is not the app administrator.
* 70001 UserSig expired, 70003 UserSig malformed, 70009 signature mismatch, 70013 sig for
  another identifier, 70014 sig for another SDKAppID.
* 60007 REST call frequency over the limit.
* 90001 body is not a JSON object, 90005 MsgRandom missing or not a uint32 (both on the
  push API's published table); [memory]: 90002 bad MsgBody element, 90003 To_Account
  missing, 90007 MsgBody not a non-empty array, 90008 bad From_Account, 90031 bad
  SyncOtherMachine, 93000 body over 12 KB.
* Whatever `fail_next` queued.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from bot.errors import UserSigError
from bot.platforms.tencent.client import SENDMSG_PATH
from bot.platforms.tencent.usersig import verify_usersig

Clock = Callable[[], float]
OnMessage = Callable[[Mapping[str, Any]], None]

MAX_BODY_BYTES: Final = 12 * 1024
UINT32_MAX: Final = 0xFFFFFFFF
KNOWN_ELEMENTS: Final = frozenset(
    {
        "TIMTextElem",
        "TIMCustomElem",
        "TIMFaceElem",
        "TIMLocationElem",
        "TIMImageElem",
        "TIMSoundElem",
        "TIMVideoFileElem",
        "TIMFileElem",
    }
)
USERSIG_CODES: Final = {
    "expired": 70001,
    "malformed": 70003,
    "signature": 70009,
    "identifier": 70013,
    "sdkappid": 70014,
}


class ApiError(Exception):
    """An error answer of the fake: Tencent's ErrorCode and ErrorInfo, and the HTTP status
    (200 for every API error; a queued fault may ask for a gateway 5xx)."""

    def __init__(self, code: int, info: str, status: int = 200) -> None:
        super().__init__(f"{code}: {info}")
        self.code = code
        self.info = info
        self.status = status


@dataclass(frozen=True, slots=True)
class Fault:
    """One queued misbehaviour: answer `code` (with HTTP `status`) or first sleep `delay`."""

    code: int = 0
    status: int = 200
    delay: float = 0.0


class FakeTencent:
    """The fake's state and recorder. Tests reach it through `app[FAKE_TENCENT]`."""

    def __init__(
        self,
        sdkappid: int,
        key: str,
        admin_identifier: str,
        *,
        rate_limit: int = 200,
        clock: Clock = time.time,
        on_message: OnMessage | None = None,
    ) -> None:
        self.sdkappid = sdkappid
        self.key = key
        self.admin_identifier = admin_identifier
        self.rate_limit = rate_limit
        self.clock = clock
        self.on_message = on_message
        # Accepted request bodies, each with the "MsgKey" answered, oldest first.
        self.messages: list[dict[str, Any]] = []
        self.errors: list[int] = []  # the ErrorCode (or HTTP status) of every failure
        self.usersigs: list[str] = []  # the UserSig of every authenticated request
        self.arrivals: list[float] = []  # time.monotonic() of each of `messages`
        self._changed = asyncio.Condition()
        self._faults: deque[Fault] = deque()
        self._window: deque[float] = deque()
        self._seq = itertools.count(1)

    def fail_next(self, error_code: int, times: int = 1, *, status: int = 200) -> None:
        """Answer the next `times` authenticated sends with `error_code`; a `status` of 500
        or more answers a plain-text gateway error instead of Tencent JSON."""
        self._faults.extend([Fault(code=error_code, status=status)] * times)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Answer the next `times` sends `seconds` late. They are processed (and, if valid,
        recorded) first, as a real send whose client timed out may still have gone out."""
        self._faults.extend([Fault(delay=seconds)] * times)

    def sent_to(self, account: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("To_Account") == account]

    # ASYNC109: callers asked for `wait_for(count, timeout)`; the default bound keeps a
    # broken test from hanging until the suite's global timeout.
    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait until at least `count` messages were accepted; TimeoutError otherwise."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.messages) >= count)
        return list(self.messages)

    def admit(self, now: float) -> None:
        """Sliding one-second window over admitted requests; 60007 when full."""
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            raise ApiError(60007, "REST API call frequency exceeds the limit")
        self._window.append(now)

    def next_msg_key(self, msg_random: int, msg_time: int) -> str:
        """A MsgKey in Tencent's shape (`48374_2837546_1557481126`: seq_random_time)."""
        return f"{next(self._seq)}_{msg_random}_{msg_time}"

    def next_fault(self) -> Fault | None:
        return self._faults.popleft() if self._faults else None

    async def record(self, body: Mapping[str, Any], msg_key: str, arrived: float) -> None:
        entry = {**body, "MsgKey": msg_key}
        async with self._changed:
            self.messages.append(entry)
            self.arrivals.append(arrived)
            self._changed.notify_all()
        if self.on_message is not None:
            self.on_message(entry)


FAKE_TENCENT: Final = web.AppKey("fake_tencent", FakeTencent)


def _uint32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT32_MAX


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def authenticate(query: Mapping[str, str], fake: FakeTencent) -> None:
    """Check the sendmsg query as Tencent does; raises `ApiError`."""
    if query.get("contenttype") != "json":
        raise ApiError(60002, "contenttype must be json")
    appid = query.get("sdkappid", "")
    if not appid:
        raise ApiError(60012, "the REST API needs an SDKAppID")
    if appid != str(fake.sdkappid):
        raise ApiError(60006, "SDKAppID is invalid")
    rnd = query.get("random", "")
    if not rnd.isdigit() or not _uint32(int(rnd)):
        raise ApiError(60002, "random must be a 32-bit unsigned integer")
    identifier = query.get("identifier", "")
    try:
        verify_usersig(
            query.get("usersig", ""),
            sdkappid=fake.sdkappid,
            key=fake.key,
            identifier=identifier,
            now=int(fake.clock()),
        )
    except UserSigError as e:
        raise ApiError(USERSIG_CODES[e.reason], f"UserSig check failed: {e}") from None
    if identifier != fake.admin_identifier:
        raise ApiError(60010, "the request needs App administrator permissions")


def _check_element(element: Any) -> None:
    if not isinstance(element, dict) or element.get("MsgType") not in KNOWN_ELEMENTS:
        raise ApiError(90002, "each MsgBody element needs a known MsgType")
    content = element.get("MsgContent")
    if not isinstance(content, dict):
        raise ApiError(90002, "each MsgBody element needs a MsgContent object")
    if element["MsgType"] == "TIMTextElem" and not _nonempty_str(content.get("Text")):
        raise ApiError(90002, "TIMTextElem needs a non-empty Text")
    if element["MsgType"] == "TIMCustomElem" and not all(
        isinstance(content.get(name, ""), str) for name in ("Data", "Desc", "Ext", "Sound")
    ):
        raise ApiError(90002, "TIMCustomElem fields must be strings")
    kind = element["MsgType"]
    url = {"TIMImageElem": None, "TIMFileElem": "Url", "TIMSoundElem": "Url",
           "TIMVideoFileElem": "VideoUrl"}  # fmt: skip
    if kind == "TIMImageElem":
        infos = content.get("ImageInfoArray")
        if not (isinstance(infos, list) and infos and all(
                isinstance(i, dict) and _nonempty_str(i.get("URL")) for i in infos)):  # fmt: skip
            raise ApiError(90002, "TIMImageElem needs an ImageInfoArray of URLs")
    elif kind in url and not _nonempty_str(content.get(url[kind] or "")):
        raise ApiError(90002, f"{kind} needs its {url[kind]}")
    if kind == "TIMFileElem" and not _nonempty_str(content.get("FileName")):
        raise ApiError(90002, "TIMFileElem needs a FileName")
    if kind == "TIMLocationElem" and not all(
        isinstance(content.get(k), int | float) for k in ("Latitude", "Longitude")
    ):
        raise ApiError(90002, "TIMLocationElem needs Latitude and Longitude numbers")


def validate_body(raw: bytes) -> dict[str, Any]:
    """The parsed sendmsg body, or `ApiError` for what Tencent would reject."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(93000, "the JSON body is over 12 KB")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(90001, "JSON parsing failed") from None
    if not isinstance(body, dict):
        raise ApiError(90001, "the body must be a JSON object")
    if not _nonempty_str(body.get("To_Account")):
        raise ApiError(90003, "To_Account is missing or not a string")
    if "From_Account" in body and not _nonempty_str(body["From_Account"]):
        raise ApiError(90008, "From_Account must be a non-empty string")
    if not _uint32(body.get("MsgRandom")):
        raise ApiError(90005, "MsgRandom is missing or not a 32-bit unsigned integer")
    if "SyncOtherMachine" in body and body["SyncOtherMachine"] not in (1, 2):
        raise ApiError(90031, "SyncOtherMachine must be 1 or 2")
    if "CloudCustomData" in body and not isinstance(body["CloudCustomData"], str):
        raise ApiError(90002, "CloudCustomData must be a string")
    elements = body.get("MsgBody")
    if not isinstance(elements, list) or not elements:
        raise ApiError(90007, "MsgBody must be a non-empty array")
    for element in elements:
        _check_element(element)
    return body


def _answer(data: dict[str, Any]) -> web.Response:
    return web.json_response(data)


async def _sendmsg(request: web.Request) -> web.Response:
    fake = request.app[FAKE_TENCENT]
    raw = await request.read()
    delay = 0.0
    try:
        authenticate(request.query, fake)
        fake.usersigs.append(request.query["usersig"])
        arrived = time.monotonic()
        now = fake.clock()
        fake.admit(now)
        fault = fake.next_fault()
        if fault is not None and not fault.delay:
            raise ApiError(fault.code, "injected fault", fault.status)
        delay = fault.delay if fault is not None else 0.0
        body = validate_body(raw)
        msg_time = int(now)
        msg_key = fake.next_msg_key(body["MsgRandom"], msg_time)
        await fake.record(body, msg_key, arrived)
        response = _answer(
            {
                "ActionStatus": "OK",
                "ErrorInfo": "",
                "ErrorCode": 0,
                "MsgTime": msg_time,
                "MsgKey": msg_key,
            }
        )
    except ApiError as e:
        fake.errors.append(e.code if e.status < 500 else e.status)
        if e.status >= 500:
            response = web.Response(status=e.status, text=f"{e.status} gateway error")
        else:
            response = _answer({"ActionStatus": "FAIL", "ErrorInfo": e.info, "ErrorCode": e.code})
    if delay:
        # Processed first, answered late: like Tencent accepting a send whose client gave up.
        await asyncio.sleep(delay)
    return response


async def _messages(request: web.Request) -> web.Response:
    """GET /_fake/messages[?to=ACCOUNT]: the accepted messages, oldest first."""
    fake = request.app[FAKE_TENCENT]
    to = request.query.get("to")
    return web.json_response(fake.sent_to(to) if to else fake.messages)


def create_fake_tencent(
    sdkappid: int,
    key: str,
    admin_identifier: str,
    *,
    rate_limit: int = 200,
    clock: Clock = time.time,
    on_message: OnMessage | None = None,
) -> web.Application:
    """The fake as an app: run it on a loopback port (the client's `api` is then
    `http://host:port`) or mount it with `add_subapp` (`api` = the mount URL)."""
    app = web.Application()
    app[FAKE_TENCENT] = FakeTencent(
        sdkappid,
        key,
        admin_identifier,
        rate_limit=rate_limit,
        clock=clock,
        on_message=on_message,
    )
    app.router.add_post(SENDMSG_PATH, _sendmsg)
    app.router.add_get("/_fake/messages", _messages)
    return app
