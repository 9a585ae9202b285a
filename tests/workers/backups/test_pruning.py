"""Retention applied to stored backups: the right set stays, the rest is deleted from the
store and the registry, and the newest verified backup is never deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from tenants.models import Backup, BackupStatus, VerifyStatus
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.backups.helpers import create
from workers.backups.config import BackupConfig
from workers.backups.pruning import prune
from workers.backups.retention import Retention
from workers.backups.schedule import set_policy

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


async def one_byte() -> AsyncIterator[bytes]:
    yield b"x"


async def stored_backup(
    backups: BackupConfig,
    tenant: TenantRecord | None,
    age: timedelta,
    *,
    status: BackupStatus = BackupStatus.COMPLETED,
    verify: VerifyStatus = VerifyStatus.UNVERIFIED,
    attempts: int = 0,
) -> int:
    """A backup row of a given age and its (stand-in) object in the store."""
    taken = NOW - age
    key = f"test/{tenant.id if tenant else 'registry'}/{taken:%Y%m%dT%H%M%S}-{attempts}.sbk"
    await backups.store.put(key, one_byte())
    row = await Backup.create(
        tenant_id=tenant.id if tenant else None, slug=tenant.slug if tenant else None,
        kind="tenant" if tenant else "registry", status=status, verify_status=verify,
        verify_attempts=attempts, engine="sqlite", source_schema="x", store_key=key,
        key_id="k1", requested_by="test", started_at=taken, finished_at=taken,
    )  # fmt: skip
    return row.id


async def stored_keys(backups: BackupConfig) -> set[str]:
    return {o.key for o in await backups.store.list("test/")}


async def test_prune_keeps_the_retention_set_and_the_newest_verified(
    tenancy: Tenancy, backups: BackupConfig
) -> None:
    acme, globex = await create("acme"), await create("globex")
    await set_policy(acme.id, actor="test", retention=Retention(daily=2, weekly=0, monthly=0))
    day = timedelta(days=1)
    fresh = [await stored_backup(backups, acme, n * day) for n in range(2)]
    older = [await stored_backup(backups, acme, n * day) for n in (2, 3, 5)]
    verified = await stored_backup(backups, acme, 4 * day, verify=VerifyStatus.VERIFIED)
    broken = await stored_backup(
        backups, acme, 12 * timedelta(hours=1), verify=VerifyStatus.FAILED, attempts=3
    )
    to_retry = await stored_backup(
        backups, acme, 13 * timedelta(hours=1), verify=VerifyStatus.FAILED, attempts=1
    )
    old_failure = await stored_backup(backups, acme, 9 * day, status=BackupStatus.FAILED)
    abandoned = await stored_backup(
        backups, acme, 5 * timedelta(hours=1), status=BackupStatus.RUNNING
    )
    other_tenant = await stored_backup(backups, globex, 3 * day)

    removed = await prune(tenant_id=acme.id, now=NOW)

    assert sorted(removed) == sorted([*older, broken, old_failure])
    remaining = set(await Backup.all().values_list("id", flat=True))
    assert remaining == {*fresh, verified, to_retry, abandoned, other_tenant}
    assert len(await stored_keys(backups)) == len(remaining)  # their objects went too
    marked = await Backup.get(id=abandoned)
    assert (marked.status, marked.error) == ("failed", "abandoned: still running after its time")


async def test_pruning_everything_covers_each_tenant_and_the_registry(
    tenancy: Tenancy, backups: BackupConfig
) -> None:
    """The default retention (7 daily) for tenants without a policy and the registry."""
    acme = await create("acme")
    day = timedelta(days=1)
    tenant_rows = [await stored_backup(backups, acme, n * day) for n in range(9)]
    registry_rows = [await stored_backup(backups, None, n * day) for n in range(9)]

    removed = await prune(now=NOW)

    # Seven daily places: days 0-6 (back to Tuesday 24 June). Four weekly places: this
    # week's and last week's newest are already kept; the week before's newest is day 8
    # (Sunday 22 June). Day 7 (Monday 23 June) has no place.
    assert sorted(removed) == sorted([tenant_rows[7], registry_rows[7]])
