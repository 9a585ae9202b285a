"""Deliberately naive tenant routing, for tests only: the isolation suite must catch both.

(a) PostgreSQL, "search_path set once per request on a shared pool": the lease pins one
    pooled connection, releases it, and hands out a client that takes any pooled
    connection without pinning; the pool does not reset a connection on release, so
    whichever tenant set a connection's search_path last owns it for everyone.
(b) SQLite, "the current tenant in a process-global variable": the lease points a
    module-level variable at the tenant's client, and the client it hands out delegates
    to whatever that variable points at when a query runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient, ConnectionWrapper, TransactionContext
from tortoise.backends.sqlite.client import SqliteClient

from alembic_like.targets import quote_ident
from tenants.backends import TENANT_ALIAS
from tenants.backends.postgres import NO_TENANT_SCHEMA, PostgresBackend, SchemaPinnedClient
from tenants.backends.sqlite import SqliteBackend
from tenants.config import TenancyConfig


async def _keep_session_state(connection: asyncpg.Connection) -> None:
    """Replaces asyncpg's ``RESET ALL`` on release: settings survive into the next use."""


class UnpinnedClient(SchemaPinnedClient):
    async def pin(self, connection: asyncpg.Connection) -> asyncpg.Connection:
        return connection  # whatever search_path the connection was left with


class SearchPathOncePostgresBackend(PostgresBackend):
    def __init__(self, config: TenancyConfig) -> None:
        assert config.database_url
        super().__init__(
            config.database_url,
            config.registry_schema,
            config.pool_min_size,
            config.pool_max_size,
            config.max_open_tenants,
        )

    async def start(self) -> None:
        await super().start()
        await self.pool.close()
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            server_settings={"search_path": NO_TENANT_SCHEMA},
            reset=_keep_session_state,
        )

    @asynccontextmanager
    async def lease(self, schema_name: str) -> AsyncIterator[BaseDBAsyncClient]:
        async with self.pool.acquire() as connection:
            await connection.execute(f"SET search_path TO {quote_ident(schema_name)}")
        yield UnpinnedClient(self.pool, schema_name, TENANT_ALIAS)


_current: SqliteClient | None = None  # the naive "current tenant" of the process


def _now_current() -> SqliteClient:
    assert _current is not None, "no tenant was ever selected"
    return _current


class GlobalTenantClient(SqliteClient):
    """Runs every query on whatever tenant the process-global variable points at now."""

    def __init__(self) -> None:
        super().__init__(file_path=":global:", connection_name=TENANT_ALIAS)

    def acquire_connection(self) -> ConnectionWrapper[Any]:
        return _now_current().acquire_connection()

    def _in_transaction(self) -> TransactionContext:
        return _now_current()._in_transaction()


class GlobalVariableSqliteBackend(SqliteBackend):
    def __init__(self, config: TenancyConfig) -> None:
        super().__init__(config.data_dir, config.max_open_tenants)

    @asynccontextmanager
    async def lease(self, schema_name: str) -> AsyncIterator[BaseDBAsyncClient]:
        global _current
        async with super().lease(schema_name) as client:
            assert isinstance(client, SqliteClient)
            _current = client
            yield GlobalTenantClient()


def naive_backend(config: TenancyConfig) -> PostgresBackend | SqliteBackend:
    if config.dialect == "postgres":
        return SearchPathOncePostgresBackend(config)
    return GlobalVariableSqliteBackend(config)
