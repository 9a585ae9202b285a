"""What the mail job needs from the composition root (``saas``), set once per process
with ``configure_mail`` before any mail job runs: where messages go and who sends them."""

from __future__ import annotations

from dataclasses import dataclass

from workers.mail.senders import Sender


@dataclass(frozen=True, slots=True)
class MailConfig:
    sender: Sender
    from_address: str  # the tenant's name is its display name


_config: MailConfig | None = None


def configure_mail(config: MailConfig | None) -> None:
    global _config
    _config = config


def mail_config() -> MailConfig:
    if _config is None:
        raise RuntimeError("mail is not configured: call configure_mail() at start")
    return _config
