"""Text from outside meets only work linear in its length: no customer's answer, payload or
request can hold the event loop.

REGEXES lists every regular expression that customers' answers and payloads, platform and
API requests, or the ids and paths logged from them reach, as its module applies it; every
other pattern of `bot` is in NOT_FROM_OUTSIDE with the reason no such text reaches it, and a
test reads the sources so that a new pattern lands in one list or the other. EVIL are
patterns that backtrack exponentially in Python's re, as authors may write them: authors'
patterns run on RE2 (bot.flows.patterns). PARSERS are the functions that read an answer or a
request whole, and STEPS the engine's steps on a customer's text.

Each is timed on worst cases: a head, a short piece repeated and a tail, grown to 2 KiB,
4 KiB (MAX_ANSWER, the longest answer read) and 64 KiB (regexes: 2 and 64 KiB; authors'
patterns from 24 and 64 characters, where exponential backtracking already takes seconds).
One test takes the shapes known to make backtracking quadratic or worse (KNOWN); the other
has hypothesis draw shapes from the case's own characters (a pattern's literals and its
classes' members, the separators a parser takes) and common ones. Each time is compared, in
the same test, with a linear scan of the same text that takes one Python step per
character, and must stay under RATIO times the scan. Linear work measures from 0.01 to about
20 times the scan; quadratic work, on the code before these tests, 500 to 5000 times at
2 KiB, and more with every size, so the first size that fails ends the test before a larger
one would take minutes (and exponential work fails at 24 characters).
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache, cached_property, partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from bot.errors import BotError
from bot.flows.answers import SlotSpec, parse_value
from bot.flows.answers.numbers import parse_number, parse_number_word, read_number
from bot.flows.answers.reading import MAX_ANSWER, normalize_text
from bot.flows.calls import build_header, build_url
from bot.flows.compiler import compile_catalog
from bot.flows.engine import Engine
from bot.flows.loader import load_catalog
from bot.flows.matching import OptionIndex, OptionWords
from bot.flows.patterns import compile_pattern
from bot.log import mask_conv
from bot.model import Conversation, Inbound, PartKind, StepContext
from bot.phones import e164
from bot.platforms.cams.receipts import parse_receipts
from bot.platforms.tencent.auth import verify_callback
from bot.platforms.tencent.callbacks import AFTER_SEND, parse_callback
from bot.web.middleware import request_id
from bot.wire import decode_json
from tests.support import ROOT

RATIO = 100
SIZES = (2048, MAX_ANSWER, 64 * 1024)
REGEX_SIZES = (2048, 64 * 1024)
AUTHOR_SIZES = (24, 64, *SIZES)

Shape = tuple[str, str, str]  # head, piece, tail: the text is head + piece * n + tail
KNOWN: tuple[Shape, ...] = (
    ("x", " .", "x"),  # the ' .' * n, between word characters
    ("1", " ", "x"),  # a run of spaces
    ("", "(", "x"),  # '(' * n
    ("", "1", "x"),  # '1' * n + 'x'
    ("x", ", ", "é"),  # spaces and punctuation
    ("", "a", "!"),  # 'a' * n + '!', for `(a+)+$`
)
# Characters any text may hold besides a case's own: spaces, punctuation, letters and
# digits, in and out of ASCII.
COMMON = " \t\n\u00a0.,-:()#x1aé\u0301\u0661你"


@dataclass(frozen=True)
class Case:
    """What to time: `run` on a text (given through `wrap`: as bytes, in a request...), the
    characters its generated worst cases are built from, and the sizes they grow to."""

    run: Callable[[Any], object]
    characters: str
    wrap: Callable[[str], Any] = str
    sizes: tuple[int, ...] = SIZES


def _shapes(characters: str) -> st.SearchStrategy[Shape]:
    """A known worst shape, or a piece of 1 to 4 characters between a head and a tail of up
    to 3, each character drawn half the time from the case's own, half from COMMON."""
    char = st.sampled_from(sorted(set(characters) or COMMON)) | st.sampled_from(sorted(COMMON))
    piece = st.text(char, min_size=1, max_size=4)
    edge = st.text(char, max_size=3)
    return st.sampled_from(KNOWN) | st.tuples(edge, piece, edge)


def _grown(shape: Shape, size: int) -> str:
    head, piece, tail = shape
    return head + piece * max(1, (size - len(head) - len(tail)) // len(piece)) + tail


def _scan(text: str) -> int:
    """The yardstick: one pass over the text, one Python step per character."""
    found = 0
    for c in text:
        if c == "\x00":
            found += 1
    return found


def _cost(run: Callable[[Any], object], given: Any) -> float:
    """Seconds per call of `run(given)`: the best of 3 rounds of calls lasting 1 ms or more."""
    best = float("inf")
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while True:
            run(given)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= 0.001:
                break
        best = min(best, elapsed / calls)
    return best


def _assert_linear(case: Case, shape: Shape, sizes: tuple[int, ...]) -> None:
    """The case on the shape grown to each size costs under RATIO scans of the same text."""
    for size in sizes:
        text = _grown(shape, size)
        ratio = _cost(case.run, case.wrap(text)) / _cost(_scan, text)
        assert ratio < RATIO, (
            f"{len(text)} characters ({shape!r} grown) cost {ratio:.0f} times a linear scan"
        )


# -- every regular expression that text from outside reaches -------------------------------


def _search(p: re.Pattern[str], s: str) -> object:
    return p.search(s)


def _fullmatch(p: re.Pattern[str], s: str) -> object:
    return p.fullmatch(s)


def _drop(p: re.Pattern[str], s: str) -> object:
    return p.sub("", s)


def _split(p: re.Pattern[str], s: str) -> object:
    return p.split(s)


@dataclass(frozen=True)
class Regex:
    """A module's compiled pattern (module, name), how the module applies it, and what
    text from outside reaches it."""

    module: str
    name: str
    use: Callable[[re.Pattern[str], str], object]
    reaches: str

    @property
    def pattern(self) -> re.Pattern[str]:
        compiled = getattr(importlib.import_module(self.module), self.name)
        assert isinstance(compiled, re.Pattern)
        return compiled


ANSWERS = "customers' answers"
REGEXES = (
    Regex("bot.flows.answers.reading", "_CORE", _search, ANSWERS + " (normalize_text)"),
    Regex("bot.flows.answers.reading", "_SPACES", _drop, ANSWERS + " (normalize_text)"),
    Regex("bot.flows.answers.numbers", "_DECORATED_NUMBER", _fullmatch, ANSWERS + " (menus)"),
    Regex("bot.flows.answers.numbers", "_PREFIX", _fullmatch, ANSWERS + " (option 1, nº 2)"),
    Regex("bot.flows.answers.numbers", "_HAN_NUMBER", _fullmatch, ANSWERS + " (integer, number)"),
    Regex("bot.flows.answers.numbers", "_NUMERIC", _fullmatch, ANSWERS + " (integer, number)"),
    Regex("bot.flows.answers.numbers", "_GROUPED", _fullmatch, ANSWERS + " (integer, number)"),
    Regex("bot.flows.answers.dates", "_DATE_SEPARATORS", _split, ANSWERS + " (date)"),
    Regex("bot.flows.answers.dates", "_NUMERIC_DATE", _fullmatch, ANSWERS + " (date)"),
    Regex("bot.flows.answers.dates", "_HAN_DATE", _fullmatch, ANSWERS + " (date)"),
    Regex("bot.flows.answers.dates", "_ORDINAL", _fullmatch, ANSWERS + " (date)"),
    Regex("bot.flows.answers.times", "_TIME_PREFIX", _drop, ANSWERS + " (time)"),
    Regex("bot.flows.answers.times", "_TIME_SUFFIX", _drop, ANSWERS + " (time)"),
    Regex("bot.flows.answers.times", "_MERIDIEM", _search, ANSWERS + " (time)"),
    Regex("bot.flows.answers.times", "_CLOCK", _fullmatch, ANSWERS + " (time)"),
    Regex("bot.flows.answers.times", "_HAN_TIME", _fullmatch, ANSWERS + " (time)"),
    Regex("bot.flows.answers.contacts", "_LOCAL", _fullmatch, ANSWERS + " (email)"),
    Regex("bot.flows.answers.contacts", "_LABEL", _fullmatch, ANSWERS + " (email)"),
    Regex("bot.flows.answers.contacts", "_TLD", _fullmatch, ANSWERS + " (email)"),
    Regex("bot.flows.expr", "_NUMBER", _fullmatch, "collected values compared as numbers"),
    Regex("bot.flows.expr", "_INTEGER", _fullmatch, "collected values compared as numbers"),
    Regex("bot.wire", "_SURROGATE", _search, "every request body, before authentication"),
    Regex("bot.wire", "_SURROGATE_ESCAPE", _search, "every request body"),
    Regex("bot.wire", "_STRING_OR_TRAILING_COMMA", _drop, "CAMS bodies that are not JSON"),
    Regex("bot.log", "_DIGITS", _drop, "ids and request paths, masked for logs"),
    Regex("bot.log", "_UNSAFE", _drop, "every log line: messages and ids, escaped"),
    Regex("bot.log", "_NAME", _fullmatch, "Types and commands from requests, shown in logs"),
    Regex("bot.log", "_PHRASE", _fullmatch, "the HTTP parser's refusals of requests"),
    Regex("bot.log", "_PHRASE_END", _split, "the HTTP parser's refusals of requests"),
    Regex("bot.web.body", "_CODING", _fullmatch, "a request's Content-Encoding"),
    Regex("bot.flows.calls", "_CONTROL", _drop, "answers rendered into a call's headers"),
    Regex("bot.web.middleware", "_SANE_ID", _fullmatch, "the X-Request-Id header"),
    Regex("bot.model", "_ID", _fullmatch, "numbers and account ids in callbacks and the API"),
    Regex("bot.platforms.tencent.auth", "_REQUEST_TIME", _fullmatch, "a callback's query"),
    Regex("bot.platforms.tencent.auth", "_SIGN", _fullmatch, "a callback's query"),
    Regex("bot.platforms.tencent.callbacks", "_DIGITS", _fullmatch, "a callback's fields"),
    Regex("bot.platforms.cams.templates", "_VARIABLE", _search, "template texts CAMS answers"),
    Regex("bot.platforms.cams.fake", "PHONE_RE", _fullmatch, "sends to the sandbox's fake"),
    Regex("bot.platforms.cams.fake", "SIGNED_HEADERS_RE", _search, "sends to the sandbox"),
    Regex("bot.platforms.cams.fake", "CREDENTIAL_RE", _search, "sends to the sandbox"),
)

# Every other pattern of `bot`, and why no text from outside reaches it.
AUTHORS = "what the flow author wrote, read at load time"
NOT_FROM_OUTSIDE: dict[tuple[str, str], str] = {
    ("bot.flows.answers.spec", "_IDENTIFIER"): AUTHORS + " (a slot's name)",
    ("bot.flows.links", "_WRITTEN_BASE"): AUTHORS + " (a media, header or link URL, at load)",
    ("bot.flows.spec", "_DURATION"): AUTHORS + " (durations)",
    ("bot.flows.expr", "_STRING_LITERAL"): AUTHORS + " (an expression that does not parse)",
    ("bot.flows.expr", "_SLIPS"): AUTHORS + " (an expression that does not parse)",
    ("bot.flows.patterns", "_NO_LOWER_BOUND"): AUTHORS + " (an option's or slot's pattern)",
    ("bot.flows.patterns", "_HINTS"): "RE2's error about an author's pattern, at load time",
    ("bot.flows.engine", "_lookup"): "a call's `save:` path, written by the author",
    ("bot.flows.calls", "_SECRET_SOURCE"): AUTHORS + " (a call's placeholders)",
    ("bot.flows.calls", "HEADER_NAME"): AUTHORS + " (a call's header names)",
    ("bot.flows.tools.graph", "_SAFE_ID"): "state names, by `bot graph`",
    ("bot.flows.tools.simulate", "CannedHttp.matches"): "`bot test`: the author's canned answers",
    ("bot.flows.tools.flowtest.spec", "_url"): "`bot test`: the author's flow tests",
    ("bot.flows.tools.flowtest.spec", "_pattern"): "`bot test`: the author's flow tests",
    ("bot.settings", "_SEPARATORS"): "environment variables, at start-up",
    ("bot.settings", "_CONTROL"): "environment variables (call secrets), at start-up",
    ("bot.settings", "_ACCOUNT_NAME"): "environment variables' names, at start-up",
    ("bot.settings", "_BASE_URL"): "environment variables (an account's endpoint), at start-up",
    ("bot.cli.dead_ids", "_DEAD_ID"): "the operator's command line (`bot dlq`)",
}
# Authors' patterns meet answers too: they are compiled here, with RE2, and tested below.
AUTHOR_PATTERNS = ("bot.flows.patterns", "compile_pattern")

_RE_CALLS = frozenset({"compile", "search", "match", "fullmatch", "sub", "subn", "split"})
_RE_CALLS |= {"findall", "finditer"}


def _pattern_sites() -> Iterator[tuple[str, str]]:
    """(module, where) of every call that compiles or applies a pattern in `bot`: `where` is
    the name assigned at module level, else the enclosing function (`Class.method`)."""
    for path in sorted((ROOT / "bot").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        yield from ((module, where) for where in _sites(tree.body, ""))


def _sites(body: list[ast.stmt], prefix: str) -> Iterator[str]:
    for node in body:
        if isinstance(node, ast.ClassDef):
            yield from _sites(node.body, f"{prefix}{node.name}.")
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            where = f"{prefix}{node.name}"
        elif isinstance(node, ast.Assign | ast.AnnAssign) and not prefix:
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            where = target.id if isinstance(target, ast.Name) else ast.unparse(target)
        else:
            where = f"{prefix}{ast.unparse(node)[:40]}"
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id in ("re", "re2")
                and call.func.attr in _RE_CALLS
            ):
                yield where
                break


def test_every_pattern_is_tested_or_not_reached_from_outside() -> None:
    """Each place `bot` compiles or applies a regular expression is in REGEXES (timed here),
    is where authors' patterns compile, or is in NOT_FROM_OUTSIDE with a reason: a new
    pattern must take a side, and a pattern that is gone must leave its list."""
    listed = {(r.module, r.name) for r in REGEXES} | set(NOT_FROM_OUTSIDE) | {AUTHOR_PATTERNS}
    assert set(_pattern_sites()) == listed


# -- authors' patterns ---------------------------------------------------------------------

# Patterns that make a backtracking engine exponential or quadratic in the answer.
EVIL = (
    r"(a+)+$",
    r"(a|a)*$",
    r"(a|aa)+$",
    r"(\w+\s?)*$",
    r"(x+x+)+y",
    r"([a-zA-Z]+)*[0-9]",
    r"(.*a){12}",
    r"\s*(?:[,.]\s*)*x",
    r"(\d+|\d+\.)*[a-z]",
)


# -- the parsers that read an answer or a request whole ------------------------------------

TODAY = dt.date(2026, 11, 22)
NOW = 1_795_000_000_000
MENU = OptionIndex.build(
    [
        OptionWords("YES", ("Confirm", "yes", "sí")),
        OptionWords("NO", ("Cancel",), (r"(a+)+$", r"n[o0]+( way)?")),
        OptionWords("LATER", ("another day",), (r"(\w+\s?)*later",)),
    ]
)
SPECS = {
    kind: SlotSpec.model_validate({"slot": "v", "type": kind, **extra})
    for kind, extra in (
        ("text", {"max": 500}),
        ("integer", {"min": 1}),
        ("number", {}),
        ("date", {"future": True}),
        ("time", {}),
        ("phone", {"default_region": "44"}),
        ("email", {}),
        ("choice", {"choices": ["Small", {"Large": ["big", "XL"]}]}),
        ("regex", {"pattern": r"(?P<value>(a+)+b)|[A-Z]-\d+"}),
    )
}
COLLECT = "\n".join(
    f"""
  {kind}:
    start: ask
    states:
      ask:
        say: "{kind}?"
        collect: {json.dumps({**spec.model_dump(exclude_defaults=True), "go": "done"})}
      done: {{say: "Got {{{{ v }}}}"}}"""
    for kind, spec in SPECS.items()
)
FLOWS = f"""\
defaults:
  inbound_flow: menu
flows:
  menu:
    start: ask
    states:
      ask:
        say: "1. Confirm 2. Cancel 3. Later"
        options:
          - {{label: Confirm, keywords: [yes, ok], go: done}}
          - {{label: Cancel, patterns: ['(a+)+$', 'n[o0]+( way)?'], go: done}}
          - {{label: Later, patterns: ['(\\w+\\s?)*later'], go: done}}
      done: {{say: Done}}
  verify:
    start: ask
    states:
      ask:
        otp:
          template: {{code: verification_code, params: {{code: "{{{{ otp }}}}"}}}}
          digits: 6
          verified: done
          wrong: done
          expired: done
      done: {{say: Done}}
{COLLECT}
"""


@cache
def _engine() -> Engine:
    """The engine of FLOWS, loaded once (from a folder that is gone once it is loaded)."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "flows.yaml").write_text(FLOWS, encoding="utf-8")
        (Path(folder) / "intents").mkdir()
        catalog = load_catalog(Path(folder) / "flows.yaml", Path(folder) / "intents")
    return Engine(compile_catalog(catalog))


class _Step:
    """One engine step of a customer's text in `flow`, at its state `ask` (no flow: where
    only the commands check and the inbound flow's start read it)."""

    def __init__(self, flow: str | None) -> None:
        self.flow = flow

    @cached_property
    def _conv(self) -> Conversation:
        conv = Conversation(last_inbound_ms=NOW)
        if self.flow is not None:
            version = _engine().catalog.flows[self.flow].version
            conv = replace(conv, flow=self.flow, state="ask", flow_version=version)
        if self.flow == "verify":
            otp = {"h": "0" * 64, "exp": NOW + 60_000, "tries": 0, "sent": NOW}
            conv = replace(conv, otp=otp)
        return conv

    def __call__(self, text: str) -> object:
        ctx = StepContext(conv_id="cams:whatsapp:1:2", customer="2", channel="whatsapp")
        return _engine().step(self._conv, Inbound("m-1", NOW, "text", text), NOW, ctx)


def _receipt(text: str) -> bytes:
    """A CAMS push with the text as a message, and the trailing comma CAMS's samples have."""
    item = {"MessageId": "m-1", "From": "+8613900000001", "To": "8613800000000"}
    return (json.dumps([{**item, "Type": "TEXT", "Message": text}])[:-1] + ",]").encode()


def _tencent(text: str) -> bytes:
    return json.dumps(
        {
            "CallbackCommand": AFTER_SEND,
            "From_Account": "alice",
            "To_Account": "bot",
            "MsgKey": "1_2_3",
            "MsgTime": 1_700_000_000,
            "MsgBody": [
                {"MsgType": "TIMTextElem", "MsgContent": {"Text": text}},
                {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{" + text, "Desc": text}},
            ],
        }
    ).encode()


def _refused(run: Callable[[Any], object]) -> Callable[[Any], object]:
    """`run`, with a refusal (one of our errors, or a ValueError: not a phone number) as its
    outcome."""

    def call(value: Any) -> object:
        try:
            return run(value)
        except (BotError, ValueError) as e:
            return e

    return call


ANSWER_CHARACTERS = "0123456789/.-:年月日点号 pmuhr@+()"
PARSERS: dict[str, Case] = {
    "normalize_text": Case(normalize_text, ""),
    "parse_number": Case(parse_number, "#([])"),
    "read_number": Case(read_number, "option nº"),
    "parse_number_word": Case(lambda t: parse_number_word(t, "es"), "opción uno"),
    "OptionIndex.match": Case(lambda t: MENU.match(t, lang="es"), "confirm later"),
    **{
        f"parse_value[{kind}]": Case(
            partial(lambda spec, t: parse_value(spec, t, today=TODAY), spec), ANSWER_CHARACTERS
        )
        for kind, spec in SPECS.items()
    },
    "decode_json": Case(_refused(partial(decode_json, trailing_commas=True)), '[]{},:"\\'),
    "parse_receipts[body]": Case(
        _refused(partial(parse_receipts, channel="whatsapp", now_ms=NOW)), '[]{},:"\\', str.encode
    ),
    "parse_receipts[message]": Case(
        _refused(partial(parse_receipts, channel="whatsapp", now_ms=NOW)), "", _receipt
    ),
    "parse_callback[tencent]": Case(
        _refused(
            partial(parse_callback, AFTER_SEND, identifier="bot", sdkappid="1", opt_platform="")
        ),
        '{}"',
        _tencent,
    ),
    "verify_callback[tencent]": Case(
        _refused(partial(verify_callback, sdkappid="1", tokens=["t"], now=1_700_000_000)),
        "0123456789abcdef",
        lambda t: {"SdkAppid": "1", "Sign": t, "RequestTime": t},
    ),
    "mask_conv": Case(mask_conv, "+0123456789:"),
    "request_id": Case(request_id, "._:-"),
    "e164": Case(_refused(e164), "+0123456789 ()-."),
    "build_url[data]": Case(
        lambda t: build_url(((PartKind.TEXT, "https://a.example/x/"), (PartKind.DATA, t)), {}),
        "/?#&=%",
    ),
    "build_header[data]": Case(lambda t: build_header(((PartKind.DATA, t),), {}), "\r\n\x00"),
}
# The engine's steps on a customer's text: the commands check (in no flow), an options
# state, an otp state and a collect state of each type.
STEPS: dict[str, Case] = {
    "commands (no flow)": Case(_Step(None), "stop"),
    "options": Case(_Step("menu"), "confirm"),
    "otp": Case(_Step("verify"), "resend 123456"),
    **{f"collect[{kind}]": Case(_Step(kind), ANSWER_CHARACTERS) for kind in SPECS},
}


CASES: dict[str, Case] = {
    **{
        f"{r.module}.{r.name}": Case(
            partial(r.use, r.pattern), r.pattern.pattern, sizes=REGEX_SIZES
        )
        for r in REGEXES
    },
    **{
        f"author pattern {source}": Case(
            compile_pattern(source, ignore_case=True).fullmatch, source, sizes=AUTHOR_SIZES
        )
        for source in EVIL
    },
    **PARSERS,
    **{f"engine step: {name}": case for name, case in STEPS.items()},
}


@pytest.mark.parametrize("name", CASES)
def test_known_worst_shapes_cost_linear_time(name: str) -> None:
    """Each case (every pattern outside text reaches, authors' patterns that backtrack in
    Python's re, the parsers of answers and requests, the engine's steps) costs linear time
    on the shapes known to make backtracking quadratic or worse, up to MAX_ANSWER."""
    case = CASES[name]
    for shape in KNOWN:
        _assert_linear(case, shape, tuple(s for s in case.sizes if s <= MAX_ANSWER))


@pytest.mark.parametrize("name", CASES)
@settings(
    max_examples=5,
    deadline=None,  # time is judged by ratio to the scan, not by the clock
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a failure is shown as drawn
)
@given(data=st.data())
def test_generated_worst_cases_cost_linear_time(name: str, data: st.DataObject) -> None:
    """Each case costs linear time on worst cases generated from its own characters, grown
    up to 64 KiB."""
    case = CASES[name]
    _assert_linear(case, data.draw(_shapes(case.characters), label="shape"), case.sizes)
