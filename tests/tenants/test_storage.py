"""The tenants' file store: paths from the scope and server-made keys only, writes all or
nothing, one tenant's files out of another's reach, removed with the tenant."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tenants.errors import NoTenantSelected
from tenants.provisioning import delete_tenant, suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tenants.storage import StoredBytesMissing, file_store, new_key
from tests.conftest import make_tenancy_config, running_tenancy
from tests.tenants.helpers import create_tenants, files_under


async def put(key: str, *chunks: bytes) -> None:
    async with file_store().writer(key) as writer:
        for chunk in chunks:
            await writer.write(chunk)


async def read(key: str) -> bytes:
    reader = await file_store().open(key)
    return b"".join([chunk async for chunk in reader.chunks()])


def age(path: Path, hours: float) -> None:
    then = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))


@pytest.fixture
async def tenants(tenancy: Tenancy) -> list[TenantRecord]:
    return await create_tenants(("acme", "globex"))


async def test_bytes_are_kept_per_tenant_under_the_key(
    tenancy: Tenancy, tenants: list[TenantRecord]
) -> None:
    acme, globex = tenants
    key = new_key()
    async with tenant_scope(acme):
        await put(key, b"%PDF-", b"1.7")
        assert await read(key) == b"%PDF-1.7"
    async with tenant_scope(globex):
        with pytest.raises(StoredBytesMissing):
            await file_store().open(key)
    assert files_under(tenancy.config.files_root) == [Path(acme.id, key[:2], key)]


async def test_a_failed_write_leaves_nothing(tenancy: Tenancy, tenants: list[TenantRecord]) -> None:
    key = new_key()
    async with tenant_scope(tenants[0]):
        with pytest.raises(OSError, match="disk full"):
            await put_then_fail(key)
        with pytest.raises(StoredBytesMissing):
            await file_store().open(key)
    assert files_under(tenancy.config.files_root) == []


async def put_then_fail(key: str) -> None:
    async with file_store().writer(key) as writer:
        await writer.write(b"half of it")
        raise OSError("disk full")


@pytest.mark.parametrize("key", ["../../shared.db", "A" * 32, "0" * 31, "", "0" * 32 + "/x"])
async def test_only_keys_the_server_makes_are_accepted(
    tenants: list[TenantRecord], key: str
) -> None:
    async with tenant_scope(tenants[0]):
        with pytest.raises(ValueError, match="not a valid file key"):
            await file_store().open(key)
        with pytest.raises(ValueError, match="not a valid file key"):
            await file_store().delete(key)


async def test_no_file_is_reached_outside_a_tenant_scope(tenants: list[TenantRecord]) -> None:
    with pytest.raises(NoTenantSelected):
        await file_store().open(new_key())


async def test_a_store_bound_to_a_tenant_needs_no_scope_and_ignores_the_current_one(
    tenancy: Tenancy, tenants: list[TenantRecord]
) -> None:
    """For operator work on tenants that are not served (backups, restores)."""
    acme, globex = tenants
    key = new_key()
    await suspend_tenant("acme", actor="test", reason="restore")
    async with file_store().of_tenant(acme.id).writer(key) as writer:
        await writer.write(b"logo")
    async with tenant_scope(globex):
        reader = await file_store().of_tenant(acme.id).open(key)
        assert b"".join([chunk async for chunk in reader.chunks()]) == b"logo"
        with pytest.raises(StoredBytesMissing):
            await file_store().open(key)
    assert files_under(tenancy.config.files_root) == [Path(acme.id, key[:2], key)]
    with pytest.raises(ValueError, match="not a valid tenant id"):
        file_store().of_tenant("../globex")


async def test_old_keys_and_partial_writes_for_the_sweeper(
    tenancy: Tenancy, tenants: list[TenantRecord]
) -> None:
    old, young = new_key(), new_key()
    folder = tenancy.config.files_root / tenants[0].id
    async with tenant_scope(tenants[0]):
        await put(old, b"a")
        await put(young, b"b")
        age(folder / old[:2] / old, hours=2)
        stale = folder / old[:2] / f".{old}.x1.part"
        fresh = folder / old[:2] / f".{old}.x2.part"
        stale.write_bytes(b"a")
        fresh.write_bytes(b"a")
        age(stale, hours=2)
        cutoff = datetime.now(UTC) - timedelta(hours=1)
        assert await file_store().keys_older_than(cutoff) == [old]
        assert await file_store().remove_partial_writes(cutoff) == 1
        await file_store().delete(old)
        await file_store().delete(old)  # idempotent
        assert await file_store().keys_older_than(datetime.now(UTC) + timedelta(hours=1)) == [young]
    assert not stale.exists()
    assert fresh.exists()


async def test_a_deleted_tenants_files_go_with_it(fast_tenancy: Tenancy) -> None:
    acme, globex = await create_tenants(("acme", "globex"))
    for tenant in (acme, globex):
        async with tenant_scope(tenant):
            await put(new_key(), b"x")
    await suspend_tenant("acme", actor="test", reason="closing")
    await delete_tenant("acme", actor="test", reason="closing")
    root = fast_tenancy.config.files_root
    assert [p.parts[0] for p in files_under(root)] == [globex.id]


async def test_files_may_live_outside_the_data_dir(dialect: str, tmp_path: Path) -> None:
    config = make_tenancy_config(dialect, tmp_path / "var", files_dir=tmp_path / "files")
    async with running_tenancy(config):
        [acme] = await create_tenants(("acme",))
        key = new_key()
        async with tenant_scope(acme):
            await put(key, b"x")
    assert files_under(tmp_path / "files") == [Path(acme.id, key[:2], key)]
    assert not (tmp_path / "var" / "files").exists()
