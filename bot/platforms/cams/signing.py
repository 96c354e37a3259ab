"""Alibaba Cloud POP request signature V3 (`ACS3-HMAC-SHA256`), both directions.

`sign_request` is what our CAMS client uses; `verify_request` is what the fake CAMS uses to
prove that our client *and* the official SDK sign the same way. Both are pure functions over
raw bytes with an injected clock and nonce, so a test can pin every input.

The canonical request (see cams-protocol.md §3.6) is::

    METHOD \n PATH \n CANONICAL_QUERY \n CANONICAL_HEADERS \n SIGNED_HEADERS \n HEX_SHA256(BODY)

with the query decoded and re-encoded per RFC 3986 (`quote(v, safe="~")`), the signed headers
lower-cased, sorted and trimmed, and the signature the hex HMAC-SHA256 of
`"ACS3-HMAC-SHA256\\n" + hex(sha256(canonical_request))` keyed with the AccessKey secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

from bot.errors import SignatureMismatch

ALGORITHM = "ACS3-HMAC-SHA256"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Headers a verified request must have signed: without them a captured signature could be
# replayed against another action, version, host, time or body.
REQUIRED_SIGNED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as POP wants it: space -> %20, '*' -> %2A, '~' kept, UTF-8 bytes."""
    return quote(value, safe="~")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The canonical query string: pairs sorted by name (then value), each name and value
    percent-encoded, joined with '&'."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(pairs))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_date(now: datetime) -> str:
    """`x-acs-date`: UTC, second precision. Refuses naive datetimes, which would silently be
    read as local time and produce a skewed, rejected request."""
    if now.tzinfo is None:
        raise ValueError("the clock must return a timezone-aware datetime")
    return now.astimezone(UTC).strftime(DATE_FORMAT)


def _canonical_headers(headers: Mapping[str, str], names: Iterable[str]) -> tuple[str, str]:
    """(canonical header block, SignedHeaders) for `names`, read from lower-cased `headers`."""
    signed = sorted({n.lower() for n in names})
    block = "".join(f"{n}:{headers[n].strip()}\n" for n in signed)
    return block, ";".join(signed)


def _signature(secret: str, canonical_request: str) -> str:
    string_to_sign = f"{ALGORITHM}\n{sha256_hex(canonical_request.encode('utf-8'))}"
    return hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def sign_request(
    access_key_id: str,
    access_key_secret: str,
    *,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    action: str,
    version: str,
    content_type: str | None,
    now: datetime,
    nonce: str,
) -> tuple[str, dict[str, str]]:
    """Sign one request. Returns the canonical query string (send it verbatim, e.g. with
    `yarl.URL(..., encoded=True)`) and the headers to send, `Authorization` included.

    `path` is the path exactly as it goes on the wire ("/" when empty); `content_type` is
    given when there is a body and is then signed, as the V3 document requires.
    """
    body_hash = sha256_hex(body)
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": format_date(now),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": body_hash,
    }
    if content_type is not None:
        headers["content-type"] = content_type
    query_string = canonical_query(query.items())
    header_block, signed_headers = _canonical_headers(headers, headers)
    canonical_request = "\n".join(
        [method.upper(), path or "/", query_string, header_block, signed_headers, body_hash]
    )
    signature = _signature(access_key_secret, canonical_request)
    headers["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={signed_headers},Signature={signature}"
    )
    return query_string, headers


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    """(access key id, signed header names, signature) from an `Authorization` value."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureMismatch(
            f"unsupported signature algorithm {algorithm!r}", "IncompleteSignature"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if sep:
            fields[name] = field_value.strip()
    credential = fields.get("Credential", "")
    signed = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    if not (credential and signed and signature):
        raise SignatureMismatch(
            "Authorization needs Credential, SignedHeaders and Signature", "IncompleteSignature"
        )
    return credential, [n.lower() for n in signed.split(";") if n], signature


def _is_text(value: str) -> bool:
    """False for a string with lone surrogates (undecodable bytes kept by the HTTP server)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased header names; repeated headers joined with ',' in sorted order, as the
    official SDK does when it signs."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(name.lower(), []).append(value.strip())
    return {name: ",".join(sorted(values)) for name, values in grouped.items()}


def verify_request(
    secrets: Mapping[str, str],
    *,
    method: str,
    path: str,
    raw_query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    max_skew_seconds: int = 900,
) -> str:
    """Check a received request's V3 signature; return the AccessKey id that signed it.

    Rebuilds the canonical request from the headers named in `SignedHeaders` (the official
    SDK signs every header it sends, we sign only the required ones) and from the received
    query decoded and re-encoded canonically (the SDK sends '+' for spaces, we send '%20').
    `path` is the raw path as received. Raises `SignatureMismatch` on any failure; there is
    no way to pass with an empty secret map.
    """
    hdrs = _lower_headers(headers)
    texts = [path, raw_query_string, *hdrs, *hdrs.values()]
    if not all(_is_text(t) for t in texts):
        raise SignatureMismatch(
            "the path, query or a header is not UTF-8 text", "SignatureDoesNotMatch"
        )
    authorization = hdrs.get("authorization", "")
    if not authorization:
        raise SignatureMismatch("the Authorization header is missing", "MissingAuthorization")
    access_key_id, signed_names, signature = _parse_authorization(authorization)

    secret = secrets.get(access_key_id)
    if not secret:
        raise SignatureMismatch("the AccessKey id is not known", "InvalidAccessKeyId.NotFound")

    required = list(REQUIRED_SIGNED_HEADERS)
    if body:
        required.append("content-type")
    for name in required:
        if name not in signed_names or name not in hdrs:
            raise SignatureMismatch(
                f"header {name!r} must be sent and signed", "IncompleteSignature"
            )
    missing = [n for n in signed_names if n not in hdrs]
    if missing:
        raise SignatureMismatch(
            f"signed header {missing[0]!r} was not sent", "SignatureDoesNotMatch"
        )

    query = canonical_query(parse_qsl(raw_query_string, keep_blank_values=True))
    header_block, signed_headers = _canonical_headers(hdrs, signed_names)
    canonical_request = "\n".join(
        [
            method.upper(),
            path or "/",
            query,
            header_block,
            signed_headers,
            hdrs["x-acs-content-sha256"],
        ]
    )
    expected = _signature(secret, canonical_request)
    if not hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("utf-8")):
        raise SignatureMismatch(
            "the request signature does not match our calculation", "SignatureDoesNotMatch"
        )

    try:
        signed_at = datetime.strptime(hdrs["x-acs-date"], DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureMismatch(
            "x-acs-date must look like 2026-01-31T12:00:00Z", "InvalidTimeStamp.Format"
        ) from None
    current = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    if abs(current - signed_at) > timedelta(seconds=max_skew_seconds):
        raise SignatureMismatch(
            "x-acs-date is too far from the server's clock", "InvalidTimeStamp.Expired"
        )

    if not hmac.compare_digest(
        sha256_hex(body).encode("ascii"), hdrs["x-acs-content-sha256"].lower().encode("utf-8")
    ):
        raise SignatureMismatch(
            "x-acs-content-sha256 does not match the body", "ContentSha256Mismatch"
        )
    return access_key_id
