"""A migration target to work on, on each backend: a scratch SQLite file, or a scratch
PostgreSQL schema reached through connections of the test's own."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from alembic_like import PostgresTarget, SqliteTarget
from alembic_like.targets import quote_ident
from tests.conftest import POSTGRES_URL


class Workbench:
    """Makes targets on one scratch file or schema and inspects it out of band."""

    def __init__(self, dialect: str, tmp_path: Path) -> None:
        self.dialect = dialect
        self.path = tmp_path / "scratch.db"
        self.schema = f"mig_{uuid.uuid4().hex[:12]}"
        self._connections: list[asyncpg.Connection] = []

    async def start(self) -> None:
        if self.dialect == "postgres":
            await self.fetch(f"CREATE SCHEMA {quote_ident(self.schema)}")

    async def close(self) -> None:
        for conn in self._connections:
            await conn.close()
        if self.dialect == "postgres":
            await self.fetch(f"DROP SCHEMA IF EXISTS {quote_ident(self.schema)} CASCADE")

    async def target(self) -> SqliteTarget | PostgresTarget:
        """A new target; on PostgreSQL each on a connection of its own."""
        if self.dialect == "sqlite":
            return SqliteTarget(self.path, create=True)
        conn = await asyncpg.connect(POSTGRES_URL)
        self._connections.append(conn)
        return PostgresTarget(conn, self.schema)

    async def fetch(self, query: str) -> list[tuple[Any, ...]]:
        """One statement on a fresh connection, the scratch schema first on its path."""
        if self.dialect == "sqlite":
            return await asyncio.to_thread(_sqlite_fetch, self.path, query)
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(f"SET search_path TO {quote_ident(self.schema)}")
            return [tuple(row) for row in await conn.fetch(query)]
        finally:
            await conn.close()

    async def tables(self) -> set[str]:
        if self.dialect == "sqlite":
            query = (
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        else:
            query = f"SELECT tablename FROM pg_tables WHERE schemaname = '{self.schema}'"
        return {name for (name,) in await self.fetch(query)}


def _sqlite_fetch(path: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return [tuple(row) for row in conn.execute(query)]
    finally:
        conn.close()


@pytest.fixture
async def workbench(dialect: str, tmp_path: Path) -> AsyncIterator[Workbench]:
    bench = Workbench(dialect, tmp_path)
    await bench.start()
    try:
        yield bench
    finally:
        await bench.close()
