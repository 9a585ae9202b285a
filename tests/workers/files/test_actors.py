"""The daily file sweep through the real job path: the scheduler's platform job fans out
to every active tenant's outbox, an in-process worker sweeps each tenant once per day."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schema.audit.service import Acting, acting_as
from schema.core.principal import system_principal
from schema.files.service import SWEEP_ACTOR, store_upload
from tenants.models import JobStatus
from tenants.outbox import JobOutbox
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tenants.storage import file_store, new_key
from tests.schema.files.samples import PDF, upload
from tests.tenants.helpers import files_under
from tests.workers.harness import running_work, wait_for
from workers import scheduler
from workers.actors import ACTORS

ACTOR_MODULE = "workers.files.actors"
SLOT = "2026-07-01T03:40:00+00:00"


@pytest.fixture
def sweep_schedule(
    schedule_of: Callable[[str], dict[str, scheduler.Periodic]],
) -> dict[str, scheduler.Periodic]:
    return schedule_of(ACTOR_MODULE)


def test_the_sweep_is_daily_on_the_maintenance_queue(
    sweep_schedule: dict[str, scheduler.Periodic],
) -> None:
    [(name, entry)] = sweep_schedule.items()
    assert (name, entry.cron, entry.queue) == ("files.sweep.schedule", "40 3 * * *", "maintenance")
    assert entry.latest_slot(datetime(2026, 7, 1, 12, tzinfo=UTC)).isoformat() == SLOT
    sweep = ACTORS[SWEEP_ACTOR]
    assert (sweep.platform, sweep.queue, sweep.transactional) == (False, "maintenance", False)


async def leave_orphan_and_keep_one(tenant: TenantRecord) -> tuple[Path, Path]:
    """An old file no row refers to, and a stored one (paths relative to the root)."""
    orphan = new_key()
    async with tenant_scope(tenant):
        async with file_store().writer(orphan) as writer:
            await writer.write(PDF)
        with acting_as(Acting(system_principal("test"))):
            kept = await store_upload(
                upload(PDF, "a.pdf"),
                purpose="test",
                accepted_types=("application/pdf",),
                max_bytes=len(PDF),
            )
    return Path(tenant.id, orphan[:2], orphan), Path(tenant.id, kept.key[:2], kept.key)


async def sweeps_done(tenant: TenantRecord) -> bool:
    async with tenant_scope(tenant):
        jobs = await JobOutbox.filter(actor=SWEEP_ACTOR).values_list("status", flat=True)
    return list(jobs) == [JobStatus.DONE]


async def test_each_active_tenant_is_swept_once_a_day(
    tenancy: Tenancy,
    two_tenants: list[TenantRecord],
    sweep_schedule: dict[str, scheduler.Periodic],
) -> None:
    root = tenancy.config.files_root
    kept = []
    for tenant in two_tenants:
        orphan, stored = await leave_orphan_and_keep_one(tenant)
        two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
        for path in (orphan, stored):
            os.utime(root / path, (two_hours_ago, two_hours_ago))
        kept.append(stored)

    async def all_done() -> bool:
        return all([await sweeps_done(t) for t in two_tenants])

    async with running_work(tenancy, pools={"maintenance": 1}, actor_modules=(ACTOR_MODULE,)):
        now = datetime(2026, 7, 1, 12, tzinfo=UTC)
        assert await scheduler.tick(now) == [f"files.sweep.schedule@{SLOT}"]
        await wait_for(all_done, what="both tenants' sweeps")
        assert await scheduler.tick(now) == []  # the day's sweep is claimed once

    assert files_under(root) == sorted(kept)
    for tenant in two_tenants:
        async with tenant_scope(tenant):
            [job] = await JobOutbox.filter(actor=SWEEP_ACTOR)
        assert (job.dedupe_key, job.queue) == ("files.sweep@2026-07-01", "maintenance")
