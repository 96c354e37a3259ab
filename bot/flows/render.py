"""`{{ name }}` placeholders in texts and template parameters, filled from conversation data.

Texts are parsed once at start-up into parts; rendering is a join. A dotted name reads
nested data (`{{ order.id }}`). A name the data lacks renders as an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True, slots=True)
class Text:
    """A compiled text: literal parts and placeholder paths, alternating."""

    parts: tuple[str | tuple[str, ...], ...]

    @classmethod
    def compile(cls, source: str) -> Text:
        parts: list[str | tuple[str, ...]] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(source):
            if m.start() > pos:
                parts.append(source[pos : m.start()])
            parts.append(tuple(m.group(1).split(".")))
            pos = m.end()
        if pos < len(source):
            parts.append(source[pos:])
        return cls(tuple(parts))

    @property
    def names(self) -> tuple[str, ...]:
        """The placeholders used, as dotted names."""
        return tuple(".".join(p) for p in self.parts if isinstance(p, tuple))

    def render(self, data: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else _lookup(data, p) for p in self.parts)
