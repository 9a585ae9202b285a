"""Where migrations land: one SQLite file, or one PostgreSQL schema.

Each target applies a plan in one transaction under a lock and re-reads the version
after taking the lock, so two runners at once apply each revision exactly once: the
second one finds the work done and applies nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic_like.revision import Step, Track

VERSION_TABLE = "alembic_like_version"
_CREATE_VERSION_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
    " track VARCHAR(32) NOT NULL PRIMARY KEY,"
    " revision VARCHAR(64),"
    " applied_at VARCHAR(40) NOT NULL)"
)
_SELECT_VERSION = f"SELECT revision FROM {VERSION_TABLE} WHERE track = "
_UPSERT_VERSION = (
    f"INSERT INTO {VERSION_TABLE} (track, revision, applied_at) VALUES ({{0}}, {{1}}, {{2}}) "
    "ON CONFLICT (track) DO UPDATE SET revision = excluded.revision, "
    "applied_at = excluded.applied_at"
)


@dataclass(frozen=True, slots=True)
class MigrationResult:
    before: str | None
    after: str | None
    applied: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SqliteTarget:
    """One SQLite file. ``BEGIN IMMEDIATE`` takes the write lock before the version is read."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        self.create = create

    def _connect(self) -> sqlite3.Connection:
        mode = "rwc" if self.create else "rw"  # a missing tenant file is an error, never created
        conn = sqlite3.connect(
            f"file:{self.path}?mode={mode}", uri=True, isolation_level=None, timeout=30
        )
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def _version(self, conn: sqlite3.Connection, track: Track) -> str | None:
        conn.execute(_CREATE_VERSION_TABLE)
        row = conn.execute(_SELECT_VERSION + "?", (track.name,)).fetchone()
        return row[0] if row else None

    def _migrate(self, track: Track, target: str | None) -> MigrationResult:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = self._version(conn, track)
                steps = track.plan(before, target)
                for step in steps:
                    for sql in step.statements(self.dialect):
                        conn.execute(sql)
                if steps:
                    conn.execute(
                        _UPSERT_VERSION.format("?", "?", "?"), (track.name, target, _now())
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return MigrationResult(before, target, [_label(s) for s in steps])
        finally:
            conn.close()

    def _read(self, track: Track) -> str | None:
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name=?", (VERSION_TABLE,)
            ).fetchone()
            if row is None:
                return None
            found = conn.execute(_SELECT_VERSION + "?", (track.name,)).fetchone()
            return found[0] if found else None
        finally:
            conn.close()

    async def migrate(self, track: Track, target: str | None) -> MigrationResult:
        return await asyncio.to_thread(self._migrate, track, target)

    async def version(self, track: Track) -> str | None:
        return await asyncio.to_thread(self._read, track)


class PostgresTarget:
    """One schema, through an asyncpg connection the caller owns.

    ``pg_advisory_xact_lock`` serialises runners on the same schema; ``SET LOCAL`` pins
    the schema for this transaction only.
    """

    dialect = "postgres"

    def __init__(self, connection: Any, schema: str) -> None:
        self.connection = connection
        self.schema = schema

    async def migrate(self, track: Track, target: str | None) -> MigrationResult:
        conn = self.connection
        lock_key = quote_literal(f"alembic_like:{self.schema}")
        async with conn.transaction():
            # One round trip for three statements (a fleet run pays each round trip once
            # per tenant); they still run in order, so the version is read after the lock.
            await conn.execute(
                f"SELECT pg_advisory_xact_lock(hashtext({lock_key}));"
                f"SET LOCAL search_path TO {quote_ident(self.schema)};"
                f"{_CREATE_VERSION_TABLE}"
            )
            before = await conn.fetchval(_SELECT_VERSION + "$1", track.name)
            steps = track.plan(before, target)
            for step in steps:
                for sql in step.statements(self.dialect):
                    await conn.execute(sql)
            if steps:
                await conn.execute(
                    _UPSERT_VERSION.format("$1", "$2", "$3"), track.name, target, _now()
                )
        return MigrationResult(before, target, [_label(s) for s in steps])

    async def version(self, track: Track) -> str | None:
        table = f"{quote_ident(self.schema)}.{VERSION_TABLE}"
        exists = await self.connection.fetchval("SELECT to_regclass($1)", table)
        if exists is None:
            return None
        return await self.connection.fetchval(
            f"SELECT revision FROM {table} WHERE track = $1", track.name
        )


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _label(step: Step) -> str:
    sign = "+" if step.direction == "upgrade" else "-"
    return f"{sign}{step.revision.id}"
