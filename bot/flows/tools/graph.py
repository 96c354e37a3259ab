"""Flows as diagrams (`bot graph`): Mermaid `stateDiagram-v2` text and Graphviz DOT text.

Both are drawn from the compiled `transitions` machines, the moves the engine really makes,
not from the YAML: every transition of every event, labelled for a reader (option 2
"Reschedule", when rating <= 2, timeout after 24h, ...). `edges` is also what the linter
walks. Rendering DOT to SVG or PNG needs Graphviz's `dot`, which the command runs; this
module only builds text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.flows.compiler import IDLE, CompiledFlow, CompiledState
from bot.flows.triggers import START, Kind, Trigger

# An edge's kind as the diagrams and the linter name it.
_KINDS = {Kind.OPTION: "option", Kind.EVENT: "event"}
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_SAFE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words of Mermaid's state-diagram grammar: such state names are declared with an alias.
_MERMAID_WORDS = frozenset({"state", "note", "end", "direction", "class", "classDef", "style",
                            "click", "hide", "scale", "as", "default"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Edge:
    """One transition of a flow's machine."""

    source: str
    dest: str
    trigger: str
    kind: str  # option route event escalate collect call otp resume handoff_timeout timeout failed
    label: str
    index: int = 0  # the option's or route's position in its list, from 0


def duration(seconds: float) -> str:
    """90 -> "1m30s", 86400 -> "1d", 0.5 -> "500ms"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    left, parts = round(seconds), []
    for unit, size in _UNITS:
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts)


def _first_text(state: CompiledState, index: int) -> str:
    by_lang = state.options[index].label.by_lang
    return (by_lang.get("*") or next(iter(by_lang.values()))).source


def _label(kind: str, move: Trigger, state: CompiledState, index: int) -> str:
    outcome = move.arg
    if kind == "option":
        option = state.options[index]
        text = f'option {index + 1} "{_first_text(state, index)}"'
        return f"{text} if {option.when.source}" if option.when else text
    if kind == "route":
        when = state.routes[index].when
        text = f"when {when.source}" if when else ("otherwise" if index else "always")
        return f"got {state.collect.slot}, {text}" if state.collect is not None else text
    if kind == "collect":
        return f"got {state.collect.slot}" if state.collect is not None else "collected"
    if kind == "event":
        return f"event {move.arg}"
    if kind == "call":
        return f"call {outcome}"
    if kind == "otp":
        return f"code {outcome}"
    if kind == "timeout" and state.timeout is not None:
        return f"timeout after {duration(state.timeout.after)}"
    if kind == "handoff_timeout" and state.handoff is not None and state.handoff.timeout:
        return f"handoff timeout after {duration(state.handoff.timeout)}"
    return {"escalate": "escalate", "resume": "resume", "failed": "send failed"}.get(kind, kind)


def _possible(kind: str, state: CompiledState) -> bool:
    """False for a machine transition that nothing can fire: a handoff timeout without
    `timeout:` sets no timer."""
    return kind != "handoff_timeout" or (state.handoff is not None and bool(state.handoff.timeout))


def edges(flow: CompiledFlow) -> list[Edge]:
    """Every transition of the flow's machine that can happen, in the machine's order; the
    start (from anywhere to the start state) is left out."""
    found: list[Edge] = []
    for trigger, event in flow.machine.events.items():
        if trigger == START:
            continue
        move = Trigger.parse(trigger)
        kind = _KINDS.get(move.kind, move.kind.value)
        for source, transitions in event.transitions.items():
            if source == IDLE or source not in flow.states:
                continue
            state = flow.states[source]
            if not _possible(kind, state):
                continue
            for position, t in enumerate(transitions):
                if t.dest is None:  # an internal transition; the compiler makes none
                    continue
                index = move.index if move.kind is Kind.OPTION else position
                found.append(
                    Edge(source, t.dest, trigger, kind, _label(kind, move, state, index), index)
                )
    return found


def final_states(flow: CompiledFlow) -> list[str]:
    return [name for name, state in flow.states.items() if state.final]


# -- Mermaid ---------------------------------------------------------------------------------


_MERMAID_CODES = str.maketrans({c: f"#{ord(c)};" for c in "#:;<>"})


def _mermaid_text(text: str) -> str:
    """A label Mermaid keeps as written: `#` `:` `;` `<` `>` as entity codes, one line."""
    return " ".join(text.translate(_MERMAID_CODES).split())


def mermaid(flow: CompiledFlow) -> str:
    """The flow as one Mermaid `stateDiagram-v2`."""
    ids: dict[str, str] = {}
    lines = ["stateDiagram-v2"]
    for i, name in enumerate(flow.states):
        if _SAFE_ID.fullmatch(name) and name not in _MERMAID_WORDS:
            ids[name] = name
        else:
            ids[name] = f"s{i}"
            shown = _mermaid_text(name).replace('"', "#34;")
            lines.append(f'    state "{shown}" as s{i}')
    lines.append(f"    [*] --> {ids[flow.start]}")
    for e in edges(flow):
        lines.append(f"    {ids[e.source]} --> {ids[e.dest]} : {_mermaid_text(e.label)}")
    lines += [f"    {ids[name]} --> [*]" for name in final_states(flow)]
    return "\n".join(lines) + "\n"


def mermaid_markdown(flows: Iterable[CompiledFlow], descriptions: dict[str, str]) -> str:
    """Several flows as Markdown: a heading and a ```mermaid block per flow (Mermaid draws
    one diagram per block)."""
    parts = []
    for flow in flows:
        about = descriptions.get(flow.name, "")
        head = f"## {flow.name}\n\n" + (f"{about}\n\n" if about else "")
        parts.append(f"{head}```mermaid\n{mermaid(flow)}```\n")
    return "\n".join(parts)


# -- Graphviz --------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(flows: Sequence[CompiledFlow]) -> str:
    """The flows as one Graphviz digraph; with several flows, one cluster each."""
    many = len(flows) > 1
    name = "flows" if many else flows[0].name
    lines = [
        f"digraph {_quoted(name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for flow in flows:
        indent = "    " if many else "  "

        def node(state: str, flow: CompiledFlow = flow) -> str:
            return _quoted(f"{flow.name}.{state}" if many else state)

        if many:
            lines += [f"  subgraph {_quoted('cluster_' + flow.name)} {{",
                      f"    label={_quoted(flow.name)};"]  # fmt: skip
        start, end = node("[start]"), node("[end]")
        lines.append(f'{indent}{start} [shape=point, width=0.2, label=""];')
        for state in flow.states:
            lines.append(f"{indent}{node(state)} [label={_quoted(state)}];")
        lines.append(f"{indent}{start} -> {node(flow.start)};")
        for e in edges(flow):
            lines.append(f"{indent}{node(e.source)} -> {node(e.dest)} [label={_quoted(e.label)}];")
        finals = final_states(flow)
        if finals:
            lines.append(f'{indent}{end} [shape=doublecircle, width=0.15, label=""];')
            lines += [f"{indent}{node(state)} -> {end};" for state in finals]
        if many:
            lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"
