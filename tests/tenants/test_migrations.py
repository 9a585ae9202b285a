"""Migrating the fleet: exactly once under concurrent runners, failures isolated and
reported, reversible, a subset first, the registry copy of each version kept in step, and
tables that match the models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tortoise.context import require_context

from alembic_like.targets import VERSION_TABLE
from tenants.config import TenancyConfig
from tenants.errors import TenantNotFound
from tenants.migrations import FleetReport, behind_head_count, fleet_status, migrate_fleet
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.conftest import running_tenancy
from tests.tenants.helpers import (
    SLUGS,
    RawSql,
    create_tenants,
    schema_snapshot,
    table_columns,
    table_names,
)
from tests.tracks import (
    HEAD,
    PREVIOUS,
    PROBE,
    PROBE_TABLE,
    PROBED_TRACK,
    downgrade_steps,
    tables_at,
    upgrade_steps,
)


@pytest.fixture
async def fleet(tenancy: Tenancy) -> list[TenantRecord]:
    return await create_tenants()


@pytest.fixture
async def probed_tenancy(tenancy_config: TenancyConfig) -> AsyncIterator[Tenancy]:
    """A runtime whose tenant track is the real one with ``PROBE`` on top: a revision
    that creates a known table, for the tests that break or count one revision."""
    async with running_tenancy(tenancy_config, tenant_track=PROBED_TRACK) as runtime:
        yield runtime


@pytest.fixture
async def probed_fleet(probed_tenancy: Tenancy) -> list[TenantRecord]:
    return await create_tenants()


async def registry_versions() -> dict[str, str | None]:
    return {t.slug: t.version for t in await fleet_status()}


async def recorded_version(tenancy: Tenancy, tenant: TenantRecord) -> str | None:
    """The version recorded inside the tenant's own schema or file."""
    async with tenancy.backend.tenant_target(tenant.schema_name) as target:
        return await target.version(tenancy.tenant_track)


async def probe_runs(tenancy: Tenancy, schema: str) -> int:
    """How many times ``PROBE``'s upgrade ran since its table was last created."""
    [(count,)] = await RawSql(tenancy, schema).fetch(f"SELECT count(*) FROM {PROBE_TABLE}")
    return int(count)


async def test_two_runners_at_once_apply_each_revision_exactly_once(
    probed_tenancy: Tenancy, probed_fleet: list[TenantRecord]
) -> None:
    tenancy = probed_tenancy
    down = await migrate_fleet("base")
    assert down.migrated == {slug: downgrade_steps(PROBED_TRACK.revisions) for slug in SLUGS}

    first, second = await asyncio.gather(migrate_fleet(), migrate_fleet())

    assert first.ok
    assert second.ok
    for slug in SLUGS:
        applied = [report.migrated.get(slug) for report in (first, second)]
        assert sorted(applied, key=bool) == [None, upgrade_steps(PROBED_TRACK.revisions)], slug
        assert [slug in report.unchanged for report in (first, second)].count(True) == 1
    for tenant in probed_fleet:
        assert await probe_runs(tenancy, tenant.schema_name) == 1
        assert await table_names(tenancy, tenant.schema_name) == {
            VERSION_TABLE,
            *tables_at(PROBED_TRACK),
        }
        assert await recorded_version(tenancy, tenant) == PROBE.id
    assert await behind_head_count() == 0


async def test_a_failing_tenant_is_reported_and_does_not_stop_the_others(
    probed_tenancy: Tenancy, probed_fleet: list[TenantRecord]
) -> None:
    tenancy = probed_tenancy
    acme, globex, initech = probed_fleet
    # Two steps down: the upgrade back applies the real head, then PROBE.
    await migrate_fleet(PREVIOUS)
    two_steps = upgrade_steps(PROBED_TRACK.revisions[-2:])
    # An object in globex's schema that PROBE wants to create: its upgrade must fail.
    await RawSql(tenancy, globex.schema_name).execute(f"CREATE TABLE {PROBE_TABLE} (other INT)")

    report = await migrate_fleet()

    assert list(report.failed) == ["globex"]
    assert PROBE_TABLE in report.failed["globex"]
    assert report.migrated == {"acme": two_steps, "initech": two_steps}
    assert await registry_versions() == {"acme": PROBE.id, "globex": PREVIOUS, "initech": PROBE.id}
    assert await behind_head_count() == 1
    # globex's failed upgrade rolled back as a whole, the real head's step included: still
    # at PREVIOUS with its tables, the conflicting table kept.
    assert await recorded_version(tenancy, globex) == PREVIOUS
    assert await table_names(tenancy, globex.schema_name) == {
        VERSION_TABLE,
        PROBE_TABLE,
        *tables_at(PROBED_TRACK, PREVIOUS),
    }
    assert await table_columns(tenancy, globex.schema_name, PROBE_TABLE) == {"other"}
    assert [await recorded_version(tenancy, t) for t in (acme, initech)] == [PROBE.id] * 2

    await RawSql(tenancy, globex.schema_name).execute(f"DROP TABLE {PROBE_TABLE}")
    retry = await migrate_fleet()
    assert (retry.migrated, sorted(retry.unchanged)) == (
        {"globex": two_steps},
        ["acme", "initech"],
    )
    assert await behind_head_count() == 0


async def test_a_tenant_whose_storage_vanished_does_not_stop_the_others(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    await tenancy.backend.drop_schema(fleet[1].schema_name)

    report = await migrate_fleet(PREVIOUS)

    assert list(report.failed) == ["globex"]
    assert report.migrated == {"acme": [f"-{HEAD}"], "initech": [f"-{HEAD}"]}
    assert await registry_versions() == {"acme": PREVIOUS, "globex": HEAD, "initech": PREVIOUS}


async def test_downgrade_then_upgrade_returns_to_the_same_schema(
    probed_tenancy: Tenancy, probed_fleet: list[TenantRecord]
) -> None:
    tenancy = probed_tenancy
    schema = probed_fleet[0].schema_name
    at_head = await schema_snapshot(tenancy, schema)
    assert await table_names(tenancy, schema) == {VERSION_TABLE, *tables_at(PROBED_TRACK)}

    await migrate_fleet(HEAD)  # the real head: one step down, PROBE undone
    below_probe = await schema_snapshot(tenancy, schema)
    assert await table_names(tenancy, schema) == {VERSION_TABLE, *tables_at(PROBED_TRACK, HEAD)}
    await migrate_fleet("base")
    assert await table_names(tenancy, schema) == {VERSION_TABLE}
    await migrate_fleet("head")

    assert await schema_snapshot(tenancy, schema) == at_head
    dropped_by_downgrade = [row for row in at_head if row not in below_probe]
    assert len(dropped_by_downgrade) == 1
    assert PROBE_TABLE in dropped_by_downgrade[0]
    assert [row for row in below_probe if row not in at_head] == []


async def test_a_subset_of_tenants_migrates_first(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    await migrate_fleet(PREVIOUS)
    seen: list[tuple[int, int]] = []

    first = await migrate_fleet(
        slugs=["globex"], progress=lambda done, total: seen.append((done, total))
    )

    assert first == FleetReport(target=HEAD, migrated={"globex": [f"+{HEAD}"]})
    assert seen == [(1, 1)]
    assert await registry_versions() == {"acme": PREVIOUS, "globex": HEAD, "initech": PREVIOUS}
    rest = await migrate_fleet()
    assert rest.migrated == {"acme": [f"+{HEAD}"], "initech": [f"+{HEAD}"]}
    assert rest.unchanged == ["globex"]


async def test_an_unknown_slug_in_the_subset_migrates_nothing(
    tenancy: Tenancy, fleet: list[TenantRecord]
) -> None:
    with pytest.raises(TenantNotFound, match="nobody"):
        await migrate_fleet(PREVIOUS, slugs=["acme", "nobody"])
    assert await registry_versions() == dict.fromkeys(SLUGS, HEAD)


async def test_behind_head_count_is_one_registry_query_of_who_is_behind(
    tenancy: Tenancy,
) -> None:
    assert await behind_head_count() == 0
    await create_tenants()
    assert await behind_head_count() == 0

    await migrate_fleet(PREVIOUS, slugs=["acme", "initech"])
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
