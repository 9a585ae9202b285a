"""The registry's per-process cache: this process's changes are seen at once, another
process's changes (a row change plus a generation bump) once the TTL has passed."""

from __future__ import annotations

import asyncio

import pytest

from tenants.errors import TenantNotFound
from tenants.models import TenantStatus
from tenants.provisioning import create_tenant, resume_tenant, suspend_tenant
from tenants.runtime import Tenancy
from tests.tenants.conftest import FAST_TTL
from tests.tenants.helpers import RawSql, change_registry_elsewhere, create_tenants

DOMAIN = "shop.acme.test"


async def test_lookups_return_the_registry_row(tenancy: Tenancy) -> None:
    created = await create_tenant("acme", "Acme Ltd", actor="test", domains=(DOMAIN,))

    by_slug = await tenancy.registry.by_slug("acme")
    assert by_slug == created
    assert by_slug.status == TenantStatus.ACTIVE
    assert by_slug.domains == (DOMAIN,)
    assert by_slug.schema_version == tenancy.tenant_track.head
    assert await tenancy.registry.by_domain(DOMAIN) == created
    assert await tenancy.registry.by_id(created.id) == created
    with pytest.raises(TenantNotFound):
        await tenancy.registry.by_id("nope")


async def test_all_lists_every_tenant_with_its_domains(tenancy: Tenancy) -> None:
    await create_tenant("globex", "Globex Ltd", actor="test", domains=("b.globex.test", "a.test"))
    await create_tenants(["acme"])

    listed = await tenancy.registry.all()

    assert [(t.slug, t.domains) for t in listed] == [
        ("acme", ()),
        ("globex", ("a.test", "b.globex.test")),
    ]


async def test_a_change_in_this_process_is_seen_at_once(fast_tenancy: Tenancy) -> None:
    registry = fast_tenancy.registry
    await create_tenant("acme", "Acme Ltd", actor="test", domains=(DOMAIN,))
    assert (await registry.by_slug("acme")).status == TenantStatus.ACTIVE
    assert (await registry.by_domain(DOMAIN)).status == TenantStatus.ACTIVE

    await suspend_tenant("acme", actor="ops", reason="abuse report")

    assert (await registry.by_slug("acme")).status == TenantStatus.SUSPENDED
    assert (await registry.by_domain(DOMAIN)).status == TenantStatus.SUSPENDED
    await resume_tenant("acme", actor="ops")
    assert (await registry.by_slug("acme")).status == TenantStatus.ACTIVE


async def test_another_process_change_is_seen_after_the_ttl_and_not_before(
    fast_tenancy: Tenancy,
) -> None:
    registry = fast_tenancy.registry
    acme = await create_tenant("acme", "Acme Ltd", actor="test", domains=(DOMAIN,))
    assert (await registry.by_slug("acme")).display_name == "Acme Ltd"
    assert (await registry.by_domain(DOMAIN)).display_name == "Acme Ltd"
    assert (await registry.by_id(acme.id)).display_name == "Acme Ltd"

    await change_registry_elsewhere(fast_tenancy, "acme", "Acme Renamed")

    assert (await registry.by_slug("acme")).display_name == "Acme Ltd"
    assert (await registry.by_domain(DOMAIN)).display_name == "Acme Ltd"
    assert (await registry.by_id(acme.id)).display_name == "Acme Ltd"
    await asyncio.sleep(FAST_TTL + 0.05)
    assert (await registry.by_slug("acme")).display_name == "Acme Renamed"
    assert (await registry.by_domain(DOMAIN)).display_name == "Acme Renamed"
    assert (await registry.by_id(acme.id)).display_name == "Acme Renamed"


async def test_a_tenant_deleted_elsewhere_is_not_found_after_the_ttl(
    fast_tenancy: Tenancy,
) -> None:
    registry = fast_tenancy.registry
    [acme] = await create_tenants(["acme"])
    assert (await registry.by_slug("acme")).slug == "acme"

    await RawSql(fast_tenancy).execute(
        "DELETE FROM tenant WHERE slug = 'acme'",
        "UPDATE registry_state SET generation = generation + 1 WHERE id = 1",
    )

    assert (await registry.by_slug("acme")).slug == "acme"  # cached until the TTL passes
    await asyncio.sleep(FAST_TTL + 0.05)
    with pytest.raises(TenantNotFound):
        await registry.by_slug("acme")
    # Its row is gone, so the fixture's clean-up cannot find its schema: drop it here.
    await fast_tenancy.backend.drop_schema(acme.schema_name)
