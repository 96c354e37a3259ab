"""Flow features end to end: CAMS callbacks and the business API in, a real Redis, the
fake CAMS out. Collecting values, routes, one-time codes, languages, flow versions and
reloading the flows of a running server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.cli import main
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.local.redis_server import free_port
from tests.support import BUSINESS, RECEIPT_TOKEN, ROOT, CamsServer, eventually, inbound

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API = {"Authorization": "Bearer api-key"}


def catalog_of(folder: Path, flows: str, intents: dict[str, str] | None = None) -> CompiledCatalog:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flows.yaml").write_text(textwrap.dedent(flows))
    (folder / "intents").mkdir(exist_ok=True)
    for name, text in (intents or {}).items():
        (folder / "intents" / name).write_text(textwrap.dedent(text))
    return compile_catalog(load_catalog(folder / "flows.yaml", folder / "intents"))


def texts(fake: CamsServer, customer: str) -> list[str]:
    out = []
    for m in fake.recorder.sent_to(customer):
        if m.get("Type") == "template":
            out.append(f"[{m['TemplateCode']}] {m.get('TemplateParams', '')}")
        else:
            content = json.loads(m["Content"])
            out.append(content.get("text") or content["body"]["text"])
    return out


async def said(fake: CamsServer, customer: str, count: int) -> list[str]:
    await eventually(lambda: len(fake.recorder.sent_to(customer)) >= count)
    return texts(fake, customer)


SURVEY = """\
    defaults: {inbound_flow: survey, language: en}
    flows:
      survey:
        start: rate
        states:
          rate:
            say: {en: "Rate us from 1 to 5", es: "Califíquenos del 1 al 5"}
            collect:
              slot: rating
              type: integer
              min: 1
              max: 5
              invalid: {en: "1 to 5, please", es: "Del 1 al 5, por favor"}
              attempts: 2
              escalate: human
            routes:
              - {when: "rating <= 2", go: sorry}
              - {go: thanks}
          sorry:
            say: "Sorry! What went wrong?"
            collect: {slot: comment, type: text, go: thanks}
          thanks: {say: "Thanks for the {{ rating }}!"}
          human: {say: "A colleague will call you."}
    """


async def test_collect_validates_stores_and_routes(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """An invalid value re-prompts; a valid one is stored and the routes pick the next state."""
    client = await make_client(catalog_=catalog_of(tmp_path, SURVEY), api_keys="api-key")
    customer = "8613900000101"
    for text in ("hello", "nine", "2", "The delivery was late"):
        assert (await client.post(RECEIPTS, json=[inbound(text, customer=customer)])).status == 200
        await eventually(lambda t=text: len(fake_cams.recorder.sent_to(customer)) >= 1)
    got = await said(fake_cams, customer, 4)
    assert got == [
        "Rate us from 1 to 5",
        "1 to 5, please",
        "Sorry! What went wrong?",
        "Thanks for the 2!",
    ]
    state = await client.get(f"/v1/conversations/cams:whatsapp:{BUSINESS}:{customer}", headers=API)
    body = await state.json()
    assert body["data"] == {"rating": 2, "comment": "The delivery was late"}
    assert body["state"] == "thanks"


async def test_collect_escalates_after_its_attempts(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """After `attempts` invalid values the conversation escalates."""
    client = await make_client(catalog_=catalog_of(tmp_path, SURVEY), api_keys="api-key")
    customer = "8613900000102"
    for text in ("hi", "ten", "eleven"):
        await client.post(RECEIPTS, json=[inbound(text, customer=customer)])
    assert (await said(fake_cams, customer, 3))[-1] == "A colleague will call you."


async def test_language_from_intent_data(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """`lang` in the business's data picks the texts of that language."""
    catalog = catalog_of(
        tmp_path,
        SURVEY,
        {"survey.yaml": "code: survey\nname: Survey\nstart: survey\n"},
    )
    client = await make_client(catalog_=catalog, api_keys="api-key")
    customer = "8613900000103"
    resp = await client.post(
        "/v1/intents/survey", json={"customer": customer, "data": {"lang": "es"}}, headers=API
    )
    assert resp.status == 202
    await client.post(RECEIPTS, json=[inbound("cien", customer=customer)])
    assert await said(fake_cams, customer, 2) == [
        "Califíquenos del 1 al 5",
        "Del 1 al 5, por favor",
    ]


VERIFY = """\
    defaults: {inbound_flow: verify}
    flows:
      verify:
        start: code
        states:
          code:
            otp:
              template: {code: verification_code, params: {code: "{{ otp }}"}}
              attempts: 2
              verified: ok
              wrong: locked
              expired: expired
          ok: {say: "Verified."}
          locked: {say: "Locked."}
          expired: {say: "Expired."}
    """


async def test_one_time_code_through_the_send_api(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path, redis: Redis
) -> None:
    """The code goes out in the template; a wrong code is refused, the right one verifies;
    Redis keeps only a hash of it."""
    client = await make_client(catalog_=catalog_of(tmp_path, VERIFY))
    customer = "8613900000104"
    await client.post(RECEIPTS, json=[inbound("verify me", customer=customer)])
    [first] = await said(fake_cams, customer, 1)
    assert first.startswith("[verification_code]")
    params = json.loads(fake_cams.recorder.sent_to(customer)[0]["TemplateParams"])
    code = params["code"]
    assert len(code) == 6
    assert code.isdigit()
    stored = [v async for k in redis.scan_iter(match="*:c:*") for v in await redis.hvals(k)]
    assert not any(code.encode() in v for v in stored)
    wrong = "000000" if code != "000000" else "111111"
    await client.post(RECEIPTS, json=[inbound(wrong, customer=customer)])
    await said(fake_cams, customer, 2)
    await client.post(RECEIPTS, json=[inbound(code, customer=customer)])
    assert (await said(fake_cams, customer, 3))[-1] == "Verified."


OLD = """\
    defaults: {inbound_flow: f}
    flows:
      f:
        start: ask
        states:
          ask:
            say: "Pick 1 or 2"
            options: [{label: One, go: one}, {label: Two, go: two}]
          one: {say: "One."}
          two: {say: "Two."}
    """

NEW = """\
    defaults: {inbound_flow: f}
    flows:
      f:
        start: question
        migrations: {ask: question}
        states:
          question:
            say: "Pick 1, 2 or 3"
            options: [{label: One, go: one}, {label: Two, go: two}, {label: Three, go: three}]
          one: {say: "One!"}
          two: {say: "Two!"}
          three: {say: "Three!"}
    """


async def test_live_conversation_follows_migrations_after_a_change(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """A conversation waiting in a renamed state continues at its migration target."""
    old = await make_client(catalog_=catalog_of(tmp_path / "old", OLD))
    customer = "8613900000105"
    await old.post(RECEIPTS, json=[inbound("hi", customer=customer)])
    assert await said(fake_cams, customer, 1) == ["Pick 1 or 2"]
    await old.close()
    new = await make_client(catalog_=catalog_of(tmp_path / "new", NEW), api_keys="api-key")
    await new.post(RECEIPTS, json=[inbound("3", customer=customer)])
    assert (await said(fake_cams, customer, 2))[-1] == "Three!"
    body = await (
        await new.get(f"/v1/conversations/cams:whatsapp:{BUSINESS}:{customer}", headers=API)
    ).json()
    assert body["state"] == "three"


def _serve(tmp_path: Path, port: int, out: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        BOT_SANDBOX="true",
        BOT_PORT=str(port),
        BOT_DATA_DIR=str(tmp_path / "data"),
        BOT_FLOWS=str(tmp_path / "flows.yaml"),
        BOT_INTENTS=str(tmp_path / "intents"),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
    )


def _wait_for(log: Path, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the server's log:\n{log.read_text()[-2000:]}")


def test_sighup_reloads_the_flows_of_a_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGHUP loads flows.yaml again: a broken file is refused and the old flows go on; a
    good one is used from the next step, live conversations following `migrations:`."""
    catalog_of(tmp_path, OLD)
    port = free_port()
    log = tmp_path / "serve.log"
    out = log.open("wb")
    proc = _serve(tmp_path, port, out)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(log, "sandbox mode:")
        _wait_for(log, "embedded redis-server")
        time.sleep(0.3)
        assert main(["say", "hi", "--url", url]) == 0
        assert "Pick 1 or 2" in capsys.readouterr().out
        (tmp_path / "flows.yaml").write_text("flows: {f: {start: nowhere, states: {}}}\n")
        proc.send_signal(signal.SIGHUP)
        _wait_for(log, "reload refused")
        (tmp_path / "flows.yaml").write_text(textwrap.dedent(NEW))
        proc.send_signal(signal.SIGHUP)
        _wait_for(log, "flows reloaded")
        assert main(["say", "3", "--url", url]) == 0
        assert "Three!" in capsys.readouterr().out
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        out.close()
    assert code == 0
