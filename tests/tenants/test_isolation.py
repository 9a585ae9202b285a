"""Tenant isolation under concurrency, checked by an out-of-band audit, and proof that the
same scenario catches the leaks of two deliberately naive routing layers."""

from __future__ import annotations

from pathlib import Path

from tenants.config import TenancyConfig
from tenants.runtime import Tenancy
from tests.conftest import make_tenancy_config, running_tenancy
from tests.tenants.helpers import SLUGS, create_tenants
from tests.tenants.isolation import run_isolation_scenario
from tests.tenants.naive import naive_backend

TASKS = 240  # 80 per tenant, a quarter of them writing two rows (gathered children)
ROWS_PER_TENANT = 100


async def test_concurrent_tasks_only_ever_see_their_own_tenant(tenancy: Tenancy) -> None:
    tenants = await create_tenants()

    report = await run_isolation_scenario(tenancy, tenants, tasks=TASKS)

    assert report.findings == []
    assert report.rows_audited == dict.fromkeys(SLUGS, ROWS_PER_TENANT)


async def test_the_scenario_detects_a_naive_routing_layer(tenancy_config: TenancyConfig) -> None:
    async with running_tenancy(tenancy_config, backend=naive_backend(tenancy_config)) as naive:
        tenants = await create_tenants()

        report = await run_isolation_scenario(naive, tenants, tasks=TASKS)

    # Rows written for one tenant landed in another's table, and tasks saw foreign data.
    assert {"misplaced", "task"} <= report.kinds()
    misplaced = [f for f in report.findings if f.kind == "misplaced"]
    assert len(misplaced) >= 10


async def test_isolation_holds_with_fewer_cached_clients_than_active_tenants(
    dialect: str, tmp_path: Path
) -> None:
    config = make_tenancy_config(dialect, tmp_path / "var", max_open_tenants=1)
    async with running_tenancy(config) as tenancy:
        tenants = await create_tenants()

        report = await run_isolation_scenario(tenancy, tenants, tasks=TASKS)

    assert report.findings == []
    assert report.rows_audited == dict.fromkeys(SLUGS, ROWS_PER_TENANT)
