"""A damaged backup is detected and refused, and nothing is restored from it; the
verification job marks it failed, counts it, and retries it a bounded number of times."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from tenants.models import Backup, TenantEvent
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.backups.helpers import file_names, split_frames, stored_path, traces
from workers.backups.config import BackupConfig, configure_backups
from workers.backups.errors import BackupCorrupt
from workers.backups.keys import KeyRing
from workers.backups.restore import restore_backup
from workers.backups.service import create_tenant_backup, verify_backup, verify_due


def flip(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes([blob[middle] ^ 0x40]) + blob[middle + 1 :]


def remove_first_frame(blob: bytes) -> bytes:
    header, frames = split_frames(blob)
    return header + b"".join(frames[1:])


def swap_frames(blob: bytes) -> bytes:
    header, frames = split_frames(blob)
    return header + frames[1] + frames[0] + b"".join(frames[2:])


TAMPERINGS: dict[str, Callable[[bytes], bytes]] = {
    "a flipped byte": flip,
    "cut in half": lambda blob: blob[: len(blob) // 2],
    "the last byte cut": lambda blob: blob[:-1],
    "a frame removed": remove_first_frame,
    "frames reordered": swap_frames,
}


@pytest.mark.parametrize("tamper", TAMPERINGS)
async def test_a_damaged_backup_is_refused_and_nothing_is_restored(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig, tamper: str
) -> None:
    backup = await create_tenant_backup(acme, requested_by="test")
    path = stored_path(backup.store_key)
    path.write_bytes(TAMPERINGS[tamper](path.read_bytes()))
    before = await traces(tenancy, "acme-copy")

    with pytest.raises(BackupCorrupt):
        await restore_backup(backup.id, "acme-copy", actor="test")

    assert await traces(tenancy, "acme-copy") == before
    assert not await TenantEvent.exists(slug="acme-copy")  # refused before it began
    assert file_names(backups.scratch_dir) == []  # the decrypted scratch copy is gone


async def test_a_backup_opened_with_the_wrong_key_is_refused_and_nothing_is_restored(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig
) -> None:
    backup = await create_tenant_backup(acme, requested_by="test")
    configure_backups(dataclasses.replace(backups, keys=KeyRing({"k1": os.urandom(32)})))
    before = await traces(tenancy, "acme-copy")

    with pytest.raises(BackupCorrupt, match="failed authentication"):
        await restore_backup(backup.id, "acme-copy", actor="test")

    assert await traces(tenancy, "acme-copy") == before
    assert not await TenantEvent.exists(slug="acme-copy")


def failed_verifications() -> float:
    return REGISTRY.get_sample_value("saas_backup_verifications_total", {"outcome": "failed"}) or 0


async def test_verification_marks_a_tampered_backup_failed_counts_it_and_retries_it(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig
) -> None:
    backups = dataclasses.replace(backups, max_verify_attempts=2)
    configure_backups(backups)
    good = await create_tenant_backup(acme, requested_by="test")
    bad = await create_tenant_backup(acme, requested_by="test")
    path = stored_path(bad.store_key)
    path.write_bytes(flip(path.read_bytes()))
    failures = failed_verifications()

    results = {row.id: row for row in await verify_due()}

    assert results[good.id].verify_status == "verified"
    assert results[bad.id].verify_status == "failed"
    assert "BackupCorrupt" in results[bad.id].verify_error
    assert failed_verifications() == failures + 1
    # Retried by the next runs until the attempts run out, then left alone.
    for _ in range(backups.max_verify_attempts + 1):
        await verify_due()
    row = await Backup.get(id=bad.id)
    assert (row.verify_status, row.verify_attempts) == ("failed", backups.max_verify_attempts)
    assert (await Backup.get(id=good.id)).verify_attempts == 1


async def test_verification_notices_a_backup_whose_rows_disagree_with_its_manifest(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    """A sound object whose record was changed (or another backup's object): refused."""
    backup = await create_tenant_backup(acme, requested_by="test")
    await Backup.filter(id=backup.id).update(row_counts='{"settings_change": 1}')

    row = await verify_backup(backup.id)

    assert row.verify_status == "failed"
    assert "disagrees with its record" in row.verify_error
