"""Tencent Cloud Chat callback authentication: SdkAppid, RequestTime window and Sign."""

from __future__ import annotations

import random
import string

import pytest

from bot.errors import BadRequest, Forbidden, Unauthorized
from bot.platforms.tencent.auth import sign, verify_callback

APP = "1400000000"
TOKEN = "xxxxyyyy"
TIME = "1669872112"
DOC_SIGN = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
NOW = 1669872112.0
# Unicode digits that `str.isdigit()` and `\d` accept, built from escapes to stay readable.
FULLWIDTH = "".join(chr(0xFF10 + int(c)) for c in TIME)
ARABIC_INDIC = "".join(chr(0x0660 + int(c)) for c in TIME)


def query(**overrides: str | None) -> dict[str, str]:
    q: dict[str, str | None] = {
        "SdkAppid": APP,
        "CallbackCommand": "C2C.CallbackAfterSendMsg",
        "contenttype": "json",
        "ClientIP": "127.0.0.1",
        "OptPlatform": "iOS",
        "Sign": DOC_SIGN,
        "RequestTime": TIME,
    }
    q.update(overrides)
    return {k: v for k, v in q.items() if v is not None}


def verify(q: dict[str, str], tokens: tuple[str, ...] = (TOKEN,), now: float = NOW) -> str:
    return verify_callback(q, sdkappid=APP, tokens=tokens, now=now)


def test_sign_matches_the_documented_vector() -> None:
    """sign() reproduces Tencent's published example exactly."""
    assert sign(TOKEN, TIME) == DOC_SIGN


def test_valid_callback_returns_the_sign() -> None:
    """A correctly signed, fresh callback for our app returns its Sign for the replay cache."""
    assert verify(query()) == DOC_SIGN


def test_uppercase_sign_is_accepted_and_normalized() -> None:
    """Hex case does not matter, and the returned Sign is lowercase so replays share a key."""
    assert verify(query(Sign=DOC_SIGN.upper())) == DOC_SIGN


@pytest.mark.parametrize("tokens", [(TOKEN, "new-token"), ("new-token", TOKEN)])
def test_rotation_accepts_old_and_new_token(tokens: tuple[str, ...]) -> None:
    """During rotation a Sign made with either configured token passes."""
    assert verify(query(), tokens=tokens) == DOC_SIGN
    new = sign("new-token", TIME)
    assert verify(query(Sign=new), tokens=tokens) == new


@pytest.mark.parametrize("tokens", [(), ("",), ("", "")])
def test_no_usable_token_never_passes(tokens: tuple[str, ...]) -> None:
    """An empty token list or empty tokens reject everything, even sha256 of the time alone."""
    with pytest.raises(Unauthorized):
        verify(query(Sign=sign("", TIME)), tokens=tokens)


def test_wrong_sign_is_unauthorized_without_leaking_the_token() -> None:
    """A Sign made with another token is refused and the reason never names the token."""
    with pytest.raises(Unauthorized) as info:
        verify(query(Sign=sign("other", TIME)))
    assert TOKEN not in info.value.reason
    assert "match" in info.value.reason


@pytest.mark.parametrize(
    "bad_sign", ["", "abc", DOC_SIGN[:-1], DOC_SIGN + "0", "g" * 64, " " + DOC_SIGN[1:], "é" * 64]
)
def test_malformed_sign_is_unauthorized(bad_sign: str) -> None:
    """A Sign that is not 64 hex digits is refused (non-ASCII never reaches compare_digest)."""
    with pytest.raises(Unauthorized):
        verify(query(Sign=bad_sign))


@pytest.mark.parametrize("missing", ["Sign", "RequestTime"])
def test_missing_sign_or_time_is_unauthorized(missing: str) -> None:
    """Without Sign or RequestTime the request is unauthenticated (401)."""
    with pytest.raises(Unauthorized, match=f"{missing} is missing"):
        verify(query(**{missing: None}))


@pytest.mark.parametrize(
    "app",
    [
        None,
        "",
        "1400000001",
        "01400000000",
        " 1400000000",
        "1400000000 ",
        "1400000000.0",
        FULLWIDTH[:1] + APP[1:],
    ],
)
def test_wrong_or_missing_sdkappid_is_forbidden(app: str | None) -> None:
    """SdkAppid must be exactly our app id as a string: no int coercion, no trimming."""
    with pytest.raises(Forbidden, match="SdkAppid"):
        verify(query(SdkAppid=app))


def test_forbidden_when_our_sdkappid_is_not_configured() -> None:
    """An unconfigured (empty) app id matches nothing, not even an empty SdkAppid."""
    with pytest.raises(Forbidden):
        verify_callback(query(SdkAppid=""), sdkappid="", tokens=(TOKEN,), now=NOW)


@pytest.mark.parametrize(
    "request_time",
    [
        FULLWIDTH,
        ARABIC_INDIC,
        TIME[:5] + FULLWIDTH[5:],
        "+1669872112",
        "-1669872112",
        "1669872112.0",
        " 1669872112",
        "1669872112 ",
        "1669872112\n",
        "166987211",
        "16698721120",
        "166987211a",
        "0x63888030",
        "1_669872112",
    ],
)
def test_malformed_request_time_is_unauthorized(request_time: str) -> None:
    """RequestTime must be exactly 10 ASCII digits."""
    with pytest.raises(Unauthorized, match="10 ASCII digits"):
        verify(query(RequestTime=request_time))


@pytest.mark.parametrize(
    ("now", "word"),
    [(NOW + 61, "stale"), (NOW + 3600, "stale"), (NOW - 61, "future"), (NOW - 86400, "future")],
)
def test_time_outside_the_window_is_refused(now: float, word: str) -> None:
    """More than max_skew from now, in either direction, is refused saying which."""
    with pytest.raises(Unauthorized, match=word):
        verify(query(), now=now)


@pytest.mark.parametrize("now", [NOW - 60, NOW, NOW + 60, NOW + 59.9])
def test_time_at_the_window_edge_passes(now: float) -> None:
    """Exactly max_skew seconds away is still accepted."""
    assert verify(query(), now=now) == DOC_SIGN


def test_custom_max_skew() -> None:
    """max_skew narrows or widens the window."""
    with pytest.raises(Unauthorized, match="stale"):
        verify_callback(query(), sdkappid=APP, tokens=(TOKEN,), now=NOW + 10, max_skew=5)
    assert verify_callback(query(), sdkappid=APP, tokens=(TOKEN,), now=NOW + 300, max_skew=600)


def _random_value(rng: random.Random, now: int) -> str:
    choice = rng.randrange(8)
    if choice == 0:
        return str(now + rng.randint(-120, 120))
    if choice == 1:
        return sign(rng.choice([TOKEN, "t2", ""]), str(now + rng.randint(-5, 5)))
    if choice == 2:
        return APP
    if choice == 3:
        return "".join(rng.choice("0123456789+-. \uff11\u0663") for _ in range(rng.randint(0, 12)))
    if choice == 4:
        return "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 70)))
    if choice == 5:
        return "".join(rng.choice(string.hexdigits) for _ in range(rng.choice([63, 64, 65])))
    return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 20)))


def test_fuzz_only_returns_a_valid_sign_or_raises_our_errors() -> None:
    """Random queries either pass with a Sign that truly matches, or raise BadRequest kinds."""
    rng = random.Random(20240601)
    keys = ["SdkAppid", "Sign", "RequestTime", "OptPlatform", "sdkappid", "sign", ""]
    passed = 0
    reasons: list[str] = []
    for _ in range(4000):
        now = int(NOW) + rng.randint(-3, 3)
        q = {k: _random_value(rng, now) for k in keys if rng.random() < 0.8}
        if rng.random() < 0.3:  # often build a nearly valid query
            t = str(now + rng.randint(-70, 70))
            q.update(SdkAppid=APP, RequestTime=t, Sign=sign(rng.choice([TOKEN, "t2"]), t))
        try:
            result = verify_callback(q, sdkappid=APP, tokens=(TOKEN, "t2"), now=float(now))
        except BadRequest as e:
            reasons.append(e.reason)
            continue
        passed += 1
        t = q["RequestTime"]
        assert result in (sign(TOKEN, t), sign("t2", t))
        assert abs(now - int(t)) <= 60
        assert q["SdkAppid"] == APP
    assert passed > 100
    assert len(reasons) > 1000
    assert not [r for r in reasons if TOKEN in r]
