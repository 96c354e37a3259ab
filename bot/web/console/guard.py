"""Who may use the console, and how its pages are protected.

- Sign-in with an operator token (BOT_CONSOLE_TOKENS), compared in constant time. Sign-ins
  are counted per client (a SHA-256 of its address, of its /64 for IPv6) in Redis, before
  the token is checked, so parallel tries count too and every process sees the count: after
  SIGN_IN_FAILURES in SIGN_IN_WINDOW seconds without a success, 429 with Retry-After until
  the window ends.
- A session is made only by a successful sign-in, never adopted from a cookie the browser
  brought (session fixation): a new random id, whatever came before is closed. Its cookie
  is HttpOnly, SameSite=Strict, Path=/console, Secure unless the server is reached on a
  loopback address; Redis holds a SHA-256 of it, the digest of the token that opened it (a
  token removed from BOT_CONSOLE_TOKENS ends its sessions), the session's CSRF token and
  when it was opened. Unused for BOT_CONSOLE_SESSION_TTL it ends, and a day after sign-in
  at the latest (or the idle time, if longer).
- Every change is a form POST that carries the session's CSRF token (a field, or the
  X-CSRF-Token header) and, when the browser says where it comes from (Origin,
  Sec-Fetch-Site), comes from the console's own host. The sign-in form, before any session,
  is bound to a short-lived cookie of its own (double submit): no login CSRF.
- Every response under /console carries a strict Content-Security-Policy (nothing but the
  server's own scripts, styles and images, no inline script, no framing), nosniff, and
  same-origin referrers only; pages are not cached."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from bot.errors import BadRequest, Forbidden, TooManyRequests, UnsupportedMediaType
from bot.platforms.auth import matches_any
from bot.settings import is_loopback
from bot.web.api import MAX_AGENT_TEXT
from bot.web.body import read_body
from bot.web.console.render import render
from bot.web.deadline import redis_bound
from bot.web.keys import SETTINGS, STORE
from bot.wire import is_text

log = logging.getLogger("bot.web.console")

PREFIX = "/console"
COOKIE = "bot_console"
SIGN_IN_COOKIE = "bot_console_sign_in"
SIGN_IN_PATH = f"{PREFIX}/sign-in"
SIGN_IN_FAILURES = 5  # sign-ins that may fail in a window...
SIGN_IN_WINDOW = 300  # ...of seconds, per client
SIGN_IN_FORM_SECONDS = 3600
SESSION_LONGEST = 24 * 3600  # seconds a session lasts at most, used or not (if longer than idle)
# Bytes of a console form: an agent's answer of 4,096 characters, each up to 12 bytes once
# percent-encoded (an emoji), and the rest of the form.
MAX_FORM = 12 * MAX_AGENT_TEXT + 1024

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it a browser sends `Origin: null` on the console's own forms.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in operator's session: `name` is the digest of its cookie."""

    name: str
    csrf: str


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def equal(presented: str, expected: str) -> bool:
    """`presented` is `expected` (constant time; any text, none of it ever an error)."""
    return bool(expected) and hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _tokens(request: web.Request) -> list[str]:
    return request.app[SETTINGS].console_token_values()


def _secure(request: web.Request) -> bool:
    """Whether the console's cookies are marked Secure: always, but to a loopback address
    (a browser keeps them off plain HTTP: elsewhere the console wants HTTPS, its own or a
    proxy's)."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return request.secure or not is_loopback(host)


def _cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
            path: str, max_age: int) -> None:  # fmt: skip
    response.set_cookie(
        name, value, path=path, max_age=max_age, httponly=True, samesite="Strict",
        secure=_secure(request),
    )  # fmt: skip


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the console's headers on every response under /console."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        response.headers.update(HEADERS)
        if not request.path.startswith(PREFIX + "/static/"):
            response.headers["Cache-Control"] = "no-store"


async def current_session(request: web.Request, *, extend: bool = True) -> Session | None:
    """The session the request's cookie names, when it is open, younger than its longest
    life and its token still listed; its life extended unless `extend` is False (a page's
    own refresh keeps no session alive)."""
    cookie = request.cookies.get(COOKIE, "")
    if not (cookie and len(cookie) <= 64 and is_text(cookie)):
        return None
    name = digest(cookie)
    ttl = request.app[SETTINGS].console_session_ttl
    store = request.app[STORE]
    async with redis_bound(request):
        fields = await store.use_session(name, ttl if extend else None)
    if fields is None:
        return None
    opened = fields.get("at", "")
    young = opened.isdigit() and time.time() * 1000 - int(opened) < longest_life(ttl) * 1000
    if not young or not any(equal(fields.get("token", ""), digest(t)) for t in _tokens(request)):
        async with redis_bound(request):
            await store.close_session(name)
        return None
    return Session(name, fields.get("csrf", ""))


def longest_life(ttl: int) -> int:
    """Seconds a session lasts at most, used or not: a day, or its idle time if longer."""
    return max(SESSION_LONGEST, ttl)


def _local_path(text: str) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if (
        text.startswith(PREFIX)
        and is_text(text)
        and "//" not in text
        and "\\" not in text
        and all(c.isprintable() and not c.isspace() for c in text)
        and len(text) <= 512
    ):
        return text
    return PREFIX


async def signed_in(request: web.Request, *, extend: bool = True) -> Session:
    """The request's session; otherwise a redirect to the sign-in page (which comes back)."""
    session = await current_session(request, extend=extend)
    if session is None:
        back = request.path_qs if request.method == "GET" else PREFIX
        if request.headers.get("HX-Request"):  # a page's own refresh: the page goes there
            raise web.HTTPOk(headers={"HX-Redirect": SIGN_IN_PATH})
        raise web.HTTPSeeOther(f"{SIGN_IN_PATH}?next={quote(_local_path(back), safe='/')}")
    return session


def _same_origin(request: web.Request) -> bool:
    """False when the browser says the request comes from another site or origin. The
    origin's host is compared, not its scheme: behind a proxy that ends TLS the request
    arrives as http for an https page."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    scheme, sep, host = origin.partition("://")
    return bool(sep) and scheme in ("http", "https") and host == request.host


async def form_of(request: web.Request) -> MultiDictProxy[str]:
    """A console form's fields (application/x-www-form-urlencoded, UTF-8, whole: read to its
    end, at most MAX_FORM bytes within BOT_BODY_TIMEOUT)."""
    kind = request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("a console form is application/x-www-form-urlencoded")
    timeout = request.app[SETTINGS].body_timeout
    body = await read_body(request, limit=MAX_FORM, within=timeout)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32,
                          errors="strict")  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is not UTF-8 text of at most 32 fields") from None
    return MultiDictProxy(MultiDict(pairs))


async def changed(request: web.Request) -> tuple[Session, MultiDictProxy[str]]:
    """A change asked for by the signed-in operator (the session and the form), or 403 when
    its CSRF token is missing or wrong, or it comes from another origin."""
    session = await signed_in(request)
    form = await form_of(request)
    presented = request.headers.get("X-CSRF-Token") or form.get("csrf") or ""
    if not (_same_origin(request) and equal(presented, session.csrf)):
        raise Forbidden("the page was too old or not the console's own: reload it and try again")
    return session, form


# -- sign-in and sign-out --------------------------------------------------------------------


def _client(request: web.Request) -> str:
    """Whom sign-ins are counted for: a digest of the peer's address (of its /64 for IPv6,
    where one machine has many)."""
    remote = request.remote or "unknown"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return digest(remote)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return digest(str(address.ipv4_mapped))
        return digest(str(ipaddress.ip_network(f"{address}/64", strict=False)))
    return digest(str(address))


async def sign_in_page(request: web.Request) -> web.Response:
    """`GET /console/sign-in`: the form, bound to a cookie of its own."""
    if await current_session(request) is not None:
        raise web.HTTPSeeOther(_local_path(request.query.get("next", PREFIX)))
    binding = secrets.token_urlsafe(24)
    response = render(request, "sign_in.html", binding=binding, error=False,
                      next=_local_path(request.query.get("next", PREFIX)))  # fmt: skip
    _cookie(request, response, SIGN_IN_COOKIE, binding, SIGN_IN_PATH, SIGN_IN_FORM_SECONDS)
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    """`POST /console/sign-in`: a token of BOT_CONSOLE_TOKENS opens a new session."""
    form = await form_of(request)
    binding = request.cookies.get(SIGN_IN_COOKIE, "")
    if not (_same_origin(request) and equal(form.get("binding", ""), binding)):
        raise Forbidden("the sign-in form was too old: reload it and try again")
    store, client = request.app[STORE], _client(request)
    async with redis_bound(request):
        tries, left = await store.count_sign_in(client, SIGN_IN_WINDOW)
    if tries > SIGN_IN_FAILURES:
        log.warning("console sign-in refused: too many tries from one client")
        raise TooManyRequests("too many sign-ins failed: wait a few minutes", retry_after=left)
    token = form.get("token", "").strip()
    back = _local_path(form.get("next", PREFIX))
    if not (is_text(token) and matches_any(token, _tokens(request))):
        log.warning("console sign-in failed: wrong token")
        return render(request, "sign_in.html", binding=binding, error=True, next=back,
                      status=401)  # fmt: skip
    cookie = secrets.token_urlsafe(32)
    ttl = request.app[SETTINGS].console_session_ttl
    fields = {"token": digest(token), "csrf": secrets.token_urlsafe(32),
              "at": str(int(time.time() * 1000))}  # fmt: skip
    async with redis_bound(request):
        old = request.cookies.get(COOKIE, "")
        if old and len(old) <= 64 and is_text(old):
            await store.close_session(digest(old))
        await store.open_session(digest(cookie), fields, ttl)
        await store.forget_sign_ins(client)
    log.info("console: an operator signed in")
    response = web.HTTPSeeOther(back)
    _cookie(request, response, COOKIE, cookie, PREFIX, ttl)
    response.del_cookie(SIGN_IN_COOKIE, path=SIGN_IN_PATH)
    raise response


async def sign_out(request: web.Request) -> web.StreamResponse:
    """`POST /console/sign-out`: the session ends here and in Redis."""
    session, _ = await changed(request)
    async with redis_bound(request):
        await request.app[STORE].close_session(session.name)
    response = web.HTTPSeeOther(SIGN_IN_PATH)
    response.del_cookie(COOKIE, path=PREFIX)
    raise response
