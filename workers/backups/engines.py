"""What a database engine does for backups: snapshot a schema, restore a payload in a
scratch place to read it back, and restore it as a tenant's schema.

``Contents`` (schema version and rows per table) is what a manifest promises and what a
restored copy is checked against; with the tenant's live ``stored_file`` rows, the files
whose bytes go into the backup after the snapshot.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from schema.files.models import StoredFile
from tenants.runtime import Tenancy
from workers.backups.errors import BackupMismatch

TENANT_TRACK = "tenant"
REGISTRY_TRACK = "shared"
FILES_TABLE: str = StoredFile._meta.db_table
# The live (not discarded) files of a snapshot, in a stable order; the caller names the
# table (schema-qualified on PostgreSQL).
LIVE_FILES = "SELECT key, size, sha256 FROM {table} WHERE deleted_at IS NULL ORDER BY id"


@dataclass(frozen=True, slots=True)
class FileRef:
    """A stored file as a ``stored_file`` row describes it, or as a backup holds it."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Contents:
    schema_version: str | None
    row_counts: dict[str, int]
    # The live stored_file rows (none for the registry); not part of what a manifest
    # promises about rows: the files it holds are listed there on their own.
    stored_files: tuple[FileRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    contents: Contents
    chunks: AsyncIterator[bytes]


def check_contents(expected: Contents, found: Contents) -> None:
    """Refuse a restored copy that is not what the manifest promised."""
    if found.schema_version != expected.schema_version:
        raise BackupMismatch(
            f"the restored copy is at schema revision {found.schema_version!r}, "
            f"the manifest says {expected.schema_version!r}"
        )
    if found.row_counts != expected.row_counts:
        tables = sorted(set(found.row_counts) | set(expected.row_counts))
        diff = [
            f"{t}: {found.row_counts.get(t, '-')} (manifest {expected.row_counts.get(t, '-')})"
            for t in tables
            if found.row_counts.get(t) != expected.row_counts.get(t)
        ]
        raise BackupMismatch("the restored copy's rows differ: " + "; ".join(diff))


class BackupEngine(abc.ABC):
    dialect: str

    @abc.abstractmethod
    def source_name(self, schema: str | None) -> str:
        """How a backup names what it copied: the tenant's schema, or the registry's."""

    @abc.abstractmethod
    def snapshot(self, schema: str | None, track: str) -> AbstractAsyncContextManager[Snapshot]:
        """A consistent snapshot of a tenant's schema (None: the registry) while writes
        continue: its contents, and the payload to stream while the context is open."""

    @abc.abstractmethod
    async def inspect(self, payload: Path, source: str, track: str) -> Contents:
        """Restore the payload in a scratch place (never the live one) and read it back."""

    @abc.abstractmethod
    async def restore(
        self, payload: Path, source: str, target: str, expected: Contents, *, replace: bool
    ) -> None:
        """Restore a tenant payload as schema ``target``: a new one, or (``replace``) in
        place of an existing one. The copy is checked against ``expected`` before it
        becomes ``target``; on any failure ``target`` is left as it was. The payload file
        may be consumed (moved into place)."""

    @abc.abstractmethod
    async def retire_jobs(self, schema: str, note: str) -> int:
        """Mark the restored outbox's unfinished jobs failed: they belong to the past
        (or another tenant) and must not run again by themselves."""


def engine_for(tenancy: Tenancy, scratch_dir: Path) -> BackupEngine:
    from tenants.backends.postgres import PostgresBackend
    from tenants.backends.sqlite import SqliteBackend

    backend = tenancy.backend
    if isinstance(backend, SqliteBackend):
        from workers.backups.sqlite_engine import SqliteEngine

        return SqliteEngine(backend, scratch_dir)
    if isinstance(backend, PostgresBackend):
        from workers.backups.postgres_engine import PostgresEngine

        return PostgresEngine(backend)
    raise TypeError(f"no backup engine for {type(backend).__name__}")
