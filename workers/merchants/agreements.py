"""The agreement jobs and their schedule (UTC).

- ``merchants.agreement.notify`` (default queue): mail the owners who must accept a
  version just published with a re-acceptance deadline. Transactional: the mails are
  outbox rows, committed with the job's "done", so a redelivery sends none twice.
- ``merchants.agreement.deadline.schedule`` (daily, 03:10): ask every active tenant for
  the day's deadline check, through the tenant's own outbox, with the day as dedupe key.
- ``merchants.agreement.deadline`` (maintenance queue): move the merchants that let the
  current version's deadline pass without accepting it back to AGREEMENT_PENDING, as
  the job. Idempotent: a merchant moved is no longer among those checked.
"""

from __future__ import annotations

from datetime import timedelta

from schema.audit.service import current_acting
from schema.merchants.service.agreements import (
    DEADLINE_ACTOR,
    NOTIFY_ACTOR,
    enforce_deadline,
    notify_reacceptance,
)
from workers.actors import platform_actor, tenant_actor
from workers.scheduler import enqueue_in_every_active_tenant, periodic

SCHEDULE_ACTOR = "merchants.agreement.deadline.schedule"
SCHEDULE = {SCHEDULE_ACTOR: "10 3 * * *"}


@tenant_actor(NOTIFY_ACTOR, time_limit=timedelta(minutes=10))
async def notify_agreement(agreement_id: int) -> None:
    await notify_reacceptance(agreement_id)


@platform_actor(SCHEDULE_ACTOR, time_limit=timedelta(minutes=15))
async def schedule_deadline_checks(slot: str) -> None:
    await enqueue_in_every_active_tenant(DEADLINE_ACTOR, slot, "agreement deadline check")


@tenant_actor(DEADLINE_ACTOR, queue="maintenance", time_limit=timedelta(minutes=10))
async def check_agreement_deadline() -> None:
    await enforce_deadline(current_acting().principal)


def declare_schedule() -> None:
    for actor, cron in SCHEDULE.items():
        periodic(actor, cron)


declare_schedule()
