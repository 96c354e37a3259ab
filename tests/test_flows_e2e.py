"""Flow features end to end: CAMS callbacks and the business API in, a real Redis, the
fake CAMS out. Collecting values, routes, one-time codes, languages, flow versions and
reloading the flows of a running server."""

from __future__ import annotations

import json
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.cli import main
from tests.processes import BotServe, bot_env
from tests.support import BUSINESS, RECEIPT_TOKEN, CamsServer, catalog_of, eventually, inbound

RECEIPTS = f"/cams/receipts?token={RECEIPT_TOKEN}"
API = {"Authorization": "Bearer api-key"}


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


def _wait_for(server: BotServe, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.log_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the server's log:\n{server.log_tail()}")


def test_sighup_reloads_the_flows_of_a_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGHUP loads flows.yaml again: a broken file is refused and the old flows go on; a
    good one is used from the next step, live conversations following `migrations:`."""
    catalog_of(tmp_path, OLD)
    env = bot_env(
        BOT_SANDBOX="true",
        BOT_DATA_DIR=str(tmp_path / "data"),
        BOT_FLOWS=str(tmp_path / "flows.yaml"),
        BOT_INTENTS=str(tmp_path / "intents"),
    )
    server = BotServe(env, tmp_path).start()
    url = server.url
    try:
        _wait_for(server, "sandbox mode:")
        _wait_for(server, "embedded redis-server")
        time.sleep(0.3)
        assert main(["say", "hi", "--url", url]) == 0
        assert "Pick 1 or 2" in capsys.readouterr().out
        (tmp_path / "flows.yaml").write_text("flows: {f: {start: nowhere, states: {}}}\n")
        server.signal(signal.SIGHUP)
        _wait_for(server, "reload refused")
        (tmp_path / "flows.yaml").write_text(textwrap.dedent(NEW))
        server.signal(signal.SIGHUP)
        _wait_for(server, "flows reloaded")
        assert main(["say", "3", "--url", url]) == 0
        assert "Three!" in capsys.readouterr().out
    finally:
        code = server.stop_now()
    assert code == 0


SHIPPED = """\
    templates:
      parcel_shipped:
        languages: [en]
        category: utility
        params: [name]
        header: image
        buttons: [url]
        button_params: [parcel_id]
    flows:
      shipped:
        start: notify
        data: {name: "", parcel_id: ""}
        states:
          notify:
            template:
              code: parcel_shipped
              header: "https://cdn.example.com/parcels/{{ parcel_id }}.jpg"
              params: {name: "{{ name }}", parcel_id: "{{ parcel_id }}"}
    """
# The template as CAMS has it (GetChatappTemplateDetail's Data): an image header, a URL
# button whose dynamic part is `parcel_id`.
PARCEL_SHIPPED = {
    "TemplateCode": "parcel_shipped", "Language": "en", "AuditStatus": "pass",
    "Category": "UTILITY", "Components": [
        {"Type": "HEADER", "Format": "IMAGE"},
        {"Type": "BODY", "Text": "Hi {{name}}, your parcel is on its way."},
        {"Type": "BUTTONS", "Buttons": [
            {"Type": "URL", "Text": "Track", "Url": "https://track.example.com/p/{{parcel_id}}"}
        ]},
    ],
}  # fmt: skip


async def test_a_template_with_an_image_header_goes_out_as_cams_takes_it(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """The business starts a flow whose template has an image header and a URL button: the
    fake CAMS, which knows the template, accepts it with the header's https URL under
    `link` and each variable in TemplateParams, the customer's `../x?y#z` one path segment
    in both the header's URL and the button's value."""
    intent = {"shipped.yaml": "code: shipped\nname: Shipped\nstart: shipped\n"}
    client = await make_client(catalog_=catalog_of(tmp_path, SHIPPED, intent), api_keys="api-key")
    fake_cams.recorder.templates.append(PARCEL_SHIPPED)
    customer = "8613900000106"
    resp = await client.post(
        "/v1/intents/shipped", headers=API,
        json={"customer": customer, "data": {"name": "Ana", "parcel_id": "../x?y#z"}},
    )  # fmt: skip
    assert resp.status == 202
    [sent] = await fake_cams.recorder.wait_for(1)
    assert (sent["Type"], sent["TemplateCode"], sent["Language"]) == (
        "template", "parcel_shipped", "en",
    )  # fmt: skip
    assert json.loads(sent["TemplateParams"]) == {
        "name": "Ana",
        "parcel_id": "..%2Fx%3Fy%23z",
        "link": "https://cdn.example.com/parcels/..%2Fx%3Fy%23z.jpg",
    }
    assert fake_cams.recorder.errors == []


TRACK = """\
    defaults: {inbound_flow: track}
    flows:
      track:
        start: ask
        states:
          ask:
            say: {en: "Your parcel number?", es: "¿Su número de paquete?"}
            collect: {slot: parcel_id, type: text, go: show}
          show:
            say: {en: "Your parcel is on its way.", es: "Su paquete está en camino."}
            link:
              label: {en: "Track parcel", es: "Seguir envío"}
              url: "https://track.example.com/p/{{ parcel_id }}"
    """


async def test_a_link_goes_out_as_a_cta_url_message(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """A state's `link:` reaches CAMS as an interactive cta_url message the fake accepts:
    the text its body, the label in the customer's language, what the customer typed one
    path segment of the URL."""
    intent = {"track.yaml": "code: track\nname: Track\nstart: track\n"}
    client = await make_client(catalog_=catalog_of(tmp_path, TRACK, intent), api_keys="api-key")
    customer = "8613900000107"
    resp = await client.post(
        "/v1/intents/track", headers=API, json={"customer": customer, "data": {"lang": "es"}}
    )
    assert resp.status == 202
    assert await said(fake_cams, customer, 1) == ["¿Su número de paquete?"]
    await client.post(RECEIPTS, json=[inbound("A-1/../admin?x=1", customer=customer)])
    await said(fake_cams, customer, 2)
    sent = fake_cams.recorder.sent_to(customer)[1]
    assert (sent["Type"], sent["MessageType"]) == ("message", "interactive")
    assert json.loads(sent["Content"]) == {
        "type": "cta_url",
        "body": {"text": "Su paquete está en camino."},
        "action": {"name": "cta_url", "parameters": {
            "display_text": "Seguir envío",
            "url": "https://track.example.com/p/A-1%2F..%2Fadmin%3Fx%3D1"}},
    }  # fmt: skip
    assert fake_cams.recorder.errors == []


SECTIONS = """\
    defaults: {inbound_flow: slots, language: en}
    flows:
      slots:
        start: pick
        states:
          pick:
            say: {en: "When shall we come?", es: "¿Cuándo pasamos?"}
            buttons: true
            options:
              - label: {en: Monday 9-12, es: Lunes 9-12}
                description: {en: "Two places left", es: "Quedan dos plazas"}
                section: {en: This week, es: Esta semana}
                go: booked
              - label: {en: Friday 14-18, es: Viernes 14-18}
                section: {en: This week, es: Esta semana}
                go: booked
              - label: {en: Tuesday 9-12, es: Martes 9-12}
                section: {en: Next week, es: La semana que viene}
                go: booked
              - {label: {en: Any other day, es: Otro día}, go: booked}
          booked:
            say: {en: "Booked, thank you.", es: "Reservado, gracias."}
    """


async def test_a_list_with_sections_goes_out_and_a_row_is_chosen(
    make_client: Any, fake_cams: CamsServer, tmp_path: Path
) -> None:
    """Through the endpoints: a list's rows go under their sections' headings (the rows
    without one under the list's), with their descriptions, as the fake CAMS (which checks a
    list's shape) accepted it; a tapped row's payload books."""
    client = await make_client(catalog_=catalog_of(tmp_path, SECTIONS), api_keys="api-key")
    customer = "8613900000131"
    item = inbound("hola", customer=customer)
    assert (await client.post(RECEIPTS, json=[item])).status == 200
    [sent] = await fake_cams.recorder.wait_for(1)
    content = json.loads(sent["Content"])
    sections = content["action"]["sections"]
    assert [s["title"] for s in sections] == ["This week", "Next week", "Options"]
    assert [r["title"] for r in sections[0]["rows"]] == ["Monday 9-12", "Friday 14-18"]
    assert sections[0]["rows"][0]["description"] == "Two places left"
    payload = sections[1]["rows"][0]["id"]
    tap = inbound("Tuesday 9-12", customer=customer, payload=payload)
    assert (await client.post(RECEIPTS, json=[tap])).status == 200
    assert (await said(fake_cams, customer, 2))[-1] == "Booked, thank you."
