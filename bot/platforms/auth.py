"""Secret comparison shared by every platform: constant time, and never true for an
empty secret, so leaving a secret unset can never switch a check off."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def matches_any(presented: str | None, secrets: Iterable[str]) -> bool:
    """True when `presented` equals one of `secrets` (all compared, in constant time)."""
    if not presented:
        return False
    value = presented.encode()
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(value, secret.encode())
    return ok
