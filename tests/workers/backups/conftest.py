"""Fixtures of the backup tests: a configured backup engine (a local store, two keys)
and a tenancy runtime per backend.

On PostgreSQL they run in a database of their own, made once and kept (dropping a
database forces a checkpoint, 20 s on the test server): ``pg_dump`` reads the whole
catalog, and the shared test database holds thousands of schemas that other runs left
behind (a dump took 7 s there, 0.1 s here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from functools import cache
from pathlib import Path

import asyncpg
import pytest

from alembic_like.targets import quote_ident
from schema import TENANT_MODEL_MODULES, provision_hooks
from tenants.config import TenancyConfig
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.conftest import POSTGRES_URL, drop_postgres_leftovers, make_tenancy_config
from tests.workers.backups.helpers import add_changes, create
from workers.backups.config import BackupConfig, configure_backups
from workers.backups.keys import KeyRing
from workers.backups.pgtools import Database
from workers.backups.retention import Retention
from workers.backups.store import LocalFolderStore


@cache
def backups_database_url() -> str:
    main = Database(POSTGRES_URL)
    own = main.with_name(f"{main.name}_backups")

    async def ensure() -> None:
        conn = await main.connect()
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", own.name):
                await conn.execute(f"CREATE DATABASE {quote_ident(own.name)}")
        except asyncpg.DuplicateDatabaseError:
            pass  # a concurrent run made it
        finally:
            await conn.close()

    asyncio.run(ensure())
    return own.url


def backup_tenancy_config(dialect: str, data_dir: Path, **overrides: object) -> TenancyConfig:
    config = make_tenancy_config(dialect, data_dir, **overrides)
    if dialect == "postgres":
        config = dataclasses.replace(config, database_url=backups_database_url())
    return config


@pytest.fixture
def tenancy_config(dialect: str, tmp_path: Path) -> TenancyConfig:
    return backup_tenancy_config(dialect, tmp_path / "var")


def make_runtime(config: TenancyConfig) -> Tenancy:
    return Tenancy(config, TENANT_MODEL_MODULES, provision_hooks=provision_hooks())


@pytest.fixture
async def tenancy(tenancy_config: TenancyConfig) -> AsyncIterator[Tenancy]:
    runtime = make_runtime(tenancy_config)
    await runtime.start()
    try:
        yield runtime
    finally:
        names = [t.schema_name for t in await runtime.registry.all()]
        await runtime.close()
        if tenancy_config.dialect == "postgres":
            await drop_postgres_leftovers(tenancy_config, names)


KEY_OLD = os.urandom(32)
KEY_NEW = os.urandom(32)


def make_backup_config(root: Path, keys: dict[str, bytes] | None = None) -> BackupConfig:
    return BackupConfig(
        store=LocalFolderStore(root / "store"),
        keys=KeyRing(keys or {"k1": KEY_OLD}),
        retention=Retention(7, 4, 12),
        interval=timedelta(hours=24),
        scratch_dir=root / "scratch",
    )


@pytest.fixture
def backups(tmp_path: Path) -> Iterator[BackupConfig]:
    config = make_backup_config(tmp_path / "backups")
    configure_backups(config)
    yield config
    configure_backups(None)


@pytest.fixture
async def acme(tenancy: Tenancy, backups: BackupConfig) -> TenantRecord:
    """A tenant with some rows beyond its seeded settings."""
    record = await create("acme")
    await add_changes(record, 50)
    return record
