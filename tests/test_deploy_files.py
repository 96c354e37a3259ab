"""The deployment files and docs/operations.md, checked as files (no Docker engine here):
the image is hardened, its health check works, the compose example is consistent, and every
variable and metric named exists."""

from __future__ import annotations

import fnmatch
import http.server
import json
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trustme
from ruamel.yaml import YAML

from bot.settings import ACCOUNT_FIELDS, ACCOUNT_PREFIX, Settings, env_name, secret_settings
from bot.web.health import routes
from tests.processes import bot_env
from tests.support import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = YAML(typ="safe").load(COMPOSE_TEXT)
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
BOT = COMPOSE["services"]["bot"]
REDIS = COMPOSE["services"]["redis"]

SETTINGS = {env_name(name) for name in Settings.model_fields}
SECRET_FILES = {env_name(name) + "_FILE" for name in secret_settings()}
# A name like BOT_CAMS_SIGNATURE; not the `BOT_SECRET_<NAME>` or `BOT_*_FILE` patterns.
BOT_NAME = re.compile(r"\bBOT_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_<*])")
# The metrics contract of the server (bot/metrics.py).
METRICS = {
    "bot_callbacks_total": "counter",
    "bot_callback_seconds": "histogram",
    "bot_auth_rejections_total": "counter",
    "bot_duplicates_total": "counter",
    "bot_flow_steps_total": "counter",
    "bot_sends_total": "counter",
    "bot_send_seconds": "histogram",
    "bot_rate_limit_waits_total": "counter",
    "bot_rate_limit_wait_seconds_total": "counter",
    "bot_unknown_numbers_total": "counter",
    "bot_backlog_age_seconds": "gauge",
    "bot_dead_letters": "gauge",
    "bot_process_requests": "gauge",
}


def known_variable(name: str) -> bool:
    """A setting, the file variant of a secret setting, a flows' call secret, or a named
    CAMS account's."""
    return (
        name in SETTINGS or name in SECRET_FILES or name.startswith(("BOT_SECRET_", ACCOUNT_PREFIX))
    )


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    result = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


STEPS = instructions(DOCKERFILE)


def args_of(keyword: str) -> list[str]:
    return [rest for k, rest in STEPS if k == keyword]


def image_env() -> dict[str, str]:
    """The ENV of the final stage."""
    final = max(i for i, (k, _) in enumerate(STEPS) if k == "FROM")
    env: dict[str, str] = {}
    for keyword, rest in STEPS[final:]:
        if keyword == "ENV":
            for pair in rest.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def healthcheck_code() -> str:
    (check,) = args_of("HEALTHCHECK")
    command = json.loads(check[check.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"], command
    code: str = command[2]
    return code


# -- the image -------------------------------------------------------------------------------


def test_the_image_is_built_in_two_stages_from_python_slim() -> None:
    """A build stage makes the virtualenv; the image copies only that, on python:3.11-slim."""
    froms = args_of("FROM")
    assert len(froms) >= 2
    assert all(f.split()[0] == "python:3.11-slim" for f in froms), froms
    assert froms[0].split()[-2:] == ["AS", "build"]
    assert any(c.startswith("--from=build /opt/venv") for c in args_of("COPY"))
    assert image_env()["PATH"].startswith("/opt/venv/bin:")


def test_the_image_runs_as_a_fixed_non_root_user() -> None:
    """USER is a numeric uid other than 0, created with that uid."""
    user = args_of("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), user
    assert gid.isdigit(), user
    assert int(uid) != 0
    assert int(gid) != 0
    assert f"--uid {uid}" in DOCKERFILE
    assert f"--gid {gid}" in DOCKERFILE


def test_the_image_runs_read_only_with_data_and_tmp() -> None:
    """Writes only to the /data volume (owned by the user) and /tmp; no bytecode written."""
    env = image_env()
    assert args_of("VOLUME") == ['["/data"]']
    assert env["BOT_DATA_DIR"] == "/data"
    assert "chown bot:bot /data" in DOCKERFILE
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_image_defaults_and_signals() -> None:
    """Listens on every address of the container in JSON logs, exposes its port, stops on
    SIGTERM, and starts `bot serve`."""
    env = image_env()
    assert env["BOT_HOST"] == "0.0.0.0"
    assert env["BOT_LOG_FORMAT"] == "json"
    assert args_of("EXPOSE") == [env["BOT_PORT"]]
    assert args_of("STOPSIGNAL") == ["SIGTERM"]
    assert args_of("ENTRYPOINT") == ['["bot"]']
    assert args_of("CMD") == ['["serve"]']
    assert (ROOT / env["BOT_FLOWS"].removeprefix("/app/")).is_file()
    assert (ROOT / env["BOT_INTENTS"].removeprefix("/app/")).is_dir()


def test_copied_files_exist_and_are_not_ignored() -> None:
    """Every COPY source is in the repository and not excluded by .dockerignore, which keeps
    out what must never reach an image."""
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for must in (".git", ".venv", "secrets", ".data", "tests"):
        assert must in ignored, must
    for copy in args_of("COPY"):
        if copy.startswith("--from="):
            continue
        *sources, _target = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serving(tls: ssl.SSLContext | None, status: int = 200) -> Iterator[int]:
    handler = type("Handler", (Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_healthcheck(port: int, **env: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", healthcheck_code()],
        env=bot_env(BOT_PORT=str(port), **env),
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode


def test_the_healthcheck_is_python_that_compiles() -> None:
    """The HEALTHCHECK is `python -c CODE` (no curl in slim) and CODE compiles."""
    compile(healthcheck_code(), "HEALTHCHECK", "exec")
    assert "/healthz" in healthcheck_code()
    assert "urllib.request" in healthcheck_code()


def test_the_healthcheck_passes_and_fails_as_it_should(tmp_path: Path) -> None:
    """It succeeds on a 200 from /healthz over HTTP, and over HTTPS when BOT_TLS_CERT is set;
    it fails on a 503 and on a closed port."""
    for port in serving(None):
        assert run_healthcheck(port) == 0
    for port in serving(None, status=503):
        assert run_healthcheck(port) != 0
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    for port in serving(context):
        assert run_healthcheck(port, BOT_TLS_CERT="/run/cert.pem") == 0
        assert run_healthcheck(port) != 0  # plain HTTP to an HTTPS port
    for port in serving(None):
        closed = port
    assert run_healthcheck(closed) != 0


# -- docker-compose.yml ----------------------------------------------------------------------


def test_redis_is_persistent_and_health_checked() -> None:
    """The official image, append-only, with a redis-cli ping health check."""
    assert REDIS["image"].startswith("redis:")
    command = REDIS["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    test = REDIS["healthcheck"]["test"]
    assert test[:1] == ["CMD"]
    assert "redis-cli" in test
    assert "ping" in test
    assert "ports" not in REDIS
    assert any(v.endswith(":/data") for v in REDIS["volumes"])


def test_the_bot_service_is_hardened() -> None:
    """Starts after a healthy Redis, read-only with a tmpfs /tmp, its flows mounted
    read-only where the image looks for them, and time to drain on stop."""
    assert BOT["depends_on"]["redis"]["condition"] == "service_healthy"
    env = BOT["environment"]
    assert env["BOT_REDIS_URL"].startswith("redis://redis:6379")
    assert BOT["read_only"] is True
    assert "/tmp" in BOT["tmpfs"]  # noqa: S108 - the container's own /tmp, a tmpfs
    image = image_env()
    mounts = {v.split(":")[1]: v for v in BOT["volumes"]}
    for target in (image["BOT_FLOWS"], image["BOT_INTENTS"]):
        assert mounts[target].endswith(":ro"), target
    assert "ALL" in BOT["cap_drop"]
    grace = int(BOT["stop_grace_period"].removesuffix("s"))
    assert grace > float(env.get("BOT_DRAIN_SECONDS", Settings().drain_seconds))


def test_secrets_come_from_files() -> None:
    """Each secret is a Docker secret read through BOT_<NAME>_FILE; no secret value is in
    the compose file."""
    env = BOT["environment"]
    declared = COMPOSE["secrets"]
    used = set()
    for name, value in env.items():
        assert name not in {env_name(s) for s in secret_settings()}, name
        if name.endswith("_FILE"):
            assert name in SECRET_FILES, name
            secret = value.removeprefix("/run/secrets/")
            assert value == f"/run/secrets/{secret}", name
            assert secret in BOT["secrets"], name
            used.add(secret)
    assert used == set(BOT["secrets"]) == set(declared)
    for required in ("cams_access_key_id", "cams_access_key_secret", "cams_receipt_token",
                     "cams_signature"):  # fmt: skip
        assert required in used


def test_the_secret_files_are_documented() -> None:
    """Every file the compose example reads a secret from is explained in operations.md,
    with the variable that names it."""
    for name, secret in COMPOSE["secrets"].items():
        path = secret["file"]
        row = next((line for line in OPERATIONS.splitlines() if f"`{path}`" in line), None)
        assert row is not None, path
        variable = next(k for k, v in BOT["environment"].items() if v == f"/run/secrets/{name}")
        assert f"`{variable}`" in row, path


def test_every_variable_named_in_deployment_files_exists() -> None:
    """BOT_* names in the Dockerfile and the compose file (comments included) are settings
    or the _FILE of a secret setting."""
    for text in (DOCKERFILE, COMPOSE_TEXT):
        for name in BOT_NAME.findall(text):
            assert known_variable(name), name


# -- docs/operations.md ----------------------------------------------------------------------


def settings_table() -> list[str]:
    """The variables of the first column of the settings table."""
    section = OPERATIONS.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(BOT_[A-Z0-9_<>]+)` \|", section, re.M)


def test_the_settings_table_is_complete_and_true() -> None:
    """Every setting has a row, once; every row is a setting (or the call secrets)."""
    rows = settings_table()
    assert len(rows) == len(set(rows))
    accounts = {f"BOT_CAMS_ACCOUNT_<NAME>_{field}" for field in ACCOUNT_FIELDS}
    assert set(rows) == SETTINGS | {"BOT_SECRET_<NAME>"} | accounts


def test_every_variable_named_in_operations_exists() -> None:
    """No BOT_* name in the page is made up."""
    for name in BOT_NAME.findall(OPERATIONS):
        assert known_variable(name), name


def test_the_proxy_examples_match_the_limits() -> None:
    """The nginx and Caddy examples use BOT_MAX_BODY and BOT_BODY_TIMEOUT's defaults, and
    pass X-Request-Id and X-Forwarded-For."""
    settings = Settings()
    assert settings.max_body == 1024 * 1024
    assert settings.body_timeout == 10
    nginx = re.search(r"```nginx\n(.*?)```", OPERATIONS, re.S)
    caddy = re.search(r"```caddy\n(.*?)```", OPERATIONS, re.S)
    assert nginx is not None
    assert caddy is not None
    assert re.search(r"client_max_body_size 1m;\s+# BOT_MAX_BODY", nginx.group(1))
    assert re.search(r"client_body_timeout 10s;\s+# BOT_BODY_TIMEOUT", nginx.group(1))
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx.group(1)
    assert "proxy_set_header X-Request-Id" in nginx.group(1)
    assert re.search(r"max_size 1MiB\s+# BOT_MAX_BODY", caddy.group(1))
    assert re.search(r"read_body 10s\s+# BOT_BODY_TIMEOUT", caddy.group(1))
    assert "X-Request-Id" in caddy.group(1)


def test_the_health_endpoints_documented_exist() -> None:
    """/healthz and /readyz, as the page describes them, are the server's routes."""
    paths = {route.path for route in routes()}
    assert paths == {"/healthz", "/readyz"}
    for path in paths:
        assert f"`GET {path}`" in OPERATIONS


def test_the_metrics_table_is_the_contract() -> None:
    """The metrics table lists exactly the server's metrics, with their types."""
    section = OPERATIONS.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(bot_[a-z_]+)` \| (\w+) \|", section, re.M))
    assert rows == METRICS


def test_the_alerting_rules_are_valid_and_use_real_metrics() -> None:
    """The alerting rules parse as Prometheus rule YAML, cover what the page promises, and
    name only metrics the server exports."""
    block = re.search(r"```yaml\n(# bot-alerts.yml.*?)```", OPERATIONS, re.S)
    assert block is not None
    groups = YAML(typ="safe").load(block.group(1))["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    promised = {
        "BotNoCallbacks",
        "BotSendFailureRate",
        "BotBacklogAge",
        "BotDeadLettersGrowing",
        "BotAuthRejections",
        "BotRedisUnavailable",
    }
    assert promised <= names
    exported = set(METRICS) | {f"{m}_{s}" for m, t in METRICS.items() if t == "histogram"
                               for s in ("bucket", "sum", "count")}  # fmt: skip
    for rule in rules:
        assert rule["expr"]
        assert rule["labels"]["severity"]
        assert rule["annotations"]["summary"]
        for metric in re.findall(r"\bbot_[a-z_]+", rule["expr"]):
            assert metric in exported, (rule["alert"], metric)
