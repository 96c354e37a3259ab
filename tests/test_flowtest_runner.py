"""Running flow tests: steps of every kind that pass, and failures that say where (file:line,
test, step) and, in a sentence, what was expected and what came instead."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.flows.tools import flowtest
from tests.flowtest_support import bot_test, only_failure, run, shop_catalog, write
from tests.support import ROOT


@pytest.fixture
def shop(tmp_path: Path) -> CompiledCatalog:
    """The small shop catalog of tests.flowtest_support."""
    return shop_catalog(tmp_path)


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
    """A failing `bot:` says where (file:line, test, step) and, in one sentence, what was
    expected and what came instead."""
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
    assert "but the bot said 'Order number?'" in failure
    assert failure == (
        f"{path}:5: test `greeting`, step 2 (bot): expected the text 'Order number, please?', "
        "but the bot said 'Order number?': the texts differ from character 13, where "
        "', please?' was expected and '?' came"
    )


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
        (
            "- say: hi\n- no_reply: true",
            5,
            "expected no more messages, but the bot said 'Order number?'",
        ),
        (
            "- say: hi\n- bot: {contains: Thanks}",
            5,
            "expected a message containing 'Thanks', but the bot said 'Order number?': 'Thanks' "
            "does not appear in it",
        ),
        ("- say: hi\n- skip: 1\n- bot: Bye", 6, "but no message is left to check"),
        (
            "- say: hi\n- skip: 1\n- state: gone",
            6,
            "expected state gone, but the conversation is in shop.ask; last outcome: started",
        ),
        (
            "- say: hi\n- skip: 1\n- slots: {order: A1}",
            6,
            "expected order to be 'A1', but it is not set",
        ),
        (
            "- say: hi\n- skip: 1\n- ended: true",
            6,
            "expected the conversation to have ended, but the conversation is in shop.ask",
        ),
        ("- say: hi\n- skip: 1\n- tap: RED", 6, "no message offered a button with payload 'RED'"),
        ("- say: hi\n- skip: 1\n- say: Z9", 6, "the flow called GET http://api.test/orders/Z9"),
        ("- say: hi\n- skip: 1\n- forwarded: hi", 6, "expected a forwarded message"),
        (
            "- say: hi\n- outcome: queued",
            5,
            "expected the outcome queued, but the last acting step's event had the outcome started",
        ),
        ("- trigger: pick_start\n- bot: {template: pick}", 5, "it is a text, not a template"),
        ("- trigger: pick_start\n- bot: {buttons: [Red]}", 5, "its buttons are [Red, Blue]"),
        (
            "- trigger: pick_start\n- bot: {buttons: [Red]}",
            5,
            "expected a message with the buttons [Red], but the bot said 'Pick one' with the "
            "buttons [Red, Blue]: its buttons are [Red, Blue]",
        ),
        (
            "- http: [{url: '~/orders/', json: {status: packed}}]\n- say: hi\n- skip: 1\n"
            "- say: A1\n- skip: 1\n- slots: {order: B2}",
            9,
            "expected order to be 'B2', but it is 'A1'",
        ),
        (
            "- http: [{url: '~/orders/', json: {status: packed}}]\n- say: hi\n- skip: 1\n"
            "- say: A1\n- skip: 1\n- slots: {order: null, status: packed}",
            9,
            "expected order not to be set, but it is 'A1'",
        ),
        (
            "- trigger: pick_start\n- skip: 1\n- tap: BLUE\n- skip: 1\n- ended: false",
            8,
            "expected the conversation to be still in a flow, but the conversation is in",
        ),
        (
            "- say: hi\n- skip: 2",
            5,
            "cannot skip 2 messages: 1 is left to check",
        ),
        ("- fail: true", 4, "there is no message to fail: none was sent yet"),
        (
            "- say: hi\n- skip: 1\n- opted_out: true",
            6,
            "expected the customer to have opted out, but they have not",
        ),
        (
            "- say: hi\n- skip: 1\n- say: agent\n- skip: 1\n- say: help me\n- forwarded: bye",
            9,
            "expected the text 'bye' forwarded to the agent, but 'help me' was: the texts differ "
            "from character 1, where 'bye' was expected and 'help me' came",
        ),
        (
            "- say: hi\n- skip: 1\n- tap: RED",
            6,
            "no message offered a button with payload 'RED' to tap (the payloads offered: none)",
        ),
    ],
)
def test_failing_expectations(
    shop: CompiledCatalog, tmp_path: Path, steps: str, line: int, message: str
) -> None:
    """Each expectation fails with its line and a sentence saying what differs."""
    body = textwrap.indent(steps, " " * 6)
    failure = only_failure(run(tmp_path, shop, f"tests:\n  - name: t\n    steps:\n{body}\n"))
    assert f"shop.yaml:{line}: test `t`" in failure
    assert message in failure
    assert "\n" not in failure


def test_the_documented_example_runs(tmp_path: Path) -> None:
    """The example in bot.flows.tools.flowtest's docstring is a passing test of the example
    flows."""
    doc = flowtest.__doc__ or ""
    example = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\n\nEvery key", 1)[0])
    catalog = compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents"))
    results = run(tmp_path, catalog, example)
    assert [(r.test.name, r.failure) for r in results] == [("confirm by number", None)]


def test_bot_test_prints_each_failure_as_one_sentence(tmp_path: Path) -> None:
    """`bot test FILE`, run as a command, prints a failed step as its file:line, the test,
    the step and one sentence: what was expected, but what the bot said."""
    path = write(
        tmp_path,
        """\
        tests:
          - name: thanks
            steps:
              - say: hi
              - bot: {contains: Thanks}
        """,
    )
    done = bot_test(str(path))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"FAIL  {path}: thanks"
    assert lines[2] == (
        f"{path}:5: test `thanks`, step 2 (bot): expected a message containing 'Thanks', but "
        "the bot said 'Hi! What can I do for you?\\n1. Where is my order?\\n2. Verify my "
        "number\\n3. Talk to a person': 'Thanks' does not appear in it"
    )
    assert lines[-1] == "0 passed, 1 failed"
