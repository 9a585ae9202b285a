"""What the mail job needs from the composition root (``saas``), set once per process
with ``configure_mail`` before any mail job runs: where messages go, who sends them, and
how a template becomes a message (the identity domain's ``messages.render``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from workers.mail.senders import Sender


class Rendered(Protocol):
    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...


Renderer = Callable[[str, Mapping[str, Any]], Rendered]


@dataclass(frozen=True, slots=True)
class MailConfig:
    sender: Sender
    from_address: str  # the tenant's name is its display name
    render: Renderer


_config: MailConfig | None = None


def configure_mail(config: MailConfig | None) -> None:
    global _config
    _config = config


def mail_config() -> MailConfig:
    if _config is None:
        raise RuntimeError("mail is not configured: call configure_mail() at start")
    return _config
