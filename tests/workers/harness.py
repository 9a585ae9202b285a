"""Running the real background machinery in a test: worker pools on a real broker
(embedded StubBroker, Redis or RabbitMQ) and the relay on the test's loop, plus audits
that read the stores with raw SQL, never through the code under test.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
import pika
import redis
from prometheus_client import REGISTRY

from alembic_like.targets import quote_ident
from tenants.outbox import QUEUES, enqueue
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.tenants.helpers import sqlite_file
from tests.workers.jobs import JOB_MODULES, RECORD
from workers.background import BackgroundWork, WorkerConfig
from workers.relay import Relay, RelayConfig

# Quick enough for tests: a sweep twice a second, fresh hints seen within 50 ms.
FAST_RELAY = RelayConfig(poll_interval=0.05, sweep_interval=0.5)
POOLS: Mapping[str, int] = {"default": 2}
# Idle threads look for work ten times a second: pools stop in about 0.2 s, and retry
# delays are honoured within 0.1 s.
WORKER_TIMEOUT_MS = 100


def worker_tenancy(tenancy: Tenancy) -> Callable[[], Tenancy]:
    """What the worker runtime starts on its own loop: the same stores as ``tenancy``."""
    return lambda: Tenancy(tenancy.config, tenancy.tenant_models)


def make_work(
    tenancy: Tenancy,
    broker_url: str | None = None,
    *,
    pools: Mapping[str, int] = POOLS,
    relay: RelayConfig = FAST_RELAY,
    actor_modules: tuple[str, ...] = JOB_MODULES,
) -> BackgroundWork:
    config = WorkerConfig(
        broker_url=broker_url,
        pools=dict(pools),
        relay=relay,
        actor_modules=actor_modules,
        worker_timeout_ms=WORKER_TIMEOUT_MS,
    )
    return BackgroundWork(config, worker_tenancy(tenancy))


@asynccontextmanager
async def relaying(relay: Relay, *, redeliver_all_sent: bool) -> AsyncIterator[Relay]:
    """``relay.run()`` as a task on this loop for the block's duration."""
    task = asyncio.create_task(relay.run(redeliver_all_sent=redeliver_all_sent))
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def running_work(
    tenancy: Tenancy,
    broker_url: str | None = None,
    *,
    pools: Mapping[str, int] = POOLS,
    relay: RelayConfig | None = FAST_RELAY,
    actor_modules: tuple[str, ...] = JOB_MODULES,
) -> AsyncIterator[BackgroundWork]:
    """Worker pools in this process's threads and (unless ``relay`` is None) the relay on
    this loop, as ``saas serve`` runs them: a fresh start, so in embedded mode the relay
    first resends every job still marked sent (that broker's messages died with it)."""
    work = make_work(
        tenancy, broker_url, pools=pools, relay=relay or FAST_RELAY, actor_modules=actor_modules
    )
    await asyncio.to_thread(work.start_workers)
    try:
        if relay is None:
            yield work
        else:
            async with relaying(work.relay(tenancy), redeliver_all_sent=work.config.embedded):
                yield work
    finally:
        await asyncio.to_thread(work.stop_workers)


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, within: float = 20.0, what: str = "the condition"
) -> float:
    """Poll ``check`` until true; returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.03)
    return time.monotonic() - started


# --- enqueueing ----------------------------------------------------------------------------


async def enqueue_jobs(
    tenant: TenantRecord,
    markers: Iterable[str],
    actor: str = RECORD,
    *,
    queue: str = "default",
    **args: Any,
) -> list[int]:
    """One committed job per marker in the tenant's outbox; returns their ids."""
    ids = []
    async with tenant_scope(tenant):
        for marker in markers:
            row = await enqueue(actor, {"marker": marker, **args}, queue=queue)
            assert row is not None
            ids.append(row.id)
    return ids


# --- audits (raw SQL: they do not trust what they audit) -----------------------------------


async def outbox_rows(tenancy: Tenancy, tenant: TenantRecord) -> list[dict[str, Any]]:
    return await tenancy.backend.raw_table(tenant.schema_name, "job_outbox")


async def effects(tenancy: Tenancy, tenant: TenantRecord) -> Counter[str]:
    """How many times each job marker's effect is in the tenant's store."""
    rows = await tenancy.backend.raw_table(tenant.schema_name, "settings_change")
    return Counter(row["new_value"] for row in rows if row["field"] == "job")


async def effect_tenants(tenancy: Tenancy, tenant: TenantRecord) -> set[str]:
    """The tenants whose scope the jobs that wrote into this tenant's store ran in."""
    rows = await tenancy.backend.raw_table(tenant.schema_name, "settings_change")
    return {row["reason"] for row in rows if row["field"] == "job"}


async def statuses(tenancy: Tenancy, tenant: TenantRecord) -> dict[int, str]:
    return {row["id"]: row["status"] for row in await outbox_rows(tenancy, tenant)}


def all_done(tenancy: Tenancy, tenants: Iterable[TenantRecord]) -> Callable[[], Awaitable[bool]]:
    tenants = list(tenants)

    async def check() -> bool:
        for tenant in tenants:
            if set((await statuses(tenancy, tenant)).values()) - {"done"}:
                return False
        return True

    return check


def job_status(
    tenancy: Tenancy, tenant: TenantRecord, job_id: int, status: str
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await statuses(tenancy, tenant)).get(job_id) == status

    return check


# --- metrics -------------------------------------------------------------------------------


class JobCounts:
    """``saas_jobs_total`` and ``saas_job_duration_seconds`` of some actors, relative to
    the moment this was made (the registry is process-wide)."""

    def __init__(self, *actors: str) -> None:
        self.actors = actors
        self._start = self._now()

    @staticmethod
    def _sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def _now(self) -> dict[tuple[str, str], float]:
        values = {}
        for actor in self.actors:
            for outcome in ("done", "skipped", "retried", "failed"):
                labels = {"actor": actor, "outcome": outcome}
                values[actor, outcome] = self._sample("saas_jobs_total", labels)
            values[actor, "timed"] = self._sample(
                "saas_job_duration_seconds_count", {"actor": actor}
            )
        return values

    def delta(self, actor: str) -> dict[str, float]:
        """Increments since creation: done, skipped, retried, failed and timed (the
        number of durations observed); zeros left out."""
        now = self._now()
        return {
            key[1]: now[key] - self._start[key]
            for key in now
            if key[0] == actor and now[key] != self._start[key]
        }


# --- brokers -------------------------------------------------------------------------------


def clear_broker(url: str | None) -> None:
    """Drop every message a broker holds for the test queues (nothing for the embedded
    broker, which lives and dies with its BackgroundWork). Redis: the test run's own
    database (see the ``redis_url`` fixture). RabbitMQ: its queues are named after the
    actors' queues, so the test queues are purged, with their delay and dead-letter
    queues."""
    if not url:
        return
    if url.startswith("redis"):
        redis.Redis.from_url(url).flushdb()
        return
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        for queue in QUEUES:
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                channel = connection.channel()
                with suppress(pika.exceptions.ChannelClosedByBroker):  # no such queue
                    channel.queue_purge(name)
                with suppress(pika.exceptions.AMQPError):
                    channel.close()
    finally:
        connection.close()


def record_retry_delays(work: BackgroundWork) -> list[int]:
    """The delays (ms) the broker is asked to hold messages for: Dramatiq's Retries
    middleware re-enqueues a failed message with its backoff as the delay."""
    delays: list[int] = []
    enqueue = work.broker.enqueue

    def recording(message: Any, *, delay: int | None = None) -> Any:
        if delay is not None:
            delays.append(delay)
        return enqueue(message, delay=delay)

    work.broker.enqueue = recording  # type: ignore[method-assign]
    return delays


@asynccontextmanager
async def other_runtime(tenancy: Tenancy) -> AsyncIterator[Tenancy]:
    """A second runtime on the same stores with connections of its own, as another
    process has; code runs in it inside ``with runtime.bind():``."""
    runtime = Tenancy(tenancy.config, tenancy.tenant_models)
    await runtime.start(process_default=False)
    try:
        yield runtime
    finally:
        await runtime.close()


class Sends:
    """A relay's ``send``: records what it was asked to send, in order, and fails the
    calls it was told to fail."""

    def __init__(self, *, fail: int = 0, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, str | None, int]] = []
        self.fail = fail
        self.delay = delay

    def __call__(self, actor: str, tenant_id: str | None, job_id: int) -> None:
        time.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise ConnectionError("the broker is down")
        self.sent.append((actor, tenant_id, job_id))


@asynccontextmanager
async def open_transaction(
    tenancy: Tenancy, tenant: TenantRecord, *statements: str
) -> AsyncIterator[None]:
    """Another connection's transaction on the tenant's store that ran ``statements``
    and holds their row (PostgreSQL) or write (SQLite) locks until the block ends; then
    it commits."""
    if tenancy.config.dialect == "sqlite":
        path = sqlite_file(tenancy.backend, tenant.schema_name)
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql in statements:
                conn.execute(sql)
            yield
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(tenancy.config.database_url)
    try:
        await pg.execute(f"SET search_path TO {quote_ident(tenant.schema_name)}")
        async with pg.transaction():
            for sql in statements:
                await pg.execute(sql)
            yield
    finally:
        await pg.close()


async def wait_for_lock_waiter(tenancy: Tenancy, table: str) -> None:
    """PostgreSQL: until a session of this database waits on a lock in a write to
    ``table``. (SQLite writers wait in a busy loop nobody can see: a short pause.)"""
    if tenancy.config.dialect == "sqlite":
        await asyncio.sleep(0.3)
        return
    conn = await asyncpg.connect(tenancy.config.database_url)
    try:

        async def waiting() -> bool:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE $1",
                    f'%"{table}"%',
                )
            )

        await wait_for(waiting, within=10, what=f"a write to {table} waiting on a lock")
    finally:
        await conn.close()
