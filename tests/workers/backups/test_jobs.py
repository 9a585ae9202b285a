"""The backup jobs in a real in-process Dramatiq worker, fed by the relay from the
outboxes: a tenant backup runs once even when its job is delivered again, and the
scheduled chain (fan-out, tenant backup, verification) runs end to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from schema.backups.service import request_backup
from tenants.models import Backup, JobStatus, PlatformJob
from tenants.outbox import JobOutbox, enqueue_platform
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.workers.backups.conftest import make_runtime
from workers import scheduler
from workers.actors import ACTORS
from workers.background import BackgroundWork, WorkerConfig
from workers.backups.config import BackupConfig
from workers.relay import RelayConfig

ACTOR_MODULE = "workers.backups.actors"


@pytest.fixture
def periodic_backups(
    schedule_of: Callable[[str], dict[str, scheduler.Periodic]],
) -> dict[str, scheduler.Periodic]:
    return schedule_of(ACTOR_MODULE)


@asynccontextmanager
async def running_worker(tenancy: Tenancy) -> AsyncIterator[None]:
    config = WorkerConfig(
        broker_url=None,
        pools={"maintenance": 1},
        relay=RelayConfig(poll_interval=0.05, sweep_interval=0.2),
        actor_modules=(ACTOR_MODULE,),
        worker_timeout_ms=100,  # idle threads look for work often: the pool stops quickly
    )
    work = BackgroundWork(config, lambda: make_runtime(tenancy.config))
    await asyncio.to_thread(work.start_workers)
    relay = work.relay(tenancy)
    task = asyncio.create_task(relay.run(redeliver_all_sent=True))
    try:
        yield
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await asyncio.to_thread(work.stop_workers)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 20
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def job_done(tenant: TenantRecord, job_id: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with tenant_scope(tenant):
            done = await JobOutbox.exists(id=job_id, status=JobStatus.DONE)
        return done

    return check


async def test_a_backup_job_makes_one_backup_even_when_delivered_again(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig, periodic_backups: dict
) -> None:
    async with running_worker(tenancy):
        async with tenant_scope(acme):
            job = await request_backup(requested_by="test")
        assert job is not None
        await eventually(job_done(acme, job.id), "the backup job")
        [made] = await Backup.all()
        # As if the message were lost after the backup was made: the job runs again.
        async with tenant_scope(acme):
            await JobOutbox.filter(id=job.id).update(status=JobStatus.PENDING, done_at=None)
        await eventually(job_done(acme, job.id), "the job delivered again")

    assert await Backup.all().count() == 1
    assert (made.status, made.slug, made.requested_by) == ("completed", "acme", "test")
    assert made.request_key == job.decoded_args()["request_key"]


async def test_the_scheduled_chain_backs_up_due_tenants_and_verifies_them(
    tenancy: Tenancy, acme: TenantRecord, backups: BackupConfig, periodic_backups: dict
) -> None:
    # Every periodic job is a platform actor the workers know, on the maintenance queue.
    assert all(
        ACTORS[name].platform and ACTORS[name].queue == entry.queue == "maintenance"
        for name, entry in periodic_backups.items()
    )

    async def completed() -> bool:
        return await Backup.filter(status="completed").count() == 2

    async def verified() -> bool:
        return await Backup.filter(verify_status="verified").count() == 2

    async with running_worker(tenancy):
        await enqueue_platform("backups.schedule", {"slot": "s1"})
        await enqueue_platform("backups.registry", {"slot": "s1"})
        await eventually(completed, "the tenant and registry backups")
        await enqueue_platform("backups.verify", {"slot": "s1"})
        await eventually(verified, "their verification")
        await eventually(_all_platform_jobs_done, "platform jobs done")

    kinds = sorted(await Backup.all().values_list("kind", flat=True))
    assert kinds == ["registry", "tenant"]


async def _all_platform_jobs_done() -> bool:
    return not await PlatformJob.exclude(status=JobStatus.DONE).exists()
