"""The stored form of the values the store keeps, and the way back: one encoder and one
decoder each.

    conversation  the hash fields `f s fv d li sp vi at o a h rt q tm otp` (and `v`, which the
                  commit script keeps)
    timer         a member `visit|name|conv` of the partition's timers, scored by its due time
    counters      a hash of counters, HINCRBY integers and HINCRBYFLOAT decimals

Every form is read as the current release writes it and as every earlier one wrote it: a
field added later is optional (absent means its default).
"""

from __future__ import annotations

import json
from typing import Any

from bot.flows.engine import Conversation
from bot.model import Timer


def dumps(value: Any) -> str:
    """Compact JSON, text as it is (not \\u-escaped)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text(value: bytes | str) -> str:
    """A string Redis answered, as text."""
    return value.decode() if isinstance(value, bytes) else value


# -- conversations ---------------------------------------------------------------------------


def conversation_fields(conv: Conversation, space: str, *, active: bool) -> list[str]:
    """The hash fields of a conversation. `a` (in a flow) and `o` (opted out) are read by
    the intake of business triggers, atomically with their enqueueing."""
    return [
        "f", conv.flow or "",
        "s", conv.state or "",
        "fv", conv.flow_version,
        "d", dumps(conv.data),
        "li", str(conv.last_inbound_ms),
        "sp", space,
        "vi", str(conv.visit),
        "at", str(conv.attempts),
        "o", "1" if conv.opted_out else "",
        "a", "1" if active or conv.handoff else "",
        "h", conv.handoff,
        "rt", conv.resume_to,
        "q", dumps(list(conv.queue)) if conv.queue else "",
        "tm", dumps([[t.name, t.due_ms] for t in conv.timers]) if conv.timers else "",
        "otp", dumps(conv.otp) if conv.otp else "",
    ]  # fmt: skip


def conversation_from_hash(raw: dict[bytes, bytes]) -> tuple[Conversation, str]:
    """A stored conversation hash -> (Conversation, CustSpaceId)."""
    if not raw:
        return Conversation(), ""
    get = {k.decode(): v.decode() for k, v in raw.items()}
    return (
        Conversation(
            flow=get.get("f") or None,
            state=get.get("s") or None,
            version=int(get.get("v", "0")),
            flow_version=get.get("fv", ""),
            data=json.loads(get["d"]) if get.get("d") else {},
            last_inbound_ms=int(get.get("li", "0")),
            visit=int(get.get("vi", "0")),
            attempts=int(get.get("at", "0")),
            opted_out=get.get("o") == "1",
            handoff=get.get("h", ""),
            resume_to=get.get("rt", ""),
            queue=tuple(json.loads(get["q"])) if get.get("q") else (),
            timers=tuple(Timer(n, d) for n, d in json.loads(get["tm"])) if get.get("tm") else (),
            otp=json.loads(get["otp"]) if get.get("otp") else None,
        ),
        get.get("sp", ""),
    )


# -- timers ----------------------------------------------------------------------------------


def timer_member(conv_id: str, visit: int, name: str) -> str:
    """A timer in the partition's sorted set: `visit|name|conv`, scored by its due time."""
    return f"{visit}|{name}|{conv_id}"


def parse_timer_member(member: str | bytes) -> tuple[str, int, str]:
    """(conv id, visit, name) of a timer's member."""
    visit, name, conv_id = text(member).split("|", 2)
    return conv_id, int(visit), name


# -- counters --------------------------------------------------------------------------------


def parse_counters(raw: dict[bytes, bytes]) -> dict[str, float]:
    """A counters hash: HINCRBY values as int, HINCRBYFLOAT ones as float."""
    out: dict[str, float] = {}
    for name, value in raw.items():
        number = text(value)
        out[text(name)] = float(number) if any(c in number for c in ".eE") else int(number)
    return out
