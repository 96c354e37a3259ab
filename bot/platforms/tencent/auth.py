"""Tencent Cloud Chat callback authentication.

Tencent appends `SdkAppid`, `Sign` and `RequestTime` to the callback URL, where
`Sign = sha256(Token + RequestTime)` as lowercase hex and `RequestTime` is Unix seconds.
The check is a pure function over the query with an injected clock: the app id must be
ours, the time must be within `max_skew` of now, and the Sign must match one of the
configured tokens (all compared in constant time, so the old and the new token both pass
during rotation). No token, or only empty tokens, means nothing passes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

from bot.errors import Forbidden, Unauthorized
from bot.platforms.auth import matches_any

# Explicit ASCII classes: `\d` would also accept Unicode digits such as "١٦٦٩٨٧٢١١٢".
_REQUEST_TIME = re.compile(r"[0-9]{10}")
_SIGN = re.compile(r"[0-9a-fA-F]{64}")


def sign(token: str, request_time: str) -> str:
    """Tencent's callback signature: hex sha256 of the token followed by the request time."""
    return hashlib.sha256((token + request_time).encode()).hexdigest()


def _shown(value: str, limit: int = 32) -> str:
    """A presented (public, untrusted) value, shortened for an error reason."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def verify_callback(
    query: Mapping[str, str],
    *,
    sdkappid: str,
    tokens: Sequence[str],
    now: float,
    max_skew: float = 60.0,
) -> str:
    """Check a callback's query and return its Sign, lowercased (a key for a replay cache).

    Raises Forbidden when `SdkAppid` is missing or not `sdkappid` (exact string match),
    Unauthorized when `Sign` or `RequestTime` is missing or malformed, when the time is
    more than `max_skew` seconds from `now`, or when the Sign matches no token.
    """
    app = query.get("SdkAppid")
    if not isinstance(app, str) or not app:
        raise Forbidden("SdkAppid is missing", category="missing")
    if not sdkappid or app != sdkappid:
        raise Forbidden(f"SdkAppid {_shown(app)} is not this app's")

    presented = query.get("Sign")
    request_time = query.get("RequestTime")
    if not isinstance(presented, str) or not presented:
        raise Unauthorized("Sign is missing", category="missing")
    if not isinstance(request_time, str) or not request_time:
        raise Unauthorized("RequestTime is missing", category="missing")
    if _REQUEST_TIME.fullmatch(request_time) is None:
        raise Unauthorized("RequestTime is not Unix seconds (exactly 10 ASCII digits)")
    age = now - int(request_time)
    if age > max_skew:
        raise Unauthorized(
            f"RequestTime is stale: {age:.0f} s old (max {max_skew:g} s)", category="expired"
        )
    if -age > max_skew:
        raise Unauthorized(
            f"RequestTime is in the future: {-age:.0f} s ahead (max {max_skew:g} s)",
            category="expired",
        )
    if _SIGN.fullmatch(presented) is None:
        raise Unauthorized("Sign is not a sha256 hex digest")
    presented = presented.lower()
    expected = [sign(token, request_time) for token in tokens if token]
    if not matches_any(presented, expected):
        raise Unauthorized("Sign does not match any configured callback token", category="wrong")
    return presented
