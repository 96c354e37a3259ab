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

Acting steps (each one requires every earlier bot message to have been checked):

- `say: TEXT`: the customer writes TEXT.
- `tap: PAYLOAD` (with optional `text: TITLE`): the customer taps the quick-reply button
  with that payload; it must have been offered by a message sent before.
- `trigger: CODE` (with optional `data: {...}`, `policy: queue|replace|reject`): the
  business triggers an intent of intents/ (one that starts a flow or sends an event).
- `start: FLOW` (with optional `data: {...}`): start a flow directly, without an intent.
- `wait: DURATION` (`90s`, `5m`, `2h`, `3d`): the clock moves on; the timers that come due
  on the way (reminders, timeouts, handoff timeouts) fire in due order, at their due time.
- `resume: {}` (or `resume: STATE`): an operator ends a handoff (continuing at STATE).
- `agent: TEXT`: an agent answers the customer during a handoff.
- `fail: true` (or `fail: ERROR TEXT`): the last message sent failed for good (`on_failed:`).
- `http: [...]`: more canned answers, taking precedence over the earlier ones.

Expecting steps:

- `bot: ...` checks the bot's next message, in the order sent. A string is its exact text;
  a mapping checks parts of it: `text` (exact), `contains` (a string or a list: each must
  appear in the text, or in a template's code and params), `matches` (a regular expression
  searched in the text), `template` (its code), `params` (a subset of the template's
  params), `buttons` (the list of button titles), `language`. `bot: {}` is any message; a
  list checks that many messages in a row.
- `skip: N` (or `skip: all`): pass over N (or all) unchecked messages.
- `no_reply: true`: every message sent has been checked (nothing is left).
- `state: NAME` (with optional `flow: FLOW`): where the conversation stands.
- `ended: true|false`: the conversation has finished its flow (or is still in one).
- `slots: {name: value}`: the conversation's data holds these values (`null`: not set).
- `forwarded: TEXT` (or `{contains: ...}`): the next customer message forwarded to the
  agent webhook during a handoff.
- `outcome: WORD`: an outcome the engine gave to the events of the last acting step
  (`queued`, `reprompted`, `rejected`, ...; a step can cause several: a message, then the
  answer to the call it made).
- `opted_out: true|false`.

Messages sent and not checked fail the test at the next acting step and at its end: a
conversation test states everything the customer sees (forwarded messages, which the
customer does not see, need not all be checked). One-time codes are predictable: the
first 6-digit code of a test is 123456, the next 234567, and so on. Canned HTTP answers are
matched by method and URL (exact, or a regular expression when written `~regex`) and given
with `status` (default 200) and `json` or `text`, or `timeout: true`; a test's own answers
come before its file's, the first match wins, and a call nothing matches fails the test,
naming the call. Replies to a customer who opted out are dropped (except the STOP
confirmation), as the runtime does.

A failure names the file and line of the step, the test, the step's number, what was
expected and what came instead. Coverage counts, per flow, the states entered and the
transitions taken (source, trigger, dest) by all tests, against all of the flow's states and
all transitions of its machine.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.errors import SpecError, SpecProblem
from bot.flows.compiler import IDLE, START, CompiledCatalog, CompiledFlow

# The loader's reader and converter: the same syntax errors and plain values as flows.yaml.
from bot.flows.loader import _plain, _read_yaml
from bot.flows.spec import parse_duration
from bot.flows.tools.simulate import (
    START_MS,
    CannedHttp,
    Simulator,
    UnansweredCall,
    UnmadeCall,
    describe_replies,
    describe_reply,
)
from bot.model import Reply

ACTIONS = ("say", "tap", "trigger", "start", "wait", "resume", "agent", "fail", "http")
EXPECTATIONS = (
    "bot",
    "skip",
    "no_reply",
    "state",
    "ended",
    "slots",
    "forwarded",
    "outcome",
    "opted_out",
)
# Keys that may accompany a step's own key in the same mapping.
COMPANIONS: Mapping[str, tuple[str, ...]] = {
    "tap": ("text",),
    "trigger": ("data", "policy"),
    "start": ("data",),
    "state": ("flow",),
}
TEST_KEYS = ("name", "customer", "channel", "lang", "now", "http", "steps")
REPLY_KEYS = ("text", "contains", "matches", "template", "params", "buttons", "language")
HTTP_KEYS = ("method", "url", "status", "json", "text", "timeout")

Transition = tuple[str, str, str]  # source, trigger, dest


# -- the tests as read ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplyCheck:
    """What one `bot:` expects of one message; unset parts are not checked."""

    line: int
    text: str | None = None
    contains: tuple[str, ...] = ()
    matches: re.Pattern[str] | None = None
    template: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    buttons: tuple[str, ...] | None = None
    language: str | None = None

    def describe(self) -> str:
        parts = []
        if self.template is not None:
            parts.append(f"template {self.template}")
        if self.params:
            parts.append("params " + ", ".join(f"{k}={v!r}" for k, v in self.params.items()))
        if self.text is not None:
            parts.append(f"text {self.text!r}")
        parts += [f"containing {c!r}" for c in self.contains]
        if self.matches is not None:
            parts.append(f"matching /{self.matches.pattern}/")
        if self.buttons is not None:
            parts.append("buttons [" + ", ".join(self.buttons) + "]")
        if self.language is not None:
            parts.append(f"language {self.language}")
        return "a message with " + ", ".join(parts) if parts else "any message"

    def mismatch(self, reply: Reply) -> str | None:
        """Why `reply` is not what was expected, or None when it is."""
        t = reply.template
        if (self.template is not None or self.params) and t is None:
            return "it is a text, not a template"
        if self.text is not None and t is not None:
            return "it is a template, not a text"
        if t is not None and self.template is not None and t.code != self.template:
            return f"template {t.code}, not {self.template}"
        if t is not None:
            for key, want in self.params.items():
                if key not in t.params:
                    return f"the template has no param {key!r}"
                if t.params[key] != want:
                    return f"param {key} is {t.params[key]!r}, not {want!r}"
        if self.text is not None and reply.text != self.text:
            return _text_diff(self.text, reply.text)
        haystack = reply.text if t is None else " ".join([t.code, *t.params.values()])
        for part in self.contains:
            if part not in haystack:
                return f"{part!r} does not appear in it"
        if self.matches is not None and self.matches.search(reply.text) is None:
            return f"its text does not match /{self.matches.pattern}/"
        titles = tuple(b.title for b in reply.buttons)
        if self.buttons is not None and titles != self.buttons:
            return "its buttons are [" + ", ".join(titles) + "]"
        language = t.language if t is not None else None
        if self.language is not None and language != self.language:
            return f"its language is {language}"
        return None


def _text_diff(want: str, got: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), None)
    if at is None:
        at = min(len(want), len(got))
    return (
        f"the texts differ from character {at + 1}: expected {want[at : at + 30]!r}, "
        f"got {got[at : at + 30]!r}"
    )


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a test: `kind` is its key (say, bot, ...), `value` its parsed value,
    `extra` the companion keys (`data`, `policy`, `flow`, `text`)."""

    kind: str
    value: Any
    line: int
    number: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlowTest:
    file: str
    name: str
    line: int
    steps: tuple[Step, ...]
    customer: str = "8613900000001"
    channel: str = "whatsapp"
    lang: str | None = None
    start_ms: int = START_MS
    http: tuple[CannedHttp, ...] = ()
    secrets: Mapping[str, str] = field(default_factory=dict)


# -- reading test files ---------------------------------------------------------------------


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[SpecProblem]]:
    """Test files: the files given, and the *.yaml / *.yml files under folders given."""
    files: list[Path] = []
    problems = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(SpecProblem(str(path), 0, "no such test file or folder"))
    return list(dict.fromkeys(files)), problems


def load_tests(paths: Iterable[Path], catalog: CompiledCatalog) -> list[FlowTest]:
    """Read every test file; raise SpecError listing every problem found (file:line)."""
    files, problems = discover(paths)
    tests: list[FlowTest] = []
    for path in files:
        reader = _Reader(str(path), catalog)
        tests += reader.read(path)
        problems += reader.problems
    if problems:
        raise SpecError(problems)
    return tests


def _line(node: Any, key: Any) -> int:
    if isinstance(node, CommentedMap) and key in node:
        return int(node.lc.key(key)[0]) + 1
    if isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
        return int(node.lc.item(key)[0]) + 1
    return int(node.lc.line) + 1 if hasattr(node, "lc") else 0


def _suggest(name: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    return f" Did you mean `{close[0]}`?" if close else f" Known: {', '.join(known)}."


class _Invalid(Exception):
    """A problem in a test file, raised inside the reader and recorded with its line."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message


class _Reader:
    """Turns one test file into FlowTests, collecting `file:line: problem`s."""

    def __init__(self, file: str, catalog: CompiledCatalog) -> None:
        self.file = file
        self.catalog = catalog
        self.problems: list[SpecProblem] = []
        self.states = {s for f in catalog.flows.values() for s in f.states}
        self._secrets: dict[str, str] = {}

    def problem(self, line: int, message: str) -> None:
        self.problems.append(SpecProblem(self.file, line, message))

    def read(self, path: Path) -> list[FlowTest]:
        root, problems = _read_yaml(path)
        self.problems += problems
        if problems:
            return []
        if not isinstance(root, CommentedMap) or not isinstance(root.get("tests"), CommentedSeq):
            self.problem(1, "expected a mapping with a `tests:` list")
            return []
        self._unknown_keys(root, ("tests", "http", "secrets"), "at the top level")
        shared = self._http_list(root, "http") if "http" in root else ()
        secrets = root.get("secrets") or {}
        if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
        ):
            self.problem(_line(root, "secrets"), "`secrets:` maps NAME to a text value")
            secrets = {}
        self._secrets = {str(k): str(v) for k, v in secrets.items()}
        tests = []
        names: dict[str, int] = {}
        for i, node in enumerate(root["tests"]):
            line = _line(root["tests"], i)
            try:
                test = self._test(node, line, shared)
            except _Invalid as e:
                self.problem(e.line, e.message)
                continue
            if test.name in names:
                self.problem(
                    line,
                    f"test `{test.name}` repeats the name of the test on line "
                    f"{names[test.name]}: names must differ within a file",
                )
            names[test.name] = line
            tests.append(test)
        return tests

    def _unknown_keys(self, node: CommentedMap, known: Sequence[str], where: str) -> None:
        for key in node:
            if key not in known:
                self.problem(
                    _line(node, key), f"unknown key `{key}` {where}." + _suggest(str(key), known)
                )

    def _test(self, node: Any, line: int, shared: tuple[CannedHttp, ...]) -> FlowTest:
        if not isinstance(node, CommentedMap):
            raise _Invalid(line, "a test is a mapping with `name:` and `steps:`")
        self._unknown_keys(node, TEST_KEYS, "in a test")
        name = node.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _Invalid(line, "a test needs a `name:`")
        steps_node = node.get("steps")
        if not isinstance(steps_node, CommentedSeq) or not steps_node:
            raise _Invalid(_line(node, "steps"), f"test `{name}` needs a list of `steps:`")
        steps = []
        for i, item in enumerate(steps_node):
            try:
                steps.append(self._step(item, _line(steps_node, i), i + 1))
            except _Invalid as e:
                self.problem(e.line, f"test `{name}`, step {i + 1}: {e.message}")
        http = self._http_list(node, "http") if "http" in node else ()
        return FlowTest(
            file=self.file,
            name=name,
            line=line,
            steps=tuple(steps),
            customer=self._text(node, "customer", "8613900000001"),
            channel=self._text(node, "channel", "whatsapp"),
            lang=self._text(node, "lang", "") or None,
            start_ms=self._now(node),
            http=(*http, *shared),
            secrets=self._secrets,
        )

    def _text(self, node: CommentedMap, key: str, default: str) -> str:
        value = node.get(key, default)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _Invalid(_line(node, key), f"`{key}:` expects a text (quote it)")
        return str(value)

    def _now(self, node: CommentedMap) -> int:
        value = node.get("now")
        if value is None:
            return START_MS
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                value = None
        if not isinstance(value, datetime):
            raise _Invalid(
                _line(node, "now"), "`now:` expects a date and time like 2026-01-05T09:00:00Z"
            )
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)

    # -- canned HTTP ------------------------------------------------------------------------

    def _http_list(self, parent: Any, key: Any) -> tuple[CannedHttp, ...]:
        node = parent[key]
        if not isinstance(node, CommentedSeq):
            self.problem(
                _line(parent, key),
                "`http:` expects a list of canned answers "
                "({method, url, status, json | text | timeout})",
            )
            return ()
        answers = []
        for i, item in enumerate(node):
            try:
                answers.append(self._canned(item, _line(node, i)))
            except _Invalid as e:
                self.problem(e.line, e.message)
        return tuple(answers)

    def _canned(self, node: Any, line: int) -> CannedHttp:
        if not isinstance(node, CommentedMap):
            raise _Invalid(line, "a canned answer is a mapping: {method, url, status, json}")
        self._unknown_keys(node, HTTP_KEYS, "in a canned answer")
        method, url = node.get("method", "GET"), node.get("url")
        if not isinstance(method, str) or not isinstance(url, str) or not url:
            raise _Invalid(line, "a canned answer needs `url:` (and `method:`, default GET)")
        if url.startswith("~"):
            try:
                re.compile(url[1:])
            except re.error as e:
                raise _Invalid(_line(node, "url"), f"invalid regular expression: {e}") from e
        status = node.get("status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise _Invalid(_line(node, "status"), "`status:` expects an HTTP status, e.g. 404")
        if "json" in node and "text" in node:
            raise _Invalid(line, "a canned answer has `json:` or `text:`, not both")
        timeout = node.get("timeout", False)
        if not isinstance(timeout, bool):
            raise _Invalid(_line(node, "timeout"), "`timeout:` expects true or false")
        body = _plain(node["json"]) if "json" in node else node.get("text")
        return CannedHttp(method.upper(), url, status, body, timeout)

    # -- steps ------------------------------------------------------------------------------

    def _step(self, node: Any, line: int, number: int) -> Step:
        if not isinstance(node, CommentedMap) or not node:
            raise _Invalid(line, "a step is a mapping such as `say: hello` or `bot: Hi!`")
        kinds = [k for k in node if k in ACTIONS or k in EXPECTATIONS]
        if not kinds:
            first = str(next(iter(node)))
            raise _Invalid(
                line, f"unknown step `{first}`." + _suggest(first, (*ACTIONS, *EXPECTATIONS))
            )
        if len(kinds) > 1:
            raise _Invalid(
                line,
                f"one step per item: `{kinds[0]}` and `{kinds[1]}` are two "
                "steps; write each as its own `- ` item",
            )
        kind = kinds[0]
        allowed = COMPANIONS.get(kind, ())
        for key in node:
            if key != kind and key not in allowed:
                hint = _suggest(str(key), allowed) if allowed else ""
                raise _Invalid(_line(node, key), f"`{key}` does not go with a `{kind}` step.{hint}")
        value = node[kind]
        vline = _line(node, kind)
        parsed = getattr(self, f"_{kind}")(value, vline, node)
        extra = {k: _plain(node[k]) for k in allowed if k in node}
        return Step(kind, parsed, line, number, extra)

    def _scalar(self, value: Any, line: int, what: str) -> str:
        if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
            raise _Invalid(line, f'expected {what}; quote texts such as "yes" or "1"')
        return str(value)

    def _flag(self, value: Any, line: int) -> bool:
        if not isinstance(value, bool):
            raise _Invalid(line, "expected true or false")
        return value

    def _say(self, value: Any, line: int, node: CommentedMap) -> str:
        return self._scalar(value, line, "the text the customer writes")

    def _agent(self, value: Any, line: int, node: CommentedMap) -> str:
        return self._scalar(value, line, "the text the agent writes")

    def _tap(self, value: Any, line: int, node: CommentedMap) -> str:
        if "text" in node:
            self._scalar(node["text"], _line(node, "text"), "the button's title")
        return self._scalar(value, line, "a button payload")

    def _data(self, node: CommentedMap) -> None:
        if "data" in node and not isinstance(node["data"], CommentedMap):
            raise _Invalid(_line(node, "data"), "`data:` expects a mapping of names to values")

    def _trigger(self, value: Any, line: int, node: CommentedMap) -> str:
        code = self._scalar(value, line, "an intent code")
        if code not in self.catalog.intents:
            raise _Invalid(
                line, f"no intent `{code}` in intents/." + _suggest(code, self.catalog.intents)
            )
        self._data(node)
        policy = node.get("policy")
        if policy is not None and policy not in ("queue", "replace", "reject"):
            raise _Invalid(_line(node, "policy"), "`policy:` is queue, replace or reject")
        return code

    def _start(self, value: Any, line: int, node: CommentedMap) -> str:
        flow = self._scalar(value, line, "a flow name")
        if flow not in self.catalog.flows:
            raise _Invalid(
                line, f"no flow `{flow}` in the flows file." + _suggest(flow, self.catalog.flows)
            )
        self._data(node)
        return flow

    def _wait(self, value: Any, line: int, node: CommentedMap) -> float:
        try:
            return parse_duration(value)
        except ValueError as e:
            raise _Invalid(line, str(e)) from e

    def _resume(self, value: Any, line: int, node: CommentedMap) -> str | None:
        if isinstance(value, CommentedMap):
            self._unknown_keys(value, ("go",), "in `resume:`")
            value = value.get("go")
        if value is None or value is True:
            return None
        go = self._scalar(value, line, "`{}` or the state to continue at")
        if go not in self.states:
            raise _Invalid(
                line, f"no state `{go}` in any flow." + _suggest(go, sorted(self.states))
            )
        return go

    def _fail(self, value: Any, line: int, node: CommentedMap) -> str:
        if value is True:
            return "permanent send error (simulated)"
        return self._scalar(value, line, "true or an error text")

    def _http(self, value: Any, line: int, node: CommentedMap) -> tuple[CannedHttp, ...]:
        return self._http_list(node, "http")

    def _bot(self, value: Any, line: int, node: CommentedMap) -> tuple[ReplyCheck, ...]:
        if isinstance(value, CommentedSeq):
            if not value:
                raise _Invalid(line, "`bot: []` checks nothing: list one or more messages")
            return tuple(self._reply(v, _line(value, i)) for i, v in enumerate(value))
        return (self._reply(value, line),)

    def _reply(self, value: Any, line: int) -> ReplyCheck:
        if not isinstance(value, CommentedMap):
            return ReplyCheck(line, text=self._scalar(value, line, "the message's text"))
        self._unknown_keys(value, REPLY_KEYS, "in `bot:`")
        contains = value.get("contains", ())
        if not isinstance(contains, CommentedSeq):
            contains = [contains] if "contains" in value else []
        matches = None
        if "matches" in value:
            try:
                matches = re.compile(str(value["matches"]), re.DOTALL)
            except re.error as e:
                raise _Invalid(_line(value, "matches"), f"invalid regular expression: {e}") from e
        params = value.get("params") or {}
        if not isinstance(params, dict):
            raise _Invalid(_line(value, "params"), "`params:` expects a mapping of names to texts")
        buttons = value.get("buttons")
        if buttons is not None and not isinstance(buttons, CommentedSeq):
            raise _Invalid(_line(value, "buttons"), "`buttons:` expects a list of titles")
        text = value.get("text")
        template = value.get("template")
        language = value.get("language")
        return ReplyCheck(
            line=line,
            text=None if text is None else self._scalar(text, _line(value, "text"), "a text"),
            contains=tuple(self._scalar(c, line, "a text") for c in contains),
            matches=matches,
            template=None if template is None else str(template),
            params={str(k): self._scalar(v, _line(params, k), "a text") for k, v in params.items()},
            buttons=None if buttons is None else tuple(str(b) for b in buttons),
            language=None if language is None else str(language),
        )

    def _skip(self, value: Any, line: int, node: CommentedMap) -> int | None:
        if value == "all":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _Invalid(line, "`skip:` expects a number of messages (1 or more) or `all`")
        return value

    def _no_reply(self, value: Any, line: int, node: CommentedMap) -> bool:
        if value is not True:
            raise _Invalid(line, "write `no_reply: true`")
        return True

    def _state(self, value: Any, line: int, node: CommentedMap) -> tuple[str | None, str]:
        if isinstance(value, CommentedMap):  # `state: {flow: F, state: S}`
            self._unknown_keys(value, ("flow", "state"), "in `state:`")
            node, value, line = value, value.get("state"), _line(value, "state")
        state = self._scalar(value, line, "a state name")
        flow = node.get("flow")
        if flow is not None:
            if flow not in self.catalog.flows:
                raise _Invalid(
                    _line(node, "flow"),
                    f"no flow `{flow}`." + _suggest(str(flow), self.catalog.flows),
                )
            known = self.catalog.flows[flow].states
            if state not in known:
                raise _Invalid(
                    line, f"flow `{flow}` has no state `{state}`." + _suggest(state, known)
                )
        elif state not in self.states:
            raise _Invalid(
                line, f"no state `{state}` in any flow." + _suggest(state, sorted(self.states))
            )
        return (None if flow is None else str(flow)), state

    def _ended(self, value: Any, line: int, node: CommentedMap) -> bool:
        return self._flag(value, line)

    def _opted_out(self, value: Any, line: int, node: CommentedMap) -> bool:
        return self._flag(value, line)

    def _slots(self, value: Any, line: int, node: CommentedMap) -> dict[str, Any]:
        if not isinstance(value, CommentedMap) or not value:
            raise _Invalid(line, "`slots:` expects a mapping of slot names to values")
        plain: dict[str, Any] = _plain(value)
        # An unquoted 2026-01-12 is a date to YAML; collected dates are stored as text.
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in plain.items()}

    def _forwarded(self, value: Any, line: int, node: CommentedMap) -> ReplyCheck:
        check = self._reply(value, line)
        if check.template is not None or check.params or check.buttons is not None:
            raise _Invalid(
                line, "`forwarded:` checks a text: use a string, `text:`, `contains:` or `matches:`"
            )
        return check

    def _outcome(self, value: Any, line: int, node: CommentedMap) -> str:
        return self._scalar(value, line, "an outcome word, e.g. queued")


# -- running --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowTestResult:
    """How one test went: `failure` is None when it passed; `sim` holds what happened."""

    test: FlowTest
    failure: str | None
    sim: Simulator

    @property
    def passed(self) -> bool:
        return self.failure is None


class _Failed(Exception):
    """A step that failed, raised inside the runner and reported with its line."""

    def __init__(self, line: int, where: str, message: str) -> None:
        self.line = line
        self.where = where
        self.message = message


def run_test(test: FlowTest, catalog: CompiledCatalog) -> FlowTestResult:
    """Play one test's steps against the engine; stop at the first step that fails."""
    return _Runner(test, catalog).run()


def run_tests(tests: Iterable[FlowTest], catalog: CompiledCatalog) -> list[FlowTestResult]:
    return [run_test(test, catalog) for test in tests]


class _Runner:
    def __init__(self, test: FlowTest, catalog: CompiledCatalog) -> None:
        self.test = test
        self.sim = Simulator(
            catalog,
            customer=test.customer,
            channel=test.channel,
            start_ms=test.start_ms,
            http=test.http,
            data={"lang": test.lang} if test.lang else {},
            secrets=test.secrets,
        )
        self.checked = 0  # messages of the outbox checked (or skipped) so far
        self.forwards = 0  # forwarded messages checked so far
        self.outcomes: list[str] = []  # of the events the last acting step caused

    def run(self) -> FlowTestResult:
        test = self.test
        try:
            for step in test.steps:
                where = f"step {step.number} ({step.kind})"
                if step.kind in ACTIONS:
                    self._unchecked(step.line, where, f"before this `{step.kind}`")
                    self._act(step, where)
                else:
                    self._expect(step, where)
            last = test.steps[-1].line if test.steps else test.line
            self._unchecked(last, "after the last step", "at the end of the test")
        except _Failed as f:
            failure = f"{test.file}:{f.line}: test `{test.name}`, {f.where}: {f.message}"
            return FlowTestResult(test, failure, self.sim)
        return FlowTestResult(test, None, self.sim)

    # -- acting -----------------------------------------------------------------------------

    def _pending(self) -> list[Reply]:
        return [s.reply for s in self.sim.outbox[self.checked :]]

    def _unchecked(self, line: int, where: str, when: str) -> None:
        pending = self._pending()
        if pending:
            n = len(pending)
            raise _Failed(
                line,
                where,
                f"{n} message{'s' if n > 1 else ''} not checked {when}: "
                f"{describe_replies(pending)}; check "
                f"{'them' if n > 1 else 'it'} with `bot:` or pass over "
                f"with `skip: {n}`",
            )

    def _act(self, step: Step, where: str) -> None:
        sim, value, extra = self.sim, step.value, step.extra
        before = len(sim.results)
        try:
            if step.kind == "say":
                sim.say(value)
            elif step.kind == "tap":
                offered = sim.offered_payloads()
                if value not in offered:
                    raise _Failed(
                        step.line,
                        where,
                        f"no message offered a button with payload "
                        f"{value!r} (offered: "
                        f"{', '.join(offered) or 'none'})",
                    )
                sim.tap(value, str(extra.get("text", "")))
            elif step.kind == "trigger":
                sim.trigger(value, extra.get("data"), extra.get("policy"))
            elif step.kind == "start":
                sim.start_flow(value, extra.get("data"))
            elif step.kind == "wait":
                sim.wait(value)
            elif step.kind == "resume":
                sim.resume(value)
            elif step.kind == "agent":
                sim.agent(value)
            elif step.kind == "fail":
                if not sim.outbox:
                    raise _Failed(step.line, where, "no message has been sent yet")
                sim.fail_last(value)
            elif step.kind == "http":
                sim.http = (*value, *sim.http)
        except (UnansweredCall, UnmadeCall) as e:
            raise _Failed(step.line, where, str(e)) from e
        except _Failed:
            raise
        except Exception as e:  # the engine failed on this event: the test says where
            raise _Failed(step.line, where, f"the engine raised {type(e).__name__}: {e}") from e
        self.outcomes = [r.outcome for r in sim.results[before:]]

    # -- expecting --------------------------------------------------------------------------

    def _where_now(self) -> str:
        conv = self.sim.conv
        at = f"{conv.flow}.{conv.state}" if conv.flow else "no flow"
        last = self.sim.last
        detail = f" ({last.detail})" if last is not None and last.detail else ""
        outcome = f"; last outcome: {last.outcome}{detail}" if last is not None else ""
        return f"the conversation is in {at}{outcome}"

    def _expect(self, step: Step, where: str) -> None:
        sim, value = self.sim, step.value
        fail = step.line
        if step.kind == "bot":
            for check in value:
                pending = self._pending()
                if not pending:
                    raise _Failed(
                        check.line,
                        where,
                        f"expected {check.describe()}, but no "
                        f"message is left to check "
                        f"({self._where_now()})",
                    )
                why = check.mismatch(pending[0])
                if why is not None:
                    raise _Failed(
                        check.line,
                        where,
                        f"expected {check.describe()}\n"
                        f"  got {describe_reply(pending[0])}\n"
                        f"  ({why})",
                    )
                self.checked += 1
        elif step.kind == "skip":
            left = len(self._pending())
            n = left if value is None else value
            if n > left:
                raise _Failed(fail, where, f"cannot skip {n}: {left} message(s) left to check")
            self.checked += n
        elif step.kind == "no_reply":
            pending = self._pending()
            if pending:
                raise _Failed(
                    fail, where, f"expected no more messages, got {describe_replies(pending)}"
                )
        elif step.kind == "state":
            conv = sim.conv
            flow, value = value
            if conv.state != value or (flow is not None and conv.flow != flow):
                want = f"{flow}.{value}" if flow else value
                raise _Failed(fail, where, f"expected state {want}, but {self._where_now()}")
        elif step.kind == "ended":
            ended = not sim.engine.is_active(sim.conv)
            if ended != value:
                what = "ended" if value else "still in a flow"
                raise _Failed(
                    fail, where, f"expected the conversation {what}, but {self._where_now()}"
                )
        elif step.kind == "slots":
            self._slots(step, where, value)
        elif step.kind == "forwarded":
            forwarded = sim.forwarded[self.forwards :]
            if not forwarded:
                raise _Failed(
                    fail,
                    where,
                    f"expected a forwarded message ({value.describe()}), but none is left to check",
                )
            text = str((forwarded[0].body or {}).get("text", ""))
            why = value.mismatch(Reply(text=text))
            if why is not None:
                raise _Failed(
                    fail, where, f"expected {value.describe()} forwarded\n  got {text!r}\n  ({why})"
                )
            self.forwards += 1
        elif step.kind == "outcome":
            if value not in self.outcomes:
                got = ", ".join(self.outcomes) or "no event"
                raise _Failed(
                    fail, where, f"expected outcome {value}, the last step's events had: {got}"
                )
        elif step.kind == "opted_out" and sim.conv.opted_out != value:
            raise _Failed(
                fail,
                where,
                f"expected opted_out {str(value).lower()}, got {str(sim.conv.opted_out).lower()}",
            )

    def _slots(self, step: Step, where: str, want: Mapping[str, Any]) -> None:
        data = self.sim.conv.data
        wrong = []
        for name, value in want.items():
            if value is None:
                if data.get(name) is not None:
                    wrong.append(f"{name} is {data[name]!r}, expected it not set")
            elif name not in data:
                wrong.append(f"{name} is not set, expected {value!r}")
            elif data[name] != value:
                wrong.append(f"{name} is {data[name]!r}, expected {value!r}")
        if wrong:
            raise _Failed(step.line, where, "; ".join(wrong))


# -- coverage -------------------------------------------------------------------------------


def machine_transitions(flow: CompiledFlow) -> list[Transition]:
    """Every transition of the flow's machine as (source, trigger, dest); of the start
    trigger's wildcard (from any state) only the real start edge, from before the flow."""
    found: list[Transition] = []
    for trigger, event in flow.machine.events.items():
        for source, transitions in event.transitions.items():
            if trigger == START and source != IDLE:
                continue
            found += [(source, trigger, str(t.dest)) for t in transitions]
    return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class FlowCoverage:
    flow: str
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    entered: frozenset[str]
    taken: frozenset[Transition]

    @property
    def missed_states(self) -> list[str]:
        return [s for s in self.states if s not in self.entered]

    @property
    def missed_transitions(self) -> list[Transition]:
        return [t for t in self.transitions if t not in self.taken]


def measure(catalog: CompiledCatalog, sims: Iterable[Simulator]) -> list[FlowCoverage]:
    """Per flow: what the simulated conversations entered and took, out of everything."""
    entered: set[tuple[str, str]] = set()
    moves: set[tuple[str, str, str, str]] = set()
    for sim in sims:
        entered |= sim.entered
        moves |= sim.moves
    report = []
    for name, flow in catalog.flows.items():
        transitions = tuple(machine_transitions(flow))
        report.append(
            FlowCoverage(
                flow=name,
                states=tuple(flow.states),
                transitions=transitions,
                entered=frozenset(s for f, s in entered if f == name and s in flow.states),
                taken=frozenset(m[1:] for m in moves if m[0] == name and m[1:] in transitions),
            )
        )
    return report


def _ratio(covered: int, total: int) -> str:
    percent = 100.0 if total == 0 else 100.0 * covered / total
    return f"{covered:>3}/{total:<3} {percent:4.0f}%"


def percent(report: Sequence[FlowCoverage]) -> tuple[float, float]:
    """States and transitions covered over all flows, in percent."""
    states = sum(len(c.states) for c in report)
    transitions = sum(len(c.transitions) for c in report)
    entered = sum(len(c.states) - len(c.missed_states) for c in report)
    taken = sum(len(c.transitions) - len(c.missed_transitions) for c in report)
    return (
        100.0 if not states else 100.0 * entered / states,
        100.0 if not transitions else 100.0 * taken / transitions,
    )


def format_coverage(report: Sequence[FlowCoverage]) -> str:
    """The coverage table, then what was never entered or taken."""
    width = max([len("total"), *(len(c.flow) for c in report)])
    lines = [f"{'flow':<{width}}  {'states':<13}  transitions"]
    for c in report:
        entered = len(c.states) - len(c.missed_states)
        taken = len(c.transitions) - len(c.missed_transitions)
        lines.append(
            f"{c.flow:<{width}}  {_ratio(entered, len(c.states))}  "
            f"{_ratio(taken, len(c.transitions))}"
        )
    states = sum(len(c.states) for c in report)
    transitions = sum(len(c.transitions) for c in report)
    entered = sum(len(c.states) - len(c.missed_states) for c in report)
    taken = sum(len(c.transitions) - len(c.missed_transitions) for c in report)
    lines.append(f"{'total':<{width}}  {_ratio(entered, states)}  {_ratio(taken, transitions)}")
    for c in report:
        if c.missed_states:
            lines.append(f"{c.flow}: never entered: {', '.join(c.missed_states)}")
        for source, trigger, dest in c.missed_transitions:
            lines.append(f"{c.flow}: never taken: {source} --{trigger}--> {dest}")
    return "\n".join(lines)


def run_cli(
    paths: Sequence[Path],
    catalog: CompiledCatalog,
    out: IO[str],
    *,
    coverage: bool = True,
    min_coverage: float | None = None,
    name: str | None = None,
) -> int:
    """`bot test`: run the tests under `paths`, print each result, the failures, the
    coverage table and `N passed, M failed` last. 0 when all passed (and coverage is at
    least `min_coverage` percent), else 1. Bad test files raise SpecError."""
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
        report = measure(catalog, (r.sim for r in results))
        if coverage:
            print("", file=out)
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
