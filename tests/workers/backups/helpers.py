"""Helpers of the backup tests: tenants with rows, raw reads of every table (bypassing
the code under test), and surgery on stored backups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schema.settings.models import SettingsChange
from tenants.models import Tenant, TenantEvent
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.tenants.helpers import table_names
from workers.backups.config import backup_config
from workers.backups.format import _FIXED, _FRAME
from workers.backups.store import LocalFolderStore

Rows = dict[str, list[tuple[tuple[str, Any], ...]]]


async def create(slug: str) -> TenantRecord:
    return await create_tenant(slug, f"{slug.title()} Ltd", actor="test")


async def add_changes(tenant: TenantRecord, count: int, start: int = 0) -> None:
    async with tenant_scope(tenant):
        for n in range(start, start + count):
            await SettingsChange.create(
                field="note", old_value=None, new_value=f"value {n}", actor="test"
            )


async def every_row(tenancy: Tenancy, schema: str) -> Rows:
    """Every row of every table of a tenant's schema, read with raw SQL, sorted."""
    rows: Rows = {}
    for table in sorted(await table_names(tenancy, schema)):
        found = await tenancy.backend.raw_table(schema, table)
        rows[table] = sorted(
            (tuple(sorted((k, str(v)) for k, v in row.items())) for row in found), key=repr
        )
    return rows


def stored_path(key: str) -> Path:
    store = backup_config().store
    assert isinstance(store, LocalFolderStore)
    return store.path_of(key)


def split_frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    """A container's header and its frames (each with its length word), so a test can
    remove, repeat or reorder frames."""
    id_length = blob[_FIXED.size - 1]
    end = _FIXED.size + id_length
    header, frames = blob[:end], []
    while end < len(blob):
        (word,) = _FRAME.unpack_from(blob, end)
        size = _FRAME.size + (word & 0x7FFFFFFF)
        frames.append(blob[end : end + size])
        end += size
    return header, frames


def frame_count(blob: bytes) -> int:
    return len(split_frames(blob)[1])


def file_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def traces(tenancy: Tenancy, slug: str) -> tuple[object, ...]:
    """What a restore into ``slug`` could leave behind: registry rows, and the schema or
    file of any tenant ever recorded under that slug (on SQLite, every file of this
    test's data dir; on PostgreSQL only those, as other test runs share the server)."""
    ids = await TenantEvent.filter(slug=slug).values_list("tenant_id", flat=True)
    stores = [name for name in {f"t_{i}" for i in ids} if await tenancy.backend.schema_exists(name)]
    if tenancy.config.dialect == "sqlite":
        stores = file_names(tenancy.config.data_dir / "tenants")
    slugs = sorted(await Tenant.all().values_list("slug", flat=True))
    return slugs, sorted(stores)
