"""Secrets: read from the environment or from files (BOT_<NAME>_FILE), refused when empty
outside sandbox mode, rotated with two values valid at once, compared in constant time, and
never shown in a repr or an error message."""

from __future__ import annotations

import ast
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.app import create_app
from bot.cli import main
from bot.errors import ConfigError
from bot.flows.compiler import CompiledCatalog
from bot.local.redis_server import RedisServer
from bot.platforms import auth
from bot.platforms.auth import matches_any
from bot.platforms.tencent.auth import sign
from bot.settings import Settings, call_secrets, env_name, secret_settings
from tests.support import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BUSINESS,
    EXAMPLE_SECRETS,
    ROOT,
    CamsServer,
    inbound,
)

SECRETS = (
    "cams_receipt_token",
    "cams_signature",
    "api_keys",
    "console_tokens",
    "cams_access_key_id",
    "cams_access_key_secret",
    "metrics_token",
    "tencent_callback_token",
    "tencent_secret_key",
)
LISTS = (
    "cams_receipt_token",
    "cams_signature",
    "api_keys",
    "console_tokens",
    "metrics_token",
    "tencent_callback_token",
)
LIVE = {  # the secrets live mode needs, and CAMS's other settings
    "BOT_SANDBOX": "false",
    "BOT_CAMS_ACCESS_KEY_ID": "AK-live",
    "BOT_CAMS_ACCESS_KEY_SECRET": "SK-live",
    "BOT_CAMS_RECEIPT_TOKEN": "receipt-live",
    "BOT_CAMS_SIGNATURE": "signature-live",
}
LEAK = "s3cr3t-Value-that-must-never-show"


pytestmark = pytest.mark.usefixtures("no_bot_env")


def values_of(settings: Settings, name: str) -> list[str]:
    value = getattr(settings, name)
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    return [v.get_secret_value() for v in value]


def config_error(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    """The message of the ConfigError that Settings() or its check raises for `env`."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as e:
        Settings().check()
    return str(e.value)


# -- files -----------------------------------------------------------------------------------


def test_the_secret_settings_are_the_documented_ones() -> None:
    """Every setting typed as a secret, and only those, can come from a file."""
    assert set(secret_settings()) == set(SECRETS)


@pytest.mark.parametrize("name", SECRETS)
def test_each_secret_can_come_from_a_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BOT_<NAME>_FILE=path: the file's content, without its trailing newline, is the value."""
    path = tmp_path / name
    path.write_text(f"from-file-{name}\n")
    monkeypatch.setenv(env_name(name) + "_FILE", str(path))
    assert values_of(Settings(), name) == [f"from-file-{name}"]


@pytest.mark.parametrize("name", LISTS)
def test_a_list_secret_file_holds_old_and_new(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For rotation a file holds both values, one per line or comma-separated."""
    for i, content in enumerate(("old\nnew\n", "old, new", "old\r\nnew\r\n\r\n")):
        path = tmp_path / f"{name}-{i}"
        path.write_text(content)
        monkeypatch.setenv(env_name(name) + "_FILE", str(path))
        assert values_of(Settings(), name) == ["old", "new"], content


def test_only_the_trailing_newline_is_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spaces inside and around a single secret are part of it; the final newline is not."""
    path = tmp_path / "key"
    path.write_bytes(b" key with spaces \n")
    monkeypatch.setenv("BOT_CAMS_ACCESS_KEY_SECRET_FILE", str(path))
    assert values_of(Settings(), "cams_access_key_secret") == [" key with spaces "]


@pytest.mark.parametrize("name", SECRETS)
def test_variable_and_file_together_are_refused(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both BOT_<NAME> and BOT_<NAME>_FILE: refused, naming both, showing neither value."""
    path = tmp_path / "secret"
    path.write_text(LEAK + "-file")
    variable = env_name(name)
    monkeypatch.setenv(variable, LEAK)
    monkeypatch.setenv(variable + "_FILE", str(path))
    with pytest.raises(ConfigError) as e:
        Settings()
    message = str(e.value)
    assert f"{variable} and {variable}_FILE are both set" in message
    assert LEAK not in message


def test_serve_refuses_a_variable_and_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot serve` exits 2 with the message, before anything starts."""
    path = tmp_path / "sig"
    path.write_text(LEAK)
    monkeypatch.setenv("BOT_CAMS_SIGNATURE", LEAK)
    monkeypatch.setenv("BOT_CAMS_SIGNATURE_FILE", str(path))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "BOT_CAMS_SIGNATURE and BOT_CAMS_SIGNATURE_FILE are both set" in err
    assert LEAK not in err


def unreadable_files(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(path, what the error says) for files that cannot give a secret."""
    yield str(tmp_path / "missing"), "No such file or directory"
    yield str(tmp_path), "Is a directory"
    binary = tmp_path / "binary"
    binary.write_bytes(LEAK.encode() + b"\xff\xfe\n")
    yield str(binary), "not UTF-8 text"
    big = tmp_path / "big"
    big.write_text(LEAK * 10_000)
    yield str(big), "not a secret"
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "locked"
        locked.write_text(LEAK)
        locked.chmod(0)
        yield str(locked), "Permission denied"


@pytest.mark.parametrize("name", ["api_keys", "tencent_secret_key"])
def test_an_unreadable_file_names_variable_and_path(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing, a folder, not text, too big, not allowed: a ConfigError naming the variable,
    the path and the reason; never the content."""
    variable = env_name(name) + "_FILE"
    for path, reason in unreadable_files(tmp_path):
        monkeypatch.setenv(variable, path)
        with pytest.raises(ConfigError) as e:
            Settings()
        message = str(e.value)
        assert f"{variable}={path}" in message
        assert reason in message
        assert LEAK not in message
        assert e.value.__cause__ is None
        assert e.value.__context__ is None or e.value.__suppress_context__
    monkeypatch.setenv(variable, " ")
    with pytest.raises(ConfigError, match=f"{variable} is empty"):
        Settings()


def test_call_secrets_from_variables_and_files(tmp_path: Path) -> None:
    """BOT_SECRET_NAME=value and BOT_SECRET_NAME_FILE=path give {{ secret.NAME }}; blank
    ones count as unset."""
    path = tmp_path / "token"
    path.write_text("order-api-token\n")
    environ = {
        "BOT_SECRET_ORDERS_API": "https://orders.example",
        "BOT_SECRET_ORDERS_TOKEN_FILE": str(path),
        "BOT_SECRET_BLANK": " ",
        "BOT_SECRET_FILE": "a secret named FILE",
        "BOT_OTHER": "x",
    }
    assert call_secrets(environ) == {
        "ORDERS_API": "https://orders.example",
        "ORDERS_TOKEN": "order-api-token",
        "FILE": "a secret named FILE",
    }


def test_call_secret_conflicts_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    """A call secret in both forms, or in a file that cannot be read: ConfigError, no value."""
    path = tmp_path / "token"
    path.write_text(LEAK)
    both = {"BOT_SECRET_TOKEN": LEAK, "BOT_SECRET_TOKEN_FILE": str(path)}
    with pytest.raises(ConfigError) as e:
        call_secrets(both)
    assert "BOT_SECRET_TOKEN and BOT_SECRET_TOKEN_FILE are both set" in str(e.value)
    assert LEAK not in str(e.value)
    for bad, reason in unreadable_files(tmp_path):
        with pytest.raises(ConfigError) as e:
            call_secrets({"BOT_SECRET_TOKEN_FILE": bad})
        assert f"BOT_SECRET_TOKEN_FILE={bad}" in str(e.value)
        assert reason in str(e.value)
        assert LEAK not in str(e.value)


# -- empty secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "blank"),
    [(name, blank) for name in SECRETS for blank in ("", "   ", "\n")]
    + [(name, " , ,") for name in LISTS],
)
def test_a_set_but_empty_secret_is_refused_outside_sandbox(
    name: str, blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every secret, required or optional: set to nothing but blanks (or, for a list, blanks
    and commas), start-up is refused."""
    env = dict(LIVE)
    if name.startswith("tencent_"):
        env.update(
            BOT_TENCENT_SDKAPPID="1400000001",
            BOT_TENCENT_CALLBACK_TOKEN="tok",
            BOT_TENCENT_SECRET_KEY="key",
        )
    env[env_name(name)] = blank
    message = config_error(monkeypatch, env)
    assert f"empty secret(s) outside sandbox mode: {env_name(name)}" in message


@pytest.mark.parametrize("name", SECRETS)
def test_an_empty_secret_file_is_refused_outside_sandbox(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty file (or one holding only a newline) is an empty secret."""
    path = tmp_path / "empty"
    path.write_text("\n")
    env = {k: v for k, v in LIVE.items() if k != env_name(name)}
    env[env_name(name) + "_FILE"] = str(path)
    message = config_error(monkeypatch, env)
    assert env_name(name) in message


def test_a_blank_call_secret_is_refused_outside_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BOT_SECRET_NAME set to blanks, or to an empty file, stops start-up in live mode."""
    path = tmp_path / "empty"
    path.write_text("")
    message = config_error(
        monkeypatch, {**LIVE, "BOT_SECRET_ORDERS_TOKEN": " ", "BOT_SECRET_AGENT_FILE": str(path)}
    )
    assert (
        "empty secret(s) outside sandbox mode: BOT_SECRET_AGENT_FILE, BOT_SECRET_ORDERS_TOKEN"
        in message
    )


def test_sandbox_mode_tolerates_blank_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """In sandbox mode a blank secret falls back to the published sandbox value."""
    monkeypatch.setenv("BOT_SANDBOX", "true")
    monkeypatch.setenv("BOT_CAMS_RECEIPT_TOKEN", " ")
    monkeypatch.setenv("BOT_API_KEYS", ",")
    monkeypatch.setenv("BOT_SECRET_ORDERS_TOKEN", "")
    settings = Settings()
    settings.check()
    assert settings.receipt_tokens() == ["sandbox"]
    assert settings.api_key_values() == ["sandbox"]


def test_live_settings_with_every_secret_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is not too strict: all secrets set, optional ones too, start-up goes on."""
    for name in SECRETS:
        monkeypatch.setenv(env_name(name), f"value-{name}")
    monkeypatch.setenv("BOT_SANDBOX", "false")
    monkeypatch.setenv("BOT_TENCENT_SDKAPPID", "1400000001")
    monkeypatch.setenv("BOT_SECRET_ORDERS_TOKEN", "t")
    Settings().check()


# -- never shown -----------------------------------------------------------------------------


def test_repr_and_dumps_show_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """repr, str and a JSON dump of the settings mask every secret, and the password in
    BOT_REDIS_URL."""
    for name in SECRETS:
        monkeypatch.setenv(env_name(name), f"{LEAK}-{name}-a,{LEAK}-{name}-b")
    monkeypatch.setenv("BOT_REDIS_URL", f"redis://:{LEAK}@redis:6379/0")
    settings = Settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert LEAK not in text
        assert "**********" in text
        assert "redis://:****@redis:6379/0" in text
    assert settings.redis_url == f"redis://:{LEAK}@redis:6379/0"  # used as it is


def test_no_config_error_shows_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Across every way settings are refused, the messages printed never hold a value."""
    big = tmp_path / "big"
    big.write_text(LEAK * 10_000)
    binary = tmp_path / "binary"
    binary.write_bytes(LEAK.encode() + b"\xff")
    attempts: list[dict[str, str]] = [
        {"BOT_API_KEYS": LEAK, "BOT_API_KEYS_FILE": str(big)},
        {"BOT_CAMS_ACCESS_KEY_SECRET_FILE": str(binary)},
        {"BOT_METRICS_TOKEN_FILE": str(big)},
        {"BOT_SECRET_X": LEAK, "BOT_SECRET_X_FILE": str(big)},
        {"BOT_CAMS_ACCESS_KEY_ID": LEAK, "BOT_CAMS_SIGNATURE": " "},
        {**LIVE, "BOT_TENCENT_SDKAPPID": "1", "BOT_TENCENT_SECRET_KEY": LEAK},
        # A secret pasted into the wrong variable is named, not echoed.
        {"BOT_PORT": LEAK},
        {"BOT_TENCENT_OPTED_OUT": LEAK},
    ]
    for env in attempts:
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            assert main(["serve"]) == 2, env
        err = capsys.readouterr().err
        assert err.startswith("bot: "), env
        assert LEAK not in err, env


# -- rotation and constant-time comparison ---------------------------------------------------


def test_matches_any_accepts_every_value_and_never_an_empty_one() -> None:
    """Old and new both match; an empty presented value or empty secrets never do."""
    assert matches_any("old", ["old", "new"])
    assert matches_any("new", ["old", "new"])
    assert not matches_any("other", ["old", "new"])
    assert not matches_any("", ["", "old"])
    assert not matches_any(None, ["old"])
    assert not matches_any("", [])
    assert not matches_any("x", ["", ""])


def test_matches_any_takes_any_text() -> None:
    """A value decoded from bytes that are not UTF-8 (lone surrogates) is compared, never
    raises: it matches only the same value."""
    odd = b"k\xff\xfe".decode("utf-8", "surrogateescape")
    assert not matches_any(odd, ["k"])
    assert not matches_any("\ud800", ["k"])
    assert matches_any(odd, ["k", odd])


def test_matches_any_compares_every_secret_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each configured value goes through hmac.compare_digest, even after a match."""
    seen: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", compare)
    assert matches_any("old", ["old", "new", "newer"])
    assert seen == [(b"old", b"old"), (b"old", b"new"), (b"old", b"newer")]


@pytest.fixture
async def rotating(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_cams: CamsServer,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    redis_server: RedisServer,
    redis: Redis,
    catalog: CompiledCatalog,
) -> TestClient[Any, Any]:
    """The real app with settings from the environment, each secret in rotation (old and
    new) in a file, as Docker or Kubernetes would mount it."""
    files = {
        "BOT_CAMS_RECEIPT_TOKEN": "receipt-old\nreceipt-new\n",
        "BOT_CAMS_SIGNATURE": "signature-old\nsignature-new\n",
        "BOT_API_KEYS": "api-old,api-new\n",
        "BOT_TENCENT_CALLBACK_TOKEN": "tencent-old\ntencent-new\n",
        "BOT_CAMS_ACCESS_KEY_ID": ACCESS_KEY_ID + "\n",
        "BOT_CAMS_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET + "\n",
        "BOT_TENCENT_SECRET_KEY": "tencent-key\n",
    }
    for variable, content in files.items():
        path = tmp_path / variable.lower()
        path.write_text(content)
        monkeypatch.setenv(variable + "_FILE", str(path))
    for variable, value in {
        "BOT_REDIS_URL": redis_server.url,
        "BOT_SANDBOX": "false",
        "BOT_CAMS_ENDPOINT": fake_cams.endpoint,
        "BOT_CAMS_FROM": BUSINESS,
        "BOT_TENCENT_SDKAPPID": "1400000001",
        "BOT_PARTITIONS": "4",
        **{f"BOT_SECRET_{name}": value for name, value in EXAMPLE_SECRETS.items()},
    }.items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    settings.check()
    return await aiohttp_client(create_app(settings, catalog, secrets=call_secrets(os.environ)))


async def test_receipt_token_rotation_end_to_end(rotating: TestClient[Any, Any]) -> None:
    """Both receipt tokens are accepted while rotating; any other is 401."""
    for i, token in enumerate(("receipt-old", "receipt-new")):
        resp = await rotating.post(
            f"/cams/receipts?token={token}", json=[inbound("hi", customer=f"861390000070{i}")]
        )
        assert resp.status == 200, await resp.text()
    resp = await rotating.post("/cams/receipts?token=receipt-older", json=[inbound("hi")])
    assert resp.status == 401


async def test_business_signature_rotation_end_to_end(
    rotating: TestClient[Any, Any], fake_cams: CamsServer
) -> None:
    """The console's old and new Signature both start an intent; another is 401."""
    for i, signature in enumerate(("signature-old", "signature-new")):
        body = {"intentCode": "csat_survey", "phone": f"861390000071{i}"}
        resp = await rotating.post("/cams/business", json=body, headers={"Signature": signature})
        assert resp.status == 200, await resp.text()
    body = {"intentCode": "csat_survey", "phone": "8613900000719"}
    resp = await rotating.post("/cams/business", json=body, headers={"Signature": "signature"})
    assert resp.status == 401
    await fake_cams.recorder.wait_for(2)


async def test_api_key_rotation_end_to_end(rotating: TestClient[Any, Any]) -> None:
    """Both API keys read a conversation; another key is 401."""
    path = f"/v1/conversations/cams:whatsapp:{BUSINESS}:8613900000720"
    for key in ("api-old", "api-new"):
        resp = await rotating.get(path, headers={"Authorization": f"Bearer {key}"})
        assert resp.status in (200, 404), await resp.text()
    resp = await rotating.get(path, headers={"Authorization": "Bearer api-newer"})
    assert resp.status == 401


async def test_tencent_token_rotation_end_to_end(rotating: TestClient[Any, Any]) -> None:
    """Callbacks signed with the old or the new Tencent token pass; another token is 401."""
    command = "Group.CallbackAfterNewMemberJoin"

    async def post(token: str, at: int) -> int:
        query = urlencode(
            {
                "SdkAppid": "1400000001",
                "CallbackCommand": command,
                "contenttype": "json",
                "RequestTime": str(at),
                "Sign": sign(token, str(at)),
            }
        )
        resp = await rotating.post(f"/tencent/callback?{query}", json={"CallbackCommand": command})
        return resp.status

    now = int(time.time())
    assert await post("tencent-old", now) == 200
    assert await post("tencent-new", now - 1) == 200
    assert await post("tencent-newer", now - 2) == 401


# -- the rule, kept by a scan of the source ---------------------------------------------------

# Words that make a name a secret's: any of STRONG anywhere in it; a WEAK one after the first
# word of a compound (`api_key`, `user_sig`; a bare `key` is a mapping's key, and `sig_app` a
# field of a signed document).
STRONG = {"secret", "token", "signature", "sign", "password", "passwd", "authorization", "hmac"}
WEAK = {"key", "sig", "apikey"}


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower().replace("-", "_")
    return [
        w.removesuffix("s") if w.removesuffix("s") in STRONG | WEAK else w
        for w in spaced.split("_")
        if w
    ]


def _secret_like(name: str) -> bool:
    words = _words(name)
    return any(w in STRONG for w in words) or any(w in WEAK for w in words[1:])


def _names(node: ast.expr) -> Iterator[str]:
    """The names an operand is made of: variables, attributes, called functions, the keys of
    `.get("Authorization")` and `["Sign"]`, the values inside f-strings and concatenations."""
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr
    elif isinstance(node, ast.Call):
        yield from _names(node.func)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value
    elif isinstance(node, ast.Subscript):
        yield from _names(node.value)
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            yield node.slice.value
    elif isinstance(node, ast.JoinedStr):
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                yield from _names(part.value)
    elif isinstance(node, ast.BinOp):
        yield from _names(node.left)
        yield from _names(node.right)


def plain_secret_comparisons(root: Path) -> list[str]:
    """`file:line: code` of each ==/!= with a secret-like operand, and each `in`/`not in`
    whose left side is secret-like (a presented value looked up in a list of secrets)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                if isinstance(op, ast.Eq | ast.NotEq):
                    sides = [left, right]
                elif isinstance(op, ast.In | ast.NotIn):
                    sides = [left]
                else:
                    continue
                if any(_secret_like(n) for side in sides for n in _names(side)):
                    where = path.relative_to(root.parent)
                    found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_finds_plain_comparisons(tmp_path: Path) -> None:
    """The scan itself: it flags the shapes of a plain secret comparison, and not others."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        "def f(request, settings, token, api_key, tokens, sig_app, key, expected):\n"
        "    a = token == expected\n"
        "    b = expected != api_key\n"
        "    c = request.headers.get('Authorization') == f'Bearer {expected}'\n"
        "    d = request.query['Sign'] == expected\n"
        "    e = token in settings.receipt_tokens()\n"
        "    f = expected == settings.api_key_values()[0]\n"
        "    g = 'Bearer ' + settings.metrics_token == expected\n"
    )
    (pkg / "good.py").write_text(
        "def f(token, tokens, sig_app, app, key, kind, name, secrets):\n"
        "    a = sig_app != app\n"
        "    b = key != kind\n"
        "    c = name in secrets\n"
        "    d = token is None\n"
        "    e = len(tokens) == 2\n"
    )
    found = plain_secret_comparisons(pkg)
    assert [line.split(":")[1] for line in found] == [str(n) for n in range(2, 9)]


def test_no_secret_is_compared_with_plain_equality() -> None:
    """bot/ compares presented secrets only with hmac.compare_digest (bot.platforms.auth.
    matches_any): no ==, != or `in` on a token, signature, secret or key."""
    assert plain_secret_comparisons(ROOT / "bot") == []
