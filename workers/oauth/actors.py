"""OAuth housekeeping and its schedule (UTC), on the ``maintenance`` queue.

- ``oauth.maintain.schedule`` (daily, 04:10): ask every active tenant, through its own
  outbox with the day as dedupe key, for
- ``oauth.maintain``: turn the tenant's signing key ring (publish a next key, promote it
  when due, drop retired keys whose tokens have expired) and purge expired codes,
  families, refresh tokens and revoked access tokens. Not transactional: a new RSA key
  takes tens of milliseconds, made outside any transaction, and both steps are
  idempotent and safe in several processes at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from schema.oauth.grants import purge_expired
from schema.oauth.keys import rotate_keys
from tenants.scope import current_tenant
from workers.actors import platform_actor, tenant_actor
from workers.scheduler import enqueue_in_every_active_tenant, periodic

log = logging.getLogger("saas.oauth")

MAINTAIN_ACTOR = "oauth.maintain"
SCHEDULE_ACTOR = "oauth.maintain.schedule"
SCHEDULE = {SCHEDULE_ACTOR: "10 4 * * *"}


@platform_actor(SCHEDULE_ACTOR, time_limit=timedelta(minutes=15))
async def schedule_maintenance(slot: str) -> None:
    await enqueue_in_every_active_tenant(MAINTAIN_ACTOR, slot, "OAuth housekeeping")


@tenant_actor(
    MAINTAIN_ACTOR, queue="maintenance", transactional=False, time_limit=timedelta(minutes=5)
)
async def maintain() -> None:
    rotation = await rotate_keys()
    purged = await purge_expired()
    log.info(
        "OAuth housekeeping of %s: %s, %d rows purged", current_tenant().slug, rotation, purged
    )


def declare_schedule() -> None:
    for actor, cron in SCHEDULE.items():
        periodic(actor, cron)


declare_schedule()
