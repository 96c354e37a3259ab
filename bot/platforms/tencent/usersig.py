"""Tencent Cloud Chat UserSig (TLSSigAPIv2): the ticket that authenticates REST API calls.

The algorithm is the published one of Tencent's `tls-sig-api-v2` libraries
(github.com/tencentyun/tls-sig-api-v2-python `TLSSigAPIv2.py`; the Go library
tencentyun/tls-sig-api-v2-golang adds the verification we mirror in `verify_usersig`):

1. sign `TLS.identifier:{id}\\nTLS.sdkappid:{app}\\nTLS.time:{t}\\nTLS.expire:{e}\\n` with
   HMAC-SHA256 under the app's secret key, base64 (standard alphabet) the digest;
2. put it with `TLS.ver` "2.0", the identifier, sdkappid, expire and time in a JSON object;
3. zlib-compress the JSON and base64 it with `+` -> `*`, `/` -> `-`, `=` -> `_`.

A sig is valid until `TLS.time + TLS.expire`. Pure functions with an injected clock; the
cache refreshes a sig well before Tencent would reject it as expired (error 70001).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Callable
from typing import Any, Final

from bot.errors import UserSigError

VERSION: Final = "2.0"
_TO_URL: Final = str.maketrans({"+": "*", "/": "-", "=": "_"})
_FROM_URL: Final = str.maketrans({"*": "+", "-": "/", "_": "="})
MAX_USERSIG_CHARS: Final = 4096  # real sigs are ~200 chars; bounds the decompression


def _content_to_sign(identifier: str, sdkappid: int, curr_time: int, expire: int) -> bytes:
    return (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{curr_time}\n"
        f"TLS.expire:{expire}\n"
    ).encode()


def _signature(key: str, identifier: str, sdkappid: int, curr_time: int, expire: int) -> str:
    digest = hmac.new(
        key.encode(), _content_to_sign(identifier, sdkappid, curr_time, expire), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def gen_usersig(sdkappid: int, key: str, identifier: str, expire: int, *, now: int) -> str:
    """A UserSig for `identifier`, issued at `now` (Unix seconds) and valid `expire` seconds,
    byte for byte what the official Python library produces at the same time."""
    if expire <= 0:
        raise ValueError("expire must be a positive number of seconds")
    doc = {
        "TLS.ver": VERSION,
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": now,
        "TLS.sig": _signature(key, identifier, sdkappid, now, expire),
    }
    # json.dumps defaults (", " and ": " separators, ASCII escapes) as the official library.
    compressed = zlib.compress(json.dumps(doc).encode())
    return base64.b64encode(compressed).decode("ascii").translate(_TO_URL)


def decode_usersig(usersig: str) -> dict[str, Any]:
    """The JSON document inside a UserSig; `UserSigError("malformed")` when it is none."""
    if not usersig or len(usersig) > MAX_USERSIG_CHARS:
        raise UserSigError("malformed", "empty or oversized UserSig")
    try:
        raw = base64.b64decode(usersig.translate(_FROM_URL), validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, 16 * MAX_USERSIG_CHARS)
        if inflater.unconsumed_tail or not inflater.eof:
            raise UserSigError("malformed", "UserSig does not inflate to a complete document")
        doc = json.loads(data)
    except (binascii.Error, zlib.error, ValueError, RecursionError) as e:
        if isinstance(e, UserSigError):
            raise
        raise UserSigError("malformed", "UserSig is not base64url(zlib(JSON))") from e
    if not isinstance(doc, dict):
        raise UserSigError("malformed", "UserSig document is not a JSON object")
    return doc


def _int_field(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UserSigError("malformed", f"{name} is missing or not an integer")
    return value


def verify_usersig(usersig: str, *, sdkappid: int, key: str, identifier: str, now: int) -> None:
    """Check `usersig` as Tencent does (the Go library's `VerifyUserSig` order: app id,
    identifier, expiry, then the HMAC compared in constant time). Raises `UserSigError`
    (a ValueError) naming the first problem; sigs with a userbuf are refused."""
    doc = decode_usersig(usersig)
    sig_app = _int_field(doc, "TLS.sdkappid")
    sig_time = _int_field(doc, "TLS.time")
    sig_expire = _int_field(doc, "TLS.expire")
    sig_id = doc.get("TLS.identifier")
    sig = doc.get("TLS.sig")
    if not isinstance(sig_id, str) or not isinstance(sig, str):
        raise UserSigError("malformed", "TLS.identifier or TLS.sig is missing")
    if "TLS.userbuf" in doc:
        raise UserSigError("malformed", "a UserSig with a userbuf is not a REST API UserSig")
    if sig_app != sdkappid:
        raise UserSigError("sdkappid", "UserSig was issued for another SDKAppID")
    if sig_id != identifier:
        raise UserSigError("identifier", "UserSig was issued for another identifier")
    if now > sig_time + sig_expire:
        raise UserSigError("expired", "UserSig has expired")
    expected = _signature(key, sig_id, sig_app, sig_time, sig_expire)
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise UserSigError("signature", "UserSig signature does not match the key")


Clock = Callable[[], float]


class UserSigCache:
    """One identifier's UserSig, generated on first use and again once it is within
    `refresh_before` seconds of expiring (or after `refresh()`, e.g. on error 70001)."""

    def __init__(
        self,
        sdkappid: int,
        key: str,
        identifier: str,
        ttl: int = 86400 * 7,
        refresh_before: int = 3600,
        clock: Clock = time.time,
    ) -> None:
        if not key:
            raise ValueError("the Tencent secret key must not be empty")
        if ttl <= refresh_before:
            raise ValueError("ttl must be longer than refresh_before")
        self.sdkappid = sdkappid
        self.identifier = identifier
        self.ttl = ttl
        self.refresh_before = refresh_before
        self._key = key
        self._clock = clock
        self._sig = ""
        self._expires_at = 0

    def __repr__(self) -> str:
        return f"UserSigCache(sdkappid={self.sdkappid}, identifier={self.identifier!r})"

    def get(self) -> str:
        """The cached sig, or a fresh one when it is missing or about to expire."""
        if not self._sig or int(self._clock()) >= self._expires_at - self.refresh_before:
            return self.refresh()
        return self._sig

    def refresh(self) -> str:
        """Generate a new sig now, replacing the cached one."""
        now = int(self._clock())
        self._sig = gen_usersig(self.sdkappid, self._key, self.identifier, self.ttl, now=now)
        self._expires_at = now + self.ttl
        return self._sig
