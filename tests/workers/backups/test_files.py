"""A tenant backup holds the bytes of the files its rows name: restored with the rows
(into a new tenant or over a suspended one), checked by verification, and removed again
when a restore fails; a file gone at backup time is recorded missing; a backup made
before files were included restores as before."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from schema.files.models import StoredFile
from tenants.models import TenantEvent
from tenants.provisioning import suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tenants.storage import file_store
from tests.workers.backups.helpers import (
    add_file,
    reseal,
    split_frames,
    stored_bytes,
    stored_keys,
    stored_path,
    traces,
)
from workers.backups.errors import BackupCorrupt, BackupMismatch
from workers.backups.manifest import Manifest
from workers.backups.restore import restore_backup
from workers.backups.service import (
    create_tenant_backup,
    current_engine,
    get_backup,
    open_backup,
    verify_backup,
)

LOGO = b"\x89PNG logo bytes"
DOCUMENT = os.urandom(1_500_000)  # incompressible, over one 1 MiB frame


async def manifest_of(backup_id: int) -> Manifest:
    async with open_backup(await get_backup(backup_id)) as opened:
        return opened.manifest


async def test_a_restored_tenant_gets_the_files_back_byte_for_byte(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    logo, document = await add_file(acme, LOGO), await add_file(acme, DOCUMENT)
    backup = await create_tenant_backup(acme, requested_by="test")
    await file_store().purge(acme.id)  # the live files are lost

    copy = await restore_backup(backup.id, "acme-copy", actor="test")
    await suspend_tenant("acme", actor="test", reason="restore")
    await restore_backup(backup.id, "acme", actor="test", overwrite=True)

    for tenant_id in (copy.id, acme.id):
        assert await stored_bytes(tenant_id, logo.key) == LOGO
        assert await stored_bytes(tenant_id, document.key) == DOCUMENT
        assert await stored_keys(tenant_id) == sorted([logo.key, document.key])
    manifest = await manifest_of(backup.id)
    assert [(f.key, f.size, f.sha256) for f in manifest.files] == [
        (logo.key, len(LOGO), logo.sha256),
        (document.key, len(DOCUMENT), document.sha256),
    ]
    assert manifest.missing_files == []
    assert backup.raw_size == manifest.database_size + len(LOGO) + len(DOCUMENT)
    assert (await verify_backup(backup.id)).verify_status == "verified"


async def test_discarded_files_are_left_out(tenancy: Tenancy, acme: TenantRecord) -> None:
    kept, discarded = await add_file(acme, LOGO), await add_file(acme, b"old logo")
    async with tenant_scope(acme):
        await StoredFile.filter(id=discarded.id).update(deleted_at=datetime.now(UTC))
    backup = await create_tenant_backup(acme, requested_by="test")

    copy = await restore_backup(backup.id, "acme-copy", actor="test")

    assert [f.key for f in (await manifest_of(backup.id)).files] == [kept.key]
    assert await stored_keys(copy.id) == [kept.key]


async def test_a_backup_without_files_holds_the_database_alone(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    backup = await create_tenant_backup(acme, requested_by="test")

    copy = await restore_backup(backup.id, "acme-copy", actor="test")

    manifest = await manifest_of(backup.id)
    assert (manifest.files, manifest.missing_files) == ([], [])
    assert manifest.database_size == manifest.raw_size == backup.raw_size
    assert await stored_keys(copy.id) == []
    assert (await verify_backup(backup.id)).verify_status == "verified"


async def test_a_file_gone_at_backup_time_is_recorded_missing(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    present, gone = await add_file(acme, LOGO), await add_file(acme, b"swept meanwhile")
    await file_store().of_tenant(acme.id).delete(gone.key)

    backup = await create_tenant_backup(acme, requested_by="test")
    copy = await restore_backup(backup.id, "acme-copy", actor="test")

    manifest = await manifest_of(backup.id)
    assert ([f.key for f in manifest.files], manifest.missing_files) == ([present.key], [gone.key])
    assert (await verify_backup(backup.id)).verify_status == "verified"
    assert await stored_keys(copy.id) == [present.key]
    async with tenant_scope(copy):  # the row is restored; its bytes are not there
        assert await StoredFile.filter(key=gone.key).count() == 1


def flip_in_last_payload_frame(blob: bytes) -> bytes:
    """A flipped byte in the file part (the payload's end, before the manifest frame)."""
    at = len(blob) - len(split_frames(blob)[1][-1]) - 100
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


async def test_verification_detects_a_tampered_file_part(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    await add_file(acme, DOCUMENT)
    backup = await create_tenant_backup(acme, requested_by="test")
    path = stored_path(backup.store_key)
    path.write_bytes(flip_in_last_payload_frame(path.read_bytes()))

    row = await verify_backup(backup.id)

    assert row.verify_status == "failed"
    assert "BackupCorrupt" in row.verify_error
    assert "failed authentication" in row.verify_error


async def test_verification_detects_file_bytes_that_differ_from_the_manifest(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    """Sealed again by a holder of the key with one byte of the file changed: the
    container is sound, the file's SHA-256 is not; a restore is refused too."""
    document = await add_file(acme, DOCUMENT)
    backup = await create_tenant_backup(acme, requested_by="test")
    await reseal(backup, lambda payload: payload[:-1] + bytes([payload[-1] ^ 0x01]))

    row = await verify_backup(backup.id)
    with pytest.raises(BackupCorrupt, match=f"file {document.key}: its bytes differ"):
        await restore_backup(backup.id, "acme-copy", actor="test")

    assert row.verify_status == "failed"
    assert f"file {document.key}: its bytes differ from the manifest" in row.verify_error
    assert not await TenantEvent.exists(slug="acme-copy")


async def test_verification_detects_files_that_differ_from_their_rows(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    """Bytes damaged in the live store before the backup read them: the backup holds
    them as they were read, and verification says they are not what the row describes."""
    logo = await add_file(acme, LOGO)
    async with file_store().of_tenant(acme.id).writer(logo.key) as writer:
        await writer.write(b"rotten")
    backup = await create_tenant_backup(acme, requested_by="test")

    row = await verify_backup(backup.id)

    assert row.verify_status == "failed"
    assert "BackupMismatch" in row.verify_error
    assert f"{logo.key}: 6 bytes" in row.verify_error
    assert f"(its row: {len(LOGO)} bytes, {logo.sha256[:12]})" in row.verify_error


async def test_a_failed_restore_leaves_no_file_behind(
    tenancy: Tenancy, acme: TenantRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_backup = await add_file(acme, LOGO)
    backup = await create_tenant_backup(acme, requested_by="test")
    await file_store().purge(acme.id)
    later = await add_file(acme, b"uploaded after the backup")
    await suspend_tenant("acme", actor="test", reason="restore")
    before = await traces(tenancy, "acme-copy")

    async def broken(*args: object, **kwargs: object) -> None:
        raise BackupMismatch("the restored copy's rows differ")

    monkeypatch.setattr(type(current_engine()), "restore", broken)
    with pytest.raises(BackupMismatch):
        await restore_backup(backup.id, "acme-copy", actor="test")
    assert await traces(tenancy, "acme-copy") == before
    [failed] = await TenantEvent.filter(slug="acme-copy", action="create")
    assert await stored_keys(failed.tenant_id) == []

    with pytest.raises(BackupMismatch):
        await restore_backup(backup.id, "acme", actor="test", overwrite=True)
    assert await stored_keys(acme.id) == [later.key]  # what was there stays; nothing added
    assert at_backup.key != later.key


async def test_a_backup_made_before_files_were_included_restores_as_before(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    """Its payload is the database alone and its manifest lists no files: the rows are
    restored, no file is written, and it verifies."""
    logo = await add_file(acme, LOGO)
    backup = await create_tenant_backup(acme, requested_by="test")
    database_size = (await manifest_of(backup.id)).database_size
    assert database_size is not None
    newer = ("database_size", "files", "missing_files")
    await reseal(
        backup,
        lambda payload: payload[:database_size],
        lambda manifest: {k: v for k, v in manifest.items() if k not in newer},
    )

    copy = await restore_backup(backup.id, "acme-copy", actor="test")

    manifest = await manifest_of(backup.id)
    assert (manifest.database_size, manifest.files, manifest.raw_size) == (None, [], database_size)
    assert (await verify_backup(backup.id)).verify_status == "verified"
    async with tenant_scope(copy):
        assert await StoredFile.filter(key=logo.key).count() == 1
    assert await stored_keys(copy.id) == []
