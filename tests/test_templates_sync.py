"""`bot templates sync` against the fake CAMS serving an account's templates
(ListChatappTemplate, GetChatappTemplateDetail, signed as the real API wants): each code and
language of flows.yaml's `templates:` is reported approved as written, or what differs."""

from __future__ import annotations

import argparse
import io
import json
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.cli.parser import parser
from bot.cli.templates import sync
from bot.platforms.cams.fake import create_fake_cams
from tests.support import ACCESS_KEY_ID, ACCESS_KEY_SECRET

FLOWS = """\
    templates:
      reminder: {languages: [en, es], category: utility, params: [name, date], header: image}
      receipt: {languages: [en], category: utility, params: [order]}
      promo: {languages: [en], category: utility, params: [code]}
      missing: {languages: [en], category: utility}
    flows:
      f:
        start: a
        states:
          a: {say: "Hi"}
    """


def template(code: str, language: str, status: str, category: str, body: str,
             header: str | None = None) -> dict[str, Any]:  # fmt: skip
    components: list[dict[str, Any]] = [{"Type": "BODY", "Text": body}]
    if header:
        components.insert(0, {"Type": "HEADER", "Format": header})
    return {"TemplateCode": code, "TemplateName": code, "Language": language,
            "AuditStatus": status, "Category": category, "TemplateType": "WHATSAPP",
            "Components": components}  # fmt: skip


ACCOUNT = [
    template("reminder", "en", "pass", "UTILITY", "Hi {{name}}, see you {{date}}.", "IMAGE"),
    template("reminder", "es", "auditing", "UTILITY", "Hola {{name}}, {{date}}.", "IMAGE"),
    template("receipt", "en", "pass", "UTILITY", "Order {{order}} paid, {{total}}."),
    template("promo", "en", "pass", "MARKETING", "Use {{code}}!"),
    template("hello", "en", "pass", "MARKETING", "Hello!"),
] + [template(f"old_{n}", "en", "fail", "MARKETING", "x") for n in range(60)]  # two pages


@pytest.fixture
async def cams(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> str:
    server = await aiohttp_server(
        create_fake_cams({ACCESS_KEY_ID: ACCESS_KEY_SECRET}, templates=ACCOUNT)
    )
    return str(server.make_url("/"))


async def test_sync_reports_each_template_as_cams_has_it(
    cams: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Approved as written; in review; a parameter more at CAMS; another category; not at
    CAMS at all; and CAMS's own templates the catalogue does not name, over two pages."""
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
    (tmp_path / "flows.yaml").write_text(textwrap.dedent(FLOWS))
    (tmp_path / "intents").mkdir()
    argv = ["templates", "sync", "--flows", str(tmp_path / "flows.yaml"), "--endpoint", cams]
    out = io.StringIO()
    assert await sync(parser().parse_args(argv), out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[:6] == [
        "DIFF  missing en: not at CAMS",
        "DIFF  promo en: marketing at CAMS, utility here",
        "DIFF  receipt en: parameters at CAMS order, total; here order",
        "ok    reminder en: approved, utility, parameters name, date",
        "DIFF  reminder es: in review at CAMS, not approved",
        "note  hello en: at CAMS (approved, marketing), not in templates:",
    ]
    assert sum(line.startswith("note  old_") for line in lines) == 60
    assert lines[-1] == "1 of 5 templates of flows.yaml are at CAMS, approved, as written"
    out = io.StringIO()
    assert await sync(parser().parse_args([*argv, "--json"]), out=out) == 1
    first = json.loads(out.getvalue())[0]
    assert first == {"code": "missing", "language": "en", "ok": False, "says": "not at CAMS",
                     "here": True}  # fmt: skip


async def test_sync_asks_the_named_account(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--account NAME` signs with BOT_CAMS_ACCOUNT_<NAME>_*'s keys at its endpoint: that
    account's templates are compared; an account without keys is named, exit 2."""
    server = await aiohttp_server(create_fake_cams({"b-id": "b-secret"}, templates=ACCOUNT))
    monkeypatch.setenv("BOT_CAMS_ACCOUNT_BRAND_B_ACCESS_KEY_ID", "b-id")
    monkeypatch.setenv("BOT_CAMS_ACCOUNT_BRAND_B_ACCESS_KEY_SECRET", "b-secret")
    monkeypatch.setenv("BOT_CAMS_ACCOUNT_BRAND_B_ENDPOINT", str(server.make_url("/")))
    (tmp_path / "flows.yaml").write_text(textwrap.dedent(FLOWS))
    (tmp_path / "intents").mkdir()
    argv = ["templates", "sync", "--flows", str(tmp_path / "flows.yaml"), "--account"]
    out = io.StringIO()
    assert await sync(parser().parse_args([*argv, "brand_b"]), out=out) == 1
    assert "ok    reminder en: approved, utility, parameters name, date" in out.getvalue()
    out = io.StringIO()
    assert await sync(parser().parse_args([*argv, "brand_c"]), out=out) == 2
    assert "BOT_CAMS_ACCOUNT_BRAND_C_ACCESS_KEY_ID" in out.getvalue()


async def test_sync_says_what_stops_it(
    cams: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong secret: CAMS's refusal, exit 2; no catalogue: nothing to compare, exit 1."""
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_SECRET", "not-the-secret")
    (tmp_path / "flows.yaml").write_text(textwrap.dedent(FLOWS))
    (tmp_path / "intents").mkdir()
    argv = ["templates", "sync", "--flows", str(tmp_path / "flows.yaml"), "--endpoint", cams]
    out = io.StringIO()
    assert await sync(parser().parse_args(argv), out=out) == 2
    assert out.getvalue().startswith("CAMS refused: SignatureDoesNotMatch")
    bare = "\n".join(textwrap.dedent(FLOWS).splitlines()[5:])
    (tmp_path / "flows.yaml").write_text(bare)
    out = io.StringIO()
    args: argparse.Namespace = parser().parse_args(argv)
    assert await sync(args, out=out) == 1
    assert "no `templates:`" in out.getvalue()


def test_what_cams_says_reaches_the_terminal_escaped() -> None:
    """A template code or status from CAMS with control characters (a terminal's escape
    sequences) is printed escaped, and cut."""
    from bot.cli.templates import compare
    from bot.flows.spec import TemplateEntry

    hostile = {"TemplateCode": "x\x1b[2Jy" + "z" * 100, "Language": "en\n",
               "AuditStatus": "pass\x07", "Category": "MARKETING"}  # fmt: skip
    [line] = compare({}, [hostile], {})
    assert "\x1b" not in line.code
    assert "\\x1b" in line.code
    assert len(line.code) <= 70
    assert "\n" not in line.language
    catalogue = {"t": TemplateEntry(languages=["en"], category="utility")}
    [ours] = compare(catalogue, [{**hostile, "TemplateCode": "t", "Language": "en"}], {})
    assert "\x07" not in ours.says


def test_url_button_and_header_variables_are_compared() -> None:
    """A variable of a URL button at CAMS is one of `button_params:`, not of `params:`; a
    media header naming its own variable is compared with `header_param:`; as written,
    nothing differs."""
    from bot.cli.templates import compare
    from bot.flows.spec import TemplateEntry

    detail = template("parcel", "en", "pass", "UTILITY", "Hi {{name}}.")
    detail["Components"][:0] = [{"Type": "HEADER", "Format": "IMAGE", "Url": "{{photo}}"}]
    button = {"Type": "URL", "Text": "Track", "Url": "https://t.example.com/{{parcel_id}}"}
    detail["Components"].append({"Type": "BUTTONS", "Buttons": [button]})
    listed, details = [detail], {("parcel", "en"): detail}

    def said(**entry: Any) -> str:
        catalogue = {"parcel": TemplateEntry(languages=["en"], category="utility",
                                             header="image", **entry)}  # fmt: skip
        [line] = compare(catalogue, listed, details)
        return line.says

    right = said(params=["name"], buttons=["url"], button_params=["parcel_id"],
                 header_param="photo")  # fmt: skip
    assert right.startswith("approved")
    wrong = said(params=["name", "parcel_id"], buttons=["url"])
    assert "parameters at CAMS name; here name, parcel_id" in wrong
    assert "URL button parameters at CAMS parcel_id; here none (`button_params:`)" in wrong
    assert "header URL at CAMS as photo, here as link (`header_param:`)" in wrong
