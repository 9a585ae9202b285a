"""The engine behind the ``tenant`` alias outside ``tenant_scope()``: it refuses to connect.

It subclasses the real backend's client so that Tortoise builds the models' queries in
the right dialect, and it refuses in ``acquire_connection()`` and ``_in_transaction()``,
before Tortoise takes any lock: raising after the lock is taken would deadlock the next
query on the connection.
"""

from __future__ import annotations

from typing import Any, NoReturn

from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.sqlite.client import SqliteClient

from tenants.errors import NoTenantSelected


class _Refuses:
    def acquire_connection(self) -> NoReturn:
        raise NoTenantSelected()

    def _in_transaction(self) -> NoReturn:
        raise NoTenantSelected()

    async def create_connection(self, with_db: bool) -> NoReturn:
        raise NoTenantSelected()

    async def close(self) -> None:
        return None


class SqliteGuardClient(_Refuses, SqliteClient):
    def __init__(self, connection_name: str, **_: Any) -> None:
        super().__init__(file_path=":no-tenant:", connection_name=connection_name)


class PostgresGuardClient(_Refuses, AsyncpgDBClient):
    def __init__(self, connection_name: str, **_: Any) -> None:
        super().__init__(connection_name=connection_name)
