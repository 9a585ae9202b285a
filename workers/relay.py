"""The relay: committed outbox rows to the broker.

It claims a due row with a compare-and-swap (pending -> sent), then sends
``(tenant_id, job_id)``; a failed send puts the row back. A row sent but not done after
``redeliver_after`` is sent again (its message may have been lost with the process that
held it): jobs are at-least-once, their database effects once (``workers.execution``).

Which tenants to look at: the ones this process just hinted (``poke``), the ones hinted
by any process in the shared ``outbox_hint`` table, and every tenant once per sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

from tenants.errors import TenancyError
from tenants.models import JobStatus, OutboxHint, OutboxRow, PlatformJob, Tenant, TenantStatus
from tenants.outbox import JobOutbox, set_outbox_listener
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope

log = logging.getLogger("saas.relay")

# Called in a thread: (actor name, tenant id or None, job id). Raises UnknownActor for a
# job no actor of this release handles, anything else when the broker refuses it.
Send = Callable[[str, str | None, int], None]


class UnknownActor(Exception):
    pass


@dataclass(frozen=True, slots=True)
class RelayConfig:
    poll_interval: float = 1.0
    sweep_interval: float = 60.0
    redeliver_after: timedelta = timedelta(minutes=10)
    batch: int = 500


@dataclass(slots=True)
class _Due:
    id: int
    actor: str
    status: str
    sent_at: datetime | None


class Relay:
    def __init__(self, tenancy: Tenancy, send: Send, config: RelayConfig) -> None:
        self.tenancy = tenancy
        self.send = send
        self.config = config
        self._poked: set[str] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def poke(self, tenant: TenantRecord) -> None:
        """Thread-safe: this tenant has fresh rows."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._poke_now, tenant.id)

    def _poke_now(self, tenant_id: str) -> None:
        self._poked.add(tenant_id)
        self._wake.set()

    async def run(self, *, redeliver_all_sent: bool) -> None:
        """Relay until ``stop()``. ``redeliver_all_sent``: the first sweep resends every
        row still marked sent (embedded mode: the in-memory broker lost them)."""
        self._loop = asyncio.get_running_loop()
        set_outbox_listener(self.poke)
        try:
            with self.tenancy.bind():
                await self._round(self.sweep(redeliver_all_sent=redeliver_all_sent))
                last_sweep = self._loop.time()
                while not self._stopping:
                    await self._wait()
                    await self._round(self.relay_hinted())
                    if self._loop.time() - last_sweep >= self.config.sweep_interval:
                        await self._round(self.sweep())
                        last_sweep = self._loop.time()
        finally:
            set_outbox_listener(None)

    @staticmethod
    async def _round(work: Awaitable[int]) -> None:
        """One round; a failure (the shared store unreachable for a moment) is logged
        and the next round tries again. Uncaught, it ended the relay's task silently
        and nothing more was sent until the process restarted. (Rows a failed first
        sweep did not resend are sent again after ``redeliver_after``.)"""
        try:
            await work
        except Exception:
            log.exception("relay round failed; trying again at the next one")

    def stop(self) -> None:
        self._stopping = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
        self._wake.clear()

    async def relay_hinted(self) -> int:
        poked, self._poked = self._poked, set()
        hinted = await OutboxHint.all().values_list("tenant_id", flat=True)
        sent = await self._relay_tenants(sorted(poked | set(hinted)))
        return sent + await self._relay_platform(redeliver_all_sent=False)

    async def sweep(self, *, redeliver_all_sent: bool = False) -> int:
        """Every active tenant, and the platform outbox."""
        ids = await Tenant.filter(status=TenantStatus.ACTIVE).values_list("id", flat=True)
        sent = await self._relay_tenants(ids, redeliver_all_sent=redeliver_all_sent)
        return sent + await self._relay_platform(redeliver_all_sent=redeliver_all_sent)

    async def _relay_tenants(
        self, tenant_ids: Sequence[str], *, redeliver_all_sent: bool = False
    ) -> int:
        sent = 0
        for tenant_id in tenant_ids:
            started = datetime.now(UTC)
            try:
                record = await self.tenancy.registry.by_id(tenant_id)
                async with tenant_scope(record):
                    sent += await self._relay_rows(JobOutbox, tenant_id, redeliver_all_sent)
                    pending = await JobOutbox.exists(status=JobStatus.PENDING)
            except TenancyError as exc:  # suspended, deleted or behind head: later
                log.info("outbox of %s not relayed: %s", tenant_id, exc)
                pending = False
            except Exception:
                # One tenant's broken store must not hold up every other tenant's jobs.
                log.exception("outbox of %s not relayed", tenant_id)
                continue  # its hint stays: tried again at the next round
            if not pending:
                await OutboxHint.filter(tenant_id=tenant_id, hinted_at__lte=started).delete()
        return sent

    async def _relay_platform(self, *, redeliver_all_sent: bool) -> int:
        return await self._relay_rows(PlatformJob, None, redeliver_all_sent)

    async def _relay_rows(
        self, model: type[OutboxRow], tenant_id: str | None, redeliver_all_sent: bool
    ) -> int:
        now = datetime.now(UTC)
        stale_before = now if redeliver_all_sent else now - self.config.redeliver_after
        due = [
            _Due(*row)
            for row in await model.filter(
                Q(status=JobStatus.PENDING, not_before__lte=now)
                | Q(status=JobStatus.SENT, sent_at__lt=stale_before)
            )
            .order_by("id")
            .limit(self.config.batch)
            .values_list("id", "actor", "status", "sent_at")
        ]
        sent = 0
        for row in due:
            if await self._claim(model, row, now):
                sent += await self._send(model, row, tenant_id)
        return sent

    @staticmethod
    async def _claim(model: type[OutboxRow], row: _Due, now: datetime) -> bool:
        claimed = await model.filter(id=row.id, status=row.status, sent_at=row.sent_at).update(
            status=JobStatus.SENT, sent_at=now
        )
        return claimed == 1

    async def _send(self, model: type[OutboxRow], row: _Due, tenant_id: str | None) -> int:
        try:
            await asyncio.to_thread(self.send, row.actor, tenant_id, row.id)
        except UnknownActor:
            log.error("job %s names no known actor %r: retired", row.id, row.actor)
            await model.filter(id=row.id).update(
                status=JobStatus.FAILED, last_error=f"no actor named {row.actor!r}"
            )
            return 0
        except Exception as exc:  # the broker refused: put the row back for the next round
            log.warning("sending job %s (%s) failed: %s", row.id, row.actor, exc)
            await model.filter(id=row.id, status=JobStatus.SENT).update(
                status=JobStatus.PENDING, sent_at=None
            )
            return 0
        return 1
