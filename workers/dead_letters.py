"""Jobs whose retries ran out: listed across tenants, and sent again on an operator's word."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from tenants.backends import SHARED_ALIAS
from tenants.errors import TenancyError
from tenants.models import DeadLetter, JobStatus, OutboxRow, PlatformJob
from tenants.outbox import JobOutbox, signal_pending
from tenants.runtime import get_tenancy
from tenants.scope import tenant_scope


class DeadLetterError(TenancyError):
    code = "DEAD_LETTER_ERROR"


async def list_dead_letters(*, include_retried: bool = False) -> list[DeadLetter]:
    query = DeadLetter.all() if include_retried else DeadLetter.filter(retried_at__isnull=True)
    return await query.order_by("-failed_at", "-id")


async def _requeue(model: type[OutboxRow], letter: DeadLetter) -> None:
    # Matched on the actor too: a tenant job whose message lost its tenant is lettered
    # without one, like a platform job, and its job id may well be a failed platform
    # job's, which must not be sent again in its place.
    updated = await model.filter(
        id=letter.job_id, actor=letter.actor, status=JobStatus.FAILED
    ).update(status=JobStatus.PENDING, attempts=0, sent_at=None, not_before=datetime.now(UTC))
    if updated != 1:
        raise DeadLetterError(f"no failed job {letter.job_id} ({letter.actor}) to send again")


async def retry_dead_letter(dead_letter_id: int, *, actor: str) -> DeadLetter:
    """Put the job back in its outbox as pending; the relay sends it again."""
    letter = await DeadLetter.get_or_none(id=dead_letter_id)
    if letter is None:
        raise DeadLetterError(f"no dead letter {dead_letter_id}")
    if letter.retried_at is not None:
        raise DeadLetterError(f"dead letter {dead_letter_id} was already retried")
    if letter.tenant_id is None:
        async with in_transaction(SHARED_ALIAS):
            await _requeue(PlatformJob, letter)
    else:
        record = await get_tenancy().registry.by_id(letter.tenant_id)
        async with tenant_scope(record):
            await _requeue(JobOutbox, letter)
            signal_pending()
    letter.retried_at = datetime.now(UTC)
    letter.retried_by = actor
    await letter.save(update_fields=["retried_at", "retried_by"])
    return letter
