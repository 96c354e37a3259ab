"""Every example of docs/flows.md works as the page says."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.cli import main
from bot.cli.chat import run_chat
from bot.flows.compiler import compile_catalog
from bot.flows.loader import load_catalog
from bot.flows.tools.lint import lint
from tests.support import ROOT

DOC = (ROOT / "docs" / "flows.md").read_text()
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(kind: str, first_line: str) -> list[str]:
    """Code blocks of a kind whose first line starts with `first_line`."""
    return [body for k, body in BLOCK.findall(DOC) if k == kind and body.startswith(first_line)]


def write_examples(folder: Path) -> tuple[Path, Path]:
    """All the page's flows in one flows.yaml (they use distinct names), and its intents;
    but those with their own `templates:`, which would check every other example's
    templates against theirs: each is linted alone."""
    folder.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] = {"flows": {}}
    for body in blocks("yaml", "# flows.yaml"):
        data = YAML(typ="safe").load(body)
        if "templates" in data:
            continue
        merged.setdefault("defaults", data.get("defaults", {}))
        merged["flows"].update(data["flows"])
    flows = folder / "flows.yaml"
    out = io.StringIO()
    YAML().dump(merged, out)
    flows.write_text(out.getvalue())
    intents = folder / "intents"
    intents.mkdir()
    for body in blocks("yaml", "# intents/"):
        name = body.splitlines()[0].removeprefix("# intents/").strip()
        (intents / name).write_text(body)
    return flows, intents


def test_every_flows_example_loads_and_lints_clean(tmp_path: Path) -> None:
    """Each flows.yaml example is valid alone, and all of them with the intents lint clean."""
    examples = blocks("yaml", "# flows.yaml")
    assert len(examples) >= 7
    for i, body in enumerate(examples):
        folder = tmp_path / str(i)
        (folder / "intents").mkdir(parents=True)
        (folder / "flows.yaml").write_text(body)
        alone = load_catalog(folder / "flows.yaml", folder / "intents")
        if alone.flows.templates:
            assert lint(alone) == []
    flows, intents = write_examples(tmp_path / "all")
    catalog = load_catalog(flows, intents)
    assert [f for f in lint(catalog) if f.severity == "error"] == []


def test_the_first_flow_checks_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot check` prints the line the page shows for the first example."""
    first = blocks("yaml", "# flows.yaml")[0]
    (tmp_path / "intents").mkdir()
    (tmp_path / "flows.yaml").write_text(first)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_FLOWS", raising=False)
    monkeypatch.delenv("BOT_INTENTS", raising=False)
    assert main(["check"]) == 0
    shown = re.search(r"\$ \.venv/bin/bot check\n(.*)\n", DOC)
    assert shown is not None
    assert capsys.readouterr().out.strip() == shown.group(1)


def test_the_chat_transcript_is_what_bot_chat_prints(tmp_path: Path) -> None:
    """The page's `bot chat pizza` session is what the real engine answers."""
    first = blocks("yaml", "# flows.yaml")[0]
    (tmp_path / "intents").mkdir()
    (tmp_path / "flows.yaml").write_text(first)
    catalog = compile_catalog(load_catalog(tmp_path / "flows.yaml", tmp_path / "intents"))
    session = blocks("console", "$ .venv/bin/bot check\nflows.yaml: ok: 1 flows")[0]
    transcript = session.split("$ .venv/bin/bot chat pizza\n", 1)[1].splitlines()
    typed = [line for line in transcript if not line.startswith(("bot  > ", "chatting"))]
    lines = iter(typed)
    out = io.StringIO()
    code = asyncio.run(
        run_chat(
            catalog, "pizza", customer="1", secrets={}, read_line=lambda: next(lines, None), out=out
        )
    )
    assert code == 0
    printed = out.getvalue().splitlines()
    assert printed == [line for line in transcript if line not in typed]


def test_the_conversation_tests_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The page's flow_tests example passes against its flows."""
    flows, intents = write_examples(tmp_path)
    tests = tmp_path / "flow_tests"
    tests.mkdir()
    [body] = blocks("yaml", "# flow_tests/")
    (tests / "pizza.yaml").write_text(body)
    code = main(["test", str(tests), "--flows", str(flows), "--intents", str(intents)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_the_readme_flow_example_lints_clean(tmp_path: Path) -> None:
    """The flow shown in README.md loads and lints without findings."""
    readme = (ROOT / "README.md").read_text()
    [body] = [b for k, b in BLOCK.findall(readme) if k == "yaml"]
    (tmp_path / "intents").mkdir()
    (tmp_path / "flows.yaml").write_text(body)
    assert lint(load_catalog(tmp_path / "flows.yaml", tmp_path / "intents")) == []
