"""OAuth housekeeping through the real job path: the daily platform job fans out to
every active tenant's outbox, and each tenant's job turns its key ring and purges."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest

from schema.oauth.models import KeyState, SigningKey
from tenants.models import JobStatus, PlatformJob
from tenants.outbox import JobOutbox, enqueue_platform
from tenants.provisioning import create_tenant, suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.workers.harness import running_work, wait_for
from workers import scheduler
from workers.actors import ACTORS

ACTOR_MODULE = "workers.oauth.actors"
SLOT = "2026-07-01T04:10:00+00:00"


@pytest.fixture
def oauth_schedule(monkeypatch: pytest.MonkeyPatch) -> dict[str, scheduler.Periodic]:
    """Only this module's periodic jobs in the scheduler's table (other modules imported
    earlier in the session declared theirs), the real table back afterwards."""
    monkeypatch.setattr(scheduler, "PERIODIC", {})
    importlib.import_module(ACTOR_MODULE).declare_schedule()
    return dict(scheduler.PERIODIC)


def test_the_schedule_is_daily_on_the_maintenance_queue(
    oauth_schedule: dict[str, scheduler.Periodic],
) -> None:
    [(name, entry)] = oauth_schedule.items()
    assert (name, entry.cron, entry.queue) == (
        "oauth.maintain.schedule",
        "10 4 * * *",
        "maintenance",
    )
    assert entry.latest_slot(datetime(2026, 7, 1, 12, tzinfo=UTC)).isoformat() == SLOT
    maintain = ACTORS["oauth.maintain"]
    assert (maintain.platform, maintain.queue, maintain.transactional) == (
        False,
        "maintenance",
        False,
    )


async def states(tenant: TenantRecord) -> list[KeyState]:
    async with tenant_scope(tenant):
        return [
            KeyState(s)
            for s in await SigningKey.all().order_by("id").values_list("state", flat=True)
        ]


async def maintained(tenant: TenantRecord) -> bool:
    async with tenant_scope(tenant):
        jobs = await JobOutbox.filter(actor="oauth.maintain").values_list("status", flat=True)
    return bool(jobs) and set(jobs) == {JobStatus.DONE}


async def test_the_daily_job_turns_every_active_tenants_keys_once(
    tenancy: Tenancy, oauth_schedule: dict[str, scheduler.Periodic]
) -> None:
    acme = await create_tenant("acme", "Acme", actor="test")
    globex = await create_tenant("globex", "Globex", actor="test")
    paused = await create_tenant("paused", "Paused", actor="test")
    await suspend_tenant("paused", actor="test", reason="unpaid")

    async def platform_done() -> bool:
        return set(await PlatformJob.all().values_list("status", flat=True)) == {JobStatus.DONE}

    async def both_done() -> bool:
        return await maintained(acme) and await maintained(globex)

    async with running_work(tenancy, pools={"maintenance": 1}, actor_modules=(ACTOR_MODULE,)):
        assert await scheduler.tick(datetime(2026, 7, 1, 12, tzinfo=UTC)) == [
            f"oauth.maintain.schedule@{SLOT}"
        ]
        await wait_for(both_done, what="both tenants' housekeeping")
        await enqueue_platform("oauth.maintain.schedule", {"slot": SLOT})  # asked twice
        await wait_for(platform_done, what="the second fan-out")

    for tenant in (acme, globex):
        assert await states(tenant) == [KeyState.CURRENT, KeyState.NEXT]
        async with tenant_scope(tenant):
            [job] = await JobOutbox.filter(actor="oauth.maintain")
        assert job.dedupe_key == "oauth.maintain@2026-07-01"
    assert await tenancy.backend.raw_table(paused.schema_name, "job_outbox") == []
