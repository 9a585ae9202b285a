"""SQLite: one file per tenant, copied with the online backup API.

``Connection.backup()`` in one step copies the database inside one read transaction: a
consistent snapshot while other connections and processes keep writing (the incremental
variant restarts on every write and may never finish). The copy is a scratch file (no
journal, no fsync) switched to a rollback journal at the end, so that the payload is one
self-contained file.

A restore into a new tenant moves the (authenticated, checked) payload into place. One
over a suspended tenant copies it into the live file with the backup API: other
processes that still hold that file open then see the restored pages, not a replaced
inode.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic_like.targets import VERSION_TABLE, quote_ident
from tenants.backends.sqlite import SqliteBackend
from workers.backups.engines import (
    FILES_TABLE,
    LIVE_FILES,
    TENANT_TRACK,
    BackupEngine,
    Contents,
    FileRef,
    Snapshot,
    check_contents,
)
from workers.backups.errors import BackupCorrupt, BackupError, BackupRefused
from workers.backups.streams import read_file

REGISTRY_SOURCE = "shared"
_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"


class SqliteEngine(BackupEngine):
    dialect = "sqlite"

    def __init__(self, backend: SqliteBackend, scratch_dir: Path) -> None:
        self.backend = backend
        self.scratch_dir = scratch_dir

    def source_name(self, schema: str | None) -> str:
        return schema or REGISTRY_SOURCE

    def _path(self, schema: str | None) -> Path:
        return self.backend.shared_path if schema is None else self.backend.path_of(schema)

    @asynccontextmanager
    async def snapshot(self, schema: str | None, track: str) -> AsyncIterator[Snapshot]:
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch_dir) as scratch:
            copy = Path(scratch) / "snapshot.db"
            contents = await asyncio.to_thread(_snapshot, self._path(schema), copy, track)
            chunks = read_file(copy)
            try:
                yield Snapshot(contents, chunks)
            finally:
                await chunks.aclose()

    async def inspect(self, payload: Path, source: str, track: str) -> Contents:
        return await asyncio.to_thread(_inspect, payload, track, "integrity_check")

    async def restore(
        self, payload: Path, source: str, target: str, expected: Contents, *, replace: bool
    ) -> None:
        """The payload is authentic (the format checked it): a quick check and the row
        counts suffice here; verification runs the full integrity check."""
        found = await asyncio.to_thread(_inspect, payload, TENANT_TRACK, "quick_check")
        check_contents(expected, found)
        await asyncio.to_thread(_install, payload, self.backend.path_of(target), replace)

    async def retire_jobs(self, schema: str, note: str) -> int:
        return await asyncio.to_thread(_retire_jobs, self.backend.path_of(schema), note)


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode={mode}", uri=True, isolation_level=None, timeout=30)


def contents_of(conn: sqlite3.Connection, track: str) -> Contents:
    tables = sorted(name for (name,) in conn.execute(_TABLES))
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
        for table in tables
    }
    version = None
    if VERSION_TABLE in counts:
        row = conn.execute(
            f"SELECT revision FROM {VERSION_TABLE} WHERE track = ?", (track,)
        ).fetchone()
        version = row[0] if row else None
    files: tuple[FileRef, ...] = ()
    if FILES_TABLE in counts:
        query = LIVE_FILES.format(table=quote_ident(FILES_TABLE))
        files = tuple(FileRef(*row) for row in conn.execute(query))
    return Contents(version, counts, files)


def _snapshot(source: Path, copy: Path, track: str) -> Contents:
    if not source.exists():
        raise BackupError(f"database file {source.name} does not exist")
    src = _connect(source, "ro")
    try:
        dst = sqlite3.connect(copy, isolation_level=None)
        try:
            dst.execute("PRAGMA synchronous=OFF")  # a scratch copy: no need to reach the disk
            dst.execute("PRAGMA journal_mode=OFF")
            src.backup(dst)  # pages=-1: the whole database in one step, one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
            return contents_of(dst, track)
        finally:
            dst.close()
    finally:
        src.close()


def _inspect(payload: Path, track: str, check: str) -> Contents:
    conn = _connect(payload, "ro")
    try:
        try:
            problems = [row[0] for row in conn.execute(f"PRAGMA {check}")]
        except sqlite3.DatabaseError as exc:
            raise BackupCorrupt(f"the payload is not a sound SQLite database: {exc}") from None
        if problems != ["ok"]:
            raise BackupCorrupt("integrity check failed: " + "; ".join(problems[:5]))
        return contents_of(conn, track)
    finally:
        conn.close()


def _install(payload: Path, target: Path, replace: bool) -> None:
    """Put the payload in place of ``target``: copied into the existing file when
    replacing; else moved to a new file (copied when the scratch folder is on another
    file system), which appears under its name only once complete."""
    if target.exists() != replace:
        state = "does not exist" if replace else "already exists"
        raise BackupRefused(f"cannot restore: database file {target.name} {state}")
    if replace:
        _copy(payload, target, "rw")
        return
    scratch = target.with_name(target.name + ".restoring")
    try:
        os.replace(payload, scratch)
    except OSError:  # another file system
        scratch.unlink(missing_ok=True)
        _copy(payload, scratch, "rwc")
    _set_wal(scratch)
    os.replace(scratch, target)


def _copy(payload: Path, target: Path, mode: str) -> None:
    src, dst = _connect(payload, "ro"), _connect(target, mode)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    _set_wal(target)


def _set_wal(path: Path) -> None:
    conn = _connect(path, "rw")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _retire_jobs(path: Path, note: str) -> int:
    conn = _connect(path, "rw")
    try:
        if not conn.execute(_TABLES + " AND name = 'job_outbox'").fetchone():
            return 0
        return conn.execute(
            "UPDATE job_outbox SET status = 'failed', last_error = ? "
            "WHERE status IN ('pending', 'sent')",
            (note,),
        ).rowcount
    finally:
        conn.close()
