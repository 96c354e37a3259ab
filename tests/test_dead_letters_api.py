"""The dead letters through the operators' API, against a real redis-server and the fake
CAMS: listed oldest first a page at a time, retried (the reply goes out with its task id),
dropped; every refusal a clear 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.web.operators import MAX_DEAD_PAGE
from tests.conftest import AppFactory
from tests.support import RECEIPT_TOKEN, CamsServer, eventually, inbound

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API_KEY = "operator-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def listed(client: TestClient[Any, Any], **query: str) -> Any:
    resp = await client.get("/v1/dead-letters", params=query, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def given_up(
    client: TestClient[Any, Any], fake_cams: CamsServer, customers: list[str]
) -> list[dict[str, Any]]:
    """The replies to `customers` (one each) given up after their one attempt: their dead
    letters."""
    fake_cams.recorder.fail_next(503, "ServiceUnavailable", times=len(customers))
    items = [inbound("hi", customer=c) for c in customers]
    assert (await client.post(RECEIPTS, json=items)).status == 200

    async def all_dead() -> bool:
        return bool((await listed(client))["total"] == len(customers))

    await eventually(all_dead)
    body = await listed(client)
    letters: list[dict[str, Any]] = body["dead_letters"]
    return letters


async def test_a_reply_given_up_is_listed_retried_and_sent(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    client = await make_client(api_keys=API_KEY, send_attempts=1)
    [letter] = await given_up(client, fake_cams, ["8613900000001"])
    assert letter["kind"] == "out"
    assert letter["conversation"].endswith(":8613900000001")
    assert "ServiceUnavailable" in letter["why"]
    assert letter["task"]

    resp = await client.post(f"/v1/dead-letters/{letter['id']}/retry", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"id": letter["id"], "retried": "out"}
    [sent] = await fake_cams.recorder.wait_for(1)
    assert sent["TaskId"] == letter["task"]
    assert (await listed(client))["total"] == 0
    again = await client.post(f"/v1/dead-letters/{letter['id']}/retry", headers=AUTH)
    assert again.status == 404


async def test_a_dead_letter_is_dropped_once(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    client = await make_client(api_keys=API_KEY, send_attempts=1)
    [letter] = await given_up(client, fake_cams, ["8613900000002"])
    resp = await client.delete(f"/v1/dead-letters/{letter['id']}", headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"id": letter["id"], "dropped": True}
    assert (await listed(client))["total"] == 0
    assert (await client.delete(f"/v1/dead-letters/{letter['id']}", headers=AUTH)).status == 404
    assert fake_cams.recorder.messages == []


async def test_pages_of_dead_letters_follow_each_other_oldest_first(
    make_client: AppFactory, fake_cams: CamsServer
) -> None:
    """Dead letters of several partitions, a page of one at a time: each once, in order."""
    client = await make_client(api_keys=API_KEY, send_attempts=1)
    customers = [f"86139000000{n:02d}" for n in range(10, 16)]
    everyone = await given_up(client, fake_cams, customers)
    seen, cursor = [], ""
    while True:
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await listed(client, **query)
        assert page["total"] == len(customers)
        seen += [d["id"] for d in page["dead_letters"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [d["id"] for d in everyone]
    assert len(set(seen)) == len(customers)
    assert len({d.split("-")[0] for d in seen}) > 1  # more than one partition


async def test_refusals_are_clear(make_client: AppFactory) -> None:
    """No key: 401; an id that is not one, or of no dead letter: 404; a cursor or limit
    the API never gave: 400."""
    client = await make_client(api_keys=API_KEY)
    assert (await client.get("/v1/dead-letters")).status == 401
    assert (await client.post("/v1/dead-letters/0-1-1/retry")).status == 401
    assert (await client.delete("/v1/dead-letters/0-1-1")).status == 401
    for bad in ("x", "1-2", "0-1-1", "99-1-1", "1-2-3-4", "\u0661-1-1", "0-1-" + "9" * 40):
        assert (await client.post(f"/v1/dead-letters/{bad}/retry", headers=AUTH)).status == 404
        assert (await client.delete(f"/v1/dead-letters/{bad}", headers=AUTH)).status == 404
    refused = (
        {"cursor": "x"}, {"cursor": "1-2"}, {"limit": "0"}, {"limit": str(MAX_DEAD_PAGE + 1)},
        {"limit": "²"},
    )  # fmt: skip
    for query in refused:
        resp = await client.get("/v1/dead-letters", params=query, headers=AUTH)
        assert resp.status == 400, query
    assert (await listed(client)) == {"total": 0, "dead_letters": [], "next": None}
