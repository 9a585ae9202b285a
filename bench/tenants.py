"""Tenancy benchmarks: ``python -m bench tenants [--quick] [--backend sqlite|postgres]``.

On each backend (SQLite files in a temporary data dir; PostgreSQL with registry schemas of
its own, dropped afterwards together with every tenant schema):

1. tenant creation (``create_tenant``, provisioning hooks included), sequential and
   parallel, against the raw cost of making the same number of tenant stores by hand;
2. a fleet migration: one synthetic revision on top of the real tenant track, applied to
   every tenant by ``migrate_fleet``, against the same DDL run on bare connections;
3. the no-op "all at head" check (``behind_head_count``) against a bare ``SELECT 1``, and
   ``migrate_fleet`` when every tenant is already at head against a bare version read;
4. PostgreSQL only: connections and process memory after a scoped read in 1, 500 and
   10,000 tenants. Tenants beyond the first 1,000 of that fleet are made by a fast path
   (see ``PostgresRig.bulk_create``), or the full run would take far longer than 5 min.

"Parallel N" everywhere means N workers in one event loop (``asyncio.gather`` of N
coroutines, each taking the next operation), so at most N operations are in flight.
References use the same parallelism.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import itertools
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiosqlite
import asyncpg
from tortoise.transactions import in_transaction

from alembic_like import PostgresTarget, Revision, SqliteTarget, Track
from alembic_like.sql import serial_pk, timestamp
from alembic_like.targets import VERSION_TABLE, quote_ident
from alembic_like.tenant import TRACK as TENANT_TRACK
from bench.report import (
    Row,
    format_row,
    format_table,
    holds,
    max_ms_per_op,
    max_total_s,
    median_s,
    rss_mb,
    run_many,
)
from schema import TENANT_MODEL_MODULES, provision_hooks
from schema.settings.models import TenantSettings
from tenants.backends import SHARED_ALIAS
from tenants.backends.postgres import PostgresBackend
from tenants.backends.sqlite import SqliteBackend
from tenants.config import TenancyConfig
from tenants.migrations import behind_head_count, migrate_fleet
from tenants.models import Tenant, TenantStatus
from tenants.provisioning import create_tenant, new_tenant_id
from tenants.records import TenantRecord
from tenants.registry import bump_generation
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope

DEFAULT_DSN = os.environ.get(
    "SAAS_BENCH_POSTGRES_URL",
    os.environ.get("SAAS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
)
EXTRA_REVISION = "bench_x1"
EXTRA_TABLE = "bench_extra"  # what the synthetic revision creates
REF_TABLE = "bench_ref"  # the same DDL under another name, for the bare reference
# A transaction that creates or drops a tenant schema holds 25-40 locks until it ends,
# and the server's lock table is shared by every session (max_locks_per_transaction x
# max_connections, 6,400 by default): batches stay small enough for all of them at once.
DROP_BATCH = 50  # schemas per DROP SCHEMA statement, one statement at a time
BULK_BATCH = 20  # tenants per transaction on the PostgreSQL fast path (4 in flight)
# The names of this suite's registry, reference and warm-up schemas, for --sweep.
SINGLE_REPEAT = 5  # "create 1 tenant" is timed this many times; the median is reported
LEFTOVER_PATTERN = r"^((bench|bref)_[0-9a-f]{8}_[0-9]+|t_warmup_[0-9a-f]{12})$"


@dataclass(frozen=True, slots=True)
class Plan:
    create_sizes: tuple[int, ...]  # the largest parallel fleet also serves the migrations
    touch_sizes: tuple[int, ...]
    # Above this many tenants in a fleet, PostgreSQL top-ups take the fast path.
    bulk_above: int = 1_000
    parallel: int = 4
    # More scopes in flight than the pool has connections, so the pool must share them.
    touch_concurrency: int = 32
    repeat: int = 25


FULL = Plan(create_sizes=(1, 200, 1_000), touch_sizes=(1, 500, 10_000))
# The quick plan still takes the PostgreSQL fast path once, for 50 tenants.
QUICK = Plan(create_sizes=(1, 20, 100), touch_sizes=(1, 50), bulk_above=20)


# -- the synthetic revision --------------------------------------------------------------


def extra_statements(table: str, dialect: str) -> list[str]:
    return [
        f"CREATE TABLE {table} (id {serial_pk(dialect)}, note VARCHAR(200) NOT NULL,"
        f" created_at {timestamp(dialect)} NOT NULL)",
        f"CREATE INDEX idx_{table}_created_at ON {table} (created_at)",
    ]


def extended_track(base: Track) -> Track:
    """The real tenant track plus one synthetic revision (a table and an index)."""
    extra = Revision(
        id=EXTRA_REVISION,
        down=base.head,
        description="benchmark: one table and one index",
        upgrade=partial(extra_statements, EXTRA_TABLE),
        downgrade=lambda _dialect: [f"DROP TABLE {EXTRA_TABLE}"],
    )
    return Track(base.name, [*base.revisions, extra])


def head_statements(track: Track, dialect: str) -> list[str]:
    return [sql for step in track.plan(None, track.head) for sql in step.statements(dialect)]


# -- a fleet: one runtime with a registry of its own --------------------------------------


class Fleet:
    """A tenancy runtime over a registry (and data) of its own, restartable with another
    tenant track. Tenants are named ``b00000``, ``b00001``, ... in creation order."""

    def __init__(self, config: TenancyConfig) -> None:
        self.config = config
        self.created = 0
        self._tenancy: Tenancy | None = None

    @staticmethod
    def slug(number: int) -> str:
        return f"b{number:05d}"

    @property
    def tenancy(self) -> Tenancy:
        if self._tenancy is None:
            raise RuntimeError("the fleet is not started")
        return self._tenancy

    async def start(self, track: Track = TENANT_TRACK) -> None:
        tenancy = Tenancy(
            self.config, TENANT_MODEL_MODULES, provision_hooks=provision_hooks(), tenant_track=track
        )
        await tenancy.start()
        self._tenancy = tenancy

    async def close(self) -> None:
        if self._tenancy is not None:
            await self._tenancy.close()
            self._tenancy = None

    async def restart(self, track: Track) -> None:
        await self.close()
        await self.start(track)

    async def create(self, count: int, parallel: int) -> float:
        """Create ``count`` more tenants; return the seconds it took."""
        first = self.created

        async def one(i: int) -> None:
            await create_tenant(self.slug(first + i), f"Bench {first + i}", actor="bench")
            self.created += 1

        return await run_many(count, parallel, one)

    async def warm_up(self) -> float:
        """Do what the first tenant of a fresh runtime would do once (build the SQLite
        template; open the pool and run a first registry query), so that n=1 measures a
        tenant, not a cold start. Return the seconds it took."""
        start = time.perf_counter()
        backend, track = self.tenancy.backend, self.tenancy.tenant_track
        scratch = f"t_warmup_{uuid.uuid4().hex[:12]}"
        await backend.create_schema(scratch, track)
        await backend.drop_schema(scratch)
        await behind_head_count()
        return time.perf_counter() - start

    async def records(self) -> list[TenantRecord]:
        return await self.tenancy.registry.all()


# -- references: the same work on bare connections, no tenancy code ------------------------


class Bare(Protocol):
    async def create(self, i: int) -> None:
        """Make reference tenant ``i`` from scratch."""

    async def apply(self, schema_name: str, statements: Sequence[str]) -> None:
        """Run DDL in a tenant's store, in one transaction."""

    async def read_version(self, schema_name: str) -> None: ...

    async def round_trip(self) -> None:
        """``SELECT 1`` on the registry's database."""


class Rig(abc.ABC):
    """One backend: how to make and discard fleets, and its bare references."""

    name: str
    dialect: str
    create_target_ms: float

    @abc.abstractmethod
    def new_config(self) -> TenancyConfig: ...

    @abc.abstractmethod
    async def discard(self, config: TenancyConfig) -> None:
        """Remove everything a fleet made."""

    @abc.abstractmethod
    def bare(self, fleet: Fleet, parallel: int) -> AbstractAsyncContextManager[Bare]: ...

    @asynccontextmanager
    async def fleet(self) -> AsyncIterator[Fleet]:
        fleet = Fleet(self.new_config())
        try:
            await fleet.start()
            yield fleet
        finally:
            await fleet.close()
            await self.discard(fleet.config)


def _copy_and_open(template: Path, path: Path) -> None:
    shutil.copyfile(template, path)
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()


def _sqlite_apply(path: Path, statements: Sequence[str]) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for sql in statements:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _sqlite_read_version(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    try:
        sql = f"SELECT revision FROM {VERSION_TABLE} WHERE track = ?"
        conn.execute(sql, (TENANT_TRACK.name,)).fetchone()
    finally:
        conn.close()


class SqliteBare:
    def __init__(
        self,
        path_of: Callable[[str], Path],
        scratch: Path,
        template: Path,
        shared: aiosqlite.Connection,
    ) -> None:
        self._path = path_of
        self.scratch = scratch
        self.template = template
        self.shared = shared

    async def create(self, i: int) -> None:
        await asyncio.to_thread(_copy_and_open, self.template, self.scratch / f"ref{i}.db")

    async def apply(self, schema_name: str, statements: Sequence[str]) -> None:
        await asyncio.to_thread(_sqlite_apply, self._path(schema_name), statements)

    async def read_version(self, schema_name: str) -> None:
        await asyncio.to_thread(_sqlite_read_version, self._path(schema_name))

    async def round_trip(self) -> None:
        async with self.shared.execute("SELECT 1") as cursor:
            await cursor.fetchone()


class SqliteRig(Rig):
    name = "SQLite"
    dialect = "sqlite"
    create_target_ms = 15.0

    def __init__(self, root: Path) -> None:
        self.root = root

    def new_config(self) -> TenancyConfig:
        return TenancyConfig(data_dir=Path(tempfile.mkdtemp(prefix="fleet-", dir=self.root)))

    async def discard(self, config: TenancyConfig) -> None:
        await asyncio.to_thread(shutil.rmtree, config.data_dir, ignore_errors=True)

    @asynccontextmanager
    async def bare(self, fleet: Fleet, parallel: int) -> AsyncIterator[SqliteBare]:
        backend = fleet.tenancy.backend
        assert isinstance(backend, SqliteBackend)
        track = fleet.tenancy.tenant_track
        scratch = Path(tempfile.mkdtemp(prefix="ref-", dir=self.root))
        template = scratch / "template.db"
        await SqliteTarget(template, create=True).migrate(track, track.head)
        shared = await aiosqlite.connect(backend.shared_path)
        try:
            yield SqliteBare(backend.path_of, scratch, template, shared)
        finally:
            await shared.close()
            await asyncio.to_thread(shutil.rmtree, scratch, ignore_errors=True)


class BareConnections:
    """A few plain asyncpg connections, lent one task at a time (no reset on return)."""

    def __init__(self, connections: Sequence[asyncpg.Connection]) -> None:
        self._idle: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
        for conn in connections:
            self._idle.put_nowait(conn)

    @classmethod
    @asynccontextmanager
    async def open(cls, dsn: str, count: int) -> AsyncIterator[BareConnections]:
        connections = await asyncio.gather(*(asyncpg.connect(dsn) for _ in range(count)))
        try:
            yield cls(connections)
        finally:
            await asyncio.gather(*(conn.close() for conn in connections))

    @asynccontextmanager
    async def borrow(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self._idle.get()
        try:
            yield conn
        finally:
            self._idle.put_nowait(conn)

    async def drop_schemas(self, names: Sequence[str]) -> None:
        """``DROP SCHEMA ... CASCADE``, a batch per statement (in parallel, the drops
        gained little and ran the server out of lock slots)."""
        async with self.borrow() as conn:
            for start in range(0, len(names), DROP_BATCH):
                batch = ", ".join(quote_ident(name) for name in names[start : start + DROP_BATCH])
                await conn.execute(f"DROP SCHEMA IF EXISTS {batch} CASCADE")

    async def drop_fleet(self, registry_schema: str) -> int:
        """Drop the tenant schemas a registry lists, then the registry; return how many."""
        tenant_table = f"{quote_ident(registry_schema)}.tenant"
        async with self.borrow() as conn:
            names: list[str] = []
            if await conn.fetchval("SELECT to_regclass($1)", tenant_table):
                names = [
                    row[0] for row in await conn.fetch(f"SELECT schema_name FROM {tenant_table}")
                ]
        await self.drop_schemas(names)
        # The registry last: until then it still lists what is left to drop.
        await self.drop_schemas([registry_schema])
        return len(names)

    async def sweep(self) -> int:
        """Drop what interrupted runs left: their registries (with the tenant schemas
        listed there) and their reference schemas, found by name."""
        async with self.borrow() as conn:
            rows = await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname ~ $1 ORDER BY nspname",
                LEFTOVER_PATTERN,
            )
        dropped = 0
        for (name,) in rows:
            dropped += await self.drop_fleet(name) + 1
        return dropped


class PostgresBare:
    def __init__(self, connections: BareConnections, prefix: str, statements: list[str]) -> None:
        self.connections = connections
        self._borrow = connections.borrow
        self.prefix = prefix
        self.statements = statements

    async def create(self, i: int) -> None:
        schema = quote_ident(f"{self.prefix}{i}")
        async with self._borrow() as conn, conn.transaction():
            await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            for sql in self.statements:
                await conn.execute(sql)

    async def apply(self, schema_name: str, statements: Sequence[str]) -> None:
        async with self._borrow() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL search_path TO {quote_ident(schema_name)}")
            for sql in statements:
                await conn.execute(sql)

    async def read_version(self, schema_name: str) -> None:
        table = f"{quote_ident(schema_name)}.{VERSION_TABLE}"
        async with self._borrow() as conn:
            await conn.fetchval(f"SELECT revision FROM {table} WHERE track = $1", TENANT_TRACK.name)

    async def round_trip(self) -> None:
        async with self._borrow() as conn:
            await conn.fetchval("SELECT 1")

    async def read_settings(self, schema_name: str) -> None:
        async with self._borrow() as conn:
            await conn.fetchrow(
                f"SELECT * FROM {quote_ident(schema_name)}.tenant_settings WHERE id = 1"
            )


async def _create_batch(fleet: Fleet, numbers: range) -> None:
    tenancy = fleet.tenancy
    backend, track = tenancy.backend, tenancy.tenant_track
    assert isinstance(backend, PostgresBackend)
    rows = []
    for number in numbers:
        tenant_id = new_tenant_id()
        rows.append(
            Tenant(
                id=tenant_id,
                slug=fleet.slug(number),
                display_name=f"Bench {number}",
                status=TenantStatus.PROVISIONING,
                schema_name=f"t_{tenant_id}",
            )
        )
    await Tenant.bulk_create(rows)  # first, so that cleanup finds every schema
    async with backend.pool.acquire() as conn, conn.transaction():
        for row in rows:
            await conn.execute(f"CREATE SCHEMA {quote_ident(row.schema_name)}")
            await PostgresTarget(conn, row.schema_name).migrate(track, track.head)
    ids = [row.id for row in rows]
    await Tenant.filter(id__in=ids).update(schema_version=track.head)
    for row in rows:
        row.schema_version = track.head
        record = TenantRecord.from_row(row, ())
        async with tenant_scope(record, provisioning=True):
            for hook in tenancy.provision_hooks:
                await hook(record)
    async with in_transaction(SHARED_ALIAS):
        await Tenant.filter(id__in=ids).update(status=TenantStatus.ACTIVE)
        await bump_generation()
    tenancy.registry.invalidate()


def _with_application_name(dsn: str, name: str) -> str:
    """asyncpg passes unknown DSN parameters on as server settings."""
    parts = urlsplit(dsn)
    query = [*parse_qsl(parts.query), ("application_name", name)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class PostgresRig(Rig):
    name = "PostgreSQL"
    dialect = "postgres"
    create_target_ms = 60.0

    def __init__(self, dsn: str, root: Path) -> None:
        self.dsn = dsn
        self.root = root
        self.run_id = uuid.uuid4().hex[:8]
        # The runtime's pool connections carry this name, so they can be counted apart
        # from every other session on the database.
        self.app_name = f"saas-bench-{self.run_id}"
        self._fleets = 0

    def new_config(self) -> TenancyConfig:
        self._fleets += 1
        return TenancyConfig(
            data_dir=self.root,
            database_url=_with_application_name(self.dsn, self.app_name),
            registry_schema=f"bench_{self.run_id}_{self._fleets}",
        )

    async def discard(self, config: TenancyConfig) -> None:
        start = time.perf_counter()
        async with BareConnections.open(self.dsn, 1) as connections:
            dropped = await connections.drop_fleet(config.registry_schema)
        elapsed = time.perf_counter() - start
        print(f"  (cleanup: {dropped:,} tenant schema(s) dropped in {elapsed:.1f} s)")

    async def bulk_create(self, fleet: Fleet, count: int, parallel: int) -> float:
        """The fast path for big fleets: registry rows in bulk, the schemas made by
        ``PostgresTarget`` in one transaction per ``BULK_BATCH`` tenants (one commit, not
        five per tenant), the real provisioning hooks in each tenant's scope, then all
        activated at once. No lifecycle events are recorded."""
        first = fleet.created
        starts = range(first, first + count, BULK_BATCH)

        async def batch(i: int) -> None:
            numbers = range(starts[i], min(starts[i] + BULK_BATCH, first + count))
            await _create_batch(fleet, numbers)
            fleet.created += len(numbers)

        return await run_many(len(starts), parallel, batch)

    @asynccontextmanager
    async def bare(self, fleet: Fleet, parallel: int) -> AsyncIterator[PostgresBare]:
        prefix = f"bref_{self.run_id}_"
        statements = head_statements(fleet.tenancy.tenant_track, self.dialect)
        async with BareConnections.open(self.dsn, parallel) as connections:
            try:
                yield PostgresBare(connections, prefix, statements)
            finally:
                async with connections.borrow() as conn:
                    made = await conn.fetch(
                        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", prefix
                    )
                await connections.drop_schemas([row[0] for row in made])

    async def connection_counts(self) -> tuple[int, int]:
        """Sessions on the database (this probe included), and those of the runtime's pool."""
        conn = await asyncpg.connect(self.dsn)
        try:
            everyone = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            ours = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = $1",
                self.app_name,
            )
        finally:
            await conn.close()
        return everyone, ours


# -- the sections ------------------------------------------------------------------------


def _mode(parallel: int) -> str:
    return "sequential" if parallel <= 1 else f"parallel {parallel}"


async def _create(rig: Rig, fleet: Fleet, n: int, parallel: int) -> Row:
    warm_up = await fleet.warm_up()
    detail = f"fresh runtime, warmed up in {warm_up * 1000:.0f} ms"
    async with rig.bare(fleet, parallel) as bare:
        if n == 1:  # one sample is mostly noise: the median of a few single creations
            numbers = itertools.count()
            elapsed = await median_s(SINGLE_REPEAT, lambda: fleet.create(1, 1))
            ref = await median_s(SINGLE_REPEAT, lambda: bare.create(next(numbers)))
            detail += f"; median of {SINGLE_REPEAT}"
        else:
            elapsed = await fleet.create(n, parallel)
            ref = await run_many(n, parallel, bare.create)
    return Row(
        f"create_tenant, {_mode(parallel)}",
        n,
        elapsed,
        n,
        ref * 1000 / n,
        max_ms_per_op(rig.create_target_ms, f"<= {rig.create_target_ms:g} ms/tenant"),
        detail,
    )


async def creation(rig: Rig, plan: Plan) -> AsyncIterator[Row]:
    """Each size in a fresh runtime of its own; the largest parallel one goes on to the
    migration rows, so they run on exactly that many tenants."""
    for parallel in (1, plan.parallel):
        for n in plan.create_sizes:
            async with rig.fleet() as fleet:
                yield await _create(rig, fleet, n, parallel)
                if parallel > 1 and n == plan.create_sizes[-1]:
                    async for row in migrations(rig, fleet, plan):
                        yield row


async def _fleet_migration(rig: Rig, fleet: Fleet, bare: Bare, plan: Plan) -> Row:
    names = [record.schema_name for record in await fleet.records()]
    ref_ddl = extra_statements(REF_TABLE, rig.dialect)
    ref = await run_many(len(names), plan.parallel, lambda i: bare.apply(names[i], ref_ddl))
    await fleet.restart(extended_track(fleet.tenancy.tenant_track))
    behind = await behind_head_count()
    start = time.perf_counter()
    report = await migrate_fleet("head", parallel=plan.parallel)
    elapsed = time.perf_counter() - start
    left = await behind_head_count()
    passed = report.ok and left == 0 and elapsed <= 5.0 * len(names) / 1_000
    return Row(
        f"migrate_fleet +1 revision, {_mode(plan.parallel)}",
        len(names),
        elapsed,
        len(names),
        ref * 1000 / len(names),
        holds("<= 5 s per 1,000, no failure", passed),
        f"{behind:,} behind before; {len(report.migrated):,} migrated, "
        f"{len(report.failed):,} failed, {left:,} behind after",
    )


async def _noop_check(bare: Bare, plan: Plan, n: int) -> Row:
    check = await median_s(plan.repeat, behind_head_count)
    ref = await median_s(plan.repeat, bare.round_trip)
    return Row(
        "behind_head_count(), all at head",
        n,
        check,
        1,
        ref * 1000,
        max_total_s(0.1, strict=True),
        f"one call, median of {plan.repeat}; ref = bare SELECT 1",
    )


async def _noop_fleet(bare: Bare, fleet: Fleet, plan: Plan) -> Row:
    names = [record.schema_name for record in await fleet.records()]
    ref = await run_many(len(names), plan.parallel, lambda i: bare.read_version(names[i]))
    start = time.perf_counter()
    report = await migrate_fleet("head", parallel=plan.parallel)
    elapsed = time.perf_counter() - start
    return Row(
        f"migrate_fleet all at head, {_mode(plan.parallel)}",
        len(names),
        elapsed,
        len(names),
        ref * 1000 / len(names),
        detail=f"{len(report.unchanged):,} unchanged, {len(report.failed):,} failed;"
        " ref = bare version read per tenant",
    )


async def migrations(rig: Rig, fleet: Fleet, plan: Plan) -> AsyncIterator[Row]:
    async with rig.bare(fleet, plan.parallel) as bare:
        yield await _fleet_migration(rig, fleet, bare, plan)
        yield await _noop_check(bare, plan, fleet.created)
        yield await _noop_fleet(bare, fleet, plan)


async def _touch(rig: PostgresRig, fleet: Fleet, plan: Plan, n: int, rss_before: float) -> Row:
    records = (await fleet.records())[:n]
    rss_loaded = rss_mb()

    async def scoped_read(i: int) -> None:
        async with tenant_scope(records[i]):
            await TenantSettings.get(id=1)

    elapsed = await run_many(n, plan.touch_concurrency, scoped_read)
    stats = fleet.tenancy.backend.stats()
    everyone, ours = await rig.connection_counts()
    rss = rss_mb()
    async with rig.bare(fleet, plan.touch_concurrency) as bare:
        assert isinstance(bare, PostgresBare)
        ref = await run_many(
            n, plan.touch_concurrency, lambda i: bare.read_settings(records[i].schema_name)
        )
    pool_max = int(stats["pool_max"])
    return Row(
        f"scoped read in each tenant, {plan.touch_concurrency} in flight",
        n,
        elapsed,
        n,
        ref * 1000 / n,
        holds(f"runtime conns <= pool max {pool_max}", ours <= pool_max),
        f"db conns {everyone}, runtime {ours}, pool {stats['pool_size']:.0f}/{pool_max}, "
        f"tenant clients {stats['open_tenant_clients']:.0f}, "
        f"RSS {rss:.1f} MB ({rss - rss_before:+.1f} since the first step, "
        f"{rss - rss_loaded:+.1f} in the reads)",
    )


async def _top_up(rig: PostgresRig, fleet: Fleet, plan: Plan, n: int) -> Row:
    missing = n - fleet.created
    if n > plan.bulk_above:
        how = "fast path*"
        elapsed = await rig.bulk_create(fleet, missing, plan.parallel)
    else:
        how = "create_tenant"
        elapsed = await fleet.create(missing, plan.parallel)
    return Row(f"setup: {how} up to {n:,}, {_mode(plan.parallel)}", missing, elapsed, missing)


async def footprint(rig: PostgresRig, plan: Plan) -> AsyncIterator[Row]:
    """Tenants are added up to each size, then each one is touched."""
    async with rig.fleet() as fleet:
        rss_before = rss_mb()
        for n in plan.touch_sizes:
            if n > fleet.created:
                yield await _top_up(rig, fleet, plan, n)
            yield await _touch(rig, fleet, plan, n, rss_before)


# -- running -----------------------------------------------------------------------------


async def postgres_reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


FOOTNOTES = {
    "PostgreSQL": (
        f"* fast path: registry rows in bulk, schemas made by PostgresTarget in one transaction"
        f" per {BULK_BATCH} tenants, the real provisioning hooks in each tenant's scope, then"
        " all activated at once; no lifecycle events recorded (create_tenant at 10,000 would"
        " take over 2 minutes on a 2-core machine)\n"
        "db conns = every session on the database (this probe and other clients included);"
        " runtime = the sessions of the runtime's pool (application_name); RSS: the process's"
        " VmRSS, which also holds the registry records the step loads (10,000 at the end)"
    ),
}


async def bench_rig(rig: Rig, plan: Plan) -> list[Row]:
    print(f"\n== {rig.name}", flush=True)
    sections = [creation(rig, plan)]
    if isinstance(rig, PostgresRig):
        sections.append(footprint(rig, plan))
    rows: list[Row] = []
    for section in sections:
        async for row in section:
            print(format_row(row), flush=True)
            rows.append(row)
    return rows


async def run(args: argparse.Namespace) -> list[tuple[str, list[Row]]]:
    plan = QUICK if args.quick else FULL
    print(
        f"tenancy benchmarks ({'quick' if args.quick else 'full'}): {os.cpu_count()} CPU cores, "
        f"load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}\n"
        f"parallel {plan.parallel} = {plan.parallel} workers in one event loop (asyncio.gather"
        f" of {plan.parallel} coroutines, each taking the next operation), so at most"
        f" {plan.parallel} in flight; references run the same way\n"
        "ms/op = wall-clock total / operations (with parallelism: throughput, not latency); "
        "ref ms/op = the same work without the tenancy layer, measured in this run the same "
        "way; ratio = ms/op / ref ms/op"
    )
    results: list[tuple[str, list[Row]]] = []
    with tempfile.TemporaryDirectory(prefix="saas-bench-") as root:
        if args.backend in ("all", "sqlite"):
            rig = SqliteRig(Path(root))
            results.append((rig.name, await bench_rig(rig, plan)))
        if args.backend in ("all", "postgres"):
            if await postgres_reachable(args.dsn):
                rig = PostgresRig(args.dsn, Path(root))
                results.append((rig.name, await bench_rig(rig, plan)))
            else:
                print(f"\nPostgreSQL skipped: not reachable at {args.dsn}")
    return results


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench tenants", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, no 10,000-tenant step")
    parser.add_argument("--backend", choices=("all", "sqlite", "postgres"), default="all")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL URL (default: %(default)s)")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="only drop the PostgreSQL schemas that interrupted runs left behind, then exit",
    )
    return parser.parse_args(argv)


async def sweep(dsn: str) -> None:
    async with BareConnections.open(dsn, 1) as connections:
        dropped = await connections.sweep()
    print(f"dropped {dropped:,} schemas left by interrupted benchmark runs")


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.sweep:
        asyncio.run(sweep(args.dsn))
        return 0
    started = time.perf_counter()
    results = asyncio.run(run(args))
    failed = 0
    for name, rows in results:
        print(f"\n{name}\n{format_table(rows)}")
        if name in FOOTNOTES:
            print(FOOTNOTES[name])
        failed += sum(row.verdict == "FAIL" for row in rows)
    print(
        f"\n{failed} target(s) missed; {time.perf_counter() - started:.0f} s in all; "
        f"load average now {os.getloadavg()[0]:.1f}"
    )
    return 1 if failed else 0
