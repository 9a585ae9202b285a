"""The same actors and jobs on the three brokers, and what the broker set-up promises:
separate pools per queue, retries with backoff, time limits, metrics."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import timedelta

import pytest

from tenants.models import DeadLetter
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.harness import (
    JobCounts,
    all_done,
    effect_tenants,
    effects,
    enqueue_jobs,
    job_status,
    outbox_rows,
    record_retry_delays,
    running_work,
    statuses,
    wait_for,
)
from tests.workers.jobs import (
    CALLS,
    CRITICAL,
    MAINTENANCE,
    MAX_BACKOFF,
    MIN_BACKOFF,
    RECORD,
    RECORD_RETRIES,
    TIME_LIMITED,
)

JOBS_PER_TENANT = 6


async def test_each_job_runs_once_in_its_tenant_on_every_broker(
    tenancy: Tenancy, two_tenants: list[TenantRecord], broker_url: str | None
) -> None:
    """Enqueue jobs in two tenants, relay them, run them: every effect exactly once, in
    the right tenant. One job per tenant fails once, through the broker's delay queue."""
    markers = {t.slug: [f"{t.slug}-{i}" for i in range(JOBS_PER_TENANT)] for t in two_tenants}
    counts = JobCounts(RECORD)
    async with running_work(tenancy, broker_url):
        for tenant in two_tenants:
            await enqueue_jobs(tenant, markers[tenant.slug][:1], fail_times=1)
            await enqueue_jobs(tenant, markers[tenant.slug][1:])
        await wait_for(all_done(tenancy, two_tenants), what="every job done")
    for tenant in two_tenants:
        assert await effects(tenancy, tenant) == Counter(markers[tenant.slug])
        assert await effect_tenants(tenancy, tenant) == {tenant.id}
    jobs = 2 * JOBS_PER_TENANT
    assert counts.delta(RECORD) == {"done": jobs, "retried": 2, "timed": jobs + 2}


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_long_maintenance_job_does_not_delay_a_critical_one(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """Each queue has its own pool: with one thread each, a critical job runs while a
    2 s maintenance job holds the maintenance thread."""
    acme = two_tenants[0]
    async with running_work(tenancy, pools={"maintenance": 1, "critical": 1}):
        [slow] = await enqueue_jobs(acme, ["slow"], MAINTENANCE, queue="maintenance", sleep=2.0)
        await wait_for(lambda: _started("slow"), what="the maintenance job to start")
        started = time.monotonic()
        [fast] = await enqueue_jobs(acme, ["fast"], CRITICAL, queue="critical")
        waited = await wait_for(job_status(tenancy, acme, fast, "done"), what="the critical job")
        assert (await statuses(tenancy, acme))[slow] == "sent"  # still running
        await wait_for(job_status(tenancy, acme, slow, "done"), what="the maintenance job")
    assert waited < 1.0
    assert time.monotonic() - started > 1.5
    assert await effects(tenancy, acme) == Counter(["slow", "fast"])


async def _started(marker: str) -> bool:
    return marker in CALLS


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_failing_job_is_retried_with_exponential_backoff_up_to_a_cap(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """Three failures, then success: its effect once (the failed attempts rolled back),
    three retries counted on its row, delays that double up to ``max_backoff``."""
    acme = two_tenants[0]
    counts = JobCounts(RECORD)
    async with running_work(tenancy) as work:
        delays = record_retry_delays(work)
        [job] = await enqueue_jobs(acme, ["flaky"], fail_times=RECORD_RETRIES)
        await wait_for(job_status(tenancy, acme, job, "done"), what="the job done")
    assert counts.delta(RECORD) == {"retried": 3, "done": 1, "timed": 4}
    assert await effects(tenancy, acme) == Counter(["flaky"])
    [row] = await outbox_rows(tenancy, acme)
    assert row["attempts"] == 3
    assert row["last_error"] == "JobFailed: flaky: attempt 3 fails on purpose"
    # Dramatiq's backoff: min_backoff * 2**n, with up to 2x jitter, capped at max_backoff
    # (then jittered down to no less than half of it).
    low, cap = _ms(MIN_BACKOFF), _ms(MAX_BACKOFF)
    assert len(delays) == 3
    assert low <= delays[0] <= 2 * low
    assert 2 * low <= delays[1] <= 4 * low
    assert cap / 2 <= delays[2] <= cap < 8 * low  # uncapped it would be 80-160 ms
    # Each retry waited at least its delay.
    gaps = [later - earlier for earlier, later in itertools.pairwise(CALLS["flaky"])]
    assert all(gap >= delay / 1000 for gap, delay in zip(gaps, delays, strict=True))


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_job_past_its_time_limit_is_interrupted_retried_and_dead_lettered(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    acme = two_tenants[0]
    counts = JobCounts(TIME_LIMITED)
    async with running_work(tenancy):
        started = time.monotonic()
        [job] = await enqueue_jobs(acme, ["sleepy"], TIME_LIMITED, sleep=30)
        await wait_for(job_status(tenancy, acme, job, "failed"), what="the job dead-lettered")
    # Two attempts (max_retries=1), each stopped long before its 30 s sleep: Dramatiq
    # checks time limits once a second.
    assert len(CALLS["sleepy"]) == 2
    assert time.monotonic() - started < 5
    assert counts.delta(TIME_LIMITED) == {"retried": 1, "failed": 1, "timed": 2}
    assert await effects(tenancy, acme) == Counter()  # an interrupted job leaves nothing
    [row] = await outbox_rows(tenancy, acme)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    [letter] = await DeadLetter.all()
    assert (letter.tenant_id, letter.slug, letter.job_id) == (acme.id, "acme", job)
    assert letter.error.startswith("TimeLimitExceeded")
