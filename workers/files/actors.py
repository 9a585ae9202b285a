"""The file sweep and its schedule (UTC), on the ``maintenance`` queue.

- ``files.sweep.schedule`` (daily, 03:40): ask every active tenant for the day's sweep,
  through the tenant's own outbox, with the day as dedupe key.
- ``files.sweep``: delete the bytes of that tenant that no file refers to any more
  (``schema.files.service.sweep_files``). Not transactional: deleting files is no database
  effect, and sweeping twice deletes nothing more.
"""

from __future__ import annotations

from datetime import timedelta

from schema.files.service import SWEEP_ACTOR, sweep_files
from workers.actors import platform_actor, tenant_actor
from workers.scheduler import enqueue_in_every_active_tenant, periodic

SCHEDULE_ACTOR = "files.sweep.schedule"
SCHEDULE = {SCHEDULE_ACTOR: "40 3 * * *"}


@platform_actor(SCHEDULE_ACTOR, time_limit=timedelta(minutes=15))
async def schedule_sweeps(slot: str) -> None:
    await enqueue_in_every_active_tenant(SWEEP_ACTOR, slot, "file sweep")


@tenant_actor(
    SWEEP_ACTOR, queue="maintenance", transactional=False, time_limit=timedelta(minutes=30)
)
async def sweep_tenant_files() -> None:
    await sweep_files()


def declare_schedule() -> None:
    for actor, cron in SCHEDULE.items():
        periodic(actor, cron)


declare_schedule()
