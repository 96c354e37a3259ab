"""Tencent UserSig (TLSSigAPIv2): a fixed vector from the official library, the algorithm
built literally from its published source, verification and the cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from typing import Any

import pytest

from bot.errors import UserSigError
from bot.platforms.tencent.usersig import UserSigCache, decode_usersig, gen_usersig, verify_usersig

# The key, app id and identifier of the official README and unit tests
# (github.com/tencentyun/tls-sig-api-v2-python, -cpp, -java, -node).
APP = 1400000000
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
USER = "xiaojun"
NOW = 1700000000
EXPIRE = 180 * 86400

# Produced by the official package (PyPI tls-sig-api-v2 1.1, `TLSSigAPIv2.gen_sig`) with
# time.time() pinned to 1700000000.5: `gen_sig("xiaojun", 86400*180)` and
# `gen_sig("administrator", 604800)`.
OFFICIAL_XIAOJUN = (
    "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJk"
    "TE1NjRDiJZm5YFFzNPXFmekgG3zKHM1T9D3LzdODi-OKs8vCqpxcAvydnV2SSv2cy03cPcpDnA2SMgu0nUxslWoB"
    "HdYzUg__"
)
OFFICIAL_ADMIN = (
    "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDKAAKpda"
    "UZBZlAqUMTMwsYCLlmTmgsQMzdFUF2emg2zJNjT1D80OCs9IzAr0dQsNK-A2MM63dIyM8jHUDgwyiXQu9okMzM8J"
    "DzL3tVWqBQBfSTTY"
)
# HMAC-SHA256 of the content below under KEY, computed apart from Python with
# `printf '...' | openssl dgst -sha256 -hmac KEY -binary | base64`.
XIAOJUN_SIG = "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="


def _url_b64decode(value: str) -> bytes:
    return base64.b64decode(value.replace("*", "+").replace("-", "/").replace("_", "="))


def _literal_usersig(identifier: str, expire: int, now: int, key: str = KEY) -> dict[str, Any]:
    """The document of a UserSig, built step by step as the official Python source does."""
    content = (
        "TLS.identifier:" + identifier + "\n"
        "TLS.sdkappid:" + str(APP) + "\n"
        "TLS.time:" + str(now) + "\n"
        "TLS.expire:" + str(expire) + "\n"
    )
    digest = hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()
    return {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": APP,
        "TLS.expire": expire,
        "TLS.time": now,
        "TLS.sig": base64.b64encode(digest).decode(),
    }


def _encode(doc: dict[str, Any], *, compact: bool = False, level: int = -1) -> str:
    text = json.dumps(doc, separators=(",", ":") if compact else None)
    raw = zlib.compress(text.encode(), level)
    return base64.b64encode(raw).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def test_official_vector_decodes_to_the_published_document() -> None:
    """The official library's sig holds TLS.ver 2.0, the fields, and the openssl HMAC."""
    assert decode_usersig(OFFICIAL_XIAOJUN) == {
        "TLS.ver": "2.0",
        "TLS.identifier": USER,
        "TLS.sdkappid": APP,
        "TLS.expire": EXPIRE,
        "TLS.time": NOW,
        "TLS.sig": XIAOJUN_SIG,
    }


def test_literal_construction_matches_the_openssl_hmac() -> None:
    """Building the content string and HMAC literally gives the independent openssl value."""
    assert _literal_usersig(USER, EXPIRE, NOW)["TLS.sig"] == XIAOJUN_SIG


@pytest.mark.parametrize(
    ("identifier", "expire", "official"),
    [(USER, EXPIRE, OFFICIAL_XIAOJUN), ("administrator", 604800, OFFICIAL_ADMIN)],
)
def test_gen_usersig_inflates_to_the_official_json_byte_for_byte(
    identifier: str, expire: int, official: str
) -> None:
    """Ours and the official library's sigs inflate to identical JSON text (the compressed
    bytes are compared through it, as zlib builds may differ in their output)."""
    ours = gen_usersig(APP, KEY, identifier, expire, now=NOW)
    assert zlib.decompress(_url_b64decode(ours)) == zlib.decompress(_url_b64decode(official))
    assert decode_usersig(ours) == _literal_usersig(identifier, expire, NOW)


def test_gen_usersig_uses_the_url_safe_substitutions() -> None:
    """No `+`, `/` or `=` survives: they become `*`, `-` and `_`."""
    sigs = [gen_usersig(APP, KEY, f"user{i}", 86400, now=NOW + i) for i in range(64)]
    joined = "".join(sigs)
    assert not set("+/=") & set(joined)
    assert set("*-_") & set(joined)
    assert all(_url_b64decode(s).startswith(b"\x78") for s in sigs)  # a zlib stream


def test_gen_usersig_rejects_a_non_positive_expiry() -> None:
    """A sig that is born expired is a caller bug."""
    with pytest.raises(ValueError, match="expire"):
        gen_usersig(APP, KEY, USER, 0, now=NOW)


@pytest.mark.parametrize("sig", [OFFICIAL_XIAOJUN, "ours"])
def test_verify_accepts_official_and_own_sigs_until_expiry(sig: str) -> None:
    """Valid from issue through time+expire inclusive (the Go library's `now > t+e`)."""
    if sig == "ours":
        sig = gen_usersig(APP, KEY, USER, EXPIRE, now=NOW)
    verify_usersig(sig, sdkappid=APP, key=KEY, identifier=USER, now=NOW)
    verify_usersig(sig, sdkappid=APP, key=KEY, identifier=USER, now=NOW + EXPIRE)
    with pytest.raises(UserSigError) as e:
        verify_usersig(sig, sdkappid=APP, key=KEY, identifier=USER, now=NOW + EXPIRE + 1)
    assert e.value.reason == "expired"


def test_verify_accepts_go_style_compact_uncompressed_sigs() -> None:
    """The Go library writes compact JSON at zlib level 0; Tencent accepts both forms."""
    sig = _encode(_literal_usersig(USER, 3600, NOW), compact=True, level=0)
    verify_usersig(sig, sdkappid=APP, key=KEY, identifier=USER, now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"sdkappid": APP + 1}, "sdkappid"),
        ({"identifier": "someone"}, "identifier"),
        ({"key": KEY[:-1] + "0"}, "signature"),
    ],
)
def test_verify_names_the_first_mismatch(kwargs: dict[str, Any], reason: str) -> None:
    """Another app, identifier or key each fail with their own reason, as a ValueError."""
    args: dict[str, Any] = {"sdkappid": APP, "key": KEY, "identifier": USER, "now": NOW}
    with pytest.raises(ValueError, match=reason) as e:
        verify_usersig(OFFICIAL_XIAOJUN, **{**args, **kwargs})
    assert isinstance(e.value, UserSigError)
    assert e.value.reason == reason


def test_verify_rejects_a_tampered_field() -> None:
    """Extending TLS.expire without re-signing breaks the signature."""
    doc = decode_usersig(OFFICIAL_XIAOJUN)
    doc["TLS.expire"] = EXPIRE * 10
    with pytest.raises(UserSigError) as e:
        verify_usersig(_encode(doc), sdkappid=APP, key=KEY, identifier=USER, now=NOW)
    assert e.value.reason == "signature"


@pytest.mark.parametrize(
    "sig",
    [
        "",
        "not base64 at all!",
        base64.b64encode(b"plain bytes, not zlib").decode(),
        _encode({"TLS.ver": "2.0"}),
        _encode({**_literal_usersig(USER, 60, NOW), "TLS.time": "1700000000"}),
        _encode({**_literal_usersig(USER, 60, NOW), "TLS.userbuf": "YWJj"}),
        base64.b64encode(zlib.compress(b"[1, 2]")).decode(),
        base64.b64encode(zlib.compress(b"x" * 100_000)).decode(),
        "A" * 5000,
    ],
)
def test_verify_rejects_malformed_sigs(sig: str) -> None:
    """Anything that is not base64url(zlib(JSON object)) with integer fields is malformed."""
    with pytest.raises(UserSigError) as e:
        verify_usersig(sig, sdkappid=APP, key=KEY, identifier=USER, now=NOW)
    assert e.value.reason == "malformed"


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_cache_reuses_a_sig_until_refresh_before_expiry() -> None:
    """The same sig until `refresh_before` seconds before it expires, then a new one."""
    clock = _Clock(NOW)
    cache = UserSigCache(APP, KEY, "admin", ttl=7200, refresh_before=600, clock=clock)
    first = cache.get()
    verify_usersig(first, sdkappid=APP, key=KEY, identifier="admin", now=NOW)
    clock.now = NOW + 7200 - 601
    assert cache.get() == first
    clock.now = NOW + 7200 - 600
    second = cache.get()
    assert second != first
    assert decode_usersig(second)["TLS.time"] == NOW + 6600
    assert decode_usersig(second)["TLS.expire"] == 7200


def test_cache_refresh_forces_a_new_sig() -> None:
    """`refresh()` (used on error 70001) replaces the cached sig at once."""
    clock = _Clock(NOW)
    cache = UserSigCache(APP, KEY, "admin", clock=clock)
    first = cache.get()
    clock.now = NOW + 1
    assert cache.get() == first
    renewed = cache.refresh()
    assert renewed != first
    assert cache.get() == renewed
    assert decode_usersig(renewed)["TLS.expire"] == 86400 * 7


@pytest.mark.parametrize(
    ("key", "ttl", "refresh_before", "match"),
    [("", 86400, 3600, "key"), (KEY, 3600, 3600, "ttl"), (KEY, 60, 3600, "ttl")],
)
def test_cache_refuses_an_empty_key_or_a_ttl_inside_the_refresh_margin(
    key: str, ttl: int, refresh_before: int, match: str
) -> None:
    """No sig from an empty key; no ttl that would refresh on every call."""
    with pytest.raises(ValueError, match=match):
        UserSigCache(APP, key, "admin", ttl=ttl, refresh_before=refresh_before)


def test_cache_repr_hides_the_key() -> None:
    """The secret key never appears in a repr."""
    assert KEY not in repr(UserSigCache(APP, KEY, "admin"))
