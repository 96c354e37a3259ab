"""HTTPS: the server's TLS context from BOT_TLS_CERT and BOT_TLS_KEY, refused when half
configured or unloadable, and a real `bot serve` answering over HTTPS only."""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.request
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from bot.cli import main
from bot.errors import ConfigError
from bot.local.redis_server import RedisServer
from bot.local.tls import server_ssl_context
from bot.settings import Settings
from tests.processes import BotServe, bot_env

LEAK = "PRIVATE-looking-content-never-shown"


pytestmark = pytest.mark.usefixtures("no_bot_env")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pems(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    """A certificate chain for 127.0.0.1 and localhost, and its key, as PEM files."""
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    for i, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(cert), append=i > 0)
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


def refused(**settings: Path) -> str:
    with pytest.raises(ConfigError) as e:
        server_ssl_context(Settings(**settings))
    return str(e.value)


def test_no_certificate_means_plain_http() -> None:
    """Neither BOT_TLS_CERT nor BOT_TLS_KEY: no TLS context."""
    assert server_ssl_context(Settings()) is None


def test_the_context_is_a_tls12_server_context(pems: tuple[Path, Path]) -> None:
    """Server defaults of the standard library, TLS 1.2 at least, no client certificate."""
    cert, key = pems
    context = server_ssl_context(Settings(tls_cert=cert, tls_key=key))
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE
    assert context.options & ssl.OP_NO_COMPRESSION
    assert not context.check_hostname


def test_half_a_configuration_is_refused(pems: tuple[Path, Path]) -> None:
    """Only the certificate, or only the key: a ConfigError naming what is missing."""
    cert, key = pems
    assert "BOT_TLS_CERT is set but BOT_TLS_KEY is not" in refused(tls_cert=cert)
    assert "BOT_TLS_KEY is set but BOT_TLS_CERT is not" in refused(tls_key=key)


def test_files_that_do_not_load_are_named(pems: tuple[Path, Path], tmp_path: Path) -> None:
    """Missing, a folder, not PEM, the wrong key: the error names the variable and the file,
    never the content."""
    cert, key = pems
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(f"-----BEGIN PRIVATE KEY-----\n{LEAK}\n-----END PRIVATE KEY-----\n")
    other_key = tmp_path / "other.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    missing = tmp_path / "missing.pem"
    cases = [
        ({"tls_cert": missing, "tls_key": key}, f"BOT_TLS_CERT={missing}: cannot read the file"),
        ({"tls_cert": cert, "tls_key": missing}, f"BOT_TLS_KEY={missing}: cannot read the file"),
        ({"tls_cert": tmp_path, "tls_key": key}, f"BOT_TLS_CERT={tmp_path}: cannot read"),
        ({"tls_cert": garbage, "tls_key": key}, f"BOT_TLS_CERT={garbage}: not a PEM certificate"),
        ({"tls_cert": key, "tls_key": key}, f"BOT_TLS_CERT={key}: not a PEM certificate"),
        ({"tls_cert": cert, "tls_key": garbage}, f"BOT_TLS_KEY={garbage}: not a PEM private key"),
        ({"tls_cert": cert, "tls_key": other_key}, f"BOT_TLS_KEY={other_key}: not a PEM private"),
    ]
    for settings, expected in cases:
        message = refused(**settings)
        assert expected in message
        assert LEAK not in message


def test_an_encrypted_key_is_refused_without_a_prompt(
    pems: tuple[Path, Path], tmp_path: Path
) -> None:
    """A passphrase-protected key is refused with a reason; nothing waits for a password."""
    cert, key = pems
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    message = refused(tls_cert=cert, tls_key=encrypted)
    assert f"BOT_TLS_KEY={encrypted}: the private key is encrypted" in message


def test_serve_refuses_half_a_configuration(
    pems: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot serve` with a certificate and no key exits 2 before listening."""
    monkeypatch.setenv("BOT_SANDBOX", "true")
    monkeypatch.setenv("BOT_TLS_CERT", str(pems[0]))
    assert main(["serve"]) == 2
    assert "BOT_TLS_KEY is not" in capsys.readouterr().err


def test_bot_serve_answers_over_https_only(
    ca: trustme.CA, pems: tuple[Path, Path], redis_server: RedisServer, tmp_path: Path
) -> None:
    """A real `bot serve` with a certificate: /healthz over HTTPS with the CA trusted, on
    TLS 1.2 or later; plain HTTP on the same port gets no answer."""
    cert, key = pems
    client = ssl.create_default_context()
    ca.configure_trust(client)
    env = bot_env(
        BOT_REDIS_URL=redis_server.url,
        BOT_DATA_DIR=str(tmp_path / "data"),
        BOT_SANDBOX="true",
        BOT_TLS_CERT=str(cert),
        BOT_TLS_KEY=str(key),
        BOT_DRAIN_SECONDS="1",
        BOT_PARTITIONS="2",
    )
    server = BotServe(env, tmp_path, tls=client).start()
    try:
        server.wait_ready("/healthz")
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        with (
            pytest.raises((http.client.HTTPException, OSError)),
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5),
        ):
            pass
    finally:
        server.stop_now(30)
    assert f"listening on https://127.0.0.1:{server.port}" in server.log_text()
