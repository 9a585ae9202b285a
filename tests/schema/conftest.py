"""A provisioned tenant for the domain and GraphQL tests (on each backend)."""

from __future__ import annotations

import pytest

from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy


@pytest.fixture
async def acme(tenancy: Tenancy) -> TenantRecord:
    """Tenant ``acme`` with its default settings; enter ``tenant_scope(acme)`` to use it."""
    return await create_tenant("acme", "Acme Ltd", actor="test")
