"""The small catalog the tests of `bot test` run on, and helpers to write and run test files."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.flows.tools.flowtest.reader import load_tests
from bot.flows.tools.flowtest.runner import FlowTestResult, run_tests
from bot.flows.tools.simulate import CannedHttp
from tests.processes import run_bot
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


def shop_catalog(tmp_path: Path, more: str = "") -> CompiledCatalog:
    """SHOP_FLOWS (and `more` top-level keys) and SHOP_INTENTS, written under tmp_path,
    loaded and compiled."""
    (tmp_path / "flows.yaml").write_text(textwrap.dedent(SHOP_FLOWS) + textwrap.dedent(more))
    intents = tmp_path / "intents"
    intents.mkdir()
    for code, text in SHOP_INTENTS.items():
        (intents / f"{code}.yaml").write_text(text)
    return compile_catalog(load_catalog(tmp_path / "flows.yaml", intents))


def write(tmp_path: Path, text: str, name: str = "shop.yaml") -> Path:
    """A test file under tmp_path/tests, dedented."""
    path = tmp_path / "tests" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run(tmp_path: Path, catalog: CompiledCatalog, text: str) -> list[FlowTestResult]:
    """The results of the tests of a file with `text`."""
    return run_tests(load_tests([write(tmp_path, text)], catalog), catalog)


def only_failure(results: list[FlowTestResult]) -> str:
    """The one failure among `results`."""
    failures = [r.failure for r in results if r.failure is not None]
    assert len(failures) == 1, failures
    return failures[0]


def bot_test(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`bot test ARGS` run as a command, in `cwd`, with no BOT_ setting of this process."""
    return run_bot("test", *args, cwd=cwd)
