"""All settings, read once from the environment (prefix BOT_) and passed down.

Every secret setting can also come from a file: `BOT_<NAME>_FILE=/run/secrets/name` (Docker
and Kubernetes secrets) reads the value from that file, without its trailing newline. Setting
both `BOT_<NAME>` and `BOT_<NAME>_FILE` is refused, and so is a file that cannot be read; the
error names the variable and the path, never the content. The same holds for the call
secrets `BOT_SECRET_<NAME>` of flows."""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import types
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import Field, SecretStr, ValidationError, field_serializer, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import Url
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.errors import ConfigError
from bot.model import DEFAULT_ACCOUNT, OPT_OUT_TTL
from bot.phones import customer_id

SANDBOX_BUSINESS = "8613800000000"  # the business number of sandbox conversations
SANDBOX_SECRET = "sandbox"  # noqa: S105 - the published value of sandbox mode's token and keys
SANDBOX_TENCENT_APP = "1400000000"  # the SdkAppid of the sandbox's fake Tencent Chat

ENV_PREFIX = "BOT_"
FILE_SUFFIX = "_FILE"
CALL_SECRET_PREFIX = "BOT_SECRET_"  # noqa: S105 - a variable name, not a secret
MAX_SECRET_FILE = 64 * 1024  # bytes: a larger file is a mistake, not a secret

SecretList = Annotated[list[SecretStr], NoDecode]

_SEPARATORS = re.compile(r"[,\r\n]")


def _split(value: Any) -> Any:
    """`a,b` -> ["a", "b"]: several values valid at once, so secrets can be rotated. A file
    may also hold one value per line."""
    if isinstance(value, str):
        return [part.strip() for part in _SEPARATORS.split(value) if part.strip()]
    return value


def is_loopback(host: str) -> bool:
    """True for an address that only this machine reaches: 127.0.0.0/8, ::1, localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def env_name(field: str) -> str:
    """The environment variable of a setting: `api_keys` -> `BOT_API_KEYS`."""
    return ENV_PREFIX + field.upper()


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if get_origin(annotation) in (Annotated, list, Union, types.UnionType):
        return any(_holds_secret(arg) for arg in get_args(annotation))
    return False


def secret_settings() -> tuple[str, ...]:
    """The names of the settings that hold secrets (typed SecretStr, alone or in a list)."""
    return tuple(
        name for name, field in Settings.model_fields.items() if _holds_secret(field.annotation)
    )


def read_secret_file(variable: str, path: str) -> str:
    """The secret in the file that `variable` (a BOT_..._FILE) names: its text without the
    trailing newline. A ConfigError names the variable and the path, never the content."""
    if not path.strip():
        raise ConfigError(f"{variable} is empty: set it to the path of the secret's file")
    where = f"{variable}={path}"
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SECRET_FILE + 1)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(f"{where}: cannot read the secret's file: {reason}") from None
    if len(data) > MAX_SECRET_FILE:
        raise ConfigError(f"{where}: the file is over {MAX_SECRET_FILE} bytes, not a secret")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: the file is not UTF-8 text") from None
    return text.rstrip("\r\n")


def without_password(url: str) -> str:
    """`url` with its password, if any, masked: `redis://:****@host/0`."""
    try:
        parsed = Url(url)
    except ValueError:
        return "(not a URL)"
    if not parsed.password:
        return url
    shown = Url.build(
        scheme=parsed.scheme,
        username=parsed.username,
        password="****",  # noqa: S106 - the mask shown instead of the password
        host=parsed.host or "",
        port=parsed.port,
        path=(parsed.path or "").lstrip("/") or None,
        query=parsed.query,
    )
    return str(shown)


def _both_set(variable: str) -> ConfigError:
    return ConfigError(
        f"{variable} and {variable}{FILE_SUFFIX} are both set: keep one (the value, or the "
        "file that holds it)"
    )


class SecretFilesSource(PydanticBaseSettingsSource):
    """`BOT_<NAME>_FILE=/path` for each secret setting: the value is read from that file."""

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(settings_cls)
        self.environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every secret at once

    def __call__(self) -> dict[str, Any]:
        # Environment names are matched regardless of case, as pydantic-settings does.
        environ = {name.upper(): value for name, value in self.environ.items()}
        values: dict[str, Any] = {}
        for name in secret_settings():
            variable = env_name(name)
            path = environ.get(variable + FILE_SUFFIX)
            if path is None:
                continue
            if variable in environ:
                raise _both_set(variable)
            values[name] = read_secret_file(variable + FILE_SUFFIX, path)
        return values


def _call_secret_values(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """NAME -> (the variable it came from, its value) for every BOT_SECRET_NAME and
    BOT_SECRET_NAME_FILE, blank values included."""
    found: dict[str, tuple[str, str]] = {}
    for variable, value in environ.items():
        if not variable.startswith(CALL_SECRET_PREFIX):
            continue
        name = variable[len(CALL_SECRET_PREFIX) :]
        if name.endswith(FILE_SUFFIX) and len(name) > len(FILE_SUFFIX):
            name = name[: -len(FILE_SUFFIX)]
            plain = variable[: -len(FILE_SUFFIX)]
            if plain in environ:
                raise _both_set(plain)
            found[name] = (variable, read_secret_file(variable, value))
        elif name:
            found[name] = (variable, value)
    return found


ACCOUNT_PREFIX = "BOT_CAMS_ACCOUNT_"
# What each named CAMS account may set, after BOT_CAMS_ACCOUNT_<NAME>_; the secrets may
# also come from a file (…_FILE).
ACCOUNT_SECRETS = ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET")
ACCOUNT_FIELDS = (*ACCOUNT_SECRETS, "ENDPOINT", "SEND_RATE_LIMIT")
_ACCOUNT_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_BASE_URL = re.compile(r"https?://[^\s/?#]+/?")


@dataclass(frozen=True, slots=True)
class CamsAccount:
    """A named CAMS account (BOT_CAMS_ACCOUNT_<NAME>_*): `name` in lower case, as
    `numbers:` of flows.yaml names it. Its repr shows no secret."""

    name: str
    access_key_id: str = dataclasses.field(repr=False)
    access_key_secret: str = dataclasses.field(repr=False)
    endpoint: str
    send_rate_limit: int | None = None


def _account_variable(variable: str) -> tuple[str, str, bool] | None:
    """(NAME, FIELD, from a file) of a BOT_CAMS_ACCOUNT_<NAME>_<FIELD>[_FILE] variable; None
    for another variable, or one whose field is none of ACCOUNT_FIELDS."""
    if not variable.startswith(ACCOUNT_PREFIX):
        return None
    rest = variable[len(ACCOUNT_PREFIX) :]
    for name in sorted(ACCOUNT_FIELDS, key=len, reverse=True):
        for suffix, from_file in ((f"_{name}{FILE_SUFFIX}", True), (f"_{name}", False)):
            if from_file and name not in ACCOUNT_SECRETS:
                continue
            if rest.endswith(suffix) and _ACCOUNT_NAME.fullmatch(rest[: -len(suffix)]):
                return rest[: -len(suffix)], name, from_file
    return None


def cams_accounts(environ: Mapping[str, str], default_endpoint: str) -> dict[str, CamsAccount]:
    """The named CAMS accounts of `environ`, by name in lower case: each needs its
    BOT_CAMS_ACCOUNT_<NAME>_ACCESS_KEY_ID and _ACCESS_KEY_SECRET (or their _FILE), and may
    set its _ENDPOINT (default: BOT_CAMS_ENDPOINT) and _SEND_RATE_LIMIT (default:
    BOT_SEND_RATE_LIMIT). A ConfigError names each variable that is wrong, never a value."""
    upper = {variable.upper(): value for variable, value in environ.items()}
    found: dict[str, dict[str, str]] = {}
    for variable, value in upper.items():
        parsed = _account_variable(variable)
        if parsed is None:
            continue
        name, what, from_file = parsed
        if name == DEFAULT_ACCOUNT.upper():
            raise ConfigError(
                f"{variable}: `default` is the account of BOT_CAMS_ACCESS_KEY_ID: give the "
                "other account another name"
            )
        if from_file:
            plain = variable[: -len(FILE_SUFFIX)]
            if plain in upper:
                raise _both_set(plain)
            value = read_secret_file(variable, value)
        found.setdefault(name, {})[what] = value
    accounts = {}
    for name, values in sorted(found.items()):
        prefix = f"{ACCOUNT_PREFIX}{name}_"
        missing = [f"{prefix}{w}" for w in ACCOUNT_SECRETS if not values.get(w, "").strip()]
        if missing:
            raise ConfigError(
                f"CAMS account {name.lower()}: {', '.join(missing)} missing or empty (or set "
                "its _FILE): an account sends with both its AccessKey ID and secret"
            )
        endpoint = values.get("ENDPOINT", default_endpoint).strip()
        if not _BASE_URL.fullmatch(endpoint):
            raise ConfigError(
                f"{prefix}ENDPOINT: not a base URL such as https://cams.ap-southeast-1.aliyuncs.com"
            )
        limit = None
        if "SEND_RATE_LIMIT" in values:
            text = values["SEND_RATE_LIMIT"].strip()
            if not (text.isascii() and text.isdigit()) or int(text) < 1:
                raise ConfigError(f"{prefix}SEND_RATE_LIMIT: a whole number of sends a second")
            limit = int(text)
        accounts[name.lower()] = CamsAccount(
            name.lower(),
            values["ACCESS_KEY_ID"].strip(),
            values["ACCESS_KEY_SECRET"].strip(),
            endpoint,
            limit,
        )
    return accounts


def _shared_keys(accounts: Mapping[str, CamsAccount], default: SecretStr | None) -> list[str]:
    """The names of the accounts (`default` too) whose AccessKey ID another has."""
    ids = {name: a.access_key_id for name, a in accounts.items()}
    if default is not None:
        ids[DEFAULT_ACCOUNT] = default.get_secret_value().strip()
    counts = Counter(ids.values())
    return sorted(name for name, key_id in ids.items() if counts[key_id] > 1)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


# Variables of the BOT_ prefix that are no setting: set by `bot serve --workers N` for each of
# its processes.
INTERNAL = frozenset({"BOT_SERVE_WORKER"})


def known_variables() -> frozenset[str]:
    """Every BOT_* variable the server reads, but the call secrets BOT_SECRET_<NAME>."""
    names = {env_name(name) for name in Settings.model_fields}
    names |= {env_name(name) + FILE_SUFFIX for name in secret_settings()}
    return frozenset(names | INTERNAL)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each BOT_* variable of `environ` that names no setting, with the setting it
    may have meant."""
    known = known_variables()
    found = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        if name.startswith(CALL_SECRET_PREFIX) and len(name) > len(CALL_SECRET_PREFIX):
            continue
        if _account_variable(name) is not None:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f": did you mean {close[0]}?" if close else ""
        found.append(f"{variable} is no setting{hint} (see README.md, Settings)")
    return found


def settings_problems(error: ValidationError) -> str:
    """A settings error as the operator wrote it: each problem names its variable (BOT_PORT),
    never the value (it may be a secret)."""
    lines = []
    for problem in error.errors():
        where = problem["loc"][0] if problem["loc"] else ""
        variable = env_name(str(where)) if where else "settings"
        lines.append(f"{variable}: {problem['msg']}")
    return "; ".join(lines)


def call_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """BOT_SECRET_NAME=value pairs (or BOT_SECRET_NAME_FILE=path): the secrets flows may put
    in call urls and headers as {{ secret.NAME }}. They are read here, at the edge, and never
    stored in Redis. Blank ones count as unset. A value holding a control character (a line
    break inside it, say) is refused: it would end a header line."""
    found = {}
    for name, (variable, value) in _call_secret_values(environ).items():
        if not value.strip():
            continue
        if _CONTROL.search(value):
            raise ConfigError(
                f"{variable} holds a control character (a line break?): a call secret goes in "
                "a url or a header value, on one line"
            )
        found[name] = value
    return found


class Settings(BaseSettings):
    """The server's settings. The environment variable of each is BOT_ + its name in capitals."""

    # hide_input_in_errors: a malformed value is named, never echoed (it may be a secret).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then BOT_<NAME>, then BOT_<NAME>_FILE (never both: refused)."""
        return (
            init_settings,
            env_settings,
            SecretFilesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    host: str = Field(
        "127.0.0.1", description="Address to listen on (`0.0.0.0` in the Docker image)."
    )
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on.")
    redis_url: str | None = Field(
        None,
        description=(
            "Redis to use, e.g. `redis://redis:6379/0`. Unset: an embedded `redis-server`"
            " under `BOT_DATA_DIR`."
        ),
    )
    data_dir: Path = Field(
        Path(".data"), description="Where the embedded Redis keeps its append-only file."
    )
    flows: Path = Field(Path("flows.yaml"), description="The flows file.")
    intents: Path = Field(Path("intents"), description="The folder of intent files (`*.yaml`).")
    sandbox: bool = Field(
        False,
        description=(
            "`true`: sandbox mode (a fake CAMS and Tencent that print replies; the "
            "published `sandbox` as every unset secret; loopback only). `make run` sets "
            "it when no CAMS access key is configured; nothing else turns it on."
        ),
    )
    sandbox_public: bool = Field(
        False,
        description=(
            "`true`: let sandbox mode listen on a non-loopback `BOT_HOST` (a "
            "container's). Its secrets are published."
        ),
    )

    cams_receipt_token: SecretList = Field(
        default_factory=list,
        description="The `token` of the receipt URL. Sandbox: `sandbox`.",
    )
    cams_signature: SecretList = Field(
        default_factory=list,
        description=(
            "The business system's Signature from the CAMS console. The console makes a "
            "new one on every refresh click: list the old and the new while you switch. "
            "Sandbox: `sandbox`."
        ),
    )
    api_keys: SecretList = Field(
        default_factory=list,
        description="Keys of the business API (`/v1/...`). Sandbox: `sandbox`.",
    )
    console_tokens: SecretList = Field(
        default_factory=list,
        description=(
            "Operator tokens of the web console at `/console` (each at least 16 characters; "
            "list the old and the new while you switch: removing one signs out its sessions). "
            "Unset: no console. Sandbox: `sandbox`."
        ),
    )
    console_session_ttl: int = Field(
        8 * 3600,
        ge=60,
        le=7 * 24 * 3600,
        description="Seconds a console session lasts unused: then sign in again.",
    )
    cams_access_key_id: SecretStr | None = Field(
        None, description="AccessKey ID for SendChatappMessage."
    )
    cams_access_key_secret: SecretStr | None = Field(None, description="AccessKey secret.")
    cams_endpoint: str = Field(
        "https://cams.ap-southeast-1.aliyuncs.com", description="Base URL of the send API."
    )
    cams_from: str | None = Field(
        None,
        description=(
            "Business number for conversations the business starts, when the call does "
            "not name one."
        ),
        json_schema_extra={"shown_default": "unset (sandbox: `8613800000000`)"},
    )
    cams_channel: str = Field(
        "whatsapp",
        description=(
            "Channel of conversations the business starts, and of receipts whose URL has "
            "no `channel`."
        ),
    )

    partitions: int = Field(
        16,
        ge=1,
        le=1024,
        description=(
            "Inbox partitions. Fixed for the life of a deployment's data: changing it "
            "re-homes conversations."
        ),
    )
    conversation_ttl: int = Field(
        7 * 24 * 3600,
        ge=60,
        description="Seconds after which an idle conversation is forgotten.",
        json_schema_extra={"shown_default": "`604800` (7 days)"},
    )
    opt_out_ttl: int = Field(
        OPT_OUT_TTL,
        ge=86400,
        description=(
            "Seconds a customer's opt-out (STOP, STOP MARKETING) is kept after they made "
            "it, whatever becomes of the conversation (forgotten, erased): a key named by a "
            "SHA-256 of the conversation id, holding the opt-out alone. START ends it."
        ),
        json_schema_extra={"shown_default": "`63072000` (2 years)"},
    )
    dedup_ttl: int = Field(
        24 * 3600,
        ge=60,
        description="Seconds a message id is remembered, to drop repeated pushes.",
        json_schema_extra={"shown_default": "`86400` (1 day)"},
    )
    history: bool = Field(
        True,
        description=(
            "Keep each conversation's history (bot/store: messages in, replies out, their "
            "delivery statuses, every step), for `/v1/conversations/{id}/history`."
        ),
    )
    history_text: bool = Field(
        True,
        description=(
            "Keep what was written (message and reply texts, button payloads, an intent's "
            "data, a call's answer) in the history; `false` keeps the steps, their kinds "
            "and the statuses only."
        ),
    )
    history_length: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Entries of history kept per conversation: the oldest go first.",
    )
    history_ttl: int = Field(
        30 * 24 * 3600,
        ge=60,
        description=(
            "Seconds an entry of history is kept: older ones are dropped, and a "
            "conversation's whole history this long after its last entry."
        ),
        json_schema_extra={"shown_default": "`2592000` (30 days)"},
    )
    campaign_ttl: int = Field(
        30 * 24 * 3600,
        ge=3600,
        description=(
            "Seconds a campaign and its recipients (their numbers and data, their statuses) "
            "are kept after its end-by time (or its start, when it has none): then they go."
        ),
        json_schema_extra={"shown_default": "`2592000` (30 days)"},
    )
    lease_seconds: float = Field(
        10.0,
        gt=0,
        description=(
            "A partition's lease; a stalled or dead process loses its partitions after this."
        ),
    )
    send_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds before a send API call counts as timed out (and is retried).",
    )
    send_attempts: int = Field(
        5, ge=1, description="Attempts of a retryable send before it goes to the dead letters."
    )
    campaign_daily_cap: int = Field(
        0,
        ge=0,
        description=(
            "Unique recipients a business number's campaigns message in any 24 hours "
            "(WhatsApp's messaging limit of the number's tier: 250, 1000, 10000, 100000); "
            "the rest wait for a free place, counted `carried_over`. 0: no cap."
        ),
    )
    campaign_min_gap: float = Field(
        6.0,
        ge=0,
        description=(
            "Seconds a recipient's conversation must have been quiet (since its last step) "
            "before a campaign messages it (WhatsApp's pair rate: about one message per 6 s "
            "to the same user); sooner, its turn is put off until the gap is over."
        ),
    )
    campaign_reserve: float = Field(
        0.2,
        ge=0,
        lt=1,
        description=(
            "The share of `BOT_SEND_RATE_LIMIT` campaigns never use: their first messages "
            "are sent only while the account's sends in the last second are under the rest, "
            "so replies to customers who write always find room."
        ),
    )
    send_rate_limit: int = Field(
        225,
        ge=1,
        description=(
            "Sends per second per platform account, shared by every process on the same "
            "Redis. Never more permits in any one-second window: each send attempt, "
            "retries included, waits for one, and a permit counts for 1.05 s; at most an "
            "eighth of them in any tenth of a second, so a second's sends are spread over"
            " it. CAMS allows 250/s per account; the default stays 10% below because "
            "requests can still reach the platform bunched (measured before the spreading:"
            " up to 11% over the limit in a one-second window at the receiver on a loaded "
            "machine)."
        ),
    )
    drain_seconds: float = Field(
        10.0,
        ge=0,
        description=(
            "On SIGTERM: how long in-flight requests, and then in-flight steps and sends,"
            " may finish before the process exits. What is left unfinished stays pending "
            "in Redis and is taken up by the next owner of its partition (a send cut "
            "short may go out twice, with the same TaskId)."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description=(
            "`DEBUG`, `INFO`, `WARNING` or `ERROR`. Customer ids (phone numbers, "
            "accounts, e-mail addresses) are masked in logs; message texts are never logged, "
            "at any level; secrets never; control characters are escaped, so no line can "
            "be forged (docs/operations.md#logs)."
        ),
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description=(
            "`json`: one JSON object per line (`ts`, `level`, `logger`, `msg`, and when "
            "known `request_id`, `conv`, `message_id`, `partition`); `text`: for people, "
            "the same ids as `key=value`; `auto`: text on a terminal, JSON otherwise."
        ),
    )
    workers: int = Field(
        1, ge=1, le=64, description="Server processes sharing the port (`bot serve --workers N`)."
    )
    tls_cert: Path | None = Field(
        None,
        description=(
            "PEM certificate chain: serve HTTPS (TLS 1.2+) instead of HTTP. Needs `BOT_TLS_KEY`."
        ),
    )
    tls_key: Path | None = Field(None, description="The certificate's unencrypted PEM private key.")
    redis_cluster: bool | None = Field(
        None,
        description=(
            "`true`: `BOT_REDIS_URL` is a Redis Cluster (any node's address); `false`: "
            "one server. Unset: asked of the server at start-up. See "
            "[docs/deploy.md](docs/deploy.md)."
        ),
        json_schema_extra={"shown_default": "auto"},
    )
    max_body: int = Field(
        1024 * 1024,
        ge=1024,
        description=(
            "Largest request body accepted, in bytes (a CAMS receipt batch; inflated, for"
            " a compressed one); `POST /v1/campaigns` takes `BOT_CAMPAIGN_MAX_BODY`, the "
            "other endpoints at most 64 KiB. Larger gets 413."
        ),
    )
    campaign_max_body: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description=(
            "Largest body of `POST /v1/campaigns` (a campaign's recipients, as JSON or CSV),"
            " in bytes. Larger gets 413."
        ),
        json_schema_extra={"shown_default": "`16777216` (16 MiB)"},
    )
    body_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client may take to send its request body; slower gets 408.",
    )
    redis_timeout: float = Field(
        1.5,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description=(
            "Seconds a request (callback, API call) may wait for Redis once its body is "
            "read; past it the answer is 503 with `Retry-After: 5`, whether Redis is "
            "down, slow or frozen. Under Tencent's 2 s and CAMS's 3 s. See "
            "[docs/reliability.md](docs/reliability.md#how-long-a-request-waits-for-redis)."
        ),
    )
    shed_backlog_age: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description=(
            "Back-pressure: while the oldest inbox entry is older than this many seconds,"
            " CAMS receipt pushes are answered 503 with `Retry-After` (CAMS pushes again "
            "later), until it is under half of it. Only receipt pushes: not "
            "`/cams/business` nor Tencent callbacks (Tencent does not push again). `0`: "
            "off. See "
            "[docs/operations.md](docs/operations.md#the-intake-is-shedding-load)."
        ),
    )
    metrics_token: SecretList = Field(
        default_factory=list,
        description="When set, `/metrics` needs `Authorization: Bearer TOKEN`.",
    )

    tencent_sdkappid: str | None = Field(
        None,
        description=(
            "Tencent Cloud Chat app id; setting it serves `/tencent/callback` and replies"
            " through Tencent."
        ),
        json_schema_extra={"shown_default": "unset (sandbox: `1400000000`)"},
    )
    tencent_callback_token: SecretList = Field(
        default_factory=list,
        description="The console's callback authentication Token. Sandbox: `sandbox`.",
    )
    tencent_identifier: str = Field(
        "administrator",
        description=(
            "The admin account that replies through `v4/openim/sendmsg`: the bot's "
            "account, which customers write to."
        ),
    )
    tencent_secret_key: SecretStr | None = Field(
        None,
        description=(
            "The app's key, to make the admin account's UserSig (TLSSigAPIv2, cached "
            "until near expiry). Sandbox: `sandbox`."
        ),
    )
    tencent_api: str = Field(
        "https://adminapisgp.im.qcloud.com",
        description="Base URL of Tencent's REST API (your app's region).",
    )
    tencent_max_skew: float = Field(
        60.0, gt=0, description="Seconds a callback's `RequestTime` may differ from now."
    )
    tencent_opted_out: Literal["allow", "reject", "drop"] = Field(
        "allow",
        description=(
            "Answer to a before-send callback for a customer who wrote STOP: `allow`, "
            "`reject` (1) or `drop` (2)."
        ),
    )

    env_file: str = Field(
        ".env",
        description=(
            "A file of `BOT_*` variables, one `NAME=value` a line, that the `bot` command"
            " reads at start; what the environment sets wins. Empty: none. A file named "
            "here that is not there stops start-up."
        ),
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    _split_secrets = field_validator(
        "cams_receipt_token",
        "cams_signature",
        "api_keys",
        "console_tokens",
        "tencent_callback_token",
        "metrics_token",
        mode="before",
    )(_split)

    def __repr_args__(self) -> Any:
        """What repr() and str() show: secrets masked (SecretStr does that), and the
        password of BOT_REDIS_URL too."""
        for name, value in super().__repr_args__():
            yield name, without_password(value) if name == "redis_url" and value else value

    @field_serializer("redis_url")
    def _redis_url_shown(self, value: str | None) -> str | None:
        """Dumps show BOT_REDIS_URL without its password, as repr() does."""
        return without_password(value) if value else value

    @property
    def sandbox_mode(self) -> bool:
        """BOT_SANDBOX, and nothing else: a deployment that forgot a variable must not fall
        back to published secrets."""
        return self.sandbox

    def receipt_tokens(self) -> list[str]:
        values = [s.get_secret_value() for s in self.cams_receipt_token]
        return values or ([SANDBOX_SECRET] if self.sandbox_mode else [])

    def business_signatures(self) -> list[str]:
        values = [s.get_secret_value() for s in self.cams_signature]
        return values or ([SANDBOX_SECRET] if self.sandbox_mode else [])

    def api_key_values(self) -> list[str]:
        values = [s.get_secret_value() for s in self.api_keys]
        return values or ([SANDBOX_SECRET] if self.sandbox_mode else [])

    def console_token_values(self) -> list[str]:
        """The console's sign-in tokens; none (no console) when unset outside sandbox mode."""
        values = [s.get_secret_value() for s in self.console_tokens]
        return values or ([SANDBOX_SECRET] if self.sandbox_mode else [])

    def business_number(self) -> str | None:
        """BOT_CAMS_FROM in the one stored form (bot.phones), the sandbox's in sandbox mode
        when unset. A number that is not one is refused by `check` at start-up."""
        if self.cams_from:
            return customer_id(self.cams_from, self.cams_channel)
        return SANDBOX_BUSINESS if self.sandbox_mode else None

    def cams_credentials(self) -> tuple[str, str]:
        if self.cams_access_key_id and self.cams_access_key_secret:
            return (
                self.cams_access_key_id.get_secret_value(),
                self.cams_access_key_secret.get_secret_value(),
            )
        return (SANDBOX_SECRET, SANDBOX_SECRET)

    @property
    def tencent_enabled(self) -> bool:
        return self.tencent_sdkappid is not None or self.sandbox_mode

    def tencent_app(self) -> tuple[str, str, list[str]]:
        """(SdkAppid, secret key, callback tokens); the published sandbox values in sandbox
        mode when unset."""
        key = self.tencent_secret_key.get_secret_value() if self.tencent_secret_key else ""
        tokens = [s.get_secret_value() for s in self.tencent_callback_token]
        if self.sandbox_mode:
            return (
                self.tencent_sdkappid or SANDBOX_TENCENT_APP,
                key or SANDBOX_SECRET,
                tokens or [SANDBOX_SECRET],
            )
        return self.tencent_sdkappid or "", key, tokens

    def check(self, environ: Mapping[str, str] | None = None) -> None:
        """Refuse settings that cannot serve outside sandbox mode: every required secret must
        be set, and no secret that is set may be empty or blank. The call secrets
        BOT_SECRET_<NAME> are read from `environ` (default: the process's environment): one
        set both as a value and as a file, or in a file that cannot be read, is refused in
        every mode. So is a BOT_* variable that names no setting (a typo must not pass
        silently)."""
        environ = os.environ if environ is None else environ
        unknown = unknown_variables(environ)
        if unknown:
            raise ConfigError("; ".join(unknown))
        calls = _call_secret_values(environ)
        accounts = cams_accounts(environ, self.cams_endpoint)  # each one whole, or refused
        shared = _shared_keys(accounts, self.cams_access_key_id)
        if shared:
            raise ConfigError(
                f"CAMS accounts {' and '.join(shared)} have the same AccessKey ID: an account "
                "has one name (its rate limit and its counts are per key)"
            )
        if self.cams_from:
            try:
                customer_id(self.cams_from, self.cams_channel)
            except ValueError as e:
                raise ConfigError(f"BOT_CAMS_FROM is not a phone number: {e}") from None
        short = [v for v in self.console_tokens if len(v.get_secret_value().strip()) < 16]
        if short:
            raise ConfigError(
                "BOT_CONSOLE_TOKENS: every token needs at least 16 characters (a person types "
                "it, an attacker guesses it): make one with `openssl rand -hex 16`"
            )
        if self.sandbox_mode:
            if not self.sandbox_public and not is_loopback(self.host):
                raise ConfigError(
                    f"BOT_SANDBOX=true on BOT_HOST={self.host}: sandbox mode takes published "
                    "secrets, so it listens on loopback (127.0.0.1, ::1, localhost) only. Set "
                    "BOT_SANDBOX_PUBLIC=true to serve it there anyway, or leave sandbox mode."
                )
            return
        required = {
            "cams_receipt_token",
            "cams_signature",
            "cams_access_key_id",
            "cams_access_key_secret",
        }
        if self.tencent_sdkappid is not None:
            required |= {"tencent_callback_token", "tencent_secret_key"}
        missing: list[str] = []
        empty: list[str] = []
        for name in secret_settings():
            value: SecretStr | list[SecretStr] | None = getattr(self, name)
            values = [value] if isinstance(value, SecretStr) else value or []
            # A list set to nothing but commas and blanks is as empty as a blank value.
            if any(not v.get_secret_value().strip() for v in values) or (
                isinstance(value, list) and not value and name in self.model_fields_set
            ):
                empty.append(env_name(name))
            elif not values and name in required:
                missing.append(env_name(name))
        empty += sorted(var for var, value in calls.values() if not value.strip())
        problems = []
        if missing:
            problems.append(f"missing secret(s) outside sandbox mode: {', '.join(missing)}")
        if empty:
            problems.append(f"empty secret(s) outside sandbox mode: {', '.join(empty)}")
        if problems:
            raise ConfigError(
                "; ".join(problems) + ". Give each a value (in the variable, or in the file "
                "its BOT_<NAME>_FILE names), or set BOT_SANDBOX=true to try the server locally "
                "with published secrets and a fake CAMS."
            )


# The row of the settings table for the call secrets, which are no field of Settings.
CALL_SECRETS_ROW = (
    "BOT_SECRET_<NAME>",
    "— (secret)",
    "Values of `{{ secret.NAME }}` in the url and headers of flows' `call:` steps and in "
    "`defaults.agent.headers`. Read only by the process that makes the call; never stored "
    "in Redis. Flows that name one that is not set do not start.",
)


# The rows of the settings table for the named CAMS accounts, after BOT_CAMS_CHANNEL.
ACCOUNT_ROWS = (
    (
        "BOT_CAMS_ACCOUNT_<NAME>_ACCESS_KEY_ID",
        "— (secret)",
        "AccessKey ID of another CAMS account, called `name` (in lower case) by the numbers "
        "it sends for (`account:` in `numbers:` of flows.yaml). `bot serve` refuses a number "
        "whose account has no keys, and an account given only one of its two.",
    ),
    ("BOT_CAMS_ACCOUNT_<NAME>_ACCESS_KEY_SECRET", "— (secret)", "Its AccessKey secret."),
    ("BOT_CAMS_ACCOUNT_<NAME>_ENDPOINT", "`BOT_CAMS_ENDPOINT`", "Its send API's base URL."),
    (
        "BOT_CAMS_ACCOUNT_<NAME>_SEND_RATE_LIMIT",
        "`BOT_SEND_RATE_LIMIT`",
        "Its sends per second: each account has its own limit, shared by every process.",
    ),
)


def _shown_default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown_default"), str):
        return str(extra["shown_default"])
    if _holds_secret(field.annotation):
        listed = get_origin(field.annotation) is list
        return "— (secret, comma-separated)" if listed else "— (secret)"
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


def settings_table() -> str:
    """The settings table of README.md, from the fields of Settings (`bot settings` prints
    it; a test keeps the README's equal)."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{env_name(name)}` | {_shown_default(field)} | {field.description} |")
        if name == "api_keys":
            variable, default, meaning = CALL_SECRETS_ROW
            rows.append(f"| `{variable}` | {default} | {meaning} |")
        if name == "cams_channel":
            rows += [f"| `{v}` | {default} | {meaning} |" for v, default, meaning in ACCOUNT_ROWS]
    return "\n".join(rows) + "\n"
