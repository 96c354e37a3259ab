"""The names of a flow machine's moves, made and read in one place.

Each flow compiles to one `transitions` machine whose transitions are named by their trigger:
the compiler names them (`Trigger.option(state, 2)`), the engine fires them by the same
constructors, and the diagram, the coverage report and the linter read a name back with
`Trigger.parse`. A name is a plain string for `transitions` (`opt:ask:2`, `call:fetch:success`,
`ev:order_shipped`); nothing else builds or splits one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

START = "__start__"  # the move from anywhere to the flow's start state


class Kind(StrEnum):
    """What makes a conversation move."""

    OPTION = "opt"  # the customer chose an option (arg: its index, from 0)
    ROUTE = "route"  # a state's `routes:` (the first whose `when:` holds)
    EVENT = "ev"  # an intent's event the state waits for `on:` (arg: the event; no state)
    ESCALATE = "escalate"  # too many unknown or invalid answers
    COLLECT = "collect"  # a valid value was collected (`collect: {go: ...}`)
    CALL = "call"  # a business call's outcome (arg: CallOutcome)
    OTP = "otp"  # a one-time code's outcome (arg: OtpOutcome)
    RESUME = "resume"  # an operator ended a handoff state
    HANDOFF_TIMEOUT = "handoff_timeout"  # a handoff state's `timeout:` came due
    TIMEOUT = "timeout"  # a state's `timeout:` came due
    FAILED = "failed"  # a message of the state failed for good (`on_failed:`)
    MIGRATION = "migration"  # a new version of the flow moved the conversation (no machine move)
    RESTART = "restart"  # an operator started the flow again at its start (no machine move)


class CallOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"


class OtpOutcome(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Trigger:
    """One move's name: its kind, the state it leaves (none for an event) and its argument."""

    kind: Kind
    state: str = ""
    arg: str = ""

    def __str__(self) -> str:
        if self.kind is Kind.EVENT:
            return f"{self.kind}:{self.arg}"
        return f"{self.kind}:{self.state}" + (f":{self.arg}" if self.arg else "")

    @classmethod
    def parse(cls, name: str) -> Trigger:
        """A name as the compiler made it; ValueError for any other text."""
        head, _, rest = name.partition(":")
        kind = Kind(head)
        if kind is Kind.EVENT:
            return cls(kind, "", rest)
        if kind in (Kind.OPTION, Kind.CALL, Kind.OTP):
            state, _, arg = rest.rpartition(":")
            return cls(kind, state, arg)
        return cls(kind, rest)

    @classmethod
    def option(cls, state: str, index: int) -> Trigger:
        return cls(Kind.OPTION, state, str(index))

    @classmethod
    def route(cls, state: str) -> Trigger:
        return cls(Kind.ROUTE, state)

    @classmethod
    def event(cls, event: str) -> Trigger:
        return cls(Kind.EVENT, "", event)

    @classmethod
    def escalate(cls, state: str) -> Trigger:
        return cls(Kind.ESCALATE, state)

    @classmethod
    def collect(cls, state: str) -> Trigger:
        return cls(Kind.COLLECT, state)

    @classmethod
    def call(cls, state: str, outcome: CallOutcome) -> Trigger:
        return cls(Kind.CALL, state, outcome.value)

    @classmethod
    def otp(cls, state: str, outcome: OtpOutcome) -> Trigger:
        return cls(Kind.OTP, state, outcome.value)

    @classmethod
    def resume(cls, state: str) -> Trigger:
        return cls(Kind.RESUME, state)

    @classmethod
    def handoff_timeout(cls, state: str) -> Trigger:
        return cls(Kind.HANDOFF_TIMEOUT, state)

    @classmethod
    def timeout(cls, state: str) -> Trigger:
        return cls(Kind.TIMEOUT, state)

    @classmethod
    def failed(cls, state: str) -> Trigger:
        return cls(Kind.FAILED, state)

    @property
    def index(self) -> int:
        """An option's index (from 0)."""
        return int(self.arg)
