"""Run a flow test: play its steps against the real engine, on the simulator's fake clock,
and stop at the first step that does not hold, saying why in a sentence.

Acting steps (the customer writes, time passes, ...) first require every message sent before
them to have been checked: a conversation test states everything the customer sees.
Expecting steps check the bot's next message, where the conversation stands, its data.
A failure reads `file:line: test NAME, step N (KEY): expected ..., but ...`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.flows.compiler import CompiledCatalog
from bot.flows.tools.flowtest.reader import FlowTest, Step
from bot.flows.tools.flowtest.spec import (
    Agent,
    Bot,
    Ended,
    Fail,
    Forwarded,
    Http,
    NoReply,
    OptedOut,
    Outcome,
    ReplyCheck,
    Resume,
    Say,
    Skip,
    Slots,
    Start,
    State,
    Tap,
    TextCheck,
    Trigger,
    Wait,
)
from bot.flows.tools.simulate import Simulator, UnansweredCall, UnmadeCall
from bot.model import Reply


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


# -- how messages are described in a failure --------------------------------------------------


def _quoted(texts: Sequence[str]) -> str:
    return " and ".join(repr(t) for t in texts)


def describe_check(check: TextCheck) -> str:
    """What a check expects, as the object of "expected ...": "a message containing 'Hi'"."""
    template = check.template if isinstance(check, ReplyCheck) else None
    if template is not None:
        what = f"the template {template}"
    elif check.text is not None:
        what = f"the text {check.text!r}"
    else:
        what = "a message"
    details = []
    if isinstance(check, ReplyCheck) and check.params:
        details.append("with " + ", ".join(f"{k}={v!r}" for k, v in check.params.items()))
    if check.contains:
        details.append(f"containing {_quoted(check.contains)}")
    if check.matches is not None:
        details.append(f"matching /{check.matches.pattern}/")
    if isinstance(check, ReplyCheck) and check.buttons is not None:
        details.append("with the buttons [" + ", ".join(check.buttons) + "]")
    if isinstance(check, ReplyCheck) and check.language is not None:
        details.append(f"in language {check.language}")
    return " ".join([what, *details])


def describe_reply(reply: Reply) -> str:
    """What the bot said, as the object of "the bot said ...": its text, or its template."""
    if reply.template is not None:
        t = reply.template
        said = f"the template {t.code} ({t.language})"
        if t.params:
            said += " with " + ", ".join(f"{k}={v!r}" for k, v in t.params.items())
        if t.header is not None:
            said += f" and the {t.header.kind} header {t.header.url!r}"
    else:
        said = repr(reply.text)
    if reply.link is not None:
        said += f" with the link {reply.link.label!r} to {reply.link.url!r}"
    if reply.buttons:
        said += " with the buttons [" + ", ".join(b.title for b in reply.buttons) + "]"
    return said


def describe_replies(replies: Iterable[Reply]) -> str:
    return ", then ".join(describe_reply(r) for r in replies) or "nothing"


def _text_diff(want: str, got: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), None)
    if at is None:
        at = min(len(want), len(got))
    return (
        f"the texts differ from character {at + 1}, where {want[at : at + 30]!r} was expected "
        f"and {got[at : at + 30]!r} came"
    )


def mismatch(check: TextCheck, reply: Reply) -> str | None:
    """Why `reply` is not what `check` expects, as a clause, or None when it is."""
    t = reply.template
    template = check.template if isinstance(check, ReplyCheck) else None
    params: Mapping[str, str] = check.params if isinstance(check, ReplyCheck) else {}
    if (template is not None or params) and t is None:
        return "it is a text, not a template"
    if check.text is not None and t is not None:
        return "it is a template, not a text"
    if t is not None and template is not None and t.code != template:
        return f"it is the template {t.code}, not {template}"
    if t is not None:
        for key, want in params.items():
            if key not in t.params:
                return f"the template has no param {key!r}"
            if t.params[key] != want:
                return f"its param {key} is {t.params[key]!r}, not {want!r}"
    if check.text is not None and reply.text != check.text:
        return _text_diff(check.text, reply.text)
    haystack = reply.text if t is None else " ".join([t.code, *t.params.values()])
    for part in check.contains:
        if part not in haystack:
            return f"{part!r} does not appear in it"
    if check.matches is not None and check.matches.search(reply.text) is None:
        return f"its text does not match /{check.matches.pattern}/"
    if isinstance(check, ReplyCheck):
        titles = tuple(b.title for b in reply.buttons)
        if check.buttons is not None and titles != check.buttons:
            return "its buttons are [" + ", ".join(titles) + "]"
        language = t.language if t is not None else None
        if check.language is not None and language != check.language:
            return f"its language is {language}"
    return None


def _messages(n: int) -> str:
    return f"{n} message{'s' if n != 1 else ''}"


# -- the runner ---------------------------------------------------------------------------------


class _Runner:
    def __init__(self, test: FlowTest, catalog: CompiledCatalog) -> None:
        self.test = test
        self.sim = Simulator(
            catalog,
            customer=test.customer,
            channel=test.channel,
            business=test.business,
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
                where = f"step {step.number} ({step.key})"
                if step.spec.acts:
                    self._unchecked(step.line, where, f"before this `{step.key}`")
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
                f"{_messages(n)} not checked {when}: the bot said {describe_replies(pending)}; "
                f"check {'them' if n > 1 else 'it'} with `bot:` or pass over with `skip: {n}`",
            )

    def _act(self, step: Step, where: str) -> None:
        sim = self.sim
        before = len(sim.results)
        try:
            match step.spec:
                case Say(say=text):
                    sim.say(text)
                case Tap(tap=payload, text=title):
                    offered = sim.offered_payloads()
                    if payload not in offered:
                        raise _Failed(
                            step.line,
                            where,
                            f"no message offered a button with payload {payload!r} to tap (the "
                            f"payloads offered: {', '.join(offered) or 'none'})",
                        )
                    sim.tap(payload, title or "")
                case Trigger(trigger=code, data=data, policy=policy):
                    sim.trigger(code, data, policy)
                case Start(start=flow, data=data):
                    sim.start_flow(flow, data)
                case Wait(wait=seconds):
                    sim.wait(seconds)
                case Resume(resume=go):
                    sim.resume(go)
                case Agent(agent=text):
                    sim.agent(text)
                case Fail(fail=error):
                    if not sim.outbox:
                        raise _Failed(
                            step.line, where, "there is no message to fail: none was sent yet"
                        )
                    sim.fail_last(error)
                case Http(http=answers):
                    sim.http = (*(a.canned() for a in answers), *sim.http)
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
        sim, line = self.sim, step.line
        match step.spec:
            case Bot(bot=checks):
                for check, check_line in zip(checks, step.check_lines, strict=True):
                    self._bot(check, check_line, where)
            case Skip(skip=n):
                left = len(self._pending())
                n = left if n is None else n
                if n > left:
                    raise _Failed(
                        line,
                        where,
                        f"cannot skip {_messages(n)}: {left} "
                        f"{'is' if left == 1 else 'are'} left to check",
                    )
                self.checked += n
            case NoReply():
                pending = self._pending()
                if pending:
                    raise _Failed(
                        line,
                        where,
                        f"expected no more messages, but the bot said {describe_replies(pending)}",
                    )
            case State(state=state, flow=flow):
                conv = sim.conv
                if conv.state != state or (flow is not None and conv.flow != flow):
                    want = f"{flow}.{state}" if flow else state
                    raise _Failed(line, where, f"expected state {want}, but {self._where_now()}")
            case Ended(ended=ended):
                if (not sim.engine.is_active(sim.conv)) != ended:
                    what = "to have ended" if ended else "to be still in a flow"
                    raise _Failed(
                        line, where, f"expected the conversation {what}, but {self._where_now()}"
                    )
            case Slots(slots=want):
                self._slots(line, where, want)
            case Forwarded(forwarded=check):
                self._forwarded(check, line, where)
            case Outcome(outcome=outcome):
                if outcome not in self.outcomes:
                    raise _Failed(line, where, f"expected the outcome {outcome}, but {self._had()}")
            case OptedOut(opted_out=opted_out):
                if sim.conv.opted_out != opted_out:
                    raise _Failed(
                        line,
                        where,
                        "expected the customer to have opted out, but they have not"
                        if opted_out
                        else "expected the customer not to have opted out, but they have",
                    )

    def _had(self) -> str:
        got = self.outcomes
        if not got:
            return "the last acting step caused no event"
        many = "s" if len(got) > 1 else ""
        return f"the last acting step's event{many} had the outcome{many} {', '.join(got)}"

    def _bot(self, check: ReplyCheck, line: int, where: str) -> None:
        pending = self._pending()
        if not pending:
            raise _Failed(
                line,
                where,
                f"expected {describe_check(check)}, but no message is left to check "
                f"({self._where_now()})",
            )
        why = mismatch(check, pending[0])
        if why is not None:
            raise _Failed(
                line,
                where,
                f"expected {describe_check(check)}, but the bot said "
                f"{describe_reply(pending[0])}: {why}",
            )
        self.checked += 1

    def _forwarded(self, check: TextCheck, line: int, where: str) -> None:
        forwarded = self.sim.forwarded[self.forwards :]
        if not forwarded:
            raise _Failed(
                line,
                where,
                f"expected a forwarded message ({describe_check(check)}), but none is left to "
                "check",
            )
        text = str((forwarded[0].body or {}).get("text", ""))
        why = mismatch(check, Reply(text=text))
        if why is not None:
            raise _Failed(
                line,
                where,
                f"expected {describe_check(check)} forwarded to the agent, but {text!r} was: {why}",
            )
        self.forwards += 1

    def _slots(self, line: int, where: str, want: Mapping[str, Any]) -> None:
        data = self.sim.conv.data
        wrong = []
        for name, value in want.items():
            if value is None:
                if data.get(name) is not None:
                    wrong.append(f"expected {name} not to be set, but it is {data[name]!r}")
            elif name not in data:
                wrong.append(f"expected {name} to be {value!r}, but it is not set")
            elif data[name] != value:
                wrong.append(f"expected {name} to be {value!r}, but it is {data[name]!r}")
        if wrong:
            raise _Failed(line, where, "; ".join(wrong))
