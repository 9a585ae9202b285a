"""``tenant_scope()`` fails closed: no tenant, the wrong tenant, a suspended tenant or a
tenant behind head is refused, and a refusal never leaves a connection stuck."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import replace

import pytest
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError
from tortoise.transactions import in_transaction

from schema.settings.models import SettingsChange, TenantSettings
from tenants.backends import TENANT_ALIAS
from tenants.backends import sqlite as sqlite_backend
from tenants.backends.postgres import PostgresBackend
from tenants.errors import (
    NoTenantSelected,
    TenantNotReady,
    TenantScopeConflict,
    TenantSuspended,
)
from tenants.migrations import migrate_fleet
from tenants.models import TenantStatus
from tenants.provisioning import resume_tenant, suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import current_tenant, current_tenant_or_none, tenant_scope
from tests.tenants.helpers import create_tenants, sqlite_file
from tests.tracks import HEAD, PREVIOUS

TIMEOUT = 5.0  # a deadlocked connection shows up as a timeout, not a hung suite


async def settings_name(tenant: TenantRecord) -> str:
    """One scoped query, bounded in time."""

    async def read() -> str:
        async with tenant_scope(tenant):
            return (await TenantSettings.get(id=1)).name

    return await asyncio.wait_for(read(), TIMEOUT)


@pytest.fixture
async def acme(tenancy: Tenancy) -> TenantRecord:
    [record] = await create_tenants(["acme"])
    return record


async def test_a_query_outside_any_scope_is_refused(acme: TenantRecord) -> None:
    with pytest.raises(NoTenantSelected):
        await TenantSettings.get(id=1)
    with pytest.raises(NoTenantSelected):
        await SettingsChange.create(field="f", new_value="v", actor="test")
    with pytest.raises(NoTenantSelected):
        await get_connections().get(TENANT_ALIAS).execute_query("SELECT 1")
    assert current_tenant_or_none() is None
    with pytest.raises(NoTenantSelected):
        current_tenant()

    assert await settings_name(acme) == "Acme Ltd"


async def test_a_transaction_outside_any_scope_is_refused(acme: TenantRecord) -> None:
    with pytest.raises(NoTenantSelected):
        async with in_transaction(TENANT_ALIAS):
            pytest.fail("the transaction must not start")

    assert await settings_name(acme) == "Acme Ltd"


async def test_leaving_the_scope_unbinds_the_tenant_even_after_an_error(
    acme: TenantRecord,
) -> None:
    async def fail_inside() -> None:
        async with tenant_scope(acme):
            await TenantSettings.get(id=1)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await fail_inside()

    assert current_tenant_or_none() is None
    with pytest.raises(NoTenantSelected):
        await TenantSettings.get(id=1)
    assert await settings_name(acme) == "Acme Ltd"


async def test_entering_another_tenant_inside_a_scope_is_refused(tenancy: Tenancy) -> None:
    acme, globex = await create_tenants(["acme", "globex"])

    async with tenant_scope(acme):
        with pytest.raises(TenantScopeConflict):
            async with tenant_scope(globex):
                pytest.fail("the inner scope must not be entered")
        # Still acme, and its connection still answers.
        assert current_tenant().slug == "acme"
        name = await asyncio.wait_for(TenantSettings.get(id=1), TIMEOUT)
        assert name.name == "Acme Ltd"

    assert await settings_name(globex) == "Globex Ltd"


async def test_re_entering_the_same_tenant_keeps_the_scope_and_its_transaction(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme), in_transaction(TENANT_ALIAS):
        await SettingsChange.create(field="f", new_value="inner", actor="test")
        async with tenant_scope(acme) as again:
            assert again.id == acme.id
            # The same transaction is visible (SQLite would block on a second one).
            assert await SettingsChange.filter(new_value="inner").count() == 1
        assert current_tenant().slug == "acme"

    async with tenant_scope(acme):
        assert await SettingsChange.all().values_list("new_value", flat=True) == ["inner"]


async def test_a_task_created_before_the_scope_has_no_tenant(acme: TenantRecord) -> None:
    entered = asyncio.Event()

    async def query_once_entered() -> None:
        await entered.wait()
        assert current_tenant_or_none() is None
        await TenantSettings.get(id=1)

    early = asyncio.create_task(query_once_entered())
    async with tenant_scope(acme):
        entered.set()
        with pytest.raises(NoTenantSelected):
            await asyncio.wait_for(early, TIMEOUT)


async def test_a_task_created_inside_the_scope_has_the_tenant(acme: TenantRecord) -> None:
    async def read() -> tuple[str, str]:
        await asyncio.sleep(0)
        return current_tenant().slug, (await TenantSettings.get(id=1)).name

    async with tenant_scope(acme):
        child = asyncio.create_task(read())
        gathered = await asyncio.gather(read(), read())
        assert await child == ("acme", "Acme Ltd")
    assert gathered == [("acme", "Acme Ltd")] * 2


async def test_a_suspended_tenant_is_refused_until_resumed(acme: TenantRecord) -> None:
    suspended = await suspend_tenant("acme", actor="ops", reason="unpaid invoice")

    with pytest.raises(TenantSuspended):
        async with tenant_scope(suspended):
            pytest.fail("a suspended tenant must not be served")
    assert current_tenant_or_none() is None

    resumed = await resume_tenant("acme", actor="ops")
    assert await settings_name(resumed) == "Acme Ltd"


async def test_a_tenant_behind_head_is_refused_until_upgraded(tenancy: Tenancy) -> None:
    await create_tenants(["acme"])
    down = await migrate_fleet(PREVIOUS)
    assert down.ok
    assert down.migrated == {"acme": [f"-{HEAD}"]}
    behind = await tenancy.registry.by_slug("acme")
    assert behind.schema_version == PREVIOUS

    with pytest.raises(TenantNotReady, match=re.escape(PREVIOUS)):
        async with tenant_scope(behind):
            pytest.fail("a tenant behind head must not be served")

    up = await migrate_fleet()
    assert up.migrated == {"acme": [f"+{HEAD}"]}
    current = await tenancy.registry.by_slug("acme")
    assert current.schema_version == tenancy.tenant_track.head
    assert await settings_name(current) == "Acme Ltd"


async def test_a_tenant_still_provisioning_is_refused(acme: TenantRecord) -> None:
    provisioning = replace(acme, status=TenantStatus.PROVISIONING)
    with pytest.raises(TenantNotReady, match="provisioning"):
        async with tenant_scope(provisioning):
            pytest.fail("a tenant still provisioning must not be served")
    async with tenant_scope(provisioning, provisioning=True):
        assert (await TenantSettings.get(id=1)).name == "Acme Ltd"


SQLITE_ONLY = pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_a_vanished_tenant_file_is_refused_on_every_query_without_a_hang(
    tenancy: Tenancy,
) -> None:
    acme, globex = await create_tenants(["acme", "globex"])
    await tenancy.backend.forget(acme.schema_name)  # the next scope opens the file anew

    async with tenant_scope(acme):
        sqlite_file(tenancy.backend, acme.schema_name).unlink()
        for _ in range(2):
            with pytest.raises(TenantNotReady, match="missing"):
                await asyncio.wait_for(TenantSettings.get(id=1), TIMEOUT)
        with pytest.raises(TenantNotReady, match="missing"):
            await asyncio.wait_for(_write_in_transaction(), TIMEOUT)

    assert not sqlite_file(tenancy.backend, acme.schema_name).exists()
    assert await settings_name(globex) == "Globex Ltd"


@SQLITE_ONLY
async def test_a_transaction_refused_by_a_busy_database_does_not_wedge_the_tenant(
    tenancy: Tenancy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sqlite_backend.PRAGMAS, "busy_timeout", 50)
    [acme] = await create_tenants(["acme"])
    other_process = sqlite3.connect(
        sqlite_file(tenancy.backend, acme.schema_name), isolation_level=None
    )
    try:
        other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
        async with tenant_scope(acme):
            client = get_connections().get(TENANT_ALIAS)
            with pytest.raises(TransactionManagementError, match="locked"):
                await asyncio.wait_for(_write_in_transaction(), TIMEOUT)
            assert get_connections().get(TENANT_ALIAS) is client  # no half-open transaction
        other_process.execute("ROLLBACK")
    finally:
        other_process.close()

    assert await settings_name(acme) == "Acme Ltd"
    async with tenant_scope(acme):
        await asyncio.wait_for(_write_in_transaction(), TIMEOUT)
        assert await SettingsChange.all().count() == 1


async def _write_in_transaction() -> None:
    async with in_transaction(TENANT_ALIAS):
        await SettingsChange.create(field="f", new_value="v", actor="test")


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_cancelled_transaction_start_returns_its_postgres_connection(
    tenancy: Tenancy,
) -> None:
    """A BEGIN that fails or is cancelled must give the pooled connection back."""
    assert isinstance(tenancy.backend, PostgresBackend)  # pool accounting is PostgreSQL's
    [record] = await create_tenants(["poolcheck"])
    pool = tenancy.backend.pool

    async def cancelled_begin() -> None:
        raise asyncio.CancelledError

    async with tenant_scope(record):
        in_use_before = pool.get_size() - pool.get_idle_size()
        context = get_connections().get(TENANT_ALIAS)._in_transaction()
        context.client.begin = cancelled_begin
        with pytest.raises(asyncio.CancelledError):
            async with context:
                pass
        assert pool.get_size() - pool.get_idle_size() == in_use_before
        async with in_transaction(TENANT_ALIAS):
            assert (await TenantSettings.get(id=1)).id == 1
