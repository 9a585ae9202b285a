"""Restoring a tenant backup: into a new tenant (always safe), or over a suspended one.

Every restore first reads the whole backup, authenticates and decrypts it, and checks it
against its row: a damaged backup is refused before any registry row, schema or file is
made. The backup's stored files are written into the tenant's file store first (removed
again if the restore fails), then the restored copy is checked against the manifest's row
counts before it becomes the tenant's, migrated to this code's head, and only then
routable. Restoring over a tenant needs it suspended and an explicit ``overwrite``, and
backs up its current state (its files too) first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from alembic_like.revision import RevisionError
from tenants import provisioning
from tenants.errors import TenantStateError
from tenants.models import Backup, BackupKind, Tenant, TenantStatus
from tenants.records import TenantRecord
from tenants.runtime import get_tenancy
from tenants.storage import FileStore, StoredBytesMissing, file_store
from workers.backups import metrics
from workers.backups.errors import BackupRefused
from workers.backups.service import (
    Opened,
    create_tenant_backup,
    current_engine,
    get_backup,
    open_backup,
)
from workers.backups.streams import read_file

log = logging.getLogger("saas.backups")


async def restore_backup(
    backup_id: int,
    into: str,
    *,
    actor: str,
    overwrite: bool = False,
    display_name: str | None = None,
) -> TenantRecord:
    row = await get_backup(backup_id)
    if row.kind != BackupKind.TENANT:
        raise BackupRefused(
            f"backup {row.id} is of the registry: extract it and restore it by hand"
        )
    existing = await _target(into, overwrite)
    started = time.perf_counter()
    try:
        async with open_backup(row) as opened:
            _check_version(opened)
            if existing is None:
                record = await _into_new(row, opened, into, actor, display_name)
            else:
                record = await _over(row, opened, existing, actor)
    except BaseException:
        metrics.RESTORES.labels("failed").inc()
        raise
    metrics.RESTORES.labels("completed").inc()
    metrics.DURATION.labels("restore").observe(time.perf_counter() - started)
    log.info("backup %s restored into %s by %s", row.id, record.slug, actor)
    return record


async def _target(slug: str, overwrite: bool) -> Tenant | None:
    """The tenant to restore over, or None for a new one; refuses what is not allowed."""
    existing = await Tenant.get_or_none(slug=slug)
    if existing is None:
        if overwrite:
            raise BackupRefused(f"there is no tenant {slug!r} to overwrite")
        return None
    if existing.status != TenantStatus.SUSPENDED:
        raise TenantStateError(
            f"tenant {slug!r} is {existing.status}: only a suspended tenant can be restored "
            "over (suspend it first, then add --overwrite)"
        )
    if not overwrite:
        raise BackupRefused(
            f"tenant {slug!r} exists: restoring over it replaces its data; add --overwrite "
            "(its current state is backed up first), or restore into a new slug"
        )
    return existing


def _check_version(opened: Opened) -> None:
    try:
        get_tenancy().tenant_track.position(opened.manifest.schema_version)
    except RevisionError as exc:
        raise BackupRefused(f"cannot restore: {exc}") from None


def _maker(row: Backup, opened: Opened, *, replace: bool) -> Callable[[Tenant], Awaitable[None]]:
    engine = current_engine()
    manifest = opened.manifest

    async def make_schema(tenant: Tenant) -> None:
        async with _restored_files(opened, file_store().of_tenant(tenant.id)):
            await engine.restore(
                opened.payload, manifest.source, tenant.schema_name, manifest.contents,
                replace=replace,
            )  # fmt: skip
        await engine.retire_jobs(
            tenant.schema_name, f"restored from backup {row.id}: not run again unless retried"
        )

    return make_schema


@asynccontextmanager
async def _restored_files(opened: Opened, store: FileStore) -> AsyncIterator[None]:
    """Write the backup's files into ``store`` before the block restores the rows that
    name them; if the block fails, remove those that were not there before (a key already
    there holds the same bytes: files are immutable)."""
    added: list[str] = []
    try:
        for ref, path in zip(opened.manifest.files, opened.files, strict=True):
            if not await _exists(store, ref.key):
                added.append(ref.key)
            async with store.writer(ref.key) as writer:
                async for block in read_file(path):
                    await writer.write(block)
        yield
    except BaseException:
        for key in added:
            await store.delete(key)
        raise


async def _exists(store: FileStore, key: str) -> bool:
    try:
        reader = await store.open(key)
    except StoredBytesMissing:
        return False
    reader.close()
    return True


async def _into_new(
    row: Backup, opened: Opened, slug: str, actor: str, display_name: str | None
) -> TenantRecord:
    return await provisioning.create_tenant_from(
        slug,
        display_name or opened.manifest.display_name or slug,
        actor=actor,
        reason=f"restored from backup {row.id} of {row.slug}",
        make_schema=_maker(row, opened, replace=False),
    )


async def _over(row: Backup, opened: Opened, tenant: Tenant, actor: str) -> TenantRecord:
    record = await get_tenancy().registry.by_id(tenant.id)
    before = await create_tenant_backup(
        record, requested_by=f"{actor}: before restoring backup {row.id}"
    )
    return await provisioning.replace_tenant_schema(
        tenant.slug,
        actor=actor,
        reason=f"restored from backup {row.id} of {row.slug}; the state before is backup "
        f"{before.id}",
        make_schema=_maker(row, opened, replace=True),
    )
