"""V3 (ACS3-HMAC-SHA256) signing and verification of POP requests."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_tea_openapi.utils import Utils as SdkUtils
from darabonba.request import DaraRequest

from bot.errors import SignatureMismatch, Unauthorized
from bot.platforms.cams.signing import sign_request, verify_request

AK = "LTAI5tExampleKeyId"
SECRET = "example-secret-0123456789"
HOST = "cams.ap-southeast-1.aliyuncs.com"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"
BODY = b"Content=%7B%22text%22%3A%22hi%20there%22%7D&To=8613800000000"


def _sign(
    *,
    secret: str = SECRET,
    query: dict[str, str] | None = None,
    body: bytes = BODY,
    now: datetime = NOW,
    nonce: str = "nonce-1",
    path: str = "/",
) -> tuple[str, dict[str, str]]:
    return sign_request(
        AK,
        secret,
        method="POST",
        host=HOST,
        path=path,
        query=query or {},
        body=body,
        action="SendChatappMessage",
        version="2020-06-06",
        content_type=FORM if body else None,
        now=now,
        nonce=nonce,
    )


def _verify(
    headers: dict[str, str],
    *,
    query: str = "",
    body: bytes = BODY,
    now: datetime = NOW,
    secrets: dict[str, str] | None = None,
    path: str = "/",
) -> str:
    return verify_request(
        {AK: SECRET} if secrets is None else secrets,
        method="POST",
        path=path,
        raw_query_string=query,
        headers=headers,
        body=body,
        now=now,
    )


def test_sign_request_is_deterministic_and_matches_a_hand_computed_vector() -> None:
    """A fixed clock and nonce give the same output, equal to the V3 recipe done by hand."""
    query = {"b": "x y", "a": "1*~/é"}
    first = _sign(query=query)
    assert first == _sign(query=query)

    body_hash = hashlib.sha256(BODY).hexdigest()
    signed = (
        "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;"
        "x-acs-signature-nonce;x-acs-version"
    )
    canonical_request = (
        "POST\n"
        "/\n"
        "a=1%2A~%2F%C3%A9&b=x%20y\n"
        "content-type:application/x-www-form-urlencoded\n"
        "host:cams.ap-southeast-1.aliyuncs.com\n"
        "x-acs-action:SendChatappMessage\n"
        f"x-acs-content-sha256:{body_hash}\n"
        "x-acs-date:2026-01-02T03:04:05Z\n"
        "x-acs-signature-nonce:nonce-1\n"
        "x-acs-version:2020-06-06\n"
        "\n"
        f"{signed}\n"
        f"{body_hash}"
    )
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    signature = hmac.new(SECRET.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()

    query_string, headers = first
    assert query_string == "a=1%2A~%2F%C3%A9&b=x%20y"
    assert headers["Authorization"] == (
        f"ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={signed},Signature={signature}"
    )
    assert headers["x-acs-content-sha256"] == body_hash
    assert headers["x-acs-date"] == "2026-01-02T03:04:05Z"
    assert headers["host"] == HOST


def test_sign_request_equals_the_official_sdk_authorization() -> None:
    """The SDK's own get_authorization, fed the same request, yields our Authorization."""
    query = {"To": "+86 138", "Content": '{"text":"a*b~c"}'}
    _, headers = _sign(query=query)
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(query)
    request.headers = {k: v for k, v in headers.items() if k != "Authorization"}
    expected = SdkUtils.get_authorization(
        request,
        "ACS3-HMAC-SHA256",
        headers["x-acs-content-sha256"],
        AK,
        SECRET,
    )
    assert headers["Authorization"] == expected


def test_empty_body_is_signed_without_content_type() -> None:
    """No body: the hash is SHA-256 of nothing and content-type is neither sent nor signed."""
    _, headers = _sign(body=b"")
    assert headers["x-acs-content-sha256"] == hashlib.sha256(b"").hexdigest()
    assert "content-type" not in headers
    assert "content-type" not in headers["Authorization"]
    assert _verify(headers, body=b"") == AK


def test_sign_request_refuses_a_naive_clock() -> None:
    """A naive datetime would be read as local time, so signing refuses it."""
    with pytest.raises(ValueError, match="timezone-aware"):
        _sign(now=datetime(2026, 1, 2, 3, 4, 5))


def test_verify_accepts_our_own_signature() -> None:
    """A request we signed verifies and names the AccessKey id that signed it."""
    query_string, headers = _sign(query={"Type": "message", "To": "8613800000000"})
    assert _verify(headers, query=query_string) == AK


def test_verify_reencodes_a_form_style_query_in_any_order() -> None:
    """'+' for spaces and unsorted names (the SDK's urlencode) verify like canonical ones."""
    _, headers = _sign(query={"b": "x y", "a": "1*~"})
    assert _verify(headers, query="b=x+y&a=1%2A%7E") == AK


def test_verify_accepts_extra_signed_headers_and_any_header_case() -> None:
    """Headers the signer chose to sign too (user-agent, accept) are part of the check."""
    _, headers = _sign()
    extra = {"user-agent": "AlibabaCloud (Linux) Python/3.11", "accept": "application/json"}
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = {}
    request.headers = {**{k: v for k, v in headers.items() if k != "Authorization"}, **extra}
    auth = SdkUtils.get_authorization(
        request, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], AK, SECRET
    )
    sent = {k.title(): v for k, v in request.headers.items()} | {"Authorization": auth}
    assert _verify(sent) == AK
    sent["User-Agent"] = "something else"
    with pytest.raises(SignatureMismatch) as info:
        _verify(sent)
    assert info.value.code == "SignatureDoesNotMatch"


def _tamper(key: str, value: str | None) -> Callable[[dict[str, str]], dict[str, str]]:
    def change(headers: dict[str, str]) -> dict[str, str]:
        changed = dict(headers)
        if value is None:
            del changed[key]
        else:
            changed[key] = value
        return changed

    return change


def _resign_without(name: str) -> Callable[[dict[str, str]], dict[str, str]]:
    """Re-sign so that `name` is neither sent nor signed."""

    def change(headers: dict[str, str]) -> dict[str, str]:
        request = DaraRequest()
        request.method = "POST"
        request.pathname = "/"
        request.query = {}
        request.headers = {k: v for k, v in headers.items() if k not in ("Authorization", name)}
        auth = SdkUtils.get_authorization(
            request, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], AK, SECRET
        )
        return {**request.headers, "Authorization": auth}

    return change


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_tamper("Authorization", None), "MissingAuthorization"),
        (_tamper("x-acs-action", "DeleteEverything"), "SignatureDoesNotMatch"),
        (_tamper("host", "evil.example"), "SignatureDoesNotMatch"),
        (_tamper("x-acs-signature-nonce", "other"), "SignatureDoesNotMatch"),
        (_tamper("x-acs-content-sha256", "0" * 64), "SignatureDoesNotMatch"),
        (_resign_without("x-acs-signature-nonce"), "IncompleteSignature"),
        (_resign_without("content-type"), "IncompleteSignature"),
    ],
)
def test_verify_rejects_tampered_headers(
    change: Callable[[dict[str, str]], dict[str, str]], code: str
) -> None:
    """Changing, dropping or not signing a required header is refused with its POP code."""
    _, headers = _sign()
    with pytest.raises(SignatureMismatch) as info:
        _verify(change(headers))
    assert info.value.code == code


@pytest.mark.parametrize(
    "authorization",
    [
        "ACS3-HMAC-SM3 Credential=x,SignedHeaders=host,Signature=00",
        "ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host",
        "Bearer token",
    ],
)
def test_verify_rejects_malformed_authorization(authorization: str) -> None:
    """Another algorithm or a missing field is an IncompleteSignature."""
    _, headers = _sign()
    headers["Authorization"] = authorization
    with pytest.raises(SignatureMismatch) as info:
        _verify(headers)
    assert info.value.code == "IncompleteSignature"


def test_verify_rejects_a_wrong_secret() -> None:
    """A request signed with another secret does not match; the error is a 401-class error."""
    _, headers = _sign(secret="not-the-secret")
    with pytest.raises(SignatureMismatch) as info:
        _verify(headers)
    assert info.value.code == "SignatureDoesNotMatch"
    assert isinstance(info.value, Unauthorized)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("secrets", [{}, {"someone-else": SECRET}, {AK: ""}])
def test_verify_rejects_unknown_or_empty_keys(secrets: dict[str, str]) -> None:
    """No secret configured for the key id, or an empty one, never passes."""
    _, headers = _sign()
    with pytest.raises(SignatureMismatch) as info:
        _verify(headers, secrets=secrets)
    assert info.value.code == "InvalidAccessKeyId.NotFound"


def test_verify_rejects_a_changed_query_or_path() -> None:
    """The query and the path are covered by the signature."""
    query_string, headers = _sign(query={"To": "8613800000000"})
    with pytest.raises(SignatureMismatch):
        _verify(headers, query="To=8613899999999")
    with pytest.raises(SignatureMismatch):
        _verify(headers, query=query_string, path="/other/")


def test_verify_rejects_a_body_that_does_not_match_its_hash() -> None:
    """A swapped body under a validly signed hash is a ContentSha256Mismatch."""
    _, headers = _sign()
    with pytest.raises(SignatureMismatch) as info:
        _verify(headers, body=BODY + b"&To=1")
    assert info.value.code == "ContentSha256Mismatch"


@pytest.mark.parametrize(
    ("skew", "ok"),
    [
        (timedelta(seconds=900), True),
        (timedelta(seconds=-900), True),
        (timedelta(seconds=901), False),
        (timedelta(seconds=-901), False),
    ],
)
def test_verify_enforces_the_clock_skew_window(skew: timedelta, ok: bool) -> None:
    """x-acs-date may differ from the server clock by at most 15 minutes either way."""
    _, headers = _sign()
    if ok:
        assert _verify(headers, now=NOW + skew) == AK
    else:
        with pytest.raises(SignatureMismatch) as info:
            _verify(headers, now=NOW + skew)
        assert info.value.code == "InvalidTimeStamp.Expired"
