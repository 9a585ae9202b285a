"""Background jobs: ``python -m bench jobs [--quick] [--brokers embedded,redis]``.

For each broker (the embedded StubBroker with in-process workers, and Redis), on the
embedded SQLite default (``--backend postgres`` for PostgreSQL), the app's own machinery
runs in this process as ``saas serve`` runs it: the outbox, the relay on the main event
loop, one worker pool (``--threads``) with its own tenancy runtime. Measured:

- jobs per second: N jobs committed in transactions of ``--batch`` across two tenants,
  from the first enqueue until the last one's outcome is counted (``saas_jobs_total``);
- outbox-to-start latency (p50, p99): jobs committed one by one at ``--rate`` per second,
  from the commit of the outbox row to the first line of the job function.

for a no-op tenant job and a small database job (one read, one insert, in the job's
transaction with its "done" mark), beside a bare Dramatiq actor on the same broker
(``actor.send()``, no outbox, no tenant, no database; latency from ``send()``), measured
in the same run: the ratio travels better than the absolute numbers.

The prototype measured a no-op actor at 4,200-5,000/s in-process and 1,400-1,750/s
through Redis, and a small Tortoise read/write job at 240-350/s (ARCHITECTURE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dramatiq
import redis
from prometheus_client import REGISTRY
from tortoise.transactions import in_transaction

from bench.report import run_many
from schema import TENANT_MODEL_MODULES, provision_hooks
from schema.settings.models import SettingsChange, TenantSettings
from tenants.backends import TENANT_ALIAS
from tenants.config import TenancyConfig
from tenants.outbox import enqueue
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from workers.actors import tenant_actor
from workers.background import BackgroundWork, WorkerConfig

NOOP = "bench.noop"
SMALL_DB = "bench.small_db"
BARE = "bench.bare"
DEFAULT_REDIS = os.environ.get("SAAS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
DEFAULT_DSN = os.environ.get(
    "SAAS_BENCH_POSTGRES_URL",
    os.environ.get("SAAS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
)

# marker -> time.perf_counter() when the job function started (the workers run here)
STARTED: dict[str, float] = {}


@tenant_actor(NOOP, max_retries=0)
async def noop(marker: str) -> None:
    STARTED[marker] = time.perf_counter()


@tenant_actor(SMALL_DB, max_retries=0)
async def small_db(marker: str) -> None:
    STARTED[marker] = time.perf_counter()
    settings = await TenantSettings.get(id=1)
    await SettingsChange.create(
        field="bench", old_value=settings.name, new_value=marker, actor="bench"
    )


async def bare(marker: str) -> None:
    STARTED[marker] = time.perf_counter()


@dataclass(frozen=True, slots=True)
class Result:
    broker: str
    job: str
    per_second: float
    latencies_ms: list[float]

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


class Rig:
    """The app's background machinery for one broker, on a fresh store with 2 tenants
    (``args``: ``backend`` and ``threads``; ``actor_modules``: the jobs its workers run)."""

    def __init__(
        self,
        args: argparse.Namespace,
        broker_url: str | None,
        actor_modules: tuple[str, ...] = ("bench.jobs",),
    ) -> None:
        self.args = args
        self.data_dir = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
        self.config = TenancyConfig(
            data_dir=self.data_dir,
            database_url=DEFAULT_DSN if args.backend == "postgres" else None,
            registry_schema=f"bench_jobs_{uuid.uuid4().hex[:10]}",
        )
        self.tenancy = Tenancy(self.config, TENANT_MODEL_MODULES, provision_hooks=provision_hooks())
        self.work = BackgroundWork(
            WorkerConfig(
                broker_url=broker_url,
                pools={"default": args.threads},
                actor_modules=actor_modules,
            ),
            lambda: Tenancy(self.config, TENANT_MODEL_MODULES),
        )
        self.bare: dramatiq.Actor[[str], None] = dramatiq.Actor(
            bare, broker=self.work.broker, actor_name=BARE, queue_name="default", priority=0,
            options={"max_retries": 0},
        )  # fmt: skip
        self.relay = self.work.relay(self.tenancy)
        self.tenants: list[TenantRecord] = []
        self._relay_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Rig:
        await self.tenancy.start()
        self.tenants = [await create_tenant(f"bench-{i}", "Bench", actor="bench") for i in (1, 2)]
        self.work.broker.flush_all()  # nothing left over from an earlier run
        await asyncio.to_thread(self.work.start_workers)
        self._relay_task = asyncio.create_task(
            self.relay.run(redeliver_all_sent=self.work.config.embedded)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.relay.stop()
        if self._relay_task is not None:
            await self._relay_task
        await asyncio.to_thread(self.work.stop_workers)
        self.work.broker.flush_all()
        names = [t.schema_name for t in await self.tenancy.registry.all()]
        await self.tenancy.close()
        if self.config.database_url:
            await _drop_schemas(self.config, names)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- the three ways of asking for work ----------------------------------------------

    async def enqueue_batch(self, actor: str, markers: Sequence[str], tenant: TenantRecord) -> None:
        async with tenant_scope(tenant), in_transaction(TENANT_ALIAS):
            for marker in markers:
                await enqueue(actor, {"marker": marker})

    async def enqueue_one(self, actor: str, marker: str, tenant: TenantRecord) -> float:
        """Returns when the row committed (enqueue outside a transaction commits its own)."""
        async with tenant_scope(tenant):
            await enqueue(actor, {"marker": marker})
            committed = time.perf_counter()
        return committed

    def send_bare(self, marker: str) -> float:
        sent_at = time.perf_counter()
        self.bare.send(marker)
        return sent_at

    # --- measurements -------------------------------------------------------------------

    async def throughput(self, actor: str, n: int) -> float:
        markers = [f"{actor}:t:{uuid.uuid4().hex[:8]}:{i}" for i in range(n)]
        before = jobs_done(actor)
        start = time.perf_counter()
        if actor == BARE:
            for marker in markers:
                self.bare.send(marker)
        else:
            batch = self.args.batch
            batches = [markers[i : i + batch] for i in range(0, n, batch)]

            async def one(i: int) -> None:
                await self.enqueue_batch(actor, batches[i], self.tenants[i % 2])

            await run_many(len(batches), 2, one)  # one writer per tenant
        await _until(lambda: jobs_done(actor) - before >= n)
        return n / (time.perf_counter() - start)

    async def latencies(self, actor: str, n: int) -> list[float]:
        committed: dict[str, float] = {}
        interval = 1 / self.args.rate
        next_at = time.perf_counter()
        for i in range(n):
            marker = f"{actor}:l:{uuid.uuid4().hex[:8]}:{i}"
            if actor == BARE:
                committed[marker] = self.send_bare(marker)
            else:
                committed[marker] = await self.enqueue_one(actor, marker, self.tenants[i % 2])
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await _until(lambda: all(m in STARTED for m in committed))
        return [(STARTED[m] - t) * 1000 for m, t in committed.items()]


def jobs_done(actor: str) -> float:
    return REGISTRY.get_sample_value("saas_jobs_total", {"actor": actor, "outcome": "done"}) or 0


async def _until(check: Callable[[], bool], limit: float = 300.0) -> None:
    deadline = time.perf_counter() + limit
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("the jobs did not finish in time")
        await asyncio.sleep(0.005)


async def _drop_schemas(config: TenancyConfig, names: list[str]) -> None:
    import asyncpg

    from alembic_like.targets import quote_ident

    conn = await asyncpg.connect(config.database_url)
    try:
        for name in [*names, config.registry_schema]:
            await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
    finally:
        await conn.close()


JOBS = (
    (BARE, "dramatiq send(), bare no-op"),
    (NOOP, "outbox no-op"),
    (SMALL_DB, "outbox small db"),
)


async def bench_broker(args: argparse.Namespace, name: str, url: str | None) -> list[Result]:
    results: list[Result] = []
    async with Rig(args, url) as rig:
        for actor, _ in JOBS:  # warm-up: connections, statement caches, clients
            await rig.throughput(actor, 50)
        for actor, label in JOBS:
            per_second = await rig.throughput(actor, args.jobs)
            latencies = await rig.latencies(actor, args.latency)
            result = Result(name, label, per_second, latencies)
            bare_rate = results[0].per_second if results else per_second
            print(f"  {name:<9} {label:<27} {_cells(result, bare_rate)}", flush=True)
            results.append(result)
    return results


def _cells(result: Result, bare_per_second: float) -> str:
    return (
        f"{result.per_second:>8,.0f}/s  {result.per_second / bare_per_second:>6.2f}x  "
        f"p50 {result.quantile(50):>7.2f} ms  p99 {result.quantile(99):>7.2f} ms"
    )


def format_results(results: Sequence[Result]) -> str:
    header = ("broker", "job", "jobs/s", "vs bare", "p50 ms", "p99 ms")
    rows = [header]
    bare_rate = {r.broker: r.per_second for r in results if r.job.startswith("dramatiq")}
    for r in results:
        ratio = r.per_second / bare_rate[r.broker]
        rows.append(
            (
                r.broker, r.job, f"{r.per_second:,.0f}", f"{ratio:.2f}x",
                f"{r.quantile(50):.2f}", f"{r.quantile(99):.2f}",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return " | ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([line(header), "-+-".join("-" * w for w in widths), *map(line, rows[1:])])


def redis_reachable(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_timeout=3).ping()
    except (OSError, redis.RedisError):
        return False
    return True


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench jobs", description=summary)
    parser.add_argument("--quick", action="store_true", help="500 jobs, 100 latency samples")
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per throughput run")
    parser.add_argument("--latency", type=int, default=300, help="jobs per latency run")
    parser.add_argument("--rate", type=float, default=100.0, help="latency runs: jobs/s")
    parser.add_argument("--batch", type=int, default=100, help="jobs per enqueue transaction")
    parser.add_argument("--threads", type=int, default=4, help="worker threads")
    parser.add_argument("--brokers", default="embedded,redis", help="embedded,redis")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.latency = 500, 100
    return args


async def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    for name in args.brokers.split(","):
        url: str | None = None
        if name == "redis":
            url = str(args.redis_url)
            if not redis_reachable(url):
                print(f"  redis: not reachable at {url}, skipped", flush=True)
                continue
        results += await bench_broker(args, name, url)
    return results


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    print(
        f"jobs: {args.jobs} per throughput run, {args.latency} at {args.rate:g}/s for latency, "
        f"{args.threads} worker threads, {args.backend}",
        flush=True,
    )
    results = asyncio.run(run(args))
    print()
    print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
