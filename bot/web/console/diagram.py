"""One flow drawn as SVG on the server for the operators' console, from what `flow_figures`
(bot/web/flows.py) returns: its states with their conversations, its transitions with their
moves. Standard library only; the same figures always draw the same text.

Left to right: each state in the column of its shortest distance from the start (the
unreachable ones last), ordered within it by barycenter sweeps to cross fewer edges. Labels
such as `option 2 "Reschedule"` are wide and short: they read best lying on horizontal edge
ends, in gaps as wide as their longest label; and flows are shallow and broad, as a console
is wider than tall. Moves within a column arc to the right, moves back curve below (or
above) the columns they span, moves to the same state loop on top of it.

No `style` attribute or `<style>` element (the console's CSP is `style-src 'self'`): its CSS
styles these classes, over presentation attributes that keep it readable without CSS. The
svg is `width="100%"` with a viewBox: a CSS `max-height` keeps a small flow from looming.

    flow-diagram               the <svg>
    state                      each state's <g>; also `start`, `final`, and `dropoff` (not
                               final, and left by a timeout or an error in the window)
    state-name, state-counts   its texts: the name; "now N · in M"; its exits when non-zero
    edge                       each transition's <g>; also `edge-hot` on those of the flow's
                               highest count, when above zero
    edge-label, edge-count     its label's <text>, and the count's <tspan> in it
    edge-arrow                 the arrowhead of the one <marker>

Every text of the flow (names, labels) is escaped: authors' text, but treated as hostile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

CHAR_W, LABEL_CHAR_W = 7.0, 6.6  # a 12px sans-serif character, roughly
LINE, GAP_Y, MIN_GAP_X, BEND, MARGIN = 16, 28, 90, 64, 16
MAX_LABEL, MAX_NAME = 28, 30
TIMES = "\u00d7"  # the multiplication sign before a count
EXIT_NAMES = {"no_match": "no match", "timeout": "timeout", "error": "error"}
# Characters XML cannot hold, each replaced by U+FFFD (a table: no pattern meets the text).
_NOT_XML = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0xD800, 0xE000), 0xFFFE, 0xFFFF],
    "\ufffd",
)
Point = tuple[float, float]


@dataclass
class _Node:
    state: Mapping[str, Any]
    layer: int
    h: float = 0.0
    loops: int = 0
    x: float = 0.0
    y: float = 0.0


@dataclass
class _Edge:
    index: int
    source: str
    dest: str
    label: str
    count: int
    points: tuple[Point, ...] = ()  # a cubic curve, then a straight line to the last
    at: Point = (0.0, 0.0)  # its label's anchor
    anchor: str = "middle"


@dataclass
class _Layout:
    nodes: dict[str, _Node]
    w: float  # every state's width
    sides: dict[int, str] = field(default_factory=dict)  # back edges: "top" or "bottom"
    ports: dict[tuple[int, str], Point] = field(default_factory=dict)
    lanes: dict[int, float] = field(default_factory=dict)  # back edges' farthest y
    loops: dict[str, int] = field(default_factory=dict)  # self-loops drawn per state


def _n(value: float) -> str:
    return f"{round(value, 1):g}"


def _text(value: object) -> str:
    return escape(str(value).translate(_NOT_XML))


def _attr(value: object) -> str:
    return quoteattr(str(value).translate(_NOT_XML))


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _label_width(e: _Edge) -> float:
    return len(f"{_short(e.label, MAX_LABEL)} {TIMES}{e.count}") * LABEL_CHAR_W


def _exits(state: Mapping[str, Any]) -> list[str]:
    return [f"{EXIT_NAMES.get(k, k)} {int(v)}" for k, v in state["exits"].items() if int(v)]


def _layers(start: str, names: Sequence[str], edges: Sequence[_Edge]) -> dict[str, int]:
    """Each state's shortest distance from the start; the unreachable ones one past the last."""
    found = {start: 0} if start in names else {}
    frontier = list(found)
    while frontier:
        nxt = [e.dest for s in frontier for e in edges if e.source == s and e.dest not in found]
        for name in nxt:
            found.setdefault(name, found[frontier[0]] + 1)
        frontier = list(dict.fromkeys(nxt))
    last = max(found.values(), default=-1) + 1
    return {name: found.get(name, last) for name in names}


def _order(columns: list[list[str]], nodes: Mapping[str, _Node], edges: Sequence[_Edge]) -> None:
    """Barycenter sweeps, down and up, twice: each state near the middle of its neighbours in
    the column before (down) or after (up). Stable, so the same input orders the same."""
    pos = {n: i - (len(col) - 1) / 2 for col in columns for i, n in enumerate(col)}
    ahead = [e for e in edges if nodes[e.dest].layer == nodes[e.source].layer + 1]
    before = {n: [e.source for e in ahead if e.dest == n] for n in nodes}
    after = {n: [e.dest for e in ahead if e.source == n] for n in nodes}

    def middle(n: str, near: Mapping[str, list[str]]) -> float:
        return sum(pos[m] for m in near[n]) / len(near[n]) if near[n] else pos[n]

    for _ in range(2):
        for cols, near in ((columns[1:], before), (columns[-2::-1], after)):
            for col in cols:
                col.sort(key=lambda n: middle(n, near))
                pos.update({n: i - (len(col) - 1) / 2 for i, n in enumerate(col)})


def _loop_space(loops: int) -> float:
    return 0.0 if not loops else 0.75 * (22 + 14 * (loops - 1)) + 20


def _place(lay: _Layout, columns: list[list[str]], edges: Sequence[_Edge]) -> None:
    """Columns side by side, each gap as wide as the labels lying in it; states stacked in
    their column (room above those with loops), columns centred on the tallest."""
    nodes = lay.nodes
    gaps = [float(MIN_GAP_X)] * len(columns)
    for e in edges:
        layer, other = nodes[e.source].layer, nodes[e.dest].layer
        if other == layer + 1:
            gaps[layer] = max(gaps[layer], _label_width(e) + BEND + 16)
        elif other == layer and e.source != e.dest:
            gaps[layer] = max(gaps[layer], _label_width(e) + 70)
    heights = []
    for col in columns:
        y = 0.0
        for name in col:
            y += _loop_space(nodes[name].loops)
            nodes[name].y = y
            y += nodes[name].h + GAP_Y
        heights.append(y - GAP_Y)
    x = 0.0
    for col, height, gap in zip(columns, heights, gaps, strict=True):
        for name in col:
            nodes[name].x = x
            nodes[name].y += (max(heights) - height) / 2
        x += lay.w + gap


def _side(lay: _Layout, e: _Edge, end: str) -> str:
    """The side of its state an edge's end is on: forward edges leave on the right and
    enter on the left, edges within a column use the right, back edges top or bottom."""
    src, dst = lay.nodes[e.source], lay.nodes[e.dest]
    if dst.layer < src.layer and e.index not in lay.sides:
        ends = [n for n in lay.nodes.values() if n.layer in (src.layer, dst.layer)]
        below = sum(1 for n in ends if n.y > (src if n.layer == src.layer else dst).y)
        lay.sides[e.index] = "top" if len(ends) - 2 - below < below else "bottom"
    if e.index in lay.sides:
        return lay.sides[e.index]
    return "right" if end == "src" or src.layer == dst.layer else "left"


def _ports(lay: _Layout, edges: Sequence[_Edge]) -> None:
    """Where each edge leaves and enters a state: spread along the state's side, in the
    order of the other end, so parallel edges never share a line."""
    at: dict[tuple[str, str], list[tuple[float, int, str]]] = {}
    for e in edges:
        if e.source == e.dest:
            continue
        for end, here, there in (("src", e.source, e.dest), ("dst", e.dest, e.source)):
            side, here_x = _side(lay, e, end), lay.nodes[here].x
            # top and bottom: the farther the other end, the outer the port (arcs nest)
            key = here_x - lay.nodes[there].x if side in ("top", "bottom") else lay.nodes[there].y
            at.setdefault((here, side), []).append((key, e.index, end))
    for (name, side), found in at.items():
        n, w = lay.nodes[name], lay.w
        for k, (_, index, end) in enumerate(sorted(found)):
            f = (k + 1) / (len(found) + 1)
            lay.ports[(index, end)] = {
                "right": (n.x + w, n.y + n.h * f), "left": (n.x, n.y + n.h * f),
                "top": (n.x + w * f, n.y), "bottom": (n.x + w * f, n.y + n.h),
            }[side]  # fmt: skip


def _lanes(lay: _Layout, edges: Sequence[_Edge]) -> None:
    """How far each back edge curves: past every state of the columns it spans, and past the
    shorter back edges on its side, so that arcs nest."""
    for side, sign in (("top", -1), ("bottom", 1)):
        on = [e for e in edges if lay.sides.get(e.index) == side]
        on.sort(key=lambda e: (lay.nodes[e.source].x - lay.nodes[e.dest].x, e.index))
        for k, e in enumerate(on):
            low, high = lay.nodes[e.dest].layer, lay.nodes[e.source].layer
            span = [n for n in lay.nodes.values() if low <= n.layer <= high]
            edge = [n.y + n.h if sign > 0 else n.y - _loop_space(n.loops) for n in span]
            lay.lanes[e.index] = (max(edge) if sign > 0 else min(edge)) + sign * (30 + 22 * k)


def _route(lay: _Layout, e: _Edge) -> None:
    """The edge's path and where its label goes."""
    if e.source == e.dest:  # a loop on top of its state, larger for each further one
        node = lay.nodes[e.source]
        k = lay.loops[e.source] = lay.loops.get(e.source, -1) + 1
        cx, half, rise, y = node.x + lay.w * 0.7, 14 + 6 * k, 22 + 14 * k, node.y
        up = y - rise
        e.points = ((cx + half, y), (cx + half + 8, up), (cx - half - 8, up), (cx - half, y))
        e.at, e.anchor = (cx + half + 8, y - 0.75 * rise + 4), "start"
        return
    (x0, y0), (x3, y3) = lay.ports[(e.index, "src")], lay.ports[(e.index, "dst")]
    if side := lay.sides.get(e.index):  # back to an earlier column: the label at its middle
        lane = lay.lanes[e.index]
        c = (8 * lane - y0 - y3) / 6  # so that the curve's middle is on its lane
        e.points = ((x0, y0), (x0, c), (x3, c), (x3, y3))
        e.at = ((x0 + x3) / 2, lane + (14 if side == "bottom" else -4))
    elif lay.nodes[e.source].layer == lay.nodes[e.dest].layer:  # an arc out to the right
        bulge = min(60.0, 24 + 0.2 * abs(y3 - y0))
        e.points = ((x0, y0), (x0 + bulge, y0), (x3 + bulge, y3), (x3, y3))
        e.at, e.anchor = (x0 + 0.75 * bulge + 4, (y0 + y3) / 2 + 4), "start"
    else:  # a bend, then straight on to the next column: the label over the straight end
        e.points = ((x0, y0), (x0 + BEND / 2, y0), (x0 + BEND / 2, y3), (x0 + BEND, y3), (x3, y3))
        e.at, e.anchor = (x3 - 10, y3 - 4), "end"


def _box(e: _Edge) -> tuple[float, float, float, float]:
    width = _label_width(e)
    x = {"start": e.at[0], "end": e.at[0] - width}.get(e.anchor, e.at[0] - width / 2)
    return x, e.at[1] - 11, x + width, e.at[1] + 3


def _spread(edges: Sequence[_Edge]) -> None:
    """Moves labels down, top first, until none overlaps another."""
    placed: list[tuple[float, float, float, float]] = []
    for e in sorted(edges, key=lambda e: (e.at[1], e.at[0], e.index)):
        while hit := [b for b in placed if b[0] < _box(e)[2] and _box(e)[0] < b[2]
                      and b[1] < _box(e)[3] and _box(e)[1] < b[3]]:  # fmt: skip
            e.at = (e.at[0], max(b[3] for b in hit) + 13)
        placed.append(_box(e))


def _state_svg(node: _Node, w: float) -> str:
    s, x, y = node.state, node.x, node.y
    kinds = [k for k in ("start", "final", "dropoff") if s.get(k)]
    lines = [f"now {int(s['now'])} · in {int(s['entered'])}"]
    lines += [" · ".join(_exits(s))] if _exits(s) else []
    name = str(s["name"])
    top = y + (node.h - LINE * (len(lines) + 1)) / 2 - 4  # the text centred in the box
    texts = "".join(
        f'<text class="state-counts" x="{_n(x + w / 2)}" y="{_n(top + LINE * (i + 2))}"'
        f' text-anchor="middle">{_text(line)}</text>'
        for i, line in enumerate(lines)
    )
    return (
        f"<g class={_attr(' '.join(['state', *kinds]))} data-state={_attr(name)}>"
        f"<title>{_text(f'{name}: ' + ', '.join([*lines, *kinds]))}</title>"
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(node.h)}" rx="8"'
        f' fill="#fff" stroke="#666"/>'
        f'<text class="state-name" x="{_n(x + w / 2)}" y="{_n(top + LINE)}"'
        f' text-anchor="middle" font-weight="bold">{_text(_short(name, MAX_NAME))}</text>'
        f"{texts}</g>"
    )


def _edge_svg(e: _Edge, hot: int, marker: str) -> str:
    p = [f"{_n(x)},{_n(y)}" for x, y in e.points]
    d = f"M{p[0]} C{' '.join(p[1:4])}" + "".join(f" L{q}" for q in p[4:])
    return (
        f'<g class="{"edge edge-hot" if e.count == hot > 0 else "edge"}"'
        f" data-from={_attr(e.source)} data-to={_attr(e.dest)}>"
        f"<title>{_text(f'{e.source} → {e.dest}: {e.label} {TIMES}{e.count}')}</title>"
        f'<path d="{d}" fill="none" stroke="#888" marker-end="url(#{marker})"/>'
        f'<text class="edge-label" x="{_n(e.at[0])}" y="{_n(e.at[1])}" text-anchor="{e.anchor}"'
        f' paint-order="stroke" stroke="#fff" stroke-width="4" stroke-linejoin="round">'
        f"{_text(_short(e.label, MAX_LABEL))}"
        f'<tspan class="edge-count"> {TIMES}{e.count}</tspan></text></g>'
    )


def _view_box(lay: _Layout, edges: Sequence[_Edge]) -> str:
    xs = [v for n in lay.nodes.values() for v in (n.x, n.x + lay.w)]
    ys = [v for n in lay.nodes.values() for v in (n.y, n.y + n.h)]
    for e in edges:  # a curve stays within its control points
        x0, y0, x1, y1 = _box(e)
        xs += [x0, x1, *(p[0] for p in e.points)]
        ys += [y0, y1, *(p[1] for p in e.points)]
    left, top = min(xs, default=0) - MARGIN, min(ys, default=0) - MARGIN
    right, bottom = max(xs, default=0) + MARGIN, max(ys, default=0) + MARGIN
    return f"{_n(left)} {_n(top)} {_n(right - left)} {_n(bottom - top)}"


def _layout(figures: Mapping[str, Any]) -> tuple[_Layout, list[list[str]], list[_Edge]]:
    states = {str(s["name"]): s for s in figures["states"]}
    edges = [
        _Edge(i, str(t["from"]), str(t["to"]), str(t["label"]), int(t["count"]))
        for i, t in enumerate(figures["transitions"])
        if str(t["from"]) in states and str(t["to"]) in states
    ]
    layers = _layers(str(figures["start"]), list(states), edges)
    texts = [name[:MAX_NAME] for name in states] + ["now 00000 · in 00000"]
    texts += [" · ".join(_exits(s)) for s in states.values()]
    lay = _Layout({n: _Node(s, layers[n]) for n, s in states.items()},
                  min(260.0, max(120.0, max(map(len, texts)) * CHAR_W + 20)))  # fmt: skip
    lines = 3 if any(_exits(s) for s in states.values()) else 2
    for name, node in lay.nodes.items():  # tall enough for a label on each edge entering
        entering = sum(1 for e in edges if e.dest == name and layers[e.source] + 1 == node.layer)
        node.h = max(12.0 + LINE * lines, 16.0 * (entering + 1))
        node.loops = sum(1 for e in edges if e.source == e.dest == name)
    columns = [[n for n in states if layers[n] == i] for i in sorted(set(layers.values()))]
    _order(columns, lay.nodes, edges)
    _place(lay, columns, edges)
    _ports(lay, edges)
    _lanes(lay, edges)
    for e in edges:
        _route(lay, e)
    _spread(edges)
    return lay, columns, edges


def flow_svg(figures: Mapping[str, Any]) -> str:
    """One `<svg>` of the flow `figures` describe (what `flow_figures` returns); transitions
    naming no state of the flow are left out."""
    lay, columns, edges = _layout(figures)
    hot = max((e.count for e in edges), default=0)
    name = str(figures["name"])
    marker = "flow-arrow-" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:10]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-diagram" width="100%"'
        f' viewBox="{_view_box(lay, edges)}" role="img" aria-label={_attr(f"Flow {name}")}'
        f' font-family="sans-serif" font-size="12">'
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5"'
        f' markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto">'
        f'<path class="edge-arrow" d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>'
        + "".join(_edge_svg(e, hot, marker) for e in edges)
        + "".join(_state_svg(lay.nodes[n], lay.w) for col in columns for n in col)
        + "</svg>"
    )
