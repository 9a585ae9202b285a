"""The senders on their own: a folder of .eml files, and SMTP against a real server
(plain, STARTTLS with a login, TLS from the start), with permanent and passing refusals
told apart."""

from __future__ import annotations

import re
import smtplib
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.workers.mail.smtp import PASSWORD, USER, make_certificate, smtp_server
from workers.mail.senders import (
    FileSender,
    PermanentMailError,
    SmtpSender,
    sender_from_url,
)


def message(to: str = "ada@example.com", subject: str = "Welcome") -> EmailMessage:
    built = EmailMessage()
    built["From"] = "Acme Ltd <noreply@example.com>"
    built["To"] = to
    built["Subject"] = subject
    built["Message-ID"] = "<7.t1@example.com>"
    built.set_content("Hello Ada,\nwelcome aboard. — Acme\n")
    return built


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


# --- files --------------------------------------------------------------------------------


async def test_the_file_sender_writes_one_readable_eml_per_key(tmp_path: Path) -> None:
    sender = FileSender(tmp_path / "mail")
    await sender.send(message(subject="First try"), key="acme-t1-7")
    await sender.send(message(subject="Café ☕"), key="acme-t1-7")  # a redelivery
    await sender.send(message(to="bob@example.com"), key="acme-t1-8")
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == [
        "acme-t1-7.eml", "acme-t1-8.eml",
    ]  # fmt: skip
    raw = (tmp_path / "mail" / "acme-t1-7.eml").read_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["From"] == "Acme Ltd <noreply@example.com>"
    assert parsed["To"] == "ada@example.com"
    assert parsed["Subject"] == "Café ☕"  # the redelivery replaced the first file
    assert parsed["Message-ID"] == "<7.t1@example.com>"
    body = parsed.get_body()
    assert body is not None
    assert body.get_content() == "Hello Ada,\nwelcome aboard. — Acme\n"
    assert b"Hello Ada," in raw  # readable as it lies: the body is not encoded away


# --- URLs -----------------------------------------------------------------------------------


def test_a_mail_url_names_its_sender(tmp_path: Path) -> None:
    assert sender_from_url("", tmp_path) == FileSender(tmp_path)
    assert sender_from_url("file:///srv/mail%20box", tmp_path) == FileSender(Path("/srv/mail box"))
    assert sender_from_url("smtp://relay.internal", tmp_path) == SmtpSender(
        "relay.internal", 587, "starttls"
    )
    assert sender_from_url(
        f"smtp://{USER}:{quote(PASSWORD, safe='')}@mx:2525?starttls=0&timeout=5", tmp_path
    ) == SmtpSender("mx", 2525, "plain", USER, PASSWORD, 5.0)
    assert sender_from_url("smtps://u:p@mx?cafile=/etc/ca.pem", tmp_path) == SmtpSender(
        "mx", 465, "tls", "u", "p", 30.0, "/etc/ca.pem"
    )
    for bad in ("http://mx", "smtp://", "smtp://mx?tls=1", "smtp://mx:99999"):
        with pytest.raises(ValueError):  # noqa: PT011 (each has its own message)
            sender_from_url(bad, tmp_path)


# --- SMTP ---------------------------------------------------------------------------------


async def test_smtp_delivers_to_a_plain_server() -> None:
    with smtp_server() as server:
        sender = sender_from_url(f"{server.url}?starttls=0", Path())
        await sender.send(message(), key="unused")
    [received] = server.mailbox.received
    assert (received.mail_from, received.rcpt_tos, received.login) == (
        "noreply@example.com", ["ada@example.com"], None,
    )  # fmt: skip
    assert received.message["Subject"] == "Welcome"
    assert received.message["Message-ID"] == "<7.t1@example.com>"


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_smtp_speaks_tls_checks_the_certificate_and_logs_in(
    security: str, certificate: tuple[Path, Path]
) -> None:
    with smtp_server(security=security, certificate=certificate) as server:
        login = f"{USER}:{quote(PASSWORD, safe='')}@"
        url = server.url.replace("://", f"://{login}") + f"?cafile={certificate[0]}"
        await sender_from_url(url, Path()).send(message(), key="unused")
        # Without the test's CA the server's certificate is not trusted: nothing is sent.
        with pytest.raises(ssl.SSLCertVerificationError):
            await sender_from_url(url.split("?")[0], Path()).send(message(), key="unused")
        wrong = url.replace(quote(PASSWORD, safe=""), "wrong")
        with pytest.raises(smtplib.SMTPAuthenticationError):  # the platform's setup: retried
            await sender_from_url(wrong, Path()).send(message(), key="unused")
    [received] = server.mailbox.received
    assert received.login == USER
    assert received.rcpt_tos == ["ada@example.com"]


async def test_smtp_tells_permanent_refusals_from_passing_ones() -> None:
    with smtp_server() as server:
        sender = sender_from_url(f"{server.url}?starttls=0", Path())
        server.mailbox.replies["gone@example.com"] = ["550 5.1.1 no such user"]
        with pytest.raises(
            PermanentMailError, match=re.escape("recipient refused: 550 5.1.1 no such user")
        ):
            await sender.send(message(to="gone@example.com"), key="k")

        server.mailbox.replies["busy@example.com"] = ["451 4.3.0 try again later"]
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await sender.send(message(to="busy@example.com"), key="k")
        assert not isinstance(refused.value, PermanentMailError)
        await sender.send(message(to="busy@example.com"), key="k")  # the retry gets through

        server.mailbox.data_reply = "554 5.7.1 message refused as spam"
        with pytest.raises(PermanentMailError, match=re.escape("message refused: 554 5.7.1")):
            await sender.send(message(), key="k")
        server.mailbox.data_reply = "452 4.3.1 mailbox full for now"
        with pytest.raises(smtplib.SMTPDataError):
            await sender.send(message(), key="k")
    assert [r.rcpt_tos for r in server.mailbox.received] == [["busy@example.com"]]
    port = server.port
    with pytest.raises(ConnectionRefusedError):  # no server at all: passing, retried
        await sender_from_url(f"smtp://127.0.0.1:{port}?starttls=0", Path()).send(
            message(), key="k"
        )
