"""All settings, read once from the environment (prefix BOT_) and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

SANDBOX_BUSINESS = "8613800000000"  # the business number of sandbox conversations
SANDBOX_SECRET = "sandbox"  # noqa: S105 - the published value of sandbox mode's token and keys
SANDBOX_TENCENT_APP = "1400000000"  # the SdkAppid of the sandbox's fake Tencent Chat

SecretList = Annotated[list[SecretStr], NoDecode]


def _split(value: Any) -> Any:
    """`a,b` -> ["a", "b"]: several values valid at once, so secrets can be rotated."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def call_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """BOT_SECRET_NAME=value pairs: the secrets flows may put in call headers as
    {{ secret.NAME }}. They are read here, at the edge, and never stored in Redis."""
    prefix = "BOT_SECRET_"
    return {k[len(prefix) :]: v for k, v in environ.items() if k.startswith(prefix) and v}


class Settings(BaseSettings):
    """The server's settings. The environment variable of each is BOT_ + its name in capitals."""

    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on.")
    redis_url: str | None = Field(
        None, description="Redis to use. Unset: start an embedded redis-server under BOT_DATA_DIR."
    )
    data_dir: Path = Field(Path(".data"), description="Where the embedded Redis keeps its data.")
    flows: Path = Field(Path("flows.yaml"), description="The flows file.")
    intents: Path = Field(Path("intents"), description="The folder of intent files.")
    sandbox: bool | None = Field(
        None,
        description="Replies go to a built-in fake CAMS and are printed. Default: on exactly "
        "when no CAMS access key is set.",
    )

    cams_receipt_token: SecretList = Field(
        default_factory=list,
        description="Token of the receipt URL `/cams/receipts?token=...`; comma-separate "
        "several to rotate.",
    )
    cams_signature: SecretList = Field(
        default_factory=list,
        description="The console's business-system Signature; comma-separate several to rotate.",
    )
    api_keys: SecretList = Field(
        default_factory=list,
        description="Keys of the business API (/v1/...), sent as `Authorization: Bearer KEY`; "
        "comma-separate several to rotate. Sandbox: `sandbox`.",
    )
    cams_access_key_id: SecretStr | None = Field(None, description="AccessKey ID for the send API.")
    cams_access_key_secret: SecretStr | None = Field(
        None, description="AccessKey secret for the send API."
    )
    cams_endpoint: str = Field(
        "https://cams.ap-southeast-1.aliyuncs.com", description="Base URL of the CAMS send API."
    )
    cams_from: str | None = Field(
        None, description="Business number for conversations the business starts."
    )
    cams_channel: str = Field(
        "whatsapp", description="Channel of conversations the business starts."
    )

    partitions: int = Field(
        16,
        ge=1,
        le=1024,
        description="Inbox partitions. Fixed for the life of a deployment's data.",
    )
    conversation_ttl: int = Field(
        7 * 24 * 3600, ge=60, description="Seconds after which an idle conversation is forgotten."
    )
    dedup_ttl: int = Field(
        24 * 3600, ge=60, description="Seconds a message id is remembered to drop repeated pushes."
    )
    lease_seconds: float = Field(
        10.0, gt=0, description="A partition's lease; a stalled worker loses it after this."
    )
    send_timeout: float = Field(10.0, gt=0, description="Seconds before a send API call times out.")
    send_attempts: int = Field(5, ge=1, description="Attempts before a send is given up.")
    send_rate_limit: int = Field(
        225,
        ge=1,
        description="Sends per second per platform account, shared by every process. Below "
        "CAMS's 250/s: requests granted in one second can arrive bunched at the platform.",
    )
    drain_seconds: float = Field(
        10.0,
        ge=0,
        description="On SIGTERM: how long in-flight requests, then in-flight steps and sends, "
        "may finish before the process exits.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")

    tencent_sdkappid: str | None = Field(
        None, description="Tencent Cloud Chat SdkAppid; set it to serve Tencent callbacks."
    )
    tencent_callback_token: SecretList = Field(
        default_factory=list,
        description="The callback authentication Token(s) of the Tencent console; "
        "comma-separate several to rotate.",
    )
    tencent_identifier: str = Field(
        "administrator", description="The admin account that replies, and the bot's account."
    )
    tencent_secret_key: SecretStr | None = Field(
        None, description="The app's secret key, to make the admin's UserSig."
    )
    tencent_api: str = Field(
        "https://adminapisgp.im.qcloud.com", description="Base URL of Tencent's REST API."
    )
    tencent_max_skew: float = Field(
        60.0, gt=0, description="Seconds a callback's RequestTime may be off from now."
    )
    tencent_opted_out: Literal["allow", "reject", "drop"] = Field(
        "allow",
        description="Answer to C2C.CallbackBeforeSendMsg for a message to or from a customer "
        "who opted out: allow (0), reject (1) or drop silently (2).",
    )

    _split_secrets = field_validator(
        "cams_receipt_token", "cams_signature", "api_keys", "tencent_callback_token", mode="before"
    )(_split)

    @property
    def sandbox_mode(self) -> bool:
        if self.sandbox is not None:
            return self.sandbox
        return self.cams_access_key_id is None and self.cams_access_key_secret is None

    def receipt_tokens(self) -> list[str]:
        values = [s.get_secret_value() for s in self.cams_receipt_token]
        return values or ([SANDBOX_SECRET] if self.sandbox_mode else [])

    def business_signatures(self) -> list[str]:
        values = [s.get_secret_value() for s in self.cams_signature]
        return values or ([SANDBOX_SECRET] if self.sandbox_mode else [])

    def api_key_values(self) -> list[str]:
        values = [s.get_secret_value() for s in self.api_keys]
        return values or ([SANDBOX_SECRET] if self.sandbox_mode else [])

    def business_number(self) -> str | None:
        if self.cams_from:
            return self.cams_from.strip().lstrip("+")
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

    def check(self) -> None:
        """Refuse settings that cannot serve: outside sandbox mode every secret must be set."""
        if self.sandbox_mode:
            return
        missing = [
            name
            for name, present in (
                ("BOT_CAMS_RECEIPT_TOKEN", bool(self.receipt_tokens())),
                ("BOT_CAMS_SIGNATURE", bool(self.business_signatures())),
                ("BOT_CAMS_ACCESS_KEY_ID", bool(self.cams_access_key_id)),
                ("BOT_CAMS_ACCESS_KEY_SECRET", bool(self.cams_access_key_secret)),
            )
            if not present
        ]
        empty = [
            name
            for name, secret in (
                ("BOT_CAMS_ACCESS_KEY_ID", self.cams_access_key_id),
                ("BOT_CAMS_ACCESS_KEY_SECRET", self.cams_access_key_secret),
            )
            if secret is not None and not secret.get_secret_value().strip()
        ]
        if self.tencent_sdkappid is not None:
            _app, key, tokens = self.tencent_app()
            missing += [
                name
                for name, present in (
                    ("BOT_TENCENT_CALLBACK_TOKEN", bool(tokens)),
                    ("BOT_TENCENT_SECRET_KEY", bool(key.strip())),
                )
                if not present
            ]
        if missing or empty:
            names = ", ".join(dict.fromkeys(missing + empty))
            raise ConfigError(
                f"missing secret(s) outside sandbox mode: {names}. Set them, or leave every "
                "CAMS access key unset to run in sandbox mode."
            )
