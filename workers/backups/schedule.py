"""When each tenant is backed up, and how many of its backups are kept.

Each tenant's time is cut into slots of its interval, shifted by a phase derived from its
id so that tenants do not all start at midnight. A tenant is due when its last completed
backup is older than the start of the current slot (so at most one interval old, and
never more than one scheduled backup per slot). The job for a slot is enqueued in the
tenant's outbox with the slot as its dedupe key: however often the fan-out runs, one job
per tenant and slot.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.functions import Max

from schema.backups.service import BACKUP_ACTOR, request_backup
from tenants.errors import TenancyError
from tenants.models import Backup, BackupKind, BackupPolicy, BackupStatus, TenantStatus
from tenants.records import TenantRecord
from tenants.runtime import get_tenancy
from tenants.scope import tenant_scope
from workers.backups.config import backup_config
from workers.backups.errors import BackupError
from workers.backups.retention import Retention

log = logging.getLogger("saas.backups")


@dataclass(frozen=True, slots=True)
class Policy:
    interval: timedelta
    retention: Retention

    @classmethod
    def of(cls, row: BackupPolicy | None) -> Policy:
        config = backup_config()
        if row is None:
            return cls(config.interval, config.retention)
        default = config.retention
        return cls(
            timedelta(hours=row.interval_hours) if row.interval_hours else config.interval,
            Retention(
                default.daily if row.keep_daily is None else row.keep_daily,
                default.weekly if row.keep_weekly is None else row.keep_weekly,
                default.monthly if row.keep_monthly is None else row.keep_monthly,
            ),
        )


async def policy_of(tenant_id: str | None) -> Policy:
    row = await BackupPolicy.get_or_none(tenant_id=tenant_id) if tenant_id else None
    return Policy.of(row)


async def set_policy(
    tenant_id: str,
    *,
    actor: str,
    interval_hours: float | None = None,
    retention: Retention | None = None,
) -> Policy:
    """Set a tenant's own interval and/or retention (others keep their value)."""
    if interval_hours is not None and interval_hours <= 0:
        raise BackupError("the interval must be positive")
    if retention is not None and min(retention.daily, retention.weekly, retention.monthly) < 0:
        raise BackupError("retention counts must not be negative")
    row, _ = await BackupPolicy.get_or_create(tenant_id=tenant_id, defaults={"updated_by": actor})
    if interval_hours is not None:
        row.interval_hours = interval_hours
    if retention is not None:
        row.keep_daily, row.keep_weekly = retention.daily, retention.weekly
        row.keep_monthly = retention.monthly
    row.updated_by = actor
    await row.save()
    return Policy.of(row)


def slot_of(tenant_id: str, interval: timedelta, now: datetime) -> tuple[int, datetime]:
    """The number and start of the tenant's current slot."""
    length = max(1, int(interval.total_seconds()))
    phase = int.from_bytes(hashlib.sha256(tenant_id.encode()).digest()[:8], "big") % length
    number = (int(now.timestamp()) - phase) // length
    return number, datetime.fromtimestamp(number * length + phase, UTC)


def _as_datetime(value: datetime | str) -> datetime:
    """Aggregates come back raw: SQLite gives the stored text."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def last_completed() -> dict[str, datetime]:
    rows = (
        await Backup.filter(kind=BackupKind.TENANT, status=BackupStatus.COMPLETED)
        .annotate(last=Max("started_at"))
        .group_by("tenant_id")
        .values_list("tenant_id", "last")
    )
    return {tenant_id: _as_datetime(last) for tenant_id, last in rows}


async def due_tenants(now: datetime) -> list[tuple[TenantRecord, str]]:
    """Active tenants due for a backup, each with the dedupe key of its current slot."""
    tenants = [t for t in await get_tenancy().registry.all() if t.status == TenantStatus.ACTIVE]
    policies = {row.tenant_id: row for row in await BackupPolicy.all()}
    last = await last_completed()
    due = []
    for tenant in tenants:
        interval = Policy.of(policies.get(tenant.id)).interval
        number, start = slot_of(tenant.id, interval, now)
        if tenant.id not in last or last[tenant.id] < start:
            due.append((tenant, f"{BACKUP_ACTOR}@{int(interval.total_seconds())}s#{number}"))
    return due


async def enqueue_due(now: datetime | None = None) -> int:
    """Enqueue a backup for every tenant due; returns how many jobs were new."""
    enqueued = 0
    for tenant, key in await due_tenants(now or datetime.now(UTC)):
        try:
            async with tenant_scope(tenant):
                job = await request_backup(requested_by="scheduler", dedupe_key=key)
        except TenancyError as exc:  # e.g. behind head: it is not served, nor backed up
            log.warning("no scheduled backup of %s: %s", tenant.slug, exc)
            continue
        enqueued += job is not None
    return enqueued
