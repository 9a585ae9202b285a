"""Running one job: enter the runtime and the tenant's scope, skip a job already done,
and mark it done. Failures are recorded by ``workers.broker.OutboxBookkeeping``, which
sees every way a job can fail (an exception, a time limit) and knows when retries ran out.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from schema.audit.service import Acting, acting_as
from schema.core.principal import system_principal
from tenants.backends import SHARED_ALIAS, TENANT_ALIAS
from tenants.errors import TenancyError
from tenants.models import DeadLetter, JobStatus, OutboxRow, PlatformJob
from tenants.outbox import JobOutbox
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from workers.actors import ActorSpec

log = logging.getLogger("saas.jobs")


class MissingTenant(Exception):
    """A tenant job arrived without a tenant id: refuse it loudly, never guess."""


async def _scope(
    tenancy: Tenancy, spec: ActorSpec, tenant_id: str | None
) -> AbstractAsyncContextManager[object]:
    if spec.platform:
        return nullcontext()
    if not tenant_id:
        raise MissingTenant(f"tenant actor {spec.name!r} was called without a tenant")
    return tenant_scope(await tenancy.registry.by_id(tenant_id))


def _store(spec: ActorSpec) -> tuple[type[OutboxRow], str]:
    return (PlatformJob, SHARED_ALIAS) if spec.platform else (JobOutbox, TENANT_ALIAS)


@dataclass(frozen=True, slots=True)
class JobRef:
    actor: str
    tenant_id: str | None
    job_id: int


_current_job: ContextVar[JobRef | None] = ContextVar("saas_current_job", default=None)


def current_job() -> JobRef:
    """The job this code runs in: what a job with an external effect derives its
    idempotency key from (an e-mail's Message-ID), the same on every redelivery."""
    job = _current_job.get()
    if job is None:
        raise RuntimeError("not running in a job")
    return job


async def execute_job(tenancy: Tenancy, spec: ActorSpec, tenant_id: str | None, job_id: int) -> str:
    """Run the job once; returns "done", or "skipped" when it was already done."""
    job = _current_job.set(JobRef(spec.name, tenant_id, job_id))
    try:
        # What the job changes is recorded in the audit trail as done by the job.
        with tenancy.bind(), acting_as(Acting(system_principal(f"job:{spec.name}"))):
            async with await _scope(tenancy, spec, tenant_id):
                model, alias = _store(spec)
                if not spec.transactional:
                    return await _run(spec, model, job_id, lock=False)
                async with in_transaction(alias):
                    # On SQLite the transaction began IMMEDIATE: it holds the write lock.
                    return await _run(spec, model, job_id, lock=True)
    finally:
        _current_job.reset(job)


async def _run(spec: ActorSpec, model: type[OutboxRow], job_id: int, *, lock: bool) -> str:
    query = model.filter(id=job_id)
    row = await (query.select_for_update() if lock else query).first()
    if row is None or row.status in (JobStatus.DONE, JobStatus.FAILED):
        return "skipped"  # redelivered after it finished, or retired by an operator
    await spec.fn(**row.decoded_args())
    done = {"status": JobStatus.DONE, "done_at": datetime.now(UTC)}
    if spec.secret_args:
        done["args"] = "{}"
    await model.filter(id=job_id).update(**done)
    return "done"


async def record_failure(
    tenancy: Tenancy,
    spec: ActorSpec,
    tenant_id: str | None,
    job_id: int,
    error: str,
    *,
    final: bool,
) -> None:
    """Count the attempt on the job's row; when retries ran out, retire it and index it
    as a dead letter in the shared store."""
    with tenancy.bind():
        model, _ = _store(spec)
        slug = None
        try:
            async with await _scope(tenancy, spec, tenant_id) as scope:
                slug = getattr(scope, "slug", None)
                attempts = await _count_attempt(model, job_id, error, final)
        except (TenancyError, MissingTenant) as exc:
            log.warning("job %s of %s: cannot record the failure: %s", job_id, tenant_id, exc)
            attempts = 0
        if final:
            await DeadLetter.create(
                tenant_id=tenant_id, slug=slug, job_id=job_id, actor=spec.name, queue=spec.queue,
                error=error[:10_000], attempts=attempts, failed_at=datetime.now(UTC),
            )  # fmt: skip


async def _count_attempt(model: type[OutboxRow], job_id: int, error: str, final: bool) -> int:
    # In place, never writing back a status read earlier: the retry of a failed attempt
    # may already be running, and its "done" may commit between such a read and write;
    # overwritten with "sent", the job would be relayed and run again.
    await model.filter(id=job_id).update(attempts=F("attempts") + 1, last_error=error[:10_000])
    if final:
        await model.filter(id=job_id).exclude(status=JobStatus.DONE).update(status=JobStatus.FAILED)
    row = await model.filter(id=job_id).only("id", "attempts").first()
    return row.attempts if row is not None else 0
