"""Conversation tests for flows (`bot test`): YAML files of scripted conversations, run
offline against the real engine on a fake clock, with a flow coverage report.

A test file holds a list of tests; each test is one conversation with one customer, written
as steps in order. Steps either *act* (the customer writes, the business triggers an intent,
time passes, ...) or *expect* (the bot's next message, where the conversation stands, ...)::

    http:                                   # optional: canned answers for every test here
      - {method: GET, url: "~/orders/A-", status: 200, json: {status: shipped}}
    tests:
      - name: confirm by number
        customer: "+8613900000001"          # optional; the default is 8613900000001
        lang: es                            # optional: the conversation's data.lang
        now: "2026-01-05T09:00:00Z"         # optional: when the clock starts (a Monday)
        http:                               # optional: canned answers for `call:` steps
          - {method: GET, url: "http://127.0.0.1:8080/sandbox/orders/A-100",
             status: 200, json: {status: shipped, eta: tomorrow}}
        steps:
          - trigger: appointment_reminder   # or with `data: {...}` and `policy: queue`
          - bot: {template: appointment_reminder, params: {date: Monday 10:00}}
          - say: "1"
          - bot: "Thank you! Your appointment on Monday 10:00 is confirmed. See you then."
          - state: confirmed

Every key such a file may use is a field, with its description, of the models of `reader`,
which turns a file into tests or `file:line` problems; `runner` plays a test against the
engine on the simulator's fake clock; `coverage` counts the states and transitions the tests
exercised; `run_cli` is `bot test`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

from bot.flows.compiler import CompiledCatalog
from bot.flows.tools.flowtest.coverage import exercised, format_coverage, measure, percent
from bot.flows.tools.flowtest.reader import load_tests
from bot.flows.tools.flowtest.runner import run_tests


def run_cli(
    paths: Sequence[Path],
    catalog: CompiledCatalog,
    out: IO[str],
    *,
    coverage: bool = True,
    min_coverage: float | None = None,
    name: str | None = None,
    all_flows: bool = False,
) -> int:
    """`bot test`: run the tests under `paths` (those whose name contains `name`), print
    each result, the failures, the coverage table and `N passed, M failed` last. Coverage
    is of every flow of the catalog with `all_flows` (the whole suite runs), else of the
    flows the tests exercised. 0 when all passed (and coverage is at least `min_coverage`
    percent), else 1. Bad test files raise SpecError."""
    tests = load_tests(paths, catalog)
    if name:
        tests = [t for t in tests if name.lower() in t.name.lower()]
    if not tests:
        where = ", ".join(str(p) for p in paths)
        print(f"no tests found in {where}", file=out)
        print("0 passed, 0 failed", file=out)
        return 1
    results = run_tests(tests, catalog)
    for r in results:
        print(f"{'ok  ' if r.passed else 'FAIL'}  {r.test.file}: {r.test.name}", file=out)
    failed = [r for r in results if not r.passed]
    if failed:
        print("", file=out)
        for r in failed:
            print(r.failure, file=out)
    low = False
    if coverage or min_coverage is not None:
        sims = [r.sim for r in results]
        flows = None if all_flows else exercised(sims)
        report = measure(catalog, sims, flows)
        if coverage:
            print("", file=out)
            if flows is not None:
                print(
                    f"coverage of the flows these tests exercised ({len(report)} of "
                    f"{len(catalog.flows)}; `bot test` alone covers them all):",
                    file=out,
                )
            print(format_coverage(report), file=out)
        if min_coverage is not None:
            states, transitions = percent(report)
            if min(states, transitions) < min_coverage:
                low = True
                print(
                    f"coverage below {min_coverage:g}%: states {states:.0f}%, transitions "
                    f"{transitions:.0f}%",
                    file=out,
                )
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", file=out)
    return 1 if failed or low else 0
