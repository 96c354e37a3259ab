"""The coverage `bot test` reports: the states entered and transitions taken, per flow, and
the exit code and summary of the command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.flows.compiler import CompiledCatalog
from bot.flows.tools.flowtest import run_cli
from bot.flows.tools.flowtest.coverage import format_coverage, machine_transitions, measure
from tests.flowtest_support import run, shop_catalog, write
from tests.support import ROOT


@pytest.fixture
def shop(tmp_path: Path) -> CompiledCatalog:
    """The small shop catalog of tests.flowtest_support."""
    return shop_catalog(tmp_path)


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
