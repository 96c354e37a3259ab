"""Who may use the console, and how its pages are protected.

- Sign-in with an operator token (BOT_CONSOLE_TOKENS), compared in constant time. Failed
  sign-ins are counted per client address (a SHA-256 of it) in Redis, so across processes:
  SIGN_IN_FAILURES in SIGN_IN_WINDOW seconds, then 429 with Retry-After until the window ends.
- A session is made only by a successful sign-in, never adopted from a cookie the browser
  brought (session fixation): a new random id, whatever came before is closed. Its cookie
  is HttpOnly, SameSite=Strict, Path=/console, Secure over HTTPS; Redis holds a SHA-256 of
  it, the digest of the token that opened it (a token removed from BOT_CONSOLE_TOKENS ends
  its sessions), and the session's CSRF token. Unused for BOT_CONSOLE_SESSION_TTL, it ends.
- Every change is a POST that carries the session's CSRF token (a form field, or the
  X-CSRF-Token header htmx sends) and, when the browser says where it comes from (Origin,
  Sec-Fetch-Site), comes from the console's own origin. The sign-in form, before any session,
  is bound to a short-lived cookie of its own (double submit): no login CSRF.
- Every response under /console carries a strict Content-Security-Policy (nothing but the
  server's own scripts and styles, no inline script, no framing), nosniff, no referrer, and
  is not cached; a referrer never leaves the server.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from bot.errors import BadRequest, Forbidden, TooManyRequests
from bot.platforms.auth import matches_any
from bot.web.console.render import render
from bot.web.deadline import redis_bound
from bot.web.keys import SETTINGS, STORE
from bot.wire import is_text

log = logging.getLogger("bot.web.console")

PREFIX = "/console"
COOKIE = "bot_console"
SIGN_IN_COOKIE = "bot_console_sign_in"
SIGN_IN_PATH = f"{PREFIX}/sign-in"
SIGN_IN_FAILURES = 5
SIGN_IN_WINDOW = 300  # seconds
SIGN_IN_FORM_SECONDS = 3600
MAX_FORM = 16 * 1024  # bytes of a console form (an agent's answer is at most 4,096 characters)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
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


def _tokens(request: web.Request) -> list[str]:
    return request.app[SETTINGS].console_token_values()


def _cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
            path: str, max_age: int) -> None:  # fmt: skip
    response.set_cookie(
        name, value, path=path, max_age=max_age, httponly=True, samesite="Strict",
        secure=request.secure,
    )  # fmt: skip


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the console's headers on every response under /console."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        response.headers.update(HEADERS)
        if not request.path.startswith(PREFIX + "/static/"):
            response.headers["Cache-Control"] = "no-store"


async def current_session(request: web.Request) -> Session | None:
    """The session the request's cookie names, when it is open and its token still listed."""
    cookie = request.cookies.get(COOKIE, "")
    if not (cookie and len(cookie) <= 64 and is_text(cookie)):
        return None
    name = digest(cookie)
    settings = request.app[SETTINGS]
    async with redis_bound(request):
        fields = await request.app[STORE].use_session(name, settings.console_session_ttl)
    if fields is None:
        return None
    token = fields.get("token", "")
    if not any(hmac.compare_digest(token, digest(t)) for t in _tokens(request)):
        async with redis_bound(request):
            await request.app[STORE].close_session(name)
        return None
    return Session(name, fields.get("csrf", ""))


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


async def signed_in(request: web.Request) -> Session:
    """The request's session; otherwise a redirect to the sign-in page (which comes back)."""
    session = await current_session(request)
    if session is None:
        back = request.path_qs if request.method == "GET" else PREFIX
        if request.headers.get("HX-Request"):  # a page's own refresh: the page goes there
            raise web.HTTPOk(headers={"HX-Redirect": SIGN_IN_PATH})
        raise web.HTTPSeeOther(f"{SIGN_IN_PATH}?next={quote(_local_path(back), safe='/')}")
    return session


def _same_origin(request: web.Request) -> bool:
    """False when the browser says the request comes from another site or origin."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin == f"{request.scheme}://{request.host}"


async def form_of(request: web.Request) -> MultiDictProxy[Any]:
    """A console form's fields: at most MAX_FORM bytes, of text."""
    if request.content_length is not None and request.content_length > MAX_FORM:
        raise BadRequest("the form is too large")
    body = await request.content.read(MAX_FORM + 1)
    if len(body) > MAX_FORM:
        raise BadRequest("the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is not UTF-8 text") from None
    return MultiDictProxy(MultiDict(pairs))


async def changed(request: web.Request) -> tuple[Session, MultiDictProxy[Any]]:
    """A change asked for by the signed-in operator (the session and the form), or 403 when
    its CSRF token is missing or wrong, or it comes from another origin."""
    session = await signed_in(request)
    form = await form_of(request)
    presented = request.headers.get("X-CSRF-Token") or form.get("csrf", "")
    if not _same_origin(request) or not (
        presented and session.csrf and hmac.compare_digest(str(presented), session.csrf)
    ):
        raise Forbidden("the page was too old or not the console's own: reload it and try again")
    return session, form


# -- sign-in and sign-out --------------------------------------------------------------------


def _client(request: web.Request) -> str:
    return digest(request.remote or "unknown")


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
    presented = str(form.get("binding", ""))
    if not _same_origin(request) or not (
        binding and presented and hmac.compare_digest(binding, presented)
    ):
        raise Forbidden("the sign-in form was too old: reload it and try again")
    store, client = request.app[STORE], _client(request)
    async with redis_bound(request):
        failures = await store.sign_in_failures(client)
    if failures >= SIGN_IN_FAILURES:
        log.warning("console sign-in refused: too many failures from one client")
        raise TooManyRequests("too many failed sign-ins: wait a few minutes",
                              retry_after=SIGN_IN_WINDOW)  # fmt: skip
    token = str(form.get("token", "")).strip()
    if not (is_text(token) and matches_any(token, _tokens(request))):
        async with redis_bound(request):
            await store.count_sign_in_failure(client, SIGN_IN_WINDOW)
        log.warning("console sign-in failed: wrong token")
        back = _local_path(str(form.get("next", PREFIX)))
        return render(request, "sign_in.html", binding=binding, error=True, next=back,
                      status=401)  # fmt: skip
    cookie = secrets.token_urlsafe(32)
    settings = request.app[SETTINGS]
    fields = {"token": digest(token), "csrf": secrets.token_urlsafe(32),
              "at": str(int(time.time() * 1000))}  # fmt: skip
    async with redis_bound(request):
        old = request.cookies.get(COOKIE, "")
        if old and len(old) <= 64 and is_text(old):
            await store.close_session(digest(old))
        await store.open_session(digest(cookie), fields, settings.console_session_ttl)
        await store.forget_sign_in_failures(client)
    log.info("console: an operator signed in")
    response = web.HTTPSeeOther(_local_path(str(form.get("next", PREFIX))))
    _cookie(request, response, COOKIE, cookie, PREFIX, settings.console_session_ttl)
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
