"""The web console through the real app, against a real redis-server: signing in and out,
its sessions, CSRF, headers and sign-in limit (an attacker's view), and its pages and
actions on a conversation made by a signed callback. tests/test_console_browser.py drives
the same console in Chromium."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from bot.errors import ConfigError
from bot.settings import Settings
from bot.store.keys import console_session_key
from bot.web.console.guard import COOKIE, SIGN_IN_FAILURES, digest
from tests.conftest import AppFactory
from tests.console_support import TOKEN, field, sign_in
from tests.support import BUSINESS, RECEIPT_TOKEN, catalog_of, eventually, inbound

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
OTHER_TOKEN = "operator-token-abcdefghij"
CUSTOMER = "8613900000001"
CONV = f"cams:whatsapp:{BUSINESS}:{CUSTOMER}"
XSS = "<img src=x onerror=alert(1)>"

Client = TestClient[Any, Any]


async def csrf_of(client: Client, path: str = "/console") -> str:
    page = await client.get(path)
    assert page.status == 200, await page.text()
    return field(await page.text(), "csrf")


async def console(make_client: AppFactory, **overrides: Any) -> Client:
    return await make_client(console_tokens=overrides.pop("console_tokens", TOKEN), **overrides)


async def conversation_link(client: Client, customer: str = CUSTOMER) -> str:
    page = await client.get("/console/conversations", params={"customer": customer})
    links = re.findall(r'href="(/console/c/[^"]+)"', await page.text())
    assert len(links) == 1
    return links[0]


async def chatted(client: Client, *texts: str, customer: str = CUSTOMER) -> None:
    for text in texts:
        assert (await client.post(RECEIPTS, json=[inbound(text, customer=customer)])).status == 200

    async def stepped() -> bool:
        page = await client.get("/console/conversations", params={"customer": customer})
        return "/console/c/" in await page.text()

    await eventually(stepped)


async def test_without_tokens_there_is_no_console(make_client: AppFactory) -> None:
    """BOT_CONSOLE_TOKENS unset (outside sandbox mode): /console does not exist."""
    client = await make_client()
    for path in ("/console", "/console/sign-in", "/console/static/console.css"):
        assert (await client.get(path, allow_redirects=False)).status == 404


async def test_a_page_asks_to_sign_in_and_comes_back_after(make_client: AppFactory) -> None:
    """Signed out, a page sends to the sign-in form, which comes back to it after."""
    client = await console(make_client)
    resp = await client.get("/console/flows?hours=6", allow_redirects=False)
    assert resp.status == 303
    where = URL(resp.headers["Location"])
    assert (where.path, where.query["next"]) == ("/console/sign-in", "/console/flows?hours=6")
    page = await client.get(resp.headers["Location"])
    binding = field(await page.text(), "binding")
    assert field(await page.text(), "next") == "/console/flows?hours=6"
    done = await client.post(
        "/console/sign-in",
        data={"binding": binding, "token": TOKEN, "next": "/console/flows?hours=6"},
        allow_redirects=False,
    )
    assert (done.status, done.headers["Location"]) == (303, "/console/flows?hours=6")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/v1/flows",
                                    "/console\\..\\x", "/console/\nx"])  # fmt: skip
async def test_after_sign_in_it_goes_only_to_a_console_page(
    make_client: AppFactory, target: str
) -> None:
    """`next` names a console page or is ignored: no open redirect."""
    client = await console(make_client)
    page = await client.get("/console/sign-in")
    done = await client.post(
        "/console/sign-in",
        data={"binding": field(await page.text(), "binding"), "token": TOKEN, "next": target},
        allow_redirects=False,
    )
    assert (done.status, done.headers["Location"]) == (303, "/console")


async def test_the_session_cookie_is_httponly_strict_and_new(make_client: AppFactory) -> None:
    """Signing in sets a new HttpOnly, SameSite=Strict cookie for /console only."""
    client = await console(make_client)
    page = await client.get("/console/sign-in")
    resp = await client.post(
        "/console/sign-in",
        data={"binding": field(await page.text(), "binding"), "token": TOKEN},
        allow_redirects=False,
    )
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/console"
    assert len(cookie.value) >= 40


async def test_a_cookie_planted_before_sign_in_is_never_adopted(make_client: AppFactory) -> None:
    """Session fixation: the session is new at sign-in; a planted id stays worthless."""
    client = await console(make_client)
    planted = "attacker-chosen-session-id-0123456789"
    client.session.cookie_jar.update_cookies({COOKIE: planted})
    await sign_in(client)
    jar = client.session.cookie_jar
    ours = [c.value for c in jar if c.key == COOKIE and c["path"] == "/console"]
    assert ours
    assert planted not in ours
    other = await console(make_client)
    other.session.cookie_jar.update_cookies({COOKIE: planted})
    assert (await other.get("/console", allow_redirects=False)).status == 303


async def test_a_wrong_token_is_refused_and_too_many_are_limited(
    make_client: AppFactory,
) -> None:
    """Wrong tokens get 401; after SIGN_IN_FAILURES the client waits, the right token too."""
    client = await console(make_client)
    for _ in range(SIGN_IN_FAILURES):
        resp = await sign_in(client, "wrong-token-0123456789")
        assert resp.status == 401
        assert "not one of the console" in await resp.text()
    limited = await sign_in(client, TOKEN)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert (await client.get("/console", allow_redirects=False)).status == 303


async def test_the_sign_in_form_is_bound_to_its_own_browser(make_client: AppFactory) -> None:
    """Login CSRF: a sign-in without the form's own cookie, or from elsewhere, is refused."""
    client = await console(make_client)
    page = await client.get("/console/sign-in")
    binding = field(await page.text(), "binding")
    client.session.cookie_jar.clear()
    resp = await client.post("/console/sign-in", data={"binding": binding, "token": TOKEN})
    assert resp.status == 403
    page = await client.get("/console/sign-in")
    binding = field(await page.text(), "binding")
    resp = await client.post(
        "/console/sign-in",
        data={"binding": binding, "token": TOKEN},
        headers={"Origin": "https://evil.example"},
    )
    assert resp.status == 403


async def test_every_console_response_forbids_framing_and_foreign_content(
    make_client: AppFactory,
) -> None:
    """Strict CSP, frame-ancestors 'none', DENY, nosniff, same-origin referrers: always."""
    client = await console(make_client)
    await sign_in(client)
    for path in ("/console", "/console/sign-in", "/console/flows", "/console/nowhere",
                 "/console/static/console.css"):  # fmt: skip
        resp = await client.get(path, allow_redirects=False)
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe" not in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
    assert (await client.get("/console")).headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" not in (await client.get("/healthz")).headers


async def test_a_change_needs_the_sessions_csrf_token_and_the_consoles_origin(
    make_client: AppFactory,
) -> None:
    """CSRF: a POST without the token, with a wrong one, or from another origin is 403."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, "3")
    link = await conversation_link(client)
    csrf = await csrf_of(client, link)
    for data, headers in [
        ({}, {}),
        ({"csrf": "guessed"}, {}),
        ({"csrf": csrf}, {"Origin": "https://evil.example"}),
        ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
    ]:
        resp = await client.post(f"{link}/restart", data=data, headers=headers)
        assert resp.status == 403, data
    resp = await client.post(f"{link}/restart", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303


async def test_signing_out_ends_the_session_in_redis(make_client: AppFactory) -> None:
    """After sign-out the old cookie opens nothing, even presented again."""
    client = await console(make_client)
    await sign_in(client)
    cookie = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    csrf = await csrf_of(client)
    resp = await client.post("/console/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/console/sign-in")
    client.session.cookie_jar.update_cookies({COOKIE: cookie})
    assert (await client.get("/console", allow_redirects=False)).status == 303


async def test_a_token_taken_out_of_the_list_ends_its_sessions(
    make_client: AppFactory,
) -> None:
    """Rotation: a session opened with a token no longer listed is no session."""
    client = await console(make_client, console_tokens=f"{TOKEN},{OTHER_TOKEN}")
    await sign_in(client, OTHER_TOKEN)
    assert (await client.get("/console", allow_redirects=False)).status == 200
    cookie = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    rotated = await console(make_client, console_tokens=TOKEN)
    rotated.session.cookie_jar.update_cookies({COOKIE: cookie})
    assert (await rotated.get("/console", allow_redirects=False)).status == 303


async def test_a_customers_markup_is_shown_as_text(make_client: AppFactory) -> None:
    """XSS: a customer's `<img onerror>` reaches the transcript escaped."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, XSS)
    page = await (await client.get(await conversation_link(client))).text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img" not in page


async def test_numbers_are_masked_in_lists_and_out_of_urls(make_client: AppFactory) -> None:
    """The list masks numbers, its links do not carry them; the page shows the number."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, "hello")
    listing = await (await client.get("/console/conversations")).text()
    assert "861**********1"[:4] in listing
    assert CUSTOMER not in listing
    link = await conversation_link(client)
    assert CUSTOMER not in link
    page = await (await client.get(link)).text()
    assert f"+{CUSTOMER}" in page
    tampered = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    assert (await client.get(tampered)).status == 404


async def test_the_live_overview_sends_a_signed_out_page_to_the_sign_in(
    make_client: AppFactory,
) -> None:
    """The overview's own refresh, signed out, tells htmx to go to the sign-in page."""
    client = await console(make_client)
    resp = await client.get("/console/live", headers={"HX-Request": "true"})
    assert resp.status == 200
    assert resp.headers["HX-Redirect"] == "/console/sign-in"


async def test_the_pages_show_what_the_store_holds(make_client: AppFactory) -> None:
    """Overview, flows, a flow's diagram, conversations and dead letters all render."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, "hi", "1")
    overview = await (await client.get("/console")).text()
    assert "Steps / min" in overview
    assert "Dead letters" in overview
    live = await (await client.get("/console/live")).text()
    assert 'data-figure="steps"' in live
    flows = await (await client.get("/console/flows")).text()
    assert "/console/flows/menu" in flows
    menu = await (await client.get("/console/flows/menu?hours=24")).text()
    assert "<svg" in menu
    assert "ask_order" in menu
    assert (await client.get("/console/flows/nope")).status == 404
    assert (await client.get("/console/flows/menu?hours=0")).status == 400
    page = await (await client.get(await conversation_link(client))).text()
    assert "Which order?" in page
    assert "ask_order" in page
    dead = await (await client.get("/console/dead-letters")).text()
    assert "Dead letters" in dead


async def test_an_agent_answers_and_a_handoff_ends_from_the_console(
    make_client: AppFactory, fake_cams: Any
) -> None:
    """Answer as an agent in the window, then end the handoff: both reach the customer."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, "hi", "3")
    link = await conversation_link(client)

    async def in_handoff() -> bool:
        return "End the handoff" in await (await client.get(link)).text()

    await eventually(in_handoff)
    csrf = await csrf_of(client, link)
    resp = await client.post(f"{link}/answer", data={"csrf": csrf, "text": "An agent here."})
    assert "on its way" in await resp.text()

    def answered() -> bool:
        return any("An agent here." in str(m) for m in fake_cams.recorder.messages)

    await eventually(answered)
    resp = await client.post(f"{link}/resume", data={"csrf": csrf})
    assert "handoff was ended" in await resp.text()
    await eventually(lambda: any("Goodbye" in str(m) for m in fake_cams.recorder.messages))


async def test_erasing_from_the_console_needs_the_confirmation(make_client: AppFactory) -> None:
    """Erase asks to confirm; confirmed, the conversation is gone."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, "hi")
    link = await conversation_link(client)
    confirm = await (await client.get(f"{link}/erase")).text()
    csrf = field(confirm, "csrf")
    assert (await client.post(f"{link}/erase", data={"csrf": csrf})).status == 400
    resp = await client.post(f"{link}/erase", data={"csrf": csrf, "confirm": "erase"})
    assert "was erased" in await resp.text()
    assert (await client.get(link)).status == 404


def test_a_short_console_token_stops_start_up() -> None:
    """A console token under 16 characters is refused, naming the variable and a fix."""
    settings = Settings(sandbox=True, console_tokens="guessable", env_file="")
    with pytest.raises(ConfigError, match=r"BOT_CONSOLE_TOKENS.*openssl rand -hex 16"):
        settings.check({})
    assert Settings(sandbox=True, env_file="").console_token_values() == ["sandbox"]
    assert Settings(sandbox=False, env_file="").console_token_values() == []


async def test_an_answer_arriving_in_pieces_is_read_whole(
    make_client: AppFactory, fake_cams: Any
) -> None:
    """A form sent in several writes (chunked) is read to its end, and a long answer in
    Chinese (9 bytes a character once encoded) fits."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, "hi")
    link = await conversation_link(client)
    csrf = await csrf_of(client, link)
    first, rest = f"csrf={csrf}&text=Your+refund+is", "+NOT+approved."

    async def pieces() -> Any:
        yield first.encode()
        await asyncio.sleep(0.05)
        yield rest.encode()

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    resp = await client.post(f"{link}/answer", data=pieces(), headers=headers)
    assert "on its way" in await resp.text()
    await eventually(lambda: any("Your refund is NOT approved." in str(m)
                                 for m in fake_cams.recorder.messages))  # fmt: skip
    long = "退" * 2000
    resp = await client.post(f"{link}/answer", data={"csrf": csrf, "text": long})
    assert "on its way" in await resp.text()


async def test_behind_a_tls_proxy_the_console_works_and_its_cookie_is_secure(
    make_client: AppFactory,
) -> None:
    """Origin https://HOST on a request that arrives as http (a proxy ended TLS) is the
    console's own; off loopback the cookie is Secure."""
    client = await console(make_client)
    host = {"Host": "bot.example.com"}
    page = await client.get("/console/sign-in", headers=host)
    assert page.cookies["bot_console_sign_in"]["secure"] is True
    binding = page.cookies["bot_console_sign_in"].value
    client.session.cookie_jar.clear()  # a browser sends the Secure cookie over the proxy's TLS
    resp = await client.post(
        "/console/sign-in",
        data={"binding": field(await page.text(), "binding"), "token": TOKEN},
        headers={**host, "Origin": "https://bot.example.com",
                 "Cookie": f"bot_console_sign_in={binding}"},
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303
    assert resp.cookies[COOKIE]["secure"] is True


async def test_parallel_wrong_sign_ins_are_limited_too(make_client: AppFactory) -> None:
    """Sign-ins are counted before the token is checked: of 20 at once, 5 get an answer."""
    client = await console(make_client)
    page = await client.get("/console/sign-in")
    binding = field(await page.text(), "binding")
    answers = await asyncio.gather(*(
        client.post("/console/sign-in", data={"binding": binding, "token": f"wrong-{n:016d}"})
        for n in range(20)
    ))  # fmt: skip
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * SIGN_IN_FAILURES + [429] * (20 - SIGN_IN_FAILURES)


@pytest.mark.parametrize("value", ["%C3%A9", "%FF", "x" * 100, "%00"])
async def test_odd_tokens_are_refused_never_an_error(make_client: AppFactory, value: str) -> None:
    """A CSRF or binding value of any bytes is a 400 or 403, never a 500."""
    client = await console(make_client)
    await sign_in(client)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for path, name in (("/console/sign-out", "csrf"), ("/console/sign-in", "binding")):
        resp = await client.post(path, data=f"{name}={value}", headers=form)
        assert resp.status in (400, 403), (path, value)


async def test_a_link_with_more_in_its_path_names_no_conversation(
    make_client: AppFactory,
) -> None:
    """A sealed link with anything added (an encoded slash, a tail) is 404."""
    client = await console(make_client)
    await sign_in(client)
    await chatted(client, "hi")
    await chatted(client, "hi", customer="8613900000002")
    a = await conversation_link(client)
    b = await conversation_link(client, "8613900000002")
    sealed_b = b.rsplit("/", 1)[1]
    for path in (f"{a}%2F..%2F{sealed_b}/erase", f"{a}AAAA", f"{a}!", f"{a}%0A"):
        assert (await client.get(path)).status == 404, path


async def test_a_session_ends_unused_and_a_day_after_sign_in(
    make_client: AppFactory, redis: Any
) -> None:
    """The overview's refresh does not keep a session alive; no session outlives a day."""
    client = await console(make_client, console_session_ttl=60)
    await sign_in(client)
    cookie = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    key = console_session_key(digest(cookie))
    await redis.expire(key, 10)
    assert (await client.get("/console/live")).status == 200
    assert await redis.ttl(key) <= 10
    assert (await client.get("/console")).status == 200
    assert await redis.ttl(key) > 10
    await redis.hset(key, "at", str(int((time.time() - 25 * 3600) * 1000)))
    assert (await client.get("/console", allow_redirects=False)).status == 303
    assert not await redis.exists(key)


async def test_a_form_must_be_a_form(make_client: AppFactory) -> None:
    """A change sent as JSON or text/plain is refused (415), whatever it carries."""
    client = await console(make_client)
    await sign_in(client)
    csrf = await csrf_of(client)
    for kind in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
        resp = await client.post(
            "/console/sign-out", data=f"csrf={csrf}", headers={"Content-Type": kind}
        )
        assert resp.status == 415, kind


async def test_campaigns_are_followed_and_steered_from_the_console(
    make_client: AppFactory, fake_cams: Any
) -> None:
    """The Campaigns page lists a campaign with its progress; its page shows the counts
    and the starts per minute; pause, resume and cancel need the CSRF token and work."""
    client = await console(make_client, api_keys="operator-key")
    await sign_in(client)
    auth = {"Authorization": "Bearer operator-key"}
    made = await client.post("/v1/campaigns", headers=auth, json={
        "intent": "appointment_reminder", "name": "Monday <b>reminders</b>", "rate": 50,
        "recipients": [{"customer": f"+86139000002{n:02d}"} for n in range(4)],
    })  # fmt: skip
    assert made.status == 202, await made.text()
    campaign = (await made.json())["campaign"]
    await fake_cams.recorder.wait_for(4)
    listing = await (await client.get("/console/campaigns")).text()
    assert f"/console/campaigns/{campaign}" in listing
    assert "Monday &lt;b&gt;reminders&lt;/b&gt;" in listing
    page = await (await client.get(f"/console/campaigns/{campaign}")).text()
    assert 'data-figure="started">4<' in page
    assert '<rect class="bar"' in page
    csrf = field(page, "csrf")
    later = await client.post("/v1/campaigns", headers=auth, json={
        "intent": "appointment_reminder", "start_at": "2099-01-01T09:00:00Z",
        "recipients": [{"customer": "+8613900000300"}],
    })  # fmt: skip
    waiting = (await later.json())["campaign"]
    base = f"/console/campaigns/{waiting}"
    assert (await client.post(f"{base}/pause", data={})).status == 403
    resp = await client.post(f"{base}/pause", data={"csrf": csrf})
    assert "Paused" in await resp.text()
    resp = await client.post(f"{base}/resume", data={"csrf": csrf})
    assert "Resumed" in await resp.text()
    resp = await client.post(f"{base}/cancel", data={"csrf": csrf})
    assert 'data-figure="cancelled">1<' in await resp.text()
    assert (await client.post(f"{base}/resume", data={"csrf": csrf})).status == 409
    assert (await client.post(f"{base}/explode", data={"csrf": csrf})).status == 404


def test_a_media_message_and_a_missing_language_show_in_the_transcript() -> None:
    """A photo shows as `[image: caption]`, a location with its name and coordinates, the
    contacts by name; a step that sent a text in another language says so in the trace."""
    from bot.model import HistoryEntry, HistoryKind
    from bot.web.console.transcript import transcript

    def step(n: int, event: dict[str, object], ml: str = "") -> HistoryEntry:
        return HistoryEntry(f"{n}-0", n, HistoryKind.STEP, event=event, from_state="f/a",
                            to_state="f/b", outcome="collected", missing_language=ml)  # fmt: skip

    photo = {"kind": "image", "id": "m", "url": "https://x/m.jpg", "caption": "the box"}
    place = {"kind": "location", "latitude": 1.5, "longitude": 2.5, "name": "Home"}
    people = {"kind": "contact", "contacts": [{"name": "Ana", "phones": ["1"]}]}
    shown = transcript([
        step(1, {"t": "in", "kind": "image", "media": photo}),
        step(2, {"t": "in", "kind": "location", "media": place}),
        step(3, {"t": "in", "kind": "contacts", "media": people}, ml="es"),
    ])  # fmt: skip
    assert [b.text for b in shown.bubbles] == [
        "[image: the box]", "[location: Home; 1.5, 2.5]", "[contacts: Ana]",
    ]  # fmt: skip
    assert shown.trace[0].outcome == "collected (no es text)"
    assert "https://x/m.jpg" not in str(shown.bubbles)


def test_a_link_and_a_template_header_show_as_text_in_the_transcript() -> None:
    """A link the bot sent shows after its text as `[link: LABEL, URL]` (text the page
    escapes, never a link: its URL holds data), or `[link]` when texts are not kept; a
    template's media header shows as its kind, without its URL."""
    from bot.model import HistoryEntry, HistoryKind
    from bot.web.console.transcript import transcript

    def step(n: int, *replies: dict[str, object]) -> HistoryEntry:
        return HistoryEntry(f"{n}-0", n, HistoryKind.STEP, event={"t": "intent", "code": "x"},
                            from_state="", to_state="f/a", outcome="started",
                            replies=replies, tasks=(f"t{n}",))  # fmt: skip

    link = ["Track", "https://t.example.com/p/%3Cb%3E"]
    header = ["image", "https://cdn.example.com/p/A-1.jpg", ""]
    template = {"code": "parcel", "language": "en", "params": {"n": "A-1"}, "header": header}
    shown = transcript([
        step(1, {"text": "On its way.", "link": link}),
        step(2, {"text": "", "link": ""}),
        step(3, {"template": template}),
    ])  # fmt: skip
    bot = [b for b in shown.bubbles if b.side == "bot"]
    assert [b.text for b in bot] == [
        "On its way.\n[link: Track, https://t.example.com/p/%3Cb%3E]", "[link]", "",
    ]  # fmt: skip
    assert bot[2].template == "parcel (en): n=A-1 [image header]"
    assert "cdn.example.com" not in str(bot)


async def test_a_link_sent_shows_as_text_on_the_conversation_page(
    make_client: AppFactory, tmp_path: Any
) -> None:
    """A link whose URL holds what the customer typed reaches the page as text: the data
    percent-encoded in the URL, the whole escaped, no link made of it."""
    flows = """\
        defaults: {inbound_flow: track}
        flows:
          track:
            start: ask
            states:
              ask:
                say: "Your parcel number?"
                collect: {slot: parcel, type: text, go: show}
              show:
                say: "Here it is."
                link: {label: Track parcel, url: "https://track.example.com/p/{{ parcel }}"}
        """
    client = await console(make_client, catalog_=catalog_of(tmp_path, flows))
    await sign_in(client)
    await chatted(client, "hi")
    await chatted(client, '"><a href=//evil.example>x')
    link = await conversation_link(client)

    async def shown() -> bool:
        return "[link: Track parcel," in await (await client.get(link)).text()

    await eventually(shown)
    page = await (await client.get(link)).text()
    assert "[link: Track parcel, https://track.example.com/p/%22%3E%3Ca%20href%3D%2F%2Fevil" in page
    assert 'href="https://track' not in page
    assert "<a href=//evil" not in page
