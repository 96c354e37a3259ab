"""Answers that are not written: a photo, a document, a voice note or audio file, a video, a
location or a contact, for the slot types of the same names (`media`: any of them).

The slot keeps what the platform said of it (`Inbound.media`): for a photo, video, audio or
document its `kind`, media `id`, `url` (CAMS's, valid for 7 days), `mime_type`, `filename`
and `caption`, those given; for a location `latitude`, `longitude`, `name`, `address`; for
a contact `contacts`, each a `name` and `phones`. The server never fetches the media: a
`call:` passes the URL or id on to the business system, which does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.flows.answers.parsed import Parsed, bad, good

# The slot type each kind of message answers (an Inbound's `kind`).
_ANSWERS = {
    "image": "image",
    "document": "document",
    "audio": "audio",
    "video": "video",
    "location": "location",
    "contacts": "contact",
}


def media_answer(wanted: str, kind: str, media: Mapping[str, Any] | None) -> Parsed:
    """The value of a message of `kind` with `media` for a slot of type `wanted`, or
    `wrong_kind`."""
    answers = _ANSWERS.get(kind)
    if answers is None or media is None or wanted not in (answers, "media"):
        return bad("wrong_kind")
    if not _has_content(answers, media):  # a location without coordinates, a photo of nothing
        return bad("wrong_kind")
    return good(dict(media))


def _has_content(kind: str, media: Mapping[str, Any]) -> bool:
    if kind == "location":
        return "latitude" in media and "longitude" in media
    if kind == "contact":
        return bool(media.get("contacts"))
    return bool(media.get("id") or media.get("url"))
