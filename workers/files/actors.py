"""The file sweep and its schedule (UTC), on the ``maintenance`` queue.

- ``files.sweep.schedule`` (daily, 03:40): ask every active tenant for the day's sweep,
  through the tenant's own outbox, with the day as dedupe key.
- ``files.sweep``: delete the bytes of that tenant that no file refers to any more
  (``schema.files.service.sweep_files``). Not transactional: deleting files is no database
  effect, and sweeping twice deletes nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schema.files.service import SWEEP_ACTOR, request_sweep, sweep_files
from workers.actors import platform_actor, tenant_actor
from workers.scheduler import in_every_active_tenant, periodic

SCHEDULE_ACTOR = "files.sweep.schedule"
SCHEDULE = {SCHEDULE_ACTOR: "40 3 * * *"}


async def request_sweeps(day: str) -> int:
    """Enqueue the sweep of ``day`` in every active tenant; returns how many were new."""

    async def request() -> bool:
        return await request_sweep(day) is not None

    return await in_every_active_tenant(request, "file sweep")


@platform_actor(SCHEDULE_ACTOR, time_limit=timedelta(minutes=15))
async def schedule_sweeps(slot: str) -> None:
    await request_sweeps(datetime.fromisoformat(slot).date().isoformat())


@tenant_actor(
    SWEEP_ACTOR, queue="maintenance", transactional=False, time_limit=timedelta(minutes=30)
)
async def sweep_tenant_files() -> None:
    await sweep_files()


def declare_schedule() -> None:
    for actor, cron in SCHEDULE.items():
        periodic(actor, cron)


declare_schedule()
