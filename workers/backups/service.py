"""Making, opening and verifying backups, with their metadata rows.

A backup runs once per request key: a redelivered job finds its row and either returns
the finished backup, leaves a running one to its owner, or takes over a failed or
abandoned attempt. The stored object appears under its key only once it is complete.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, cast

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from tenants.models import Backup, BackupKind, BackupStatus, VerifyStatus
from tenants.records import TenantRecord
from tenants.runtime import get_tenancy
from workers.backups import metrics
from workers.backups.config import backup_config
from workers.backups.engines import (
    REGISTRY_TRACK,
    TENANT_TRACK,
    BackupEngine,
    Snapshot,
    check_contents,
    engine_for,
)
from workers.backups.errors import BackupCorrupt, BackupError, BackupRefused
from workers.backups.files import FilesRead, check_files, read_files, split_files
from workers.backups.format import Opener, Sealer
from workers.backups.manifest import Manifest

log = logging.getLogger("saas.backups")

# A backup still "running" after this long was abandoned (its process died): a new
# attempt may take it over.
ABANDONED_AFTER = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class Subject:
    """What to back up: one tenant's schema, or the registry (no tenant)."""

    kind: BackupKind
    tenant_id: str | None
    slug: str | None
    display_name: str | None
    schema: str | None

    @classmethod
    def tenant(cls, record: TenantRecord) -> Subject:
        return cls(
            BackupKind.TENANT, record.id, record.slug, record.display_name, record.schema_name
        )

    @classmethod
    def registry(cls) -> Subject:
        return cls(BackupKind.REGISTRY, None, None, None, None)

    @property
    def track(self) -> str:
        return track_of(self.kind)

    def store_key(self, at: datetime) -> str:
        folder = f"tenants/{self.tenant_id}" if self.tenant_id else "registry"
        return f"{folder}/{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}.sbk"


def current_engine() -> BackupEngine:
    return engine_for(get_tenancy(), backup_config().scratch_dir)


def track_of(kind: BackupKind) -> str:
    """The migration track of what a backup of this kind holds."""
    return TENANT_TRACK if kind == BackupKind.TENANT else REGISTRY_TRACK


# --- creating ---------------------------------------------------------------------------


async def create_tenant_backup(
    record: TenantRecord, *, requested_by: str, request_key: str | None = None
) -> Backup:
    return await create_backup(Subject.tenant(record), requested_by, request_key)


async def create_registry_backup(*, requested_by: str, request_key: str | None = None) -> Backup:
    return await create_backup(Subject.registry(), requested_by, request_key)


async def create_backup(subject: Subject, requested_by: str, request_key: str | None) -> Backup:
    """Back up now and return the completed row (or the row this request already made).
    Raises, with the row marked failed, when the backup fails."""
    row, mine = await _claim(subject, requested_by, request_key)
    if not mine:
        return row
    started = time.perf_counter()
    try:
        await _make(row, subject)
    except BaseException as exc:
        await _mark_failed(row, exc)
        raise
    metrics.BACKUPS.labels(row.kind, "completed").inc()
    metrics.LAST_COMPLETED.labels(row.kind).set_to_current_time()
    metrics.DURATION.labels("backup").observe(time.perf_counter() - started)
    log.info(
        "backup %s of %s completed (%s bytes)", row.id, row.slug or "registry", row.stored_size
    )
    return row


async def _claim(
    subject: Subject, requested_by: str, request_key: str | None
) -> tuple[Backup, bool]:
    """The request's row, and whether this call is to make the backup."""
    if request_key is not None:
        existing = await Backup.get_or_none(request_key=request_key)
        if existing is not None:
            return await _take_over(existing, subject)
    now = datetime.now(UTC)
    engine = current_engine()
    try:
        row = await Backup.create(
            tenant_id=subject.tenant_id, slug=subject.slug, kind=subject.kind,
            engine=engine.dialect, source_schema=engine.source_name(subject.schema),
            store_key=subject.store_key(now), key_id=backup_config().keys.current_id,
            requested_by=requested_by[:200], request_key=request_key, started_at=now,
        )  # fmt: skip
    except IntegrityError:
        if request_key is None:
            raise
        return await Backup.get(request_key=request_key), False  # a concurrent delivery
    return row, True


async def _take_over(row: Backup, subject: Subject) -> tuple[Backup, bool]:
    """Take over a failed or abandoned attempt (under a new store key: an abandoned
    attempt may still be writing under the old one)."""
    now = datetime.now(UTC)
    if row.status == BackupStatus.COMPLETED:
        return row, False
    if row.status == BackupStatus.RUNNING and row.started_at > now - ABANDONED_AFTER:
        return row, False  # its owner is still at it
    taken = await Backup.filter(id=row.id, status=row.status, started_at=row.started_at).update(
        status=BackupStatus.RUNNING, started_at=now, error=None, finished_at=None,
        key_id=backup_config().keys.current_id, store_key=subject.store_key(now),
    )  # fmt: skip
    return await Backup.get(id=row.id), taken == 1


async def _make(row: Backup, subject: Subject) -> None:
    config = backup_config()
    sealer = Sealer(config.keys.current_id, config.keys.current, zstd_threads=config.zstd_threads)
    async with current_engine().snapshot(subject.schema, subject.track) as snapshot:
        manifest = Manifest(
            backup_id=row.id, kind=subject.kind.value, tenant_id=subject.tenant_id,
            slug=subject.slug, display_name=subject.display_name, engine=row.engine,
            source=row.source_schema, schema_version=snapshot.contents.schema_version,
            row_counts=snapshot.contents.row_counts, taken_at=row.started_at.isoformat(),
        )  # fmt: skip
        await config.store.put(row.store_key, _sealed(sealer, snapshot, manifest))
    row.status = BackupStatus.COMPLETED
    row.schema_version = manifest.schema_version
    row.row_counts = orjson.dumps(manifest.row_counts).decode()
    row.raw_size = sealer.raw_size
    row.stored_size = sealer.stored_size
    row.checksum = sealer.stored_sha256.hexdigest()
    row.finished_at = datetime.now(UTC)
    await row.save()


async def _sealed(sealer: Sealer, snapshot: Snapshot, manifest: Manifest) -> AsyncIterator[bytes]:
    """The database, then the bytes of the files its live rows name (read now, after the
    snapshot was taken), then the manifest saying where the database ends and which files
    follow."""
    async for sealed in _fed(sealer, snapshot.chunks):
        yield sealed
    database_size = sealer.raw_size
    found = FilesRead()
    refs = snapshot.contents.stored_files
    if refs and manifest.tenant_id is not None:
        async for sealed in _fed(sealer, read_files(manifest.tenant_id, refs, found)):
            yield sealed
    whole = replace(
        manifest, database_size=database_size, files=found.included, missing_files=found.missing
    )
    yield await asyncio.to_thread(sealer.finish, whole.sealed_fields())


async def _fed(sealer: Sealer, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Compression, encryption and hashing run in a worker thread, block by block."""
    async for raw in chunks:
        sealed = await asyncio.to_thread(sealer.feed, raw)
        if sealed:
            yield sealed


async def _mark_failed(row: Backup, exc: BaseException) -> None:
    error = f"{type(exc).__name__}: {exc}"[:10_000]
    metrics.BACKUPS.labels(row.kind, "failed").inc()
    log.error("backup %s of %s failed: %s", row.id, row.slug or "registry", error)
    await Backup.filter(id=row.id).update(
        status=BackupStatus.FAILED, error=error, finished_at=datetime.now(UTC)
    )
    await backup_config().store.delete(row.store_key)


# --- opening ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    payload: Path  # the decrypted, decompressed and authenticated database payload
    manifest: Manifest
    files: list[Path] = field(default_factory=list)  # the bytes of manifest.files, in order


async def get_backup(backup_id: int) -> Backup:
    row = await Backup.get_or_none(id=backup_id)
    if row is None:
        raise BackupError(f"no backup {backup_id}")
    return row


@asynccontextmanager
async def open_backup(row: Backup) -> AsyncIterator[Opened]:
    """Read the whole object, authenticate and decrypt it into scratch files (the database
    payload, each stored file), and check it against its row, before anything is done
    with it."""
    if row.status != BackupStatus.COMPLETED:
        raise BackupRefused(f"backup {row.id} is {row.status}, not completed")
    if row.engine != current_engine().dialect:
        raise BackupRefused(f"backup {row.id} is a {row.engine} backup: restore it on {row.engine}")
    config = backup_config()
    config.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=config.scratch_dir) as scratch:
        payload = Path(scratch) / "payload"
        opener = Opener(config.keys)
        with payload.open("wb") as out:
            async for block in config.store.get(row.store_key):
                await asyncio.to_thread(_feed, opener, out, block)
        manifest = Manifest.parse(opener.finish())
        _check_against_row(row, manifest, opener.stored_sha256.hexdigest())
        files = await asyncio.to_thread(split_files, payload, manifest, Path(scratch))
        yield Opened(payload, manifest, files)


def _feed(opener: Opener, out: BinaryIO, block: bytes) -> None:
    out.write(opener.feed(block))


def _check_against_row(row: Backup, manifest: Manifest, checksum: str) -> None:
    if checksum != row.checksum:
        raise BackupCorrupt(f"backup {row.id}: the stored object's checksum differs")
    agrees = (
        manifest.backup_id == row.id
        and manifest.tenant_id == row.tenant_id
        and manifest.schema_version == row.schema_version
        and manifest.row_counts == row.counts()
    )
    if not agrees:
        raise BackupCorrupt(f"backup {row.id}: the sealed manifest disagrees with its record")


# --- verifying --------------------------------------------------------------------------


async def verify_backup(backup_id: int) -> Backup:
    """Restore the backup in a scratch place and compare it with its manifest (its files
    too: their bytes, and the restored rows that describe them); mark the row verified,
    or failed with the reason. Returns the updated row."""
    row = await get_backup(backup_id)
    started = time.perf_counter()
    engine = current_engine()
    try:
        async with open_backup(row) as opened:
            found = await engine.inspect(opened.payload, opened.manifest.source, track_of(row.kind))
            check_contents(opened.manifest.contents, found)
            check_files(opened.manifest, found.stored_files)
    except Exception as exc:  # every failure is recorded on the row, then reported
        return await _verified(row, f"{type(exc).__name__}: {exc}")
    finally:
        metrics.DURATION.labels("verify").observe(time.perf_counter() - started)
    return await _verified(row, None)


async def _verified(row: Backup, error: str | None) -> Backup:
    outcome = VerifyStatus.FAILED if error else VerifyStatus.VERIFIED
    metrics.VERIFICATIONS.labels(outcome.value).inc()
    if error:
        log.warning("backup %s of %s failed verification: %s", row.id, row.slug, error)
    else:
        log.info("backup %s of %s verified", row.id, row.slug or "registry")
    await Backup.filter(id=row.id).update(
        verify_status=outcome, verify_error=error and error[:10_000],
        verify_attempts=row.verify_attempts + 1, verified_at=datetime.now(UTC),
    )  # fmt: skip
    return await get_backup(row.id)


async def verify_due(limit: int = 50) -> list[Backup]:
    """Verify new backups, and retry failed verifications a bounded number of times."""
    retry = Q(verify_status=VerifyStatus.FAILED) & Q(
        verify_attempts__lt=backup_config().max_verify_attempts
    )
    ids = (
        await Backup.filter(Q(verify_status=VerifyStatus.UNVERIFIED) | retry)
        .filter(status=BackupStatus.COMPLETED)
        .order_by("started_at", "id")
        .limit(limit)
        .values_list("id", flat=True)
    )
    return [await verify_backup(backup_id) for backup_id in cast(list[int], ids)]


async def list_backups(
    *, tenant_id: str | None = None, kind: BackupKind | None = None
) -> list[Backup]:
    query = Backup.all()
    if tenant_id is not None:
        query = query.filter(tenant_id=tenant_id)
    if kind is not None:
        query = query.filter(kind=kind)
    return await query.order_by("-started_at", "-id")
