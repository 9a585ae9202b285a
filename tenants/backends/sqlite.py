"""Embedded default: ``shared.db`` plus one SQLite file per tenant.

Open tenant files are kept in a bounded LRU; a client in use by a scope is never closed
under it (eviction skips leased clients). Files are opened with ``mode=rw`` so a missing
file is an error, never silently created, and every path is derived from the registry's
schema name, never from request input.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from tortoise.backends.base.client import (
    BaseDBAsyncClient,
    ConnectionWrapper,
    TransactionalDBClient,
    TransactionContext,
)
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

from alembic_like import SqliteTarget, Track
from tenants.backends.base import TENANT_ALIAS, TenantBackend
from tenants.backends.guard import SqliteGuardClient
from tenants.errors import TenantNotReady

PRAGMAS = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "busy_timeout": 5000,
    "foreign_keys": "ON",
}


class _ImmediateTransaction(SqliteTransactionWrapper):
    """Tortoise begins deferred transactions; a read-then-write transaction then fails with
    "database is locked" when another process writes. Take the write lock up front."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class _ReleasingConnectionWrapper(ConnectionWrapper[aiosqlite.Connection]):
    """Tortoise's wrapper takes the client's lock and then connects; when connecting fails
    (the tenant's file is missing) it keeps the lock and every later query on the client
    waits forever. Release the lock when entering fails."""

    async def __aenter__(self) -> aiosqlite.Connection:
        await self._lock.acquire()
        try:
            await self.ensure_connection()
        except BaseException:
            self._lock.release()
            raise
        return self.connection


class _ReleasingTransactionContext(SqliteTransactionContext):
    """The same for transactions, where ``BEGIN IMMEDIATE`` also fails after the lock is
    taken when another process holds the write lock beyond the busy timeout (or the
    task is cancelled while it waits)."""

    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            await self.connection.begin()
        except BaseException:
            self._trxlock.release()
            raise
        self.token = get_connections().set(self.connection_name, self.connection)
        return self.connection


class SqliteFileClient(SqliteClient):
    """A client for one existing database file."""

    def __init__(self, file_path: str, connection_name: str, **_: Any) -> None:
        super().__init__(file_path=file_path, connection_name=connection_name, **PRAGMAS)

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        try:
            self._connection = await aiosqlite.connect(
                f"file:{self.filename}?mode=rw", uri=True, isolation_level=None
            )
        except sqlite3.OperationalError as exc:
            raise TenantNotReady(f"database file is missing: {Path(self.filename).name}") from exc
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            await (await self._connection.execute(f"PRAGMA {pragma}={value}")).close()
        await self._post_connect()

    def acquire_connection(self) -> ConnectionWrapper[aiosqlite.Connection]:
        return _ReleasingConnectionWrapper(self._lock, self)

    def _in_transaction(self) -> TransactionContext:
        return _ReleasingTransactionContext(_ImmediateTransaction(self), self._lock)


class _Lease:
    __slots__ = ("client", "users")

    def __init__(self, client: SqliteFileClient) -> None:
        self.client = client
        self.users = 0


class _Use:
    """One scope's use of a tenant's client. A plain object rather than an
    ``@asynccontextmanager`` generator, which cost ~2 us on every scope entry (see
    ``tenants.scope.TenantScope``)."""

    __slots__ = ("backend", "lease", "schema_name")

    def __init__(self, backend: SqliteBackend, schema_name: str) -> None:
        self.backend = backend
        self.schema_name = schema_name
        self.lease: _Lease | None = None

    async def __aenter__(self) -> BaseDBAsyncClient:
        self.lease = self.backend._take(self.schema_name)
        return self.lease.client

    async def __aexit__(self, *exc: object) -> None:
        if self.lease is not None:
            lease, self.lease = self.lease, None
            await self.backend._give_back(self.schema_name, lease)


class SqliteBackend(TenantBackend):
    dialect = "sqlite"

    def __init__(self, data_dir: Path, max_open: int) -> None:
        self.data_dir = data_dir
        self.tenant_dir = data_dir / "tenants"
        self.template_dir = data_dir / "templates"
        self.shared_path = data_dir / "shared.db"
        self.max_open = max_open
        self._open: OrderedDict[str, _Lease] = OrderedDict()
        self._template_lock = asyncio.Lock()

    async def start(self) -> None:
        for folder in (self.data_dir, self.tenant_dir, self.template_dir):
            folder.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        leases, self._open = list(self._open.values()), OrderedDict()
        await asyncio.gather(*(lease.client.close() for lease in leases))

    def client_class(self, role: str) -> type[BaseDBAsyncClient]:
        if role == "guard":
            return SqliteGuardClient
        shared_path = str(self.shared_path)

        class SharedClient(SqliteFileClient):
            def __init__(self, connection_name: str, **_: Any) -> None:
                super().__init__(shared_path, connection_name)

        return SharedClient

    def path_of(self, schema_name: str) -> Path:
        return self.tenant_dir / f"{schema_name}.db"

    def lease(self, schema_name: str) -> _Use:
        return _Use(self, schema_name)

    def _take(self, schema_name: str) -> _Lease:
        lease = self._open.get(schema_name)
        if lease is None:
            path = self.path_of(schema_name)
            if not path.exists():
                raise TenantNotReady(f"tenant database {schema_name} does not exist")
            lease = self._open[schema_name] = _Lease(SqliteFileClient(str(path), TENANT_ALIAS))
        self._open.move_to_end(schema_name)
        lease.users += 1
        return lease

    async def _give_back(self, schema_name: str, lease: _Lease) -> None:
        lease.users -= 1
        if lease.users == 0 and self._open.get(schema_name) is not lease:
            await lease.client.close()  # forgotten while in use: closed now it is idle
        await self._evict()

    async def _evict(self) -> None:
        """Close idle clients beyond the bound, least recently used first. Leased clients
        are skipped, so the LRU may overshoot while more tenants than that are in use."""
        excess = len(self._open) - self.max_open
        if excess <= 0:
            return
        idle = [name for name, lease in self._open.items() if lease.users == 0][:excess]
        closing = [self._open.pop(name).client for name in idle]
        await asyncio.gather(*(client.close() for client in closing))

    async def forget(self, schema_name: str) -> None:
        """Drop a tenant's client (it was suspended or deleted). A client still leased is
        closed when its last scope ends, not under it: closing it here would roll back and
        break a request that is in the middle of a transaction."""
        lease = self._open.pop(schema_name, None)
        if lease is not None and lease.users == 0:
            await lease.client.close()

    @asynccontextmanager
    async def registry_target(self) -> AsyncIterator[SqliteTarget]:
        yield SqliteTarget(self.shared_path, create=True)

    @asynccontextmanager
    async def tenant_target(self, schema_name: str) -> AsyncIterator[SqliteTarget]:
        yield SqliteTarget(self.path_of(schema_name))

    async def _template(self, track: Track) -> Path:
        """A file migrated to head, copied for every new tenant (one copy ~ a few ms,
        against tens of ms to run every revision)."""
        path = self.template_dir / f"tenant-{track.head}.db"
        async with self._template_lock:
            if not path.exists():
                scratch = path.with_suffix(".building")
                scratch.unlink(missing_ok=True)
                await SqliteTarget(scratch, create=True).migrate(track, track.head)
                await asyncio.to_thread(_checkpoint, scratch)
                os.replace(scratch, path)
        return path

    async def create_schema(self, schema_name: str, track: Track) -> str | None:
        template = await self._template(track)
        path = self.path_of(schema_name)
        scratch = path.with_suffix(".creating")
        await asyncio.to_thread(shutil.copyfile, template, scratch)
        os.replace(scratch, path)
        return track.head

    async def drop_schema(self, schema_name: str) -> None:
        await self.forget(schema_name)
        path = self.path_of(schema_name)
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)

    async def schema_exists(self, schema_name: str) -> bool:
        return self.path_of(schema_name).exists()

    async def raw_table(self, schema_name: str, table: str) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            conn = sqlite3.connect(f"file:{self.path_of(schema_name)}?mode=ro", uri=True)
            try:
                conn.row_factory = sqlite3.Row
                quoted = '"' + table.replace('"', '""') + '"'
                return [dict(row) for row in conn.execute(f"SELECT * FROM {quoted}")]
            finally:
                conn.close()

        return await asyncio.to_thread(read)

    async def ping(self) -> None:
        def check() -> None:
            conn = sqlite3.connect(f"file:{self.shared_path}?mode=ro", uri=True)
            try:
                conn.execute("SELECT 1").fetchone()
            finally:
                conn.close()

        await asyncio.to_thread(check)

    def stats(self) -> dict[str, float]:
        return {
            "open_tenant_clients": len(self._open),
            "leased_tenant_clients": sum(1 for lease in self._open.values() if lease.users),
        }


def _checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
