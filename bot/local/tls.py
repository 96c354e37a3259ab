"""HTTPS for `bot serve`: the server's TLS context from BOT_TLS_CERT and BOT_TLS_KEY.

The context starts from the standard library's server defaults
(`ssl.create_default_context(Purpose.CLIENT_AUTH)`: its cipher choice, no compression, no
renegotiation) and accepts TLS 1.2 and later only. Errors name the variable and the file,
never what the file holds."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import NoReturn

from bot.errors import ConfigError
from bot.settings import Settings


def _readable(variable: str, path: Path) -> None:
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise ConfigError(
            f"{variable}={path}: cannot read the file: {e.strerror or type(e).__name__}"
        ) from None


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context to serve HTTPS with, or None (plain HTTP) when neither BOT_TLS_CERT
    nor BOT_TLS_KEY is set. ConfigError when only one is set or the files do not load."""
    cert, key = settings.tls_cert, settings.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, other = (
            ("BOT_TLS_CERT", "BOT_TLS_KEY") if key is None else ("BOT_TLS_KEY", "BOT_TLS_CERT")
        )
        raise ConfigError(
            f"{given} is set but {other} is not: HTTPS needs both the certificate and its "
            "private key (or neither, for plain HTTP behind a proxy that terminates TLS)"
        )
    _readable("BOT_TLS_CERT", cert)
    _readable("BOT_TLS_KEY", key)
    try:  # the certificate alone first, so that its error names its file
        ssl.create_default_context(ssl.Purpose.SERVER_AUTH).load_verify_locations(cafile=cert)
    except ssl.SSLError as e:
        raise ConfigError(
            f"BOT_TLS_CERT={cert}: not a PEM certificate ({e.reason or 'unreadable'})"
        ) from None

    def no_password() -> NoReturn:
        raise ConfigError(
            f"BOT_TLS_KEY={key}: the private key is encrypted; give the server an "
            "unencrypted key file that only its user can read"
        )

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key, password=no_password)
    except ssl.SSLError as e:
        raise ConfigError(
            f"BOT_TLS_KEY={key}: not a PEM private key matching BOT_TLS_CERT={cert} "
            f"({e.reason or 'no usable key found'})"
        ) from None
    return context
