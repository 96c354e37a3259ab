"""A call's URL and headers: secrets only from the flow author's text, data encoded for where
it lands, never in the scheme or host, never a new header line (bot.flows.calls)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.errors import CallTextError, ConfigError, SpecError
from bot.flows.answers.reading import normalize_text
from bot.flows.calls import build_header, build_url, resolve
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.engine import Engine
from bot.flows.loader import load_catalog
from bot.model import CallRequest, Conversation, Inbound, IntentStart, PartKind, StepContext
from bot.store import call_from_json, call_to_json
from tests.conftest import AppFactory, make_settings
from tests.support import RECEIPT_TOKEN, eventually, inbound

TEXT, SECRET, DATA = PartKind.TEXT, PartKind.SECRET, PartKind.DATA
SECRETS = {
    "API": "https://api.example.com/v1",
    "TOKEN": "tok-3f9a1c77e2",
    "PAYMENTS_KEY": "pay-8d2b6e4410",
}

# A flow that puts what the customer types into a call's path, query, fragment and headers.
ECHO = """\
    defaults: {inbound_flow: echo}
    flows:
      echo:
        start: ask
        states:
          ask:
            say: "Your note?"
            collect: {slot: note, type: text, go: send}
          send:
            call:
              method: GET
              url: "{{ secret.API }}/notes/{{ note }}?q={{ note }}&fixed=1#{{ note }}"
              headers:
                Authorization: "Bearer {{ secret.TOKEN }}"
                X-Note: "{{ note }}"
              success: done
              failure: done
          done: {say: "Noted."}
    """


def _write(folder: Path, flows: str) -> tuple[Path, Path]:
    (folder / "intents").mkdir(exist_ok=True)
    path = folder / "flows.yaml"
    path.write_text(textwrap.dedent(flows))
    return path, folder / "intents"


def _catalog(folder: Path, flows: str) -> CompiledCatalog:
    return compile_catalog(load_catalog(*_write(folder, flows)))


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> CompiledCatalog:
    return _catalog(tmp_path_factory.mktemp("echo"), ECHO)


def _call_for(engine: Engine, note: str) -> CallRequest:
    """The call the engine makes once the customer answered `note`."""
    ctx = StepContext(conv_id="cams:whatsapp:8613800000000:8613900000001")
    first = engine.step(Conversation(), Inbound("m1", 1, "text", "hi"), 1, ctx)
    result = engine.step(first.conversation, Inbound("m2", 2, "text", note), 2, ctx)
    (call,) = result.calls
    return call


# -- the builder -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "url"),
    [
        (((TEXT, "https://a.example/x/"), (DATA, "a/b c")), "https://a.example/x/a%2Fb%20c"),
        (((TEXT, "https://a.example/x?q="), (DATA, "x&admin=1#f")), "https://a.example/x?q=x%26admin%3D1%23f"),
        (((TEXT, "https://a.example/x#"), (DATA, "?/#")), "https://a.example/x#%3F%2F%23"),
        (((TEXT, "https://a.example/"), (DATA, "../etc")), "https://a.example/..%2Fetc"),
        (((TEXT, "https://a.example/"), (DATA, "é€")), "https://a.example/%C3%A9%E2%82%AC"),
        (((SECRET, "API"), (TEXT, "/o/"), (DATA, "1")), "https://api.example.com/v1/o/1"),
        (((TEXT, "https://a.example/?k="), (SECRET, "TOKEN")), "https://a.example/?k=tok-3f9a1c77e2"),
        (((TEXT, "https://a.example/ä b"),), "https://a.example/%C3%A4%20b"),
    ],
)  # fmt: skip
def test_data_is_encoded_for_the_part_of_the_url_it_lands_in(
    parts: tuple[tuple[str, str], ...], url: str
) -> None:
    """Data in a path segment, query value or fragment is percent-encoded, `/&=?#` included;
    the author's text keeps its delimiters; a secret base goes in as written."""
    assert build_url(parts, SECRETS) == url


@pytest.mark.parametrize(
    "parts",
    [
        ((DATA, "https://evil.example/"),),
        ((TEXT, "https://"), (DATA, "evil.example"), (TEXT, "/x")),
        ((TEXT, "https://a.example:"), (DATA, "8443"), (TEXT, "/x")),
        ((TEXT, "https://"), (DATA, "user"), (TEXT, "@a.example/x")),
        ((SECRET, "API"), (DATA, "x")),  # no '/' between: the base is a host only
    ],
)
def test_data_never_stands_in_the_scheme_or_host(parts: tuple[tuple[str, str], ...]) -> None:
    """Data before the end of the url's host is refused; nothing is called."""
    secrets = {**SECRETS, "API": "https://api.example.com"}
    with pytest.raises(CallTextError, match="scheme or host"):
        build_url(parts, secrets)


@pytest.mark.parametrize("base", ["ftp://files.example/", "file:///etc/passwd", "//x/", "x"])
def test_only_http_urls_with_a_host_are_called(base: str) -> None:
    """A url that is not http(s) with a host (a secret base set wrong, say) is refused."""
    with pytest.raises(CallTextError):
        build_url(((SECRET, "BASE"), (TEXT, "/a")), {"BASE": base})


def test_a_missing_secret_is_named_not_guessed() -> None:
    """A secret that is not set refuses the call and names the variable, never a value."""
    with pytest.raises(CallTextError, match="BOT_SECRET_NOPE") as e:
        build_header(((TEXT, "Bearer "), (SECRET, "NOPE")), SECRETS)
    assert e.value.missing == "NOPE"


def test_data_in_a_header_cannot_add_a_line() -> None:
    """Control characters of data (CR, LF, NUL, DEL, C1) become spaces; text and secrets
    stay as written."""
    parts = ((TEXT, "Bearer "), (SECRET, "TOKEN"), (DATA, "a\r\nX-Admin: 1\x00\x7f\x85z"))
    assert build_header(parts, SECRETS) == "Bearer tok-3f9a1c77e2a  X-Admin: 1   z"


# -- through the engine: whatever the customer types -----------------------------------------

hostile = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "${secret:PAYMENTS_KEY}",
            "{{ secret.PAYMENTS_KEY }}",
            "{{ secret.TOKEN }}",
            "x&admin=1#frag",
            "a\r\nX-Injected: 1",
            "../../admin",
            "%2e%2e%2f",
            "@evil.example/",
            "?q=2",
        ]
    ),
    st.lists(
        st.sampled_from(
            [
                "${secret:",
                "PAYMENTS_KEY",
                "}",
                "{{",
                "secret.",
                "&",
                "#",
                "?",
                "/",
                "%",
                "\r\n",
                "=",
                " ",
                "é",
            ]
        ),
        max_size=12,
    ).map("".join),
).filter(lambda text: text.strip())  # a blank answer is re-asked: no call


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(note=hostile)
def test_customer_text_never_reaches_a_secret_nor_changes_the_request(
    echo: CompiledCatalog, note: str
) -> None:
    """Whatever the customer types, the call goes to the author's host and path with exactly
    the author's parameters, carries the note back verbatim in each place, and holds no
    secret the author did not put there (PAYMENTS_KEY is set but named by no flow)."""
    assume(normalize_text(note) not in echo.commands)  # "stop", "recomeçar": not an answer
    call = resolve(_call_for(Engine(echo), note), SECRETS)
    note = note.strip()  # a text slot keeps the answer trimmed
    split = urlsplit(call.url)
    assert (split.scheme, split.netloc) == ("https", "api.example.com")
    segments = split.path.split("/")
    assert segments[:3] == ["", "v1", "notes"]
    assert len(segments) == 4
    assert unquote(segments[3]) == note
    assert parse_qs(split.query, keep_blank_values=True) == {"q": [note], "fixed": ["1"]}
    assert unquote(split.fragment) == note
    assert call.headers["Authorization"] == "Bearer " + SECRETS["TOKEN"]
    assert "\r" not in call.headers["X-Note"]
    assert "\n" not in call.headers["X-Note"]
    sent = call.url + json.dumps(call.headers)
    assert SECRETS["PAYMENTS_KEY"] not in sent
    assert sent.count(SECRETS["TOKEN"]) == 1


def test_the_step_keeps_secrets_as_names_only(echo: CompiledCatalog) -> None:
    """The committed call names its secrets: their values never enter the store."""
    call = _call_for(Engine(echo), "n")
    stored = call_to_json(call)
    assert all(value not in stored for value in SECRETS.values())
    assert call.headers["Authorization"] == ((TEXT, "Bearer "), (SECRET, "TOKEN"))


def test_a_call_stored_with_a_secret_marker_is_refused() -> None:
    """A call stored as plain strings (before calls were stored as parts) with a
    `${secret:...}` marker is refused: the marker may be a customer's text."""
    legacy = {
        "kind": "http",
        "method": "GET",
        "url": "https://api.example.com/x/${secret:PAYMENTS_KEY}",
        "headers": {},
        "body": None,
        "timeout_s": 1.0,
        "visit": 1,
    }
    with pytest.raises(ValueError, match="secret marker"):
        call_from_json(json.dumps(legacy))
    plain = {**legacy, "url": "https://api.example.com/x/1", "headers": {"X": "1"}}
    assert resolve(call_from_json(json.dumps(plain)), {}).url == "https://api.example.com/x/1"


# -- what the loader refuses ---------------------------------------------------------------------


def _state(call: str = "", say: str = "Hi", extra: str = "") -> str:
    return f"""\
        flows:
          f:
            start: a
            data: {{host: "", port: "", order: "", api: ""}}
            states:
              a:
                say: "{say}"{extra}
                call:
                  {call}
                  success: b
                  failure: b
              b: {{say: Bye}}
        """


URL = 'url: "https://a.example/"'
CALL_KEY = "\n" + " " * 18  # a key of the call, before dedent
STATE_KEY = "\n" + " " * 16  # a key of the state, before dedent
REFUSED = [
    ('url: "{{ api }}/orders"', "", "", 9, "the url starts with data (`{{ api }}`)"),
    ('url: "https://{{ host }}/orders"', "", "", 9, "`{{ host }}` stands in the url's host"),
    ('url: "https://a.example:{{ port }}/o"', "", "", 9, "`{{ port }}` stands in the url's"),
    ('url: "https://a.example{{ order }}"', "", "", 9, "`{{ order }}` stands in the url's"),
    ('url: "{{ secret.API }}{{ order }}"', "", "", 9, "`{{ order }}` stands in the url's"),
    ('url: "ftp://a.example/x"', "", "", 9, "must start with http:// or https://"),
    ('url: "https:///x"', "", "", 9, "has no host"),
    ("url: \"https://a.example/{{ 'k' + secret.API }}\"", "", "", 9, "placeholder of its own"),
    (URL + CALL_KEY + 'headers: {"Bad Name": x}', "", "", 10, "`Bad Name` is not a header"),
    (URL + CALL_KEY + 'headers: {X: "a\\r\\nB: c"}', "", "", 10, "control character"),
    (URL, "{{ secret.API }}", "", 7, "secrets never go into messages"),
    (URL, "", STATE_KEY + "set: {k: secret.API}", 8, "reads a secret"),
    (URL + CALL_KEY + 'json: {k: "{{ secret.API }}"}', "", "", 10, "reads a secret"),
]


@pytest.mark.parametrize(("call", "say", "extra", "line", "message"), REFUSED)
def test_the_loader_refuses_calls_that_data_could_steer(
    tmp_path: Path, call: str, say: str, extra: str, line: int, message: str
) -> None:
    """Data in a url's scheme, host or port, a secret read anywhere but as a placeholder of
    its own in a call's url or headers, unsendable headers: load errors with file:line."""
    with pytest.raises(SpecError) as e:
        load_catalog(*_write(tmp_path, _state(call, say or "Hi", extra)))
    (problem,) = e.value.problems
    assert (problem.file, problem.line) == (str(tmp_path / "flows.yaml"), line), problem
    assert message in problem.message


def test_agent_headers_are_checked_like_call_headers(tmp_path: Path) -> None:
    """defaults.agent.headers take secrets the same way, and refuse the same mistakes."""
    flows = """\
        defaults:
          agent:
            webhook: https://agents.example.com/in
            headers: {Authorization: "Bearer {{ 'x' + secret.AGENT }}"}
        flows:
          f: {start: a, states: {a: {say: Hi}}}
        """
    with pytest.raises(SpecError, match="a secret goes in a placeholder of its own"):
        load_catalog(*_write(tmp_path, flows))


# -- end to end: a customer's hostile text through /cams/receipts ----------------------------


@dataclass
class Recorded:
    url: str
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def api(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Recorded:
    """The business API: records each request's raw path and query and its headers."""
    recorded = Recorded("")

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.Response:
        # Before routing: whatever the path decodes to, the request is seen as sent.
        url = request.rel_url
        recorded.seen.append((url.raw_path, url.raw_query_string, dict(request.headers)))
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[record])
    server = await aiohttp_server(app)
    recorded.url = str(server.make_url("/v1")).rstrip("/")
    return recorded


HOSTILE = ["${secret:PAYMENTS_KEY}", "x&admin=1#frag", "a\r\nX-Injected: 1", "../../admin"]


async def test_hostile_notes_reach_the_business_api_as_values(
    make_client: AppFactory, api: Recorded, tmp_path: Path
) -> None:
    """Through the real app and Redis: each hostile note arrives as one path segment, one
    query value and one header value, with no other parameter, header or secret."""
    catalog = _catalog(tmp_path, ECHO)
    secrets = {**SECRETS, "API": api.url}
    client = await make_client(catalog_=catalog, secrets=secrets)
    for i, note in enumerate(HOSTILE):
        customer = f"861390000{i:04d}"
        for text in ("hi", note):
            resp = await client.post(
                f"/cams/receipts?token={RECEIPT_TOKEN}", json=[inbound(text, customer=customer)]
            )
            assert resp.status == 200
            await asyncio.sleep(0.05)  # in order: the note answers the question
    await eventually(lambda: len(api.seen) == len(HOSTILE), what="every call made")
    by_note = {unquote(path.rsplit("/", 1)[1]): (path, query, h) for path, query, h in api.seen}
    assert set(by_note) == {n.strip() for n in HOSTILE}
    for note, (path, query, headers) in by_note.items():
        assert path.startswith("/v1/notes/")
        assert path.count("/") == 3
        assert parse_qs(query, keep_blank_values=True) == {"q": [note], "fixed": ["1"]}
        assert "X-Injected" not in headers
        assert headers["Authorization"] == f"Bearer {SECRETS['TOKEN']}"
        assert SECRETS["PAYMENTS_KEY"] not in path + query + json.dumps(headers)


async def test_flows_needing_an_unset_secret_refuse_to_start(tmp_path: Path) -> None:
    """create_app refuses flows that name a secret that is not set, naming its variable."""
    settings = make_settings("redis://127.0.0.1:9", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="BOT_SECRET_API, BOT_SECRET_TOKEN"):
        create_app(settings, _catalog(tmp_path, ECHO), secrets={"PAYMENTS_KEY": "x"})


def test_an_intent_cannot_choose_the_host_either(echo: CompiledCatalog) -> None:
    """Intent data is data too: a business trigger cannot send the call elsewhere."""
    engine = Engine(echo)
    start = IntentStart("i1", 1, "", data={"note": "x"}, flow="echo")
    first = engine.step(Conversation(), start, 1, StepContext())
    later = engine.step(first.conversation, Inbound("m", 2, "text", "//evil.example"), 2)
    (call,) = later.calls
    assert urlsplit(resolve(call, SECRETS).url).netloc == "api.example.com"


BAD_WEBHOOKS = [
    "file:///etc/passwd",
    "ftp://agents.example/in",
    "agents.example/in",
    "https://{{ host }}/in",
    "https://agents.example:port/in",
]


@pytest.mark.parametrize("webhook", BAD_WEBHOOKS)
def test_an_agent_webhook_must_be_an_http_url(tmp_path: Path, webhook: str) -> None:
    """An agent webhook (of defaults.agent or a handoff state) is an http(s) url with a host,
    written whole: a load error names it otherwise."""
    flows = f"""\
        defaults:
          agent: {{webhook: "{webhook}"}}
        flows:
          f: {{start: a, states: {{a: {{say: Hi}}}}}}
        """
    with pytest.raises(SpecError, match=r"defaults\.agent: .*(webhook|placeholders)"):
        load_catalog(*_write(tmp_path, flows))
