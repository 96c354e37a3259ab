"""The campaign API (/v1/campaigns) through the real app factory, a real Redis and the fake
CAMS: campaigns made from JSON and CSV, every refusal a 4xx naming what is wrong, repeats
with an Idempotency-Key, pause, resume and cancel, the recipients a page at a time, and a
campaign run to its end by the runtime's pumps."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.campaign import MAX_RECIPIENTS, CampaignSpec, Category, QuietHours
from bot.model import ConversationRef
from bot.store import campaign_to_json, recipient_from_json, recipient_to_json
from bot.web.keys import STORE
from bot.web.recipients import SLICE, Entry, campaign_rows
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, eventually, inbound, with_loop_turns

API_KEY = "campaign-key-1"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
INTENT = "csat_survey"  # an intent of the example flows
LATER = "2099-01-01T09:00:00+00:00"  # a start no test reaches: nobody is messaged
LATER_MS = int(dt.datetime.fromisoformat(LATER).timestamp() * 1000)
CSV = {"Content-Type": "text/csv"}

Client = TestClient[Any, Any]


@pytest.fixture
async def api(make_client: AppFactory) -> Client:
    client: Client = await make_client(api_keys=API_KEY)
    return client


def numbers(n: int, first: int = 8613900100000) -> list[str]:
    return [str(first + i) for i in range(n)]


def campaign_body(customers: list[str], **options: Any) -> dict[str, Any]:
    return {
        "intent": INTENT,
        "start_at": LATER,
        "recipients": [{"customer": f"+{c}"} for c in customers],
        **options,
    }


def as_json(body: Any) -> dict[str, Any]:
    """A request's JSON body, in a file object: aiohttp's client warns of large bytes."""
    return {
        "data": io.BytesIO(json.dumps(body).encode()),
        "headers": {**AUTH, "Content-Type": "application/json"},
    }


async def created(client: Client, body: Any, *, key: str = "") -> Any:
    request = as_json(body)
    if key:
        request["headers"]["Idempotency-Key"] = key
    resp = await client.post("/v1/campaigns", **request)
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def uploaded(client: Client, text: str | bytes, **query: str) -> Any:
    resp = await client.post(
        "/v1/campaigns",
        data=text,
        params={"intent": INTENT, "start_at": LATER, **query},
        headers={**AUTH, **CSV},
    )
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def refused(
    client: Client, status: int, *, path: str = "/v1/campaigns", **kwargs: Any
) -> str:
    kwargs.setdefault("headers", AUTH)
    resp = await client.post(path, **kwargs)
    text = await resp.text()
    assert resp.status == status, text
    answer = json.loads(text)
    assert answer["code"] == status
    reason: str = answer["msg"]
    return reason


async def read(client: Client, path: str, **query: str) -> Any:
    resp = await client.get(path, params=query, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def every_recipient(client: Client, campaign: str, **query: str) -> list[Any]:
    """Every page of the campaign's recipients, followed by `next`."""
    found: list[Any] = []
    while True:
        page = await read(client, f"/v1/campaigns/{campaign}/recipients", **query)
        found += page["recipients"]
        if page["next"] is None:
            return found
        query["cursor"] = page["next"]


async def stored_recipients(client: Client, campaign: str) -> dict[str, tuple[Any, str]]:
    """customer -> (data, time zone) as the store keeps them."""
    store = client.app[STORE]
    found: dict[str, tuple[Any, str]] = {}
    partition, cursor = 0, 0
    while partition < store.partitions:
        rows, partition, cursor = await store.campaign_recipients(
            campaign, partition=partition, cursor=cursor
        )
        for conv, recipient, _ in rows:
            found[ConversationRef.parse(conv).customer] = recipient_from_json(recipient)
    return found


# -- making a campaign -----------------------------------------------------------------------


async def test_a_json_campaign_is_stored_whole_before_its_202(api: Client) -> None:
    """A JSON campaign is answered 202 with its id once every recipient is stored: read
    back, it runs, with its options as given and every recipient pending."""
    customers = numbers(5)
    answer = await created(
        api,
        campaign_body(
            customers,
            name="December reminders",
            rate=2.5,
            quiet_hours="21:00-08:00",
            timezone="Asia/Shanghai",
            mid_flow="queue",
            category="utility",
            skip_if_messaged_within_hours=12,
            end_by="2099-01-02T09:00:00+00:00",
        ),
    )
    assert answer == {
        "campaign": answer["campaign"],
        "status": "running",
        "recipients": 5,
        "repeat": False,
    }
    shown = await read(api, f"/v1/campaigns/{answer['campaign']}")
    assert shown == {
        "id": answer["campaign"],
        "name": "December reminders",
        "intent": INTENT,
        "status": "running",
        "created_ms": shown["created_ms"],
        "rate": 2.5,
        "start_ms": LATER_MS,
        "end_ms": LATER_MS + 86_400_000,
        "quiet_hours": "21:00-08:00",
        "timezone": "Asia/Shanghai",
        "mid_flow": "queue",
        "category": "utility",
        "skip_if_messaged_within_hours": 12,
        "business": BUSINESS,
        "channel": "whatsapp",
        "recipients": 5,
        "counts": {
            "pending": 5,
            "started": 0,
            "skipped": {},
            "cancelled": 0,
            "erased": 0,
            "carried_over": 0,
            "sent": 0,
            "delivered": 0,
            "read": 0,
            "replied": 0,
            "opted_out": 0,
            "opted_out_marketing": 0,
            "failed": {},
        },
    }
    assert set(await stored_recipients(api, answer["campaign"])) == set(customers)


async def test_a_customer_listed_twice_is_stored_once(api: Client) -> None:
    """The same customer written two ways (with and without +) is one recipient: the
    first entry's data is kept."""
    body = campaign_body([])
    body["recipients"] = [
        {"customer": "+8613900100001", "data": {"order": "A-1"}},
        {"customer": "8613900100001", "data": {"order": "A-2"}},
        {"customer": "+8613900100002", "tz": "Europe/Madrid"},
    ]
    answer = await created(api, body)
    assert answer["recipients"] == 2
    assert await stored_recipients(api, answer["campaign"]) == {
        "8613900100001": ({"order": "A-1"}, ""),
        "8613900100002": ({}, "Europe/Madrid"),
    }


async def test_a_csv_campaign_makes_every_other_column_data(api: Client) -> None:
    """A CSV's `customer` column names the recipients, `tz` their time zone, and every other
    column becomes a data field (a string) of each; the options come from the query."""
    answer = await uploaded(
        api,
        "customer,name,order,tz\n+8613900100001,Ana,A-7,Europe/Madrid\n8613900100002,Bo,,\n",
        rate="50",
        mid_flow="queue",
    )
    assert answer["recipients"] == 2
    assert await stored_recipients(api, answer["campaign"]) == {
        "8613900100001": ({"name": "Ana", "order": "A-7"}, "Europe/Madrid"),
        "8613900100002": ({"name": "Bo", "order": ""}, ""),
    }
    shown = await read(api, f"/v1/campaigns/{answer['campaign']}")
    assert (shown["rate"], shown["mid_flow"], shown["start_ms"]) == (50, "queue", LATER_MS)


async def test_a_csv_with_a_byte_order_mark_and_quoted_fields_is_read_as_written(
    api: Client,
) -> None:
    """A UTF-8 byte-order mark is skipped; RFC 4180 quoting keeps commas, doubled quotes and
    line breaks inside a field; CRLF line ends and blank lines are fine."""
    text = (
        '\ufeffCustomer,note\r\n"+8613900100003","says ""hi"", then, goes\nnext line"\r\n'
        "\r\n8613900100004,plain\r\n"
    )
    answer = await uploaded(api, text.encode())
    assert await stored_recipients(api, answer["campaign"]) == {
        "8613900100003": ({"note": 'says "hi", then, goes\nnext line'}, ""),
        "8613900100004": ({"note": "plain"}, ""),
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name\nAna\n", "line 1: the header has no `customer` column"),
        ("customer,name,name\n+8613900100001,a,b\n", "line 1: the column 'name' is named twice"),
        ("customer,,x\n+8613900100001,a,b\n", "line 1: column 2 has no name"),
        (
            "customer,name\n+8613900100001,Ana\n+8613900100002\n",
            "line 3: 1 field where the header names 2 columns",
        ),
        (  # the second record starts on line 4: the first spans lines 2 and 3
            'customer,note\n+8613900100001,"a\nb"\n+8613900100002,x,y\n',
            "line 4: 3 fields where the header names 2 columns",
        ),
        ('customer,note\n+8613900100001,"a"b\n', "line 2: not CSV"),
        ("customer\n+8613900100001\nnot-a-number\n", "line 3: customer"),
        ("customer\n+8613900100001\n ,\n", "line 3: 2 fields"),
        ("customer,tz\n+8613900100001,Mars/Olympus\n", "line 2: tz: 'Mars/Olympus'"),
        ("", "the CSV is empty"),
        ("customer\n\n", "the CSV names no recipient"),
        (b"customer\n\xff\n", "the CSV is not UTF-8 (at byte 9)"),
    ],
)
async def test_a_bad_csv_is_400_naming_the_line(api: Client, text: str, reason: str) -> None:
    """A header without `customer`, with an empty or repeated name, a line with another
    number of fields, bad quoting, a customer or time zone that is none: 400 naming the
    line; nothing is stored."""
    msg = await refused(
        api,
        400,
        data=text,
        params={"intent": INTENT},
        headers={**AUTH, **CSV},
    )
    assert msg.startswith(reason), msg
    assert await api.app[STORE].campaign_ids() == []


async def test_a_bad_customer_is_named_by_its_place_and_never_shown_whole(
    api: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The first customer that is no phone number is named by its place in the list; the
    reason (which is logged) shows it masked."""
    caplog.set_level(logging.DEBUG)
    body = campaign_body(["8613900100001"])
    body["recipients"].append({"customer": "alice.smith@example.com"})
    msg = await refused(api, 400, json=body)
    assert msg.startswith("recipients[1]: customer 'a*********************m': not a phone")
    assert "alice" not in caplog.text
    assert "smith" not in caplog.text


async def test_an_unknown_intent_is_404(api: Client) -> None:
    """An intent code the flows do not know is 404, as at /v1/intents, from JSON or a CSV
    (before its body is read)."""
    body = {**campaign_body(numbers(1)), "intent": "no_such"}
    assert "unknown intent code 'no_such'" in await refused(api, 404, json=body)
    msg = await refused(
        api, 404, data="customer\n+8613900100001\n", params={"intent": "x"}, headers={**AUTH, **CSV}
    )
    assert msg.startswith("unknown intent code 'x'; known: ")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"rate": 0}, "rate: Input should be greater than 0"),
        ({"rate": 1001}, "rate: Input should be less than or equal to 1000"),
        ({"rate": "fast"}, "rate: Input should be a valid number"),
        ({"quiet_hours": "9pm-8am"}, "quiet_hours: local hours such as 21:00-08:00"),
        ({"quiet_hours": "21:00-21:00"}, "quiet_hours: quiet hours start and end at the same"),
        ({"quiet_hours": "21:00+01-08:00"}, "quiet_hours: local hours"),
        ({"quiet_hours": "25:00-08:00"}, "quiet_hours: quiet hours look like"),
        ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not a time zone"),
        ({"timezone": "../../etc/passwd"}, "timezone: '../../etc/passwd' is not a time zone"),
        ({"start_at": "tomorrow"}, "start_at: milliseconds since the epoch, or an ISO 8601"),
        ({"start_at": -1}, "start_at: a time from 1970 to 9999"),
        ({"start_at": 1.5}, "start_at"),
        ({"end_by": "2098-01-01T00:00:00Z"}, "end_by: must come after start_at and after now"),
        ({"mid_flow": "wait"}, "mid_flow: Input should be 'skip' or 'queue'"),
        ({"category": "promo"}, "category: Input should be 'marketing', 'utility' or"),
        ({"skip_if_messaged_within_hours": -1}, "skip_if_messaged_within_hours: Input should"),
        ({"channel": "what app"}, "channel: not a channel name"),
        ({"business": "12"}, "business: not a phone number"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"recipients": []}, "recipients: a list of at least one {customer, data, tz}"),
        ({"recipients": "all"}, "recipients: a list of at least one"),
        (
            {"recipients": [{"customer": "+8613900100001"}, {"customer": 5}]},
            "recipients[1].customer: Input should be a valid string",
        ),
        (
            {"recipients": [{"customer": "+8613900100001", "phone": "x"}]},
            "recipients[0].phone: Extra inputs are not permitted",
        ),
        (
            {"recipients": [{"customer": "+8613900100001", "tz": "Mars/Olympus"}]},
            "recipients[0]: tz: 'Mars/Olympus' is not a time zone",
        ),
    ],
)
async def test_a_bad_option_is_400_naming_it(
    api: Client, options: dict[str, Any], reason: str
) -> None:
    """An option that cannot be is 400 naming it; nothing is stored."""
    msg = await refused(api, 400, json=campaign_body(numbers(1), **options))
    assert msg.startswith(reason), msg
    assert await api.app[STORE].campaign_ids() == []


async def test_a_csv_options_are_checked_as_json_ones(api: Client) -> None:
    """A CSV upload's query options are checked as the JSON body's are; an option given
    twice, or a query with a JSON body, is 400; another Content-Type is 415."""
    csv = "customer\n+8613900100001\n"
    msg = await refused(
        api, 400, data=csv, params={"intent": INTENT, "rate": "0"}, headers={**AUTH, **CSV}
    )
    assert msg.startswith("rate: Input should be greater than 0")
    msg = await refused(api, 400, data=csv, headers={**AUTH, **CSV})
    assert msg.startswith("intent: Field required")
    twice = f"/v1/campaigns?intent={INTENT}&rate=1&rate=2"
    msg = await refused(api, 400, data=csv, headers={**AUTH, **CSV}, path=twice)
    assert msg == "'rate': given twice"
    msg = await refused(api, 400, json=campaign_body(numbers(1)), params={"rate": "1"})
    assert msg.startswith("query parameters go with a CSV body")
    msg = await refused(api, 415, data=csv, headers={**AUTH, "Content-Type": "text/plain"})
    assert "send application/json, or text/csv" in msg
    latin = {**AUTH, "Content-Type": "text/csv; charset=latin-1"}
    assert await refused(api, 415, data=csv, params={"intent": INTENT}, headers=latin)


async def test_too_many_recipients_are_refused(api: Client) -> None:
    """More than MAX_RECIPIENTS recipients, as JSON or as CSV lines, is 413 saying the
    limit; nothing is stored."""
    many = [{"customer": "+8613900100001"}] * (MAX_RECIPIENTS + 1)
    msg = await refused(api, 413, **as_json({"intent": INTENT, "recipients": many}))
    assert msg.startswith(f"{MAX_RECIPIENTS + 1} recipients: a campaign takes at most ")
    csv = io.BytesIO(b"customer\n" + b"+8613900100001\n" * (MAX_RECIPIENTS + 1))
    msg = await refused(api, 413, data=csv, params={"intent": INTENT}, headers={**AUTH, **CSV})
    assert msg.startswith(f"over {MAX_RECIPIENTS} recipients")
    assert await api.app[STORE].campaign_ids() == []


async def test_a_body_over_bot_campaign_max_body_is_413(make_client: AppFactory) -> None:
    """The campaign endpoint takes bodies up to BOT_CAMPAIGN_MAX_BODY, beyond the 64 KiB of
    the other API endpoints, and refuses larger ones: 413, declared or streamed."""
    client: Client = await make_client(api_keys=API_KEY, campaign_max_body=100_000)
    body = campaign_body(numbers(600))
    for r in body["recipients"]:
        r["data"] = {"pad": "x" * 100}
    size = len(json.dumps(body))
    assert 64 * 1024 < size < 100_000
    assert (await created(client, body))["recipients"] == 600
    body["recipients"] += [{"customer": "+8613900200001", "data": {"pad": "x" * 40_000}}]
    msg = await refused(client, 413, **as_json(body))
    assert "at most 100000" in msg

    async def chunks() -> Any:
        yield json.dumps(body).encode()

    msg = await refused(
        client, 413, data=chunks(), headers={**AUTH, **CSV}, params={"intent": INTENT}
    )
    assert msg == "body over 100000 bytes: the limit of this endpoint"


async def test_many_recipients_are_read_in_slices_with_the_event_loop_turning_between() -> None:
    """Reading numbers is CPU work on the event loop: 5,000 recipients are read SLICE at a
    time, and the loop takes a turn between two slices (a ticker counts them)."""
    spec = CampaignSpec(intent=INTENT, business=BUSINESS, quiet=QuietHours.parse("21:00-08:00"))
    entries = [Entry(f"line {i}", f"+{c}") for i, c in enumerate(numbers(5_000), 2)]
    rows, turns = await with_loop_turns(campaign_rows(entries, spec, 0))
    assert len(rows) == 5_000
    assert turns >= 5_000 // SLICE - 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/campaigns"),
        ("GET", "/v1/campaigns"),
        ("GET", "/v1/campaigns/0123456789abcdef"),
        ("GET", "/v1/campaigns/0123456789abcdef/recipients"),
        ("POST", "/v1/campaigns/0123456789abcdef/pause"),
        ("POST", "/v1/campaigns/0123456789abcdef/resume"),
        ("POST", "/v1/campaigns/0123456789abcdef/cancel"),
    ],
)
async def test_every_campaign_endpoint_needs_an_api_key(
    api: Client, method: str, path: str
) -> None:
    """Without a key, or with a wrong one, every campaign endpoint is 401 and reads no body."""
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = await api.request(method, path, headers=headers, json=campaign_body(numbers(1)))
        assert resp.status == 401, await resp.text()
    assert await api.app[STORE].campaign_ids() == []


# -- repeats -----------------------------------------------------------------------------------


async def test_a_repeat_with_the_same_idempotency_key_is_the_same_campaign(api: Client) -> None:
    """The same create with the same Idempotency-Key answers the same campaign with
    `repeat`: true and stores nobody twice; another campaign under the key is 409."""
    body = campaign_body(numbers(3))
    first = await created(api, body, key="dec-reminders")
    again = await created(api, body, key="dec-reminders")
    assert again == {**first, "repeat": True}
    shown = await read(api, f"/v1/campaigns/{first['campaign']}")
    assert (shown["recipients"], shown["counts"]["pending"]) == (3, 3)
    assert await api.app[STORE].campaign_ids() == [first["campaign"]]
    other = campaign_body(numbers(4))
    msg = await refused(api, 409, json=other, headers={**AUTH, "Idempotency-Key": "dec-reminders"})
    assert msg.startswith("Idempotency-Key: used already for another campaign")
    msg = await refused(api, 400, json=body, headers={**AUTH, "Idempotency-Key": "k" * 201})
    assert msg == "Idempotency-Key: at most 200 characters"


async def test_a_repeat_finishes_a_campaign_cut_short_while_it_was_made(api: Client) -> None:
    """A campaign left `creating` with some recipients stored (its request cut short) is
    finished by the same request with its Idempotency-Key: every recipient stored once,
    then running."""
    customers = numbers(3)
    store = api.app[STORE]
    spec = CampaignSpec(intent=INTENT, business=BUSINESS, start_ms=LATER_MS,
                        category=Category.UTILITY)  # fmt: skip
    made = await store.new_campaign(
        "00000000000000cc",
        campaign_to_json(spec),
        created_ms=int(time.time() * 1000),
        total=3,
        key="cut-short",
    )
    conv = ConversationRef("cams", "whatsapp", BUSINESS, customers[0]).id
    await store.add_recipients(made, [(conv, recipient_to_json({}, ""), LATER_MS)])
    shown = await read(api, f"/v1/campaigns/{made}")
    assert (shown["status"], shown["counts"]["pending"]) == ("creating", 1)
    resp = await api.post(f"/v1/campaigns/{made}/resume", headers=AUTH)
    assert resp.status == 409  # not started before it is stored whole

    answer = await created(api, campaign_body(customers), key="cut-short")
    assert answer == {"campaign": made, "status": "running", "recipients": 3, "repeat": True}
    shown = await read(api, f"/v1/campaigns/{made}")
    assert (shown["status"], shown["counts"]["pending"]) == ("running", 3)
    assert set(await stored_recipients(api, made)) == set(customers)


# -- pause, resume, cancel ---------------------------------------------------------------------


async def move(client: Client, campaign: str, action: str, status: int = 200) -> Any:
    resp = await client.post(f"/v1/campaigns/{campaign}/{action}", headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_pause_resume_and_cancel_move_a_campaign_as_allowed(api: Client) -> None:
    """Pause and resume go back and forth (again is fine); cancel counts the pending
    recipients cancelled and is final: resuming or pausing it then is 409."""
    campaign = (await created(api, campaign_body(numbers(4))))["campaign"]
    assert await move(api, campaign, "pause") == {"campaign": campaign, "status": "paused"}
    assert (await move(api, campaign, "pause"))["status"] == "paused"
    assert (await read(api, f"/v1/campaigns/{campaign}"))["status"] == "paused"
    assert await move(api, campaign, "resume") == {"campaign": campaign, "status": "running"}
    assert (await move(api, campaign, "resume"))["status"] == "running"
    assert await move(api, campaign, "cancel") == {
        "campaign": campaign,
        "status": "cancelled",
        "cancelled": 4,
    }
    shown = await read(api, f"/v1/campaigns/{campaign}")
    assert shown["status"] == "cancelled"
    assert shown["counts"] == {
        "pending": 0, "started": 0, "skipped": {}, "cancelled": 4, "erased": 0,
        "carried_over": 0, "sent": 0, "delivered": 0, "read": 0, "replied": 0,
        "opted_out": 0, "opted_out_marketing": 0, "failed": {},
    }  # fmt: skip
    listed = await every_recipient(api, campaign)
    assert [r["status"] for r in listed] == ["cancelled"] * 4
    for action in ("resume", "pause"):
        answer = await move(api, campaign, action, 409)
        assert answer["msg"].startswith("the campaign is cancelled: it cannot be ")
    assert (await move(api, campaign, "cancel"))["cancelled"] == 0
    body = {"now": True}
    resp = await api.post(f"/v1/campaigns/{campaign}/pause", json=body, headers=AUTH)
    assert resp.status == 400


async def test_an_unknown_campaign_is_404(api: Client) -> None:
    """A campaign id of none, or not shaped as one, is 404 at every campaign path."""
    for campaign in ("0123456789abcdef", "not-an-id", "0123456789ABCDEF"):
        for action in ("pause", "resume", "cancel"):
            assert (await move(api, campaign, action, 404))["code"] == 404
        for path in (f"/v1/campaigns/{campaign}", f"/v1/campaigns/{campaign}/recipients"):
            assert (await api.get(path, headers=AUTH)).status == 404


# -- reading -----------------------------------------------------------------------------------


async def test_the_recipients_come_a_page_at_a_time_each_once(api: Client) -> None:
    """Following `next` from the first page to the last lists every recipient exactly once,
    across the partitions; `status` keeps those of one status."""
    customers = numbers(1000)
    body = campaign_body(customers)
    for r in body["recipients"]:  # stored over 64 bytes: a hash Redis scans a part at a time
        r["data"] = {"pad": "x" * 64}
    campaign = (await created(api, body))["campaign"]
    seen: list[str] = []
    pages = 0
    query = {"limit": "50"}
    while True:
        page = await read(api, f"/v1/campaigns/{campaign}/recipients", **query)
        pages += 1
        for r in page["recipients"]:
            assert r == {
                "customer": r["customer"],
                "conversation": f"cams:whatsapp:{BUSINESS}:{r['customer']}",
                "status": "pending",
            }
            seen.append(r["customer"])
        if page["next"] is None:
            break
        query["cursor"] = page["next"]
    assert sorted(seen) == sorted(customers)
    assert pages > api.app[STORE].partitions  # several pages in a partition
    query = {"status": "started", "limit": "1000"}
    while True:
        page = await read(api, f"/v1/campaigns/{campaign}/recipients", **query)
        assert page["recipients"] == []
        if page["next"] is None:
            break
        query["cursor"] = page["next"]
    for bad in ({"status": "sent"}, {"cursor": "9-0"}, {"cursor": "x"}, {"limit": "0"}):
        resp = await api.get(f"/v1/campaigns/{campaign}/recipients", params=bad, headers=AUTH)
        assert resp.status == 400, bad


async def test_campaigns_are_listed_newest_first_a_page_at_a_time(api: Client) -> None:
    """The list pages by cursor, the newest first; campaigns made in the same millisecond
    are each listed once."""
    store = api.app[STORE]
    spec = campaign_to_json(CampaignSpec(intent=INTENT, business=BUSINESS))
    now = int(time.time() * 1000)
    made = [(f"{i:016x}", now if i < 5 else now + i) for i in range(8)]
    for campaign, at in made:
        await store.new_campaign(campaign, spec, created_ms=at, total=0)
    expected = [c for c, _ in sorted(made, key=lambda m: (m[1], m[0]), reverse=True)]
    listed: list[str] = []
    query = {"limit": "2"}
    while True:
        page = await read(api, "/v1/campaigns", **query)
        listed += [c["id"] for c in page["campaigns"]]
        if page["next"] is None:
            break
        query["cursor"] = page["next"]
    assert listed == expected
    everything = await read(api, "/v1/campaigns")
    assert [c["id"] for c in everything["campaigns"]] == expected
    assert everything["next"] is None
    for bad in ({"cursor": "12-nothex"}, {"limit": "201"}):
        assert (await api.get("/v1/campaigns", params=bad, headers=AUTH)).status == 400


async def test_a_campaign_runs_to_done_skipping_who_opted_out(api: Client) -> None:
    """Started now, a campaign's recipients are started by the runtime, but one who opted
    out (STOP), who is skipped with the reason; nobody left pending, it is `done`."""
    out, ok = numbers(2, 8613900300000)
    receipts = f"/cams/receipts?token={RECEIPT_TOKEN}"
    assert (await api.post(receipts, json=[inbound("STOP", customer=out)])).status == 200

    async def opted_out() -> bool:
        resp = await api.get(f"/v1/conversations/cams:whatsapp:{BUSINESS}:{out}", headers=AUTH)
        return resp.status == 200 and (await resp.json())["opted_out"] is True

    await eventually(opted_out)
    body = {**campaign_body([out, ok]), "start_at": 0, "rate": 100}
    campaign = (await created(api, body))["campaign"]

    async def done() -> bool:
        return bool((await read(api, f"/v1/campaigns/{campaign}"))["status"] == "done")

    await eventually(done, within=10)
    shown = await read(api, f"/v1/campaigns/{campaign}")
    sent = shown["counts"].pop("sent")
    assert sent in (0, 1)  # the start's message may still be on its way
    assert shown["counts"] == {
        "pending": 0,
        "started": 1,
        "skipped": {"opted_out": 1},
        "cancelled": 0,
        "erased": 0,
        "carried_over": 0,
        "delivered": 0,
        "read": 0,
        "replied": 0,
        "opted_out": 0,
        "opted_out_marketing": 0,
        "failed": {},
    }
    by_customer = {r["customer"]: r for r in await every_recipient(api, campaign)}
    assert by_customer[ok]["status"] == "started"
    assert by_customer[out]["status"] == "skipped"
    assert by_customer[out]["reason"] == "opted_out"
    skipped = await every_recipient(api, campaign, status="skipped")
    assert [r["customer"] for r in skipped] == [out]
    for action in ("pause", "resume", "cancel"):
        assert (await move(api, campaign, action, 409))["msg"].startswith("the campaign is done")


async def test_what_a_campaign_stores_is_bounded(api: Client) -> None:
    """A CSV of more than 64 columns is refused at its header; a recipient whose data is
    over 4 KiB as stored is refused naming it (413): a body's bytes cannot grow tenfold in
    Redis."""
    header = "customer," + ",".join(f"c{n}" for n in range(64))
    reason = await refused(api, 400, data=f"{header}\n+8613900100000" + "," * 64 + "\n",
                           params={"intent": INTENT}, headers={**AUTH, **CSV})  # fmt: skip
    assert "65 columns" in reason
    big = {"intent": INTENT, "recipients": [
        {"customer": "+8613900100000"}, {"customer": "+8613900100001", "data": {"x": "y" * 5000}},
    ]}  # fmt: skip
    reason = await refused(api, 413, **as_json(big))
    assert "recipients[1]" in reason  # counted from 0, as a JSON path
    assert "4096" in reason


async def test_a_campaigns_category_is_its_first_templates(api: Client) -> None:
    """Without `category`, a campaign is of the category flows.yaml's `templates:` gives
    the template its intent's flow starts with (csat_survey: utility); asking for another
    is refused, naming the template."""
    answer = await created(api, campaign_body(numbers(1, 8613900600000)))
    assert (await read(api, f"/v1/campaigns/{answer['campaign']}"))["category"] == "utility"
    resp = await api.post("/v1/campaigns", **as_json(
        campaign_body(numbers(1, 8613900600010), category="marketing")
    ))  # fmt: skip
    assert resp.status == 400
    assert "starts with template `csat_survey`, which is utility" in (await resp.json())["msg"]
