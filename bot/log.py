"""Logging: named loggers per subsystem, one JSON object per line or a human format, the ids
of what is being worked on added to every line, customer ids masked, secrets never passed in.

The ids come from context variables: the request middleware sets `request_id`; the inbox
worker and the outbox sender set `conv` (masked) and `message_id` around each step and send;
the partition tasks set `partition`. `context(...)` sets them for a block; every record
logged inside it carries them, whatever logger it goes through.

Message texts are never logged, at any level (nor the errors of expressions, which may quote
them); only the sandbox prints the replies it fakes sending. Customer ids go through
`mask_conv` (a conversation id) or `mask_id` (a customer's id alone) before they reach a log
call; any other value that came with a request goes through `shown` (quoted, cut short,
numbers masked).

Whatever a call site passes, no line can be forged: both formatters write control
characters (CR, LF and the other C0 and C1 codes, DEL, the Unicode line and paragraph
separators, the bidirectional controls that reorder text on a terminal, lone surrogates) as
escapes (`\\n`, `\\x1b`, `\\u202e`) in the message and in every id, and cut overlong messages
and ids. A traceback keeps its lines: in JSON inside the one `exc` string; in the text format
each of its lines starts with `  | `, which no record's first line does (those start with the
time). Refusals by aiohttp's HTTP parser (a malformed request line or header, one over the
size limits) are one WARNING line without a traceback or the request's bytes (`setup`).
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

from aiohttp.http_exceptions import HttpProcessingError

_DIGITS = re.compile(r"\+?\d{6,}")

Format = Literal["auto", "json", "text"]

# The ids a log line names when known, in the order they are shown.
IDS = ("request_id", "conv", "message_id", "partition")

# What one line holds at most: a message (a customer's text at DEBUG is the longest there
# is), an id, a line of a traceback and the lines of one. Past them, the rest is left out.
MAX_MESSAGE = 8192
MAX_ID = 256
MAX_TRACEBACK_LINE = 1000
MAX_TRACEBACK_LINES = 200

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


# -- masking and showing values ----------------------------------------------------------


def mask_number(value: str) -> str:
    """`8613812345678` -> `861*********8`: enough to tell numbers apart, not to call them."""
    digits = value.lstrip("+")
    if len(digits) < 6:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 4) + digits[-1]


def mask_id(value: str) -> str:
    """A customer's id, whatever its shape: a phone number as `mask_number` does; any other
    id (an account, an e-mail address) keeps its first and last characters and its length:
    `alice.smith@example.com` -> `a*********************m`. Under 6 characters: all stars."""
    if _DIGITS.fullmatch(value):
        return mask_number(value)
    if len(value) < 6:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_text(text: str) -> str:
    """Free text (an error, a reason) with its phone numbers (runs of 6 or more digits)
    masked. It cannot find other kinds of ids: never pass it one."""
    return _DIGITS.sub(lambda m: mask_number(m.group(0)), text)


def mask_conv(conv_id: str) -> str:
    """A conversation id for logs: `PLATFORM:CHANNEL:BUSINESS:CUSTOMER` with the customer
    masked whatever its shape (`mask_id`) and the other parts' phone numbers masked
    (`cams:whatsapp:861*********0:a*********************m`). A value that is not a
    conversation id is masked as free text."""
    parts = conv_id.split(":", 3)
    if len(parts) < 4:
        return mask_text(conv_id)
    return f"{mask_text(':'.join(parts[:3]))}:{mask_id(parts[3])}"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, `...` marking the cut."""
    return text if len(text) <= limit else text[:limit] + "..."


def shown(value: object, limit: int = 64, *, quote: bool = True) -> str:
    """A value that came with a request, for a log line or a refusal's reason (which is
    logged): at most `limit` of its characters (then `...`), its phone numbers masked, its
    control characters escaped, quoted unless `quote` is False. A customer's id goes
    through `mask_id` first: this masks numbers only."""
    text = str(value)
    # Masked before it is cut, so that a number across the cut is masked whole.
    masked = mask_text(text[: limit + 32])[:limit]
    if len(text) > limit:
        masked += "..."
    return repr(masked) if quote else escape(masked)


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")


def shown_name(value: str, limit: int = 32) -> str:
    """A value from a caller that should be a name from a short list (a message Type, a
    callback command): `shown` when it looks like one (a letter, then letters, digits, `_`
    or `.`, at most `limit` of them), else only its length, `<23 characters>`: anything
    else may be anyone's data, an e-mail address or a phone number."""
    if len(value) <= limit and _NAME.fullmatch(value):
        return shown(value, limit)
    return f"<{len(value)} characters>"


# -- escaping ----------------------------------------------------------------------------

# C0 controls (CR, LF, ESC...), DEL and C1 controls (NEL...), the Unicode line and paragraph
# separators, the bidirectional controls (a terminal shows `\u202e`-reversed text backwards)
# and lone surrogates (aiohttp keeps undecodable bytes that way; they cannot be written as
# UTF-8). A character class: the scan is linear, whatever the text.
_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` on one line that shows as it is: control characters written as escapes
    (`\\n`, `\\x1b`, `\\u2028`, `\\u202e`). Backslashes are left as they are."""
    if text.isprintable():  # none of them is: most lines are done with this one C scan
        return text
    return _UNSAFE.sub(_escaped, text)


def _one_line(text: str, limit: int) -> str:
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return escape(text)


def _lines(text: str) -> list[str]:
    """A traceback's lines, each escaped and cut short, at most MAX_TRACEBACK_LINES of
    them (the first and the last ones: where it started, where it failed)."""
    lines = [_one_line(line, MAX_TRACEBACK_LINE) for line in text.split("\n")]
    if len(lines) > MAX_TRACEBACK_LINES:
        head = MAX_TRACEBACK_LINES // 4
        tail = MAX_TRACEBACK_LINES - head
        lines = [*lines[:head], f"... ({len(lines) - head - tail} lines left out)", *lines[-tail:]]
    return lines


# -- context ids -------------------------------------------------------------------------


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
    """The record's known ids, text ones cut to MAX_ID characters (not yet escaped)."""
    ids: dict[str, Any] = {}
    for name in IDS:
        value = getattr(record, name, None)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            value = str(value)
            if len(value) > MAX_ID:
                value = f"{value[:MAX_ID]}... ({len(value) - MAX_ID} more characters)"
        ids[name] = value
    return ids


def _message(record: logging.LogRecord) -> str:
    return _one_line(record.getMessage(), MAX_MESSAGE)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the known ids, exc (a traceback).
    The message and the ids are escaped (`escape`) before they are encoded, so what a
    reader decodes (`jq -r .msg`) is one line too; `exc` keeps its line breaks."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": _message(record),
            **{k: escape(v) if isinstance(v, str) else v for k, v in _ids(record).items()},
        }  # fmt: skip
        if record.exc_info:
            line["exc"] = "\n".join(_lines(self.formatException(record.exc_info)))
        if record.stack_info:
            line["stack"] = "\n".join(_lines(self.formatStack(record.stack_info)))
        return json.dumps(line, ensure_ascii=False)


# Starts every line of a traceback in the text format; a record's first line starts with
# the time, so a line that starts otherwise belongs to the record above it.
CONTINUATION = "  | "


def _text_id(value: Any) -> str:
    """An id for `key=value`: quoted (repr) when it holds a space, `=` or a quote, so that
    one id cannot pass for two."""
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in " =\"'"):
        return text
    return escape(repr(text))


class TextFormatter(logging.Formatter):
    """`12:00:00 INFO    bot.worker: message request_id=... conv=...`, for people. A
    traceback follows on lines of its own, each starting with CONTINUATION."""

    def __init__(self) -> None:
        super().__init__(None, "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        when = self.formatTime(record, self.datefmt)
        text = f"{when} {record.levelname:<7} {record.name}: {_message(record)}"
        ids = _ids(record)
        if ids:
            text += " " + " ".join(f"{k}={_text_id(v)}" for k, v in ids.items())
        more: list[str] = []
        if record.exc_info:
            more += _lines(self.formatException(record.exc_info))
        if record.stack_info:
            more += _lines(self.formatStack(record.stack_info))
        return "\n".join([text, *(CONTINUATION + line for line in more)])


def handler(stream: TextIO, fmt: Format = "auto") -> logging.Handler:
    """A handler writing to `stream` in `fmt` (auto: text on a terminal, else JSON), with
    the context's ids."""
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    h = logging.StreamHandler(stream)
    h.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    h.addFilter(ContextFilter())
    return h


# The leading words of aiohttp's reasons ("Invalid char in url path", "Got more than 8190
# bytes when reading"): a phrase of its own, before the request's bytes that it quotes.
_PHRASE = re.compile(r"[A-Za-z][A-Za-z0-9 ,.-]{2,79}")
_PHRASE_END = re.compile(r"[:'\"\n]")


def refusal(exc: HttpProcessingError) -> str:
    """What a parser error says without the request's bytes: its kind, and the phrase that
    starts its message when it is one (words and a space, cut before any `:` or quote: a
    request line has no space in its target, so a token typed there never passes)."""
    phrase = _PHRASE_END.split(str(exc.message), maxsplit=1)[0].strip()
    if " " in phrase and _PHRASE.fullmatch(phrase):
        return f"{type(exc).__name__}: {phrase}"
    return type(exc).__name__


def setup(level: str = "INFO", fmt: Format = "auto", stream: TextIO | None = None) -> None:
    """Send every logger's records at `level` and above to stderr (or `stream`) in `fmt`."""
    root = logging.getLogger()
    root.handlers[:] = [handler(stream if stream is not None else sys.stderr, fmt)]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # transitions narrates every callback at INFO; its warnings still show.
    logging.getLogger("transitions").setLevel(logging.WARNING)
