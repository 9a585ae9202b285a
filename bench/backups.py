"""Backup benchmarks: ``python -m bench backups [--backend sqlite|postgres|both]
[--size-mb 100] [--repeat 5] [--zstd-threads N] [--dsn URL]``.

A tenant of about ``--size-mb`` of rows is backed up and restored by the platform
(consistent snapshot, zstd level 3, AES-256-GCM, SHA-256, the local store with fsync,
metadata rows, checks) and by the database's own tool on the same data, without
compression or encryption:

- SQLite: the ``sqlite3`` shell's ``.backup`` and ``.restore`` (Python's backup API when
  the shell is not installed);
- PostgreSQL: ``pg_dump -Fc -Z0`` of the schema, and ``pg_restore`` of that archive into
  an empty database with the platform's flags (``pg_dump -Fc`` with its default
  compression is shown too).

Speed is the tenant's size (its SQLite file; its tables and indexes on PostgreSQL) over
the median time of ``--repeat`` runs; raw and platform runs alternate, after one
warm-up each, so that a busy neighbour slows both alike. Target: the platform at least
half the raw tool's speed. Restored copies are deleted after each run (untimed), on both
sides. On PostgreSQL a restore into a new tenant while the source tenant still exists
goes through a scratch database (three passes: restore, dump, restore), and one after
the source is deleted restores directly and renames; both are shown.

PostgreSQL runs in a database of its own (``<db>_bench_backups``, made once and kept):
``pg_dump`` reads the whole catalog, so thousands of unrelated schemas would dominate.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import shutil
import sqlite3
import statistics
import string
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from alembic_like.targets import quote_ident
from schema import TENANT_MODEL_MODULES, provision_hooks
from tenants.config import TenancyConfig
from tenants.models import Backup
from tenants.provisioning import create_tenant, delete_tenant, resume_tenant, suspend_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from workers.backups.config import DEFAULT_ZSTD_THREADS, BackupConfig, configure_backups
from workers.backups.keys import KeyRing
from workers.backups.pgtools import Database, ScratchDatabases, run_tool
from workers.backups.postgres_engine import RESTORE_ARGS
from workers.backups.restore import restore_backup
from workers.backups.retention import Retention
from workers.backups.service import create_tenant_backup, verify_backup
from workers.backups.store import LocalFolderStore

DEFAULT_DSN = os.environ.get("SAAS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
TARGET = 0.5  # the platform's speed over the raw tool's, at least
CHANGED_AT = datetime(2025, 6, 30, 12, tzinfo=UTC)
WORDS = [
    "order",
    "merchant",
    "payment",
    "review",
    "shipping",
    "refund",
    "invoice",
    "customer",
    "ledger",
    "coupon",
]


@dataclass(frozen=True, slots=True)
class Result:
    what: str
    size_mb: float
    seconds: float
    raw_seconds: float | None = None
    target: bool = False
    detail: str = ""

    @property
    def mb_s(self) -> float:
        return self.size_mb / self.seconds

    @property
    def ratio(self) -> float | None:
        """The platform's speed over the raw tool's."""
        return self.raw_seconds / self.seconds if self.raw_seconds else None

    @property
    def verdict(self) -> str:
        if not self.target or self.ratio is None:
            return "info"
        return "PASS" if self.ratio >= TARGET else "FAIL"


def format_results(results: Sequence[Result]) -> str:
    head = ("what", "MB", "s", "MB/s", "raw MB/s", "speed vs raw", "target", "result", "detail")
    rows = [head]
    for r in results:
        raw = "-" if r.raw_seconds is None else f"{r.size_mb / r.raw_seconds:.0f}"
        rows.append((
            r.what, f"{r.size_mb:.0f}", f"{r.seconds:.2f}", f"{r.mb_s:.0f}", raw,
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            f">= {TARGET}x" if r.target else "-", r.verdict, r.detail,
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


Timed = Callable[[int], Awaitable[float]]  # one run (its number) -> its seconds


async def timed(call: Awaitable[object]) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def paired(repeat: int, raw: Timed, ours: Timed) -> tuple[float, float]:
    """Medians of the raw tool's and the platform's runs, alternated (after one untimed
    warm-up each) so that a noisy neighbour slows both alike."""
    await raw(0)
    await ours(0)
    raw_times, our_times = [], []
    for n in range(1, repeat + 1):
        raw_times.append(await raw(n))
        our_times.append(await ours(n))
    return statistics.median(raw_times), statistics.median(our_times)


async def alone(repeat: int, ours: Timed) -> float:
    await ours(0)
    return statistics.median([await ours(n) for n in range(1, repeat + 1)])


def filler_rows(count: int, seed: int) -> list[tuple[str, str, str, str]]:
    """Rows like a change log's: words, ids and some noise (zstd gets about 3x)."""
    rnd = random.Random(seed)
    letters = string.ascii_letters + string.digits
    rows = []
    for n in range(count):
        words = " ".join(rnd.choices(WORDS, k=25))
        noise = "".join(rnd.choices(letters, k=40))
        rows.append(("note", f"{n}:{noise}", f"{words} {noise}", f"user-{rnd.randrange(10_000)}"))
    return rows


# --- the platform's side ------------------------------------------------------------------


@asynccontextmanager
async def platform(config: TenancyConfig, root: Path, zstd_threads: int) -> AsyncIterator[Tenancy]:
    configure_backups(
        BackupConfig(
            store=LocalFolderStore(root / "store"),
            keys=KeyRing({"bench": os.urandom(32)}),
            retention=Retention(7, 4, 12),
            interval=timedelta(hours=24),
            scratch_dir=root / "scratch",
            zstd_threads=zstd_threads,
        )
    )
    tenancy = Tenancy(config, TENANT_MODEL_MODULES, provision_hooks=provision_hooks())
    await tenancy.start()
    try:
        yield tenancy
    finally:
        names = [t.schema_name for t in await tenancy.registry.all()]
        await tenancy.close()
        configure_backups(None)
        if config.database_url:
            await drop_schemas(config.database_url, [*names, config.registry_schema])


async def drop_schemas(dsn: str, names: Sequence[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name in names:
            await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
    finally:
        await conn.close()


class RawTool:
    """The database's own tool on the same tenant: one backup and one restore."""

    backup_name: str
    restore_name: str

    async def backup(self, n: int) -> float:
        raise NotImplementedError

    async def restore(self, n: int) -> float:
        raise NotImplementedError


@dataclass(slots=True)
class Suite:
    tenancy: Tenancy
    tenant: TenantRecord
    raw: RawTool
    repeat: int
    size_mb: float = 0.0
    latest: int = 0  # the newest backup's id

    async def backup(self, n: int) -> float:
        started = time.perf_counter()
        self.latest = (await create_tenant_backup(self.tenant, requested_by="bench")).id
        return time.perf_counter() - started

    async def restore(self, n: int) -> float:
        """A restore into a new tenant, deleted afterwards (untimed), as the raw tool's
        copy is: restored copies piling up would slow the later runs."""
        slug = f"restored-{uuid.uuid4().hex[:8]}"
        seconds = await timed(restore_backup(self.latest, slug, actor="bench"))
        await suspend_tenant(slug, actor="bench", reason="bench")
        await delete_tenant(slug, actor="bench", reason="bench")
        return seconds

    async def core_rows(self) -> list[Result]:
        size = self.size_mb = await tenant_size_mb(self.tenancy, self.tenant)
        raw_backup, backup = await paired(self.repeat, self.raw.backup, self.backup)
        stored = await stored_mb(self.latest)
        raw_restore, restore = await paired(self.repeat, self.raw.restore, self.restore)
        verify = await alone(self.repeat, lambda _: timed(verify_backup(self.latest)))
        return [
            Result(f"backup: raw ({self.raw.backup_name})", size, raw_backup),
            Result("backup: platform", size, backup, raw_backup, True, f"stored {stored:.1f} MB"),
            Result(f"restore: raw ({self.raw.restore_name})", size, raw_restore),
            Result("restore into a new tenant: platform", size, restore, raw_restore, True),
            Result("verify: platform", size, verify, detail="restore in scratch, compare"),
        ]

    async def overwrite_row(self) -> Result:
        """A restore over the suspended tenant itself, its pre-restore backup included."""
        await suspend_tenant(self.tenant.slug, actor="bench", reason="bench")

        async def over(_: int) -> float:
            return await timed(
                restore_backup(self.latest, self.tenant.slug, actor="bench", overwrite=True)
            )

        seconds = await alone(self.repeat, over)
        await resume_tenant(self.tenant.slug, actor="bench")
        return Result(
            "restore over the suspended tenant: platform", self.size_mb, seconds,
            detail="includes the backup of its state before",
        )  # fmt: skip


async def stored_mb(backup_id: int) -> float:
    row = await Backup.get(id=backup_id)
    return (row.stored_size or 0) / 1e6


async def tenant_size_mb(tenancy: Tenancy, tenant: TenantRecord) -> float:
    if tenancy.config.database_url is None:
        path = tenancy.config.data_dir / "tenants" / f"{tenant.schema_name}.db"
        return path.stat().st_size / 1e6
    conn = await asyncpg.connect(tenancy.config.database_url)
    try:
        size = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relkind = 'r'",
            tenant.schema_name,
        )
    finally:
        await conn.close()
    return float(size) / 1e6


# --- SQLite -----------------------------------------------------------------------------


def fill_sqlite(path: Path, size_mb: float) -> None:
    conn = sqlite3.connect(path)
    try:
        batch, seed = 20_000, 0
        while path.stat().st_size < size_mb * 1e6:
            conn.executemany(
                "INSERT INTO settings_change (field, old_value, new_value, actor, changed_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(*row, CHANGED_AT.isoformat()) for row in filler_rows(batch, seed)],
            )
            conn.commit()
            seed += 1
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


class SqliteShell(RawTool):
    """The sqlite3 shell's .backup and .restore (the backup API without the shell)."""

    def __init__(self, source: Path, scratch: Path) -> None:
        self.source = source
        self.scratch = scratch
        self.copy = scratch / "raw.db"
        self.shell = shutil.which("sqlite3")
        self.backup_name = "sqlite3 .backup" if self.shell else "backup API"
        self.restore_name = "sqlite3 .restore" if self.shell else "backup API"

    async def backup(self, n: int) -> float:
        self.copy.unlink(missing_ok=True)
        return await timed(self._run(self.source, ".backup", self.copy))

    async def restore(self, n: int) -> float:
        target = self.scratch / f"raw-restored-{n}.db"
        seconds = await timed(self._run(target, ".restore", self.copy))
        target.unlink()
        return seconds

    async def _run(self, database: Path, command: str, other: Path) -> None:
        if self.shell is None:
            source, target = (database, other) if command == ".backup" else (other, database)
            await asyncio.to_thread(copy_with_backup_api, source, target)
            return
        proc = await asyncio.create_subprocess_exec(
            self.shell, str(database), f"{command} '{other}'"
        )
        if await proc.wait() != 0:
            raise RuntimeError(f"sqlite3 {command} failed")


def copy_with_backup_api(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


async def bench_sqlite(size_mb: float, repeat: int, zstd_threads: int) -> list[Result]:
    root = Path(tempfile.mkdtemp(prefix="bench-backups-"))
    try:
        config = TenancyConfig(data_dir=root / "var", registry_ttl=0.05)
        async with platform(config, root, zstd_threads) as tenancy:
            tenant = await create_tenant("bench", "Bench Ltd", actor="bench")
            path = config.data_dir / "tenants" / f"{tenant.schema_name}.db"
            await asyncio.to_thread(fill_sqlite, path, size_mb)
            suite = Suite(tenancy, tenant, SqliteShell(path, root), repeat)
            return [*await suite.core_rows(), await suite.overwrite_row()]
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- PostgreSQL -------------------------------------------------------------------------


async def bench_database(dsn: str) -> Database:
    main = Database(dsn)
    own = main.with_name(f"{main.name}_bench_backups")
    conn = await main.connect()
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", own.name):
            await conn.execute(f"CREATE DATABASE {quote_ident(own.name)}")
    finally:
        await conn.close()
    return own


async def fill_postgres(dsn: str, schema: str, size_mb: float) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        seed = 0
        table = "settings_change"
        while True:
            size = await conn.fetchval(
                "SELECT pg_total_relation_size($1::regclass)", f"{quote_ident(schema)}.{table}"
            )
            if size >= size_mb * 1e6:
                break
            await conn.copy_records_to_table(
                table, schema_name=schema,
                records=[(*row, CHANGED_AT) for row in filler_rows(20_000, seed)],
                columns=["field", "old_value", "new_value", "actor", "changed_at"],
            )  # fmt: skip
            seed += 1
        await conn.execute(f"VACUUM ANALYZE {quote_ident(schema)}.{table}")
    finally:
        await conn.close()


class PgTools(RawTool):
    """pg_dump of the schema (custom format, uncompressed) and pg_restore of that archive
    into an empty database, with the flags the platform uses."""

    backup_name = "pg_dump -Fc -Z0"
    restore_name = "pg_restore into an empty database"

    def __init__(self, db: Database, schema: str, scratch: Path) -> None:
        self.db = db
        self.schema = schema
        self.archive = scratch / "raw.dump"
        self.scratch_dbs = ScratchDatabases(db)

    async def dump(self, *args: str) -> float:
        command = ("pg_dump", self.db, ["--format=custom", "-n", self.schema, *args])
        return await timed(run_tool(command))

    async def backup(self, n: int) -> float:
        return await self.dump("--compress=0", "-f", str(self.archive))

    async def restore(self, n: int) -> float:
        async with self.scratch_dbs.lease() as target:  # emptied before and after
            return await timed(run_tool(("pg_restore", target, [*RESTORE_ARGS, str(self.archive)])))


async def bench_postgres(dsn: str, size_mb: float, repeat: int, zstd_threads: int) -> list[Result]:
    db = await bench_database(dsn)
    root = Path(tempfile.mkdtemp(prefix="bench-backups-"))
    try:
        config = TenancyConfig(
            data_dir=root / "var", database_url=db.url,
            registry_schema=f"bench_{uuid.uuid4().hex[:8]}", registry_ttl=0.05,
        )  # fmt: skip
        async with platform(config, root, zstd_threads) as tenancy:
            tenant = await create_tenant("bench", "Bench Ltd", actor="bench")
            await fill_postgres(db.url, tenant.schema_name, size_mb)
            tools = PgTools(db, tenant.schema_name, root)
            suite = Suite(tenancy, tenant, tools, repeat)
            rows = await suite.core_rows()
            rows[3] = dataclasses.replace(rows[3], detail="source alive: via a scratch database")
            zlib = await alone(repeat, lambda _: tools.dump("-f", str(root / "zlib.dump")))
            rows.insert(1, Result("backup: raw (pg_dump -Fc, default zlib)", suite.size_mb, zlib))
            rows.append(await suite.overwrite_row())
            rows.append(await direct_restore_row(suite, tools))
            return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def direct_restore_row(suite: Suite, tools: PgTools) -> Result:
    """Restore into a new tenant once the source tenant is deleted: its schema name is
    free, so the payload is restored directly and renamed."""
    await suspend_tenant(suite.tenant.slug, actor="bench", reason="bench")
    await delete_tenant(suite.tenant.slug, actor="bench", reason="bench")
    raw, ours = await paired(suite.repeat, tools.restore, suite.restore)
    return Result(
        "restore into a new tenant, source deleted: platform", suite.size_mb, ours, raw, True,
        "direct: restored, then renamed",
    )  # fmt: skip


# --- entry point ------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench backups", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL server (any database)")
    parser.add_argument("--zstd-threads", type=int, default=DEFAULT_ZSTD_THREADS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    suites: list[tuple[str, Callable[[], Coroutine[Any, Any, list[Result]]]]] = []
    if args.backend in ("sqlite", "both"):
        suites.append(
            ("SQLite", lambda: bench_sqlite(args.size_mb, args.repeat, args.zstd_threads))
        )
    if args.backend in ("postgres", "both"):
        suites.append(
            (
                "PostgreSQL",
                lambda: bench_postgres(args.dsn, args.size_mb, args.repeat, args.zstd_threads),
            )
        )
    failed = 0
    for name, suite in suites:
        results = asyncio.run(suite())
        print(
            f"\n{name}: {os.cpu_count()} CPUs, zstd threads {args.zstd_threads}, "
            f"median of {args.repeat}\n{format_results(results)}"
        )
        failed += sum(r.verdict == "FAIL" for r in results)
    print(f"\n{failed} target(s) missed; {time.perf_counter() - started:.0f} s in all")
    return 1 if failed else 0
