"""A call's URL and header values: as the flow author wrote them, as a step renders them,
and as the process that makes the call puts them together.

The author's text decides the shape of the request; data (a customer's answers, the
business's intent data, what a call answered) decides only its own characters:

- `{{ secret.NAME }}` is the operator's secret `BOT_SECRET_NAME`. Only the author's text can
  name one, as a placeholder of its own in a `call:` URL or header (or an agent header). A
  step keeps it as a reference to the name (`PartKind.SECRET` part), and so does every stored form;
  only the process making the call puts the value in, at the last moment. Nothing a
  customer types is ever read for secrets: data is never scanned for markers.
- Any other `{{ ... }}` is data (`PartKind.DATA` part). In a URL it is percent-encoded for
  the part of the URL it lands in, so it cannot add a path segment or a query parameter or
  cut the URL, and it can never stand in the scheme, host or port: the loader refuses a URL
  that would put it there, and `build_url` refuses one whose secret base leaves it there. In
  a header value every control character becomes a space, so data cannot add a header or a
  line.
- A secret at the start of a URL, or in its host, is the operator's base URL or host and
  goes in as written; in the path, query or fragment it is percent-encoded like data.

A rendered value is a tuple of `(kind, text)` parts (bot.model.PartKind): the author's text,
a secret's name, a value: plain strings and tuples, so that the store's codec and the tools'
simulator handle them without knowing more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from bot.errors import CallTextError, ExprError
from bot.flows.expr import Env, Expr, show
from bot.flows.expr import Template as TextTemplate
from bot.flows.links import URL_KEEP, segment
from bot.model import CallRequest, Part, PartKind, Parts

_SECRET_SOURCE = re.compile(r"secret\.([A-Za-z_][A-Za-z0-9_]{0,63})")
SCHEMES = ("http", "https")
# What an HTTP header value may not hold: C0 controls, DEL and C1 controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# RFC 9110 token characters: what a header name is made of.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """`{{ secret.NAME }}` as the author wrote it."""

    name: str


Piece = str | SecretRef | Expr


def secret_of(expr: Expr) -> str | None:
    """NAME when `expr` is exactly `secret.NAME`; None otherwise."""
    found = _SECRET_SOURCE.fullmatch(expr.source.strip())
    return found.group(1) if found else None


def reads_secret(expr: Expr) -> bool:
    """True when the expression reads `secret` in any way."""
    return "secret" in expr.names


@dataclass(frozen=True, slots=True)
class CallText:
    """A URL or header value of a `call:`, parsed once at start-up."""

    source: str
    pieces: tuple[Piece, ...]

    @classmethod
    def parse(cls, source: str) -> CallText:
        """Split `source` into text, secrets and data placeholders. Raises ExprError (with
        the message for the flow author) for a placeholder that reads `secret` other than
        as `{{ secret.NAME }}` alone."""
        template = TextTemplate.parse(source)
        pieces: list[Piece] = []
        for piece in template.pieces:
            if isinstance(piece, Expr):
                name = secret_of(piece)
                if name is not None:
                    pieces.append(SecretRef(name))
                    continue
                if reads_secret(piece):
                    raise ExprError(
                        source,
                        f"`{{{{ {piece.source} }}}}` reads a secret inside an expression: a "
                        "secret goes in a placeholder of its own, `{{ secret.NAME }}`",
                    )
            pieces.append(piece)
        return cls(source, tuple(pieces))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(p.name for p in self.pieces if isinstance(p, SecretRef))

    def render(self, env: Env) -> Parts:
        """The parts of this value for one step; raises ExprError from a placeholder."""
        parts: list[Part] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                parts.append((PartKind.TEXT, piece))
            elif isinstance(piece, SecretRef):
                parts.append((PartKind.SECRET, piece.name))
            else:
                try:
                    value = show(piece.evaluate(env))
                except ValueError as e:  # str() of an integer of more than 4300 digits
                    raise ExprError(self.source, f"cannot show the value: {e}") from e
                parts.append((PartKind.DATA, value))
        return tuple(parts)


def url_problem(url: CallText) -> str | None:
    """Why a call URL as written could let data choose where the call goes, or None.

    The URL must start with `http://` or `https://` and a host written in the text, or
    with a secret (the operator's base URL); data may only follow a `/`, `?` or `#` written
    after the host, or after such a secret."""
    pieces = url.pieces
    if not pieces:
        return "the url is empty"
    first = pieces[0]
    if isinstance(first, SecretRef):
        rest: list[Piece] = list(pieces[1:])
        shape = ""
    elif isinstance(first, str):
        scheme, sep, _ = first.partition("://")
        if not sep or scheme.lower() not in SCHEMES:
            return "the url must start with http:// or https:// (or {{ secret.NAME }})"
        rest, shape = list(pieces[1:]), first[len(scheme) + 3 :]
        host: Piece = shape or (rest[0] if rest else "")
        if isinstance(host, str) and (not host or host[0] in "/?#"):
            return "the url has no host after its scheme"
    else:
        return (
            f"the url starts with data (`{{{{ {first.source} }}}}`): write the scheme and host "
            "in the url, or start it with {{ secret.NAME }}"
        )
    # `shape` is the text written after the base (scheme and host, or a secret); data may
    # stand only once a '/', '?' or '#' of that text ended the host.
    ended = any(c in shape for c in "/?#")
    for piece in rest:
        if isinstance(piece, str):
            ended = ended or any(c in piece for c in "/?#")
        elif isinstance(piece, Expr) and not ended:
            return (
                f"`{{{{ {piece.source} }}}}` stands in the url's host: write the scheme and "
                "host in the url and keep placeholders for the path and query, so that data "
                "cannot send the call elsewhere"
            )
    return None


def webhook_problem(url: str) -> str | None:
    """Why an agent webhook cannot be called: it is a url written whole, or that starts
    with an operator's `{{ secret.NAME }}` (the sandbox's, say); it takes no data."""
    try:
        text = CallText.parse(url)
    except ExprError as e:
        return f"the webhook `{url}`: {e.message}"
    if any(isinstance(piece, Expr) for piece in text.pieces):
        return (
            f"the webhook `{url}` takes no data: write it whole, or start it with "
            "{{ secret.NAME }}"
        )
    if text.secrets:
        problem = url_problem(text)
        return None if problem is None else f"the webhook `{url}`: {problem}"
    try:
        split = urlsplit(url.strip())
        split.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return f"the webhook `{url}` is not a url"
    if split.scheme.lower() not in SCHEMES or not split.hostname:
        return f"the webhook `{url}` is not an http:// or https:// url with a host"
    return None


def header_problem(name: str, value: CallText) -> str | None:
    """Why a header as written cannot be sent, or None."""
    if not HEADER_NAME.fullmatch(name):
        return f"`{name}` is not a header name (letters, digits and -, no spaces)"
    for piece in value.pieces:
        if isinstance(piece, str) and _CONTROL.search(piece):
            return f"the value of header `{name}` holds a control character (a line break?)"
    return None


# -- putting a rendered call together (the process that makes the call) ----------------------


def _secret(name: str, secrets: Mapping[str, str]) -> str:
    value = secrets.get(name)
    if value is None:
        raise CallTextError(f"the call needs BOT_SECRET_{name}, which is not set", missing=name)
    return value


def _where(built: str) -> Literal["base", "path", "query", "fragment"]:
    """Where text appended to `built` lands: still in the scheme or host (`base`), or in the
    path, query or fragment."""
    scheme = built.find("://")
    if scheme < 0:
        return "base"
    host_end = next((i for i, c in enumerate(built[scheme + 3 :]) if c in "/?#"), None)
    if host_end is None:
        return "base"
    if "#" in built:
        return "fragment"
    return "query" if "?" in built else "path"


def build_url(parts: Parts, secrets: Mapping[str, str]) -> str:
    """The URL to call: the author's text as written (spaces and non-ASCII encoded), a
    secret as written at the start or in the host and encoded elsewhere, data encoded for
    where it lands. Raises CallTextError when data would land in the scheme or host, or the
    URL is not an http(s) URL with a host."""
    text = ""
    for kind, value in parts:
        match kind:
            case PartKind.TEXT:
                text += quote(value, safe=URL_KEEP)
            case PartKind.SECRET:
                secret = _secret(value, secrets)
                base = _where(text) == "base"
                text += quote(secret, safe=URL_KEEP) if base else _encode(secret)
            case _:  # PartKind.DATA
                if _where(text) == "base":
                    raise CallTextError("data would stand in the url's scheme or host: not called")
                text += _encode(value)
    try:
        split = urlsplit(text)
        split.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise CallTextError("the url is not a url: not called") from None
    if split.scheme.lower() not in SCHEMES or not split.hostname:
        raise CallTextError("the url is not an http(s) url with a host: not called")
    return text


def _encode(value: str) -> str:
    """Data in a path segment, query key or value, or fragment: everything but RFC 3986's
    unreserved characters percent-encoded (UTF-8), `/`, `&`, `=`, `?` and `#` included."""
    return segment(value)


def build_header(parts: Parts, secrets: Mapping[str, str]) -> str:
    """A header value: text and secrets as written, data with every control character
    (CR and LF included) turned into a space. Raises CallTextError for a missing secret."""
    out: list[str] = []
    for kind, value in parts:
        match kind:
            case PartKind.TEXT:
                out.append(value)
            case PartKind.SECRET:
                out.append(_secret(value, secrets))
            case _:  # PartKind.DATA
                out.append(_CONTROL.sub(" ", value))
    return "".join(out)


def text_of(parts: Parts) -> str:
    """The parts as one text, secrets shown as `{{ secret.NAME }}`: for messages and logs of
    people who may see the flow but not the secrets' values."""
    return "".join(_shown(kind, value) for kind, value in parts)


def _shown(kind: str, value: str) -> str:
    match kind:
        case PartKind.SECRET:
            return f"{{{{ secret.{value} }}}}"
        case _:
            return value


@dataclass(frozen=True, slots=True)
class HttpCall:
    """A call as it is made: its URL and headers put together, secrets filled in."""

    kind: Literal["http", "forward"]
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    timeout_s: float
    visit: int


def resolve(call: CallRequest, secrets: Mapping[str, str]) -> HttpCall:
    """The request to send for a committed call. Raises CallTextError when it must not be
    sent (see `build_url`, `build_header`)."""
    return HttpCall(
        kind=call.kind,
        method=call.method,
        url=build_url(call.url, secrets),
        headers={k: build_header(v, secrets) for k, v in call.headers.items()},
        body=call.body,
        timeout_s=call.timeout_s,
        visit=call.visit,
    )
