"""How much of the flows the tests exercised: per flow, the states entered and the
transitions taken (source, trigger, dest), against all of the flow's states and all
transitions of its machine.

A run of every test (`bot test`) measures every flow of the catalog, so a flow no test
starts shows as never entered. A run of some tests (`bot test FILE`, `-k`) measures the flows
they exercised: those they started or entered.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from bot.flows.compiler import IDLE, CompiledCatalog, CompiledFlow
from bot.flows.tools.simulate import Simulator
from bot.flows.triggers import START

Transition = tuple[str, str, str]  # source, trigger, dest


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


def exercised(sims: Iterable[Simulator]) -> set[str]:
    """The flows the simulated conversations started or entered."""
    flows = set()
    for sim in sims:
        flows |= {flow for flow, _ in sim.entered}
        flows |= {move[0] for move in sim.moves}
    return flows


def measure(
    catalog: CompiledCatalog, sims: Iterable[Simulator], flows: Collection[str] | None = None
) -> list[FlowCoverage]:
    """Per flow of the catalog (or of `flows`, in the catalog's order): what the simulated
    conversations entered and took, out of everything."""
    entered: set[tuple[str, str]] = set()
    moves: set[tuple[str, str, str, str]] = set()
    for sim in sims:
        entered |= sim.entered
        moves |= sim.moves
    report = []
    for name, flow in catalog.flows.items():
        if flows is not None and name not in flows:
            continue
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
