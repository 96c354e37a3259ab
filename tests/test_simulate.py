"""The simulator of `bot test`: a fake clock that fires timers, canned HTTP answers, what an
opted-out customer gets, and the moves coverage counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.flows.tools.simulate import START_MS, CannedHttp, Simulator, UnansweredCall
from tests.flowtest_support import FOUND, shop_catalog
from tests.support import ROOT


@pytest.fixture
def shop(tmp_path: Path) -> CompiledCatalog:
    """The small shop catalog of tests.flowtest_support."""
    return shop_catalog(tmp_path)


def test_wait_fires_due_timers_in_order_at_their_due_time(shop: CompiledCatalog) -> None:
    """Moving the clock fires reminders, then the timeout, each at its due time."""
    sim = Simulator(shop)
    sim.start_flow("shop")
    assert sim.wait(9 * 60) == []
    replies = sim.wait(2 * 3600)
    assert [r.text for r in replies] == ["Still there?", "Last call.", "Bye"]
    due = [s.at_ms - START_MS for s in sim.outbox[1:]]
    assert due == [10 * 60_000, 30 * 60_000, 3600_000]
    assert sim.conv.state == "gone"
    assert sim.now_ms == START_MS + 9 * 60_000 + 2 * 3600_000


def test_each_step_bumps_the_version_and_customer_messages_open_the_window(
    shop: CompiledCatalog,
) -> None:
    """Like the store, the simulator bumps the version per step; inbound sets the window."""
    sim = Simulator(shop, http=(FOUND,))
    sim.say("hi")
    sim.wait(60)
    sim.say("A1")
    assert sim.conv.version == 3  # hi, A1, the call's answer
    assert sim.conv.last_inbound_ms == START_MS + 60_000


def test_canned_http_answers_calls_at_once(shop: CompiledCatalog) -> None:
    """A call is answered by the first canned answer matching method and URL (or ~regex)."""
    answers = (
        FOUND,
        CannedHttp("GET", "~/orders/B", 404),
        CannedHttp("GET", "~/orders/S", timeout=True),
    )
    said = {}
    for order in ("A1", "B2", "S3"):
        sim = Simulator(shop, http=answers)
        sim.say("hi")
        said[order] = [r.text for r in sim.say(order)]
        assert sim.calls[0].url == f"http://api.test/orders/{order}"
    assert said == {"A1": ["Order A1: packed"], "B2": ["No order B2"], "S3": ["Slow"]}


def test_an_unmatched_call_names_the_call(shop: CompiledCatalog) -> None:
    """A call without a canned answer raises, naming the method, URL and what is canned."""
    sim = Simulator(shop, http=(FOUND,))
    sim.say("hi")
    with pytest.raises(UnansweredCall) as e:
        sim.say("Z9")
    assert "GET http://api.test/orders/Z9" in str(e.value)
    assert "GET http://api.test/orders/A1 -> 200" in str(e.value)


def test_nothing_reaches_an_opted_out_customer(shop: CompiledCatalog) -> None:
    """After STOP only the system confirmation is sent; even a flow started directly is not."""
    sim = Simulator(shop)
    sim.say("hi")
    assert [r.system for r in sim.say("stop")] == [True]
    assert sim.start_flow("pick") == []
    assert sim.outbox[-1].reply.system


def test_coverage_attributes_moves_to_flows(shop: CompiledCatalog) -> None:
    """Moves and entered states are recorded per flow, including a queued flow's start."""
    sim = Simulator(shop, http=(FOUND,))
    sim.say("hi")
    sim.trigger("pick_start")
    sim.say("A1")
    assert ("pick", "__idle__", "__start__", "choose") in sim.moves
    assert ("shop", "lookup", "call:lookup:success", "found") in sim.moves
    assert {s for f, s in sim.entered if f == "shop"} == {"ask", "lookup", "found"}


def test_an_operators_restart_enters_the_start_state_and_is_no_move(
    shop: CompiledCatalog,
) -> None:
    """`restart()` sends the start state's message again; coverage counts the start state
    entered and no move of the machine for it."""
    sim = Simulator(shop)
    sim.say("hi")
    moves = set(sim.moves)
    sim.entered.clear()
    assert [r.text for r in sim.restart()] == ["Order number?"]
    assert sim.moves == moves
    assert sim.entered == {("shop", "ask")}


def test_one_time_codes_are_predictable() -> None:
    """The k-th code of a test counts up from k: 123456, then 234567."""
    catalog = compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents"))
    sim = Simulator(catalog)
    sim.say("hi")
    sim.say("2")
    assert sim.outbox[-1].reply.template is not None
    assert sim.outbox[-1].reply.template.params["code"] == "123456"
    sim.wait(30)
    sim.say("resend")
    assert sim.outbox[-1].reply.template.params["code"] == "234567"
