"""Where messages go: an SMTP server, or a folder of ``.eml`` files a developer opens.

A sender raises ``PermanentMailError`` when the message can never be delivered as it is
(the server refused the address or the content with a 5xx reply): the job becomes a dead
letter at once. Anything else (no connection, a timeout, a 4xx reply, a refused login)
may pass, so the job is retried with backoff.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from workers.actors import PermanentJobError

Security = Literal["plain", "starttls", "tls"]
DEFAULT_PORTS: dict[Security, int] = {"plain": 25, "starttls": 587, "tls": 465}


class PermanentMailError(PermanentJobError):
    """This message can never be delivered as it is: do not retry it."""


class Sender(Protocol):
    async def send(self, message: EmailMessage, *, key: str) -> None:
        """Deliver ``message``. ``key`` is the same on every redelivery of one message
        (a sender that can use it makes a redelivery replace, not repeat, the message)."""


@dataclass(frozen=True, slots=True)
class FileSender:
    """One ``<key>.eml`` per message: a redelivered job overwrites its own file."""

    directory: Path

    def __str__(self) -> str:
        return f"files in {self.directory}"

    async def send(self, message: EmailMessage, *, key: str) -> None:
        await asyncio.to_thread(self._write, bytes(message), key)

    def _write(self, raw: bytes, key: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a reader never sees half a message.
        fd, scratch = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(raw)
            os.replace(scratch, self.directory / f"{key}.eml")
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise


@dataclass(frozen=True, slots=True)
class SmtpSender:
    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    cafile: str | None = None  # a private CA to trust instead of the system's

    def __str__(self) -> str:  # never the credentials
        return f"SMTP ({self.security}) at {self.host}:{self.port}"

    async def send(self, message: EmailMessage, *, key: str) -> None:
        # smtplib blocks: in a thread, so the worker's event loop keeps running other jobs.
        await asyncio.to_thread(self._send, message)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def _send(self, message: EmailMessage) -> None:
        try:
            if self.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=self._tls())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.values())
            if all(_permanent(code) for code, _ in replies):
                raise PermanentMailError(f"recipient refused: {_describe(replies)}") from exc
            raise
        except smtplib.SMTPAuthenticationError:
            raise  # the platform's configuration, not this message: retried meanwhile
        except smtplib.SMTPResponseException as exc:
            if _permanent(exc.smtp_code):
                reply = _describe([(exc.smtp_code, exc.smtp_error)])
                raise PermanentMailError(f"message refused: {reply}") from exc
            raise


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _describe(replies: list[tuple[int, bytes | str]]) -> str:
    def text(raw: bytes | str) -> str:
        return raw.decode(errors="replace") if isinstance(raw, bytes) else raw

    return "; ".join(f"{code} {text(reply)[:200]}" for code, reply in replies)


def sender_from_url(url: str, default_directory: Path) -> Sender:
    """``file:///path`` (empty: ``default_directory``), ``smtp://user:pass@host:port``
    (``?starttls=1``; ``?starttls=0`` for a server without TLS), ``smtps://...``
    (TLS from the start); ``cafile=/path`` trusts a private CA, ``timeout=`` seconds."""
    if not url:
        return FileSender(default_directory)
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileSender(Path(unquote(parts.path)) if parts.path else default_directory)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must be file:///path, smtp://host or smtps://host")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = query.keys() - {"starttls", "cafile", "timeout"}
    if unknown:
        raise ValueError(f"unknown parameters {', '.join(sorted(unknown))}")
    security: Security = "tls"
    if parts.scheme == "smtp":
        security = "plain" if query.get("starttls", "1") in ("0", "false", "no") else "starttls"
    return SmtpSender(
        host=parts.hostname,
        port=parts.port or DEFAULT_PORTS[security],
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=float(query.get("timeout", "30")),
        cafile=query.get("cafile"),
    )
