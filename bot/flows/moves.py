"""What a step did to the flows' machines, attributed to flows: each move (flow, from, trigger,
to) and each state entered, as flow tests' coverage and the operators' counts per transition
count them. Moves follow the flow the conversation is in; a start enters the flow whose start
state it reaches; a migration (a new version of a flow) and an operator's restart are no move
of the machine, though the state they lead to is entered."""

from __future__ import annotations

from dataclasses import dataclass

from bot.flows.compiler import IDLE, CompiledCatalog
from bot.flows.triggers import START, Kind
from bot.model import Conversation, Event, IntentStart, StepResult

Move = tuple[str, str, str, str]  # flow, source, trigger, dest


@dataclass(frozen=True, slots=True)
class StepMoves:
    moves: tuple[Move, ...]
    entered: tuple[tuple[str, str], ...]  # (flow, state)


def step_moves(
    catalog: CompiledCatalog, before: Conversation, result: StepResult, event: Event
) -> StepMoves:
    """The moves and entered states of one step, `before` being the conversation it began
    with."""
    flows = catalog.flows
    current = before.flow
    moves: list[Move] = []
    entered: list[tuple[str, str]] = []
    starts = [i for i, m in enumerate(result.trace) if m[1] == START]
    for i, (source, trigger, dest) in enumerate(result.trace):
        if trigger == START:
            current = _started_flow(catalog, dest, result, event, last=i == starts[-1])
        if current is None or current not in flows:
            continue
        if trigger not in (Kind.MIGRATION, Kind.RESTART):
            moves.append((current, source, trigger, dest))
        if dest in flows[current].states:
            entered.append((current, dest))
    after = result.conversation
    last = (after.flow, after.state)
    moved = after.visit != before.visit and after.state != IDLE
    if after.flow and after.state and moved and last not in entered:
        entered.append((after.flow, after.state))
    return StepMoves(tuple(moves), tuple(entered))


def _started_flow(
    catalog: CompiledCatalog, dest: str, result: StepResult, event: Event, *, last: bool
) -> str:
    candidates = [f.name for f in catalog.flows.values() if f.start == dest]
    if len(candidates) == 1:
        return candidates[0]
    final = result.conversation.flow
    if last and final in candidates:
        return final
    if isinstance(event, IntentStart):
        named = event.flow
        intent = catalog.intents.get(event.code)
        if named is None and intent is not None:
            named = intent.start
        if named in candidates:
            return named
    return candidates[0] if candidates else (final or "")
