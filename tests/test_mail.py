"""Mail leaves only over TLS it has verified: a server it cannot trust gets nothing.

Each test runs a real SMTP server on loopback, with a certificate authority and a server
certificate made here. The service is told about the authority with SMTP_CA_FILE; a server
whose certificate it cannot verify (an unknown authority, another host's name) is refused
before the credentials or the message are sent.
"""

from __future__ import annotations

import datetime
import ipaddress
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from app import create_app
from app.core.mail import send_mail
from tests.conftest import Mailbox, free_port, make_settings

pytestmark = pytest.mark.no_shared_db

USER, PASSWORD = "mailer", "smtp password"


@dataclass
class Authority:
    """A certificate authority of the test's own, able to sign server certificates."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    pem_file: Path

    @classmethod
    def create(cls, folder: Path, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = (
            validity(x509.CertificateBuilder())
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        pem_file = folder / f"{name}.pem"
        pem_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(key, certificate, pem_file)

    def server_context(self, folder: Path, names: list[x509.GeneralName]) -> ssl.SSLContext:
        """A server-side TLS context with a certificate for ``names``, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            validity(x509.CertificateBuilder())
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp server")]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = folder / "server.pem", folder / "server.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context


def validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


LOOPBACK: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
ANOTHER_HOST: list[x509.GeneralName] = [x509.DNSName("mail.example.com")]


class TlsMailbox(Mailbox):
    """The shared test mailbox, also recording who signed in and whether TLS was on."""

    logins: list[tuple[str, bool]]

    def authenticate(
        self, server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.logins.append((auth_data.login.decode(), encrypted))
        return AuthResult(success=auth_data.password == PASSWORD.encode())


@dataclass
class Servers:
    folder: Path
    authority: Authority
    started: list[Controller]

    def start(self, *, implicit_tls: bool, names: list[x509.GeneralName]) -> TlsMailbox:
        """An SMTP server on loopback: smtps:// (implicit TLS) or smtp:// with STARTTLS."""
        port = free_port()
        scheme = "smtps" if implicit_tls else "smtp"
        box = TlsMailbox(url=f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}", messages=[])
        box.logins = []
        context = self.authority.server_context(self.folder, names)
        # With implicit TLS, aiosmtpd does not know the session is encrypted, and would
        # offer AUTH only after a STARTTLS that smtps:// never sends.
        tls: dict[str, Any] = (
            {"ssl_context": context, "auth_require_tls": False}
            if implicit_tls
            else {"tls_context": context, "require_starttls": True}
        )
        controller = Controller(
            box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, **tls
        )
        controller.start()
        self.started.append(controller)
        return box


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path, Authority.create(tmp_path, "test-ca"), [])
    yield started
    for controller in started.started:
        controller.stop()


def mailer(box: Mailbox, **settings: Any) -> Flask:
    return create_app(
        make_settings(database_url="sqlite://", smtp_url=box.url, smtp_timeout=5, **settings)
    )


def send(app: Flask, to: str = "ada@example.com") -> None:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = "Hello"
    message.set_content("a message body with a secret link")
    with app.app_context():
        send_mail(message)


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
def test_mail_reaches_a_server_whose_certificate_verifies(
    servers: Servers, implicit_tls: bool
) -> None:
    box = servers.start(implicit_tls=implicit_tls, names=LOOPBACK)
    send(mailer(box, smtp_ca_file=servers.authority.pem_file))
    assert [message["To"] for message in box.messages] == ["ada@example.com"]
    # The password went over TLS, and was right.
    assert box.logins == [(USER, True)]


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
def test_a_server_signed_by_an_unknown_authority_is_refused(
    servers: Servers, implicit_tls: bool
) -> None:
    box = servers.start(implicit_tls=implicit_tls, names=LOOPBACK)
    # Without SMTP_CA_FILE only the system's authorities count, and none signed this one.
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        send(mailer(box))
    assert box.logins == []
    assert box.messages == []


def test_a_certificate_for_another_host_is_refused(servers: Servers) -> None:
    box = servers.start(implicit_tls=False, names=ANOTHER_HOST)
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        send(mailer(box, smtp_ca_file=servers.authority.pem_file))
    assert box.logins == []
    assert box.messages == []


def test_another_authority_in_smtp_ca_file_is_refused(servers: Servers, tmp_path: Path) -> None:
    stranger = Authority.create(tmp_path, "another-ca")
    box = servers.start(implicit_tls=True, names=LOOPBACK)
    with pytest.raises(ssl.SSLCertVerificationError):
        send(mailer(box, smtp_ca_file=stranger.pem_file))
    assert box.messages == []


def test_a_server_without_starttls_is_not_sent_plain_text(smtp_server: Mailbox) -> None:
    """SMTP_STARTTLS=true (the default) never falls back to an unencrypted session."""
    smtp_server.messages.clear()
    with pytest.raises(smtplib.SMTPNotSupportedError):
        send(mailer(smtp_server))
    assert smtp_server.messages == []


def test_production_refuses_to_start_without_smtp_url() -> None:
    with pytest.raises(ValueError, match="smtp_url"):
        make_settings(app_env="production", celery_broker_url="redis://", smtp_url=None)


def test_without_smtp_url_development_logs_the_mail(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(make_settings(database_url="sqlite://"))
    with caplog.at_level("INFO", logger="app.core.mail"):
        send(app, to="grace@example.com")
    assert "To: grace@example.com" in caplog.text
