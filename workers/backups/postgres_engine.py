"""PostgreSQL: one schema per tenant, copied with ``pg_dump -n``.

Snapshot: a REPEATABLE READ transaction exports its snapshot, counts every table's rows
in it, and ``pg_dump --snapshot`` dumps exactly that state, so the manifest's counts are
the dump's even while writes continue. Custom format, uncompressed (zstd compresses).

Restoring: ``pg_restore`` cannot rename a schema, and rewriting the dump's text corrupts
data. When the schema name in the dump is free in the main database (its tenant was
deleted, or it is the suspended tenant being restored over, whose schema is moved aside
for the time of the restore), the payload is restored there directly, in one
transaction, and renamed with ``ALTER SCHEMA`` if need be. Otherwise (the source tenant
still lives) it is restored into a scratch database, renamed there, then dumped again
and restored into the main database in one transaction: three passes instead of one.
Either way, a renamed schema is checked for objects whose definition still names the old
schema (they would read the old tenant's data), and refused if any is found.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import asyncpg

from alembic_like.targets import VERSION_TABLE, quote_ident
from tenants.backends.postgres import PostgresBackend
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
from workers.backups.errors import BackupError, BackupRefused
from workers.backups.pgtools import Database, ScratchDatabases, pipe_tools, run_tool, stream_tool

SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DUMP_ARGS = ("--format=custom", "--compress=0")
RESTORE_ARGS = ("--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges")
STAGING_SUFFIX = "_restoring"
ASIDE_SUFFIX = "_before_restore"

_TABLES = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname"""

# Definitions in schema $1 that still name schema $2 after a rename. References the
# catalog keeps by OID (a column default's sequence, a view's tables) follow the rename;
# text does not: function bodies and settings, and anything else rendered as text.
_NAMING = """
    WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = $1), w AS (SELECT $2::text AS re)
    SELECT 'function ' || p.proname FROM pg_proc p, s, w WHERE p.pronamespace = s.oid
       AND (p.prosrc ~ w.re OR coalesce(array_to_string(p.proconfig, ' '), '') ~ w.re)
    UNION ALL SELECT 'view ' || c.relname FROM pg_class c, s, w
     WHERE c.relnamespace = s.oid AND c.relkind IN ('v', 'm')
       AND pg_get_viewdef(c.oid) ~ w.re
    UNION ALL SELECT 'default of ' || c.relname || '.' || a.attname
      FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
      JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum, s, w
     WHERE c.relnamespace = s.oid AND pg_get_expr(d.adbin, d.adrelid) ~ w.re
    UNION ALL SELECT 'constraint ' || co.conname FROM pg_constraint co, s, w
     WHERE co.connamespace = s.oid AND pg_get_constraintdef(co.oid) ~ w.re
    UNION ALL SELECT 'trigger ' || t.tgname FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid, s, w
     WHERE c.relnamespace = s.oid AND NOT t.tgisinternal AND pg_get_triggerdef(t.oid) ~ w.re
    UNION ALL SELECT 'index ' || c.relname FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid, s, w
     WHERE c.relnamespace = s.oid AND pg_get_indexdef(i.indexrelid) ~ w.re
    UNION ALL SELECT 'policy ' || pol.polname FROM pg_policy pol
      JOIN pg_class c ON c.oid = pol.polrelid, s, w
     WHERE c.relnamespace = s.oid
       AND coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
           || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '') ~ w.re
    ORDER BY 1"""


def schema_name(name: str) -> str:
    """Schema names reach ``pg_dump -n`` as patterns: only plain lowercase names pass,
    which match themselves and nothing else."""
    if not SCHEMA_RE.fullmatch(name):
        raise BackupError(f"unsupported schema name {name[:80]!r}")
    return name


async def contents_of(conn: asyncpg.Connection, schema: str, track: str) -> Contents:
    tables = [row[0] for row in await conn.fetch(_TABLES, schema)]
    counts = {}
    for table in tables:
        qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
        counts[table] = await conn.fetchval(f"SELECT count(*) FROM {qualified}")
    version = None
    if VERSION_TABLE in counts:
        version = await conn.fetchval(
            f"SELECT revision FROM {quote_ident(schema)}.{VERSION_TABLE} WHERE track = $1", track
        )
    files: tuple[FileRef, ...] = ()
    if FILES_TABLE in counts:
        query = LIVE_FILES.format(table=f"{quote_ident(schema)}.{quote_ident(FILES_TABLE)}")
        files = tuple(FileRef(*row) for row in await conn.fetch(query))
    return Contents(version, counts, files)


async def names_schema(conn: asyncpg.Connection, schema: str, other: str) -> list[str]:
    """Objects of ``schema`` whose definition names schema ``other``."""
    rows = await conn.fetch(_NAMING, schema, rf"\m{schema_name(other)}\M")
    return [row[0] for row in rows]


class PostgresEngine(BackupEngine):
    dialect = "postgres"

    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend
        self.main = Database(backend.dsn)
        self.scratch = ScratchDatabases(self.main)

    def source_name(self, schema: str | None) -> str:
        return schema_name(schema or self.backend.registry_schema)

    @asynccontextmanager
    async def snapshot(self, schema: str | None, track: str) -> AsyncIterator[Snapshot]:
        name = self.source_name(schema)
        conn = await self.main.connect()
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                exported = await conn.fetchval("SELECT pg_export_snapshot()")
                contents = await contents_of(conn, name, track)
                if not contents.row_counts:
                    raise BackupError(f"schema {name} does not exist or holds no table")
                dump = ("pg_dump", self.main, [*DUMP_ARGS, "--snapshot", exported, "-n", name])
                async with aclosing(stream_tool(dump)) as chunks:
                    yield Snapshot(contents, chunks)
        finally:
            await conn.close()

    async def inspect(self, payload: Path, source: str, track: str) -> Contents:
        async with self.scratch.lease() as scratch:
            await run_tool(("pg_restore", scratch, [*RESTORE_ARGS, str(payload)]))
            conn = await scratch.connect()
            try:
                return await contents_of(conn, schema_name(source), track)
            finally:
                await conn.close()

    async def restore(
        self, payload: Path, source: str, target: str, expected: Contents, *, replace: bool
    ) -> None:
        source, target = schema_name(source), schema_name(target)
        if await self.backend.schema_exists(target) != replace:
            state = "does not exist" if replace else "already exists"
            raise BackupRefused(f"cannot restore: schema {target} {state}")
        if replace and target == source:
            await self._restore_over_itself(payload, target, expected)
            return
        name = schema_name(target + STAGING_SUFFIX) if replace else target
        await self.backend.drop_schema(name)  # a staging schema a crashed restore left behind
        try:
            await self._restore_as(payload, source, name)
            await self._check(name, expected)
            if replace:
                await self._swap(name, target)
        except BaseException:
            await self.backend.drop_schema(name)
            raise

    async def _restore_as(self, payload: Path, source: str, name: str) -> None:
        async with self._claimed(source):
            if await self.backend.schema_exists(source):  # its tenant lives
                await self._restore_renamed(payload, source, name)
                return
            await run_tool(("pg_restore", self.main, [*RESTORE_ARGS, str(payload)]))
            if name == source:
                return
            try:
                async with self.backend.pool.acquire() as conn, conn.transaction():
                    await _rename(conn, source, name)
            except BaseException:
                await self.backend.drop_schema(source)
                raise

    async def _restore_over_itself(self, payload: Path, target: str, expected: Contents) -> None:
        """A tenant's own backup over it (suspended): its schema is moved aside, the
        payload restored under the freed name, and the old schema dropped once the copy
        checked out, or moved back."""
        aside = schema_name(target + ASIDE_SUFFIX)
        async with self._claimed(target):
            if await self.backend.schema_exists(aside):
                raise BackupRefused(f"schema {aside} exists: an earlier restore was interrupted")
            await self._rename(target, aside)
            try:
                await run_tool(("pg_restore", self.main, [*RESTORE_ARGS, str(payload)]))
                await self._check(target, expected)
            except BaseException:
                await self.backend.drop_schema(target)
                await self._rename(aside, target)
                raise
            await self.backend.drop_schema(aside)

    @asynccontextmanager
    async def _claimed(self, name: str) -> AsyncIterator[None]:
        """Serialise restores that use the same schema name in the main database."""
        async with self.backend.pool.acquire() as conn:
            key = f"saas-backups:{name}"
            await conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _restore_renamed(self, payload: Path, source: str, name: str) -> None:
        async with self.scratch.lease() as scratch:
            await run_tool(("pg_restore", scratch, [*RESTORE_ARGS, str(payload)]))
            conn = await scratch.connect()
            try:
                await _rename(conn, source, name)
            finally:
                await conn.close()
            await pipe_tools(
                ("pg_dump", scratch, [*DUMP_ARGS, "-n", name]),
                ("pg_restore", self.main, RESTORE_ARGS),
            )

    async def _check(self, name: str, expected: Contents) -> None:
        async with self.backend.pool.acquire() as conn:
            check_contents(expected, await contents_of(conn, name, TENANT_TRACK))

    async def _rename(self, old: str, new: str) -> None:
        async with self.backend.pool.acquire() as conn:
            await conn.execute(f"ALTER SCHEMA {quote_ident(old)} RENAME TO {quote_ident(new)}")

    async def _swap(self, staging: str, target: str) -> None:
        async with self.backend.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"DROP SCHEMA {quote_ident(target)} CASCADE")
            await conn.execute(
                f"ALTER SCHEMA {quote_ident(staging)} RENAME TO {quote_ident(target)}"
            )

    async def retire_jobs(self, schema: str, note: str) -> int:
        table = f"{quote_ident(schema_name(schema))}.job_outbox"
        async with self.backend.pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass($1)", table) is None:
                return 0
            result = await conn.execute(
                f"UPDATE {table} SET status = 'failed', last_error = $1 "
                "WHERE status IN ('pending', 'sent')",
                note,
            )
        return int(result.split()[-1])


async def _rename(conn: asyncpg.Connection, old: str, new: str) -> None:
    """Rename a restored schema, refusing it when an object still names the old one."""
    await conn.execute(f"ALTER SCHEMA {quote_ident(old)} RENAME TO {quote_ident(new)}")
    naming = await names_schema(conn, new, old)
    if naming:
        raise BackupRefused(
            f"refusing to restore under another name: {', '.join(naming)} still name "
            f"schema {old} and would read that tenant's data"
        )
