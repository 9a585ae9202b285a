"""PostgreSQL: a backup restores under another schema name through a scratch database,
leaves the source tenant untouched, and refuses objects that still name the old schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_like.targets import quote_ident
from tenants.config import TenancyConfig
from tenants.provisioning import delete_tenant, suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.tenants.helpers import RawSql
from tests.workers.backups.conftest import backup_tenancy_config
from tests.workers.backups.helpers import add_changes, every_row, traces
from workers.backups.errors import BackupRefused
from workers.backups.restore import restore_backup
from workers.backups.service import create_tenant_backup

pytestmark = pytest.mark.parametrize(
    "dialect", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def tenancy_config(dialect: str, tmp_path: Path) -> TenancyConfig:
    """A short registry TTL: deleting a tenant waits for it."""
    return backup_tenancy_config(dialect, tmp_path / "var", registry_ttl=0.05)


async def test_a_restore_under_a_new_name_leaves_the_source_untouched(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    at_backup = await every_row(tenancy, acme.schema_name)
    backup = await create_tenant_backup(acme, requested_by="test")
    await add_changes(acme, 5, start=500)  # the source moves on after the backup
    source_now = await every_row(tenancy, acme.schema_name)

    restored = await restore_backup(backup.id, "acme-copy", actor="test")

    assert restored.schema_name != acme.schema_name == backup.source_schema
    assert await every_row(tenancy, restored.schema_name) == at_backup
    assert await every_row(tenancy, acme.schema_name) == source_now
    # Sequences were renamed with their tables: the copy inserts without colliding.
    await add_changes(restored, 1, start=900)
    assert len((await every_row(tenancy, restored.schema_name))["settings_change"]) == 51


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("AS $$ SELECT count(*) FROM {s}.settings_change $$", id="in its body"),
        pytest.param("SET search_path = {s} AS $$ SELECT count(*) FROM settings_change $$",
                     id="in its search_path"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("source_deleted", [False, True], ids=["source alive", "source deleted"])
async def test_a_function_naming_its_schema_is_refused_and_nothing_is_restored(
    tenancy: Tenancy, acme: TenantRecord, how: str, source_deleted: bool
) -> None:
    """Through the scratch database (the source's schema name is taken) or directly (it
    is free), the renamed copy is checked and refused."""
    schema = quote_ident(acme.schema_name)
    await RawSql(tenancy, acme.schema_name).execute(
        f"CREATE FUNCTION {schema}.notes() RETURNS bigint LANGUAGE sql " + how.format(s=schema)
    )
    backup = await create_tenant_backup(acme, requested_by="test")
    if source_deleted:
        await delete(acme)
    before = await traces(tenancy, "acme-copy")

    with pytest.raises(BackupRefused, match=f"function notes still name schema {acme.schema_name}"):
        await restore_backup(backup.id, "acme-copy", actor="test")

    assert await traces(tenancy, "acme-copy") == before
    assert await tenancy.backend.schema_exists(acme.schema_name) is not source_deleted


async def delete(tenant: TenantRecord) -> None:
    await suspend_tenant(tenant.slug, actor="test", reason="gone")
    await delete_tenant(tenant.slug, actor="test", reason="gone")


async def test_a_deleted_tenant_restores_directly_under_a_new_name(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    at_backup = await every_row(tenancy, acme.schema_name)
    backup = await create_tenant_backup(acme, requested_by="test")
    await delete(acme)

    restored = await restore_backup(backup.id, "acme-again", actor="test")

    assert await every_row(tenancy, restored.schema_name) == at_backup
    assert not await tenancy.backend.schema_exists(acme.schema_name)  # renamed, not kept
