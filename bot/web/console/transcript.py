"""A conversation's history as the console shows it: the chat (what the customer wrote,
what the bot and agents answered, with each reply's delivery ticks) and the step trace (each
step's event, move and outcome; how the conversation ended, when it did). Pure: entries in,
values for the templates out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.model import HistoryEntry, HistoryKind

# A reply's delivery, in the order a message goes through them.
TICKS = {"": 0, "sent": 1, "delivered": 2, "read": 3}


@dataclass
class Delivery:
    """What became of one reply: its latest status and every report, in order."""

    status: str = ""  # "" (not sent yet), sent, delivered, read, failed
    error: str = ""
    reports: list[tuple[int, str, str]] = field(default_factory=list)  # (at_ms, status, error)

    def record(self, at_ms: int, status: str, error: str = "") -> None:
        status = status.lower()
        self.reports.append((at_ms, status, error))
        if status == "failed":
            self.status, self.error = "failed", error
        elif self.status != "failed" and TICKS.get(status, 0) > TICKS.get(self.status, 0):
            self.status = status


@dataclass(frozen=True)
class Bubble:
    """One message of the chat: `side` is `customer`, `bot`, `agent` or `note` (a thing
    that happened, not a message)."""

    side: str
    at_ms: int
    text: str
    template: str = ""
    buttons: tuple[str, ...] = ()
    task: str = ""
    delivery: Delivery | None = None


@dataclass(frozen=True)
class TraceRow:
    at_ms: int
    event: str
    from_state: str
    to_state: str
    outcome: str


@dataclass(frozen=True)
class Transcript:
    bubbles: list[Bubble]
    trace: list[TraceRow]  # the latest first
    ended: TraceRow | None  # the step that left the last flow, when the conversation is idle


def _event_label(event: Mapping[str, Any]) -> str:
    kind = event.get("t", "")
    if kind == "in":
        return f"message ({event.get('kind') or 'text'})"
    if kind in ("intent", "timer", "call"):
        arg = {"intent": "code", "timer": "name", "call": "outcome"}[kind]
        return f"{kind} {event.get(arg, '?')}"
    fixed = {"resume": "handoff ended", "agent": "agent answer", "restart": "restart",
             "failed": "send failed"}  # fmt: skip
    return fixed.get(kind, str(kind or "?"))


def _customer_bubble(event: Mapping[str, Any], at_ms: int) -> Bubble:
    said = event.get("text")
    kind = event.get("kind") or "text"
    media = event.get("media")
    if isinstance(media, Mapping):  # a photo, a file, a location...: what it was, as text
        return Bubble("customer", at_ms, f"[{kind}{_media_details(media)}]")
    if said is None or said == "":
        text = f"[{kind}]" if kind != "text" else "(text not kept)"
    else:
        text = str(said)
    return Bubble("customer", at_ms, text)


def _media_details(media: Mapping[str, Any]) -> str:
    """`: caption` (a file's name, a place's name and coordinates, the contacts' names),
    or nothing; the media's URL is never shown as a link (the console fetches nothing)."""
    parts = [str(media[k]) for k in ("caption", "filename", "name", "address") if media.get(k)]
    if "latitude" in media and "longitude" in media:
        parts.append(f"{media['latitude']}, {media['longitude']}")
    contacts = media.get("contacts")
    if isinstance(contacts, list):
        parts += [str(c.get("name", "")) for c in contacts if isinstance(c, Mapping)]
    shown = "; ".join(p for p in parts if p)
    return f": {shown}" if shown else ""


def _reply_bubble(side: str, reply: Mapping[str, Any], at_ms: int, task: str,
                  delivery: Delivery | None) -> Bubble:  # fmt: skip
    template = reply.get("template")
    shown = ""
    if isinstance(template, Mapping):
        params = template.get("params") or {}
        listed = ", ".join(f"{k}={v}" for k, v in params.items()) if params else ""
        shown = f"{template.get('code', '?')} ({template.get('language', '?')})"
        shown += f": {listed}" if listed else ""
        header = template.get("header")  # [kind, url, name], or the kind alone
        if header:
            shown += f" [{header[0] if isinstance(header, list) else header} header]"
    kept = reply.get("buttons", ())
    # Without texts kept (BOT_HISTORY_TEXT=false) a reply keeps how many buttons it had.
    buttons = tuple(str(b[0]) for b in kept if b) if isinstance(kept, list) else ()
    text = str(reply.get("text", ""))
    if "link" in reply:
        text = "\n".join(t for t in (text, _link(reply["link"])) if t)
    return Bubble(side, at_ms, text, shown, buttons, task, delivery)


def _link(link: Any) -> str:
    """A link button as text: `[link: LABEL, URL]` (the page escapes it and makes no link of
    it: the URL holds data), `[link]` when its words were not kept."""
    if isinstance(link, list) and len(link) == 2:
        return f"[link: {link[0]}, {link[1]}]"
    return "[link]"


def transcript(entries: Sequence[HistoryEntry], *, trace_rows: int = 12) -> Transcript:
    """The chat and the step trace of `entries` (oldest first)."""
    deliveries: dict[str, Delivery] = {}
    for e in entries:
        if e.kind is HistoryKind.SENT:
            deliveries.setdefault(e.task, Delivery()).record(e.at_ms, "sent")
        elif e.kind is HistoryKind.FAILED:
            deliveries.setdefault(e.task, Delivery()).record(e.at_ms, "failed", e.error)
        elif e.kind is HistoryKind.STATUS:
            deliveries.setdefault(e.task, Delivery()).record(e.at_ms, e.status, e.error)
    bubbles: list[Bubble] = []
    steps: list[TraceRow] = []
    for e in entries:
        if e.kind is not HistoryKind.STEP:
            continue
        event = e.event or {}
        label = _event_label(event)
        outcome = e.outcome
        if e.missing_language:  # a text went in another language than the customer's
            outcome += f" (no {e.missing_language} text)"
        steps.append(TraceRow(e.at_ms, label, e.from_state, e.to_state, outcome))
        kind = event.get("t")
        if kind == "in":
            bubbles.append(_customer_bubble(event, e.at_ms))
        elif kind != "agent":
            bubbles.append(Bubble("note", e.at_ms, label))
        side = "agent" if kind == "agent" else "bot"
        for i, reply in enumerate(e.replies):
            task = e.tasks[i] if i < len(e.tasks) else ""
            bubbles.append(_reply_bubble(side, reply, e.at_ms, task, deliveries.get(task)))
    ended = next((s for s in reversed(steps) if s.from_state and not s.to_state), None)
    if steps and steps[-1].to_state:
        ended = None
    return Transcript(bubbles, list(reversed(steps))[:trace_rows], ended)


def failures(counters: Mapping[str, float], prefix: str) -> list[tuple[str, float]]:
    """The send failures by reason among `counters` (`failed:CODE`), the most first."""
    found = [(n.removeprefix(prefix), v) for n, v in counters.items() if n.startswith(prefix)]
    return sorted(found, key=lambda p: (-p[1], p[0]))
