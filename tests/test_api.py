"""The business API (/v1/...) through the real app factory, real Redis and the fake CAMS:
authentication, validation, intents with idempotency and policies, reading a conversation,
an agent's messages and an operator's restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.flows.compiler import CompiledCatalog
from bot.web.keys import STORE
from tests.conftest import AppFactory
from tests.support import BUSINESS, RECEIPT_TOKEN, CamsServer, catalog_of, eventually, inbound

API_KEY = "api-key-2"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CUSTOMER = "8613900000601"
CONV = f"cams:whatsapp:{BUSINESS}:{CUSTOMER}"
RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"

# The tests' own flows, independent of the example flows.yaml.
FLOWS = """
flows:
  survey:
    start: ask
    states:
      ask:
        say: "Rate us from 1 to 5."
        collect: {slot: rating, type: integer, min: 1, max: 5, go: thanks}
      thanks: {say: "Thanks for your {{ rating }}."}
  promo:
    start: offer
    data: {item: socks}
    states:
      offer: {say: "Deal of the day: {{ item }}."}
"""
INTENTS = {
    "survey": "start: survey\n",
    "promo": "start: promo\n",
    "nag": "start: promo\npolicy: reject\n",
}
ASK = "Rate us from 1 to 5."


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> CompiledCatalog:
    """Replaces the example catalog for every app of this module."""
    intents = {
        f"{code}.yaml": f"code: {code}\nname: {code}\n{body}" for code, body in INTENTS.items()
    }
    return catalog_of(tmp_path_factory.mktemp("api-flows"), FLOWS, intents)


@pytest.fixture
async def api(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(api_keys=f"api-key-1,{API_KEY}")


async def post_intent(
    client: TestClient[Any, Any],
    code: str,
    body: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
) -> tuple[int, Any]:
    headers = dict(AUTH)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.post(
        f"/v1/intents/{code}", json={"customer": CUSTOMER, **(body or {})}, headers=headers
    )
    return resp.status, await resp.json()


def said(fake_cams: CamsServer) -> list[str]:
    return [json.loads(m["Content"])["text"] for m in fake_cams.recorder.messages]


async def stored(client: TestClient[Any, Any]) -> tuple[Any, ...]:
    """Everything a request could have stored: seen markers, conversations, inbox entries."""
    store = client.app[STORE]
    seen = sorted([k async for k in store.redis.scan_iter(match="*:seen:*")])
    convs = {k: await store.redis.hgetall(k) async for k in store.redis.scan_iter(match="*:c:*")}
    inbox = [await store.redis.xlen(store.keys(p).inbox) for p in range(store.partitions)]
    return seen, convs, inbox


async def state_of(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.get(f"/v1/conversations/{CONV}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def quiet(fake_cams: CamsServer, count: int, seconds: float = 0.4) -> None:
    await asyncio.sleep(seconds)
    assert len(fake_cams.recorder.messages) == count, said(fake_cams)


# -- refusals --------------------------------------------------------------------------------


async def test_every_endpoint_needs_a_valid_api_key(api: TestClient[Any, Any]) -> None:
    """Without a key, with a wrong one or another scheme: 401, and nothing is stored."""
    before = await stored(api)
    calls = [
        ("POST", "/v1/intents/survey", {"customer": CUSTOMER}),
        ("GET", f"/v1/conversations/{CONV}", None),
        ("POST", f"/v1/conversations/{CONV}/resume", {}),
        ("POST", f"/v1/conversations/{CONV}/restart", {}),
        ("POST", f"/v1/conversations/{CONV}/messages", {"text": "hi"}),
    ]
    for header in (None, "Bearer wrong", f"Basic {API_KEY}", "Bearer ", API_KEY):
        headers = {"Authorization": header} if header is not None else {}
        for method, path, body in calls:
            resp = await api.request(method, path, json=body, headers=headers)
            assert resp.status == 401, (header, path)
            assert (await resp.json())["code"] == 401
    assert await stored(api) == before


async def test_an_unknown_intent_code_is_404(api: TestClient[Any, Any]) -> None:
    """An intent code the catalog lacks answers 404 naming the known ones."""
    before = await stored(api)
    status, body = await post_intent(api, "nope")
    assert status == 404
    assert "nag, promo, survey" in body["msg"]
    assert await stored(api) == before


BAD_BODIES = [
    (b"{not json", "body"),
    (b"[]", "body"),
    (b"{}", "customer"),
    (b'{"customer": ""}', "customer"),
    (b'{"customer": "not a number!"}', "customer"),
    (b'{"customer": "86139:0001"}', "customer"),
    (b'{"customer": "8613900000601", "colour": "red"}', "colour"),
    (b'{"customer": "8613900000601", "policy": "sometimes"}', "policy"),
    (b'{"customer": "8613900000601", "data": [1, 2]}', "data"),
    (b'{"customer": "8613900000601", "channel": "what app"}', "channel"),
]


async def test_a_bad_body_is_400_and_stores_nothing(api: TestClient[Any, Any]) -> None:
    """Invalid JSON, a missing or invalid customer, or an unknown field: 400 naming it."""
    before = await stored(api)
    for raw, where in BAD_BODIES:
        resp = await api.post(
            "/v1/intents/survey", data=raw, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert resp.status == 400, raw
        assert (await resp.json())["msg"].startswith(where), raw
    assert await stored(api) == before


async def test_an_overlong_idempotency_key_is_400(api: TestClient[Any, Any]) -> None:
    """An Idempotency-Key over 200 characters is refused before anything is stored."""
    before = await stored(api)
    status, body = await post_intent(api, "survey", key="k" * 201)
    assert status == 400
    assert body["msg"].startswith("Idempotency-Key")
    assert await stored(api) == before


# -- intents ---------------------------------------------------------------------------------


async def test_a_trigger_is_accepted_with_its_conversation_id(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """202 with the conversation's id (the number normalized); the flow starts."""
    status, body = await post_intent(api, "survey", {"customer": "+86 139-0000-0601"})
    assert status == 202
    assert body == {"conversation": CONV, "status": "accepted", "repeat": False}
    [message] = await fake_cams.recorder.wait_for(1)
    assert message["To"] == CUSTOMER
    assert said(fake_cams) == [ASK]


async def test_the_same_idempotency_key_starts_once(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """A trigger repeated with its Idempotency-Key is answered `repeat: true` and not run."""
    first = await post_intent(api, "promo", key="order-77")
    second = await post_intent(api, "promo", key="order-77")
    assert first == (202, {"conversation": CONV, "status": "accepted", "repeat": False})
    assert second == (202, {"conversation": CONV, "status": "accepted", "repeat": True})
    await fake_cams.recorder.wait_for(1)
    await quiet(fake_cams, 1)
    assert (await state_of(api))["version"] == 1


async def test_policy_reject_refuses_while_in_a_flow(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """`reject` answers 409 mid-flow and stores nothing; after the flow it starts."""
    assert (await post_intent(api, "survey", key="s1"))[0] == 202
    await fake_cams.recorder.wait_for(1)
    before = await stored(api)
    status, body = await post_intent(api, "nag", key="n1")
    assert status == 409
    assert "policy is `reject`" in body["msg"]
    assert (await post_intent(api, "promo", {"policy": "reject"}))[0] == 409
    # A retry of the trigger that started the flow is a repeat, not a refusal.
    assert await post_intent(api, "survey", {"policy": "reject"}, key="s1") == (
        202,
        {"conversation": CONV, "status": "accepted", "repeat": True},
    )
    assert await stored(api) == before

    resp = await api.post(RECEIPTS, json=[inbound("4", customer=CUSTOMER)])
    assert resp.status == 200
    await fake_cams.recorder.wait_for(2)
    assert (await post_intent(api, "nag", key="n1"))[0] == 202
    await fake_cams.recorder.wait_for(3)
    assert said(fake_cams) == [ASK, "Thanks for your 4.", "Deal of the day: socks."]


async def test_policy_queue_starts_after_the_current_flow(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """`queue` waits for the current flow to end, then starts."""
    await post_intent(api, "survey")
    await fake_cams.recorder.wait_for(1)
    status, _ = await post_intent(api, "promo", {"policy": "queue", "data": {"item": "hats"}})
    assert status == 202

    async def queued() -> bool:
        return (await state_of(api))["queued"] == ["promo"]

    await eventually(queued, within=3.0)
    await quiet(fake_cams, 1, seconds=0.2)
    resp = await api.post(RECEIPTS, json=[inbound("5", customer=CUSTOMER)])
    assert resp.status == 200
    await fake_cams.recorder.wait_for(3)
    assert said(fake_cams) == [ASK, "Thanks for your 5.", "Deal of the day: hats."]
    state = await state_of(api)
    assert (state["flow"], state["state"], state["queued"]) == ("promo", "offer", [])


async def test_policy_replace_restarts_at_once(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """`replace` leaves the current flow and starts the new one right away."""
    await post_intent(api, "survey")
    await fake_cams.recorder.wait_for(1)
    assert (await post_intent(api, "promo", {"policy": "replace"}))[0] == 202
    await fake_cams.recorder.wait_for(2)
    assert said(fake_cams) == [ASK, "Deal of the day: socks."]
    state = await state_of(api)
    assert (state["flow"], state["state"]) == ("promo", "offer")


# -- conversations ---------------------------------------------------------------------------


async def test_get_conversation_shows_where_it_stands(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """An unknown or malformed id is 404; a known one shows flow, state, version and data."""
    for path in (f"/v1/conversations/{CONV}", "/v1/conversations/nonsense"):
        resp = await api.get(path, headers=AUTH)
        assert resp.status == 404
    await post_intent(api, "survey")
    await fake_cams.recorder.wait_for(1)
    assert await state_of(api) == {
        "conversation": CONV,
        "flow": "survey",
        "state": "ask",
        "version": 1,
        "data": {},
        "opted_out": False,
        "marketing_opted_out": False,
        "handoff": None,
        "queued": [],
        "last_inbound_ms": None,
    }
    resp = await api.post(RECEIPTS, json=[inbound("3", customer=CUSTOMER)])
    assert resp.status == 200
    await fake_cams.recorder.wait_for(2)
    state = await state_of(api)
    assert (state["state"], state["version"], state["data"]) == ("thanks", 2, {"rating": 3})
    assert state["last_inbound_ms"] > 0


async def test_an_agent_message_is_sent_inside_the_window_only(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """An agent's text reaches a customer who wrote within 24 hours, and nobody else."""
    # Outside the window: the customer never wrote, the business started the conversation.
    await post_intent(api, "survey")
    await fake_cams.recorder.wait_for(1)
    resp = await api.post(
        f"/v1/conversations/{CONV}/messages", json={"text": "Hello from Ana."}, headers=AUTH
    )
    assert resp.status == 202

    async def version_2() -> bool:
        return (await state_of(api))["version"] == 2

    await eventually(version_2, within=3.0)
    await quiet(fake_cams, 1)

    # Inside the window: the customer has just written.
    resp = await api.post(RECEIPTS, json=[inbound("3", customer=CUSTOMER)])
    assert resp.status == 200
    await fake_cams.recorder.wait_for(2)
    resp = await api.post(
        f"/v1/conversations/{CONV}/messages", json={"text": "Hello from Ana."}, headers=AUTH
    )
    assert resp.status == 202
    assert (await resp.json())["conversation"] == CONV
    await fake_cams.recorder.wait_for(3)
    assert said(fake_cams) == [ASK, "Thanks for your 3.", "Hello from Ana."]


async def test_agent_messages_and_resume_refuse_bad_bodies(api: TestClient[Any, Any]) -> None:
    """An empty text, an unknown field or a malformed conversation id store nothing."""
    before = await stored(api)
    for path, body, status in (
        (f"/v1/conversations/{CONV}/messages", {"text": ""}, 400),
        (f"/v1/conversations/{CONV}/messages", {"text": "hi", "to": "x"}, 400),
        (f"/v1/conversations/{CONV}/resume", {"go": "ask", "now": True}, 400),
        ("/v1/conversations/nonsense/messages", {"text": "hi"}, 404),
        ("/v1/conversations/a:b:c:d!/resume", {}, 404),
        (f"/v1/conversations/{CONV}/restart", {"go": "ask"}, 400),
        ("/v1/conversations/a:b:c:d!/restart", {}, 404),
    ):
        resp = await api.post(path, json=body, headers=AUTH)
        assert resp.status == status, (path, body)
    assert await stored(api) == before


# -- restart ---------------------------------------------------------------------------------

RESTART = f"/v1/conversations/{CONV}/restart"


async def test_a_restart_sends_the_start_message_again_and_the_history_says_so(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """A restart is answered 202; the flow's start message reaches the customer again, its
    data back to the flow's defaults; the history shows a step `restarted`."""
    await post_intent(api, "survey", {"data": {"who": "Ana"}})
    await fake_cams.recorder.wait_for(1)
    resp = await api.post(RESTART, headers=AUTH)  # no body: as `{}`
    assert resp.status == 202, await resp.text()
    assert await resp.json() == {"conversation": CONV, "status": "accepted", "repeat": False}
    await fake_cams.recorder.wait_for(2)
    assert said(fake_cams) == [ASK, ASK]
    state = await state_of(api)
    assert (state["flow"], state["state"], state["data"]) == ("survey", "ask", {})

    resp = await api.get(f"/v1/conversations/{CONV}/history", headers=AUTH)
    assert resp.status == 200
    steps = [e for e in (await resp.json())["entries"] if e["kind"] == "step"]
    assert [s["outcome"] for s in steps] == ["started", "restarted"]
    last = steps[-1]
    assert last["event"]["t"] == "restart"
    assert (last["from_state"], last["to_state"]) == ("survey/ask", "survey/ask")
    assert [r["text"] for r in last["replies"]] == [ASK]


async def test_a_restart_repeated_with_its_idempotency_key_restarts_once(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """The same Idempotency-Key twice: the second is `repeat: true` and sends nothing."""
    await post_intent(api, "survey")
    await fake_cams.recorder.wait_for(1)
    headers = {**AUTH, "Idempotency-Key": "restart-1"}
    first = await api.post(RESTART, json={}, headers=headers)
    second = await api.post(RESTART, json={}, headers=headers)
    assert (first.status, (await first.json())["repeat"]) == (202, False)
    assert (second.status, (await second.json())["repeat"]) == (202, True)
    await fake_cams.recorder.wait_for(2)
    await quiet(fake_cams, 2)
    assert (await state_of(api))["version"] == 2


async def test_a_restart_of_an_unknown_conversation_is_404(api: TestClient[Any, Any]) -> None:
    """A conversation that never stepped: 404, and nothing is stored."""
    before = await stored(api)
    resp = await api.post(RESTART, json={}, headers=AUTH)
    assert resp.status == 404
    assert "no such conversation" in (await resp.json())["msg"]
    assert await stored(api) == before


async def test_a_restart_counts_as_an_entry_of_the_start_state_not_as_a_move(
    api: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """The flows' counts: the start state entered once more, no transition taken."""
    await post_intent(api, "survey")
    await fake_cams.recorder.wait_for(1)
    assert (await api.post(RESTART, headers=AUTH)).status == 202
    await fake_cams.recorder.wait_for(2)

    async def entered_twice() -> bool:
        resp = await api.get("/v1/flows/survey", headers=AUTH)
        states = {s["name"]: s for s in (await resp.json())["states"]}
        return bool(states["ask"]["entered"] == 2)

    await eventually(entered_twice, within=3.0)
    resp = await api.get("/v1/flows/survey", headers=AUTH)
    assert [t["count"] for t in (await resp.json())["transitions"]] == [0]
