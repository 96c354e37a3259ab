"""The names of a flow machine's moves: made by one constructor per kind, read back whole."""

from __future__ import annotations

import pytest

from bot.flows.triggers import CallOutcome, Kind, OtpOutcome, Trigger

MOVES = [
    (Trigger.option("ask", 2), "opt:ask:2"),
    (Trigger.route("ask"), "route:ask"),
    (Trigger.event("order_shipped"), "ev:order_shipped"),
    (Trigger.escalate("ask"), "escalate:ask"),
    (Trigger.collect("ask"), "collect:ask"),
    (Trigger.call("fetch", CallOutcome.TIMEOUT), "call:fetch:timeout"),
    (Trigger.otp("code", OtpOutcome.VERIFIED), "otp:code:verified"),
    (Trigger.resume("human"), "resume:human"),
    (Trigger.handoff_timeout("human"), "handoff_timeout:human"),
    (Trigger.timeout("wait"), "timeout:wait"),
    (Trigger.failed("remind"), "failed:remind"),
]


@pytest.mark.parametrize(("move", "name"), MOVES)
def test_a_move_has_one_name_and_reads_back(move: Trigger, name: str) -> None:
    """Each constructor makes the name the machine knows, and parsing it gives the move."""
    assert str(move) == name
    assert Trigger.parse(name) == move


def test_every_kind_of_machine_move_has_a_constructor() -> None:
    """The moves above cover every kind the machine fires (migrations and an operator's
    restarts are no machine move)."""
    assert {m.kind for m, _ in MOVES} == set(Kind) - {Kind.MIGRATION, Kind.RESTART}


def test_state_names_may_hold_colons_in_options_calls_and_codes() -> None:
    """The argument is read from the right: a state named `a:b` keeps its name."""
    assert Trigger.parse(str(Trigger.option("a:b", 3))) == Trigger(Kind.OPTION, "a:b", "3")
    assert Trigger.parse("opt:a:b:3").index == 3


def test_a_name_the_compiler_does_not_make_is_refused() -> None:
    """A name of no kind is a ValueError, not a guess."""
    with pytest.raises(ValueError, match="nope"):
        Trigger.parse("nope:x")
