"""Periodic jobs, declared in code with a cron expression (UTC).

Each tick, every periodic job's most recent due slot is turned into a platform job whose
dedupe key is ``<job>@<slot>``: the shared store's unique key makes it run exactly once
per period however many schedulers tick, and after downtime only the latest missed slot
runs (catch-up once, not once per missed period).

Why not APScheduler: it keeps its own job store and run bookkeeping, and its
exactly-once guarantee needs a single scheduler process. The claim here is one insert
into the store the platform already has; croniter does the calendar arithmetic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter

from tenants.errors import TenancyError
from tenants.models import TenantStatus
from tenants.outbox import enqueue, enqueue_platform
from tenants.runtime import Tenancy, get_tenancy
from tenants.scope import tenant_scope

log = logging.getLogger("saas.scheduler")


@dataclass(frozen=True, slots=True)
class Periodic:
    actor: str  # a platform actor; it receives ``slot`` (ISO 8601) as its argument
    cron: str
    queue: str = "maintenance"

    def latest_slot(self, now: datetime) -> datetime:
        return croniter(self.cron, now).get_prev(datetime)


PERIODIC: dict[str, Periodic] = {}


def periodic(actor: str, cron: str, *, queue: str = "maintenance") -> Periodic:
    if not croniter.is_valid(cron):
        raise ValueError(f"{actor}: invalid cron expression {cron!r}")
    entry = PERIODIC[actor] = Periodic(actor, cron, queue)
    return entry


async def tick(now: datetime | None = None) -> list[str]:
    """Claim every periodic job's latest slot; returns the keys claimed by this call."""
    now = now or datetime.now(UTC)
    claimed = []
    for entry in PERIODIC.values():
        slot = entry.latest_slot(now)
        key = f"{entry.actor}@{slot.isoformat()}"
        job = await enqueue_platform(
            entry.actor, {"slot": slot.isoformat()}, queue=entry.queue, dedupe_key=key
        )
        if job is not None:
            claimed.append(key)
    return claimed


async def in_every_active_tenant(job: Callable[[], Awaitable[bool]], what: str) -> int:
    """A periodic job's fan-out: ``job`` in the scope of every active tenant (typically
    enqueueing the tenant's own job with a dedupe key). A tenant that cannot be served
    (behind head) is logged and skipped. Returns how many calls returned True."""
    done = 0
    for tenant in await get_tenancy().registry.all():
        if tenant.status != TenantStatus.ACTIVE:
            continue
        try:
            async with tenant_scope(tenant):
                done += await job()
        except TenancyError as exc:
            log.warning("no %s for %s: %s", what, tenant.slug, exc)
    return done


async def enqueue_in_every_active_tenant(actor: str, slot: str, what: str) -> int:
    """The usual fan-out of a daily job: tenant job ``actor`` (no arguments, queue
    ``maintenance``) in every active tenant, once per day of ``slot`` however often asked
    (dedupe key ``<actor>@<day>``). Returns how many were new."""
    day = datetime.fromisoformat(slot).date().isoformat()

    async def request() -> bool:
        key = f"{actor}@{day}"
        return await enqueue(actor, {}, queue="maintenance", dedupe_key=key) is not None

    return await in_every_active_tenant(request, what)


async def run_scheduler(tenancy: Tenancy, stop: asyncio.Event, interval: float = 30.0) -> None:
    with tenancy.bind():
        while not stop.is_set():
            try:
                for key in await tick():
                    log.info("scheduled %s", key)
            except Exception:  # a failed tick is retried at the next one
                log.exception("scheduler tick failed")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                continue
