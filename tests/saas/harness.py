"""The real Starlette app, started through its lifespan and driven in-process with httpx.

PostgreSQL schemas an app made (the registry and every tenant's) are dropped when it
stops, as ``tests/conftest.py`` does for a bare tenancy runtime.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from saas.app import create_app
from saas.config import Settings, load_settings
from schema.settings.service import SettingsChanges, update_settings
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.conftest import POSTGRES_URL, drop_postgres_leftovers

GRAPHQL_RESPONSE = "application/graphql-response+json"
SETTINGS_QUERY = "query Settings { tenantSettings { name currency } }"


@dataclass(slots=True)
class RunningApp:
    app: Starlette
    client: httpx.AsyncClient
    settings: Settings

    @property
    def tenancy(self) -> Tenancy:
        return self.app.state.tenancy

    async def graphql(
        self,
        query: str,
        *,
        url: str = "/t/acme/graphql",
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        accept: str = GRAPHQL_RESPONSE,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST a GraphQL request; ``url`` may carry a host (``http://acme.localhost/graphql``)."""
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = dict(variables)
        if operation_name is not None:
            body["operationName"] = operation_name
        return await self.client.post(url, json=body, headers={"accept": accept, **(headers or {})})

    async def add_tenant(
        self,
        slug: str,
        name: str,
        *,
        currency: str = "USD",
        domains: tuple[str, ...] = (),
    ) -> TenantRecord:
        """A provisioned tenant whose settings carry ``name`` and ``currency``."""
        tenant = await create_tenant(slug, name, actor="test", domains=domains)
        if currency != "USD":
            async with tenant_scope(tenant):
                await update_settings(SettingsChanges(currency=currency), actor="test")
        return tenant


TEST_BACKUP_KEY = "test-key:" + "A" * 43 + "="  # 32 zero-ish bytes: tests only
TEST_SECRET_KEY = "test-secret-key-for-the-test-suite-only"


def app_environ(dialect: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """Tests that need the worker pools or the scheduler turn them on with overrides."""
    return {
        "SAAS_DATA_DIR": str(data_dir),
        "SAAS_DATABASE_URL": POSTGRES_URL if dialect == "postgres" else "",
        "SAAS_REGISTRY_SCHEMA": f"reg_{uuid.uuid4().hex[:12]}",
        "SAAS_BACKUP_KEYS": TEST_BACKUP_KEY,
        "SAAS_SECRET_KEY": TEST_SECRET_KEY,
        "SAAS_WORKER_POOLS": "",
        "SAAS_SCHEDULER": "false",
        **overrides,
    }


@asynccontextmanager
async def serve(dialect: str, data_dir: Path, **overrides: str) -> AsyncIterator[RunningApp]:
    """The app with its lifespan entered and a client on it; cleaned up afterwards."""
    settings = load_settings(app_environ(dialect, data_dir, **overrides))
    app = create_app(settings)
    schema_names: list[str] = []
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://localhost"
                ) as client:
                    yield RunningApp(app, client, settings)
            finally:
                schema_names = [t.schema_name for t in await app.state.tenancy.registry.all()]
    finally:
        if settings.database_url:
            await drop_postgres_leftovers(settings.tenancy(), schema_names)


def error_code(response: httpx.Response) -> str:
    """``extensions.code`` of the first GraphQL error of a response."""
    return response.json()["errors"][0]["extensions"]["code"]


AppStarter = Callable[..., AbstractAsyncContextManager[RunningApp]]
