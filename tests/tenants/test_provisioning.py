"""Tenant lifecycle: validated creation, checked transitions recorded as events, and a
deletion that waits for every process to see the suspension before removing the data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from tortoise.connection import get_connections
from tortoise.transactions import in_transaction

from schema.settings.models import SettingsChange, TenantSettings
from tenants.backends import TENANT_ALIAS
from tenants.errors import (
    InvalidTenantInput,
    TenantNotFound,
    TenantStateError,
    TenantSuspended,
)
from tenants.models import Tenant, TenantDomain, TenantEvent, TenantStatus
from tenants.provisioning import (
    PROPAGATION_MARGIN,
    create_tenant,
    delete_tenant,
    resume_tenant,
    suspend_tenant,
)
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.tenants.conftest import FAST_TTL
from tests.tenants.helpers import create_tenants


async def assert_nothing_created(tenancy: Tenancy) -> None:
    assert await Tenant.all().count() == 0
    assert await TenantDomain.all().count() == 0
    assert await TenantEvent.all().count() == 0
    if tenancy.config.dialect == "sqlite":
        assert list((tenancy.config.data_dir / "tenants").iterdir()) == []


async def events(slug: str) -> list[tuple[str, str, str | None]]:
    return (
        await TenantEvent.filter(slug=slug).order_by("id").values_list("action", "actor", "reason")
    )


async def test_create_makes_an_active_tenant_at_head_with_seeded_settings(
    tenancy: Tenancy,
) -> None:
    record = await create_tenant(
        "acme", "  Acme Ltd ", actor="alice", domains=("Shop.Acme.Test.", "acme.test")
    )

    assert record.status == TenantStatus.ACTIVE
    assert record.display_name == "Acme Ltd"
    assert record.domains == ("acme.test", "shop.acme.test")
    assert record.schema_name == f"t_{record.id}"
    assert record.schema_version == tenancy.tenant_track.head
    assert await tenancy.backend.schema_exists(record.schema_name)
    async with tenant_scope(record):
        assert (await TenantSettings.get(id=1)).name == "Acme Ltd"
    assert await events("acme") == [("create", "alice", None), ("activate", "alice", None)]


INVALID: list[tuple[str, str, Sequence[str]]] = [  # slug, display name, domains
    ("", "Acme", ()),
    ("a", "Acme", ()),
    ("Acme", "Acme", ()),
    ("1acme", "Acme", ()),
    ("-acme", "Acme", ()),
    ("acme-", "Acme", ()),
    ("ac--me", "Acme", ()),
    ("ac_me", "Acme", ()),
    ("../x", "Acme", ()),
    ("a/b", "Acme", ()),
    ("x" * 64, "Acme", ()),
    ("admin", "Acme", ()),
    ("www", "Acme", ()),
    ("acme", "", ()),
    ("acme", "   ", ()),
    ("acme", "x" * 201, ()),
    ("acme", "Acme", ("not a domain",)),
    ("acme", "Acme", ("localhost",)),
    ("acme", "Acme", ("-bad.test",)),
    ("acme", "Acme", ("a..test",)),
    ("acme", "Acme", ("exa_mple.test",)),
    ("acme", "Acme", ("ok.test", "../etc/passwd")),
    ("acme", "Acme", ("shop.acme.test", "SHOP.acme.test.")),  # the same domain twice
]


async def test_invalid_input_is_refused_and_nothing_is_created(tenancy: Tenancy) -> None:
    accepted = []
    for slug, name, domains in INVALID:
        try:
            await create_tenant(slug, name, actor="test", domains=tuple(domains))
        except InvalidTenantInput:
            continue
        accepted.append((slug, name, domains))

    assert accepted == []
    await assert_nothing_created(tenancy)


async def test_a_taken_slug_or_domain_is_refused(tenancy: Tenancy) -> None:
    await create_tenant("acme", "Acme Ltd", actor="test", domains=("shop.acme.test",))

    with pytest.raises(InvalidTenantInput, match="taken"):
        await create_tenant("acme", "Another Acme", actor="test")
    with pytest.raises(InvalidTenantInput, match="domain"):
        await create_tenant("globex", "Globex", actor="test", domains=("Shop.Acme.Test",))

    assert await Tenant.all().values_list("slug", "display_name") == [("acme", "Acme Ltd")]
    assert await TenantDomain.all().count() == 1


async def test_two_concurrent_creates_of_one_slug_make_one_tenant(tenancy: Tenancy) -> None:
    outcomes = await asyncio.gather(
        create_tenant("acme", "First", actor="a"),
        create_tenant("acme", "Second", actor="b"),
        return_exceptions=True,
    )

    created = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(created) == 1
    assert [type(o) for o in refused] == [InvalidTenantInput]
    assert await Tenant.all().count() == 1
    assert await tenancy.backend.schema_exists(created[0].schema_name)


async def test_the_lifecycle_is_checked_and_recorded(fast_tenancy: Tenancy) -> None:
    [acme] = await create_tenants(["acme"])

    with pytest.raises(TenantStateError):
        await resume_tenant("acme", actor="ops")  # not suspended
    with pytest.raises(TenantStateError):
        await delete_tenant("acme", actor="ops", reason="closing")  # still active
    for blank in ("", "   "):
        with pytest.raises(InvalidTenantInput, match="reason"):
            await suspend_tenant("acme", actor="ops", reason=blank)
    assert (await Tenant.get(slug="acme")).status == TenantStatus.ACTIVE
    assert await fast_tenancy.backend.schema_exists(acme.schema_name)

    suspended = await suspend_tenant("acme", actor="ops", reason=" unpaid ")
    assert (suspended.status, suspended.status_reason) == (TenantStatus.SUSPENDED, "unpaid")
    assert suspended.suspended_at is not None
    with pytest.raises(TenantStateError):
        await suspend_tenant("acme", actor="ops", reason="again")
    resumed = await resume_tenant("acme", actor="ops", reason="paid")
    assert (resumed.status, resumed.suspended_at) == (TenantStatus.ACTIVE, None)
    await suspend_tenant("acme", actor="bob", reason="closing account")
    await delete_tenant("acme", actor="bob", reason="customer asked")

    assert await events("acme") == [
        ("create", "test", None),
        ("activate", "test", None),
        ("suspend", "ops", "unpaid"),
        ("resume", "ops", "paid"),
        ("suspend", "bob", "closing account"),
        ("delete", "bob", "customer asked"),
        ("purge", "bob", "customer asked"),
    ]
    assert await TenantEvent.filter(tenant_id=acme.id).count() == 7


async def test_two_concurrent_suspensions_succeed_once(tenancy: Tenancy) -> None:
    await create_tenants(["acme"])

    outcomes = await asyncio.gather(
        suspend_tenant("acme", actor="a", reason="one"),
        suspend_tenant("acme", actor="b", reason="two"),
        return_exceptions=True,
    )

    assert sorted(type(o).__name__ for o in outcomes) == ["TenantRecord", "TenantStateError"]
    assert [action for action, _, _ in await events("acme")].count("suspend") == 1


async def test_delete_waits_for_the_ttl_then_removes_the_data_and_the_row(
    fast_tenancy: Tenancy,
) -> None:
    acme, globex = await create_tenants(["acme", "globex"])
    suspended_at = time.monotonic()
    await suspend_tenant("acme", actor="ops", reason="closing")

    await delete_tenant("acme", actor="ops", reason="closing")

    # Every process serves a cached suspension for at most the TTL: wait that out first.
    waited = time.monotonic() - suspended_at
    assert FAST_TTL + PROPAGATION_MARGIN - 0.01 <= waited < FAST_TTL + PROPAGATION_MARGIN + 1
    assert not await fast_tenancy.backend.schema_exists(acme.schema_name)
    assert await Tenant.get_or_none(id=acme.id) is None
    assert await TenantDomain.filter(tenant_id=acme.id).count() == 0
    with pytest.raises(TenantNotFound):
        await fast_tenancy.registry.by_slug("acme")
    with pytest.raises(TenantNotFound):
        await delete_tenant("acme", actor="ops", reason="twice")
    # The neighbour is untouched.
    assert await fast_tenancy.backend.schema_exists(globex.schema_name)
    async with tenant_scope(await fast_tenancy.registry.by_slug("globex")):
        assert (await TenantSettings.get(id=1)).name == "Globex Ltd"


async def test_delete_long_after_the_suspension_does_not_wait(fast_tenancy: Tenancy) -> None:
    await create_tenants(["acme"])
    await suspend_tenant("acme", actor="ops", reason="closing")
    await Tenant.filter(slug="acme").update(suspended_at=datetime(2000, 1, 1, tzinfo=UTC))

    started = time.monotonic()
    await delete_tenant("acme", actor="ops", reason="closing")

    assert time.monotonic() - started < FAST_TTL
    assert await Tenant.filter(slug="acme").count() == 0


async def test_a_suspension_lets_a_request_in_flight_finish(tenancy: Tenancy) -> None:
    [acme] = await create_tenants(["acme"])

    async with tenant_scope(acme):
        client = get_connections().get(TENANT_ALIAS)
        async with in_transaction(TENANT_ALIAS):
            await SettingsChange.create(field="f", new_value="before", actor="test")
            await suspend_tenant("acme", actor="ops", reason="abuse report")
            await SettingsChange.create(field="f", new_value="after", actor="test")
        await SettingsChange.create(field="f", new_value="outside", actor="test")

    rows = await tenancy.backend.raw_table(acme.schema_name, "settings_change")
    assert [row["new_value"] for row in rows] == ["before", "after", "outside"]
    # The forgotten client was closed once the request ended, and new scopes are refused.
    assert tenancy.backend.stats()["open_tenant_clients"] == 0
    assert client._connection is None
    with pytest.raises(TenantSuspended):
        async with tenant_scope(await tenancy.registry.by_slug("acme")):
            pytest.fail("a suspended tenant must not be served")
