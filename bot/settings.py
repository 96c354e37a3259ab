"""All settings, read once from the environment (prefix BOT_) and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

SANDBOX_BUSINESS = "8613800000000"  # the business number of sandbox conversations
SANDBOX_SECRET = "sandbox"  # noqa: S105 - the published value of sandbox mode's token and keys

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

    _split_secrets = field_validator(
        "cams_receipt_token", "cams_signature", "api_keys", mode="before"
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
        if missing or empty:
            names = ", ".join(dict.fromkeys(missing + empty))
            raise ConfigError(
                f"missing secret(s) outside sandbox mode: {names}. Set them, or leave every "
                "CAMS access key unset to run in sandbox mode."
            )
