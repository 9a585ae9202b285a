"""Keys rotate: new backups use the first key, old ones open with any configured key."""

from __future__ import annotations

import dataclasses

import pytest

from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.backups.conftest import KEY_NEW, KEY_OLD
from tests.workers.backups.helpers import every_row, stored_path
from workers.backups.config import BackupConfig, configure_backups
from workers.backups.errors import BackupKeyMissing
from workers.backups.keys import KeyRing
from workers.backups.restore import restore_backup
from workers.backups.service import create_tenant_backup, verify_backup


async def test_a_backup_under_an_old_key_restores_while_that_key_is_configured(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig
) -> None:
    old = await create_tenant_backup(acme, requested_by="test")
    configure_backups(dataclasses.replace(backups, keys=KeyRing({"k2": KEY_NEW, "k1": KEY_OLD})))
    new = await create_tenant_backup(acme, requested_by="test")

    restored = await restore_backup(old.id, "acme-old", actor="test")

    assert (old.key_id, new.key_id) == ("k1", "k2")
    assert b"k2" in stored_path(new.store_key).read_bytes()[:64]  # the id is in the header
    assert await every_row(tenancy, restored.schema_name) == await every_row(
        tenancy, acme.schema_name
    )
    assert (await verify_backup(new.id)).verify_status == "verified"


async def test_once_the_old_key_is_removed_its_backups_are_refused_by_name(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig
) -> None:
    old = await create_tenant_backup(acme, requested_by="test")
    configure_backups(dataclasses.replace(backups, keys=KeyRing({"k2": KEY_NEW})))

    with pytest.raises(BackupKeyMissing, match="'k1'"):
        await restore_backup(old.id, "acme-old", actor="test")
    row = await verify_backup(old.id)
    assert row.verify_status == "failed"
    assert "not configured" in row.verify_error
