"""The ``mail.send`` job: ``{"to", "template", "params"}`` in a tenant's outbox (enqueued
by the domain that wants the mail sent, in its own transaction) becomes one message.

Sending is an external effect, so the job is not transactional (a slow SMTP server holds
no database transaction) and is made idempotent instead: the Message-ID and the file
sender's file name come from the job's id, so a redelivery is the same message again
(the file is overwritten; a mail system can drop the duplicate by its Message-ID).
An address or template that can never work makes a dead letter at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from schema.identity.messages import MessageError, RenderedMessage, render
from schema.identity.service import MAIL_ACTOR
from tenants.records import TenantRecord
from tenants.scope import current_tenant
from workers.actors import tenant_actor
from workers.execution import JobRef, current_job
from workers.mail.config import MailConfig, mail_config
from workers.mail.senders import PermanentMailError


def recipient(to: str) -> str:
    try:
        return validate_email(to, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PermanentMailError(f"cannot send to {to[:254]!r}: {exc}") from None


def _render(template: str, params: Mapping[str, Any]) -> RenderedMessage:
    try:
        return render(template, params)
    except MessageError as exc:  # an unknown template or a missing param: no retry helps
        raise PermanentMailError(str(exc)) from exc


def compose(
    config: MailConfig, tenant: TenantRecord, job: JobRef, to: str, rendered: RenderedMessage
) -> EmailMessage:
    """From the tenant (its name, the platform's address), with a Message-ID that is the
    same on every redelivery of the job."""
    sender = Address(tenant.display_name, addr_spec=config.from_address)
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = to
        message["Subject"] = rendered.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = f"<{job.job_id}.{tenant.id}@{sender.domain}>"
        message.set_content(rendered.text)
    except (ValueError, TypeError) as exc:  # a line break in the subject, say
        raise PermanentMailError(f"cannot compose the message: {exc}") from exc
    return message


@tenant_actor(
    MAIL_ACTOR,
    queue="default",
    transactional=False,
    secret_args=True,  # a verification or reset link's token
    max_retries=12,  # 1-2 hours of backoff: outlasts an SMTP server's outage
    min_backoff=timedelta(seconds=2),
    max_backoff=timedelta(minutes=30),
    time_limit=timedelta(minutes=1),
)
async def send_mail(to: str, template: str, params: dict[str, Any]) -> None:
    config = mail_config()
    tenant = current_tenant()
    job = current_job()
    message = compose(config, tenant, job, recipient(to), _render(template, params))
    await config.sender.send(message, key=f"{tenant.slug}-{tenant.id}-{job.job_id}")
