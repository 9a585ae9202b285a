"""Scale-out: one PostgreSQL database, one schema per tenant, one asyncpg pool per process.

The pool's idle ``search_path`` is a schema that does not exist, so a connection that
was not pinned reads nothing. Every acquire of a pooled connection pins the tenant's
schema (``SET search_path``); asyncpg's ``RESET ALL`` on release undoes it. Connections
therefore stay O(pool), not O(tenants): a pool per tenant ran out of connections at 97
tenants in the prototype.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionContextPooled
from tortoise.connection import get_connections

from alembic_like import PostgresTarget, Track
from alembic_like.targets import quote_ident
from tenants.backends.base import TENANT_ALIAS, TenantBackend
from tenants.backends.guard import PostgresGuardClient
from tenants.errors import TenantNotReady

NO_TENANT_SCHEMA = "saas_no_tenant"


class _PinnedConnection:
    __slots__ = ("client", "connection")

    def __init__(self, client: SchemaPinnedClient) -> None:
        self.client = client
        self.connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self.connection = await self.client.pin(await self.client._pool.acquire())
        return self.connection

    async def __aexit__(self, *exc: object) -> None:
        await self.client._pool.release(self.connection)


class _PinnedTransaction(TransactionContextPooled):
    async def __aenter__(self) -> TransactionWrapper:
        parent: SchemaPinnedClient = self.client._parent  # type: ignore[assignment]
        connection = await parent.pin(await parent._pool.acquire())
        self.client._connection = connection
        try:
            await self.client.begin()
        except BaseException:
            # __aexit__ does not run when entering fails: give the connection back here,
            # or a failed or cancelled BEGIN leaks it out of the pool for good.
            await parent._pool.release(connection)
            raise
        self.token = get_connections().set(self.connection_name, self.client)
        return self.client


class SchemaPinnedClient(AsyncpgDBClient):
    """A facade over the backend's shared pool that pins one schema on every acquire."""

    def __init__(self, pool: asyncpg.Pool, schema: str, connection_name: str) -> None:
        super().__init__(connection_name=connection_name)
        self._pool = pool
        self._pin_sql = f"SET search_path TO {quote_ident(schema)}"

    async def pin(self, connection: asyncpg.Connection) -> asyncpg.Connection:
        try:
            await connection.execute(self._pin_sql)
        except BaseException:
            await self._pool.release(connection)
            raise
        return connection

    async def create_connection(self, with_db: bool) -> None:
        return None  # the backend owns the pool

    async def close(self) -> None:
        return None  # the backend owns the pool

    def acquire_connection(self) -> _PinnedConnection:  # type: ignore[override]
        return _PinnedConnection(self)

    def _in_transaction(self) -> _PinnedTransaction:
        return _PinnedTransaction(TransactionWrapper(self), self._pool_init_lock)


class _Held:
    """The lease of a facade: nothing to take or give back. A plain object rather than an
    ``@asynccontextmanager`` generator, which cost ~2 us on every scope entry (see
    ``tenants.scope.TenantScope``)."""

    __slots__ = ("client",)

    def __init__(self, client: SchemaPinnedClient) -> None:
        self.client = client

    async def __aenter__(self) -> BaseDBAsyncClient:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        return None


class PostgresBackend(TenantBackend):
    dialect = "postgres"

    def __init__(
        self, dsn: str, registry_schema: str, min_size: int, max_size: int, max_clients: int
    ) -> None:
        self.dsn = dsn
        self.registry_schema = registry_schema
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self.max_clients = max_clients
        self._clients: OrderedDict[str, SchemaPinnedClient] = OrderedDict()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL backend is not started")
        return self._pool

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            server_settings={"search_path": NO_TENANT_SCHEMA},
        )
        async with self._pool.acquire() as conn:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.registry_schema)}")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._clients.clear()

    def client_class(self, role: str) -> type[BaseDBAsyncClient]:
        if role == "guard":
            return PostgresGuardClient
        backend = self

        class SharedClient(SchemaPinnedClient):
            def __init__(self, connection_name: str, **_: Any) -> None:
                super().__init__(backend.pool, backend.registry_schema, connection_name)

        return SharedClient

    def lease(self, schema_name: str) -> _Held:
        # A facade holds no connection, so dropping one from the bounded cache needs no
        # close and is safe even while a scope still uses it.
        client = self._clients.get(schema_name)
        if client is None:
            client = self._clients[schema_name] = SchemaPinnedClient(
                self.pool, schema_name, TENANT_ALIAS
            )
            if len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(schema_name)
        return _Held(client)

    async def forget(self, schema_name: str) -> None:
        self._clients.pop(schema_name, None)

    @asynccontextmanager
    async def registry_target(self) -> AsyncIterator[PostgresTarget]:
        async with self.pool.acquire() as conn:
            yield PostgresTarget(conn, self.registry_schema)

    @asynccontextmanager
    async def tenant_target(self, schema_name: str) -> AsyncIterator[PostgresTarget]:
        async with self.pool.acquire() as conn:
            if not await _schema_exists(conn, schema_name):
                raise TenantNotReady(f"tenant schema {schema_name} does not exist")
            yield PostgresTarget(conn, schema_name)

    async def create_schema(self, schema_name: str, track: Track) -> str | None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"CREATE SCHEMA {quote_ident(schema_name)}")
            result = await PostgresTarget(conn, schema_name).migrate(track, track.head)
        return result.after

    async def drop_schema(self, schema_name: str) -> None:
        await self.forget(schema_name)
        async with self.pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema_name)} CASCADE")

    async def schema_exists(self, schema_name: str) -> bool:
        async with self.pool.acquire() as conn:
            return await _schema_exists(conn, schema_name)

    async def raw_table(self, schema_name: str, table: str) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.dsn)
        try:
            qualified = f"{quote_ident(schema_name)}.{quote_ident(table)}"
            return [dict(row) for row in await conn.fetch(f"SELECT * FROM {qualified}")]
        finally:
            await conn.close()

    async def ping(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    def stats(self) -> dict[str, float]:
        pool = self._pool
        size = pool.get_size() if pool else 0
        idle = pool.get_idle_size() if pool else 0
        return {
            "open_tenant_clients": len(self._clients),
            "pool_size": size,
            "pool_in_use": size - idle,
            "pool_max": self.max_size,
        }


async def _schema_exists(conn: asyncpg.Connection, schema_name: str) -> bool:
    found = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema_name)
    return found is not None
