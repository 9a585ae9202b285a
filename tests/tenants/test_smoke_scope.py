import pytest

from schema.settings.models import TenantSettings
from tenants.errors import NoTenantSelected
from tenants.provisioning import create_tenant
from tenants.scope import tenant_scope


async def test_new_tenant_serves_its_own_settings(tenancy):
    acme = await create_tenant("acme", "Acme Ltd", actor="test")
    async with tenant_scope(acme):
        settings = await TenantSettings.get(id=1)
    assert settings.name == "Acme Ltd"
    with pytest.raises(NoTenantSelected):
        await TenantSettings.get(id=1)
