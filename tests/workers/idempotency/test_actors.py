"""The idempotency keys' prune through the real job path: the daily platform job fans out
to every active tenant's outbox, and each tenant's job deletes its expired keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from schema.idempotency.models import IdempotencyKey
from schema.idempotency.service import claim, request_hash
from tenants.models import JobStatus
from tenants.outbox import JobOutbox
from tenants.provisioning import create_tenant, suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.workers.harness import running_work, wait_for
from workers import scheduler
from workers.actors import ACTORS

ACTOR_MODULE = "workers.idempotency.actors"
SLOT = "2026-07-01T04:40:00+00:00"


@pytest.fixture
def prune_schedule(
    schedule_of: Callable[[str], dict[str, scheduler.Periodic]],
) -> dict[str, scheduler.Periodic]:
    return schedule_of(ACTOR_MODULE)


def test_the_schedule_is_daily_on_the_maintenance_queue(
    prune_schedule: dict[str, scheduler.Periodic],
) -> None:
    [(name, entry)] = prune_schedule.items()
    assert (name, entry.cron, entry.queue) == (
        "idempotency.prune.schedule",
        "40 4 * * *",
        "maintenance",
    )
    assert entry.latest_slot(datetime(2026, 7, 1, 12, tzinfo=UTC)).isoformat() == SLOT
    prune = ACTORS["idempotency.prune"]
    assert (prune.platform, prune.queue, prune.transactional) == (False, "maintenance", True)


async def keys_aged(tenant: TenantRecord, ages: dict[str, timedelta]) -> None:
    """Keys of ``tenant`` claimed ``ages`` ago."""
    async with tenant_scope(tenant):
        for key, age in ages.items():
            held = await claim("user:1", "userCreate", key, request_hash({}))
            created = datetime.now(UTC) - age
            await IdempotencyKey.filter(id=held.id).update(created_at=created)


async def keys_of(tenant: TenantRecord) -> list[str]:
    async with tenant_scope(tenant):
        return list(await IdempotencyKey.all().order_by("key").values_list("key", flat=True))


async def pruned(tenant: TenantRecord) -> bool:
    async with tenant_scope(tenant):
        jobs = await JobOutbox.filter(actor="idempotency.prune").values_list("status", flat=True)
    return bool(jobs) and set(jobs) == {JobStatus.DONE}


async def test_the_daily_job_prunes_every_active_tenants_expired_keys(
    tenancy: Tenancy, prune_schedule: dict[str, scheduler.Periodic]
) -> None:
    acme = await create_tenant("acme", "Acme", actor="test")
    globex = await create_tenant("globex", "Globex", actor="test")
    paused = await create_tenant("paused", "Paused", actor="test")
    for tenant in (acme, globex, paused):
        await keys_aged(tenant, {"day-old": timedelta(hours=25), "fresh": timedelta(hours=1)})
    await suspend_tenant("paused", actor="test", reason="unpaid")

    async def both_done() -> bool:
        return await pruned(acme) and await pruned(globex)

    async with running_work(tenancy, pools={"maintenance": 1}, actor_modules=(ACTOR_MODULE,)):
        assert await scheduler.tick(datetime(2026, 7, 1, 12, tzinfo=UTC)) == [
            f"idempotency.prune.schedule@{SLOT}"
        ]
        await wait_for(both_done, what="both tenants' prunes")

    for tenant in (acme, globex):
        assert await keys_of(tenant) == ["fresh"]
        async with tenant_scope(tenant):
            [job] = await JobOutbox.filter(actor="idempotency.prune")
        assert job.dedupe_key == "idempotency.prune@2026-07-01"
    assert len(await tenancy.backend.raw_table(paused.schema_name, "idempotency_key")) == 2
