"""Reading flow test files: problems are reported like problems in flows.yaml, file:line: what
to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import SpecError
from bot.flows.compiler import CompiledCatalog
from bot.flows.tools.flowtest.reader import load_tests
from tests.flowtest_support import shop_catalog, write
from tests.support import ROOT


@pytest.fixture
def shop(tmp_path: Path) -> CompiledCatalog:
    """The small shop catalog of tests.flowtest_support."""
    return shop_catalog(tmp_path)


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
        (
            "  - name: t\n    steps:\n      - say: hi\n      - outcome: reprompt\n",
            5,
            "`reprompt` is no outcome of the engine. Did you mean `reprompted`?",
        ),
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


def test_bot_test_reports_bad_files_as_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad test file makes `bot test` print file:line problems and exit 1."""
    monkeypatch.chdir(ROOT)
    path = write(tmp_path, "tests:\n  - name: t\n    steps: [{say: hi}, {bott: x}]\n")
    assert main(["test", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: test `t`, step 2: unknown step `bott`" in err
