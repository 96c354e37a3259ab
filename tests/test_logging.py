"""Logs: JSON lines or the human format, the ids of what is being worked on on every line
(request id, masked conversation, message id, partition), the request id echoed in every
response."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot import log
from bot.runtime.sender import shown_error
from bot.web.middleware import request_id
from bot.web.server import ParserLog
from tests.conftest import AppFactory
from tests.support import RECEIPT_TOKEN, SIGNATURES, CamsServer, eventually, inbound

CONV = "cams:whatsapp:8613800000000:8613900000001"
MASKED = "cams:whatsapp:861*********0:861*********1"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Whatever a test does to the root logger is undone after it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def captured(root_logging: None) -> io.StringIO:
    """Every record of every logger, at DEBUG, as JSON lines (added to pytest's handlers;
    removed by `root_logging`)."""
    stream = io.StringIO()
    root = logging.getLogger()
    root.addHandler(log.handler(stream, "json"))
    root.setLevel(logging.DEBUG)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_masking() -> None:
    """Phone numbers keep their first three and last digits; a conversation id's customer
    is masked whatever its shape (an account, an e-mail address)."""
    assert log.mask_number("+8613812345678") == "861*********8"
    assert log.mask_number("12345") == "*****"
    assert log.mask_conv(CONV) == MASKED
    assert log.mask_conv("tencent:c2c:1400000001:alice") == "tencent:c2c:140******1:*****"


def test_a_json_line_names_the_ids_in_context() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.json")
    logger.addHandler(log.handler(stream, "json"))
    try:
        with log.context(request_id="req-1", conv_id=CONV, message_id="m-1", partition=3):
            logger.warning("hello %s", "world")
        logger.warning("outside")
    finally:
        logger.handlers.clear()
    inside, outside = lines(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", inside.pop("ts"))
    assert inside == {
        "level": "WARNING",
        "logger": "test.json",
        "msg": "hello world",
        "request_id": "req-1",
        "conv": MASKED,
        "message_id": "m-1",
        "partition": 3,
    }
    assert set(outside) == {"ts", "level", "logger", "msg"}


def test_the_text_format_adds_the_ids_as_key_value_pairs() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.text")
    logger.addHandler(log.handler(stream, "text"))
    try:
        with log.context(conv_id=CONV, partition=0):
            logger.warning("step done")
    finally:
        logger.handlers.clear()
    line = stream.getvalue().rstrip("\n")
    assert re.fullmatch(
        rf"\d\d:\d\d:\d\d WARNING test\.text: step done conv={re.escape(MASKED)} partition=0", line
    )


def test_exceptions_in_json_keep_one_line() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.exc")
    logger.addHandler(log.handler(stream, "json"))
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
    finally:
        logger.handlers.clear()
    [line] = lines(stream)
    assert line["msg"] == "it failed"
    assert line["level"] == "ERROR"
    assert "Traceback" in line["exc"]
    assert "ValueError: boom" in line["exc"]


def test_auto_is_text_on_a_terminal_and_json_otherwise() -> None:
    tty, pipe = Tty(), io.StringIO()
    logger = logging.getLogger("test.auto")
    logger.addHandler(log.handler(tty, "auto"))
    logger.addHandler(log.handler(pipe, "auto"))
    try:
        logger.warning("x")
    finally:
        logger.handlers.clear()
    assert tty.getvalue().endswith(" WARNING test.auto: x\n")
    assert json.loads(pipe.getvalue())["msg"] == "x"


def test_setup_sends_every_logger_to_one_handler(root_logging: None) -> None:
    stream = io.StringIO()
    log.setup("warning", "json", stream=stream)
    logging.getLogger("bot.something").info("not shown")
    logging.getLogger("aiohttp.server").error("shown")
    assert [line["msg"] for line in lines(stream)] == ["shown"]
    assert logging.getLogger().level == logging.WARNING


async def test_ids_belong_to_their_task() -> None:
    """Conversations worked on side by side each keep their own ids."""
    stream = io.StringIO()
    logger = logging.getLogger("test.tasks")
    logger.addHandler(log.handler(stream, "json"))
    logger.setLevel(logging.INFO)

    async def work(customer: str) -> None:
        with log.context(conv_id=f"cams:whatsapp:1:{customer}", message_id=customer):
            await asyncio.sleep(0.01)
            logger.info("step")

    try:
        with log.context(partition=7):
            await asyncio.gather(work("alice"), work("bob"))
        assert log.current_ids() == {}
    finally:
        logger.handlers.clear()
    got = sorted((line["conv"], line["message_id"], line["partition"]) for line in lines(stream))
    assert got == [("cams:whatsapp:1:***", "bob", 7), ("cams:whatsapp:1:*****", "alice", 7)]


def test_request_ids() -> None:
    assert request_id("abc-1.2:3_4") == "abc-1.2:3_4"
    for bad in (None, "", "x" * 65, "has space", "semi;colon", "ünï"):
        new = request_id(bad)
        assert re.fullmatch(r"[0-9a-f]{32}", new), bad
    assert request_id(None) != request_id(None)


async def test_every_response_echoes_the_request_id(make_client: AppFactory) -> None:
    client = await make_client()
    given = {"X-Request-Id": "trace-42"}
    for method, path in (
        ("GET", "/healthz"),
        ("GET", "/no/such/path"),
        ("POST", "/cams/receipts?token=wrong"),
        ("GET", "/metrics"),
        ("PUT", "/cams/receipts"),
    ):
        resp = await client.request(method, path, headers=given)
        assert resp.headers["X-Request-Id"] == "trace-42", (method, path, resp.status)
    resp = await client.get("/healthz", headers={"X-Request-Id": "not ok!"})
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])
    first = (await client.get("/healthz")).headers["X-Request-Id"]
    second = (await client.get("/healthz")).headers["X-Request-Id"]
    assert first != second


async def test_request_lines_carry_the_request_id(
    make_client: AppFactory, captured: io.StringIO
) -> None:
    client = await make_client()
    resp = await client.post(
        "/cams/receipts?token=wrong", json=[], headers={"X-Request-Id": "req-77"}
    )
    assert resp.status == 401
    refused = [
        line for line in lines(captured) if line["msg"].endswith("-> 401: missing or wrong token")
    ]
    assert refused
    assert refused[0]["request_id"] == "req-77"
    assert refused[0]["level"] == "WARNING"
    assert refused[0]["msg"].startswith("POST /cams/receipts ")
    assert "wrong" not in refused[0]["msg"].split(" -> ")[0]  # the query is never logged


async def test_steps_and_sends_name_conversation_and_message(
    make_client: AppFactory, fake_cams: CamsServer, captured: io.StringIO
) -> None:
    client = await make_client()
    item = inbound("hi", customer="8613900000001", message_id="cams-msg-1")
    resp = await client.post(f"/cams/receipts?token={RECEIPT_TOKEN}", json=[item])
    assert resp.status == 200
    await fake_cams.recorder.wait_for(1)

    def sent() -> list[dict[str, Any]]:
        return [line for line in lines(captured) if line["logger"] == "bot.sender"]

    await eventually(lambda: bool(sent()))
    [step] = [line for line in lines(captured) if line["msg"].startswith("step ")]
    assert step["level"] == "INFO"
    assert step["conv"] == MASKED
    assert step["message_id"] == "cams-msg-1"
    assert isinstance(step["partition"], int)
    assert step["msg"] == "step flow=menu state=None->choose outcome=started replies=1"
    [send] = sent()
    assert send["conv"] == MASKED
    assert send["partition"] == step["partition"]
    assert re.fullmatch(r"[0-9a-f]{16}\.1\.0", send["message_id"])  # the reply's TaskId
    intake = [line for line in lines(captured) if line["logger"] == "bot.web.cams"]
    assert intake
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in intake)
    # One line per push, at DEBUG: the step's line is the one at INFO.
    [receipts] = [line for line in intake if line["msg"].startswith("receipts: ")]
    assert receipts["level"] == "DEBUG"
    assert receipts["msg"] == (
        "receipts: 1 messages (1 new, 0 repeated), 0 statuses, 0 audits, 0 rejected"
    )


# -- what an attacker can write: one line each, escaped, cut short, ids masked ---------------

# What can end a line, move a terminal's cursor or reorder what it shows: C0 and C1
# controls, DEL, the Unicode line and paragraph separators, bidirectional overrides, and a
# lone surrogate (an undecodable byte as aiohttp keeps it).
UNSAFE = "\n\r\x00\x1b\x7f\x85\x9b\u2028\u2029\u202e\u2066\u061c\udcff"
FORGED = "12:00:00 ERROR   bot.web: forged"
TIME = re.compile(r"\d\d:\d\d:\d\d ")


def emit(fmt: log.Format, message: str, *args: Any, **ids: Any) -> str:
    """What `fmt` writes for one WARNING record of `message`, with `ids` in context (and
    only there: pytest's capture would keep the raw record, which may not even encode)."""
    stream = io.StringIO()
    logger = logging.getLogger(f"test.emit.{fmt}")
    logger.addHandler(log.handler(stream, fmt))
    logger.propagate = False
    try:
        with log.context(**ids):
            logger.warning(message, *args)
    finally:
        logger.handlers.clear()
        logger.propagate = True
    return stream.getvalue()


def test_escape_writes_control_characters_as_escapes() -> None:
    """Every control, separator and bidirectional character becomes a visible escape;
    printable text, non-Latin scripts and emoji stay as they are."""
    assert log.escape("a\nb\rc\td\x1be\x7f\x85\u2028\u202e\udcff") == (
        "a\\nb\\rc\\td\\x1be\\x7f\\x85\\u2028\\u202e\\udcff"
    )
    for kept in ("plain text", "你好", "مرحبا", "ok 👍🏽", "C:\\path\\n"):
        assert log.escape(kept) == kept
    assert not any(c in log.escape(UNSAFE) for c in UNSAFE)


def test_no_character_escape_writes_is_printable() -> None:
    """`escape` returns printable text at once (`str.isprintable`): that is sound only if
    every character it escapes is one Python does not call printable."""
    escaped = [chr(c) for c in range(sys.maxunicode + 1) if log._UNSAFE.match(chr(c))]
    assert len(escaped) > 2000  # the controls, separators, bidi controls and surrogates
    assert not [c for c in escaped if c.isprintable()]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_line_can_be_forged_in_the_message_or_an_id(fmt: log.Format) -> None:
    """Whatever the message and the ids hold, a record is written as one line without a
    control character: what would have started a new line shows as an escape."""
    hostile = f"x{UNSAFE}\n{FORGED}"
    out = emit(
        fmt,
        "refused %s",
        hostile,
        request_id=hostile,
        conv_id=f"cams:whatsapp:1:{hostile}",
        message_id=hostile,
    )
    assert out.endswith("\n")
    assert out.count("\n") == 1
    body = out[:-1]
    assert not any(c in body for c in UNSAFE), repr(body)
    if fmt == "json":
        line = json.loads(body)
        for key in ("msg", "request_id", "conv", "message_id"):
            assert not any(c in line[key] for c in UNSAFE), (key, line[key])
        assert line["msg"].startswith("refused x\\n\\r\\x00\\x1b")
        assert line["request_id"].endswith(f"\\n{FORGED}")
    else:
        assert "refused x\\n\\r\\x00\\x1b" in body
        assert TIME.match(body)


def test_an_id_in_the_text_format_cannot_pass_for_two() -> None:
    """A message id holding a space or `=` is quoted, so it cannot fake another key."""
    out = emit("text", "step", message_id="m-1 conv=cams:fake")
    assert out.rstrip("\n").endswith("""message_id='m-1 conv=cams:fake'""")
    assert emit("text", "step", message_id="m-2").rstrip("\n").endswith(" message_id=m-2")


def raise_hostile() -> None:
    raise ValueError(f"bad value\n{FORGED}\r\x1b[2J" + "A" * 50_000)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_traceback_stays_readable_but_cannot_start_a_line(fmt: log.Format) -> None:
    """A real bug's traceback keeps its lines; in the text format each starts with `  | `,
    so text from a request inside an exception's message can never begin a record, and
    each of its lines is cut short."""
    stream = io.StringIO()
    logger = logging.getLogger(f"test.traceback.{fmt}")
    logger.addHandler(log.handler(stream, fmt))
    try:
        try:
            raise_hostile()
        except ValueError:
            logger.exception("step failed")
    finally:
        logger.handlers.clear()
    out = stream.getvalue()
    if fmt == "json":
        assert out.count("\n") == 1
        exc = json.loads(out)["exc"]
        lines = exc.split("\n")
    else:
        first, *rest = out.rstrip("\n").split("\n")
        assert TIME.match(first)
        assert first.endswith("test.traceback.text: step failed")
        assert all(line.startswith(log.CONTINUATION) for line in rest), rest
        lines = [line.removeprefix(log.CONTINUATION) for line in rest]
    assert lines[0] == "Traceback (most recent call last):"
    assert any("in raise_hostile" in line for line in lines)
    assert "ValueError: bad value" in lines
    # Shown as a line of the traceback (after `  | ` in text), never as a record of its own.
    assert any(line.startswith(f"{FORGED}\\r\\x1b[2JAAA") for line in lines)
    assert not any(c in line for line in lines for c in "\r\x1b")
    assert max(len(line) for line in lines) < log.MAX_TRACEBACK_LINE + 40


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_overlong_messages_and_ids_are_cut(fmt: log.Format) -> None:
    """A message or an id of any length is cut, saying how much was left out."""
    out = emit(fmt, "%s", "m" * 100_000, message_id="i" * 10_000)
    assert len(out) < log.MAX_MESSAGE + log.MAX_ID + 300
    assert f"... ({100_000 - log.MAX_MESSAGE} more characters)" in out
    assert f"... ({10_000 - log.MAX_ID} more characters)" in out


def test_a_customer_id_is_masked_whatever_its_shape() -> None:
    """Accounts and e-mail addresses are masked like phone numbers: first and last
    characters and the length kept, enough to tell ids apart; short ones all stars."""
    assert log.mask_id("8613812345678") == "861*********8"
    assert log.mask_id("alice.smith@example.com") == "a" + "*" * 21 + "m"
    assert log.mask_id("alice") == "*****"
    assert log.mask_id("alice.smith@example.com") != log.mask_id("alice.smith@example.org")
    assert log.mask_conv("cams:messenger:8613800000000:alice.smith@example.com") == (
        "cams:messenger:861*********0:a*********************m"
    )
    assert log.mask_conv("tencent:1400000042:shopbot:user_42") == (
        "tencent:140******2:shopbot:u*****2"
    )
    line = json.loads(emit("json", "step", conv_id="cams:messenger:1:alice.smith@example.com"))
    assert line["conv"] == "cams:messenger:1:a*********************m"


def test_shown_cuts_masks_and_quotes_a_value_from_a_request() -> None:
    """`shown` quotes at most `limit` characters of a value, masks its phone numbers (whole,
    even across the cut) and escapes its control characters; `shown_name` shows only what
    looks like a name."""
    assert log.shown("HOLOGRAM") == "'HOLOGRAM'"
    assert log.shown("x" * 100, 10) == "'xxxxxxxxxx...'"
    assert log.shown("call 8613812345678 now") == "'call 861*********8 now'"
    assert log.shown("8613812345678" * 20, 8) == "'861*****...'"
    assert log.shown("a\nb\u202ec", quote=False) == "a\\nb\\u202ec"
    assert "\n" not in log.shown("a\nb")
    assert log.shown_name("STICKER") == "'STICKER'"
    assert log.shown_name("C2C.CallbackAfterSendMsg", 64) == "'C2C.CallbackAfterSendMsg'"
    assert log.shown_name("ALICE.SMITH@EXAMPLE.COM") == "<23 characters>"
    assert log.shown_name("8613812345678") == "<13 characters>"
    assert log.shown_name("T" * 33) == "<33 characters>"


def test_a_send_error_names_the_customer_masked() -> None:
    """A platform's send error that quotes the recipient, whatever its id's shape, shows it
    masked in the retry and dead-letter lines, and is cut short."""
    error = "40001: To_Account alice.smith@example.com not found; 8613812345678\n" + "x" * 999
    line = shown_error(error, "alice.smith@example.com")
    assert line.startswith(
        "40001: To_Account a*********************m not found; 861*********8\\nxxx"
    )
    assert line.endswith("x...")
    assert len(line) == 300 + len("...") + 1  # the newline, as an escape


# -- what requests can make the server write ------------------------------------------------


@pytest.fixture
def served(root_logging: None) -> tuple[io.StringIO, io.StringIO]:
    """Logging as `bot serve` sets it up, at DEBUG, in JSON; plus the text format."""
    as_json, as_text = io.StringIO(), io.StringIO()
    log.setup("DEBUG", "json", stream=as_json)
    logging.getLogger().addHandler(log.handler(as_text, "text"))
    return as_json, as_text


def assert_one_line_each(as_text: io.StringIO) -> None:
    """Every line of the text format starts a record: no traceback, nothing forged."""
    for line in as_text.getvalue().splitlines():
        assert TIME.match(line), line


async def test_values_from_requests_are_cut_masked_and_escaped(
    make_client: AppFactory, served: tuple[io.StringIO, io.StringIO]
) -> None:
    """Every value a request brings into a log line (a Type, a message id, a template code,
    an intent code, a field's name, a Content-Type) is cut short, masked and escaped; a
    Type that is not a name shows only its length. Each refused request is one line."""
    as_json, as_text = served
    client = await make_client(api_keys="api-key-9")
    forged = "\n12:00:00 ERROR   bot.web: forged"
    items = [
        {
            **inbound("hi"),
            "Type": "ALICE.SMITH@EXAMPLE.COM",
            "MessageId": "m" + forged + "x" * 200,  # under the cap of 256
        },
        {**inbound("hi"), "Type": "8613812345678"},
        {**inbound("hi"), "Type": "HOLOGRAM", "MessageId": "m-2"},
        {"TemplateCode": "t" * 1000 + forged, "AuditStatus": "Approved"},
    ]
    resp = await client.post(f"/cams/receipts?token={RECEIPT_TOKEN}", json=items)
    assert resp.status == 200
    api = {"Authorization": "Bearer api-key-9"}
    refused = [
        await client.post(f"/v1/intents/{'i' * 500}", json={}, headers=api),
        await client.post(
            "/v1/intents/csat_survey",
            json={"customer": "8613900000001", "k" * 10_000 + forged: 1},
            headers=api,
        ),
        await client.post(
            "/cams/business",
            json={"intentCode": "y" * 3000 + forged, "phone": "8613900000001"},
            headers={"Signature": SIGNATURES[0]},
        ),
        await client.post(
            "/cams/business",
            json={f"field{i}": i for i in range(2000)},
            headers={"Signature": SIGNATURES[0]},
        ),
        await client.post(
            f"/cams/receipts?token={RECEIPT_TOKEN}",
            data=b"x",
            headers={"Content-Type": "multipart/" + "z" * 5000},
        ),
    ]
    assert [r.status for r in refused] == [404, 400, 400, 400, 415]
    written = lines(as_json)
    web = [line for line in written if line["logger"] == "bot.web" and line["level"] != "DEBUG"]
    assert len(web) == len(refused)
    assert all(line["level"] == "WARNING" and len(line["msg"]) < 400 for line in web), web
    assert web[0]["msg"].startswith(
        f"POST /v1/intents/{{code}} -> 404: unknown intent code '{'i' * 64}...'"
    )
    assert web[1]["msg"].startswith(
        f"POST /v1/intents/{{code}} -> 400: {'k' * 64}...: Extra inputs"
    )
    assert f"unknown intent code '{'y' * 64}...'" in web[2]["msg"]
    assert "got fields: field0, field1, field10, field100," in web[3]["msg"]
    assert f"Content-Type 'multipart/{'z' * 30}...' is not taken" in web[4]["msg"]
    cams = [line["msg"] for line in written if line["logger"] == "bot.web.cams"]
    # The messages of unknown Types are kept, and named in one line for the push.
    assert [msg for msg in cams if "unknown Type" in msg] == [
        "3 messages of an unknown Type kept, matched as no answer: <23 characters> (x1), "
        "<13 characters> (x1), 'HOLOGRAM' (x1)"
    ]
    [audit] = [msg for msg in cams if msg.startswith("template ")]
    assert audit == f"template review status: '{'t' * 64}...' 'Approved'"
    everything = as_json.getvalue() + as_text.getvalue()
    for hidden in ("ALICE", "8613812345678", "x" * 65, "k" * 100, "y" * 100, "z" * 100):
        assert hidden not in everything, hidden
    assert_one_line_each(as_text)


async def raw_request(client: Any, data: bytes) -> bytes:
    """Send `data` as it is on a new connection; what the server answers until it closes."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


HOST = b"Host: bot.example.com\r\n"
# Requests aiohttp's parser refuses, each quoting a secret or tens of KB of its bytes.
MALFORMED = {
    "header over the size limit": b"GET /healthz HTTP/1.1\r\n" + HOST
    + b"X-Pad: " + b"A" * 83_000 + b"\r\n\r\n",
    "request line over the limit": b"GET /cams/receipts?token=" + RECEIPT_TOKEN.encode()
    + b"&x=" + b"B" * 30_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
    "control character in the path": b"GET /cams/receipts?token=" + RECEIPT_TOKEN.encode()
    + b"\x01" + b"C" * 20_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
    "escape in the path": b"GET /v1/intents/\x1b[31mred HTTP/1.1\r\n" + HOST + b"\r\n",
    "invalid header name": b"GET /healthz HTTP/1.1\r\n" + HOST
    + b"Bad Header: " + RECEIPT_TOKEN.encode() + b"\r\n\r\n",
    "invalid Content-Length": b"POST /cams/receipts HTTP/1.1\r\n" + HOST
    + b"Content-Length: " + RECEIPT_TOKEN.encode() + b"\r\n\r\n",
    "target without a slash": b"GET " + RECEIPT_TOKEN.encode() + b" HTTP/1.1\r\n" + HOST
    + b"\r\n",
    # aiohttp's message is then the target itself, whole.
    "unusable CONNECT target": b"CONNECT http:/" + RECEIPT_TOKEN.encode() + b" HTTP/1.1\r\n"
    + HOST + b"\r\n",
}  # fmt: skip


async def test_a_malformed_request_is_one_short_warning_without_its_bytes(
    make_client: AppFactory, served: tuple[io.StringIO, io.StringIO]
) -> None:
    """A request the HTTP parser refuses is answered 400 and logged as one WARNING line
    naming the error's kind, never with a traceback, the request's bytes or a secret in
    them; a flood of them writes one short line each."""
    as_json, as_text = served
    client = await make_client()
    for what, data in MALFORMED.items():
        answer = await raw_request(client, data)
        assert answer.split(b" ", 2)[1] == b"400", what
    flood = 300
    kinds = list(MALFORMED.values())
    for i in range(flood):
        await raw_request(client, kinds[i % len(kinds)])
    refused = [line for line in lines(as_json) if line["logger"] == "aiohttp.server"]
    assert len(refused) == len(MALFORMED) + flood
    for line in refused:
        assert line["level"] == "WARNING", line
        assert "exc" not in line, line
        assert len(line["msg"]) < 120, line
        assert line["msg"].startswith("127.0.0.1: malformed request refused with 400: "), line
    assert {line["msg"].split(": ", 2)[2] for line in refused[: len(MALFORMED)]} == {
        "LineTooLong: Got more than 8190 bytes when reading",
        "InvalidURLError: Invalid char in url query",
        "InvalidURLError: Invalid char in url path",
        "BadHttpMessage: Invalid header token",
        "BadHttpMessage: Invalid character in Content-Length",
        "InvalidURLError: Unexpected char in url schema",
        "InvalidURLError",
    }
    written = as_json.getvalue() + as_text.getvalue()
    assert RECEIPT_TOKEN not in written
    assert "AAAA" not in written
    assert "BBBB" not in written
    assert_one_line_each(as_text)


async def test_http_on_a_wrong_port_stays_at_debug(
    make_client: AppFactory, served: tuple[io.StringIO, io.StringIO]
) -> None:
    """A connection whose first bytes are not HTTP at all (a scanner, TLS on a plain port)
    stays at DEBUG, as aiohttp has it, but as one line without a traceback or its bytes."""
    as_json, _as_text = served
    client = await make_client()
    await raw_request(client, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"D" * 500)
    await raw_request(client, b"G\x00ET /" + RECEIPT_TOKEN.encode() + b" HTTP/1.1\r\n\r\n")
    refused = [line for line in lines(as_json) if line["logger"] == "aiohttp.server"]
    assert [(line["level"], line["msg"].split(": ", 2)[2]) for line in refused] == [
        ("DEBUG", "BadHttpMethod: Received HTTPS traffic on an HTTP port"),
        ("DEBUG", "BadHttpMethod: Invalid method encountered"),
    ]
    assert all("exc" not in line for line in refused)
    assert RECEIPT_TOKEN not in as_json.getvalue()


def test_only_the_parsers_refusals_are_rewritten(root_logging: None) -> None:
    """An error of ours that aiohttp logs (a handler that failed) keeps its ERROR and its
    traceback; a refusal below the configured level is not written at all."""
    from aiohttp.http_exceptions import LineTooLong

    stream = io.StringIO()
    log.setup("ERROR", "json", stream=stream)
    server = ParserLog(logging.getLogger("aiohttp.server"))
    for exc in (RuntimeError("a bug of ours"), LineTooLong(b"A" * 100, 8190)):
        try:
            raise exc
        except Exception as e:
            server.exception("Error handling request from %s", "203.0.113.9", exc_info=e)
    [line] = lines(stream)
    assert line["level"] == "ERROR"
    assert line["msg"] == "Error handling request from 203.0.113.9"
    assert "RuntimeError: a bug of ours" in line["exc"]


async def test_a_path_no_route_matched_is_never_logged(
    make_client: AppFactory, served: tuple[io.StringIO, io.StringIO]
) -> None:
    """A 404 names the app's own first segment and the path's length, never the path
    (a token typed there, a forged line); a 405 names the route's path."""
    as_json, as_text = served
    client = await make_client()
    requests = [
        (b"GET /x%0A12:00:00%20ERROR%20bot.web:%20forged%0D", 404),
        (b"GET /cams/receipts/s3cr3t-token-abc", 404),
        (b"POST /s3cr3t-token-abc/cams", 404),
        (b"PUT /cams/receipts", 405),
    ]
    for line, status in requests:
        answer = await raw_request(
            client, line + b" HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
        )
        assert answer.split(b" ", 2)[1] == str(status).encode(), line
    written = [line["msg"] for line in lines(as_json) if line["level"] == "WARNING"]
    assert written == [
        "GET /... (unknown path, 34 characters) -> 404 Not Found",
        "GET /cams/... (unknown path, 31 characters) -> 404 Not Found",
        "POST /... (unknown path, 22 characters) -> 404 Not Found",
        "PUT /cams/receipts -> 405 Method Not Allowed",
    ]
    everything = as_json.getvalue() + as_text.getvalue()
    assert "s3cr3t" not in everything
    assert "forged" not in everything
    assert_one_line_each(as_text)
