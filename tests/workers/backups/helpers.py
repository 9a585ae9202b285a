"""Helpers of the backup tests: tenants with rows, raw reads of every table (bypassing
the code under test), and surgery on stored backups."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schema.files.models import StoredFile
from schema.settings.models import SettingsChange
from tenants.models import Backup, Tenant, TenantEvent
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tenants.storage import StoredBytesMissing, file_store, new_key
from tests.tenants.helpers import table_names
from workers.backups.config import backup_config
from workers.backups.format import _FIXED, _FRAME, Opener, Sealer
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


async def add_file(tenant: TenantRecord, content: bytes) -> StoredFile:
    """A stored file of ``tenant``: its bytes in the file store and its row."""
    key = new_key()
    async with tenant_scope(tenant):
        async with file_store().writer(key) as writer:
            await writer.write(content)
        return await StoredFile.create(
            key=key, purpose="merchant_document", filename="doc.pdf",
            media_type="application/pdf", size=len(content),
            sha256=hashlib.sha256(content).hexdigest(), uploaded_by="test",
        )  # fmt: skip


async def stored_bytes(tenant_id: str, key: str) -> bytes | None:
    """The bytes the tenant's file store holds under ``key`` (None: nothing)."""
    try:
        reader = await file_store().of_tenant(tenant_id).open(key)
    except StoredBytesMissing:
        return None
    return b"".join([chunk async for chunk in reader.chunks()])


async def stored_keys(tenant_id: str) -> list[str]:
    later = datetime.now(UTC) + timedelta(days=1)
    return await file_store().of_tenant(tenant_id).keys_older_than(later)


Manifest = dict[str, Any]


async def reseal(
    row: Backup,
    change: Callable[[bytes], bytes],
    change_manifest: Callable[[Manifest], Manifest] = lambda manifest: manifest,
) -> None:
    """Rewrite a stored backup with its payload (and manifest) changed, sealed again with
    its key, and its row's checksum to match: what only a holder of the key can do."""
    path = stored_path(row.store_key)
    config = backup_config()
    opener = Opener(config.keys)
    payload = opener.feed(path.read_bytes())
    manifest = opener.finish()
    del manifest["raw_size"]
    sealer = Sealer(config.keys.current_id, config.keys.current)
    sealed = sealer.feed(change(payload)) + sealer.finish(change_manifest(manifest))
    path.write_bytes(sealed)
    await Backup.filter(id=row.id).update(checksum=sealer.stored_sha256.hexdigest())
