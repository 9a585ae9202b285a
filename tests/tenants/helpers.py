"""Helpers shared by the tenancy tests: tenants to work on, and raw SQL that bypasses the
routing layer (a fresh connection or the file opened directly), so a test can check or
break a schema without trusting the code under test."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from alembic_like.targets import quote_ident, quote_literal
from tenants.backends import TenantBackend
from tenants.backends.sqlite import SqliteBackend
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy

SLUGS = ("acme", "globex", "initech")
Row = tuple[Any, ...]


async def create_tenants(slugs: Sequence[str] = SLUGS) -> list[TenantRecord]:
    return [await create_tenant(slug, f"{slug.title()} Ltd", actor="test") for slug in slugs]


class RawSql:
    """Raw SQL on one tenant's schema or file, or on the registry when ``schema`` is None."""

    def __init__(self, tenancy: Tenancy, schema: str | None = None) -> None:
        self.config = tenancy.config
        self.backend = tenancy.backend
        self.schema = schema

    async def execute(self, *statements: str) -> None:
        await self._run(statements, fetch=False)

    async def fetch(self, query: str) -> list[Row]:
        return await self._run([query], fetch=True)

    async def _run(self, statements: Sequence[str], *, fetch: bool) -> list[Row]:
        if self.config.dialect == "sqlite":
            return await asyncio.to_thread(_sqlite_run, self._path(), statements, fetch)
        conn = await asyncpg.connect(self.config.database_url)
        try:
            schema = self.schema or self.config.registry_schema
            await conn.execute(f"SET search_path TO {quote_ident(schema)}")
            if fetch:
                return [tuple(row) for row in await conn.fetch(statements[0])]
            async with conn.transaction():
                for sql in statements:
                    await conn.execute(sql)
            return []
        finally:
            await conn.close()

    def _path(self) -> Path:
        return sqlite_file(self.backend, self.schema)


def sqlite_file(backend: TenantBackend, schema: str | None) -> Path:
    """The SQLite file of a tenant schema, or of the registry when ``schema`` is None."""
    assert isinstance(backend, SqliteBackend)
    return backend.shared_path if schema is None else backend.path_of(schema)


def _sqlite_run(path: Path, statements: Sequence[str], fetch: bool) -> list[Row]:
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, timeout=10)
    try:
        if fetch:
            return [tuple(row) for row in conn.execute(statements[0])]
        conn.execute("BEGIN IMMEDIATE")
        for sql in statements:
            conn.execute(sql)
        conn.execute("COMMIT")
        return []
    finally:
        conn.close()


async def change_registry_elsewhere(tenancy: Tenancy, slug: str, display_name: str) -> None:
    """What another process does: change a tenant row and bump the generation."""
    await RawSql(tenancy).execute(
        f"UPDATE tenant SET display_name = {quote_literal(display_name)} "
        f"WHERE slug = {quote_literal(slug)}",
        "UPDATE registry_state SET generation = generation + 1 WHERE id = 1",
    )


_SQLITE_SNAPSHOT = (
    "SELECT type, name, tbl_name, sql FROM sqlite_master "
    "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
)
_POSTGRES_SNAPSHOT = """
    SELECT 'column', table_name, column_name,
           data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
      FROM information_schema.columns WHERE table_schema = current_schema()
    UNION ALL
    SELECT 'index', tablename, indexname, indexdef
      FROM pg_indexes WHERE schemaname = current_schema()
    ORDER BY 1, 2, 3"""


async def schema_snapshot(tenancy: Tenancy, schema: str) -> list[Row]:
    """Every table, column and index of one tenant schema, as comparable rows."""
    sqlite = tenancy.config.dialect == "sqlite"
    return await RawSql(tenancy, schema).fetch(_SQLITE_SNAPSHOT if sqlite else _POSTGRES_SNAPSHOT)


async def table_columns(tenancy: Tenancy, schema: str | None, table: str) -> set[str]:
    """The columns the migrations created for one table (``schema`` None: the registry)."""
    if tenancy.config.dialect == "sqlite":
        query = f"SELECT name FROM pragma_table_info({quote_literal(table)})"
    else:
        query = (
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = current_schema() AND table_name = {quote_literal(table)}"
        )
    return {str(name) for (name,) in await RawSql(tenancy, schema).fetch(query)}


async def table_names(tenancy: Tenancy, schema: str) -> set[str]:
    if tenancy.config.dialect == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return {str(name) for (name,) in await RawSql(tenancy, schema).fetch(query)}


def files_under(root: Path) -> list[Path]:
    """Every file under ``root`` (temporary ones included), relative to it."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
