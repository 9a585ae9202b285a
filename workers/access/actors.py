"""The access review jobs and their schedule (UTC), on the ``maintenance`` queue.

- ``access.review.schedule`` (weekly, Monday 04:30): ask every active tenant for the
  review of the week, through the tenant's own outbox, with the period as dedupe key.
- ``access.review``: open the review of that period in the tenant whose outbox holds the
  job. Transactional: the review and the job's "done" commit together, and opening is
  idempotent per period anyway.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from schema.access.reviews import REVIEW_ACTOR, open_review, request_review
from tenants.errors import TenancyError
from tenants.models import TenantStatus
from tenants.runtime import get_tenancy
from tenants.scope import tenant_scope
from workers.actors import platform_actor, tenant_actor
from workers.scheduler import periodic

log = logging.getLogger("saas.access")

SCHEDULE_ACTOR = "access.review.schedule"
SCHEDULE = {SCHEDULE_ACTOR: "30 4 * * 1"}


def period_of(slot: str) -> str:
    """The review period a scheduler slot belongs to: its date (``2025-06-30``)."""
    return datetime.fromisoformat(slot).date().isoformat()


async def request_reviews(period: str) -> int:
    """Enqueue the review of ``period`` in every active tenant; returns how many were new."""
    enqueued = 0
    for tenant in await get_tenancy().registry.all():
        if tenant.status != TenantStatus.ACTIVE:
            continue
        try:
            async with tenant_scope(tenant):
                enqueued += await request_review(period) is not None
        except TenancyError as exc:  # e.g. behind head: not served, nor reviewed
            log.warning("no access review of %s: %s", tenant.slug, exc)
    return enqueued


@platform_actor(SCHEDULE_ACTOR, time_limit=timedelta(minutes=15))
async def schedule_reviews(slot: str) -> None:
    await request_reviews(period_of(slot))


@tenant_actor(REVIEW_ACTOR, queue="maintenance", time_limit=timedelta(minutes=10))
async def open_tenant_review(period: str) -> None:
    await open_review(period)


def declare_schedule() -> None:
    for actor, cron in SCHEDULE.items():
        periodic(actor, cron)


declare_schedule()
