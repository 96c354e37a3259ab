"""Secret comparison shared by every platform: constant time, and never true for an
empty secret, so leaving a secret unset can never switch a check off."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def _bytes(text: str) -> bytes:
    # surrogatepass: a header or query decoded with surrogateescape (bytes that are not
    # UTF-8) compares as what it is instead of raising.
    return text.encode("utf-8", "surrogatepass")


def matches_any(presented: str | None, secrets: Iterable[str]) -> bool:
    """True when `presented` equals one of `secrets`. Every secret is compared, with
    `hmac.compare_digest`, whether or not an earlier one matched."""
    if not presented:
        return False
    value = _bytes(presented)
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(value, _bytes(secret))
    return ok
