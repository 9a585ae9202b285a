"""Applying retention: per tenant (its policy, or the default) and for the registry.

Completed backups compete for the daily, weekly and monthly places; the newest verified
one is always kept. A backup whose verification failed for good is removed; one still
to be retried is kept. Failed backup attempts are kept a while for the record, and an
attempt "running" far too long is marked abandoned.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import cast

from tenants.models import Backup, BackupKind, BackupPolicy, BackupStatus, VerifyStatus
from workers.backups import metrics
from workers.backups.config import backup_config
from workers.backups.retention import Candidate, Retention, select_kept
from workers.backups.schedule import Policy
from workers.backups.service import ABANDONED_AFTER

log = logging.getLogger("saas.backups")

FAILED_KEPT = timedelta(days=7)


async def prune(*, tenant_id: str | None = None, now: datetime | None = None) -> list[int]:
    """Apply retention to one tenant's backups (``tenant_id``), or to every tenant's and
    the registry's; returns the ids removed."""
    now = now or datetime.now(UTC)
    await _mark_abandoned(now)
    if tenant_id is not None:
        groups: list[str | None] = [tenant_id]
    else:
        ids = (
            await Backup.filter(kind=BackupKind.TENANT)
            .distinct()
            .values_list("tenant_id", flat=True)
        )
        groups = [*sorted(cast(list[str], ids)), None]
    tenant_ids = [group for group in groups if group is not None]
    policies = {row.tenant_id: row for row in await BackupPolicy.filter(tenant_id__in=tenant_ids)}
    removed: list[int] = []
    for group in groups:  # the registry (None) has no policy row: the default applies
        retention = Policy.of(policies.get(group)).retention
        removed += await _prune_group(group, retention, now)
    return removed


async def _mark_abandoned(now: datetime) -> None:
    await Backup.filter(status=BackupStatus.RUNNING, started_at__lt=now - ABANDONED_AFTER).update(
        status=BackupStatus.FAILED, error="abandoned: still running after its time", finished_at=now
    )


def doomed(rows: list[Backup], retention: Retention, now: datetime) -> list[Backup]:
    """The rows of one tenant (or the registry) that retention removes."""
    attempts = backup_config().max_verify_attempts
    completed = [r for r in rows if r.status == BackupStatus.COMPLETED]
    broken = [
        r
        for r in completed
        if r.verify_status == VerifyStatus.FAILED and r.verify_attempts >= attempts
    ]
    eligible = [r for r in completed if r.verify_status != VerifyStatus.FAILED]
    kept = select_kept(
        [Candidate(r.id, r.started_at, r.verify_status == VerifyStatus.VERIFIED) for r in eligible],
        retention,
    )
    stale_failures = [
        r
        for r in rows
        if r.status == BackupStatus.FAILED and (r.finished_at or r.started_at) < now - FAILED_KEPT
    ]
    return [r for r in eligible if r.id not in kept] + broken + stale_failures


async def _prune_group(tenant_id: str | None, retention: Retention, now: datetime) -> list[int]:
    query = (
        Backup.filter(tenant_id=tenant_id)
        if tenant_id is not None
        else Backup.filter(kind=BackupKind.REGISTRY)
    )
    removed = []
    for row in doomed(await query, retention, now):
        await backup_config().store.delete(row.store_key)  # the object first, then its row
        await row.delete()
        removed.append(row.id)
        log.info("backup %s of %s removed by retention", row.id, row.slug or "registry")
    metrics.PRUNED.inc(len(removed))
    return removed
