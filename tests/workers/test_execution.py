"""Running a job (``workers/execution.py``): in its tenant's scope, its database effect
exactly once however often its message arrives, and never in another tenant's store."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from tenants.models import DeadLetter, PlatformJob, TenantEvent
from tenants.outbox import enqueue_platform
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.harness import (
    FAST_RELAY,
    JobCounts,
    Sends,
    effect_tenants,
    effects,
    enqueue_jobs,
    job_status,
    open_transaction,
    outbox_rows,
    running_work,
    wait_for,
    wait_for_lock_waiter,
)
from tests.workers.jobs import CALLS, PLATFORM, RECORD
from workers.actors import ACTORS
from workers.execution import record_failure
from workers.relay import Relay


async def test_one_worker_thread_alternating_tenants_writes_each_job_to_its_own_tenant(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """The thread that last ran tenant B and now runs tenant A writes only to A."""
    acme, globex = two_tenants
    ids = {
        tenant.slug: await enqueue_jobs(tenant, [f"{tenant.slug}-{i}" for i in range(4)])
        for tenant in two_tenants
    }
    async with running_work(tenancy, pools={"default": 1}, relay=None) as work:
        for acme_job, globex_job in zip(ids["acme"], ids["globex"], strict=True):
            work.send(RECORD, acme.id, acme_job)
            work.send(RECORD, globex.id, globex_job)
        for tenant in two_tenants:
            await wait_for(job_status(tenancy, tenant, ids[tenant.slug][-1], "done"))
    for tenant in two_tenants:
        assert await effects(tenancy, tenant) == Counter(f"{tenant.slug}-{i}" for i in range(4))
        assert await effect_tenants(tenancy, tenant) == {tenant.id}
        assert {row["status"] for row in await outbox_rows(tenancy, tenant)} == {"done"}


async def test_a_message_delivered_twice_does_its_database_work_once(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """Two deliveries at the same time, on two threads: the second waits for the first
    one's transaction, then finds the job done and skips it."""
    acme = two_tenants[0]
    [job_id] = await enqueue_jobs(acme, ["twice"], sleep=0.3)
    counts = JobCounts(RECORD)
    async with running_work(tenancy, pools={"default": 2}, relay=None) as work:
        work.send(RECORD, acme.id, job_id)
        work.send(RECORD, acme.id, job_id)
        await wait_for(lambda: _processed(counts, RECORD, 2), what="both deliveries processed")
    assert counts.delta(RECORD) == {"done": 1, "skipped": 1, "timed": 2}
    assert await effects(tenancy, acme) == Counter(["twice"])
    [row] = await outbox_rows(tenancy, acme)
    assert (row["status"], row["attempts"]) == ("done", 0)


async def _processed(counts: JobCounts, actor: str, messages: int) -> bool:
    return counts.delta(actor).get("timed", 0) >= messages


async def test_a_tenant_job_without_a_tenant_fails_loudly_and_is_dead_lettered(
    tenancy: Tenancy, two_tenants: list[TenantRecord], caplog: pytest.LogCaptureFixture
) -> None:
    acme = two_tenants[0]
    [job_id] = await enqueue_jobs(acme, ["orphan"])
    counts = JobCounts(RECORD)
    async with running_work(tenancy, relay=None) as work:
        work.send(RECORD, None, job_id)
        await wait_for(lambda: DeadLetter.exists(actor=RECORD), what="the dead letter")
    [letter] = await DeadLetter.all()
    assert letter.error.startswith("MissingTenant: tenant actor 'tests.record' was called")
    assert (letter.tenant_id, letter.job_id, letter.queue) == (None, job_id, "default")
    assert counts.delta(RECORD)["failed"] == 1
    assert counts.delta(RECORD).get("retried", 0) == 0  # never runnable: not retried
    assert "MissingTenant" in caplog.text
    # Nothing ran anywhere, and the tenant's own job is untouched.
    assert CALLS == {}
    assert await effects(tenancy, acme) == Counter()
    [row] = await outbox_rows(tenancy, acme)
    assert (row["status"], row["attempts"]) == ("pending", 0)


async def test_a_platform_job_runs_outside_any_tenant_once(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    job = await enqueue_platform(PLATFORM, {"marker": "platform-1"})
    assert job is not None
    counts = JobCounts(PLATFORM)
    async with running_work(tenancy, pools={"maintenance": 1}) as work:
        await wait_for(lambda: _processed(counts, PLATFORM, 1), what="the relayed job")
        work.send(PLATFORM, None, job.id)  # delivered again after it finished
        await wait_for(lambda: _processed(counts, PLATFORM, 2), what="the second delivery")
    assert counts.delta(PLATFORM) == {"done": 1, "skipped": 1, "timed": 2}
    assert await PlatformJob.filter(id=job.id).values_list("status", flat=True) == ["done"]
    events = await TenantEvent.filter(action="job").values_list("reason", flat=True)
    assert events == ["platform-1"]


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_jobs_that_run_or_skip_log_no_warning(
    tenancy: Tenancy, two_tenants: list[TenantRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """A job's outcome reaches the metrics without Dramatiq warning, for every job,
    that the actor's return value was discarded."""
    acme = two_tenants[0]
    counts = JobCounts(RECORD)
    [job_id] = await enqueue_jobs(acme, ["quiet"])
    with caplog.at_level(logging.WARNING):
        async with running_work(tenancy) as work:
            await wait_for(job_status(tenancy, acme, job_id, "done"), what="the job done")
            work.send(RECORD, acme.id, job_id)
            await wait_for(lambda: _processed(counts, RECORD, 2), what="the second delivery")
    assert counts.delta(RECORD) == {"done": 1, "skipped": 1, "timed": 2}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_failure_recorded_while_the_retry_finishes_keeps_the_job_done(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """An attempt's failure is counted while its retry (sent with a short backoff)
    already runs: the retry's done mark commits between the count's read and its
    write. The count must not write the status it read back over "done" (the relay
    would then send the job again, and it would run twice)."""
    acme = two_tenants[0]
    [job_id] = await enqueue_jobs(acme, ["raced"])
    await Relay(tenancy, Sends(), FAST_RELAY).sweep()  # "sent", as a running job is
    done = f"UPDATE job_outbox SET status = 'done' WHERE id = {job_id}"
    async with open_transaction(tenancy, acme, done):  # the retry, not yet committed
        failure = asyncio.create_task(
            record_failure(tenancy, ACTORS[RECORD], acme.id, job_id, "JobFailed: x", final=False)
        )
        await wait_for_lock_waiter(tenancy, "job_outbox")
    await asyncio.wait_for(failure, 10)
    [row] = await outbox_rows(tenancy, acme)
    assert (row["status"], row["attempts"], row["last_error"]) == ("done", 1, "JobFailed: x")
