"""`bot test`: the simulator (fake clock, timers, canned HTTP), the YAML conversation tests
(passing, failing with file:line, bad files) and the coverage report, on a small catalog
written here and on the example flows with flow_tests/."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import SpecError
from bot.flows import flowtest
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.flowtest import (
    FlowTestResult,
    format_coverage,
    load_tests,
    machine_transitions,
    measure,
    run_cli,
    run_tests,
)
from bot.flows.loader import load_catalog
from bot.flows.tools.simulate import START_MS, CannedHttp, Simulator, UnansweredCall
from tests.support import ROOT

SHOP_FLOWS = """\
    defaults:
      inbound_flow: shop
      agent: {webhook: "http://agent.test/hook"}
    flows:
      shop:
        start: ask
        states:
          ask:
            say: Order number?
            collect: {slot: order, type: text, go: lookup}
            remind:
              - {after: 10m, say: Still there?}
              - {after: 30m, say: Last call.}
            timeout: {after: 1h, go: gone}
          lookup:
            call:
              method: GET
              url: "http://api.test/orders/{{ order }}"
              save: {status: body.status}
              success: found
              failure: missing
              on_timeout: slow
          found: {say: "Order {{ order }}: {{ status }}"}
          missing: {say: "No order {{ order }}"}
          slow: {say: Slow}
          gone: {say: Bye}
      pick:
        start: choose
        states:
          choose:
            say: Pick one
            buttons: true
            options:
              - {label: Red, payload: RED, go: done}
              - {label: Blue, payload: BLUE, go: done}
          done: {say: "Done"}
    """
SHOP_INTENTS = {
    "shop_start": "code: shop_start\nname: Shop\nstart: shop\n",
    "pick_start": "code: pick_start\nname: Pick\nstart: pick\npolicy: queue\n",
}
FOUND = CannedHttp("GET", "http://api.test/orders/A1", 200, {"status": "packed"})


@pytest.fixture
def shop(tmp_path: Path) -> CompiledCatalog:
    (tmp_path / "flows.yaml").write_text(textwrap.dedent(SHOP_FLOWS))
    intents = tmp_path / "intents"
    intents.mkdir()
    for code, text in SHOP_INTENTS.items():
        (intents / f"{code}.yaml").write_text(text)
    return compile_catalog(load_catalog(tmp_path / "flows.yaml", intents))


def write(tmp_path: Path, text: str, name: str = "shop.yaml") -> Path:
    path = tmp_path / "tests" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run(tmp_path: Path, catalog: CompiledCatalog, text: str) -> list[FlowTestResult]:
    return run_tests(load_tests([write(tmp_path, text)], catalog), catalog)


def only_failure(results: list[FlowTestResult]) -> str:
    failures = [r.failure for r in results if r.failure is not None]
    assert len(failures) == 1, failures
    return failures[0]


# -- the simulator --------------------------------------------------------------------------


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


# -- conversation tests ---------------------------------------------------------------------


def test_a_passing_test(shop: CompiledCatalog, tmp_path: Path) -> None:
    """Acting and expecting steps of every kind pass on a conversation that matches."""
    results = run(
        tmp_path,
        shop,
        """\
        http:
          - {method: GET, url: "http://api.test/orders/A1", json: {status: packed}}
        tests:
          - name: lookup
            customer: "+8613900000099"
            steps:
              - say: hi
              - bot: Order number?
              - state: {flow: shop, state: ask}
              - wait: 10m
              - bot: {contains: Still}
              - say: A1
              - bot: {text: "Order A1: packed"}
              - slots: {order: A1, status: packed, missing: null}
              - ended: true
              - no_reply: true
          - name: buttons
            steps:
              - trigger: pick_start
              - bot: {text: Pick one, buttons: [Red, Blue]}
              - tap: BLUE
              - bot: Done
              - {state: done, flow: pick}
          - name: an agent
            steps:
              - say: hi
              - skip: all
              - say: agent
              - bot: {matches: "^Connecting"}
              - say: help me
              - forwarded: help me
              - agent: Hi, Ana here
              - bot: Hi, Ana here
              - resume: {}
              - bot: [{contains: Thanks}, Order number?]
        """,
    )
    assert [r.failure for r in results] == [None, None, None]


def test_a_wrong_reply_names_file_line_step_expected_and_got(
    shop: CompiledCatalog, tmp_path: Path
) -> None:
    """A failing `bot:` says where (file:line, test, step) and what came instead."""
    failure = only_failure(
        run(
            tmp_path,
            shop,
            """\
            tests:
              - name: greeting
                steps:
                  - say: hi
                  - bot: Order number, please?
            """,
        )
    )
    path = tmp_path / "tests" / "shop.yaml"
    assert failure.startswith(f"{path}:5: test `greeting`, step 2 (bot): expected")
    assert "'Order number, please?'" in failure
    assert "got 'Order number?'" in failure


def test_messages_must_be_checked_before_acting_and_at_the_end(
    shop: CompiledCatalog, tmp_path: Path
) -> None:
    """Unchecked messages fail at the next acting step and at the test's end."""
    results = run(
        tmp_path,
        shop,
        """\
        tests:
          - name: before
            steps:
              - say: hi
              - wait: 10m
          - name: after
            steps:
              - say: hi
        """,
    )
    before, after = (r.failure for r in results)
    assert before is not None
    assert after is not None
    assert ":5: test `before`, step 2 (wait): 1 message not checked before this `wait`" in before
    assert "'Order number?'; check it with `bot:` or pass over with `skip: 1`" in before
    assert ":8: test `after`, after the last step: 1 message not checked at the end" in after


@pytest.mark.parametrize(
    ("steps", "line", "message"),
    [
        ("- say: hi\n- no_reply: true", 5, "expected no more messages, got 'Order number?'"),
        ("- say: hi\n- skip: 1\n- bot: Bye", 6, "but no message is left to check"),
        (
            "- say: hi\n- skip: 1\n- state: gone",
            6,
            "expected state gone, but the conversation is in shop.ask; last outcome: started",
        ),
        ("- say: hi\n- skip: 1\n- slots: {order: A1}", 6, "order is not set, expected 'A1'"),
        ("- say: hi\n- skip: 1\n- ended: true", 6, "expected the conversation ended"),
        ("- say: hi\n- skip: 1\n- tap: RED", 6, "no message offered a button with payload 'RED'"),
        ("- say: hi\n- skip: 1\n- say: Z9", 6, "the flow called GET http://api.test/orders/Z9"),
        ("- say: hi\n- skip: 1\n- forwarded: hi", 6, "expected a forwarded message"),
        (
            "- say: hi\n- outcome: queued",
            5,
            "expected outcome queued, the last step's events had: started",
        ),
        ("- trigger: pick_start\n- bot: {template: pick}", 5, "it is a text, not a template"),
        ("- trigger: pick_start\n- bot: {buttons: [Red]}", 5, "its buttons are [Red, Blue]"),
    ],
)
def test_failing_expectations(
    shop: CompiledCatalog, tmp_path: Path, steps: str, line: int, message: str
) -> None:
    """Each expectation fails with its line and a message saying what differs."""
    body = textwrap.indent(steps, " " * 6)
    failure = only_failure(run(tmp_path, shop, f"tests:\n  - name: t\n    steps:\n{body}\n"))
    assert f"shop.yaml:{line}: test `t`" in failure
    assert message in failure


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


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("  - name: t\n    steps:\n      - sya: hi\n", 4, "unknown step `sya`. Did you mean"),
        ("  - name: t\n    steps:\n      - trigger: nope\n", 4, "no intent `nope` in intents/"),
        ("  - name: t\n    steps:\n      - wait: soon\n", 4, "`soon` is not a duration"),
        ("  - name: t\n    steps:\n      - say: hi\n        bot: x\n", 4, "one step per item"),
        (
            "  - name: t\n    steps:\n      - start: pick\n        dta: {}\n",
            5,
            "`dta` does not go with a `start` step. Did you mean `data`?",
        ),
        ("  - name: t\n    steps:\n      - state: nowhere\n", 4, "no state `nowhere` in any flow"),
        ("  - name: t\n    steps:\n      - bot: {txt: hi}\n", 4, "unknown key `txt` in `bot:`"),
        ("  - name: t\n    steps: []\n", 3, "test `t` needs a list of `steps:`"),
        ("  - name: t\n    steps:\n      - say: [unclosed\n", 4, "YAML syntax"),
    ],
)
def test_bad_test_files_fail_with_file_and_line(
    shop: CompiledCatalog, tmp_path: Path, text: str, line: int, message: str
) -> None:
    """Problems in a test file are reported like problems in flows.yaml: file:line: what."""
    path = write(tmp_path, "tests:\n" + text)
    with pytest.raises(SpecError) as e:
        load_tests([path], shop)
    problems = [str(p) for p in e.value.problems]
    assert any(p.startswith(f"{path}:{line}: ") and message in p for p in problems), problems


# -- coverage -------------------------------------------------------------------------------


def test_coverage_counts_states_and_transitions(shop: CompiledCatalog, tmp_path: Path) -> None:
    """Coverage: entered states and taken transitions out of all; the misses listed."""
    results = run(
        tmp_path,
        shop,
        """\
        http: [{method: GET, url: "http://api.test/orders/A1", json: {status: packed}}]
        tests:
          - name: found
            steps: [{say: hi}, {skip: 1}, {say: A1}, {skip: 1}]
        """,
    )
    assert results[0].passed
    assert len(machine_transitions(shop.flows["shop"])) == 6
    report = {c.flow: c for c in measure(shop, [r.sim for r in results])}
    shop_cov = report["shop"]
    assert shop_cov.entered == {"ask", "lookup", "found"}
    assert shop_cov.missed_states == ["missing", "slow", "gone"]
    assert len(shop_cov.taken) == 3
    table = format_coverage(list(report.values()))
    assert "shop     3/6     50%    3/6     50%" in table
    assert "shop: never entered: missing, slow, gone" in table
    assert "shop: never taken: lookup --call:lookup:failure--> missing" in table
    assert "pick: never taken: __idle__ --__start__--> choose" in table


def test_run_cli_fails_on_a_failing_test_and_low_coverage(
    shop: CompiledCatalog, tmp_path: Path
) -> None:
    """Exit 1 when a test fails or coverage is under --min-coverage; summary line last."""
    path = write(tmp_path, "tests:\n  - name: t\n    steps: [{say: hi}, {bot: Nope}]\n")
    out = io.StringIO()
    assert run_cli([path], shop, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == f"FAIL  {path}: t"
    assert lines[-1] == "0 passed, 1 failed"
    ok = write(tmp_path, "tests:\n  - name: t\n    steps: [{say: hi}, {skip: 1}]\n")
    out = io.StringIO()
    assert run_cli([ok], shop, out, coverage=False, min_coverage=50) == 1
    assert "coverage below 50%" in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "1 passed, 0 failed"


def test_bot_test_passes_on_the_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot test flow_tests` passes on the example flows and prints full coverage."""
    monkeypatch.chdir(ROOT)
    assert main(["test", "flow_tests"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith(" passed, 0 failed")
    assert int(out[-1].split()[0]) >= 40
    assert any(line.startswith("total ") and line.count("100%") == 2 for line in out)


def test_bot_test_reports_bad_files_as_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad test file makes `bot test` print file:line problems and exit 1."""
    monkeypatch.chdir(ROOT)
    path = write(tmp_path, "tests:\n  - name: t\n    steps: [{say: hi}, {bott: x}]\n")
    assert main(["test", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: test `t`, step 2: unknown step `bott`" in err


def test_the_documented_example_runs(tmp_path: Path) -> None:
    """The example in bot.flows.flowtest's docstring is a passing test of the example flows."""
    doc = flowtest.__doc__ or ""
    example = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\n\nActing steps", 1)[0])
    catalog = compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents"))
    results = run(tmp_path, catalog, example)
    assert [(r.test.name, r.failure) for r in results] == [("confirm by number", None)]
