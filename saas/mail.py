"""The mail job's configuration from the settings (``configure_mail`` takes it, once per
process, before mail jobs run)."""

from __future__ import annotations

from saas.config import Settings
from workers.mail.config import MailConfig
from workers.mail.senders import sender_from_url


def mail_config(settings: Settings) -> MailConfig:
    return MailConfig(
        sender=sender_from_url(settings.mail_url, settings.mail_directory),
        from_address=settings.mail_from,
    )
