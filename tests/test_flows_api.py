"""The flows through the operators' API, against a real redis-server: each flow's machine
with its counts, which equal what the engine did for a known mix of paths taken through
signed callbacks, in every process (the counts live in Redis)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.store import FlowCount
from bot.web.flows import MAX_WINDOW_HOURS, flow_figures
from tests.conftest import AppFactory
from tests.console_support import TOKEN, sign_in
from tests.support import RECEIPT_TOKEN, CamsServer, catalog_of, eventually, inbound

pytestmark = pytest.mark.both_redis  # a single Redis and a local Redis Cluster

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API_KEY = "operator-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
FLOWS = """
defaults:
  inbound_flow: visit
flows:
  visit:
    start: ask
    states:
      ask:
        say: "Reply 1 to confirm, 2 to cancel."
        options:
          - {label: Confirm, go: confirmed}
          - {label: Cancel, go: cancelled}
        reprompt: "Please reply 1 or 2."
      confirmed: {say: "Confirmed."}
      cancelled: {say: "Cancelled."}
"""


async def flow_of(client: TestClient[Any, Any], name: str = "visit", **query: str) -> Any:
    resp = await client.get(f"/v1/flows/{name}", params=query, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_the_counts_are_what_the_engine_did(
    make_client: AppFactory, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """Three customers: one confirms, one answers wrongly then cancels, one has not
    answered yet. Each state's entries, exits and conversations standing in it, and each
    transition's count, are those."""
    client = await make_client(
        api_keys=API_KEY, console_tokens=TOKEN, catalog_=catalog_of(tmp_path, FLOWS)
    )
    paths = {"8613900000001": ["hi", "1"], "8613900000002": ["hi", "maybe", "2"],
             "8613900000003": ["hi"]}  # fmt: skip
    sent = 0
    for step in range(3):
        batch = [inbound(texts[step], customer=c, message_id=f"{c}-{step}")
                 for c, texts in paths.items() if step < len(texts)]  # fmt: skip
        assert (await client.post(RECEIPTS, json=batch)).status == 200
        sent += len(batch)
        await fake_cams.recorder.wait_for(sent)

    body = await flow_of(client)
    states = {s["name"]: s for s in body["states"]}
    assert states["ask"]["entered"] == 3
    assert states["ask"]["exits"] == {"no_match": 1, "timeout": 0, "error": 0}
    assert states["ask"]["now"] == 1  # the third customer, still asked
    assert states["ask"]["start"] is True
    assert [s["name"] for s in body["states"] if s["final"]] == ["confirmed", "cancelled"]
    assert not any(s["dropoff"] for s in body["states"])  # a no-match is no drop-off
    assert (states["confirmed"]["entered"], states["cancelled"]["entered"]) == (1, 1)
    # A flow's last state keeps the conversations that ended there.
    assert (states["confirmed"]["now"], states["cancelled"]["now"]) == (1, 1)
    moves = {(t["from"], t["to"]): t["count"] for t in body["transitions"]}
    assert moves == {("ask", "confirmed"): 1, ("ask", "cancelled"): 1}
    assert body["now_complete"] is True

    resp = await client.get("/v1/flows", headers=AUTH)
    assert resp.status == 200
    [summary] = (await resp.json())["flows"]
    assert (summary["name"], summary["entered"], summary["moves"], summary["now"]) == (
        "visit", 5, 2, 3,
    )  # fmt: skip
    assert summary["exits"]["no_match"] == 1

    # The console's diagram draws the same counts.
    await sign_in(client)
    page = await (await client.get("/console/flows/visit")).text()
    drawn = re.findall(r'data-from="(\w+)" data-to="(\w+)">.*?class="edge-count"> \xd7(\d+)<', page,
                       flags=re.S)  # fmt: skip
    assert {(a, b): int(n) for a, b, n in drawn} == moves


async def test_refusals_are_clear(make_client: AppFactory, tmp_path: Path) -> None:
    client = await make_client(api_keys=API_KEY, catalog_=catalog_of(tmp_path, FLOWS))
    assert (await client.get("/v1/flows")).status == 401
    assert (await client.get("/v1/flows/visit")).status == 401
    assert (await client.get("/v1/flows/nope", headers=AUTH)).status == 404
    for hours in ("0", str(MAX_WINDOW_HOURS + 1), "x", "1.5", "²"):
        resp = await client.get("/v1/flows/visit", params={"hours": hours}, headers=AUTH)
        assert resp.status == 400, hours
    body = await flow_of(client, hours="1")
    assert body["hours"] == 1
    assert all(t["count"] == 0 for t in body["transitions"])


async def test_counts_wait_for_the_steps(make_client: AppFactory, tmp_path: Path) -> None:
    """A message not yet stepped counts nothing; once stepped, the start is counted."""
    client = await make_client(api_keys=API_KEY, catalog_=catalog_of(tmp_path, FLOWS))
    assert (await client.post(RECEIPTS, json=[inbound("hi")])).status == 200

    async def entered() -> bool:
        states = {s["name"]: s for s in (await flow_of(client))["states"]}
        return bool(states["ask"]["entered"] == 1)

    await eventually(entered)


def test_dropoffs_are_states_left_unfinished(tmp_path: Path) -> None:
    """A state is a dropoff when it is not final and conversations left it by a timeout or
    an error in the window; a no-match alone, or a final state, is not one."""
    flow = catalog_of(tmp_path, FLOWS).flows["visit"]

    def dropoffs(exits: dict[tuple[str, str], int]) -> list[str]:
        counts: Counter[FlowCount] = Counter(
            {("x", "visit", state, exit_): n for (state, exit_), n in exits.items()}
        )
        return [s["name"] for s in flow_figures(flow, counts, Counter())["states"] if s["dropoff"]]

    assert dropoffs({}) == []
    assert dropoffs({("ask", "no_match"): 5}) == []
    assert dropoffs({("ask", "timeout"): 1}) == ["ask"]
    assert dropoffs({("ask", "error"): 2, ("confirmed", "error"): 3}) == ["ask"]
    figures = flow_figures(flow, Counter(), Counter())
    assert {s["name"]: s["final"] for s in figures["states"]} == {
        "ask": False, "confirmed": True, "cancelled": True,
    }  # fmt: skip
