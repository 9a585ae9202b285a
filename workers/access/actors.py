"""The access review jobs and their schedule (UTC), on the ``maintenance`` queue.

- ``access.review.schedule`` (weekly, Monday 04:30): ask every active tenant for the
  review of the week, through the tenant's own outbox, with the period as dedupe key.
- ``access.review``: open the review of that period in the tenant whose outbox holds the
  job. Transactional: the review and the job's "done" commit together, and opening is
  idempotent per period anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schema.access.reviews import REVIEW_ACTOR, open_review, request_review
from workers.actors import platform_actor, tenant_actor
from workers.scheduler import in_every_active_tenant, periodic

SCHEDULE_ACTOR = "access.review.schedule"
SCHEDULE = {SCHEDULE_ACTOR: "30 4 * * 1"}


def period_of(slot: str) -> str:
    """The review period a scheduler slot belongs to: its date (``2025-06-30``)."""
    return datetime.fromisoformat(slot).date().isoformat()


async def request_reviews(period: str) -> int:
    """Enqueue the review of ``period`` in every active tenant; returns how many were new."""

    async def request() -> bool:
        return await request_review(period) is not None

    return await in_every_active_tenant(request, "access review")


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
