"""A template as CAMS describes it (GetChatappTemplateDetail's `Data`): its `Components`, each
with a `Type` (HEADER, BODY, FOOTER, BUTTONS), a `Format` (a header's TEXT, IMAGE, VIDEO,
DOCUMENT, LOCATION), a `Text`, a `Url` and, for BUTTONS, `Buttons` with their own `Type`,
`Text` and `Url`. Its variables are written `{{name}}` in those texts and URLs; a send fills
them in TemplateParams, a media header's URL under `link` unless the header names a variable
of its own. `bot templates sync` compares these with `templates:`; the fake CAMS checks sends
against them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
HEADER_PARAM = "link"  # where a media header's URL goes when its component names no variable


def _components(detail: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    components = detail.get("Components")
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict):
            yield component


def _found(*texts: Any) -> list[str]:
    return [name for text in texts for name in _VARIABLE.findall(str(text or ""))]


def _buttons(component: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    buttons = component.get("Buttons")
    for button in buttons if isinstance(buttons, list) else []:
        if isinstance(button, dict):
            yield button


def _header(detail: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for component in _components(detail):
        if str(component.get("Type", "")).upper() == "HEADER":
            return component
    return None


def variables(detail: Mapping[str, Any]) -> list[str]:
    """The `{{name}}` variables of a template's components, in their texts and URLs (its
    buttons' too), in order, each once; a media header's own variable is not among them
    (`header_variable`)."""
    found: list[str] = []
    header = header_variable(detail)
    for component in _components(detail):
        names = _found(component.get("Text"), component.get("Url"))
        names += [n for b in _buttons(component) for n in _found(b.get("Text"), b.get("Url"))]
        found += [n for n in names if n not in found and n != header]
    return found


def button_variables(detail: Mapping[str, Any]) -> list[str]:
    """The variables of a template's buttons' URLs, in order, each once."""
    found: list[str] = []
    for component in _components(detail):
        for button in _buttons(component):
            found += [n for n in _found(button.get("Url")) if n not in found]
    return found


def header_of(detail: Mapping[str, Any]) -> str:
    """A template's header type as the catalogue says it: none, text, image..."""
    header = _header(detail)
    return "none" if header is None else str(header.get("Format") or "text").lower()


def header_variable(detail: Mapping[str, Any]) -> str | None:
    """The variable a send gives its media header's URL as: the one its HEADER component
    names (`{{name}}` in its Url or Text), else `link`; None without a media header."""
    header = _header(detail)
    if header is None or str(header.get("Format") or "").upper() not in MEDIA_FORMATS:
        return None
    named = _found(header.get("Url"), header.get("Text"))
    return named[0] if named else HEADER_PARAM
