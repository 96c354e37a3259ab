"""The keys of flow_tests/ files in docs/flows.md: generated from the reader's models, each
with its description, and every one of them read by the reader."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.flows.compiler import CompiledCatalog
from bot.flows.tools.flowtest.reader import load_tests
from bot.flows.tools.flowtest.reference import HEADING, reference, section
from bot.flows.tools.flowtest.spec import (
    STEPS,
    CannedAnswer,
    FlowTestFile,
    FlowTestSpec,
    ReplyCheck,
    TextCheck,
)
from tests.flowtest_support import shop_catalog, write
from tests.support import ROOT

DOC = ROOT / "docs" / "flows.md"
MODELS = (FlowTestFile, FlowTestSpec, *STEPS, ReplyCheck, TextCheck, CannedAnswer)


@pytest.fixture
def shop(tmp_path: Path) -> CompiledCatalog:
    """The small shop catalog of tests.flowtest_support."""
    return shop_catalog(tmp_path)


def test_the_page_shows_the_generated_keys() -> None:
    """docs/flows.md's section of flow-test keys is reference()'s text (regenerate it with
    `python -m bot.flows.tools.flowtest.reference docs/flows.md`)."""
    assert section(DOC.read_text(encoding="utf-8")) == reference()


def test_every_key_is_a_field_with_a_description_shown_on_the_page() -> None:
    """Each key a test file may use has a description, and the page shows the key with it."""
    text = " ".join(reference().split())
    for model in MODELS:
        for name, info in model.model_fields.items():
            key = info.alias or name
            assert info.description, f"{model.__name__}.{key}"
            assert f"- `{key}:" in text, key
            assert " ".join(info.description.split()) in text, key


def test_the_issue_s_keys_are_documented() -> None:
    """The keys authors ask about are all on the page."""
    text = section(DOC.read_text(encoding="utf-8"))
    for key in ("trigger", "tap", "wait", "skip", "no_reply", "slots", "outcome", "http"):
        assert f"- `{key}: " in text, key
    for key in ("now", "secrets", "customer", "lang", "contains", "matches", "timeout"):
        assert f"- `{key}: " in text, key


def test_the_writer_puts_the_section_in_place_of_the_old_one(tmp_path: Path) -> None:
    """`python -m bot.flows.tools.flowtest.reference PAGE`, run as a command, replaces a stale
    section, or adds a missing one, leaving the rest of the page as it was."""
    page = DOC.read_text(encoding="utf-8")
    head = page[: page.index(f"\n{HEADING}\n") + 1]
    stale, missing = tmp_path / "stale.md", tmp_path / "missing.md"
    stale.write_text(head + f"{HEADING}\n\nold text\n", encoding="utf-8")
    missing.write_text(head, encoding="utf-8")
    shutil.copy(DOC, tmp_path / "same.md")
    for path in (stale, missing, tmp_path / "same.md"):
        done = subprocess.run(
            [sys.executable, "-m", "bot.flows.tools.flowtest.reference", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert path.read_text(encoding="utf-8") == page, path.name


EVERY_KEY = """\
secrets: {SHOP_TOKEN: t}
http:
  - {method: get, url: "http://api.test/orders/A1", status: 200, json: {status: packed}}
  - {url: "~/orders/B", status: 404, text: missing}
  - {url: "~/orders/S", timeout: true}
tests:
  - name: every key
    customer: "+8613900000002"
    channel: whatsapp
    number: main
    lang: en
    now: 2026-02-02T10:00:00Z
    http: [{url: "~/orders/C", json: {status: late}}]
    steps:
      - start: pick
        data: {x: 1}
      - bot: {text: Pick one, buttons: [Red, Blue]}
      - tap: RED
        text: Red
      - bot: [{contains: [Do, ne], matches: "^D"}]
      - no_reply: true
      - trigger: shop_start
        data: {y: 2}
        policy: replace
      - bot: {template: shop, params: {a: b}, language: en}
      - skip: all
      - wait: 10m
      - skip: 1
      - say: agent
      - skip: 1
      - say: help
      - forwarded: {text: help, contains: hel, matches: "h.*"}
      - agent: Hello
      - bot: Hello
      - resume: {go: ask}
      - resume: ask
      - resume: {}
      - http: [{url: "~/orders/D", json: {}}]
      - fail: true
      - state: ask
        flow: shop
      - state: {flow: shop, state: ask}
      - ended: false
      - slots: {order: null}
      - outcome: resumed
      - opted_out: false
"""


def _keys_used(node: object, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(str(key))
            _keys_used(value, found)
    elif isinstance(node, list):
        for value in node:
            _keys_used(value, found)
    return found


def test_a_file_with_every_key_reads(tmp_path: Path) -> None:
    """A test file that uses every key the page lists reads without a problem."""
    documented = {info.alias or name for m in MODELS for name, info in m.model_fields.items()}
    used = _keys_used(YAML(typ="safe").load(EVERY_KEY), set())
    assert documented <= used, documented - used
    shop = shop_catalog(tmp_path, 'numbers: {main: {number: "+8613800000001"}}\n')
    [test] = load_tests([write(tmp_path, EVERY_KEY)], shop)
    assert (test.channel, test.business) == ("whatsapp", "8613800000001")
    assert len(test.steps) == 27
    assert [a.method for a in test.http][:2] == ["GET", "GET"]
