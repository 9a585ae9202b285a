"""A backup restored into a new tenant gives back every row of every table, on both
backends, including a backup taken while writes continue."""

from __future__ import annotations

import asyncio

from schema.settings.models import SettingsChange
from tenants.migrations import migrate_fleet
from tenants.models import TenantStatus
from tenants.outbox import enqueue
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.tracks import HEAD, PREVIOUS
from tests.workers.backups.helpers import add_changes, every_row
from workers.backups.config import BackupConfig
from workers.backups.restore import restore_backup
from workers.backups.service import create_registry_backup, create_tenant_backup, verify_backup


async def test_a_restored_tenant_holds_the_same_rows_in_every_table(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    backup = await create_tenant_backup(acme, requested_by="test")
    restored = await restore_backup(backup.id, "acme-copy", actor="test")

    assert (restored.status, restored.schema_version) == (TenantStatus.ACTIVE, HEAD)
    assert restored.schema_name != acme.schema_name
    source, copy = (
        await every_row(tenancy, acme.schema_name),
        await every_row(tenancy, restored.schema_name),
    )
    assert copy == source
    assert set(copy) == set(backup.counts())  # every table, as the manifest lists them
    assert backup.counts()["settings_change"] == 50
    async with tenant_scope(restored):  # and it is served
        assert await SettingsChange.filter(field="note").count() == 50


async def test_a_backup_taken_while_writes_continue_is_a_consistent_snapshot(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    async with tenant_scope(acme):
        await SettingsChange.bulk_create(
            [SettingsChange(field="bulk", new_value="x" * 200, actor="test") for _ in range(10_000)]
        )
    stop = asyncio.Event()

    async def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            await add_changes(acme, 1, start=10_000 + n)
            n += 1

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    backup = await create_tenant_backup(acme, requested_by="test")
    await asyncio.sleep(0.05)
    stop.set()
    await writer

    restored = await restore_backup(backup.id, "acme-then", actor="test")
    source_ids = sorted(
        r["id"] for r in await tenancy.backend.raw_table(acme.schema_name, "settings_change")
    )
    copy_ids = sorted(
        r["id"] for r in await tenancy.backend.raw_table(restored.schema_name, "settings_change")
    )
    assert len(copy_ids) == backup.counts()["settings_change"]
    assert len(source_ids) > len(copy_ids) > 10_050  # writes went on before and after it
    assert copy_ids == source_ids[: len(copy_ids)]  # a prefix: one moment, nothing torn


async def test_a_backup_behind_head_is_migrated_up_when_restored(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    await migrate_fleet(PREVIOUS, slugs=["acme"])
    behind = await tenancy.registry.by_id(acme.id)
    backup = await create_tenant_backup(behind, requested_by="test")

    restored = await restore_backup(backup.id, "acme-new", actor="test")

    assert backup.schema_version == PREVIOUS
    assert (restored.status, restored.schema_version) == (TenantStatus.ACTIVE, HEAD)
    copy = await every_row(tenancy, restored.schema_name)
    source = await every_row(tenancy, acme.schema_name)
    assert copy["settings_change"] == source["settings_change"]
    assert copy["tenant_settings"] == source["tenant_settings"]


async def test_jobs_pending_in_a_backup_do_not_run_again_from_the_restored_copy(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    async with tenant_scope(acme):
        await enqueue("tests.anything", {"n": 1})
    backup = await create_tenant_backup(acme, requested_by="test")

    restored = await restore_backup(backup.id, "acme-copy", actor="test")

    [copied] = await tenancy.backend.raw_table(restored.schema_name, "job_outbox")
    [original] = await tenancy.backend.raw_table(acme.schema_name, "job_outbox")
    assert (original["status"], copied["status"]) == ("pending", "failed")
    assert f"restored from backup {backup.id}" in copied["last_error"]


async def test_the_registry_is_backed_up_and_verified(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig
) -> None:
    backup = await create_registry_backup(requested_by="test")
    verified = await verify_backup(backup.id)

    assert (backup.kind, backup.tenant_id) == ("registry", None)
    assert backup.counts()["tenant"] == 1
    assert backup.store_key.startswith("registry/")
    assert (verified.verify_status, verified.verify_error) == ("verified", None)
