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
from tests.flowtest_support import bot_test, run, shop_catalog, write
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


def test_run_cli_reports_the_flows_the_tests_exercised_unless_all_run(
    shop: CompiledCatalog, tmp_path: Path
) -> None:
    """Some tests cover the flows they started or entered; the whole suite every flow."""
    path = write(tmp_path, "tests:\n  - name: t\n    steps: [{trigger: pick_start}, {skip: 1}]\n")
    out = io.StringIO()
    assert run_cli([path], shop, out) == 0
    table = out.getvalue().splitlines()
    assert (
        "coverage of the flows these tests exercised (1 of 2; `bot test` alone covers them all):"
        in table
    )
    assert [line.split()[0] for line in table if line.startswith(("pick ", "shop "))] == ["pick"]
    out = io.StringIO()
    assert run_cli([path], shop, out, all_flows=True) == 0
    table = out.getvalue().splitlines()
    assert not any(line.startswith("coverage of the flows") for line in table)
    assert [line.split()[0] for line in table if line.startswith(("pick ", "shop "))] == [
        "shop",
        "pick",
    ]


def _flows_in_table(stdout: str) -> list[str]:
    """The flows of the coverage table `bot test` printed, in order."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("flow "))
    end = next(i for i, line in enumerate(lines) if line.startswith("total "))
    return [line.split()[0] for line in lines[start + 1 : end]]


def test_bot_test_file_covers_the_flows_that_file_exercised(tmp_path: Path) -> None:
    """`bot test FILE`, run as a command, reports coverage of the flows FILE's tests started
    or entered; `bot test` alone, of every flow."""
    path = write(
        tmp_path,
        """\
        tests:
          - name: a delivery starts
            steps:
              - trigger: delivery_started
                data: {address: 1 Main Street, order: A-100}
              - skip: all
              - state: {flow: delivery, state: confirm_address}
        """,
    )
    one = bot_test(str(path))
    assert one.returncode == 0, one.stdout + one.stderr
    assert "coverage of the flows these tests exercised (1 of 4;" in one.stdout
    assert _flows_in_table(one.stdout) == ["delivery"]
    every = bot_test()
    assert every.returncode == 0, every.stdout + every.stderr
    assert "coverage of the flows" not in every.stdout
    assert _flows_in_table(every.stdout) == ["menu", "csat", "appointment", "delivery"]


def test_bot_test_k_covers_the_flows_the_chosen_tests_exercised() -> None:
    """`bot test -k NAME` reports coverage of the flows the tests it ran exercised."""
    done = bot_test("-k", "order found")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _flows_in_table(done.stdout) == ["menu"]
