"""`bot campaign` against a running server (the real app, a real redis-server, the fake
CAMS): `start` uploads a CSV and follows the campaign to its end, printing where it stands;
the same start again finds the same campaign; `status`, `list`, `pause`, `resume` and
`cancel` say what the server says; a refusal is one line and exit code 1."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.cli.campaign import campaign_command
from bot.cli.parser import parser
from tests.conftest import AppFactory
from tests.support import CamsServer

API_KEY = "operator-key"


async def bot_campaign(client: TestClient[Any, Any], *argv: str) -> tuple[int, str]:
    url = str(client.make_url("")).rstrip("/")
    args = parser().parse_args(["campaign", *argv, "--url", url, "--api-key", API_KEY])
    out = io.StringIO()
    code = await campaign_command(args, out=out)
    return code, out.getvalue()


@pytest.fixture
def recipients(tmp_path: Path) -> Path:
    csv = tmp_path / "reminders.csv"
    rows = "".join(f"+86139000001{n:02d},Clinic {n}\n" for n in range(6))
    csv.write_text("customer,clinic\n" + rows)
    return csv


async def test_start_follows_the_campaign_to_its_end(
    make_client: AppFactory, fake_cams: CamsServer, recipients: Path
) -> None:
    """Six recipients at 20/s: the command returns once the campaign is done, having
    printed its id and the counts; each recipient got the reminder."""
    client = await make_client(api_keys=API_KEY)
    code, out = await bot_campaign(
        client, "start", str(recipients), "--intent", "appointment_reminder", "--rate", "20"
    )
    assert code == 0, out
    assert "6 recipients, running" in out
    assert "done" in out
    assert "started 6" in out
    # Done: every recipient started; their reminders may still be on their way.
    await fake_cams.recorder.wait_for(6)
    assert len(fake_cams.recorder.messages) == 6
    code, again = await bot_campaign(
        client, "start", str(recipients), "--intent", "appointment_reminder", "--rate", "20",
        "--no-wait",
    )  # fmt: skip
    assert code == 0
    assert "made before" in again
    campaign = out.split()[1].rstrip(":")
    assert campaign in again
    code, listed = await bot_campaign(client, "list")
    assert campaign in listed
    assert "6/6" in listed
    code, status = await bot_campaign(client, "status", campaign)
    assert "started 6" in status


async def test_pause_resume_cancel_and_a_refusal(
    make_client: AppFactory, recipients: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A campaign starting tomorrow is paused, resumed, cancelled; resuming it after is
    refused with the server's reason and exit code 1."""
    client = await make_client(api_keys=API_KEY)
    code, out = await bot_campaign(
        client, "start", str(recipients), "--intent", "appointment_reminder",
        "--start-at", "2099-01-01T09:00:00Z", "--no-wait",
    )  # fmt: skip
    assert code == 0
    campaign = out.split()[1].rstrip(":")
    assert (await bot_campaign(client, "pause", campaign))[1].strip().endswith("paused")
    assert (await bot_campaign(client, "resume", campaign))[1].strip().endswith("running")
    code, out = await bot_campaign(client, "cancel", campaign)
    assert "cancelled (6 pending cancelled)" in out
    code, _ = await bot_campaign(client, "resume", campaign)
    assert code == 1
    assert "refused: 409" in capsys.readouterr().err
