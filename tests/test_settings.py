"""Settings: environment names, rotation lists, sandbox detection, refusal without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.settings import SANDBOX_SECRET, Settings

pytestmark = pytest.mark.usefixtures("no_bot_env")


def test_defaults_and_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every setting is read from BOT_<NAME>; defaults are the documented ones."""
    s = Settings()
    assert (s.host, s.port, s.redis_url) == ("127.0.0.1", 8080, None)
    assert str(s.flows) == "flows.yaml"
    assert str(s.intents) == "intents"
    assert s.cams_endpoint == "https://cams.ap-southeast-1.aliyuncs.com"
    assert s.cams_channel == "whatsapp"
    monkeypatch.setenv("BOT_PORT", "9090")
    monkeypatch.setenv("BOT_REDIS_URL", "redis://r:6379/1")
    monkeypatch.setenv("BOT_CAMS_FROM", "+8613800000001")
    monkeypatch.setenv("BOT_CAMS_CHANNEL", "viber")
    s = Settings()
    assert (s.port, s.redis_url, s.cams_channel) == (9090, "redis://r:6379/1", "viber")
    assert s.business_number() == "8613800000001"


def test_comma_separated_secrets_are_all_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOT_CAMS_SIGNATURE and BOT_CAMS_RECEIPT_TOKEN take several values, for rotation."""
    monkeypatch.setenv("BOT_CAMS_SIGNATURE", "old-sig, new-sig")
    monkeypatch.setenv("BOT_CAMS_RECEIPT_TOKEN", "t1,t2,")
    s = Settings()
    assert s.business_signatures() == ["old-sig", "new-sig"]
    assert s.receipt_tokens() == ["t1", "t2"]
    assert "old-sig" not in repr(s)


def test_sandbox_mode_is_on_only_when_asked() -> None:
    """BOT_SANDBOX=true: sandbox, with the published sandbox secrets; nothing else turns it
    on."""
    s = Settings(sandbox=True)
    assert s.sandbox_mode
    assert s.receipt_tokens() == [SANDBOX_SECRET]
    assert s.business_signatures() == [SANDBOX_SECRET]
    s.check()


def test_nothing_configured_is_live_mode_that_refuses_to_start() -> None:
    """With nothing set `bot serve` does not guess sandbox mode: it is live, accepts no
    published secret, and refuses to start naming every secret it needs and BOT_SANDBOX."""
    s = Settings()
    assert not s.sandbox_mode
    assert (s.receipt_tokens(), s.business_signatures(), s.api_key_values()) == ([], [], [])
    with pytest.raises(ConfigError) as e:
        s.check()
    message = str(e.value)
    for name in ("BOT_CAMS_RECEIPT_TOKEN", "BOT_CAMS_SIGNATURE", "BOT_CAMS_ACCESS_KEY_ID",
                 "BOT_CAMS_ACCESS_KEY_SECRET", "BOT_SANDBOX=true"):  # fmt: skip
        assert name in message


def test_live_mode_refuses_missing_secrets_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside sandbox mode a missing secret stops start-up, and the error names it."""
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_ID", "AK")
    s = Settings()
    assert not s.sandbox_mode
    with pytest.raises(ConfigError) as e:
        s.check()
    message = str(e.value)
    for name in ("BOT_CAMS_RECEIPT_TOKEN", "BOT_CAMS_SIGNATURE", "BOT_CAMS_ACCESS_KEY_SECRET"):
        assert name in message
    assert "BOT_CAMS_ACCESS_KEY_ID," not in message


@pytest.mark.parametrize(
    ("host", "public", "refused"),
    [
        ("127.0.0.1", False, False),
        ("127.0.0.2", False, False),
        ("::1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", False, True),
        ("::", False, True),
        ("192.168.1.10", False, True),
        ("example.com", False, True),
        ("0.0.0.0", True, False),
    ],
)
def test_sandbox_mode_listens_on_loopback_unless_asked(
    host: str, public: bool, refused: bool
) -> None:
    """Sandbox mode's secrets are published: it refuses a non-loopback BOT_HOST unless
    BOT_SANDBOX_PUBLIC=true, and says so naming both variables."""
    s = Settings(sandbox=True, host=host, sandbox_public=public)
    if not refused:
        s.check()
        return
    with pytest.raises(ConfigError, match="BOT_SANDBOX_PUBLIC=true") as e:
        s.check()
    assert f"BOT_HOST={host}" in str(e.value)


def test_live_mode_refuses_empty_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty value is as missing as an unset one."""
    monkeypatch.setenv("BOT_SANDBOX", "false")
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_SECRET", "")
    monkeypatch.setenv("BOT_CAMS_RECEIPT_TOKEN", ",")
    monkeypatch.setenv("BOT_CAMS_SIGNATURE", "sig")
    with pytest.raises(ConfigError) as e:
        Settings().check()
    assert "BOT_CAMS_ACCESS_KEY_SECRET" in str(e.value)
    assert "BOT_CAMS_RECEIPT_TOKEN" in str(e.value)


def test_serve_refuses_to_start_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot serve` outside sandbox mode exits 2 and names the missing variables."""
    monkeypatch.setenv("BOT_SANDBOX", "false")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "BOT_CAMS_ACCESS_KEY_ID" in err
    assert "BOT_CAMS_SIGNATURE" in err


def test_invalid_setting_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed value stops start-up naming its variable (not the field), never the value,
    and without a traceback."""
    monkeypatch.setenv("BOT_PORT", "eighty")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bot: BOT_PORT: Input should be a valid integer")
    assert "eighty" not in err
    assert "Traceback" not in err


@pytest.mark.parametrize("level", ["LOUD", "", "verbose"])
def test_a_bad_log_level_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    """BOT_LOG_LEVEL is one of DEBUG, INFO, WARNING, ERROR (any case): anything else stops
    start-up with one line naming the variable."""
    monkeypatch.setenv("BOT_SANDBOX", "true")
    monkeypatch.setenv("BOT_LOG_LEVEL", level)
    assert main(["serve"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("bot: BOT_LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING'")


def test_log_levels_are_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """`debug` and ` Warning ` are the levels DEBUG and WARNING."""
    assert Settings(log_level="debug").log_level == "DEBUG"
    monkeypatch.setenv("BOT_LOG_LEVEL", " Warning ")
    assert Settings().log_level == "WARNING"


def test_a_bot_variable_that_names_no_setting_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in a BOT_* variable is not passed over: `bot serve` names it and the setting it
    may have meant; BOT_SECRET_<NAME>, BOT_<NAME>_FILE of a secret and BOT_SERVE_WORKER are
    known."""
    monkeypatch.setenv("BOT_SANDBOX", "true")
    monkeypatch.setenv("BOT_CAMS_RECIEPT_TOKEN", "t")
    monkeypatch.setenv("BOT_SECRET_ANYTHING", "s")
    monkeypatch.setenv("BOT_API_KEYS_FILE", "/dev/null")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "bot: BOT_CAMS_RECIEPT_TOKEN is no setting: did you mean BOT_CAMS_RECEIPT_TOKEN? "
        "(see README.md, Settings)"
    )


def test_a_env_file_gives_settings_the_environment_does_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """BOT_ENV_FILE (default .env) is read at the command's start: its variables count where
    the environment has none; an explicitly named file that is not there is an error."""
    from bot.cli.sources import load_env_file

    env = tmp_path / "settings.env"
    env.write_text("BOT_PORT=9191\nBOT_HOST=127.0.0.2\n# a comment\n")
    monkeypatch.setenv("BOT_PORT", "")  # recorded, so that what the file sets is undone
    monkeypatch.delenv("BOT_PORT")
    monkeypatch.setenv("BOT_ENV_FILE", str(env))
    monkeypatch.setenv("BOT_HOST", "127.0.0.3")
    load_env_file()
    settings = Settings()
    assert (settings.port, settings.host) == (9191, "127.0.0.3")
    monkeypatch.setenv("BOT_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match=r"missing\.env: no such file"):
        load_env_file()


def test_tencent_needs_its_secrets_outside_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """With BOT_TENCENT_SDKAPPID set in live mode, its token and key are required by name."""
    for name, value in (
        ("BOT_CAMS_ACCESS_KEY_ID", "AK"),
        ("BOT_CAMS_ACCESS_KEY_SECRET", "SK"),
        ("BOT_CAMS_RECEIPT_TOKEN", "t"),
        ("BOT_CAMS_SIGNATURE", "s"),
        ("BOT_TENCENT_SDKAPPID", "1400000001"),
    ):
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as e:
        Settings().check()
    assert "BOT_TENCENT_CALLBACK_TOKEN" in str(e.value)
    assert "BOT_TENCENT_SECRET_KEY" in str(e.value)
    monkeypatch.setenv("BOT_TENCENT_CALLBACK_TOKEN", "old,new")
    monkeypatch.setenv("BOT_TENCENT_SECRET_KEY", "key")
    s = Settings()
    s.check()
    assert s.tencent_app() == ("1400000001", "key", ["old", "new"])


def test_tencent_sandbox_defaults() -> None:
    """In sandbox mode Tencent is served with the published sandbox app, token and key."""
    s = Settings(sandbox=True)
    assert s.tencent_enabled
    assert s.tencent_app() == ("1400000000", SANDBOX_SECRET, [SANDBOX_SECRET])


def test_the_readmes_settings_table_is_the_generated_one() -> None:
    """README.md's settings table is `bot settings`: every setting, its default and meaning
    from bot/settings.py, so that it cannot drift from the code."""
    from bot.settings import settings_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    marker = "<!-- The table below is `bot settings`"
    after = readme.split(marker, 1)[1].split("\n", 1)[1]
    table = after.split("\n\n", 1)[0] + "\n"
    assert table == settings_table()


def test_bot_settings_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot settings` prints the table, one row per setting and the call secrets."""
    from bot.settings import Settings, env_name

    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    for name in Settings.model_fields:
        assert f"| `{env_name(name)}` |" in out
    assert "| `BOT_SECRET_<NAME>` |" in out
