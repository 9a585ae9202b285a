"""The prune of expired idempotency keys and its schedule (UTC), on the ``maintenance``
queue.

- ``idempotency.prune.schedule`` (daily, 04:40): ask every active tenant, through its own
  outbox with the day as dedupe key, for
- ``idempotency.prune``: delete the tenant's keys older than their 24 hours. An expired
  key is free again whether or not it was pruned yet: this only keeps the table small.
  Transactional, and idempotent anyway.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from schema.idempotency.service import prune
from tenants.scope import current_tenant
from workers.actors import platform_actor, tenant_actor
from workers.scheduler import enqueue_in_every_active_tenant, periodic

log = logging.getLogger("saas.idempotency")

PRUNE_ACTOR = "idempotency.prune"
SCHEDULE_ACTOR = "idempotency.prune.schedule"
SCHEDULE = {SCHEDULE_ACTOR: "40 4 * * *"}


@platform_actor(SCHEDULE_ACTOR, time_limit=timedelta(minutes=15))
async def schedule_prunes(slot: str) -> None:
    await enqueue_in_every_active_tenant(PRUNE_ACTOR, slot, "idempotency key prune")


@tenant_actor(PRUNE_ACTOR, queue="maintenance", time_limit=timedelta(minutes=5))
async def prune_keys() -> None:
    pruned = await prune()
    log.info("idempotency keys of %s: %d expired pruned", current_tenant().slug, pruned)


def declare_schedule() -> None:
    for actor, cron in SCHEDULE.items():
        periodic(actor, cron)


declare_schedule()
