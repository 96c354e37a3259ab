"""Many business numbers on many CAMS accounts: `numbers:` of flows.yaml (checked with
file:line errors), each number's inbound flow, language, time zone, account and channel
space, end to end through the endpoints against a fake CAMS that checks each account's
signature; numbers not listed refused at intake; the accounts' settings; their own rate
limits, metrics labels and dead letters."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.app import create_app, reload_flows
from bot.cli import main
from bot.cli.chat import run_chat
from bot.errors import ConfigError, SpecError
from bot.flows.engine import Engine
from bot.flows.loader import load_catalog
from bot.flows.tools.flowtest import load_tests
from bot.flows.tools.lint import lint
from bot.flows.tools.simulate import Simulator
from bot.log import mask_id
from bot.model import (
    Address,
    Conversation,
    ConversationRef,
    Inbound,
    Outgoing,
    SendReceipt,
    StepContext,
)
from bot.platforms.cams.fake import FAKE_CAMS, FakeCams, create_fake_cams
from bot.runtime.ratelimit import RateLimiter
from bot.runtime.routes import Routes
from bot.settings import CamsAccount, Settings, cams_accounts, unknown_variables
from bot.web.keys import SANDBOX_MESSAGES, STORE
from tests.conftest import make_settings
from tests.console_support import TOKEN, sign_in
from tests.flowtest_support import run, write
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    RECEIPT_TOKEN,
    catalog_of,
    eventually,
    inbound,
)

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API = {"Authorization": "Bearer api-key"}
SALES = "34600000001"  # the default account's number: Spanish, Madrid
SUPPORT = "8613800000077"  # brand_b's number: English, Shanghai, its own channel space
UNLISTED = "8613800000099"
BRAND_B_KEY, BRAND_B_SECRET = "brand-b-key-id", "brand-b-key-secret"
CUSTOMER = "8613900000123"

FLOWS = f"""\
    defaults: {{language: en}}
    numbers:
      sales:
        number: "+{SALES}"
        inbound_flow: shop
        language: es
        time_zone: Europe/Madrid
      support:
        number: "+{SUPPORT}"
        inbound_flow: helpdesk
        time_zone: Asia/Shanghai
        account: brand_b
        space: cams-support01
    flows:
      shop:
        start: hello
        states:
          hello:
            say: {{en: "Welcome to the shop", es: "Bienvenido a la tienda"}}
      helpdesk:
        start: hello
        states:
          hello:
            say:
              en: "Support here, today is {{{{ today }}}}"
              es: "Soporte, hoy es {{{{ today }}}}"
      notice:
        start: tell
        states:
          tell:
            say: {{en: "A notice for you", es: "Un aviso para usted"}}
    """
INTENTS = {
    "notice.yaml": "code: notice\nname: Notice\nstart: notice\n",
    "support_notice.yaml": "code: support_notice\nname: Support\nstart: notice\nnumber: support\n",
}


@pytest.fixture
async def two_accounts(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[FakeCams, str]:
    """A fake CAMS that knows both accounts' keys (and checks each signature against its
    own key's secret)."""
    server = await aiohttp_server(
        create_fake_cams({ACCESS_KEY_ID: ACCESS_KEY_SECRET, BRAND_B_KEY: BRAND_B_SECRET})
    )
    return server.app[FAKE_CAMS], str(server.make_url("/"))


BRAND_B = CamsAccount("brand_b", BRAND_B_KEY, BRAND_B_SECRET, "", None)


@pytest.fixture
def make_app(
    two_accounts: tuple[FakeCams, str],
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_url: str,
    redis: Redis,
    tmp_path: Path,
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    del redis  # flushed before the test
    _, endpoint = two_accounts

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        flows, intents = overrides.pop("flows", FLOWS), overrides.pop("intents", INTENTS)
        catalog = catalog_of(tmp_path / "flows", flows, intents)
        accounts = overrides.pop("accounts", {"brand_b": replace(BRAND_B, endpoint=endpoint)})
        overrides.setdefault("cams_from", None)
        settings = make_settings(redis_url, endpoint, api_keys="api-key", **overrides)
        return await aiohttp_client(create_app(settings, catalog, accounts=accounts))

    return make


def replies(fake: FakeCams, customer: str) -> list[tuple[str, str, str]]:
    """(From, the AccessKey ID that signed it, its text) of each message to `customer`."""
    out = []
    for message, signer in zip(fake.messages, fake.signers, strict=True):
        if message.get("To") == customer:
            out.append((message["From"], signer, message.get("Content", "")))
    return out


async def test_two_numbers_on_two_accounts_each_with_its_flow_language_and_key(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
    two_accounts: tuple[FakeCams, str],
) -> None:
    """A customer who writes to both numbers has two conversations: each starts its
    number's flow, in its number's language, and each reply goes from that number, signed
    with that number's account's key (the fake checks every signature against the key's own
    secret), with the number's channel space."""
    fake, _ = two_accounts
    client = await make_app()
    for business in (SALES, SUPPORT):
        item = inbound("hello", customer=CUSTOMER, business=business)
        assert (await client.post(RECEIPTS, json=[item])).status == 200
    await eventually(lambda: len(fake.sent_to(CUSTOMER)) == 2)
    by_number = {m["From"]: (m, s) for m, s in zip(fake.messages, fake.signers, strict=True)}
    sales, sales_key = by_number[SALES]
    support, support_key = by_number[SUPPORT]
    assert sales_key == ACCESS_KEY_ID
    assert "Bienvenido a la tienda" in sales["Content"]  # the number's language: es
    assert "CustSpaceId" not in sales
    assert support_key == BRAND_B_KEY
    assert "Support here, today is" in support["Content"]
    assert support["CustSpaceId"] == "cams-support01"
    found = await client.get(f"/v1/conversations?customer={CUSTOMER}", headers=API)
    ids = sorted(c["conversation"] for c in (await found.json())["conversations"])
    assert ids == [f"cams:whatsapp:{SALES}:{CUSTOMER}", f"cams:whatsapp:{SUPPORT}:{CUSTOMER}"]
    # Each account's sends are counted under its own label.
    scraped = await (await client.get("/metrics")).text()
    assert 'bot_sends_total{account="brand_b",platform="cams",result="sent"} 1.0' in scraped
    assert 'bot_sends_total{account="default",platform="cams",result="sent"} 1.0' in scraped


async def test_a_number_not_listed_is_refused_at_intake_counted_and_logged(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
    two_accounts: tuple[FakeCams, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The push is answered (CAMS must not push it again) but no conversation starts: one
    log line names the number, and bot_unknown_numbers_total counts it."""
    fake, _ = two_accounts
    client = await make_app()
    caplog.set_level(logging.WARNING, logger="bot.web.cams")
    items = [
        inbound("hi", customer=CUSTOMER, business=UNLISTED),
        inbound("hi again", customer=CUSTOMER, business=UNLISTED),
        inbound("hello", customer=CUSTOMER, business=SALES),
    ]
    assert (await client.post(RECEIPTS, json=items)).status == 200
    await eventually(lambda: len(fake.sent_to(CUSTOMER)) == 1)
    await asyncio.sleep(0.3)
    assert [m["From"] for m in fake.sent_to(CUSTOMER)] == [SALES]
    lines = [r.getMessage() for r in caplog.records if "not in `numbers:`" in r.getMessage()]
    assert len(lines) == 1
    assert "2 messages" in lines[0]
    assert f"whatsapp {mask_id(UNLISTED)} (x2)" in lines[0]
    found = await client.get(f"/v1/conversations?customer={CUSTOMER}", headers=API)
    assert [c["conversation"] for c in (await found.json())["conversations"]] == [
        f"cams:whatsapp:{SALES}:{CUSTOMER}"
    ]
    scraped = await (await client.get("/metrics")).text()
    assert 'bot_unknown_numbers_total{platform="cams"} 2.0' in scraped


async def test_intents_send_from_the_number_they_name(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
    two_accounts: tuple[FakeCams, str],
) -> None:
    """`business` names a number by its name or its number; without it, the intent's
    `number:`, else the first of `numbers:`. A number not listed is a 400."""
    fake, _ = two_accounts
    client = await make_app()

    async def start(code: str, customer: str, **body: Any) -> int:
        resp = await client.post(
            f"/v1/intents/{code}", json={"customer": customer, **body}, headers=API
        )
        return resp.status

    assert await start("notice", "8613900000201") == 202  # the first number: sales
    assert await start("notice", "8613900000202", business="support") == 202
    assert await start("notice", "8613900000203", business=f"+{SUPPORT}") == 202
    assert await start("support_notice", "8613900000204") == 202  # its number: support
    assert await start("notice", "8613900000205", business=UNLISTED) == 400
    assert await start("notice", "8613900000206", business="support", channel="viber") == 400
    # What names no number is refused plainly: long, marked up, control characters (the
    # reason is logged: escaped, on one line).
    for hostile in ("9" * 65, "<img src=x onerror=alert(1)>", "sales\r\nX-Evil: 1", "../sales"):
        resp = await client.post(
            "/v1/intents/notice", json={"customer": "8613900000207", "business": hostile},
            headers=API,
        )  # fmt: skip
        assert resp.status == 400
        said = (await resp.json())["msg"]
        assert "\r" not in said
        assert "\n" not in said
    await eventually(lambda: len(fake.messages) == 4)
    sent = {m["To"]: (m["From"], s) for m, s in zip(fake.messages, fake.signers, strict=True)}
    assert sent["8613900000201"] == (SALES, ACCESS_KEY_ID)
    assert sent["8613900000202"] == (SUPPORT, BRAND_B_KEY)
    assert sent["8613900000203"] == (SUPPORT, BRAND_B_KEY)
    assert sent["8613900000204"] == (SUPPORT, BRAND_B_KEY)
    assert "Un aviso para usted" in fake.sent_to("8613900000201")[0]["Content"]


async def test_a_campaign_goes_from_the_number_it_names_in_its_time_zone(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
    two_accounts: tuple[FakeCams, str],
) -> None:
    """`business: support` sends a campaign's first messages from the support number with
    brand_b's key, and its time zone is the number's when it names none."""
    fake, _ = two_accounts
    client = await make_app()
    recipients = [{"customer": f"+86139000003{i:02d}"} for i in range(3)]
    resp = await client.post(
        "/v1/campaigns",
        json={"intent": "notice", "recipients": recipients, "business": "support", "rate": 50},
        headers=API,
    )
    assert resp.status == 202, await resp.text()
    campaign = (await resp.json())["campaign"]
    await eventually(lambda: len(fake.messages) == 3)
    assert {(m["From"], k) for m, k in zip(fake.messages, fake.signers, strict=True)} == {
        (SUPPORT, BRAND_B_KEY)
    }
    shown = await (await client.get(f"/v1/campaigns/{campaign}", headers=API)).json()
    assert shown["timezone"] == "Asia/Shanghai"
    assert shown["business"] == SUPPORT


async def test_an_account_dead_letters_are_its_own(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
    two_accounts: tuple[FakeCams, str],
    no_bot_env: None,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A reply brand_b could not send is a dead letter of brand_b: listed with its account,
    and found by `?account=` and `bot dlq list --account`."""
    fake, _ = two_accounts
    client = await make_app(send_attempts=1, console_tokens=TOKEN)
    fake.fail_next(503, "ServiceUnavailable", to=CUSTOMER)
    item = inbound("hello", customer=CUSTOMER, business=SUPPORT)
    assert (await client.post(RECEIPTS, json=[item])).status == 200

    async def listed(query: str) -> list[dict[str, Any]]:
        resp = await client.get(f"/v1/dead-letters{query}", headers=API)
        assert resp.status == 200
        letters: list[dict[str, Any]] = (await resp.json())["dead_letters"]
        return letters

    async def one() -> bool:
        return len(await listed("")) == 1

    await eventually(one)
    [letter] = await listed("")
    assert letter["account"] == "brand_b"
    assert [d["id"] for d in await listed("?account=brand_b")] == [letter["id"]]
    assert await listed("?account=default") == []
    # The console says so too, and which number the conversation is with.
    assert (await sign_in(client)).status == 200
    page = await (await client.get("/console/dead-letters")).text()
    assert '<th scope="col">Account</th>' in page
    assert "<td>brand_b</td>" in page
    [conversation] = re.findall(r'href="(/console/c/[^"]+)"', page)[:1]
    page = await (await client.get(conversation)).text()
    assert "(support, account brand_b)" in page
    for name, value in {
        "BOT_REDIS_URL": redis_url,
        "BOT_PARTITIONS": "4",
        "BOT_FLOWS": str(tmp_path / "flows" / "flows.yaml"),
        "BOT_INTENTS": str(tmp_path / "flows" / "intents"),
    }.items():
        monkeypatch.setenv(name, value)

    async def cli(*argv: str) -> list[dict[str, Any]]:
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["dlq", "list", "--json", *argv]) == 0
        letters: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["dead_letters"]
        return letters

    assert [d["id"] for d in await cli("--account", "brand_b")] == [letter["id"]]
    assert await cli("--account", "default") == []


async def test_sandbox_mode_sends_for_an_account_without_keys(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """In sandbox mode a number whose account has no keys still answers: through the
    sandbox's fake CAMS, with the published keys."""
    client = await make_app(accounts={}, sandbox=True)
    item = inbound("hello", customer=CUSTOMER, business=SUPPORT)
    assert (await client.post(RECEIPTS, json=[item])).status == 200
    sent = client.app[SANDBOX_MESSAGES]
    await eventually(lambda: len(sent) == 1)
    assert sent[0]["From"] == SUPPORT


async def test_start_is_refused_when_a_number_names_an_account_without_keys(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    with pytest.raises(ConfigError, match="BOT_CAMS_ACCOUNT_BRAND_B_ACCESS_KEY_ID"):
        await make_app(accounts={})


def test_the_engine_reads_today_in_the_numbers_time_zone(tmp_path: Path) -> None:
    """At 23:30 UTC on 5 January it is already the 6th in Shanghai: `today` of a support
    conversation says so; a conversation with a number not listed is in UTC."""
    catalog = catalog_of(tmp_path, FLOWS, INTENTS)
    engine = Engine(catalog)
    now_ms = int(datetime(2026, 1, 5, 23, 30, tzinfo=UTC).timestamp() * 1000)
    event = Inbound(message_id="m1", at_ms=now_ms, kind="text", text="hi")

    def said(business: str) -> str:
        conv_id = f"cams:whatsapp:{business}:{CUSTOMER}"
        ctx = StepContext(conv_id=conv_id, customer=CUSTOMER, channel="whatsapp")
        result = engine.step(Conversation(), event, now_ms, ctx)
        return result.replies[0].text if result.replies else ""

    assert said(SUPPORT) == "Support here, today is 2026-01-06"
    assert said(SALES) == "Bienvenido a la tienda"  # its number's language
    assert said(UNLISTED) == ""  # no inbound flow of its own, none by default


@pytest.mark.parametrize(
    ("numbers", "problem"),
    [
        ('bad: {number: "not a number"}', "numbers.bad: `not a number` is not a whatsapp number"),
        (
            'a: {number: "+34600000001"}\n  b: {number: "0034 600 000 001"}',
            "numbers.b: whatsapp number 34600000001 is already numbers.a",
        ),
        (
            'a: {number: "+34600000001", inbound_flow: shopp}',
            "numbers.a.inbound_flow names `shopp`, which is not a flow",
        ),
        ('a: {number: "+34600000001", time_zone: Mars/Olympus}', "is no time zone"),
        ('a: {number: "+34600000001", account: Brand-B}', "String should match pattern"),
        ('Sales: {number: "+34600000001"}', "String should match pattern"),
        ('page: {number: "page:1", channel: messenger}', "`page:1` is not a messenger id"),
        ('page: {number: "a page", channel: messenger}', "`a page` is not a messenger id"),
    ],
)
def test_numbers_are_checked_with_their_line(tmp_path: Path, numbers: str, problem: str) -> None:
    head = 'flows:\n  shop:\n    start: hello\n    states: {hello: {say: "Hi"}}\nnumbers:\n'
    flows = head + "".join(f"  {line.strip()}\n" for line in numbers.splitlines())
    with pytest.raises(SpecError) as e:
        catalog_of(tmp_path, flows)
    [found] = [p for p in e.value.problems if problem in p.message]
    assert found.line >= 5


def test_an_intent_names_a_number_that_is_listed(tmp_path: Path) -> None:
    intents = {"n.yaml": "code: n\nname: N\nstart: notice\nnumber: suport\n"}
    with pytest.raises(SpecError) as e:
        catalog_of(tmp_path, FLOWS, intents)
    [problem] = e.value.problems
    assert "number `suport`, which is not in `numbers:`" in problem.message
    assert "support" in problem.message  # the suggestion
    assert problem.line == 4


# -- accounts' settings ----------------------------------------------------------------------


def test_named_accounts_come_from_the_environment_and_their_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    environ = {
        "BOT_CAMS_ACCOUNT_BRAND_B_ACCESS_KEY_ID": "id-b",
        "BOT_CAMS_ACCOUNT_BRAND_B_ACCESS_KEY_SECRET_FILE": str(secret),
        "BOT_CAMS_ACCOUNT_BRAND_B_SEND_RATE_LIMIT": "100",
        "BOT_CAMS_ACCOUNT_EU_ACCESS_KEY_ID": "id-eu",
        "BOT_CAMS_ACCOUNT_EU_ACCESS_KEY_SECRET": "secret-eu",
        "BOT_CAMS_ACCOUNT_EU_ENDPOINT": "https://cams.eu.example",
    }
    accounts = cams_accounts(environ, "https://cams.default.example")
    assert accounts == {
        "brand_b": CamsAccount(
            "brand_b", "id-b", "from-a-file", "https://cams.default.example", 100
        ),
        "eu": CamsAccount("eu", "id-eu", "secret-eu", "https://cams.eu.example", None),
    }
    assert "from-a-file" not in repr(accounts)
    assert "secret-eu" not in repr(accounts)
    assert unknown_variables(environ) == []


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"BOT_CAMS_ACCOUNT_B_ACCESS_KEY_ID": "x"}, "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_SECRET missing"),
        (
            {"BOT_CAMS_ACCOUNT_B_ACCESS_KEY_ID": "x", "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_SECRET": " "},
            "missing or empty",
        ),
        (
            {
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_ID": "x",
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_SECRET": "y",
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_SECRET_FILE": "/nowhere",
            },
            "are both set",
        ),
        (
            {
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_ID": "x",
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_SECRET": "y",
                "BOT_CAMS_ACCOUNT_B_SEND_RATE_LIMIT": "fast",
            },
            "SEND_RATE_LIMIT: a whole number",
        ),
        (
            {
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_ID": "x",
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_SECRET": "y",
                "BOT_CAMS_ACCOUNT_B_ENDPOINT": "cams.example/x?y",
            },
            "ENDPOINT: not a base URL",
        ),
        ({"BOT_CAMS_ACCOUNT_DEFAULT_ACCESS_KEY_ID": "x"}, "`default` is the account of"),
        (
            {
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_ID": "x",
                "BOT_CAMS_ACCOUNT_B_ACCESS_KEY_SECRET": "y",
                "BOT_CAMS_ACCOUNT_B_SEND_RATE_LIMIT": "\u00b2",
            },
            "SEND_RATE_LIMIT: a whole number",
        ),
    ],
)
def test_an_account_set_in_part_is_refused(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as e:
        cams_accounts(environ, "https://cams.example")
    assert "/nowhere" not in str(e.value) or "both set" in str(e.value)
    for value in ("x", "y"):
        assert f"={value}" not in str(e.value)


def test_a_misspelt_account_variable_is_named(tmp_path: Path) -> None:
    environ = {"BOT_CAMS_ACCOUNT_B_ACCESS_KEY": "x", "BOT_CAMS_ACCOUNT_B_SECRET": "y"}
    assert len(unknown_variables(environ)) == 2
    settings = Settings(sandbox=True)
    with pytest.raises(ConfigError, match="BOT_CAMS_ACCOUNT_B_ACCESS_KEY is no setting"):
        settings.check(environ)


# -- the accounts' own rate limits -------------------------------------------------------------


async def test_each_account_waits_for_its_own_rate_limit(redis: Redis) -> None:
    """Two accounts at once: the default one (10/s) and one with its own lower limit (4/s)
    are held each to its own, neither waiting for the other."""
    limiter = RateLimiter(redis, limit=10, limits={"cams:small": 4}, burst=1.0)
    granted: dict[str, list[float]] = {"cams:big": [], "cams:small": []}

    async def take(account: str, n: int) -> None:
        for _ in range(n):
            await limiter.acquire(account)
            granted[account].append(time.monotonic())

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(take("cams:big", 10), take("cams:small", 8)), 5.0)
    assert max(granted["cams:big"]) - started < 0.5  # ten at once: its whole second's
    small = granted["cams:small"]
    assert sum(t - started < 0.5 for t in small) == 4  # four, then the next second's
    assert max(small) - started > 1.0


# -- conversation tests ----------------------------------------------------------------------

NUMBER_TESTS = """\
    tests:
      - name: the first number by default
        steps:
          - say: hola
          - bot: Bienvenido a la tienda
      - name: a named number
        number: support
        now: 2026-01-05T23:30:00Z
        steps:
          - say: hello
          - bot: Support here, today is 2026-01-06
    """


def test_a_conversation_test_writes_to_the_number_it_names(tmp_path: Path) -> None:
    """`number:` of a test is the business number the customer writes to: its inbound flow,
    language and time zone; without it, the first of `numbers:`. A name that is none is a
    problem with its line."""
    catalog = catalog_of(tmp_path / "flows", FLOWS, INTENTS)
    results = run(tmp_path, catalog, NUMBER_TESTS)
    assert [r.failure for r in results] == [None, None]
    wrong = NUMBER_TESTS.replace("number: support", "number: suport")
    with pytest.raises(SpecError) as e:
        load_tests([write(tmp_path, wrong)], catalog)
    [problem] = e.value.problems
    assert "no number `suport` in `numbers:`" in problem.message
    assert "support" in problem.message.split("`numbers:`")[1]
    assert problem.line == 7


def test_bot_check_warns_of_a_number_whose_flow_does_not_speak_its_language(
    tmp_path: Path,
) -> None:
    """support speaks Chinese, its inbound flow only English and Spanish: a warning at the
    number's `language:`; sales (Spanish, a Spanish flow) is fine."""
    flows = FLOWS.replace(
        "        time_zone: Asia/Shanghai\n",
        "        time_zone: Asia/Shanghai\n        language: zh\n",
    )
    (tmp_path / "flows").mkdir()
    catalog_of(tmp_path / "flows", flows, INTENTS)
    found = lint(load_catalog(tmp_path / "flows" / "flows.yaml", tmp_path / "flows" / "intents"))
    [warning] = [f for f in found if "numbers." in f.message]
    assert warning.severity == "warning"
    assert (
        "numbers.support speaks `zh`, but its inbound flow `helpdesk` has no `zh`"
        in warning.message
    )
    assert warning.line == 12  # its `language: zh`


# -- found in review ---------------------------------------------------------------------------


class _Sender:
    def __init__(self, platform: str, account: str) -> None:
        self.platform, self.account = platform, account

    async def send(self, msg: Outgoing) -> SendReceipt:
        raise AssertionError("not sent in this test")


def test_a_reply_of_a_number_taken_out_of_numbers_has_no_route(tmp_path: Path) -> None:
    """support (brand_b) is taken out of numbers: by a reload while its replies wait: they
    are not signed with the default account's key (a dead letter says why, to retry once
    the number is back); Tencent conversations are not concerned."""
    without_support = FLOWS.replace(
        FLOWS[FLOWS.index("      support:") : FLOWS.index("    flows:")], ""
    )
    current = [catalog_of(tmp_path / "a", FLOWS, INTENTS)]
    default, brand_b = _Sender("cams", "default-hash"), _Sender("cams", "brand-b-hash")
    tencent = _Sender("tencent", "app-hash")
    routes = Routes({"cams": default, "tencent": tencent}, {"brand_b": brand_b},
                    lambda: current[0])  # fmt: skip
    to = Address(ConversationRef("cams", "whatsapp", SUPPORT, CUSTOMER))
    route = routes.route(to)
    assert route is not None
    assert (route.sender, route.account, route.to.space) == (brand_b, "brand_b", "cams-support01")
    current[0] = catalog_of(tmp_path / "b", without_support)
    assert routes.route(to) is None
    assert routes.refusal(to.ref) == f"business number {SUPPORT} is not in numbers: of the flows"
    user = Address(ConversationRef("tencent", "tencent", "administrator", "user-1"))
    route = routes.route(user)
    assert route is not None
    assert route.sender is tencent


async def test_sandbox_a_reload_naming_a_new_account_still_sends(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_url: str,
    redis: Redis,
    tmp_path: Path,
) -> None:
    """In sandbox mode an account a reload names first sends with the published keys too:
    no dead letter."""
    del redis
    settings = make_settings(redis_url, "http://unused", sandbox=True, cams_from=None,
                             send_attempts=1)  # fmt: skip
    app = create_app(settings, catalog_of(tmp_path / "a", FLOWS, INTENTS), accounts={})
    client = await aiohttp_client(app)
    item = inbound("hello", customer="8613900000301", business=SUPPORT)
    assert (await client.post(RECEIPTS, json=[item])).status == 200
    await eventually(lambda: len(app[SANDBOX_MESSAGES]) == 1)
    moved = FLOWS.replace("account: brand_b", "account: brand_c")
    assert await reload_flows(app, lambda: catalog_of(tmp_path / "b", moved, INTENTS))
    item = inbound("hello", customer="8613900000302", business=SUPPORT)
    assert (await client.post(RECEIPTS, json=[item])).status == 200
    await eventually(lambda: len(app[SANDBOX_MESSAGES]) == 2)
    assert await app[STORE].count_dead() == 0


def test_two_accounts_with_one_access_key_are_refused() -> None:
    """Two names for one AccessKey ID would share one rate limit and mix their counts:
    `bot serve` refuses them, naming the accounts (never the key)."""
    settings = Settings(sandbox=True, cams_access_key_id="the-same-key", cams_access_key_secret="s")
    environ = {
        "BOT_CAMS_ACCOUNT_EU_ACCESS_KEY_ID": "the-same-key",
        "BOT_CAMS_ACCOUNT_EU_ACCESS_KEY_SECRET": "other",
        "BOT_CAMS_ACCOUNT_EU_ENDPOINT": "https://cams.eu.example",
    }
    with pytest.raises(ConfigError, match="accounts default and eu have the same") as e:
        settings.check(environ)
    assert "the-same-key" not in str(e.value)
    settings.check({**environ, "BOT_CAMS_ACCOUNT_EU_ACCESS_KEY_ID": "its-own"})


def test_a_url_button_variable_listed_under_params_is_warned_of(tmp_path: Path) -> None:
    """A template with a URL button and no `button_params:` (written before there were
    any): its variables go into the URL as they are, so `bot check` warns (`--strict`
    fails)."""
    flows = """
    templates:
      parcel: {languages: [en], category: utility, params: [name, parcel_id], buttons: [url]}
    flows:
      rich:
        start: notify
        data: {name: "", id: ""}
        states:
          notify:
            template: {code: parcel, params: {name: "{{ name }}", parcel_id: "{{ id }}"}}
    """
    catalog_of(tmp_path, flows)
    findings = lint(load_catalog(tmp_path / "flows.yaml", tmp_path / "intents"))
    [warning] = [f for f in findings if "button_params" in f.message]
    assert warning.severity == "warning"
    assert warning.line == 3


def test_the_simulator_writes_to_the_first_number(tmp_path: Path) -> None:
    """`bot test` writes to the first of numbers: unless told otherwise: its inbound flow
    answers, in its language; on a channel none of them is on, to a number of its own."""
    catalog = catalog_of(tmp_path, FLOWS, INTENTS)
    assert [r.text for r in Simulator(catalog).say("hola")] == ["Bienvenido a la tienda"]
    assert Simulator(catalog, channel="viber").say("hola") == []  # no inbound flow there


async def test_bot_cams_from_not_in_numbers_is_refused_at_start(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    with pytest.raises(ConfigError, match="BOT_CAMS_FROM is none of `numbers:`"):
        await make_app(cams_from=f"+{UNLISTED}")
    await make_app(cams_from=f"+{SUPPORT}")  # listed: fine


async def test_dead_letters_of_an_account_no_number_names_is_a_400(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """`?account=BRAND_B` (as the variable spells it) or a typo would read as "no dead
    letters": a 400 naming the accounts there are."""
    client = await make_app()
    for account in ("BRAND_B", "brand-b", "brandb"):
        resp = await client.get(f"/v1/dead-letters?account={account}", headers=API)
        assert resp.status == 400, account
        assert "brand_b" in (await resp.json())["msg"]
    for account in ("brand_b", "default"):
        resp = await client.get(f"/v1/dead-letters?account={account}", headers=API)
        assert resp.status == 200


def test_bot_chat_talks_from_the_number_it_names(tmp_path: Path) -> None:
    """`bot chat --number sales` runs the flow as that number's customers get it: in its
    language; a name that is none is refused, exit 2."""
    catalog = catalog_of(tmp_path, FLOWS, INTENTS)
    out = io.StringIO()
    code = asyncio.run(run_chat(catalog, "notice", customer="1", secrets={},
                                read_line=lambda: None, out=out, number="sales"))  # fmt: skip
    assert code == 0
    assert "Un aviso para usted" in out.getvalue()  # sales speaks Spanish
    assert asyncio.run(run_chat(catalog, "notice", customer="1", secrets={},
                                read_line=lambda: None, out=out, number="nope")) == 2  # fmt: skip


VIBER = """\
    numbers:
      whatsapp_line: {number: "+34600000001", inbound_flow: slots}
      viber_line: {number: "+34600000001", channel: viber, inbound_flow: slots}
    flows:
      slots:
        start: pick
        states:
          pick:
            say: "When shall we come?"
            buttons: true
            options:
              - {label: Monday 9-12, description: Two places left, section: This week, go: ok}
              - {label: Friday 14-18, section: This week, go: ok}
              - {label: Tuesday 9-12, section: Next week, go: ok}
              - {label: Any other day, go: ok}
          ok:
            say: "Booked, thank you."
            link: {label: Your booking, url: "https://book.example.com/b/{{ customer }}"}
    """


async def test_a_viber_number_gets_its_list_and_link_as_text_and_is_answered_by_label(
    make_app: Callable[..., Awaitable[TestClient[Any, Any]]],
    two_accounts: tuple[FakeCams, str],
) -> None:
    """The same number on WhatsApp and on Viber (two entries, two conversations): on
    Viber, which takes no interactive message, the list goes as text with its headings and
    the link as its label and URL, as the fake CAMS accepts them on Viber; the customer
    answers with a label."""
    fake, _ = two_accounts
    client = await make_app(flows=VIBER, intents={})
    item = inbound("hi", customer=CUSTOMER, business=SALES)
    assert (await client.post(f"{RECEIPTS}&channel=viber", json=[item])).status == 200
    await eventually(lambda: len(fake.sent_to(CUSTOMER)) == 1)
    [listed] = fake.sent_to(CUSTOMER)
    assert (listed["ChannelType"], listed["MessageType"]) == ("viber", "text")
    assert json.loads(listed["Content"])["text"] == (
        "When shall we come?\nThis week:\n- Monday 9-12 (Two places left)\n- Friday 14-18\n"
        "Next week:\n- Tuesday 9-12\n- Any other day"
    )
    item = inbound("friday 14-18", customer=CUSTOMER, business=SALES)
    assert (await client.post(f"{RECEIPTS}&channel=viber", json=[item])).status == 200
    await eventually(lambda: len(fake.sent_to(CUSTOMER)) == 2)
    booked = fake.sent_to(CUSTOMER)[1]
    assert json.loads(booked["Content"])["text"] == (
        f"Booked, thank you.\nYour booking: https://book.example.com/b/{CUSTOMER}"
    )
    # On WhatsApp, the same number's customer gets the list as a list.
    item = inbound("hi", customer="8613900000999", business=SALES)
    assert (await client.post(RECEIPTS, json=[item])).status == 200
    await eventually(lambda: len(fake.sent_to("8613900000999")) == 1)
    assert fake.sent_to("8613900000999")[0]["MessageType"] == "interactive"
