"""What a platform says of a customer's photo, file, voice note, video or location, as
`Inbound.media` keeps it: short strings and numbers on the globe, never an object the
customer shaped. The server never fetches the media itself."""

from __future__ import annotations

from typing import Any

from bot.model import coordinate

MAX_MEDIA_TEXT = 1024  # characters of a media field kept (a caption, a name, an id)
MAX_MEDIA_URL = 2048  # characters of a media URL kept


def cut(value: Any, limit: int = MAX_MEDIA_TEXT) -> str:
    """A media field as kept: a string (a number as written), cut to `limit`; anything
    else (an object, a list, a boolean) is none."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)[:limit]
    return ""


def location(latitude: Any, longitude: Any, **texts: Any) -> dict[str, Any]:
    """A shared location: latitude and longitude when both are on the globe, and the
    `texts` given (name, address)."""
    media: dict[str, Any] = {"kind": "location"}
    lat, lon = coordinate(latitude, 90), coordinate(longitude, 180)
    if lat is not None and lon is not None:
        media["latitude"], media["longitude"] = lat, lon
    for name, value in texts.items():
        if kept := cut(value):
            media[name] = kept
    return media
