"""A real SMTP server for the tests (aiosmtpd in a thread), with replies on demand per
recipient, optional STARTTLS or TLS with a certificate made for the test, and logins."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
USER, PASSWORD = "mailer", "s3cret:/@"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class Mailbox:
    """What the server received, and the replies it gives: ``replies[address]`` is a
    list of RCPT replies given in turn (then it accepts); ``data_reply`` answers DATA."""

    received: list[Received] = field(default_factory=list)
    rcpt_attempts: list[str] = field(default_factory=list)
    replies: dict[str, list[str]] = field(default_factory=dict)
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.rcpt_attempts.append(address)
        queued = self.replies.get(address)
        if queued:
            return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    expected = (USER.encode(), PASSWORD.encode())
    ok = isinstance(data, LoginPassword) and tuple(data) == expected
    # handled=False: aiosmtpd answers a failure (535) itself.
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA): (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "saas test SMTP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    url: str


@contextmanager
def smtp_server(
    *, security: str = "plain", certificate: tuple[Path, Path] | None = None
) -> Iterator[SmtpServer]:
    """``plain``: no TLS, no login. ``starttls``: STARTTLS required, then a login.
    ``tls``: TLS from the first byte, then a login."""
    mailbox = Mailbox()
    port = _free_port()
    options: dict[str, Any] = {}
    tls: ssl.SSLContext | None = None
    if security != "plain":
        assert certificate is not None
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*certificate)
        options = {"authenticator": _authenticate, "auth_required": True}
    if security == "starttls":
        options |= {"tls_context": tls, "require_starttls": True}
    elif security == "tls":
        # Implicit TLS: aiosmtpd cannot tell, so it must not insist on STARTTLS for AUTH.
        options |= {"ssl_context": tls, "auth_require_tls": False}
    controller = Controller(mailbox, hostname=HOST, port=port, **options)
    controller.start()
    try:
        scheme = "smtps" if security == "tls" else "smtp"
        yield SmtpServer(mailbox, port, f"{scheme}://{HOST}:{port}")
    finally:
        controller.stop()
