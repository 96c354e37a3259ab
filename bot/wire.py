"""What our callers send, decoded the same strict way everywhere: Content-Type labels and JSON.

Labels (`body_kind`): which Content-Types an endpoint takes (415 otherwise), per the
platform's documented behaviour; see `Accept`.

Decoding (`decode_json`): RFC 8259 JSON in UTF-8 and nothing more: invalid UTF-8, lone
surrogates (`"\\ud800"`), duplicate keys, NaN, Infinity and numbers that overflow to them,
and nesting deeper than `MAX_DEPTH` are refused with a BadRequest (400) naming the problem.
The web handlers (bot.web.body) and the platform parsers (bot.platforms) use the same
decoder for bodies and for the JSON found inside fields, so no part of a request is decoded
more loosely than another. Nothing here knows HTTP servers.
"""

from __future__ import annotations

import enum
import json
import math
import re
from typing import Any, Literal

from bot.errors import BadRequest, UnsupportedMediaType
from bot.log import shown

MAX_DEPTH = 32  # levels of arrays and objects; CAMS and Tencent payloads use 4 at most


class Accept(enum.Enum):
    """The Content-Types an endpoint takes.

    `JSON`: only a JSON label (`application/json`, `text/json` or any `+json` type) with
    UTF-8 (the default) as charset; a request without a body may omit it. For our own API,
    whose callers we document.

    `JSON_ANY_LABEL`: the body must be JSON, whatever its label says. CAMS documents its
    receipt pushes as "HTTP + JSON, UTF-8" but not the Content-Type header it sends, and
    Tencent Chat signals JSON with `contenttype=json` in the URL, not with a header. A
    Java or C++ HTTP client left at its defaults labels a POST body
    `application/x-www-form-urlencoded` or `application/octet-stream`; refusing such a
    label would lose every customer message of a deployment while the body itself is fine.
    So the body decides, strictly; only `multipart/*`, which cannot be a bare JSON
    document, is refused by its label.

    `JSON_OR_FORM`: CAMS's business-system call, whose format is not published: a JSON
    object, a form (`application/x-www-form-urlencoded`), or no body (query only). A form
    label over a body that is a JSON object (first character `{`) is read as JSON, for the
    same default-label reason. `multipart/*` is refused.
    """

    JSON = "json"
    JSON_ANY_LABEL = "json-any-label"
    JSON_OR_FORM = "json-or-form"


_JSON_TYPES = frozenset({"application/json", "text/json"})
_FORM = "application/x-www-form-urlencoded"
_UTF8 = frozenset({"utf-8", "utf8"})


def media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """(`type/subtype` lower-cased, parameters) of a Content-Type value; ("", {}) when
    absent or blank."""
    if not value or not value.strip():
        return "", {}
    main, *params = value.split(";")
    parameters: dict[str, str] = {}
    for param in params:
        name, sep, arg = param.partition("=")
        if sep:
            parameters[name.strip().lower()] = arg.strip().strip('"').strip()
    return main.strip().lower(), parameters


def is_json_type(mime: str) -> bool:
    return mime in _JSON_TYPES or (mime.startswith("application/") and mime.endswith("+json"))


def body_kind(content_type: str | None, accept: Accept) -> Literal["json", "form", "none"]:
    """How to decode a body labelled `content_type` at an endpoint taking `accept`:
    "json", "form", or "none" (JSON-only endpoint, no label: the body must then be empty).
    Raises UnsupportedMediaType (415) for a label the endpoint does not take."""
    mime, params = media_type(content_type)
    if mime.startswith("multipart/"):
        raise UnsupportedMediaType(f"Content-Type {_shown(mime)} is not taken here: send JSON")
    if accept is Accept.JSON:
        if not mime:
            return "none"
        if not is_json_type(mime):
            raise UnsupportedMediaType(
                f"Content-Type {_shown(mime)} is not taken here: send application/json"
            )
        charset = params.get("charset", "utf-8").lower()
        if charset not in _UTF8:
            raise UnsupportedMediaType(f"charset {_shown(charset)} is not taken: JSON is UTF-8")
        return "json"
    if accept is Accept.JSON_OR_FORM and mime == _FORM:
        return "form"
    return "json"


def _shown(value: str, limit: int = 40) -> str:
    """An untrusted value for a reason (which is logged): see bot.log.shown."""
    return shown(value, limit)


def is_text(value: str) -> bool:
    """False for a string holding lone surrogates: aiohttp keeps undecodable header bytes
    that way (surrogateescape); such a value equals no secret and cannot be stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- strict JSON ----------------------------------------------------------------------------


class _Refused(ValueError):
    """Raised from inside the JSON scanner's hooks; becomes a BadRequest."""


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A string (possibly unterminated: then it runs to the end, so the scan stays linear) or a
# comma followed only by blanks before a closing bracket.
_STRING_OR_TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*+"?)|,(?=\s*[}\]])', re.DOTALL)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {_shown(key)}")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {_shown(text, 24)} is out of range")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_constant=_constant, parse_float=_float, strict=True
)


def _check_tree(value: Any, what: str, *, strings: bool) -> None:
    """Nesting at most MAX_DEPTH and, when `strings`, no lone surrogate in a key or string.
    Only containers are visited unless `strings`: a batch of thousands of items costs
    little."""
    if strings and isinstance(value, str) and _SURROGATE.search(value):
        raise _surrogate(what)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if strings and any(_SURROGATE.search(key) for key in node):
                raise _surrogate(what)
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise BadRequest(f"{what}: JSON nested deeper than {MAX_DEPTH} levels")
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif strings and isinstance(child, str) and _SURROGATE.search(child):
                raise _surrogate(what)


def _surrogate(what: str) -> BadRequest:
    return BadRequest(f"{what}: a string holds a lone surrogate (\\ud800-\\udfff), not text")


def _drop_trailing_commas(text: str) -> str:
    return _STRING_OR_TRAILING_COMMA.sub(lambda m: m.group(1) or "", text)


def _decode(text: str, what: str) -> Any:
    """The value of `text`; raises BadRequest, or JSONDecodeError for a syntax error."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError:
        raise
    except _Refused as e:
        raise BadRequest(f"{what} is not usable JSON: {e}") from None
    except ValueError:  # int() refuses more than 4300 digits
        raise BadRequest(f"{what} is not usable JSON: a number has too many digits") from None
    except RecursionError:
        raise BadRequest(f"{what}: JSON nested deeper than {MAX_DEPTH} levels") from None


def decode_json(data: bytes | str, *, what: str = "body", trailing_commas: bool = False) -> Any:
    """Decode strict JSON (see the module docstring); a leading UTF-8 byte-order mark is
    skipped. `trailing_commas` tolerates `[1, 2,]` (CAMS's published samples have them).
    `what` names the thing in the BadRequest's reason: "body", "Message", ...
    Raises only BadRequest."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadRequest(f"{what} is not valid UTF-8 (at byte {e.start})") from None
        strings = _SURROGATE_ESCAPE.search(text) is not None
    else:
        text = data
        strings = _SURROGATE_ESCAPE.search(text) is not None or bool(_SURROGATE.search(text))
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise BadRequest(f"{what} is not JSON: it is empty")
    try:
        value = _decode(text, what)
    except json.JSONDecodeError as first:
        cleaned = _drop_trailing_commas(text) if trailing_commas else text
        if cleaned == text:
            raise BadRequest(f"{what} is not JSON: {_position(first)}") from None
        try:
            value = _decode(cleaned, what)
        except json.JSONDecodeError:
            raise BadRequest(f"{what} is not JSON: {_position(first)}") from None
    _check_tree(value, what, strings=strings)
    return value


def _position(e: json.JSONDecodeError) -> str:
    return f"{e.msg.lower()} (line {e.lineno}, column {e.colno})"
