"""Restoring over an existing tenant: only a suspended one, only with the flag, and only
after its current state is backed up."""

from __future__ import annotations

import pytest

from tenants.errors import TenantStateError
from tenants.models import Backup, TenantStatus
from tenants.provisioning import suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.backups.helpers import add_changes, create, every_row
from workers.backups.errors import BackupRefused
from workers.backups.restore import restore_backup
from workers.backups.service import create_tenant_backup


async def test_restoring_over_an_active_tenant_is_refused(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    backup = await create_tenant_backup(acme, requested_by="test")

    with pytest.raises(TenantStateError, match="suspend it first"):
        await restore_backup(backup.id, "acme", actor="test", overwrite=True)
    with pytest.raises(TenantStateError):
        await restore_backup(backup.id, "acme", actor="test")
    assert await Backup.all().count() == 1  # not even a backup of the current state


async def test_restoring_over_a_suspended_tenant_needs_the_flag(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    backup = await create_tenant_backup(acme, requested_by="test")
    await suspend_tenant("acme", actor="test", reason="restore")

    with pytest.raises(BackupRefused, match="add --overwrite"):
        await restore_backup(backup.id, "acme", actor="test")
    with pytest.raises(BackupRefused, match="no tenant 'nobody' to overwrite"):
        await restore_backup(backup.id, "nobody", actor="test", overwrite=True)
    assert await Backup.all().count() == 1


async def test_restoring_over_a_suspended_tenant_backs_up_its_state_first(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    at_backup = await every_row(tenancy, acme.schema_name)
    backup = await create_tenant_backup(acme, requested_by="test")
    await add_changes(acme, 10, start=1000)
    before_restore = await every_row(tenancy, acme.schema_name)
    await suspend_tenant("acme", actor="test", reason="restore")

    restored = await restore_backup(backup.id, "acme", actor="test", overwrite=True)

    assert (restored.id, restored.status) == (acme.id, TenantStatus.SUSPENDED)
    assert await every_row(tenancy, acme.schema_name) == at_backup
    [pre] = await Backup.filter(requested_by__contains=f"before restoring backup {backup.id}")
    assert pre.counts()["settings_change"] == 60
    # The state before the restore can itself be restored.
    undo = await restore_backup(pre.id, "acme-before", actor="test")
    assert await every_row(tenancy, undo.schema_name) == before_restore


async def test_a_backup_of_another_tenant_can_replace_a_suspended_tenants_data(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    acme_rows = await every_row(tenancy, acme.schema_name)
    backup = await create_tenant_backup(acme, requested_by="test")
    globex = await create("globex")
    await suspend_tenant("globex", actor="test", reason="replace")

    restored = await restore_backup(backup.id, "globex", actor="test", overwrite=True)

    assert (restored.id, restored.schema_name) == (globex.id, globex.schema_name)
    assert await every_row(tenancy, globex.schema_name) == acme_rows
    assert await every_row(tenancy, acme.schema_name) == acme_rows  # the source is untouched
