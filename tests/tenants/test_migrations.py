"""Migrating the fleet: exactly once under concurrent runners, failures isolated and
reported, reversible, a subset first, the registry copy of each version kept in step, and
tables that match the models."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.context import require_context

from tenants.errors import TenantNotFound
from tenants.migrations import FleetReport, behind_head_count, fleet_status, migrate_fleet
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.tenants.helpers import (
    SLUGS,
    RawSql,
    create_tenants,
    index_count,
    schema_snapshot,
    table_columns,
    table_names,
)

INDEX = "idx_settings_change_changed_at"  # what t0002 creates
ALL_STEPS = ["+t0001", "+t0002"]
TENANT_TABLES = ("settings_change", "tenant_settings")


@pytest.fixture
async def fleet(tenancy: Tenancy) -> list[TenantRecord]:
    return await create_tenants()


async def registry_versions() -> dict[str, str | None]:
    return {t.slug: t.version for t in await fleet_status()}


async def recorded_version(tenancy: Tenancy, tenant: TenantRecord) -> str | None:
    """The version recorded inside the tenant's own schema or file."""
    async with tenancy.backend.tenant_target(tenant.schema_name) as target:
        return await target.version(tenancy.tenant_track)


async def test_two_runners_at_once_apply_each_revision_exactly_once(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    down = await migrate_fleet("base")
    assert down.migrated == {slug: ["-t0002", "-t0001"] for slug in SLUGS}

    first, second = await asyncio.gather(migrate_fleet(), migrate_fleet())

    assert first.ok
    assert second.ok
    for slug in SLUGS:
        applied = [report.migrated.get(slug) for report in (first, second)]
        assert sorted(applied, key=bool) == [None, ALL_STEPS], slug
        assert [slug in report.unchanged for report in (first, second)].count(True) == 1
    for tenant in fleet:
        assert await index_count(tenancy, tenant.schema_name, INDEX) == 1
        assert await table_names(tenancy, tenant.schema_name) >= set(TENANT_TABLES)
        assert await recorded_version(tenancy, tenant) == "t0002"
    assert await behind_head_count() == 0


async def test_a_failing_tenant_is_reported_and_does_not_stop_the_others(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    acme, globex, initech = fleet
    await migrate_fleet("t0001")
    # An object in globex's schema that t0002 wants to create: its upgrade must fail.
    conflict = f"CREATE INDEX {INDEX} ON settings_change (field)"
    await RawSql(tenancy, globex.schema_name).execute(conflict)

    report = await migrate_fleet()

    assert list(report.failed) == ["globex"]
    assert INDEX in report.failed["globex"]
    assert report.migrated == {"acme": ["+t0002"], "initech": ["+t0002"]}
    assert await registry_versions() == {"acme": "t0002", "globex": "t0001", "initech": "t0002"}
    assert await behind_head_count() == 1
    # globex's failed upgrade rolled back as a whole: still t0001, the conflicting index kept.
    assert await recorded_version(tenancy, globex) == "t0001"
    assert await index_count(tenancy, globex.schema_name, INDEX) == 1
    assert [await recorded_version(tenancy, t) for t in (acme, initech)] == ["t0002"] * 2

    await RawSql(tenancy, globex.schema_name).execute(f"DROP INDEX {INDEX}")
    retry = await migrate_fleet()
    assert (retry.migrated, sorted(retry.unchanged)) == (
        {"globex": ["+t0002"]},
        ["acme", "initech"],
    )
    assert await behind_head_count() == 0


async def test_a_tenant_whose_storage_vanished_does_not_stop_the_others(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    await tenancy.backend.drop_schema(fleet[1].schema_name)

    report = await migrate_fleet("t0001")

    assert list(report.failed) == ["globex"]
    assert report.migrated == {"acme": ["-t0002"], "initech": ["-t0002"]}
    assert await registry_versions() == {"acme": "t0001", "globex": "t0002", "initech": "t0001"}


async def test_downgrade_then_upgrade_returns_to_the_same_schema(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    schema = fleet[0].schema_name
    at_head = await schema_snapshot(tenancy, schema)
    assert await table_names(tenancy, schema) == {"alembic_like_version", *TENANT_TABLES}

    await migrate_fleet("t0001")
    at_t0001 = await schema_snapshot(tenancy, schema)
    await migrate_fleet("base")
    assert await table_names(tenancy, schema) == {"alembic_like_version"}
    await migrate_fleet("head")

    assert await schema_snapshot(tenancy, schema) == at_head
    dropped_by_downgrade = [row for row in at_head if row not in at_t0001]
    assert len(dropped_by_downgrade) == 1
    assert INDEX in dropped_by_downgrade[0]


async def test_a_subset_of_tenants_migrates_first(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    await migrate_fleet("t0001")
    seen: list[tuple[int, int]] = []

    first = await migrate_fleet(
        slugs=["globex"], progress=lambda done, total: seen.append((done, total))
    )

    assert first == FleetReport(target="t0002", migrated={"globex": ["+t0002"]})
    assert seen == [(1, 1)]
    assert await registry_versions() == {"acme": "t0001", "globex": "t0002", "initech": "t0001"}
    rest = await migrate_fleet()
    assert rest.migrated == {"acme": ["+t0002"], "initech": ["+t0002"]}
    assert rest.unchanged == ["globex"]


async def test_an_unknown_slug_in_the_subset_migrates_nothing(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    with pytest.raises(TenantNotFound, match="nobody"):
        await migrate_fleet("t0001", slugs=["acme", "nobody"])
    assert await registry_versions() == dict.fromkeys(SLUGS, "t0002")


async def test_behind_head_count_is_one_registry_query_of_who_is_behind(
    tenancy: Tenancy,
) -> None:
    assert await behind_head_count() == 0
    await create_tenants()
    assert await behind_head_count() == 0

    await migrate_fleet("t0001", slugs=["acme", "initech"])
    assert await behind_head_count() == 2
    await migrate_fleet("base", slugs=["acme"])
    assert await behind_head_count() == 2
    await migrate_fleet()
    assert await behind_head_count() == 0


async def test_every_model_matches_the_table_its_migrations_create(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    apps = require_context().apps
    assert apps is not None
    where = {"tenant": fleet[0].schema_name, "shared": None}
    mismatched = {}
    for app, schema in where.items():
        for model in apps[app].values():
            expected = set(model._meta.fields_db_projection.values())
            actual = await table_columns(tenancy, schema, model._meta.db_table)
            if expected != actual:
                mismatched[f"{app}.{model.__name__}"] = (sorted(expected), sorted(actual))

    assert mismatched == {}
    assert {m.__name__ for m in apps["tenant"].values()} >= {"TenantSettings", "SettingsChange"}
