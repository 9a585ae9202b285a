"""Asking for a backup of the current tenant. Runs inside ``tenant_scope()``.

The backup itself is made by the ``backups.tenant`` job (``workers/backups``): this layer
only enqueues it, so the scheduler and the tenant's own requests share one way in.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import DomainError, FieldError, fail
from tenants.backends import TENANT_ALIAS
from tenants.models import Backup, BackupKind, JobStatus
from tenants.outbox import JobOutbox, enqueue
from tenants.scope import current_tenant

BACKUP_ACTOR = "backups.tenant"
# A tenant may ask for one backup per window (the scheduler's are counted too): each
# one snapshots the whole store, so asking in a loop would be an easy way to load it.
MIN_INTERVAL = timedelta(minutes=10)
MAX_REASON_LENGTH = 500
TOO_SOON = "TOO_SOON"
TOO_LONG = "TOO_LONG"


async def request_backup(*, requested_by: str, dedupe_key: str | None = None) -> JobOutbox | None:
    """Ask for a backup of the current tenant, in the caller's transaction (inside
    ``tenant_scope``). The job carries its own request key, so a redelivered job finds
    the backup it already made instead of making a second one."""
    tenant = current_tenant()
    request_key = f"{tenant.id}:{dedupe_key or uuid.uuid4().hex}"
    return await enqueue(
        BACKUP_ACTOR,
        {"request_key": request_key, "requested_by": requested_by},
        queue="maintenance",
        dedupe_key=dedupe_key,
    )


async def _recently_requested(now: datetime) -> bool:
    """Whether a backup of the current tenant was asked for or made within the window,
    or is still waiting for its job to run."""
    since = now - MIN_INTERVAL
    waiting = Q(status__in=(JobStatus.PENDING, JobStatus.SENT)) | Q(created_at__gte=since)
    if await JobOutbox.filter(waiting, actor=BACKUP_ACTOR).exists():
        return True
    return await Backup.filter(
        tenant_id=current_tenant().id, kind=BackupKind.TENANT, created_at__gte=since
    ).exists()


def _too_soon() -> DomainError:
    minutes = int(MIN_INTERVAL.total_seconds() // 60)
    return DomainError(
        [FieldError((), TOO_SOON, f"a backup was asked for in the last {minutes} minutes")]
    )


async def ask_for_backup(*, requested_by: str, reason: str | None = None) -> JobOutbox:
    """The tenant's own request for a backup, at most one per ``MIN_INTERVAL``."""
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        message = f"at most {MAX_REASON_LENGTH} characters"
        raise fail("reason", TOO_LONG, message)
    now = datetime.now(UTC)
    # The window's number as dedupe key: of concurrent requests, one job is written.
    window = int(now.timestamp()) // int(MIN_INTERVAL.total_seconds())
    async with in_transaction(TENANT_ALIAS):
        if await _recently_requested(now):
            raise _too_soon()
        job = await request_backup(
            requested_by=requested_by, dedupe_key=f"{BACKUP_ACTOR}@requested#{window}"
        )
        if job is None:
            raise _too_soon()
        await record("backupCreate", targets=[f"Job:{job.id}"], summary={"reason": reason})
    return job
