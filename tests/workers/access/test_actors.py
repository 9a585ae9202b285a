"""The access review jobs run through the real job path: the scheduler's platform job
fans out to every active tenant's outbox, the relay sends, an in-process Dramatiq worker
opens each tenant's review once per period."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest

from schema.access.models import AccessReview, AccessReviewItem
from schema.access.reviews import REVIEW_ACTOR
from schema.access.service import assign
from schema.access.templates import OWNER
from schema.core.principal import system_principal
from tenants.models import JobStatus, PlatformJob
from tenants.outbox import JobOutbox, enqueue_platform
from tenants.provisioning import create_tenant, suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.access.helpers import make_user
from tests.workers.harness import running_work, wait_for
from workers import scheduler
from workers.actors import ACTORS

ACTOR_MODULE = "workers.access.actors"
SLOT = "2026-06-29T04:30:00+00:00"  # a Monday


@pytest.fixture
def access_schedule(monkeypatch: pytest.MonkeyPatch) -> dict[str, scheduler.Periodic]:
    """Only this module's periodic jobs in the process-wide table, for this test: other
    modules' (the backups') are not ticked, and other tests do not tick these."""
    monkeypatch.setattr(scheduler, "PERIODIC", {})
    actors = importlib.import_module(ACTOR_MODULE)
    actors.declare_schedule()
    return dict(scheduler.PERIODIC)


def test_the_schedule_is_weekly_on_the_maintenance_queue(
    access_schedule: dict[str, scheduler.Periodic],
) -> None:
    [(name, entry)] = access_schedule.items()
    assert (name, entry.cron, entry.queue) == (
        "access.review.schedule",
        "30 4 * * 1",
        "maintenance",
    )
    assert entry.latest_slot(datetime(2026, 7, 1, tzinfo=UTC)).isoformat() == SLOT
    assert ACTORS[name].platform
    review = ACTORS[REVIEW_ACTOR]
    assert (review.platform, review.queue, review.transactional) == (False, "maintenance", True)


async def owner_in(tenant: TenantRecord) -> None:
    async with tenant_scope(tenant):
        olga = await make_user("olga@example.com", last_login_at=datetime.now(UTC))
        await assign(system_principal("test"), olga.id, OWNER)


async def reviews_in(tenant: TenantRecord) -> list[tuple[str, str, int]]:
    async with tenant_scope(tenant):
        rows = await AccessReview.all().values_list("period", "opened_by", "id")
        return [(p, o, await AccessReviewItem.filter(review_id=i).count()) for p, o, i in rows]


async def review_jobs_done(tenant: TenantRecord) -> bool:
    async with tenant_scope(tenant):
        jobs = await JobOutbox.filter(actor=REVIEW_ACTOR).values_list("status", flat=True)
    return bool(jobs) and set(jobs) == {JobStatus.DONE}


async def test_the_weekly_job_opens_one_review_per_active_tenant(
    tenancy: Tenancy, access_schedule: dict[str, scheduler.Periodic]
) -> None:
    acme = await create_tenant("acme", "Acme", actor="test")
    globex = await create_tenant("globex", "Globex", actor="test")
    paused = await create_tenant("paused", "Paused", actor="test")
    for tenant in (acme, globex):
        await owner_in(tenant)
    await suspend_tenant("paused", actor="test", reason="unpaid")

    async def all_done() -> bool:
        return await review_jobs_done(acme) and await review_jobs_done(globex)

    async def platform_done() -> bool:
        return set(await PlatformJob.all().values_list("status", flat=True)) == {JobStatus.DONE}

    async with running_work(tenancy, pools={"maintenance": 1}, actor_modules=(ACTOR_MODULE,)):
        assert await scheduler.tick(datetime(2026, 7, 1, tzinfo=UTC)) == [
            f"access.review.schedule@{SLOT}"
        ]
        await wait_for(all_done, what="both tenants' reviews")
        # The same period asked for again (a second scheduler, a retried fan-out).
        await enqueue_platform("access.review.schedule", {"slot": SLOT})
        await wait_for(platform_done, what="the second fan-out")

    for tenant in (acme, globex):
        assert await reviews_in(tenant) == [("2026-06-29", "system:scheduler", 1)]
        async with tenant_scope(tenant):
            [job] = await JobOutbox.filter(actor=REVIEW_ACTOR)
        assert (job.dedupe_key, job.queue) == ("access.review@2026-06-29", "maintenance")
    # A suspended tenant is not served, nor reviewed (read raw: it has no scope).
    assert await tenancy.backend.raw_table(paused.schema_name, "access_review") == []
    assert await tenancy.backend.raw_table(paused.schema_name, "job_outbox") == []
