"""The console's flow diagram (bot/web/console/diagram.py): one SVG per flow, drawn from
`flow_figures`, that parses, shows every state, transition and non-zero count, escapes the
authors' text, carries no inline style, and is the same for the same figures."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.flows.compiler import CompiledCatalog, CompiledFlow
from bot.store import FlowCount
from bot.web.console.diagram import TIMES, flow_svg
from bot.web.flows import flow_figures
from tests.support import catalog_of

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<img src=x onerror=alert(1)>"]]>&'
LOOPING = f"""
flows:
  loop:
    start: ask
    states:
      ask:
        say: "Reply 1 to hear it again, 2 to go on."
        options:
          - {{label: Again, go: ask}}
          - {{label: '{HOSTILE}', go: check}}
      check:
        say: "Reply 1 to go back, 2 when done."
        options:
          - {{label: Back, go: ask}}
          - {{label: Done, go: done}}
      done: {{say: "Done."}}
"""


def parse(svg: str) -> ET.Element:
    # Our own output, parsed to check it: no untrusted XML reaches the parser.
    return ET.fromstring(svg)  # noqa: S314


def classes(element: ET.Element) -> list[str]:
    return element.get("class", "").split()


def groups(root: ET.Element, kind: str) -> dict[str, list[ET.Element]]:
    """The `<g>` of each state (kind `state`, by name) or edge (`edge`, by `from>to`)."""
    found: dict[str, list[ET.Element]] = {}
    for g in root.iter(f"{SVG}g"):
        if kind in classes(g):
            key = g.get("data-state") or f"{g.get('data-from')}>{g.get('data-to')}"
            found.setdefault(key, []).append(g)
    return found


def child(element: ET.Element, tag: str) -> ET.Element:
    found = element.find(f"{SVG}{tag}")
    assert found is not None, tag
    return found


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def busy(flow: CompiledFlow) -> tuple[Counter[FlowCount], Counter[tuple[str, str]]]:
    """Counts for every state and transition of `flow`, different from each other."""
    counts: Counter[FlowCount] = Counter()
    now: Counter[tuple[str, str]] = Counter()
    for i, state in enumerate(flow.states):
        counts[("e", flow.name, state)] = 10 + i
        counts[("x", flow.name, state, "timeout")] = i % 2
        counts[("x", flow.name, state, "no_match")] = 2 * (i % 3)
        now[(flow.name, state)] = i
    for i, t in enumerate(flow_figures(flow, counts, now)["transitions"]):
        counts[("m", flow.name, t["from"], t["trigger"], t["to"])] = 100 + i
    return counts, now


def example_figures(catalog: CompiledCatalog) -> list[dict[str, Any]]:
    figures = []
    for flow in catalog.flows.values():
        figures.append(flow_figures(flow, Counter(), Counter()))
        figures.append(flow_figures(flow, *busy(flow)))
    return figures


def test_every_example_flow_draws_each_state_and_transition(catalog: CompiledCatalog) -> None:
    """Every flow of the example catalog, idle or busy, draws one parsable `<svg>` with one
    state group per state and one edge group, with a path, per transition."""
    for figures in example_figures(catalog):
        root = parse(flow_svg(figures))
        assert root.tag == f"{SVG}svg"
        assert "flow-diagram" in classes(root)
        assert root.get("width") == "100%"
        assert root.get("role") == "img"
        assert root.get("aria-label") == f"Flow {figures['name']}"
        assert re.fullmatch(r"-?[\d.]+ -?[\d.]+ [\d.]+ [\d.]+", root.get("viewBox", ""))
        states = groups(root, "state")
        assert sorted(states) == sorted(s["name"] for s in figures["states"])
        assert all(len(g) == 1 for g in states.values())
        edges = [g for gs in groups(root, "edge").values() for g in gs]
        assert len(edges) == len(figures["transitions"])
        assert all(g.find(f"{SVG}path") is not None for g in edges)
        assert all(g.find(f"{SVG}title") is not None for g in root.iter(f"{SVG}g"))
        assert len(root.findall(f"{SVG}defs/{SVG}marker")) == 1


def test_every_non_zero_count_is_shown(catalog: CompiledCatalog) -> None:
    """Each state shows its conversations now, its entries and each non-zero exit; each
    transition shows its count."""
    for flow in catalog.flows.values():
        figures = flow_figures(flow, *busy(flow))
        root = parse(flow_svg(figures))
        states = groups(root, "state")
        for s in figures["states"]:
            shown = text_of(states[s["name"]][0])
            assert f"now {s['now']} · in {s['entered']}" in shown
            for exit_, name in (("no_match", "no match"), ("timeout", "timeout")):
                assert (f"{name} {s['exits'][exit_]}" in shown) is (s["exits"][exit_] > 0)
        edges = groups(root, "edge")
        for t in figures["transitions"]:
            labels = [child(g, "text") for g in edges[f"{t['from']}>{t['to']}"]]
            assert f" {TIMES}{t['count']}" in [text_of(child(e, "tspan")) for e in labels]


def test_hostile_text_is_escaped(tmp_path: Path) -> None:
    """A label, a state name and a flow name holding markup come back as the same text when
    parsed: no element is made of them."""
    flow = catalog_of(tmp_path, LOOPING).flows["loop"]
    figures = flow_figures(flow, Counter(), Counter())
    figures["name"] = HOSTILE
    figures["states"][1]["name"] = HOSTILE
    for t in figures["transitions"]:
        t["from"], t["to"] = (HOSTILE if x == "check" else x for x in (t["from"], t["to"]))
    svg = flow_svg(figures)
    root = parse(svg)
    assert "<img" not in svg
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "img"]
    assert root.get("aria-label") == f"Flow {HOSTILE}"
    assert HOSTILE in groups(root, "state")
    titles = [text_of(t) for t in root.iter(f"{SVG}title")]
    assert any(f'option 2 "{HOSTILE}"' in t for t in titles)
    assert any(t.startswith(f"{HOSTILE}: now 0") for t in titles)


def test_text_xml_cannot_hold_is_replaced() -> None:
    """Control characters in a name still give a document that parses."""
    figures = {"name": "a\x00b", "version": "v", "start": "s\x1b", "states": [
        {"name": "s\x1b", "now": 0, "entered": 0, "start": True, "final": True,
         "dropoff": False, "exits": {"no_match": 0, "timeout": 0, "error": 0}},
    ], "transitions": []}  # fmt: skip
    root = parse(flow_svg(figures))
    assert list(groups(root, "state")) == ["s\ufffd"]


def test_no_inline_style_anywhere(catalog: CompiledCatalog, tmp_path: Path) -> None:
    """No `style` attribute and no `<style>` element: the console's CSP allows none."""
    looping = catalog_of(tmp_path, LOOPING).flows["loop"]
    for figures in [*example_figures(catalog), flow_figures(looping, *busy(looping))]:
        svg = flow_svg(figures)
        root = parse(svg)
        assert all("style" not in e.attrib for e in root.iter())
        assert not [e for e in root.iter() if e.tag == f"{SVG}style"]
        assert "<style" not in svg
        assert " style=" not in svg


def test_the_same_figures_draw_the_same_svg(catalog: CompiledCatalog) -> None:
    """Drawing the same figures twice, or a copy of them, gives identical text."""
    for figures in example_figures(catalog):
        assert flow_svg(figures) == flow_svg(copy.deepcopy(figures)) == flow_svg(figures)


def test_start_final_and_dropoff_states_are_classed(catalog: CompiledCatalog) -> None:
    """The start state is `state start`, a final one `state final`, and a state left by a
    timeout, not final, `state dropoff`."""
    flow = catalog.flows["csat"]
    counts: Counter[FlowCount] = Counter({("x", "csat", "rate", "timeout"): 3})
    figures = flow_figures(flow, counts, Counter())
    states = {name: classes(g[0]) for name, g in groups(parse(flow_svg(figures)), "state").items()}
    assert states["rate"] == ["state", "start", "dropoff"]
    assert states["thanks"] == states["closed"] == ["state", "final"]
    assert states["what_went_wrong"] == ["state"]
    assert "timeout 3" in text_of(groups(parse(flow_svg(figures)), "state")["rate"][0])


def test_the_busiest_transitions_are_hot(catalog: CompiledCatalog) -> None:
    """`edge-hot` marks the transitions of the flow's highest count, none when all are 0."""
    flow = catalog.flows["csat"]
    idle = parse(flow_svg(flow_figures(flow, Counter(), Counter())))
    assert not [g for g in idle.iter(f"{SVG}g") if "edge-hot" in classes(g)]
    counts: Counter[FlowCount] = Counter()
    for t in flow_figures(flow, counts, Counter())["transitions"]:
        counts[("m", "csat", t["from"], t["trigger"], t["to"])] = 7 if t["to"] == "closed" else 2
    hot = [g for g in parse(flow_svg(flow_figures(flow, counts, Counter()))).iter(f"{SVG}g")
           if "edge-hot" in classes(g)]  # fmt: skip
    assert [(g.get("data-from"), g.get("data-to")) for g in hot] == [("rate", "closed")]


def test_a_self_loop_and_a_back_edge_are_drawn(tmp_path: Path) -> None:
    """A move to the same state is a loop on top of it; a move back to the start curves
    away from the forward move between the same states; both have a label and an arrow."""
    flow = catalog_of(tmp_path, LOOPING).flows["loop"]
    root = parse(flow_svg(flow_figures(flow, Counter(), Counter())))
    edges = groups(root, "edge")
    [loop], [ahead], [back] = edges["ask>ask"], edges["ask>check"], edges["check>ask"]
    paths = {}
    for name, g in (("loop", loop), ("ahead", ahead), ("back", back)):
        path = child(g, "path")
        assert path.get("marker-end", "").startswith("url(#flow-arrow-")
        assert path.get("fill") == "none"
        paths[name] = [float(v) for v in re.findall(r"-?[\d.]+", path.get("d", ""))]
        assert "edge-label" in classes(child(g, "text"))
    top = float(child(groups(root, "state")["ask"][0], "rect").get("y", "nan"))
    loop_points = paths["loop"]
    assert loop_points[1] == loop_points[-1] == top  # from the top of the state to its top
    assert min(loop_points[1::2]) < top  # rising above it
    assert paths["back"] != paths["ahead"][::-1]
    back_ys, ahead_ys = paths["back"][1::2], paths["ahead"][1::2]
    assert max(back_ys) > max(ahead_ys) or min(back_ys) < min(ahead_ys)  # bends around


def test_a_long_label_is_shortened_with_its_whole_in_the_title() -> None:
    """Labels past 28 characters end in an ellipsis; the title holds the whole label."""
    label = "got a very long answer, when the answer is longer than this"
    figures = {"name": "f", "version": "v", "start": "a", "states": [
        {"name": n, "now": 0, "entered": 0, "start": n == "a", "final": n == "b",
         "dropoff": False, "exits": {"no_match": 0, "timeout": 0, "error": 0}} for n in "ab"
    ], "transitions": [{"from": "a", "to": "b", "trigger": "t", "kind": "route",
                        "label": label, "count": 1}]}  # fmt: skip
    [edge] = groups(parse(flow_svg(figures)), "edge")["a>b"]
    assert child(edge, "text").text == label[:27] + "…"
    assert label in text_of(child(edge, "title"))


@pytest.mark.parametrize("start", ["a", "nowhere"])
def test_unreachable_states_and_stray_transitions(start: str) -> None:
    """States the start cannot reach are drawn too; a transition naming no state is not."""
    figures = {"name": "f", "version": "v", "start": start, "states": [
        {"name": n, "now": 0, "entered": 0, "start": n == start, "final": False,
         "dropoff": False, "exits": {"no_match": 0, "timeout": 0, "error": 0}} for n in "abc"
    ], "transitions": [
        {"from": "a", "to": "b", "trigger": "t", "kind": "route", "label": "l", "count": 0},
        {"from": "a", "to": "zz", "trigger": "u", "kind": "route", "label": "l", "count": 0},
    ]}  # fmt: skip
    root = parse(flow_svg(figures))
    assert sorted(groups(root, "state")) == ["a", "b", "c"]
    assert list(groups(root, "edge")) == ["a>b"]
