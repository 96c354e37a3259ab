"""Logging: named loggers per subsystem, one JSON object per line or a human format, the ids
of what is being worked on added to every line, phone numbers masked, secrets never passed in.

The ids come from context variables: the request middleware sets `request_id`; the inbox
worker and the outbox sender set `conv` (masked) and `message_id` around each step and send;
the partition tasks set `partition`. `context(...)` sets them for a block; every record
logged inside it carries them, whatever logger it goes through.

Message texts are logged at DEBUG only; phone numbers go through `mask_number` or
`mask_conv` before they reach a log call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

_DIGITS = re.compile(r"\+?\d{6,}")

Format = Literal["auto", "json", "text"]

# The ids a log line names when known, in the order they are shown.
IDS = ("request_id", "conv", "message_id", "partition")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_conv: ContextVar[str | None] = ContextVar("conv", default=None)  # raw: masked when read
_message_id: ContextVar[str | None] = ContextVar("message_id", default=None)
_partition: ContextVar[int | None] = ContextVar("partition", default=None)
_VARS: dict[str, ContextVar[Any]] = {
    "request_id": _request_id,
    "conv": _conv,
    "message_id": _message_id,
    "partition": _partition,
}


def mask_number(value: str) -> str:
    """`8613812345678` -> `861*********8`: enough to tell numbers apart, not to call them."""
    digits = value.lstrip("+")
    if len(digits) < 6:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 4) + digits[-1]


def mask_conv(conv_id: str) -> str:
    """A conversation id (or any text naming one) with its phone numbers masked, for logs."""
    return _DIGITS.sub(lambda m: mask_number(m.group(0)), conv_id)


@contextlib.contextmanager
def context(
    *,
    request_id: str | None = None,
    conv_id: str | None = None,
    message_id: str | None = None,
    partition: int | None = None,
) -> Iterator[None]:
    """Name what the code inside works on, on every line it logs. `conv_id` is the raw
    conversation id: it is masked on the lines (when one is written: most blocks log
    nothing at INFO). Ids not given keep their outer value."""
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = []
    if request_id is not None:
        tokens.append((_request_id, _request_id.set(request_id)))
    if conv_id is not None:
        tokens.append((_conv, _conv.set(conv_id)))
    if message_id is not None:
        tokens.append((_message_id, _message_id.set(message_id)))
    if partition is not None:
        tokens.append((_partition, _partition.set(partition)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _current(name: str) -> Any:
    value = _VARS[name].get()
    return mask_conv(value) if name == "conv" and value is not None else value


def current_ids() -> dict[str, Any]:
    """The ids set by the enclosing `context` blocks (the conversation's masked)."""
    return {k: v for k in _VARS if (v := _current(k)) is not None}


class ContextFilter(logging.Filter):
    """Copies the context's ids onto each record (unless the call gave them in `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in _VARS:
            if getattr(record, name, None) is None:
                setattr(record, name, _current(name))
        return True


def _ids(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k in IDS if (v := getattr(record, k, None)) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the known ids, exc (a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_ids(record),
        }  # fmt: skip
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`12:00:00 INFO    bot.worker: message request_id=... conv=...`, for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        ids = _ids(record)
        if ids:
            text += " " + " ".join(f"{k}={v}" for k, v in ids.items())
        return text


def handler(stream: TextIO, fmt: Format = "auto") -> logging.Handler:
    """A handler writing to `stream` in `fmt` (auto: text on a terminal, else JSON), with
    the context's ids."""
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    h = logging.StreamHandler(stream)
    h.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    h.addFilter(ContextFilter())
    return h


def setup(level: str = "INFO", fmt: Format = "auto", stream: TextIO | None = None) -> None:
    """Send every logger's records at `level` and above to stderr (or `stream`) in `fmt`."""
    root = logging.getLogger()
    root.handlers[:] = [handler(stream if stream is not None else sys.stderr, fmt)]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # transitions narrates every callback at INFO; its warnings still show.
    logging.getLogger("transitions").setLevel(logging.WARNING)
