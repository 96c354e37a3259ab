"""`bot graph`: Mermaid state diagrams and Graphviz DOT text drawn from the compiled machines."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.flows.compiler import IDLE, START, CompiledFlow, compile_catalog
from bot.flows.loader import load_catalog
from bot.flows.tools.graph import dot, duration, edges, mermaid
from tests.support import ROOT


def _flows(tmp_path: Path, text: str) -> dict[str, CompiledFlow]:
    path = tmp_path / "flows.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    (tmp_path / "intents").mkdir(exist_ok=True)
    return dict(compile_catalog(load_catalog(path, tmp_path / "intents")).flows)


def _examples() -> dict[str, CompiledFlow]:
    return dict(compile_catalog(load_catalog(ROOT / "flows.yaml", ROOT / "intents")).flows)


def test_the_example_diagrams_have_every_state_and_transition() -> None:
    """Each example diagram has its start, every machine transition and every end."""
    for flow in _examples().values():
        text = mermaid(flow)
        lines = text.splitlines()
        assert lines[:2] == ["stateDiagram-v2", f"    [*] --> {flow.start}"]
        arrows = {tuple(re.split(r" --> | : ", line.strip())[:2]) for line in lines[2:]}
        for name, state in flow.states.items():
            assert re.search(rf"\b{name}\b", text), name
            if state.final:
                assert (name, "[*]") in arrows
        for trigger, event in flow.machine.events.items():
            if trigger == START:
                continue
            for source, transitions in event.transitions.items():
                for t in transitions:
                    if source != IDLE and not trigger.startswith("handoff_timeout:"):
                        assert (source, t.dest) in arrows, (trigger, source, t.dest)


def test_the_csat_diagram_labels_every_move() -> None:
    """Routes show their condition, collect the slot, escalate and timeout what they are."""
    assert mermaid(_examples()["csat"]) == textwrap.dedent(
        """\
        stateDiagram-v2
            [*] --> rate
            rate --> what_went_wrong : got rating, when rating #60;= 2
            rate --> thanks : got rating, otherwise
            rate --> thanks : escalate
            rate --> closed : timeout after 3d
            what_went_wrong --> thanks : got comment
            thanks --> [*]
            closed --> [*]
        """
    )


def test_options_calls_codes_events_handoffs_and_failures_are_labelled(tmp_path: Path) -> None:
    """Every kind of move is labelled; a handoff without `timeout:` has no timeout edge."""
    flows = _flows(
        tmp_path,
        """\
        flows:
          f:
            start: ask
            data: {vip: false}
            states:
              ask:
                say: Pick
                options:
                  - {label: {en: Look up, es: Buscar}, go: look}
                  - {label: Code, go: code, when: vip}
                  - {label: Agent, go: agent}
                on_failed: done
              look:
                call:
                  url: "https://api.example.com/x"
                  success: done
                  failure: done
                  on_timeout: wait
              code:
                otp: {template: {code: otp}, verified: done, wrong: done, expired: done}
              agent:
                say: Connecting
                handoff: {resume: done, webhook: "https://agents.example.com"}
              wait:
                say: Waiting
                on: {shipped: done}
              done:
                say: Bye
        """,
    )
    labels = [(e.source, e.dest, e.label) for e in edges(flows["f"])]
    assert labels == [
        ("ask", "look", 'option 1 "Look up"'),
        ("ask", "code", 'option 2 "Code" if vip'),
        ("ask", "agent", 'option 3 "Agent"'),
        ("ask", "done", "send failed"),
        ("look", "done", "call success"),
        ("look", "done", "call failure"),
        ("look", "wait", "call timeout"),
        ("code", "done", "code verified"),
        ("code", "done", "code wrong"),
        ("code", "done", "code expired"),
        ("agent", "done", "resume"),
        ("wait", "done", "event shipped"),
    ]


def test_mermaid_escapes_labels_and_aliases_unsafe_state_names(tmp_path: Path) -> None:
    """Unsafe state names get an alias; Mermaid's special characters become entity codes."""
    flows = _flows(
        tmp_path,
        """\
        flows:
          f:
            start: "first step"
            data: {n: 1}
            states:
              "first step":
                routes:
                  - {when: "n > 1 and 'a:b;c#' != ''", go: end}
                  - {go: end}
              end:
                say: Bye
        """,
    )
    assert mermaid(flows["f"]) == textwrap.dedent(
        """\
        stateDiagram-v2
            state "first step" as s0
            state "end" as s1
            [*] --> s0
            s0 --> s1 : when n #62; 1 and 'a#58;b#59;c#35;' != ''
            s0 --> s1 : otherwise
            s1 --> [*]
        """
    )


def test_dot_text_of_one_flow_and_of_several() -> None:
    """DOT has a start point, labelled edges, an end; several flows are clusters."""
    flows = _examples()
    one = dot([flows["csat"]])
    assert one.startswith('digraph "csat" {\n  rankdir=LR;\n')
    assert '  "[start]" -> "rate";\n' in one
    assert '  "rate" -> "what_went_wrong" [label="got rating, when rating <= 2"];\n' in one
    assert '  "thanks" -> "[end]";\n' in one
    assert one.endswith("}\n")
    both = dot([flows["csat"], flows["delivery"]])
    assert 'subgraph "cluster_csat" {' in both
    assert '    "delivery.waiting" -> "delivery.shipped" [label="event order_shipped"];\n' in both


def test_dot_quotes_names_and_labels(tmp_path: Path) -> None:
    """Quotes and backslashes in names and labels are escaped in DOT strings."""
    flows = _flows(
        tmp_path,
        """\
        flows:
          f:
            start: ask
            states:
              ask:
                say: Pick
                options: [{label: 'Say "hi" \\ bye', go: done}]
              done: {say: Bye}
        """,
    )
    assert r'"ask" -> "done" [label="option 1 \"Say \"hi\" \\ bye\""];' in dot([flows["f"]])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "500ms"), (5, "5s"), (90, "1m30s"), (3600, "1h"), (86400, "1d"), (93600, "1d2h")],
)
def test_durations_read_as_authors_write_them(seconds: float, text: str) -> None:
    """Durations in labels use the units of flows.yaml."""
    assert duration(seconds) == text


# -- bot graph ---------------------------------------------------------------------------


def _graph(*args: str) -> int:
    return main(["graph", "--flows", str(ROOT / "flows.yaml"), "--intents", str(ROOT / "intents"),
                 *args])  # fmt: skip


def test_graph_command_prints_one_flow_or_markdown_for_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`bot graph FLOW` prints its diagram; without FLOW, a Markdown section per flow."""
    assert _graph("csat") == 0
    assert capsys.readouterr().out == mermaid(_examples()["csat"])
    assert _graph() == 0
    out = capsys.readouterr().out
    assert out.count("```mermaid\nstateDiagram-v2\n") == len(_examples())
    assert "## appointment\n\nRemind a customer of an appointment" in out


def test_graph_command_writes_dot_text_to_a_file(tmp_path: Path) -> None:
    """--format dot --output FILE writes the DOT text, no Graphviz needed."""
    target = tmp_path / "csat.dot"
    assert _graph("csat", "--format", "dot", "--output", str(target)) == 0
    assert target.read_text() == dot([_examples()["csat"]])


def test_graph_command_without_graphviz_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format svg without `dot` installed exits 2 with a message naming Graphviz."""
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert _graph("--format", "svg") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "needs Graphviz's `dot` command, which is not installed" in captured.err


def test_graph_command_rejects_an_unknown_flow(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown FLOW exits 2 and lists the flows."""
    assert _graph("nope") == 2
    assert "has no flow `nope`; its flows: menu, csat, appointment, delivery" in (
        capsys.readouterr().err
    )
