"""What every database backend provides to the tenancy layer."""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from tortoise.backends.base.client import BaseDBAsyncClient

from alembic_like import MigrationResult, Track

SHARED_ALIAS = "shared"
TENANT_ALIAS = "tenant"


class SchemaTarget(Protocol):
    async def migrate(self, track: Track, target: str | None) -> MigrationResult: ...
    async def version(self, track: Track) -> str | None: ...


class TenantBackend(abc.ABC):
    dialect: str

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def client_class(self, role: str) -> type[BaseDBAsyncClient]:
        """The Tortoise client class for the ``shared`` alias or the ``guard``."""

    def tortoise_connections(self) -> dict[str, Any]:
        def entry(role: str) -> dict[str, Any]:
            return {
                "engine": "tenants.backends.engine",
                "credentials": {"backend": self, "role": role},
            }

        return {SHARED_ALIAS: entry("shared"), TENANT_ALIAS: entry("guard")}

    @abc.abstractmethod
    def lease(self, schema_name: str) -> AbstractAsyncContextManager[BaseDBAsyncClient]:
        """A client routed to one tenant's schema, held for the duration of a scope."""

    @abc.abstractmethod
    def registry_target(self) -> AbstractAsyncContextManager[SchemaTarget]: ...

    @abc.abstractmethod
    def tenant_target(self, schema_name: str) -> AbstractAsyncContextManager[SchemaTarget]:
        """Where a tenant's migrations run (the schema or file must exist)."""

    @abc.abstractmethod
    async def create_schema(self, schema_name: str, track: Track) -> str | None:
        """Create the tenant's schema or file at the track's head; return its version."""

    @abc.abstractmethod
    async def drop_schema(self, schema_name: str) -> None: ...

    @abc.abstractmethod
    async def forget(self, schema_name: str) -> None:
        """Drop any client kept for the schema (its tenant was suspended or deleted)."""

    @abc.abstractmethod
    async def schema_exists(self, schema_name: str) -> bool: ...

    @abc.abstractmethod
    async def raw_table(self, schema_name: str, table: str) -> list[dict[str, Any]]:
        """Every row of one tenant table, read on a fresh connection with qualified SQL
        (or the file opened directly), bypassing the routing layer: for audits that must
        not trust what they audit."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise when the database cannot be reached."""

    @abc.abstractmethod
    def stats(self) -> dict[str, float]:
        """Gauges for /metrics: open tenant clients, pool use."""
