"""The backup jobs, all on the ``maintenance`` queue, and their schedule (UTC).

- ``backups.tenant``: back up the tenant whose outbox holds the job. Not transactional
  (a backup is long and its effect is a stored object); idempotent through the request
  key its outbox row carries.
- ``backups.schedule``: enqueue a backup for every tenant due (its own interval).
- ``backups.verify``: restore new backups in a scratch place and compare them with their
  manifests; retry failed verifications a bounded number of times.
- ``backups.prune``: apply retention.
- ``backups.registry``: back up the registry, once per slot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schema.backups.service import BACKUP_ACTOR
from tenants.scope import current_tenant
from workers.actors import platform_actor, tenant_actor
from workers.backups.pruning import prune
from workers.backups.schedule import enqueue_due
from workers.backups.service import create_registry_backup, create_tenant_backup, verify_due
from workers.scheduler import periodic


@tenant_actor(
    BACKUP_ACTOR,
    queue="maintenance",
    transactional=False,
    max_retries=3,
    min_backoff=timedelta(minutes=1),
    max_backoff=timedelta(minutes=30),
    time_limit=timedelta(hours=2),
)
async def backup_tenant(request_key: str, requested_by: str = "job") -> None:
    await create_tenant_backup(current_tenant(), requested_by=requested_by, request_key=request_key)


@platform_actor("backups.schedule", time_limit=timedelta(minutes=15))
async def schedule_backups(slot: str) -> None:
    await enqueue_due(datetime.now(UTC))


@platform_actor("backups.verify", time_limit=timedelta(hours=2))
async def verify_backups(slot: str) -> None:
    await verify_due()


@platform_actor("backups.prune")
async def prune_backups(slot: str) -> None:
    await prune()


@platform_actor("backups.registry", time_limit=timedelta(hours=1))
async def backup_registry(slot: str) -> None:
    await create_registry_backup(requested_by="scheduler", request_key=f"registry@{slot}")


SCHEDULE = {
    "backups.schedule": "*/15 * * * *",
    "backups.verify": "*/10 * * * *",
    "backups.prune": "40 3 * * *",
    "backups.registry": "20 2 * * *",
}


def declare_schedule() -> None:
    for actor, cron in SCHEDULE.items():
        periodic(actor, cron)


declare_schedule()
