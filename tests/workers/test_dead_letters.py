"""Dead letters (``workers/dead_letters.py``): jobs whose retries ran out are kept,
listed across tenants, and sent again only on an operator's word, once."""

from __future__ import annotations

from collections import Counter

import pytest

from tenants.models import DeadLetter, JobStatus, PlatformJob, TenantEvent
from tenants.outbox import enqueue_platform
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.harness import (
    JobCounts,
    effects,
    enqueue_jobs,
    job_status,
    outbox_rows,
    running_work,
    wait_for,
)
from tests.workers.jobs import CALLS, PLATFORM, RECORD, RECORD_RETRIES
from workers.dead_letters import DeadLetterError, list_dead_letters, retry_dead_letter

ATTEMPTS = RECORD_RETRIES + 1


async def test_a_dead_letter_is_kept_listed_and_retried_once(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    acme, globex = two_tenants
    counts = JobCounts(RECORD)
    async with running_work(tenancy):
        # Fails every attempt of its first round; the retried round succeeds.
        [job] = await enqueue_jobs(acme, ["doomed"], fail_times=ATTEMPTS)
        [fine] = await enqueue_jobs(globex, ["fine"])
        await wait_for(job_status(tenancy, acme, job, "failed"), what="the job dead-lettered")
        await wait_for(job_status(tenancy, globex, fine, "done"), what="the other job")
        assert counts.delta(RECORD) == {
            "retried": RECORD_RETRIES, "failed": 1, "done": 1, "timed": ATTEMPTS + 1,
        }  # fmt: skip
        [row] = await outbox_rows(tenancy, acme)
        assert (row["status"], row["attempts"]) == ("failed", ATTEMPTS)
        assert await effects(tenancy, acme) == Counter()

        [letter] = await list_dead_letters()
        assert (letter.tenant_id, letter.slug, letter.job_id) == (acme.id, "acme", job)
        assert (letter.actor, letter.queue, letter.attempts) == (RECORD, "default", ATTEMPTS)
        assert letter.error == f"JobFailed: doomed: attempt {ATTEMPTS} fails on purpose"

        retried = await retry_dead_letter(letter.id, actor="ops@example.com")
        assert retried.retried_by == "ops@example.com"
        assert retried.retried_at is not None
        await wait_for(job_status(tenancy, acme, job, "done"), what="the retried job")

        with pytest.raises(DeadLetterError, match="already retried"):
            await retry_dead_letter(letter.id, actor="ops@example.com")
    assert len(CALLS["doomed"]) == ATTEMPTS + 1
    assert await effects(tenancy, acme) == Counter(["doomed"])
    assert await list_dead_letters() == []
    assert [d.id for d in await list_dead_letters(include_retried=True)] == [letter.id]


async def test_a_dead_letter_that_names_no_failed_job_is_refused(tenancy: Tenancy) -> None:
    with pytest.raises(DeadLetterError, match="no dead letter 404"):
        await retry_dead_letter(404, actor="ops")


async def test_a_failed_platform_job_is_retried_from_its_dead_letter(tenancy: Tenancy) -> None:
    job = await enqueue_platform(PLATFORM, {"marker": "nightly", "fail_times": ATTEMPTS})
    assert job is not None
    async with running_work(tenancy, pools={"maintenance": 1}):

        async def status_is(status: JobStatus) -> bool:
            return await PlatformJob.exists(id=job.id, status=status)

        await wait_for(lambda: status_is(JobStatus.FAILED), what="the job dead-lettered")
        [letter] = await list_dead_letters()
        assert (letter.tenant_id, letter.job_id, letter.attempts) == (None, job.id, ATTEMPTS)
        await retry_dead_letter(letter.id, actor="ops")
        await wait_for(lambda: status_is(JobStatus.DONE), what="the retried job")
    assert await TenantEvent.filter(action="job").values_list("reason", flat=True) == ["nightly"]


async def test_retrying_a_tenant_jobs_dead_letter_never_requeues_a_platform_job(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """A tenant job's message that lost its tenant is dead-lettered without one; its
    letter must not be taken for a platform job's (same table shape, same ids)."""
    platform_job = await enqueue_platform(PLATFORM, {"marker": "unrelated"})
    assert platform_job is not None
    await PlatformJob.filter(id=platform_job.id).update(status=JobStatus.FAILED)
    async with running_work(tenancy, relay=None) as work:
        work.send(RECORD, None, platform_job.id)  # same id, tenant lost
        await wait_for(lambda: DeadLetter.exists(actor=RECORD), what="the dead letter")
    [letter] = await list_dead_letters()
    assert (letter.tenant_id, letter.actor) == (None, RECORD)
    with pytest.raises(DeadLetterError):
        await retry_dead_letter(letter.id, actor="ops")
    assert await PlatformJob.filter(id=platform_job.id).values_list("status", flat=True) == [
        JobStatus.FAILED
    ]
