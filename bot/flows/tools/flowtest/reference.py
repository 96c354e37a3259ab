"""The reference of the keys of flow_tests/ files, as docs/flows.md shows it: generated from
the models of `bot.flows.tools.flowtest.spec`, so the page lists what the reader reads.

`reference()` is the text of the section, from its heading to the end of the page;
`python -m bot.flows.tools.flowtest.reference docs/flows.md` writes it there (a test keeps
the page equal to it, as flows.schema.json is kept equal to `bot schema`).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from pydantic.fields import FieldInfo

from bot.flows.tools.flowtest.spec import (
    STEPS,
    CannedAnswer,
    FlowTestFile,
    FlowTestSpec,
    ReplyCheck,
    TextCheck,
    YamlMapping,
)

HEADING = "## Conversation tests: every key"
WIDTH = 96  # the page's lines

_INTRO = """\
A file of `flow_tests/` holds tests of the flows; each test is one conversation with one
customer, written as steps in order. `bot test` reads every key below, and reports any other
as `file:line: unknown key ...`. This section is generated from the reader's models
(bot/flows/tools/flowtest/spec.py)."""

_STEPS = """\
A step (an item of `steps:`) is a mapping with one of the keys below, and the keys indented
under it. A step either acts or expects. An acting step first requires every message sent
before it to have been checked (by `bot:` or `skip:`): a conversation test states everything
the customer sees."""

_RULES = """\
Canned answers are matched by method and URL; a test's own answers come before its file's,
the first match wins, and a call nothing matches fails the test, naming the call. One-time
codes are predictable: the first 6-digit code of a test is 123456, the next 234567, and so
on. Replies to a customer who opted out are dropped (except the STOP confirmation), as the
runtime does. Forwarded messages, which the customer does not see, need not all be checked.
A failure names the file and line of the step, the test and the step's number, and says in
one sentence what was expected and what came instead. `bot test` prints the coverage of the
flows: of every flow when the whole suite runs, of the flows the tests exercised when only
some run (`bot test FILE`, `-k`)."""


def _default(info: FieldInfo) -> str:
    """What the reader takes when the key is not written, when that says something."""
    if info.is_required():
        return " Required."
    default = info.get_default(call_default_factory=True)
    if default in (None, (), {}) or default is False:
        return ""
    return f" Default: `{default}`."


def _item(name: str, info: FieldInfo, *, indent: str = "", step: bool = False) -> str:
    """One key as a list item: how it is written, what it does, its default."""
    key = info.alias or name
    extra = info.json_schema_extra
    value = extra.get("value") if isinstance(extra, dict) else None
    written = f"`{key}: {value}`" if value is not None else f"`{key}:`"
    # A step's own key is what makes the step: it is there by definition.
    default = "" if step else _default(info)
    text = f"{indent}- {written}: {info.description}{default}"
    return textwrap.fill(text, WIDTH, subsequent_indent=indent + "  ", break_on_hyphens=False)


def _keys(model: type[YamlMapping]) -> str:
    return "\n".join(_item(name, info) for name, info in model.model_fields.items())


def _steps(acting: bool) -> str:
    lines = []
    for step in STEPS:
        if step.acts == acting:
            (name, info), *companions = step.model_fields.items()
            lines.append(_item(name, info, step=True))
            lines += [_item(n, i, indent="  ") for n, i in companions]
    return "\n".join(lines)


def reference() -> str:
    """The section of docs/flows.md that lists every key of a flow_tests/ file."""
    checks = [f"`{k}:`" for k in TextCheck.key_names()]
    parts = [
        HEADING,
        _INTRO,
        "A file:",
        _keys(FlowTestFile),
        "A test (an item of `tests:`):",
        _keys(FlowTestSpec),
        _STEPS,
        "Acting steps:",
        _steps(acting=True),
        "Expecting steps:",
        _steps(acting=False),
        "The checks of a message (`bot: {CHECK: ...}`); a check not written is not made:",
        _keys(ReplyCheck),
        f"The checks of a forwarded message (`forwarded: {{CHECK: ...}}`) are {checks[0]}, "
        f"{checks[1]} and {checks[2]}, as above.",
        "A canned answer (an item of `http:`):",
        _keys(CannedAnswer),
        _RULES,
    ]
    return "\n\n".join(parts) + "\n"


def section(page: str) -> str:
    """The section of `page` that `reference()` writes: from its heading to the end."""
    at = page.find(f"\n{HEADING}\n")
    return "" if at < 0 else page[at + 1 :]


def write(path: Path) -> None:
    """Put `reference()` in the page at `path`, in place of its section or after its end."""
    page = path.read_text(encoding="utf-8")
    at = page.find(f"\n{HEADING}\n")
    before = page if at < 0 else page[: at + 1]
    path.write_text(before.rstrip("\n") + "\n\n" + reference(), encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/flows.md"))
