"""`bot serve` as a newcomer runs it: its own embedded Redis, sandbox mode, `bot say`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.local.redis_server import free_port
from tests.processes import BotServe, bot_env, run_bot, wait_ready
from tests.support import ROOT


@pytest.fixture
def served(tmp_path: Path) -> Iterator[BotServe]:
    server = BotServe(
        bot_env(BOT_SANDBOX="true", BOT_DATA_DIR=str(tmp_path / "data")), tmp_path
    ).start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop_now()


def test_sandbox_conversation_from_the_command_line(
    served: BotServe, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no Redis and no CAMS account, `bot say` gets the reminder flow's answers back."""
    url = served.url
    assert main(["say", "hi", "--url", url]) == 0
    out = capsys.readouterr().out
    assert "you  > hi" in out
    assert "bot  > Hi! What can I do for you?" in out
    assert main(["say", "1", "--url", url]) == 0
    assert "Which order?" in capsys.readouterr().out
    assert main(["say", "A-100", "--url", url, "--wait", "10"]) == 0
    assert "Order A-100 is on its way, arriving tomorrow." in capsys.readouterr().out
    assert main(["trigger", "appointment_reminder", "--data", "name=Ana", "--url", url,
                 "--customer", "+8613900000005"]) == 0  # fmt: skip
    assert "[template appointment_reminder] name=Ana" in capsys.readouterr().out
    assert main(["say", "1", "--url", url, "--customer", "+8613900000005"]) == 0
    assert "Thank you, Ana! Your appointment on Monday 10:00" in capsys.readouterr().out
    # The same server, the same flows, over Tencent Cloud Chat's sandbox.
    assert main(["say", "hi", "--url", url, "--platform", "tencent", "--customer", "alice"]) == 0
    assert "bot  > Hi! What can I do for you?" in capsys.readouterr().out

    assert served.stop_now() == 0
    log = served.log_text()
    assert "sandbox mode" in log
    assert "[sandbox] to 861*********1: Hi! What can I do for you?" in log
    assert "8613900000001" not in log  # phone numbers are masked in what is printed
    aof = list((served.log_path.parent / "data" / "redis").rglob("*.aof*"))
    assert aof, "the embedded Redis keeps an append-only file"


def test_embedded_redis_stops_with_the_server(served: BotServe) -> None:
    """SIGTERM stops `bot serve` and the redis-server it started."""
    log_text = ""
    deadline = time.monotonic() + 5
    while "embedded redis-server on 127.0.0.1:" not in log_text and time.monotonic() < deadline:
        log_text = served.log_text()
        time.sleep(0.05)
    redis_port = int(log_text.split("embedded redis-server on 127.0.0.1:")[1].split(",")[0])
    assert served.stop_now() == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=0.5).close()


def _make_run(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    """`make run` as a newcomer types it, with only the given BOT_* variables."""
    port = free_port()
    clean = bot_env(BOT_PORT=str(port), BOT_DATA_DIR=str(tmp_path / "data"), **env)
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "-s", "run"], cwd=ROOT, env=clean, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip
    return proc, log, port


@pytest.mark.alone  # its stop took over 20 s twice beside the parallel suite, never alone
def test_make_run_with_nothing_configured_starts_sandbox_mode_loudly(tmp_path: Path) -> None:
    """A fresh `make run` starts in sandbox mode, and the start-up says so loudly."""
    proc, log, port = _make_run(tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", lambda: proc.poll() is None, log.read_text)
        text = log.read_text()
        assert "sandbox mode (BOT_SANDBOX=true)" in text
        assert "SANDBOX MODE (BOT_SANDBOX=true): not for real customers" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(
                f"`make run` did not stop in 20 s: {log.read_text()[-3000:]}"
            ) from None


def test_make_run_with_an_access_key_runs_live_and_refuses_missing_secrets(
    tmp_path: Path,
) -> None:
    """With a CAMS access key configured `make run` is live: it never falls back to sandbox
    mode, and `bot serve` refuses to start naming what is missing."""
    proc, log, _port = _make_run(tmp_path, BOT_CAMS_ACCESS_KEY_ID="AK")
    assert proc.wait(timeout=60) != 0
    text = log.read_text()
    assert "SANDBOX MODE" not in text
    assert "sandbox mode (BOT_SANDBOX=true)" not in text
    assert "BOT_CAMS_RECEIPT_TOKEN" in text
    assert "BOT_CAMS_ACCESS_KEY_SECRET" in text


def test_serve_with_nothing_configured_refuses_and_says_what_to_set(tmp_path: Path) -> None:
    """`bot serve` outside `make run`, with no BOT_* variable at all, exits non-zero naming the
    secrets live mode needs and BOT_SANDBOX=true for a try; it listens on nothing."""
    done = run_bot("serve", env=bot_env(BOT_DATA_DIR=str(tmp_path / "data")), timeout=60)
    assert done.returncode == 2
    err = done.stderr
    assert "missing secret(s) outside sandbox mode" in err
    assert "BOT_CAMS_RECEIPT_TOKEN" in err
    assert "BOT_SANDBOX=true" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()  # no embedded Redis was started


def test_the_sandbox_prints_recipients_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """What the sandbox prints names the recipient masked, a Tencent account as a number."""
    from bot.web.sandbox import print_message, print_tencent

    text = {"MsgType": "TIMTextElem", "MsgContent": {"Text": "Hello"}}
    print_tencent({"To_Account": "alice.smith@example.com", "MsgBody": [text]})
    print_message({"To": "8613900000001", "Type": "text", "Content": '{"text": "Hi"}'})
    out = capsys.readouterr().out
    assert "[sandbox] tencent to a*********************m: Hello" in out
    assert "[sandbox] to 861*********1: " in out
    assert "alice" not in out


def test_ctrl_c_drains_and_stops_without_a_warning(tmp_path: Path) -> None:
    """Ctrl-C at the terminal (SIGINT to the whole foreground process group, the embedded
    redis-server's start included) drains `bot serve`, which then stops its Redis: exit 0,
    and no warning after the start (Redis never dies under the draining workers)."""
    env = bot_env(BOT_SANDBOX="true", BOT_DATA_DIR=str(tmp_path / "data"),
                  BOT_LOG_FORMAT="json", BOT_ENV_FILE="")  # fmt: skip
    server = BotServe(env, tmp_path, session=True).start()
    try:
        server.wait_ready()
        assert main(["say", "hi", "--url", server.url]) == 0
        server.signal(signal.SIGINT)  # what the terminal does on Ctrl-C
        assert server.wait() == 0
    finally:
        server.stop_now()
    lines = server.log_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    loud = [r["msg"] for r in records if r["level"] in ("WARNING", "ERROR")]
    assert [m for m in loud if not m.startswith("sandbox mode:")] == []


def test_the_sandbox_and_bot_chat_show_a_link_as_its_label_and_url() -> None:
    """What the sandbox prints of a cta_url message, and `bot chat` of a reply with a link,
    is its text, then the label and the URL."""
    from bot.cli.chat import describe as chat_describe
    from bot.model import Address, ConversationRef, Link, Outgoing, Reply
    from bot.web.sandbox import describe

    link = {"display_text": "Track", "url": "https://t.example.com/1"}
    content = {"type": "cta_url", "body": {"text": "On its way."},
               "action": {"name": "cta_url", "parameters": link}}  # fmt: skip
    message = {"Type": "message", "MessageType": "interactive", "Content": json.dumps(content)}
    assert describe(message) == "On its way.\n[Track: https://t.example.com/1]"
    reply = Reply(text="On its way.", link=Link("Track", "https://t.example.com/1"))
    outgoing = Outgoing(Address(ConversationRef("cams", "whatsapp", "1", "2")), reply, "t")
    assert chat_describe(outgoing) == "On its way.\n[Track: https://t.example.com/1]"
