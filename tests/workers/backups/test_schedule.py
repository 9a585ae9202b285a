"""Which tenants are due, and the fan-out that enqueues one backup job per tenant and
slot however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schema.backups.service import BACKUP_ACTOR
from tenants.outbox import JobOutbox
from tenants.provisioning import suspend_tenant
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.workers.backups.helpers import create
from workers.backups.config import BackupConfig
from workers.backups.schedule import due_tenants, enqueue_due, set_policy, slot_of
from workers.backups.service import create_tenant_backup

DAY = timedelta(hours=24)


def test_slots_are_an_interval_long_and_shifted_per_tenant() -> None:
    now = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    number, start = slot_of("tenant-a", DAY, now)

    assert start <= now < start + DAY
    assert slot_of("tenant-a", DAY, start + DAY) == (number + 1, start + DAY)
    assert slot_of("tenant-a", DAY, start - timedelta(seconds=1))[0] == number - 1
    starts = {slot_of(f"tenant-{n}", DAY, now)[1].time() for n in range(20)}
    assert len(starts) > 10  # tenants do not all start at midnight


async def due_slugs(at: datetime) -> set[str]:
    return {tenant.slug for tenant, _ in await due_tenants(at)}


async def test_a_tenant_is_due_until_it_has_a_backup_in_its_current_slot(
    tenancy: Tenancy, backups: BackupConfig
) -> None:
    acme = await create("acme")
    await create("globex")
    now = datetime.now(UTC)
    assert await due_slugs(now) == {"acme", "globex"}

    await create_tenant_backup(acme, requested_by="test")

    assert await due_slugs(now) == {"globex"}
    assert await due_slugs(now + DAY) == {"acme", "globex"}  # the next slot
    await suspend_tenant("globex", actor="test", reason="paused")
    assert await due_slugs(now + DAY) == {"acme"}  # only active tenants


async def test_a_tenant_policy_sets_its_interval(tenancy: Tenancy, backups: BackupConfig) -> None:
    acme = await create("acme")
    await create_tenant_backup(acme, requested_by="test")
    now = datetime.now(UTC)
    assert await due_slugs(now) == set()

    await set_policy(acme.id, actor="test", interval_hours=1)

    [(tenant, key)] = await due_tenants(now + timedelta(hours=2))
    assert (tenant.slug, key.split("#")[0]) == ("acme", f"{BACKUP_ACTOR}@3600s")


async def test_the_fan_out_enqueues_one_job_per_tenant_and_slot(
    tenancy: Tenancy, backups: BackupConfig
) -> None:
    tenants = [await create("acme"), await create("globex")]
    now = datetime.now(UTC)

    assert await enqueue_due(now) == 2
    assert await enqueue_due(now) == 0  # the same slot, asked again: nothing new

    for tenant in tenants:
        async with tenant_scope(tenant):
            [job] = await JobOutbox.all()
        args = job.decoded_args()
        assert (job.actor, job.queue, args["requested_by"]) == (
            BACKUP_ACTOR,
            "maintenance",
            "scheduler",
        )
        assert args["request_key"] == f"{tenant.id}:{job.dedupe_key}"
    assert await enqueue_due(now + DAY) == 2  # the next slot (no backup was made)
